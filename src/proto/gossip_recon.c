/* gossip_recon.c - reconciliation and catch-up (gossip_int.h,
 * docs/PROTOCOL.md 5.4-5.7): the initiator's SUMMARY of minute
 * fingerprints and IDLIST of the seconds that differ; the responder's
 * SUMMARY_SEC and the catch-up backlog of what the initiator lacks, fed to
 * its send queue as it drains, within a byte budget per peer or address
 * group.
 */
#include "proto/gossip_int.h"

bool gsp_cu_pending(const struct gpeer *p)
{
	return p->cu_head < p->cu.n;
}

static void cu_clear(struct gpeer *p)
{
	free(p->cu.v);
	memset(&p->cu, 0, sizeof(p->cu));
	p->cu_head = 0;
}

/* The catch-up bucket's burst and rate (bytes, bytes/s) for the store's
 * present size. */
void gsp_cu_params(const struct gossip *g, double *rate, double *burst)
{
	struct store_stats st;
	store_get_stats(g->store, &st);
	double whole = (double)st.bytes + (double)st.count * CU_PKT_COST;
	*burst = whole + CU_BURST;
	*rate = whole / CU_PERIOD_S + CU_RATE;
}

static void cu_fill(const struct gossip *g, struct gpeer *p)
{
	double rate, burst;
	gsp_cu_params(g, &rate, &burst);
	bk_fill(p->cub, rate, burst, g->now_ms);
}

void gsp_cu_after_clear(struct gpeer *p)
{
	free(p->cu_after.v);
	memset(&p->cu_after, 0, sizeof(p->cu_after));
}

/* sid is queued for p by catch-up: while an IDLIST is expected, p's
 * IDLIST cannot show it. */
static void cu_after_add(struct gpeer *p, uint64_t sid)
{
	if (p->idlist_ok && p->cu_after.n < CU_AFTER_MAX)
		u64_push(&p->cu_after, sid);
}

/* Move catch-up backlog entries to p's send queue while it stays under
 * half its cap.  Entries whose packet was purged meanwhile, or that p is
 * known to hold or to be getting, are skipped.  Frees the backlog once
 * consumed. */
void gsp_cu_refill(struct gossip *g, struct gpeer *p)
{
	cu_fill(g, p);
	while (gsp_cu_pending(p)) {
		uint64_t sid = p->cu.v[p->cu_head];
		struct stored *sp = sidx_get(g, sid);
		if (sp && !known_skip_cu(p, sid, p->cu_epoch)) {
			double cost = (double)sp->len + CU_PKT_COST;
			if (p->cub->tokens < cost)
				break;  /* budget spent: more as it refills */
			if (!gsp_enqueue(g, p, sp, 0, 0, true) && p->qn > 0)
				break;  /* half the cap reached: more when it drains */
			p->cub->tokens -= cost;
			cu_after_add(p, sid);
		}
		/* queued, skipped, or too big for half the cap even alone */
		p->cu_head++;
	}
	if (!gsp_cu_pending(p))
		cu_clear(p);
}

/* Move queued packets to p, highest class first, while room() allows:
 * to a v2 peer as PACKETS frames of up to DRAIN_BATCH packets and
 * GOSSIP_PACKETS_BATCH bytes, to a v1 peer one PACKET frame each.  The
 * catch-up backlog refills the queue whenever it is down to a quarter of
 * its cap, so catch-up runs at the pace the peer takes the data. */

