/* metrics.h - what the simulator measures per packet against the
 * shortest-path bound (tools/sim, docs/bench.md "sim").
 *
 * A tracked packet (1 in `sample` created packets, so that nodes x
 * tracked stays bounded) records, per node, the ms from its creation to
 * its first arrival there, and the shortest-path time from its creator to
 * that node: Dijkstra over the base one-way latencies of the links up at
 * creation (jitter, bandwidth and processing excluded, so the bound is a
 * lower bound no protocol can beat).  At the end each tracked packet gives
 * its propagation time to 50 %, 99 % and 100 % of the nodes it could reach
 * (up and connected at creation) and the bound for the same share, and
 * each of its deliveries the ratio delivery time / shortest path.
 */
#ifndef SIM_METRICS_H
#define SIM_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MET_NONE UINT32_MAX      /* not arrived / unreachable */

/* The graph Dijkstra runs over: node i's links are adj[off[i]..off[i+1])
 * to node to[k] with latency lat[k] ms; up[i] false skips node i. */
struct met_graph {
	int n;
	const uint32_t *off;
	const int *to;
	const uint32_t *lat;
	const bool *up;              /* NULL: all up */
	const bool *link_up;         /* per adjacency entry, NULL: all up */
};

/* dist[i] = shortest one-way time from src to node i (MET_NONE when
 * unreachable).  Uses scratch of its own (met_init). */
void met_dijkstra(const struct met_graph *gr, int src, uint32_t *dist);

/* Tracking: up to max_tracked packets over n nodes. */
void met_init(int n, uint32_t max_tracked);
void met_free(void);
/* Start tracking a packet created at node `origin` (class: 0 honest,
 * 1 spam); returns its tracking index or -1 (table full).  Runs
 * Dijkstra over gr. */
int met_track(const struct met_graph *gr, int origin, int cls);
/* Node `node` got tracked packet t, `ms` after its creation (first
 * arrival counts). */
void met_arrive(int t, int node, uint32_t ms);
uint32_t met_tracked(void);

/* Figures over tracked packets of class cls (-1: all). */
struct met_figs {
	uint32_t packets;            /* tracked packets of the class */
	uint32_t incomplete;         /* some reachable node never got it */
	double prop_ms[3][2];        /* [50 %, 99 %, 100 %][p50, p99 over packets] */
	double bound_ms[3][2];
	double ratio[3][2];          /* per packet prop / bound */
	double dratio[2];            /* per delivery: time / shortest path, p50 p99 */
	double dratio_max;
};
void met_figures(int cls, struct met_figs *f);

/* p-th percentile (0..100) of v[0..n) (sorted in place); -1 when n 0. */
double met_pct_u32(uint32_t *v, size_t n, double p);
double met_pct_dbl(double *v, size_t n, double p);

#endif
