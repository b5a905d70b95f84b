/* gossip.c - dissemination and sync (see gossip.h, docs/PROTOCOL.md 5).
 *
 * Owns: the pending-fetch table and its timeout FIFO, and per peer the
 * known-set, the announce queue, the GETDATA batch, the ids of the INVs
 * sent to it (v2 peers, for GETBITS), the priority send queue and the
 * catch-up backlog (what it lacks, fed to the queue as it drains).  Reads
 * the store; never writes it.
 */
#include "proto/gossip.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/txpow.h"
#include "core/util.h"
#include "proto/wire.h"

#define MAX_PEERS 1024
/* One peer may hold at most this many of the pending fetches: a peer
 * announcing ids it never delivers cannot fill the table for everyone.
 * Its own limit (gpeer.pcap) starts at PEER_PENDING_START, grows by one per
 * packet it delivers up to PEER_PENDING_MAX, shrinks by one per fetch of it
 * that times out or is answered NOTFOUND (down to PEER_PENDING_MIN), and
 * is halved when the table is under pressure and the peer holds more than
 * its fair share (GOSSIP_PENDING_MAX / peers): those entries are taken
 * back (asked of an alternate or forgotten: reconciliation finds real
 * ones), and the peer is reported to ops->misbehave if its limit was
 * already under PEER_PENDING_START (it failed more than it delivered). */
#define PEER_PENDING_MAX (GOSSIP_PENDING_MAX / 4)
#define PEER_PENDING_START 8192u
#define PEER_PENDING_MIN 64u
/* Pressure: a request found the table full; reclaim at most this often. */
#define RECLAIM_MIN_MS 50u
/* Queued entries per peer at most (besides the queue's byte cap). */
#define QENT_MAX 65536u
/* Catch-up budget per peer (token bucket, bytes of packets queued by
 * catch-up, each charged CU_PKT_COST more, about its cost in the store
 * and in the peer's): the bucket holds the whole store so charged plus CU_BURST (a whole
 * store at once, for a late joiner) and refills at store bytes /
 * CU_PERIOD_S plus CU_RATE per second.  A peer whose IDLISTs keep finding
 * the bucket empty (CU_STARVED_MAX rounds in a row) is reported to
 * ops->misbehave. */
#define CU_BURST (1u << 20)
#define CU_PKT_COST 128u   /* charged per packet besides its bytes */
#define CU_RATE (128u << 10)
#define CU_PERIOD_S 600u
#define CU_STARVED_MAX 10u
/* Address groups whose catch-up budget is remembered (gossip_peer_set_group);
 * the one whose peers left longest ago gives way. */
#define CU_GROUPS 1024u
/* A packet is re-sent by catch-up to a peer whose IDLIST still lacks it
 * at most this many times while the known-set remembers it (after that it
 * is refused there for good: full store, expired, or a lie). */
#define CU_RESEND_MAX 3u
/* Per-peer rate limits (token buckets: rate per second, burst).  Honest
 * traffic stays far below: every id is announced once per link, requested
 * once, and a link carries at most the network's packet rate (40,000/s
 * among 10 nodes uses under half).  What exceeds is ignored and reported
 * to ops->misbehave (score 1 per frame). */
#define RL_INV_RATE 100000u          /* INV ids */
#define RL_INV_BURST 500000u
#define RL_REQ_RATE 100000u          /* GETDATA ids + GETBITS bits */
#define RL_REQ_BURST 500000u
#define RL_UNK_RATE 2000u            /* requested ids we do not hold, or
                                        sent it already */
#define RL_UNK_BURST 20000u
#define RL_NF_RATE 100000u           /* NOTFOUND ids */
#define RL_NF_BURST 500000u
#define RL_RECON_RATE 4u             /* SUMMARY and IDLIST frames */
#define RL_RECON_BURST 16u
/* Responder side of reconciliation: a SUMMARY is answered at most once per
 * this interval (an honest initiator sends one a second), and an IDLIST
 * only once after each SUMMARY_SEC that listed differences. */
#define RECON_ANSWER_MIN_MS 500u
/* Packets per PACKETS frame at most (besides GOSSIP_PACKETS_BATCH bytes). */
#define DRAIN_BATCH 256
/* Send queue classes: QCATCHUP (catch-up packets, sent after everything
 * else), then priority 0..12, >= 13 at 1..GOSSIP_CLASSES. */
#define QCATCHUP 0
#define QCLASSES (GOSSIP_CLASSES + 1)

/* ---- small growable vectors ---- */

struct u64vec {
	uint64_t *v;
	size_t n, cap;
};

static void u64_push(struct u64vec *a, uint64_t x)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
	}
	a->v[a->n++] = x;
}

/* ---- per-peer priority queue ---- */

struct qent {
	uint8_t hash[32];
	uint32_t len;
	uint8_t relay;
};

struct qring {
	struct qent *v;
	size_t head, n, cap;
};

static void q_push(struct qring *q, const struct qent *e)
{
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		struct qent *v = xmalloc(cap * sizeof(*v));
		for (size_t i = 0; i < q->n; i++)
			v[i] = q->v[(q->head + i) % q->cap];
		free(q->v);
		q->v = v;
		q->head = 0;
		q->cap = cap;
	}
	q->v[(q->head + q->n) % q->cap] = *e;
	q->n++;
}

static struct qent q_pop(struct qring *q)
{
	struct qent e = q->v[q->head];
	q->head = (q->head + 1) % q->cap;
	q->n--;
	if (q->n == 0 && q->cap > 64) {
		/* a burst's array is not kept for good */
		free(q->v);
		q->v = NULL;
		q->head = q->cap = 0;
	}
	return e;
}

/* One INV frame sent to a v2 peer: its number and where its ids are in
 * the peer's id ring. */
struct invb {
	uint32_t seq, count;         /* count 0 = empty */
	uint64_t start;              /* index of entry 0 in the ring */
};

/* A token bucket (units per second, burst), refilled from a monotonic ms
 * clock. */
struct bucket {
	double tokens;
	uint64_t t;
};

static void bk_init(struct bucket *b, double burst, uint64_t now_ms)
{
	b->tokens = burst;
	b->t = now_ms;
}

static void bk_fill(struct bucket *b, double rate, double burst,
                    uint64_t now_ms)
{
	if (now_ms > b->t) {
		b->tokens += rate * (double)(now_ms - b->t) / 1000.0;
		if (b->tokens > burst)
			b->tokens = burst;
	}
	b->t = now_ms;
}

/* Take n units if there are; false (and nothing taken) if not. */
static bool bk_take(struct bucket *b, double rate, double burst,
                    uint64_t now_ms, double n)
{
	bk_fill(b, rate, burst, now_ms);
	if (b->tokens < n)
		return false;
	b->tokens -= n;
	return true;
}

struct gpeer {
	int id;
	uint64_t last_pkt_ms;        /* last packet received from it */
	bool full;
	bool v2;                     /* send GETBITS and PACKETS */
	uint32_t inv_out, inv_in;    /* INV frames sent / received */
	uint64_t *invr;              /* GOSSIP_INV_RING ids, v2 only, lazy */
	uint64_t invr_total;         /* ids ever written to invr */
	struct invb *invb;           /* GOSSIP_INV_SEQS, by seq */
	bool synced;
	bool recon_open;
	uint32_t recon_t0, recon_t1;
	uint64_t recon_deadline, next_recon;
	uint64_t last_answer_ms;     /* responder: last SUMMARY answered */
	bool idlist_ok;              /* responder: an IDLIST may follow */
	uint32_t ans_t0, ans_t1;     /* ... for seconds in this range */
	size_t npend;                /* pending fetches asked of this peer */
	size_t pcap;                 /* ... at most (adaptive, see top) */
	bool pfloor;                 /* pcap hit PEER_PENDING_MIN (reported) */
	uint64_t *known;             /* GOSSIP_KNOWN_SLOTS */
	uint32_t *kmeta;             /* per slot: KM_* bits and epoch */
	uint32_t epoch;              /* SUMMARY_SEC with differences sent */
	uint32_t ans_epoch;          /* ... epoch the expected IDLIST answers */
	uint32_t cu_epoch;           /* ... epoch of the backlog's IDLIST */
	struct bucket cu_bk;         /* catch-up bytes, its own ... */
	struct bucket *cub;          /* ... or its group's (the one in use) */
	int cug;                     /* its group (gossip.cug), -1 none */
	unsigned cu_starved;         /* IDLISTs in a row with the bucket empty */
	struct bucket rl_inv, rl_req, rl_unk, rl_nf, rl_recon;
	size_t qn;                   /* entries in q[] */
	struct u64vec ann;           /* ids to announce */
	uint64_t ann_t;              /* ... the oldest queued at this time */
	struct u64vec req;           /* ids to request (GETDATA batch) */
	struct qring q[QCLASSES];
	size_t qbytes;
	struct u64vec cu;            /* catch-up backlog: short ids, */
	size_t cu_head;              /* ... cu.v[cu_head..cu.n) still to queue */
};