void gsp_recon_start(struct gossip *g, struct gpeer *p)
{
	uint32_t now = wall(g);
	p->next_recon = g->now_ms +
	                ((uint64_t)GOSSIP_RECON_INTERVAL_MS << p->recon_quiet);
	if (now < g->cfg.purgetime + 2)
		return;
	uint32_t t0 = now - g->cfg.purgetime + 5, t1 = now - 2;
	if (t1 < t0)
		return;
	uint32_t nb = wire_minutes(t0, t1);
	wb_begin(&g->wb, WIRE_SUMMARY);
	wb_u32(&g->wb, t0);
	wb_u32(&g->wb, t1);
	wb_u16(&g->wb, (uint16_t)nb);
	for (uint32_t i = 0; i < nb; i++) {
		uint32_t a, b;
		struct store_bucket sb;
		wire_minute_range(t0, t1, i, &a, &b);
		store_range(g->store, a, b, &sb);
		wb_u32(&g->wb, sb.count);
		wb_u64(&g->wb, le64(sb.fp + 16));
	}
	wb_end(&g->wb);
	gsp_send_wb(g, p, true);
	p->recon_open = true;
	p->recon_t0 = t0;
	p->recon_t1 = t1;
	p->recon_deadline = g->now_ms + GOSSIP_RECON_TIMEOUT_MS;
	g->st.recon_rounds++;
}


void gossip_peer_set_group(struct gossip *g, int peer, uint64_t key)
{
	struct gpeer *p = peer_get(g, peer);
	int pick = -1;

	if (!p || key == 0 || p->cug >= 0)
		return;
	if (!g->cug)
		g->cug = xcalloc(CU_GROUPS, sizeof(*g->cug));
	for (int i = 0; i < (int)CU_GROUPS; i++) {
		struct cugroup *e = &g->cug[i];
		if (e->key == key) {
			pick = i;
			break;
		}
		/* else the unused slot, or the one left longest ago */
		if (e->refs == 0 &&
		    (pick < 0 || e->key == 0 ||
		     (g->cug[pick].key != 0 && e->left_ms < g->cug[pick].left_ms)))
			pick = i;
	}
	if (pick < 0)
		return; /* every group has peers now: its own budget */
	struct cugroup *e = &g->cug[pick];
	if (e->key != key) {
		e->key = key;
		e->bk = p->cu_bk; /* a new group starts full */
	}
	e->refs++;
	p->cug = pick;
	p->cub = &e->bk;
}

static bool fp_differs(const struct store_bucket *sb, uint32_t count,
                       uint64_t fp)
{
	return sb->count != count || le64(sb->fp + 16) != fp;
}

/* Responder: per-second summaries of the minutes that differ, as many
 * minutes as fit in one frame (the initiator's next round asks again for
 * the rest: the minutes answered here match by then). */
void gsp_on_summary(struct gossip *g, struct gpeer *p,
                       const struct wire_summary *s)
{
	size_t nent = 0;
	/* Seconds ahead of our own window (the initiator's clock is ahead)
	 * are not answered: we hold nothing there that it could lack, and
	 * what it holds there is future to us (the future hold has it, or
	 * our own rounds fetch it once due). */
	uint32_t w = wall(g), lim = w > 2 ? w - 2 : 0;

	if (!bk_take(&p->rl_recon, RL_RECON_RATE, RL_RECON_BURST, g->now_ms,
	             1)) {
		misbehave(g, p->id, 1, "SUMMARY rate");
		return;
	}
	p->sum_ms = g->now_ms ? g->now_ms : 1; /* it runs rounds with us */
	if (p->last_answer_ms &&
	    g->now_ms < p->last_answer_ms + RECON_ANSWER_MIN_MS)
		return; /* faster than any honest initiator: ignored */
	p->last_answer_ms = g->now_ms ? g->now_ms : 1;
	p->idlist_ok = false;
	wb_begin(&g->wb, WIRE_SUMMARY_SEC);
	wb_u32(&g->wb, s->t0);
	wb_u32(&g->wb, s->t1);
	size_t n_off = g->wb.len;
	wb_u32(&g->wb, 0);
	for (uint32_t i = 0; i < s->n; i++) {
		uint32_t a, b, count;
		uint64_t fp;
		struct store_bucket sb;
		wire_minute_range(s->t0, s->t1, i, &a, &b);
		wire_summary_at(s, i, &count, &fp);
		store_range(g->store, a, b, &sb);
		if (!fp_differs(&sb, count, fp) || a > b || a > lim)
			continue;
		if (b > lim)
			b = lim;
		if (wb_frame_payload_len(&g->wb) + ((size_t)b - a + 1) * 16 >
		    WIRE_MAX_PAYLOAD)
			break;
		for (uint32_t t = a; t <= b; t++) {
			store_bucket(g->store, t, &sb);
			wb_u32(&g->wb, t);
			wb_u32(&g->wb, sb.count);
			wb_u64(&g->wb, le64(sb.fp + 16));
			nent++;
		}
	}
	put_le32(g->wb.p + n_off, (uint32_t)nent);
	wb_end(&g->wb);
	gsp_send_wb(g, p, true);
	gsp_cu_after_clear(p);
	if (nent > 0) {
		/* The catch-up packets in the queue now, and those queued from
		 * here on, leave after this SUMMARY_SEC: its IDLIST cannot show
		 * them. */
		const struct qring *q = &p->q[QCATCHUP];
		p->idlist_ok = true;
		for (size_t i = 0; i < q->n; i++)
			cu_after_add(p,
			             wire_sid(q->v[(q->head + i) % q->cap].hash));
		p->ans_t0 = s->t0;
		p->ans_t1 = s->t1;
		/* marks from now on are newer than what the IDLIST shows */
		p->ans_epoch = ++p->epoch;
	}
}


