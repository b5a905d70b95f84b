/* metrics.c - GET /metrics on the RPC port: the node's counters in the
 * Prometheus text exposition format 0.0.4 (docs/rpc.md, "Metrics").
 *
 * Reached only after API.md 2.1's checks (allow-list, credentials), like
 * JSON-RPC.  Every family has its HELP and TYPE lines; names carry the
 * dexp2p_ prefix, counters end in _total, units are in the names
 * (_bytes, _seconds).  Per-peer series are labelled with the peer's id
 * (getpeerinfo `id`) and address; they start when a peer connects and
 * end when it leaves.  Built on the loop thread from the live state, no
 * allocation besides the output buffer and the peer list.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "core/fhold.h"
#include "core/hist.h"
#include "core/util.h"
#include "node/fetch.h"
#include "node/net.h"
#include "node/node.h"
#include "node/rpc.h"
#include "proto/gossip.h"

#define CTYPE "text/plain; version=0.0.4; charset=utf-8"

struct out {
	struct evbuffer *b;
	int bad;
};

static void put(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (evbuffer_add_vprintf(o->b, fmt, ap) < 0)
		o->bad = 1;
	va_end(ap);
}

static void family(struct out *o, const char *name, const char *type,
                   const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with \, " and newline escaped (format 0.0.4). */
static void put_label(struct out *o, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			put(o, "\\\\");
		else if (*s == '"')
			put(o, "\\\"");
		else if (*s == '\n')
			put(o, "\\n");
		else
			put(o, "%c", *s);
	}
}

static void one_u64(struct out *o, const char *name, const char *type,
                    const char *help, uint64_t v)
{
	family(o, name, type, help);
	put(o, "%s %llu\n", name, (unsigned long long)v);
}

static void one_dbl(struct out *o, const char *name, const char *help,
                    double v)
{
	family(o, name, "gauge", help);
	put(o, "%s %.17g\n", name, v);
}

/* ---- per peer ---- */

struct peers {
	struct net_peer_stat *v;
	char (*addr)[64];
	size_t n, cap;
};

static void peer_cb(void *ctx, const struct net_peer_stat *p)
{
	struct peers *ps = ctx;

	if (ps->n == ps->cap) {
		ps->cap = ps->cap ? 2 * ps->cap : 16;
		ps->v = xrealloc(ps->v, ps->cap * sizeof *ps->v);
		ps->addr = xrealloc(ps->addr, ps->cap * sizeof *ps->addr);
	}
	ps->v[ps->n] = *p;
	snprintf(ps->addr[ps->n], sizeof ps->addr[0], "%s", p->addr);
	ps->v[ps->n].addr = ps->addr[ps->n];
	ps->n++;
}

enum pfield {
	PF_BYTES_SENT, PF_BYTES_RECV, PF_PKTS_SENT, PF_PKTS_RECV,
	PF_OUTBUF, PF_INBUF, PF_QUEUED, PF_BACKLOG, PF_MEM, PF_SYNCED,
	PF_PAUSED, PF_PING,
};

static void peer_family(struct out *o, const struct peers *ps,
                        const char *name, const char *type,
                        const char *help, enum pfield f)
{
	family(o, name, type, help);
	for (size_t i = 0; i < ps->n; i++) {
		const struct net_peer_stat *p = &ps->v[i];
		double v = 0;
		switch (f) {
		case PF_BYTES_SENT: v = (double)p->bytessent; break;
		case PF_BYTES_RECV: v = (double)p->bytesrecv; break;
		case PF_PKTS_SENT: v = (double)p->packetssent; break;
		case PF_PKTS_RECV: v = (double)p->packetsrecv; break;
		case PF_OUTBUF: v = (double)p->outbuf; break;
		case PF_INBUF: v = (double)p->inbuf; break;
		case PF_QUEUED: v = (double)p->queued; break;
		case PF_BACKLOG: v = (double)p->backlog; break;
		case PF_MEM: v = (double)p->mem; break;
		case PF_SYNCED: v = p->synced; break;
		case PF_PAUSED: v = p->recv_paused; break;
		case PF_PING:
			if (!p->has_ping)
				continue;
			v = p->pingtime;
			break;
		}
		put(o, "%s{id=\"%d\",peer=\"", name, p->id);
		put_label(o, p->addr);
		put(o, "\",direction=\"%s\"} %.17g\n",
		    p->inbound ? "inbound" : "outbound", v);
	}
}

