/* gossip.h - the dissemination and sync state machine (DESIGN.md 4,
 * docs/PROTOCOL.md 5-6): eager push along a tree per creator to v3 peers
 * (PRUNE/GRAFT), push with a hop budget and fan-out to older peers, batched
 * announcements (INV) and pulls (GETDATA) with re-requests, range-based
 * reconciliation of per-minute / per-second fingerprints with catch-up
 * split between full peers, and bounded per-peer priority send queues.
 *
 * Sans I/O: it is driven by (state, peer, message, now) and emits frames
 * through the callbacks of struct gossip_ops; net.c maps them to sockets,
 * tests to in-memory queues.  It reads the store (core/store.h) but never
 * writes it: received packets go through ops->ingest (node_ingest in the
 * daemon).  Peers are named by the caller's int ids.
 *
 * Bounded: per-peer known-set 32,768 short ids (direct mapped), announce
 * queue 65,536 ids, send queue 16 MiB of packet bytes and 65,536 entries,
 * catch-up backlog 262,144 short ids (2 MiB, only while serving a
 * catch-up); pending fetches 65,536, per peer an adaptive share of at most
 * 16,384 (gossip_peer_mem() adds it up).  Per-peer rate limits on INV,
 * GETDATA/GETBITS, NOTFOUND, SUMMARY/IDLIST and a catch-up byte budget
 * (docs/PROTOCOL.md 5.7).  Nothing per held packet: short ids are looked up in the
 * store (store_get_short).
 */
#ifndef DEX_GOSSIP_H
#define DEX_GOSSIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/check.h"
#include "core/store.h"

#define GOSSIP_CLASSES 14            /* priority 0..12, >= 13 */
/* GOSSIP_KNOWN_SLOTS, GOSSIP_PENDING_MAX and GOSSIP_INV_SEQS may be set
 * smaller at build time (powers of two): tools/sim runs thousands of
 * engines in one process (Makefile SIM_TABLES). */
#ifndef GOSSIP_KNOWN_SLOTS
#define GOSSIP_KNOWN_SLOTS 32768u
#endif
#define GOSSIP_ANN_MAX 65536u
#define GOSSIP_INV_BATCH 4096u
/* An announcement waits at most about this long for others to share its
 * INV frame: a peer's queue is sent by the first entry point (received
 * frame, new packet, tick) at or after GOSSIP_INV_DELAY_MS from its
 * oldest id, or at once at GOSSIP_INV_BATCH ids.  The caller makes sure
 * some entry point runs then (gossip_next_due()).  Each announce/pull hop
 * waits half of it on average; smaller costs frame headers (control
 * bytes) at low rates. */
#define GOSSIP_INV_DELAY_MS 10u
#ifndef GOSSIP_PENDING_MAX
#define GOSSIP_PENDING_MAX 65536u
#endif
#define GOSSIP_FETCH_TIMEOUT_MS 2000u
#define GOSSIP_FETCH_TRIES 4u
/* A fetch whose deadline passes while the peer asked is still delivering
 * packets (any, since the request or its last extension) waits another
 * GOSSIP_FETCH_TIMEOUT_MS instead of going to an alternate: the answer is
 * queued behind others on a slow or congested link, and asking elsewhere
 * would only fetch it twice.  At most this long from the request. */
#define GOSSIP_FETCH_WAIT_MAX_MS 30000u
#define GOSSIP_ALTS 4u
#define GOSSIP_RECON_INTERVAL_MS 1000u
#define GOSSIP_RECON_TIMEOUT_MS 10000u
#define GOSSIP_DEFAULT_QUEUE_CAP (16u << 20)
/* Responder side of a reconciliation round: the short ids of the packets
 * the initiator lacks (from its IDLIST) wait in a per-peer backlog of at
 * most this many entries and move to its send queue as the queue drains
 * (kept under half the queue cap, so live traffic keeps priority).  A new
 * IDLIST from the same peer replaces the backlog; what did not fit comes
 * in the next round. */
#define GOSSIP_CATCHUP_MAX 262144u
#define GOSSIP_DEFAULT_FANOUT 2u
#define GOSSIP_DEFAULT_MAX_RELAY 1u
/* Per v2 peer: the ids of the INVs sent to it, so that its GETBITS (INV
 * number + bitmap) can be resolved: the last GOSSIP_INV_RING ids of the
 * last GOSSIP_INV_SEQS INV frames.  An older INV is not resolved (the
 * requester re-asks by id after its fetch timeout). */
