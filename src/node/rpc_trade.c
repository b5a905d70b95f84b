/* rpc_trade.c - trading and identity methods: DEX_orderbook, DEX_cancel,
 * DEX_anonsend, DEX_setpubkey (API.md 4.5 - 4.8).
 *
 * Handlers validate their parameters with the shared validators of
 * params.h (API.md 3.3), then either answer at once (orderbook, setpubkey)
 * or submit a packet to the miner and answer from its done callback with
 * the packet object (cancel, anonsend).  Owns no state beyond the
 * secpkey/recvaddr fields of struct node that DEX_setpubkey writes.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/base58.h"
#include "core/err.h"
#include "core/orderbook.h"
#include "core/store.h"
#include "core/util.h"
#include "node/config.h"
#include "node/crypto.h"
#include "node/lightcli.h"
#include "node/mine.h"
#include "node/node.h"
#include "node/params.h"
#include "node/render.h"
#include "node/rpc.h"

#define CANCEL_TAG "cancel"
#define ANON_TAG "anon"
#define PUBKEY_HEX_LEN (2 * PACKET_PUBKEY_LEN)

static size_t plen(struct rpc_call *c, size_t i, size_t nparams)
{
	return i < nparams ? rpc_param_len(c, i) : 0;
}

/* The node's publishable pubkey, as bytes and as 66 lower-case hex. */
static void own_pubkey(struct node *n, uint8_t pk[PACKET_PUBKEY_LEN],
                       char hex[PUBKEY_HEX_LEN + 1])
{
	identity_pubkey33(n->ident, pk);
	hex_encode(hex, pk, PACKET_PUBKEY_LEN);
}

/* Answer a mining request with the new packet's object. */
static void mined_cb(struct node *n, struct stored *sp, int err, void *arg)
{
	struct rpc_call *c = arg;

	if (err == E_OK && sp) {
		rpc_reply(c, render_packet(n, sp));
		return;
	}
	if (err == E_CANCELLED) {
		rpc_reply(c, rpc_errobj("shutting down", NULL));
		return;
	}
	rpc_reply(c, rpc_errobj("cannot create packet", "reason",
	                        json_string(err_str(err)), NULL));
}

static void submit(struct node *n, struct rpc_call *c,
                   const struct mine_req *req)
{
	int rc = mine_submit(n, req, mined_cb, c);

	if (rc == E_OK)
		return;
	if (rc == E_CANCELLED)
		rpc_reply(c, rpc_errobj("shutting down", NULL));
	else if (rc == E_NOMEM)
		rpc_reply(c, rpc_errobj("node busy: mining queue full", NULL));
	else
		rpc_reply(c, rpc_errobj("cannot create packet", "reason",
		                        json_string(err_str(rc)), NULL));
}

/* ---- DEX_orderbook (4.5) ---- */

/* Orders whose signature check fails at this node ("wrong sender") are
 * left out.  Uses and sets the verification memo the way render.c does. */
static bool wrong_sender_cb(struct stored *sp, void *arg)
{
	return render_vstate(arg, sp) == VSTATE_WRONG;
}

static json_t *amount_json(uint64_t sats)
{
	char a[32];

	amount_format(a, sats);
	return json_string(a);
}

static json_t *entry_json(const struct ob_entry *e)
{
	json_t *o = json_object();
	char s[ORDERBOOK_PRICE_MAX];
	char hex[65];

	orderbook_price(s, e->price);
	json_object_set_new(o, "price", json_string(s));
	orderbook_price15(s, e->price);
	json_object_set_new(o, "price15", json_string(s));
	json_object_set_new(o, "baseamount", amount_json(e->base));
	json_object_set_new(o, "basesatoshis", json_integer((json_int_t)e->base));
	json_object_set_new(o, "relamount", amount_json(e->rel));
	json_object_set_new(o, "relsatoshis", json_integer((json_int_t)e->rel));
	json_object_set_new(o, "priority", json_integer(e->priority));
	if (e->has_pubkey) {
		char pk[PUBKEY_HEX_LEN + 1];
		hex_encode(pk, e->pubkey, PACKET_PUBKEY_LEN);
		json_object_set_new(o, "pubkey", json_string(pk));
	} else {
		json_object_set_new(o, "pubkey", json_string(""));
	}
	json_object_set_new(o, "timestamp", json_integer(e->timestamp));
	hex_encode(hex, e->hash, 32);
	json_object_set_new(o, "hash", json_string(hex));
	json_object_set_new(o, "id", json_integer(e->id));
	return o;
}

