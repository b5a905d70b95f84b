/* events.c - live subscriptions: the event hooks (events.h) and GET
 * /events, answered with Server-Sent Events (docs/rpc.md, "Live
 * subscriptions").
 *
 * A stream first sends the held packets that match (oldest first, written
 * as the socket drains, at most EVENTS_REPLAY_MAX of them), then an `eose`
 * event, then every match as it is stored, cancelled or purged.  Events
 * that arrive during the replay wait in a small queue (EVENTS_QUEUE_MAX).
 * A subscriber whose unread output is above -rpcsubscriptionbuffer when
 * an event comes for it (so memory is bounded by the buffer plus one
 * event), or whose replay queue fills, gets an `overflow` event and is
 * dropped: its connection is closed after EVENTS_CLOSE_GRACE_MS.  Nothing here ever
 * waits for a subscriber; relaying does not wait for the delivery either
 * (stored packets are queued by hash and delivered from an event callback).
 *
 * Owns: struct events (registry, queues, timers, one-packet render
 * cache) and one struct sse per open stream, freed when evhttp frees its
 * connection (rpc_http_stream's on_close).
 */
#include "node/events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "core/err.h"
#include "core/store.h"
#include "core/util.h"
#include "node/lightcli.h"
#include "node/log.h"
#include "node/node.h"
#include "node/params.h"
#include "node/render.h"
#include "node/rpc.h"
#include "node/rpcparse.h"
#include "node/events_int.h"

#define EVENTS_REPLAY_MAX 100000     /* held packets replayed at most */
#define EVENTS_REPLAY_CHUNK (64 * 1024) /* replay bytes per write */
#define EVENTS_QUEUE_MAX 4096        /* events held during a replay */
#define EVENTS_PING_S 15             /* comment line to idle streams */
#define EVENTS_CLOSE_GRACE_MS 2000   /* overflowed stream closed after */
#define EVENTS_QUERY_MAX 4096        /* bytes of query string accepted */
#define EVENTS_RETRY_MS 2000         /* SSE reconnection delay advised */

struct qrec {
	uint8_t kind;
	uint8_t hash[32];
	uint32_t id, timestamp;
};

struct sse {
	struct ev_sink k;
	struct events *e;
	struct evhttp_request *req;
	bool live;          /* registered */
	bool replaying;
	bool waiting;       /* light node: replay after the first ask */
	uint32_t since_ts;  /* the replay's bounds, kept while waiting */
	bool has_hash;
	uint8_t since_hash[32];
	bool ended;         /* overflowed: waiting for close_at */
	uint64_t close_at;
	uint8_t (*replay)[32]; /* hashes, oldest first */
	size_t nreplay, ireplay;
	bool truncated;
	struct qrec *q;
	size_t qn, qcap;
	struct sse *prev, *next;
};

/* ---- SSE output ---- */

/* The `packet` event of sp, "event: packet\nid: <hash>\ndata: <packet
 * object as compact JSON (API.md 3.4)>\n\n", rendered once and shared by
 * every subscriber it goes to; *joff and *jlen locate the JSON in it. */
static const char *packet_event(struct events *e, struct stored *sp,
                                size_t *len, size_t *joff, size_t *jlen)
{
	static const char head[] = "event: packet\nid: ";
	const size_t hl = sizeof head - 1, off = hl + 64 + 7; /* "\ndata: " */

	if (!e->c_text || e->c_sp != sp || e->c_cancelled != sp->cancelled ||
	    memcmp(e->c_hash, sp->hash, 32) != 0) {
		json_t *o = render_packet(e->n, sp);
		size_t n;
		char *js = rpc_dump(o, &n);
		json_decref(o);
		free(e->c_text);
		e->c_text = xmalloc(off + n + 2);
		memcpy(e->c_text, head, hl);
		hex_encode(e->c_text + hl, sp->hash, 32);
		memcpy(e->c_text + hl + 64, "\ndata: ", 7);
		memcpy(e->c_text + off, js, n);
		memcpy(e->c_text + off + n, "\n\n", 2);
		free(js);
		e->c_len = off + n + 2;
		e->c_sp = sp;
		e->c_cancelled = sp->cancelled;
		memcpy(e->c_hash, sp->hash, 32);
	}
	*len = e->c_len;
	*joff = off;
	*jlen = e->c_len - off - 2;
	return e->c_text;
}

