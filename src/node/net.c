/* net.c - the peer-to-peer network on the node's libevent loop (net.h).
 *
 * Owns the listener, one bufferevent per connection, the address book and
 * epoch map (proto/peers.h) and the gossip engine (proto/gossip.h).  This
 * file moves bytes: framing, address exchange, connection upkeep with
 * backoff, the per-peer memory budget.  The handshake and keepalive rules
 * are the session's (proto/session.h), dissemination and sync decisions the
 * gossip engine's, both fed with (peer, frame, now).
 *
 * Clocks: node_mono_ms() for every timeout, deadline, backoff and rate
 * limit (a wall-clock step must not end links or stall timers); the wall
 * clock (node_now) only for VERSION time, address timestamps, the peer
 * epoch and getpeerinfo's conntime/lastsend/lastrecv.
 *
 * Connections are never freed inside a callback that may still touch them:
 * conn_kill() marks one closing and a zero-delay event reaps it.
 *
 * Host names (-addnode, -connect, addnode RPC) never block the loop: a
 * numeric host is converted at once (AI_NUMERICHOST), a name waits in
 * net->names while evdns resolves it, then enters the address book under
 * the string the user gave.  net_stop() cancels requests in flight.
 */
#include "node/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "core/err.h"
#include "core/util.h"
#include "node/banlist.h"
#include "node/crypto.h"
#include "node/lightcli.h"
#include "node/lightsrv.h"
#include "node/fetch.h"
#include "node/log.h"
#include "node/node.h"
#include "proto/ban.h"
#include "proto/evict.h"
#include "proto/gossip.h"
#include "proto/peers.h"
#include "proto/sendbuf.h"
#include "proto/session.h"
#include "proto/wire.h"

#define NET_TICK_MS 20
#define NET_OUTBOUND_TARGET 8
/* A connection's output buffer is sent in the order it was written, so
 * gossip's priority queues order only what has not reached it: it is
 * sized in time (proto/sendbuf.h), at most NET_OUT_TIME_MS of the rate it
 * was seen to drain at (at least SENDBUF_FLOOR, at most NET_OUT_HIGH),
 * and the write callback drains the queue into it when it is down to half
 * that.  TCP_NOTSENT_LOWAT keeps the kernel's unsent bytes under
 * NET_NOTSENT_LOWAT, so what waits, waits here where it is measured
 * (a slow link's kernel buffer would otherwise hold seconds of it). */
#define NET_OUT_HIGH (1u << 20)
#define NET_OUT_TIME_MS SENDBUF_TIME_MS
#define NET_OUT_LOW (256u << 10)       /* a paused peer is read again */
#define NET_NOTSENT_LOWAT (16u << 10)
/* A read callback or tick longer than this, or a tick this late, is
 * logged (-debug=net): one long callback delays every peer's traffic. */
#define NET_SLOW_US 20000u
/* Memory a peer can make us hold (output and input buffers, its gossip
 * send queue and catch-up backlog): over NET_PEER_MEM_MAX it is
 * disconnected; over NET_PAUSE_HIGH of output we stop reading from it
 * until the output is under NET_OUT_LOW (backpressure).  All peers
 * together: at most -maxmem / NET_MEM_SHARE (at least NET_MEM_MIN_TOTAL);
 * above it the largest holder is disconnected. */
#define NET_PEER_MEM_MAX (16u << 20)
#define NET_PAUSE_HIGH (2u << 20)
#define NET_QUEUE_CAP (8u << 20)       /* gossip send queue per peer */
#define NET_MEM_SHARE 4u
#define NET_MEM_MIN_TOTAL (64u << 20)
#define NET_TRIM_MIN (1u << 20)        /* a peer this big left: trim */
/* Unacknowledged data on a socket for this long: the kernel ends the
 * connection (TCP_USER_TIMEOUT), so a dead link is not kept through TCP's
 * retransmission backoff. */
#define NET_USER_TIMEOUT_MS 60000u
#define NET_DEFAULT_PORT 7770
#define NET_MAX_SELF 8
#define NET_NAMES_MAX 256              /* host names being resolved */
#define NET_DNS_FLUSH_ROUNDS 16        /* net_stop: loop turns for cancels */
/* ADDR entries a peer may make us process: 0.1 per second, a burst of
 * 1000 (Bitcoin Core's MAX_ADDR_RATE_PER_SECOND and
 * MAX_ADDR_PROCESSING_TOKEN_BUCKET); the rest is ignored and counted. */
#define NET_ADDR_RATE 0.1
#define NET_ADDR_BURST 1000.0
/* accept() failing (EMFILE, ENFILE, ENOBUFS...): the listener pauses
 * for this long, doubling up to the maximum, instead of spinning. */
#define NET_ACCEPT_BACKOFF_MIN_MS 100
#define NET_ACCEPT_BACKOFF_MAX_MS 5000
#define NET_BANLIST "banlist.json"

/* A host name from -addnode/-connect/addnode, not yet in the address book:
 * resolving (evdns), or waiting to retry after a failed resolution. */
struct net_name {
	struct net *net;
	bool used;
	bool resolving;               /* a request is in flight */
	bool dropping;                /* removed: slot freed by the callback */
	uint8_t flags;                /* PEERS_ADDNODE | PEERS_CONNECT | ONETRY */
	uint8_t attempts;             /* failed resolutions */
	uint64_t next_try_ms;
	struct evdns_getaddrinfo_request *req;
	char name[PEERS_NAME_MAX];    /* host[:port] as the user gave it */
};

struct conn {
	struct conn *next;
	struct net *net;
	int id;
	struct bufferevent *bev;
	struct sendbuf sb;            /* its output's drain rate */
	struct evbuffer_cb_entry *outcb;
	size_t out_low;               /* the write watermark set */
	bool inbound, connected, closing;
	bool ready;                   /* handshake done, admitted */
	bool recv_paused;             /* backpressure: output over the mark */
	bool gossiping;               /* in the gossip engine: neither side
	                               * is a light node */
	struct session s;             /* handshake, keepalive (session.h) */
	struct wire_version pv;       /* the peer's VERSION (from s at ready) */
	struct sockaddr_storage sa;
	char addr[64];
	struct peer_addr *book;       /* outbound: the entry dialed */
	uint32_t conntime, lastsend, lastrecv;
	uint64_t bytessent, bytesrecv, packetssent, packetsrecv;
	uint64_t pings_seen;          /* s.pings_sent when ping_us was set */
	uint64_t ping_us;             /* monotonic time the PING was sent */
	size_t mem;                   /* conn_mem() at the last check */
	double pingtime;
	bool has_ping;
	char why[128];
	/* admission policy */
	unsigned misbehavior;         /* score; BAN_SCORE_MAX bans */
	uint64_t ready_mono_ms;       /* handshake completed (node_mono_ms) */
	uint64_t last_packet_ms;      /* last new packet from it (mono) */
	struct peers_bucket addr_tb;  /* ADDR entries it may make us handle */
	uint64_t addr_processed, addr_rate_limited;
};

struct net {
	struct node *n;
	struct gossip *g;
	struct evconnlistener *lis;
	struct event *tick_ev, *reap_ev;
	struct event *due_ev;          /* one-shot: gossip_next_due() */
	uint64_t due_at;               /* ... armed for this time */
	bool due_armed;
	uint64_t tick_us;              /* last tick_cb (mono_us) */
	struct conn *conns;
	int next_id;
	uint64_t nonce;
	uint64_t last_overload;
	uint64_t last_second_ms;
	bool started, stopped;
	struct peers_book book;
	struct peers_epoch epoch;
	struct { uint8_t ip[16]; uint16_t port; } self[NET_MAX_SELF];
	size_t nself;
	struct wbuf wb;
	/* admission policy */
	struct bans *bans;            /* proto/ban.h */
	char *banpath;                /* <datadir>/banlist.json */
	struct event *accept_ev;      /* resumes a paused listener */
	uint64_t accept_backoff_ms;   /* current pause, 0 when accepting */
	uint64_t evict_k0, evict_k1;  /* key of the eviction netgroup hash */
	uint64_t rnd;                 /* xorshift state for ADDR sampling */
	bool bans_dirty;              /* automatic bans not yet written */
	uint64_t accept_refused;      /* inbound closed by the policy */
	uint64_t last_refuse_log_ms;
	struct evdns_base *dns;       /* created at the first name */
	size_t dns_inflight;          /* requests whose callback is due */
	struct net_name names[NET_NAMES_MAX];
	struct session_cfg scfg;      /* our VERSION and the checks */
	size_t mem_total, mem_peak;   /* conn_mem() of all peers */
	uint64_t mem_kills;           /* peers dropped over a budget */
};

/* ---- addresses ---- */

_Static_assert(DEX_PROTOCOL_VERSION == WIRE_PROTOCOL_VERSION,
               "getinfo protocolversion must be the version we send");

/* Monotonic microseconds, for round-trip times (not wall time). */
static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sa_to_ip(const struct sockaddr_storage *ss, uint8_t ip[16],
                     uint16_t *port)
{
	memset(ip, 0, 16);
	*port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;
		peers_ip4(ip, ntohl(s->sin_addr.s_addr));
		*port = ntohs(s->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)ss;
		memcpy(ip, &s->sin6_addr, 16);
		*port = ntohs(s->sin6_port);
	}
}

static socklen_t ip_to_sa(const uint8_t ip[16], uint16_t port,
                          struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (peers_is_ip4(ip)) {
		struct sockaddr_in *s = (void *)ss;
		s->sin_family = AF_INET;
		memcpy(&s->sin_addr, ip + 12, 4);
		s->sin_port = htons(port);
		return sizeof(*s);
	}
	struct sockaddr_in6 *s = (void *)ss;
	s->sin6_family = AF_INET6;
	memcpy(&s->sin6_addr, ip, 16);
	s->sin6_port = htons(port);
	return sizeof(*s);
}

static void ip_fmt(char *out, size_t cap, const uint8_t ip[16],
                   uint16_t port)
{
	char h[INET6_ADDRSTRLEN];
	if (peers_is_ip4(ip)) {
		inet_ntop(AF_INET, ip + 12, h, sizeof(h));
		snprintf(out, cap, "%s:%u", h, port);
	} else {
		inet_ntop(AF_INET6, ip, h, sizeof(h));
		snprintf(out, cap, "[%s]:%u", h, port);
	}
}

/* host[:port] or [v6]:port.  A numeric host (IPv4, bracketed IPv6) is
 * converted at once (AI_NUMERICHOST never touches DNS) and E_OK returned;
 * a well-formed name gives E_AGAIN (resolve it with evdns, never
 * getaddrinfo on the loop thread); bad syntax E_INVAL. */
static int parse_hostport(const char *s, uint8_t ip[16], uint16_t *port)
{
	char host[256];
	struct addrinfo hints = {0}, *res = NULL;
	uint16_t dummy;

	if (hostport_split(s, host, sizeof host, port, NET_DEFAULT_PORT) != E_OK)
		return E_INVAL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) {
		/* a bracketed host must be an IPv6 literal */
		return s[0] == '[' ? E_INVAL : E_AGAIN;
	}
	sa_to_ip((struct sockaddr_storage *)(void *)res->ai_addr, ip, &dummy);
	freeaddrinfo(res);
	return E_OK;
}

