/* lightcli.h - the light mode of dexp2pd (-light=1, docs/daemon.md,
 * PROTOCOL.md 7): no firehose, the RPC API served by asking full nodes.
 *
 * A DEX_list, DEX_get or DEX_orderbook call on a light node first asks
 * every connected full node (up to LC_MAX_SERVERS) for the matching
 * packets (and the cancel packets since the last sync), checks each
 * packet returned (light_check: codec, proof of work, priority, hash or id
 * asked, that it matches the filter), stores the union of the valid ones
 * in the local store, then runs the ordinary handler on that store: the
 * answer has the exact shape of a full node's, and inbox decryption stays
 * local.  Listed filters are also kept as live filters on the full nodes
 * (LSUB): their pushes, checked alike, feed the local store, and a filter
 * asked within LC_REASK_MS is answered from it at once.  Subscriptions
 * (GET /events, DEX_wait) hold live filters of their own (lightcli_sub),
 * so what the full nodes push reaches them through the store.  A full node
 * returning an invalid or non-matching packet is dropped (a lie); one
 * lacking packets another returned is handed them, and scored (dropped
 * when it does so repeatedly) if it leaves them out again.  Packets created
 * here (DEX_broadcast, DEX_cancel...) are relayed through the full nodes
 * (LRELAY).  Every request stays within LC_RATE per full node.
 *
 * Loop thread only.
 */
#ifndef DEX_LIGHTCLI_H
#define DEX_LIGHTCLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "node/rpc.h"

struct node;
struct stored;
struct lightcli;
struct sub_filter;

#define LC_MAX_SERVERS 4          /* full nodes asked per call */
#define LC_ASK_MS 4000u           /* an answer later than this: timeout */
#define LC_MAX_PAGES 16u          /* pages followed per ask */
#define LC_SLOW_MS 30000u         /* a node that timed out: not asked */
/* A repeated filter asks only packets with timestamp >= the previous
 * complete answer's time minus this (late arrivals, the future hold). */
#define LC_SINCE_SLACK 120u
/* Asks of a repeated filter are incremental (each full node answers only
 * what is newer than what it returned last time); every LC_AUDIT_S
 * seconds one is whole, and the answers are compared for omissions. */
#define LC_AUDIT_S 30u
#define LC_OMIT_SCORE 34u         /* misbehaviour per answer with omissions */
#define LC_DISTRUST_MS 600000u    /* a lying node is not asked for 10 min */
#define LC_RELAY_QUEUE 256u       /* own packets waiting for a full node */
/* Requests to one full node: 15/s, burst 45 (its limit: 20/s, burst 60) */
#define LC_RATE 15.0
#define LC_BURST 45.0
/* Live filters kept on the full nodes (they allow 16); a filter with one
 * is answered from the local store, fed by their pushes, and asked again
 * (incrementally) at most every LC_REASK_MS. */
#define LC_MAX_LIVE 8
#define LC_REASK_MS 1000u
/* Live filters that subscriptions (GET /events, DEX_wait) may hold (the
 * "cancel" one included); the others stay for DEX_list.  A subscription
 * that would need one more is refused.  A filter no subscription uses
 * any more is released (LUNSUB) after LC_SUB_LINGER_MS (a DEX_wait loop
 * does not resubscribe at every call). */
#define LC_MAX_SUBLIVE (LC_MAX_LIVE - 2)
#define LC_SUB_LINGER_MS 3000u
/* A filter held by subscriptions that a full node has not accepted (an
 * LSUB over the request budget, refused, lost) is sent again this often. */
#define LC_SUB_RETRY_MS 5000u

enum lightcli_kind {
	LIGHT_Q_LIST,                 /* DEX_list's parameters */
	LIGHT_Q_ORDERBOOK,            /* DEX_orderbook's: both pairs */
	LIGHT_Q_GET,                  /* DEX_get id|hash */
};

struct lightcli *lightcli_new(struct node *n);
void lightcli_free(struct lightcli *lc);
/* Answer every pending call ("shutting down"). */
void lightcli_stop(struct lightcli *lc);

/* At the top of a handler on a light node: asks the full nodes and
 * returns true (the handler is called again with the same arguments once
 * the answers are in or the time is up); false when the handler must
 * run now (the resumed call, invalid parameters, no full node). */
bool lightcli_defer(struct node *n, struct rpc_call *c, rpc_handler h,
                    const char *const *p, size_t np, enum lightcli_kind k);

/* net.c: a validated LANSWER / LPUSH frame from peer. */
void lightcli_on_msg(struct lightcli *lc, int peer, uint8_t type,
                     const uint8_t *p, size_t n);
/* net.c: a peer finished its handshake (server: a full node, v3). */
void lightcli_peer_ready(struct lightcli *lc, int peer, bool server);
void lightcli_peer_gone(struct lightcli *lc, int peer);
/* net.c, every tick: deadlines. */
void lightcli_tick(struct lightcli *lc, uint64_t now_ms);
/* A packet created on this node: relay it through the full nodes. */
void lightcli_relay(struct lightcli *lc, const struct stored *sp);
/* Full nodes this client may ask (connected, not distrusted): ids. */
size_t lightcli_servers(struct lightcli *lc, int *ids, size_t cap);
/* getpeerinfo extension for a full node asked (NULL: none). */
json_t *lightcli_peerinfo(const struct lightcli *lc, int peer);
/* events.c (events_add/events_remove on a light node): a subscription
 * with filter f is added (add) or removed.  Added: its filter and the
 * "cancel" one are kept as live filters on the full nodes while a
 * subscription uses them, and a filter newly kept is asked for its held
 * matches (stored locally as they come: events_on_stored).  False (add
 * only): LC_MAX_SUBLIVE filters are already held by subscriptions. */
bool lightcli_sub(struct lightcli *lc, const struct sub_filter *f,
                  bool add);
/* Is a subscription's first ask for filter f (lightcli_sub) still
 * waiting for answers?  fn is called (events.c) each time one ends. */
bool lightcli_sub_asking(const struct lightcli *lc,
                         const struct sub_filter *f);
void lightcli_sub_notify(struct lightcli *lc, void (*fn)(struct node *n));
/* DEX_stats extension: the servers' records and totals. */
json_t *lightcli_stats(const struct lightcli *lc);

#endif
