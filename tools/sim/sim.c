/* sim.c - N dexp2p nodes in one process over a simulated network
 * (DESIGN.md 2, tools/sim/).  Each node is the daemon's own store and
 * gossip engine (src/core, src/proto); the network is links with a
 * one-way latency, jitter and a bandwidth, driven by a virtual clock in
 * 1 ms steps, so a run is deterministic for its seed and a minute of
 * traffic takes seconds.  Partitions and restarts (a node down, then back
 * with an empty store) exercise reconciliation.
 *
 * Prints one line of key=value (docs/bench.md, "sim"):
 *   bench=sim nodes topology avg_degree rate seconds packet_bytes latency_ms
 *   jitter_ms bandwidth seed created lost_in_crash delivered_all missing
 *   dup_ratio control_ratio latency_p50_ms latency_p99_ms latency_max_ms
 *   converged_after_ms fingerprints_equal skew misbehaved
 * created: packets made (at random up nodes); lost_in_crash: held by no
 * node but one that crashed (-restart); delivered_all: packets that
 * reached every node; missing: sum over nodes of the packets (created -
 * lost) it lacks at the end; latency: creation to the last node, over
 * delivered_all; converged_after_ms: after the load, when every node held
 * the same created - lost packets (-1: not within -settle); skew: node 0's
 * clock offset (-skew); misbehaved: reports to gossip_ops.misbehave (0 for
 * honest traffic).  Each node keeps packets from the near future in a
 * future hold (core/fhold.h, 60 s window) as the daemon does.
 * Exit status 0 when the run completed (whatever it measured), 2 on a bad
 * argument.
 *
 * Not simulated: handshakes, keepalives and addr exchange (net.c; links
 * are given), the TCP stream itself (frames arrive whole, in order),
 * proof of work (txpowbits 0), crypto envelopes and cancels (node.c).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "core/err.h"
#include "core/fhold.h"
#include "core/packet.h"
#include "core/store.h"
#include "core/txpow.h"
#include "core/util.h"
#include "proto/gossip.h"
#include "proto/wire.h"

#define SIM_T0 1767225600000ull  /* virtual clock start, ms */
#define SIM_PURGETIME 3600u
#define SIM_MAX_NODES 256
#define SIM_MAX_DEGREE 16
#define SIM_MAX_PACKETS 4000000u
#define SIM_TICK_MS 20u          /* gossip_tick period, as net.c */
/* A link's send buffer: room() says full once this many ms of sending
 * are queued at its bandwidth (TCP socket buffer stand-in). */
#define SIM_BUFFER_MS 50u

struct seg {                     /* bytes arriving at `at` */
	uint64_t at;
	struct wbuf b;
};

struct link {                    /* one direction */
	int from, to;
	bool up;
	uint64_t busy_until;         /* bandwidth: sender busy until (ms) */
	uint64_t last_at;            /* FIFO: no segment before this */
	struct seg *q;
	size_t qhead, qn, qcap;
};

struct snode {
	int idx;
	bool up;
	struct store *store;
	struct gossip *g;
	int peers[SIM_MAX_DEGREE];   /* neighbour node index */
	struct link *out[SIM_MAX_DEGREE];
	int npeers;
	uint64_t added, dups;
	int skew;                    /* wall clock offset (s) */
	struct fhold *hold;          /* packets from the near future */
};

struct pktrec {                  /* per created packet */
	uint64_t created;            /* ms */
	uint64_t last;               /* ms: reached the last node */
	uint32_t have;               /* arrivals at nodes */
	bool lost;                   /* only a crashed node ever held it */
};

struct opts {
	int nodes, degree;
	char topology[16];
	int64_t rate, seconds, settle, size, latency, jitter, bandwidth, seed;
	int64_t part_t1, part_t2;           /* partition [t1, t2) s, -1 none */
	int64_t restart_node, restart_t1, restart_t2;
	int64_t skew;                       /* node 0's clock offset, s */
	int64_t mode;                       /* gossip_cfg.mode */
};

static struct opts o;
static struct snode *nodes;
static struct link *links;
static size_t nlinks;
static struct pktrec *pk;
static uint32_t ncreated, nlost;
static uint64_t now_ms;
static uint64_t rng_state;
static uint64_t control_bytes, packet_bytes, misbehaved;