static void add_or_die(int rc)
{
	if (rc < 0)
		abort(); /* out of memory, as xmalloc */
}

/* Append one event to buf: "event: <name>\n[id: <hash>\n]data: <json>\n\n". */
static void put_event(struct evbuffer *buf, const char *name,
                      const uint8_t *id, const char *data, size_t len)
{
	char hex[65];

	add_or_die(evbuffer_add_printf(buf, "event: %s\n", name));
	if (id) {
		hex_encode(hex, id, 32);
		add_or_die(evbuffer_add_printf(buf, "id: %s\n", hex));
	}
	add_or_die(evbuffer_add(buf, "data: ", 6));
	add_or_die(evbuffer_add(buf, data, len));
	add_or_die(evbuffer_add(buf, "\n\n", 2));
}

static void put_packet(struct events *e, struct evbuffer *buf,
                       const char *name, struct stored *sp)
{
	size_t len, joff, jlen;
	const char *ev = packet_event(e, sp, &len, &joff, &jlen);

	if (!strcmp(name, "packet"))
		add_or_die(evbuffer_add(buf, ev, len));
	else
		put_event(buf, name, NULL, ev + joff, jlen);
}

static void put_purge(struct evbuffer *buf, const uint8_t *hash, uint32_t id,
                      uint32_t ts)
{
	char hex[65], data[160];
	int n;

	hex_encode(hex, hash, 32);
	n = snprintf(data, sizeof data,
	             "{\"hash\":\"%s\",\"id\":%u,\"timestamp\":%u}", hex, id, ts);
	put_event(buf, "purge", NULL, data, (size_t)n);
}