/* ---- pending fetches ---- */

struct pend {
	uint64_t sid;                /* 0 = empty slot */
	uint64_t deadline;
	uint64_t asked_ms;           /* asked of `asked` at this time */
	int asked;
	int alt[GOSSIP_ALTS];
	uint8_t nalt, tries;
};

struct fifo_ent {
	uint64_t sid, deadline;
};

#define PEND_SLOTS (GOSSIP_PENDING_MAX * 2)
/* Request timeouts in deadline order; holds every request of the last
 * GOSSIP_FETCH_TIMEOUT_MS (stale ones included), so it is sized well over
 * the pending cap; when full, new requests wait for the next INV/round. */
#define FIFO_SLOTS (GOSSIP_PENDING_MAX * 4)

/* A catch-up budget shared by the peers of one group (gossip_peer_set_group:
 * one address), remembered after they leave so that reconnecting does not
 * refill it. */
struct cugroup {
	uint64_t key;                /* 0 = unused */
	unsigned refs;               /* peers in it now */
	uint64_t left_ms;            /* when the last one left */
	struct bucket bk;
};

struct gossip {
	struct cugroup *cug;         /* CU_GROUPS, at the first group */
	struct store *store;
	struct gossip_cfg cfg;
	struct gossip_ops ops;
	gossip_send_packets_fn send_packets;
	bool hold;                   /* gossip_hold(): flush() deferred */
	struct gossip_stats st;
	uint64_t overload_until;
	uint64_t now_ms;
	struct gpeer *peers[MAX_PEERS];
	size_t npeers;
	unsigned rot;                /* fan-out rotation */
	/* pending */
	struct pend *pend;
	size_t npend;
	struct fifo_ent *fifo;       /* ring, PEND_SLOTS */
	size_t fhead, fn;
	uint64_t last_reclaim;
	struct wbuf wb;
};

/* Wall clock seconds for reconciliation windows (ops.wall_now, else the
 * entry point's clock). */
static uint32_t wall(const struct gossip *g)
{
	if (g->ops.wall_now)
		return g->ops.wall_now(g->ops.ctx);
	return (uint32_t)(g->now_ms / 1000);
}

static void misbehave(struct gossip *g, int peer, unsigned score,
                      const char *why)
{
	g->st.misbehaved++;
	if (g->ops.misbehave)
		g->ops.misbehave(g->ops.ctx, peer, score, why);
}

/* ---- peers ---- */

static struct gpeer *peer_get(const struct gossip *g, int id)
{
	for (size_t i = 0; i < g->npeers; i++)
		if (g->peers[i]->id == id)
			return g->peers[i];
	return NULL;
}

/* A slot holds sid (p holds it, or it is queued for p) or sid ^ KNOWN_ANN
 * (only announced to p: it may never fetch it).  The tag flips a bit of the
 * slot index, so a tagged value never equals a sid that maps to its slot.
 *
 * kmeta[slot] tells how the slot learnt it: KM_QUEUED (in p's send queue
 * now), the count of catch-up sends (KM_CNT), and the epoch (p->epoch at
 * the mark: the number of SUMMARY_SECs with differences sent to p before).
 * An IDLIST from p answers the SUMMARY_SEC of epoch E; what it lacks is
 * sent again unless queued now or marked at epoch >= E (sent, or learnt
 * from p, after the SUMMARY_SEC left: the IDLIST could not show it).  So a
 * packet p dropped (future, overload, expired) is never taken as held on
 * the strength of having been sent. */
#define KNOWN_ANN 1u
#define KM_CNT 3u
#define KM_QUEUED 4u
#define KM_SHIFT 3
#define KM_EMASK (UINT32_MAX >> KM_SHIFT)

static inline size_t kslot(uint64_t sid)
{
	return (size_t)(sid & (GOSSIP_KNOWN_SLOTS - 1));
}

static inline uint32_t km_epoch(uint32_t m)
{
	return m >> KM_SHIFT;
}

/* Epoch a is at or after b (29-bit wrapping). */
static inline bool ep_ge(uint32_t a, uint32_t b)
{
	return ((a - b) & KM_EMASK) < (KM_EMASK >> 1);
}

/* p holds sid (it said so, or sent it). */
static inline void known_add(struct gpeer *p, uint64_t sid)
{
	size_t i = kslot(sid);
	p->known[i] = sid;
	p->kmeta[i] = (p->epoch & KM_EMASK) << KM_SHIFT;
}

/* sid is queued for p (catchup: by catch-up, counted). */
static inline void known_queue(struct gpeer *p, uint64_t sid, bool catchup)
{
	size_t i = kslot(sid);
	uint32_t cnt = p->known[i] == sid ? p->kmeta[i] & KM_CNT : 0;
	if (catchup && cnt < KM_CNT)
		cnt++;
	p->known[i] = sid;
	p->kmeta[i] = (p->epoch & KM_EMASK) << KM_SHIFT | KM_QUEUED | cnt;
}

/* sid left p's queue (sent, or purged meanwhile). */
static inline void known_sent(struct gpeer *p, uint64_t sid)
{
	size_t i = kslot(sid);
	if (p->known[i] == sid && (p->kmeta[i] & KM_QUEUED))
		p->kmeta[i] = (p->epoch & KM_EMASK) << KM_SHIFT |
		              (p->kmeta[i] & KM_CNT);
}

static inline void known_ann(struct gpeer *p, uint64_t sid)
{
	size_t i = kslot(sid);
	if (p->known[i] != sid) {
		p->known[i] = sid ^ KNOWN_ANN;
		p->kmeta[i] = (p->epoch & KM_EMASK) << KM_SHIFT;
	}
}

/* Catch-up for an IDLIST of epoch e that lacks sid: skip it?  (Queued
 * now, marked since the SUMMARY_SEC, or sent by catch-up too often.) */
static inline bool known_skip_cu(const struct gpeer *p, uint64_t sid,
                                 uint32_t e)
{
	size_t i = kslot(sid);
	if (p->known[i] != sid)
		return false;
	uint32_t m = p->kmeta[i];
	return (m & KM_QUEUED) || ep_ge(km_epoch(m), e & KM_EMASK) ||
	       (m & KM_CNT) >= CU_RESEND_MAX;
}

/* p holds it, is getting it, or was announced it. */
static inline bool known_has(const struct gpeer *p, uint64_t sid)
{
	uint64_t k = p->known[sid & (GOSSIP_KNOWN_SLOTS - 1)];
	return k == sid || k == (sid ^ KNOWN_ANN);
}

/* p holds it or it is queued for p (catch-up skips these). */
static inline bool known_holds(const struct gpeer *p, uint64_t sid)
{
	return p->known[sid & (GOSSIP_KNOWN_SLOTS - 1)] == sid;
}

/* ---- short ids ----
 * No index of our own: the store's hash table is keyed by the short id
 * bytes (store_get_short), so held packets cost gossip nothing each. */

static struct stored *sidx_get(const struct gossip *g, uint64_t sid)
{
	return store_get_short(g->store, sid);
}

/* ---- pending table (linear probing, backward-shift delete) ---- */

static size_t pend_slot(uint64_t sid)
{
	return (size_t)(sid * 0x9E3779B97F4A7C15ULL >> 17) & (PEND_SLOTS - 1);
}

static struct pend *pend_get(struct gossip *g, uint64_t sid)
{
	size_t i = pend_slot(sid);
	while (g->pend[i].sid) {
		if (g->pend[i].sid == sid)
			return &g->pend[i];
		i = (i + 1) & (PEND_SLOTS - 1);
	}
	return NULL;
}

