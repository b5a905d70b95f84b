/* evict.c - inbound eviction (see evict.h).
 *
 * The steps of Bitcoin Core's SelectNodeToEvict: remove the protected
 * candidates from the end of the list sorted by each criterion, then group
 * what is left by netgroup and drop the youngest of the largest group
 * (ties: the group whose youngest member is youngest).
 */
#include "proto/evict.h"

#include <stdlib.h>

typedef int (*cmp_fn)(const void *, const void *);

/* Each comparator sorts the most worth keeping last. */
static int by_netgroup(const void *a, const void *b)
{
	const struct evict_cand *x = a, *y = b;
	if (x->netgroup != y->netgroup)
		return x->netgroup < y->netgroup ? -1 : 1;
	return x->connected_ms > y->connected_ms ? -1
	       : x->connected_ms < y->connected_ms;
}

static int by_ping(const void *a, const void *b)
{
	const struct evict_cand *x = a, *y = b;
	if (x->ping_us != y->ping_us)
		return x->ping_us > y->ping_us ? -1 : 1;
	return x->connected_ms > y->connected_ms ? -1
	       : x->connected_ms < y->connected_ms;
}

static int by_packets(const void *a, const void *b)
{
	const struct evict_cand *x = a, *y = b;
	if (x->last_packet_ms != y->last_packet_ms)
		return x->last_packet_ms < y->last_packet_ms ? -1 : 1;
	return x->connected_ms > y->connected_ms ? -1
	       : x->connected_ms < y->connected_ms;
}

static int by_age(const void *a, const void *b)
{
	const struct evict_cand *x = a, *y = b;
	/* youngest first, oldest (worth keeping) last */
	if (x->connected_ms != y->connected_ms)
		return x->connected_ms > y->connected_ms ? -1 : 1;
	return x->id > y->id ? -1 : x->id < y->id;
}

/* Sort by cmp and drop the last k (fewer if n is smaller). */
static size_t protect(struct evict_cand *c, size_t n, cmp_fn cmp, size_t k,
                      int only_known)
{
	qsort(c, n, sizeof(*c), cmp);
	size_t drop = 0;
	while (drop < k && drop < n) {
		const struct evict_cand *e = &c[n - 1 - drop];
		/* a peer that never answered a ping or never delivered a
		 * packet is not protected for it */
		if (only_known == 1 && e->ping_us == UINT64_MAX)
			break;
		if (only_known == 2 && e->last_packet_ms == 0)
			break;
		drop++;
	}
	return n - drop;
}

int evict_select(struct evict_cand *c, size_t n)
{
	n = protect(c, n, by_netgroup, EVICT_PROTECT_NETGROUP, 0);
	n = protect(c, n, by_ping, EVICT_PROTECT_PING, 1);
	n = protect(c, n, by_packets, EVICT_PROTECT_PACKETS, 2);
	n = protect(c, n, by_age, n / 2, 0);
	if (n == 0)
		return -1;
	/* group by netgroup: sort by (netgroup, youngest first) */
	qsort(c, n, sizeof(*c), by_netgroup);
	/* by_netgroup puts the oldest last within a group: scan groups */
	size_t best_start = 0, best_len = 0;
	uint64_t best_young = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		uint64_t young = 0;
		while (j < n && c[j].netgroup == c[i].netgroup) {
			if (c[j].connected_ms >= young)
				young = c[j].connected_ms;
			j++;
		}
		size_t len = j - i;
		if (len > best_len || (len == best_len && young > best_young)) {
			best_start = i;
			best_len = len;
			best_young = young;
		}
		i = j;
	}
	/* within a group by_netgroup sorts youngest first */
	return c[best_start].id;
}