static bool is_self(struct net *net, const uint8_t ip[16], uint16_t port)
{
	for (size_t i = 0; i < net->nself; i++)
		if (net->self[i].port == port &&
		    memcmp(net->self[i].ip, ip, 16) == 0)
			return true;
	return false;
}

/* ---- connections ---- */

static struct conn *conn_by_id(const struct net *net, int id)
{
	for (struct conn *c = net->conns; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static void conn_kill(struct conn *c, const char *why)
{
	if (c->closing)
		return;
	c->closing = true;
	snprintf(c->why, sizeof(c->why), "%s", why);
	if (c->bev && bufferevent_disable(c->bev, EV_READ | EV_WRITE) != 0)
		log_msg(LOG_NET, "peer %d: cannot stop its events", c->id);
	event_active(c->net->reap_ev, 0, 0);
}

/* ---- per-peer memory ---- */

/* Everything c makes us hold: its output and input buffers and its gossip
 * structures. */
static size_t conn_mem(const struct net *net, const struct conn *c)
{
	size_t m = 0;

	if (c->bev) {
		m += evbuffer_get_length(bufferevent_get_output(c->bev));
		m += evbuffer_get_length(bufferevent_get_input(c->bev));
	}
	if (c->ready && c->gossiping)
		m += gossip_peer_mem(net->g, c->id);
	return m;
}

/* The budget of all peers together: a share of -maxmem. */
static size_t mem_budget(const struct net *net)
{
	uint64_t b = net->n->cfg->maxmem / NET_MEM_SHARE;

	if (b < NET_MEM_MIN_TOTAL)
		b = NET_MEM_MIN_TOTAL;
	return b > SIZE_MAX ? SIZE_MAX : (size_t)b;
}

static void mem_kill(struct conn *c, size_t mem, const char *what)
{
	char why[128];

	snprintf(why, sizeof(why), "memory budget: %s (%zu bytes)", what, mem);
	c->net->mem_kills++;
	conn_kill(c, why);
}

static void mem_check(struct net *net);

/* True if c may be given len more bytes within its budget; otherwise c is
 * disconnected.  The total is kept between ticks by counting c again at
 * each send (what it holds now, plus len); when it passes the budget it
 * is counted again at once (mem_check: the largest holders go, possibly
 * c), so a burst of sends to many peers within one tick cannot overshoot
 * it. */
static bool conn_budget(struct conn *c, size_t len)
{
	struct net *net = c->net;
	size_t m = conn_mem(net, c);

	if (m + len > NET_PEER_MEM_MAX) {
		mem_kill(c, m + len, "peer over 16 MiB");
		return false;
	}
	/* c as it is now (what it holds besides its output, e.g. a known-set
	 * allocated on first use, has grown since it was counted; its
	 * output may have drained) and len more */
	net->mem_total -= net->mem_total < c->mem ? net->mem_total : c->mem;
	c->mem = m + len;
	net->mem_total += c->mem;
	if (net->mem_total > mem_budget(net)) {
		mem_check(net);
		if (c->closing)
			return false;
		c->mem += len;
		net->mem_total += len;
	}
	return true;
}

/* Every tick: each peer within its budget, all of them within the total
 * (the largest holders go first). */
static void mem_check(struct net *net)
{
	size_t total = 0, cap = mem_budget(net);

	for (struct conn *c = net->conns; c; c = c->next) {
		if (c->closing)
			continue;
		c->mem = conn_mem(net, c);
		if (c->mem > NET_PEER_MEM_MAX) {
			mem_kill(c, c->mem, "peer over 16 MiB");
			continue;
		}
		total += c->mem;
	}
	while (total > cap) {
		struct conn *big = NULL;
		for (struct conn *c = net->conns; c; c = c->next)
			if (!c->closing && (!big || c->mem > big->mem))
				big = c;
		if (!big)
			break;
		total -= big->mem;
		mem_kill(big, big->mem, "largest holder, total over budget");
	}
	net->mem_total = total;
	if (total > net->mem_peak)
		net->mem_peak = total;
}

static void epoch_on_close(struct net *net, struct conn *c);

static void conn_free(struct net *net, struct conn *c)
{
	epoch_on_close(net, c);
	if (c->ready && c->gossiping)
		gossip_peer_del(net->g, c->id);
	if (c->ready)
		fetch_peer_down(net->n, c->id);
	if (c->ready && net->n->lightsrv)
		lightsrv_peer_gone(net->n->lightsrv, c->id);
	if (c->ready && net->n->lightcli)
		lightcli_peer_gone(net->n->lightcli, c->id);
	if (c->book) {
		struct peer_addr *e = c->book;
		if (c->ready) {
			/* a link that was up died: redial at once */
			e->connected = false;
			e->next_try_ms = 0;
		} else {
			peers_book_failed(e, node_mono_ms());
		}
		if (e->flags == PEERS_ONETRY)
			peers_book_remove(&net->book, e);
	}
	if (c->bev) {
		if (c->outcb)
			evbuffer_remove_cb_entry(bufferevent_get_output(c->bev),
			                         c->outcb);
		bufferevent_free(c->bev);
	}
	free(c);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net *net = arg;
	struct conn **pp = &net->conns;
	size_t freed = 0;
	while (*pp) {
		struct conn *c = *pp;
		if (!c->closing) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		log_msg(c->ready ? LOG_INFO : LOG_NET,
		        "peer %d %s disconnected: %s", c->id, c->addr, c->why);
		freed += conn_mem(net, c);
		conn_free(net, c);
	}
	/* give what large peers held back to the system */
	if (freed >= NET_TRIM_MIN)
		malloc_trim(0);
}

static void conn_send(struct conn *c, const uint8_t *buf, size_t len)
{
	if (c->closing || !c->connected)
		return;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	if (!conn_budget(c, len))
		return;
	if (evbuffer_add(out, buf, len) != 0) {
		conn_kill(c, "out of memory (send)");
		return;
	}
	c->bytessent += len;
	c->lastsend = node_now();
}

static void conn_send_wb(struct net *net, struct conn *c)
{
	conn_send(c, net->wb.p, net->wb.len);
	wb_reset(&net->wb);
}

/* ---- admission policy: bans, misbehaviour, slots, eviction ---- */

static void conn_ip(const struct conn *c, uint8_t ip[16])
{
	uint16_t p;
	sa_to_ip(&c->sa, ip, &p);
}

static bool is_banned(const struct net *net, const uint8_t ip[16])
{
	return ban_match(net->bans, ip, (int64_t)node_now());
}

/* The ban list changed: write it (a failure is logged, the list in
 * memory stays in force). */
static void bans_save(struct net *net)
{
	char err[256];
	net->bans_dirty = false;
	if (banlist_save(net->bans, net->banpath, err, sizeof err) != E_OK)
		log_msg(LOG_WARN, "cannot write the ban list: %s", err);
}

/* Close every connection from inside ip/bits. */
static void ban_disconnect(struct net *net, const uint8_t ip[16],
                           uint8_t bits, const char *why)
{
	for (struct conn *c = net->conns; c; c = c->next) {
		uint8_t a[16];
		conn_ip(c, a);
		peers_mask(a, a, bits);
		if (!c->closing && memcmp(a, ip, 16) == 0)
			conn_kill(c, why);
	}
}

/* Add `score` to c's misbehaviour (why: a static string).  At
 * BAN_SCORE_MAX the peer is disconnected and its address banned for
 * -bantime (ban_offence: a repeat offender's subnet), except the host
 * itself (127.0.0.1, ::1: its processes share the machine anyway, and a
 * local test network would cut itself off) and -addnode/-connect peers
 * (the operator chose them): those are only disconnected, as Bitcoin
 * Core's "not banning local peer" / "not punishing addnode peer". */
static void conn_misbehave(struct conn *c, unsigned score, const char *why)
{
	struct net *net = c->net;
	uint8_t ip[16], bip[16], bits;
	char what[64];

	if (c->closing)
		return;
	c->misbehavior += score;
	if (c->misbehavior < BAN_SCORE_MAX) {
		log_msg(LOG_NET, "peer %d %s misbehaving (+%u = %u): %s", c->id,
		        c->addr, score, c->misbehavior, why);
		return;
	}
	conn_ip(c, ip);
	if (peers_is_localhost(ip) ||
	    (c->book && (c->book->flags & (PEERS_ADDNODE | PEERS_CONNECT)))) {
		log_msg(LOG_NET, "peer %d %s misbehaving (%u): %s; not banned "
		        "(local or manual peer)", c->id, c->addr,
		        c->misbehavior, why);
		conn_kill(c, why);
		return;
	}
	if (ban_offence(net->bans, ip, (int64_t)node_now(), net->n->cfg->bantime,
	                bip, &bits) != 0) {
		log_msg(LOG_WARN, "ban list full: %s not banned", c->addr);
		conn_kill(c, why);
		return;
	}
	ban_format(what, sizeof what, bip, bits);
	log_msg(LOG_INFO, "peer %d %s banned as %s for %u s: %s", c->id,
	        c->addr, what, net->n->cfg->bantime, why);
	conn_kill(c, why);
	ban_disconnect(net, bip, bits, "banned");
	/* written by the next second tick: a stream of offenders costs one
	 * write (and fsync) a second, not one each */
	net->bans_dirty = true;
}

static void g_misbehave(void *ctx, int peer, unsigned score, const char *why)
{
	struct conn *c = conn_by_id(ctx, peer);
	if (c)
		conn_misbehave(c, score, why);
}

/* Book entries the operator asked for (-addnode, -connect, addnode). */
static size_t manual_count(const struct net *net)
{
	size_t k = 0;
	for (size_t i = 0; i < PEERS_BOOK_MAX; i++)
		if (net->book.a[i].used &&
		    (net->book.a[i].flags & (PEERS_ADDNODE | PEERS_CONNECT)))
			k++;
	return k;
}

/* Inbound slots: -maxconnections minus those kept for outbound (one
 * per -addnode/-connect entry, plus the learned-address target of 8, or
 * half of what is left when -maxconnections is that small), so that
 * inbound connections never stop the node from dialling its own peers. */
static size_t inbound_max(const struct net *net)
{
	size_t max = (size_t)net->n->cfg->maxconnections;
	size_t keep = manual_count(net), learned;
	if (keep >= max)
		return 0;
	learned = net->n->cfg->connect.n ? 0 : (max - keep) / 2;
	if (learned > NET_OUTBOUND_TARGET)
		learned = NET_OUTBOUND_TARGET;
	return max - keep - learned;
}

static uint64_t netgroup_key(const struct net *net, const uint8_t ip[16])
{
	uint8_t m[17];
	unsigned bits = peers_netbits(ip);
	peers_mask(m, ip, bits);
	m[16] = (uint8_t)bits;
	return peers_siphash(net->evict_k0, net->evict_k1, m, sizeof m);
}

/* Inbound is full: drop the least useful inbound peer (evict_select).
 * False when every one is protected. */
static bool evict_inbound(struct net *net)
{
	static struct evict_cand cand[10000];
	size_t n = 0;

	for (struct conn *c = net->conns;
	     c && n < sizeof cand / sizeof cand[0]; c = c->next) {
		uint8_t ip[16];
		if (!c->inbound || c->closing)
			continue;
		conn_ip(c, ip);
		cand[n].id = c->id;
		cand[n].netgroup = netgroup_key(net, ip);
		cand[n].connected_ms = c->s.start_ms; /* monotonic */
		cand[n].ping_us = c->has_ping ? (uint64_t)(c->pingtime * 1e6)
		                              : UINT64_MAX;
		cand[n].last_packet_ms = c->last_packet_ms;
		n++;
	}
	int id = evict_select(cand, n);
	struct conn *v = id >= 0 ? conn_by_id(net, id) : NULL;
	if (!v)
		return false;
	log_msg(LOG_NET, "peer %d %s evicted for a new inbound connection",
	        v->id, v->addr);
	conn_kill(v, "evicted (inbound slots full)");
	return true;
}

/* Why an inbound connection from ip may not be accepted now, NULL if it
 * may.  Runs before anything is allocated for it. */
static const char *admit_inbound(struct net *net, const uint8_t ip[16])
{
	const struct config *cfg = net->n->cfg;
	size_t same_ip = 0, same_net = 0, inbound = 0;

	if (is_banned(net, ip))
		return "banned";
	for (struct conn *c = net->conns; c; c = c->next) {
		uint8_t a[16];
		if (!c->inbound || c->closing)
			continue;
		inbound++;
		conn_ip(c, a);
		if (memcmp(a, ip, 16) == 0)
			same_ip++;
		if (peers_same_net(a, ip))
			same_net++;
	}
	if (same_ip >= (size_t)cfg->maxinboundperip)
		return "too many connections from that address";
	if (same_net >= (size_t)cfg->maxinboundpersubnet)
		return "too many connections from that subnet";
	if (inbound >= inbound_max(net) && !evict_inbound(net))
		return "inbound slots full";
	return NULL;
}

/* Log refusals at most once a second (an attacker controls their
 * number), with the count since the last line. */
static void log_refused(struct net *net, const char *addr, const char *why)
{
	uint64_t now = node_mono_ms();
	net->accept_refused++;
	if (now - net->last_refuse_log_ms < 1000 && net->last_refuse_log_ms)
		return;
	net->last_refuse_log_ms = now;
	log_msg(LOG_NET, "inbound connection refused from %s: %s (%llu "
	        "refused so far)", addr, why,
	        (unsigned long long)net->accept_refused);
}

static void accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net *net = arg;
	if (net->lis && !net->stopped && evconnlistener_enable(net->lis) != 0)
		log_msg(LOG_WARN, "cannot resume accepting peers");
}

/* accept() failed for a reason that retrying at once will not cure
 * (out of descriptors or memory): pause the listener with a backoff
 * rather than spin on a socket that stays readable. */
static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct net *net = arg;
	int err = EVUTIL_SOCKET_ERROR();

