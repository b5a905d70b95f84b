/* net.h - the peer-to-peer network of a node: TCP listener and connections
 * on the node's libevent loop, framing, handshake, address exchange,
 * dissemination (push, announce/pull, reconciliation) and catch-up.  The
 * protocol logic lives in src/proto (sans I/O); this module moves bytes.
 * Wire format: docs/PROTOCOL.md.
 */
#ifndef DEX_NET_H
#define DEX_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct node;
struct stored;
struct net;

struct net *net_new(struct node *n);
/* Listen on -port (if -listen) and start connecting to -addnode/-connect.
 * Returns E_OK or E_IO with a logged reason (port in use...). */
int net_start(struct net *net);
/* Close every socket; idempotent. */
void net_stop(struct net *net);
void net_free(struct net *net);

/* A packet was stored that peers may lack: a locally created one
 * (from_peer < 0) or one received from peer `from_peer`. */
void net_on_new_packet(struct net *net, struct stored *sp, int from_peer);

/* For fetch.c, lightsrv.c, lightcli.c.  Write buf (whole frames) to
 * a ready peer, counted in its memory budget: false if it is gone or was
 * dropped over the budget. */
bool net_peer_send(struct net *net, int peer, const uint8_t *buf,
                   size_t len);
/* Add score to peer's misbehaviour (why: a static string); at 100 it is
 * disconnected (and banned unless local or manual). */
void net_peer_misbehave(struct net *net, int peer, unsigned score,
                        const char *why);
/* A packet from peer judged as a PACKET frame from it (node_ingest,
 * store, relay): E_OK, or E_PROTO when the packet was invalid and the
 * peer has been disconnected for it. */
int net_peer_packet(struct net *net, int peer, const uint8_t *pkt,
                    size_t len);

/* addnode RPC: cmd is "add", "remove" or "onetry".  Returns E_OK, E_DUP
 * (already added: RPC error -23), E_NOTFOUND (not added: -24) or E_INVAL
 * (bad address). */
int net_addnode(struct net *net, const char *hostport, const char *cmd);
void net_ping_all(struct net *net);
/* Connected peers (handshake completed). */
size_t net_peer_count(const struct net *net);
/* getinfo `synced` part: initial catch-up done with >= 1 peer (or no peer
 * configured and none connected) and no fetch outstanding. */
bool net_synced(const struct net *net);
/* getpeerinfo array (API.md 5.2), a new reference.  Extension fields:
 * `membytes` (what the peer makes the node hold: output and input buffers,
 * gossip_peer_mem) and `recvpaused` (not read
 * until its output drains). */
json_t *net_peerinfo(const struct net *net);

/* Memory held for peers (DEX_stats): the sum and largest of getpeerinfo
 * `membytes`, the budgets (total: a share of -maxmem; per peer), the
 * highest total seen, peers disconnected over a budget, peers paused. */
struct net_mem {
	size_t total, largest, budget, peer_budget, peak;
	uint64_t kills;
	size_t paused;
};
void net_mem_stats(const struct net *net, struct net_mem *m);

/* GET /metrics: one connected peer's traffic and queues. */
struct net_peer_stat {
	int id;
	const char *addr;            /* valid during the callback only */
	bool inbound, synced, recv_paused, has_ping;
	uint64_t bytessent, bytesrecv, packetssent, packetsrecv;
	size_t outbuf, inbuf;        /* socket buffer bytes */
	size_t queued;               /* bytes in its priority send queue */
	size_t backlog;              /* catch-up entries waiting for it */
	size_t mem;                  /* getpeerinfo membytes */
	double pingtime;             /* s, when has_ping */
};
/* cb for every connected peer (as getpeerinfo lists them). */
void net_peer_stats(const struct net *net,
                    void (*cb)(void *ctx, const struct net_peer_stat *p),
                    void *ctx);
/* The dissemination counters (proto/gossip.h struct gossip_stats), NULL
 * without a network. */
struct gossip_stats;
const struct gossip_stats *net_gossip_stats(struct net *net);
/* setban (bitcoind's): ban or unban "ip[/len|/mask]".  bantime <= 0 means
 * -bantime; absolute: bantime is the unix time the ban ends.  Adding
 * disconnects the peers inside; every change rewrites banlist.json.
 * Returns E_OK, E_INVAL (not an address/subnet), E_DUP (already banned),
 * E_RANGE (absolute time in the past), E_NOTFOUND (remove: no such ban),
 * E_NOMEM (list full). */
int net_setban(struct net *net, const char *subnet, bool add,
               int64_t bantime, bool absolute);
/* listbanned array: address, ban_created, banned_until, ban_duration,
 * time_remaining per ban in force. */
json_t *net_listbanned(const struct net *net);
void net_clearbanned(struct net *net);

/* ---- light clients (lightsrv.c, lightcli.c; PROTOCOL.md 7); they also
 * use net_peer_send and net_peer_misbehave above ---- */
/* Bytes queued to peer and not yet written; SIZE_MAX if it is gone. */
size_t net_peer_outq(const struct net *net, int peer);
/* The peer's address as getpeerinfo shows it, NULL if it is gone. */
const char *net_peer_addr(const struct net *net, int peer);
/* Connected peers that answer light requests (-dexp2p=2, protocol
 * version >= 3, not light themselves): their ids, at most cap. */
size_t net_light_servers(const struct net *net, int *ids, size_t cap);

#endif
