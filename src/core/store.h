/* store.h - the packet store: every held packet, found by hash, id, tags and
 * pubkey, purged by age, capped in memory (DESIGN.md 3, API.md 3.5, 4.2).
 *
 * Identity is the full 32-byte hash: two packets with the same 32-bit id are
 * both held.  Each stored packet gets an arrival number (seq), strictly
 * increasing; "newest first" everywhere means descending seq.  seq is 32
 * bits: before it would wrap, the store renumbers the held packets 1..n in
 * the same order (once per ~4.3e9 arrivals, O(n log n)), so comparing the
 * seq of two held packets is always right; a seq kept across store_put()
 * calls is only comparable to other seqs read at the same time.
 *
 * Indices: tagA, tagB, the ordered pair (tagA, tagB), pubkey33.  Each index
 * key (a distinct tag, pair or pubkey) has its own newest-first list; there
 * is no limit on the number of keys and a key's list is freed when it
 * empties.  Packets without tags are only in the hash/id tables.
 *
 * Time buckets: one per timestamp second, so purge() visits only what it
 * frees, and the sync layer can compare per-second counts and fingerprints.
 *
 * Ownership: the store copies the packet bytes on store_put() and owns
 * them; struct stored pointers stay valid until the packet is purged or
 * evicted (the caller must not keep them across store_purge()/store_put()).
 * Not thread-safe: one thread (the event loop) owns a store.
 * No I/O, no clock reads: `now` is passed in.
 */
#ifndef DEX_STORE_H
#define DEX_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/packet.h"
#include "core/txpow.h"

#define STORE_DEFAULT_PURGETIME 3600
#define STORE_DEFAULT_MAXMEM (1ULL << 32) /* 4 GiB of packet memory */

/* Per-packet verification memo (set by the node's crypto layer, so listing
 * does not re-verify signatures). */
enum store_vstate {
	VSTATE_UNKNOWN = 0,
	VSTATE_PLAIN,      /* nothing to verify */
	VSTATE_OK,         /* signature / box verified */
	VSTATE_WRONG,      /* "wrong sender" */
	VSTATE_OTHER,      /* not addressed to this node (inbox / anon) */
};

/* One held packet.  The public fields are read-only for callers except
 * `cancelled` (store_cancel) and `vstate` (memo owned by the caller). */
struct stored {
	uint8_t hash[32];
	uint32_t seq;        /* arrival number at this node (see above) */
	uint32_t id;
	uint32_t timestamp;
	uint32_t recvtime;
	uint32_t cancelled;  /* 0 or the cancelling packet's timestamp */
	int8_t priority;     /* achieved priority (>= 0 once stored) */
	uint8_t vstate;      /* enum store_vstate */
	uint8_t relay;       /* hop budget as received / created */
	uint8_t flags;       /* private to the store */
	uint32_t len;        /* packet length L */
	/* private links follow in the implementation; then the packet bytes */
};

/* The packet bytes of a stored record (L bytes, relay byte first). */
const uint8_t *stored_bytes(const struct stored *sp);
/* Decode view of a stored packet (always succeeds: it was checked). */
void stored_view(const struct stored *sp, struct packet_view *pv);

struct store_config {
	uint32_t purgetime;  /* seconds; held while now - timestamp < purgetime */
	uint64_t maxmem;     /* cap on bytes used by packets and their records */
	/* Called with each packet the memory cap removes, just before it is
	 * removed (the store is consistent: the callback may read it, not
	 * change it), or NULL. */
	void (*on_evict)(struct stored *sp, void *arg);
	void *evict_arg;
};

struct store_stats {
	uint64_t count;      /* packets held */
	uint64_t bytes;      /* memory accounted against maxmem */
	uint64_t added;      /* packets stored since creation */
	uint64_t purged;     /* packets expired by store_purge */
	uint64_t evicted;    /* packets removed by the memory cap */
	uint64_t freed;      /* records freed (purged + evicted) */
	uint64_t by_priority[14]; /* held packets with priority 0..12, [13] >= 13 */
};

struct store;

/* NULL if cfg is NULL or purgetime > 7 days (the store keeps one time
 * bucket per second of the lifetime). */
struct store *store_new(const struct store_config *cfg);
void store_free(struct store *s);

/* Store a copy of pkt (already decoded and proof-checked by the caller;
 * pe is its evaluation).  Returns E_OK and *out (may be NULL) on success,
 * E_DUP if a packet with that hash is held (*out = the held one),
 * E_INVAL if priority < 0, the packet is expired at `now`
 * (now - timestamp >= purgetime), its timestamp is more than 60 s ahead
 * of `now`, or its tag/pubkey fields do not fit in len, E_NOMEM if the cap is reached and the
 * packet's priority is not above the lowest held (it is then not stored).
 * When over the cap, the lowest priority, then oldest, packets are evicted
 * first (counted in stats.evicted): "oldest" is the oldest timestamp
 * second, then the oldest arrival within it; priorities >= 15 form one
 * class (never evicted for each other).  The packet count is also capped
 * at 2^24 - 3 (same eviction rule). */