	net->accept_backoff_ms = net->accept_backoff_ms
	                             ? net->accept_backoff_ms * 2
	                             : NET_ACCEPT_BACKOFF_MIN_MS;
	if (net->accept_backoff_ms > NET_ACCEPT_BACKOFF_MAX_MS)
		net->accept_backoff_ms = NET_ACCEPT_BACKOFF_MAX_MS;
	struct timeval tv = {
		(time_t)(net->accept_backoff_ms / 1000),
		(suseconds_t)(net->accept_backoff_ms % 1000) * 1000,
	};
	if (!net->accept_ev || evconnlistener_disable(l) != 0 ||
	    evtimer_add(net->accept_ev, &tv) != 0) {
		log_msg(LOG_WARN, "accept failed (%s) and the listener cannot "
		        "pause", evutil_socket_error_to_string(err));
		return;
	}
	/* the first pause of a run is a warning, the longer ones net debug */
	log_msg(net->accept_backoff_ms == NET_ACCEPT_BACKOFF_MIN_MS ? LOG_WARN
	                                                            : LOG_NET,
	        "accepting peers paused for %llu ms: %s",
	        (unsigned long long)net->accept_backoff_ms,
	        evutil_socket_error_to_string(err));
}

/* The epoch key a peer claims (unauthenticated). */
static uint64_t epoch_key(const struct conn *c)
{
	return c->pv.plen ? le64(c->pv.pubkey + 1) : c->pv.nonce;
}

/* A ready peer is going: a quick leaver's epoch position is freed,
 * unless another connection holds the same key. */
static void epoch_on_close(struct net *net, struct conn *c)
{
	uint64_t key;
	if (!c->ready)
		return;
	key = epoch_key(c);
	for (struct conn *o = net->conns; o; o = o->next)
		if (o != c && o->ready && !o->closing && epoch_key(o) == key)
			return;
	peers_epoch_left(&net->epoch, key,
	                 (uint32_t)((node_mono_ms() - c->ready_mono_ms) / 1000));
}

/* Set up bans (loaded from <datadir>/banlist.json), keys and limits. */
static void policy_init(struct net *net)
{
	const struct config *cfg = net->n->cfg;
	uint64_t k[6];
	char err[256];
	size_t l = strlen(cfg->datadir) + sizeof("/" NET_BANLIST);
	int rc;

	if (getrandom(k, sizeof k, 0) != (ssize_t)sizeof k)
		for (size_t i = 0; i < 6; i++)
			k[i] = net->nonce * (2 * i + 1) ^ node_mono_ms();
	net->bans = xcalloc(1, sizeof(*net->bans));
	bans_init(net->bans, k[0], k[1]);
	peers_book_seed(&net->book, k[2], k[3]);
	net->evict_k0 = k[4];
	net->evict_k1 = k[5];
	net->rnd = k[0] ^ k[5];
	/* a host may hold twice its connection share of epoch positions
	 * (reconnects within an epoch) */
	net->epoch.per_addr = 2 * (unsigned)cfg->maxinboundperip;
	net->epoch.per_net = 2 * (unsigned)cfg->maxinboundpersubnet;
	net->banpath = xmalloc(l);
	snprintf(net->banpath, l, "%s/%s", cfg->datadir, NET_BANLIST);
	rc = banlist_load(net->bans, net->banpath, (int64_t)node_now(), err,
	                  sizeof err);
	if (rc != E_OK)
		log_msg(LOG_WARN, "ban list: %s", err);
	if (net->bans->n)
		log_msg(LOG_INFO, "%zu bans loaded from %s", net->bans->n,
		        net->banpath);
}

/* Every second: drop expired bans, write the list if it changed. */
static void policy_tick(struct net *net)
{
	if (net->bans->n && ban_sweep(net->bans, (int64_t)node_now()))
		net->bans_dirty = true;
	if (net->bans_dirty)
		bans_save(net);
}

/* ---- gossip callbacks ---- */

static void g_send(void *ctx, int peer, const uint8_t *buf, size_t len)
{
	struct conn *c = conn_by_id(ctx, peer);
	if (c)
		conn_send(c, buf, len);
}

static void g_send_packet(void *ctx, int peer, const struct stored *sp,
                          uint8_t relay)
{
	struct net *net = ctx;
	struct conn *c = conn_by_id(net, peer);
	uint8_t h[WIRE_HDR_LEN + 1];
	if (!c || c->closing)
		return;
	wire_hdr_encode(h, WIRE_PACKET, sp->len);
	h[WIRE_HDR_LEN] = relay;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	if (!conn_budget(c, sp->len + WIRE_HDR_LEN))
		return;
	if (evbuffer_add(out, h, sizeof(h)) != 0 ||
	    evbuffer_add(out, stored_bytes(sp) + 1, sp->len - 1) != 0) {
		conn_kill(c, "out of memory (send)");
		return;
	}
	c->bytessent += sizeof(h) + sp->len - 1;
	c->lastsend = node_now();
	c->packetssent++;
}

/* One PACKETS frame (v2 peers: per packet its length and bytes with the
 * relay byte replaced) or, with tags, one TPACKETS frame (v3 peers: each
 * entry with its tree tag first). */
static void send_batch(struct net *net, int peer,
                       const struct stored *const *sps,
                       const uint8_t *relays, const uint32_t *tags, size_t n)
{
	struct conn *c = conn_by_id(net, peer);
	uint8_t h[WIRE_HDR_LEN], e[9];
	size_t total = 0, elen = tags ? 9 : 5;
	if (!c || c->closing)
		return;
	for (size_t i = 0; i < n; i++)
		total += tags ? wire_tpackets_entry_len(sps[i]->len)
		              : wire_packets_entry_len(sps[i]->len);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int rc = 0;
	if (!conn_budget(c, total + WIRE_HDR_LEN))
		return;
	wire_hdr_encode(h, tags ? WIRE_TPACKETS : WIRE_PACKETS,
	                (uint32_t)total);
	rc |= evbuffer_add(out, h, sizeof(h));
	for (size_t i = 0; i < n; i++) {
		uint8_t *q = e;
		if (tags) {
			put_le32(q, tags[i]);
			q += 4;
		}
		put_le32(q, sps[i]->len);
		q[4] = relays[i];
		rc |= evbuffer_add(out, e, elen);
		rc |= evbuffer_add(out, stored_bytes(sps[i]) + 1,
		                   sps[i]->len - 1);
	}
	if (rc != 0) {
		conn_kill(c, "out of memory (send)");
		return;
	}
	c->bytessent += sizeof(h) + total;
	c->lastsend = node_now();
	c->packetssent += n;
}

static void g_send_packets(void *ctx, int peer,
                           const struct stored *const *sps,
                           const uint8_t *relays, size_t n)
{
	send_batch(ctx, peer, sps, relays, NULL, n);
}

static void g_send_tpackets(void *ctx, int peer,
                            const struct stored *const *sps,
                            const uint8_t *relays, const uint32_t *tags,
                            size_t n)
{
	send_batch(ctx, peer, sps, relays, tags, n);
}

/* Room in c's output buffer (sized in time, see NET_OUT_TIME_MS); the
 * write callback comes when it is down to half its size. */
static size_t g_room(void *ctx, int peer)
{
	struct conn *c = conn_by_id(ctx, peer);
	if (!c || c->closing || !c->connected)
		return 0;
	size_t used = evbuffer_get_length(bufferevent_get_output(c->bev));
	size_t cap = sendbuf_cap(&c->sb, NET_OUT_TIME_MS, SENDBUF_FLOOR,
	                         NET_OUT_HIGH);
	if (cap / 2 != c->out_low) {
		c->out_low = cap / 2;
		bufferevent_setwatermark(c->bev, EV_WRITE, c->out_low, 0);
	}
	return used >= cap ? 0 : cap - used;
}

static int g_ingest(void *ctx, int peer, const uint8_t *pkt, size_t len,
                    struct stored **out, enum drop_reason *reason)
{
	struct net *net = ctx;
	struct conn *c = conn_by_id(net, peer);
	int rc;
	if (c)
		c->packetsrecv++;
	rc = node_ingest(net->n, pkt, len, out, reason);
	if (c && rc == E_OK)
		c->last_packet_ms = node_mono_ms(); /* eviction: useful peer */
	if (rc == E_OK && *out)
		lightsrv_on_new(net->n->lightsrv, *out); /* live filters */
	return rc;
}