static void peer_metrics(struct out *o, struct node *n)
{
	struct peers ps = { 0 };

	net_peer_stats(n->net, peer_cb, &ps);
	one_u64(o, "dexp2p_peers", "gauge",
	        "Connected peers (handshake completed).", ps.n);
	peer_family(o, &ps, "dexp2p_peer_sent_bytes_total", "counter",
	            "Bytes sent to the peer on this connection.",
	            PF_BYTES_SENT);
	peer_family(o, &ps, "dexp2p_peer_received_bytes_total", "counter",
	            "Bytes received from the peer on this connection.",
	            PF_BYTES_RECV);
	peer_family(o, &ps, "dexp2p_peer_sent_packets_total", "counter",
	            "Whole packets sent to the peer.", PF_PKTS_SENT);
	peer_family(o, &ps, "dexp2p_peer_received_packets_total", "counter",
	            "Packets received from the peer, duplicates included.",
	            PF_PKTS_RECV);
	peer_family(o, &ps, "dexp2p_peer_output_buffer_bytes", "gauge",
	            "Bytes written to the peer's socket buffer, not yet sent.",
	            PF_OUTBUF);
	peer_family(o, &ps, "dexp2p_peer_input_buffer_bytes", "gauge",
	            "Bytes received from the peer, not yet processed.",
	            PF_INBUF);
	peer_family(o, &ps, "dexp2p_peer_send_queue_bytes", "gauge",
	            "Packet bytes waiting in the peer's priority send queue.",
	            PF_QUEUED);
	peer_family(o, &ps, "dexp2p_peer_catchup_backlog_packets", "gauge",
	            "Packets the peer lacks, waiting to enter its send queue "
	            "(catch-up).", PF_BACKLOG);
	peer_family(o, &ps, "dexp2p_peer_memory_bytes", "gauge",
	            "Memory the peer makes the node hold (getpeerinfo "
	            "membytes).", PF_MEM);
	peer_family(o, &ps, "dexp2p_peer_synced", "gauge",
	            "1 once a reconciliation round with the peer found no "
	            "difference.", PF_SYNCED);
	peer_family(o, &ps, "dexp2p_peer_receive_paused", "gauge",
	            "1 while the peer is not read until its output drains.",
	            PF_PAUSED);
	peer_family(o, &ps, "dexp2p_peer_ping_seconds", "gauge",
	            "Last measured round trip to the peer.", PF_PING);
	free(ps.v);
	free(ps.addr);
}

/* ---- RPC ---- */

struct rpc_ctx {
	struct out *o;
	int pass; /* 0 calls, 1 errors, 2 refused, 3 bad */
};

static void rpc_cb(void *ctx, const struct rpc_counts *k)
{
	struct rpc_ctx *rc = ctx;
	struct out *o = rc->o;

	if (k->method && rc->pass == 0)
		put(o, "dexp2p_rpc_calls_total{method=\"%s\"} %llu\n",
		    k->method, (unsigned long long)k->calls);
	else if (k->method && rc->pass == 1)
		put(o, "dexp2p_rpc_errors_total{method=\"%s\"} %llu\n",
		    k->method, (unsigned long long)k->errors);
	else if (!k->method && k->http_code && rc->pass == 2)
		put(o, "dexp2p_rpc_http_refused_total{code=\"%d\"} %llu\n",
		    k->http_code, (unsigned long long)k->calls);
	else if (!k->method && !k->http_code && rc->pass == 3)
		put(o, "dexp2p_rpc_invalid_calls_total %llu\n",
		    (unsigned long long)k->calls);
}

static void rpc_metrics(struct out *o, struct node *n)
{
	struct rpc_ctx rc = { o, 0 };

	family(o, "dexp2p_rpc_calls_total", "counter",
	       "JSON-RPC calls of a known method.");
	rpc_get_counts(n->rpc, rpc_cb, &rc);
	rc.pass = 1;
	family(o, "dexp2p_rpc_errors_total", "counter",
	       "Calls answered with a JSON-RPC error or an error object "
	       "(\"result\":\"error\").");
	rpc_get_counts(n->rpc, rpc_cb, &rc);
	rc.pass = 2;
	family(o, "dexp2p_rpc_http_refused_total", "counter",
	       "HTTP requests refused before any call, by status "
	       "(401: bad credentials, 403: address not allowed).");
	rpc_get_counts(n->rpc, rpc_cb, &rc);
	rc.pass = 3;
	family(o, "dexp2p_rpc_invalid_calls_total", "counter",
	       "Calls naming no known method, or not valid request objects.");
	rpc_get_counts(n->rpc, rpc_cb, &rc);
}

