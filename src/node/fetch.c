/* fetch.c - packets by (timestamp, id) from peers (fetch.h, PROTOCOL.md
 * 3.6): the node's side of GETPKTS / PKTREPLY / PKTMISS.
 *
 * Requesting: node_fetch_keys() hands the keys to the scheduler
 * (proto/pktfetch.h), which asks the answering peers (version >= 3, FULL
 * service) and re-asks others on a miss or a timeout; its ->have looks in
 * the store.  Packets of a PKTREPLY, asked for or not, go through
 * net_peer_packet(): exactly the path of a PACKET frame (node_ingest's
 * checks, store, relay), with the relay byte set to 0 first, so an answer
 * can never carry more than a pushed packet could and is never pushed on
 * (announced only, as a pulled packet).  No filter of recently seen or
 * purged packets stands in the way: the store takes back a packet it held
 * and purged as long as it is within the purge time.
 *
 * Answering (-dexp2p=2 only): each key is looked up with store_foreach_id
 * (every held packet with that id and timestamp), answered within the
 * peer's budget (pktserve: keys per second, bytes per second, bytes per
 * request) in PKTREPLY frames of at most FETCH_FRAME_MAX payload bytes
 * (a larger packet alone), then one PKTMISS.  The frames go through
 * net_peer_send(), i.e. into the peer's output buffer, counted in its
 * memory budget; net stops reading a peer whose output is over 2 MiB, so
 * its requests wait until it has taken the answers.  -dexp2p=1 reads and
 * validates GETPKTS and answers nothing (API.md 4.9).
 *
 * State: n->fetch, made at the first peer; loop thread only.
 */
#include "node/fetch.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/err.h"
#include "core/util.h"
#include "node/log.h"
#include "node/net.h"
#include "node/node.h"
#include "proto/ban.h"
#include "proto/pktfetch.h"
#include "proto/wire.h"

#define FETCH_FRAME_MAX (256u << 10) /* PKTREPLY payload, several packets */
#define FETCH_CHUNK 1024u            /* keys handed over per call */

struct fpeer {
	int id;
	struct pktserve sv;
};

struct fetch {
	struct node *n;
	struct pktfetch *pf;
	struct fpeer *peers;
	size_t np, cap;
	struct wbuf wb;
	uint8_t *pkt;                /* a received packet, relay byte 0 */
	size_t pktcap;
	struct fetch_stats st;
	struct fetch_stats logged;   /* at the last "fetch:" line */
	uint64_t last_log_ms;
};

/* ---- the store ---- */

struct have_ctx {
	uint32_t ts;
	bool found;
};

static bool have_cb(struct stored *sp, void *arg)
{
	struct have_ctx *h = arg;
	if (sp->timestamp != h->ts)
		return true;
	h->found = true;
	return false;
}

static bool f_have(void *ctx, struct wire_pktkey k)
{
	struct fetch *f = ctx;
	struct have_ctx h = {k.timestamp, false};
	store_foreach_id(f->n->store, k.id, have_cb, &h);
	return h.found;
}

static void f_send(void *ctx, int peer, uint32_t reqid,
                   const struct wire_pktkey *keys, uint32_t n)
{
	struct fetch *f = ctx;
	wire_getpkts_encode(&f->wb, reqid, keys, n);
	net_peer_send(f->n->net, peer, f->wb.p, f->wb.len);
	wb_reset(&f->wb);
}

static struct fetch *fetch_get(struct node *n)
{
	struct fetch *f = n->fetch;
	uint64_t seed = 0;

	if (f)
		return f;
	f = xcalloc(1, sizeof(*f));
	f->n = n;
	wb_init(&f->wb);
	if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
		seed = node_mono_ms() * 0x9E3779B97F4A7C15ULL;
	struct pktfetch_ops ops = {.ctx = f, .have = f_have, .send = f_send};
	f->pf = pktfetch_new(&ops, seed);
	n->fetch = f;
	return f;
}

void fetch_free(struct node *n)
{
	struct fetch *f = n->fetch;
	if (!f)
		return;
	pktfetch_free(f->pf);
	wb_fini(&f->wb);
	free(f->peers);
	free(f->pkt);
	free(f);
	n->fetch = NULL;
}

static struct fpeer *fpeer_get(struct fetch *f, int peer)
{
	for (size_t i = 0; i < f->np; i++)
		if (f->peers[i].id == peer)
			return &f->peers[i];
	return NULL;
}

/* ---- requesting ---- */

size_t node_fetch_keys(struct node *n, const struct fetch_key *keys,
                       size_t count)
{
	struct wire_pktkey chunk[FETCH_CHUNK];
	uint64_t now_ms = node_mono_ms();

	if (!n->net)
		return 0;
	struct fetch *f = fetch_get(n);
	for (size_t i = 0; i < count;) {
		size_t m = 0;
		while (m < FETCH_CHUNK && i < count) {
			chunk[m].timestamp = keys[i].timestamp;
			chunk[m].id = keys[i].id;
			m++;
			i++;
		}
		pktfetch_want(f->pf, chunk, m, now_ms);
	}
	return pktfetch_peers(f->pf);
}

