/* pktfetch.c - the (timestamp, id) request scheduler and the answering
 * budget (pktfetch.h).
 *
 * Keys live in a dense array (swap-with-last on removal) indexed by an
 * open-addressing table of positions + 1 (linear probing, backward-shift
 * deletion, load <= 1/2).  Each key records the peer slot asking it (-1:
 * idle) and a bitmap of the peer slots that were asked it without giving
 * it.  Peers live in PKTFETCH_MAX_PEERS fixed slots (the bit positions).
 *
 * Finding idle keys for a peer walks the array from that peer's cursor,
 * at most PKTFETCH_SCAN_MAX entries per call in all.  A peer whose walk
 * went round the whole array without a key for it is "dry" until a key
 * becomes askable again (idle_gen moves), and at the latest for a second
 * (a key moved by a removal behind its cursor may have been missed).
 */
#include "proto/pktfetch.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"

#define KEYS_MIN 1024u
#define DRY_RESET_MS 1000u
#define SWEEP_MS 1000u

struct pfkey {
	uint32_t ts, id;
	uint64_t tried;              /* peer slots asked in vain */
	uint64_t wanted_ms;          /* last named by the caller */
	uint64_t asked_ms;           /* last asked of a peer (0: never) */
	int16_t slot;                /* peer slot asking it, -1 idle */
};

struct pfreq {
	bool used;
	uint32_t reqid;
	uint32_t n;
	uint64_t sent_ms, deadline;
	struct wire_pktkey k[PKTFETCH_REQ_KEYS];
};

struct pfpeer {
	bool used;
	int id;
	uint64_t busy_until;
	uint64_t dry_gen;            /* == idle_gen: nothing to ask it */
	size_t cursor;
	struct pfreq req[PKTFETCH_PER_PEER];
};

struct pktfetch {
	struct pktfetch_ops ops;
	uint64_t seed;
	struct pfkey *k;
	size_t n, cap;
	uint32_t *ix;                /* position + 1, 0 empty */
	size_t ixmask;
	struct pfpeer *peers;        /* PKTFETCH_MAX_PEERS */
	size_t npeers;
	size_t rot;
	uint32_t next_reqid;
	uint64_t idle_gen;
	uint64_t last_sweep, last_dry_reset;
	struct pktfetch_stats st;
};

/* ---- key index ---- */

static size_t khash(const struct pktfetch *pf, uint32_t ts, uint32_t id)
{
	uint64_t h = ((uint64_t)ts << 32 | id) ^ pf->seed;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return (size_t)h;
}

static size_t ix_find(const struct pktfetch *pf, uint32_t ts, uint32_t id)
{
	size_t i = khash(pf, ts, id) & pf->ixmask;
	if (!pf->ix)
		return SIZE_MAX;
	while (pf->ix[i]) {
		const struct pfkey *e = &pf->k[pf->ix[i] - 1];
		if (e->ts == ts && e->id == id)
			return i;
		i = (i + 1) & pf->ixmask;
	}
	return SIZE_MAX;
}

static void ix_put(struct pktfetch *pf, size_t pos)
{
	size_t i = khash(pf, pf->k[pos].ts, pf->k[pos].id) & pf->ixmask;
	while (pf->ix[i])
		i = (i + 1) & pf->ixmask;
	pf->ix[i] = (uint32_t)pos + 1;
}

/* Empty index slot i, shifting back the entries of its probe run. */
static void ix_del(struct pktfetch *pf, size_t i)
{
	size_t j = i;
	for (;;) {
		j = (j + 1) & pf->ixmask;
		if (!pf->ix[j])
			break;
		const struct pfkey *e = &pf->k[pf->ix[j] - 1];
		size_t h = khash(pf, e->ts, e->id) & pf->ixmask;
		/* the entry at j may move to i unless its home is in (i, j] */
		bool stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
		if (!stays) {
			pf->ix[i] = pf->ix[j];
			i = j;
		}
	}
	pf->ix[i] = 0;
}

static void ix_rebuild(struct pktfetch *pf, size_t slots)
{
	free(pf->ix);
	pf->ix = xcalloc(slots, sizeof(*pf->ix));
	pf->ixmask = slots - 1;
	for (size_t p = 0; p < pf->n; p++)
		ix_put(pf, p);
}

