/* rpc.c - the JSON-RPC over HTTP server (API.md 2): libevent evhttp on
 * every -rpcbind address, the checks of 2.1 in order, Basic auth with a
 * password or the cookie file, single and batch requests, dispatch to the
 * method tables, and answers that may come later (mining).
 *
 * Owns: the evhttp object, the cookie file, and one struct rpc_req per
 * HTTP request that still has unanswered calls.  A request's reply is sent
 * when its last call is answered.  rpc_stop() detaches pending requests
 * (their later answers are dropped) before evhttp frees the connections.
 *
 * Defences against an abusive client (docs/rpc.md, "Limits"):
 *  - every connection evhttp accepts gets its bufferevent from bev_cb, with
 *    an input-buffer callback of ours (input_cb) that runs on each read
 *    before evhttp's read callback.  It takes the new bytes out, holds the
 *    header block of each request, decides the checks of API.md 2.1 (allow
 *    list, path, method, credentials, declared size) from the headers
 *    alone, and gives evhttp the body only of a request that passed them;
 *    a refused request reaches evhttp with "Content-Length: 0" and a
 *    marker header carrying the status, and its body is dropped as it
 *    arrives.  So an unauthenticated client makes the node hold at most
 *    one header block (RPC_MAX_HEADERS + one read) per connection;
 *  - at most -rpcmaxconnections connections: past it the oldest one that
 *    has not authenticated (else the oldest idle one) is closed;
 *  - -rpcservertimeout: a connection that has not sent a complete
 *    authenticated request within that time (from accept, or from its last
 *    answer) is closed; one whose request is being answered is not;
 *  - accept errors (EMFILE, ...) pause the listeners for
 *    RPC_ACCEPT_BACKOFF_MS and close the oldest unauthenticated connection;
 *  - a wrong password is answered after RPC_AUTH_DELAY_MS, from a timer
 *    (the loop never sleeps), at most RPC_MAX_DELAYED answers pending.
 *
 * Everything runs on the event-loop thread.
 */
#include "node/rpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/crypto.h>

#include "core/err.h"
#include "core/util.h"
#include "node/config.h"
#include "node/crypto.h"
#include "node/log.h"
#include "node/node.h"
#include "node/rpcparse.h"

#define RPC_MAX_HEADERS (64 * 1024)
#define RPC_MAX_READ (2 * RPC_MAX_BODY) /* body bytes evhttp buffers */
#define RPC_MAX_CRED 1024          /* user:password bytes we accept */
#define RPC_MAX_BATCH 10000        /* calls in one batch */
#define RPC_MAX_BINDS CONFIG_MAX_LIST
#define COOKIE_USER "__cookie__"
#define COOKIE_SECRET_LEN 32
#define RPC_AUTH_DELAY_MS 250      /* a wrong password waits this long */
#define RPC_MAX_DELAYED 1024       /* delayed 401 answers pending at once */
#define RPC_ACCEPT_BACKOFF_MS 500  /* listeners paused after accept fails */
#define RPC_SWEEP_MS 500           /* idle-timeout check period */
/* The status decided from the headers, on a request input_cb refused.
 * Set by input_cb only (a client's own copy is removed). */
#define REJECT_HDR "X-Dexp2p-Reject"

enum conn_state {
	CS_HEADERS,      /* reading a header block */
	CS_PASS,         /* passing `left` body bytes of an accepted request */
	CS_DISCARD,      /* dropping `left` body bytes of a refused request */
	CS_PASS_ALL,     /* accepted chunked body: pass everything from now */
	CS_DISCARD_ALL,  /* drop everything until the connection closes */
};

/* One accepted connection.  Lives from bev_cb until evhttp frees the
 * connection (close_cb, installed right after accept by reap_cb). */
struct rpc_conn {
	struct rpc *r;
	struct bufferevent *bev;   /* evhttp's, a plain socket bufferevent */
	struct evhttp_connection *evcon; /* NULL until reap_cb */
	struct evbuffer *hold;     /* bytes not yet given to evhttp */
	struct rpc_conn *prev, *next;
	enum conn_state st;
	uint64_t left;             /* body bytes to pass or discard */
	size_t scanned;            /* header bytes already searched */
	uint64_t deadline_ms;      /* node_mono_ms() limit, when not busy */
	bool authed;               /* a request on it passed the checks */
	bool busy;                 /* an accepted request is being answered */
	bool closing;              /* close requested */
	bool in_cb;                /* inside input_cb (it edits the buffer) */
	bool stream;               /* a GET stream (rpc_http_stream) */
	void (*on_close)(void *);  /* the stream's owner, told at close */
	void *on_close_arg;
	bool peer_known;
	char peer[INET6_ADDRSTRLEN];
};

struct delayed {
	struct evhttp_request *req;
	uint64_t due_ms;
};

struct rpc_req;

struct rpc_call {
	struct rpc_req *rq;
	json_t *id;             /* echoed id (own reference) */
	char *raw_id;           /* a number id as written, or NULL: then
	                         * id is null and raw_id is echoed */
	size_t raw_id_len;
	json_t *resp;           /* the response object once answered */
	bool is_error;          /* answered with a JSON-RPC error */
	const char **params;    /* padded to the method's max_params */
	size_t *lens;
	size_t nparams;
	char (*numbuf)[64];     /* text of numbers the pre-scan missed */
	const struct rpc_method *m; /* the method, once looked up */
};

struct rpc_req {
	struct rpc *r;
	struct evhttp_request *req; /* NULL once detached */
	bool batch;
	bool dispatching;       /* still inside http_cb: do not finish yet */
	size_t ncalls, nleft;
	struct rpc_call *calls;
	json_t *doc;            /* parsed body: owns the parameter strings */
	void (*after)(struct node *n);
	struct rpc_req *prev, *next;
};

struct rpc {
	struct node *n;
	struct evhttp *http;
	struct rpc_allow allow[CONFIG_MAX_LIST];
	size_t nallow;
	uint8_t cred[RPC_MAX_CRED];
	size_t cred_len;
	char cookie_path[PATH_MAX];
	bool cookie_written;
	struct rpc_req *pending;  /* requests with unanswered calls */
	void (*after_cb)(struct node *n);
	/* connections, oldest first */
	struct rpc_conn *conns, *conns_tail;
	size_t nconns, nclosing;
	size_t nstreams;          /* streams not closing */
	size_t maxconns;
	uint64_t timeout_ms;
	struct evconnlistener *lst[RPC_MAX_BINDS];
	size_t nlst;
	bool paused;              /* listeners off after an accept error */
	struct event *sweep_ev, *backoff_ev, *delay_ev, *reap_ev;
	struct delayed dq[RPC_MAX_DELAYED]; /* ring, due times ascending */
	size_t dq_head, dq_n;
	uint64_t refused, delayed_total;
	/* GET /metrics (rpc_get_counts) */
	uint64_t m_calls[RPC_STAT_METHODS], m_errors[RPC_STAT_METHODS];
	uint64_t bad_calls;
	uint64_t http_refused[RPC_HTTP_CODES];
};

/* ---- method tables ---- */

const struct rpc_method *rpc_lookup(const char *name, size_t len)
{
	const struct rpc_method *tables[] = { rpc_dex_methods, rpc_ctl_methods,
	                                      rpc_trade_methods,
	                                      rpc_events_methods };

	if (strlen(name) != len)
		return NULL;
	for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
		for (const struct rpc_method *m = tables[t]; m->name; m++)
			if (!strcmp(m->name, name))
				return m;
	return NULL;
}

/* Position of m in the three tables together (rpc_get_counts order), or
 * -1. */
static int method_index(const struct rpc_method *m)
{
	const struct rpc_method *tables[] = { rpc_dex_methods, rpc_ctl_methods,
	                                      rpc_trade_methods };
	int k = 0;

	for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
		for (const struct rpc_method *e = tables[t]; e->name; e++, k++)
			if (e == m)
				return k < RPC_STAT_METHODS ? k : -1;
	return -1;
}

