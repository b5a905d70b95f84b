/* metrics.c - the shortest-path bound and propagation figures of the
 * simulator (metrics.h). */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

struct trk {
	int origin, cls;
	uint32_t reach;              /* nodes with a finite bound */
};

static int nn;
static uint32_t maxt, nt;
static struct trk *tk;
static uint32_t *arr, *dst;      /* [t * nn + node] */

/* ---- Dijkstra: binary heap of (dist, node), lazy deletion ---- */

struct hent {
	uint32_t d;
	int v;
};

static struct hent *heap;
static size_t hn, hcap;

static void hpush(uint32_t d, int v)
{
	size_t i;

	if (hn == hcap) {
		hcap = hcap ? 2 * hcap : 1024;
		heap = xrealloc(heap, hcap * sizeof(*heap));
	}
	i = hn++;
	while (i > 0 && heap[(i - 1) / 2].d > d) {
		heap[i] = heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	heap[i] = (struct hent){d, v};
}

static struct hent hpop(void)
{
	struct hent top = heap[0], last = heap[--hn];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= hn)
			break;
		if (c + 1 < hn && heap[c + 1].d < heap[c].d)
			c++;
		if (heap[c].d >= last.d)
			break;
		heap[i] = heap[c];
		i = c;
	}
	if (hn)
		heap[i] = last;
	return top;
}

void met_dijkstra(const struct met_graph *gr, int src, uint32_t *dist)
{
	for (int i = 0; i < gr->n; i++)
		dist[i] = MET_NONE;
	if (gr->up && !gr->up[src])
		return;
	hn = 0;
	dist[src] = 0;
	hpush(0, src);
	while (hn) {
		struct hent e = hpop();

		if (e.d != dist[e.v])
			continue;    /* stale entry */
		for (uint32_t k = gr->off[e.v]; k < gr->off[e.v + 1]; k++) {
			int w = gr->to[k];
			uint32_t nd = e.d + gr->lat[k];

			if ((gr->up && !gr->up[w]) ||
			    (gr->link_up && !gr->link_up[k]))
				continue;
			if (nd < dist[w]) {
				dist[w] = nd;
				hpush(nd, w);
			}
		}
	}
}

/* ---- tracking ---- */

void met_init(int n, uint32_t max_tracked)
{
	nn = n;
	maxt = max_tracked;
	nt = 0;
	tk = xcalloc(maxt ? maxt : 1, sizeof(*tk));
	arr = xmalloc(((size_t)maxt * (size_t)n + 1) * sizeof(*arr));
	dst = xmalloc(((size_t)maxt * (size_t)n + 1) * sizeof(*dst));
}

void met_free(void)
{
	free(tk);
	free(arr);
	free(dst);
	free(heap);
	tk = NULL;
	arr = dst = NULL;
	heap = NULL;
	hn = hcap = 0;
}

int met_track(const struct met_graph *gr, int origin, int cls)
{
	uint32_t *d, *a, reach = 0;

	if (nt == maxt)
		return -1;
	d = dst + (size_t)nt * (size_t)nn;
	a = arr + (size_t)nt * (size_t)nn;
	met_dijkstra(gr, origin, d);
	for (int i = 0; i < nn; i++) {
		a[i] = MET_NONE;
		reach += d[i] != MET_NONE;
	}
	tk[nt] = (struct trk){.origin = origin, .cls = cls, .reach = reach};
	return (int)nt++;
}

void met_arrive(int t, int node, uint32_t ms)
{
	uint32_t *a;

	if (t < 0 || (uint32_t)t >= nt || node < 0 || node >= nn)
		return;
	a = &arr[(size_t)t * (size_t)nn + (size_t)node];
	if (*a == MET_NONE)
		*a = ms;
}

uint32_t met_tracked(void)
{
	return nt;
}