/* ---- the rest ---- */

static void lag_metrics(struct out *o, const struct hist *h)
{
	const char *name = "dexp2p_propagation_lag_seconds";

	family(o, name, "histogram",
	       "Arrival time minus packet timestamp of each packet received "
	       "and stored (timestamps are whole seconds).");
	for (size_t i = 0; i < h->nbounds; i++)
		put(o, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i],
		    (unsigned long long)hist_cumulative(h, i));
	put(o, "%s_bucket{le=\"+Inf\"} %llu\n", name,
	    (unsigned long long)h->count);
	put(o, "%s_sum %.17g\n%s_count %llu\n", name, h->sum, name,
	    (unsigned long long)h->count);
}

static void node_metrics(struct out *o, struct node *n)
{
	const struct node_counters *k = &n->ctr;
	struct store_stats st;
	uint32_t now = node_now();

	store_get_stats(n->store, &st);
	family(o, "dexp2p_build_info", "gauge",
	       "Version of the daemon and of its wire protocol.");
	put(o, "dexp2p_build_info{version=\"%d.%d.%d\",protocol=\"%d\"} 1\n",
	    DEX_VERSION_MAJOR, DEX_VERSION_MINOR, DEX_VERSION_PATCH,
	    DEX_PROTOCOL_VERSION);
	one_u64(o, "dexp2p_start_time_seconds", "gauge",
	        "Start time of the daemon, unix seconds.", n->start_time);
	one_u64(o, "dexp2p_uptime_seconds", "gauge",
	        "Seconds since the daemon started (getinfo uptime).",
	        now > n->start_time ? now - n->start_time : 0);

	one_u64(o, "dexp2p_packets_received_total", "counter",
	        "Packets received from peers, duplicates and dropped ones "
	        "included (DEX_stats received).", k->received);
	one_u64(o, "dexp2p_packets_sent_total", "counter",
	        "Whole packets sent to peers (DEX_stats sent).", k->sent);
	one_u64(o, "dexp2p_packets_added_total", "counter",
	        "Packets stored, created here or received (DEX_stats added).",
	        k->added);
	one_u64(o, "dexp2p_packets_duplicate_total", "counter",
	        "Received packets already held (DEX_stats duplicates).",
	        k->duplicates);
	family(o, "dexp2p_packets_dropped_total", "counter",
	       "Received packets rejected, by reason (DEX_stats dropped).");
	for (int i = 0; i < DROP_MAX; i++)
		put(o, "dexp2p_packets_dropped_total{reason=\"%s\"} %llu\n",
		    drop_reason_name[i], (unsigned long long)k->dropped[i]);
	one_dbl(o, "dexp2p_packets_added_per_second",
	        "Packets added in the last 10 s divided by 10 (DEX_stats "
	        "rate).", node_rate(n, now));
	one_u64(o, "dexp2p_announcements_examined_total", "counter",
	        "Announced ids of packets not held (perfstats L.).",
	        k->ann_examined);
	one_u64(o, "dexp2p_fetch_requests_total", "counter",
	        "Packet ids requested from peers (perfstats A.).",
	        k->fetch_sent);
	one_u64(o, "dexp2p_fetch_retries_total", "counter",
	        "Packet ids requested again after a timeout or NOTFOUND "
	        "(perfstats coll.).", k->fetch_retried);
	one_u64(o, "dexp2p_fetch_pending", "gauge",
	        "Fetch requests outstanding (perfstats pend.).",
	        k->fetch_pending);
	one_u64(o, "dexp2p_overloaded", "gauge",
	        "1 while the node sheds packets for lack of room (LAG).",
	        k->overloaded);
	one_u64(o, "dexp2p_synced", "gauge",
	        "1 when catch-up is done: getinfo synced.", node_synced(n));
	family(o, "dexp2p_lag_average_seconds", "gauge",
	       "Moving averages of the lag of received packets between 1 "
	       "and 59 s (perfstats lag), by sample weight 1/samples.");
	put(o, "dexp2p_lag_average_seconds{samples=\"1000\"} %.17g\n"
	       "dexp2p_lag_average_seconds{samples=\"10000\"} %.17g\n"
	       "dexp2p_lag_average_seconds{samples=\"100000\"} %.17g\n",
	    k->lag[0], k->lag[1], k->lag[2]);
	lag_metrics(o, &k->lag_hist);

	one_u64(o, "dexp2p_store_packets", "gauge",
	        "Packets held (DEX_stats ram).", st.count);
	one_u64(o, "dexp2p_store_bytes", "gauge",
	        "Memory of the held packets, counted against -maxmem.",
	        st.bytes);
	one_u64(o, "dexp2p_store_max_bytes", "gauge",
	        "The store's memory cap (-maxmem).", n->cfg->maxmem);
	family(o, "dexp2p_store_packets_by_priority", "gauge",
	       "Packets held by priority (13: 13 or more).");
	for (int i = 0; i < 14; i++)
		put(o, "dexp2p_store_packets_by_priority{priority=\"%d\"} "
		       "%llu\n", i, (unsigned long long)st.by_priority[i]);
	one_u64(o, "dexp2p_store_expired_total", "counter",
	        "Packets removed at the end of their lifetime.", st.purged);
	one_u64(o, "dexp2p_store_evicted_total", "counter",
	        "Packets removed by the memory cap.", st.evicted);

	if (n->fhold) {
		struct fhold_stats hs;
		fhold_get_stats(n->fhold, &hs);
		one_u64(o, "dexp2p_future_hold_packets", "gauge",
		        "Packets from the near future waiting to be stored.",
		        hs.count);
		one_u64(o, "dexp2p_future_hold_bytes", "gauge",
		        "Bytes charged for the future hold.", hs.bytes);
		one_u64(o, "dexp2p_future_hold_released_total", "counter",
		        "Held packets stored when due.", hs.released);
		one_u64(o, "dexp2p_future_hold_evicted_total", "counter",
		        "Held packets pushed out by higher priorities.",
		        hs.evicted);
		one_u64(o, "dexp2p_future_hold_refused_total", "counter",
		        "Packets the future hold had no room for.", hs.refused);
	}
}

