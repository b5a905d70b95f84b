/* rpc_events.c - DEX_wait, the long-poll form of a live subscription for
 * clients that speak only JSON-RPC (docs/rpc.md, "Live subscriptions").
 *
 * One call: a cursor (the hash of the newest packet the client has seen,
 * as DEX_list's stophash), a timeout and DEX_list's filters.  Held matches
 * newer than the cursor are returned at once, DEX_list-style; otherwise
 * the call waits, as a sink of events.h counted against the subscription
 * limits, for the first newly stored match or the timeout.
 *
 * Owns one struct waiter per waiting call, freed when it is answered.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/store.h"
#include "core/util.h"
#include "node/events.h"
#include "node/lightcli.h"
#include "node/node.h"
#include "node/params.h"
#include "node/render.h"
#include "node/rpc.h"

#define WAIT_DEFAULT_S 30
#define WAIT_MAX_S 3600

struct waiter {
	struct ev_sink k;
	struct rpc_call *c;
	struct event *timer;
	uint8_t cursor[32];
	bool has_cursor;
	struct waiter *prev, *next; /* the waiting calls */
};

static struct waiter *waiters;

/* {"result":"success","matches":[...],"tagA","tagB","pubkey","n",
 * "cursor"}: DEX_list's keys, then the cursor to pass next time. */
static json_t *answer(const struct sub_filter *f, json_t *matches,
                      const uint8_t *cursor)
{
	json_t *o = json_object();
	char pkhex[2 * PACKET_PUBKEY_LEN + 1] = "", ch[65] = "";

	if (f->has_pk)
		hex_encode(pkhex, f->pubkey, PACKET_PUBKEY_LEN);
	if (cursor)
		hex_encode(ch, cursor, 32);
	json_object_set_new(o, "result", json_string("success"));
	json_object_set_new(o, "matches", matches);
	json_object_set_new(o, "tagA", json_bytes(f->tag_a, f->len_a));
	json_object_set_new(o, "tagB", json_bytes(f->tag_b, f->len_b));
	json_object_set_new(o, "pubkey", json_string(pkhex));
	json_object_set_new(o, "n",
	                    json_integer((json_int_t)json_array_size(matches)));
	json_object_set_new(o, "cursor", json_string(ch));
	return o;
}

static void waiter_done(struct node *n, struct waiter *w, json_t *result)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		waiters = w->next;
	if (w->next)
		w->next->prev = w->prev;
	events_remove(n, &w->k);
	if (w->timer)
		event_free(w->timer);
	rpc_reply(w->c, result);
	free(w);
}

static void waiter_event(struct node *n, struct ev_sink *k, enum ev_kind kind,
                         struct stored *sp)
{
	struct waiter *w = (struct waiter *)k;

	if (kind == EV_SHUTDOWN) {
		waiter_done(n, w, rpc_errobj("shutting down", NULL));
		return;
	}
	if (kind != EV_STORED)
		return;
	json_t *m = json_array();
	json_array_append_new(m, render_packet(n, sp));
	waiter_done(n, w, answer(&w->k.sub.f, m, sp->hash));
}

struct list_ctx {
	struct node *n;
	json_t *matches;
	uint8_t newest[32];
};

static bool list_cb(struct stored *sp, void *arg)
{
	struct list_ctx *lc = arg;

	if (!json_array_size(lc->matches))
		memcpy(lc->newest, sp->hash, 32);
	json_array_append_new(lc->matches, render_packet(lc->n, sp));
	return true;
}

static struct node *the_node; /* for the timers (one node per process) */

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct waiter *w = arg;

	waiter_done(the_node, w,
	            answer(&w->k.sub.f, json_array(),
	                   w->has_cursor ? w->cursor : NULL));
}

