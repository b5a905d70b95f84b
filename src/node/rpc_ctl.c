/* rpc_ctl.c - node and control methods: getinfo, getpeerinfo, addnode,
 * stop, ping, help (API.md 5), and bitcoind's setban, listbanned,
 * clearbanned.
 *
 * `help` lists every method of the three tables plus the documented
 * methods a build may not have yet (API.md 5.6 gives the exact list), by
 * group (DEX, Network, Control) and name.  Owns no state.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "node/crypto.h"
#include "node/net.h"
#include "node/files.h"
#include "node/node.h"
#include "node/params.h"
#include "node/rpc.h"

#define HELP_MAX_METHODS 64

static void getinfo(struct node *n, struct rpc_call *c,
                    const char *const *p, size_t np)
{
	const struct config *cfg = n->cfg;
	uint8_t pk[PACKET_PUBKEY_LEN];
	char hex[2 * PACKET_PUBKEY_LEN + 1];
	uint32_t now = node_now();
	json_t *o = json_object();

	identity_pubkey33(n->ident, pk);
	hex_encode(hex, pk, sizeof pk);
	json_object_set_new(o, "version", json_integer(DEX_VERSION));
	json_object_set_new(o, "subversion", json_string(DEX_SUBVERSION));
	json_object_set_new(o, "protocolversion",
	                    json_integer(DEX_PROTOCOL_VERSION));
	json_object_set_new(o, "dexp2p", json_integer(cfg->dexp2p));
	json_object_set_new(o, "pubkey", json_string(hex));
	json_object_set_new(o, "connections",
	                    json_integer(n->net ? (json_int_t)net_peer_count(
	                                                  n->net)
	                                        : 0));
	json_object_set_new(o, "synced", json_boolean(node_synced(n)));
	json_object_set_new(o, "txpowbits", json_integer(cfg->txpowbits));
	json_object_set_new(o, "purgetime", json_integer(cfg->purgetime));
	json_object_set_new(o, "port", json_integer(cfg->port));
	json_object_set_new(o, "uptime",
	                    json_integer(now > n->start_time
	                                     ? now - n->start_time
	                                     : 0));
	rpc_reply(c, o);
}

static void getpeerinfo(struct node *n, struct rpc_call *c,
                        const char *const *p, size_t np)
{
	rpc_reply(c, n->net ? net_peerinfo(n->net) : json_array());
}

#define ADDNODE_USAGE "addnode node add|remove|onetry"

static void addnode(struct node *n, struct rpc_call *c,
                    const char *const *p, size_t np)
{
	size_t l0 = rpc_param_len(c, 0), l1 = rpc_param_len(c, 1);
	const char *cmd = p[1];
	int rc;

	if (strlen(cmd) != l1 || (strcmp(cmd, "add") && strcmp(cmd, "remove") &&
	                          strcmp(cmd, "onetry")) ||
	    strlen(p[0]) != l0 || l0 == 0) {
		rpc_reply_error(c, -1, ADDNODE_USAGE "\n");
		return;
	}
	rc = n->net ? net_addnode(n->net, p[0], cmd) : E_INVAL;
	switch (rc) {
	case E_OK:
		rpc_reply(c, NULL);
		break;
	case E_DUP:
		rpc_reply_error(c, -23, "Error: Node already added");
		break;
	case E_NOTFOUND:
		rpc_reply_error(c, -24, "Error: Node has not been added.");
		break;
	default: /* an address that does not parse */
		rpc_reply_error(c, -1, ADDNODE_USAGE "\n");
		break;
	}
}

#define SETBAN_USAGE "setban subnet add|remove [bantime [absolute]]"

/* bitcoind's setban: results and error codes as there (null on success;
 * -30 invalid subnet or nothing to unban, -23 already banned, -8 absolute
 * time in the past, -1 usage). */