static void sync_counters(struct net *net, uint64_t now_ms)
{
	const struct gossip_stats *st = gossip_get_stats(net->g, now_ms);
	struct node_counters *k = &net->n->ctr;
	k->sent = st->sent;
	k->ann_examined = st->ann_examined;
	k->fetch_sent = st->fetch_sent;
	k->fetch_retried = st->fetch_retried;
	k->fetch_pending = st->fetch_pending;
	k->dropped[DROP_OVERLOAD] += st->overload_drops - net->last_overload;
	net->last_overload = st->overload_drops;
	k->overloaded = st->overloaded;
}

/* ---- handshake and control messages ---- */

/* Our VERSION and the checks of the peer's (session.h), made once. */
static void session_cfg_init(struct net *net)
{
	struct node *n = net->n;
	struct session_cfg *sc = &net->scfg;
	struct wire_version *v = &sc->local;

	memset(sc, 0, sizeof(*sc));
	v->version = WIRE_PROTOCOL_VERSION; /* see wire.h */
	v->services = WIRE_SVC_DEXP2P |
	              (n->cfg->light ? WIRE_SVC_LIGHT
	                             : n->cfg->dexp2p == 2 ? WIRE_SVC_FULL : 0);
	v->txpowbits = (uint8_t)n->cfg->txpowbits;
	v->purgetime = n->cfg->purgetime;
	v->nonce = net->nonce;
	/* a light node is never handed out as an address to dial */
	v->listen_port = n->cfg->listen && !n->cfg->light
	                     ? (uint16_t)n->cfg->port : 0;
	if (n->ident) {
		v->plen = 33;
		identity_pubkey33(n->ident, v->pubkey);
	}
	snprintf(v->ua, sizeof(v->ua), "%s", DEX_SUBVERSION);
	v->ualen = (uint8_t)strlen(v->ua);
	sc->txpowbits = n->cfg->txpowbits;
	sc->purgetime = n->cfg->purgetime;
}

/* Send what the session wrote to net->wb; note a PING it sent (for the
 * round trip in microseconds). */
static void sess_flush(struct net *net, struct conn *c)
{
	if (c->s.pings_sent != c->pings_seen) {
		c->pings_seen = c->s.pings_sent;
		c->ping_us = mono_us();
	}
	if (net->wb.len)
		conn_send_wb(net, c);
}

/* The answer to GETADDR: the connected peers that listen (verified: a
 * handshake completed), then a sample of the book (peers_book_pick:
 * verified entries, and unverified ones with no sender dominating).
 * Banned addresses are never handed out. */
static void send_addr(struct net *net, struct conn *to)
{
	static struct wire_addr a[WIRE_MAX_ADDR];
	static size_t pick[WIRE_MAX_ADDR];
	size_t k = 0, np;
	uint32_t now = node_now();
	for (struct conn *c = net->conns; c && k < WIRE_MAX_ADDR; c = c->next) {
		if (!c->ready || c == to || !c->pv.listen_port)
			continue;
		uint16_t p;
		sa_to_ip(&c->sa, a[k].ip, &p);
		if (is_banned(net, a[k].ip))
			continue;
		a[k].port = c->pv.listen_port;
		a[k].last_seen = now;
		a[k].services = (uint16_t)c->pv.services;
		k++;
	}
	net->rnd = net->rnd * 6364136223846793005ULL + 1442695040888963407ULL;
	np = peers_book_pick(&net->book, now, k, net->rnd, pick,
	                     WIRE_MAX_ADDR - k);
	for (size_t i = 0; i < np && k < WIRE_MAX_ADDR; i++) {
		const struct peer_addr *e = &net->book.a[pick[i]];
		if (is_banned(net, e->ip))
			continue;
		memcpy(a[k].ip, e->ip, 16);
		a[k].port = e->port;
		a[k].last_seen = e->last_seen;
		a[k].services = e->services;
		k++;
	}
	wire_addr_encode(&net->wb, a, k);
	conn_send_wb(net, to);
}

static void on_ready(struct net *net, struct conn *c)
{
	uint64_t now_ms = node_mono_ms();
	uint8_t cip[16];

	for (struct conn *o = net->conns; o; o = o->next) {
		if (o != c && o->ready && !o->closing &&
		    o->pv.nonce == c->pv.nonce) {
			conn_kill(c, "duplicate connection");
			return;
		}
	}
	/* the key is the peer's claim: an inbound peer's address and subnet
	 * hold a bounded share of the epoch's positions */
	conn_ip(c, cip);
	switch (peers_epoch_take(&net->epoch, epoch_key(c), cip, c->inbound,
	                         node_now())) {
	case PEERS_EPOCH_FULL:
		conn_kill(c, "epoch full (1024 peers this epoch)");
		return;
	case PEERS_EPOCH_ADDR:
		conn_kill(c, "epoch share of its address used");
		return;
	case PEERS_EPOCH_NET:
		conn_kill(c, "epoch share of its subnet used");
		return;
	default:
		break;
	}
	c->ready = true;
	c->ready_mono_ms = node_mono_ms();
	/* a light node (either side) takes no part in dissemination: no
	 * pushes, INV or catch-up on this link (PROTOCOL.md 7) */
	c->gossiping = !net->n->cfg->light &&
	               !(c->pv.services & WIRE_SVC_LIGHT);
	unsigned gflags = ((c->pv.services & WIRE_SVC_FULL) ? GOSSIP_PEER_FULL
	                                                     : 0) |
	                  (c->pv.version >= WIRE_V2 ? GOSSIP_PEER_V2 : 0) |
	                  (c->pv.version >= WIRE_V3 ? GOSSIP_PEER_V3 : 0);
	if (c->gossiping &&
	    gossip_peer_add(net->g, c->id, gflags, now_ms) != E_OK) {
		epoch_on_close(net, c); /* gives the position back */
		c->ready = false;
		conn_kill(c, "peer table full");
		return;
	}
	/* the connections of one address share one catch-up budget (the
	 * host's own address excepted: a local network runs on it) */
	if (c->gossiping && !peers_is_localhost(cip))
		gossip_peer_set_group(net->g, c->id,
		                      peers_siphash(net->evict_k0, net->evict_k1,
		                                    cip, 16) | 1);
	/* remember where it listens; link the book entry */
	uint8_t ip[16];
	uint16_t p;
	sa_to_ip(&c->sa, ip, &p);
	if (c->pv.listen_port) {
		struct peer_addr *e = NULL;
		if (net->n->cfg->connect.n == 0)
			e = peers_book_add(&net->book, ip, c->pv.listen_port,
			                   PEERS_LEARNED, (uint16_t)c->pv.services,
			                   node_now(), NULL);
		else
			e = peers_book_find(&net->book, ip, c->pv.listen_port);
		if (e && !c->book && !e->connected) {
			c->book = e;
		}
	}
	if (c->book)
		peers_book_succeeded(c->book, node_now());
	fetch_peer_up(net->n, c->id, c->pv.version, c->pv.services);
	log_msg(LOG_INFO, "peer %d %s connected (%s, %s, dexp2p=%d)", c->id,
	        c->addr, c->inbound ? "inbound" : "outbound", c->pv.ua,
	        (c->pv.services & WIRE_SVC_FULL) ? 2 : 1);
	session_activate(&c->s, now_ms, &net->wb); /* GETADDR, PING */
	sess_flush(net, c);
	if (net->n->lightcli)
		lightcli_peer_ready(net->n->lightcli, c->id,
		                    (c->pv.services & WIRE_SVC_FULL) &&
		                    c->pv.version >= WIRE_V3);
}

/* A light-client frame (0x14-0x1b): requests to the server side, answers
 * to the client side of a light node.  Returns false to stop reading. */
static bool on_light(struct net *net, struct conn *c, uint8_t type,
                     const uint8_t *p, size_t n)
{
	if (wire_payload_validate(type, p, n) != E_OK) {
		char msg[64];
		snprintf(msg, sizeof(msg), "malformed %s", wire_type_name(type));
		conn_misbehave(c, BAN_SCORE_MAX, msg);
		return false;
	}
	if (type == WIRE_LANSWER || type == WIRE_LPUSH) {
		if (net->n->lightcli)
			lightcli_on_msg(net->n->lightcli, c->id, type, p, n);
		else
			conn_misbehave(c, 20, "light answer not asked for");
	} else {
		lightsrv_on_msg(net->n->lightsrv, c->id, type, p, n);
	}
	return !c->closing;
}

/* The session refused the peer's VERSION (s->why): remember our own
 * address when we dialled ourselves. */
static void on_rejected(struct net *net, struct conn *c)
{
	if (c->s.self && c->book && net->nself < NET_MAX_SELF) {
		memcpy(net->self[net->nself].ip, c->book->ip, 16);
		net->self[net->nself++].port = c->book->port;
		if (!(c->book->flags & (PEERS_ADDNODE | PEERS_CONNECT)))
			c->book->flags = PEERS_ONETRY; /* forget it */
	}
	log_msg(LOG_INFO, "peer %s rejected: %s", c->addr, c->s.why);
}

static void on_addr(struct net *net, struct conn *c, const uint8_t *p,
                    size_t n)
{
	static struct wire_addr a[WIRE_MAX_ADDR];
	struct peers_src ps;
	uint8_t src[16];
	uint64_t now_ms = node_mono_ms();
	size_t k;
	if (wire_addr_decode(p, n, a, WIRE_MAX_ADDR, &k) != E_OK) {
		conn_misbehave(c, BAN_SCORE_MAX, "malformed addr");
		return;
	}
	if (net->n->cfg->connect.n > 0)
		return; /* -connect: only those */
	uint32_t now = node_now();
	conn_ip(c, src);
	peers_book_src(&net->book, src, &ps);
	for (size_t i = 0; i < k; i++) {
		/* a token per entry (as Bitcoin Core): a flood costs the
		 * loop the decoding, nothing more */
		if (!peers_bucket_take(&c->addr_tb, now_ms, NET_ADDR_RATE,
		                       NET_ADDR_BURST)) {
			c->addr_rate_limited += k - i;
			break;
		}
		c->addr_processed++;
		if (!a[i].port || !(a[i].services & WIRE_SVC_DEXP2P) ||
		    is_self(net, a[i].ip, a[i].port) || is_banned(net, a[i].ip))
			continue;
		uint32_t seen = a[i].last_seen > now ? now : a[i].last_seen;
		net->rnd ^= net->rnd << 13;
		net->rnd ^= net->rnd >> 7;
		net->rnd ^= net->rnd << 17;
		peers_book_learn(&net->book, &ps, a[i].ip, a[i].port,
		                 a[i].services, seen, net->rnd);
	}
}

/* One frame from c: the session decides (handshake, keepalive), net
 * carries out.  Returns false when c must stop being read. */
