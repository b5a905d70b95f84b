/* gossip_fetch.c - announce and fetch (gossip_int.h, docs/PROTOCOL.md 5):
 * per-peer INV batches (and, for v2 peers, the ring of their ids that
 * GETBITS refers to), the pending-fetch table with its timeout FIFO,
 * re-requests to alternates, and the answers to GETDATA, GETBITS and
 * NOTFOUND.
 */
#include "proto/gossip_int.h"

/* ---- pending table (linear probing, backward-shift delete) ---- */

size_t gsp_pend_slot(uint64_t sid)
{
	return (size_t)(sid * 0x9E3779B97F4A7C15ULL >> 17) & (PEND_SLOTS - 1);
}

struct pend *gsp_pend_get(struct gossip *g, uint64_t sid)
{
	size_t i = gsp_pend_slot(sid);
	while (g->pend[i].sid) {
		if (g->pend[i].sid == sid)
			return &g->pend[i];
		i = (i + 1) & (PEND_SLOTS - 1);
	}
	return NULL;
}

static void pend_unask(struct gossip *g, const struct pend *e)
{
	struct gpeer *p = peer_get(g, e->asked);
	if (p && p->npend > 0)
		p->npend--;
}

void gsp_pend_del(struct gossip *g, struct pend *e)
{
	size_t i = (size_t)(e - g->pend), j = i;
	pend_unask(g, e);
	g->pend[i].sid = 0;
	g->npend--;
	for (;;) {
		j = (j + 1) & (PEND_SLOTS - 1);
		if (!g->pend[j].sid)
			return;
		size_t k = gsp_pend_slot(g->pend[j].sid);
		/* move j back to i if its home k is not in (i, j] */
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
			g->pend[i] = g->pend[j];
			g->pend[j].sid = 0;
			i = j;
		}
	}
}

static void fifo_push(struct gossip *g, uint64_t sid, uint64_t deadline)
{
	g->fifo[(g->fhead + g->fn) % FIFO_SLOTS] =
		(struct fifo_ent){sid, deadline};
	g->fn++;
}

static void request(struct gossip *g, struct gpeer *p, uint64_t sid)
{
	u64_push(&p->req, sid);
	g->st.fetch_sent++;
}

/* A fetch asked of p failed (timeout or NOTFOUND): p's share shrinks. */
static void pend_failed(struct gossip *g, int peer)
{
	struct gpeer *p = peer_get(g, peer);
	if (!p)
		return;
	if (p->pcap > PEER_PENDING_MIN)
		p->pcap--;
	if (p->pcap <= PEER_PENDING_MIN && !p->pfloor) {
		p->pfloor = true;
		misbehave(g, p->id, 5, "announced packets it did not deliver");
	}
}

/* p delivered a packet it was asked for: its share grows. */
void gsp_pend_delivered(struct gpeer *p)
{
	if (p->pcap < PEER_PENDING_MAX)
		p->pcap++;
	if (p->pfloor && p->pcap >= 4 * PEER_PENDING_MIN)
		p->pfloor = false;
}


/* The table is full: every peer holding more than its fair share
 * (GOSSIP_PENDING_MAX / peers) has its limit halved (not under the fair
 * share... nor under PEER_PENDING_MIN) and its entries over the new limit
 * taken back (asked of an alternate, or forgotten).  At most every
 * RECLAIM_MIN_MS; one pass over the table. */
static void pend_reclaim(struct gossip *g)
{
	if (g->last_reclaim && g->now_ms < g->last_reclaim + RECLAIM_MIN_MS)
		return;
	g->last_reclaim = g->now_ms ? g->now_ms : 1;
	size_t fair = GOSSIP_PENDING_MAX / (g->npeers ? g->npeers : 1);
	bool any = false;
	for (size_t i = 0; i < g->npeers; i++) {
		struct gpeer *p = g->peers[i];
		if (p->npend <= fair)
			continue;
		size_t c = p->pcap / 2;
		if (c < fair / 2)
			c = fair / 2;
		if (c < PEER_PENDING_MIN)
			c = PEER_PENDING_MIN;
		/* reported only if it fails more fetches than it serves (an
		 * honest busy peer can be over its share too) */
		if (p->pcap < PEER_PENDING_START)
			misbehave(g, p->id, 2, "holds too many pending fetches");
		p->pcap = c < p->pcap ? c : p->pcap;
		any = true;
	}
	if (!any)
		return;
	for (size_t i = 0; i < PEND_SLOTS;) {
		struct pend *e = &g->pend[i];
		struct gpeer *p = e->sid ? peer_get(g, e->asked) : NULL;
		if (!p || p->npend <= p->pcap) {
			i++;
			continue;
		}
		uint64_t sid = e->sid;
		gsp_pend_retry(g, e, false);
		/* deleted (a later entry may have moved here) or re-asked */
		if (g->pend[i].sid == sid)
			i++;
	}
}

