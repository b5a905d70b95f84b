/* lightcli.c - the light mode (lightcli.h, PROTOCOL.md 7).
 *
 * Owns the pending calls (struct lreq, one per deferred RPC call), their
 * asks (one per full node and sub-query), the per-server records (kept by
 * address across reconnections, so a node that lied stays distrusted),
 * the times of the last complete answers per filter (for `since`), and
 * the queue of own packets waiting for a full node.
 */
#include "node/lightcli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "core/err.h"
#include "core/store.h"
#include "core/util.h"
#include "node/log.h"
#include "node/net.h"
#include "node/node.h"
#include "node/params.h"
#include "node/subs.h"
#include "proto/ban.h"
#include "proto/light.h"
#include "proto/peers.h"
#include "proto/wire.h"

#define LC_MAX_SUBQ 3             /* main (+ reverse pair) + cancels */
#define LC_MAX_ASKS (LC_MAX_SERVERS * LC_MAX_SUBQ)
#define LC_SERVERS_MAX 64         /* server records kept */
#define LC_SINCE_MAX 32           /* filters remembered for `since` */
#define LC_RELAY_BIT 0x80000000u  /* reqid of an LRELAY */
#define LC_SUB_BIT 0x40000000u    /* subid of a live filter */
#define LC_ID_MASK 0x3fffffffu    /* reqid of an ask */
#define LC_GENERAL "general"
#define LC_CANCEL "cancel"
#define LC_GIVEN 128              /* per server: packets handed to it */
#define LC_GIVE_MAX 8             /* ... per ask at most */

struct lserver {
	bool used;
	char addr[64];
	int peer;                     /* connected peer id, -1 */
	uint64_t distrust_until;      /* mono ms */
	uint64_t asked, answered, packets, invalid, nomatch, omitted,
	         timeouts, refused, relayed, relay_rejected, pushed,
	         ratelimited;
	struct peers_bucket tb;       /* our requests to it: under its limit */
	uint64_t slow_until;          /* an ask timed out: mono ms */
	/* packets it lacked and was handed (LRELAY): lacking one of them
	 * again is an omission (PROTOCOL.md 7.5) */
	uint8_t given[LC_GIVEN][32];
	size_t ngiven;                /* ring position */
	uint64_t suspected;
};

/* A live filter (LSUB) kept on the full nodes: what they push feeds the
 * local store, so a filter asked again recently is answered at once. */
struct llive {
	bool used;
	struct wire_lfilter f;        /* since = 0 */
	uint64_t acked;               /* bit k: server record k accepted it */
	uint64_t lru;
	uint64_t asked_ms;            /* last complete ask (mono ms) */
	unsigned subs;                /* subscriptions using it (pinned) */
	bool subbed;                  /* kept for subscriptions: released
	                               * once unused for LC_SUB_LINGER_MS */
	uint64_t unused_ms;           /* when subs fell to 0 (mono ms) */
	uint64_t retry_ms;            /* held: LSUB again to the full nodes
	                               * that did not accept it (mono ms) */
};

/* A packet of an answer, kept until the answer is complete (stored
 * oldest first so the local arrival order follows the server's). */
struct lpkt {
	uint8_t *b;
	uint32_t len, recvtime;
};

struct lask {
	int peer;
	struct lserver *srv;
	uint32_t reqid;
	int sub;                      /* sub-query index */
	bool done, complete, failed;
	unsigned pages;
	uint8_t last[32];             /* last hash received (cursor) */
	bool has_last;
	uint8_t first[32];            /* first (newest) hash received */
	bool has_first;
	bool has_stop;                /* incremental: stop at this hash */
	uint8_t stop[32];
	uint8_t (*hash)[32];          /* valid matching packets returned */
	size_t nh, caph;
	struct lpkt *pk;              /* this page's packets, server order */
	size_t npk, cappk;
};

struct lreq {
	struct lreq *next;
	struct rpc_call *c;
	rpc_handler h;
	const char *const *p;
	size_t np;
	bool is_get;
	struct wire_lget g;
	struct wire_lfilter f[LC_MAX_SUBQ];
	bool incremental[LC_MAX_SUBQ]; /* asks stop at each one's last */
	int nsub;
	struct lask asks[LC_MAX_ASKS];
	size_t nasks;
	uint64_t deadline_ms;
	uint32_t asked_at;
};

struct lsince {
	bool used;
	struct wire_lfilter f;        /* since = 0 */
	uint32_t at;                  /* asked_at of the last complete ask */
	uint32_t audit_at;            /* ... of the last whole (audited) one */
	uint64_t lru;
	/* per server record: the newest packet it returned for the filter;
	 * an incremental ask stops there (LLIST stop) */
	bool has_stop[LC_SERVERS_MAX];
	uint8_t stop[LC_SERVERS_MAX][32];
};

struct lightcli {
	struct node *n;
	struct lreq *reqs;
	struct rpc_call *resuming;
	uint32_t next_reqid;
	struct lserver srv[LC_SERVERS_MAX];
	struct lsince since[LC_SINCE_MAX];
	struct llive live[LC_MAX_LIVE];
	uint64_t lru;
	uint8_t relayq[LC_RELAY_QUEUE][32];
	size_t nrelayq;
	uint64_t calls, local_calls, fresh_calls, lies, omissions;
	struct wbuf wb;
	void (*sub_done)(struct node *n); /* lightcli_sub_notify */
};

struct lightcli *lightcli_new(struct node *n)
{
	struct lightcli *lc = xcalloc(1, sizeof(*lc));
	lc->n = n;
	lc->next_reqid = 1;
	wb_init(&lc->wb);
	for (size_t i = 0; i < LC_SERVERS_MAX; i++)
		lc->srv[i].peer = -1;
	return lc;
}

static void ask_free(struct lask *a)
{
	for (size_t i = 0; i < a->npk; i++)
		free(a->pk[i].b);
	free(a->pk);
	free(a->hash);
	a->pk = NULL;
	a->hash = NULL;
	a->npk = a->nh = 0;
}

static void lreq_free(struct lreq *r)
{
	for (size_t i = 0; i < r->nasks; i++)
		ask_free(&r->asks[i]);
	free(r);
}

