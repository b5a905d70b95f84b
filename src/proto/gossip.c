/* gossip.c - dissemination and sync (see gossip.h, docs/PROTOCOL.md 5):
 * peers, the entry points, stats and checks; the mechanisms are in
 * gossip_push.c, gossip_fetch.c and gossip_recon.c (gossip_int.h).
 *
 * Owns: the pending-fetch table and its timeout FIFO, and per peer the
 * known-set, the announce queue, the GETDATA batch, the ids of the INVs
 * sent to it (v2 peers, for GETBITS), the priority send queue and the
 * catch-up backlog (what it lacks, fed to the queue as it drains).  Reads
 * the store; never writes it.
 */
#include "proto/gossip_int.h"

/* ---- sending ---- */

void gsp_send_wb(struct gossip *g, struct gpeer *p, bool control)
{
	if (g->wb.len) {
		if (control)
			g->st.control_bytes += g->wb.len;
		g->ops.send(g->ops.ctx, p->id, g->wb.p, g->wb.len);
	}
	wb_reset(&g->wb);
}

void gsp_flush(struct gossip *g)
{
	if (g->hold)
		return;
	for (size_t i = 0; i < g->npeers; i++) {
		struct gpeer *p = g->peers[i];
		if (gsp_inv_due(g, p))
			gsp_send_inv(g, p);
		if (p->req.n)
			gsp_send_ids(g, p, WIRE_GETDATA, &p->req);
		if (gsp_tree_flush_due(g, p))
			gsp_tree_flush(g, p);
		if (p->qn || gsp_cu_pending(p))
			gsp_drain(g, p);
	}
}

/* ---- public ---- */

struct gossip *gossip_new(struct store *s, const struct gossip_cfg *cfg,
                          const struct gossip_ops *ops)
{
	struct gossip *g = xcalloc(1, sizeof(*g));
	g->store = s;
	g->cfg = *cfg;
	if (!g->cfg.fanout)
		g->cfg.fanout = GOSSIP_DEFAULT_FANOUT;
	if (!g->cfg.max_relay)
		g->cfg.max_relay = GOSSIP_DEFAULT_MAX_RELAY;
	if (!g->cfg.queue_cap)
		g->cfg.queue_cap = GOSSIP_DEFAULT_QUEUE_CAP;
	if (!g->cfg.tree_rtt_pct)
		g->cfg.tree_rtt_pct = GOSSIP_TREE_RTT_PCT;
	g->ops = *ops;
	g->tree_key = g->cfg.tree_key & WIRE_TREE_KEY_MASK;
	if (!g->tree_key) {
		/* no key given: one from the engine's address (any will do
		 * that the neighbours do not share) */
		uint64_t h = (uint64_t)(uintptr_t)g * 0x9E3779B97F4A7C15ULL;
		g->tree_key = (uint32_t)(h >> 33) & WIRE_TREE_KEY_MASK;
		if (!g->tree_key)
			g->tree_key = 1;
	}
	g->pend = xcalloc(PEND_SLOTS, sizeof(*g->pend));
	g->fifo = xcalloc(FIFO_SLOTS, sizeof(*g->fifo));
	wb_init(&g->wb);
	return g;
}

void gossip_set_send_packets(struct gossip *g, gossip_send_packets_fn fn)
{
	g->send_packets = fn;
}

void gossip_set_send_tpackets(struct gossip *g, gossip_send_tpackets_fn fn)
{
	g->send_tpackets = fn;
}

void gossip_hold(struct gossip *g)
{
	g->hold = true;
}

void gossip_release(struct gossip *g)
{
	g->hold = false;
	gsp_flush(g);
}

static void peer_free(struct gpeer *p)
{
	free(p->known);
	free(p->kmeta);
	free(p->ann.v);
	free(p->req.v);
	free(p->invr);
	free(p->invb);
	free(p->cu.v);
	gsp_cu_after_clear(p);
	free(p->prune.v);
	free(p->graft.v);
	for (int c = 0; c < QCLASSES; c++)
		free(p->q[c].v);
	free(p);
}