/* The HTTP statuses refused before a call (rpc_get_counts). */
static const int http_codes[RPC_HTTP_CODES] = { 400, 401, 403, 404, 405,
                                                413 };

static void count_refused(struct rpc *r, int code)
{
	for (size_t i = 0; i < RPC_HTTP_CODES; i++)
		if (http_codes[i] == code)
			r->http_refused[i]++;
}

void rpc_get_counts(const struct rpc *r, rpc_count_cb cb, void *ctx)
{
	const struct rpc_method *tables[] = { rpc_dex_methods, rpc_ctl_methods,
	                                      rpc_trade_methods };
	struct rpc_counts k;
	int i = 0;

	for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
		for (const struct rpc_method *e = tables[t]; e->name; e++, i++) {
			memset(&k, 0, sizeof k);
			k.method = e->name;
			if (r && i < RPC_STAT_METHODS) {
				k.calls = r->m_calls[i];
				k.errors = r->m_errors[i];
			}
			cb(ctx, &k);
		}
	for (size_t h = 0; h < RPC_HTTP_CODES; h++) {
		memset(&k, 0, sizeof k);
		k.http_code = http_codes[h];
		k.calls = r ? r->http_refused[h] : 0;
		cb(ctx, &k);
	}
	memset(&k, 0, sizeof k);
	k.calls = r ? r->bad_calls : 0;
	cb(ctx, &k);
}

/* ---- replies ---- */

static struct rpc *the_rpc; /* for reply bookkeeping (one server) */

static struct rpc_conn *conn_of(struct rpc *r, struct evhttp_request *req);


/* A reply is about to go out on req: an accepted request's connection is
 * no longer busy and gets a new idle deadline. */
static void replied(struct evhttp_request *req)
{
	struct rpc_conn *c = the_rpc ? conn_of(the_rpc, req) : NULL;

	if (c && c->busy) {
		c->busy = false;
		c->deadline_ms = node_mono_ms() + the_rpc->timeout_ms;
	}
}

/* evhttp_send_reply, for a client that half-closed after its request
 * (shutdown(SHUT_WR), as raw clients do) as well: evhttp watches a
 * connection for reads while it writes an answer and takes that EOF for a
 * client gone, cutting the answer after its first write (~16 KB).  Reads
 * stay off until the answer is out (evhttp turns them on again for the
 * next request, or closes); a client truly gone still fails the writes. */
static void send_reply(struct evhttp_request *req, int code,
                       const char *reason, struct evbuffer *buf)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev =
		evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;

	evhttp_send_reply(req, code, reason, buf);
	if (bev)
		bufferevent_disable(bev, EV_READ);
}

static void send_empty(struct evhttp_request *req, int code,
                       const char *reason)
{
	replied(req);
	send_reply(req, code, reason, NULL);
}

void rpc_http_reply(struct evhttp_request *req, int code, const char *reason,
                    const char *ctype, const void *body, size_t len)
{
	struct evbuffer *buf;

	if (!ctype) {
		send_empty(req, code, reason);
		return;
	}
	buf = evbuffer_new();
	if (!buf || evbuffer_add(buf, body, len) != 0 ||
	    evhttp_add_header(evhttp_request_get_output_headers(req),
	                      "Content-Type", ctype) != 0)
		abort(); /* out of memory, as xmalloc */
	replied(req);
	send_reply(req, code, reason, buf);
	evbuffer_free(buf);
}

void rpc_http_begin(struct evhttp_request *req)
{
	replied(req);
}

void rpc_http_stream(struct evhttp_request *req, void (*on_close)(void *),
                     void *arg)
{
	struct rpc_conn *c = the_rpc ? conn_of(the_rpc, req) : NULL;

	if (!c || c->stream)
		return;
	c->busy = true;   /* never idle: no timeout, no eviction */
	c->stream = true;
	c->on_close = on_close;
	c->on_close_arg = arg;
	if (!c->closing)
		the_rpc->nstreams++;
}

static void conn_close(struct rpc_conn *c, const char *why);

void rpc_http_close(struct evhttp_request *req)
{
	struct rpc_conn *c = the_rpc ? conn_of(the_rpc, req) : NULL;

	if (c)
		conn_close(c, "stream ended by the server");
}

const char *rpc_call_peer(const struct rpc_call *c)
{
	struct evhttp_connection *con =
		c->rq && c->rq->req ? evhttp_request_get_connection(c->rq->req)
		                    : NULL;
	char *peer = NULL;
	ev_uint16_t port = 0;

	if (!con)
		return "";
	evhttp_connection_get_peer(con, &peer, &port);
	return peer ? peer : "";
}

/* The client of fd has gone: an end of file (or an error) waits in the
 * socket.  evhttp does not read a connection whose answer is pending, so
 * it does not notice by itself. */
static bool fd_peer_gone(evutil_socket_t fd)
{
	char b;
	ssize_t r;

	if (fd < 0)
		return true;
	r = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return r == 0 ||
	       (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
	        errno != EINTR);
}

bool rpc_call_gone(const struct rpc_call *c)
{
	struct evhttp_connection *con =
		c->rq && c->rq->req ? evhttp_request_get_connection(c->rq->req)
		                    : NULL;
	struct bufferevent *bev =
		con ? evhttp_connection_get_bufferevent(con) : NULL;

	return fd_peer_gone(bev ? bufferevent_getfd(bev) : -1);
}

/* Send s (n bytes, compact JSON) and a newline. */
static void send_text(struct evhttp_request *req, int code, const char *s,
                      size_t n)
{
	struct evbuffer *buf = evbuffer_new();

	if (!buf)
		abort();
	if (evbuffer_add(buf, s, n) != 0 || evbuffer_add(buf, "\n", 1) != 0 ||
	    evhttp_add_header(evhttp_request_get_output_headers(req),
	                      "Content-Type", "application/json") != 0)
		abort(); /* out of memory, as xmalloc */
	replied(req);
	send_reply(req, code, code == 200 ? "OK" : "Internal Server Error", buf);
	evbuffer_free(buf);
}

static void send_json(struct evhttp_request *req, int code, const json_t *v)
{
	size_t n;
	char *s = rpc_dump(v, &n);

	send_text(req, code, s, n);
	free(s);
}

/* Compact JSON of a call's response (its length in *outlen): the id a
 * number as written when the call has one (API.md 2.3).  The response's
 * id is then null and, being the last key, ends the text. */
static char *dump_response(const struct rpc_call *c, size_t *outlen)
{
	static const char tail[] = "\"id\":null}";
	const size_t tl = sizeof tail - 1;
	size_t n;
	char *s = rpc_dump(c->resp, &n);

	if (!c->raw_id)
		goto out;
	if (n < tl || memcmp(s + n - tl, tail, tl) != 0) {
		log_msg(LOG_WARN, "rpc: response without a null id at its end");
		goto out;
	}
	n -= sizeof "null}" - 1;
	s = xrealloc(s, n + c->raw_id_len + 2);
	memcpy(s + n, c->raw_id, c->raw_id_len);
	n += c->raw_id_len;
	s[n++] = '}';
	s[n] = 0;
out:
	*outlen = n;
	return s;
}

static json_t *response(json_t *result, json_t *error, json_t *id)
{
	json_t *o = json_object();
	json_object_set_new(o, "result", result ? result : json_null());
	json_object_set_new(o, "error", error ? error : json_null());
	json_object_set(o, "id", id ? id : json_null());
	return o;
}

static json_t *error_obj(int code, const char *msg)
{
	json_t *e = json_object();
	json_object_set_new(e, "code", json_integer(code));
	json_object_set_new(e, "message", json_string(msg));
	return e;
}