void lightcli_stop(struct lightcli *lc)
{
	if (!lc)
		return;
	while (lc->reqs) {
		struct lreq *r = lc->reqs;
		lc->reqs = r->next;
		if (r->c)
			rpc_reply(r->c, rpc_errobj("shutting down", NULL));
		lreq_free(r);
	}
}

void lightcli_free(struct lightcli *lc)
{
	if (!lc)
		return;
	lightcli_stop(lc);
	wb_fini(&lc->wb);
	free(lc);
}

/* ---- server records ---- */

static struct lserver *srv_by_peer(struct lightcli *lc, int peer)
{
	for (size_t i = 0; i < LC_SERVERS_MAX; i++)
		if (lc->srv[i].used && lc->srv[i].peer == peer)
			return &lc->srv[i];
	return NULL;
}

static struct lserver *srv_by_addr(struct lightcli *lc, const char *addr)
{
	struct lserver *free_slot = NULL, *idle = NULL;
	for (size_t i = 0; i < LC_SERVERS_MAX; i++) {
		struct lserver *s = &lc->srv[i];
		if (s->used && !strcmp(s->addr, addr))
			return s;
		if (!s->used && !free_slot)
			free_slot = s;
		if (s->used && s->peer < 0 && !idle)
			idle = s;
	}
	struct lserver *s = free_slot ? free_slot : idle;
	if (!s)
		return NULL;
	memset(s, 0, sizeof(*s));
	s->used = true;
	s->peer = -1;
	snprintf(s->addr, sizeof(s->addr), "%s", addr);
	return s;
}

size_t lightcli_servers(struct lightcli *lc, int *ids, size_t cap)
{
	int all[LC_SERVERS_MAX];
	size_t k = 0, n = net_light_servers(lc->n->net, all, LC_SERVERS_MAX);
	uint64_t now = node_mono_ms();

	/* a node that let an ask time out is left aside for a while, unless
	 * no other is left */
	for (int pass = 0; pass < 2 && k == 0; pass++) {
		for (size_t i = 0; i < n && k < cap; i++) {
			struct lserver *s = srv_by_peer(lc, all[i]);
			if (s && s->distrust_until > now)
				continue;
			if (pass == 0 && s && s->slow_until > now)
				continue;
			ids[k++] = all[i];
		}
	}
	return k;
}

/* ---- live filters ---- */

static bool srv_take(struct lserver *s);

static size_t srv_index(const struct lightcli *lc, const struct lserver *s)
{
	return (size_t)(s - lc->srv);
}

/* LSUB of live filter i to peer.  A slot given to another filter keeps
 * its subid: the full node replaces the filter (no LUNSUB), and until it
 * acknowledges, pushes under that subid are ignored (they may match the
 * old filter). */
static void live_send(struct lightcli *lc, size_t i, int peer)
{
	struct lserver *s = srv_by_peer(lc, peer);
	if (!srv_take(s))
		return; /* sent again at the next call */
	wire_lsub_encode(&lc->wb, LC_SUB_BIT | (uint32_t)i, &lc->live[i].f);
	net_peer_send(lc->n->net, peer, lc->wb.p, lc->wb.len);
	wb_reset(&lc->wb);
}

static void live_all(struct lightcli *lc, size_t i)
{
	int ids[LC_SERVERS_MAX];
	size_t ns = lightcli_servers(lc, ids, LC_SERVERS_MAX);
	for (size_t k = 0; k < ns; k++)
		live_send(lc, i, ids[k]);
}

/* The live filter for f (since ignored); with make, kept on the full
 * nodes from now on (the least recently used one gives way). */
static struct llive *live_find(struct lightcli *lc,
                               const struct wire_lfilter *f, bool make)
{
	struct wire_lfilter key;
	size_t old = LC_MAX_LIVE;

	memcpy(&key, f, sizeof(key)); /* padding too */
	key.since = 0;
	for (size_t i = 0; i < LC_MAX_LIVE; i++) {
		struct llive *l = &lc->live[i];
		if (l->used && !memcmp(&l->f, &key, sizeof(key))) {
			l->lru = ++lc->lru;
			if (make && !l->acked)
				live_all(lc, i); /* refused or lost: again */
			return l;
		}
		if (l->subs)
			continue; /* held by subscriptions: never given away */
		if (old == LC_MAX_LIVE ||
		    (lc->live[old].used &&
		     (!l->used || l->lru < lc->live[old].lru)))
			old = i;
	}
	if (!make || old == LC_MAX_LIVE)
		return NULL;
	struct llive *l = &lc->live[old];
	memset(l, 0, sizeof(*l));
	l->used = true;
	memcpy(&l->f, &key, sizeof(key));
	l->lru = ++lc->lru;
	live_all(lc, old);
	return l;
}

static void relay_flush(struct lightcli *lc);

void lightcli_peer_ready(struct lightcli *lc, int peer, bool server)
{
	if (!server)
		return;
	const char *addr = net_peer_addr(lc->n->net, peer);
	struct lserver *s = srv_by_addr(lc, addr ? addr : "?");
	if (s)
		s->peer = peer;
	if (s && s->distrust_until > node_mono_ms())
		return;
	for (size_t i = 0; i < LC_MAX_LIVE; i++)
		if (lc->live[i].used)
			live_send(lc, i, peer);
	/* own packets created while no full node was connected */
	relay_flush(lc);
}

/* ---- asking ---- */

static uint32_t new_reqid(struct lightcli *lc)
{
	uint32_t id = lc->next_reqid++ & LC_ID_MASK;
	if (id == 0)
		id = lc->next_reqid++ & LC_ID_MASK;
	return id;
}

/* A request to server s within our own budget (under the full nodes'
 * LSRV_RATE, so a busy app never gets this node dropped for a flood). */
static bool srv_take(struct lserver *s)
{
	if (!s)
		return true;
	if (peers_bucket_take(&s->tb, node_mono_ms(), LC_RATE, LC_BURST))
		return true;
	s->ratelimited++;
	return false;
}