static void pend_unask(struct gossip *g, const struct pend *e)
{
	struct gpeer *p = peer_get(g, e->asked);
	if (p && p->npend > 0)
		p->npend--;
}

static void pend_del(struct gossip *g, struct pend *e)
{
	size_t i = (size_t)(e - g->pend), j = i;
	pend_unask(g, e);
	g->pend[i].sid = 0;
	g->npend--;
	for (;;) {
		j = (j + 1) & (PEND_SLOTS - 1);
		if (!g->pend[j].sid)
			return;
		size_t k = pend_slot(g->pend[j].sid);
		/* move j back to i if its home k is not in (i, j] */
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
			g->pend[i] = g->pend[j];
			g->pend[j].sid = 0;
			i = j;
		}
	}
}

static void fifo_push(struct gossip *g, uint64_t sid, uint64_t deadline)
{
	g->fifo[(g->fhead + g->fn) % FIFO_SLOTS] =
		(struct fifo_ent){sid, deadline};
	g->fn++;
}

static void request(struct gossip *g, struct gpeer *p, uint64_t sid)
{
	u64_push(&p->req, sid);
	g->st.fetch_sent++;
}

/* A fetch asked of p failed (timeout or NOTFOUND): p's share shrinks. */
static void pend_failed(struct gossip *g, int peer)
{
	struct gpeer *p = peer_get(g, peer);
	if (!p)
		return;
	if (p->pcap > PEER_PENDING_MIN)
		p->pcap--;
	if (p->pcap <= PEER_PENDING_MIN && !p->pfloor) {
		p->pfloor = true;
		misbehave(g, p->id, 5, "announced packets it did not deliver");
	}
}

/* p delivered a packet it was asked for: its share grows. */
static void pend_delivered(struct gpeer *p)
{
	if (p->pcap < PEER_PENDING_MAX)
		p->pcap++;
	if (p->pfloor && p->pcap >= 4 * PEER_PENDING_MIN)
		p->pfloor = false;
}

static void pend_retry(struct gossip *g, struct pend *e, bool same_ok);

/* The table is full: every peer holding more than its fair share
 * (GOSSIP_PENDING_MAX / peers) has its limit halved (not under the fair
 * share... nor under PEER_PENDING_MIN) and its entries over the new limit
 * taken back (asked of an alternate, or forgotten).  At most every
 * RECLAIM_MIN_MS; one pass over the table. */
static void pend_reclaim(struct gossip *g)
{
	if (g->last_reclaim && g->now_ms < g->last_reclaim + RECLAIM_MIN_MS)
		return;
	g->last_reclaim = g->now_ms ? g->now_ms : 1;
	size_t fair = GOSSIP_PENDING_MAX / (g->npeers ? g->npeers : 1);
	bool any = false;
	for (size_t i = 0; i < g->npeers; i++) {
		struct gpeer *p = g->peers[i];
		if (p->npend <= fair)
			continue;
		size_t c = p->pcap / 2;
		if (c < fair / 2)
			c = fair / 2;
		if (c < PEER_PENDING_MIN)
			c = PEER_PENDING_MIN;
		/* reported only if it fails more fetches than it serves (an
		 * honest busy peer can be over its share too) */
		if (p->pcap < PEER_PENDING_START)
			misbehave(g, p->id, 2, "holds too many pending fetches");
		p->pcap = c < p->pcap ? c : p->pcap;
		any = true;
	}
	if (!any)
		return;
	for (size_t i = 0; i < PEND_SLOTS;) {
		struct pend *e = &g->pend[i];
		struct gpeer *p = e->sid ? peer_get(g, e->asked) : NULL;
		if (!p || p->npend <= p->pcap) {
			i++;
			continue;
		}
		uint64_t sid = e->sid;
		pend_retry(g, e, false);
		/* deleted (a later entry may have moved here) or re-asked */
		if (g->pend[i].sid == sid)
			i++;
	}
}

/* Register a new pending fetch of sid from p.  by_ref: the caller asks
 * for it by GETBITS (not in p's GETDATA batch).  False when full. */
static bool pend_new(struct gossip *g, struct gpeer *p, uint64_t sid,
                     bool by_ref)
{
	if (sid == 0 || p->npend >= p->pcap)
		return false;
	if (g->npend >= GOSSIP_PENDING_MAX || g->fn >= FIFO_SLOTS)
		pend_reclaim(g);
	if (g->npend >= GOSSIP_PENDING_MAX || g->fn >= FIFO_SLOTS)
		return false;
	size_t i = pend_slot(sid);
	while (g->pend[i].sid)
		i = (i + 1) & (PEND_SLOTS - 1);
	struct pend *e = &g->pend[i];
	memset(e, 0, sizeof(*e));
	e->sid = sid;
	e->asked = p->id;
	e->tries = 1;
	e->deadline = g->now_ms + GOSSIP_FETCH_TIMEOUT_MS;
	e->asked_ms = g->now_ms;
	g->npend++;
	p->npend++;
	fifo_push(g, sid, e->deadline);
	if (by_ref)
		g->st.fetch_sent++;
	else
		request(g, p, sid);
	return true;
}

/* Ask the next alternate by id (GETDATA); with none left, same_ok (a
 * timeout, not a NOTFOUND) asks the same peer again by id: a GETBITS may
 * have named an INV it no longer held.  Drop the entry when neither. */
static void pend_retry(struct gossip *g, struct pend *e, bool same_ok)
{
	while (e->nalt > 0 && e->tries < GOSSIP_FETCH_TRIES &&
	       g->fn < FIFO_SLOTS) {
		int id = e->alt[0];
		memmove(e->alt, e->alt + 1, (size_t)(e->nalt - 1) * sizeof(int));
		e->nalt--;
		struct gpeer *p = peer_get(g, id);
		if (!p || p->npend >= p->pcap)
			continue;
		pend_unask(g, e);
		e->asked = id;
		p->npend++;
		e->tries++;
		e->deadline = g->now_ms + GOSSIP_FETCH_TIMEOUT_MS;
		e->asked_ms = g->now_ms;
	e->asked_ms = g->now_ms;
		fifo_push(g, e->sid, e->deadline);
		request(g, p, e->sid);
		g->st.fetch_retried++;
		return;
	}
	struct gpeer *p = peer_get(g, e->asked);
	if (same_ok && p && e->tries < GOSSIP_FETCH_TRIES &&
	    g->fn < FIFO_SLOTS) {
		e->tries++;
		e->deadline = g->now_ms + GOSSIP_FETCH_TIMEOUT_MS;
		e->asked_ms = g->now_ms;
	e->asked_ms = g->now_ms;
		fifo_push(g, e->sid, e->deadline);
		request(g, p, e->sid);
		g->st.fetch_retried++;
		return;
	}
	pend_del(g, e);
}

/* ---- sending ---- */

static void send_wb(struct gossip *g, struct gpeer *p, bool control)
{
	if (g->wb.len) {
		if (control)
			g->st.control_bytes += g->wb.len;
		g->ops.send(g->ops.ctx, p->id, g->wb.p, g->wb.len);
	}
	wb_reset(&g->wb);
}

static void send_ids(struct gossip *g, struct gpeer *p, uint8_t type,
                     struct u64vec *v)
{
	size_t off = 0;
	while (off < v->n) {
		size_t k = v->n - off;
		if (k > GOSSIP_INV_BATCH)
			k = GOSSIP_INV_BATCH;
		wire_ids_encode(&g->wb, type, v->v + off, (uint32_t)k);
		send_wb(g, p, true);
		off += k;
	}
	v->n = 0;
}

/* Remember the ids of INV number p->inv_out for p's GETBITS. */
static void inv_record(struct gpeer *p, const uint64_t *ids, uint32_t k)
{
	if (!p->invr) {
		p->invr = xmalloc(GOSSIP_INV_RING * sizeof(*p->invr));
		p->invb = xcalloc(GOSSIP_INV_SEQS, sizeof(*p->invb));
	}
	struct invb *b = &p->invb[p->inv_out % GOSSIP_INV_SEQS];
	b->seq = p->inv_out;
	b->count = k;
	b->start = p->invr_total;
	for (uint32_t i = 0; i < k; i++)
		p->invr[(p->invr_total + i) % GOSSIP_INV_RING] = ids[i];
	p->invr_total += k;
}

