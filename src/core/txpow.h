/* txpow.h - packet hash, proof of work, priority and id (API.md A.3, A.4).
 *
 *   hash     = SHA-256(packet[1 .. L-1])        relay byte excluded
 *   h64      = first 8 hash bytes, little-endian
 *   valid    = (h64 & mask) == (0x777 & mask),  mask = (1 << txpowbits) - 1
 *   pen      = bit_length(L >> 10)
 *   z        = trailing zeros of (h64 >> txpowbits), 64 - txpowbits if 0
 *   priority = z - pen
 *   id       = (h64 >> (txpowbits + pen)) mod 2^32
 *
 * Pure functions; mining is thread-safe (no shared state) and gets its
 * clock from the caller so tests control time.
 */
#ifndef DEX_TXPOW_H
#define DEX_TXPOW_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TXPOW_DEFAULT_BITS 12
#define TXPOW_MAX_BITS 24
#define TXPOW_MAGIC 0x777u

struct pow_eval {
	uint8_t hash[32];
	uint64_t h64;
	bool valid;     /* low txpowbits bits equal those of 0x777 */
	int priority;   /* z - pen; may be negative */
	uint32_t id;
};

/* bit_length(len >> 10): 0 below 1 KiB, 11 at exactly 1 MiB. */
int txpow_penalty(size_t len);

/* SHA-256 of pkt[1..len-1] (the fastest implementation on the machine). */
void txpow_hash(const uint8_t *pkt, size_t len, uint8_t hash[32]);

/* Evaluate a hash for a packet of length len. */
void txpow_eval_hash(const uint8_t hash[32], size_t len, int txpowbits,
                     struct pow_eval *out);

/* Hash and evaluate: one SHA-256. */
void txpow_eval(const uint8_t *pkt, size_t len, int txpowbits,
                struct pow_eval *out);

/* Rebuild callback for mining: write the packet for timestamp t into pkt
 * (same length len every time: the layout does not depend on t).  Signed
 * payloads cover the timestamp, so the payload is rebuilt too.  Returns
 * E_OK or an error that aborts mining. */
typedef int (*txpow_rebuild_cb)(uint8_t *pkt, size_t len, uint32_t t,
                                void *arg);
/* Clock callback: current unix time in milliseconds. */
typedef uint64_t (*txpow_clock_cb)(void *arg);

struct txpow_job {
	uint8_t *pkt;            /* buffer of len bytes, rewritten in place */
	size_t len;
	int txpowbits;
	int requested;           /* requested priority, >= 0 */
	txpow_rebuild_cb rebuild;/* may be NULL: only the timestamp field is set */
	void *rebuild_arg;
	txpow_clock_cb clock;    /* required */
	void *clock_arg;
	const _Atomic int *cancel; /* may be NULL; non-zero stops the search
	                            * (set by another thread) */
	uint32_t nonce_start;    /* first nonce tried (random in production) */
	uint64_t hashes;         /* out: attempts made */
};

/* Mine job->pkt until its priority >= requested (API.md A.4): the target
 * is requested + pen(L) zero bits above txpowbits.  The timestamp is set
 * from the clock and refreshed when the clock's second changes (checked at
 * least every 100 ms of searching).  Each attempt costs one SHA-256
 * compression (midstate of the bytes before the nonce's block is kept).
 * Returns E_OK with the finished packet in job->pkt and *out filled, or
 * E_CANCELLED, or the rebuild callback's error. */
int txpow_mine(struct txpow_job *job, struct pow_eval *out);

#endif