static json_t *entries_json(const struct ob_entry *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, entry_json(&v[i]));
	return a;
}

/* maxentries: "" or 0 -> default; else a non-negative integer. */
static json_t *param_maxentries(const char *s, size_t len, size_t *out)
{
	int64_t v;

	*out = ORDERBOOK_DEFAULT_ENTRIES;
	if (len == 0)
		return NULL;
	if (strlen(s) != len || parse_int64(s, &v) != E_OK || v < 0)
		return rpc_errobj("maxentries must be a non-negative integer",
		                  "maxentries", json_bytes(s, len), NULL);
	if (v > 0)
		*out = (uint64_t)v > SIZE_MAX ? SIZE_MAX : (size_t)v;
	return NULL;
}

static void dex_orderbook(struct node *n, struct rpc_call *c,
                          const char *const *p, size_t np)
{
	uint8_t base[PACKET_TAG_MAX], rel[PACKET_TAG_MAX];
	uint8_t pk[PACKET_PUBKEY_LEN];
	size_t lbase = 0, lrel = 0;
	bool has_pk = false, g;
	struct ob_params q = { 0 };
	struct orderbook ob;
	json_t *e, *o;

	if (n->lightcli &&
	    lightcli_defer(n, c, dex_orderbook, p, np, LIGHT_Q_ORDERBOOK))
		return; /* light node: the full nodes are asked first */
	if ((e = param_maxentries(p[0], plen(c, 0, np), &q.maxentries)) ||
	    (e = param_minpriority(p[1], plen(c, 1, np), &q.minpriority)) ||
	    (e = param_tag("tagA", p[2], plen(c, 2, np), base, &lbase)) ||
	    (e = param_tag("tagB", p[3], plen(c, 3, np), rel, &lrel)) ||
	    (e = param_pubkey33(p[4], plen(c, 4, np), pk, &has_pk)) ||
	    (e = param_amount("minA", p[5], plen(c, 5, np), 0, &q.min_a, &g)) ||
	    (e = param_amount("maxA", p[6], plen(c, 6, np), AMOUNT_MAX,
	                      &q.max_a, &g)) ||
	    (e = param_amount("minB", p[7], plen(c, 7, np), 0, &q.min_b, &g)) ||
	    (e = param_amount("maxB", p[8], plen(c, 8, np), AMOUNT_MAX,
	                      &q.max_b, &g)) ||
	    (e = param_range("minA", p[5], plen(c, 5, np), "maxA", p[6],
	                     plen(c, 6, np), q.min_a, q.max_a)) ||
	    (e = param_range("minB", p[7], plen(c, 7, np), "maxB", p[8],
	                     plen(c, 8, np), q.min_b, q.max_b))) {
		rpc_reply(c, e);
		return;
	}
	if (lbase == 0 || lrel == 0) {
		rpc_reply(c, rpc_errobj(
			"both tagA (base) and tagB (rel) are required",
			"base", json_bytes(base, lbase),
			"rel", json_bytes(rel, lrel), NULL));
		return;
	}
	q.base = base;
	q.len_base = lbase;
	q.rel = rel;
	q.len_rel = lrel;
	q.pubkey = has_pk ? pk : NULL;
	q.excluded = wrong_sender_cb;
	q.arg = n;
	if (orderbook_build(n->store, &q, &ob) != E_OK) {
		rpc_reply(c, rpc_errobj("orderbook failed", NULL));
		return;
	}
	o = json_object();
	json_object_set_new(o, "asks", entries_json(ob.asks, ob.nasks));
	json_object_set_new(o, "bids", entries_json(ob.bids, ob.nbids));
	json_object_set_new(o, "base", json_bytes(base, lbase));
	json_object_set_new(o, "rel", json_bytes(rel, lrel));
	orderbook_fini(&ob);
	rpc_reply(c, o);
}

/* ---- DEX_cancel (4.6) ---- */

static bool tag_ok(const char *s, size_t len)
{
	return len <= PACKET_TAG_MAX && !memchr(s, 0, len);
}