static void req_free(struct rpc_req *rq)
{
	/* calls may be NULL on an error path (a batch refused before its
	 * calls were allocated): then there is nothing to walk. */
	for (size_t i = 0; rq->calls && i < rq->ncalls; i++) {
		struct rpc_call *c = &rq->calls[i];
		json_decref(c->id);
		free(c->raw_id);
		json_decref(c->resp);
		free(c->params);
		free(c->lens);
		free(c->numbuf);
	}
	free(rq->calls);
	json_decref(rq->doc);
	free(rq);
}

static void unlink_req(struct rpc_req *rq)
{
	if (rq->prev)
		rq->prev->next = rq->next;
	else if (rq->r->pending == rq)
		rq->r->pending = rq->next;
	if (rq->next)
		rq->next->prev = rq->prev;
	rq->prev = rq->next = NULL;
}

static void flushed_cb(struct evhttp_request *req, void *arg)
{
	struct rpc *r = arg;
	void (*cb)(struct node *) = r->after_cb;

	r->after_cb = NULL;
	if (cb)
		cb(r->n);
}

/* Every call answered: send the HTTP reply and free the request. */
static void finish(struct rpc_req *rq)
{
	struct rpc *r = rq->r;

	unlink_req(rq);
	if (rq->req) {
		if (rq->after) {
			r->after_cb = rq->after;
			evhttp_request_set_on_complete_cb(rq->req, flushed_cb,
			                                  r);
		}
		struct evbuffer *buf = evbuffer_new();
		int bad = 0;
		const char *text;
		if (!buf)
			abort();
		for (size_t i = 0; i < rq->ncalls; i++) {
			size_t n;
			char *s = dump_response(&rq->calls[i], &n);
			if (rq->batch)
				bad |= evbuffer_add(buf, i ? "," : "[", 1);
			bad |= evbuffer_add(buf, s, n);
			free(s);
		}
		if (rq->batch)
			bad |= evbuffer_add(buf, "]", 1);
		text = (const char *)evbuffer_pullup(buf, -1);
		if (bad || (!text && evbuffer_get_length(buf)))
			abort(); /* out of memory, as xmalloc */
		send_text(rq->req, rq->batch || !rq->calls[0].is_error ? 200
		                                                        : 500,
		          text ? text : "", evbuffer_get_length(buf));
		evbuffer_free(buf);
	} else if (rq->after) {
		rq->after(r->n);
	}
	req_free(rq);
}

static void answer(struct rpc_call *c, json_t *resp, bool is_error)
{
	struct rpc_req *rq = c->rq;

	if (c->resp) { /* a handler answered twice: a bug, keep the first */
		log_msg(LOG_WARN, "rpc: call answered twice");
		json_decref(resp);
		return;
	}
	c->resp = resp;
	c->is_error = is_error;
	{
		int k = c->m ? method_index(c->m) : -1;
		if (k < 0)
			rq->r->bad_calls += is_error;
		else
			rq->r->m_errors[k] += is_error;
	}
	if (--rq->nleft == 0 && !rq->dispatching)
		finish(rq);
}

void rpc_reply(struct rpc_call *c, json_t *result)
{
	/* an error object (API.md 3.3) counts as an error of its method */
	const char *rs = json_is_object(result)
		? json_string_value(json_object_get(result, "result"))
		: NULL;
	int k = c->m && rs && !strcmp(rs, "error") ? method_index(c->m) : -1;

	if (k >= 0)
		c->rq->r->m_errors[k]++;
	answer(c, response(result, NULL, c->id), false);
}

void rpc_reply_error(struct rpc_call *c, int code, const char *message)
{
	answer(c, response(NULL, error_obj(code, message), c->id), true);
}

size_t rpc_param_len(const struct rpc_call *c, size_t i)
{
	return i < c->nparams ? c->lens[i] : 0;
}

void rpc_on_flushed(struct rpc_call *c, void (*cb)(struct node *n))
{
	c->rq->after = cb;
}

/* ---- dispatch ---- */

static void dispatch(struct rpc *r, struct rpc_call *c, json_t *obj)
{
	const char *name, *msg = NULL;
	size_t name_len, np, cap;
	const json_t *params;
	const struct rpc_method *m;
	int code;

	if (!json_is_object(obj)) {
		rpc_reply_error(c, -32600, "Invalid Request object");
		return;
	}
	c->id = json_incref(json_object_get(obj, "id"));
	code = rpc_request_check(obj, &name, &name_len, &params, &msg);
	if (code) {
		rpc_reply_error(c, code, msg);
		return;
	}
	m = rpc_lookup(name, name_len);
	if (!m) {
		rpc_reply_error(c, -32601, "Method not found");
		return;
	}
	c->m = m;
	{
		int k = method_index(m);
		if (k >= 0)
			r->m_calls[k]++;
	}
	np = params ? json_array_size(params) : 0;
	cap = np > (size_t)m->max_params ? np : (size_t)m->max_params;
	c->params = xcalloc(cap + 1, sizeof *c->params);
	c->lens = xcalloc(cap + 1, sizeof *c->lens);
	c->numbuf = xcalloc(np + 1, sizeof *c->numbuf);
	for (size_t i = 0; i < cap; i++)
		c->params[i] = "";
	for (size_t i = 0; i < np; i++) {
		if (rpc_param_text(json_array_get(params, i), c->numbuf[i],
		                   &c->params[i], &c->lens[i]) != 0) {
			rpc_reply_error(c, -3, RPC_ERR_TYPE_MSG);
			return;
		}
	}
	c->nparams = np;
	if (np < (size_t)m->min_params || np > (size_t)m->max_params) {
		char usage[256];
		snprintf(usage, sizeof usage, "%s\n", m->usage);
		rpc_reply_error(c, -1, usage);
		return;
	}
	if (log_enabled(LOG_RPC))
		log_msg(LOG_RPC, "rpc: %s (%zu params)", m->name, np);
	m->handler(r->n, c, c->params, np);
}

/* One request body (the HTTP checks passed). */
static void handle_body(struct rpc *r, struct evhttp_request *req,
                        const char *body, size_t len)
{
	struct rpc_req *rq = xcalloc(1, sizeof *rq);
	json_error_t jerr;
	size_t plen;
	struct rpc_rawids ids;
	size_t ncalls;
	char *pre = rpc_prescan_ex(body, len, &plen, &ids);

	rq->r = r;
	rq->req = req;
	rq->doc = json_loadb(pre, plen, JSON_DECODE_ANY | JSON_ALLOW_NUL,
	                     &jerr);
	free(pre);
	if (!rq->doc || (!json_is_object(rq->doc) && !json_is_array(rq->doc))) {
		json_t *resp = response(
			NULL,
			error_obj(-32700, rq->doc ? "Top-level object parse error"
			                          : "Parse error"),
			NULL);
		send_json(req, 500, resp);
		json_decref(resp);
		goto out;
	}
	rq->batch = json_is_array(rq->doc);
	ncalls = rq->batch ? json_array_size(rq->doc) : 1;
	if (ncalls == 0) {
		json_t *arr = json_array();
		send_json(req, 200, arr);
		json_decref(arr);
		goto out;
	}
	if (ncalls > RPC_MAX_BATCH) {
		json_t *resp = response(NULL, error_obj(-32600,
		                                        "Invalid Request object"),
		                        NULL);
		send_json(req, 500, resp);
		json_decref(resp);
		goto out;
	}
	/* ncalls is set together with calls, so every exit above frees a
	 * request without calls. */
	rq->calls = xcalloc(ncalls, sizeof *rq->calls);
	rq->ncalls = ncalls;
	for (size_t i = 0; i < ids.n; i++) {
		if (ids.v[i].req >= rq->ncalls ||
		    rq->calls[ids.v[i].req].raw_id)
			continue; /* cannot happen for a body that parsed */
		struct rpc_call *c = &rq->calls[ids.v[i].req];
		c->raw_id = xmalloc(ids.v[i].len);
		memcpy(c->raw_id, body + ids.v[i].off, ids.v[i].len);
		c->raw_id_len = ids.v[i].len;
	}
	rq->nleft = rq->ncalls;
	rq->dispatching = true;
	rq->next = r->pending;
	if (r->pending)
		r->pending->prev = rq;
	r->pending = rq;
	for (size_t i = 0; i < rq->ncalls; i++) {
		rq->calls[i].rq = rq;
		dispatch(r, &rq->calls[i],
		         rq->batch ? json_array_get(rq->doc, i) : rq->doc);
	}
	rq->dispatching = false;
	rpc_rawids_free(&ids);
	if (rq->nleft == 0)
		finish(rq);
	return;
out:
	rpc_rawids_free(&ids);
	req_free(rq);
}

