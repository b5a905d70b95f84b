/* gossip_tree.c - eager push along a tree per packet creator (gossip_int.h,
 * docs/PROTOCOL.md 5.2): the tree table (per tree key, which tree peers
 * are lazy), the short id -> tree key map of recent packets, PRUNE and
 * GRAFT.  Only peers whose VERSION is >= 3 take part (GOSSIP_PEER_V3, and
 * only with gossip_set_send_tpackets() and a mode other than HOP).
 */
#include "proto/gossip_int.h"

static bool tree_on(const struct gossip *g)
{
	return g->send_tpackets && g->cfg.mode != GOSSIP_MODE_HOP;
}

void gsp_tree_peer_add(struct gossip *g, struct gpeer *p)
{
	p->tslot = -1;
	if (!p->v3 || !tree_on(g))
		return;
	if (!g->trees) {
		g->trees = xcalloc((size_t)TREE_SETS * TREE_WAYS,
		                   sizeof(*g->trees));
		g->km_sid = xcalloc(KEYMAP_SLOTS, sizeof(*g->km_sid));
		g->km_key = xcalloc(KEYMAP_SLOTS, sizeof(*g->km_key));
		g->km_src = xcalloc(KEYMAP_SLOTS, sizeof(*g->km_src));
		g->tl = xcalloc(1, sizeof(*g->tl));
		g->tlq = xcalloc(TLQ_SLOTS, sizeof(*g->tlq));
	}
	for (int b = 0; b < TREE_PEERS; b++) {
		if (!(g->tslots & (1u << b))) {
			g->tslots |= 1u << b;
			p->tslot = b;
			tl_set_rtt(g->tl, (unsigned)b, p->rtt_ms);
			return;
		}
	}
	/* more than TREE_PEERS v3 peers: the others as v2 peers */
}

/* Its bit is cleared everywhere: the next peer in the slot starts eager.
 * The trees it was our parent in (it pushed their latest first copy) are
 * grafted on every tree peer we had pruned for them: their next packet
 * comes from each, the duplicates prune all but the fastest again.
 * (Without it a child waited for a lazy INV, one packet in
 * TREE_SETTLED_ANN_EVERY of a settled tree, or for reconciliation.) */
void gsp_tree_peer_del(struct gossip *g, struct gpeer *p)
{
	if (p->tslot < 0)
		return;
	struct gpeer *by_slot[TREE_PEERS] = {0};
	for (size_t k = 0; k < g->npeers; k++) {
		struct gpeer *q = g->peers[k];
		if (q != p && q->tslot >= 0)
			by_slot[q->tslot] = q;
	}
	uint32_t m = ~(1u << p->tslot);
	for (size_t i = 0; i < (size_t)TREE_SETS * TREE_WAYS; i++) {
		struct tree *t = &g->trees[i];
		t->lazy &= m;
		t->pruned &= m;
		t->pushed0 &= m;
		t->plazy &= m;
		t->blazy &= m;
		if (t->key == 0 || t->up != p->tslot)
			continue;
		t->up = -1;
		for (int b = 0; b < TREE_PEERS; b++) {
			struct gpeer *q = by_slot[b];
			if (!q || !(t->pruned & (1u << b)) ||
			    q->graft.n >= WIRE_MAX_KEYS)
				continue;
			t->pruned &= ~(1u << b);
			u32_push(&q->graft, t->key);
			g->st.tree_grafted++;
		}
	}
	tl_forget(g->tl, (unsigned)p->tslot);
	g->tslots &= m;
	p->tslot = -1;
}

void gossip_peer_rtt(struct gossip *g, int peer, uint64_t ms)
{
	struct gpeer *p = peer_get(g, peer);

	if (!p)
		return;
	p->rtt_ms = ms;
	if (p->tslot >= 0)
		tl_set_rtt(g->tl, (unsigned)p->tslot, ms);
}

bool gsp_tree_peer(const struct gossip *g, const struct gpeer *p)
{
	return p->tslot >= 0;
}

static size_t km_slot(uint64_t sid)
{
	return (size_t)(sid >> 20) & (KEYMAP_SLOTS - 1);
}

uint32_t gsp_tree_key_of(const struct gossip *g, uint64_t sid)
{
	if (!g->km_sid)
		return 0;
	size_t i = km_slot(sid);
	return g->km_sid[i] == sid ? g->km_key[i] : 0;
}

/* sid's tree key; src: the tree peer that pushed its first copy (NULL:
 * none, or not pushed). */
