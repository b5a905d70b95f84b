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
 * Everything runs on the event-loop thread.
 */
#include "node/rpc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
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
};

/* ---- method tables ---- */

const struct rpc_method *rpc_lookup(const char *name, size_t len)
{
	const struct rpc_method *tables[] = { rpc_dex_methods, rpc_ctl_methods,
	                                      rpc_trade_methods };

	if (strlen(name) != len)
		return NULL;
	for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
		for (const struct rpc_method *m = tables[t]; m->name; m++)
			if (!strcmp(m->name, name))
				return m;
	return NULL;
}

/* ---- replies ---- */

static void send_empty(struct evhttp_request *req, int code,
                       const char *reason)
{
	evhttp_send_reply(req, code, reason, NULL);
}

/* Send s (n bytes, compact JSON) and a newline. */
static void send_text(struct evhttp_request *req, int code, const char *s,
                      size_t n)
{
	struct evbuffer *buf = evbuffer_new();

	if (!buf)
		abort();
	evbuffer_add(buf, s, n);
	evbuffer_add(buf, "\n", 1);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	                  "Content-Type", "application/json");
	evhttp_send_reply(req, code, code == 200 ? "OK"
	                                        : "Internal Server Error", buf);
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
		if (!buf)
			abort();
		for (size_t i = 0; i < rq->ncalls; i++) {
			size_t n;
			char *s = dump_response(&rq->calls[i], &n);
			if (rq->batch)
				evbuffer_add(buf, i ? "," : "[", 1);
			evbuffer_add(buf, s, n);
			free(s);
		}
		if (rq->batch)
			evbuffer_add(buf, "]", 1);
		send_text(rq->req, rq->batch || !rq->calls[0].is_error ? 200
		                                                        : 500,
		          (const char *)evbuffer_pullup(buf, -1),
		          evbuffer_get_length(buf));
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
	if (--rq->nleft == 0 && !rq->dispatching)
		finish(rq);
}

void rpc_reply(struct rpc_call *c, json_t *result)
{
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

static bool auth_ok(struct rpc *r, struct evhttp_request *req)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req),
	                                   "Authorization");
	uint8_t got[RPC_MAX_CRED];
	size_t n;

	if (!rpc_basic_decode(h, got, sizeof got, &n) || n != r->cred_len)
		return false;
	return CRYPTO_memcmp(got, r->cred, n) == 0;
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

	if (con)
		evhttp_connection_get_peer(con, &peer, &port);
	if (!rpc_allow_match(r->allow, r->nallow, peer)) {
		log_msg(LOG_WARN, "rpc: refused client %s", peer ? peer : "?");
		send_empty(req, 403, "Forbidden");
		return;
	}
	if (!path || strcmp(path, "/") != 0) {
		send_empty(req, 404, "Not Found");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		send_empty(req, 405, "Method Not Allowed");
		return;
	}
	if (!auth_ok(r, req)) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		                  "WWW-Authenticate", "Basic realm=\"jsonrpc\"");
		send_empty(req, 401, "Unauthorized");
		return;
	}
	if (len > RPC_MAX_BODY) {
		send_empty(req, 413, "Payload Too Large");
		return;
	}
	const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
	handle_body(r, req, body ? body : "", body ? len : 0);
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

	for (size_t i = 0; i < (nbind ? nbind : 1); i++) {
		const char *b = nbind ? cfg->rpcbind.v[i] : def_bind;
		char host[256];
		int port = cfg->rpcport;
		if (!split_bind(b, host, sizeof host, &port)) {
			snprintf(err, errlen, "invalid -rpcbind=%s", b);
			return E_INVAL;
		}
		if (!evhttp_bind_socket_with_handle(r->http, host,
		                                    (ev_uint16_t)port)) {
			snprintf(err, errlen,
			         "cannot bind the RPC server to %s port %d: %s",
			         host, port, strerror(errno));
			return E_IO;
		}
		log_msg(LOG_INFO, "rpc: listening on %s port %d", host, port);
	}
	return E_OK;
}

void rpc_stop(struct rpc *r)
{
	if (!r)
		return;
	/* Pending requests lose their HTTP side before evhttp frees it;
	 * their calls may still be answered (and then freed). */
	for (struct rpc_req *rq = r->pending; rq; rq = rq->next)
		rq->req = NULL;
	if (r->http) {
		evhttp_free(r->http);
		r->http = NULL;
	}
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