/* ---- connections: cap, idle timeout, header-time checks ---- */

static void conn_list_remove(struct rpc *r, struct rpc_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		r->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		r->conns_tail = c->prev;
	c->prev = c->next = NULL;
}

/* Ask evhttp to drop the connection: shut the socket down, so evhttp
 * sees the end of the stream from the loop (never from inside one of its
 * callbacks) and frees the connection.  A connection whose descriptor is
 * not set yet (inside bev_cb) is shut down by reap_cb. */
static void conn_close(struct rpc_conn *c, const char *why)
{
	evutil_socket_t fd;

	if (c->closing)
		return;
	if (log_enabled(LOG_RPC))
		log_msg(LOG_RPC, "rpc: closing a connection from %s: %s",
		        c->peer_known ? c->peer : "?", why);
	c->closing = true;
	c->r->nclosing++;
	if (c->stream)
		c->r->nstreams--;
	fd = c->evcon ? bufferevent_getfd(c->bev) : -1;
	if (fd >= 0)
		(void)shutdown(fd, SHUT_RDWR);
}

static size_t conns_live(const struct rpc *r)
{
	return r->nconns - r->nclosing - r->nstreams;
}

static void listeners_set(struct rpc *r, bool on)
{
	for (size_t i = 0; i < r->nlst; i++) {
		int rc = on ? evconnlistener_enable(r->lst[i])
		            : evconnlistener_disable(r->lst[i]);
		if (rc != 0)
			log_msg(LOG_WARN, "rpc: cannot %s a listener",
			        on ? "enable" : "disable");
	}
}

/* Close the oldest connection being answered whose client has gone, else
 * the oldest one that has not authenticated, else (when any_idle) the
 * oldest one not being answered.  False if none. */
static bool evict_one(struct rpc *r, bool any_idle, const char *why)
{
	struct rpc_conn *victim = NULL;

	/* first one being answered whose client has left (a DEX_wait given
	 * up): its answer would be dropped anyway */
	for (struct rpc_conn *c = r->conns; c; c = c->next)
		if (!c->closing && c->busy && !c->stream && c->evcon &&
		    fd_peer_gone(bufferevent_getfd(c->bev))) {
			victim = c;
			break;
		}
	for (struct rpc_conn *c = r->conns; !victim && c; c = c->next)
		if (!c->closing && !c->busy && !c->authed) {
			victim = c;
			break;
		}
	if (!victim && any_idle)
		for (struct rpc_conn *c = r->conns; c; c = c->next)
			if (!c->closing && !c->busy) {
				victim = c;
				break;
			}
	if (!victim)
		return false;
	r->refused++;
	conn_close(victim, why);
	return true;
}

static void input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
                     void *arg);

static void conn_free(struct rpc_conn *c)
{
	struct rpc *r = c->r;

	conn_list_remove(r, c);
	r->nconns--;
	if (c->closing)
		r->nclosing--;
	else if (c->stream)
		r->nstreams--;
	evbuffer_free(c->hold);
	free(c);
}

/* evhttp is freeing the connection. */
static void close_cb(struct evhttp_connection *evcon, void *arg)
{
	struct rpc_conn *c = arg;

	if (c->on_close) {
		void (*cb)(void *) = c->on_close;
		c->on_close = NULL;
		cb(c->on_close_arg);
	}
	if (evbuffer_remove_cb(bufferevent_get_input(c->bev), input_cb, c) != 0)
		log_msg(LOG_WARN, "rpc: connection without its input callback");
	conn_free(c);
}

/* Right after accept (bev_cb runs before evhttp has set the connection
 * up): learn the evhttp connection (the bufferevent's callback argument)
 * and ask to hear when it is freed.  bev_cb holds a reference on the
 * bufferevent until then, so a connection evhttp failed to set up is seen
 * here (its callbacks cleared) and dropped. */
static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rpc *r = arg;

	for (struct rpc_conn *c = r->conns, *next; c; c = next) {
		next = c->next;
		if (c->evcon)
			continue;
		bufferevent_event_cb ecb = NULL;
		void *cbarg = NULL;
		bufferevent_getcb(c->bev, NULL, NULL, &ecb, &cbarg);
		struct bufferevent *bev = c->bev;
		if (!ecb || !cbarg) {
			(void)evbuffer_remove_cb(bufferevent_get_input(bev),
			                         input_cb, c);
			conn_free(c);
		} else {
			c->evcon = cbarg;
			evhttp_connection_set_closecb(c->evcon, close_cb, c);
			if (c->closing) {
				evutil_socket_t s = bufferevent_getfd(bev);
				if (s >= 0)
					(void)shutdown(s, SHUT_RDWR);
			}
		}
		bufferevent_decref(bev);
	}
}

static bool conn_peer(struct rpc_conn *c)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	evutil_socket_t fd;
	const void *a = NULL;

	if (c->peer_known)
		return true;
	fd = bufferevent_getfd(c->bev);
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
		return false;
	if (ss.ss_family == AF_INET)
		a = &((struct sockaddr_in *)&ss)->sin_addr;
	else if (ss.ss_family == AF_INET6)
		a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
	if (!a || !inet_ntop(ss.ss_family, a, c->peer, sizeof c->peer))
		return false;
	c->peer_known = true;
	return true;
}

static bool auth_ok_hdr(const struct rpc *r, const char *h)
{
	uint8_t got[RPC_MAX_CRED];
	size_t n;

	if (!rpc_basic_decode(h, got, sizeof got, &n) || n != r->cred_len)
		return false;
	return CRYPTO_memcmp(got, r->cred, n) == 0;
}

/* The GET endpoints of the RPC port (API.md 2.1 applies to them too:
 * allow-list, then path, then method, then credentials).  "/" answers
 * JSON-RPC to POST and the web view to GET. */
const struct rpc_get_route rpc_get_routes[] = {
	{ "/", webui_http },
	{ "/events", events_http },
	{ "/metrics", metrics_http },
	{ NULL, NULL },
};

static const struct rpc_get_route *get_route(const char *path)
{
	if (!path)
		return NULL;
	for (const struct rpc_get_route *g = rpc_get_routes; g->path; g++)
		if (!strcmp(g->path, path))
			return g;
	return NULL;
}

/* The route of a request line's URI (NULL: no such path). */
static const struct rpc_get_route *uri_route(const char *uri)
{
	struct evhttp_uri *u = evhttp_uri_parse_with_flags(
		uri, EVHTTP_URI_NONCONFORMANT);
	const struct rpc_get_route *g;

	if (!u)
		return NULL;
	g = get_route(evhttp_uri_get_path(u));
	evhttp_uri_free(u);
	return g;
}

/* Whether an Accept header value (n bytes) names text/html. */
static bool accepts_html(const char *v, size_t n)
{
	static const char want[] = "text/html";

	for (size_t i = 0; i + sizeof want - 1 <= n; i++)
		if (!strncasecmp(v + i, want, sizeof want - 1))
			return true;
	return false;
}

/* Status for a known path and a method: 0 when the pair is served.  "/"
 * is JSON-RPC (POST); a GET of "/" is the web view only for a client that
 * accepts HTML (a browser), otherwise 405 as API.md 2.1 says
 * (docs/decisions.md). */
