/* node.h - the running node: owns the event loop, the store, the identity,
 * the peer network, the RPC server, the worker pool and the counters shown
 * by DEX_stats.  Every field is touched by the event-loop thread only,
 * but shutting_down (atomic).
 *
 * Packet flow:
 *   peer bytes -> net -> node_ingest() -> store -> net (gossip to others)
 *   RPC        -> mining on a worker -> node_add_local() -> store -> net
 */
#ifndef DEX_NODE_H
#define DEX_NODE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "core/check.h"
#include "core/hist.h"
#include "core/store.h"
#include "node/config.h"

#define DEX_VERSION_MAJOR 0
#define DEX_VERSION_MINOR 1
#define DEX_VERSION_PATCH 0
#define DEX_VERSION 10000 /* 1000000*major + 10000*minor + 100*patch */
#define DEX_SUBVERSION "/dexp2p:0.1.0/"
#define DEX_PROTOCOL_VERSION 3 /* = WIRE_PROTOCOL_VERSION, checked in net.c */
#define DEX_VIP_PRIORITY 5
#define DEX_CMD_PRIORITY 7
#define DEX_FUTURE_SLACK 1 /* seconds a timestamp may be ahead (API.md A.2) */
/* A received packet ahead by more than DEX_FUTURE_SLACK but at most
 * DEX_FUTURE_HOLD seconds is kept in the future hold (core/fhold.h) and
 * stored when due, not dropped: no packet is lost between nodes whose
 * clocks differ by up to DEX_FUTURE_HOLD - 1 s (docs/daemon.md).  The hold
 * takes at most -maxmem / DEX_FUTURE_HOLD_DIV bytes (at least 1 MiB) and
 * DEX_FUTURE_HOLD_COUNT packets; the lowest priority gives way. */
#define DEX_FUTURE_HOLD 60
#define DEX_FUTURE_HOLD_DIV 16
#define DEX_FUTURE_HOLD_COUNT 65536

struct net;
struct rpc;
struct workers;
struct identity;
struct cancels;
struct fhold;
struct events;
struct lightsrv;
struct lightcli;
struct fetch;
struct files;

/* Counters of DEX_stats / perfstats (API.md 4.4). */
struct node_counters {
	uint64_t received;          /* packets received from peers, all */
	uint64_t sent;              /* whole packets sent to peers */
	uint64_t added;             /* packets stored, local or received */
	uint64_t duplicates;
	uint64_t dropped[DROP_MAX];
	uint64_t ann_examined;      /* L. announcements of unknown packets */
	uint64_t fetch_sent;        /* A. fetch requests sent */
	uint64_t fetch_retried;     /* coll. fetch requests retried */
	uint64_t fetch_pending;     /* pend. outstanding fetch requests */
	double lag[3];              /* moving averages, see API.md 4.4 */
	bool lag_init;
	bool overloaded;            /* LAG flag */
	uint32_t rate_ring[10];     /* packets added per second, last 10 s */
	uint32_t rate_sec;          /* second that rate_ring[rate_sec % 10] is */
	/* GET /metrics: recvtime - timestamp (s, ms resolution) of every
	 * packet received and stored, bounds node_lag_bounds */
	struct hist lag_hist;
};

/* Upper bounds (s) of ctr.lag_hist's buckets. */
extern const double node_lag_bounds[];
extern const size_t node_lag_nbounds;

