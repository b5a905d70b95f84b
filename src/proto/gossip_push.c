/* gossip_push.c - the push path (gossip_int.h, docs/PROTOCOL.md 5): a
 * packet stored here (created, received, released from the future hold)
 * is pushed at once to the tree peers eager for its tree key (v3 peers,
 * gossip_tree.c) and announced to a few others; to v1/v2 peers it is
 * pushed by its creator to up to `fanout` peers with its hop budget and
 * announced by everyone else.  The per-peer priority send queues
 * (catch-up lowest, then priority 0..>=13) and their draining as
 * PACKET/PACKETS/TPACKETS frames.
 */
#include "proto/gossip_int.h"

static int prio_class(int prio)
{
	if (prio < 0)
		return 1;
	return 1 + (prio >= GOSSIP_CLASSES - 1 ? GOSSIP_CLASSES - 1 : prio);
}

static void shed(struct gossip *g)
{
	g->st.overload_drops++;
	g->overload_until = g->now_ms + 1000;
}

/* Queue sp for p.  catchup: in the lowest class (behind every live packet,
 * and the first to give way to one), and only while the queue is under
 * half its cap (the rest waits in the backlog or a later round; not a
 * drop). */
bool gsp_enqueue(struct gossip *g, struct gpeer *p, const struct stored *sp,
                 uint8_t relay, uint32_t tag, bool catchup)
{
	int cls = catchup ? QCATCHUP : prio_class(sp->priority);
	size_t cap = g->cfg.queue_cap;

	if (catchup && (p->qbytes + sp->len > cap / 2 || p->qn >= QENT_MAX / 2))
		return false;
	while ((p->qbytes + sp->len > cap || p->qn >= QENT_MAX) && p->qn > 0) {
		int low = 0;
		while (low < QCLASSES && p->q[low].n == 0)
			low++;
		if (low >= cls) {
			shed(g);      /* nothing lower: the new one gives way */
			return false;
		}
		struct qent e = q_pop(&p->q[low]);
		p->qbytes -= e.len;
		p->qn--;
		/* not sent after all: no longer "known" (announce skips known
		 * ids, so it could otherwise never be sent in this connection) */
		uint64_t esid = wire_sid(e.hash);
		if (known_holds(p, esid))
			p->known[kslot(esid)] = 0;
		if (low != QCATCHUP)
			shed(g);  /* catch-up comes again in the next round */
	}
	struct qent e;
	memcpy(e.hash, sp->hash, 32);
	e.len = sp->len;
	e.relay = relay;
	e.tag = tag;
	q_push(&p->q[cls], &e);
	p->qbytes += e.len;
	p->qn++;
	known_queue(p, wire_sid(sp->hash), catchup);
	return true;
}

/* room() gave r for p: the output buffer's size is the most room() gave
 * in this second or the last (net.c sizes it in time: SENDBUF_TIME_MS of
 * the link's drain rate, so it follows the link's speed). */
static size_t room_seen(struct gossip *g, struct gpeer *p, size_t r)
{
	if (g->now_ms >= p->room_win + 1000) {
		bool last = g->now_ms < p->room_win + 2000;
		p->room_prev = last ? p->room_max : 0;
		p->room_max = 0;
		p->room_win = g->now_ms;
	}
	if (r > p->room_max)
		p->room_max = r;
	return p->room_max > p->room_prev ? p->room_max : p->room_prev;
}

/* p's output is backed up for a packet of class cls: packets of that
 * class or higher wait in its send queue, or its output buffer is more
 * than half full (about half of SENDBUF_TIME_MS of sending waits in it,
 * whatever the link's speed), or takes nothing at all (also on a link
 * whose room this node has not seen lately). */
bool gsp_backed(struct gossip *g, struct gpeer *p, int cls)
{
	size_t r = g->ops.room(g->ops.ctx, p->id);
	size_t cap = room_seen(g, p, r);
	for (int c = cls; c < QCLASSES; c++)
		if (p->q[c].n)
			return true;
	return r == 0 || cap - r > cap / 2;
}