static bool key_grow(struct pktfetch *pf)
{
	if (pf->n < pf->cap)
		return true;
	if (pf->cap >= PKTFETCH_MAX_KEYS)
		return false;
	size_t cap = pf->cap ? pf->cap * 2 : KEYS_MIN;
	pf->k = xrealloc(pf->k, cap * sizeof(*pf->k));
	pf->cap = cap;
	ix_rebuild(pf, cap * 2);
	return true;
}

static struct pfkey *key_get(const struct pktfetch *pf, uint32_t ts,
                             uint32_t id)
{
	size_t i = ix_find(pf, ts, id);
	return i == SIZE_MAX ? NULL : &pf->k[pf->ix[i] - 1];
}

/* Remove the key at position pos (the last one moves there). */
static void key_del(struct pktfetch *pf, size_t pos)
{
	size_t i = ix_find(pf, pf->k[pos].ts, pf->k[pos].id);
	ix_del(pf, i);
	size_t last = pf->n - 1;
	if (pos != last) {
		size_t j = ix_find(pf, pf->k[last].ts, pf->k[last].id);
		pf->k[pos] = pf->k[last];
		pf->ix[j] = (uint32_t)pos + 1;
	}
	pf->n--;
	if (pf->n == 0) {
		/* nothing wanted: give the memory back */
		free(pf->k);
		free(pf->ix);
		pf->k = NULL;
		pf->ix = NULL;
		pf->cap = 0;
		pf->ixmask = 0;
	}
}

/* ---- peers ---- */

static struct pfpeer *peer_get(const struct pktfetch *pf, int id, int *slot)
{
	for (size_t s = 0; s < PKTFETCH_MAX_PEERS; s++)
		if (pf->peers[s].used && pf->peers[s].id == id) {
			if (slot)
				*slot = (int)s;
			return &pf->peers[s];
		}
	return NULL;
}

/* Key became askable again (by someone). */
static void idle_more(struct pktfetch *pf)
{
	pf->idle_gen++;
}

/* The keys of request r of peer slot s that it is still asking go back
 * to idle; tried marks them as asked in vain there. */
static void req_close(struct pktfetch *pf, int s, struct pfreq *r, bool tried)
{
	for (uint32_t i = 0; i < r->n; i++) {
		struct pfkey *e = key_get(pf, r->k[i].timestamp, r->k[i].id);
		if (!e || e->slot != s)
			continue;
		e->slot = -1;
		if (tried)
			e->tried |= 1ULL << s;
	}
	r->used = false;
	r->n = 0;
	pf->st.outstanding--;
	idle_more(pf);
}

/* ---- asking ---- */

/* Up to PKTFETCH_REQ_KEYS idle keys not tried on slot s into r->k (now
 * asked by s), walking from p->cursor within *budget entries.  Keys found
 * held are removed.  Sets p dry after a whole round without one. */
static void collect(struct pktfetch *pf, int s, struct pfpeer *p,
                    struct pfreq *r, size_t *budget, uint64_t now_ms)
{
	size_t walked = 0;
	uint64_t bit = 1ULL << s;

	r->n = 0;
	while (r->n < PKTFETCH_REQ_KEYS && *budget > 0 && pf->n > 0 &&
	       walked < pf->n) {
		if (p->cursor >= pf->n)
			p->cursor = 0;
		struct pfkey *e = &pf->k[p->cursor];
		(*budget)--;
		if (e->slot >= 0 || (e->tried & bit)) {
			p->cursor++;
			walked++;
			continue;
		}
		struct wire_pktkey k = {e->ts, e->id};
		if (pf->ops.have(pf->ops.ctx, k)) {
			/* the last one moves here: look at this place again */
			pf->st.delivered++;
			key_del(pf, p->cursor);
			continue;
		}
		walked++;
		r->k[r->n++] = k;
		if (e->tried)
			pf->st.reasked++;
		e->slot = (int16_t)s;
		e->asked_ms = now_ms ? now_ms : 1;
		p->cursor++;
	}
	if (r->n == 0 && (pf->n == 0 || walked >= pf->n))
		p->dry_gen = pf->idle_gen;
}

