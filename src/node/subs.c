/* subs.c - the registry of live subscriptions (subs.h).
 *
 * Lists: one per tagA bucket (FNV-1a of tagA mod SUBS_BUCKETS) and one for
 * the subscriptions without a tagA.  Per-address counts are found by a
 * walk of the registry on subs_add only (bounded by max_total).
 */
#include "node/subs.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

struct subs {
	struct sub *lists[SUBS_BUCKETS + 1];
	size_t count;
	size_t max_total, max_per_addr;
};

void sub_filter_init(struct sub_filter *f)
{
	memset(f, 0, sizeof *f);
	f->max_a = AMOUNT_MAX;
	f->max_b = AMOUNT_MAX;
}

bool sub_filter_match(const struct sub_filter *f,
                      const struct packet_view *pv, int priority)
{
	if (f->len_a && (pv->len_a != f->len_a ||
	                 memcmp(pv->tag_a, f->tag_a, f->len_a) != 0))
		return false;
	if (f->len_b && (pv->len_b != f->len_b ||
	                 memcmp(pv->tag_b, f->tag_b, f->len_b) != 0))
		return false;
	if (f->has_pk && (pv->plen != PACKET_PUBKEY_LEN || !pv->pubkey ||
	                  memcmp(pv->pubkey, f->pubkey, PACKET_PUBKEY_LEN)))
		return false;
	if (priority < f->minpriority)
		return false;
	return pv->amount_a >= f->min_a && pv->amount_a <= f->max_a &&
	       pv->amount_b >= f->min_b && pv->amount_b <= f->max_b;
}

static size_t bucket_of(const uint8_t *tag, size_t len)
{
	uint32_t h = 2166136261u;

	if (!len)
		return SUBS_BUCKETS;
	for (size_t i = 0; i < len; i++) {
		h ^= tag[i];
		h *= 16777619u;
	}
	return h % SUBS_BUCKETS;
}

struct subs *subs_new(size_t max_total, size_t max_per_addr)
{
	struct subs *r = calloc(1, sizeof *r);

	if (!r)
		return NULL;
	r->max_total = max_total;
	r->max_per_addr = max_per_addr;
	return r;
}

void subs_free(struct subs *r)
{
	free(r);
}

size_t subs_count(const struct subs *r)
{
	return r->count;
}

size_t subs_count_addr(const struct subs *r, const char *addr)
{
	size_t n = 0;

	for (size_t b = 0; b <= SUBS_BUCKETS; b++)
		for (const struct sub *s = r->lists[b]; s; s = s->next)
			if (!strcmp(s->addr, addr))
				n++;
	return n;
}

enum subs_rc subs_add(struct subs *r, struct sub *s)
{
	size_t b;

	if (s->linked)
		return SUBS_OK;
	s->addr[SUBS_ADDR_MAX - 1] = 0;
	if (r->count >= r->max_total)
		return SUBS_FULL;
	if (subs_count_addr(r, s->addr) >= r->max_per_addr)
		return SUBS_ADDR_FULL;
	b = bucket_of(s->f.tag_a, s->f.len_a);
	s->bucket = b;
	s->prev = NULL;
	s->next = r->lists[b];
	if (s->next)
		s->next->prev = s;
	r->lists[b] = s;
	s->linked = true;
	r->count++;
	return SUBS_OK;
}

void subs_remove(struct subs *r, struct sub *s)
{
	if (!s->linked)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		r->lists[s->bucket] = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	s->linked = false;
	r->count--;
}

static size_t match_list(struct sub *s, const struct packet_view *pv,
                         int priority, void (*cb)(struct sub *, void *),
                         void *arg)
{
	size_t n = 0;

	while (s) {
		struct sub *next = s->next;
		if (sub_filter_match(&s->f, pv, priority)) {
			n++;
			cb(s, arg);
		}
		s = next;
	}
	return n;
}

size_t subs_match(struct subs *r, const struct packet_view *pv,
                  int priority, void (*cb)(struct sub *s, void *arg),
                  void *arg)
{
	size_t n = 0;

	if (!r->count)
		return 0;
	if (pv->len_a)
		n += match_list(r->lists[bucket_of(pv->tag_a, pv->len_a)], pv,
		                priority, cb, arg);
	n += match_list(r->lists[SUBS_BUCKETS], pv, priority, cb, arg);
	return n;
}

void subs_foreach(struct subs *r, void (*cb)(struct sub *s, void *arg),
                  void *arg)
{
	for (size_t b = 0; b <= SUBS_BUCKETS; b++)
		for (struct sub *s = r->lists[b], *next; s; s = next) {
			next = s->next;
			cb(s, arg);
		}
}