static void ask_send(struct lightcli *lc, struct lreq *r, struct lask *a)
{
	if (!srv_take(a->srv)) {
		a->done = true;
		a->failed = true;
		return;
	}
	a->reqid = new_reqid(lc);
	if (r->is_get && a->sub == 0) {
		struct wire_lget g = r->g;
		g.reqid = a->reqid;
		wire_lget_encode(&lc->wb, &g);
	} else {
		struct wire_llist l;
		memset(&l, 0, sizeof(l));
		l.reqid = a->reqid;
		l.f = r->f[a->sub];
		l.max = WIRE_LPAGE_MAX;
		if (a->has_last) {
			l.has_after = true;
			memcpy(l.after, a->last, 32);
		}
		if (a->has_stop) {
			l.has_stop = true;
			memcpy(l.stop, a->stop, 32);
		}
		wire_llist_encode(&lc->wb, &l);
	}
	net_peer_send(lc->n->net, a->peer, lc->wb.p, lc->wb.len);
	wb_reset(&lc->wb);
	if (a->srv)
		a->srv->asked++;
}

static bool asked_peer(const struct lreq *r, int peer, int sub)
{
	for (size_t i = 0; i < r->nasks; i++)
		if (r->asks[i].peer == peer && r->asks[i].sub == sub)
			return true;
	return false;
}

static struct lsince *since_find(struct lightcli *lc,
                                 const struct wire_lfilter *f, bool make);

static void add_ask(struct lightcli *lc, struct lreq *r, int peer, int sub)
{
	if (r->nasks >= LC_MAX_ASKS)
		return;
	struct lask *a = &r->asks[r->nasks++];
	memset(a, 0, sizeof(*a));
	a->peer = peer;
	a->sub = sub;
	a->srv = srv_by_peer(lc, peer);
	if (r->incremental[sub] && a->srv) {
		struct lsince *ls = since_find(lc, &r->f[sub], false);
		size_t k = (size_t)(a->srv - lc->srv);
		if (ls && ls->has_stop[k]) {
			a->has_stop = true;
			memcpy(a->stop, ls->stop[k], 32);
		}
	}
	ask_send(lc, r, a);
}

/* Filters: `since` from the last complete answer to the same filter. */
static struct lsince *since_find(struct lightcli *lc,
                                 const struct wire_lfilter *f, bool make)
{
	struct lsince *old = NULL;
	struct wire_lfilter key;

	memcpy(&key, f, sizeof(key)); /* padding too */
	key.since = 0;
	for (size_t i = 0; i < LC_SINCE_MAX; i++) {
		struct lsince *s = &lc->since[i];
		if (s->used && !memcmp(&s->f, &key, sizeof(key)))
			return s;
		if (!old || !s->used || (old->used && s->lru < old->lru))
			old = s;
	}
	if (!make)
		return NULL;
	memset(old, 0, sizeof(*old));
	old->used = true;
	memcpy(&old->f, &key, sizeof(key));
	return old;
}

/* `since` from the last complete answer; incremental (each server stops
 * at the newest packet it returned last time) unless LC_AUDIT_S passed
 * since the last whole ask, whose answers are compared (omissions). */
static bool set_since(struct lightcli *lc, struct wire_lfilter *f,
                      uint32_t now)
{
	struct lsince *s = since_find(lc, f, false);
	f->since = 0;
	if (!s || !s->at)
		return false;
	s->lru = ++lc->lru;
	if (s->at > LC_SINCE_SLACK)
		f->since = s->at - LC_SINCE_SLACK;
	return now < s->audit_at + LC_AUDIT_S;
}

static void filter_init(struct wire_lfilter *f)
{
	memset(f, 0, sizeof(*f));
	f->max_a = f->max_b = UINT64_MAX;
}

static void filter_tag(uint8_t *dst, uint8_t *len, const char *s)
{
	*len = (uint8_t)strlen(s);
	memcpy(dst, s, *len);
}

/* DEX_list / DEX_orderbook parameters 1-8 into f[0] (and the reverse
 * pair for the order book).  False on any invalid parameter (the handler
 * then answers the error itself). */
static bool parse_filters(struct rpc_call *c, const char *const *p,
                          enum lightcli_kind k, struct lreq *r)
{
	uint8_t ta[PACKET_TAG_MAX], tb[PACKET_TAG_MAX], pk[PACKET_PUBKEY_LEN];
	size_t la, lb;
	bool has_pk, g;
	int minp;
	uint64_t min_a, max_a, min_b, max_b;
	json_t *e;
	size_t len[9];

	for (size_t i = 0; i < 9; i++)
		len[i] = rpc_param_len(c, i);
	if ((e = param_minpriority(p[1], len[1], &minp)) ||
	    (e = param_tag("tagA", p[2], len[2], ta, &la)) ||
	    (e = param_tag("tagB", p[3], len[3], tb, &lb)) ||
	    (e = param_pubkey33(p[4], len[4], pk, &has_pk)) ||
	    (e = param_amount("minA", p[5], len[5], 0, &min_a, &g)) ||
	    (e = param_amount("maxA", p[6], len[6], UINT64_MAX, &max_a, &g)) ||
	    (e = param_amount("minB", p[7], len[7], 0, &min_b, &g)) ||
	    (e = param_amount("maxB", p[8], len[8], UINT64_MAX, &max_b, &g))) {
		json_decref(e);
		return false;
	}
	if (min_a > max_a || min_b > max_b)
		return false;
	struct wire_lfilter *f = &r->f[0];
	filter_init(f);
	if (la == 0 && lb == 0 && !has_pk) {
		la = strlen(LC_GENERAL);
		memcpy(ta, LC_GENERAL, la);
	}
	f->la = (uint8_t)la;
	memcpy(f->tag_a, ta, la);
	f->lb = (uint8_t)lb;
	memcpy(f->tag_b, tb, lb);
	if (has_pk) {
		f->plen = PACKET_PUBKEY_LEN;
		memcpy(f->pubkey, pk, sizeof pk);
	}
	f->minpriority = minp > 255 ? 255 : (uint8_t)minp;
	if (k == LIGHT_Q_LIST) {
		f->min_a = min_a;
		f->max_a = max_a;
		f->min_b = min_b;
		f->max_b = max_b;
		r->nsub = 1;
		return true;
	}
	/* order book: asks (base, rel) and bids (rel, base), amounts
	 * filtered locally */
	if (la == 0 || lb == 0)
		return false;
	memcpy(&r->f[1], f, sizeof(*f));
	r->f[1].la = (uint8_t)lb;
	memcpy(r->f[1].tag_a, tb, lb);
	r->f[1].lb = (uint8_t)la;
	memcpy(r->f[1].tag_b, ta, la);
	r->nsub = 2;
	return true;
}

