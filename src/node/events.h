/* events.h - live subscriptions on the local node: the hooks the node
 * calls where packets are stored, cancelled and purged, the sinks that
 * receive them (GET /events streams in events.c, DEX_wait calls in
 * rpc_events.c), and the filter parsing both share with DEX_list.
 *
 * Flow: node_ingest / node_add_local / a future packet coming due ->
 * events_on_stored() queues the packet's hash (cheap: relaying is not
 * delayed) and the queue is delivered from the loop right after; a cancel
 * (cancel.c) and a purge (node_tick, before store_purge) first deliver the
 * queue, then are delivered at once (a purged packet is matched while it
 * is still held).  Every hook is a no-op while there is no subscription.
 *
 * Everything runs on the event-loop thread.
 */
#ifndef DEX_EVENTS_H
#define DEX_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "node/subs.h"

struct node;
struct stored;
struct events;

enum ev_kind {
	EV_STORED,    /* a packet was stored (sp held) */
	EV_CANCELLED, /* a held packet was cancelled (sp held) */
	EV_PURGED,    /* a held packet expires: sp is held until return */
	EV_SHUTDOWN,  /* the node stops: sp NULL; the sink removes itself */
};

/* A receiver of events: embed it, set sub.f, sub.addr and fn.  fn may
 * remove its own sink (events_remove), not another one. */
struct ev_sink {
	struct sub sub;
	void (*fn)(struct node *n, struct ev_sink *k, enum ev_kind kind,
	           struct stored *sp);
};

/* Create (limits from n->cfg) / free.  events_free tells every sink
 * EV_SHUTDOWN; call it after rpc_stop and before rpc_free. */
struct events *events_new(struct node *n);
void events_free(struct events *e);

/* Register a sink; SUBS_OK or the limit that refused it. */
enum subs_rc events_add(struct node *n, struct ev_sink *k);
void events_remove(struct node *n, struct ev_sink *k);
size_t events_count(const struct node *n);

/* DEX_stats "subscriptions": {"active","streams","delivered","dropped"}
 * (a new reference). */
json_t *events_stats_json(const struct node *n);

/* Hooks (n->events may be NULL: then they do nothing). */
void events_on_stored(struct node *n, struct stored *sp);
void events_on_cancelled(struct node *n, struct stored *sp);
void events_before_purge(struct node *n, uint32_t now);
/* sp is about to be removed by the memory cap (-maxmem): a purge event,
 * after the stored events still pending. */
void events_on_evicted(struct node *n, struct stored *sp);

/* The filters of DEX_list (API.md 4.2) in its validation order:
 * minpriority, tagA, tagB, pubkey33, minA, maxA, minB, maxB, then the
 * A and B ranges; p[i]/len[i] for those 8 parameters in that order
 * ("" = default).  Applies the `general` default.  NULL, or the result
 * error object DEX_list would return. */
json_t *events_parse_filter(const char *const p[8], const size_t len[8],
                            struct sub_filter *f);

/* The held packets matching f, newest first, stopping (exclusive) at the
 * packet whose hash is stophash (NULL: none) as DEX_list does, and only
 * those with timestamp >= since.  cb returns false to stop. */
size_t events_query(struct node *n, const struct sub_filter *f,
                    const uint8_t *stophash, uint32_t since,
                    bool (*cb)(struct stored *sp, void *arg), void *arg);

#endif