static size_t out_len(struct sse *s)
{
	struct evhttp_connection *con =
		s->req ? evhttp_request_get_connection(s->req) : NULL;
	struct bufferevent *bev = con ? evhttp_connection_get_bufferevent(con)
	                              : NULL;

	return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

static void send_buf(struct sse *s, struct evbuffer *buf,
                     void (*cb)(struct evhttp_connection *, void *))
{
	if (s->req && evbuffer_get_length(buf)) {
		if (cb)
			evhttp_send_reply_chunk_with_cb(s->req, buf, cb, s);
		else
			evhttp_send_reply_chunk(s->req, buf);
	}
	evbuffer_free(buf);
}

static struct evbuffer *new_buf(void)
{
	struct evbuffer *b = evbuffer_new();

	if (!b)
		abort();
	return b;
}

/* The subscriber is too slow: tell it (if its buffer takes it), stop
 * delivering, close its connection after the grace period. */
static void overflow(struct sse *s, const char *why)
{
	struct events *e = s->e;
	struct evbuffer *buf = new_buf();
	char data[200];
	int n;

	if (s->ended)
		return;
	e->overflows++;
	n = snprintf(data, sizeof data,
	             "{\"error\":\"%s\",\"buffer\":%zu}", why, e->outmax);
	put_event(buf, "overflow", NULL, data, (size_t)n);
	send_buf(s, buf, NULL);
	if (s->live) {
		events_remove(e->n, &s->k);
		s->live = false;
	}
	s->ended = true;
	s->replaying = false;
	s->close_at = node_mono_ms() + EVENTS_CLOSE_GRACE_MS;
	if (log_enabled(LOG_RPC))
		log_msg(LOG_RPC, "events: dropping a subscriber: %s", why);
}

static void put_qrec(struct events *e, struct evbuffer *buf,
                     const struct qrec *r)
{
	struct stored *sp;

	if (r->kind == EV_PURGED) {
		put_purge(buf, r->hash, r->id, r->timestamp);
		return;
	}
	sp = store_get_hash(e->n->store, r->hash);
	if (sp)
		put_packet(e, buf, r->kind == EV_STORED ? "packet" : "cancel",
		           sp);
}

static void replay_cont(struct evhttp_connection *con, void *arg);

static void collect_replay(struct sse *s);

/* Write the next part of the replay; the end marker and the queued live
 * events after the last part. */
static void pump(struct sse *s)
{
	struct events *e = s->e;
	struct evbuffer *buf = new_buf();

	while (s->ireplay < s->nreplay &&
	       evbuffer_get_length(buf) < EVENTS_REPLAY_CHUNK) {
		struct stored *sp =
			store_get_hash(e->n->store, s->replay[s->ireplay++]);
		if (sp)
			put_packet(e, buf, "packet", sp);
	}
	if (s->ireplay < s->nreplay) {
		send_buf(s, buf, replay_cont);
		return;
	}
	{
		char data[64];
		int n = snprintf(data, sizeof data,
		                 "{\"n\":%zu,\"truncated\":%s}", s->nreplay,
		                 s->truncated ? "true" : "false");
		put_event(buf, "eose", NULL, data, (size_t)n);
	}
	for (size_t i = 0; i < s->qn; i++)
		put_qrec(e, buf, &s->q[i]);
	free(s->replay);
	s->replay = NULL;
	free(s->q);
	s->q = NULL;
	s->qn = s->qcap = 0;
	s->replaying = false;
	send_buf(s, buf, NULL);
}

static void replay_cont(struct evhttp_connection *con, void *arg)
{
	struct sse *s = arg;

	if (s->replaying && !s->ended)
		pump(s);
}

static void sse_event(struct node *n, struct ev_sink *k, enum ev_kind kind,
                      struct stored *sp)
{
	struct sse *s = (struct sse *)k;
	struct events *e = s->e;

	if (s->ended)
		return;
	if (kind == EV_SHUTDOWN) {
		events_remove(n, k);
		s->live = false;
		return;
	}
	if (s->waiting && kind == EV_STORED)
		return; /* the replay, made from the store later, has it */
	if (s->replaying) {
		if (s->qn == EVENTS_QUEUE_MAX) {
			overflow(s, "subscriber not reading");
			return;
		}
		if (s->qn == s->qcap) {
			s->qcap = s->qcap ? 2 * s->qcap : 16;
			s->q = xrealloc(s->q, s->qcap * sizeof *s->q);
		}
		struct qrec *r = &s->q[s->qn++];
		r->kind = (uint8_t)kind;
		memcpy(r->hash, sp->hash, 32);
		r->id = sp->id;
		r->timestamp = sp->timestamp;
		return;
	}
	/* The unread backlog, not the new event, decides: an event larger
	 * than the buffer still goes to a subscriber that keeps up. */
	if (out_len(s) > e->outmax) {
		overflow(s, "subscriber not reading");
		return;
	}
	struct evbuffer *buf = new_buf();
	if (kind == EV_PURGED)
		put_purge(buf, sp->hash, sp->id, sp->timestamp);
	else
		put_packet(e, buf, kind == EV_STORED ? "packet" : "cancel", sp);
	send_buf(s, buf, NULL);
}

/* evhttp frees the stream's connection. */
static void sse_closed(void *arg)
{
	struct sse *s = arg;
	struct events *e = s->e;

	if (s->live)
		events_remove(e->n, &s->k);
	/* A request evhttp detached from its failed connection is ours to
	 * free; an attached one goes with the connection. */
	if (s->req && !evhttp_request_get_connection(s->req))
		evhttp_send_reply_end(s->req);
	s->req = NULL;
	if (s->prev)
		s->prev->next = s->next;
	else
		e->sses = s->next;
	if (s->next)
		s->next->prev = s->prev;
	e->nstreams--;
	free(s->replay);
	free(s->q);
	free(s);
}

/* Every second: close the streams whose grace period ended; every
 * EVENTS_PING_S, a comment line to the others (keeps proxies from timing
 * out, and shows a vanished client to the kernel). */
static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct events *e = arg;
	uint64_t now = node_mono_ms();
	bool ping = ++e->ticks % EVENTS_PING_S == 0;

	for (struct sse *s = e->sses; s; s = s->next) {
		if (!s->req)
			continue;
		if (s->ended) {
			if (now >= s->close_at) {
				struct evbuffer *buf = new_buf();
				add_or_die(evbuffer_add(buf, ": end\n\n", 8));
				send_buf(s, buf, NULL);
				rpc_http_close(s->req);
				s->close_at = UINT64_MAX;
			}
			continue;
		}
		if (ping && !s->replaying) {
			struct evbuffer *buf;
			if (out_len(s) > e->outmax) {
				overflow(s, "subscriber not reading");
				continue;
			}
			buf = new_buf();
			add_or_die(evbuffer_add(buf, ": ping\n\n", 8));
			send_buf(s, buf, NULL);
		}
	}
}