/* ---- percentiles (nearest rank) ---- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmp_flt(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return x < y ? -1 : x > y;
}

static size_t rank(size_t n, double p)
{
	size_t k = (size_t)ceil(p / 100.0 * (double)n);

	return k ? k - 1 : 0;
}

double met_pct_u32(uint32_t *v, size_t n, double p)
{
	if (!n)
		return -1;
	qsort(v, n, sizeof(*v), cmp_u32);
	return v[rank(n, p)];
}

double met_pct_dbl(double *v, size_t n, double p)
{
	if (!n)
		return -1;
	qsort(v, n, sizeof(*v), cmp_dbl);
	return v[rank(n, p)];
}

void met_figures(int cls, struct met_figs *f)
{
	static const double share[3] = {50, 99, 100};
	uint32_t *sa = xmalloc(((size_t)nn + 1) * sizeof(*sa));
	uint32_t *sd = xmalloc(((size_t)nn + 1) * sizeof(*sd));
	double *pv[3], *bv[3], *rv[3];
	size_t np[3] = {0, 0, 0}, nr[3] = {0, 0, 0}, ndr = 0, cap = 0;
	float *dr = NULL;

	memset(f, 0, sizeof(*f));
	for (int x = 0; x < 3; x++) {
		pv[x] = xmalloc(((size_t)nt + 1) * sizeof(double));
		bv[x] = xmalloc(((size_t)nt + 1) * sizeof(double));
		rv[x] = xmalloc(((size_t)nt + 1) * sizeof(double));
	}
	for (uint32_t t = 0; t < nt; t++) {
		const uint32_t *a = arr + (size_t)t * (size_t)nn;
		const uint32_t *d = dst + (size_t)t * (size_t)nn;
		size_t m = 0;
		bool done = true;

		if (cls >= 0 && tk[t].cls != cls)
			continue;
		f->packets++;
		for (int i = 0; i < nn; i++) {
			if (d[i] == MET_NONE)
				continue;
			sa[m] = a[i];
			sd[m++] = d[i];
			if (a[i] == MET_NONE) {
				done = false;
				continue;
			}
			if (i == tk[t].origin || d[i] == 0)
				continue;
			if (ndr == cap) {
				cap = cap ? 2 * cap : 4096;
				dr = xrealloc(dr, cap * sizeof(*dr));
			}
			dr[ndr++] = (float)a[i] / (float)d[i];
		}
		if (!done)
			f->incomplete++;
		if (m < 2)
			continue;
		qsort(sa, m, sizeof(*sa), cmp_u32);
		qsort(sd, m, sizeof(*sd), cmp_u32);
		for (int x = 0; x < 3; x++) {
			size_t k = rank(m, share[x]);

			if (sa[k] == MET_NONE)
				continue;
			pv[x][np[x]] = sa[k];
			bv[x][np[x]++] = sd[k];
			if (sd[k] > 0)
				rv[x][nr[x]++] = (double)sa[k] / (double)sd[k];
		}
	}
	for (int x = 0; x < 3; x++) {
		f->prop_ms[x][0] = met_pct_dbl(pv[x], np[x], 50);
		f->prop_ms[x][1] = met_pct_dbl(pv[x], np[x], 99);
		f->bound_ms[x][0] = met_pct_dbl(bv[x], np[x], 50);
		f->bound_ms[x][1] = met_pct_dbl(bv[x], np[x], 99);
		f->ratio[x][0] = met_pct_dbl(rv[x], nr[x], 50);
		f->ratio[x][1] = met_pct_dbl(rv[x], nr[x], 99);
		free(pv[x]);
		free(bv[x]);
		free(rv[x]);
	}
	if (ndr) {
		qsort(dr, ndr, sizeof(*dr), cmp_flt);
		f->dratio[0] = dr[rank(ndr, 50)];
		f->dratio[1] = dr[rank(ndr, 99)];
		f->dratio_max = dr[ndr - 1];
	} else {
		f->dratio[0] = f->dratio[1] = f->dratio_max = -1;
	}
	free(dr);
	free(sa);
	free(sd);
}