static void setban(struct node *n, struct rpc_call *c, const char *const *p,
                   size_t np)
{
	size_t l0 = rpc_param_len(c, 0), l1 = rpc_param_len(c, 1);
	const char *cmd = p[1];
	bool add = !strcmp(cmd, "add"), absolute = false;
	int64_t bantime = 0;
	int rc;

	if (strlen(cmd) != l1 || (!add && strcmp(cmd, "remove"))) {
		rpc_reply_error(c, -1, SETBAN_USAGE "\n");
		return;
	}
	if (p[2][0] && parse_int64(p[2], &bantime) != E_OK) {
		rpc_reply_error(c, -3, "JSON value is not an integer as expected");
		return;
	}
	if (!strcmp(p[3], "true") || !strcmp(p[3], "1"))
		absolute = true;
	else if (p[3][0] && strcmp(p[3], "false") && strcmp(p[3], "0")) {
		rpc_reply_error(c, -3, "JSON value is not a boolean as expected");
		return;
	}
	rc = (n->net && strlen(p[0]) == l0)
	         ? net_setban(n->net, p[0], add, bantime, absolute)
	         : E_INVAL;
	switch (rc) {
	case E_OK:
		rpc_reply(c, NULL);
		break;
	case E_DUP:
		rpc_reply_error(c, -23, "Error: IP/Subnet already banned");
		break;
	case E_RANGE:
		rpc_reply_error(c, -8, "Error: Absolute timestamp is in the past");
		break;
	case E_NOTFOUND:
		rpc_reply_error(c, -30, "Error: Unban failed. Requested "
		                "address/subnet was not previously manually "
		                "banned.");
		break;
	case E_NOMEM:
		rpc_reply_error(c, -1, "Error: ban list full");
		break;
	default:
		rpc_reply_error(c, -30, "Error: Invalid IP/Subnet");
		break;
	}
}

static void listbanned(struct node *n, struct rpc_call *c,
                       const char *const *p, size_t np)
{
	rpc_reply(c, n->net ? net_listbanned(n->net) : json_array());
}

static void clearbanned(struct node *n, struct rpc_call *c,
                        const char *const *p, size_t np)
{
	if (n->net)
		net_clearbanned(n->net);
	rpc_reply(c, NULL);
}

static void stop(struct node *n, struct rpc_call *c, const char *const *p,
                 size_t np)
{
	rpc_on_flushed(c, node_request_stop);
	rpc_reply(c, json_string("dexp2pd stopping"));
}

static void ping(struct node *n, struct rpc_call *c, const char *const *p,
                 size_t np)
{
	if (n->net)
		net_ping_all(n->net);
	rpc_reply(c, NULL);
}

/* ---- help ---- */

/* Methods API.md 5.6 lists, for those no table of this build has. */
static const struct rpc_method documented[] = {
	{ "DEX_anonsend", "DEX_anonsend message priority destpub33", "DEX",
	  NULL, 0, 0, NULL },
	{ "DEX_cancel", "DEX_cancel id [pubkey33 [tagA tagB]]", "DEX", NULL, 0,
	  0, NULL },
	{ "DEX_orderbook",
	  "DEX_orderbook maxentries minpriority tagA tagB pubkey33 [minA maxA "
	  "minB maxB]",
	  "DEX", NULL, 0, 0, NULL },
	{ "DEX_setpubkey", "DEX_setpubkey pubkey33", "DEX", NULL, 0, 0, NULL },
	{ NULL, NULL, NULL, NULL, 0, 0, NULL },
};

static const char *const help_groups[] = { "DEX", "Network", "Control" };

static int cmp_method(const void *a, const void *b)
{
	const struct rpc_method *const *x = a, *const *y = b;
	return strcmp((*x)->name, (*y)->name);
}

/* Every method to list: the tables, then documented ones not in them. */
static size_t all_methods(const struct rpc_method **out, size_t cap)
{
	const struct rpc_method *tables[] = { rpc_dex_methods, rpc_ctl_methods,
	                                      rpc_trade_methods };
	size_t n = 0;

	for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
		for (const struct rpc_method *m = tables[t]; m->name && n < cap;
		     m++)
			out[n++] = m;
	for (const struct rpc_method *m = documented; m->name && n < cap; m++)
		if (!rpc_lookup(m->name, strlen(m->name)))
			out[n++] = m;
	qsort(out, n, sizeof *out, cmp_method);
	return n;
}