static void net_metrics(struct out *o, struct node *n)
{
	const struct gossip_stats *g = net_gossip_stats(n->net);
	struct net_mem nm;

	net_mem_stats(n->net, &nm);
	one_u64(o, "dexp2p_peer_memory_total_bytes", "gauge",
	        "Memory held for all peers (DEX_stats peermem total).",
	        nm.total);
	one_u64(o, "dexp2p_peer_memory_budget_bytes", "gauge",
	        "Budget of the memory held for all peers.", nm.budget);
	one_u64(o, "dexp2p_peer_memory_disconnects_total", "counter",
	        "Peers disconnected for holding too much memory.", nm.kills);
	if (!g)
		return;
	one_u64(o, "dexp2p_reconciliation_rounds_total", "counter",
	        "Reconciliation rounds started (SUMMARY sent).",
	        g->recon_rounds);
	one_u64(o, "dexp2p_control_sent_bytes_total", "counter",
	        "Bytes of announcement, request and reconciliation frames "
	        "sent.", g->control_bytes);
	one_u64(o, "dexp2p_fetch_waits_total", "counter",
	        "Fetch deadlines extended while the peer was delivering.",
	        g->fetch_waited);
	one_u64(o, "dexp2p_send_queue_shed_total", "counter",
	        "Packets shed from full peer send queues.", g->overload_drops);
	one_u64(o, "dexp2p_catchup_refused_total", "counter",
	        "Catch-up requests not served for lack of catch-up budget.",
	        g->cu_refused);
	one_u64(o, "dexp2p_peer_misbehaviour_total", "counter",
	        "Abusive or useless messages reported against peers.",
	        g->misbehaved);
}

/* Packets asked and served by (timestamp, id): GETPKTS, PKTREPLY, PKTMISS
 * (PROTOCOL.md 3.6; fetch.c), the fetching of DEX_subscribe and
 * DEX_streamsub.  Not the gossip engine's requests (dexp2p_fetch_*). */