static bool parse_get(struct rpc_call *c, const char *const *p,
                      struct lreq *r)
{
	size_t len = rpc_param_len(c, 0);
	json_t *e;

	memset(&r->g, 0, sizeof(r->g));
	r->is_get = true;
	r->nsub = 1;
	filter_init(&r->f[0]); /* unused for the get itself */
	if (len == 64 && hex_decode(r->g.hash, p[0], 32)) {
		r->g.by_hash = true;
		return true;
	}
	if ((e = param_id("id", p[0], len, false, &r->g.id))) {
		json_decref(e);
		return false;
	}
	return true;
}

bool lightcli_defer(struct node *n, struct rpc_call *c, rpc_handler h,
                    const char *const *p, size_t np, enum lightcli_kind k)
{
	struct lightcli *lc = n->lightcli;
	int ids[LC_MAX_SERVERS];
	size_t ns;

	if (!lc || lc->resuming == c)
		return false;
	struct lreq *r = xcalloc(1, sizeof(*r));
	bool ok = k == LIGHT_Q_GET ? parse_get(c, p, r)
	                           : parse_filters(c, p, k, r);
	ns = ok ? lightcli_servers(lc, ids, LC_MAX_SERVERS) : 0;
	if (!ok || ns == 0) {
		if (ok) {
			lc->local_calls++;
			log_msg(LOG_NET, "light: no full node to ask, answering "
			        "from the local store");
		}
		free(r);
		return false;
	}
	/* the cancel packets since the last sync: `cancelled` and the
	 * order book stay exact */
	filter_init(&r->f[r->nsub]);
	filter_tag(r->f[r->nsub].tag_a, &r->f[r->nsub].la, LC_CANCEL);
	r->nsub++;
	/* lists: live filters on the full nodes feed the local store; asked
	 * again recently, the local store answers at once */
	bool fresh = !r->is_get;
	uint64_t now_ms = node_mono_ms();
	for (int s = r->is_get ? 1 : 0; s < r->nsub; s++) {
		struct llive *lv = live_find(lc, &r->f[s], true);
		if (!lv || !lv->acked || lv->asked_ms + LC_REASK_MS <= now_ms)
			fresh = false;
	}
	if (fresh) {
		lc->fresh_calls++;
		free(r);
		return false;
	}
	r->asked_at = node_now();
	for (int s = 0; s < r->nsub; s++)
		if (!(r->is_get && s == 0))
			r->incremental[s] = set_since(lc, &r->f[s], r->asked_at);
	r->c = c;
	r->h = h;
	r->p = p;
	r->np = np;
	r->deadline_ms = node_mono_ms() + LC_ASK_MS;
	r->next = lc->reqs;
	lc->reqs = r;
	lc->calls++;
	size_t sent = 0;
	for (size_t i = 0; i < ns; i++)
		for (int s = 0; s < r->nsub; s++)
			add_ask(lc, r, ids[i], s);
	for (size_t i = 0; i < r->nasks; i++)
		sent += !r->asks[i].done;
	if (sent == 0) {
		/* over our request budget everywhere: the local store now */
		lc->reqs = r->next;
		lc->calls--;
		lc->local_calls++;
		lreq_free(r);
		return false;
	}
	return true;
}

/* ---- answers ---- */

static struct lask *ask_by_reqid(struct lightcli *lc, uint32_t reqid,
                                 struct lreq **rout)
{
	for (struct lreq *r = lc->reqs; r; r = r->next)
		for (size_t i = 0; i < r->nasks; i++)
			if (r->asks[i].reqid == reqid && !r->asks[i].done) {
				*rout = r;
				return &r->asks[i];
			}
	return NULL;
}

/* A server answered with something false: count it, drop it, distrust
 * its address for a while. */
static void srv_lied(struct lightcli *lc, int peer, struct lserver *s,
                     const char *why)
{
	lc->lies++;
	if (s)
		s->distrust_until = node_mono_ms() + LC_DISTRUST_MS;
	log_msg(LOG_INFO, "light: full node peer %d %s: %s", peer,
	        s ? s->addr : "?", why);
	net_peer_misbehave(lc->n->net, peer, BAN_SCORE_MAX, why);
}

static void lied(struct lightcli *lc, struct lask *a, const char *why)
{
	a->done = true;
	a->failed = true;
	a->complete = false;
	srv_lied(lc, a->peer, a->srv, why);
}

/* Check one packet of an answer (light_check); true if valid and what
 * was asked (*skip: not usable, not a lie either). */
static bool check_entry(struct lightcli *lc, struct lreq *r, struct lask *a,
                        const uint8_t *pkt, uint32_t len, bool *skip)
{
	const struct config *cfg = lc->n->cfg;
	bool get = r->is_get && a->sub == 0;
	uint8_t h[32];

	*skip = false;
	switch (light_check(pkt, len, node_now(), cfg->txpowbits,
	                    cfg->purgetime, get ? NULL : &r->f[a->sub],
	                    get ? &r->g : NULL, h)) {
	case LIGHT_SKIP:
		*skip = true; /* clocks differ, or it expired on the way */
		return true;
	case LIGHT_INVALID:
		if (a->srv)
			a->srv->invalid++;
		lied(lc, a, "light answer: invalid packet");
		return false;
	case LIGHT_NOMATCH:
		if (a->srv)
			a->srv->nomatch++;
		lied(lc, a, "light answer: packet not matching the request");
		return false;
	case LIGHT_OK:
		break;
	}
	if (a->nh == a->caph) {
		a->caph = a->caph ? a->caph * 2 : 64;
		a->hash = xrealloc(a->hash, a->caph * 32);
	}
	memcpy(a->hash[a->nh++], h, 32);
	memcpy(a->last, h, 32);
	a->has_last = true;
	if (!a->has_first) {
		memcpy(a->first, h, 32);
		a->has_first = true;
	}
	return true;
}

