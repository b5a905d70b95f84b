/* rpc.h - the JSON-RPC over HTTP server (API.md 2) and its method table.
 *
 * The server runs on the node's event loop (libevent evhttp).  A handler
 * either answers at once (rpc_reply) or later, from a done_cb on the loop
 * thread (e.g. after mining on a worker); the call object stays valid until
 * it is answered.  Batches are answered in request order.
 */
#ifndef DEX_RPC_H
#define DEX_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct node;
struct rpc;
struct rpc_call;

struct rpc *rpc_new(struct node *n);
/* Bind every -rpcbind address on -rpcport, write the cookie when no
 * password is configured.  E_OK, or E_IO with a message in err. */
int rpc_start(struct rpc *r, char *err, size_t errlen);
/* Stop accepting, drop pending calls, delete the cookie file. */
void rpc_stop(struct rpc *r);
void rpc_free(struct rpc *r);

/* A method: params are the positional parameters as strings (API.md 3.1:
 * numbers as their JSON text, null as ""), missing trailing ones are
 * absent (nparams counts what was given).  The array always has at least
 * max_params entries: params[i] for nparams <= i < max_params is "", so a
 * handler may read every position it declares. */
typedef void (*rpc_handler)(struct node *n, struct rpc_call *c,
                            const char *const *params, size_t nparams);

struct rpc_method {
	const char *name;
	const char *usage;       /* usage line, as in `help` */
	const char *group;       /* "DEX", "Network", "Control" */
	const char *help;        /* free-form description for `help <name>` */
	int min_params, max_params;
	rpc_handler handler;
};

/* Answer a call with a result (takes the reference; NULL = JSON null). */
void rpc_reply(struct rpc_call *c, json_t *result);
/* Answer with a JSON-RPC error (API.md 2.4). */
void rpc_reply_error(struct rpc_call *c, int code, const char *message);
/* Byte length of params[i] (parameters may contain NUL bytes). */
size_t rpc_param_len(const struct rpc_call *c, size_t i);

/* Run cb(n) on the loop once the reply to c's HTTP request has been
 * written out (`stop`); at once if the request is gone. */
void rpc_on_flushed(struct rpc_call *c, void (*cb)(struct node *n));

/* The method tables (NULL-name terminated): rpc_dex.c, rpc_ctl.c,
 * rpc_trade.c.  rpc_lookup searches all three. */
extern const struct rpc_method rpc_dex_methods[];
extern const struct rpc_method rpc_ctl_methods[];
extern const struct rpc_method rpc_trade_methods[];
extern const struct rpc_method rpc_events_methods[]; /* rpc_events.c */
const struct rpc_method *rpc_lookup(const char *name, size_t len);
/* The text `help` answers (API.md 5.6): with name NULL or len 0 the list
 * of every method's usage line; else that method's usage line and
 * description, or "help: unknown command: <name>".  Returns a malloc'd,
 * NUL-terminated string of *outlen bytes (name may hold NUL bytes, so the
 * text may too).  Also used by tools/rpchelp (man page, completion). */
char *rpc_help_text(const char *name, size_t len, size_t *outlen);

#define RPC_MAX_BODY (16u * 1024 * 1024) /* API.md 2.1: 413 above this */
#define RPC_MAX_PARAMS 64                /* more is an arity error anyway */

/* Build a result error object (API.md 3.3):
 * {"result":"error","error":msg, k1:v1, ...}; the varargs are pairs of
 * (const char *key, json_t *value) terminated by NULL, values stolen. */
json_t *rpc_errobj(const char *msg, ...) __attribute__((sentinel));

/* ---- counters for GET /metrics ---- */
#define RPC_STAT_METHODS 96   /* methods counted (the tables hold fewer) */
#define RPC_HTTP_CODES 6      /* 400 401 403 404 405 413 */
/* One counter group: a method (method set: calls dispatched to it, errors
 * among their answers, JSON-RPC errors and API.md 3.3 error objects), an
 * HTTP status refused before any call (http_code set, count in calls), or
 * calls that named no known method or were not valid request objects
 * (neither set, count in calls). */
struct rpc_counts {
	const char *method;
	int http_code;
	uint64_t calls, errors;
};
typedef void (*rpc_count_cb)(void *ctx, const struct rpc_counts *k);
/* cb for every method of the tables (table order, zero counts
 * included), then every refused status, then the bad calls.  r may be
 * NULL (all zero). */
void rpc_get_counts(const struct rpc *r, rpc_count_cb cb, void *ctx);

/* ---- GET endpoints of the RPC port ----
 * A request reaches its handler only after API.md 2.1's checks (allow-list,
 * path, method GET, credentials).  The handler answers req at once
 * (rpc_http_reply) or streams (evhttp_send_reply_start ... after calling
 * rpc_http_begin, which tells the server the request is being answered). */
struct evhttp_request;
typedef void (*rpc_get_handler)(struct node *n, struct evhttp_request *req);
struct rpc_get_route {
	const char *path;
	rpc_get_handler handler;
};
extern const struct rpc_get_route rpc_get_routes[]; /* NULL-terminated */

/* Answer req: status, reason, Content-Type (NULL: no body) and body. */
void rpc_http_reply(struct evhttp_request *req, int code, const char *reason,
                    const char *ctype, const void *body, size_t len);
/* Mark req as answered by a stream from now on (idle deadline restarts). */
void rpc_http_begin(struct evhttp_request *req);
/* Mark req as a long-lived stream (GET /events): its connection is never
 * closed by -rpcservertimeout nor evicted, and does not count against
 * -rpcmaxconnections (the subscription limits bound streams).  on_close(arg)
 * runs on the loop when evhttp frees the connection (client gone,
 * rpc_http_close, rpc_stop), before evhttp frees a request still attached
 * to it: the owner then forgets req (or ends it, when evhttp detached it
 * already: evhttp_request_get_connection(req) == NULL). */
void rpc_http_stream(struct evhttp_request *req, void (*on_close)(void *),
                     void *arg);
/* Drop a stream's connection (its socket is shut down; on_close follows,
 * from the loop, once evhttp sees it). */
void rpc_http_close(struct evhttp_request *req);
/* The client address of a call's connection ("" when unknown). */
const char *rpc_call_peer(const struct rpc_call *c);
/* True once the client of a call that is still unanswered has gone (its
 * connection closed): the answer would be dropped. */
bool rpc_call_gone(const struct rpc_call *c);

/* The handlers: webui.c (GET /, the web view), events.c (GET /events,
 * Server-Sent Events), metrics.c (GET /metrics, Prometheus text). */
void webui_http(struct node *n, struct evhttp_request *req);
void events_http(struct node *n, struct evhttp_request *req);
void metrics_http(struct node *n, struct evhttp_request *req);
/* A request that carries an Origin header (browsers do, on every POST and
 * on cross-origin requests) is refused with 403, as an address outside
 * -rpcallowip is, unless the origin is this server's, http://<Host>: a
 * page of another site cannot use the credentials the browser holds for
 * the web view (webui.c).  host may be NULL (then false). */
bool webui_origin_ok(const char *origin, const char *host);

#endif
