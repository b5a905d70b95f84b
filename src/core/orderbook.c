/* orderbook.c - DEX_orderbook from the store (orderbook.h, API.md 4.5).
 *
 * Walks the (base, rel) and (rel, base) pair indices with store_query,
 * collects the orders that pass the filters, sorts them with the defined
 * tie rule and keeps the best maxentries of each side.  Owns only the
 * result arrays.
 */
#include "core/orderbook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"

struct collect {
	const struct ob_params *p;
	bool bids;
	struct ob_entry *v;
	size_t n, cap;
};

static bool collect_cb(struct stored *sp, void *arg)
{
	struct collect *c = arg;
	struct packet_view pv;
	struct ob_entry *e;

	if (sp->cancelled)
		return true;
	stored_view(sp, &pv);
	if (pv.amount_a == 0 || pv.amount_b == 0)
		return true;
	if (c->p->excluded && c->p->excluded(sp, c->p->arg))
		return true;
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	e = &c->v[c->n++];
	memset(e, 0, sizeof(*e));
	if (c->bids) {
		e->base = pv.amount_b;
		e->rel = pv.amount_a;
	} else {
		e->base = pv.amount_a;
		e->rel = pv.amount_b;
	}
	e->price = (double)e->rel / (double)e->base;
	e->priority = sp->priority;
	if (pv.plen == PACKET_PUBKEY_LEN) {
		e->has_pubkey = true;
		memcpy(e->pubkey, pv.pubkey, PACKET_PUBKEY_LEN);
	}
	e->timestamp = sp->timestamp;
	memcpy(e->hash, sp->hash, 32);
	e->id = sp->id;
	e->seq = sp->seq;
	return true;
}

static void collect_side(const struct store *s, const struct ob_params *p,
                         bool bids, struct ob_entry **v, size_t *n)
{
	struct collect c = { .p = p, .bids = bids };
	struct store_query q = {
		.pubkey = p->pubkey,
		.minpriority = p->minpriority,
	};

	if (bids) {
		/* packet tags (rel, base); base amount is amountB */
		q.tag_a = p->rel; q.len_a = p->len_rel;
		q.tag_b = p->base; q.len_b = p->len_base;
		q.min_a = p->min_b; q.max_a = p->max_b;
		q.min_b = p->min_a; q.max_b = p->max_a;
	} else {
		q.tag_a = p->base; q.len_a = p->len_base;
		q.tag_b = p->rel; q.len_b = p->len_rel;
		q.min_a = p->min_a; q.max_a = p->max_a;
		q.min_b = p->min_b; q.max_b = p->max_b;
	}
	store_query(s, &q, collect_cb, &c);
	*v = c.v;
	*n = c.n;
}

int orderbook_cmp(const struct ob_entry *a, const struct ob_entry *b,
                  bool bids)
{
	double d = a->price - b->price;

	if (d > ORDERBOOK_PRICE_EPS || d < -ORDERBOOK_PRICE_EPS) {
		if (bids)
			return d > 0 ? -1 : 1;
		return d < 0 ? -1 : 1;
	}
	if (a->base != b->base)
		return a->base > b->base ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq > b->seq ? -1 : 1;
	return 0;
}

static int cmp_asks(const void *x, const void *y)
{
	return orderbook_cmp(x, y, false);
}

static int cmp_bids(const void *x, const void *y)
{
	return orderbook_cmp(x, y, true);
}

size_t orderbook_sort(struct ob_entry *v, size_t n, bool bids,
                      size_t maxentries)
{
	if (maxentries == 0)
		maxentries = ORDERBOOK_DEFAULT_ENTRIES;
	if (n > 1)
		qsort(v, n, sizeof(*v), bids ? cmp_bids : cmp_asks);
	return n < maxentries ? n : maxentries;
}

int orderbook_build(const struct store *s, const struct ob_params *p,
                    struct orderbook *out)
{
	memset(out, 0, sizeof(*out));
	if (p->len_base == 0 || p->len_rel == 0)
		return E_INVAL;
	collect_side(s, p, false, &out->asks, &out->nasks);
	collect_side(s, p, true, &out->bids, &out->nbids);
	out->nasks = orderbook_sort(out->asks, out->nasks, false,
				    p->maxentries);
	out->nbids = orderbook_sort(out->bids, out->nbids, true,
				    p->maxentries);
	return E_OK;
}

void orderbook_fini(struct orderbook *ob)
{
	free(ob->asks);
	free(ob->bids);
	memset(ob, 0, sizeof(*ob));
}

void orderbook_price(char out[ORDERBOOK_PRICE_MAX], double price)
{
	if (price >= 0.00000001 - ORDERBOOK_PRICE_EPS)
		snprintf(out, ORDERBOOK_PRICE_MAX, "%.8f",
			 price + 0.0000000049);
	else
		snprintf(out, ORDERBOOK_PRICE_MAX, "%.15f", price);
}

void orderbook_price15(char out[ORDERBOOK_PRICE_MAX], double price)
{
	snprintf(out, ORDERBOOK_PRICE_MAX, "%.15f", price);
}