/* The packets of a finished page, oldest first, into the local store. */
static void store_page(struct lightcli *lc, struct lask *a)
{
	uint32_t now = node_now();
	for (size_t i = a->npk; i-- > 0;) {
		struct stored *sp = NULL;
		enum drop_reason why;
		int rc = node_ingest(lc->n, a->pk[i].b, a->pk[i].len, &sp, &why);
		uint32_t rt = a->pk[i].recvtime;
		/* the full node's arrival time (advisory) when plausible, so
		 * `recvtime` reads as on a full node */
		if ((rc == E_OK || rc == E_DUP) && sp && rt <= now &&
		    rt + DEX_FUTURE_HOLD >= sp->timestamp &&
		    (rc == E_OK || rt < sp->recvtime))
			sp->recvtime = rt;
		free(a->pk[i].b);
	}
	a->npk = 0;
}

static void finish_req(struct lightcli *lc, struct lreq *r);

static void req_check_done(struct lightcli *lc, struct lreq *r)
{
	for (size_t i = 0; i < r->nasks; i++)
		if (!r->asks[i].done)
			return;
	finish_req(lc, r);
}

static void on_answer(struct lightcli *lc, int peer, uint32_t reqid,
                      uint8_t status, struct wire_lentries *e)
{
	struct lreq *r = NULL;
	struct lask *a;
	uint32_t rt, len;
	const uint8_t *pkt;

	if (reqid & LC_RELAY_BIT) {
		struct lserver *s = srv_by_peer(lc, peer);
		if (s && status == WIRE_LS_DONE)
			s->relayed++;
		else if (s)
			s->relay_rejected++;
		return;
	}
	if (reqid & LC_SUB_BIT) {
		struct lserver *s = srv_by_peer(lc, peer);
		size_t i = reqid & LC_ID_MASK;
		if (!s || i >= LC_MAX_LIVE || !lc->live[i].used)
			return;
		if (status == WIRE_LS_DONE) {
			lc->live[i].acked |= 1ull << srv_index(lc, s);
		} else {
			lc->live[i].acked &= ~(1ull << srv_index(lc, s));
			s->refused++;
		}
		return;
	}
	a = ask_by_reqid(lc, reqid, &r);
	if (!a || a->peer != peer)
		return; /* late (timed out) or not ours */
	while (wire_lentries_next(e, &rt, &pkt, &len)) {
		bool skip;
		if (!check_entry(lc, r, a, pkt, len, &skip)) {
			req_check_done(lc, r);
			return;
		}
		if (skip)
			continue;
		if (a->npk == a->cappk) {
			a->cappk = a->cappk ? a->cappk * 2 : 64;
			a->pk = xrealloc(a->pk, a->cappk * sizeof(*a->pk));
		}
		a->pk[a->npk].b = xmalloc(len);
		memcpy(a->pk[a->npk].b, pkt, len);
		a->pk[a->npk].len = len;
		a->pk[a->npk].recvtime = rt;
		a->npk++;
		if (a->srv)
			a->srv->packets++;
	}
	if (status == WIRE_LS_MORE)
		return;
	store_page(lc, a);
	if (a->srv)
		a->srv->answered++;
	switch (status) {
	case WIRE_LS_PAGE:
		if (++a->pages < LC_MAX_PAGES && a->has_last &&
		    !(r->is_get && a->sub == 0)) {
			ask_send(lc, r, a);
			return;
		}
		a->done = true;
		break;
	case WIRE_LS_DONE:
	case WIRE_LS_NOTFOUND:
		a->done = true;
		a->complete = true;
		break;
	default:
		if (a->srv)
			a->srv->refused++;
		a->done = true;
		a->failed = true;
		break;
	}
	req_check_done(lc, r);
}

static int cmp_known(const void *a, const void *b)
{
	return memcmp(((const struct light_known *)a)->hash,
	              ((const struct light_known *)b)->hash, 32);
}

struct judge_ctx {
	struct lightcli *lc;
	struct lask **who;
	const struct light_known *known;
	size_t confirmed[LC_MAX_SERVERS], given[LC_MAX_SERVERS];
};

static bool was_given(const struct lserver *s, const uint8_t h[32])
{
	for (size_t i = 0; i < LC_GIVEN; i++)
		if (!memcmp(s->given[i], h, 32))
			return true;
	return false;
}

/* Answer i lacks known packet k: if it was handed that packet before, an
 * omission; otherwise hand it over now (LRELAY), so a node is never
 * blamed for a packet another node withheld from the network. */
static void omitted_cb(void *arg, size_t i, size_t k)
{
	struct judge_ctx *j = arg;
	struct lask *a = j->who[i];
	struct lserver *s = a->srv;
	const uint8_t *h = j->known[k].hash;

	if (!s)
		return;
	if (was_given(s, h)) {
		j->confirmed[i]++;
		return;
	}
	struct stored *sp = store_get_hash(j->lc->n->store, h);
	if (!sp || j->given[i] >= LC_GIVE_MAX || !srv_take(s))
		return;
	j->given[i]++;
	s->suspected++;
	memcpy(s->given[s->ngiven++ % LC_GIVEN], h, 32);
	wire_lrelay_encode(&j->lc->wb, LC_RELAY_BIT | j->lc->next_reqid++,
	                   stored_bytes(sp), sp->len);
	net_peer_send(j->lc->n->net, a->peer, j->lc->wb.p, j->lc->wb.len);
	wb_reset(&j->lc->wb);
}

/* Omissions of one sub-query: the complete answers are compared with the
 * union of all. */