static void send_batch(struct gossip *g, struct gpeer *p, bool tp,
                       const struct stored *const *sps, const uint8_t *relays,
                       const uint32_t *tags, size_t n)
{
	if (tp)
		g->send_tpackets(g->ops.ctx, p->id, sps, relays, tags, n);
	else
		g->send_packets(g->ops.ctx, p->id, sps, relays, n);
}

void gsp_drain(struct gossip *g, struct gpeer *p)
{
	const struct stored *sps[DRAIN_BATCH];
	uint8_t relays[DRAIN_BATCH];
	uint32_t tags[DRAIN_BATCH];
	size_t nb = 0, bytes = 0;
	bool tp = gsp_tree_peer(g, p);
	bool batch = (p->v2 && g->send_packets) || tp;
	int cls = QCLASSES - 1;
	size_t low = g->cfg.queue_cap / 4;
	/* What the output buffer takes now, less what this drain has taken
	 * into the batch not yet written (room() sees a batch only once it
	 * is sent): a drain fills the buffer, not a whole batch beyond it
	 * (64 KiB of spam written past a small buffer held honest packets
	 * back for seconds on a slow link). */
	size_t avail = 0;

	for (;;) {
		if (gsp_cu_pending(p) && p->qbytes <= low) {
			gsp_cu_refill(g, p);
			cls = QCLASSES - 1;
		}
		if (p->qn == 0)
			break;
		if (avail == 0) {
			if (nb) {
				send_batch(g, p, tp, sps, relays, tags, nb);
				nb = bytes = 0;
			}
			avail = g->ops.room(g->ops.ctx, p->id);
			room_seen(g, p, avail);
			if (avail == 0)
				break;
		}
		while (cls >= 0 && p->q[cls].n == 0)
			cls--;
		if (cls < 0)
			break;
		struct qent e = q_pop(&p->q[cls]);
		p->qbytes -= e.len;
		p->qn--;
		uint64_t esid = wire_sid(e.hash);
		if (known_got(p, esid)) {
			/* p sent or announced it to us while it waited here:
			 * a copy would be a duplicate */
			g->st.queue_skipped++;
			continue;
		}
		known_sent(p, esid);
		struct stored *sp = store_get_hash(g->store, e.hash);
		if (!sp)
			continue; /* purged meanwhile */
		g->st.sent++;
		if (!batch) {
			g->ops.send_packet(g->ops.ctx, p->id, sp, e.relay);
			avail = 0;
			continue;
		}
		size_t el = tp ? wire_tpackets_entry_len(sp->len)
		               : wire_packets_entry_len(sp->len);
		avail = avail > el ? avail - el : 0;
		if (nb == DRAIN_BATCH ||
		    (nb > 0 && bytes + el > GOSSIP_PACKETS_BATCH)) {
			send_batch(g, p, tp, sps, relays, tags, nb);
			nb = bytes = 0;
		}
		sps[nb] = sp;
		tags[nb] = e.tag;
		relays[nb++] = e.relay;
		bytes += el;
	}
	if (nb)
		send_batch(g, p, tp, sps, relays, tags, nb);
}


static void announce(struct gossip *g, struct gpeer *p, uint64_t sid)
{
	/* marked known when the INV leaves (send_inv) */
	if (p->ann.n == 0)
		p->ann_t = g->now_ms;
	if (p->ann.n < GOSSIP_ANN_MAX)
		u64_push(&p->ann, sid);
	if (p->ann.n >= GOSSIP_INV_BATCH)
		gsp_send_inv(g, p);
}

/* sp was stored: from_peer as in gossip_on_new(); tag: its TPACKETS tag
 * when it came in one (tree key, WIRE_TAG_EAGER), TAG_UNTAGGED from a
 * PACKET(S) frame, else 0. */