/* The INV numbered seq we sent p, if its ids are still in the ring. */
static const struct invb *inv_find(const struct gpeer *p, uint32_t seq)
{
	if (!p->invb)
		return NULL;
	const struct invb *b = &p->invb[seq % GOSSIP_INV_SEQS];
	if (b->count == 0 || b->seq != seq ||
	    p->invr_total - b->start > GOSSIP_INV_RING)
		return NULL;
	return b;
}

/* Send p's announce queue as INV frames (numbered per connection).  Ids
 * p became known to have since they were queued (it announced or sent
 * them meanwhile) are left out: they are marked known only here. */
static void send_inv(struct gossip *g, struct gpeer *p)
{
	size_t off = 0, k = 0;
	for (size_t i = 0; i < p->ann.n; i++) {
		uint64_t sid = p->ann.v[i];
		if (known_has(p, sid))
			continue;
		known_ann(p, sid);
		p->ann.v[k++] = sid;
	}
	p->ann.n = k;
	while (off < p->ann.n) {
		size_t m = p->ann.n - off;
		if (m > GOSSIP_INV_BATCH)
			m = GOSSIP_INV_BATCH;
		wire_ids_encode(&g->wb, WIRE_INV, p->ann.v + off, (uint32_t)m);
		send_wb(g, p, true);
		if (p->v2)
			inv_record(p, p->ann.v + off, (uint32_t)m);
		p->inv_out++;
		off += m;
	}
	p->ann.n = 0;
}

static int prio_class(int prio)
{
	if (prio < 0)
		return 1;
	return 1 + (prio >= GOSSIP_CLASSES - 1 ? GOSSIP_CLASSES - 1 : prio);
}

static void shed(struct gossip *g)
{
	g->st.overload_drops++;
	g->overload_until = g->now_ms + 1000;
}

/* Queue sp for p.  catchup: in the lowest class (behind every live packet,
 * and the first to give way to one), and only while the queue is under
 * half its cap (the rest waits in the backlog or a later round; not a
 * drop). */
static bool enqueue(struct gossip *g, struct gpeer *p, const struct stored *sp,
                    uint8_t relay, bool catchup)
{
	int cls = catchup ? QCATCHUP : prio_class(sp->priority);
	size_t cap = g->cfg.queue_cap;

	if (catchup && (p->qbytes + sp->len > cap / 2 || p->qn >= QENT_MAX / 2))
		return false;
	while ((p->qbytes + sp->len > cap || p->qn >= QENT_MAX) && p->qn > 0) {
		int low = 0;
		while (low < QCLASSES && p->q[low].n == 0)
			low++;
		if (low >= cls) {
			shed(g);      /* nothing lower: the new one gives way */
			return false;
		}
		struct qent e = q_pop(&p->q[low]);
		p->qbytes -= e.len;
		p->qn--;
		/* not sent after all: no longer "known" (announce skips known
		 * ids, so it could otherwise never be sent in this connection) */
		uint64_t esid = wire_sid(e.hash);
		if (known_holds(p, esid))
			p->known[kslot(esid)] = 0;
		if (low != QCATCHUP)
			shed(g);  /* catch-up comes again in the next round */
	}
	struct qent e;
	memcpy(e.hash, sp->hash, 32);
	e.len = sp->len;
	e.relay = relay;
	q_push(&p->q[cls], &e);
	p->qbytes += e.len;
	p->qn++;
	known_queue(p, wire_sid(sp->hash), catchup);
	return true;
}

static bool cu_pending(const struct gpeer *p)
{
	return p->cu_head < p->cu.n;
}

static void cu_clear(struct gpeer *p)
{
	free(p->cu.v);
	memset(&p->cu, 0, sizeof(p->cu));
	p->cu_head = 0;
}

/* The catch-up bucket's burst and rate (bytes, bytes/s) for the store's
 * present size. */
static void cu_params(const struct gossip *g, double *rate, double *burst)
{
	struct store_stats st;
	store_get_stats(g->store, &st);
	double whole = (double)st.bytes + (double)st.count * CU_PKT_COST;
	*burst = whole + CU_BURST;
	*rate = whole / CU_PERIOD_S + CU_RATE;
}

static void cu_fill(const struct gossip *g, struct gpeer *p)
{
	double rate, burst;
	cu_params(g, &rate, &burst);
	bk_fill(p->cub, rate, burst, g->now_ms);
}

/* Move catch-up backlog entries to p's send queue while it stays under
 * half its cap.  Entries whose packet was purged meanwhile, or that p is
 * known to hold or to be getting, are skipped.  Frees the backlog once
 * consumed. */
static void cu_refill(struct gossip *g, struct gpeer *p)
{
	cu_fill(g, p);
	while (cu_pending(p)) {
		uint64_t sid = p->cu.v[p->cu_head];
		struct stored *sp = sidx_get(g, sid);
		if (sp && !known_skip_cu(p, sid, p->cu_epoch)) {
			double cost = (double)sp->len + CU_PKT_COST;
			if (p->cub->tokens < cost)
				break;  /* budget spent: more as it refills */
			if (!enqueue(g, p, sp, 0, true) && p->qn > 0)
				break;  /* half the cap reached: more when it drains */
			p->cub->tokens -= cost;
		}
		/* queued, skipped, or too big for half the cap even alone */
		p->cu_head++;
	}
	if (!cu_pending(p))
		cu_clear(p);
}

/* Move queued packets to p, highest class first, while room() allows:
 * to a v2 peer as PACKETS frames of up to DRAIN_BATCH packets and
 * GOSSIP_PACKETS_BATCH bytes, to a v1 peer one PACKET frame each.  The
 * catch-up backlog refills the queue whenever it is down to a quarter of
 * its cap, so catch-up runs at the pace the peer takes the data. */
static void drain(struct gossip *g, struct gpeer *p)
{
	const struct stored *sps[DRAIN_BATCH];
	uint8_t relays[DRAIN_BATCH];
	size_t nb = 0, bytes = 0;
	bool batch = p->v2 && g->send_packets;
	int cls = QCLASSES - 1;
	size_t low = g->cfg.queue_cap / 4;

	for (;;) {
		if (cu_pending(p) && p->qbytes <= low) {
			cu_refill(g, p);
			cls = QCLASSES - 1;
		}
		if (p->qn == 0 || g->ops.room(g->ops.ctx, p->id) == 0)
			break;
		while (cls >= 0 && p->q[cls].n == 0)
			cls--;
		if (cls < 0)
			break;
		struct qent e = q_pop(&p->q[cls]);
		p->qbytes -= e.len;
		p->qn--;
		known_sent(p, wire_sid(e.hash));
		struct stored *sp = store_get_hash(g->store, e.hash);
		if (!sp)
			continue; /* purged meanwhile */
		g->st.sent++;
		if (!batch) {
			g->ops.send_packet(g->ops.ctx, p->id, sp, e.relay);
			continue;
		}
		size_t el = wire_packets_entry_len(sp->len);
		if (nb == DRAIN_BATCH ||
		    (nb > 0 && bytes + el > GOSSIP_PACKETS_BATCH)) {
			g->send_packets(g->ops.ctx, p->id, sps, relays, nb);
			nb = bytes = 0;
		}
		sps[nb] = sp;
		relays[nb++] = e.relay;
		bytes += el;
	}
	if (nb)
		g->send_packets(g->ops.ctx, p->id, sps, relays, nb);
}

static bool inv_due(const struct gossip *g, const struct gpeer *p)
{
	return p->ann.n && g->now_ms >= p->ann_t + GOSSIP_INV_DELAY_MS;
}

/* End of every entry point: send due INVs and GETDATA batches, drain
 * queues. */
static void flush(struct gossip *g)
{
	if (g->hold)
		return;
	for (size_t i = 0; i < g->npeers; i++) {
		struct gpeer *p = g->peers[i];
		if (inv_due(g, p))
			send_inv(g, p);
		if (p->req.n)
			send_ids(g, p, WIRE_GETDATA, &p->req);
		if (p->qn || cu_pending(p))
			drain(g, p);
	}
}

/* ---- public ---- */