static void dex_cancel(struct node *n, struct rpc_call *c,
                       const char *const *p, size_t np)
{
	uint8_t pk[PACKET_PUBKEY_LEN];
	char pkhex[PUBKEY_HEX_LEN + 1];
	uint8_t cmd[PACKET_PUBKEY_LEN]; /* the longest command: 33 bytes */
	struct mine_req req;
	size_t lpk = plen(c, 1, np), la = plen(c, 2, np), lb = plen(c, 3, np);
	const char *mode;
	size_t cmdlen = 0;
	uint32_t id = 0;
	json_t *e;

	if ((e = param_id("id", p[0], plen(c, 0, np), true, &id))) {
		rpc_reply(c, e);
		return;
	}
	own_pubkey(n, pk, pkhex);
	if (id != 0) {
		mode = "id";
		put_le32(cmd, id);
		cmdlen = 4;
	} else if (lpk != 0) {
		if (lpk != PUBKEY_HEX_LEN || strlen(p[1]) != lpk ||
		    strncasecmp(p[1], pkhex, PUBKEY_HEX_LEN) != 0) {
			rpc_reply(c, rpc_errobj("wrong pubkey",
			                        "pubkey", json_bytes(p[1], lpk),
			                        "correct pubkey",
			                        json_string(pkhex), NULL));
			return;
		}
		mode = "pubkey";
		memcpy(cmd, pk, PACKET_PUBKEY_LEN);
		cmdlen = PACKET_PUBKEY_LEN;
	} else if (la != 0 && lb != 0) {
		if (!tag_ok(p[2], la) || !tag_ok(p[3], lb)) {
			rpc_reply(c, rpc_errobj("too long tags",
			                        "tagA", json_bytes(p[2], la),
			                        "tagB", json_bytes(p[3], lb),
			                        NULL));
			return;
		}
		mode = "pair";
		cmd[0] = (uint8_t)la;
		memcpy(cmd + 1, p[2], la);
		cmd[1 + la] = (uint8_t)lb;
		memcpy(cmd + 2 + la, p[3], lb);
		cmdlen = 2 + la + lb;
	} else {
		rpc_reply(c, rpc_errobj("nothing to cancel: need an id, this "
		                        "node's pubkey33, or both tagA and tagB",
		                        NULL));
		return;
	}

	memset(&req, 0, sizeof req);
	req.kind = PACKET_KIND_CANCEL;
	req.form = MINE_SIGNED;
	memcpy(req.tag_a, CANCEL_TAG, strlen(CANCEL_TAG));
	req.len_a = strlen(CANCEL_TAG);
	memcpy(req.tag_b, mode, strlen(mode));
	req.len_b = strlen(mode);
	memcpy(req.pubkey, pk, PACKET_PUBKEY_LEN);
	req.has_pubkey = 1;
	req.plain = cmd;
	req.plain_len = cmdlen;
	req.priority = DEX_CMD_PRIORITY;
	submit(n, c, &req);
}

/* ---- DEX_anonsend (4.7) ---- */

static void dex_anonsend(struct node *n, struct rpc_call *c,
                         const char *const *p, size_t np)
{
	size_t lm = plen(c, 0, np), ld = plen(c, 2, np);
	uint8_t dest[PACKET_PUBKEY_LEN];
	struct mine_req req;
	int prio = 0;
	json_t *e;

	if (lm == 0) {
		rpc_reply(c, rpc_errobj("anonsend needs a message", NULL));
		return;
	}
	if (lm > ANON_MSG_LEN) {
		rpc_reply(c, rpc_errobj("message too long for anonsend",
		                        "maxlength", json_integer(ANON_MSG_LEN),
		                        NULL));
		return;
	}
	if (memchr(p[0], 0, lm)) {
		rpc_reply(c, rpc_errobj("message contains a NUL byte", NULL));
		return;
	}
	if ((e = param_priority(p[1], plen(c, 1, np), &prio))) {
		rpc_reply(c, e);
		return;
	}
	if (ld != PUBKEY_HEX_LEN || strlen(p[2]) != ld ||
	    !hex_decode(dest, p[2], PACKET_PUBKEY_LEN) || dest[0] != 0x01 ||
	    !crypto_pk_valid(dest + 1)) {
		rpc_reply(c, rpc_errobj("need destpubkey for anonsend",
		                        "destpub33", json_bytes(p[2], ld),
		                        NULL));
		return;
	}
	memset(&req, 0, sizeof req);
	req.kind = PACKET_KIND_ANON;
	req.form = MINE_ANON;
	memcpy(req.tag_a, ANON_TAG, strlen(ANON_TAG));
	req.len_a = strlen(ANON_TAG);
	memcpy(req.dest, dest + 1, CRYPTO_PK_LEN);
	req.plain = (const uint8_t *)p[0];
	req.plain_len = lm;
	req.priority = prio + DEX_CMD_PRIORITY;
	submit(n, c, &req);
}

