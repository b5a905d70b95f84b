/* bench_core.c - micro-benchmarks of the I/O-free core: mining at
 * priorities 0/4/8, verification (one SHA-256 + evaluation), raw SHA-256
 * throughput of OpenSSL libcrypto vs libsodium, and the cost of one mining
 * attempt with the two ways of reusing an OpenSSL midstate.
 *
 * Prints key=value lines (scripts/run-bench.sh collects them).  Every loop
 * is bounded in count and in time.  libsodium is included here only to
 * compare; the product uses it only in src/node/crypto.c.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sodium.h>

#include "core/packet.h"
#include "core/txpow.h"
#include "core/util.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t wall_ms(void *arg)
{
	struct timespec ts;
	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* A plain Q packet of exactly 100 bytes: tag "general", 64-byte payload. */
static size_t make_packet(uint8_t *buf, size_t cap)
{
	uint8_t payload[64];
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)('a' + i % 26);
	struct packet_fields f = {
		.relay = 10, .kind = PACKET_KIND_DATA,
		.tag_a = (const uint8_t *)"general", .len_a = 7,
		.payload = payload, .payload_len = sizeof(payload),
	};
	return packet_encode(buf, cap, &f);
}

#define MINE_RUNS_MAX 2001

static void bench_mine(int prio, int runs, double budget_s)
{
	static double ms[MINE_RUNS_MAX];
	uint8_t pkt[128];
	size_t len = make_packet(pkt, sizeof(pkt));
	uint64_t hashes = 0, seed = 0x9e3779b97f4a7c15ULL;
	double t_all = 0, t_start = now_s();
	int n = 0;

	for (; n < runs && n < MINE_RUNS_MAX; n++) {
		struct pow_eval pe;
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		struct txpow_job job = {
			.pkt = pkt, .len = len, .txpowbits = 12,
			.requested = prio, .clock = wall_ms,
			.nonce_start = (uint32_t)(seed >> 32),
		};
		double t0 = now_s();
		if (txpow_mine(&job, &pe) != 0 || pe.priority < prio) {
			fprintf(stderr, "bench_core: mining failed\n");
			exit(1);
		}
		double dt = now_s() - t0;
		ms[n] = dt * 1000;
		t_all += dt;
		hashes += job.hashes;
		if (now_s() - t_start > budget_s) {
			n++;
			break;
		}
	}
	qsort(ms, (size_t)n, sizeof(ms[0]), cmp_double);
	printf("bench=txpow priority=%d txpowbits=12 packet_bytes=%zu runs=%d "
	       "median_ms=%.3f p90_ms=%.3f mean_ms=%.3f hashes_per_sec=%.0f\n",
	       prio, len, n, ms[n / 2], ms[n * 9 / 10], t_all * 1000 / n,
	       (double)hashes / t_all);
}

static void bench_verify(void)
{
	uint8_t pkt[128];
	size_t len = make_packet(pkt, sizeof(pkt));
	unsigned long n = 0, acc = 0;
	double t0 = now_s(), dt;

	do {
		for (int i = 0; i < 10000; i++) {
			struct pow_eval pe;
			put_le32(pkt + len - 4, (uint32_t)n++);
			txpow_eval(pkt, len, 12, &pe);
			acc += pe.valid;
		}
		dt = now_s() - t0;
	} while (dt < 1.0 && n < 50000000ul);
	printf("bench=verify packet_bytes=%zu per_sec=%.0f valid_seen=%lu\n",
	       len, (double)n / dt, acc);
}

