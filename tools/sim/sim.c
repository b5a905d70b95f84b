/* sim.c - N dexp2p nodes in one process over a simulated network
 * (DESIGN.md 2, tools/sim/, docs/bench.md "sim").  Each node is the
 * daemon's own store and gossip engine (src/core, src/proto; the sim's
 * copy of gossip has smaller tables, see the Makefile); the network is
 * links with a one-way latency (fixed, or drawn per link), jitter,
 * bandwidth per link and per node, and loss, driven by a virtual clock
 * and an event queue (wheel.h), so a run is deterministic for its seed and
 * a minute of traffic takes seconds.  Partitions, restarts and churn (a
 * node down, then back with an empty store) exercise reconciliation; a
 * spammer and a late joiner the priority queues and catch-up.
 *
 * Prints one line of key=value (docs/bench.md, "sim"):
 *   bench=sim nodes topology avg_degree rate seconds packet_bytes latency_ms
 *   jitter_ms bandwidth seed created lost_in_crash delivered_all missing
 *   dup_ratio control_ratio latency_p50_ms latency_p99_ms latency_max_ms
 *   converged_after_ms fingerprints_equal skew misbehaved, then the
 *   shortest-path figures (metrics.h) and the scenario's own keys.
 * created: packets made (at random up nodes); lost_in_crash: held by no
 * node but one that went down; delivered_all: packets that reached every
 * node; missing: sum over nodes of the packets (created - lost) it lacks
 * at the end; latency: creation to the last node, over delivered_all;
 * converged_after_ms: after the load, when every node held the same
 * created - lost packets (-1: not within -settle); skew: node 0's clock
 * offset (-skew); misbehaved: reports to gossip_ops.misbehave (0 for
 * honest traffic).  Each node keeps packets from the near future in a
 * future hold (core/fhold.h, 60 s window) as the daemon does.
 * Exit status 0 when the run completed (whatever it measured), 2 on a bad
 * argument.
 *
 * Links are TCP streams: bytes arrive whole and in order.  A send leaves
 * when its link (-bandwidth) and its node's uplink (-uplink) are free,
 * arrives after the link's latency and a jitter, and no earlier than its
 * receiver's downlink (-downlink) allows; a lost IP packet (-loss) delays
 * its segment by a retransmission timeout (200 ms, Linux's minimum RTO,
 * plus one round trip) and everything behind it on that link (head of line
 * blocking), never drops it.  ops->room is net.c's: what keeps the bytes
 * waiting behind the link's bottleneck under -sndtime ms of the rate they
 * drain at (proto/sendbuf.h) and 1 MiB (-sndbuf), drained at half of it.
 *
 * Not simulated: handshakes, keepalives and addr exchange (net.c; links
 * are given), proof of work (txpowbits 0: priorities are drawn by trying
 * nonces), crypto envelopes and cancels (node.c), CPU time.
 */
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/check.h"
#include "core/err.h"
#include "core/fhold.h"
#include "core/packet.h"
#include "core/store.h"
#include "core/txpow.h"
#include "core/util.h"
#include "proto/gossip.h"
#include "proto/wire.h"

#include "metrics.h"
#include "wheel.h"

#include "sim.h"

struct opts o;
struct snode *nodes;
struct link *links;
size_t nlinks;
static struct pktrec *pk;
static size_t pkcap;
/* -warmup: packets numbered from nwarm on were created after it (until
 * then UINT32_MAX); control and payload bytes when it ended */
static uint32_t nwarm = UINT32_MAX;
static uint64_t warm_end, control_bytes0, packet_bytes0;
static uint32_t ncreated, nlost, nspam;
uint64_t now_ms;
static uint64_t rng_state;
uint64_t control_bytes, packet_bytes;
uint64_t control_by_type[256];     /* control bytes by frame type */
static uint64_t misbehaved;
uint64_t seg_lost;
static uint64_t churn_leaves, churn_joins;
bool limited;
/* the graph as metrics.h sees it (CSR over nodes[].out) */
static uint32_t *g_off, *g_lat;
static int *g_to;
static bool *g_up, *g_lup;
static struct met_graph graph;
static int64_t track_every;
/* catch-up scenario: the joiner (node 3) */
static uint64_t cu_start, cu_done, cu_copies0, cu_new0;

uint64_t rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

