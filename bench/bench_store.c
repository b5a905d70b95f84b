/* bench_store.c - benchmarks of the packet store (DESIGN.md 5):
 *
 *   bench=ingest   packet_check (decode, clock window, SHA-256, txpow
 *                  evaluation) + store_put (dedupe, 4 indices, time
 *                  bucket, tables) on one core, pre-built 256-byte packets
 *                  with txpowbits 0 (no mining: every hash is valid).
 *   bench=list     the store holding 1M packets, DEX_list-style query on a
 *                  tag with exactly 1,000 packets; median over runs.
 *   bench=memory   RSS growth (and malloc in-use growth) while storing the
 *                  packets, minus their own bytes, per packet.
 *
 * Usage: bench_store [npackets]   (default 1000000; bounded to 4M).
 * Every loop is bounded in count; the list runs are also bounded in time.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "core/check.h"
#include "core/err.h"
#include "core/packet.h"
#include "core/store.h"
#include "core/txpow.h"

#define PKT_LEN 256u
#define NOW 1767225600u
#define PURGETIME 3600u
#define RARE_TAG "RARE"
#define RARE_N 1000u

/* Packet i: tagA/tagB from 16 coins (256 pairs), a pubkey (1 of 1000) on
 * one packet in four, RARE_N packets spread evenly with tagA "RARE",
 * timestamps over the last 3000 s, payload padded to PKT_LEN. */
static size_t build(uint8_t *out, uint32_t i, uint32_t n)
{
	bool rare = i % (n / RARE_N) == 0 && i / (n / RARE_N) < RARE_N;

	return bench_build_packet(out, PKT_LEN, i, rare ? RARE_TAG : NULL, NOW);
}