void gsp_on_new_key(struct gossip *g, struct stored *sp, int from_peer,
                    uint32_t tag)
{
	uint64_t sid = wire_sid(sp->hash);
	struct gpeer *from = from_peer >= 0 ? peer_get(g, from_peer) : NULL;
	unsigned relay = from_peer == GOSSIP_FROM_HOLD ? 0 :
	                 from_peer < 0 ? g->cfg.max_relay : sp->relay;
	unsigned pushed = 0, lazy = 0, plazy = 0;
	/* RTT-chosen first pushes leave out more peers: each is told */
	bool rtt_on = g->cfg.tree_rtt_pct != GOSSIP_TREE_RTT_OFF;
	uint32_t key = from_peer == -1 ? g->tree_key :
	               from_peer == GOSSIP_FROM_HOLD ? 0 :
	               tag & WIRE_TREE_KEY_MASK;
	struct tree *t = NULL;

	/* A packet entering the tree peers here (in a PACKET(S) frame: from
	 * a v1/v2 peer, or a client that injects packets) is pushed on as
	 * ours: in our tree. */
	if (key == 0 && from && (tag == TAG_UNTAGGED || !gsp_tree_peer(g, from)))
		key = g->tree_key;
	struct pend *pe = gsp_pend_get(g, sid);
	if (pe) {
		if (from && pe->asked == from->id) {
			gsp_pend_delivered(from);
			/* fetched before the tree brought it: graft */
			if (key && !(tag & WIRE_TAG_EAGER))
				gsp_tree_fetched(g, from, key);
		} else if (from && key && (tag & WIRE_TAG_EAGER)) {
			/* pushed, after another tree peer announced it */
			gsp_tree_announced_first(g, peer_get(g, pe->asked), key);
		}
		gsp_pend_del(g, pe);
	}
	if (from)
		known_add(from, sid);
	if (relay > g->cfg.max_relay)
		relay = g->cfg.max_relay;
	if (key) {
		gsp_tree_note(g, sid, key,
		              from && (tag & WIRE_TAG_EAGER) ? from : NULL);
		t = gsp_tree_get(g, key, false);
		if (!t && (t = gsp_tree_get(g, key, true)) != NULL)
			gsp_tree_born(g, t, from && (tag & WIRE_TAG_EAGER) ? from
			                                                  : NULL);
		if (t && t->seen < UINT16_MAX)
			t->seen++;
		/* the parent: the peer that pushed the first copy */
		if (t && from && (tag & WIRE_TAG_EAGER) && gsp_tree_peer(g, from))
			t->up = (int8_t)from->tslot;
	}
	if (g->tlq_n)
		gsp_tree_learn_due(g);
	if (g->npeers == 0)
		return;
	/* start at a rotating offset so pushes spread over the peers */
	size_t start = g->rot++ % g->npeers;
	for (size_t k = 0; k < g->npeers; k++) {
		struct gpeer *p = g->peers[(start + k) % g->npeers];
		if (p == from || known_has(p, sid))
			continue;
		if (t && gsp_tree_peer(g, p)) {
			if (g->cfg.mode == GOSSIP_MODE_TREE &&
			    t->seen <= TREE_FRESH && gsp_tree_eager(g, t, p) &&
			    gsp_backed(g, p, prio_class(sp->priority))) {
				/* a tree still flooding: an announcement, not a
				 * copy, onto a link that is backed up; for its
				 * first packet the peer stays lazy while the
				 * link does (TREE_FRESH) */
				announce(g, p, sid);
				if (t->seen == 1) {
					t->lazy |= 1u << p->tslot;
					t->blazy |= 1u << p->tslot;
				}
				continue;
			}
			uint32_t bit = 1u << p->tslot;
			if (t->blazy & bit) {
				if (gsp_backed(g, p, prio_class(sp->priority))) {
					/* still backed up: told, as the first
					 * (it fetches, and GRAFTs, if no other
					 * peer brings it) */
					announce(g, p, sid);
					continue;
				}
				t->blazy &= ~bit;
				t->lazy &= ~bit;
			}
			if (gsp_tree_eager(g, t, p)) {
				if (gsp_enqueue(g, p, sp, 0, key | WIRE_TAG_EAGER,
				                false)) {
					g->st.tree_pushed++;
					if (t->seen == 1)
						t->pushed0 |= bit;
				}
			} else if (t->seen == 1 && (t->plazy & bit)) {
				/* predicted not to need the first packet: told,
				 * it fetches and grafts if no push reaches it */
				if (plazy < TREE_PLAZY_ANN || rtt_on) {
					announce(g, p, sid);
					plazy++;
				}
			} else if (lazy < TREE_LAZY_ANN &&
			           (t->seen <= TREE_SETTLED ||
			            (t->seen + g->tree_key) %
			            TREE_SETTLED_ANN_EVERY == 0)) {
				/* (nodes take turns: the tree key differs) */
				announce(g, p, sid);
				lazy++;
			}
			continue;
		}
		if (relay > 0 && pushed < g->cfg.fanout &&
		    gsp_enqueue(g, p, sp, (uint8_t)(relay - 1), 0, false)) {
			pushed++;
			continue;
		}
		announce(g, p, sid);
	}
}

