/* pktfetch.h - asking peers for packets by (timestamp, id) (PROTOCOL.md
 * 3.6): which keys go to which answering peer, and the answering side's
 * per-peer budget.
 *
 * Requester.  The caller names the keys it wants (pktfetch_want); the
 * scheduler spreads them over the answering peers (protocol version 3 or
 * more, FULL service) in requests of at most PKTFETCH_REQ_KEYS keys, at
 * most PKTFETCH_PER_PEER requests outstanding per peer.  A key is asked of
 * one peer at a time; a peer that answers without it (PKTMISS, or the
 * answer ends and the key is still not held), or does not answer within
 * PKTFETCH_TIMEOUT_MS, is marked as tried for that key and the key goes to
 * another peer at once.  A key tried on every connected peer waits: until
 * a new answering peer connects, or the caller names it again at least
 * PKTFETCH_REASK_MS after it was last asked (then every peer may be asked
 * again).  A key the caller has not named for PKTFETCH_KEY_TTL_MS, or that
 * is found held (ops->have), is forgotten.  A peer that answered BUSY is not
 * asked for PKTFETCH_BUSY_MS and the keys it did not serve go elsewhere
 * without marking it tried.
 *
 * Bounded: at most PKTFETCH_MAX_KEYS keys (40 bytes each plus two 4-byte
 * index slots: 12 MiB at most; keys beyond are refused), at most PKTFETCH_MAX_PEERS
 * answering peers (others are not used), per peer PKTFETCH_PER_PEER
 * requests of 1 KiB.  The key index is keyed by a seed the caller gives, so
 * keys chosen by a hostile publisher cannot make its probes long.
 *
 * Sans I/O, no clock: every entry point takes now_ms (monotonic); requests
 * leave through ops->send.  Peers are named by the caller's int ids.
 * Scanning for keys to ask is bounded per call (PKTFETCH_SCAN_MAX).
 */
#ifndef DEX_PKTFETCH_H
#define DEX_PKTFETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/wire.h"

#define PKTFETCH_MAX_KEYS 262144u    /* 2 x the fragments of a 1.31 GB file */
#define PKTFETCH_MAX_PEERS 64u
#define PKTFETCH_REQ_KEYS 128u       /* keys per GETPKTS */
#define PKTFETCH_PER_PEER 2u         /* outstanding requests per peer */
#define PKTFETCH_TIMEOUT_MS 3000u    /* no answer (and no packet of it) */
#define PKTFETCH_WAIT_MAX_MS 30000u  /* a request still delivering: cap */
#define PKTFETCH_BUSY_MS 1000u
#define PKTFETCH_REASK_MS 2000u
#define PKTFETCH_KEY_TTL_MS 60000u
#define PKTFETCH_SCAN_MAX 32768u     /* keys examined per call */

struct pktfetch_ops {
	void *ctx;
	/* Is a packet with this (timestamp, id) held? */
	bool (*have)(void *ctx, struct wire_pktkey k);
	/* Send GETPKTS reqid with keys[0..n) to peer. */
	void (*send)(void *ctx, int peer, uint32_t reqid,
	             const struct wire_pktkey *keys, uint32_t n);
};

struct pktfetch_stats {
	uint64_t requests;           /* GETPKTS sent */
	uint64_t keys_asked;         /* keys in them */
	uint64_t reasked;            /* ... of which asked of a further peer */
	uint64_t timeouts;           /* requests not answered in time */
	uint64_t busy;               /* answers saying BUSY */
	uint64_t delivered;          /* keys found held after an answer */
	uint64_t refused;            /* keys not taken: table full */
	uint64_t expired;            /* keys forgotten after the TTL */
	uint64_t unsolicited;        /* answers naming no request of ours */
	size_t keys;                 /* keys wanted now */
	size_t outstanding;          /* requests */
	size_t peers;                /* answering peers */
};

struct pktfetch;

struct pktfetch *pktfetch_new(const struct pktfetch_ops *ops, uint64_t seed);
void pktfetch_free(struct pktfetch *pf);

