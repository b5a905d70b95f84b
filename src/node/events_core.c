/* events_core.c - the subscription registry of the node and the hooks
 * where packets are stored, cancelled and purged (events.h): matching and
 * delivery to the sinks, DEX_list's filter parsing and query.  Kept apart
 * from events.c (the HTTP streams) so that whatever stores packets links
 * without the RPC server.  Loop thread only.
 */
#include <string.h>

#include "core/store.h"
#include "core/util.h"
#include "node/events_int.h"
#include "node/node.h"
#include "node/params.h"

#define GENERAL_TAG "general"

/* ---- registry and hooks ---- */

json_t *events_stats_json(const struct node *n)
{
	const struct events *e = n->events;
	json_t *o = json_object();
	size_t streams = e ? e->nstreams : 0;

	json_object_set_new(o, "active",
	                    json_integer(e ? (json_int_t)subs_count(e->subs)
	                                   : 0));
	json_object_set_new(o, "streams", json_integer((json_int_t)streams));
	json_object_set_new(o, "delivered",
	                    json_integer(e ? (json_int_t)e->delivered : 0));
	json_object_set_new(o, "dropped",
	                    json_integer(e ? (json_int_t)e->overflows : 0));
	return o;
}

enum subs_rc events_add(struct node *n, struct ev_sink *k)
{
	struct events *e = n->events;

	if (!e)
		return SUBS_FULL;
	k->sub.owner = k;
	enum subs_rc rc = subs_add(e->subs, &k->sub);
	if (rc == SUBS_OK && e->sink_hook &&
	    !e->sink_hook(n, &k->sub.f, true)) {
		subs_remove(e->subs, &k->sub);
		return SUBS_LIGHT_FULL;
	}
	return rc;
}

void events_remove(struct node *n, struct ev_sink *k)
{
	struct events *e = n->events;

	if (!e || !k->sub.linked)
		return;
	subs_remove(e->subs, &k->sub);
	if (e->sink_hook)
		e->sink_hook(n, &k->sub.f, false);
}

size_t events_count(const struct node *n)
{
	return n->events ? subs_count(n->events->subs) : 0;
}

struct deliver_ctx {
	struct node *n;
	enum ev_kind kind;
	struct stored *sp;
};

static void deliver_cb(struct sub *s, void *arg)
{
	struct deliver_ctx *d = arg;
	struct ev_sink *k = s->owner;

	k->fn(d->n, k, d->kind, d->sp);
}

static void deliver(struct events *e, enum ev_kind kind, struct stored *sp)
{
	struct packet_view pv;
	struct deliver_ctx d = { e->n, kind, sp };

	stored_view(sp, &pv);
	e->delivered += subs_match(e->subs, &pv, sp->priority, deliver_cb, &d);
}

static void flush_pending(struct events *e)
{
	size_t n = e->npend;

	e->npend = 0;
	for (size_t i = 0; i < n; i++) {
		struct stored *sp = store_get_hash(e->n->store, e->pend[i]);
		if (sp && subs_count(e->subs))
			deliver(e, EV_STORED, sp);
	}
}

void events_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	flush_pending(arg);
}

void events_on_stored(struct node *n, struct stored *sp)
{
	struct events *e = n->events;

	if (!e || !subs_count(e->subs))
		return;
	if (e->npend == EVENTS_PENDING_MAX)
		flush_pending(e);
	memcpy(e->pend[e->npend++], sp->hash, 32);
	if (e->npend == 1)
		event_active(e->flush_ev, EV_TIMEOUT, 0);
}

void events_on_cancelled(struct node *n, struct stored *sp)
{
	struct events *e = n->events;

	if (!e || !subs_count(e->subs))
		return;
	flush_pending(e);
	deliver(e, EV_CANCELLED, sp);
}

void events_on_evicted(struct node *n, struct stored *sp)
{
	struct events *e = n->events;

	if (!e || !subs_count(e->subs))
		return;
	flush_pending(e);
	deliver(e, EV_PURGED, sp);
}

static bool purge_cb(struct stored *sp, void *arg)
{
	struct events *e = arg;

	if (subs_count(e->subs))
		deliver(e, EV_PURGED, sp);
	return true;
}

void events_before_purge(struct node *n, uint32_t now)
{
	struct events *e = n->events;
	uint32_t pt = n->cfg->purgetime, cutoff;

	if (!e || now < pt)
		return;
	cutoff = now - pt; /* store_purge drops timestamps <= cutoff */
	if (subs_count(e->subs) && cutoff >= e->purge_lo) {
		flush_pending(e);
		store_foreach_time(n->store, e->purge_lo, cutoff, purge_cb, e);
	}
	if (cutoff >= e->purge_lo)
		e->purge_lo = cutoff + 1;
}

/* ---- filters ---- */

json_t *events_parse_filter(const char *const p[8], const size_t len[8],
                            struct sub_filter *f)
{
	json_t *e;
	bool g;

	sub_filter_init(f);
	if ((e = param_minpriority(p[0], len[0], &f->minpriority)) ||
	    (e = param_tag("tagA", p[1], len[1], f->tag_a, &f->len_a)) ||
	    (e = param_tag("tagB", p[2], len[2], f->tag_b, &f->len_b)) ||
	    (e = param_pubkey33(p[3], len[3], f->pubkey, &f->has_pk)) ||
	    (e = param_amount("minA", p[4], len[4], 0, &f->min_a, &g)) ||
	    (e = param_amount("maxA", p[5], len[5], AMOUNT_MAX, &f->max_a,
	                      &g)) ||
	    (e = param_amount("minB", p[6], len[6], 0, &f->min_b, &g)) ||
	    (e = param_amount("maxB", p[7], len[7], AMOUNT_MAX, &f->max_b,
	                      &g)) ||
	    (e = param_range("minA", p[4], len[4], "maxA", p[5], len[5],
	                     f->min_a, f->max_a)) ||
	    (e = param_range("minB", p[6], len[6], "maxB", p[7], len[7],
	                     f->min_b, f->max_b)))
		return e;
	if (!f->len_a && !f->len_b && !f->has_pk) {
		f->len_a = strlen(GENERAL_TAG);
		memcpy(f->tag_a, GENERAL_TAG, f->len_a);
	}
	return NULL;
}

struct query_ctx {
	uint32_t since;
	bool (*cb)(struct stored *, void *);
	void *arg;
};

static bool query_cb(struct stored *sp, void *arg)
{
	struct query_ctx *q = arg;

	if (sp->timestamp < q->since)
		return true;
	return q->cb(sp, q->arg);
}

size_t events_query(struct node *n, const struct sub_filter *f,
                    const uint8_t *stophash, uint32_t since,
                    bool (*cb)(struct stored *sp, void *arg), void *arg)
{
	struct store_query q;
	struct query_ctx qc = { since, cb, arg };

	memset(&q, 0, sizeof q);
	q.tag_a = f->tag_a;
	q.len_a = f->len_a;
	q.tag_b = f->tag_b;
	q.len_b = f->len_b;
	q.pubkey = f->has_pk ? f->pubkey : NULL;
	q.stophash = stophash;
	q.minpriority = f->minpriority;
	q.min_a = f->min_a;
	q.max_a = f->max_a;
	q.min_b = f->min_b;
	q.max_b = f->max_b;
	return store_query(n->store, &q, query_cb, &qc);
}