static void help(struct node *n, struct rpc_call *c, const char *const *p,
                 size_t np)
{
	const struct rpc_method *all[HELP_MAX_METHODS];
	size_t count = all_methods(all, HELP_MAX_METHODS);
	size_t len = rpc_param_len(c, 0);
	json_t *s;
	char *buf;
	size_t cap = 4096, used = 0;

	if (len) {
		for (size_t i = 0; i < count; i++) {
			const struct rpc_method *m = all[i];
			if (strlen(m->name) != len || memcmp(m->name, p[0], len))
				continue;
			const char *desc = m->help ? m->help
			                           : "Not available in this build.";
			size_t ul = strlen(m->usage), dl = strlen(desc);
			buf = xmalloc(ul + dl + 3);
			memcpy(buf, m->usage, ul);
			memcpy(buf + ul, "\n\n", 2);
			memcpy(buf + ul + 2, desc, dl + 1);
			rpc_reply(c, json_string(buf));
			free(buf);
			return;
		}
		static const char pre[] = "help: unknown command: ";
		buf = xmalloc(sizeof pre + len);
		memcpy(buf, pre, sizeof pre - 1);
		memcpy(buf + sizeof pre - 1, p[0], len);
		rpc_reply(c, json_bytes(buf, sizeof pre - 1 + len));
		free(buf);
		return;
	}

	buf = xmalloc(cap);
	buf[0] = 0;
	for (size_t g = 0; g < sizeof help_groups / sizeof help_groups[0]; g++) {
		const char *lines[HELP_MAX_METHODS + 1];
		size_t nl = 0;
		for (size_t i = 0; i < count; i++)
			if (!strcmp(all[i]->group, help_groups[g]))
				lines[nl++] = all[i]->usage;
		for (size_t i = 0; i <= nl; i++) {
			char head[32];
			const char *line = head;
			if (i == 0)
				snprintf(head, sizeof head, "%s== %s ==",
				         g ? "\n\n" : "", help_groups[g]);
			else
				line = lines[i - 1];
			size_t ll = strlen(line) + 1;
			if (used + ll + 1 > cap) {
				cap = 2 * (used + ll + 1);
				buf = xrealloc(buf, cap);
			}
			if (i > 0)
				buf[used++] = '\n';
			memcpy(buf + used, line, ll);
			used += ll - 1;
		}
	}
	s = json_string(buf);
	free(buf);
	rpc_reply(c, s);
}

const struct rpc_method rpc_ctl_methods[] = {
	/* the file methods (rpc_files.c, files.c) */
	{ "DEX_publish", "DEX_publish filename priority sliceid", "DEX",
	  "Publishes a file (sliceid 0) or one 1,000,000-byte slice of it as\n"
	  "signed 10,000-byte fragment packets, a locators packet and a file\n"
	  "hash packet; returns the file result object.  The file is looked up\n"
	  "in the working directory, $HOME/dexp2p, then -filesdir.",
	  0, 3, rpc_dex_publish },
	{ "DEX_subscribe", "DEX_subscribe filename priority id [publisher33]",
	  "DEX",
	  "Rebuilds <filename>.<publisher33> in -filesdir (or the working\n"
	  "directory) from held fragments, asks peers for missing ones (waits\n"
	  "up to 10 s without progress, 60 s in all) and checks it against the\n"
	  "publisher's signed SHA-256.  id 0: the newest locators packet.",
	  3, 4, rpc_dex_subscribe },
	{ "DEX_stream", "DEX_stream filename priority", "DEX",
	  "Publishes the next complete 1,000,000-byte slice of a growing file,\n"
	  "or answers \"not enough data to extend stream\".",
	  0, 2, rpc_dex_stream },
	{ "DEX_streamsub", "DEX_streamsub filename priority pubkey", "DEX",
	  "Fetches, checks and writes the next slice of pubkey's stream into\n"
	  "<filename>.<pubkey>, or answers \"stream has no new slice yet\".",
	  0, 3, rpc_dex_streamsub },
	{ "getinfo", "getinfo", "Control",
	  "Returns version, pubkey, connections, synced, txpowbits, purgetime,\n"
	  "port and uptime of this node.",
	  0, 0, getinfo },
	{ "help", "help [command]", "Control",
	  "Lists every method, or describes one.", 0, 1, help },
	{ "stop", "stop", "Control",
	  "Answers, then shuts the daemon down cleanly (held packets are lost).",
	  0, 0, stop },
	{ "addnode", ADDNODE_USAGE, "Network",
	  "add: remember host[:port] (default port 7770) and stay connected;\n"
	  "remove: forget it and close its connection; onetry: connect once.",
	  2, 2, addnode },
	{ "getpeerinfo", "getpeerinfo", "Network",
	  "Returns one object per connected peer, in ascending id order.", 0, 0,
	  getpeerinfo },
	{ "ping", "ping", "Network",
	  "Asks every peer for a round-trip measurement (see getpeerinfo\n"
	  "pingtime).",
	  0, 0, ping },
	{ "setban", SETBAN_USAGE, "Network",
	  "add: ban an address or subnet (1.2.3.4, 1.2.3.0/24,\n"
	  "1.2.3.0/255.255.255.0, 2001:db8::/32) for bantime seconds\n"
	  "(0 or absent: -bantime) or, with absolute true, until that unix\n"
	  "time, and disconnect its peers; remove: lift a ban.  Bans are kept\n"
	  "in <datadir>/banlist.json across restarts.",
	  2, 4, setban },
	{ "listbanned", "listbanned", "Network",
	  "Returns every ban in force: address, ban_created, banned_until,\n"
	  "ban_duration, time_remaining.",
	  0, 0, listbanned },
	{ "clearbanned", "clearbanned", "Network",
	  "Lifts every ban.", 0, 0, clearbanned },
	{ NULL, NULL, NULL, NULL, 0, 0, NULL },
};