static bool count_cb(struct stored *sp, void *arg)
{
	(void)sp;
	(*(size_t *)arg)++;
	return true;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	uint32_t n = 1000000, i;
	uint8_t *pk;
	size_t *lens;
	struct store_config cfg = {.purgetime = PURGETIME, .maxmem = 1ULL << 40};
	struct store *s;
	struct store_stats st;
	double t0, t1, dt[101], put_max = 0;
	long rss0, rss1;
	size_t mal0, mal1, own = 0, stored = 0, bad = 0, dup = 0;
	int runs, r;

	if (argc > 1)
		n = (uint32_t)strtoul(argv[1], NULL, 10);
	if (n < RARE_N * 2)
		n = RARE_N * 2;
	if (n > 4000000)
		n = 4000000;
	pk = malloc((size_t)n * PKT_LEN);
	lens = malloc((size_t)n * sizeof(*lens));
	if (!pk || !lens)
		return 1;
	for (i = 0; i < n; i++) {
		lens[i] = build(pk + (size_t)i * PKT_LEN, i, n);
		if (lens[i] != PKT_LEN) {
			fprintf(stderr, "bench_store: build %u gave %zu\n", i, lens[i]);
			return 1;
		}
	}

	s = store_new(&cfg);
	rss0 = bench_rss_bytes();
	mal0 = bench_malloc_inuse();
	t0 = bench_now_s();
	for (i = 0; i < n; i++) {
		const uint8_t *p = pk + (size_t)i * PKT_LEN;
		struct packet_view pv;
		struct pow_eval pe;
		int rc;

		if (packet_check(p, lens[i], NOW, 0, PURGETIME, &pv, &pe) !=
		    DROP_NONE) {
			bad++;
			continue;
		}
		double tp = bench_now_s();
		rc = store_put(s, p, lens[i], &pe, NOW, NULL);
		tp = bench_now_s() - tp;
		if (tp > put_max)
			put_max = tp;
		if (rc == E_OK) {
			stored++;
			own += lens[i];
		} else if (rc == E_DUP) {
			dup++;
		} else {
			bad++;
		}
	}
	t1 = bench_now_s();
	rss1 = bench_rss_bytes();
	mal1 = bench_malloc_inuse();
	printf("bench=ingest packets=%u packet_bytes=%u txpowbits=0 "
	       "steps=decode+check+sha256+dedupe+index cores=1 "
	       "seconds=%.3f per_sec=%.0f put_max_ms=%.2f stored=%zu "
	       "rejected=%zu dup=%zu\n",
	       n, PKT_LEN, t1 - t0, n / (t1 - t0), put_max * 1e3, stored, bad,
	       dup);

	/* Re-offering every packet: the dedupe path (check + hash lookup). */
	t0 = bench_now_s();
	for (i = 0; i < n; i++) {
		const uint8_t *p = pk + (size_t)i * PKT_LEN;
		struct packet_view pv;
		struct pow_eval pe;

		if (packet_check(p, lens[i], NOW, 0, PURGETIME, &pv, &pe) ==
		    DROP_NONE &&
		    store_put(s, p, lens[i], &pe, NOW, NULL) == E_DUP)
			dup++;
	}
	t1 = bench_now_s();
	printf("bench=ingest_dup packets=%u per_sec=%.0f dup=%zu\n", n,
	       n / (t1 - t0), dup);

	store_get_stats(s, &st);
	printf("bench=memory packets=%zu packet_bytes=%u "
	       "bytes_per_packet=%.1f malloc_bytes_per_packet=%.1f "
	       "accounted_bytes_per_packet=%.1f index_keys=%zu\n",
	       stored, PKT_LEN,
	       ((double)(rss1 - rss0) - (double)own) / (double)stored,
	       ((double)mal1 - (double)mal0 - (double)own) / (double)stored,
	       ((double)st.bytes - (double)own) / (double)stored,
	       store_index_keys(s));

	/* List: tagA RARE (1,000 packets spread over the whole arrival
	 * order), no stop point, default filters. */
	runs = 0;
	{
		struct store_query q = {0};
		double start = bench_now_s();
		size_t got = 0;

		q.tag_a = (const uint8_t *)RARE_TAG;
		q.len_a = strlen(RARE_TAG);
		q.max_a = q.max_b = INT64_MAX;
		for (r = 0; r < 101 && bench_now_s() - start < 20; r++) {
			got = 0;
			t0 = bench_now_s();
			store_query(s, &q, count_cb, &got);
			dt[runs++] = (bench_now_s() - t0) * 1e3;
		}
		qsort(dt, (size_t)runs, sizeof(dt[0]), cmp_double);
		printf("bench=list packets=%zu tag=%s matches=%zu runs=%d "
		       "median_ms=%.3f max_ms=%.3f\n",
		       stored, RARE_TAG, got, runs, dt[runs / 2], dt[runs - 1]);

		/* Pair query on a busy pair (1/256 of the packets). */
		struct { size_t n; } c2;
		runs = 0;
		q.tag_a = (const uint8_t *)"KMD";
		q.len_a = 3;
		q.tag_b = (const uint8_t *)"BTC";
		q.len_b = 3;
		got = 0;
		start = bench_now_s();
		for (r = 0; r < 101 && bench_now_s() - start < 20; r++) {
			c2.n = 0;
			t0 = bench_now_s();
			store_query(s, &q, count_cb, &c2.n);
			dt[runs++] = (bench_now_s() - t0) * 1e3;
			got = c2.n;
		}
		qsort(dt, (size_t)runs, sizeof(dt[0]), cmp_double);
		printf("bench=list_pair packets=%zu pair=KMD/BTC matches=%zu "
		       "runs=%d median_ms=%.3f\n",
		       stored, got, runs, dt[runs / 2]);
	}

	t0 = bench_now_s();
	size_t purged = store_purge(s, NOW + PURGETIME + 3000);
	t1 = bench_now_s();
	printf("bench=purge packets=%zu seconds=%.3f per_sec=%.0f\n", purged,
	       t1 - t0, (double)purged / (t1 - t0));
	store_free(s);
	free(pk);
	free(lens);
	return 0;
}