static uint64_t rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static uint32_t now_s(void)
{
	return (uint32_t)(now_ms / 1000u);
}

/* Node n's wall clock (s): the virtual clock plus its skew. */
static uint32_t wall_s(const struct snode *n)
{
	return (uint32_t)((int64_t)now_s() + n->skew);
}

static uint32_t s_wall(void *ctx)
{
	return wall_s(ctx);
}

static void s_misbehave(void *ctx, int peer, unsigned score, const char *why)
{
	misbehaved++;
}

/* ---- links ------------------------------------------------------------ */

static struct link *link_of(const struct snode *n, int peer)
{
	for (int i = 0; i < n->npeers; i++)
		if (n->peers[i] == peer)
			return n->out[i];
	return NULL;
}

/* Queue len bytes on l: they arrive after the bandwidth delay, the
 * latency and a jitter, never before bytes sent earlier (one TCP
 * stream). */
static struct wbuf *link_push(struct link *l, size_t len)
{
	uint64_t start = l->busy_until > now_ms ? l->busy_until : now_ms;
	uint64_t at;
	struct seg *s;

	if (o.bandwidth)
		l->busy_until = start + (uint64_t)len * 1000u / (uint64_t)o.bandwidth;
	else
		l->busy_until = now_ms;
	at = l->busy_until + (uint64_t)o.latency +
	     (o.jitter ? rng() % (uint64_t)(o.jitter + 1) : 0);
	if (at < l->last_at)
		at = l->last_at;
	l->last_at = at;
	if (l->qn && l->q[(l->qhead + l->qn - 1) % l->qcap].at == at)
		return &l->q[(l->qhead + l->qn - 1) % l->qcap].b;
	if (l->qn == l->qcap) {
		size_t cap = l->qcap ? 2 * l->qcap : 16;
		struct seg *q = xmalloc(cap * sizeof(*q));

		for (size_t i = 0; i < l->qn; i++)
			q[i] = l->q[(l->qhead + i) % l->qcap];
		free(l->q);
		l->q = q;
		l->qcap = cap;
		l->qhead = 0;
	}
	s = &l->q[(l->qhead + l->qn++) % l->qcap];
	s->at = at;
	wb_init(&s->b);
	return &s->b;
}

static void link_clear(struct link *l)
{
	while (l->qn) {
		wb_fini(&l->q[l->qhead].b);
		l->qhead = (l->qhead + 1) % l->qcap;
		l->qn--;
	}
	l->busy_until = l->last_at = 0;
}

/* ---- gossip callbacks --------------------------------------------------- */

static void s_send(void *ctx, int peer, const uint8_t *buf, size_t len)
{
	struct link *l = link_of(ctx, peer);

	if (!l || !l->up)
		return;
	wb_bytes(link_push(l, len), buf, len);
	control_bytes += len;
}

static void s_send_packet(void *ctx, int peer, const struct stored *sp,
                          uint8_t relay)
{
	struct link *l = link_of(ctx, peer);

	if (!l || !l->up)
		return;
	wire_packet_encode(link_push(l, WIRE_HDR_LEN + sp->len),
	                   stored_bytes(sp), sp->len, relay);
	packet_bytes += sp->len;
	control_bytes += WIRE_HDR_LEN;
}

static void s_send_packets(void *ctx, int peer,
                           const struct stored *const *sps,
                           const uint8_t *relays, size_t n)
{
	struct link *l = link_of(ctx, peer);
	size_t total = 0, pbytes = 0;
	struct wbuf *b;

	if (!l || !l->up)
		return;
	for (size_t i = 0; i < n; i++) {
		total += wire_packets_entry_len(sps[i]->len);
		pbytes += sps[i]->len;
	}
	b = link_push(l, WIRE_HDR_LEN + total);
	wb_begin(b, WIRE_PACKETS);
	for (size_t i = 0; i < n; i++)
		wire_packets_add(b, stored_bytes(sps[i]), sps[i]->len,
		                 relays[i]);
	wb_end(b);
	packet_bytes += pbytes;
	control_bytes += WIRE_HDR_LEN + total - pbytes; /* header, lengths */
}