static int method_verdict(const struct rpc_get_route *g, const char *method,
                          bool html)
{
	bool root = !strcmp(g->path, "/");

	if (!strcmp(method, "POST") && root)
		return 0;
	if (!strcmp(method, "GET") && (!root || html))
		return 0;
	return 405;
}

/* The parts of one header block the checks need (NUL-terminated copies;
 * a value too long for its buffer is left empty, which fails its check). */
struct head {
	char method[16], uri[2048];
	char auth[1024];
	char clen[32], te[32];
	char origin[256], host[256]; /* webui_origin_ok */
	bool has_line, has_auth, has_clen, has_te, has_origin, has_host;
	bool html;          /* an Accept header names text/html */
};

static bool hname_is(const char *line, size_t nlen, const char *name)
{
	return strlen(name) == nlen && !strncasecmp(line, name, nlen);
}

static void copy_val(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap)
		n = 0;
	memcpy(dst, s, n);
	dst[n] = 0;
}

/* Methods evhttp reads a body for (http.c evhttp_method_may_have_body). */
static bool may_have_body(const char *m)
{
	static const char *const with[] = { "POST", "PUT", "PATCH", "GET",
	                                    "DELETE", "OPTIONS", "CONNECT" };

	for (size_t i = 0; i < sizeof with / sizeof with[0]; i++)
		if (!strcmp(m, with[i]))
			return true;
	return false;
}

/* The checks of API.md 2.1 from the headers: 0 (pass the body on) or the
 * HTTP status to answer.  *body: bytes of body that follow (what evhttp
 * would read); *chunked when it is chunked (length unknown). */
static int decide(struct rpc *r, struct rpc_conn *c, const struct head *h,
                  uint64_t *body, bool *chunked)
{
	const struct rpc_get_route *route;

	*body = 0;
	*chunked = false;
	if (!h->has_line)
		return 400;
	if (may_have_body(h->method)) {
		if (h->has_te && !strcasecmp(h->te, "chunked")) {
			*chunked = true;
		} else if (h->has_clen) {
			char *end;
			long long len;
			errno = 0;
			len = strtoll(h->clen, &end, 10);
			if (!h->clen[0] || *end || len < 0 || errno)
				return 400;
			*body = (uint64_t)len;
		}
	}
	if (!conn_peer(c) || !rpc_allow_match(r->allow, r->nallow, c->peer))
		return 403;
	if (h->has_origin && !webui_origin_ok(h->origin, h->host))
		return 403; /* a browser, sent by another site's page */
	route = uri_route(h->uri);
	if (!route)
		return 404;
	if (method_verdict(route, h->method, h->html))
		return 405;
	if (!h->has_auth || !auth_ok_hdr(r, h->auth))
		return 401;
	if (*body > RPC_MAX_BODY)
		return 413;
	return 0;
}

/* Length of the complete header block at the start of src (through its
 * empty line), or 0 while it is incomplete.  c->scanned remembers how far
 * lines were already looked at. */
static size_t block_len(struct rpc_conn *c, struct evbuffer *src)
{
	struct evbuffer_ptr p;
	size_t eol_len;

	for (;;) {
		if (evbuffer_ptr_set(src, &p, c->scanned, EVBUFFER_PTR_SET) != 0)
			return 0;
		p = evbuffer_search_eol(src, &p, &eol_len, EVBUFFER_EOL_CRLF);
		if (p.pos < 0)
			return 0;
		size_t line_len = (size_t)p.pos - c->scanned;
		c->scanned = (size_t)p.pos + eol_len;
		/* an empty line ends the block (not one before the request
		 * line: evhttp deals with that itself) */
		if (line_len == 0 && c->scanned > eol_len)
			return c->scanned;
	}
}

/* The next line of blk[0..len) at *off: its start and length without the
 * line end; false at the end. */
static bool next_line(const char *blk, size_t len, size_t *off,
                      const char **s, size_t *n)
{
	const char *nl;
	size_t l;

	if (*off >= len)
		return false;
	*s = blk + *off;
	nl = memchr(*s, '\n', len - *off);
	l = nl ? (size_t)(nl - *s) : len - *off;
	*off += nl ? l + 1 : l;
	if (l && (*s)[l - 1] == '\r')
		l--;
	*n = l;
	return true;
}

static void parse_head(const char *blk, size_t len, struct head *h)
{
	size_t off = 0, n;
	const char *s;

	memset(h, 0, sizeof *h);
	if (!next_line(blk, len, &off, &s, &n))
		return;
	/* request line as evhttp reads it: trailing spaces off, method up to
	 * the first space, version after the last one, the URI between */
	while (n && s[n - 1] == ' ')
		n--;
	const char *sp1 = memchr(s, ' ', n), *sp2 = NULL;
	for (size_t i = n; i-- > 0;)
		if (s[i] == ' ') {
			sp2 = s + i;
			break;
		}
	if (sp1 && sp2 && sp2 > sp1 && (size_t)(sp1 - s) < sizeof h->method &&
	    (size_t)(sp2 - sp1 - 1) < sizeof h->uri) {
		copy_val(h->method, sizeof h->method, s, (size_t)(sp1 - s));
		copy_val(h->uri, sizeof h->uri, sp1 + 1,
		         (size_t)(sp2 - sp1 - 1));
		h->has_line = true;
	}
	while (next_line(blk, len, &off, &s, &n)) {
		const char *colon = memchr(s, ':', n), *v, *e;
		size_t nl;

		if (!n || *s == ' ' || *s == '\t' || !colon)
			continue;
		nl = (size_t)(colon - s);
		v = colon + 1;
		e = s + n;
		while (v < e && (*v == ' ' || *v == '\t'))
			v++;
		while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (!h->has_auth && hname_is(s, nl, "Authorization")) {
			copy_val(h->auth, sizeof h->auth, v, (size_t)(e - v));
			h->has_auth = true;
		} else if (!h->has_clen && hname_is(s, nl, "Content-Length")) {
			copy_val(h->clen, sizeof h->clen, v, (size_t)(e - v));
			h->has_clen = true;
		} else if (!h->has_te &&
		           hname_is(s, nl, "Transfer-Encoding")) {
			copy_val(h->te, sizeof h->te, v, (size_t)(e - v));
			h->has_te = true;
		} else if (hname_is(s, nl, "Accept")) {
			h->html = h->html || accepts_html(v, (size_t)(e - v));
		} else if (!h->has_origin && hname_is(s, nl, "Origin")) {
			copy_val(h->origin, sizeof h->origin, v, (size_t)(e - v));
			h->has_origin = true;
		} else if (!h->has_host && hname_is(s, nl, "Host")) {
			copy_val(h->host, sizeof h->host, v, (size_t)(e - v));
			h->has_host = true;
		}
	}
}

/* Write "<line>\r\n" into dst. */
static int put_line(struct evbuffer *dst, const char *s, size_t n)
{
	return evbuffer_add(dst, s, n) | evbuffer_add(dst, "\r\n", 2);
}

/* One complete header block (len bytes at the start of src): decide, then
 * move it to dst (accepted) or rewrite it without a body (refused), and set
 * the state for the body that follows.  Any REJECT_HDR line of the client
 * is removed.  -1 on memory failure. */
static int take_block(struct rpc_conn *c, struct evbuffer *src,
                      struct evbuffer *dst, size_t len)
{
	struct rpc *r = c->r;
	char *blk = malloc(len);
	struct head *h = malloc(sizeof *h);
	uint64_t body = 0;
	bool chunked = false, drop = false, first = true, conn_hdr;
	int verdict, bad = 0;
	size_t off = 0, n;
	const char *s;

	if (!blk || !h || evbuffer_remove(src, blk, len) != (int)len) {
		free(blk);
		free(h);
		return -1;
	}
	c->scanned = 0;
	parse_head(blk, len, h);
	verdict = decide(r, c, h, &body, &chunked);
	free(h);
	/* A refused request whose body is still to come keeps its
	 * connection while the body is dropped, so the client reads the
	 * answer instead of a reset; a malformed one is closed. */
	conn_hdr = verdict && (verdict == 400 || body || chunked);

