/* rpc_dex.c - the core DEX methods: DEX_broadcast (with the blaster),
 * DEX_list, DEX_get, DEX_stats (API.md 4.1 - 4.4).
 *
 * Handlers validate their parameters with params.h in the documented
 * order and answer with result objects; DEX_broadcast answers after its
 * packet is mined (mine.h), from the loop thread.  Owns only the small
 * per-call state of a running DEX_broadcast / blaster.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/fhold.h"
#include "core/store.h"
#include "core/util.h"
#include "node/crypto.h"
#include "node/files.h"
#include "node/mine.h"
#include "node/net.h"
#include "node/node.h"
#include "node/params.h"
#include "node/render.h"
#include "node/rpc.h"
#include "node/rpcparse.h"

#define BLASTER_N 10
#define BLASTER_PAYLOAD 100
#define GENERAL_TAG "general"
#define INBOX_TAG "inbox"

static bool tag_is(const uint8_t *t, size_t n, const char *s)
{
	return n == strlen(s) && !memcmp(t, s, n);
}

/* Result object for a mining failure. */
static json_t *mine_errobj(int rc)
{
	switch (rc) {
	case E_CANCELLED:
		return rpc_errobj("shutting down", NULL);
	case E_NOMEM:
		return rpc_errobj("too many packets being mined, try again",
		                  NULL);
	default:
		return rpc_errobj(err_str(rc), NULL);
	}
}

/* ---- DEX_broadcast ---- */

struct blaster {
	struct rpc_call *c;
	struct mine_req req;
	uint8_t plain[BLASTER_PAYLOAD];
	int base_priority;
	int i;
	json_t *ids;
};

static void blaster_done(struct node *n, struct stored *sp, int rc,
                         void *arg);

static void blaster_next(struct node *n, struct blaster *b)
{
	int rc;

	crypto_random(b->plain, sizeof b->plain);
	b->req.plain = b->plain;
	b->req.plain_len = sizeof b->plain;
	b->req.priority = b->base_priority + b->i / 3;
	rc = mine_submit(n, &b->req, blaster_done, b);
	if (rc != E_OK) {
		rpc_reply(b->c, mine_errobj(rc));
		json_decref(b->ids);
		free(b);
	}
}

static void blaster_done(struct node *n, struct stored *sp, int rc,
                         void *arg)
{
	struct blaster *b = arg;

	if (rc != E_OK || !sp) {
		rpc_reply(b->c, mine_errobj(rc != E_OK ? rc : E_INVAL));
		json_decref(b->ids);
		free(b);
		return;
	}
	json_array_append_new(b->ids, json_integer(sp->id));
	if (++b->i < BLASTER_N) {
		blaster_next(n, b);
		return;
	}
	json_t *o = json_object();
	json_object_set_new(o, "result", json_string("success"));
	json_object_set_new(o, "n", json_integer(BLASTER_N));
	json_object_set_new(o, "ids", b->ids);
	rpc_reply(b->c, o);
	free(b);
}

static void broadcast_done(struct node *n, struct stored *sp, int rc,
                           void *arg)
{
	struct rpc_call *c = arg;

	if (rc != E_OK || !sp)
		rpc_reply(c, mine_errobj(rc != E_OK ? rc : E_INVAL));
	else
		rpc_reply(c, render_packet(n, sp));
}