/* Register a new pending fetch of sid from p.  by_ref: the caller asks
 * for it by GETBITS (not in p's GETDATA batch).  False when full. */
static bool pend_new(struct gossip *g, struct gpeer *p, uint64_t sid,
                     bool by_ref, bool defer)
{
	if (sid == 0 || p->npend >= p->pcap)
		return false;
	if (g->npend >= GOSSIP_PENDING_MAX || g->fn >= FIFO_SLOTS)
		pend_reclaim(g);
	if (g->npend >= GOSSIP_PENDING_MAX || g->fn >= FIFO_SLOTS)
		return false;
	size_t i = gsp_pend_slot(sid);
	while (g->pend[i].sid)
		i = (i + 1) & (PEND_SLOTS - 1);
	struct pend *e = &g->pend[i];
	memset(e, 0, sizeof(*e));
	e->sid = sid;
	e->asked = p->id;
	e->tries = 1;
	e->deadline = g->now_ms + (defer ? TREE_FETCH_WAIT_MS
	                                 : GOSSIP_FETCH_TIMEOUT_MS);
	e->asked_ms = g->now_ms;
	e->deferred = defer;
	g->npend++;
	p->npend++;
	if (defer) {
		g->dfifo[(g->dhead + g->dn) % DFIFO_SLOTS] =
			(struct fifo_ent){sid, e->deadline};
		g->dn++;
		return true;
	}
	fifo_push(g, sid, e->deadline);
	if (by_ref)
		g->st.fetch_sent++;
	else
		request(g, p, sid);
	return true;
}

/* Ask p (e->asked) for e by id once more: a retry. */
static void reask(struct gossip *g, struct pend *e, struct gpeer *p)
{
	e->tries++;
	e->deadline = g->now_ms + GOSSIP_FETCH_TIMEOUT_MS;
	e->asked_ms = g->now_ms;
	fifo_push(g, e->sid, e->deadline);
	request(g, p, e->sid);
	g->st.fetch_retried++;
}

/* Ask the next alternate by id (GETDATA); with none left, same_ok (a
 * timeout, not a NOTFOUND) asks the same peer again by id: a GETBITS may
 * have named an INV it no longer held.  Drop the entry when neither. */
void gsp_pend_retry(struct gossip *g, struct pend *e, bool same_ok)
{
	e->deferred = false;
	while (e->nalt > 0 && e->tries < GOSSIP_FETCH_TRIES &&
	       g->fn < FIFO_SLOTS) {
		int id = e->alt[0];
		memmove(e->alt, e->alt + 1, (size_t)(e->nalt - 1) * sizeof(int));
		e->nalt--;
		struct gpeer *p = peer_get(g, id);
		if (!p || p->npend >= p->pcap)
			continue;
		pend_unask(g, e);
		e->asked = id;
		p->npend++;
		reask(g, e, p);
		return;
	}
	struct gpeer *p = peer_get(g, e->asked);
	if (same_ok && p && e->tries < GOSSIP_FETCH_TRIES &&
	    g->fn < FIFO_SLOTS) {
		reask(g, e, p);
		return;
	}
	gsp_pend_del(g, e);
}

void gsp_send_ids(struct gossip *g, struct gpeer *p, uint8_t type,
                     struct u64vec *v)
{
	size_t off = 0;
	while (off < v->n) {
		size_t k = v->n - off;
		if (k > GOSSIP_INV_BATCH)
			k = GOSSIP_INV_BATCH;
		wire_ids_encode(&g->wb, type, v->v + off, (uint32_t)k);
		gsp_send_wb(g, p, true);
		off += k;
	}
	v->n = 0;
}