static void s_send_tpackets(void *ctx, int peer,
                            const struct stored *const *sps,
                            const uint8_t *relays, const uint32_t *tags,
                            size_t n)
{
	struct link *l = link_of(ctx, peer);
	size_t total = 0, pbytes = 0;
	struct wbuf *b;

	if (!l || !l->up)
		return;
	for (size_t i = 0; i < n; i++) {
		total += wire_tpackets_entry_len(sps[i]->len);
		pbytes += sps[i]->len;
	}
	b = link_push(l, WIRE_HDR_LEN + total);
	wb_begin(b, WIRE_TPACKETS);
	for (size_t i = 0; i < n; i++)
		wire_tpackets_add(b, tags[i], stored_bytes(sps[i]),
		                  sps[i]->len, relays[i]);
	wb_end(b);
	packet_bytes += pbytes;
	control_bytes += WIRE_HDR_LEN + total - pbytes; /* header, tags */
}

static size_t s_room(void *ctx, int peer)
{
	struct link *l = link_of(ctx, peer);
	uint64_t queued_ms;

	if (!l || !l->up)
		return 0;
	if (!o.bandwidth)
		return SIZE_MAX;
	queued_ms = l->busy_until > now_ms ? l->busy_until - now_ms : 0;
	if (queued_ms >= SIM_BUFFER_MS)
		return 0;
	return (size_t)((SIM_BUFFER_MS - queued_ms) * (uint64_t)o.bandwidth /
	                1000u) + 1;
}

/* The packet's creation number, from its payload ("sim <n> ..."). */
static int64_t packet_seq(const uint8_t *pkt, size_t len)
{
	struct packet_view pv;
	char buf[24];
	size_t n;

	if (packet_decode(pkt, len, &pv) != E_OK || pv.payload_len < 5 ||
	    memcmp(pv.payload, "sim ", 4) != 0)
		return -1;
	n = pv.payload_len - 4 < sizeof(buf) - 1 ? pv.payload_len - 4
	                                          : sizeof(buf) - 1;
	memcpy(buf, pv.payload + 4, n);
	buf[n] = 0;
	return strtoll(buf, NULL, 10);
}

static void count_arrival(struct snode *n, const struct stored *sp)
{
	int64_t seq = packet_seq(stored_bytes(sp), sp->len);

	n->added++;
	if (seq < 0 || seq >= (int64_t)ncreated)
		return;
	/* a restarted node counts again: "all" is the first time the count
	 * reaches the number of nodes */
	if (++pk[seq].have == (uint32_t)o.nodes)
		pk[seq].last = now_ms;
}

static int s_ingest(void *ctx, int peer, const uint8_t *pkt, size_t len,
                    struct stored **out, enum drop_reason *reason)
{
	struct snode *n = ctx;
	struct packet_view pv;
	struct pow_eval pe;
	int rc;

	*out = NULL;
	*reason = packet_check(pkt, len, wall_s(n), 0, SIM_PURGETIME, &pv, &pe);
	if (*reason == DROP_FUTURE && pv.timestamp <= wall_s(n) + 60 &&
	    packet_check(pkt, len, pv.timestamp - 1, 0, SIM_PURGETIME, &pv,
	                 &pe) == DROP_NONE) {
		rc = fhold_put(n->hold, pkt, len, pv.timestamp, pe.priority,
		               pe.hash, peer);
		if (rc == E_OK || rc == E_DUP)
			return E_AGAIN;
	}
	if (*reason != DROP_NONE)
		return E_PROTO;
	rc = store_put(n->store, pkt, len, &pe, wall_s(n), out);
	if (rc == E_OK)
		count_arrival(n, *out);
	else if (rc == E_DUP)
		n->dups++;
	else
		return E_PROTO;
	return rc;
}

/* ---- nodes and topology ------------------------------------------------- */