struct gossip *gossip_new(struct store *s, const struct gossip_cfg *cfg,
                          const struct gossip_ops *ops)
{
	struct gossip *g = xcalloc(1, sizeof(*g));
	g->store = s;
	g->cfg = *cfg;
	if (!g->cfg.fanout)
		g->cfg.fanout = GOSSIP_DEFAULT_FANOUT;
	if (!g->cfg.max_relay)
		g->cfg.max_relay = GOSSIP_DEFAULT_MAX_RELAY;
	if (!g->cfg.queue_cap)
		g->cfg.queue_cap = GOSSIP_DEFAULT_QUEUE_CAP;
	g->ops = *ops;
	g->pend = xcalloc(PEND_SLOTS, sizeof(*g->pend));
	g->fifo = xcalloc(FIFO_SLOTS, sizeof(*g->fifo));
	wb_init(&g->wb);
	return g;
}

void gossip_set_send_packets(struct gossip *g, gossip_send_packets_fn fn)
{
	g->send_packets = fn;
}

void gossip_hold(struct gossip *g)
{
	g->hold = true;
}

void gossip_release(struct gossip *g)
{
	g->hold = false;
	flush(g);
}

static void peer_free(struct gpeer *p)
{
	free(p->known);
	free(p->kmeta);
	free(p->ann.v);
	free(p->req.v);
	free(p->invr);
	free(p->invb);
	free(p->cu.v);
	for (int c = 0; c < QCLASSES; c++)
		free(p->q[c].v);
	free(p);
}

void gossip_free(struct gossip *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->npeers; i++)
		peer_free(g->peers[i]);
	free(g->pend);
	free(g->fifo);
	free(g->cug);
	wb_fini(&g->wb);
	free(g);
}

static void recon_start(struct gossip *g, struct gpeer *p)
{
	uint32_t now = wall(g);
	p->next_recon = g->now_ms + GOSSIP_RECON_INTERVAL_MS;
	if (now < g->cfg.purgetime + 2)
		return;
	uint32_t t0 = now - g->cfg.purgetime + 5, t1 = now - 2;
	if (t1 < t0)
		return;
	uint32_t nb = wire_minutes(t0, t1);
	wb_begin(&g->wb, WIRE_SUMMARY);
	wb_u32(&g->wb, t0);
	wb_u32(&g->wb, t1);
	wb_u16(&g->wb, (uint16_t)nb);
	for (uint32_t i = 0; i < nb; i++) {
		uint32_t a, b;
		struct store_bucket sb;
		wire_minute_range(t0, t1, i, &a, &b);
		store_range(g->store, a, b, &sb);
		wb_u32(&g->wb, sb.count);
		wb_u64(&g->wb, le64(sb.fp + 16));
	}
	wb_end(&g->wb);
	send_wb(g, p, true);
	p->recon_open = true;
	p->recon_t0 = t0;
	p->recon_t1 = t1;
	p->recon_deadline = g->now_ms + GOSSIP_RECON_TIMEOUT_MS;
	g->st.recon_rounds++;
}

int gossip_peer_add(struct gossip *g, int peer, unsigned flags,
                    uint64_t now_ms)
{
	bool full = (flags & GOSSIP_PEER_FULL) != 0;
	if (g->npeers >= MAX_PEERS || peer_get(g, peer))
		return E_NOMEM;
	g->now_ms = now_ms;
	struct gpeer *p = xcalloc(1, sizeof(*p));
	p->id = peer;
	p->full = full;
	p->v2 = (flags & GOSSIP_PEER_V2) != 0;
	p->synced = !full;
	p->known = xcalloc(GOSSIP_KNOWN_SLOTS, sizeof(uint64_t));
	p->kmeta = xcalloc(GOSSIP_KNOWN_SLOTS, sizeof(uint32_t));
	p->pcap = PEER_PENDING_START;
	{
		double rate, burst;
		cu_params(g, &rate, &burst);
		bk_init(&p->cu_bk, burst, now_ms);
	}
	p->cub = &p->cu_bk;
	p->cug = -1;
	bk_init(&p->rl_inv, RL_INV_BURST, now_ms);
	bk_init(&p->rl_req, RL_REQ_BURST, now_ms);
	bk_init(&p->rl_unk, RL_UNK_BURST, now_ms);
	bk_init(&p->rl_nf, RL_NF_BURST, now_ms);
	bk_init(&p->rl_recon, RL_RECON_BURST, now_ms);
	g->peers[g->npeers++] = p;
	if (full)
		recon_start(g, p);
	return E_OK;
}

void gossip_peer_set_group(struct gossip *g, int peer, uint64_t key)
{
	struct gpeer *p = peer_get(g, peer);
	int pick = -1;

	if (!p || key == 0 || p->cug >= 0)
		return;
	if (!g->cug)
		g->cug = xcalloc(CU_GROUPS, sizeof(*g->cug));
	for (int i = 0; i < (int)CU_GROUPS; i++) {
		struct cugroup *e = &g->cug[i];
		if (e->key == key) {
			pick = i;
			break;
		}
		/* else the unused slot, or the one left longest ago */
		if (e->refs == 0 &&
		    (pick < 0 || e->key == 0 ||
		     (g->cug[pick].key != 0 && e->left_ms < g->cug[pick].left_ms)))
			pick = i;
	}
	if (pick < 0)
		return; /* every group has peers now: its own budget */
	struct cugroup *e = &g->cug[pick];
	if (e->key != key) {
		e->key = key;
		e->bk = p->cu_bk; /* a new group starts full */
	}
	e->refs++;
	p->cug = pick;
	p->cub = &e->bk;
}

void gossip_peer_del(struct gossip *g, int peer)
{
	for (size_t i = 0; i < g->npeers; i++) {
		if (g->peers[i]->id != peer)
			continue;
		struct gpeer *p = g->peers[i];
		g->peers[i] = g->peers[--g->npeers];
		if (p->cug >= 0) {
			g->cug[p->cug].refs--;
			g->cug[p->cug].left_ms = g->now_ms ? g->now_ms : 1;
		}
		/* its fetches go to an alternate now (or are forgotten), not
		 * after their timeout; a peer added later under the same id
		 * starts with none */
		for (size_t k = 0; p->npend > 0 && k < PEND_SLOTS;) {
			struct pend *e = &g->pend[k];
			if (!e->sid || e->asked != peer) {
				k++;
				continue;
			}
			uint64_t sid = e->sid;
			p->npend--;
			e->asked = -1;
			pend_retry(g, e, false);
			if (g->pend[k].sid == sid)
				k++;
		}
		peer_free(p);
		return;
	}
}

void gossip_on_new(struct gossip *g, struct stored *sp, int from_peer,
                   uint64_t now_ms)
{
	uint64_t sid = wire_sid(sp->hash);
	struct gpeer *from = from_peer >= 0 ? peer_get(g, from_peer) : NULL;
	unsigned relay = from_peer == GOSSIP_FROM_HOLD ? 0 :
	                 from_peer < 0 ? g->cfg.max_relay : sp->relay;
	unsigned pushed = 0;

	g->now_ms = now_ms;
	struct pend *pe = pend_get(g, sid);
	if (pe) {
		if (from && pe->asked == from->id)
			pend_delivered(from);
		pend_del(g, pe);
	}
	if (from)
		known_add(from, sid);
	if (relay > g->cfg.max_relay)
		relay = g->cfg.max_relay;
	if (g->npeers == 0)
		return;
	/* start at a rotating offset so pushes spread over the peers */
	size_t start = g->rot++ % g->npeers;
	for (size_t k = 0; k < g->npeers; k++) {
		struct gpeer *p = g->peers[(start + k) % g->npeers];
		if (p == from || known_has(p, sid))
			continue;
		if (relay > 0 && pushed < g->cfg.fanout &&
		    enqueue(g, p, sp, (uint8_t)(relay - 1), false)) {
			pushed++;
			continue;
		}
		/* marked known when the INV leaves (send_inv) */
		if (p->ann.n == 0)
			p->ann_t = now_ms;
		if (p->ann.n < GOSSIP_ANN_MAX)
			u64_push(&p->ann, sid);
		if (p->ann.n >= GOSSIP_INV_BATCH)
			send_inv(g, p);
	}
	flush(g);
}

/* ---- message handlers ---- */

/* INV from p.  A v2 peer is answered with one GETBITS naming this INV
 * (its number on the connection) and the entries wanted; a v1 peer with
 * the ids in its GETDATA batch. */