double rng_unit(void)
{
	return (double)(rng() >> 11) / 9007199254740992.0;
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

void schedule(uint64_t at, uint32_t kind, uint32_t id)
{
	wheel_add(at < now_ms ? now_ms : at, kind, id);
}

static double ratio_of(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

/* The first packet number the figures count (-warmup). */
static uint32_t nwarm_or_0(void)
{
	return o.warmup ? nwarm : 0;
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
	pk[seq].holders++;
	if (pk[seq].trk >= 0)
		met_arrive(pk[seq].trk, n->idx,
		           (uint32_t)(now_ms - pk[seq].created));
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
	*reason = packet_check(pkt, len, wall_s(n), 0, (uint32_t)o.purgetime, &pv, &pe);
	if (*reason == DROP_FUTURE && pv.timestamp <= wall_s(n) + 60 &&
	    packet_check(pkt, len, pv.timestamp - 1, 0, (uint32_t)o.purgetime, &pv,
	                 &pe) == DROP_NONE) {
		rc = fhold_put(n->hold, pkt, len, pv.timestamp, pe.priority,
		               pe.hash, peer);
		n->copies++;
		if (rc == E_OK || rc == E_DUP)
			return E_AGAIN;
	}
	if (*reason != DROP_NONE)
		return E_PROTO;
	rc = store_put(n->store, pkt, len, &pe, wall_s(n), out);
	n->copies++;
	bool measured = o.warmup && packet_seq(pkt, len) >= (int64_t)nwarm;
	n->copies_m += measured;
	if (rc == E_OK) {
		n->recv_new++;
		n->recv_new_m += measured;
		count_arrival(n, *out);
	} else if (rc == E_DUP) {
		n->dups++;
	} else {
		return E_PROTO;
	}
	return rc;
}

/* ---- after an entry point: timers and drains ------------------------------ */

/* Node n ran gossip code: schedule its next gossip_tick for the queued
 * announcements, and a drain of every link whose send queue or catch-up
 * backlog holds packets for when its buffer has room again. */
static void node_after(struct snode *n)
{
	uint64_t d;

	if (!n->up)
		return;
	d = gossip_next_due(n->g);
	if (d != UINT64_MAX) {
		if (d < now_ms)
			d = now_ms;
		if (!n->due_at || d < n->due_at) {
			n->due_at = d;
			schedule(d, EV_DUE, (uint32_t)n->idx);
		}
	}
	if (!limited)
		return;
	for (int k = 0; k < n->npeers; k++) {
		struct link *l = n->out[k];
		uint64_t q, t;

		/* net.c drains whenever the output buffer runs low; only a
		 * peer with queued packets or a catch-up backlog gains */
		if (!l->up || l->drain_at ||
		    (!gossip_queued_bytes(n->g, n->peers[k]) &&
		     !gossip_catchup_backlog(n->g, n->peers[k])))
			continue;
		if (o.sndtime) {
			t = link_drain_time(l);
		} else {
			/* when the waiting bytes are down to the low mark */
			uint64_t rate, low = (uint64_t)o.sndbuf / 4;

			q = link_queued_bytes(l, &rate);
			t = q > low ? now_ms + ((q - low) * 1000u + rate - 1) / rate
			            : now_ms + 1;
		}
		if (t <= now_ms)
			t = now_ms + 1;
		l->drain_at = t;
		schedule(t, EV_DRAIN, link_index(l));
	}
}

/* ---- nodes and topology ------------------------------------------------- */

static void node_start(struct snode *n)
{
	struct store_config sc = {.purgetime = (uint32_t)o.purgetime,
	                          .maxmem = STORE_DEFAULT_MAXMEM};
	struct gossip_cfg gc = {.purgetime = (uint32_t)o.purgetime, .full = true,
	                        .mode = (unsigned)o.mode,
	                        .tree_key = (uint32_t)n->idx + 1,
	                        .tree_rtt_pct = o.rttlazy < 0 ? 0 :
	                                        o.rttlazy == 0 ?
	                                        GOSSIP_TREE_RTT_OFF :
	                                        (unsigned)o.rttlazy};
	struct gossip_ops ops = {
		.ctx = n, .send = s_send, .send_packet = s_send_packet,
		.room = s_room, .ingest = s_ingest, .wall_now = s_wall,
		.misbehave = s_misbehave,
	};

	n->skew = n->idx == 0 ? (int)o.skew : 0;
	/* the daemon's hold is 64 MiB / 65,536 packets; its table of heads
	 * alone would cost 10,000 nodes 2.5 GB, so it is sized for 4,096
	 * unless a clock is skewed (-skew: node 0's packets are held) */
	n->hold = fhold_new(64u << 20, o.skew ? 65536 : 4096);
	n->store = store_new(&sc);
	n->g = gossip_new(n->store, &gc, &ops);
	if (!n->store || !n->g) {
		fprintf(stderr, "sim: out of memory\n");
		exit(1);
	}
	gossip_set_send_packets(n->g, s_send_packets);
	gossip_set_send_tpackets(n->g, s_send_tpackets);
	n->up = true;
	n->up_since = now_ms;
	n->due_at = 0;
	n->up_busy_us = n->down_busy_us = 0;
	if (g_up)
		g_up[n->idx] = true;
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
	n->due_at = 0;
	if (g_up)
		g_up[n->idx] = false;
}

static bool adjacent(int a, int b)
{
	return link_of(&nodes[a], b) != NULL;
}

/* A link's base one-way latency (both directions): -latency, or uniform
 * in [-latency, latency_hi]. */
static uint32_t draw_latency(void)
{
	if (o.latency_hi > o.latency)
		return (uint32_t)(o.latency +
		                  (int64_t)(rng() % (uint64_t)(o.latency_hi -
		                                               o.latency + 1)));
	return (uint32_t)o.latency;
}

static void add_edge(int a, int b)
{
	struct snode *x = &nodes[a], *y = &nodes[b];
	uint32_t lat;

	if (a == b || adjacent(a, b) || x->npeers == SIM_MAX_DEGREE ||
	    y->npeers == SIM_MAX_DEGREE)
		return;
	lat = draw_latency();
	links[nlinks] = (struct link){.from = a, .to = b, .lat = lat};
	x->peers[x->npeers] = b;
	x->out[x->npeers++] = &links[nlinks++];
	links[nlinks] = (struct link){.from = b, .to = a, .lat = lat};
	y->peers[y->npeers] = a;
	y->out[y->npeers++] = &links[nlinks++];
}

/* -graph: the links of the file (checked by options.c), their latency
 * as given. */
static void read_graph(void)
{
	FILE *f = fopen(o.graph, "r");
	char line[256];

	if (!f) {
		fprintf(stderr, "sim: cannot open %s\n", o.graph);
		exit(1);
	}
	while (fgets(line, sizeof(line), f)) {
		long a, b, ms;
		size_t before = nlinks;

		if (sscanf(line, "%ld %ld %ld", &a, &b, &ms) != 3)
			continue;
		add_edge((int)a, (int)b);
		if (nlinks > before)
			links[nlinks - 1].lat = links[nlinks - 2].lat =
				(uint32_t)ms;
	}
	fclose(f);
}

static void build_topology(void)
{
	int n = o.nodes;

	if (o.graph[0]) {
		read_graph();
		return;
	}

	if (o.catchup) {
		/* three full nodes, all linked, and the joiner linked to each */
		add_edge(0, 1);
		add_edge(1, 2);
		add_edge(0, 2);
		for (int i = 0; i < 3; i++)
			add_edge(3, i);
		return;
	}
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

/* The graph for the shortest-path bound: node i's adjacency entries are
 * g_*[g_off[i] + k] for its k-th link. */
static void build_graph(void)
{
	uint32_t k = 0;

	g_off = xcalloc((size_t)o.nodes + 1, sizeof(*g_off));
	g_to = xcalloc(nlinks + 1, sizeof(*g_to));
	g_lat = xcalloc(nlinks + 1, sizeof(*g_lat));
	g_lup = xcalloc(nlinks + 1, sizeof(*g_lup));
	g_up = xcalloc((size_t)o.nodes, sizeof(*g_up));
	for (int i = 0; i < o.nodes; i++) {
		struct snode *n = &nodes[i];

		g_off[i] = k;
		g_up[i] = n->up;
		for (int j = 0; j < n->npeers; j++, k++) {
			n->out[j]->adj = k;
			g_to[k] = n->peers[j];
			g_lat[k] = n->out[j]->lat;
			g_lup[k] = n->out[j]->up;
		}
	}
	g_off[o.nodes] = k;
	graph = (struct met_graph){.n = o.nodes, .off = g_off, .to = g_to,
	                           .lat = g_lat, .up = g_up, .link_up = g_lup};
}

static bool partitioned(int a, int b)
{
	int h = o.nodes / 2;

	return o.part_t1 >= 0 && now_ms >= SIM_T0 + (uint64_t)o.part_t1 * 1000 &&
	       now_ms < SIM_T0 + (uint64_t)o.part_t2 * 1000 &&
	       ((a < h) != (b < h));
}

/* The round trip a's PING to b would measure when the link comes up: the
 * latency both ways plus a jitter draw each way.  Drawn from a hash, not
 * rng(): the run's other draws stay as they were. */
static uint64_t ping_rtt(int a, int b, uint32_t lat)
{
	uint64_t x = (uint64_t)o.seed * 0x9E3779B97F4A7C15ULL ^
	             ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) ^ now_ms;
	uint64_t rtt = 0;

	for (int k = 0; k < 2; k++) {
		x += 0x9E3779B97F4A7C15ULL;
		uint64_t z = x;
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
		z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
		z ^= z >> 31;
		rtt += o.jitter ? z % (uint64_t)(o.jitter + 1) : 0;
	}
	return rtt + 2u * (uint64_t)lat;
}

/* Bring the link pair at links[i], links[i + 1] up or down as nodes,
 * partitions and restarts say. */
static void update_pair(size_t i)
{
	struct link *ab = &links[i], *ba = &links[i + 1];
	int a = ab->from, b = ab->to;
	bool want = nodes[a].up && nodes[b].up && !partitioned(a, b);

	if (want == ab->up)
		return;
	if (want) {
		unsigned fl = GOSSIP_PEER_FULL | GOSSIP_PEER_V2 |
		              GOSSIP_PEER_V3;

		ab->up = ba->up = true;
		g_lup[ab->adj] = g_lup[ba->adj] = true;
		if (gossip_peer_add(nodes[a].g, b, fl, now_ms) != E_OK ||
		    gossip_peer_add(nodes[b].g, a, fl, now_ms) != E_OK) {
			fprintf(stderr, "sim: peer table full\n");
			exit(1);
		}
		gossip_peer_rtt(nodes[a].g, b, ping_rtt(a, b, ab->lat));
		gossip_peer_rtt(nodes[b].g, a, ping_rtt(b, a, ab->lat));
		node_after(&nodes[a]);
		node_after(&nodes[b]);
	} else {
		if (nodes[a].up)
			gossip_peer_del(nodes[a].g, b);
		if (nodes[b].up)
			gossip_peer_del(nodes[b].g, a);
		ab->up = ba->up = false;
		g_lup[ab->adj] = g_lup[ba->adj] = false;
		link_clear(ab);
		link_clear(ba);
	}
}

static void update_links(void)
{
	for (size_t i = 0; i < nlinks; i += 2)
		update_pair(i);
}

static void update_node_links(const struct snode *n)
{
	for (int k = 0; k < n->npeers; k++)
		update_pair(link_index(n->out[k]) & ~(size_t)1);
}

/* A node goes down: the packets no other up node holds (created there
 * and not sent yet; what is in flight on its links goes with them) are
 * gone from the network. */
static bool lost_cb(struct stored *sp, void *arg)
{
	int64_t seq = packet_seq(stored_bytes(sp), sp->len);

	if (seq >= 0 && seq < (int64_t)ncreated && pk[seq].holders &&
	    --pk[seq].holders == 0 && !pk[seq].lost) {
		pk[seq].lost = true;
		nlost++;
	}
	return true;
}

static void node_down(struct snode *n)
{
	n->up = false;
	update_node_links(n);    /* peers forget it first */
	store_foreach_time(n->store, 0, UINT32_MAX, lost_cb, NULL);
	node_stop(n);
}

static void node_up(struct snode *n)
{
	node_start(n);           /* back with an empty store */
	update_node_links(n);
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
		node_down(n);
	} else if (!n->up && now_ms >= t2) {
		if (o.catchup) {
			n->downlink = (uint64_t)o.catchup;
			cu_start = now_ms;
			cu_copies0 = n->copies;
			cu_new0 = n->recv_new;
		}
		node_up(n);
	}
}

/* Churn, once a second during the load: o.churn of the nodes per minute
 * leave (at random among those up), each back SIM_CHURN_DOWN_S later
 * with an empty store. */
static void update_churn(void)
{
	uint64_t t = (now_ms - SIM_T0) / 1000u, want;
	int up = 0;

	if (o.churn <= 0)
		return;
	/* departures due by second t, from the total (no drift) */
	want = (uint64_t)(o.churn * o.nodes * (double)t / 60.0 + 1e-9);
	for (int i = 0; i < o.nodes; i++)
		up += nodes[i].up;
	while (churn_leaves < want && up > o.nodes / 2) {
		struct snode *n = NULL;

		for (int tries = 0; tries < 64 && !n; tries++) {
			n = &nodes[rng() % (uint64_t)o.nodes];
			if (!n->up)
				n = NULL;
		}
		if (!n)
			break;
		node_down(n);
		up--;
		churn_leaves++;
		schedule(now_ms + SIM_CHURN_DOWN_S * 1000u, EV_REJOIN,
		         (uint32_t)n->idx);
	}
}

/* ---- traffic -------------------------------------------------------------- */

/* A packet at a random up node (the spammer, node 0, for spam), honest
 * ones with priority >= -priority, spam with priority 0. */
static void create_packet(bool spam)
{
	int origin = 0;
	struct snode *n;
	static uint8_t buf[65536 + 64]; /* -size is at most 65536 */
	static char pl[65536];
	struct packet_fields f = {
		.relay = 1, .kind = PACKET_KIND_DATA,
		.tag_a = (const uint8_t *)"sim", .len_a = 3,
		.payload = (const uint8_t *)pl, .nonce = ncreated,
	};
	struct pow_eval pe;
	struct stored *sp;
	size_t len;
	int hl;

	if (!spam) {
		/* a few tries for an up node: churn and restarts take some
		 * down (o.catchup: only the three full nodes make packets) */
		for (int t = 0; t < 8; t++) {
			origin = (int)(rng() % (uint64_t)(o.catchup ? 3 : o.nodes));
			if (nodes[origin].up && !(o.spam && origin == 0))
				break;
		}
	}
	n = &nodes[origin];
	if (!n->up || ncreated == SIM_MAX_PACKETS || ncreated == pkcap)
		return;  /* a down node creates nothing */
	f.timestamp = wall_s(n);
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
		if (spam ? pe.priority == 0 : pe.priority >= o.priority)
			break;
		f.nonce += SIM_MAX_PACKETS; /* distinct from other packets' */
	}
	if (store_put(n->store, buf, len, &pe, wall_s(n), &sp) != E_OK)
		return;
	pk[ncreated] = (struct pktrec){.created = now_ms, .last = now_ms,
	                               .have = 0, .trk = -1, .spam = spam};
	if (ncreated % (uint32_t)track_every == 0 && ncreated >= nwarm_or_0())
		pk[ncreated].trk = met_track(&graph, origin, spam ? 1 : 0);
	ncreated++;
	nspam += spam;
	count_arrival(n, sp);
	gossip_on_new(n->g, sp, -1, now_ms);
	node_after(n);
}

