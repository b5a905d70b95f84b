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
	uint32_t m = 0;

	if (up >= TL_PEERS)
		return 0;
	if (l->ntrees++ % TL_EXPLORE == 0)
		return 0;
	for (unsigned q = 0; q < TL_PEERS; q++) {
		uint32_t b = 1u << q;
		unsigned n = l->pushed[up][q];
		if (!(peers & b) || q == up || n < TL_MIN)
			continue;
		if (l->kept[up][q] * 100u < n * TL_KEEP_PCT)
			m |= b;
	}
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
}
