/* evict.h - which inbound peer to drop for a new one when every inbound
 * slot is taken, as Bitcoin Core's AttemptToEvictConnection
 * (src/node/eviction.cpp) decides it.
 *
 * Pure: the caller describes its inbound connections, the function picks.
 * An attacker who opens many connections cannot make the node drop the
 * peers that are hard to imitate: distinct networks, fast ones, ones that
 * recently delivered new packets, long-lived ones.  Of the rest, the
 * youngest connection of the network group holding the most is dropped.
 */
#ifndef DEX_EVICT_H
#define DEX_EVICT_H

#include <stddef.h>
#include <stdint.h>

#define EVICT_PROTECT_NETGROUP 4   /* highest keyed netgroup values */
#define EVICT_PROTECT_PING 8       /* lowest round-trip times */
#define EVICT_PROTECT_PACKETS 4    /* most recent new packets */
/* then half of the rest, the longest connected */

struct evict_cand {
	int id;
	uint64_t netgroup;        /* keyed hash of the /24 or /48: secret key,
	                           * so the protected groups are not guessable */
	uint64_t connected_ms;    /* when it connected (monotonic) */
	uint64_t ping_us;         /* round trip, UINT64_MAX if unknown */
	uint64_t last_packet_ms;  /* last new packet it delivered, 0 none */
};

/* The id of the connection to drop, or -1 when every one is protected.
 * Reorders c. */
int evict_select(struct evict_cand *c, size_t n);

#endif