void fetch_peer_up(struct node *n, int peer, uint32_t version,
                   uint64_t services)
{
	struct fetch *f = fetch_get(n);
	if (!fpeer_get(f, peer)) {
		if (f->np == f->cap) {
			f->cap = f->cap ? f->cap * 2 : 16;
			f->peers = xrealloc(f->peers, f->cap * sizeof(*f->peers));
		}
		memset(&f->peers[f->np], 0, sizeof(f->peers[0]));
		f->peers[f->np++].id = peer;
	}
	if (version >= WIRE_V3 && (services & WIRE_SVC_FULL) &&
	    pktfetch_peer_add(f->pf, peer, node_mono_ms()) == E_NOMEM)
		log_msg(LOG_NET, "peer %d: not asked for packets (%u answering "
		        "peers already)", peer, PKTFETCH_MAX_PEERS);
}

void fetch_peer_down(struct node *n, int peer)
{
	struct fetch *f = n->fetch;
	if (!f)
		return;
	struct fpeer *p = fpeer_get(f, peer);
	if (p)
		*p = f->peers[--f->np];
	pktfetch_peer_del(f->pf, peer, node_mono_ms());
}

/* -debug=net: a line a second while requests or answers move. */
static void fetch_log(struct fetch *f, uint64_t now_ms)
{
	struct fetch_stats st, *o = &f->logged;

	if (now_ms < f->last_log_ms + 1000 || !log_enabled(LOG_NET))
		return;
	f->last_log_ms = now_ms;
	fetch_get_stats(f->n, &st);
	if (st.requests == o->requests && st.req_received == o->req_received &&
	    st.pkts_received == o->pkts_received && st.timeouts == o->timeouts)
		return;
	log_msg(LOG_NET, "fetch: asked %llu keys in %llu requests (%llu timed "
	        "out), got %llu packets (%llu unasked), %zu keys wanted; "
	        "answered %llu requests (%llu ignored, %llu refused): %llu "
	        "keys served, %llu missing, %llu busy",
	        (unsigned long long)st.keys_asked,
	        (unsigned long long)st.requests,
	        (unsigned long long)st.timeouts,
	        (unsigned long long)st.pkts_received,
	        (unsigned long long)st.pkts_unsolicited, st.keys_wanted,
	        (unsigned long long)st.req_received,
	        (unsigned long long)st.req_ignored,
	        (unsigned long long)st.req_refused,
	        (unsigned long long)st.keys_served,
	        (unsigned long long)st.keys_missing,
	        (unsigned long long)st.keys_busy);
	*o = st;
}

void fetch_tick(struct node *n)
{
	if (!n->fetch)
		return;
	uint64_t now_ms = node_mono_ms();
	pktfetch_tick(n->fetch->pf, now_ms);
	fetch_log(n->fetch, now_ms);
}

/* ---- answering ---- */

struct serve_ctx {
	struct fetch *f;
	struct fpeer *p;
	uint32_t reqid, ts;
	uint64_t now_ms;
	size_t used;                 /* packet bytes of this answer */
	bool busy;                   /* budget spent: the rest is BUSY */
	bool open;                   /* a PKTREPLY frame is being built */
	bool dead;                   /* the peer was dropped */
	unsigned found;
};

static void reply_flush(struct serve_ctx *c)
{
	struct fetch *f = c->f;
	if (!c->open)
		return;
	wb_end(&f->wb);
	c->open = false;
	if (!net_peer_send(f->n->net, c->p->id, f->wb.p, f->wb.len))
		c->dead = true;
	wb_reset(&f->wb);
}

static bool serve_cb(struct stored *sp, void *arg)
{
	struct serve_ctx *c = arg;
	struct fetch *f = c->f;

	if (sp->timestamp != c->ts)
		return true;
	if (!pktserve_bytes(&c->p->sv, c->used, sp->len, c->now_ms)) {
		c->busy = true;
		return false;
	}
	if (c->open && wb_frame_payload_len(&f->wb) +
	                       wire_packets_entry_len(sp->len) > FETCH_FRAME_MAX)
		reply_flush(c);
	if (c->dead)
		return false;
	if (!c->open) {
		wire_pktreply_begin(&f->wb, c->reqid);
		c->open = true;
	}
	/* relay 0: a fetched packet is announced, not pushed, by the
	 * requester (as a pulled one) */
	wire_packets_add(&f->wb, stored_bytes(sp), sp->len, 0);
	c->used += sp->len;
	c->found++;
	f->st.pkts_sent++;
	return true;
}