static void dex_wait(struct node *n, struct rpc_call *c,
                     const char *const *p, size_t np)
{
	size_t len[10];
	uint8_t cursor[32];
	bool has_cursor;
	int timeout = WAIT_DEFAULT_S;
	struct sub_filter f;
	json_t *e;

	for (size_t i = 0; i < 10; i++)
		len[i] = rpc_param_len(c, i);
	if ((e = param_stophash(p[0], len[0], cursor, &has_cursor))) {
		json_decref(e);
		rpc_reply(c, rpc_errobj("cursor must be 64 hex characters",
		                        "cursor", json_bytes(p[0], len[0]),
		                        NULL));
		return;
	}
	if (len[1]) {
		int64_t v = -1;
		bool ok = len[1] <= 10 && !memchr(p[1], 0, len[1]);
		for (size_t i = 0; ok && i < len[1]; i++)
			ok = p[1][i] >= '0' && p[1][i] <= '9';
		if (ok) {
			v = 0;
			for (size_t i = 0; i < len[1]; i++)
				v = v * 10 + (p[1][i] - '0');
		}
		if (!ok || v > WAIT_MAX_S) {
			rpc_reply(c, rpc_errobj("timeout must be an integer "
			                        "from 0 to 3600", "timeout",
			                        json_bytes(p[1], len[1]), NULL));
			return;
		}
		timeout = (int)v;
	}
	if ((e = events_parse_filter(p + 2, len + 2, &f))) {
		rpc_reply(c, e);
		return;
	}

	struct list_ctx lc = { n, json_array(), { 0 } };
	events_query(n, &f, has_cursor ? cursor : NULL, 0, list_cb, &lc);
	if (json_array_size(lc.matches) || timeout == 0) {
		bool any = json_array_size(lc.matches) != 0;
		rpc_reply(c, answer(&f, lc.matches,
		                    any ? lc.newest
		                        : has_cursor ? cursor : NULL));
		return;
	}
	json_decref(lc.matches);

	struct waiter *w = xcalloc(1, sizeof *w);
	w->c = c;
	w->k.sub.f = f;
	w->k.fn = waiter_event;
	w->has_cursor = has_cursor;
	memcpy(w->cursor, cursor, 32);
	snprintf(w->k.sub.addr, sizeof w->k.sub.addr, "%s", rpc_call_peer(c));
	enum subs_rc rc = events_add(n, &w->k);
	if (rc != SUBS_OK) {
		/* waiters whose clients have left hold their places until
		 * their timeouts: end them, then try again */
		for (struct waiter *x = waiters, *next; x; x = next) {
			next = x->next;
			if (rpc_call_gone(x->c)) /* answered as at its timeout */
				waiter_done(n, x,
				            answer(&x->k.sub.f, json_array(),
				                   x->has_cursor ? x->cursor
				                                 : NULL));
		}
		rc = events_add(n, &w->k);
	}
	switch (rc) {
	case SUBS_OK:
		break;
	case SUBS_ADDR_FULL:
		free(w);
		rpc_reply(c, rpc_errobj("too many subscriptions from this "
		                        "client", "limit",
		                        json_integer(
		                          n->cfg->rpcmaxclientsubscriptions),
		                        NULL));
		return;
	case SUBS_LIGHT_FULL:
		free(w);
		rpc_reply(c, rpc_errobj("light node: too many different "
		                        "subscription filters", "limit",
		                        json_integer(LC_MAX_SUBLIVE - 1),
		                        NULL));
		return;
	default:
		free(w);
		rpc_reply(c, rpc_errobj("too many subscriptions", "limit",
		                        json_integer(n->cfg->rpcmaxsubscriptions),
		                        NULL));
		return;
	}
	the_node = n;
	w->next = waiters;
	if (waiters)
		waiters->prev = w;
	waiters = w;
	w->timer = evtimer_new(n->base, timeout_cb, w);
	struct timeval tv = { timeout, 0 };
	if (!w->timer || evtimer_add(w->timer, &tv) != 0)
		waiter_done(n, w, rpc_errobj("cannot arm a timer", NULL));
}

const struct rpc_method rpc_events_methods[] = {
	{ "DEX_wait",
	  "DEX_wait cursor [timeout [minpriority [tagA [tagB [pubkey33 [minA "
	  "maxA minB maxB]]]]]]",
	  "DEX",
	  "Long-poll for packets matching DEX_list's filters.  Returns at once\n"
	  "the held matches newer than cursor (the hash of a packet, as\n"
	  "DEX_list's stophash; \"\" = all held matches), newest first;\n"
	  "with none, waits up to timeout seconds (default 30, 0..3600) for\n"
	  "the first newly stored match.  The answer is DEX_list's plus\n"
	  "\"cursor\": the hash to pass in the next call.  With no tag and no\n"
	  "pubkey, tagA is \"general\".",
	  0, 10, dex_wait },
	{ NULL, NULL, NULL, NULL, 0, 0, NULL },
};