static void on_inv(struct gossip *g, struct gpeer *p, const uint8_t *ids,
                   uint32_t c)
{
	uint8_t bits[WIRE_MAX_BITMAP];
	uint32_t seq = p->inv_in++, nbytes = 0;

	if (!bk_take(&p->rl_inv, RL_INV_RATE, RL_INV_BURST, g->now_ms, c)) {
		misbehave(g, p->id, 1, "INV rate");
		return;
	}
	if (p->v2)
		memset(bits, 0, (c + 7) / 8);
	for (uint32_t i = 0; i < c; i++) {
		uint64_t sid = wire_ids_at(ids, i);
		known_add(p, sid);
		if (sidx_get(g, sid))
			continue;
		g->st.ann_examined++;
		struct pend *e = pend_get(g, sid);
		if (e) {
			if (e->asked != p->id && e->nalt < GOSSIP_ALTS) {
				bool dup = false;
				for (unsigned k = 0; k < e->nalt; k++)
					dup |= e->alt[k] == p->id;
				if (!dup)
					e->alt[e->nalt++] = p->id;
			}
			continue;
		}
		if (pend_new(g, p, sid, p->v2) && p->v2) {
			bits[i / 8] |= (uint8_t)(1u << (i % 8));
			nbytes = i / 8 + 1;
		}
	}
	if (nbytes) {
		wire_getbits_encode(&g->wb, seq, bits, nbytes);
		send_wb(g, p, true);
	}
}

/* p asked for sid: queue it, or note it for NOTFOUND (requests for ids
 * we do not hold have their own, lower, rate limit: past it they are not
 * answered; *unk counts them). */
static void serve(struct gossip *g, struct gpeer *p, uint64_t sid,
                  struct u64vec *nf, unsigned *unk)
{
	struct stored *sp = sidx_get(g, sid);
	if (!sp) {
		if (bk_take(&p->rl_unk, RL_UNK_RATE, RL_UNK_BURST, g->now_ms, 1))
			u64_push(nf, sid);
		else
			(*unk)++;
		return;
	}
	size_t k = kslot(sid);
	if (p->known[k] == sid) {
		/* In its queue already: once is enough.  Sent to it (or it
		 * told us it has it): an honest peer asks again only when it
		 * could not keep it, so such requests share the budget of the
		 * requests for unknown ids (a peer asking for the same packet
		 * over and over gets it at most RL_UNK_RATE times a second). */
		if (p->kmeta[k] & KM_QUEUED)
			return;
		if (!bk_take(&p->rl_unk, RL_UNK_RATE, RL_UNK_BURST, g->now_ms,
		             1)) {
			(*unk)++;
			return;
		}
	}
	/* A pulled packet is not pushed on: relay 0.  (Sending the held
	 * budget made the puller push it again to peers that were fetching
	 * it anyway: 30-65 % duplicates on those.) */
	enqueue(g, p, sp, 0, false);
}

static void on_getdata(struct gossip *g, struct gpeer *p, const uint8_t *ids,
                       uint32_t c)
{
	struct u64vec nf = {0};
	unsigned unk = 0;
	if (!bk_take(&p->rl_req, RL_REQ_RATE, RL_REQ_BURST, g->now_ms, c)) {
		misbehave(g, p->id, 1, "GETDATA rate");
		return;
	}
	for (uint32_t i = 0; i < c; i++)
		serve(g, p, wire_ids_at(ids, i), &nf, &unk);
	if (nf.n)
		send_ids(g, p, WIRE_NOTFOUND, &nf);
	if (unk)
		misbehave(g, p->id, 1, "requests for unknown ids");
	free(nf.v);
}

/* GETBITS: the entries of our INV number seq whose bit is set (bits past
 * the INV's count are ignored).  An INV no longer in the ring is not
 * answered: the peer re-asks by id after its fetch timeout. */
static void on_getbits(struct gossip *g, struct gpeer *p, uint32_t seq,
                       const uint8_t *bits, uint32_t nbytes)
{
	const struct invb *b = inv_find(p, seq);
	struct u64vec nf = {0};
	unsigned unk = 0;
	if (!b) {
		g->st.getbits_stale++;
		return;
	}
	uint32_t lim = nbytes * 8 < b->count ? nbytes * 8 : b->count;
	if (!bk_take(&p->rl_req, RL_REQ_RATE, RL_REQ_BURST, g->now_ms, lim)) {
		misbehave(g, p->id, 1, "GETBITS rate");
		return;
	}
	for (uint32_t i = 0; i < lim; i++)
		if (bits[i / 8] >> (i % 8) & 1)
			serve(g, p, p->invr[(b->start + i) % GOSSIP_INV_RING],
			      &nf, &unk);
	if (nf.n)
		send_ids(g, p, WIRE_NOTFOUND, &nf);
	if (unk)
		misbehave(g, p->id, 1, "requests for unknown ids");
	free(nf.v);
}

static void on_notfound(struct gossip *g, struct gpeer *p, const uint8_t *ids,
                        uint32_t c)
{
	if (!bk_take(&p->rl_nf, RL_NF_RATE, RL_NF_BURST, g->now_ms, c)) {
		misbehave(g, p->id, 1, "NOTFOUND rate");
		return;
	}
	for (uint32_t i = 0; i < c; i++) {
		struct pend *e = pend_get(g, wire_ids_at(ids, i));
		if (e && e->asked == p->id) {
			pend_failed(g, p->id);
			pend_retry(g, e, false);
		}
	}
}

static int on_packet(struct gossip *g, struct gpeer *p, const uint8_t *pkt,
                     size_t n, enum drop_reason *reason)
{
	struct stored *sp = NULL;
	enum drop_reason why = DROP_NONE;
	p->last_pkt_ms = g->now_ms;
	int rc = g->ops.ingest(g->ops.ctx, p->id, pkt, n, &sp, &why);
	if (rc == E_OK && sp) {
		gossip_on_new(g, sp, p->id, g->now_ms);
		return E_OK;
	}
	if (rc == E_DUP && sp) {
		uint64_t sid = wire_sid(sp->hash);
		known_add(p, sid);
		struct pend *e = pend_get(g, sid);
		if (e) {
			if (e->asked == p->id)
				pend_delivered(p);
			pend_del(g, e);
		}
		return E_OK;
	}
	if (rc == E_AGAIN || (rc == E_PROTO && why == DROP_FUTURE)) {
		/* Held by the node until its time comes (E_AGAIN), or too far
		 * ahead: p has it, and fetching it again is no use (held: it
		 * is stored when due and gossip_on_new() comes; dropped:
		 * reconciliation fetches it once it is no longer future). */
		uint8_t h[32];
		txpow_hash(pkt, n, h);
		uint64_t sid = wire_sid(h);
		known_add(p, sid);
		struct pend *e = pend_get(g, sid);
		if (e) {
			if (e->asked == p->id)
				pend_delivered(p);
			pend_del(g, e);
		}
		return E_OK;
	}
	if (rc == E_PROTO && (why == DROP_MALFORMED || why == DROP_OVERSIZE ||
	                      why == DROP_BADPOW)) {
		*reason = why;
		return E_PROTO;
	}
	return E_OK; /* future / expired / lowpriority / overload: counted */
}

static bool fp_differs(const struct store_bucket *sb, uint32_t count,
                       uint64_t fp)
{
	return sb->count != count || le64(sb->fp + 16) != fp;
}

/* Responder: per-second summaries of the minutes that differ, as many
 * minutes as fit in one frame (the initiator's next round asks again for
 * the rest: the minutes answered here match by then). */