static void dex_broadcast(struct node *n, struct rpc_call *c,
                          const char *const *p, size_t np)
{
	struct mine_req req;
	size_t len[7];
	uint8_t own[PACKET_PUBKEY_LEN], *plain = NULL;
	bool has_pk, given, hexin;
	json_t *e = NULL;
	int priority, rc;

	memset(&req, 0, sizeof req);
	for (size_t i = 0; i < 7; i++)
		len[i] = rpc_param_len(c, i);
	if (len[0] == 0) {
		e = rpc_errobj("broadcasting no payload is not supported", NULL);
		goto out;
	}
	hexin = is_hex(p[0], len[0]);
	if (!hexin && memchr(p[0], 0, len[0])) {
		e = rpc_errobj("hex contains a NUL byte", "hex",
		               json_bytes(p[0], len[0]), NULL);
		goto out;
	}
	if ((e = param_priority(p[1], len[1], &priority)) ||
	    (e = param_tag("tagA", p[2], len[2], req.tag_a, &req.len_a)) ||
	    (e = param_tag("tagB", p[3], len[3], req.tag_b, &req.len_b)) ||
	    (e = param_pubkey33(p[4], len[4], req.pubkey, &has_pk)))
		goto out;
	if (has_pk && tag_is(req.tag_a, req.len_a, INBOX_TAG)) {
		if (!crypto_pk_valid(req.pubkey + 1)) {
			e = rpc_errobj("pubkey33 is not a valid public key",
			               "pubkey33", json_bytes(p[4], len[4]),
			               NULL);
			goto out;
		}
		req.form = MINE_INBOX;
	} else if (has_pk) {
		identity_pubkey33(n->ident, own);
		if (memcmp(own, req.pubkey, sizeof own) != 0) {
			char hex[2 * PACKET_PUBKEY_LEN + 1];
			hex_encode(hex, own, sizeof own);
			e = rpc_errobj("pubkey33 must be this node's pubkey "
			               "unless tagA is inbox",
			               "pubkey33", json_bytes(p[4], len[4]),
			               "publishable_pubkey", json_string(hex),
			               NULL);
			goto out;
		}
		req.form = MINE_SIGNED;
	} else {
		req.form = MINE_PLAIN;
	}
	req.has_pubkey = has_pk;
	if ((e = param_amount("volA", p[5], len[5], 0, &req.amount_a,
	                      &given)) ||
	    (e = param_amount("volB", p[6], len[6], 0, &req.amount_b, &given)))
		goto out;

	if (req.len_a == 0 && req.len_b == 0 && !has_pk) {
		req.len_a = strlen(GENERAL_TAG);
		memcpy(req.tag_a, GENERAL_TAG, req.len_a);
	}
	req.kind = PACKET_KIND_DATA;
	req.priority = priority;

	if (len[0] == 4 && !memcmp(p[0], "ffff", 4)) {
		struct blaster *b = xcalloc(1, sizeof *b);
		b->c = c;
		b->req = req;
		b->base_priority = priority;
		b->ids = json_array();
		blaster_next(n, b);
		return;
	}

	plain = payload_from_input(p[0], len[0], &req.plain_len);
	req.plain = plain;
	if (mine_packet_len(&req) > PACKET_MAX_LEN) {
		e = rpc_errobj("packet too large", "size",
		               json_integer((json_int_t)mine_packet_len(&req)),
		               "maxsize", json_integer(PACKET_MAX_LEN), NULL);
		goto out;
	}
	rc = mine_submit(n, &req, broadcast_done, c);
	if (rc != E_OK)
		e = mine_errobj(rc);
out:
	free(plain);
	if (e)
		rpc_reply(c, e);
}

/* ---- DEX_list ---- */

struct list_ctx {
	struct node *n;
	json_t *matches;
};

static bool list_cb(struct stored *sp, void *arg)
{
	struct list_ctx *lc = arg;
	json_array_append_new(lc->matches, render_packet(lc->n, sp));
	return true;
}

static void dex_list(struct node *n, struct rpc_call *c,
                     const char *const *p, size_t np)
{
	struct store_query q;
	uint8_t ta[PACKET_TAG_MAX], tb[PACKET_TAG_MAX], pk[PACKET_PUBKEY_LEN];
	uint8_t stophash[32];
	size_t len[10], la, lb;
	bool has_pk, has_stop, g;
	json_t *e = NULL;
	char pkhex[2 * PACKET_PUBKEY_LEN + 1] = "";

	memset(&q, 0, sizeof q);
	for (size_t i = 0; i < 10; i++)
		len[i] = rpc_param_len(c, i);
	if ((e = param_id("stopat", p[0], len[0], true, &q.stopat)) ||
	    (e = param_minpriority(p[1], len[1], &q.minpriority)) ||
	    (e = param_tag("tagA", p[2], len[2], ta, &la)) ||
	    (e = param_tag("tagB", p[3], len[3], tb, &lb)) ||
	    (e = param_pubkey33(p[4], len[4], pk, &has_pk)) ||
	    (e = param_amount("minA", p[5], len[5], 0, &q.min_a, &g)) ||
	    (e = param_amount("maxA", p[6], len[6], AMOUNT_MAX, &q.max_a,
	                      &g)) ||
	    (e = param_amount("minB", p[7], len[7], 0, &q.min_b, &g)) ||
	    (e = param_amount("maxB", p[8], len[8], AMOUNT_MAX, &q.max_b,
	                      &g)) ||
	    (e = param_range("minA", p[5], len[5], "maxA", p[6], len[6],
	                     q.min_a, q.max_a)) ||
	    (e = param_range("minB", p[7], len[7], "maxB", p[8], len[8],
	                     q.min_b, q.max_b)) ||
	    (e = param_stophash(p[9], len[9], stophash, &has_stop))) {
		rpc_reply(c, e);
		return;
	}
	if (la == 0 && lb == 0 && !has_pk) {
		la = strlen(GENERAL_TAG);
		memcpy(ta, GENERAL_TAG, la);
	}
	q.tag_a = ta;
	q.len_a = la;
	q.tag_b = tb;
	q.len_b = lb;
	q.pubkey = has_pk ? pk : NULL;
	q.stophash = has_stop ? stophash : NULL;
	if (has_pk)
		hex_encode(pkhex, pk, sizeof pk);

	struct list_ctx lc = { n, json_array() };
	store_query(n->store, &q, list_cb, &lc);
	json_t *o = json_object();
	json_object_set_new(o, "result", json_string("success"));
	json_object_set_new(o, "matches", lc.matches);
	json_object_set_new(o, "tagA", json_bytes(ta, la));
	json_object_set_new(o, "tagB", json_bytes(tb, lb));
	json_object_set_new(o, "pubkey", json_string(pkhex));
	json_object_set_new(o, "n",
	                    json_integer((json_int_t)json_array_size(lc.matches)));
	rpc_reply(c, o);
}