static void on_getpkts(struct fetch *f, struct fpeer *p, uint32_t reqid,
                       const uint8_t *keys, uint32_t count)
{
	struct node *n = f->n;
	struct serve_ctx c = {.f = f, .p = p, .reqid = reqid,
	                      .now_ms = node_mono_ms()};
	struct wire_pktkey miss[WIRE_PKT_MAX_KEYS], busy[WIRE_PKT_MAX_KEYS];
	uint32_t nmiss = 0, nbusy = 0;

	f->st.req_received++;
	if (n->cfg->dexp2p != 2) {
		f->st.req_ignored++;
		return;
	}
	if (!pktserve_request(&p->sv, count, c.now_ms)) {
		f->st.req_refused++;
		for (uint32_t i = 0; i < count; i++)
			busy[i] = wire_pktkey_at(keys, i);
		wire_pktmiss_encode(&f->wb, reqid, WIRE_PKTMISS_BUSY, busy,
		                    count);
		net_peer_send(n->net, p->id, f->wb.p, f->wb.len);
		wb_reset(&f->wb);
		net_peer_misbehave(n->net, p->id, 1, "getpkts rate");
		return;
	}
	for (uint32_t i = 0; i < count && !c.dead; i++) {
		struct wire_pktkey k = wire_pktkey_at(keys, i);
		if (c.busy) {
			busy[nbusy++] = k;
			continue;
		}
		c.ts = k.timestamp;
		c.found = 0;
		store_foreach_id(n->store, k.id, serve_cb, &c);
		if (c.found) {
			f->st.keys_served++;
		} else if (c.busy) {
			busy[nbusy++] = k;
		} else {
			miss[nmiss++] = k;
		}
	}
	reply_flush(&c);
	if (c.dead)
		return;
	f->st.keys_missing += nmiss;
	f->st.keys_busy += nbusy;
	/* BUSY lists the keys not looked up; otherwise the keys not held */
	if (nbusy)
		wire_pktmiss_encode(&f->wb, reqid, WIRE_PKTMISS_BUSY, busy,
		                    nbusy);
	else
		wire_pktmiss_encode(&f->wb, reqid, 0, miss, nmiss);
	net_peer_send(n->net, p->id, f->wb.p, f->wb.len);
	wb_reset(&f->wb);
}

/* ---- receiving answers ---- */

static void on_pktreply(struct fetch *f, int peer, const uint8_t *pl,
                        size_t len)
{
	struct wire_packets w;
	const uint8_t *pkt;
	uint32_t reqid, plen;

	if (wire_pktreply_decode(pl, len, &reqid, &w) != E_OK) {
		net_peer_misbehave(f->n->net, peer, BAN_SCORE_MAX,
		                   "malformed pktreply");
		return;
	}
	if (!pktfetch_on_reply(f->pf, peer, reqid, node_mono_ms()))
		f->st.pkts_unsolicited += w.n;
	while (wire_packets_next(&w, &pkt, &plen)) {
		if (plen > f->pktcap) {
			f->pktcap = plen;
			f->pkt = xrealloc(f->pkt, plen);
		}
		memcpy(f->pkt, pkt, plen);
		f->pkt[0] = 0;
		f->st.pkts_received++;
		if (net_peer_packet(f->n->net, peer, f->pkt, plen) != E_OK)
			return; /* a bad packet: the peer is gone */
	}
}

void fetch_on_msg(struct node *n, int peer, uint8_t type, const uint8_t *p,
                  size_t len)
{
	struct fetch *f = fetch_get(n);
	const uint8_t *keys;
	uint32_t reqid, count;
	uint8_t flags;

	switch (type) {
	case WIRE_GETPKTS: {
		if (wire_getpkts_decode(p, len, &reqid, &keys, &count) !=
		    E_OK) {
			net_peer_misbehave(n->net, peer, BAN_SCORE_MAX,
			                   "malformed getpkts");
			return;
		}
		struct fpeer *fp = fpeer_get(f, peer);
		if (fp)
			on_getpkts(f, fp, reqid, keys, count);
		return;
	}
	case WIRE_PKTREPLY:
		on_pktreply(f, peer, p, len);
		return;
	case WIRE_PKTMISS:
		if (wire_pktmiss_decode(p, len, &reqid, &flags, &keys, &count) !=
		    E_OK) {
			net_peer_misbehave(n->net, peer, BAN_SCORE_MAX,
			                   "malformed pktmiss");
			return;
		}
		if (pktfetch_on_miss(f->pf, peer, reqid, flags, keys, count,
		                     node_mono_ms()) &&
		    !(flags & WIRE_PKTMISS_BUSY)) {
			f->st.miss_answers++;
			f->st.keys_missed += count;
		}
		return;
	default:
		net_peer_misbehave(n->net, peer, BAN_SCORE_MAX,
		                   "unknown message type");
		return;
	}
}

void fetch_get_stats(const struct node *n, struct fetch_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!n->fetch)
		return;
	struct pktfetch_stats ps;
	*st = n->fetch->st;
	pktfetch_get_stats(n->fetch->pf, &ps);
	st->requests = ps.requests;
	st->keys_asked = ps.keys_asked;
	st->reasked = ps.reasked;
	st->timeouts = ps.timeouts;
	st->busy_answers = ps.busy;
	st->delivered = ps.delivered;
	st->refused = ps.refused;
	st->expired = ps.expired;
	st->keys_wanted = ps.keys;
	st->outstanding = ps.outstanding;
}