static void node_start(struct snode *n)
{
	struct store_config sc = {.purgetime = SIM_PURGETIME,
	                          .maxmem = STORE_DEFAULT_MAXMEM};
	struct gossip_cfg gc = {.purgetime = SIM_PURGETIME, .full = true,
	                        .mode = (unsigned)o.mode,
	                        .tree_key = (uint32_t)n->idx + 1};
	struct gossip_ops ops = {
		.ctx = n, .send = s_send, .send_packet = s_send_packet,
		.room = s_room, .ingest = s_ingest, .wall_now = s_wall,
		.misbehave = s_misbehave,
	};

	n->skew = n->idx == 0 ? (int)o.skew : 0;
	n->hold = fhold_new(64u << 20, 65536);
	n->store = store_new(&sc);
	n->g = gossip_new(n->store, &gc, &ops);
	if (!n->store || !n->g) {
		fprintf(stderr, "sim: out of memory\n");
		exit(1);
	}
	gossip_set_send_packets(n->g, s_send_packets);
	gossip_set_send_tpackets(n->g, s_send_tpackets);
	n->up = true;
}

static void node_stop(struct snode *n)
{
	gossip_free(n->g);
	store_free(n->store);
	fhold_free(n->hold);
	n->hold = NULL;
	n->g = NULL;
	n->store = NULL;
	n->up = false;
}

static bool adjacent(int a, int b)
{
	return link_of(&nodes[a], b) != NULL;
}

static void add_edge(int a, int b)
{
	struct snode *x = &nodes[a], *y = &nodes[b];

	if (a == b || adjacent(a, b) || x->npeers == SIM_MAX_DEGREE ||
	    y->npeers == SIM_MAX_DEGREE)
		return;
	links[nlinks] = (struct link){.from = a, .to = b};
	x->peers[x->npeers] = b;
	x->out[x->npeers++] = &links[nlinks++];
	links[nlinks] = (struct link){.from = b, .to = a};
	y->peers[y->npeers] = a;
	y->out[y->npeers++] = &links[nlinks++];
}

static void build_topology(void)
{
	int n = o.nodes;

	for (int i = 0; i < n; i++) {
		if (!strcmp(o.topology, "line")) {
			if (i + 1 < n)
				add_edge(i, i + 1);
		} else {
			add_edge(i, (i + 1) % n);
			if (!strcmp(o.topology, "ring3") && i < n / 2)
				add_edge(i, i + n / 2);
		}
	}
	if (!strcmp(o.topology, "random")) {
		/* a ring (connected) plus random chords up to the degree */
		for (int i = 0; i < n; i++)
			for (int tries = 0; nodes[i].npeers < o.degree && tries < 64;
			     tries++)
				add_edge(i, (int)(rng() % (uint64_t)n));
	}
}

static bool partitioned(int a, int b)
{
	int h = o.nodes / 2;

	return o.part_t1 >= 0 && now_ms >= SIM_T0 + (uint64_t)o.part_t1 * 1000 &&
	       now_ms < SIM_T0 + (uint64_t)o.part_t2 * 1000 &&
	       ((a < h) != (b < h));
}

/* Bring each link up or down as partitions and restarts say. */
static void update_links(void)
{
	for (size_t i = 0; i < nlinks; i += 2) {
		struct link *ab = &links[i], *ba = &links[i + 1];
		int a = ab->from, b = ab->to;
		bool want = nodes[a].up && nodes[b].up && !partitioned(a, b);

		if (want == ab->up)
			continue;
		if (want) {
			unsigned fl = GOSSIP_PEER_FULL | GOSSIP_PEER_V2 |
			              GOSSIP_PEER_V3;

			ab->up = ba->up = true;
			if (gossip_peer_add(nodes[a].g, b, fl, now_ms) != E_OK ||
			    gossip_peer_add(nodes[b].g, a, fl, now_ms) != E_OK) {
				fprintf(stderr, "sim: peer table full\n");
				exit(1);
			}
		} else {
			if (nodes[a].up)
				gossip_peer_del(nodes[a].g, b);
			if (nodes[b].up)
				gossip_peer_del(nodes[b].g, a);
			ab->up = ba->up = false;
			link_clear(ab);
			link_clear(ba);
		}
	}
}

/* A node crashes: the packets no other node holds (created there and not
 * sent yet, or in flight on its links) are gone from the network. */