void gossip_free(struct gossip *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->npeers; i++)
		peer_free(g->peers[i]);
	free(g->pend);
	free(g->fifo);
	free(g->cug);
	free(g->cu_stick);
	free(g->trees);
	free(g->km_sid);
	free(g->km_key);
	free(g->km_src);
	free(g->tl);
	free(g->tlq);
	free(g->dfifo);
	wb_fini(&g->wb);
	free(g);
}
int gossip_peer_add(struct gossip *g, int peer, unsigned flags,
                    uint64_t now_ms)
{
	bool full = (flags & GOSSIP_PEER_FULL) != 0;
	if (g->npeers >= MAX_PEERS || peer_get(g, peer))
		return E_NOMEM;
	g->now_ms = now_ms;
	struct gpeer *p = xcalloc(1, sizeof(*p));
	p->id = peer;
	p->full = full;
	p->v2 = (flags & GOSSIP_PEER_V2) != 0;
	p->v3 = (flags & GOSSIP_PEER_V3) != 0;
	p->synced = !full;
	/* busy until its first round: a joiner's first rounds with all its
	 * peers start at once, each gets its own share */
	p->cu_busy = full;
	p->cu_busy_since = now_ms;
	p->known = xcalloc(GOSSIP_KNOWN_SLOTS, sizeof(uint64_t));
	p->kmeta = xcalloc(GOSSIP_KNOWN_SLOTS, sizeof(uint32_t));
	p->pcap = PEER_PENDING_START;
	{
		double rate, burst;
		gsp_cu_params(g, &rate, &burst);
		bk_init(&p->cu_bk, burst, now_ms);
	}
	p->cub = &p->cu_bk;
	p->cug = -1;
	bk_init(&p->rl_inv, RL_INV_BURST, now_ms);
	bk_init(&p->rl_req, RL_REQ_BURST, now_ms);
	bk_init(&p->rl_unk, RL_UNK_BURST, now_ms);
	bk_init(&p->rl_nf, RL_NF_BURST, now_ms);
	bk_init(&p->rl_recon, RL_RECON_BURST, now_ms);
	bk_init(&p->rl_tree, RL_TREE_BURST, now_ms);
	gsp_tree_peer_add(g, p);
	g->peers[g->npeers++] = p;
	if (full)
		gsp_recon_start(g, p);
	return E_OK;
}
void gossip_peer_del(struct gossip *g, int peer)
{
	for (size_t i = 0; i < g->npeers; i++) {
		if (g->peers[i]->id != peer)
			continue;
		struct gpeer *p = g->peers[i];
		g->peers[i] = g->peers[--g->npeers];
		if (p->cug >= 0) {
			g->cug[p->cug].refs--;
			g->cug[p->cug].left_ms = g->now_ms ? g->now_ms : 1;
		}
		/* its fetches go to an alternate now (or are forgotten), not
		 * after their timeout; a peer added later under the same id
		 * starts with none */
		for (size_t k = 0; p->npend > 0 && k < PEND_SLOTS;) {
			struct pend *e = &g->pend[k];
			if (!e->sid || e->asked != peer) {
				k++;
				continue;
			}
			uint64_t sid = e->sid;
			p->npend--;
			e->asked = -1;
			gsp_pend_retry(g, e, false);
			if (g->pend[k].sid == sid)
				k++;
		}
		gsp_tree_peer_del(g, p);
		peer_free(p);
		return;
	}
}
int gossip_on_msg(struct gossip *g, int peer, uint8_t type,
                  const uint8_t *p, size_t n, uint64_t now_ms,
                  enum drop_reason *reason)
{
	struct gpeer *gp = peer_get(g, peer);
	const uint8_t *ids;
	uint32_t c;
	int rc = E_OK;

	*reason = DROP_NONE;
	g->now_ms = now_ms;
	if (!gp)
		return E_PROTO;
	switch (type) {
	case WIRE_PACKET:
		if (n == 0)
			return E_PROTO;
		rc = gsp_on_packet(g, gp, p, n, reason);
		break;
	case WIRE_TPACKETS:
		rc = gsp_on_tpackets(g, gp, p, n, reason);
		break;
	case WIRE_PRUNE:
	case WIRE_GRAFT:
		if (wire_keys_decode(p, n, &ids, &c) != E_OK)
			return E_PROTO;
		gsp_on_prune(g, gp, ids, c, type == WIRE_GRAFT);
		break;
	case WIRE_PACKETS: {
		struct wire_packets w;
		const uint8_t *pk;
		uint32_t len;
		if (wire_packets_decode(p, n, &w) != E_OK)
			return E_PROTO;
		while (rc == E_OK && wire_packets_next(&w, &pk, &len))
			rc = gsp_on_packet(g, gp, pk, len, reason);
		break;
	}
	case WIRE_INV:
	case WIRE_GETDATA:
	case WIRE_NOTFOUND:
		if (wire_ids_decode(p, n, &ids, &c) != E_OK)
			return E_PROTO;
		if (type == WIRE_INV)
			gsp_on_inv(g, gp, ids, c);
		else if (type == WIRE_GETDATA)
			gsp_on_getdata(g, gp, ids, c);
		else
			gsp_on_notfound(g, gp, ids, c);
		break;
	case WIRE_GETBITS: {
		uint32_t seq;
		if (wire_getbits_decode(p, n, &seq, &ids, &c) != E_OK)
			return E_PROTO;
		gsp_on_getbits(g, gp, seq, ids, c);
		break;
	}
	case WIRE_SUMMARY: {
		struct wire_summary s;
		if (wire_summary_decode(p, n, &s) != E_OK)
			return E_PROTO;
		if (g->cfg.full)
			gsp_on_summary(g, gp, &s);
		break;
	}
	case WIRE_SUMMARY_SEC: {
		struct wire_summary_sec s;
		if (wire_summary_sec_decode(p, n, &s) != E_OK)
			return E_PROTO;
		gsp_on_summary_sec(g, gp, &s);
		break;
	}
	case WIRE_IDLIST: {
		struct wire_idlist l;
		if (wire_idlist_decode(p, n, &l) != E_OK)
			return E_PROTO;
		if (g->cfg.full)
			gsp_on_idlist(g, gp, &l);
		break;
	}
	default:
		return E_PROTO;
	}
	gsp_flush(g);
	return rc;
}