static void judge(struct lightcli *lc, struct lreq *r, int sub)
{
	struct light_answer ans[LC_MAX_SERVERS];
	struct lask *who[LC_MAX_SERVERS];
	size_t na = 0, nk = 0;
	struct light_known *known = NULL;

	if (r->incremental[sub])
		return; /* each server answered from its own stop point */
	for (size_t i = 0; i < r->nasks && na < LC_MAX_SERVERS; i++) {
		struct lask *a = &r->asks[i];
		if (a->sub != sub || a->failed)
			continue;
		light_sort_hashes(a->hash, a->nh);
		ans[na].hash = (const uint8_t (*)[32])a->hash;
		ans[na].n = a->nh;
		ans[na].complete = a->complete;
		who[na++] = a;
		known = xrealloc(known, (nk + a->nh + 1) * sizeof(*known));
		for (size_t k = 0; k < a->nh; k++) {
			struct stored *sp = store_get_hash(lc->n->store,
			                                   a->hash[k]);
			if (!sp)
				continue; /* not stored (memory cap): skip */
			memcpy(known[nk].hash, a->hash[k], 32);
			known[nk++].timestamp = sp->timestamp;
		}
	}
	if (na < 2) {
		free(known);
		return;
	}
	/* the union, each packet once */
	size_t u = 0;
	if (nk > 1)
		qsort(known, nk, sizeof(*known), cmp_known);
	for (size_t k = 0; k < nk; k++)
		if (u == 0 || memcmp(known[u - 1].hash, known[k].hash, 32))
			known[u++] = known[k];
	struct judge_ctx j;
	memset(&j, 0, sizeof(j));
	j.lc = lc;
	j.who = who;
	j.known = known;
	light_omissions(ans, na, known, u, r->asked_at, omitted_cb, &j);
	for (size_t i = 0; i < na; i++) {
		if (!j.confirmed[i])
			continue;
		struct lask *a = who[i];
		lc->omissions += j.confirmed[i];
		if (a->srv)
			a->srv->omitted += j.confirmed[i];
		log_msg(LOG_INFO, "light: full node peer %d %s left out %zu "
		        "packets it had been handed", a->peer,
		        a->srv ? a->srv->addr : "?", j.confirmed[i]);
		net_peer_misbehave(lc->n->net, a->peer, LC_OMIT_SCORE,
		                   "light answer: packets left out");
	}
	free(known);
}