/* ---- events ----------------------------------------------------------------- */

static void deliver(struct link *l)
{
	struct snode *to = &nodes[l->to];

	while (l->up && l->qn && l->q[l->qhead].at <= now_ms) {
		struct seg s = l->q[l->qhead];

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
	if (l->up && l->qn) {
		l->ev_at = l->q[l->qhead].at;
		schedule(l->ev_at, EV_LINK, link_index(l));
	}
	node_after(to);
}

static void on_event(const struct wev *e)
{
	switch (e->kind) {
	case EV_LINK: {
		struct link *l = &links[e->id];

		if (l->ev_at != e->at)
			return;          /* stale: cleared or rescheduled */
		l->ev_at = 0;
		deliver(l);
		return;
	}
	case EV_DUE: {
		struct snode *n = &nodes[e->id];

		if (n->due_at != e->at || !n->up)
			return;
		n->due_at = 0;
		gossip_tick(n->g, now_ms);
		node_after(n);
		return;
	}
	case EV_DRAIN: {
		struct link *l = &links[e->id];
		struct snode *n = &nodes[l->from];

		if (l->drain_at != e->at)
			return;
		l->drain_at = 0;
		if (!l->up || !n->up)
			return;
		gossip_drain(n->g, l->to);
		node_after(n);
		return;
	}
	case EV_REJOIN: {
		struct snode *n = &nodes[e->id];

		if (!n->up) {
			node_up(n);
			churn_joins++;
		}
		return;
	}
	default:
		return;
	}
}

/* A held future packet is due at its node (as node_tick does). */
static void release_cb(void *arg, const uint8_t *pkt, size_t len, int peer)
{
	struct snode *n = arg;
	struct packet_view pv;
	struct pow_eval pe;
	struct stored *sp;

	if (packet_check(pkt, len, wall_s(n), 0, (uint32_t)o.purgetime, &pv, &pe) !=
	    DROP_NONE)
		return;
	if (store_put(n->store, pkt, len, &pe, wall_s(n), &sp) == E_OK) {
		n->recv_new++;
		count_arrival(n, sp);
		gossip_on_new(n->g, sp, GOSSIP_FROM_HOLD, now_ms);
	} else {
		n->dups++;
	}
}

/* Every SIM_TICK_MS: each up node's periodic tick, as net.c's timer. */
static void tick_all(void)
{
	for (int i = 0; i < o.nodes; i++) {
		struct snode *n = &nodes[i];

		if (!n->up)
			continue;
		if (fhold_next(n->hold) <= (uint64_t)wall_s(n) + 1)
			fhold_release(n->hold, wall_s(n) + 1, release_cb, n);
		gossip_tick(n->g, now_ms);
		node_after(n);
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
	}
	for (int i = 0; i < o.nodes; i++) {
		store_fingerprint(nodes[i].store, first ? fp0 : fp);
		if (!first && memcmp(fp0, fp, 32))
			return false;
		first = false;
	}
	return true;
}

/* ---- churn check -------------------------------------------------------------- */

struct cc_arg {
	uint64_t since;
	uint64_t held;
};

static bool churn_cb(struct stored *sp, void *arg)
{
	struct cc_arg *a = arg;
	int64_t seq = packet_seq(stored_bytes(sp), sp->len);

	if (seq >= 0 && seq < (int64_t)ncreated && !pk[seq].lost &&
	    pk[seq].created >= a->since)
		a->held++;
	return true;
}

/* Nodes up at least SIM_CHURN_STAY_S: the packets made since they came
 * up (not lost) that they lack. */
static void churn_check(uint64_t *checked, uint64_t *missing)
{
	*checked = *missing = 0;
	for (int i = 0; i < o.nodes; i++) {
		struct snode *n = &nodes[i];
		struct cc_arg a = {.since = n->up_since};
		uint64_t want = 0;

		if (!n->up || now_ms - n->up_since < SIM_CHURN_STAY_S * 1000u)
			continue;
		for (uint32_t s = 0; s < ncreated; s++)
			want += !pk[s].lost && pk[s].created >= n->up_since;
		store_foreach_time(n->store, 0, UINT32_MAX, churn_cb, &a);
		(*checked)++;
		*missing += want > a.held ? want - a.held : 0;
	}
}

/* ---- main ------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void print_figs(const char *pfx, const struct met_figs *f)
{
	static const char *const sh[3] = {"50", "99", "100"};

	printf(" %stracked=%u %sincomplete=%u", pfx, f->packets, pfx,
	       f->incomplete);
	for (int x = 0; x < 3; x++)
		printf(" %sprop%s_p50_ms=%.0f %sprop%s_p99_ms=%.0f "
		       "%sbound%s_p50_ms=%.0f %sbound%s_p99_ms=%.0f "
		       "%sratio%s_p50=%.3f %sratio%s_p99=%.3f",
		       pfx, sh[x], f->prop_ms[x][0], pfx, sh[x], f->prop_ms[x][1],
		       pfx, sh[x], f->bound_ms[x][0], pfx, sh[x],
		       f->bound_ms[x][1], pfx, sh[x], f->ratio[x][0], pfx, sh[x],
		       f->ratio[x][1]);
	printf(" %sdelivery_ratio_p50=%.3f %sdelivery_ratio_p99=%.3f "
	       "%sdelivery_ratio_max=%.3f", pfx, f->dratio[0], pfx,
	       f->dratio[1], pfx, f->dratio_max);
}

static long peak_rss_kb(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

/* The rest of the bench=sim line: the shortest-path bound and what the
 * run reached against it (metrics.h), payload copies per delivery, the
 * scenarios' figures, and what the run cost. */
static void print_bound_figures(double run_s)
{
	uint64_t copies = 0, news = 0;
	struct met_figs f;

	for (int i = 0; i < o.nodes; i++) {
		copies += nodes[i].copies;
		news += nodes[i].recv_new;
	}
	met_figures(-1, &f);
	printf(" profile=%s latency_hi_ms=%lld track_every=%lld",
	       o.profile, (long long)o.latency_hi, (long long)track_every);
	print_figs("", &f);
	if (o.warmup) {
		uint64_t cm = 0, nm = 0;
		for (int i = 0; i < o.nodes; i++) {
			cm += nodes[i].copies_m;
			nm += nodes[i].recv_new_m;
		}
		printf(" copies_per_delivery=%.4f warmup_s=%lld copies_all=%.4f "
		       "control_all=%.4f", ratio_of(cm, nm), (long long)o.warmup,
		       ratio_of(copies, news),
		       ratio_of(control_bytes, packet_bytes));
	} else {
		printf(" copies_per_delivery=%.4f", ratio_of(copies, news));
	}
	printf(" uplink=%lld downlink=%lld loss=%g segments_delayed_by_loss=%llu",
	       (long long)o.uplink, (long long)o.downlink, o.loss * 100.0,
	       (unsigned long long)seg_lost);
	if (o.spam) {
		struct met_figs h;

		met_figures(0, &h);
		printf(" spam=%lld spam_created=%u honest_priority=%lld", (long long)o.spam,
		       nspam, (long long)o.priority);
		print_figs("honest_", &h);
	}
	if (o.churn > 0) {
		uint64_t checked, missing;

		churn_check(&checked, &missing);
		printf(" churn=%g churn_leaves=%llu churn_joins=%llu "
		       "churn_nodes_checked=%llu churn_missing=%llu",
		       o.churn * 100.0, (unsigned long long)churn_leaves,
		       (unsigned long long)churn_joins,
		       (unsigned long long)checked, (unsigned long long)missing);
	}
	if (o.catchup) {
		struct snode *j = &nodes[3];
		uint64_t cnew = j->recv_new - cu_new0;
		uint64_t bytes = (uint64_t)(ncreated - nlost) *
		                 (uint64_t)(o.size + (int64_t)WIRE_HDR_LEN);
		double ideal = (double)bytes * 1000.0 / (double)o.catchup;

		printf(" catchup_downlink=%lld catchup_packets=%llu "
		       "catchup_ms=%lld catchup_copies=%.4f "
		       "catchup_one_copy_ms=%.0f catchup_time_ratio=%.3f",
		       (long long)o.catchup, (unsigned long long)cnew,
		       cu_done ? (long long)(cu_done - cu_start) : -1LL,
		       cnew ? (double)(j->copies - cu_copies0) / (double)cnew : 0.0,
		       ideal, cu_done ? (double)(cu_done - cu_start) / ideal : -1.0);
	}
	printf(" tables=%s gossip_known_slots=%u gossip_pending_max=%u\n",
#ifdef SIM_SMALL
	       "small",
#else
	       "large",
#endif
	       (unsigned)GOSSIP_KNOWN_SLOTS, (unsigned)GOSSIP_PENDING_MAX);
	/* what the run cost varies from run to run: not on the line */
	fprintf(stderr, "# sim cost: run_s=%.1f peak_rss_mb=%.0f\n", run_s,
	        (double)peak_rss_kb() / 1024.0);
}

#ifndef SIM_SMALL
/* Above SIM_LARGE_NODES: the same run in sim-small, beside this binary. */
static void run_small(char **argv)
{
	char path[4096];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 16);
	char *slash;

	if (n <= 0)
		return;
	path[n] = 0;
	slash = strrchr(path, '/');
	if (!slash)
		return;
	strcpy(slash + 1, "sim-small");
	execv(path, argv);
	fprintf(stderr, "sim: cannot run %s; going on with the large "
	        "tables\n", path);
}
#endif