	while (next_line(blk, len, &off, &s, &n)) {
		if (first) {
			first = false;
			bad |= put_line(dst, s, n);
			continue;
		}
		if (!n)
			break; /* the empty line: written below */
		if (*s == ' ' || *s == '\t') {
			/* a folded continuation goes with its header */
			if (!drop)
				bad |= put_line(dst, s, n);
			continue;
		}
		const char *colon = memchr(s, ':', n);
		size_t nl = colon ? (size_t)(colon - s) : n;
		drop = hname_is(s, nl, REJECT_HDR) ||
		       (verdict && (hname_is(s, nl, "Content-Length") ||
		                    hname_is(s, nl, "Transfer-Encoding") ||
		                    hname_is(s, nl, "Expect"))) ||
		       (conn_hdr && hname_is(s, nl, "Connection"));
		if (!drop)
			bad |= put_line(dst, s, n);
	}
	if (verdict) {
		char extra[96];
		int el = snprintf(extra, sizeof extra,
		                  "Content-Length: 0\r\n%s: %d\r\n%s%s",
		                  REJECT_HDR, verdict,
		                  conn_hdr ? "Connection: " : "",
		                  !conn_hdr ? "" : verdict == 400 ? "close\r\n"
		                                                  : "keep-alive\r\n");
		bad |= evbuffer_add(dst, extra, (size_t)el);
	}
	bad |= evbuffer_add(dst, "\r\n", 2);
	free(blk);

	if (!verdict) {
		c->authed = true;
		c->deadline_ms = node_mono_ms() + r->timeout_ms;
		c->st = chunked ? CS_PASS_ALL : body ? CS_PASS : CS_HEADERS;
	} else {
		c->st = verdict == 400 || chunked ? CS_DISCARD_ALL
		        : body ? CS_DISCARD : CS_HEADERS;
	}
	c->left = body;
	return bad ? -1 : 0;
}

/* Move what may go to evhttp from src (the held bytes) to dst (evhttp's
 * input), drop what is to be dropped, keep an incomplete header block. */
static void conn_process(struct rpc_conn *c, struct evbuffer *src,
                         struct evbuffer *dst)
{
	for (;;) {
		size_t avail = evbuffer_get_length(src), n, bl;

		if (!avail)
			return;
		if (c->closing) {
			(void)evbuffer_drain(src, avail); /* closing anyway */
			return;
		}
		switch (c->st) {
		case CS_PASS_ALL:
			if (evbuffer_add_buffer(dst, src) != 0)
				goto fail;
			c->deadline_ms = node_mono_ms() + c->r->timeout_ms;
			return;
		case CS_DISCARD_ALL:
			if (evbuffer_drain(src, avail) != 0)
				goto fail;
			return;
		case CS_PASS:
			n = avail < c->left ? avail : (size_t)c->left;
			if (evbuffer_remove_buffer(src, dst, n) != (int)n)
				goto fail;
			c->left -= n;
			if (!c->left)
				c->st = CS_HEADERS;
			c->deadline_ms = node_mono_ms() + c->r->timeout_ms;
			break;
		case CS_DISCARD:
			n = avail < c->left ? avail : (size_t)c->left;
			if (evbuffer_drain(src, n) != 0)
				goto fail;
			c->left -= n;
			if (!c->left)
				c->st = CS_HEADERS;
			break;
		case CS_HEADERS:
			bl = block_len(c, src);
			if (!bl && avail <= RPC_MAX_HEADERS + 1024)
				return; /* wait for the rest */
			if (!bl || bl > RPC_MAX_HEADERS + 1024) {
				/* no end of headers in 65 KiB */
				(void)evbuffer_drain(src, avail); /* closing */
				conn_close(c, "header block too long");
				return;
			}
			if (take_block(c, src, dst, bl) != 0)
				goto fail;
			break;
		}
	}
fail:
	log_msg(LOG_WARN, "rpc: buffer error in the request filter");
	conn_close(c, "buffer error");
	(void)evbuffer_drain(src, evbuffer_get_length(src)); /* closing */
}

/* Called by the bufferevent's input buffer each time bytes were read from
 * the socket, before evhttp's read callback sees them: the new bytes (at
 * the end) are taken out and go through conn_process, so evhttp only ever
 * sees header blocks we checked, and bodies of accepted requests. */
static void input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
                     void *arg)
{
	struct rpc_conn *c = arg;
	size_t len, add, old;
	struct evbuffer *tmp;

	if (c->in_cb || !info->n_added)
		return;
	len = evbuffer_get_length(buf);
	add = info->n_added < len ? info->n_added : len;
	old = len - add;
	/* fast paths: an accepted body, nothing held */
	if (!evbuffer_get_length(c->hold) &&
	    (c->st == CS_PASS_ALL || (c->st == CS_PASS && add <= c->left))) {
		if (c->st == CS_PASS) {
			c->left -= add;
			if (!c->left)
				c->st = CS_HEADERS;
		}
		c->deadline_ms = node_mono_ms() + c->r->timeout_ms;
		return;
	}
	c->in_cb = true;
	tmp = evbuffer_new();
	if (!tmp || evbuffer_remove_buffer(buf, tmp, len) != (int)len ||
	    evbuffer_remove_buffer(tmp, buf, old) != (int)old ||
	    evbuffer_add_buffer(c->hold, tmp) != 0) {
		log_msg(LOG_WARN, "rpc: out of memory in the request filter");
		conn_close(c, "out of memory");
		(void)evbuffer_drain(buf, evbuffer_get_length(buf)); /* closing */
	} else {
		conn_process(c, c->hold, buf);
	}
	if (tmp)
		evbuffer_free(tmp);
	c->in_cb = false;
}

/* evhttp's bufferevent factory: a socket bufferevent as evhttp would make
 * it, with our input callback; the connection cap is applied here. */
static struct bufferevent *bev_cb(struct event_base *base, void *arg)
{
	struct rpc *r = arg;
	struct rpc_conn *c = calloc(1, sizeof *c);
	struct bufferevent *bev;

	if (!c)
		return NULL;
	c->hold = evbuffer_new();
	bev = bufferevent_socket_new(base, -1, 0);
	if (!c->hold || !bev ||
	    !evbuffer_add_cb(bufferevent_get_input(bev), input_cb, c)) {
		if (bev)
			bufferevent_free(bev);
		if (c->hold)
			evbuffer_free(c->hold);
		free(c);
		return NULL;
	}
	bufferevent_incref(bev); /* until reap_cb */
	c->r = r;
	c->bev = bev;
	c->st = CS_HEADERS;
	c->deadline_ms = node_mono_ms() + r->timeout_ms;
	c->prev = r->conns_tail;
	if (r->conns_tail)
		r->conns_tail->next = c;
	else
		r->conns = c;
	r->conns_tail = c;
	r->nconns++;
	event_active(r->reap_ev, EV_TIMEOUT, 0);
	/* Over the cap: close the oldest unauthenticated connection (this
	 * new one when every other one has authenticated), else the oldest
	 * idle one; if every one is being answered, the new one. */
	if (conns_live(r) > r->maxconns &&
	    !evict_one(r, true, "over -rpcmaxconnections"))
		conn_close(c, "over -rpcmaxconnections, all busy");
	return bev;
}

static struct rpc_conn *conn_of(struct rpc *r, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);

	if (!evcon)
		return NULL;
	for (struct rpc_conn *c = r->conns; c; c = c->next)
		if (c->evcon == evcon)
			return c;
	return NULL;
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rpc *r = arg;
	uint64_t now = node_mono_ms();

	for (struct rpc_conn *c = r->conns; c; c = c->next)
		if (c->evcon && !c->closing && !c->busy &&
		    now >= c->deadline_ms)
			conn_close(c, "no complete request within "
			              "-rpcservertimeout");
}