/* ---- GET /events ---- */

struct qparams {
	char *v[9];       /* decoded values (NULL: absent) */
	size_t len[9];
};

static const char *const qnames[9] = { "minpriority", "tagA", "tagB",
	"pubkey33", "minA", "maxA", "minB", "maxB", "since" };

static void qparams_free(struct qparams *qp)
{
	for (size_t i = 0; i < 9; i++)
		free(qp->v[i]);
}

static void reply_text(struct evhttp_request *req, int code,
                       const char *reason, const char *msg)
{
	char body[512];
	int n = snprintf(body, sizeof body, "%s\n", msg);

	if (n < 0 || (size_t)n >= sizeof body)
		n = (int)sizeof body - 1;
	rpc_http_reply(req, code, reason, "text/plain; charset=utf-8", body,
	               (size_t)n);
}

/* Split the query string into the known parameters.  NULL, or the error
 * message (written into err). */
static const char *parse_query(const char *q, struct qparams *qp, char *err,
                               size_t errlen)
{
	memset(qp, 0, sizeof *qp);
	if (!q || !*q)
		return NULL;
	if (strlen(q) > EVENTS_QUERY_MAX) {
		snprintf(err, errlen, "query string longer than %d bytes",
		         EVENTS_QUERY_MAX);
		return err;
	}
	while (*q) {
		const char *amp = strchr(q, '&');
		size_t plen = amp ? (size_t)(amp - q) : strlen(q);
		const char *eq = memchr(q, '=', plen);
		size_t nlen = eq ? (size_t)(eq - q) : plen;
		size_t i;

		if (plen == 0)
			goto next;
		for (i = 0; i < 9; i++)
			if (strlen(qnames[i]) == nlen &&
			    !memcmp(qnames[i], q, nlen))
				break;
		if (i == 9) {
			snprintf(err, errlen, "unknown parameter %.*s",
			         (int)(nlen > 32 ? 32 : nlen), q);
			return err;
		}
		if (qp->v[i]) {
			snprintf(err, errlen, "parameter %s given twice",
			         qnames[i]);
			return err;
		}
		{
			size_t vlen = eq ? plen - nlen - 1 : 0;
			char *raw = xmalloc(vlen + 1), *dec;
			size_t dlen = 0;
			memcpy(raw, eq ? eq + 1 : "", vlen);
			raw[vlen] = 0;
			dec = evhttp_uridecode(raw, 1, &dlen);
			free(raw);
			if (!dec) {
				snprintf(err, errlen, "invalid %s", qnames[i]);
				return err;
			}
			qp->v[i] = dec;
			qp->len[i] = dlen;
		}
	next:
		q += plen;
		if (*q == '&')
			q++;
	}
	return NULL;
}

struct collect {
	uint8_t (*v)[32];
	size_t n, cap;
	bool truncated;
};

static bool collect_cb(struct stored *sp, void *arg)
{
	struct collect *c = arg;

	if (c->n == EVENTS_REPLAY_MAX) {
		c->truncated = true;
		return false;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->v = xrealloc(c->v, c->cap * sizeof *c->v);
	}
	memcpy(c->v[c->n++], sp->hash, 32);
	return true;
}

