/* lightsrv.c - answering light clients (lightsrv.h, PROTOCOL.md 7).
 *
 * Owns one record per peer that asked something (rate bucket, live
 * filters, counters), freed when the peer goes.  Answers carry whole
 * packets (the client checks them itself) in LANSWER frames of at most
 * WIRE_MAX_PAYLOAD bytes, LSRV_PAGE_BYTES per request.
 */
#include "node/lightsrv.h"

#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "core/err.h"
#include "core/store.h"
#include "core/util.h"
#include "node/log.h"
#include "node/net.h"
#include "node/node.h"
#include "proto/ban.h"
#include "proto/light.h"
#include "proto/peers.h"
#include "proto/wire.h"

struct lsub {
	uint32_t id;
	struct wire_lfilter f;
};

struct lpeer {
	struct lpeer *next;
	int id;
	struct peers_bucket tb;
	struct lsub subs[LSRV_MAX_SUBS];
	size_t nsubs;
	uint64_t reqs, refused, sent, pushed, push_skipped, relayed;
};

struct lightsrv {
	struct node *n;
	struct lpeer *peers;
	size_t nsubs;                 /* all peers */
	struct wbuf wb;
};

struct lightsrv *lightsrv_new(struct node *n)
{
	struct lightsrv *s = xcalloc(1, sizeof(*s));
	s->n = n;
	wb_init(&s->wb);
	return s;
}

void lightsrv_free(struct lightsrv *s)
{
	if (!s)
		return;
	while (s->peers) {
		struct lpeer *p = s->peers;
		s->peers = p->next;
		free(p);
	}
	wb_fini(&s->wb);
	free(s);
}

static struct lpeer *lpeer_get(struct lightsrv *s, int peer, bool make)
{
	for (struct lpeer *p = s->peers; p; p = p->next)
		if (p->id == peer)
			return p;
	if (!make)
		return NULL;
	struct lpeer *p = xcalloc(1, sizeof(*p));
	p->id = peer;
	p->next = s->peers;
	s->peers = p;
	return p;
}

void lightsrv_peer_gone(struct lightsrv *s, int peer)
{
	for (struct lpeer **pp = &s->peers; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == peer) {
			struct lpeer *p = *pp;
			*pp = p->next;
			s->nsubs -= p->nsubs;
			free(p);
			return;
		}
	}
}

static bool serving(const struct lightsrv *s)
{
	return s->n->cfg->dexp2p == 2 && !s->n->cfg->light;
}

static void send_wb(struct lightsrv *s, int peer)
{
	net_peer_send(s->n->net, peer, s->wb.p, s->wb.len);
	wb_reset(&s->wb);
}

static void answer_status(struct lightsrv *s, int peer, uint32_t reqid,
                          uint8_t status)
{
	wire_lanswer_begin(&s->wb, reqid, status);
	wb_end(&s->wb);
	send_wb(s, peer);
}

/* Building a (possibly multi-frame) answer. */
struct ans {
	struct lightsrv *s;
	struct lpeer *lp;
	uint32_t reqid;
	const struct wire_lfilter *f; /* NULL: no filter (LGET) */
	const uint8_t *after;         /* skip up to and including this hash */
	const uint8_t *stop;          /* stop (exclusive) at this hash */
	bool skipping;
	size_t count, max, bytes;
	bool page;                    /* stopped at a limit */
};

static void ans_start(struct ans *a)
{
	wire_lanswer_begin(&a->s->wb, a->reqid, WIRE_LS_MORE);
}

/* Close the answer: the last frame's status is `status`. */
static void ans_finish(struct ans *a, uint8_t status)
{
	struct wbuf *wb = &a->s->wb;
	wb->p[wb->frame_start + WIRE_HDR_LEN + 4] = status;
	wb_end(wb);
	send_wb(a->s, a->lp->id);
}

static bool ans_add(struct ans *a, const struct stored *sp)
{
	struct wbuf *wb = &a->s->wb;
	if (a->count >= a->max || a->bytes + sp->len > LSRV_PAGE_BYTES) {
		a->page = true;
		return false;
	}
	if (wb_frame_payload_len(wb) + wire_lentry_len(sp->len) >
	    WIRE_MAX_PAYLOAD) {
		wb_end(wb); /* status MORE */
		ans_start(a);
	}
	wire_lentry_add(wb, sp->recvtime, stored_bytes(sp), sp->len);
	a->count++;
	a->bytes += sp->len;
	a->lp->sent++;
	return true;
}