void gossip_tick(struct gossip *g, uint64_t now_ms)
{
	g->now_ms = now_ms;
	gsp_fetch_tick(g, now_ms);
	for (size_t i = 0; i < g->npeers; i++) {
		struct gpeer *p = g->peers[i];
		if (gsp_inv_due(g, p))
			gsp_send_inv(g, p);
		if (p->recon_open && now_ms >= p->recon_deadline) {
			p->recon_open = false;
			/* no answer: its seconds to the others, unless it is
			 * sending us catch-up (the answer waits behind it) */
			gsp_cu_idle(g, p);
		}
		if (p->full && !p->recon_open && now_ms >= p->next_recon)
			gsp_recon_start(g, p);
	}
	gsp_flush(g);
}

uint64_t gossip_next_due(const struct gossip *g)
{
	uint64_t due = UINT64_MAX;
	for (size_t i = 0; i < g->npeers; i++) {
		const struct gpeer *p = g->peers[i];
		uint64_t d = gsp_tree_peer(g, p) ? TREE_INV_DELAY_MS
		                                  : GOSSIP_INV_DELAY_MS;
		if (p->ann.n && p->ann_t + d < due)
			due = p->ann_t + d;
		if (p->prune.n && p->prune_t + TREE_PRUNE_DELAY_MS < due)
			due = p->prune_t + TREE_PRUNE_DELAY_MS;
	}
	return due;
}

void gossip_drain(struct gossip *g, int peer)
{
	struct gpeer *p = peer_get(g, peer);
	if (p)
		gsp_drain(g, p);
}

bool gossip_peer_synced(const struct gossip *g, int peer)
{
	struct gpeer *p = peer_get(g, peer);
	return p && p->synced;
}

bool gossip_synced(const struct gossip *g)
{
	if (g->npend > 0)
		return false;
	for (size_t i = 0; i < g->npeers; i++)
		if (g->peers[i]->synced)
			return true;
	return false;
}

size_t gossip_queued_bytes(const struct gossip *g, int peer)
{
	struct gpeer *p = peer_get(g, peer);
	return p ? p->qbytes : 0;
}

size_t gossip_catchup_backlog(const struct gossip *g, int peer)
{
	struct gpeer *p = peer_get(g, peer);
	return p ? p->cu.n - p->cu_head : 0;
}

const struct gossip_stats *gossip_get_stats(struct gossip *g,
                                            uint64_t now_ms)
{
	g->st.fetch_pending = g->npend;
	g->st.overloaded = now_ms < g->overload_until;
	return &g->st;
}

static size_t vec_mem(const struct u64vec *v)
{
	return v->cap * sizeof(uint64_t);
}

static size_t peer_mem(const struct gpeer *p)
{
	size_t m = sizeof(*p) + GOSSIP_KNOWN_SLOTS * (sizeof(uint64_t) +
	                                              sizeof(uint32_t));
	m += vec_mem(&p->ann) + vec_mem(&p->req) + vec_mem(&p->cu) +
	     vec_mem(&p->cu_after);
	m += (p->prune.cap + p->graft.cap) * sizeof(uint32_t);
	if (p->invr)
		m += GOSSIP_INV_RING * sizeof(*p->invr) +
		     GOSSIP_INV_SEQS * sizeof(*p->invb);
	for (int c = 0; c < QCLASSES; c++)
		m += p->q[c].cap * sizeof(struct qent);
	/* its share of the pending table and the timeout FIFO */
	m += p->npend * (2 * sizeof(struct pend) + 4 * sizeof(struct fifo_ent));
	return m;
}