#define GOSSIP_INV_RING 32768u
#ifndef GOSSIP_INV_SEQS
#define GOSSIP_INV_SEQS 1024u
#endif
/* PACKETS frames to v2 peers carry at most this many payload bytes
 * (a larger packet travels alone). */
#define GOSSIP_PACKETS_BATCH 65536u

/* About the most gossip_peer_mem() can report for one peer: known-set
 * 384 KiB, announce queue 512 KiB, catch-up backlog 2 MiB and the list of
 * what catch-up sent since its last SUMMARY_SEC 512 KiB, INV ring
 * 272 KiB, send queue entries (<= 65,536 of 40 bytes, arrays up to twice
 * that) 5 MiB, pending share (<= 16,384 fetches) 2.3 MiB. */
#define GOSSIP_PEER_MEM_MAX (11u << 20)

/* gossip_peer_add() flags */
#define GOSSIP_PEER_FULL 1u          /* advertised WIRE_SVC_FULL */
#define GOSSIP_PEER_V2 2u            /* VERSION >= 2: GETBITS, PACKETS */
#define GOSSIP_PEER_V3 4u            /* VERSION >= 3: TPACKETS, PRUNE, GRAFT */

/* Dissemination to v3 peers (gossip_cfg.mode; docs/PROTOCOL.md 5.2).
 * TREE (the default): eager push along a tree per packet creator, formed
 * from first arrivals (Plumtree: PRUNE on a pushed duplicate, GRAFT when
 * a fetch delivered first), lazy announcements to a few other peers.
 * HOP: as to v2 peers (push from the creator, then announce and fetch).
 * MESH: eager push to a fixed choice of about GOSSIP_MESH_D of every 8
 * v3 peers, no PRUNE/GRAFT (gossipsub's mesh without its upkeep).
 * FLOOD: eager push to every v3 peer, no PRUNE (for comparison only).
 * v1/v2 peers always get HOP. */
enum gossip_mode {
	GOSSIP_MODE_TREE = 0,
	GOSSIP_MODE_HOP = 1,
	GOSSIP_MODE_MESH = 2,
	GOSSIP_MODE_FLOOD = 3,
};
#define GOSSIP_MESH_D 3u

struct gossip_ops {
	void *ctx;
	/* Write whole frames (one or more) to peer. */
	void (*send)(void *ctx, int peer, const uint8_t *buf, size_t len);
	/* Write one PACKET frame carrying sp's bytes with relay byte `relay`. */
	void (*send_packet)(void *ctx, int peer, const struct stored *sp,
	                    uint8_t relay);
	/* Bytes peer can take now before its output buffer is "full"
	 * (0 = hold packets in the priority queue). */
	size_t (*room)(void *ctx, int peer);
	/* A packet received from peer: check and store it.  E_OK (*out new),
	 * E_DUP (*out the held one), E_AGAIN (valid but ahead of the clock:
	 * kept by the caller and stored when due, then gossip_on_new) or
	 * E_PROTO (*reason the drop). */
	int (*ingest)(void *ctx, int peer, const uint8_t *pkt, size_t len,
	              struct stored **out, enum drop_reason *reason);
	/* Optional.  The wall clock in unix seconds, for the time windows of
	 * reconciliation (packet timestamps).  The now_ms of every entry
	 * point is a monotonic clock for timers and rate limits; NULL: the
	 * wall clock is now_ms / 1000 (tests and the simulator, which run
	 * one virtual clock). */
	uint32_t (*wall_now)(void *ctx);
	/* Optional.  peer sent something abusive or useless (reason `why`,
	 * a static string): add `score` to its misbehaviour score (the
	 * caller disconnects and bans at its threshold).  NULL: ignored. */
	void (*misbehave)(void *ctx, int peer, unsigned score,
	                  const char *why);
};

/* Write one PACKETS frame to peer with the n packets sps[i], relay byte
 * relays[i] (ctx is gossip_ops.ctx). */
typedef void (*gossip_send_packets_fn)(void *ctx, int peer,
                                       const struct stored *const *sps,
                                       const uint8_t *relays, size_t n);