/* ---- DEX_get ---- */

static void dex_get(struct node *n, struct rpc_call *c,
                    const char *const *p, size_t np)
{
	size_t len = rpc_param_len(c, 0);
	struct stored *sp;
	uint8_t h[32];
	uint32_t id;
	json_t *e;

	if (len == 64 && hex_decode(h, p[0], 32)) {
		char hex[65];
		sp = store_get_hash(n->store, h);
		if (!sp) {
			hex_encode(hex, h, 32);
			rpc_reply(c, rpc_errobj("hash not found", "hash",
			                        json_string(hex), NULL));
			return;
		}
	} else {
		if ((e = param_id("id", p[0], len, false, &id))) {
			rpc_reply(c, e);
			return;
		}
		sp = store_get_id(n->store, id);
		if (!sp) {
			rpc_reply(c, rpc_errobj("id not found", "id",
			                        json_integer(id), NULL));
			return;
		}
	}
	rpc_reply(c, render_packet(n, sp));
}

/* ---- DEX_stats ---- */

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

static void dex_stats(struct node *n, struct rpc_call *c,
                      const char *const *p, size_t np)
{
	const struct config *cfg = n->cfg;
	const struct node_counters *k = &n->ctr;
	struct store_stats st;
	struct perfstats_in pi;
	uint8_t pk[PACKET_PUBKEY_LEN], fp[32];
	char pkhex[2 * PACKET_PUBKEY_LEN + 1], fphex[65], perf[512];
	double rate = node_rate(n, node_now());
	json_t *o = json_object(), *dropped = json_object();

	store_get_stats(n->store, &st);
	store_fingerprint(n->store, fp);
	hex_encode(fphex, fp, sizeof fp);
	identity_pubkey33(n->ident, pk);
	hex_encode(pkhex, pk, sizeof pk);
	/* one decimal, without libm */
	rate = rate > 0 ? (double)(uint64_t)(rate * 10 + 0.5) / 10 : 0.0;

	memset(&pi, 0, sizeof pi);
	pi.ram = st.count;
	pi.idxor = store_idxor(n->store);
	pi.received = k->received;
	pi.sent = k->sent;
	pi.added = k->added;
	pi.duplicates = k->duplicates;
	pi.ann_examined = k->ann_examined;
	pi.fetch_sent = k->fetch_sent;
	pi.fetch_retried = k->fetch_retried;
	memcpy(pi.lag, k->lag, sizeof pi.lag);
	pi.pending = k->fetch_pending;
	pi.expired = st.purged;
	pi.freed = st.freed;
	memcpy(pi.by_priority, st.by_priority, sizeof pi.by_priority);
	pi.overloaded = k->overloaded;
	pi.rate_floor = (uint64_t)rate;
	perfstats_format(perf, sizeof perf, &pi);

	json_object_set_new(o, "result", json_string("success"));
	json_object_set_new(o, "publishable_pubkey", json_string(pkhex));
	json_object_set_new(o, "secpkey", json_string(n->secpkey));
	json_object_set_new(o, "recvaddr",
	                    json_string(n->recvaddr[0]
	                                    ? n->recvaddr
	                                    : str_or_empty(cfg->recvtaddr)));
	json_object_set_new(o, "recvZaddr",
	                    json_bytes(str_or_empty(cfg->recvzaddr),
	                               strlen(str_or_empty(cfg->recvzaddr))));
	json_object_set_new(o, "handle",
	                    json_bytes(str_or_empty(cfg->handle),
	                               strlen(str_or_empty(cfg->handle))));
	json_object_set_new(o, "txpowbits", json_integer(cfg->txpowbits));
	json_object_set_new(o, "vip", json_integer(DEX_VIP_PRIORITY));
	json_object_set_new(o, "cmdpriority", json_integer(DEX_CMD_PRIORITY));
	double pct;
	if (files_progress(n, &pct)) /* only while a file operation runs */
		json_object_set_new(o, "progress", json_real(pct));
	json_object_set_new(o, "perfstats", json_string(perf));
	json_object_set_new(o, "ram", json_integer((json_int_t)st.count));
	json_object_set_new(o, "fingerprint", json_string(fphex));
	json_object_set_new(o, "peers",
	                    json_integer(n->net ? (json_int_t)net_peer_count(
	                                                  n->net)
	                                        : 0));
	json_object_set_new(o, "received", json_integer((json_int_t)k->received));
	json_object_set_new(o, "sent", json_integer((json_int_t)k->sent));
	json_object_set_new(o, "added", json_integer((json_int_t)k->added));
	json_object_set_new(o, "duplicates",
	                    json_integer((json_int_t)k->duplicates));
	for (int i = 0; i < DROP_MAX; i++)
		json_object_set_new(dropped, drop_reason_name[i],
		                    json_integer((json_int_t)k->dropped[i]));
	json_object_set_new(o, "dropped", dropped);
	json_object_set_new(o, "rate", json_real(rate));
	/* extension, after the documented keys: memory held for peers */
	struct net_mem nm;
	json_t *pm = json_object();
	net_mem_stats(n->net, &nm);
	json_object_set_new(pm, "total", json_integer((json_int_t)nm.total));
	json_object_set_new(pm, "largest",
	                    json_integer((json_int_t)nm.largest));
	json_object_set_new(pm, "peak", json_integer((json_int_t)nm.peak));
	json_object_set_new(pm, "budget", json_integer((json_int_t)nm.budget));
	json_object_set_new(pm, "peerbudget",
	                    json_integer((json_int_t)nm.peer_budget));
	json_object_set_new(pm, "paused", json_integer((json_int_t)nm.paused));
	json_object_set_new(pm, "disconnected",
	                    json_integer((json_int_t)nm.kills));
	json_object_set_new(o, "peermem", pm);
	if (n->fhold) {
		/* after API.md 4.4's keys: packets from the near future
		 * waiting to be stored (node.h) */
		struct fhold_stats hs;
		json_t *fh = json_object();
		fhold_get_stats(n->fhold, &hs);
		json_object_set_new(fh, "held", json_integer((json_int_t)hs.count));
		json_object_set_new(fh, "bytes", json_integer((json_int_t)hs.bytes));
		json_object_set_new(fh, "released",
		                    json_integer((json_int_t)hs.released));
		json_object_set_new(fh, "evicted",
		                    json_integer((json_int_t)hs.evicted));
		json_object_set_new(fh, "refused",
		                    json_integer((json_int_t)hs.refused));
		json_object_set_new(o, "futurehold", fh);
	}
	rpc_reply(c, o);
}