static bool on_frame(struct net *net, struct conn *c, uint8_t type,
                     const uint8_t *p, size_t n)
{
	uint64_t now_ms = node_mono_ms();
	enum session_ev ev = session_on_frame(&c->s, type, p, n, now_ms,
	                                      node_now(), &net->wb);

	sess_flush(net, c); /* VERSION, VERACK, PONG */
	switch (ev) {
	case SESSION_NONE:
		return true;
	case SESSION_KILL:
		if (c->s.rejected)
			on_rejected(net, c);
		if (c->s.violation)
			conn_misbehave(c, BAN_SCORE_MAX, c->s.why);
		else
			conn_kill(c, c->s.why);
		return false;
	case SESSION_READY:
		c->pv = c->s.pv;
		on_ready(net, c);
		return !c->closing;
	case SESSION_PONG:
		c->pingtime = (double)(mono_us() - c->ping_us) / 1e6;
		c->has_ping = true;
		/* a new tree's first push favours fast links (gossip.h) */
		if (c->gossiping)
			gossip_peer_rtt(net->g, c->id,
			                c->s.rtt_ms ? c->s.rtt_ms : 1);
		return true;
	case SESSION_GETADDR:
		send_addr(net, c);
		return !c->closing;
	case SESSION_ADDR:
		on_addr(net, c, p, n);
		return !c->closing;
	case SESSION_GOSSIP:
		break;
	}
	if (type >= WIRE_LLIST && type <= WIRE_LRELAY)
		return on_light(net, c, type, p, n);
	if (type >= WIRE_GETPKTS && type <= WIRE_PKTMISS) { /* fetch.h */
		fetch_on_msg(net->n, c->id, type, p, n);
		return !c->closing;
	}
	if (!c->gossiping)
		return true; /* a light link: dissemination frames ignored */
	enum drop_reason why;
	if (gossip_on_msg(net->g, c->id, type, p, n, now_ms, &why) != E_OK) {
		char msg[96];
		if (why != DROP_NONE)
			snprintf(msg, sizeof(msg), "sent a bad packet (%s)",
			         drop_reason_name[why]);
		else
			snprintf(msg, sizeof(msg), "malformed %s",
			         wire_type_name(type));
		conn_misbehave(c, BAN_SCORE_MAX, msg);
		return false;
	}
	return !c->closing;
}

/* Run gossip again when its queued announcements are due (within
 * GOSSIP_INV_DELAY_MS rather than at the next 20 ms tick). */
static void arm_due(struct net *net)
{
	uint64_t due = gossip_next_due(net->g), now_ms;

	if (due == UINT64_MAX || !net->due_ev || net->stopped ||
	    (net->due_armed && net->due_at <= due))
		return;
	now_ms = node_mono_ms();
	uint64_t ms = due > now_ms ? due - now_ms : 0;
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	if (event_add(net->due_ev, &tv) == 0) {
		net->due_armed = true;
		net->due_at = due;
	} else {
		log_msg(LOG_WARN, "cannot arm the announcement timer");
	}
}

/* Backpressure (Bitcoin's fPauseRecv): a peer whose output is over
 * NET_PAUSE_HIGH is not read until it drains under NET_OUT_LOW (write_cb),
 * so its requests cannot make us hold more. */
static bool conn_pause_check(struct conn *c)
{
	if (c->recv_paused || c->closing ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) <=
	            NET_PAUSE_HIGH)
		return c->recv_paused;
	if (bufferevent_disable(c->bev, EV_READ) != 0) {
		conn_kill(c, "cannot pause reading");
		return true;
	}
	c->recv_paused = true;
	log_msg(LOG_NET, "peer %d: output over %u MiB, not read until it "
	        "drains", c->id, NET_PAUSE_HIGH >> 20);
	return true;
}

/* The whole frames waiting in c's input (until c is paused or closed). */
static void conn_read(struct conn *c)
{
	struct net *net = c->net;
	struct evbuffer *in = bufferevent_get_input(c->bev);

	uint64_t t_in = mono_us(), slow_us = 0;
	unsigned nframes = 0, slow_len = 0;
	uint8_t slow_type = 0;

	/* what the frames of this read make us send leaves together (one
	 * PACKETS frame per peer rather than a frame per packet) */
	if (evbuffer_get_length(in))
		session_on_recv(&c->s, node_mono_ms());
	gossip_hold(net->g);
	while (!c->closing && !conn_pause_check(c)) {
		size_t avail = evbuffer_get_length(in);
		uint8_t h[WIRE_HDR_LEN], type;
		uint32_t len;
		if (avail < WIRE_HDR_LEN)
			break;
		if (evbuffer_copyout(in, h, WIRE_HDR_LEN) !=
		    (ssize_t)WIRE_HDR_LEN) {
			conn_kill(c, "cannot read its input");
			break;
		}
		int rc = wire_hdr_decode(h, WIRE_HDR_LEN, &type, &len);
		if (rc != E_OK) {
			conn_misbehave(c, BAN_SCORE_MAX,
			               rc == E_TOOBIG ? "oversize frame"
			                              : "bad frame header");
			break;
		}
		if (avail < WIRE_HDR_LEN + (size_t)len)
			break;
		uint8_t *buf = evbuffer_pullup(in, WIRE_HDR_LEN + (ssize_t)len);
		if (!buf) {
			conn_kill(c, "out of memory (receive)");
			break;
		}
		c->bytesrecv += WIRE_HDR_LEN + len;
		c->lastrecv = node_now();
		uint64_t t_f = mono_us();
		on_frame(net, c, type, buf + WIRE_HDR_LEN, len);
		t_f = mono_us() - t_f;
		if (t_f > slow_us) {
			slow_us = t_f;
			slow_type = type;
			slow_len = len;
		}
		nframes++;
		if (evbuffer_drain(in, WIRE_HDR_LEN + (size_t)len) != 0) {
			conn_kill(c, "cannot drain input");
			break;
		}
	}
	gossip_release(net->g);
	sync_counters(net, node_mono_ms());
	arm_due(net);
	uint64_t took = mono_us() - t_in;
	if (took > NET_SLOW_US)
		log_msg(LOG_NET, "slow read from peer=%d: %u frames in %.1f ms "
		        "(longest %s of %u B: %.1f ms)", c->id, nframes,
		        (double)took / 1e3, wire_type_name(slow_type), slow_len,
		        (double)slow_us / 1e3);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	conn_read(arg);
}

/* Output down to its low mark (half its size, g_room): more packets; and
 * a paused peer is read again once under NET_OUT_LOW (frames already
 * buffered first). */
static void write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	if (c->closing)
		return;
	if (c->ready && c->gossiping)
		gossip_drain(c->net->g, c->id);
	if (c->recv_paused && !c->closing &&
	    evbuffer_get_length(bufferevent_get_output(bev)) <=
	            NET_OUT_LOW) {
		if (bufferevent_enable(bev, EV_READ) != 0) {
			conn_kill(c, "cannot resume reading");
			return;
		}
		c->recv_paused = false;
		conn_read(c);
	}
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	struct net *net = c->net;
	if (what & BEV_EVENT_CONNECTED) {
		c->connected = true;
		log_msg(LOG_NET, "connected to %s", c->addr);
		session_connected(&c->s, node_now(), &net->wb);
		sess_flush(net, c);
		return;
	}
	if (what & BEV_EVENT_EOF)
		conn_kill(c, "closed by peer");
	else if (what & BEV_EVENT_ERROR)
		conn_kill(c, evutil_socket_error_to_string(
		                 EVUTIL_SOCKET_ERROR()));
	else
		conn_kill(c, "socket event");
}

/* What enters and leaves c's output buffer: its drain rate. */
static void out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
                   void *arg)
{
	struct conn *c = arg;
	uint64_t now = mono_us();

	if (info->n_added)
		sendbuf_added(&c->sb, now, info->orig_size);
	if (info->n_deleted)
		sendbuf_drained(&c->sb, now, info->n_deleted,
		                info->orig_size + info->n_added -
		                        info->n_deleted);
}

static struct conn *conn_new(struct net *net, struct bufferevent *bev,
                             bool inbound, const struct sockaddr_storage *ss)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	uint8_t ip[16];
	uint16_t port;

	c->net = net;
	c->id = net->next_id++;
	c->bev = bev;
	c->inbound = inbound;
	c->sa = *ss;
	sa_to_ip(ss, ip, &port);
	ip_fmt(c->addr, sizeof(c->addr), ip, port);
	c->conntime = node_now();
	net->scfg.seed = net->nonce ^ ((uint64_t)(unsigned)c->id << 32);
	session_init(&c->s, &net->scfg, inbound, node_mono_ms());
	bufferevent_setcb(bev, read_cb, write_cb, event_cb, c);
	sendbuf_init(&c->sb);
	c->outcb = evbuffer_add_cb(bufferevent_get_output(bev), out_cb, c);
	c->out_low = SENDBUF_FLOOR / 2;
	bufferevent_setwatermark(bev, EV_WRITE, c->out_low, 0);
	if (bufferevent_enable(bev, EV_READ | EV_WRITE) != 0)
		conn_kill(c, "cannot enable its events");
	/* append: ids ascend along the list (getpeerinfo order) */
	struct conn **pp = &net->conns;
	while (*pp)
		pp = &(*pp)->next;
	*pp = c;
	return c;
}

static size_t conn_count(const struct net *net, int dir)
{
	size_t k = 0;
	for (struct conn *c = net->conns; c; c = c->next)
		if (!c->closing && (dir < 0 || c->inbound == (dir == 1)))
			k++;
	return k;
}

/* Socket options of every peer connection.
 * TCP_NODELAY: small control frames (INV, GETDATA) must leave at once:
 * with Nagle's algorithm each announce/pull hop waited for the peer's
 * delayed ACK, about 40 ms (netbench: p50 48 ms -> 19 ms for 10 nodes at
 * 20k/s).
 * TCP_USER_TIMEOUT: data unacknowledged for NET_USER_TIMEOUT_MS ends the
 * connection (a partition is noticed in seconds, not after minutes of
 * retransmission backoff).
 * TCP_NOTSENT_LOWAT: at most NET_NOTSENT_LOWAT not yet sent in the
 * kernel (NET_OUT_TIME_MS above). */
static void set_sockopts(evutil_socket_t fd)
{
	int one = 1;
	unsigned int uto = NET_USER_TIMEOUT_MS;

	if (fd < 0)
		return;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
		log_msg(LOG_NET, "TCP_NODELAY: %s", strerror(errno));
	if (setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto,
	               sizeof(uto)) != 0)
		log_msg(LOG_NET, "TCP_USER_TIMEOUT: %s", strerror(errno));
#ifdef TCP_NOTSENT_LOWAT
	unsigned int lowat = NET_NOTSENT_LOWAT;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat,
	               sizeof(lowat)) != 0)
		log_msg(LOG_NET, "TCP_NOTSENT_LOWAT: %s", strerror(errno));