/* Remember the ids of INV number p->inv_out for p's GETBITS. */
static void inv_record(struct gpeer *p, const uint64_t *ids, uint32_t k)
{
	if (!p->invr) {
		p->invr = xmalloc(GOSSIP_INV_RING * sizeof(*p->invr));
		p->invb = xcalloc(GOSSIP_INV_SEQS, sizeof(*p->invb));
	}
	struct invb *b = &p->invb[p->inv_out % GOSSIP_INV_SEQS];
	b->seq = p->inv_out;
	b->count = k;
	b->start = p->invr_total;
	for (uint32_t i = 0; i < k; i++)
		p->invr[(p->invr_total + i) % GOSSIP_INV_RING] = ids[i];
	p->invr_total += k;
}

/* The INV numbered seq we sent p, if its ids are still in the ring. */
static const struct invb *inv_find(const struct gpeer *p, uint32_t seq)
{
	if (!p->invb)
		return NULL;
	const struct invb *b = &p->invb[seq % GOSSIP_INV_SEQS];
	if (b->count == 0 || b->seq != seq ||
	    p->invr_total - b->start > GOSSIP_INV_RING)
		return NULL;
	return b;
}

/* Send p's announce queue as INV frames (numbered per connection).  Ids
 * p became known to have since they were queued (it announced or sent
 * them meanwhile) are left out: they are marked known only here. */
void gsp_send_inv(struct gossip *g, struct gpeer *p)
{
	size_t off = 0, k = 0;
	for (size_t i = 0; i < p->ann.n; i++) {
		uint64_t sid = p->ann.v[i];
		if (known_has(p, sid))
			continue;
		known_ann(p, sid);
		p->ann.v[k++] = sid;
	}
	p->ann.n = k;
	while (off < p->ann.n) {
		size_t m = p->ann.n - off;
		if (m > GOSSIP_INV_BATCH)
			m = GOSSIP_INV_BATCH;
		wire_ids_encode(&g->wb, WIRE_INV, p->ann.v + off, (uint32_t)m);
		gsp_send_wb(g, p, true);
		if (p->v2)
			inv_record(p, p->ann.v + off, (uint32_t)m);
		p->inv_out++;
		off += m;
	}
	p->ann.n = 0;
}
bool gsp_inv_due(const struct gossip *g, const struct gpeer *p)
{
	uint64_t d = gsp_tree_peer(g, p) ? TREE_INV_DELAY_MS
	                                  : GOSSIP_INV_DELAY_MS;
	return p->ann.n && g->now_ms >= p->ann_t + d;
}

/* ---- message handlers ---- */

/* INV from p.  A v2 peer is answered with one GETBITS naming this INV
 * (its number on the connection) and the entries wanted; a v1 peer with
 * the ids in its GETDATA batch. */
void gsp_on_inv(struct gossip *g, struct gpeer *p, const uint8_t *ids,
                   uint32_t c)
{
	uint8_t bits[WIRE_MAX_BITMAP];
	uint32_t seq = p->inv_in++, nbytes = 0;
	/* a tree peer's announcement: the tree's copy gets a head start */
	bool defer = gsp_tree_peer(g, p);
	if (defer && !g->dfifo)
		g->dfifo = xcalloc(DFIFO_SLOTS, sizeof(*g->dfifo));

	if (!bk_take(&p->rl_inv, RL_INV_RATE, RL_INV_BURST, g->now_ms, c)) {
		misbehave(g, p->id, 1, "INV rate");
		return;
	}
	if (p->v2)
		memset(bits, 0, (c + 7) / 8);
	for (uint32_t i = 0; i < c; i++) {
		uint64_t sid = wire_ids_at(ids, i);
		known_add(p, sid);
		if (sidx_get(g, sid))
			continue;
		g->st.ann_examined++;
		struct pend *e = gsp_pend_get(g, sid);
		if (e) {
			if (e->asked != p->id && e->nalt < GOSSIP_ALTS) {
				bool dup = false;
				for (unsigned k = 0; k < e->nalt; k++)
					dup |= e->alt[k] == p->id;
				if (!dup)
					e->alt[e->nalt++] = p->id;
			}
			continue;
		}
		if (defer && g->dn < DFIFO_SLOTS) {
			pend_new(g, p, sid, false, true);
			continue;
		}
		if (pend_new(g, p, sid, p->v2, false) && p->v2) {
			bits[i / 8] |= (uint8_t)(1u << (i % 8));
			nbytes = i / 8 + 1;
		}
	}
	if (nbytes) {
		wire_getbits_encode(&g->wb, seq, bits, nbytes);
		gsp_send_wb(g, p, true);
	}
}