void gsp_tree_note(struct gossip *g, uint64_t sid, uint32_t key,
                   const struct gpeer *src)
{
	if (!g->km_sid)
		return;
	size_t i = km_slot(sid);
	g->km_sid[i] = sid;
	g->km_key[i] = key;
	g->km_src[i] = (int8_t)(src ? src->tslot : -1);
}

static size_t tree_set(uint32_t key)
{
	return (size_t)((key * 0x9E3779B1u) >> 16) & (TREE_SETS - 1);
}

/* The entry of key; with create, a new one (every peer eager) replacing
 * the least recently used of its set. */
struct tree *gsp_tree_get(struct gossip *g, uint32_t key, bool create)
{
	if (!g->trees || key == 0)
		return NULL;
	struct tree *s = &g->trees[tree_set(key) * TREE_WAYS], *v = NULL;
	for (unsigned w = 0; w < TREE_WAYS; w++) {
		if (s[w].key == key) {
			s[w].used = ++g->tclock;
			return &s[w];
		}
		if (!v || s[w].key == 0 ||
		    (v->key != 0 && s[w].used < v->used))
			v = &s[w];
	}
	if (!create)
		return NULL;
	v->key = key;
	v->lazy = v->pruned = 0;
	v->pushed0 = v->plazy = v->blazy = 0;
	v->up = -1;
	v->seen = 0;
	v->used = ++g->tclock;
	return v;
}

/* The entry of key, if any, its LRU order untouched. */
static struct tree *tree_find(const struct gossip *g, uint32_t key)
{
	struct tree *s = &g->trees[tree_set(key) * TREE_WAYS];
	for (unsigned w = 0; w < TREE_WAYS; w++)
		if (s[w].key == key)
			return &s[w];
	return NULL;
}

/* t was just created for a packet whose first copy up pushed (NULL: none
 * did).  In tree mode the peers predicted not to need its first packet
 * start lazy (treelearn.h), and the birth is queued to be counted. */
void gsp_tree_born(struct gossip *g, struct tree *t, const struct gpeer *up)
{
	t->up = (int8_t)(up && gsp_tree_peer(g, up) ? up->tslot : -1);
	if (g->cfg.mode != GOSSIP_MODE_TREE || t->up < 0)
		return;
	t->plazy = tl_predict_rtt(g->tl, (unsigned)t->up, g->tslots,
	                          g->cfg.tree_rtt_pct == GOSSIP_TREE_RTT_OFF ?
	                          0 : g->cfg.tree_rtt_pct);
	t->lazy |= t->plazy;
	g->st.tree_predicted += (unsigned)__builtin_popcount(t->plazy);
	if (g->tlq_n < TLQ_SLOTS) {
		struct tlq_ent *e = &g->tlq[(g->tlq_head + g->tlq_n++) % TLQ_SLOTS];
		e->key = t->key;
		e->at = g->now_ms;
	}
}

/* Count the trees born TREE_LEARN_MS ago or more: which peers their first
 * push went to, which of those pruned it since. */
void gsp_tree_learn_due(struct gossip *g)
{
	while (g->tlq_n > 0) {
		struct tlq_ent *e = &g->tlq[g->tlq_head];
		if (e->at + TREE_LEARN_MS > g->now_ms)
			break;
		struct tree *t = tree_find(g, e->key);
		if (t && t->up >= 0)
			tl_learn(g->tl, (unsigned)t->up, t->pushed0, t->lazy);
		g->tlq_head = (g->tlq_head + 1) % TLQ_SLOTS;
		g->tlq_n--;
	}
}

bool gsp_tree_eager(const struct gossip *g, const struct tree *t,
                    const struct gpeer *p)
{
	switch (g->cfg.mode) {
	case GOSSIP_MODE_FLOOD:
		return true;
	case GOSSIP_MODE_MESH: {
		/* a fixed pseudo-random choice of about D of 8 peers */
		uint32_t h = (g->tree_key ^ (uint32_t)p->id * 0x85EBCA6Bu) *
		             0x9E3779B1u;
		return (h >> 29) < GOSSIP_MESH_D;
	}
	default:
		return !(t->lazy & (1u << p->tslot));
	}
}

/* p pushed us packet sid of tree key that we held already: p is sent
 * PRUNE.  Unless the first copy came from a peer we pruned already (our
 * PRUNE crossed its push): that link is going, and pruning p too could
 * leave us out of the tree. */