static bool lost_cb(struct stored *sp, void *arg)
{
	const struct snode *dead = arg;
	int64_t seq = packet_seq(stored_bytes(sp), sp->len);

	for (int i = 0; i < o.nodes; i++)
		if (&nodes[i] != dead && nodes[i].up &&
		    store_has(nodes[i].store, sp->hash))
			return true;
	if (seq >= 0 && seq < (int64_t)ncreated && !pk[seq].lost) {
		pk[seq].lost = true;
		nlost++;
	}
	return true;
}

static void update_restart(void)
{
	struct snode *n;
	uint64_t t1, t2;

	if (o.restart_node < 0)
		return;
	n = &nodes[o.restart_node];
	t1 = SIM_T0 + (uint64_t)o.restart_t1 * 1000;
	t2 = SIM_T0 + (uint64_t)o.restart_t2 * 1000;
	if (n->up && now_ms >= t1 && now_ms < t2) {
		n->up = false;
		update_links();      /* peers forget it first */
		store_foreach_time(n->store, 0, UINT32_MAX, lost_cb, n);
		node_stop(n);
	} else if (!n->up && now_ms >= t2) {
		node_start(n);       /* back with an empty store */
	}
}

/* ---- traffic -------------------------------------------------------------- */

static void create_packet(void)
{
	int origin = (int)(rng() % (uint64_t)o.nodes);
	struct snode *n = &nodes[origin];
	static uint8_t buf[65536 + 64]; /* -size is at most 65536 */
	static char pl[65536];
	struct packet_fields f = {
		.relay = 1, .kind = PACKET_KIND_DATA, .timestamp = wall_s(n),
		.tag_a = (const uint8_t *)"sim", .len_a = 3,
		.payload = (const uint8_t *)pl, .nonce = ncreated,
	};
	struct pow_eval pe;
	struct stored *sp;
	size_t len;
	int hl;

	if (!n->up || ncreated == SIM_MAX_PACKETS)
		return;  /* a down node creates nothing */
	hl = snprintf(pl, sizeof(pl), "sim %u ", ncreated);
	f.payload_len = (size_t)o.size - PACKET_FIXED_LEN - 3;
	if (f.payload_len < (size_t)hl)
		f.payload_len = (size_t)hl;
	memset(pl + hl, 'x', f.payload_len - (size_t)hl);
	/* packets of 1 KiB and more need priority >= their size penalty:
	 * try nonces (txpowbits 0, so each try is one SHA-256) */
	for (;;) {
		len = packet_encode(buf, sizeof(buf), &f);
		if (!len) {
			fprintf(stderr, "sim: cannot build a packet of %lld "
			        "bytes\n", (long long)o.size);
			exit(1);
		}
		txpow_eval(buf, len, 0, &pe);
		if (pe.priority >= 0)
			break;
		f.nonce += SIM_MAX_PACKETS; /* distinct from other packets' */
	}
	if (store_put(n->store, buf, len, &pe, wall_s(n), &sp) != E_OK)
		return;
	pk[ncreated] = (struct pktrec){.created = now_ms, .last = now_ms,
	                               .have = 0};
	ncreated++;
	count_arrival(n, sp);
	gossip_on_new(n->g, sp, -1, now_ms);
}

/* ---- the clock -------------------------------------------------------------- */

static void deliver(struct link *l)
{
	while (l->up && l->qn && l->q[l->qhead].at <= now_ms) {
		struct seg s = l->q[l->qhead];
		struct snode *to = &nodes[l->to];

		l->qhead = (l->qhead + 1) % l->qcap;
		l->qn--;
		for (size_t off = 0; off < s.b.len;) {
			uint8_t type;
			uint32_t n;
			enum drop_reason why;

			if (wire_hdr_decode(s.b.p + off, s.b.len - off, &type,
			                    &n) != E_OK) {
				fprintf(stderr, "sim: bad frame on a link\n");
				exit(1);
			}
			if (gossip_on_msg(to->g, l->from, type,
			                  s.b.p + off + WIRE_HDR_LEN, n, now_ms,
			                  &why) != E_OK) {
				fprintf(stderr, "sim: node %d refused a frame "
				        "(type %u) from node %d\n", l->to, type,
				        l->from);
				exit(1);
			}
			off += WIRE_HDR_LEN + n;
		}
		wb_fini(&s.b);
	}
}

