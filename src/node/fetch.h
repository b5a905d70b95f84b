/* fetch.h - asking peers for packets by (timestamp, id) (PROTOCOL.md,
 * message types 0x10-0x13), for DEX_subscribe and DEX_streamsub (API.md
 * 4.9 "Fetching").
 *
 * A request names packets the way a file's locators do: the packet's
 * timestamp and its 32-bit id (API.md A.3).  It goes to peers that answer
 * such requests (protocol version 3 or more, started with -dexp2p=2); a
 * packet that arrives in answer is checked and stored through node_ingest()
 * like any relayed packet, even if this node held and purged it before.
 * The caller learns of arrivals by looking in the store (store_foreach_id)
 * and decides itself how long to wait.  Loop thread only.
 */
#ifndef DEX_FETCH_H
#define DEX_FETCH_H

#include <stddef.h>
#include <stdint.h>

struct node;

struct fetch_key {
	uint32_t timestamp;
	uint32_t id;
};

/* Ask for the packets named by keys[0..count).  Keys already requested
 * recently are not asked again at once; the rest are spread over the
 * answering peers and re-asked of others when a peer has not answered.
 * Returns the number of answering peers asked (0: none connected). */
size_t node_fetch_keys(struct node *n, const struct fetch_key *keys,
                       size_t count);

/* ---- hooks called by net.c (the wire side, PROTOCOL.md 3.6) ---- */

/* A peer finished its handshake (its VERSION's version and services): it
 * gets an answering budget, and is asked for packets when it answers
 * (version >= 3 and WIRE_SVC_FULL). */
void fetch_peer_up(struct node *n, int peer, uint32_t version,
                   uint64_t services);
/* It left (only for peers given to fetch_peer_up). */
void fetch_peer_down(struct node *n, int peer);
/* A GETPKTS, PKTREPLY or PKTMISS frame from a ready peer.  Malformed
 * frames and bad packets are reported through net (the peer is
 * disconnected); a node started with -dexp2p=1 reads GETPKTS and answers
 * nothing. */
void fetch_on_msg(struct node *n, int peer, uint8_t type, const uint8_t *p,
                  size_t len);
/* Timers (request timeouts, re-asks); call every 10-100 ms. */
void fetch_tick(struct node *n);
/* Free the state (at net_free). */
void fetch_free(struct node *n);

/* Counters (GET /metrics, the -debug=net lines, tests). */
struct fetch_stats {
	/* answering */
	uint64_t req_received;       /* GETPKTS frames read */
	uint64_t req_ignored;        /* ... not answered: -dexp2p=1 */
	uint64_t req_refused;        /* ... over the key rate: BUSY */
	uint64_t keys_served;        /* keys answered with a packet */
	uint64_t keys_missing;       /* keys answered as not held */
	uint64_t keys_busy;          /* keys answered BUSY (byte budget) */
	uint64_t pkts_sent;          /* packets in PKTREPLY frames */
	/* asking */
	uint64_t pkts_received;      /* packets in PKTREPLY frames read */
	uint64_t pkts_unsolicited;   /* ... naming no request of ours */
	uint64_t miss_answers;       /* PKTMISS to a request of ours, not BUSY */
	uint64_t keys_missed;        /* ... keys they list (not held there) */
	uint64_t requests;           /* GETPKTS sent (pktfetch_stats) */
	uint64_t keys_asked;         /* keys in them */
	uint64_t reasked;            /* ... asked of a further peer */
	uint64_t timeouts;           /* requests not answered in time */
	uint64_t busy_answers;       /* PKTMISS answers saying BUSY */
	uint64_t delivered;          /* keys found held after an answer */
	uint64_t refused;            /* keys not taken: table full */
	uint64_t expired;            /* keys given up after the TTL */
	size_t keys_wanted;          /* keys wanted now */
	size_t outstanding;          /* requests waiting for an answer */
};
void fetch_get_stats(const struct node *n, struct fetch_stats *st);

#endif