static bool list_cb(struct stored *sp, void *arg)
{
	struct ans *a = arg;
	if (a->stop && !memcmp(sp->hash, a->stop, 32))
		return false; /* everything older the asker has */
	if (a->skipping) {
		if (!memcmp(sp->hash, a->after, 32))
			a->skipping = false;
		return true;
	}
	if (sp->timestamp < a->f->since)
		return true;
	return ans_add(a, sp);
}

static void on_llist(struct lightsrv *s, struct lpeer *lp,
                     const struct wire_llist *l)
{
	struct store_query q;
	struct ans a;

	if (!light_filter_selective(&l->f)) {
		/* would walk every held packet: not a light query */
		lp->refused++;
		answer_status(s, lp->id, l->reqid, WIRE_LS_REFUSED);
		return;
	}
	memset(&q, 0, sizeof(q));
	q.tag_a = l->f.tag_a;
	q.len_a = l->f.la;
	q.tag_b = l->f.tag_b;
	q.len_b = l->f.lb;
	q.pubkey = l->f.plen ? l->f.pubkey : NULL;
	q.minpriority = l->f.minpriority;
	q.min_a = l->f.min_a;
	q.max_a = l->f.max_a;
	q.min_b = l->f.min_b;
	q.max_b = l->f.max_b;
	memset(&a, 0, sizeof(a));
	a.s = s;
	a.lp = lp;
	a.reqid = l->reqid;
	a.f = &l->f;
	a.max = l->max;
	/* a cursor no longer held (purged): from the newest again */
	if (l->has_after && store_has(s->n->store, l->after)) {
		a.after = l->after;
		a.skipping = true;
	}
	if (l->has_stop)
		a.stop = l->stop;
	ans_start(&a);
	store_query(s->n->store, &q, list_cb, &a);
	ans_finish(&a, a.page ? WIRE_LS_PAGE : WIRE_LS_DONE);
}

static bool get_cb(struct stored *sp, void *arg)
{
	return ans_add(arg, sp);
}

static void on_lget(struct lightsrv *s, struct lpeer *lp,
                    const struct wire_lget *g)
{
	struct ans a;

	memset(&a, 0, sizeof(a));
	a.s = s;
	a.lp = lp;
	a.reqid = g->reqid;
	a.max = LSRV_GET_MAX;
	ans_start(&a);
	if (g->by_hash) {
		struct stored *sp = store_get_hash(s->n->store, g->hash);
		if (sp)
			ans_add(&a, sp);
	} else {
		store_foreach_id(s->n->store, g->id, get_cb, &a);
	}
	ans_finish(&a, a.count ? (a.page ? WIRE_LS_PAGE : WIRE_LS_DONE)
	                       : WIRE_LS_NOTFOUND);
}

static void on_lsub(struct lightsrv *s, struct lpeer *lp, uint32_t subid,
                    const struct wire_lfilter *f)
{
	for (size_t i = 0; i < lp->nsubs; i++) {
		if (lp->subs[i].id == subid) {
			lp->subs[i].f = *f;
			answer_status(s, lp->id, subid, WIRE_LS_DONE);
			return;
		}
	}
	if (lp->nsubs >= LSRV_MAX_SUBS || !light_filter_selective(f)) {
		lp->refused++;
		answer_status(s, lp->id, subid, WIRE_LS_REFUSED);
		if (lp->nsubs >= LSRV_MAX_SUBS)
			net_peer_misbehave(s->n->net, lp->id, LSRV_FLOOD_SCORE,
			                   "too many light subscriptions");
		return;
	}
	lp->subs[lp->nsubs].id = subid;
	lp->subs[lp->nsubs].f = *f;
	lp->nsubs++;
	s->nsubs++;
	answer_status(s, lp->id, subid, WIRE_LS_DONE);
}

static void on_lunsub(struct lightsrv *s, struct lpeer *lp, uint32_t subid)
{
	for (size_t i = 0; i < lp->nsubs; i++) {
		if (lp->subs[i].id == subid) {
			lp->subs[i] = lp->subs[--lp->nsubs];
			s->nsubs--;
			return;
		}
	}
}