struct gossip_cfg {
	uint32_t purgetime;
	bool full;                   /* -dexp2p=2: answer SUMMARY/IDLIST */
	unsigned fanout;             /* push fan-out, 0 = default */
	unsigned max_relay;          /* hop budget clamp, 0 = default */
	size_t queue_cap;            /* per-peer send queue bytes, 0 = default */
	unsigned mode;               /* enum gossip_mode */
	/* The tree key of the packets created here (bits 0-30; 0: derived
	 * from the engine's address).  Every node on a packet's path learns
	 * it: the packets of one creator are linkable by it (they are by
	 * their first hop already; docs/decisions.md). */
	uint32_t tree_key;
	/* A new tree's first packet, before treelearn.h has counted enough
	 * trees: not pushed to a tree peer whose RTT (gossip_peer_rtt) is
	 * above this % of the median of the node's tree peers' RTTs
	 * (treelearn.h tl_rtt_lazy; PROTOCOL.md 5.1).  0: the default,
	 * GOSSIP_TREE_RTT_PCT; GOSSIP_TREE_RTT_OFF: never by RTT. */
	unsigned tree_rtt_pct;
};
#define GOSSIP_TREE_RTT_OFF 0xFFFFFFFFu
/* off: it trades the p99 latency and control for fewer first-packet
 * copies (docs/bench.md "First pushes by link RTT"); a build may set it */
#ifndef GOSSIP_TREE_RTT_PCT
#define GOSSIP_TREE_RTT_PCT GOSSIP_TREE_RTT_OFF
#endif

struct gossip_stats {
	uint64_t sent;               /* whole packets handed to send_packet */
	uint64_t ann_examined;       /* INV ids of packets not held */
	uint64_t fetch_sent;         /* ids requested by GETDATA */
	uint64_t fetch_retried;      /* ids re-requested after timeout/NOTFOUND */
	uint64_t fetch_waited;       /* deadlines extended: peer delivering */
	uint64_t fetch_pending;      /* outstanding requests */
	uint64_t overload_drops;     /* packets shed from send queues */
	uint64_t recon_rounds;       /* SUMMARY sent */
	uint64_t control_bytes;      /* INV/GETDATA/NOTFOUND/SUMMARY*/
	uint64_t getbits_stale;      /* GETBITS naming an INV no longer held */
	uint64_t misbehaved;         /* reports to ops->misbehave */
	uint64_t cu_refused;         /* IDLISTs not served: catch-up budget */
	uint64_t tree_pushed;        /* packets pushed eagerly along a tree */
	uint64_t tree_pruned;        /* PRUNE keys sent */
	uint64_t tree_grafted;       /* GRAFT keys sent */
	uint64_t tree_predicted;     /* first packets not pushed to a peer
	                                predicted lazy (treelearn.h) */
	uint64_t queue_skipped;      /* queued packets not sent: the peer
	                                sent or announced them meanwhile */
	bool overloaded;             /* shed something in the last second */
};

struct gossip;

struct gossip *gossip_new(struct store *s, const struct gossip_cfg *cfg,
                          const struct gossip_ops *ops);
void gossip_free(struct gossip *g);
/* Optional: how to send PACKETS frames.  Without it (or to v1 peers)
 * every packet goes through ops->send_packet. */
void gossip_set_send_packets(struct gossip *g, gossip_send_packets_fn fn);

/* Write one TPACKETS frame (v3 peers): packet sps[i] with relay byte
 * relays[i] and tree tag tags[i] (wire.h, WIRE_TAG_EAGER). */
typedef void (*gossip_send_tpackets_fn)(void *ctx, int peer,
                                        const struct stored *const *sps,
                                        const uint8_t *relays,
                                        const uint32_t *tags, size_t n);
/* Optional: how to send TPACKETS frames.  Without it every peer is
 * treated as a v2 peer (GOSSIP_MODE_HOP). */
void gossip_set_send_tpackets(struct gossip *g, gossip_send_tpackets_fn fn);

/* A peer finished its handshake; flags: GOSSIP_PEER_FULL (it advertised
 * WIRE_SVC_FULL), GOSSIP_PEER_V2 (its VERSION is >= 2: it is sent GETBITS
 * and PACKETS), GOSSIP_PEER_V3 (VERSION >= 3: TPACKETS, PRUNE, GRAFT).  Starts a reconciliation round at once with a full peer.
 * Returns E_OK or E_NOMEM (peer table full). */
