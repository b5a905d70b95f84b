/* hist.h - a fixed-bucket histogram of non-negative observations, as a
 * Prometheus histogram shows it: for each upper bound the count of
 * observations <= that bound, plus the count and sum of all of them.
 *
 * Sans I/O and allocation-free: the caller owns the struct and the array
 * of bounds (static, ascending, finite).  Used for the propagation lag of
 * received packets (node.c, GET /metrics).
 */
#ifndef DEX_HIST_H
#define DEX_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_MAX_BOUNDS 24

struct hist {
	const double *bounds;          /* nbounds upper bounds, ascending */
	size_t nbounds;
	uint64_t n[HIST_MAX_BOUNDS + 1]; /* per bucket, not cumulative;
	                                  * [nbounds] is above the last bound */
	uint64_t count;
	double sum;
};

/* Set h empty with these bounds.  Returns 0, or -1 (h unusable: every
 * observation is then ignored) when nbounds is 0 or above HIST_MAX_BOUNDS,
 * or the bounds are not finite and strictly ascending. */
int hist_init(struct hist *h, const double *bounds, size_t nbounds);
/* Count x.  A negative x (a sender's clock ahead of ours) counts as 0; a
 * NaN is ignored. */
void hist_observe(struct hist *h, double x);
/* Observations <= bounds[i] (i < nbounds), or all of them (i == nbounds,
 * the +Inf bucket). */
uint64_t hist_cumulative(const struct hist *h, size_t i);
/* The q-quantile (0 <= q <= 1) by linear interpolation inside its bucket,
 * as Prometheus's histogram_quantile: 0 for an empty histogram, the last
 * finite bound when it falls in the +Inf bucket. */
double hist_quantile(const struct hist *h, double q);

#endif