static void pump(struct pktfetch *pf, uint64_t now_ms)
{
	size_t budget = PKTFETCH_SCAN_MAX;

	if (pf->n == 0 || pf->npeers == 0)
		return;
	size_t start = pf->rot++;
	for (size_t i = 0; i < PKTFETCH_MAX_PEERS && budget > 0; i++) {
		int s = (int)((start + i) % PKTFETCH_MAX_PEERS);
		struct pfpeer *p = &pf->peers[s];
		if (!p->used || p->busy_until > now_ms ||
		    p->dry_gen == pf->idle_gen)
			continue;
		for (size_t q = 0; q < PKTFETCH_PER_PEER && budget > 0; q++) {
			struct pfreq *r = &p->req[q];
			if (r->used)
				continue;
			collect(pf, s, p, r, &budget, now_ms);
			if (r->n == 0)
				break;
			if (++pf->next_reqid == 0)
				pf->next_reqid = 1;
			r->used = true;
			r->reqid = pf->next_reqid;
			r->sent_ms = now_ms;
			r->deadline = now_ms + PKTFETCH_TIMEOUT_MS;
			pf->st.outstanding++;
			pf->st.requests++;
			pf->st.keys_asked += r->n;
			pf->ops.send(pf->ops.ctx, p->id, r->reqid, r->k, r->n);
			if (r->n < PKTFETCH_REQ_KEYS)
				break; /* nothing more for it now */
		}
	}
}

/* ---- API ---- */

struct pktfetch *pktfetch_new(const struct pktfetch_ops *ops, uint64_t seed)
{
	struct pktfetch *pf = xcalloc(1, sizeof(*pf));
	pf->ops = *ops;
	pf->seed = seed;
	pf->peers = xcalloc(PKTFETCH_MAX_PEERS, sizeof(*pf->peers));
	pf->idle_gen = 1;
	return pf;
}

void pktfetch_free(struct pktfetch *pf)
{
	if (!pf)
		return;
	free(pf->k);
	free(pf->ix);
	free(pf->peers);
	free(pf);
}

int pktfetch_peer_add(struct pktfetch *pf, int peer, uint64_t now_ms)
{
	if (peer_get(pf, peer, NULL))
		return E_DUP;
	for (size_t s = 0; s < PKTFETCH_MAX_PEERS; s++) {
		struct pfpeer *p = &pf->peers[s];
		if (p->used)
			continue;
		memset(p, 0, sizeof(*p));
		p->used = true;
		p->id = peer;
		pf->npeers++;
		pump(pf, now_ms);
		return E_OK;
	}
	return E_NOMEM;
}

void pktfetch_peer_del(struct pktfetch *pf, int peer, uint64_t now_ms)
{
	int s;
	struct pfpeer *p = peer_get(pf, peer, &s);
	if (!p)
		return;
	for (size_t q = 0; q < PKTFETCH_PER_PEER; q++)
		if (p->req[q].used)
			req_close(pf, s, &p->req[q], false);
	/* the slot's bit may name another peer next */
	for (size_t i = 0; i < pf->n; i++)
		pf->k[i].tried &= ~(1ULL << s);
	p->used = false;
	pf->npeers--;
	idle_more(pf);
	pump(pf, now_ms);
}

size_t pktfetch_want(struct pktfetch *pf, const struct wire_pktkey *keys,
                     size_t n, uint64_t now_ms)
{
	size_t got = 0;
	bool more = false;

	for (size_t i = 0; i < n; i++) {
		struct pfkey *e = key_get(pf, keys[i].timestamp, keys[i].id);
		if (e) {
			e->wanted_ms = now_ms;
			if (e->slot < 0 && e->tried &&
			    now_ms >= e->asked_ms + PKTFETCH_REASK_MS) {
				e->tried = 0;
				more = true;
			}
			got++;
			continue;
		}
		if (!key_grow(pf)) {
			pf->st.refused++;
			continue;
		}
		e = &pf->k[pf->n];
		memset(e, 0, sizeof(*e));
		e->ts = keys[i].timestamp;
		e->id = keys[i].id;
		e->slot = -1;
		e->wanted_ms = now_ms;
		ix_put(pf, pf->n);
		pf->n++;
		more = true;
		got++;
	}
	if (more)
		idle_more(pf);
	pump(pf, now_ms);
	return got;
}