static bool collect_cb(struct stored *sp, void *arg)
{
	u64_push(arg, wire_sid(sp->hash));
	return true;
}

/* Initiator: our ids for every second that differs. */
/* Second t of a round with p: left to another full peer (its owner,
 * busy sending us its own seconds)? */
static bool cu_withheld(const struct gossip *g, const struct gpeer *p,
                        uint32_t t)
{
	size_t k = 0;
	for (size_t i = 0; i < g->npeers; i++)
		k += g->peers[i]->full;
	if (k < 2)
		return false;
	/* the peer the block was listed to, while it is trusted with it */
	if (g->cu_stick) {
		const struct cu_stick *e =
			&g->cu_stick[(t / CU_SPLIT_S) % CU_STICK_SLOTS];
		const struct gpeer *q;
		if (e->block == t / CU_SPLIT_S + 1 && (q = peer_get(g, e->peer)) &&
		    q->full && gsp_cu_trusted(q, g->now_ms))
			return q != p;
	}
	/* owner: the full peer of rank (t / CU_SPLIT_S) mod k by id */
	size_t want = (t / CU_SPLIT_S) % k;
	for (size_t i = 0; i < g->npeers; i++) {
		const struct gpeer *q = g->peers[i];
		if (!q->full)
			continue;
		size_t rank = 0;
		for (size_t j = 0; j < g->npeers; j++)
			rank += g->peers[j]->full && g->peers[j]->id < q->id;
		if (rank != want)
			continue;
		return q != p && gsp_cu_trusted(q, g->now_ms);
	}
	return false;
}

/* p is busy sending us its seconds and still trusted with them: for
 * CU_OWNER_MAX_MS, and after that while it makes progress. */
bool gsp_cu_trusted(const struct gpeer *p, uint64_t now_ms)
{
	if (!p->cu_busy)
		return false;
	return now_ms < p->cu_busy_since + CU_OWNER_MAX_MS ||
	       (p->cu_prog_ms && now_ms < p->cu_prog_ms + CU_OWNER_WINDOW_MS);
}

/* A round with p timed out: its seconds go to the others, unless it is
 * still trusted with them (the answer waits behind what it sends us, or
 * behind what other peers send on a shared downlink: before, a round
 * timing out after 10 s on a congested link gave its seconds to the
 * others, who sent them again). */
void gsp_cu_idle(struct gossip *g, struct gpeer *p)
{
	if (!gsp_cu_trusted(p, g->now_ms))
		p->cu_busy = false;
}

/* p sent us sp, new here: catch-up progress if it is not live (older
 * than CU_LIVE_S) and p is busy sending us its seconds. */