#endif
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd,

                      struct sockaddr *sa, int socklen, void *arg)
{
	struct net *net = arg;
	struct sockaddr_storage ss = {0};
	uint8_t ip[16];
	uint16_t port;
	const char *why;
	memcpy(&ss, sa, (size_t)socklen < sizeof(ss) ? (size_t)socklen
	                                              : sizeof(ss));
	net->accept_backoff_ms = 0; /* accept works again */
	if (net->stopped) {
		evutil_closesocket(fd);
		return;
	}
	/* bans, per-address and per-subnet caps, inbound slots (evicting
	 * the least useful inbound peer when full): decided on the address
	 * alone, before anything is allocated for the connection */
	sa_to_ip(&ss, ip, &port);
	why = admit_inbound(net, ip);
	if (why) {
		char a[64];
		evutil_closesocket(fd);
		ip_fmt(a, sizeof a, ip, port);
		log_refused(net, a, why);
		return;
	}
	set_sockopts(fd);
	struct bufferevent *bev = bufferevent_socket_new(
		net->n->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		evutil_closesocket(fd);
		return;
	}
	struct conn *c = conn_new(net, bev, true, &ss);
	c->connected = true;
	log_msg(LOG_NET, "inbound connection %d from %s", c->id, c->addr);
}

static void dial(struct net *net, struct peer_addr *e)
{
	struct sockaddr_storage ss;
	socklen_t sl = ip_to_sa(e->ip, e->port, &ss);
	if (is_banned(net, e->ip))
		return; /* banned addresses are never dialled */
	struct bufferevent *bev = bufferevent_socket_new(
		net->n->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!bev)
		return;
	struct conn *c = conn_new(net, bev, false, &ss);
	c->book = e;
	e->connected = true; /* in progress: not dialed twice */
	if (bufferevent_socket_connect(bev, (struct sockaddr *)&ss, (int)sl) <
	    0)
		conn_kill(c, "connect failed");
	else
		set_sockopts(bufferevent_getfd(bev));
}

/* Keep outbound connections: -connect only those; else addnode entries
 * always and learned ones up to the outbound target.  Outbound slots are
 * apart from inbound ones (inbound_max keeps them free): however many
 * peers connect to us, we still dial our own.  Banned addresses are
 * skipped. */
static void maintain(struct net *net, uint64_t now_ms)
{
	struct config *cfg = net->n->cfg;
	size_t out = conn_count(net, 0);
	uint8_t mask = cfg->connect.n ? PEERS_CONNECT
	                              : (PEERS_ADDNODE | PEERS_ONETRY);
	struct peer_addr *e;

	while (out < (size_t)cfg->maxconnections &&
	       (e = peers_book_next(&net->book, now_ms, mask)) != NULL) {
		if (is_banned(net, e->ip))
			continue;
		dial(net, e);
		out++;
	}
	if (cfg->connect.n)
		return;
	/* learned ones within -maxconnections: inbound_max leaves them
	 * room */
	size_t total = conn_count(net, -1);
	while (out < NET_OUTBOUND_TARGET &&
	       total < (size_t)cfg->maxconnections &&
	       (e = peers_book_next(&net->book, now_ms, PEERS_LEARNED)) !=
	               NULL) {
		if (is_self(net, e->ip, e->port) || is_banned(net, e->ip))
			continue;
		/* already connected to that listener (inbound)? */
		bool have = false;
		for (struct conn *c = net->conns; c && !have; c = c->next) {
			uint8_t ip[16];
			uint16_t p;
			sa_to_ip(&c->sa, ip, &p);
			have = !c->closing && c->pv.listen_port == e->port &&
			       memcmp(ip, e->ip, 16) == 0;
		}
		if (have)
			continue;
		dial(net, e);
		out++;
		total++;
	}
}

static void names_retry(struct net *net, uint64_t now_ms);

/* Once a second: the peer epoch (wall clock), each session's timers
 * (monotonic), name retries and dialling. */
/* When the kernel last heard from c's peer (an ACK or data), from
 * TCP_INFO; 0 when unknown. */
static uint64_t tcp_heard_ms(const struct conn *c, uint64_t now_ms)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	evutil_socket_t fd = c->bev ? bufferevent_getfd(c->bev) : -1;
	uint32_t quiet;

	if (fd < 0 || !c->connected ||
	    getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
	    len < sizeof(ti))
		return 0;
	quiet = ti.tcpi_last_ack_recv < ti.tcpi_last_data_recv
	            ? ti.tcpi_last_ack_recv
	            : ti.tcpi_last_data_recv;
	return now_ms > quiet ? now_ms - quiet : 0;
}

static void second_tick(struct net *net, uint64_t now_ms)
{
	uint32_t now = node_now();
	if (peers_epoch_roll(&net->epoch, now)) {
		/* new epoch: map the connected peers again */
		for (struct conn *c = net->conns; c; c = c->next) {
			if (!c->ready || c->closing)
				continue;
			uint8_t ip[16];
			conn_ip(c, ip);
			if (peers_epoch_take(&net->epoch, epoch_key(c), ip,
			                     c->inbound, now) < 0)
				conn_kill(c, "epoch full");
		}
	}
	for (struct conn *c = net->conns; c; c = c->next) {
		if (c->closing)
			continue;
		struct evbuffer *out = bufferevent_get_output(c->bev);
		struct session_io io = {0};
		io.out_pending = evbuffer_get_length(out);
		io.out_written = c->bytessent - io.out_pending;
		io.recv_paused = c->recv_paused;
		io.tcp_heard_ms = tcp_heard_ms(c, now_ms);
		if (!c->connected) /* connect() in progress: only its deadline */
			io.out_pending = 0;
		if (session_tick(&c->s, &io, now_ms, &net->wb) == SESSION_KILL)
			conn_kill(c, c->s.why);
		else
			sess_flush(net, c);
		wb_reset(&net->wb);
	}
	names_retry(net, now_ms);
	policy_tick(net);
	maintain(net, now_ms);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net *net = arg;
	uint64_t now_ms = node_mono_ms(), t_in = mono_us();
	if (net->tick_us &&
	    t_in - net->tick_us > NET_SLOW_US + NET_TICK_MS * 1000)
		log_msg(LOG_NET, "event loop: tick %.1f ms late",
		        (double)(t_in - net->tick_us) / 1e3 - NET_TICK_MS);
	net->tick_us = t_in;
	gossip_tick(net->g, now_ms);
	if (net->n->lightcli)
		lightcli_tick(net->n->lightcli, now_ms);
	fetch_tick(net->n);
	if (now_ms - net->last_second_ms >= 1000) {
		net->last_second_ms = now_ms;
		second_tick(net, now_ms);
	}
	mem_check(net);
	sync_counters(net, now_ms);
	arm_due(net);
	uint64_t took = mono_us() - t_in;
	if (took > NET_SLOW_US)
		log_msg(LOG_NET, "slow tick: %.1f ms", (double)took / 1e3);
}

/* Announcements are due (gossip_next_due): the same as a tick. */
static void due_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net *net = arg;
	uint64_t now_ms = node_mono_ms();
	net->due_armed = false;
	gossip_tick(net->g, now_ms);
	sync_counters(net, now_ms);
	arm_due(net);
}

/* ---- host names (evdns, never blocking the loop) ---- */

static struct net_name *names_find(struct net *net, const char *name)
{
	for (size_t i = 0; i < NET_NAMES_MAX; i++) {
		struct net_name *nm = &net->names[i];
		if (nm->used && !nm->dropping && !strcmp(nm->name, name))
			return nm;
	}
	return NULL;
}

static void names_clear(struct net_name *nm)
{
	memset(nm, 0, sizeof(*nm));
}

/* Forget nm: at once, or (request in flight) when its cancel callback
 * comes. */
static void names_drop(struct net_name *nm)
{
	if (!nm->resolving) {
		names_clear(nm);
		return;
	}
	nm->dropping = true;
	nm->flags = 0;
	if (nm->req) {
		struct evdns_getaddrinfo_request *r = nm->req;
		nm->req = NULL;
		evdns_getaddrinfo_cancel(r);
	}
}

/* The numeric path and a resolved name end here: put ip:port in the book
 * with `flags` under the user's string `name`; ONETRY dials once.
 * Returns E_OK, E_DUP (an addnode entry for that address exists) or
 * E_NOMEM (book full). */
static int book_put(struct net *net, const char *name, const uint8_t ip[16],
                    uint16_t port, uint8_t flags)
{
	struct peer_addr *e;
	uint8_t keep = flags & (PEERS_ADDNODE | PEERS_CONNECT);

	if (keep) {
		e = peers_book_find(&net->book, ip, port);
		if ((keep & PEERS_ADDNODE) && e && (e->flags & PEERS_ADDNODE))
			return E_DUP;
		e = peers_book_add(&net->book, ip, port, keep, 0, 0, name);
		if (!e)
			return E_NOMEM;
		if (strcmp(e->name, name))
			snprintf(e->name, sizeof(e->name), "%s", name);
		e->next_try_ms = 0;
		e->attempts = 0;
	}
	if (flags & PEERS_ONETRY) {
		e = peers_book_find(&net->book, ip, port);
		if (e && e->connected)
			return E_OK;
		if (!e)
			e = peers_book_add(&net->book, ip, port, PEERS_ONETRY, 0,
			                   0, NULL);
		if (!e)
			return E_NOMEM;
		e->next_try_ms = 0;
		if (!e->connected && !net->stopped)
			dial(net, e);
	}
	return E_OK;
}

static void name_failed(struct net *net, struct net_name *nm,
                        const char *why)
{
	uint64_t now_ms = node_mono_ms();

	if (nm->attempts < 255)
		nm->attempts++;
	if (!(nm->flags & (PEERS_ADDNODE | PEERS_CONNECT))) {
		log_msg(LOG_WARN, "cannot resolve %s: %s", nm->name, why);
		names_clear(nm); /* onetry only: forgotten */
		return;
	}
	nm->flags &= (uint8_t)~PEERS_ONETRY;
	nm->next_try_ms = now_ms + peers_backoff_ms(nm->attempts);
	/* the first failure is a warning; the retries are net debug */
	log_msg(nm->attempts == 1 ? LOG_WARN : LOG_NET,
	        "cannot resolve %s: %s (retry in %llu ms)", nm->name, why,
	        (unsigned long long)(nm->next_try_ms - now_ms));
}

static void resolve_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct net_name *nm = arg;
	struct net *net = nm->net;
	const struct evutil_addrinfo *pick = NULL;
	uint8_t ip[16];
	uint16_t port, dummy;
	char host[256];
	int rc;

	nm->req = NULL;
	nm->resolving = false;
	if (net->dns_inflight)
		net->dns_inflight--;
	if (nm->dropping || net->stopped || result == EVUTIL_EAI_CANCEL) {
		names_clear(nm);
		goto out;
	}
	if (result != 0 || !res) {
		name_failed(net, nm, result ? evutil_gai_strerror(result)
		                            : "no address");
		goto out;
	}
	/* we listen on IPv4 only: prefer an IPv4 answer */
	for (const struct evutil_addrinfo *a = res; a; a = a->ai_next) {
		if (a->ai_family == AF_INET) {
			pick = a;
			break;
		}
		if (a->ai_family == AF_INET6 && !pick)
			pick = a;
	}
	if (!pick) {
		name_failed(net, nm, "no IPv4 or IPv6 address");
		goto out;
	}
	hostport_split(nm->name, host, sizeof host, &port, NET_DEFAULT_PORT);
	sa_to_ip((const struct sockaddr_storage *)(const void *)pick->ai_addr,
	         ip, &dummy);
	ip_fmt(host, sizeof host, ip, port);
	rc = book_put(net, nm->name, ip, port, nm->flags);
	if (rc == E_DUP)
		log_msg(LOG_INFO, "%s resolved to %s, already added", nm->name,
		        host);
	else if (rc != E_OK)
		log_msg(LOG_WARN, "%s resolved to %s: address book full",
		        nm->name, host);
	else
		log_msg(LOG_NET, "%s resolved to %s", nm->name, host);
	names_clear(nm); /* the book (or nothing, on onetry) remembers it */
	if (net->started && !net->stopped)
		maintain(net, node_mono_ms());
