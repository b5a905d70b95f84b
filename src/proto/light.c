/* light.c - light filter matching and the omission check (light.h).
 * Pure functions: no I/O, no clock, no allocation.
 */
#include "proto/light.h"

#include <stdlib.h>
#include <string.h>

#include "core/check.h"

bool light_filter_selective(const struct wire_lfilter *f)
{
	return f->la > 0 || f->lb > 0 || f->plen == PACKET_PUBKEY_LEN;
}

bool light_filter_match(const struct wire_lfilter *f,
                        const struct packet_view *pv, int priority)
{
	if (f->la && (pv->len_a != f->la || memcmp(pv->tag_a, f->tag_a, f->la)))
		return false;
	if (f->lb && (pv->len_b != f->lb || memcmp(pv->tag_b, f->tag_b, f->lb)))
		return false;
	if (f->plen == PACKET_PUBKEY_LEN &&
	    (pv->plen != PACKET_PUBKEY_LEN ||
	     memcmp(pv->pubkey, f->pubkey, PACKET_PUBKEY_LEN)))
		return false;
	if (priority < (int)f->minpriority)
		return false;
	if (pv->amount_a < f->min_a || pv->amount_a > f->max_a ||
	    pv->amount_b < f->min_b || pv->amount_b > f->max_b)
		return false;
	return pv->timestamp >= f->since;
}

enum light_verdict light_check(const uint8_t *pkt, size_t len, uint32_t now,
                               int txpowbits, uint32_t purgetime,
                               const struct wire_lfilter *f,
                               const struct wire_lget *g, uint8_t hash[32])
{
	struct packet_view pv;
	struct pow_eval pe;
	enum drop_reason why;
	bool match;

	why = packet_check(pkt, len, now, txpowbits, purgetime, &pv, &pe);
	if (why == DROP_FUTURE || why == DROP_EXPIRED)
		return LIGHT_SKIP;
	if (why != DROP_NONE)
		return LIGHT_INVALID;
	if (f)
		match = light_filter_match(f, &pv, pe.priority);
	else
		match = g->by_hash ? !memcmp(pe.hash, g->hash, 32)
		                   : pe.id == g->id;
	if (!match)
		return LIGHT_NOMATCH;
	if (hash)
		memcpy(hash, pe.hash, 32);
	return LIGHT_OK;
}

static int cmp_hash(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

void light_sort_hashes(uint8_t (*hash)[32], size_t n)
{
	if (n > 1)
		qsort(hash, n, 32, cmp_hash);
}

size_t light_omissions(const struct light_answer *a, size_t na,
                       const struct light_known *known, size_t nk,
                       uint32_t asked_at,
                       void (*cb)(void *arg, size_t answer, size_t k),
                       void *arg)
{
	size_t calls = 0;
	for (size_t i = 0; i < na; i++) {
		if (!a[i].complete)
			continue;
		for (size_t k = 0; k < nk; k++) {
			if ((uint64_t)known[k].timestamp + LIGHT_OMIT_SLACK >
			    asked_at)
				continue;
			if (!a[i].n || !bsearch(known[k].hash, a[i].hash, a[i].n,
			                        32, cmp_hash)) {
				cb(arg, i, k);
				calls++;
			}
		}
	}
	return calls;
}