struct node {
	struct event_base *base;
	struct config *cfg;
	struct store *store;
	struct identity *ident;     /* crypto.h */
	struct cancels *cancels;    /* cancel.h: applied cancels, issue 4 */
	struct fhold *fhold;        /* fhold.h: packets from the near future */
	struct events *events;      /* events.h: live subscriptions, or NULL */
	struct fetch *fetch;        /* fetch.c: packets by (timestamp, id) */
	struct net *net;
	struct rpc *rpc;
	struct workers *workers;
	struct lightsrv *lightsrv;  /* lightsrv.h: answers light clients */
	struct lightcli *lightcli;  /* lightcli.h: -light=1 only, else NULL */
	struct files *files;         /* files.h: file operations, or NULL */
	/* called by node_request_stop() (files.c sets it: running file
	 * operations answer "shutting down"); NULL if none */
	void (*stop_hook)(struct node *n);
	struct node_counters ctr;
	uint32_t start_time;
	char secpkey[67];           /* DEX_setpubkey, "" if none */
	char recvaddr[64];          /* derived from secpkey or -recvTaddr */
	/* set once by the loop thread (stop, teardown), read by the workers'
	 * cancel checks */
	_Atomic int shutting_down;
	struct event *tick_ev;      /* 1 s timer: purge, rate, log line */
	/* private to node.c */
	uint64_t last_overload_drops; /* dropped[DROP_OVERLOAD] at last tick */
	uint32_t overload_until;    /* LAG flag held until this second */
	uint32_t tick_count;
	int stop_requested;
};

#define NODE_STATS_LOG_EVERY 10 /* seconds between "stats:" log lines */
#define NODE_LAG_HOLD 5         /* seconds LAG stays set after overload */

/* Fill the node's own parts: zero *n, keep base and cfg, create the store
 * (purgetime, maxmem) and the cancel list, record start_time.  The other
 * parts (identity, workers, net, rpc) are set by the caller.  E_OK or
 * E_NOMEM. */
int node_init(struct node *n, struct event_base *base, struct config *cfg);
/* Start the 1-second tick on n->base. */
int node_start_tick(struct node *n);
/* Free what node_init/node_start_tick made (not identity/net/rpc/workers). */
void node_fini(struct node *n);
/* One tick at time `now` (exposed for tests): store the held future
 * packets now due (and hand them to the network), purge expired packets
 * and cancels, roll the rate ring, update the LAG flag, log "stats:" every
 * NODE_STATS_LOG_EVERY ticks (every tick with -debug=dex). */
void node_tick(struct node *n, uint32_t now);

/* Tests: make node_now()/node_now_ms() return this time (ms since the
 * epoch); 0 restores the real clock. */
void node_set_mocktime(uint64_t ms);

/* Wall clock: packet timestamps, purge, the `time` fields of the RPC
 * answers.  Never for a timeout, deadline or backoff: it may step. */
uint32_t node_now(void);
uint64_t node_now_ms(void);
/* Monotonic clock (CLOCK_MONOTONIC) in ms, for every timeout, deadline,
 * backoff and rate limit.  Its origin is arbitrary (not comparable with
 * node_now_ms); a mock time moves it by the same amount as the wall
 * clock. */
uint64_t node_mono_ms(void);

/* A packet received from a peer (peer_id >= 0) or read from anywhere else
 * untrusted.  Runs packet_check() with the node's parameters, counts the
 * packet in `received`, a drop in `dropped[reason]`, a duplicate in
 * `duplicates`; stores a new packet (counts `added`, lag), applies it if it
 * is a cancel, and applies remembered cancels to it.  Does NOT gossip: the
 * caller (net) does.  Returns E_OK with *out set for a new packet, E_DUP
 * with *out = the held packet, E_AGAIN (*out NULL, *reason DROP_FUTURE)
 * for a valid packet from the near future kept in the future hold (stored
 * and gossiped by node_tick when due), or E_PROTO with *reason set for a
 * drop. */
int node_ingest(struct node *n, const uint8_t *pkt, size_t len,
                struct stored **out, enum drop_reason *reason);

/* A packet created on this node (mined, valid).  Stores it with recvtime =
 * now, counts `added`, applies it if it is a cancel, hands it to the
 * network.  Returns E_OK and *out, or an error (E_DUP, E_NOMEM). */
int node_add_local(struct node *n, const uint8_t *pkt, size_t len,
                   struct stored **out);

/* Ask the loop to stop (RPC `stop`, signals): closes listeners, interrupts
 * workers, then leaves the loop. */
void node_request_stop(struct node *n);

/* DEX_stats `rate`: packets added in the last 10 s / 10. */
double node_rate(const struct node *n, uint32_t now);

/* getinfo `synced` (API.md 5.1). */
bool node_synced(const struct node *n);

#endif