int main(int argc, char **argv)
{
	uint64_t load_end, deadline, conv_ms = 0, acc = 0, sacc = 0, adds = 0;
	uint64_t dups = 0, missing = 0;
	uint64_t *lat;
	uint32_t all = 0, n;
	bool conv = false;
	struct timespec t0, t1;

	/* Large tables (gossip's known-sets, pending table, INV rings) must
	 * come from fresh mmaps, whose zero pages cost nothing until touched,
	 * so that 10,000 nodes pay for what they use: a fixed threshold (glibc
	 * raises its own after frees), and no spare top of heap (M_TOP_PAD,
	 * 128 KiB by default) that a table would be carved from and cleared
	 * with memset by calloc. */
	mallopt(M_MMAP_THRESHOLD, 8 << 10);
	mallopt(M_MMAP_MAX, 1 << 30);
	mallopt(M_TOP_PAD, 0);
	if (parse_args(argc, argv))
		return 2;
#ifndef SIM_SMALL
	if (!strcmp(o.tables, "small") ||
	    (!strcmp(o.tables, "auto") && o.nodes > SIM_LARGE_NODES))
		run_small(argv);
#endif
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rng_state = (uint64_t)o.seed * 0x9E3779B97F4A7C15ULL + 1;
	limited = o.bandwidth || o.uplink || o.downlink || o.loss > 0 ||
	          o.catchup;
	nodes = xcalloc((size_t)o.nodes, sizeof(*nodes));
	links = xcalloc((size_t)o.nodes * SIM_MAX_DEGREE, sizeof(*links));
	pkcap = (size_t)(o.rate * (o.seconds + o.warmup) * (1 + o.spam)) + 1;
	pk = xcalloc(pkcap, sizeof(*pk));
	now_ms = SIM_T0;
	wheel_init();
	for (int i = 0; i < o.nodes; i++) {
		nodes[i].idx = i;
		nodes[i].downlink = (uint64_t)o.downlink;
		node_start(&nodes[i]);
	}
	build_topology();
	build_graph();
	update_restart();
	update_links();
	{
		/* track every packet if the tables allow, else 1 in K */
		uint64_t total = (uint64_t)pkcap;
		uint64_t maxt = SIM_TRACK_CELLS / (uint64_t)o.nodes;

		track_every = o.track ? o.track
		                      : (int64_t)((total + maxt - 1) / maxt);
		if (track_every < 1)
			track_every = 1;
		maxt = total / (uint64_t)track_every + 1;
		if (maxt > SIM_TRACK_CELLS / (uint64_t)o.nodes)
			maxt = SIM_TRACK_CELLS / (uint64_t)o.nodes;
		met_init(o.nodes, (uint32_t)maxt);
	}
	warm_end = SIM_T0 + (uint64_t)o.warmup * 1000;
	load_end = warm_end + (uint64_t)o.seconds * 1000;
	deadline = load_end + (uint64_t)o.settle * 1000;
	for (; now_ms < deadline; now_ms++) {
		uint64_t t = now_ms - SIM_T0;

		if (o.restart_node >= 0)
			update_restart();
		if (t % 1000 == 0) {
			if (o.progress)
				fprintf(stderr, "# sim: t=%llus created=%u events=%zu "
				        "rss_mb=%.0f\n", (unsigned long long)(t / 1000),
				        ncreated, wheel_count(),
				        (double)peak_rss_kb() / 1024.0);
			if (o.part_t1 >= 0)
				update_links();
			if (now_ms < load_end)
				update_churn();
		}
		if (o.warmup && now_ms == warm_end) {
			nwarm = ncreated;
			control_bytes0 = control_bytes;
			packet_bytes0 = packet_bytes;
		}
		if (now_ms < load_end) {
			/* rate/1000 packets per ms, the remainder carried */
			acc += (uint64_t)o.rate;
			for (; acc >= 1000; acc -= 1000)
				create_packet(false);
			sacc += (uint64_t)(o.rate * o.spam);
			for (; sacc >= 1000; sacc -= 1000)
				create_packet(true);
		}
		wheel_run(now_ms, on_event);
		if (t % SIM_TICK_MS == 0)
			tick_all();
		if (o.catchup && cu_start && !cu_done && nodes[3].up) {
			struct store_stats st;

			store_get_stats(nodes[3].store, &st);
			if (st.count >= ncreated - nlost)
				cu_done = now_ms;
		}
		if (now_ms >= load_end && (now_ms - load_end) % 10 == 0 &&
		    converged()) {
			conv = true;
			conv_ms = now_ms - load_end;
			break;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* figures */
	lat = xmalloc(((size_t)ncreated + 1) * sizeof(*lat));
	for (n = nwarm_or_0(); n < ncreated; n++)
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
	       "fingerprints_equal=%d skew=%lld misbehaved=%llu",
	       o.nodes, o.catchup ? "catchup" : o.topology,
	       (double)nlinks / o.nodes, (long long)o.rate,
	       (long long)o.seconds, (long long)o.size, (long long)o.latency,
	       (long long)o.jitter, (long long)o.bandwidth, (long long)o.seed,
	       ncreated, nlost, all, (unsigned long long)missing,
	       adds ? (double)dups / (double)adds : 0.0,
	       o.warmup ? ratio_of(control_bytes - control_bytes0,
	                           packet_bytes - packet_bytes0)
	                : ratio_of(control_bytes, packet_bytes),
	       (unsigned long long)(all ? lat[all / 2] : 0),
	       (unsigned long long)(all ? lat[(uint64_t)all * 99 / 100] : 0),
	       (unsigned long long)(all ? lat[all - 1] : 0),
	       conv ? (long long)conv_ms : -1LL, conv ? 1 : 0,
	       (long long)o.skew, (unsigned long long)misbehaved);
	free(lat);
	if (o.progress) {
		/* control bytes by frame type, per payload byte */
		fprintf(stderr, "# sim: control by type (hex=ratio):");
		for (int ty = 0; ty < 256; ty++)
			if (control_by_type[ty] && packet_bytes)
				fprintf(stderr, " %02x=%.4f", ty,
				        (double)control_by_type[ty] /
				        (double)packet_bytes);
		fprintf(stderr, "\n");
	}
	print_bound_figures((double)(t1.tv_sec - t0.tv_sec) +
	                    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	fflush(stdout);
	for (int i = 0; i < o.nodes; i++)
		if (nodes[i].up)
			node_stop(&nodes[i]);
	for (size_t i = 0; i < nlinks; i++) {
		link_clear(&links[i]);
		free(links[i].q);
		free(links[i].dq);
	}
	wheel_free();
	free(links);
	free(nodes);
	free(pk);
	met_free();
	free(g_off);
	free(g_to);
	free(g_lat);
	free(g_lup);
	free(g_up);
	return 0;
}