static void on_summary(struct gossip *g, struct gpeer *p,
                       const struct wire_summary *s)
{
	size_t nent = 0;
	/* Seconds ahead of our own window (the initiator's clock is ahead)
	 * are not answered: we hold nothing there that it could lack, and
	 * what it holds there is future to us (the future hold has it, or
	 * our own rounds fetch it once due). */
	uint32_t w = wall(g), lim = w > 2 ? w - 2 : 0;

	if (!bk_take(&p->rl_recon, RL_RECON_RATE, RL_RECON_BURST, g->now_ms,
	             1)) {
		misbehave(g, p->id, 1, "SUMMARY rate");
		return;
	}
	if (p->last_answer_ms &&
	    g->now_ms < p->last_answer_ms + RECON_ANSWER_MIN_MS)
		return; /* faster than any honest initiator: ignored */
	p->last_answer_ms = g->now_ms ? g->now_ms : 1;
	p->idlist_ok = false;
	wb_begin(&g->wb, WIRE_SUMMARY_SEC);
	wb_u32(&g->wb, s->t0);
	wb_u32(&g->wb, s->t1);
	size_t n_off = g->wb.len;
	wb_u32(&g->wb, 0);
	for (uint32_t i = 0; i < s->n; i++) {
		uint32_t a, b, count;
		uint64_t fp;
		struct store_bucket sb;
		wire_minute_range(s->t0, s->t1, i, &a, &b);
		wire_summary_at(s, i, &count, &fp);
		store_range(g->store, a, b, &sb);
		if (!fp_differs(&sb, count, fp) || a > b || a > lim)
			continue;
		if (b > lim)
			b = lim;
		if (wb_frame_payload_len(&g->wb) + ((size_t)b - a + 1) * 16 >
		    WIRE_MAX_PAYLOAD)
			break;
		for (uint32_t t = a; t <= b; t++) {
			store_bucket(g->store, t, &sb);
			wb_u32(&g->wb, t);
			wb_u32(&g->wb, sb.count);
			wb_u64(&g->wb, le64(sb.fp + 16));
			nent++;
		}
	}
	put_le32(g->wb.p + n_off, (uint32_t)nent);
	wb_end(&g->wb);
	send_wb(g, p, true);
	if (nent > 0) {
		p->idlist_ok = true;
		p->ans_t0 = s->t0;
		p->ans_t1 = s->t1;
		/* marks from now on are newer than what the IDLIST shows */
		p->ans_epoch = ++p->epoch;
	}
}


static bool collect_cb(struct stored *sp, void *arg)
{
	u64_push(arg, wire_sid(sp->hash));
	return true;
}