out:
	if (res)
		evutil_freeaddrinfo(res);
}

/* libevent's resolver messages ("nameserver ... has failed") go to the
 * node's log (net debug), not to stderr. */
static void dns_log(int is_warn, const char *msg)
{
	log_msg(LOG_NET, "evdns%s: %s", is_warn ? " warning" : "", msg);
}

/* Start resolving nm in the background.  The callback may run before this
 * returns (hosts file, immediate error). */
static void resolve_start(struct net *net, struct net_name *nm)
{
	struct evutil_addrinfo hints = {0};
	struct evdns_getaddrinfo_request *r;
	char host[256];
	uint16_t port;

	if (nm->resolving || net->stopped)
		return;
	if (!net->dns) {
		evdns_set_log_fn(dns_log);
		net->dns = evdns_base_new(net->n->base,
		                          EVDNS_BASE_INITIALIZE_NAMESERVERS |
		                          EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (!net->dns) {
			name_failed(net, nm, "cannot start the DNS resolver");
			return;
		}
	}
	if (hostport_split(nm->name, host, sizeof host, &port,
	                   NET_DEFAULT_PORT) != E_OK) {
		name_failed(net, nm, "bad host name"); /* checked before */
		return;
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	nm->resolving = true;
	nm->net = net;
	net->dns_inflight++;
	r = evdns_getaddrinfo(net->dns, host, NULL, &hints, resolve_cb, nm);
	if (r) /* NULL: answered already (nm may be cleared) */
		nm->req = r;
}

/* Remember name (not numeric) with flags and resolve it.  E_OK or
 * E_NOMEM (table full). */
static int names_add(struct net *net, const char *name, uint8_t flags)
{
	struct net_name *nm = names_find(net, name);

	if (!nm) {
		for (size_t i = 0; i < NET_NAMES_MAX && !nm; i++)
			if (!net->names[i].used)
				nm = &net->names[i];
		if (!nm)
			return E_NOMEM;
		names_clear(nm);
		nm->used = true;
		nm->net = net;
		snprintf(nm->name, sizeof(nm->name), "%s", name);
	}
	nm->flags |= flags;
	if (flags & (PEERS_ADDNODE | PEERS_ONETRY))
		nm->attempts = 0; /* asked now: try now */
	nm->next_try_ms = 0;
	if (net->started)
		resolve_start(net, nm);
	return E_OK;
}

/* second tick: retry names whose resolution failed. */
static void names_retry(struct net *net, uint64_t now_ms)
{
	for (size_t i = 0; i < NET_NAMES_MAX; i++) {
		struct net_name *nm = &net->names[i];
		if (nm->used && !nm->resolving && !nm->dropping &&
		    nm->next_try_ms <= now_ms)
			resolve_start(net, nm);
	}
}

/* ---- public ---- */

/* gossip_ops.wall_now: reconciliation windows are in packet time. */
static uint32_t g_wall_now(void *ctx)
{
	return node_now();
}

struct net *net_new(struct node *n)
{
	struct net *net = xcalloc(1, sizeof(*net));
	struct gossip_cfg gc = {0};
	struct gossip_ops ops = {
		.ctx = net, .send = g_send, .send_packet = g_send_packet,
		.room = g_room, .ingest = g_ingest, .wall_now = g_wall_now,
		.misbehave = g_misbehave,
	};

	net->n = n;
	gc.purgetime = n->cfg->purgetime;
	gc.full = n->cfg->dexp2p == 2;
	gc.queue_cap = NET_QUEUE_CAP;
	if (getrandom(&net->nonce, sizeof(net->nonce), 0) !=
	    (ssize_t)sizeof(net->nonce))
		net->nonce = node_now_ms() ^ ((uint64_t)getpid() << 32);
	gc.tree_key = (uint32_t)(net->nonce >> 32); /* fresh each start */
	net->g = gossip_new(n->store, &gc, &ops);
	gossip_set_send_packets(net->g, g_send_packets);
	gossip_set_send_tpackets(net->g, g_send_tpackets);
	n->lightsrv = lightsrv_new(n);
	if (n->cfg->light)
		n->lightcli = lightcli_new(n);
	srand((unsigned)(net->nonce ^ (net->nonce >> 32)));
	session_cfg_init(net);
	peers_book_init(&net->book);
	peers_epoch_init(&net->epoch, node_now());
	policy_init(net);
	wb_init(&net->wb);
	net->reap_ev = event_new(n->base, -1, 0, reap_cb, net);
	net->tick_ev = event_new(n->base, -1, EV_PERSIST, tick_cb, net);
	net->due_ev = event_new(n->base, -1, 0, due_cb, net);
	net->accept_ev = evtimer_new(n->base, accept_resume_cb, net);
	if (!net->g || !net->reap_ev || !net->tick_ev || !net->due_ev ||
	    !net->accept_ev) {
		log_msg(LOG_WARN, "cannot create the network's events");
		net_free(net);
		return NULL;
	}
	return net;
}

int net_start(struct net *net)
{
	struct config *cfg = net->n->cfg;
	struct timeval tv = {0, NET_TICK_MS * 1000};

	if (cfg->listen) {
		struct sockaddr_in sin = {0};
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_ANY);
		sin.sin_port = htons((uint16_t)cfg->port);
		net->lis = evconnlistener_new_bind(
			net->n->base, accept_cb, net,
			LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 128,
			(struct sockaddr *)&sin, sizeof(sin));
		if (!net->lis) {
			log_msg(LOG_WARN, "cannot listen on port %d: %s",
			        cfg->port, strerror(errno));
			return E_IO;
		}
		evconnlistener_set_error_cb(net->lis, accept_error_cb);
	}
	net->started = true; /* names_add resolves from now on */
	for (size_t i = 0; i < cfg->connect.n; i++) {
		const char *v = cfg->connect.v[i];
		uint8_t ip[16];
		uint16_t port;
		int rc = parse_hostport(v, ip, &port);

		if (rc == E_OK)
			rc = book_put(net, v, ip, port, PEERS_CONNECT);
		else if (rc == E_AGAIN && strlen(v) < PEERS_NAME_MAX)
			rc = names_add(net, v, PEERS_CONNECT);
		if (rc != E_OK)
			log_msg(LOG_WARN, "-connect=%s: not added (%s)", v,
			        rc == E_NOMEM ? "table full" : "bad address");
	}
	for (size_t i = 0; i < cfg->addnode.n; i++) {
		int rc = net_addnode(net, cfg->addnode.v[i], "add");
		if (rc != E_OK && rc != E_DUP)
			log_msg(LOG_WARN, "-addnode=%s: not added (%s)",
			        cfg->addnode.v[i],
			        rc == E_NOMEM ? "table full" : "bad address");
	}
	if (event_add(net->tick_ev, &tv) != 0) {
		log_msg(LOG_WARN, "cannot start the network timer");
		return E_IO;
	}
	maintain(net, node_mono_ms());
	log_msg(LOG_INFO, "p2p %s port %d, dexp2p=%d",
	        cfg->listen ? "listening on" : "not listening,", cfg->port,
	        cfg->dexp2p);
	return E_OK;
}

void net_stop(struct net *net)
{
	if (!net || net->stopped)
		return;
	net->stopped = true;
	if (net->lis) {
		evconnlistener_free(net->lis);
		net->lis = NULL;
	}
	if (net->bans_dirty)
		bans_save(net);
	struct event *timers[] = {net->accept_ev, net->tick_ev, net->due_ev};
	for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++)
		if (timers[i] && event_del(timers[i]) != 0)
			log_msg(LOG_WARN, "cannot stop a network timer");
	net->due_armed = false;
	lightcli_stop(net->n->lightcli); /* answers the calls waiting */
	for (struct conn *c = net->conns; c; c = c->next)
		conn_kill(c, "shutting down");
	reap_cb(-1, 0, net);
	/* Cancel resolutions in flight.  libevent answers a cancel with a
	 * deferred callback (which frees its request), so turn the loop a few
	 * times, without blocking, until every callback came; only then is
	 * the resolver freed. */
	for (size_t i = 0; i < NET_NAMES_MAX; i++)
		if (net->names[i].used)
			names_drop(&net->names[i]);
	for (int k = 0; k < NET_DNS_FLUSH_ROUNDS && net->dns_inflight; k++)
		if (event_base_loop(net->n->base, EVLOOP_NONBLOCK) < 0)
			break;
	if (net->dns) {
		if (net->dns_inflight)
			log_msg(LOG_WARN, "%zu DNS requests did not end; resolver "
			        "not freed", net->dns_inflight);
		else
			evdns_base_free(net->dns, 0);
		net->dns = NULL;
	}
}

void net_free(struct net *net)
{
	if (!net)
		return;
	net_stop(net);
	fetch_free(net->n);
	gossip_free(net->g);
	lightcli_free(net->n->lightcli);
	net->n->lightcli = NULL;
	lightsrv_free(net->n->lightsrv);
	net->n->lightsrv = NULL;
	if (net->tick_ev)
		event_free(net->tick_ev);
	if (net->due_ev)
		event_free(net->due_ev);
	if (net->reap_ev)
		event_free(net->reap_ev);
	if (net->accept_ev)
		event_free(net->accept_ev);
	free(net->bans);
	free(net->banpath);
	wb_fini(&net->wb);
	free(net);
}

void net_on_new_packet(struct net *net, struct stored *sp, int from_peer)
{
	if (!net || !net->g)
		return;
	if (net->n->lightcli) {
		/* light: only what this node created goes out, through the
		 * full nodes */
		if (from_peer == -1)
			lightcli_relay(net->n->lightcli, sp);
		return;
	}
	lightsrv_on_new(net->n->lightsrv, sp);
	uint64_t now_ms = node_mono_ms();
	gossip_on_new(net->g, sp, from_peer, now_ms);
	sync_counters(net, now_ms);
	arm_due(net);
}

/* ---- for fetch.c (packets by (timestamp, id)) ---- */

bool net_peer_send(struct net *net, int peer, const uint8_t *buf,
                   size_t len)
{
	struct conn *c = conn_by_id(net, peer);
	if (!c || !c->ready)
		return false;
	conn_send(c, buf, len);
	return !c->closing;
}

void net_peer_misbehave(struct net *net, int peer, unsigned score,
                        const char *why)
{
	struct conn *c = conn_by_id(net, peer);
	if (c)
		conn_misbehave(c, score, why);
}

