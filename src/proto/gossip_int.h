/* gossip_int.h - what the parts of the gossip engine share (internal: only
 * src/proto/gossip*.c include it).  The engine is split along its layers:
 *
 *   gossip.c         peers, the entry points (dispatch, tick, flush), stats,
 *                    memory accounting and the invariant check;
 *   gossip_push.c    the push path: received and new packets, the per-peer
 *                    priority send queues and their draining;
 *   gossip_fetch.c   announce and fetch: INV batches, the pending-fetch
 *                    table with re-requests, GETDATA/GETBITS/NOTFOUND;
 *   gossip_recon.c   reconciliation (SUMMARY, SUMMARY_SEC, IDLIST) and the
 *                    catch-up backlog with its budgets;
 *   gossip_tree.c    the eager-push trees of v3 peers (which peer gets a
 *                    packet pushed, PRUNE and GRAFT).
 *
 * The limits below are the engine's own; those a caller may need are in
 * gossip.h, the wire limits in wire.h.
 */
#ifndef DEX_GOSSIP_INT_H
#define DEX_GOSSIP_INT_H

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "proto/gossip.h"
#include "proto/treelearn.h"
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
/* Catch-up split (initiator side): the seconds that differ are owned, by
 * blocks of CU_SPLIT_S seconds, in turn by the full peers (ordered by id);
 * a round with a peer lists in its IDLIST (and so is sent) only the
 * seconds it owns, and those of owners that are not busy (their last
 * round found nothing to send us, or did not finish).  So a late joiner
 * with 3 full peers gets each packet once, a third from each, instead of
 * three times.  An owner is trusted with its seconds for CU_OWNER_MAX_MS
 * of being busy: a peer whose rounds keep finding differences (what it
 * sends us we cannot keep) does not hold back the others'. */
#define CU_SPLIT_S 10u
/* ... except that a block listed to a peer stays that peer's while it is
 * trusted (below), whoever its owner by rank: a joiner whose first peer
 * is up before the others (daemons: one handshake after another) has
 * asked it for everything already, and giving blocks to the later peers
 * by rank re-sent what the first had queued or written (1.73 copies per
 * packet with 3 real daemons on 127.0.0.1).  CU_STICK_SLOTS blocks are
 * remembered (by block number, direct mapped: a collision falls back to
 * the rank). */
#define CU_STICK_SLOTS 256u
#define CU_OWNER_MAX_MS 60000u
/* ... and for longer while it makes progress: it delivered us at least
 * CU_OWNER_MIN_BYTES of new packets older than CU_LIVE_S (catch-up, not
 * live traffic) within the last CU_OWNER_WINDOW_MS.  Such an owner also
 * keeps its seconds when a round with it times out: its SUMMARY_SEC waits
 * behind the catch-up it is sending us (a 125 kB/s downlink shared by 3
 * peers' 1 MiB output buffers is 25 s behind).  So a backlog longer than
 * CU_OWNER_MAX_MS of the link is still sent once, and a peer that keeps
 * its seconds and sends nothing of them (or dribbles) gives them up after
 * a window. */
#define CU_OWNER_WINDOW_MS 10000u
#define CU_OWNER_MIN_BYTES (16u << 10)
#define CU_LIVE_S 3u
/* Responder: the catch-up packets queued for a peer after the SUMMARY_SEC
 * its IDLIST answers left (or still queued then) are listed, at most
 * CU_AFTER_MAX (512 KiB), and that IDLIST does not get them again (it
 * cannot show them); beyond, the known-set's epoch marks decide. */
#define CU_AFTER_MAX 65536u
/* Initiator: a second where the responder holds fewer packets than we do
 * is not listed while the responder runs rounds with us (its SUMMARY came
 * within CU_PULLS_MS): it is behind there and pulls what it lacks with
 * its own rounds; once it holds as many as we do the second is listed
 * (what it has that we lack comes then).  Listing it each round sent a
 * joiner its full peers' ids again and again: 20,000 packets in one
 * second, 160 kB a round and peer, a quarter of what it received. */
#define CU_PULLS_MS 5000u
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
/* Initiator side: after each round in a row that found nothing differing
 * (SUMMARY_SEC n = 0) the next SUMMARY to that peer waits twice as long,
 * up to GOSSIP_RECON_INTERVAL_MS << RECON_QUIET_MAX; a round that finds a
 * difference brings it back to GOSSIP_RECON_INTERVAL_MS.  A SUMMARY covers
 * the whole purge window (60 minute entries of 12 bytes: ~730 bytes a peer
 * a second, 2-7 % of the payload at 256-1,000 packets/s among 256-1,000
 * nodes) while the push and the announcements leave it nothing to find. */