int store_put(struct store *s, const uint8_t *pkt, size_t len,
              const struct pow_eval *pe, uint32_t now, struct stored **out);

bool store_has(const struct store *s, const uint8_t hash[32]);
struct stored *store_get_hash(const struct store *s, const uint8_t hash[32]);
/* Short id (API.md A.3, docs/PROTOCOL.md): bytes 8..15 of the hash read
 * little-endian, i.e. le64(hash + 8).  The hash table is keyed by these
 * very bytes, so this lookup costs no memory per packet.  Returns a held
 * packet with that short id (the newest if several collide), or NULL. */
struct stored *store_get_short(const struct store *s, uint64_t sid);
/* Visit every held packet with this short id, any order; stop when cb
 * returns false. */
void store_foreach_short(const struct store *s, uint64_t sid,
                         bool (*cb)(struct stored *, void *), void *arg);
/* Newest held packet with this id, or NULL. */
struct stored *store_get_id(const struct store *s, uint32_t id);
/* Visit every held packet with this id, newest first; stop when cb
 * returns false. */
void store_foreach_id(const struct store *s, uint32_t id,
                      bool (*cb)(struct stored *, void *), void *arg);

/* Remove every packet with now - timestamp >= purgetime.  O(removed +
 * seconds since the last purge, at most the ring: purgetime + 964).  The
 * clock may step back (nothing held is dropped for it) or forward by any
 * amount.  Timestamps are u32 seconds, assumed not to wrap (year 2106).
 * Returns how many were removed. */
size_t store_purge(struct store *s, uint32_t now);

/* Mark a packet cancelled at time t (no-op if already cancelled). */
void store_cancel(struct store *s, struct stored *sp, uint32_t t);

/* DEX_list query (API.md 4.2).  Empty tag = any; pubkey NULL = any.  The
 * caller applies the `general` default.  Amount ranges are inclusive. */
struct store_query {
	const uint8_t *tag_a; size_t len_a;  /* len 0 = any */
	const uint8_t *tag_b; size_t len_b;
	const uint8_t *pubkey;               /* 33 bytes or NULL */
	uint32_t stopat;                     /* 0 = none */
	const uint8_t *stophash;             /* 32 bytes or NULL */
	int minpriority;
	uint64_t min_a, max_a, min_b, max_b;
};
/* Walk the selection newest first, stopping (exclusive) at the stop point,
 * and call cb for each packet passing the filters; cb returns false to stop
 * early.  Returns the number of packets passed to cb.  Chooses the smallest
 * applicable index (pair, tagA, tagB or pubkey).  A query with no tag and no
 * pubkey walks every held packet. */
size_t store_query(const struct store *s, const struct store_query *q,
                   bool (*cb)(struct stored *, void *), void *arg);

/* Visit every held packet with timestamp in [t0, t1], any order. */
void store_foreach_time(const struct store *s, uint32_t t0, uint32_t t1,
                        bool (*cb)(struct stored *, void *), void *arg);

/* Whole-store fingerprint: XOR of all held hashes (API.md 4.4); equal on
 * two stores holding the same packets whatever their order. */
void store_fingerprint(const struct store *s, uint8_t out[32]);
/* XOR of the ids of all held packets (perfstats checksum). */
uint32_t store_idxor(const struct store *s);

/* Per-second bucket summary for the sync protocol: count and XOR of the
 * hashes of the packets with timestamp == t. */
struct store_bucket {
	uint32_t count;
	uint8_t fp[32];
};
void store_bucket(const struct store *s, uint32_t t, struct store_bucket *b);
/* Summary of the range [t0, t1] (XOR of the per-second fingerprints). */
void store_range(const struct store *s, uint32_t t0, uint32_t t1,
                 struct store_bucket *b);

void store_get_stats(const struct store *s, struct store_stats *st);
/* Number of index keys (distinct tagA, tagB, pair and pubkey values) held;
 * a key is freed when its last packet goes (tests, debugging). */
size_t store_index_keys(const struct store *s);
/* Tests only: the next arrival number will be seq + 1 (to exercise the
 * renumbering before a wrap).  seq must be >= the highest held seq. */
void store_debug_set_seq(struct store *s, uint32_t seq);
/* Tests only: is a resize of the hash and id tables under way (they move
 * over a few entries at each put, delete and purge)? */
bool store_debug_resizing(const struct store *s);
/* Tests only: check every internal invariant by a full walk (counts,
 * fingerprints, bytes, by_priority, classes, ring entries, both tables,
 * index keys and their lists, slabs).  O(held + ring + tables).  Returns 0,
 * or the source line of the first check that failed. */
int store_debug_check(const struct store *s);

#endif
