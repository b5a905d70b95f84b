/* fhold.c - the future hold (fhold.h).
 *
 * Entries live in a pool (grown up to max_count, indices, free list).
 * Three views of them: a binary min-heap by timestamp (release, oldest
 * first), one list per priority class (eviction, lowest class first,
 * newest first within it) and a chained hash table by packet hash (one
 * copy per packet).  Senders: a small table of per-sender counts for the
 * half share; senders past FHOLD_SENDERS share one extra slot.
 */
#include "core/fhold.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/packet.h"
#include "core/util.h"

#define NIL (-1)

struct fent {
	uint8_t *pkt;
	uint32_t len, ts;
	int peer;
	int32_t cprev, cnext;        /* class list; cnext = free list too */
	int32_t hnext;               /* hash chain */
	uint32_t hpos;               /* position in the heap */
	uint16_t sender;             /* index in senders[] */
	uint8_t cls;
	uint8_t hash[32];
};

struct sender {
	int peer;
	size_t count, bytes;         /* count 0: slot free */
};

struct fhold {
	size_t max_bytes, max_count;
	struct fent *e;
	size_t ecap;
	int32_t free_head;
	int32_t *heap;               /* entry indices, min ts at [0] */
	size_t n;
	int32_t chead[FHOLD_CLASSES], ctail[FHOLD_CLASSES];
	int32_t *heads;              /* hash buckets */
	size_t nheads;
	struct sender senders[FHOLD_SENDERS + 1]; /* last: the rest */
	struct fhold_stats st;
};

struct fhold *fhold_new(size_t max_bytes, size_t max_count)
{
	struct fhold *h = xcalloc(1, sizeof(*h));
	h->max_bytes = max_bytes ? max_bytes : 1;
	h->max_count = max_count ? max_count : 1;
	h->free_head = NIL;
	for (int c = 0; c < FHOLD_CLASSES; c++)
		h->chead[c] = h->ctail[c] = NIL;
	h->nheads = 64;
	while (h->nheads < h->max_count && h->nheads < (1u << 18))
		h->nheads <<= 1;
	h->heads = xmalloc(h->nheads * sizeof(*h->heads));
	for (size_t i = 0; i < h->nheads; i++)
		h->heads[i] = NIL;
	return h;
}

void fhold_free(struct fhold *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++)
		free(h->e[h->heap[i]].pkt);
	free(h->e);
	free(h->heap);
	free(h->heads);
	free(h);
}

static size_t hbucket(const struct fhold *h, const uint8_t hash[32])
{
	return (size_t)(le64(hash) & (h->nheads - 1));
}

/* ---- heap ---- */

static bool before(const struct fhold *h, int32_t a, int32_t b)
{
	return h->e[a].ts < h->e[b].ts;
}

static void heap_set(struct fhold *h, size_t pos, int32_t i)
{
	h->heap[pos] = i;
	h->e[i].hpos = (uint32_t)pos;
}

static void sift_up(struct fhold *h, size_t pos)
{
	int32_t i = h->heap[pos];
	while (pos > 0) {
		size_t up = (pos - 1) / 2;
		if (!before(h, i, h->heap[up]))
			break;
		heap_set(h, pos, h->heap[up]);
		pos = up;
	}
	heap_set(h, pos, i);
}

static void sift_down(struct fhold *h, size_t pos)
{
	int32_t i = h->heap[pos];
	for (;;) {
		size_t l = 2 * pos + 1, m = pos;
		int32_t best = i;
		if (l < h->n && before(h, h->heap[l], best)) {
			m = l;
			best = h->heap[l];
		}
		if (l + 1 < h->n && before(h, h->heap[l + 1], best)) {
			m = l + 1;
			best = h->heap[l + 1];
		}
		if (m == pos)
			break;
		heap_set(h, pos, best);
		pos = m;
	}
	heap_set(h, pos, i);
}

/* ---- senders ---- */

static uint16_t sender_of(struct fhold *h, int peer)
{
	int free_slot = -1;
	for (int k = 0; k < FHOLD_SENDERS; k++) {
		if (h->senders[k].count && h->senders[k].peer == peer)
			return (uint16_t)k;
		if (!h->senders[k].count && free_slot < 0)
			free_slot = k;
	}
	if (free_slot < 0)
		return FHOLD_SENDERS;
	h->senders[free_slot].peer = peer;
	return (uint16_t)free_slot;
}

/* ---- removal ---- */

