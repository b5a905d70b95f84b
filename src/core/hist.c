/* hist.c - fixed-bucket histogram (hist.h). */
#include "core/hist.h"

#include <string.h>

int hist_init(struct hist *h, const double *bounds, size_t nbounds)
{
	memset(h, 0, sizeof(*h));
	if (nbounds == 0 || nbounds > HIST_MAX_BOUNDS)
		return -1;
	for (size_t i = 0; i < nbounds; i++) {
		double b = bounds[i];
		/* finite: b - b is 0 only for finite b (NaN, inf give NaN) */
		if (b - b != 0.0 || (i > 0 && !(b > bounds[i - 1])))
			return -1;
	}
	h->bounds = bounds;
	h->nbounds = nbounds;
	return 0;
}

void hist_observe(struct hist *h, double x)
{
	size_t lo = 0, hi;

	if (!h->bounds || x != x)
		return;
	if (x < 0)
		x = 0;
	/* first bound >= x, or nbounds */
	hi = h->nbounds;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (h->bounds[mid] >= x)
			hi = mid;
		else
			lo = mid + 1;
	}
	h->n[lo]++;
	h->count++;
	h->sum += x;
}

uint64_t hist_cumulative(const struct hist *h, size_t i)
{
	uint64_t c = 0;

	if (i > h->nbounds)
		i = h->nbounds;
	for (size_t k = 0; k <= i; k++)
		c += h->n[k];
	return c;
}

double hist_quantile(const struct hist *h, double q)
{
	double rank, below = 0, lower = 0;

	if (!h->bounds || h->count == 0)
		return 0.0;
	if (q < 0)
		q = 0;
	if (q > 1)
		q = 1;
	rank = q * (double)h->count;
	for (size_t i = 0; i < h->nbounds; i++) {
		double c = (double)h->n[i];
		if (c > 0 && below + c >= rank)
			return lower + (h->bounds[i] - lower) * (rank - below) / c;
		below += c;
		lower = h->bounds[i];
	}
	return h->bounds[h->nbounds - 1];
}