static void finish_req(struct lightcli *lc, struct lreq *r)
{
	for (struct lreq **pp = &lc->reqs; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	for (int s = 0; s < r->nsub; s++) {
		bool complete = false;
		for (size_t i = 0; i < r->nasks; i++)
			if (r->asks[i].sub == s && r->asks[i].complete)
				complete = true;
		judge(lc, r, s);
		if (complete && !(r->is_get && s == 0)) {
			struct lsince *ls = since_find(lc, &r->f[s], true);
			ls->at = r->asked_at;
			ls->lru = ++lc->lru;
			struct llive *lv = live_find(lc, &r->f[s], false);
			if (lv)
				lv->asked_ms = node_mono_ms();
			if (!r->incremental[s])
				ls->audit_at = r->asked_at;
			for (size_t i = 0; i < r->nasks; i++) {
				struct lask *a = &r->asks[i];
				if (a->sub != s || !a->complete ||
				    !a->has_first || !a->srv)
					continue;
				size_t k = (size_t)(a->srv - lc->srv);
				ls->has_stop[k] = true;
				memcpy(ls->stop[k], a->first, 32);
			}
		}
	}
	if (r->c) { /* NULL: a subscription's first ask (lightcli_sub) */
		lc->resuming = r->c;
		r->h(lc->n, r->c, r->p, r->np);
		lc->resuming = NULL;
	}
	bool sub = !r->c;
	lreq_free(r);
	if (sub && lc->sub_done)
		lc->sub_done(lc->n);
}

/* An ask that will not be answered: ask another full node in its place
 * when one is left. */
static void ask_lost(struct lightcli *lc, struct lreq *r, struct lask *a)
{
	int ids[LC_SERVERS_MAX];
	size_t ns;

	a->done = true;
	a->failed = true;
	ns = lightcli_servers(lc, ids, LC_SERVERS_MAX);
	for (size_t i = 0; i < ns; i++) {
		if (ids[i] != a->peer && !asked_peer(r, ids[i], a->sub)) {
			add_ask(lc, r, ids[i], a->sub);
			return;
		}
	}
}

void lightcli_peer_gone(struct lightcli *lc, int peer)
{
	struct lserver *s = srv_by_peer(lc, peer);
	if (s) {
		s->peer = -1;
		for (size_t i = 0; i < LC_MAX_LIVE; i++)
			lc->live[i].acked &= ~(1ull << srv_index(lc, s));
	}
	for (struct lreq *r = lc->reqs, *next; r; r = next) {
		next = r->next;
		for (size_t i = 0; i < r->nasks; i++) {
			struct lask *a = &r->asks[i];
			if (a->peer != peer || a->done)
				continue;
			store_page(lc, a); /* what came was checked */
			ask_lost(lc, r, a);
		}
		req_check_done(lc, r);
	}
}

/* ---- subscriptions (events) ---- */

/* Live filter i is no longer used: LUNSUB to the full nodes, slot free.
 * A node without a token left keeps it until the slot is given to
 * another filter (same subid: replaced); its pushes are ignored. */
static void live_release(struct lightcli *lc, size_t i)
{
	int all[LC_SERVERS_MAX];
	size_t ns = net_light_servers(lc->n->net, all, LC_SERVERS_MAX);

	for (size_t k = 0; k < ns; k++) {
		if (!srv_take(srv_by_peer(lc, all[k])))
			continue;
		wire_lunsub_encode(&lc->wb, LC_SUB_BIT | (uint32_t)i);
		net_peer_send(lc->n->net, all[k], lc->wb.p, lc->wb.len);
		wb_reset(&lc->wb);
	}
	memset(&lc->live[i], 0, sizeof(lc->live[i]));
}

/* A filter held by subscriptions that a full node did not accept (its
 * LSUB over our request budget, refused, or lost): sent again. */
static void live_retry(struct lightcli *lc, size_t i, uint64_t now_ms)
{
	int ids[LC_SERVERS_MAX];
	size_t ns = lightcli_servers(lc, ids, LC_SERVERS_MAX);

	lc->live[i].retry_ms = now_ms + LC_SUB_RETRY_MS;
	for (size_t k = 0; k < ns; k++) {
		struct lserver *s = srv_by_peer(lc, ids[k]);
		if (s && !(lc->live[i].acked & (1ull << srv_index(lc, s))))
			live_send(lc, i, ids[k]);
	}
}

/* A subscription's filter as DEX_list's (the amounts' defaults differ:
 * AMOUNT_MAX there, UINT64_MAX here, same meaning). */
static void sub_lfilter(const struct sub_filter *sf, struct wire_lfilter *f)
{
	filter_init(f);
	f->la = (uint8_t)sf->len_a;
	memcpy(f->tag_a, sf->tag_a, sf->len_a);
	f->lb = (uint8_t)sf->len_b;
	memcpy(f->tag_b, sf->tag_b, sf->len_b);
	if (sf->has_pk) {
		f->plen = PACKET_PUBKEY_LEN;
		memcpy(f->pubkey, sf->pubkey, PACKET_PUBKEY_LEN);
	}
	f->minpriority = sf->minpriority > 255 ? 255
	               : sf->minpriority < 0 ? 0 : (uint8_t)sf->minpriority;
	f->min_a = sf->min_a;
	f->max_a = sf->max_a >= AMOUNT_MAX ? UINT64_MAX : sf->max_a;
	f->min_b = sf->min_b;
	f->max_b = sf->max_b >= AMOUNT_MAX ? UINT64_MAX : sf->max_b;
}

/* The held matches of filters f[0..nf) asked from the full nodes with no
 * call waiting: the answers are stored (events_on_stored). */
static void sub_ask(struct lightcli *lc, const struct wire_lfilter *f,
                    int nf)
{
	int ids[LC_MAX_SERVERS];
	size_t ns = lightcli_servers(lc, ids, LC_MAX_SERVERS), sent = 0;

	if (ns == 0 || nf == 0)
		return;
	struct lreq *r = xcalloc(1, sizeof(*r));
	r->nsub = nf;
	memcpy(r->f, f, (size_t)nf * sizeof(*f));
	r->asked_at = node_now();
	for (int s = 0; s < nf; s++)
		r->incremental[s] = set_since(lc, &r->f[s], r->asked_at);
	r->deadline_ms = node_mono_ms() + LC_ASK_MS;
	r->next = lc->reqs;
	lc->reqs = r;
	for (size_t i = 0; i < ns; i++)
		for (int s = 0; s < nf; s++)
			add_ask(lc, r, ids[i], s);
	for (size_t i = 0; i < r->nasks; i++)
		sent += !r->asks[i].done;
	if (sent == 0) {
		lc->reqs = r->next;
		lreq_free(r);
	}
}

static void sub_lfilter(const struct sub_filter *sf,
                        struct wire_lfilter *f);

bool lightcli_sub_asking(const struct lightcli *lc,
                         const struct sub_filter *sf)
{
	struct wire_lfilter f;

	sub_lfilter(sf, &f);
	for (const struct lreq *r = lc->reqs; r; r = r->next) {
		if (r->c)
			continue;
		for (int s = 0; s < r->nsub; s++) {
			struct wire_lfilter k;
			memcpy(&k, &r->f[s], sizeof(k)); /* padding too */
			k.since = 0;
			if (!memcmp(&k, &f, sizeof(f)))
				return true;
		}
	}
	return false;
}

void lightcli_sub_notify(struct lightcli *lc, void (*fn)(struct node *n))
{
	lc->sub_done = fn;
}

bool lightcli_sub(struct lightcli *lc, const struct sub_filter *sf,
                  bool add)
{
	struct wire_lfilter f[2];
	int nf = 2, nask = 0;
	struct wire_lfilter ask[2];

	memset(ask, 0, sizeof(ask));
	sub_lfilter(sf, &f[0]);
	filter_init(&f[1]);
	filter_tag(f[1].tag_a, &f[1].la, LC_CANCEL);
	if (!memcmp(&f[0], &f[1], sizeof(f[0])))
		nf = 1; /* a subscription to "cancel" itself */
	if (!add) {
		for (int k = 0; k < nf; k++) {
			struct llive *l = live_find(lc, &f[k], false);
			if (l && l->subs && --l->subs == 0)
				l->unused_ms = node_mono_ms();
		}
		return true;
	}
	size_t held = 0, need = 0;
	for (size_t i = 0; i < LC_MAX_LIVE; i++)
		held += lc->live[i].subs > 0;
	for (int k = 0; k < nf; k++) {
		struct llive *l = live_find(lc, &f[k], false);
		need += !l || !l->subs;
	}
	if (held + need > LC_MAX_SUBLIVE)
		return false;
	for (int k = 0; k < nf; k++) {
		struct llive *l = live_find(lc, &f[k], false);
		bool fresh = l && l->acked;
		if (!l)
			/* a slot not held by subscriptions is left */
			l = live_find(lc, &f[k], true);
		if (!l->subs)
			l->retry_ms = node_mono_ms() + LC_SUB_RETRY_MS;
		l->subbed = true;
		l->subs++;
		/* a filter not held before (or not accepted): its held
		 * matches, so that they reach the subscription */
		if (!fresh)
			memcpy(&ask[nask++], &f[k], sizeof(f[k]));
	}
	sub_ask(lc, ask, nask);
	return true;
}

void lightcli_tick(struct lightcli *lc, uint64_t now_ms)
{
	if (lc->nrelayq)
		relay_flush(lc);
	for (size_t i = 0; i < LC_MAX_LIVE; i++) {
		struct llive *l = &lc->live[i];
		if (l->used && l->subbed && !l->subs &&
		    now_ms >= l->unused_ms + LC_SUB_LINGER_MS)
			live_release(lc, i);
		if (l->used && l->subs && now_ms >= l->retry_ms)
			live_retry(lc, i, now_ms);
	}
	for (struct lreq *r = lc->reqs, *next; r; r = next) {
		next = r->next;
		if (now_ms < r->deadline_ms)
			continue;
		for (size_t i = 0; i < r->nasks; i++) {
			struct lask *a = &r->asks[i];
			if (a->done)
				continue;
			if (a->srv) {
				a->srv->timeouts++;
				a->srv->slow_until = now_ms + LC_SLOW_MS;
			}
			store_page(lc, a); /* what came is valid */
			a->done = true;
			a->failed = true;
		}
		finish_req(lc, r);
	}
}

/* Packets a full node pushed for one of our live filters: checked like
 * an answer's (a lie drops the node), then stored. */
static void on_push(struct lightcli *lc, int peer, uint32_t subid,
                    struct wire_lentries *e)
{
	struct lserver *s = srv_by_peer(lc, peer);
	size_t i = subid & LC_ID_MASK;
	const struct config *cfg = lc->n->cfg;
	uint32_t rt, len, now = node_now();
	const uint8_t *pkt;

	if (!(subid & LC_SUB_BIT) || i >= LC_MAX_LIVE || !lc->live[i].used ||
	    !s || !(lc->live[i].acked & (1ull << srv_index(lc, s))))
		return; /* not (yet) this filter on that node */
	while (wire_lentries_next(e, &rt, &pkt, &len)) {
		struct stored *sp = NULL;
		enum drop_reason why;

		switch (light_check(pkt, len, now, cfg->txpowbits,
		                    cfg->purgetime, &lc->live[i].f, NULL, NULL)) {
		case LIGHT_SKIP:
			continue;
		case LIGHT_INVALID:
			s->invalid++;
			srv_lied(lc, peer, s, "light push: invalid packet");
			return;
		case LIGHT_NOMATCH:
			s->nomatch++;
			srv_lied(lc, peer, s,
			         "light push: packet not matching the filter");
			return;
		case LIGHT_OK:
			break;
		}
		s->pushed++;
		int rc = node_ingest(lc->n, pkt, len, &sp, &why);
		if (rc == E_OK && sp && rt <= now &&
		    rt + DEX_FUTURE_HOLD >= sp->timestamp)
			sp->recvtime = rt;
	}
}

void lightcli_on_msg(struct lightcli *lc, int peer, uint8_t type,
                     const uint8_t *p, size_t n)
{
	struct wire_lentries e;
	uint32_t id;
	uint8_t st;

	if (type == WIRE_LANSWER &&
	    wire_lanswer_decode(p, n, &id, &st, &e) == E_OK)
		on_answer(lc, peer, id, st, &e);
	if (type == WIRE_LPUSH && wire_lpush_decode(p, n, &id, &e) == E_OK)
		on_push(lc, peer, id, &e);
}

/* ---- own packets ---- */

/* Send packet sp to every full node with a token left; true if at least
 * one took it (it disseminates it to the others). */
static bool relay_now(struct lightcli *lc, const struct stored *sp)
{
	int ids[LC_MAX_SERVERS];
	size_t ns = lightcli_servers(lc, ids, LC_MAX_SERVERS), k = 0;

	wire_lrelay_encode(&lc->wb, LC_RELAY_BIT | lc->next_reqid++,
	                   stored_bytes(sp), sp->len);
	for (size_t i = 0; i < ns; i++) {
		if (!srv_take(srv_by_peer(lc, ids[i])))
			continue;
		net_peer_send(lc->n->net, ids[i], lc->wb.p, lc->wb.len);
		k++;
	}
	wb_reset(&lc->wb);
	return k > 0;
}

/* The queue of own packets not relayed yet (no full node, or none with
 * a token left), oldest first; packets no longer held are dropped. */
static void relay_flush(struct lightcli *lc)
{
	size_t i = 0, k = 0;
	for (; i < lc->nrelayq; i++) {
		struct stored *sp = store_get_hash(lc->n->store, lc->relayq[i]);
		if (sp && !relay_now(lc, sp))
			break;
	}
	for (; i < lc->nrelayq; i++)
		memmove(lc->relayq[k++], lc->relayq[i], 32);
	lc->nrelayq = k;
}

void lightcli_relay(struct lightcli *lc, const struct stored *sp)
{
	if (lc->nrelayq == 0 && relay_now(lc, sp))
		return;
	if (lc->nrelayq < LC_RELAY_QUEUE)
		memcpy(lc->relayq[lc->nrelayq++], sp->hash, 32);
	else
		log_msg(LOG_WARN, "light: relay queue full, packet kept "
		        "locally only");
}

/* ---- introspection ---- */

static json_t *srv_json(const struct lserver *s)
{
	json_t *o = json_object();
	json_object_set_new(o, "addr", json_string(s->addr));
	json_object_set_new(o, "connected", json_boolean(s->peer >= 0));
	json_object_set_new(o, "distrusted",
	                    json_boolean(s->distrust_until > node_mono_ms()));
#define C(k) json_object_set_new(o, #k, json_integer((json_int_t)s->k))
	C(asked);
	C(answered);
	C(packets);
	C(invalid);
	C(nomatch);
	C(omitted);
	C(timeouts);
	C(refused);
	C(relayed);
	C(pushed);
	C(ratelimited);
	C(suspected);
#undef C
	json_object_set_new(o, "relayrejected",
	                    json_integer((json_int_t)s->relay_rejected));
	return o;
}

json_t *lightcli_peerinfo(const struct lightcli *lc, int peer)
{
	for (size_t i = 0; i < LC_SERVERS_MAX; i++)
		if (lc->srv[i].used && lc->srv[i].peer == peer)
			return srv_json(&lc->srv[i]);
	return NULL;
}

json_t *lightcli_stats(const struct lightcli *lc)
{
	json_t *o = json_object(), *a = json_array();
	size_t pending = 0;
	for (const struct lreq *r = lc->reqs; r; r = r->next)
		pending++;
	for (size_t i = 0; i < LC_SERVERS_MAX; i++)
		if (lc->srv[i].used)
			json_array_append_new(a, srv_json(&lc->srv[i]));
	json_object_set_new(o, "calls", json_integer((json_int_t)lc->calls));
	json_object_set_new(o, "localcalls",
	                    json_integer((json_int_t)lc->local_calls));
	json_object_set_new(o, "freshcalls",
	                    json_integer((json_int_t)lc->fresh_calls));
	size_t nlive = 0;
	for (size_t i = 0; i < LC_MAX_LIVE; i++)
		nlive += lc->live[i].used && lc->live[i].acked;
	json_object_set_new(o, "livefilters", json_integer((json_int_t)nlive));
	size_t nsub = 0;
	for (size_t i = 0; i < LC_MAX_LIVE; i++)
		nsub += lc->live[i].subs > 0;
	json_object_set_new(o, "subfilters", json_integer((json_int_t)nsub));
	json_object_set_new(o, "pending", json_integer((json_int_t)pending));
	json_object_set_new(o, "lies", json_integer((json_int_t)lc->lies));
	json_object_set_new(o, "omitted",
	                    json_integer((json_int_t)lc->omissions));
	json_object_set_new(o, "relayqueue",
	                    json_integer((json_int_t)lc->nrelayq));
	json_object_set_new(o, "servers", a);
	return o;
}
