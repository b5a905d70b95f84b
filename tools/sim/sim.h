/* sim.h - what the simulator's files share (tools/sim, docs/bench.md
 * "sim"): its limits, the options, nodes, links and created packets, the
 * virtual clock and the random stream.  sim.c runs nodes, traffic and
 * events; link.c is the network model; options.c the command line;
 * wheel.c the event queue; metrics.c the shortest-path figures. */
#ifndef SIM_SIM_H
#define SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/store.h"
#include "proto/sendbuf.h"
#include "proto/wire.h"

#define SIM_T0 1767225600000ull  /* virtual clock start, ms */
#define SIM_MAX_NODES 10000
/* Above this many nodes sim runs sim-small (same options, smaller gossip
 * tables: Makefile SIM_SMALL_TABLES). */
#define SIM_LARGE_NODES 2000
#define SIM_MAX_DEGREE 16
#define SIM_MAX_PACKETS 4000000u
#define SIM_TICK_MS 20u          /* gossip_tick period, as net.c */
/* A link's output buffer, as net.c's: room() keeps the bytes sent on it
 * and not yet through its bottleneck under -sndtime ms of the rate they
 * were seen to drain at (proto/sendbuf.h, at least SENDBUF_FLOOR), and
 * under -sndbuf (NET_OUT_HIGH, 1 MiB); the node drains its send queue once
 * they are under half of that (net.c's write callback).  -sndtime=0: the
 * buffer is -sndbuf bytes of the bottleneck's rate, drained at a quarter
 * (the model before buffers were sized in time). */
#define SIM_SNDBUF (1u << 20)
/* Tracked packets (per-node arrival times and bounds, metrics.h): at most
 * this many cells (nodes x tracked packets) in each of the two tables. */
#define SIM_TRACK_CELLS (16u << 20)
/* Loss: IP packets of this many payload bytes; a lost one costs its
 * segment a retransmission timeout (Linux TCP_RTO_MIN) plus a round trip. */
#define SIM_MSS 1448u
#define SIM_RTO_MS 200u
/* Churn: a node that leaves is down this long, then back empty. */
#define SIM_CHURN_DOWN_S 5
/* Churn check: nodes up at least this long at the end hold every packet
 * made while they were up. */
#define SIM_CHURN_STAY_S 10

enum { EV_LINK, EV_DUE, EV_DRAIN, EV_REJOIN };

struct seg {                     /* bytes arriving at `at` */
	uint64_t at;
	struct wbuf b;
};

struct link {                    /* one direction */
	int from, to;
	bool up;
	uint32_t lat;                /* base one-way latency, ms */
	uint32_t adj;                /* index in the metrics graph */
	uint64_t busy_us;            /* -bandwidth: sender busy until (us) */
	uint64_t last_at;            /* FIFO: no segment before this (ms) */
	uint64_t ev_at;              /* EV_LINK scheduled at (0 none) */
	uint64_t drain_at;           /* EV_DRAIN scheduled at (0 none) */
	/* the output buffer (-sndtime): what was sent and is not through
	 * the bottleneck yet, each send leaving it evenly over
	 * [dq.from_us, dq.exit_us], and its drain rate */
	struct dep { uint64_t from_us, exit_us, len, done; } *dq;
	size_t dhead, dn, dcap;
	uint64_t unsent;             /* bytes in dq not through yet */
	struct sendbuf sb;
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
	uint64_t copies;             /* packets received from peers */
	uint64_t recv_new;           /* ... that were new here */
	uint64_t copies_m, recv_new_m;  /* ... of packets created after
	                                   the -warmup */
	int skew;                    /* wall clock offset (s) */
	struct fhold *hold;          /* packets from the near future */
	uint64_t due_at;             /* EV_DUE scheduled at (0 none) */
	uint64_t up_busy_us;         /* -uplink: busy until (us) */
	uint64_t down_busy_us;       /* -downlink: busy until (us) */
	uint64_t up_since;           /* ms */
	uint64_t downlink;           /* bytes/s, 0 unlimited */
};

struct pktrec {                  /* per created packet */
	uint64_t created;            /* ms */
	uint64_t last;               /* ms: reached the last node */
	uint32_t have;               /* arrivals at nodes */
	uint32_t holders;            /* up nodes holding it */
	bool lost;                   /* only a node that went down held it */
	bool spam;
	int32_t trk;                 /* tracking index (metrics.h), -1 */
};

struct opts {
	int nodes, degree;
	char topology[16];
	char graph[256];                    /* -graph file, "" none */
	int64_t rate, seconds, settle, size, latency, jitter, bandwidth, seed;
	int64_t latency_hi;                 /* per link uniform [latency, hi] */
	int64_t track;                      /* 1 in N packets tracked, 0 auto */
	char profile[16];
	int64_t part_t1, part_t2;           /* partition [t1, t2) s, -1 none */
	int64_t restart_node, restart_t1, restart_t2;
	int64_t skew;                       /* node 0's clock offset, s */
	int64_t mode;                       /* gossip_cfg.mode */
	int64_t rttlazy;                    /* gossip_cfg.tree_rtt_pct, -1
	                                       default, 0 off */
	int64_t uplink, downlink;           /* bytes/s per node, 0 unlimited */
	double loss;                        /* per IP packet, 0..1 */
	double churn;                       /* share of nodes per minute */
	int64_t spam;                       /* spammer rate / honest rate */
	int64_t priority;                   /* honest packets' priority */
	int64_t catchup;                    /* joiner's downlink, bytes/s */
	char tables[8];                     /* auto, large, small */
	int64_t purgetime;                  /* s, as -purgetime */
	int64_t progress;                   /* 1: a stderr line a second */
	int64_t warmup;                     /* s of load before -seconds */
	int64_t sndbuf;                     /* output buffer, bytes */
	int64_t sndtime;                    /* ... ms of its rate, 0 bytes only */
};

extern struct opts o;
extern struct snode *nodes;
extern struct link *links;
extern size_t nlinks;
extern uint64_t now_ms;
extern uint64_t control_bytes, packet_bytes;
extern uint64_t control_by_type[256];
extern uint64_t seg_lost;        /* segments delayed by a lost IP packet */
extern bool limited;             /* some bandwidth limit or loss */

/* sim.c */
uint64_t rng(void);
double rng_unit(void);           /* uniform in [0, 1) */
void schedule(uint64_t at, uint32_t kind, uint32_t id);

/* link.c: the network model and gossip's send callbacks */
struct link *link_of(const struct snode *n, int peer);
uint32_t link_index(const struct link *l);
struct wbuf *link_push(struct link *l, size_t len);
void link_clear(struct link *l);
uint64_t link_queued_bytes(const struct link *l, uint64_t *rate);
void s_send(void *ctx, int peer, const uint8_t *buf, size_t len);
void s_send_packet(void *ctx, int peer, const struct stored *sp,
                   uint8_t relay);
void s_send_packets(void *ctx, int peer, const struct stored *const *sps,
                    const uint8_t *relays, size_t n);
void s_send_tpackets(void *ctx, int peer, const struct stored *const *sps,
                     const uint8_t *relays, const uint32_t *tags, size_t n);
size_t s_room(void *ctx, int peer);
uint64_t link_drain_time(struct link *l);

/* options.c: fills o; -1 on a bad argument (message printed), exits on
 * -help */
int parse_args(int argc, char **argv);

#endif
