/* fhold.h - the future hold: received packets whose timestamp is ahead of
 * the local clock by more than the acceptance limit (API.md A.2, 1 s) but
 * within a window (DEX_FUTURE_HOLD, 60 s) are kept here, not dropped, and
 * handed back when their time comes, so that a node whose clock is a few
 * seconds fast still gets every packet to its peers (docs/core.md).
 *
 * Sans I/O: the clock is passed in.  Bounded in bytes and in count: when
 * full, the lowest priority gives way (a new packet evicts a held one of
 * strictly lower priority, otherwise it is refused), and one sender may
 * fill at most half of either bound (senders given as -1 are not
 * counted apart).  Holds a copy of each packet, charged
 * at its length plus FHOLD_ENTRY_COST.  Duplicates (same hash) are held
 * once.
 */
#ifndef DEX_FHOLD_H
#define DEX_FHOLD_H

#include <stddef.h>
#include <stdint.h>

#define FHOLD_ENTRY_COST 96u   /* bytes charged per entry besides the copy */
#define FHOLD_CLASSES 14       /* priority 0..12, >= 13 */
#define FHOLD_SENDERS 64       /* senders tracked for the half share */

struct fhold_stats {
	uint64_t count;            /* packets held now */
	uint64_t bytes;            /* ... charged bytes */
	uint64_t held;             /* packets ever taken in */
	uint64_t released;         /* ... handed back when due */
	uint64_t evicted;          /* ... pushed out by a higher priority */
	uint64_t refused;          /* not taken: full, or over its share */
};

struct fhold;

/* max_bytes and max_count: the bounds (both > 0). */
struct fhold *fhold_new(size_t max_bytes, size_t max_count);
void fhold_free(struct fhold *h);

/* Keep a copy of pkt (len bytes, timestamp ts, priority, hash) from sender
 * `peer` (any int; -1 for none).  E_OK held, E_DUP already held, E_NOMEM
 * refused (full of packets at least as important, or the sender holds
 * half already). */
int fhold_put(struct fhold *h, const uint8_t *pkt, size_t len, uint32_t ts,
              int priority, const uint8_t hash[32], int peer);

/* Called by fhold_release for each packet handed back. */
typedef void (*fhold_cb)(void *arg, const uint8_t *pkt, size_t len,
                         int peer);
/* Hand back (and forget) every packet with timestamp <= due, oldest
 * timestamp first.  Returns how many.  cb may not call into h. */
size_t fhold_release(struct fhold *h, uint32_t due, fhold_cb cb, void *arg);
/* The earliest timestamp held, UINT32_MAX when empty. */
uint32_t fhold_next(const struct fhold *h);

void fhold_get_stats(const struct fhold *h, struct fhold_stats *st);

#endif