/* An answering peer connected.  E_OK, E_DUP (known), E_NOMEM (table of
 * PKTFETCH_MAX_PEERS full: it is not used). */
int pktfetch_peer_add(struct pktfetch *pf, int peer, uint64_t now_ms);
/* It left: its requests' keys go to the others, its state is freed. */
void pktfetch_peer_del(struct pktfetch *pf, int peer, uint64_t now_ms);

/* Want keys[0..n): new keys are added (up to the cap), known ones
 * refreshed (and re-opened to every peer when last asked at least
 * PKTFETCH_REASK_MS ago); requests go out.  Returns the number of keys
 * now wanted among them (new or known). */
size_t pktfetch_want(struct pktfetch *pf, const struct wire_pktkey *keys,
                     size_t n, uint64_t now_ms);

/* A PKTREPLY reqid from peer arrived (its packets are the caller's):
 * true if it answers an outstanding request of ours (its deadline moves
 * on), false otherwise (unsolicited). */
bool pktfetch_on_reply(struct pktfetch *pf, int peer, uint32_t reqid,
                       uint64_t now_ms);
/* A PKTMISS from peer: the answer to reqid is complete.  Keys of the
 * request now held are done; those listed with WIRE_PKTMISS_BUSY go to
 * others (peer not tried, paused PKTFETCH_BUSY_MS); every other key is
 * marked tried on peer and goes to another peer.  False if reqid names no
 * outstanding request of peer (ignored). */
bool pktfetch_on_miss(struct pktfetch *pf, int peer, uint32_t reqid,
                      uint8_t flags, const uint8_t *keys, uint32_t count,
                      uint64_t now_ms);

/* Timers: request timeouts, the key TTL, requests for idle keys.  Call
 * every 10-100 ms. */
void pktfetch_tick(struct pktfetch *pf, uint64_t now_ms);

/* Answering peers known. */
size_t pktfetch_peers(const struct pktfetch *pf);
/* Is key wanted (in the table)? */
bool pktfetch_wanted(const struct pktfetch *pf, struct wire_pktkey k);
void pktfetch_get_stats(const struct pktfetch *pf, struct pktfetch_stats *st);
/* Bytes held. */
size_t pktfetch_mem(const struct pktfetch *pf);
/* Tests: check the internal invariants by a full walk; 0 or the line of
 * the first failed check. */
int pktfetch_debug_check(const struct pktfetch *pf);

/* ---- answering side: a per-peer budget ----
 *
 * Keys: PKTSERVE_KEY_RATE per second, burst PKTSERVE_KEY_BURST (an honest
 * requester asks each key of a peer at most once per PKTFETCH_REASK_MS and
 * wants at most PKTFETCH_MAX_KEYS, so it stays within).  A request over it
 * is not looked up: answered BUSY and reported (the caller adds a
 * misbehaviour point).  Bytes: PKTSERVE_BYTE_RATE per second, burst
 * PKTSERVE_BYTE_BURST, and at most PKTSERVE_ANSWER_MAX per request (one
 * packet always fits); keys past either are answered BUSY, not reported
 * (an honest requester fetching a large file from one peer meets it). */
#define PKTSERVE_KEY_RATE 131072.0
#define PKTSERVE_KEY_BURST 262144.0
#define PKTSERVE_BYTE_RATE (32.0 * 1048576.0)
#define PKTSERVE_BYTE_BURST (128.0 * 1048576.0)
#define PKTSERVE_ANSWER_MAX (2u << 20)

struct pktserve {
	double keys, bytes;          /* tokens */
	uint64_t last_ms;
	bool init;
};

/* A request of count keys at now_ms: true if within the key budget
 * (tokens taken). */
bool pktserve_request(struct pktserve *s, uint32_t count, uint64_t now_ms);
/* May the answer, having used `used` bytes, add a len-byte packet?  True
 * (tokens taken) or false (the rest of the request is BUSY). */
bool pktserve_bytes(struct pktserve *s, size_t used, size_t len,
                    uint64_t now_ms);

#endif