int net_peer_packet(struct net *net, int peer, const uint8_t *pkt,
                    size_t len)
{
	struct conn *c = conn_by_id(net, peer);
	enum drop_reason why;
	char msg[96];
	if (!c || !c->ready || c->closing)
		return E_PROTO;
	if (gossip_on_msg(net->g, peer, WIRE_PACKET, pkt, len, node_mono_ms(),
	                  &why) == E_OK)
		return E_OK;
	snprintf(msg, sizeof(msg), "sent a bad packet (%s)",
	         drop_reason_name[why]);
	conn_misbehave(c, BAN_SCORE_MAX, msg);
	return E_PROTO;
}

int net_addnode(struct net *net, const char *hostport, const char *cmd)
{
	uint8_t ip[16];
	uint16_t port;
	struct peer_addr *e;
	struct net_name *nm;
	int rc;
	bool add = !strcmp(cmd, "add");

	if (!add && strcmp(cmd, "remove") && strcmp(cmd, "onetry"))
		return E_INVAL;
	if (!strcmp(cmd, "remove")) {
		e = peers_book_find_name(&net->book, hostport);
		if (!e || !(e->flags & PEERS_ADDNODE)) {
			/* a name not resolved (yet) */
			nm = names_find(net, hostport);
			if (!nm || !(nm->flags & PEERS_ADDNODE))
				return E_NOTFOUND;
			nm->flags &= (uint8_t)~PEERS_ADDNODE;
			if (!nm->flags)
				names_drop(nm);
			return E_OK;
		}
		for (struct conn *c = net->conns; c; c = c->next) {
			if (c->book == e) {
				c->book = NULL;
				conn_kill(c, "addnode remove");
			}
		}
		peers_book_remove(&net->book, e);
		return E_OK;
	}
	if (add) {
		e = peers_book_find_name(&net->book, hostport);
		if (e && (e->flags & PEERS_ADDNODE))
			return E_DUP;
		nm = names_find(net, hostport);
		if (nm && (nm->flags & PEERS_ADDNODE))
			return E_DUP;
	}
	rc = parse_hostport(hostport, ip, &port);
	if (rc == E_AGAIN) {
		/* a name: answered now, resolved in the background, failures
		 * logged (API.md 5.3) */
		if (strlen(hostport) >= PEERS_NAME_MAX)
			return E_INVAL;
		return names_add(net, hostport,
		                 add ? PEERS_ADDNODE : PEERS_ONETRY);
	}
	if (rc != E_OK)
		return E_INVAL;
	rc = book_put(net, hostport, ip, port,
	              add ? PEERS_ADDNODE : PEERS_ONETRY);
	if (rc == E_OK && add && net->started)
		maintain(net, node_mono_ms());
	return rc;
}

void net_ping_all(struct net *net)
{
	uint64_t now_ms = node_mono_ms();
	for (struct conn *c = net->conns; c; c = c->next) {
		if (!c->ready || c->closing)
			continue;
		if (session_ping(&c->s, now_ms, &net->wb))
			sess_flush(net, c);
	}
}

size_t net_peer_count(const struct net *net)
{
	size_t k = 0;
	for (struct conn *c = net->conns; c; c = c->next)
		if (c->ready && !c->closing)
			k++;
	return k;
}

bool net_synced(const struct net *net)
{
	if (net->n->lightcli) {
		int id;
		return net_light_servers(net, &id, 1) > 0;
	}
	if (net_peer_count(net) == 0) {
		for (size_t i = 0; i < PEERS_BOOK_MAX; i++)
			if (net->book.a[i].used &&
			    (net->book.a[i].flags & (PEERS_ADDNODE | PEERS_CONNECT)))
				return false;
		for (size_t i = 0; i < NET_NAMES_MAX; i++)
			if (net->names[i].used && !net->names[i].dropping &&
			    (net->names[i].flags & (PEERS_ADDNODE | PEERS_CONNECT)))
				return false;
		return true;
	}
	return gossip_synced(net->g);
}

json_t *net_peerinfo(const struct net *net)
{
	json_t *arr = json_array();
	for (struct conn *c = net->conns; c; c = c->next) {
		if (!c->ready || c->closing)
			continue;
		json_t *o = json_object();
		char pk[67] = "";
		if (c->pv.plen == 33)
			hex_encode(pk, c->pv.pubkey, 33);
		json_object_set_new(o, "id", json_integer(c->id));
		json_object_set_new(o, "addr", json_string(c->addr));
		json_object_set_new(o, "inbound", json_boolean(c->inbound));
		json_object_set_new(o, "dexp2p", json_integer(
			(c->pv.services & WIRE_SVC_FULL) ? 2 : 1));
		json_object_set_new(o, "pubkey", json_string(pk));
		json_object_set_new(o, "version", json_integer(c->pv.version));
		json_object_set_new(o, "subver", json_string(c->pv.ua));
		json_object_set_new(o, "conntime", json_integer(c->conntime));
		json_object_set_new(o, "lastsend", json_integer(c->lastsend));
		json_object_set_new(o, "lastrecv", json_integer(c->lastrecv));
		json_object_set_new(o, "bytessent",
		                    json_integer((json_int_t)c->bytessent));
		json_object_set_new(o, "bytesrecv",
		                    json_integer((json_int_t)c->bytesrecv));
		json_object_set_new(o, "packetssent",
		                    json_integer((json_int_t)c->packetssent));
		json_object_set_new(o, "packetsrecv",
		                    json_integer((json_int_t)c->packetsrecv));
		json_object_set_new(o, "synced", json_boolean(
			gossip_peer_synced(net->g, c->id)));

		if (c->has_ping)
			json_object_set_new(o, "pingtime",
			                    json_real(c->pingtime));
		/* extensions, after the documented keys */
		json_object_set_new(o, "membytes",
		                    json_integer((json_int_t)conn_mem(net, c)));
		json_object_set_new(o, "recvpaused",
		                    json_boolean(c->recv_paused));
		json_object_set_new(o, "addr_processed",
		                    json_integer((json_int_t)c->addr_processed));
		json_object_set_new(o, "addr_rate_limited",
		                    json_integer((json_int_t)c->addr_rate_limited));
		/* only on light links: other peers' objects stay as before */
		if (c->pv.services & WIRE_SVC_LIGHT)
			json_object_set_new(o, "light", json_true());
		json_t *l = net->n->lightcli
		                ? lightcli_peerinfo(net->n->lightcli, c->id)
		                : NULL;
		if (!l && net->n->lightsrv)
			l = lightsrv_peerinfo(net->n->lightsrv, c->id);
		if (l)
			json_object_set_new(o, "lightstats", l);
		json_array_append_new(arr, o);
	}
	return arr;
}

void net_mem_stats(const struct net *net, struct net_mem *m)
{
	memset(m, 0, sizeof(*m));
	if (!net)
		return;
	for (const struct conn *c = net->conns; c; c = c->next) {
		size_t x;
		if (c->closing)
			continue;
		x = conn_mem(net, c);
		m->total += x;
		if (x > m->largest)
			m->largest = x;
		if (c->recv_paused)
			m->paused++;
	}
	m->budget = mem_budget(net);
	m->peer_budget = NET_PEER_MEM_MAX;
	m->peak = net->mem_peak > m->total ? net->mem_peak : m->total;
	m->kills = net->mem_kills;
}

void net_peer_stats(const struct net *net,
                    void (*cb)(void *ctx, const struct net_peer_stat *p),
                    void *ctx)
{
	if (!net)
		return;
	for (const struct conn *c = net->conns; c; c = c->next) {
		struct net_peer_stat p;
		if (!c->ready || c->closing)
			continue;
		memset(&p, 0, sizeof p);
		p.id = c->id;
		p.addr = c->addr;
		p.inbound = c->inbound;
		p.synced = gossip_peer_synced(net->g, c->id);
		p.recv_paused = c->recv_paused;
		p.has_ping = c->has_ping;
		p.pingtime = c->pingtime;
		p.bytessent = c->bytessent;
		p.bytesrecv = c->bytesrecv;
		p.packetssent = c->packetssent;
		p.packetsrecv = c->packetsrecv;
		if (c->bev) {
			p.outbuf = evbuffer_get_length(bufferevent_get_output(c->bev));
			p.inbuf = evbuffer_get_length(bufferevent_get_input(c->bev));
		}
		p.queued = gossip_queued_bytes(net->g, c->id);
		p.backlog = gossip_catchup_backlog(net->g, c->id);
		p.mem = conn_mem(net, c);
		cb(ctx, &p);
	}
}

const struct gossip_stats *net_gossip_stats(struct net *net)
{
	return net && net->g ? gossip_get_stats(net->g, node_mono_ms()) : NULL;
}

/* ---- bans (RPC) ---- */

int net_setban(struct net *net, const char *subnet, bool add,
               int64_t bantime, bool absolute)
{
	uint8_t ip[16], bits;
	int64_t now = (int64_t)node_now(), until;

	if (ban_parse(subnet, ip, &bits) != 0)
		return E_INVAL;
	if (!add) {
		if (ban_del(net->bans, ip, bits) != 0)
			return E_NOTFOUND;
		bans_save(net);
		return E_OK;
	}
	if (ban_covers(net->bans, ip, bits, now))
		return E_DUP;
	if (absolute && bantime < now)
		return E_RANGE;
	if (bantime <= 0)
		until = now + net->n->cfg->bantime;
	else
		until = absolute ? bantime : now + bantime;
	if (ban_add(net->bans, ip, bits, now, until, false) != 0)
		return E_NOMEM;
	ban_disconnect(net, ip, bits, "banned");
	bans_save(net);
	return E_OK;
}

json_t *net_listbanned(const struct net *net)
{
	json_t *arr = json_array();
	int64_t now = (int64_t)node_now();

	for (size_t i = 0; i < BAN_MAX; i++) {
		const struct ban_entry *e = &net->bans->e[i];
		char a[64];
		if (!e->used || e->until <= now)
			continue;
		ban_format(a, sizeof a, e->ip, e->bits);
		json_t *o = json_object();
		json_object_set_new(o, "address", json_string(a));
		json_object_set_new(o, "ban_created", json_integer(e->created));
		json_object_set_new(o, "banned_until", json_integer(e->until));
		json_object_set_new(o, "ban_duration",
		                    json_integer(e->until - e->created));
		json_object_set_new(o, "time_remaining",
		                    json_integer(e->until - now));
		json_array_append_new(arr, o);
	}
	return arr;
}

void net_clearbanned(struct net *net)
{
	ban_clear(net->bans);
	bans_save(net);
}

/* ---- light clients ---- */

size_t net_peer_outq(const struct net *net, int peer)
{
	struct conn *c = conn_by_id(net, peer);
	if (!c || c->closing || !c->bev)
		return SIZE_MAX;
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

const char *net_peer_addr(const struct net *net, int peer)
{
	struct conn *c = conn_by_id(net, peer);
	return c ? c->addr : NULL;
}

size_t net_light_servers(const struct net *net, int *ids, size_t cap)
{
	size_t k = 0;
	for (struct conn *c = net->conns; c && k < cap; c = c->next)
		if (c->ready && !c->closing &&
		    (c->pv.services & WIRE_SVC_FULL) &&
		    !(c->pv.services & WIRE_SVC_LIGHT) &&
		    c->pv.version >= WIRE_V3)
			ids[k++] = c->id;
	return k;
}