static void unlink_entry(struct fhold *h, int32_t i)
{
	struct fent *x = &h->e[i];
	/* class list */
	if (x->cprev != NIL)
		h->e[x->cprev].cnext = x->cnext;
	else
		h->chead[x->cls] = x->cnext;
	if (x->cnext != NIL)
		h->e[x->cnext].cprev = x->cprev;
	else
		h->ctail[x->cls] = x->cprev;
	/* hash chain */
	int32_t *pp = &h->heads[hbucket(h, x->hash)];
	while (*pp != i)
		pp = &h->e[*pp].hnext;
	*pp = x->hnext;
	/* heap */
	size_t pos = x->hpos;
	h->n--;
	if (pos < h->n) {
		int32_t j = h->heap[h->n];
		heap_set(h, pos, j);
		sift_down(h, pos);
		sift_up(h, h->e[j].hpos);
	}
	/* accounting */
	size_t cost = x->len + FHOLD_ENTRY_COST;
	struct sender *s = &h->senders[x->sender];
	s->count--;
	s->bytes -= cost;
	h->st.count--;
	h->st.bytes -= cost;
	x->pkt = NULL;
	x->cnext = h->free_head;
	h->free_head = i;
}

static void drop_entry(struct fhold *h, int32_t i)
{
	uint8_t *p = h->e[i].pkt;
	unlink_entry(h, i);
	free(p);
}

static bool full(const struct fhold *h, size_t cost)
{
	return h->st.count + 1 > h->max_count ||
	       h->st.bytes + cost > h->max_bytes;
}

/* ---- public ---- */

int fhold_put(struct fhold *h, const uint8_t *pkt, size_t len, uint32_t ts,
              int priority, const uint8_t hash[32], int peer)
{
	size_t cost = len + FHOLD_ENTRY_COST;
	int cls = priority < 0 ? 0 :
	          priority >= FHOLD_CLASSES - 1 ? FHOLD_CLASSES - 1 : priority;

	for (int32_t i = h->heads[hbucket(h, hash)]; i != NIL;
	     i = h->e[i].hnext)
		if (!memcmp(h->e[i].hash, hash, 32))
			return E_DUP;
	uint16_t si = sender_of(h, peer);
	struct sender *s = &h->senders[si];
	if (cost > h->max_bytes / 2 ||
	    (peer >= 0 && (s->bytes + cost > h->max_bytes / 2 ||
	                   s->count + 1 > h->max_count / 2 + 1))) {
		h->st.refused++;
		return E_NOMEM;
	}
	while (full(h, cost)) {
		int low = 0;
		while (low < FHOLD_CLASSES && h->chead[low] == NIL)
			low++;
		if (low >= cls) {
			h->st.refused++;
			return E_NOMEM;
		}
		/* newest of the lowest class: furthest from being due */
		drop_entry(h, h->ctail[low]);
		h->st.evicted++;
	}
	int32_t i;
	if (h->free_head != NIL) {
		i = h->free_head;
		h->free_head = h->e[i].cnext;
	} else {
		if (h->ecap == (size_t)INT32_MAX)
			return E_NOMEM;
		if (h->ecap == 0 || (size_t)h->n == h->ecap) {
			size_t cap = h->ecap ? h->ecap * 2 : 64;
			h->e = xrealloc(h->e, cap * sizeof(*h->e));
			h->heap = xrealloc(h->heap, cap * sizeof(*h->heap));
			for (size_t k = cap; k-- > h->ecap;) {
				h->e[k].cnext = h->free_head;
				h->free_head = (int32_t)k;
			}
			h->ecap = cap;
		}
		i = h->free_head;
		h->free_head = h->e[i].cnext;
	}
	struct fent *x = &h->e[i];
	x->pkt = xmalloc(len);
	memcpy(x->pkt, pkt, len);
	x->len = (uint32_t)len;
	x->ts = ts;
	x->peer = peer;
	x->cls = (uint8_t)cls;
	x->sender = si;
	memcpy(x->hash, hash, 32);
	/* class list: at the tail */
	x->cnext = NIL;
	x->cprev = h->ctail[cls];
	if (x->cprev != NIL)
		h->e[x->cprev].cnext = i;
	else
		h->chead[cls] = i;
	h->ctail[cls] = i;
	/* hash */
	size_t b = hbucket(h, hash);
	x->hnext = h->heads[b];
	h->heads[b] = i;
	/* heap */
	heap_set(h, h->n, i);
	h->n++;
	sift_up(h, h->n - 1);
	s->count++;
	s->bytes += cost;
	h->st.count++;
	h->st.bytes += cost;
	h->st.held++;
	return E_OK;
}

size_t fhold_release(struct fhold *h, uint32_t due, fhold_cb cb, void *arg)
{
	size_t k = 0;
	while (h->n > 0 && h->e[h->heap[0]].ts <= due) {
		int32_t i = h->heap[0];
		struct fent x = h->e[i];
		unlink_entry(h, i);
		h->st.released++;
		cb(arg, x.pkt, x.len, x.peer);
		free(x.pkt);
		k++;
	}
	return k;
}

uint32_t fhold_next(const struct fhold *h)
{
	return h->n ? h->e[h->heap[0]].ts : UINT32_MAX;
}

void fhold_get_stats(const struct fhold *h, struct fhold_stats *st)
{
	*st = h->st;
}