#define RECON_QUIET_MAX 2u
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

static inline void u64_push(struct u64vec *a, uint64_t x)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
	}
	a->v[a->n++] = x;
}

struct u32vec {
	uint32_t *v;
	size_t n, cap;
};

static inline void u32_push(struct u32vec *a, uint32_t x)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
	}
	a->v[a->n++] = x;
}

/* ---- per-peer priority queue ---- */

struct qent {
	uint8_t hash[32];
	uint32_t len;
	uint32_t tag;                /* TPACKETS tag (v3 peers) */
	uint8_t relay;
};

struct qring {
	struct qent *v;
	size_t head, n, cap;
};

static inline void q_push(struct qring *q, const struct qent *e)
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

static inline struct qent q_pop(struct qring *q)
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

static inline void bk_init(struct bucket *b, double burst, uint64_t now_ms)
{
	b->tokens = burst;
	b->t = now_ms;
}

static inline void bk_fill(struct bucket *b, double rate, double burst,
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
static inline bool bk_take(struct bucket *b, double rate, double burst,
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
	bool v3;                     /* VERSION >= 3 */
	int tslot;                   /* tree peer: its bit in tree.lazy, or -1 */
	uint64_t rtt_ms;             /* gossip_peer_rtt, 0 = unknown */
	struct u32vec prune, graft;  /* tree keys to send in PRUNE / GRAFT */
	uint64_t prune_t;            /* the oldest key in prune queued at */
	bool prune_now;              /* ... one of a tree past its first
	                                packet: send at the next flush */
	struct bucket rl_tree;       /* PRUNE + GRAFT keys received */
	uint32_t inv_out, inv_in;    /* INV frames sent / received */
	uint64_t *invr;              /* GOSSIP_INV_RING ids, v2 only, lazy */
	uint64_t invr_total;         /* ids ever written to invr */
	struct invb *invb;           /* GOSSIP_INV_SEQS, by seq */
	bool synced;
	bool cu_busy;                /* its last round had something for us */
	uint64_t cu_busy_since;
	uint64_t cu_prog_ms;         /* ... it last made progress (0 never) */
	uint64_t cu_win_ms;          /* ... bytes of it since this time */
	uint32_t cu_win_bytes;
	bool recon_open;
	uint32_t recon_t0, recon_t1;
	uint64_t recon_deadline, next_recon;
	uint8_t recon_quiet;         /* rounds in a row that found nothing
	                                (capped at RECON_QUIET_MAX) */
	uint64_t last_answer_ms;     /* responder: last SUMMARY answered */
	uint64_t sum_ms;             /* ... last SUMMARY received (0 never) */
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
	size_t room_max;             /* the most room() has given in the */
	uint64_t room_win;           /* ... second from here, */
	size_t room_prev;            /* ... and in the second before */
	struct u64vec cu;            /* catch-up backlog: short ids, */
	size_t cu_head;              /* ... cu.v[cu_head..cu.n) still to queue */
	struct u64vec cu_after;      /* catch-up queued for it since the last
	                                SUMMARY_SEC with differences left, or
	                                queued then (CU_AFTER_MAX at most) */
};

/* ---- pending fetches ---- */

struct pend {
	uint64_t sid;                /* 0 = empty slot */
	uint64_t deadline;
	uint64_t asked_ms;           /* asked of `asked` at this time */
	int asked;
	int alt[GOSSIP_ALTS];
	uint8_t nalt, tries;
	bool deferred;               /* not asked yet: waits for the tree */
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

/* The peer a block of CU_SPLIT_S seconds was last listed to. */
struct cu_stick {
	uint32_t block;              /* t / CU_SPLIT_S + 1, 0 = none */
	int peer;
};

struct gossip {
	struct cugroup *cug;         /* CU_GROUPS, at the first group */
	struct cu_stick *cu_stick;   /* CU_STICK_SLOTS, at the first round */
	struct store *store;
	struct gossip_cfg cfg;
	struct gossip_ops ops;
	gossip_send_packets_fn send_packets;
	gossip_send_tpackets_fn send_tpackets;
	bool hold;                   /* gossip_hold(): gsp_flush() deferred */
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
	/* eager-push trees (gossip_tree.c), allocated with the first v3 peer */
	struct tree *trees;          /* TREE_SETS * TREE_WAYS */
	uint64_t *km_sid;            /* KEYMAP_SLOTS: short id -> tree key */
	uint32_t *km_key;
	int8_t *km_src;              /* ... tree slot of the peer that pushed
	                                the first copy, -1 none */
	uint32_t tslots;             /* tree peer bits in use */
	uint32_t tree_key;           /* of the packets created here */
	uint32_t tclock;             /* tree table use counter (LRU) */
	struct tlearn *tl;           /* first-packet eager sets (treelearn.h) */
	struct tlq_ent *tlq;         /* births to count, TLQ_SLOTS ring */
	size_t tlq_head, tlq_n;
	struct fifo_ent *dfifo;      /* deferred fetches, DFIFO_SLOTS ring */
	size_t dhead, dn;
};

/* Wall clock seconds for reconciliation windows (ops.wall_now, else the
 * entry point's clock). */
static inline uint32_t wall(const struct gossip *g)
{
	if (g->ops.wall_now)
		return g->ops.wall_now(g->ops.ctx);
	return (uint32_t)(g->now_ms / 1000);
}

static inline void misbehave(struct gossip *g, int peer, unsigned score,
                      const char *why)
{
	g->st.misbehaved++;
	if (g->ops.misbehave)
		g->ops.misbehave(g->ops.ctx, peer, score, why);
}

/* ---- peers ---- */

static inline struct gpeer *peer_get(const struct gossip *g, int id)
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

/* sid was queued for p, and p has since told us it holds it (sent it,
 * announced it, listed it): the queued copy need not be sent. */
static inline bool known_got(const struct gpeer *p, uint64_t sid)
{
	size_t i = kslot(sid);
	return p->known[i] == sid && !(p->kmeta[i] & KM_QUEUED);
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

static inline struct stored *sidx_get(const struct gossip *g, uint64_t sid)
{
	return store_get_short(g->store, sid);
}

/* ---- eager-push trees (gossip_tree.c) ----
 *
 * One tree per creator (tree key), formed from first arrivals: a node
 * pushes a packet at once to each tree peer that has not pruned its key
 * and announces it to a few of the others.  A peer that pushes us a packet
 * we hold already is sent PRUNE (it stops pushing that key to us; we go on
 * pushing to it until it prunes us: pruning is per direction, so a push
 * that crossed ours cannot cut a node off).  A packet whose first copy
 * came as the answer to a fetch makes the peer that answered push to us
 * again (GRAFT).  A key not in the table is eager to every tree peer: a
 * creator's first packet floods, its next ones follow the tree its first
 * one drew (the shortest-path tree, less jitter). */
#define TREE_PEERS 32                /* tree peers per node (bits of lazy) */
/* TREE_SETS, KEYMAP_SLOTS and DFIFO_SLOTS may be set smaller at build
 * time (powers of two; Makefile SIM_SMALL_TABLES). */
#ifndef TREE_SETS
#define TREE_SETS 1024u              /* table: 4-way sets, LRU */
#endif
#define TREE_WAYS 4u
/* Short id -> tree key of recent packets, direct mapped: the key of a
 * packet served to a fetch (TPACKETS answers carry it, for GRAFT).  An
 * entry overwritten is sent with key 0 (no GRAFT: the tree is repaired by
 * the next fetch). */
#ifndef KEYMAP_SLOTS
#define KEYMAP_SLOTS 16384u
#endif
/* Lazy announcements (INV) per packet to tree peers at most: the tree
 * delivers, announcements only repair it; each id announced costs 8
 * control bytes per link (announcing to every lazy peer of a degree-8
 * node was ~19 % of 256-byte payloads, to 2 of them 7.6 %). */
#define TREE_LAZY_ANN 1u
/* A tree's first TREE_FRESH packets flood (no PRUNE has come back yet);
 * to a peer whose output is backed up for them (gsp_backed: packets of
 * their class or higher in its send queue, or its output buffer more than
 * half full) they are announced instead.  A peer announced the first
 * packet so is left lazy for the tree (tree.blazy) while its link stays
 * backed up: it was sent no copy, so it has no duplicate to PRUNE, and
 * without this the tree's later packets, past TREE_FRESH, were pushed to
 * every such peer (100 nodes, 5 packets a creator, 50 kB/s uplinks: 5
 * copies a node of each; docs/bench.md "Slow uplinks: the first packet's
 * announced peers stay lazy").  If it fetches the packet from us it
 * GRAFTs; once its link is not backed up it is eager again. */
#define TREE_FRESH 3u
/* PRUNEs drawn by a tree's first packet wait up to TREE_PRUNE_DELAY_MS
 * (or TREE_PRUNE_BATCH keys) for others to the same peer: a creator's
 * next packet comes much later, and when trees form by the hundred (a
 * node starting, a burst of new creators) one frame a key cost 15 bytes
 * a duplicate (2-3 % of the payload at 10 packets a creator).  A PRUNE of
 * a tree that has sent more (a creator publishing fast) and every GRAFT go
 * at the next flush, with whatever waits. */
#define TREE_PRUNE_DELAY_MS 50u
#define TREE_PRUNE_BATCH 256u
/* The lazy announcement of a settled tree (past TREE_SETTLED packets
 * here: its first ones drew their PRUNEs) is made for one packet in
 * TREE_SETTLED_ANN_EVERY only, the nodes taking turns (by their own tree
 * key): it is there to find a broken tree link, which one packet in three
 * still does, and reconciliation finds every packet an INV did not
 * announce.  (One INV id a node and packet was ~2 % of the payload.) */
#define TREE_SETTLED TREE_FRESH
#define TREE_SETTLED_ANN_EVERY 3u
/* ... and wait this long for others to share their INV frame (instead of
 * GOSSIP_INV_DELAY_MS): they repair, they do not carry, the latency. */
#define TREE_INV_DELAY_MS 50u
/* A packet announced by a tree peer is asked for only after this long
 * (Plumtree's graft timer): the tree's copy is on its way, usually ahead
 * of the announcement, and asking at once would fetch it twice.  If the
 * tree did not bring it by then, it is fetched and the tree grafted. */
#define TREE_FETCH_WAIT_MS 100u
/* Deferred fetches wait in a FIFO of their own (one wait for all: in
 * deadline order); when it is full, announcements are fetched at once. */
#ifndef DFIFO_SLOTS
#define DFIFO_SLOTS 16384u
#endif
/* PRUNE + GRAFT keys a peer may send (rate per second, burst): honest
 * peers send about one per creator and link when trees form. */
#define RL_TREE_RATE 20000u
#define RL_TREE_BURST 100000u

/* The tag given to packets that came in PACKET/PACKETS frames (eager
 * with key 0: never sent by us). */
#define TAG_UNTAGGED WIRE_TAG_EAGER

struct tree {
	uint32_t key;                /* 0 = free */
	uint32_t lazy;               /* tree peer bits: pruned us, do not push */
	uint32_t pruned;             /* ... we pruned (sent PRUNE) */
	uint32_t used;               /* tclock at the last use */
	uint32_t pushed0;            /* ... the first packet was pushed to */
	uint32_t plazy;              /* ... predicted lazy at its birth */
	uint32_t blazy;              /* ... left lazy because their link was
	                                backed up at its first packet: eager
	                                again once it is not (TREE_FRESH) */
	uint16_t seen;               /* packets of it handled (saturates) */
	int8_t up;                   /* slot that pushed the latest first
	                                copy (our parent), -1 none */
};

/* A new tree's first packet is pushed only to the peers treelearn.h
 * predicts need it; TREE_LEARN_MS after its birth (the PRUNEs its first
 * push drew are back: a round trip, 2 x 160 ms at most on the sim's WAN
 * profile, plus TREE_PRUNE_DELAY_MS; one later than that counts as "kept",
 * the safe side) the tree is counted into the prediction.  Birth order is kept in a ring of TLQ_SLOTS (full: a birth
 * is not counted). */
#define TREE_LEARN_MS 400u
#ifndef TLQ_SLOTS
#define TLQ_SLOTS 4096u
#endif
/* Predicted-lazy peers of a tree's first packet that are announced it
 * (the others, if the push of some other neighbour misses them, wait for
 * a lazy INV of a later hop or reconciliation).  With RTT-chosen first
 * pushes (gossip_cfg.tree_rtt_pct) every one is: with 2, 256 nodes at
 * 1,000/s, RTT factor 125 %: p99 1.32 / 1.28 x the bound, with all
 * 1.30 / 1.27 (seeds 1 / 2), copies and control the same. */
#ifndef TREE_PLAZY_ANN
#define TREE_PLAZY_ANN 2u
#endif

struct tlq_ent {
	uint32_t key;
	uint64_t at;
};

/* ---- across the parts ---- */

/* gossip.c */
void gsp_send_wb(struct gossip *g, struct gpeer *p, bool control);
void gsp_flush(struct gossip *g);

/* gossip_push.c */
bool gsp_enqueue(struct gossip *g, struct gpeer *p, const struct stored *sp,
                 uint8_t relay, uint32_t tag, bool catchup);
void gsp_on_new_key(struct gossip *g, struct stored *sp, int from_peer,
                    uint32_t tag);
int gsp_on_tpackets(struct gossip *g, struct gpeer *p,
                    const uint8_t *buf, size_t n, enum drop_reason *reason);
void gsp_drain(struct gossip *g, struct gpeer *p);
int gsp_on_packet(struct gossip *g, struct gpeer *p, const uint8_t *pkt,
                  size_t n, enum drop_reason *reason);

/* gossip_fetch.c */
size_t gsp_pend_slot(uint64_t sid);
struct pend *gsp_pend_get(struct gossip *g, uint64_t sid);
void gsp_pend_del(struct gossip *g, struct pend *e);
void gsp_pend_retry(struct gossip *g, struct pend *e, bool same_ok);
void gsp_pend_delivered(struct gpeer *p);
void gsp_send_ids(struct gossip *g, struct gpeer *p, uint8_t type,
                  struct u64vec *v);
void gsp_send_inv(struct gossip *g, struct gpeer *p);
bool gsp_inv_due(const struct gossip *g, const struct gpeer *p);
void gsp_fetch_tick(struct gossip *g, uint64_t now_ms);
void gsp_on_inv(struct gossip *g, struct gpeer *p, const uint8_t *ids,
                uint32_t c);
void gsp_on_getdata(struct gossip *g, struct gpeer *p, const uint8_t *ids,
                    uint32_t c);
void gsp_on_getbits(struct gossip *g, struct gpeer *p, uint32_t seq,
                    const uint8_t *bits, uint32_t nbytes);
void gsp_on_notfound(struct gossip *g, struct gpeer *p, const uint8_t *ids,
                     uint32_t c);

/* gossip_recon.c */
bool gsp_cu_pending(const struct gpeer *p);
void gsp_cu_refill(struct gossip *g, struct gpeer *p);
void gsp_cu_params(const struct gossip *g, double *rate, double *burst);
void gsp_recon_start(struct gossip *g, struct gpeer *p);
void gsp_cu_idle(struct gossip *g, struct gpeer *p);
void gsp_cu_after_clear(struct gpeer *p);
void gsp_cu_arrived(struct gossip *g, struct gpeer *p,
                    const struct stored *sp);
bool gsp_cu_trusted(const struct gpeer *p, uint64_t now_ms);
void gsp_on_summary(struct gossip *g, struct gpeer *p,
                    const struct wire_summary *s);
void gsp_on_summary_sec(struct gossip *g, struct gpeer *p,
                        const struct wire_summary_sec *s);
void gsp_on_idlist(struct gossip *g, struct gpeer *p, struct wire_idlist *l);

/* gossip_tree.c */
void gsp_tree_peer_add(struct gossip *g, struct gpeer *p);
void gsp_tree_peer_del(struct gossip *g, struct gpeer *p);
bool gsp_tree_peer(const struct gossip *g, const struct gpeer *p);
uint32_t gsp_tree_key_of(const struct gossip *g, uint64_t sid);
void gsp_tree_note(struct gossip *g, uint64_t sid, uint32_t key,
                   const struct gpeer *src);
struct tree *gsp_tree_get(struct gossip *g, uint32_t key, bool create);
void gsp_tree_born(struct gossip *g, struct tree *t, const struct gpeer *up);
void gsp_tree_learn_due(struct gossip *g);
bool gsp_tree_eager(const struct gossip *g, const struct tree *t,
                    const struct gpeer *p);
void gsp_tree_dup(struct gossip *g, struct gpeer *p, uint64_t sid,
                  uint32_t key);
/* q announced a packet of tree key before its first copy came by push:
 * with RTT-chosen first pushes (gossip_cfg.tree_rtt_pct) q is grafted. */
void gsp_tree_announced_first(struct gossip *g, struct gpeer *q,
                              uint32_t key);
void gsp_tree_fetched(struct gossip *g, struct gpeer *p, uint32_t key);
void gsp_tree_flush(struct gossip *g, struct gpeer *p);
bool gsp_tree_flush_due(const struct gossip *g, const struct gpeer *p);
bool gsp_backed(struct gossip *g, struct gpeer *p, int cls);
void gsp_on_prune(struct gossip *g, struct gpeer *p, const uint8_t *keys,
                  uint32_t c, bool graft);
size_t gsp_tree_mem(const struct gossip *g);

#endif