static void on_lrelay(struct lightsrv *s, struct lpeer *lp, uint32_t reqid,
                      const uint8_t *pkt, uint32_t len)
{
	struct stored *sp = NULL;
	enum drop_reason why = DROP_NONE;
	int rc = node_ingest(s->n, pkt, len, &sp, &why);

	if (rc == E_OK && sp) {
		lp->relayed++;
		net_on_new_packet(s->n->net, sp, lp->id);
	}
	if (rc == E_OK || rc == E_DUP || rc == E_AGAIN) {
		answer_status(s, lp->id, reqid, WIRE_LS_DONE);
		return;
	}
	answer_status(s, lp->id, reqid, WIRE_LS_REJECTED);
	if (why == DROP_MALFORMED || why == DROP_OVERSIZE ||
	    why == DROP_BADPOW || why == DROP_LOWPRIORITY)
		net_peer_misbehave(s->n->net, lp->id, BAN_SCORE_MAX,
		                   "relayed a bad packet");
}

void lightsrv_on_msg(struct lightsrv *s, int peer, uint8_t type,
                     const uint8_t *p, size_t n)
{
	union {
		struct wire_llist l;
		struct wire_lget g;
		struct wire_lfilter f;
	} u;
	uint32_t id, len;
	const uint8_t *pkt;
	struct lpeer *lp = lpeer_get(s, peer, true);

	lp->reqs++;
	if (!peers_bucket_take(&lp->tb, node_mono_ms(), LSRV_RATE,
	                       LSRV_BURST)) {
		lp->refused++;
		net_peer_misbehave(s->n->net, peer, LSRV_FLOOD_SCORE,
		                   "light request flood");
		/* every light frame starts with its reqid / subid */
		if (type != WIRE_LUNSUB)
			answer_status(s, peer, le32(p), WIRE_LS_REFUSED);
		return;
	}
	if (type == WIRE_LUNSUB) {
		if (wire_lunsub_decode(p, n, &id) == E_OK)
			on_lunsub(s, lp, id);
		return;
	}
	if (!serving(s) ||
	    net_peer_outq(s->n->net, peer) > LSRV_OUT_MAX) {
		lp->refused++;
		answer_status(s, peer, le32(p), WIRE_LS_REFUSED);
		return;
	}
	switch (type) {
	case WIRE_LLIST:
		if (wire_llist_decode(p, n, &u.l) == E_OK)
			on_llist(s, lp, &u.l);
		break;
	case WIRE_LGET:
		if (wire_lget_decode(p, n, &u.g) == E_OK)
			on_lget(s, lp, &u.g);
		break;
	case WIRE_LSUB:
		if (wire_lsub_decode(p, n, &id, &u.f) == E_OK)
			on_lsub(s, lp, id, &u.f);
		break;
	case WIRE_LRELAY:
		if (wire_lrelay_decode(p, n, &id, &pkt, &len) == E_OK)
			on_lrelay(s, lp, id, pkt, len);
		break;
	default:
		break;
	}
}

void lightsrv_on_new(struct lightsrv *s, const struct stored *sp)
{
	struct packet_view pv;

	if (!s || s->nsubs == 0)
		return;
	stored_view(sp, &pv);
	for (struct lpeer *lp = s->peers; lp; lp = lp->next) {
		for (size_t i = 0; i < lp->nsubs; i++) {
			if (!light_filter_match(&lp->subs[i].f, &pv,
			                        sp->priority))
				continue;
			if (net_peer_outq(s->n->net, lp->id) > LSRV_OUT_MAX) {
				lp->push_skipped++;
				break;
			}
			wb_begin(&s->wb, WIRE_LPUSH);
			wb_u32(&s->wb, lp->subs[i].id);
			wire_lentry_add(&s->wb, sp->recvtime, stored_bytes(sp),
			                sp->len);
			wb_end(&s->wb);
			send_wb(s, lp->id);
			lp->pushed++;
			break; /* once per peer: it matches one of its filters */
		}
	}
}

json_t *lightsrv_peerinfo(const struct lightsrv *s, int peer)
{
	const struct lpeer *lp = NULL;
	for (const struct lpeer *p = s->peers; p; p = p->next)
		if (p->id == peer)
			lp = p;
	if (!lp)
		return NULL;
	json_t *o = json_object();
	json_object_set_new(o, "requests", json_integer((json_int_t)lp->reqs));
	json_object_set_new(o, "refused",
	                    json_integer((json_int_t)lp->refused));
	json_object_set_new(o, "packets", json_integer((json_int_t)lp->sent));
	json_object_set_new(o, "subscriptions",
	                    json_integer((json_int_t)lp->nsubs));
	json_object_set_new(o, "pushed", json_integer((json_int_t)lp->pushed));
	json_object_set_new(o, "pushskipped",
	                    json_integer((json_int_t)lp->push_skipped));
	json_object_set_new(o, "relayed",
	                    json_integer((json_int_t)lp->relayed));
	return o;
}