static void pktfetch_metrics(struct out *o, struct node *n)
{
	struct fetch_stats st;

	fetch_get_stats(n, &st);
	one_u64(o, "dexp2p_pktfetch_requests_total", "counter",
	        "GETPKTS requests sent (packets asked by timestamp and id).",
	        st.requests);
	one_u64(o, "dexp2p_pktfetch_keys_asked_total", "counter",
	        "Keys (timestamp, id) in the GETPKTS requests sent.",
	        st.keys_asked);
	one_u64(o, "dexp2p_pktfetch_keys_reasked_total", "counter",
	        "Keys asked again of a further peer.", st.reasked);
	one_u64(o, "dexp2p_pktfetch_packets_received_total", "counter",
	        "Packets received in PKTREPLY answers, unsolicited ones "
	        "included.", st.pkts_received);
	one_u64(o, "dexp2p_pktfetch_packets_unsolicited_total", "counter",
	        "Packets received in PKTREPLY frames naming no request of "
	        "ours.", st.pkts_unsolicited);
	one_u64(o, "dexp2p_pktfetch_keys_delivered_total", "counter",
	        "Keys asked that were held once their answer came.",
	        st.delivered);
	one_u64(o, "dexp2p_pktfetch_miss_answers_total", "counter",
	        "PKTMISS answers to our requests listing keys the peer does "
	        "not hold.", st.miss_answers);
	one_u64(o, "dexp2p_pktfetch_keys_missed_total", "counter",
	        "Keys listed as not held in those answers.", st.keys_missed);
	one_u64(o, "dexp2p_pktfetch_busy_answers_total", "counter",
	        "PKTMISS answers to our requests saying BUSY.",
	        st.busy_answers);
	one_u64(o, "dexp2p_pktfetch_timeouts_total", "counter",
	        "Requests not answered in time (their keys go to others).",
	        st.timeouts);
	one_u64(o, "dexp2p_pktfetch_keys_expired_total", "counter",
	        "Wanted keys given up after their time to live.", st.expired);
	one_u64(o, "dexp2p_pktfetch_keys_refused_total", "counter",
	        "Keys not taken because the table of wanted keys was full.",
	        st.refused);
	one_u64(o, "dexp2p_pktfetch_keys_wanted", "gauge",
	        "Keys wanted now.", st.keys_wanted);
	one_u64(o, "dexp2p_pktfetch_requests_outstanding", "gauge",
	        "Requests sent and not yet answered.", st.outstanding);
	one_u64(o, "dexp2p_pktserve_requests_total", "counter",
	        "GETPKTS requests received from peers.", st.req_received);
	one_u64(o, "dexp2p_pktserve_requests_ignored_total", "counter",
	        "Requests received and not answered (-dexp2p=1).",
	        st.req_ignored);
	one_u64(o, "dexp2p_pktserve_requests_refused_total", "counter",
	        "Requests over the key rate, answered BUSY unread.",
	        st.req_refused);
	one_u64(o, "dexp2p_pktserve_keys_served_total", "counter",
	        "Keys answered with their packet.", st.keys_served);
	one_u64(o, "dexp2p_pktserve_keys_missing_total", "counter",
	        "Keys answered as not held.", st.keys_missing);
	one_u64(o, "dexp2p_pktserve_keys_busy_total", "counter",
	        "Keys answered BUSY (answer byte budget spent).", st.keys_busy);
	one_u64(o, "dexp2p_pktserve_packets_sent_total", "counter",
	        "Packets sent in PKTREPLY answers.", st.pkts_sent);
}

void metrics_http(struct node *n, struct evhttp_request *req)
{
	struct out o = { evbuffer_new(), 0 };
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	size_t len;
	const void *body;

	if (!o.b)
		abort(); /* out of memory, as xmalloc */
	node_metrics(&o, n);
	peer_metrics(&o, n);
	net_metrics(&o, n);
	pktfetch_metrics(&o, n);
	rpc_metrics(&o, n);
	len = evbuffer_get_length(o.b);
	body = evbuffer_pullup(o.b, -1);
	if (o.bad || (!body && len))
		abort();
	if (evhttp_add_header(h, "Cache-Control", "no-store") != 0 ||
	    evhttp_add_header(h, "X-Content-Type-Options", "nosniff") != 0)
		abort();
	rpc_http_reply(req, 200, "OK", CTYPE, body ? body : "", len);
	evbuffer_free(o.b);
}