void gsp_cu_arrived(struct gossip *g, struct gpeer *p,
                    const struct stored *sp)
{
	if (!p->cu_busy || (uint64_t)sp->timestamp + CU_LIVE_S > wall(g))
		return;
	if (g->now_ms >= p->cu_win_ms + CU_OWNER_WINDOW_MS) {
		p->cu_win_ms = g->now_ms;
		p->cu_win_bytes = 0;
	}
	p->cu_win_bytes += sp->len;
	if (p->cu_win_bytes >= CU_OWNER_MIN_BYTES) {
		p->cu_prog_ms = g->now_ms ? g->now_ms : 1;
		p->cu_win_ms = g->now_ms;
		p->cu_win_bytes = 0;
	}
}

/* Second t is listed to p: its block is p's while p is trusted. */
static void cu_stick(struct gossip *g, const struct gpeer *p, uint32_t t)
{
	if (!g->cu_stick)
		g->cu_stick = xcalloc(CU_STICK_SLOTS, sizeof(*g->cu_stick));
	struct cu_stick *e = &g->cu_stick[(t / CU_SPLIT_S) % CU_STICK_SLOTS];
	e->block = t / CU_SPLIT_S + 1;
	e->peer = p->id;
}

void gsp_on_summary_sec(struct gossip *g, struct gpeer *p,
                        const struct wire_summary_sec *s)
{
	bool withheld = false;
	if (!p->recon_open || s->t0 != p->recon_t0 || s->t1 != p->recon_t1)
		return;
	p->recon_open = false;
	if (s->n == 0) {
		if (p->recon_quiet < RECON_QUIET_MAX)
			p->recon_quiet++;  /* nothing missing: ask less often */
		p->synced = true;
		p->cu_busy = false;
		return;
	}
	if (p->recon_quiet) {        /* differences: back to once a second */
		p->recon_quiet = 0;
		if (p->next_recon > g->now_ms + GOSSIP_RECON_INTERVAL_MS)
			p->next_recon = g->now_ms + GOSSIP_RECON_INTERVAL_MS;
	}
	struct u64vec ids = {0};
	size_t nent = 0;
	wb_begin(&g->wb, WIRE_IDLIST);
	size_t n_off = g->wb.len;
	wb_u32(&g->wb, 0);
	for (uint32_t i = 0; i < s->n; i++) {
		uint32_t t, count;
		uint64_t fp;
		struct store_bucket sb;
		wire_summary_sec_at(s, i, &t, &count, &fp);
		if (t < s->t0 || t > s->t1)
			continue;
		store_bucket(g->store, t, &sb);
		if (!fp_differs(&sb, count, fp))
			continue;
		/* The responder holds nothing there: nothing for us (our ids
		 * would only tell it what it lacks, which its own round with
		 * us asks: a late joiner's full peers sent it all their ids
		 * each round, 20 % of what it had to receive). */
		if (count == 0)
			continue;
		if (count < sb.count && p->sum_ms &&
		    g->now_ms < p->sum_ms + CU_PULLS_MS) {
			withheld = true;  /* it pulls from us: later */
			continue;
		}
		if (cu_withheld(g, p, t)) {
			withheld = true;
			continue;
		}
		ids.n = 0;
		store_foreach_time(g->store, t, t, collect_cb, &ids);
		size_t room = WIRE_IDLIST_BUDGET - 8 -
		              wb_frame_payload_len(&g->wb);
		if (ids.n * 8 > room) {
			if (nent > 0)
				break;
			ids.n = room / 8; /* one huge second: the rest later */
		}
		wb_u32(&g->wb, t);
		wb_u32(&g->wb, (uint32_t)ids.n);
		for (size_t k = 0; k < ids.n; k++)
			wb_u64(&g->wb, ids.v[k]);
		nent++;
		cu_stick(g, p, t);
	}
	free(ids.v);
	if (nent == 0) {
		wb_reset(&g->wb);
		p->synced = !withheld;
		p->cu_busy = false;
		return;
	}
	put_le32(g->wb.p + n_off, (uint32_t)nent);
	wb_end(&g->wb);
	gsp_send_wb(g, p, true);
	if (!p->cu_busy) {
		p->cu_busy = true;
		p->cu_busy_since = g->now_ms;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct idl_ctx {
	struct gpeer *p;
	const uint64_t *sorted;
	size_t n;
	const uint64_t *excl;        /* sorted: sent after the SUMMARY_SEC */
	size_t nexcl;
};

static bool idl_cb(struct stored *sp, void *arg)
{
	struct idl_ctx *c = arg;
	uint64_t sid = wire_sid(sp->hash);
	if (c->n && bsearch(&sid, c->sorted, c->n, sizeof(uint64_t), cmp_u64))
		return true;
	if (c->nexcl &&
	    bsearch(&sid, c->excl, c->nexcl, sizeof(uint64_t), cmp_u64))
		return true;
	/* The IDLIST is the peer's own word: having sent it does not count,
	 * unless it is queued now or left after the SUMMARY_SEC. */
	if (known_skip_cu(c->p, sid, c->p->ans_epoch))
		return true;
	if (c->p->cu.n >= GOSSIP_CATCHUP_MAX)
		return false; /* backlog full: the rest in the next round */
	/* the initiator lacks it: to the backlog, queued as it drains */
	u64_push(&c->p->cu, sid);
	return true;
}

/* Responder: send what the initiator lacks.  A round only serves its
 * initiator: what we lack comes in our own round with that peer.  (Pulling
 * here too would fetch every packet twice when two nodes reconcile with
 * each other at the same time, as they do after a restart.)  What it lacks
 * replaces its catch-up backlog (the new list supersedes the old one); the
 * backlog is queued by gsp_drain() at the pace the peer takes it. */
void gsp_on_idlist(struct gossip *g, struct gpeer *p,
                      struct wire_idlist *l)
{
	uint32_t t, c;
	const uint8_t *ids;
	struct u64vec v = {0};
	uint32_t now = wall(g);

	if (!p->idlist_ok)
		return; /* not the answer to our SUMMARY_SEC: ignored */
	p->idlist_ok = false;
	if (!bk_take(&p->rl_recon, RL_RECON_RATE, RL_RECON_BURST, g->now_ms,
	             1)) {
		misbehave(g, p->id, 1, "IDLIST rate");
		return;
	}
	cu_fill(g, p);
	if (p->cub->tokens < CU_BURST / 2) {
		/* budget spent: keep the backlog, do not walk the store again */
		if (++p->cu_starved >= CU_STARVED_MAX) {
			p->cu_starved = 0;
			misbehave(g, p->id, 5, "catch-up beyond its budget");
		}
		g->st.cu_refused++;
		return;
	}
	p->cu_starved = 0;
	/* What catch-up sent p after its SUMMARY_SEC left (or still
	 * queues) is not sent again: listed exactly in cu_after, where the
	 * known-set forgets (its slots are overwritten by other ids: 10,000
	 * packets in flight against 16,384 slots, with the IDLIST's own ids
	 * marked in them, were re-sent by thousands, 1.40 copies per packet
	 * in `sim -catchup=125000 -seconds=20`). */
	struct u64vec excl = p->cu_after;
	memset(&p->cu_after, 0, sizeof(p->cu_after));
	if (excl.n > 1)
		qsort(excl.v, excl.n, sizeof(uint64_t), cmp_u64);
	cu_clear(p);
	p->cu_epoch = p->ans_epoch;
	while (p->cu.n < GOSSIP_CATCHUP_MAX &&
	       wire_idlist_next(l, &t, &c, &ids)) {
		v.n = 0;
		for (uint32_t i = 0; i < c; i++) {
			uint64_t sid = wire_ids_at(ids, i);
			u64_push(&v, sid);
			known_add(p, sid);
		}
		if (t < p->ans_t0 || t > p->ans_t1)
			continue; /* not a second of the round */
		if ((uint64_t)t + g->cfg.purgetime <= (uint64_t)now + 1)
			continue; /* about to expire: not worth sending */
		if (v.n > 1)
			qsort(v.v, v.n, sizeof(uint64_t), cmp_u64);
		struct idl_ctx ctx = {p, v.v, v.n, excl.v, excl.n};
		store_foreach_time(g->store, t, t, idl_cb, &ctx);
	}
	free(v.v);
	free(excl.v);
}