size_t gossip_peer_mem(const struct gossip *g, int peer)
{
	const struct gpeer *p = peer_get(g, peer);
	return p ? peer_mem(p) : 0;
}

size_t gossip_mem(const struct gossip *g)
{
	size_t m = sizeof(*g) + PEND_SLOTS * sizeof(struct pend) +
	           FIFO_SLOTS * sizeof(struct fifo_ent) + g->wb.cap +
	           gsp_tree_mem(g) +
	           (g->cu_stick ? CU_STICK_SLOTS * sizeof(*g->cu_stick) : 0) +
	           (g->dfifo ? DFIFO_SLOTS * sizeof(struct fifo_ent) : 0);
	for (size_t i = 0; i < g->npeers; i++) {
		const struct gpeer *p = g->peers[i];
		m += peer_mem(p) - p->npend * (2 * sizeof(struct pend) +
		                               4 * sizeof(struct fifo_ent));
	}
	return m;
}

/* Tests and fuzzing: every invariant, by a full walk (pending table and
 * FIFO, per-peer counts, queues, bounds).  0 or the line of the first
 * failed check. */
#define DCHK(c) do { if (!(c)) return __LINE__; } while (0)
#if defined(__clang__)
/* a walk of the whole table: not worth the fuzzer's coverage hooks */
__attribute__((no_sanitize("coverage")))
#endif
int gossip_debug_check(const struct gossip *g)
{
	size_t used = 0, asked[MAX_PEERS] = {0};
	uint32_t tslots = 0;
	DCHK(g->npend <= GOSSIP_PENDING_MAX);
	DCHK(g->fn <= FIFO_SLOTS);
	DCHK(g->npeers <= MAX_PEERS);
	for (size_t i = 0; i < PEND_SLOTS; i++) {
		const struct pend *e = &g->pend[i];
		if (!e->sid)
			continue;
		used++;
		/* reachable from its home slot without a hole */
		for (size_t j = gsp_pend_slot(e->sid); j != i;
		     j = (j + 1) & (PEND_SLOTS - 1))
			DCHK(g->pend[j].sid != 0);
		DCHK(e->nalt <= GOSSIP_ALTS);
		DCHK(e->tries >= 1 && e->tries <= GOSSIP_FETCH_TRIES);
		for (size_t k = 0; k < g->npeers; k++)
			if (g->peers[k]->id == e->asked)
				asked[k]++;
	}
	DCHK(used == g->npend);
	for (size_t i = 0; i < g->npeers; i++) {
		const struct gpeer *p = g->peers[i];
		size_t qn = 0, qb = 0;
		for (size_t k = 0; k < i; k++)
			DCHK(g->peers[k]->id != p->id);
		DCHK(asked[i] == p->npend);
		DCHK(p->pcap >= PEER_PENDING_MIN && p->pcap <= PEER_PENDING_MAX);
		for (int c = 0; c < QCLASSES; c++) {
			const struct qring *q = &p->q[c];
			DCHK(q->n <= q->cap);
			for (size_t k = 0; k < q->n; k++)
				qb += q->v[(q->head + k) % q->cap].len;
			qn += q->n;
		}
		DCHK(qn == p->qn && qb == p->qbytes);
		DCHK(p->qn <= QENT_MAX);
		DCHK(p->ann.n <= GOSSIP_ANN_MAX);
		DCHK(p->cu_head <= p->cu.n && p->cu.n <= GOSSIP_CATCHUP_MAX);
		DCHK(p->cu_after.n <= CU_AFTER_MAX);
		/* tree peers: a slot of their own, marked in use */
		DCHK(p->tslot >= -1 && p->tslot < TREE_PEERS);
		if (p->tslot >= 0) {
			DCHK(p->v3 && g->trees);
			DCHK(g->tslots & (1u << p->tslot));
			tslots |= 1u << p->tslot;
			for (size_t k = 0; k < i; k++)
				DCHK(g->peers[k]->tslot != p->tslot);
		}
		DCHK(p->prune.n <= WIRE_MAX_KEYS && p->graft.n <= WIRE_MAX_KEYS);
		DCHK(peer_mem(p) <= GOSSIP_PEER_MEM_MAX);
	}
	DCHK(tslots == g->tslots);
	return 0;
}