/* ---- DEX_setpubkey (4.8) ---- */

static void dex_setpubkey(struct node *n, struct rpc_call *c,
                          const char *const *p, size_t np)
{
	static const char *const no_params[1] = { "" };
	size_t len = plen(c, 0, np);
	uint8_t key[PACKET_PUBKEY_LEN];
	const struct rpc_method *stats;
	const char *taddr = n->cfg ? n->cfg->recvtaddr : NULL;

	if (len != PUBKEY_HEX_LEN || strlen(p[0]) != len ||
	    !hex_decode(key, p[0], PACKET_PUBKEY_LEN) || key[0] < 0x01 ||
	    key[0] > 0x03) {
		rpc_reply(c, rpc_errobj("pubkey33 must be 66 hex characters "
		                        "starting with 01, 02 or 03",
		                        "pubkey33", json_bytes(p[0], len),
		                        NULL));
		return;
	}
	hex_encode(n->secpkey, key, PACKET_PUBKEY_LEN);
	if (taddr && taddr[0])
		snprintf(n->recvaddr, sizeof n->recvaddr, "%s", taddr);
	else if (key[0] == 0x01 || !komodo_address(key, n->recvaddr))
		n->recvaddr[0] = '\0';

	/* The answer is the DEX_stats object: let DEX_stats write it. */
	stats = rpc_lookup("DEX_stats", strlen("DEX_stats"));
	if (!stats || !stats->handler) {
		rpc_reply(c, rpc_errobj("DEX_stats unavailable", NULL));
		return;
	}
	stats->handler(n, c, no_params, 0);
}

const struct rpc_method rpc_trade_methods[] = {
	{ "DEX_anonsend", "DEX_anonsend message priority destpub33", "DEX",
	  "Sends a message that only the addressee can read, without showing "
	  "the network who sent it or to whom.\n"
	  "  message    the text (at most 1024 bytes, no NUL; not hex-decoded)\n"
	  "  priority   proof-of-work priority, 0..32; the packet is mined at "
	  "priority + 7\n"
	  "  destpub33  the addressee's publishable pubkey (01...)\n"
	  "The packet has tagA \"anon\" and no pubkey; only the addressee's "
	  "node shows anonmsg and anonsender (DEX_list \"\" 0 anon).",
	  1, 3, dex_anonsend },
	{ "DEX_cancel", "DEX_cancel id [pubkey33 [tagA tagB]]", "DEX",
	  "Cancels this node's orders everywhere with a signed cancel packet "
	  "(tagA \"cancel\", priority 7).\n"
	  "  id         cancel this node's packets with this id\n"
	  "  pubkey33   this node's publishable pubkey: cancel all its orders "
	  "older than 10 seconds\n"
	  "  tagA tagB  cancel this node's orders of that pair older than 10 "
	  "seconds\n"
	  "The first mode given is used.  Returns the cancel packet.",
	  1, 4, dex_cancel },
	{ "DEX_orderbook",
	  "DEX_orderbook maxentries minpriority tagA tagB pubkey33 "
	  "[minA maxA minB maxB]", "DEX",
	  "Returns the asks (tagA = base, tagB = rel) and bids (tagA = rel, "
	  "tagB = base) of the market base/rel, best first.\n"
	  "  maxentries   entries per side (\"\" or 0: 10)\n"
	  "  minpriority  ignore orders below this priority\n"
	  "  tagA tagB    base and rel coin (both required)\n"
	  "  pubkey33     only orders with this pubkey\n"
	  "  minA maxA    bounds of the base amount\n"
	  "  minB maxB    bounds of the rel amount\n"
	  "Cancelled orders, orders with a zero amount and orders failing "
	  "their signature check are left out.",
	  1, 9, dex_orderbook },
	{ "DEX_setpubkey", "DEX_setpubkey pubkey33", "DEX",
	  "Records a public key (a secp256k1 02/03 key or a DEX 01 key) to be "
	  "shown as secpkey in DEX_stats; for a 02/03 key recvaddr becomes its "
	  "Komodo address unless -recvTaddr is set.  The node's identity does "
	  "not change.  Returns the DEX_stats object.",
	  1, 1, dex_setpubkey },
	{ NULL, NULL, NULL, NULL, 0, 0, NULL },
};