/* A held future packet is due at its node (as node_tick does). */
static void release_cb(void *arg, const uint8_t *pkt, size_t len, int peer)
{
	struct snode *n = arg;
	struct packet_view pv;
	struct pow_eval pe;
	struct stored *sp;

	if (packet_check(pkt, len, wall_s(n), 0, SIM_PURGETIME, &pv, &pe) !=
	    DROP_NONE)
		return;
	if (store_put(n->store, pkt, len, &pe, wall_s(n), &sp) == E_OK) {
		count_arrival(n, sp);
		gossip_on_new(n->g, sp, GOSSIP_FROM_HOLD, now_ms);
	} else {
		n->dups++;
	}
}

static void step(void)
{
	for (size_t i = 0; i < nlinks; i++)
		deliver(&links[i]);
	for (int i = 0; i < o.nodes; i++) {
		struct snode *n = &nodes[i];

		if (!n->up)
			continue;
		if ((now_ms - SIM_T0) % SIM_TICK_MS == 0 &&
		    fhold_next(n->hold) <= (uint64_t)wall_s(n) + 1)
			fhold_release(n->hold, wall_s(n) + 1, release_cb, n);
		if ((now_ms - SIM_T0) % SIM_TICK_MS == 0 ||
		    gossip_next_due(n->g) <= now_ms)
			gossip_tick(n->g, now_ms);
		if (o.bandwidth)
			for (int k = 0; k < n->npeers; k++)
				if (n->out[k]->up)
					gossip_drain(n->g, n->peers[k]);
	}
}

static bool converged(void)
{
	uint8_t fp0[32], fp[32];
	bool first = true;

	for (int i = 0; i < o.nodes; i++) {
		struct store_stats st;

		if (!nodes[i].up)
			return false;
		store_get_stats(nodes[i].store, &st);
		if (st.count != ncreated - nlost)
			return false;
		store_fingerprint(nodes[i].store, first ? fp0 : fp);
		if (!first && memcmp(fp0, fp, 32))
			return false;
		first = false;
	}
	return true;
}