/* p asked for sid: queue it, or note it for NOTFOUND (requests for ids
 * we do not hold have their own, lower, rate limit: past it they are not
 * answered; *unk counts them). */
static void serve(struct gossip *g, struct gpeer *p, uint64_t sid,
                  struct u64vec *nf, unsigned *unk)
{
	struct stored *sp = sidx_get(g, sid);
	if (!sp) {
		if (bk_take(&p->rl_unk, RL_UNK_RATE, RL_UNK_BURST, g->now_ms, 1))
			u64_push(nf, sid);
		else
			(*unk)++;
		return;
	}
	size_t k = kslot(sid);
	if (p->known[k] == sid) {
		/* In its queue already: once is enough.  Sent to it (or it
		 * told us it has it): an honest peer asks again only when it
		 * could not keep it, so such requests share the budget of the
		 * requests for unknown ids (a peer asking for the same packet
		 * over and over gets it at most RL_UNK_RATE times a second). */
		if (p->kmeta[k] & KM_QUEUED)
			return;
		if (!bk_take(&p->rl_unk, RL_UNK_RATE, RL_UNK_BURST, g->now_ms,
		             1)) {
			(*unk)++;
			return;
		}
	}
	/* A pulled packet is not pushed on: relay 0.  (Sending the held
	 * budget made the puller push it again to peers that were fetching
	 * it anyway: 30-65 % duplicates on those.) */
	gsp_enqueue(g, p, sp, 0,
	            gsp_tree_peer(g, p) ? gsp_tree_key_of(g, sid) : 0, false);
}

void gsp_on_getdata(struct gossip *g, struct gpeer *p, const uint8_t *ids,
                       uint32_t c)
{
	struct u64vec nf = {0};
	unsigned unk = 0;
	if (!bk_take(&p->rl_req, RL_REQ_RATE, RL_REQ_BURST, g->now_ms, c)) {
		misbehave(g, p->id, 1, "GETDATA rate");
		return;
	}
	for (uint32_t i = 0; i < c; i++)
		serve(g, p, wire_ids_at(ids, i), &nf, &unk);
	if (nf.n)
		gsp_send_ids(g, p, WIRE_NOTFOUND, &nf);
	if (unk)
		misbehave(g, p->id, 1, "requests for unknown ids");
	free(nf.v);
}

/* GETBITS: the entries of our INV number seq whose bit is set (bits past
 * the INV's count are ignored).  An INV no longer in the ring is not
 * answered: the peer re-asks by id after its fetch timeout. */
void gsp_on_getbits(struct gossip *g, struct gpeer *p, uint32_t seq,
                       const uint8_t *bits, uint32_t nbytes)
{
	const struct invb *b = inv_find(p, seq);
	struct u64vec nf = {0};
	unsigned unk = 0;
	if (!b) {
		g->st.getbits_stale++;
		return;
	}
	uint32_t lim = nbytes * 8 < b->count ? nbytes * 8 : b->count;
	if (!bk_take(&p->rl_req, RL_REQ_RATE, RL_REQ_BURST, g->now_ms, lim)) {
		misbehave(g, p->id, 1, "GETBITS rate");
		return;
	}
	for (uint32_t i = 0; i < lim; i++)
		if (bits[i / 8] >> (i % 8) & 1)
			serve(g, p, p->invr[(b->start + i) % GOSSIP_INV_RING],
			      &nf, &unk);
	if (nf.n)
		gsp_send_ids(g, p, WIRE_NOTFOUND, &nf);
	if (unk)
		misbehave(g, p->id, 1, "requests for unknown ids");
	free(nf.v);
}