int gossip_peer_add(struct gossip *g, int peer, unsigned flags,
                    uint64_t now_ms);
void gossip_peer_del(struct gossip *g, int peer);
/* Put peer (just added) in group `key` (nonzero; net.c: its address):
 * the peers of a group share one catch-up budget, remembered for a while
 * after they leave, so that parallel or repeated connections from one
 * address do not multiply what catch-up sends it.  Without a group a peer
 * has a budget of its own. */
void gossip_peer_set_group(struct gossip *g, int peer, uint64_t key);
/* peer's round-trip time in ms as the caller measured it (a PING; the
 * simulator: its link latency both ways, jitter included); 0 = unknown.
 * It may change at any time.  Only a new tree's first packet uses it
 * (gossip_cfg.tree_rtt_pct). */
void gossip_peer_rtt(struct gossip *g, int peer, uint64_t ms);

/* A dissemination/sync frame from peer (types PACKET, PACKETS, INV,
 * GETDATA, GETBITS, NOTFOUND, SUMMARY, SUMMARY_SEC, IDLIST, TPACKETS,
 * PRUNE, GRAFT).  Returns E_OK, or E_PROTO when
 * the peer must be disconnected (malformed frame, or a packet dropped as
 * malformed/oversize/badpow: *reason tells which, DROP_NONE for a frame
 * error). */
int gossip_on_msg(struct gossip *g, int peer, uint8_t type,
                  const uint8_t *p, size_t n, uint64_t now_ms,
                  enum drop_reason *reason);

/* A packet was stored: created here (from_peer -1), received from
 * from_peer, or released from a future hold (GOSSIP_FROM_HOLD: every peer
 * that sent or announced it meanwhile may have been forgotten, so it is
 * announced only, not pushed).  Pushes it and queues announcements. */
#define GOSSIP_FROM_HOLD (-2)
void gossip_on_new(struct gossip *g, struct stored *sp, int from_peer,
                   uint64_t now_ms);

/* gossip_hold() defers what entry points send at their end (GETDATA
 * batches, queued packets) until gossip_release(), so that one socket read
 * of many frames leaves in few frames (PACKETS).  Not nested. */
void gossip_hold(struct gossip *g);
void gossip_release(struct gossip *g);

/* Timers: flush announcements, re-request timed-out fetches, start
 * reconciliation rounds.  Call every 10-50 ms, and at gossip_next_due(). */
void gossip_tick(struct gossip *g, uint64_t now_ms);

/* When an entry point (gossip_tick will do) must next run to send queued
 * announcements on time: the earliest due time in ms, or UINT64_MAX when
 * nothing is queued. */
uint64_t gossip_next_due(const struct gossip *g);

/* Move queued packets to peer while ops->room() allows (call when its
 * output buffer drained). */
void gossip_drain(struct gossip *g, int peer);

/* A reconciliation round with the peer ended with nothing to exchange
 * (or the peer is not full). */
bool gossip_peer_synced(const struct gossip *g, int peer);
/* Some peer synced and no fetch outstanding. */
bool gossip_synced(const struct gossip *g);
/* Bytes waiting in peer's priority queue. */
size_t gossip_queued_bytes(const struct gossip *g, int peer);
/* Catch-up entries (short ids) still waiting to be queued for peer
 * (<= GOSSIP_CATCHUP_MAX). */
size_t gossip_catchup_backlog(const struct gossip *g, int peer);
const struct gossip_stats *gossip_get_stats(struct gossip *g,
                                            uint64_t now_ms);

/* Bytes of memory gossip holds for peer: its known-set, announce queue,
 * GETDATA batch, INV ring, send queue entries (the packets themselves are
 * the store's), catch-up backlog and its share of the pending-fetch table.
 * At most about GOSSIP_PEER_MEM_MAX.  0 for an unknown peer. */
size_t gossip_peer_mem(const struct gossip *g, int peer);
/* Everything gossip holds: the pending table and its FIFO (fixed, about
 * 5 MiB) plus every peer's part. */
size_t gossip_mem(const struct gossip *g);

/* Tests and fuzzing: check every internal invariant by a full walk of the
 * pending table (O(131,072 x peers)).  0, or the source line of the first
 * check that failed. */
int gossip_debug_check(const struct gossip *g);

#endif