static struct pfreq *req_find(struct pfpeer *p, uint32_t reqid)
{
	for (size_t q = 0; q < PKTFETCH_PER_PEER; q++)
		if (p->req[q].used && p->req[q].reqid == reqid)
			return &p->req[q];
	return NULL;
}

bool pktfetch_on_reply(struct pktfetch *pf, int peer, uint32_t reqid,
                       uint64_t now_ms)
{
	struct pfpeer *p = peer_get(pf, peer, NULL);
	struct pfreq *r = p ? req_find(p, reqid) : NULL;
	if (!r) {
		pf->st.unsolicited++;
		return false;
	}
	/* delivering: wait on, within the cap */
	uint64_t d = now_ms + PKTFETCH_TIMEOUT_MS;
	uint64_t cap = r->sent_ms + PKTFETCH_WAIT_MAX_MS;
	if (d > cap)
		d = cap;
	if (d > r->deadline)
		r->deadline = d;
	return true;
}

bool pktfetch_on_miss(struct pktfetch *pf, int peer, uint32_t reqid,
                      uint8_t flags, const uint8_t *keys, uint32_t count,
                      uint64_t now_ms)
{
	int s;
	struct pfpeer *p = peer_get(pf, peer, &s);
	struct pfreq *r = p ? req_find(p, reqid) : NULL;
	if (!r) {
		pf->st.unsolicited++;
		return false;
	}
	if (flags & WIRE_PKTMISS_BUSY) {
		/* not looked up: others get them, this peer rests */
		pf->st.busy++;
		p->busy_until = now_ms + PKTFETCH_BUSY_MS;
		for (uint32_t i = 0; i < count; i++) {
			struct wire_pktkey k = wire_pktkey_at(keys, i);
			struct pfkey *e = key_get(pf, k.timestamp, k.id);
			if (e && e->slot == s)
				e->slot = -1;
		}
	}
	for (uint32_t i = 0; i < r->n; i++) {
		struct pfkey *e = key_get(pf, r->k[i].timestamp, r->k[i].id);
		if (e && e->slot == s && pf->ops.have(pf->ops.ctx, r->k[i])) {
			pf->st.delivered++;
			key_del(pf, (size_t)(e - pf->k));
		}
	}
	req_close(pf, s, r, true);
	pump(pf, now_ms);
	return true;
}

void pktfetch_tick(struct pktfetch *pf, uint64_t now_ms)
{
	for (size_t s = 0; s < PKTFETCH_MAX_PEERS; s++) {
		struct pfpeer *p = &pf->peers[s];
		if (!p->used)
			continue;
		for (size_t q = 0; q < PKTFETCH_PER_PEER; q++) {
			struct pfreq *r = &p->req[q];
			if (r->used && now_ms >= r->deadline) {
				pf->st.timeouts++;
				req_close(pf, (int)s, r, true);
			}
		}
	}
	if (now_ms >= pf->last_sweep + SWEEP_MS) {
		pf->last_sweep = now_ms;
		for (size_t i = 0; i < pf->n;) {
			struct pfkey *e = &pf->k[i];
			if (e->slot < 0 &&
			    now_ms >= e->wanted_ms + PKTFETCH_KEY_TTL_MS) {
				pf->st.expired++;
				key_del(pf, i);
				continue;
			}
			i++;
		}
	}
	if (now_ms >= pf->last_dry_reset + DRY_RESET_MS) {
		pf->last_dry_reset = now_ms;
		idle_more(pf);
	}
	pump(pf, now_ms);
}

size_t pktfetch_peers(const struct pktfetch *pf)
{
	return pf->npeers;
}

bool pktfetch_wanted(const struct pktfetch *pf, struct wire_pktkey k)
{
	return key_get(pf, k.timestamp, k.id) != NULL;
}

void pktfetch_get_stats(const struct pktfetch *pf, struct pktfetch_stats *st)
{
	*st = pf->st;
	st->keys = pf->n;
	st->peers = pf->npeers;
}