/* The held matches to replay (s's filter and `since`), oldest first. */
static void collect_replay(struct sse *s)
{
	struct collect c = { 0 };

	events_query(s->e->n, &s->k.sub.f, s->has_hash ? s->since_hash : NULL,
	             s->since_ts, collect_cb, &c);
	/* newest first: reverse to send the oldest first */
	for (size_t i = 0; i < c.n / 2; i++) {
		uint8_t t[32];
		memcpy(t, c.v[i], 32);
		memcpy(c.v[i], c.v[c.n - 1 - i], 32);
		memcpy(c.v[c.n - 1 - i], t, 32);
	}
	s->replay = c.v;
	s->nreplay = c.n;
	s->truncated = c.truncated;
}

/* `since`: "now", a timestamp (decimal) or a packet hash (64 hex). */
static bool parse_since(const char *s, size_t len, uint32_t *ts,
                        uint8_t hash[32], bool *has_hash, bool *now)
{
	*has_hash = false;
	*now = false;
	*ts = 0;
	if (len == 3 && !memcmp(s, "now", 3)) {
		*now = true;
		return true;
	}
	if (len == 64 && memchr(s, 0, len) == NULL && hex_decode(hash, s, 32)) {
		*has_hash = true;
		return true;
	}
	if (len == 0 || len > 10)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*ts = (uint32_t)v;
	return true;
}

void events_http(struct node *n, struct evhttp_request *req)
{
	struct events *e = n->events;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	struct qparams qp;
	char err[160];
	const char *p[8];
	struct sub_filter f;
	json_t *je;
	uint8_t since_hash[32];
	uint32_t since_ts;
	bool has_hash, since_now;
	struct evhttp_connection *con = evhttp_request_get_connection(req);
	char *peer = NULL;
	ev_uint16_t port = 0;

	if (!e) {
		reply_text(req, 503, "Service Unavailable",
		           "subscriptions are not available");
		return;
	}
	if (parse_query(uri ? evhttp_uri_get_query(uri) : NULL, &qp, err,
	                sizeof err)) {
		reply_text(req, 400, "Bad Request", err);
		qparams_free(&qp);
		return;
	}
	for (size_t i = 0; i < 8; i++)
		p[i] = qp.v[i] ? qp.v[i] : "";
	je = events_parse_filter(p, qp.len, &f);
	if (je) {
		json_t *m = json_object_get(je, "error");
		reply_text(req, 400, "Bad Request",
		           json_is_string(m) ? json_string_value(m)
		                             : "invalid filter");
		json_decref(je);
		qparams_free(&qp);
		return;
	}
	{
		const char *s = qp.v[8];
		size_t sl = qp.len[8];
		if (!s) { /* EventSource reconnecting: resume after its last id */
			s = evhttp_find_header(
				evhttp_request_get_input_headers(req),
				"Last-Event-ID");
			sl = s ? strlen(s) : 0;
		}
		if (s && !parse_since(s, sl, &since_ts, since_hash, &has_hash,
		                      &since_now)) {
			reply_text(req, 400, "Bad Request",
			           "since must be now, a timestamp or a packet "
			           "hash (64 hex characters)");
			qparams_free(&qp);
			return;
		}
		if (!s) {
			since_ts = 0;
			has_hash = since_now = false;
		}
	}
	qparams_free(&qp);

	struct sse *s = xcalloc(1, sizeof *s);
	s->e = e;
	s->req = req;
	s->k.sub.f = f;
	s->k.fn = sse_event;
	if (con)
		evhttp_connection_get_peer(con, &peer, &port);
	snprintf(s->k.sub.addr, sizeof s->k.sub.addr, "%s", peer ? peer : "");
	switch (events_add(n, &s->k)) {
	case SUBS_OK:
		break;
	case SUBS_ADDR_FULL:
		free(s);
		snprintf(err, sizeof err, "too many subscriptions from this "
		         "client (-rpcmaxclientsubscriptions=%d)",
		         n->cfg->rpcmaxclientsubscriptions);
		reply_text(req, 429, "Too Many Requests", err);
		return;
	case SUBS_LIGHT_FULL:
		free(s);
		reply_text(req, 503, "Service Unavailable",
		           "light node: too many different subscription "
		           "filters (each needs a live filter on the full "
		           "nodes)");
		return;
	default:
		free(s);
		snprintf(err, sizeof err, "too many subscriptions "
		         "(-rpcmaxsubscriptions=%d)", n->cfg->rpcmaxsubscriptions);
		reply_text(req, 503, "Service Unavailable", err);
		return;
	}
	s->live = true;
	s->since_ts = since_ts;
	s->has_hash = has_hash;
	memcpy(s->since_hash, since_hash, 32);
	/* a light node asking the full nodes for this filter's held
	 * matches: the replay waits for the answers (at most LC_ASK_MS) */
	s->waiting = !since_now && n->lightcli &&
	             lightcli_sub_asking(n->lightcli, &f);
	if (!since_now && !s->waiting)
		collect_replay(s);
	s->replaying = true;
	e->nstreams++;
	s->next = e->sses;
	if (s->next)
		s->next->prev = s;
	e->sses = s;

	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	if (evhttp_add_header(h, "Content-Type", "text/event-stream") != 0 ||
	    evhttp_add_header(h, "Cache-Control", "no-cache") != 0 ||
	    evhttp_add_header(h, "X-Accel-Buffering", "no") != 0)
		abort();
	rpc_http_stream(req, sse_closed, s);
	evhttp_send_reply_start(req, 200, "OK");
	{
		struct evbuffer *buf = new_buf();
		add_or_die(evbuffer_add_printf(buf, "retry: %d\n\n",
		                               EVENTS_RETRY_MS));
		send_buf(s, buf, NULL);
	}
	if (!s->waiting)
		pump(s);
}

