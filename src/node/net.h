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

/* For fetch.c (packets by (timestamp, id)).  Write buf (whole frames) to
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

#endif