static void bench_sha256(void)
{
	size_t sz = 1 << 20;
	uint8_t *buf = xmalloc(sz), h[32];
	double t0, dt;
	int n;

	memset(buf, 0xa5, sz);
	for (int impl = 0; impl < 2; impl++) {
		t0 = now_s();
		n = 0;
		do {
			if (impl == 0)
				SHA256(buf, sz, h);
			else
				crypto_hash_sha256(h, buf, sz);
			buf[(size_t)n++ % sz] ^= h[0];
			dt = now_s() - t0;
		} while (dt < 1.0 && n < 100000);
		printf("bench=sha256 impl=%s buffer_bytes=%zu mb_per_sec=%.0f\n",
		       impl == 0 ? "openssl" : "sodium", sz, n * ((double)sz / 1e6) / dt);
	}
	/* short messages: the 99 hashed bytes of a 100-byte packet.
	 * openssl = SHA256() (OpenSSL 3: EVP_Q_digest, which fetches the
	 * algorithm from the provider on every call), sha256_ctx = the
	 * low-level SHA256_Init/Update/Final (what txpow_hash uses). */
	static const char *const impls[] = {"openssl", "sodium", "sha256_ctx"};
	for (int impl = 0; impl < 3; impl++) {
		t0 = now_s();
		n = 0;
		do {
			for (int i = 0; i < 10000; i++, n++) {
				buf[0] = (uint8_t)n;
				if (impl == 0) {
					SHA256(buf, 99, h);
				} else if (impl == 1) {
					crypto_hash_sha256(h, buf, 99);
				} else {
					SHA256_CTX c;

					SHA256_Init(&c);
					SHA256_Update(&c, buf, 99);
					SHA256_Final(h, &c);
				}
			}
			dt = now_s() - t0;
		} while (dt < 0.5);
		printf("bench=sha256_99b impl=%s per_sec=%.0f\n", impls[impl],
		       n / dt);
	}
	free(buf);
}

/* One mining attempt on a 100-byte packet: restore the midstate, hash the
 * tail with the nonce, finish.  SHA256_CTX struct copy vs EVP copy vs
 * libsodium's state struct copy. */
static void bench_midstate(void)
{
	uint8_t pkt[128], h[32];
	size_t len = make_packet(pkt, sizeof(pkt));
	const uint8_t *d = pkt + 1;
	size_t n = len - 1, pre = (n - 4) / 64 * 64;
	const int iters = 2000000;
	double t0, dt;
	unsigned acc = 0;

	SHA256_CTX mid, c;
	SHA256_Init(&mid);
	SHA256_Update(&mid, d, pre);
	t0 = now_s();
	for (int i = 0; i < iters; i++) {
		put_le32(pkt + len - 4, (uint32_t)i);
		c = mid;
		SHA256_Update(&c, d + pre, n - pre);
		SHA256_Final(h, &c);
		acc += h[0];
	}
	dt = now_s() - t0;
	printf("bench=midstate impl=sha256_ctx ns_per_attempt=%.1f\n",
	       dt * 1e9 / iters);

	EVP_MD_CTX *emid = EVP_MD_CTX_new(), *ec = EVP_MD_CTX_new();
	EVP_DigestInit_ex(emid, EVP_sha256(), NULL);
	EVP_DigestUpdate(emid, d, pre);
	t0 = now_s();
	for (int i = 0; i < iters; i++) {
		unsigned hl;
		put_le32(pkt + len - 4, (uint32_t)i);
		EVP_MD_CTX_copy_ex(ec, emid);
		EVP_DigestUpdate(ec, d + pre, n - pre);
		EVP_DigestFinal_ex(ec, h, &hl);
		acc += h[0];
	}
	dt = now_s() - t0;
	printf("bench=midstate impl=evp_copy ns_per_attempt=%.1f\n",
	       dt * 1e9 / iters);
	EVP_MD_CTX_free(emid);
	EVP_MD_CTX_free(ec);

	crypto_hash_sha256_state smid, sc;
	crypto_hash_sha256_init(&smid);
	crypto_hash_sha256_update(&smid, d, pre);
	t0 = now_s();
	for (int i = 0; i < iters; i++) {
		put_le32(pkt + len - 4, (uint32_t)i);
		sc = smid;
		crypto_hash_sha256_update(&sc, d + pre, n - pre);
		crypto_hash_sha256_final(&sc, h);
		acc += h[0];
	}
	dt = now_s() - t0;
	printf("bench=midstate impl=sodium ns_per_attempt=%.1f sink=%u\n",
	       dt * 1e9 / iters, acc & 1);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	bench_mine(0, 1001, 5.0);
	bench_mine(4, 401, 5.0);
	bench_mine(8, 101, 10.0);
	bench_verify();
	bench_sha256();
	bench_midstate();
	return 0;
}
