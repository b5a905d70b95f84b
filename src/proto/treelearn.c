/* treelearn.c - first-packet eager sets learnt from settled trees
 * (treelearn.h). */
#include <string.h>

#include "proto/treelearn.h"

void tl_init(struct tlearn *l)
{
	memset(l, 0, sizeof(*l));
}

void tl_learn(struct tlearn *l, unsigned up, uint32_t pushed, uint32_t lazy)
{
	if (up >= TL_PEERS)
		return;
	for (unsigned q = 0; q < TL_PEERS; q++) {
		uint32_t b = 1u << q;
		if (!(pushed & b) || q == up)
			continue;
		if (l->pushed[up][q] + 1u >= TL_HALVE) {
			l->pushed[up][q] /= 2;
			l->kept[up][q] /= 2;
		}
		l->pushed[up][q]++;
		if (!(lazy & b))
			l->kept[up][q]++;
	}
}

uint32_t tl_predict(struct tlearn *l, unsigned up, uint32_t peers)
{
	return tl_predict_rtt(l, up, peers, 0);
}

uint32_t tl_predict_rtt(struct tlearn *l, unsigned up, uint32_t peers,
                        unsigned pct)
{
	uint32_t m = 0, fresh = 0;

	if (up >= TL_PEERS)
		return 0;
	if (l->ntrees++ % TL_EXPLORE == 0)
		return 0;
	for (unsigned q = 0; q < TL_PEERS; q++) {
		uint32_t b = 1u << q;
		unsigned n = l->pushed[up][q];
		if (!(peers & b) || q == up)
			continue;
		if (n < TL_MIN)
			fresh |= b;
		else if (l->kept[up][q] * 100u < n * TL_KEEP_PCT)
			m |= b;
	}
	/* not counted enough yet: by RTT (the median over all of peers) */
	if (fresh && pct)
		m |= tl_rtt_lazy(l, up, peers, pct) & fresh;
	return m;
}

void tl_forget(struct tlearn *l, unsigned s)
{
	if (s >= TL_PEERS)
		return;
	for (unsigned i = 0; i < TL_PEERS; i++) {
		l->pushed[s][i] = l->kept[s][i] = 0;
		l->pushed[i][s] = l->kept[i][s] = 0;
	}
	l->rtt[s] = 0;
}

void tl_set_rtt(struct tlearn *l, unsigned s, uint64_t ms)
{
	if (s >= TL_PEERS)
		return;
	l->rtt[s] = (uint16_t)(ms == 0 ? 0 : ms > UINT16_MAX ? UINT16_MAX : ms);
}

uint32_t tl_rtt_lazy(const struct tlearn *l, unsigned up, uint32_t peers,
                     unsigned pct)
{
	unsigned v[TL_PEERS], n = 0;

	if (pct == 0)
		return 0;
	/* the known RTTs, sorted (insertion: at most TL_PEERS) */
	for (unsigned q = 0; q < TL_PEERS; q++) {
		if (!(peers & (1u << q)) || l->rtt[q] == 0)
			continue;
		unsigned x = l->rtt[q], i = n++;
		for (; i > 0 && v[i - 1] > x; i--)
			v[i] = v[i - 1];
		v[i] = x;
	}
	if (n <= TL_RTT_KEEP)
		return 0;
	uint64_t lim = (uint64_t)v[(n - 1) / 2] * pct / 100u;
	if (lim < v[TL_RTT_KEEP - 1])
		lim = v[TL_RTT_KEEP - 1];
	if (lim < (uint64_t)v[0] + TL_RTT_SLACK_MS)
		lim = (uint64_t)v[0] + TL_RTT_SLACK_MS;
	uint32_t m = 0;
	for (unsigned q = 0; q < TL_PEERS; q++)
		if ((peers & (1u << q)) && q != up && l->rtt[q] > lim)
			m |= 1u << q;
	return m;
}