static void backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rpc *r = arg;

	r->paused = false;
	listeners_set(r, true);
}

/* accept() failed for a reason other than a retriable one: without this
 * callback libevent would retry at once, forever, and warn each time. */
static void accept_error_cb(struct evconnlistener *lst, void *arg)
{
	struct rpc *r = the_rpc; /* arg is evhttp's (the listener's cbarg) */
	int e = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { RPC_ACCEPT_BACKOFF_MS / 1000,
	                      (RPC_ACCEPT_BACKOFF_MS % 1000) * 1000 };

	log_msg(LOG_WARN, "rpc: accept failed: %s; not accepting for %d ms "
	        "(%zu RPC connections open)", strerror(e),
	        RPC_ACCEPT_BACKOFF_MS, r->nconns);
	if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
		evict_one(r, false, "descriptors exhausted");
	if (r->paused)
		return;
	r->paused = true;
	listeners_set(r, false);
	if (evtimer_add(r->backoff_ev, &tv) != 0) {
		log_msg(LOG_WARN, "rpc: cannot arm the accept back-off timer");
		r->paused = false;
		listeners_set(r, true);
	}
}

/* ---- delayed 401 answers ---- */

static void send_401(struct evhttp_request *req)
{
	if (evhttp_add_header(evhttp_request_get_output_headers(req),
	                      "WWW-Authenticate",
	                      "Basic realm=\"jsonrpc\"") != 0)
		abort(); /* out of memory, as xmalloc */
	send_empty(req, 401, "Unauthorized");
}

static void delay_arm(struct rpc *r)
{
	uint64_t now = node_mono_ms(), due;
	struct timeval tv;

	if (!r->dq_n)
		return;
	due = r->dq[r->dq_head].due_ms;
	due = due > now ? due - now : 0;
	tv.tv_sec = (time_t)(due / 1000);
	tv.tv_usec = (suseconds_t)((due % 1000) * 1000);
	if (evtimer_add(r->delay_ev, &tv) != 0)
		log_msg(LOG_WARN, "rpc: cannot arm the 401 delay timer");
}

static void delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rpc *r = arg;
	uint64_t now = node_mono_ms();

	while (r->dq_n && r->dq[r->dq_head].due_ms <= now) {
		struct evhttp_request *req = r->dq[r->dq_head].req;
		r->dq_head = (r->dq_head + 1) % RPC_MAX_DELAYED;
		r->dq_n--;
		send_401(req);
	}
	delay_arm(r);
}

/* Answer 401 after RPC_AUTH_DELAY_MS; at once when the queue is full
 * (its size bounds what the delays hold; the connection cap bounds the
 * requests anyway: one per connection). */
static void delay_401(struct rpc *r, struct evhttp_request *req)
{
	if (r->dq_n >= RPC_MAX_DELAYED || !r->delay_ev) {
		send_401(req);
		return;
	}
	r->dq[(r->dq_head + r->dq_n) % RPC_MAX_DELAYED] =
		(struct delayed){ req, node_mono_ms() + RPC_AUTH_DELAY_MS };
	r->dq_n++;
	r->delayed_total++;
	if (r->dq_n == 1)
		delay_arm(r);
}

static void delay_flush(struct rpc *r)
{
	while (r->dq_n) {
		struct evhttp_request *req = r->dq[r->dq_head].req;
		r->dq_head = (r->dq_head + 1) % RPC_MAX_DELAYED;
		r->dq_n--;
		send_401(req);
	}
}

static const char *http_method(struct evhttp_request *req)
{
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_GET:
		return "GET";
	default:
		return "";
	}
}

static bool req_html(struct evhttp_request *req)
{
	const char *a = evhttp_find_header(
		evhttp_request_get_input_headers(req), "Accept");

	return a && accepts_html(a, strlen(a));
}

static void http_cb(struct evhttp_request *req, void *arg)
{
	struct rpc *r = arg;
	struct evhttp_connection *con = evhttp_request_get_connection(req);
	char *peer = NULL;
	ev_uint16_t port = 0;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	const char *mark = evhttp_find_header(
		evhttp_request_get_input_headers(req), REJECT_HDR);
	struct rpc_conn *c = conn_of(r, req);
	int verdict = 0;

	if (con)
		evhttp_connection_get_peer(con, &peer, &port);
	/* A request input_cb refused from its headers (its body was never
	 * read): answer the status it decided.  Otherwise the same checks
	 * again, on what evhttp parsed (a connection not tracked by bev_cb,
	 * after an allocation failure, gets only these). */
	if (mark && c) {
		int64_t v;
		verdict = parse_int64(mark, &v) == E_OK && v >= 400 && v < 600
		                  ? (int)v
		                  : 400;
	} else if (!rpc_allow_match(r->allow, r->nallow, peer)) {
		verdict = 403;
	} else if (evhttp_find_header(evhttp_request_get_input_headers(req),
	                              "Origin") &&
	           !webui_origin_ok(
			   evhttp_find_header(evhttp_request_get_input_headers(req),
	                                      "Origin"),
			   evhttp_find_header(evhttp_request_get_input_headers(req),
	                                      "Host"))) {
		verdict = 403;
	} else if (!get_route(path)) {
		verdict = 404;
	} else if (method_verdict(get_route(path), http_method(req),
	                          req_html(req))) {
		verdict = 405;
	} else if (!auth_ok_hdr(r, evhttp_find_header(
			evhttp_request_get_input_headers(req),
			"Authorization"))) {
		verdict = 401;
	} else if (len > RPC_MAX_BODY) {
		verdict = 413;
	}
	if (verdict)
		count_refused(r, verdict);
	switch (verdict) {
	case 0:
		break;
	case 403:
		log_msg(LOG_WARN, "rpc: refused client %s", peer ? peer : "?");
		send_empty(req, 403, "Forbidden");
		return;
	case 404:
		send_empty(req, 404, "Not Found");
		return;
	case 405:
		send_empty(req, 405, "Method Not Allowed");
		return;
	case 401:
		log_msg(LOG_WARN, "rpc: incorrect password attempt from %s",
		        peer ? peer : "?");
		delay_401(r, req);
		return;
	case 413:
		send_empty(req, 413, "Payload Too Large");
		return;
	default:
		send_empty(req, 400, "Bad Request");
		return;
	}
	if (c)
		c->busy = true;
	if (evhttp_request_get_command(req) == EVHTTP_REQ_GET) {
		get_route(path)->handler(r->n, req);
		return;
	}
	const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
	if (!body) {
		send_empty(req, 500, "Internal Server Error");
		return;
	}
	handle_body(r, req, body, len);
}

/* ---- lifecycle ---- */

struct rpc *rpc_new(struct node *n)
{
	struct rpc *r = xcalloc(1, sizeof *r);
	r->n = n;
	return r;
}

/* Write <datadir>/.cookie (mode 0600, no newline) through a temporary file
 * so a reader never sees a partial secret. */
static int write_cookie(struct rpc *r, char *err, size_t errlen)
{
	uint8_t secret[COOKIE_SECRET_LEN];
	char hex[2 * COOKIE_SECRET_LEN + 1], tmp[PATH_MAX + 8];
	char content[sizeof COOKIE_USER + 2 * COOKIE_SECRET_LEN + 1];
	int fd, len, rc = E_IO;

	crypto_random(secret, sizeof secret);
	hex_encode(hex, secret, sizeof secret);
	len = snprintf(content, sizeof content, "%s:%s", COOKIE_USER, hex);
	memcpy(r->cred, content, (size_t)len);
	r->cred_len = (size_t)len;
	snprintf(r->cookie_path, sizeof r->cookie_path, "%s/.cookie",
	         r->n->cfg->datadir);
	snprintf(tmp, sizeof tmp, "%s.tmp", r->cookie_path);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	if (fchmod(fd, 0600) != 0 || write(fd, content, (size_t)len) != len) {
		close(fd);
		unlink(tmp);
		goto fail;
	}
	if (close(fd) != 0 || rename(tmp, r->cookie_path) != 0) {
		unlink(tmp);
		goto fail;
	}
	r->cookie_written = true;
	rc = E_OK;
	goto out;
fail:
	snprintf(err, errlen, "cannot write the cookie file %s: %s",
	         r->cookie_path, strerror(errno));
out:
	memset(secret, 0, sizeof secret);
	memset(content, 0, sizeof content);
	return rc;
}