const struct rpc_method rpc_dex_methods[] = {
	{ "DEX_broadcast",
	  "DEX_broadcast hex [priority [tagA [tagB [pubkey33 [volA [volB]]]]]]",
	  "DEX",
	  "Creates a packet, mines it at the requested priority (0-32), stores\n"
	  "it and sends it to the network; returns the packet object.\n"
	  "hex: even-length hex is decoded, other text is sent with a final NUL;\n"
	  "\"ffff\" runs the blaster (10 test packets).  tagA/tagB: up to 15 bytes;\n"
	  "with all of tagA, tagB and pubkey33 empty tagA is \"general\".\n"
	  "pubkey33: with tagA \"inbox\" the addressee (payload encrypted to it),\n"
	  "otherwise this node's pubkey (payload signed).  volA/volB: amounts.",
	  1, 7, dex_broadcast },
	{ "DEX_list",
	  "DEX_list stopat minpriority tagA tagB pubkey33 [minA maxA minB maxB "
	  "[stophash]]",
	  "DEX",
	  "Lists held packets matching tagA, tagB and pubkey33, newest first,\n"
	  "stopping before the packet with id stopat or hash stophash; keeps\n"
	  "those with priority >= minpriority and amounts within [minA, maxA]\n"
	  "and [minB, maxB].  With no tag and no pubkey, tagA is \"general\".",
	  1, 10, dex_list },
	{ "DEX_get", "DEX_get id", "DEX",
	  "Returns the held packet with the given id (the newest one if several\n"
	  "share it) or hash (64 hex digits).",
	  1, 1, dex_get },
	{ "DEX_stats", "DEX_stats", "DEX",
	  "Returns this node's DEX settings (pubkey, txpowbits, vip,\n"
	  "cmdpriority) and counters: perfstats, ram, fingerprint, peers,\n"
	  "received, sent, added, duplicates, dropped by reason, rate.",
	  0, 0, dex_stats },
	{ NULL, NULL, NULL, NULL, 0, 0, NULL },
};