void gsp_tree_dup(struct gossip *g, struct gpeer *p, uint64_t sid,
                  uint32_t key)
{
	if (g->cfg.mode != GOSSIP_MODE_TREE || !gsp_tree_peer(g, p))
		return;
	struct tree *t = gsp_tree_get(g, key, true);
	if (!t)
		return;
	size_t i = km_slot(sid);
	if (g->km_sid[i] == sid && g->km_src[i] >= 0 &&
	    g->km_src[i] != p->tslot && (t->pruned & (1u << g->km_src[i])) &&
	    !(t->pruned & (1u << p->tslot)))
		return;
	t->pruned |= 1u << p->tslot;
	if (p->prune.n < WIRE_MAX_KEYS) {
		if (p->prune.n == 0)
			p->prune_t = g->now_ms;
		if (t->seen > 1)
			p->prune_now = true;
		u32_push(&p->prune, key);
		g->st.tree_pruned++;
	}
}

/* The first copy of a packet of tree key came from p as the answer to a
 * fetch: the tree did not bring it; p pushes key to us from now on. */
void gsp_tree_fetched(struct gossip *g, struct gpeer *p, uint32_t key)
{
	if (g->cfg.mode != GOSSIP_MODE_TREE || !gsp_tree_peer(g, p))
		return;
	struct tree *t = gsp_tree_get(g, key, true);
	if (!t)
		return;
	t->pruned &= ~(1u << p->tslot);
	if (p->graft.n < WIRE_MAX_KEYS) {
		u32_push(&p->graft, key);
		g->st.tree_grafted++;
	}
}

/* q announced a packet of key (INV, sent TREE_INV_DELAY_MS after q had
 * it) before the tree pushed it to us: q's path is the faster by that
 * much, yet q does not push key to us (it was left lazy at the tree's
 * birth, or we pruned it).  Graft it: the next packet comes both ways and
 * the slower copy is pruned.  Only with RTT-chosen first pushes, which
 * leave links out that a shortest-path tree may need (a flooded first
 * packet finds them itself). */
void gsp_tree_announced_first(struct gossip *g, struct gpeer *q,
                              uint32_t key)
{
	if (!q || g->cfg.tree_rtt_pct == GOSSIP_TREE_RTT_OFF)
		return;
	gsp_tree_fetched(g, q, key);
}

static void send_keys(struct gossip *g, struct gpeer *p, uint8_t type,
                      struct u32vec *v)
{
	if (v->n)
		wire_keys_encode(&g->wb, type, v->v, (uint32_t)v->n);
	gsp_send_wb(g, p, true);
	v->n = 0;
}

/* PRUNE/GRAFT keys wait for p: send them now?  (TREE_PRUNE_DELAY_MS) */
bool gsp_tree_flush_due(const struct gossip *g, const struct gpeer *p)
{
	if (p->graft.n || p->prune_now)
		return true;
	return p->prune.n && (p->prune.n >= TREE_PRUNE_BATCH ||
	                      g->now_ms >= p->prune_t + TREE_PRUNE_DELAY_MS);
}

void gsp_tree_flush(struct gossip *g, struct gpeer *p)
{
	send_keys(g, p, WIRE_PRUNE, &p->prune);
	send_keys(g, p, WIRE_GRAFT, &p->graft);
	p->prune_now = false;
}

/* PRUNE (graft false) or GRAFT from p.  Keys we have no entry for are
 * ignored (a peer cannot fill the table with keys of its own). */
void gsp_on_prune(struct gossip *g, struct gpeer *p, const uint8_t *keys,
                  uint32_t c, bool graft)
{
	if (!bk_take(&p->rl_tree, RL_TREE_RATE, RL_TREE_BURST, g->now_ms, c)) {
		misbehave(g, p->id, 1, "PRUNE/GRAFT rate");
		return;
	}
	if (!gsp_tree_peer(g, p))
		return;
	for (uint32_t i = 0; i < c; i++) {
		struct tree *t = gsp_tree_get(g, wire_keys_at(keys, i), false);
		if (!t)
			continue;
		t->blazy &= ~(1u << p->tslot);
		if (graft)
			t->lazy &= ~(1u << p->tslot);
		else
			t->lazy |= 1u << p->tslot;
	}
}

size_t gsp_tree_mem(const struct gossip *g)
{
	if (!g->trees)
		return 0;
	return (size_t)TREE_SETS * TREE_WAYS * sizeof(*g->trees) +
	       sizeof(*g->tl) + TLQ_SLOTS * sizeof(*g->tlq) +
	       KEYMAP_SLOTS * (sizeof(*g->km_sid) + sizeof(*g->km_key) +
	                       sizeof(*g->km_src));
}