/* lightcli: a subscription's first ask ended: the streams waiting for
 * it replay now. */
static void light_asked(struct node *n)
{
	struct events *e = n->events;

	if (!e || !n->lightcli)
		return;
	for (struct sse *s = e->sses, *next; s; s = next) {
		next = s->next;
		if (!s->waiting || s->ended ||
		    lightcli_sub_asking(n->lightcli, &s->k.sub.f))
			continue;
		s->waiting = false;
		collect_replay(s);
		pump(s);
	}
}

/* ---- lifecycle ---- */

/* A light node: subscriptions keep live filters on the full nodes. */
static bool light_hook(struct node *n, const struct sub_filter *f, bool add)
{
	return n->lightcli ? lightcli_sub(n->lightcli, f, add) : true;
}

struct events *events_new(struct node *n)
{
	struct events *e = xcalloc(1, sizeof *e);
	struct timeval tv = { 1, 0 };

	e->n = n;
	e->subs = subs_new((size_t)n->cfg->rpcmaxsubscriptions,
	                   (size_t)n->cfg->rpcmaxclientsubscriptions);
	e->pend = xmalloc(EVENTS_PENDING_MAX * sizeof *e->pend);
	e->outmax = (size_t)n->cfg->rpcsubscriptionbuffer * 1024;
	e->flush_ev = event_new(n->base, -1, 0, events_flush_cb, e);
	e->timer_ev = event_new(n->base, -1, EV_PERSIST, timer_cb, e);
	if (n->lightcli) {
		e->sink_hook = light_hook;
		lightcli_sub_notify(n->lightcli, light_asked);
	}
	if (!e->subs || !e->flush_ev || !e->timer_ev ||
	    event_add(e->timer_ev, &tv) != 0) {
		events_free(e);
		return NULL;
	}
	return e;
}

static void shutdown_cb(struct sub *s, void *arg)
{
	struct events *e = arg;
	struct ev_sink *k = s->owner;

	subs_remove(e->subs, s);
	k->fn(e->n, k, EV_SHUTDOWN, NULL);
}

void events_free(struct events *e)
{
	if (!e)
		return;
	if (e->subs)
		subs_foreach(e->subs, shutdown_cb, e);
	/* Streams still open (their connections outlive the RPC server only
	 * on an error path): forget them without touching evhttp. */
	while (e->sses) {
		struct sse *s = e->sses;
		e->sses = s->next;
		free(s->replay);
		free(s->q);
		free(s);
	}
	if (e->flush_ev)
		event_free(e->flush_ev);
	if (e->timer_ev)
		event_free(e->timer_ev);
	subs_free(e->subs);
	free(e->pend);
	free(e->c_text);
	free(e);
}