void gossip_on_new(struct gossip *g, struct stored *sp, int from_peer,
                   uint64_t now_ms)
{
	g->now_ms = now_ms;
	gsp_on_new_key(g, sp, from_peer, 0);
	gsp_flush(g);
}

/* One packet from p; tag: its TPACKETS tag, TAG_UNTAGGED from PACKET(S). */
/* p has sid: a fetch of it pending (from p or another) is over. */
static void settle(struct gossip *g, struct gpeer *p, uint64_t sid)
{
	struct pend *e = gsp_pend_get(g, sid);

	if (!e)
		return;
	if (e->asked == p->id)
		gsp_pend_delivered(p);
	gsp_pend_del(g, e);
}

static int on_packet(struct gossip *g, struct gpeer *p, const uint8_t *pkt,
                     size_t n, uint32_t tag, enum drop_reason *reason)
{
	struct stored *sp = NULL;
	enum drop_reason why = DROP_NONE;
	p->last_pkt_ms = g->now_ms;
	int rc = g->ops.ingest(g->ops.ctx, p->id, pkt, n, &sp, &why);
	if (rc == E_OK && sp) {
		gsp_cu_arrived(g, p, sp);
		gsp_on_new_key(g, sp, p->id, tag);
		return E_OK;
	}
	if (rc == E_DUP && sp) {
		uint64_t sid = wire_sid(sp->hash);
		known_add(p, sid);
		if ((tag & WIRE_TAG_EAGER) && (tag & WIRE_TREE_KEY_MASK))
			gsp_tree_dup(g, p, sid, tag & WIRE_TREE_KEY_MASK);
		settle(g, p, sid);
		return E_OK;
	}
	if (rc == E_AGAIN || (rc == E_PROTO && why == DROP_FUTURE)) {
		/* Held by the node until its time comes (E_AGAIN), or too far
		 * ahead: p has it, and fetching it again is no use (held: it
		 * is stored when due and gossip_on_new() comes; dropped:
		 * reconciliation fetches it once it is no longer future). */
		uint8_t h[32];
		txpow_hash(pkt, n, h);
		uint64_t sid = wire_sid(h);
		known_add(p, sid);
		settle(g, p, sid);
		return E_OK;
	}
	if (rc == E_PROTO && (why == DROP_MALFORMED || why == DROP_OVERSIZE ||
	                      why == DROP_BADPOW)) {
		*reason = why;
		return E_PROTO;
	}
	return E_OK; /* future / expired / lowpriority / overload: counted */
}


int gsp_on_packet(struct gossip *g, struct gpeer *p, const uint8_t *pkt,
                  size_t n, enum drop_reason *reason)
{
	return on_packet(g, p, pkt, n, TAG_UNTAGGED, reason);
}

int gsp_on_tpackets(struct gossip *g, struct gpeer *p,
                    const uint8_t *buf, size_t n, enum drop_reason *reason)
{
	struct wire_tpackets w;
	const uint8_t *pk;
	uint32_t len, tag;
	int rc = E_OK;
	if (wire_tpackets_decode(buf, n, &w) != E_OK)
		return E_PROTO;
	while (rc == E_OK && wire_tpackets_next(&w, &tag, &pk, &len))
		rc = on_packet(g, p, pk, len, tag, reason);
	return rc;
}
