/* txpow.c - packet hash, proof of work, priority, id and mining (txpow.h,
 * API.md A.3, A.4).
 *
 * SHA-256 comes from OpenSSL libcrypto, which uses the SHA-NI instructions
 * when the CPU has them.  Mining keeps the SHA-256 state after the whole
 * 64-byte blocks that precede the nonce's block (the "midstate"), so an
 * attempt costs one or two compressions whatever the packet size.  The
 * low-level SHA256_* calls are deprecated in OpenSSL 3 but are the only
 * libcrypto interface whose state is a plain struct we can copy for free
 * (EVP_MD_CTX_copy_ex goes through the provider layer: see bench_core).
 *
 * Owns no state; txpow_mine() is reentrant.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "core/txpow.h"

#include <string.h>

#include <openssl/sha.h>

#include "core/err.h"
#include "core/packet.h"

/* The owner's cancel flag (another thread sets it). */
static bool cancelled(const struct txpow_job *job)
{
	return job->cancel &&
	       atomic_load_explicit(job->cancel, memory_order_relaxed);
}

/* Attempts between two looks at the clock and the cancel flag.  At about
 * 100 ns per attempt this is well under a millisecond, far inside the
 * 100 ms bound of A.4, and cheap enough not to show in the hash rate. */
#define TXPOW_CHECK_EVERY 4096u

int txpow_penalty(size_t len)
{
	size_t v = len >> 10;
	int bits = 0;

	while (v) {
		bits++;
		v >>= 1;
	}
	return bits;
}

void txpow_hash(const uint8_t *pkt, size_t len, uint8_t hash[32])
{
	/* The relay byte is excluded (A.3); len >= 1 for any packet.  Not
	 * SHA256(): in OpenSSL 3 that is EVP_Q_digest, which fetches the
	 * algorithm from the provider (locks included) on every call: 700 ns
	 * for a 100-byte packet against 114 ns here (bench sha256_99b). */
	SHA256_CTX c;

	SHA256_Init(&c);
	SHA256_Update(&c, pkt + 1, len - 1);
	SHA256_Final(hash, &c);
}

void txpow_eval_hash(const uint8_t hash[32], size_t len, int txpowbits,
                     struct pow_eval *out)
{
	uint64_t h64 = le64(hash);
	uint64_t mask, rest;
	int pen = txpow_penalty(len), z;

	if (txpowbits < 0)
		txpowbits = 0;
	if (txpowbits > TXPOW_MAX_BITS)
		txpowbits = TXPOW_MAX_BITS;
	mask = ((uint64_t)1 << txpowbits) - 1;
	rest = h64 >> txpowbits;
	z = rest ? __builtin_ctzll(rest) : 64 - txpowbits;

	memcpy(out->hash, hash, 32);
	out->h64 = h64;
	out->valid = (h64 & mask) == (TXPOW_MAGIC & mask);
	out->priority = z - pen;
	out->id = (uint32_t)(h64 >> (txpowbits + pen));
}

void txpow_eval(const uint8_t *pkt, size_t len, int txpowbits,
                struct pow_eval *out)
{
	uint8_t hash[32];

	txpow_hash(pkt, len, hash);
	txpow_eval_hash(hash, len, txpowbits, out);
}

/* Set the packet up for second t and hash the whole blocks before the
 * nonce's block into *mid.  Returns the offset (in hashed bytes) where the
 * per-attempt tail starts, or a negative error from the rebuild callback. */
static long mine_prepare(struct txpow_job *job, uint32_t t, SHA256_CTX *mid)
{
	size_t n = job->len - 1;              /* bytes hashed */
	size_t nonce_at = n - 4;              /* nonce offset within them */
	size_t pre = nonce_at / 64 * 64;      /* whole blocks before it */

	if (job->rebuild) {
		int rc = job->rebuild(job->pkt, job->len, t, job->rebuild_arg);
		if (rc != E_OK)
			return rc;
	} else {
		put_le32(job->pkt + PACKET_OFF_TIME, t);
	}
	SHA256_Init(mid);
	if (pre)
		SHA256_Update(mid, job->pkt + 1, pre);
	return (long)pre;
}

int txpow_mine(struct txpow_job *job, struct pow_eval *out)
{
	SHA256_CTX mid, c;
	uint8_t hash[32];
	const uint8_t *data;
	size_t n, tail_len;
	uint64_t target_mask, want, h64;
	uint32_t nonce = job->nonce_start, t;
	long pre;
	int bits = job->txpowbits, target;
	unsigned k = 0;

	job->hashes = 0;
	if (!job->pkt || job->len < PACKET_MIN_LEN || !job->clock ||
	    bits < 0 || bits > TXPOW_MAX_BITS || job->requested < 0)
		return E_INVAL;
	target = job->requested + txpow_penalty(job->len);
	/* z is at most 64 - bits, so a larger target can never be met. */
	if (target > 64 - bits)
		return E_INVAL;

	/* Accept iff the low `bits` bits equal 0x777's and the next `target`
	 * bits are zero: one mask-and-compare on h64. */
	target_mask = target + bits >= 64 ? UINT64_MAX
	                                  : ((uint64_t)1 << (bits + target)) - 1;
	want = TXPOW_MAGIC & (((uint64_t)1 << bits) - 1);

	if (cancelled(job))
		return E_CANCELLED;
	t = (uint32_t)(job->clock(job->clock_arg) / 1000);
	pre = mine_prepare(job, t, &mid);
	if (pre < 0)
		return (int)pre;
	n = job->len - 1;
	data = job->pkt + 1;
	tail_len = n - (size_t)pre;

	for (;;) {
		put_le32(job->pkt + job->len - 4, nonce);
		c = mid;
		SHA256_Update(&c, data + pre, tail_len);
		SHA256_Final(hash, &c);
		job->hashes++;
		h64 = le64(hash);
		if ((h64 & target_mask) == want)
			break;
		nonce++;
		if (++k == TXPOW_CHECK_EVERY) {
			uint32_t now;
			k = 0;
			if (cancelled(job))
				return E_CANCELLED;
			now = (uint32_t)(job->clock(job->clock_arg) / 1000);
			if (now != t) {
				t = now;
				pre = mine_prepare(job, t, &mid);
				if (pre < 0)
					return (int)pre;
			}
		}
	}
	if (out)
		txpow_eval_hash(hash, job->len, bits, out);
	return E_OK;
}