size_t pktfetch_mem(const struct pktfetch *pf)
{
	return sizeof(*pf) + PKTFETCH_MAX_PEERS * sizeof(struct pfpeer) +
	       pf->cap * sizeof(struct pfkey) +
	       (pf->ix ? (pf->ixmask + 1) * sizeof(uint32_t) : 0);
}

#define CHK(c) do { if (!(c)) return __LINE__; } while (0)

int pktfetch_debug_check(const struct pktfetch *pf)
{
	size_t used = 0, outstanding = 0, asking = 0;

	CHK(pf->n <= pf->cap && pf->cap <= PKTFETCH_MAX_KEYS);
	if (pf->ix) {
		for (size_t i = 0; i <= pf->ixmask; i++)
			used += pf->ix[i] != 0;
		CHK(used == pf->n);
		CHK(pf->ixmask + 1 >= 2 * pf->cap);
	} else {
		CHK(pf->n == 0);
	}
	for (size_t i = 0; i < pf->n; i++) {
		const struct pfkey *e = &pf->k[i];
		size_t j = ix_find(pf, e->ts, e->id);
		CHK(j != SIZE_MAX && pf->ix[j] == i + 1);
		if (e->slot >= 0) {
			const struct pfpeer *p = &pf->peers[e->slot];
			bool in = false;
			CHK(p->used);
			for (size_t q = 0; q < PKTFETCH_PER_PEER && !in; q++)
				for (uint32_t m = 0; p->req[q].used &&
				     m < p->req[q].n; m++)
					if (p->req[q].k[m].timestamp == e->ts &&
					    p->req[q].k[m].id == e->id)
						in = true;
			CHK(in);
			asking++;
		}
		for (size_t s = 0; s < PKTFETCH_MAX_PEERS; s++)
			CHK(!(e->tried >> s & 1) || pf->peers[s].used);
	}
	size_t np = 0, inreq = 0;
	for (size_t s = 0; s < PKTFETCH_MAX_PEERS; s++) {
		const struct pfpeer *p = &pf->peers[s];
		if (!p->used)
			continue;
		np++;
		for (size_t q = 0; q < PKTFETCH_PER_PEER; q++) {
			if (!p->req[q].used)
				continue;
			outstanding++;
			CHK(p->req[q].n >= 1 && p->req[q].n <= PKTFETCH_REQ_KEYS);
			for (uint32_t m = 0; m < p->req[q].n; m++) {
				const struct pfkey *e = key_get(
				        pf, p->req[q].k[m].timestamp,
				        p->req[q].k[m].id);
				if (e && e->slot == (int)s)
					inreq++;
			}
		}
	}
	CHK(np == pf->npeers);
	CHK(outstanding == pf->st.outstanding);
	CHK(inreq == asking);
	return 0;
}

/* ---- answering budget ---- */

static void serve_fill(struct pktserve *s, uint64_t now_ms)
{
	if (!s->init) {
		s->init = true;
		s->keys = PKTSERVE_KEY_BURST;
		s->bytes = PKTSERVE_BYTE_BURST;
		s->last_ms = now_ms;
		return;
	}
	if (now_ms <= s->last_ms)
		return;
	double dt = (double)(now_ms - s->last_ms) / 1000.0;
	s->last_ms = now_ms;
	s->keys += dt * PKTSERVE_KEY_RATE;
	if (s->keys > PKTSERVE_KEY_BURST)
		s->keys = PKTSERVE_KEY_BURST;
	s->bytes += dt * PKTSERVE_BYTE_RATE;
	if (s->bytes > PKTSERVE_BYTE_BURST)
		s->bytes = PKTSERVE_BYTE_BURST;
}

bool pktserve_request(struct pktserve *s, uint32_t count, uint64_t now_ms)
{
	serve_fill(s, now_ms);
	if (s->keys < (double)count)
		return false;
	s->keys -= (double)count;
	return true;
}

bool pktserve_bytes(struct pktserve *s, size_t used, size_t len,
                    uint64_t now_ms)
{
	serve_fill(s, now_ms);
	if (used > 0 && used + len > PKTSERVE_ANSWER_MAX)
		return false;
	if (s->bytes < (double)len)
		return false;
	s->bytes -= (double)len;
	return true;
}
