/* lightsrv.h - a full node answering light clients (PROTOCOL.md 7):
 * LLIST, LGET, LSUB/LUNSUB (live filters pushed as LPUSH) and LRELAY,
 * bounded per peer in rate, answer size and subscriptions.  Only a
 * -dexp2p=2 node that is not itself light answers; others refuse.
 *
 * Loop thread only.  net.c hands it the light frames of its peers and
 * every newly stored packet; it answers through net_peer_send().
 */
#ifndef DEX_LIGHTSRV_H
#define DEX_LIGHTSRV_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct node;
struct stored;
struct lightsrv;

/* Per peer: requests per second (a token bucket) and the burst; each
 * request past them adds LSRV_FLOOD_SCORE to the peer's misbehaviour (10
 * of them and it is dropped) and is refused. */
#define LSRV_RATE 20.0
#define LSRV_BURST 60.0
#define LSRV_FLOOD_SCORE 10u
/* Bytes of packets one LLIST / LGET answer may carry (then WIRE_LS_PAGE) */
#define LSRV_PAGE_BYTES (4u << 20)
/* The peer's unsent output over this: requests refused, pushes skipped */
#define LSRV_OUT_MAX (4u << 20)
#define LSRV_MAX_SUBS 16u             /* live filters per peer */
#define LSRV_GET_MAX 64u              /* packets of one id in an answer */

struct lightsrv *lightsrv_new(struct node *n);
void lightsrv_free(struct lightsrv *s);
/* A validated light frame (wire_payload_validate passed) from peer. */
void lightsrv_on_msg(struct lightsrv *s, int peer, uint8_t type,
                     const uint8_t *p, size_t n);
/* A packet was stored (from anywhere): push it to matching live filters. */
void lightsrv_on_new(struct lightsrv *s, const struct stored *sp);
void lightsrv_peer_gone(struct lightsrv *s, int peer);
/* getpeerinfo extension for a peer that asked: its counters (NULL: none) */
json_t *lightsrv_peerinfo(const struct lightsrv *s, int peer);

#endif