/* Split "host", "host:port", "[v6]" or "[v6]:port". */
static bool split_bind(const char *s, char *host, size_t cap, int *port)
{
	const char *colon;
	size_t hl;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end)
			return false;
		hl = (size_t)(end - s - 1);
		if (hl == 0 || hl >= cap)
			return false;
		memcpy(host, s + 1, hl);
		host[hl] = 0;
		if (end[1] == 0)
			return true;
		if (end[1] != ':')
			return false;
		colon = end + 1;
	} else {
		colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* bare IPv6 address */
		hl = colon ? (size_t)(colon - s) : strlen(s);
		if (hl == 0 || hl >= cap)
			return false;
		memcpy(host, s, hl);
		host[hl] = 0;
		if (!colon)
			return true;
	}
	int64_t p;
	if (parse_int64(colon + 1, &p) != E_OK || p < 1 || p > 65535)
		return false;
	*port = (int)p;
	return true;
}

int rpc_start(struct rpc *r, char *err, size_t errlen)
{
	const struct config *cfg = r->n->cfg;
	const char *def_bind = "127.0.0.1";
	size_t nbind = cfg->rpcbind.n;

	for (size_t i = 0; i < cfg->rpcallowip.n; i++) {
		if (!rpc_allow_parse(cfg->rpcallowip.v[i],
		                     &r->allow[r->nallow])) {
			snprintf(err, errlen, "invalid -rpcallowip=%s",
			         cfg->rpcallowip.v[i]);
			return E_INVAL;
		}
		r->nallow++;
	}
	if (cfg->rpcpassword) {
		int len = snprintf((char *)r->cred, sizeof r->cred, "%s:%s",
		                   cfg->rpcuser ? cfg->rpcuser : "",
		                   cfg->rpcpassword);
		if (len < 0 || (size_t)len >= sizeof r->cred) {
			snprintf(err, errlen, "-rpcuser/-rpcpassword too long");
			return E_INVAL;
		}
		r->cred_len = (size_t)len;
	} else if (write_cookie(r, err, errlen) != E_OK) {
		return E_IO;
	}

	r->http = evhttp_new(r->n->base);
	if (!r->http) {
		snprintf(err, errlen, "cannot create the HTTP server");
		return E_NOMEM;
	}
	/* evhttp refuses a body above its limit by itself, before http_cb
	 * runs and with an HTML page, which would break the order of API.md
	 * 2.1 (401 before 413) and the empty 413 body.  So evhttp's limit is
	 * RPC_MAX_READ, a memory cap, and http_cb answers 413 for bodies
	 * between RPC_MAX_BODY and it; only bodies larger still get
	 * libevent's own 413. */
	evhttp_set_max_body_size(r->http, RPC_MAX_READ);
	evhttp_set_max_headers_size(r->http, RPC_MAX_HEADERS);
	/* Read an oversized body to its end before answering 413, so the
	 * client, still sending, gets the answer instead of a reset. */
	evhttp_set_flags(r->http, EVHTTP_SERVER_LINGERING_CLOSE);
	/* Let every method through: http_cb answers 405 itself. */
	evhttp_set_allowed_methods(r->http, 0x1ff);
	evhttp_set_gencb(r->http, http_cb, r);
	evhttp_set_bevcb(r->http, bev_cb, r);
	r->maxconns = (size_t)cfg->rpcmaxconnections;
	r->timeout_ms = (uint64_t)cfg->rpcservertimeout * 1000;
	the_rpc = r;
	r->sweep_ev = event_new(r->n->base, -1, EV_PERSIST, sweep_cb, r);
	r->backoff_ev = evtimer_new(r->n->base, backoff_cb, r);
	r->delay_ev = evtimer_new(r->n->base, delay_cb, r);
	r->reap_ev = event_new(r->n->base, -1, 0, reap_cb, r);
	{
		struct timeval tv = { RPC_SWEEP_MS / 1000,
		                      (RPC_SWEEP_MS % 1000) * 1000 };
		if (!r->sweep_ev || !r->backoff_ev || !r->delay_ev ||
		    !r->reap_ev ||
		    event_add(r->sweep_ev, &tv) != 0) {
			snprintf(err, errlen, "cannot create the RPC timers");
			return E_NOMEM;
		}
	}

	for (size_t i = 0; i < (nbind ? nbind : 1); i++) {
		const char *b = nbind ? cfg->rpcbind.v[i] : def_bind;
		char host[256];
		int port = cfg->rpcport;
		if (!split_bind(b, host, sizeof host, &port)) {
			snprintf(err, errlen, "invalid -rpcbind=%s", b);
			return E_INVAL;
		}
		struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(
			r->http, host, (ev_uint16_t)port);
		if (!bs) {
			snprintf(err, errlen,
			         "cannot bind the RPC server to %s port %d: %s",
			         host, port, strerror(errno));
			return E_IO;
		}
		struct evconnlistener *lst = evhttp_bound_socket_get_listener(bs);
		if (!lst || r->nlst >= RPC_MAX_BINDS) {
			snprintf(err, errlen, "no listener for %s port %d", host,
			         port);
			return E_IO;
		}
		evconnlistener_set_error_cb(lst, accept_error_cb);
		r->lst[r->nlst++] = lst;
		log_msg(LOG_INFO, "rpc: listening on %s port %d", host, port);
	}
	log_msg(LOG_INFO, "rpc: at most %zu connections, %d s to a complete "
	        "request", r->maxconns, cfg->rpcservertimeout);
	return E_OK;
}

void rpc_stop(struct rpc *r)
{
	if (!r)
		return;
	/* Delayed 401s go out now (a request whose connection is gone is
	 * freed by evhttp_send_reply). */
	delay_flush(r);
	if (r->sweep_ev) {
		event_free(r->sweep_ev);
		r->sweep_ev = NULL;
	}
	if (r->backoff_ev) {
		event_free(r->backoff_ev);
		r->backoff_ev = NULL;
	}
	if (r->delay_ev) {
		event_free(r->delay_ev);
		r->delay_ev = NULL;
	}
	if (r->reap_ev) {
		event_free(r->reap_ev);
		r->reap_ev = NULL;
	}
	/* Pending requests lose their HTTP side before evhttp frees it;
	 * their calls may still be answered (and then freed). */
	for (struct rpc_req *rq = r->pending; rq; rq = rq->next)
		rq->req = NULL;
	if (r->http) {
		evhttp_free(r->http);
		r->http = NULL;
	}
	r->nlst = 0;
	/* evhttp_free called close_cb for every connection it had; a
	 * connection accepted but not yet seen by reap_cb is dropped here. */
	while (r->conns) {
		struct rpc_conn *c = r->conns;
		struct bufferevent *bev = c->bev;
		(void)evbuffer_remove_cb(bufferevent_get_input(bev), input_cb, c);
		conn_free(c);
		bufferevent_decref(bev);
	}
	if (the_rpc == r)
		the_rpc = NULL;
	if (r->cookie_written) {
		unlink(r->cookie_path);
		r->cookie_written = false;
	}
	memset(r->cred, 0, sizeof r->cred);
}

void rpc_free(struct rpc *r)
{
	if (!r)
		return;
	rpc_stop(r);
	while (r->pending) {
		struct rpc_req *rq = r->pending;
		unlink_req(rq);
		req_free(rq);
	}
	free(r);
}