void gsp_on_notfound(struct gossip *g, struct gpeer *p, const uint8_t *ids,
                        uint32_t c)
{
	if (!bk_take(&p->rl_nf, RL_NF_RATE, RL_NF_BURST, g->now_ms, c)) {
		misbehave(g, p->id, 1, "NOTFOUND rate");
		return;
	}
	for (uint32_t i = 0; i < c; i++) {
		struct pend *e = gsp_pend_get(g, wire_ids_at(ids, i));
		if (e && e->asked == p->id) {
			pend_failed(g, p->id);
			gsp_pend_retry(g, e, false);
		}
	}
}

/* e's deadline passed: is its peer still delivering packets (since the
 * request or the last extension), with the wait under its cap? */
static bool fetch_busy(const struct gossip *g, const struct pend *e,
                       uint64_t now_ms)
{
	const struct gpeer *p = peer_get(g, e->asked);

	return p && g->fn < FIFO_SLOTS &&
	       p->last_pkt_ms + GOSSIP_FETCH_TIMEOUT_MS >= e->deadline &&
	       now_ms < e->asked_ms + GOSSIP_FETCH_WAIT_MAX_MS;
}


/* A deferred fetch is asked now: of the peers that announced it (the
 * first, e->asked, and the alternates), the one with the fewest fetches
 * pending (ties: the first).  The first announcer is often a node whose
 * links are backed up (it announces instead of pushing): sending every
 * fetch there queues them all on its uplink.  The others stay
 * alternates. */
static struct gpeer *least_asked(struct gossip *g, struct pend *e)
{
	struct gpeer *best = peer_get(g, e->asked);
	int bi = -1;

	for (unsigned k = 0; k < e->nalt; k++) {
		struct gpeer *q = peer_get(g, e->alt[k]);
		if (!q || q->npend >= q->pcap)
			continue;
		/* best's count includes this entry */
		if (!best || q->npend + 1 < best->npend) {
			best = q;
			bi = (int)k;
		}
	}
	if (bi >= 0) {
		int old = e->asked;
		pend_unask(g, e);
		e->asked = best->id;
		best->npend++;
		e->alt[bi] = old;
	}
	return best;
}

/* Timed-out fetches, in deadline order: a peer still delivering gets
 * more time (fetch_busy), otherwise the next alternate is asked. */
void gsp_fetch_tick(struct gossip *g, uint64_t now_ms)
{
	/* deferred fetches the tree did not settle: ask now */
	while (g->dn > 0) {
		struct fifo_ent f = g->dfifo[g->dhead];
		if (f.deadline > now_ms || g->fn >= FIFO_SLOTS)
			break;
		g->dhead = (g->dhead + 1) % DFIFO_SLOTS;
		g->dn--;
		struct pend *e = gsp_pend_get(g, f.sid);
		if (!e || !e->deferred || e->deadline != f.deadline)
			continue;
		struct gpeer *p = least_asked(g, e);
		e->deferred = false;
		e->deadline = now_ms + GOSSIP_FETCH_TIMEOUT_MS;
		e->asked_ms = now_ms;
		fifo_push(g, e->sid, e->deadline);
		if (p)
			request(g, p, e->sid);
	}
	while (g->fn > 0) {
		struct fifo_ent f = g->fifo[g->fhead];
		if (f.deadline > now_ms)
			break;
		g->fhead = (g->fhead + 1) % FIFO_SLOTS;
		g->fn--;
		struct pend *e = gsp_pend_get(g, f.sid);
		if (e && e->deadline == f.deadline) {
			if (fetch_busy(g, e, now_ms)) {
				/* the link is carrying packets: wait */
				e->deadline = now_ms + GOSSIP_FETCH_TIMEOUT_MS;
				fifo_push(g, e->sid, e->deadline);
				g->st.fetch_waited++;
				continue;
			}
			pend_failed(g, e->asked);
			gsp_pend_retry(g, e, true);
		}
	}
}