/* Initiator: our ids for every second that differs. */
static void on_summary_sec(struct gossip *g, struct gpeer *p,
                           const struct wire_summary_sec *s)
{
	if (!p->recon_open || s->t0 != p->recon_t0 || s->t1 != p->recon_t1)
		return;
	p->recon_open = false;
	if (s->n == 0) {
		p->synced = true;
		return;
	}
	struct u64vec ids = {0};
	size_t nent = 0;
	wb_begin(&g->wb, WIRE_IDLIST);
	size_t n_off = g->wb.len;
	wb_u32(&g->wb, 0);
	for (uint32_t i = 0; i < s->n; i++) {
		uint32_t t, count;
		uint64_t fp;
		struct store_bucket sb;
		wire_summary_sec_at(s, i, &t, &count, &fp);
		if (t < s->t0 || t > s->t1)
			continue;
		store_bucket(g->store, t, &sb);
		if (!fp_differs(&sb, count, fp))
			continue;
		ids.n = 0;
		store_foreach_time(g->store, t, t, collect_cb, &ids);
		size_t room = WIRE_IDLIST_BUDGET - 8 -
		              wb_frame_payload_len(&g->wb);
		if (ids.n * 8 > room) {
			if (nent > 0)
				break;
			ids.n = room / 8; /* one huge second: the rest later */
		}
		wb_u32(&g->wb, t);
		wb_u32(&g->wb, (uint32_t)ids.n);
		for (size_t k = 0; k < ids.n; k++)
			wb_u64(&g->wb, ids.v[k]);
		nent++;
	}
	free(ids.v);
	if (nent == 0) {
		wb_reset(&g->wb);
		p->synced = true;
		return;
	}
	put_le32(g->wb.p + n_off, (uint32_t)nent);
	wb_end(&g->wb);
	send_wb(g, p, true);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct idl_ctx {
	struct gpeer *p;
	const uint64_t *sorted;
	size_t n;
};

static bool idl_cb(struct stored *sp, void *arg)
{
	struct idl_ctx *c = arg;
	uint64_t sid = wire_sid(sp->hash);
	if (c->n && bsearch(&sid, c->sorted, c->n, sizeof(uint64_t), cmp_u64))
		return true;
	/* The IDLIST is the peer's own word: having sent it does not count,
	 * unless it is queued now or left after the SUMMARY_SEC. */
	if (known_skip_cu(c->p, sid, c->p->ans_epoch))
		return true;
	if (c->p->cu.n >= GOSSIP_CATCHUP_MAX)
		return false; /* backlog full: the rest in the next round */
	/* the initiator lacks it: to the backlog, queued as it drains */
	u64_push(&c->p->cu, sid);
	return true;
}

/* Responder: send what the initiator lacks.  A round only serves its
 * initiator: what we lack comes in our own round with that peer.  (Pulling
 * here too would fetch every packet twice when two nodes reconcile with
 * each other at the same time, as they do after a restart.)  What it lacks
 * replaces its catch-up backlog (the new list supersedes the old one); the
 * backlog is queued by drain() at the pace the peer takes it. */
static void on_idlist(struct gossip *g, struct gpeer *p,
                      struct wire_idlist *l)
{
	uint32_t t, c;
	const uint8_t *ids;
	struct u64vec v = {0};
	uint32_t now = wall(g);

	if (!p->idlist_ok)
		return; /* not the answer to our SUMMARY_SEC: ignored */
	p->idlist_ok = false;
	if (!bk_take(&p->rl_recon, RL_RECON_RATE, RL_RECON_BURST, g->now_ms,
	             1)) {
		misbehave(g, p->id, 1, "IDLIST rate");
		return;
	}
	cu_fill(g, p);
	if (p->cub->tokens < CU_BURST / 2) {
		/* budget spent: keep the backlog, do not walk the store again */
		if (++p->cu_starved >= CU_STARVED_MAX) {
			p->cu_starved = 0;
			misbehave(g, p->id, 5, "catch-up beyond its budget");
		}
		g->st.cu_refused++;
		return;
	}
	p->cu_starved = 0;
	cu_clear(p);
	p->cu_epoch = p->ans_epoch;
	while (p->cu.n < GOSSIP_CATCHUP_MAX &&
	       wire_idlist_next(l, &t, &c, &ids)) {
		v.n = 0;
		for (uint32_t i = 0; i < c; i++) {
			uint64_t sid = wire_ids_at(ids, i);
			u64_push(&v, sid);
			known_add(p, sid);
		}
		if (t < p->ans_t0 || t > p->ans_t1)
			continue; /* not a second of the round */
		if ((uint64_t)t + g->cfg.purgetime <= (uint64_t)now + 1)
			continue; /* about to expire: not worth sending */
		if (v.n > 1)
			qsort(v.v, v.n, sizeof(uint64_t), cmp_u64);
		struct idl_ctx ctx = {p, v.v, v.n};
		store_foreach_time(g->store, t, t, idl_cb, &ctx);
	}
	free(v.v);
}

int gossip_on_msg(struct gossip *g, int peer, uint8_t type,
                  const uint8_t *p, size_t n, uint64_t now_ms,
                  enum drop_reason *reason)
{
	struct gpeer *gp = peer_get(g, peer);
	const uint8_t *ids;
	uint32_t c;
	int rc = E_OK;

	*reason = DROP_NONE;
	g->now_ms = now_ms;
	if (!gp)
		return E_PROTO;
	switch (type) {
	case WIRE_PACKET:
		if (n == 0)
			return E_PROTO;
		rc = on_packet(g, gp, p, n, reason);
		break;
	case WIRE_PACKETS: {
		struct wire_packets w;
		const uint8_t *pk;
		uint32_t len;
		if (wire_packets_decode(p, n, &w) != E_OK)
			return E_PROTO;
		while (rc == E_OK && wire_packets_next(&w, &pk, &len))
			rc = on_packet(g, gp, pk, len, reason);
		break;
	}
	case WIRE_INV:
	case WIRE_GETDATA:
	case WIRE_NOTFOUND:
		if (wire_ids_decode(p, n, &ids, &c) != E_OK)
			return E_PROTO;
		if (type == WIRE_INV)
			on_inv(g, gp, ids, c);
		else if (type == WIRE_GETDATA)
			on_getdata(g, gp, ids, c);
		else
			on_notfound(g, gp, ids, c);
		break;
	case WIRE_GETBITS: {
		uint32_t seq;
		if (wire_getbits_decode(p, n, &seq, &ids, &c) != E_OK)
			return E_PROTO;
		on_getbits(g, gp, seq, ids, c);
		break;
	}
	case WIRE_SUMMARY: {
		struct wire_summary s;
		if (wire_summary_decode(p, n, &s) != E_OK)
			return E_PROTO;
		if (g->cfg.full)
			on_summary(g, gp, &s);
		break;
	}
	case WIRE_SUMMARY_SEC: {
		struct wire_summary_sec s;
		if (wire_summary_sec_decode(p, n, &s) != E_OK)
			return E_PROTO;
		on_summary_sec(g, gp, &s);
		break;
	}
	case WIRE_IDLIST: {
		struct wire_idlist l;
		if (wire_idlist_decode(p, n, &l) != E_OK)
			return E_PROTO;
		if (g->cfg.full)
			on_idlist(g, gp, &l);
		break;
	}
	default:
		return E_PROTO;
	}
	flush(g);
	return rc;
}

/* e's deadline passed: is its peer still delivering packets (since the
 * request or the last extension), with the wait under its cap? */
static bool fetch_busy(const struct gossip *g, const struct pend *e,
                       uint64_t now_ms)
{
	const struct gpeer *p = peer_get(g, e->asked);

	return p && g->fn < FIFO_SLOTS &&
	       p->last_pkt_ms + GOSSIP_FETCH_TIMEOUT_MS >= e->deadline &&
	       now_ms < e->asked_ms + GOSSIP_FETCH_WAIT_MAX_MS;
}

void gossip_tick(struct gossip *g, uint64_t now_ms)
{
	g->now_ms = now_ms;
	/* timed-out fetches, in deadline order */
	while (g->fn > 0) {
		struct fifo_ent f = g->fifo[g->fhead];
		if (f.deadline > now_ms)
			break;
		g->fhead = (g->fhead + 1) % FIFO_SLOTS;
		g->fn--;
		struct pend *e = pend_get(g, f.sid);
		if (e && e->deadline == f.deadline) {
			if (fetch_busy(g, e, now_ms)) {
				/* the link is carrying packets: wait */
				e->deadline = now_ms + GOSSIP_FETCH_TIMEOUT_MS;
				fifo_push(g, e->sid, e->deadline);
				g->st.fetch_waited++;
				continue;
			}
			pend_failed(g, e->asked);
			pend_retry(g, e, true);
		}
	}
	for (size_t i = 0; i < g->npeers; i++) {
		struct gpeer *p = g->peers[i];
		if (inv_due(g, p))
			send_inv(g, p);
		if (p->recon_open && now_ms >= p->recon_deadline)
			p->recon_open = false;
		if (p->full && !p->recon_open && now_ms >= p->next_recon)
			recon_start(g, p);
	}
	flush(g);
}

uint64_t gossip_next_due(const struct gossip *g)
{
	uint64_t due = UINT64_MAX;
	for (size_t i = 0; i < g->npeers; i++) {
		const struct gpeer *p = g->peers[i];
		if (p->ann.n && p->ann_t + GOSSIP_INV_DELAY_MS < due)
			due = p->ann_t + GOSSIP_INV_DELAY_MS;
	}
	return due;
}

void gossip_drain(struct gossip *g, int peer)
{
	struct gpeer *p = peer_get(g, peer);
	if (p)
		drain(g, p);
}

bool gossip_peer_synced(const struct gossip *g, int peer)
{
	struct gpeer *p = peer_get(g, peer);
	return p && p->synced;
}

bool gossip_synced(const struct gossip *g)
{
	if (g->npend > 0)
		return false;
	for (size_t i = 0; i < g->npeers; i++)
		if (g->peers[i]->synced)
			return true;
	return false;
}

size_t gossip_queued_bytes(const struct gossip *g, int peer)
{
	struct gpeer *p = peer_get(g, peer);
	return p ? p->qbytes : 0;
}

size_t gossip_catchup_backlog(const struct gossip *g, int peer)
{
	struct gpeer *p = peer_get(g, peer);
	return p ? p->cu.n - p->cu_head : 0;
}

const struct gossip_stats *gossip_get_stats(struct gossip *g,
                                            uint64_t now_ms)
{
	g->st.fetch_pending = g->npend;
	g->st.overloaded = now_ms < g->overload_until;
	return &g->st;
}

static size_t vec_mem(const struct u64vec *v)
{
	return v->cap * sizeof(uint64_t);
}

static size_t peer_mem(const struct gpeer *p)
{
	size_t m = sizeof(*p) + GOSSIP_KNOWN_SLOTS * (sizeof(uint64_t) +
	                                              sizeof(uint32_t));
	m += vec_mem(&p->ann) + vec_mem(&p->req) + vec_mem(&p->cu);
	if (p->invr)
		m += GOSSIP_INV_RING * sizeof(*p->invr) +
		     GOSSIP_INV_SEQS * sizeof(*p->invb);
	for (int c = 0; c < QCLASSES; c++)
		m += p->q[c].cap * sizeof(struct qent);
	/* its share of the pending table and the timeout FIFO */
	m += p->npend * (2 * sizeof(struct pend) + 4 * sizeof(struct fifo_ent));
	return m;
}

size_t gossip_peer_mem(const struct gossip *g, int peer)
{
	const struct gpeer *p = peer_get(g, peer);
	return p ? peer_mem(p) : 0;
}

size_t gossip_mem(const struct gossip *g)
{
	size_t m = sizeof(*g) + PEND_SLOTS * sizeof(struct pend) +
	           FIFO_SLOTS * sizeof(struct fifo_ent) + g->wb.cap;
	for (size_t i = 0; i < g->npeers; i++) {
		const struct gpeer *p = g->peers[i];
		m += peer_mem(p) - p->npend * (2 * sizeof(struct pend) +
		                               4 * sizeof(struct fifo_ent));
	}
	return m;
}

/* Tests and fuzzing: every invariant, by a full walk (pending table and
 * FIFO, per-peer counts, queues, bounds).  0 or the line of the first
 * failed check. */
#define DCHK(c) do { if (!(c)) return __LINE__; } while (0)
#if defined(__clang__)
/* a walk of the whole table: not worth the fuzzer's coverage hooks */
__attribute__((no_sanitize("coverage")))
#endif
int gossip_debug_check(const struct gossip *g)
{
	size_t used = 0, asked[MAX_PEERS] = {0};
	DCHK(g->npend <= GOSSIP_PENDING_MAX);
	DCHK(g->fn <= FIFO_SLOTS);
	DCHK(g->npeers <= MAX_PEERS);
	for (size_t i = 0; i < PEND_SLOTS; i++) {
		const struct pend *e = &g->pend[i];
		if (!e->sid)
			continue;
		used++;
		/* reachable from its home slot without a hole */
		for (size_t j = pend_slot(e->sid); j != i;
		     j = (j + 1) & (PEND_SLOTS - 1))
			DCHK(g->pend[j].sid != 0);
		DCHK(e->nalt <= GOSSIP_ALTS);
		DCHK(e->tries >= 1 && e->tries <= GOSSIP_FETCH_TRIES);
		for (size_t k = 0; k < g->npeers; k++)
			if (g->peers[k]->id == e->asked)
				asked[k]++;
	}
	DCHK(used == g->npend);
	for (size_t i = 0; i < g->npeers; i++) {
		const struct gpeer *p = g->peers[i];
		size_t qn = 0, qb = 0;
		for (size_t k = 0; k < i; k++)
			DCHK(g->peers[k]->id != p->id);
		DCHK(asked[i] == p->npend);
		DCHK(p->pcap >= PEER_PENDING_MIN && p->pcap <= PEER_PENDING_MAX);
		for (int c = 0; c < QCLASSES; c++) {
			const struct qring *q = &p->q[c];
			DCHK(q->n <= q->cap);
			for (size_t k = 0; k < q->n; k++)
				qb += q->v[(q->head + k) % q->cap].len;
			qn += q->n;
		}
		DCHK(qn == p->qn && qb == p->qbytes);
		DCHK(p->qn <= QENT_MAX);
		DCHK(p->ann.n <= GOSSIP_ANN_MAX);
		DCHK(p->cu_head <= p->cu.n && p->cu.n <= GOSSIP_CATCHUP_MAX);
		DCHK(peer_mem(p) <= GOSSIP_PEER_MEM_MAX);
	}
	return 0;
}