/* ---- main ------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void usage(FILE *f)
{
	fprintf(f,
	"Usage: sim [-name=value ...]\n"
	"N dexp2p nodes (store + gossip) in one process over a simulated\n"
	"network with a virtual clock; prints one bench=sim line.\n"
	"  -nodes=N          2..256 (10)\n"
	"  -topology=T       ring, ring3 (ring + chord to the opposite node),\n"
	"                    line, random (ring + random chords) (ring3)\n"
	"  -degree=D         random topology: at least D links per node,\n"
	"                    2..16 (4)\n"
	"  -rate=R           packets created per simulated second, at random\n"
	"                    nodes, 1..200000 (2000)\n"
	"  -seconds=S        load duration, 1..600 (10)\n"
	"  -settle=S         at most S simulated seconds after the load for\n"
	"                    every node to hold every packet, 1..3600 (10)\n"
	"  -size=B           packet bytes, 40..65536 (256)\n"
	"  -latency=MS       one-way link latency, 0..10000 (5)\n"
	"  -jitter=MS        extra random delay per send, order kept (0)\n"
	"  -bandwidth=B      bytes/s per link direction, 0 = unlimited (0)\n"
	"  -partition=T1:T2  split nodes [0,N/2) from [N/2,N) from second T1\n"
	"                    to T2 of the run\n"
	"  -restart=K:T1:T2  node K down from second T1, back at T2 with an\n"
	"                    empty store\n"
	"  -skew=S           node 0's clock is S seconds ahead (negative:\n"
	"                    behind), -3600..3600 (0)\n"
	"  -seed=N           random seed (1)\n"
	"  -mode=M           dissemination to v3 peers: 0 tree, 1 hop (as\n"
	"                    v2), 2 mesh, 3 flood (gossip.h) (0)\n"
	"  -help             this text\n");
}

static int parse_range(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	return parse_int64(s, out) == E_OK && *out >= lo && *out <= hi ? 0 : -1;
}

/* "a:b[:c]" into up to n int64 values; 0 when exactly n parsed. */
static int parse_tuple(const char *s, int64_t *v, int n)
{
	char buf[64], *p, *save = NULL;
	int i = 0;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	for (p = strtok_r(buf, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
		if (i == n || parse_int64(p, &v[i]) != E_OK || v[i] < 0)
			return -1;
		i++;
	}
	return i == n ? 0 : -1;
}

static int parse_args(int argc, char **argv)
{
	memset(&o, 0, sizeof(o));
	o.nodes = 10;
	o.degree = 4;
	strcpy(o.topology, "ring3");
	o.rate = 2000;
	o.seconds = 10;
	o.settle = 10;
	o.size = 256;
	o.latency = 5;
	o.seed = 1;
	o.part_t1 = o.restart_node = -1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq;
		int64_t v = 0;
		int bad = 0;

		while (*a == '-')
			a++;
		if (!strcmp(a, "help") || !strcmp(a, "h") || !strcmp(a, "?")) {
			usage(stdout);
			exit(0);
		}
		eq = strchr(a, '=');
		if (!eq) {
			bad = 1;
		} else if (!strncmp(a, "nodes=", 6)) {
			bad = parse_range(eq + 1, 2, SIM_MAX_NODES, &v);
			o.nodes = (int)v;
		} else if (!strncmp(a, "degree=", 7)) {
			bad = parse_range(eq + 1, 2, SIM_MAX_DEGREE, &v);
			o.degree = (int)v;
		} else if (!strncmp(a, "topology=", 9)) {
			bad = strcmp(eq + 1, "ring") && strcmp(eq + 1, "ring3") &&
			      strcmp(eq + 1, "line") && strcmp(eq + 1, "random");
			if (!bad)
				strcpy(o.topology, eq + 1);
		} else if (!strncmp(a, "rate=", 5)) {
			bad = parse_range(eq + 1, 1, 200000, &o.rate);
		} else if (!strncmp(a, "seconds=", 8)) {
			bad = parse_range(eq + 1, 1, 600, &o.seconds);
		} else if (!strncmp(a, "settle=", 7)) {
			bad = parse_range(eq + 1, 1, 3600, &o.settle);
		} else if (!strncmp(a, "size=", 5)) {
			bad = parse_range(eq + 1, 40, 65536, &o.size);
		} else if (!strncmp(a, "latency=", 8)) {
			bad = parse_range(eq + 1, 0, 10000, &o.latency);
		} else if (!strncmp(a, "jitter=", 7)) {
			bad = parse_range(eq + 1, 0, 10000, &o.jitter);
		} else if (!strncmp(a, "bandwidth=", 10)) {
			bad = parse_range(eq + 1, 0, INT64_MAX / 1000, &o.bandwidth);
		} else if (!strncmp(a, "skew=", 5)) {
			bad = parse_int64(eq + 1, &o.skew) != E_OK ||
			      o.skew < -3600 || o.skew > 3600;
		} else if (!strncmp(a, "mode=", 5)) {
			bad = parse_range(eq + 1, 0, 3, &o.mode);
		} else if (!strncmp(a, "seed=", 5)) {
			bad = parse_range(eq + 1, 0, INT64_MAX, &o.seed);
		} else if (!strncmp(a, "partition=", 10)) {
			int64_t t[2];

			bad = parse_tuple(eq + 1, t, 2) || t[0] >= t[1];
			o.part_t1 = t[0];
			o.part_t2 = t[1];
		} else if (!strncmp(a, "restart=", 8)) {
			int64_t t[3];

			bad = parse_tuple(eq + 1, t, 3) || t[1] >= t[2];
			o.restart_node = t[0];
			o.restart_t1 = t[1];
			o.restart_t2 = t[2];
		} else {
			bad = 1;
		}
		if (bad) {
			fprintf(stderr, "sim: bad argument '%s' (sim -help)\n",
			        argv[i]);
			return -1;
		}
	}
	if (o.restart_node >= o.nodes) {
		fprintf(stderr, "sim: -restart node must be below -nodes\n");
		return -1;
	}
	if ((uint64_t)o.rate * (uint64_t)o.seconds > SIM_MAX_PACKETS) {
		fprintf(stderr, "sim: rate x seconds over %u packets\n",
		        SIM_MAX_PACKETS);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t load_end, deadline, conv_ms = 0, acc = 0, adds = 0, dups = 0;
	uint64_t missing = 0;
	uint64_t *lat;
	uint32_t all = 0, n;
	bool conv = false;

	if (parse_args(argc, argv))
		return 2;
	rng_state = (uint64_t)o.seed * 0x9E3779B97F4A7C15ULL + 1;
	nodes = xcalloc((size_t)o.nodes, sizeof(*nodes));
	links = xcalloc((size_t)o.nodes * SIM_MAX_DEGREE, sizeof(*links));
	pk = xcalloc((size_t)(o.rate * o.seconds) + 1, sizeof(*pk));
	now_ms = SIM_T0;
	for (int i = 0; i < o.nodes; i++) {
		nodes[i].idx = i;
		node_start(&nodes[i]);
	}
	build_topology();
	update_links();
	load_end = SIM_T0 + (uint64_t)o.seconds * 1000;
	deadline = load_end + (uint64_t)o.settle * 1000;
	for (; now_ms < deadline; now_ms++) {
		update_restart();
		update_links();
		if (now_ms < load_end) {
			/* rate/1000 packets per ms, the remainder carried */
			acc += (uint64_t)o.rate;
			for (; acc >= 1000; acc -= 1000)
				create_packet();
		}
		step();
		if (now_ms >= load_end && (now_ms - load_end) % 10 == 0 &&
		    converged()) {
			conv = true;
			conv_ms = now_ms - load_end;
			break;
		}
	}
	/* figures */
	lat = xmalloc(((size_t)ncreated + 1) * sizeof(*lat));
	for (n = 0; n < ncreated; n++)
		if (pk[n].have >= (uint32_t)o.nodes)
			lat[all++] = pk[n].last - pk[n].created;
	qsort(lat, all, sizeof(*lat), cmp_u64);
	for (int i = 0; i < o.nodes; i++) {
		struct store_stats st = {0};

		adds += nodes[i].added;
		dups += nodes[i].dups;
		if (nodes[i].up)
			store_get_stats(nodes[i].store, &st);
		missing += st.count < ncreated - nlost ? ncreated - nlost - st.count
		                                       : 0;
	}
	printf("bench=sim nodes=%d topology=%s avg_degree=%.2f rate=%lld seconds=%lld "
	       "packet_bytes=%lld latency_ms=%lld jitter_ms=%lld bandwidth=%lld "
	       "seed=%lld created=%u lost_in_crash=%u delivered_all=%u "
	       "missing=%llu "
	       "dup_ratio=%.4f control_ratio=%.4f latency_p50_ms=%llu "
	       "latency_p99_ms=%llu latency_max_ms=%llu converged_after_ms=%lld "
	       "fingerprints_equal=%d skew=%lld misbehaved=%llu\n",
	       o.nodes, o.topology, (double)nlinks / o.nodes, (long long)o.rate,
	       (long long)o.seconds, (long long)o.size, (long long)o.latency,
	       (long long)o.jitter, (long long)o.bandwidth, (long long)o.seed,
	       ncreated, nlost, all, (unsigned long long)missing,
	       adds ? (double)dups / (double)adds : 0.0,
	       packet_bytes ? (double)control_bytes / (double)packet_bytes : 0.0,
	       (unsigned long long)(all ? lat[all / 2] : 0),
	       (unsigned long long)(all ? lat[(uint64_t)all * 99 / 100] : 0),
	       (unsigned long long)(all ? lat[all - 1] : 0),
	       conv ? (long long)conv_ms : -1LL, conv ? 1 : 0,
	       (long long)o.skew, (unsigned long long)misbehaved);
	free(lat);
	for (int i = 0; i < o.nodes; i++)
		if (nodes[i].up)
			node_stop(&nodes[i]);
	for (size_t i = 0; i < nlinks; i++) {
		link_clear(&links[i]);
		free(links[i].q);
	}
	free(links);
	free(nodes);
	free(pk);
	return 0;
}
