/* config.c - dexp2pd options (API.md 6.1, 6.2): the option table, the
 * command-line parser, the configuration file reader and the -help text.
 *
 * Owns the strings inside struct config (freed by config_fini()).  One
 * table describes every option (name, kind, range, default, help line), so
 * parsing, the conf file and -help cannot drift apart.
 *
 * Order of work in config_parse():
 *   1. scan argv: -help/-?, and -datadir/-conf, which locate the file;
 *   2. read the conf file (missing = fine) and apply its lines;
 *   3. apply argv: single-valued options overwrite the file's values,
 *      repeatable ones append after the file's;
 *   4. fill derived defaults (dexkeyfile, rpcbind) and check -filesdir.
 */
#include "node/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/err.h"
#include "core/util.h"
#include "node/log.h"

#define CONF_MAX_BYTES (1u << 20) /* a conf file larger than 1 MiB is an error */
#define CONF_MAX_LINE 4096
#define DEBUG_ALL ((1u << LOG_NET) | (1u << LOG_RPC) | (1u << LOG_DEX) | \
                   (1u << LOG_FILES) | (1u << LOG_POW))

enum opt_kind {
	OPT_STR,     /* char * */
	OPT_PASS,    /* char *, "" means absent (NULL) */
	OPT_INT,     /* int in [min, max] */
	OPT_U32,     /* uint32_t in [min, max] */
	OPT_MIB,     /* uint64_t bytes, given in MiB in [min, max] */
	OPT_BOOL,    /* bool */
	OPT_LIST,    /* struct strlist, repeatable */
	OPT_DEBUG,   /* unsigned bit set, repeatable */
	OPT_PATH,    /* -datadir / -conf: command line only */
};

struct opt {
	const char *name;
	enum opt_kind kind;
	size_t off;
	long long min, max;
	const char *arg;      /* "<n>" ... for -help */
	const char *def;      /* default as shown by -help */
	const char *help;
};

#define O(f) offsetof(struct config, f)

static const struct opt opts[] = {
	{ "datadir", OPT_PATH, O(datadir), 0, 0, "<dir>", "$HOME/.dexp2p",
	  "data directory: configuration, cookie, identity key, log" },
	{ "conf", OPT_PATH, O(conf), 0, 0, "<file>", "dexp2p.conf",
	  "configuration file, relative to the data directory" },
	{ "port", OPT_INT, O(port), 1, 65535, "<n>", "7770",
	  "peer-to-peer TCP port" },
	{ "listen", OPT_BOOL, O(listen), 0, 1, "<0|1>", "1",
	  "accept incoming peer connections" },
	{ "addnode", OPT_LIST, O(addnode), 0, 0, "<host[:port]>", "none",
	  "repeatable; keep a connection to this node" },
	{ "connect", OPT_LIST, O(connect), 0, 0, "<host[:port]>", "none",
	  "repeatable; connect only to these nodes" },
	{ "maxconnections", OPT_INT, O(maxconnections), 0, 10000, "<n>", "125",
	  "maximum peer connections, inbound and outbound" },
	{ "rpcport", OPT_INT, O(rpcport), 1, 65535, "<n>", "7771",
	  "RPC port" },
	{ "rpcbind", OPT_LIST, O(rpcbind), 0, 0, "<addr>", "127.0.0.1",
	  "repeatable; address the RPC server listens on" },
	{ "rpcallowip", OPT_LIST, O(rpcallowip), 0, 0, "<ip[/prefix]>",
	  "loopback only", "repeatable; client addresses allowed to use RPC" },
	{ "rpcuser", OPT_STR, O(rpcuser), 0, 0, "<user>", "\"\"",
	  "RPC user name" },
	{ "rpcpassword", OPT_PASS, O(rpcpassword), 0, 0, "<pw>",
	  "none (cookie file)", "RPC password" },
	{ "rpcmaxconnections", OPT_INT, O(rpcmaxconnections), 1, 10000, "<n>",
	  "64", "RPC connections held at once; past it the oldest "
	  "unauthenticated one is closed" },
	{ "rpcservertimeout", OPT_INT, O(rpcservertimeout), 1, 3600, "<s>",
	  "30", "seconds an RPC connection may take to send a complete "
	  "request" },
	{ "rpcmaxsubscriptions", OPT_INT, O(rpcmaxsubscriptions), 0, 100000,
	  "<n>", "1000", "live subscriptions (GET /events, DEX_wait) held at "
	  "once" },
	{ "rpcmaxclientsubscriptions", OPT_INT, O(rpcmaxclientsubscriptions),
	  1, 100000, "<n>", "100", "live subscriptions held at once for one "
	  "client address" },
	{ "rpcsubscriptionbuffer", OPT_INT, O(rpcsubscriptionbuffer), 16,
	  65536, "<KiB>", "1024", "output bytes a subscriber may leave "
	  "unread before it is dropped" },
	{ "dexp2p", OPT_INT, O(dexp2p), 1, 2, "<1|2>", "2",
	  "1 = relay only, 2 = full node answering remote queries" },
	{ "light", OPT_BOOL, O(light), 0, 1, "<0|1>", "0",
	  "light node: keep no full store, relay nothing, serve the RPC API "
	  "by asking the full nodes of -addnode/-connect" },
	{ "handle", OPT_STR, O(handle), 0, 0, "<text>", "\"\"",
	  "shown as handle in DEX_stats" },
	{ "recvTaddr", OPT_STR, O(recvtaddr), 0, 0, "<addr>", "\"\"",
	  "shown as recvaddr in DEX_stats" },
	{ "recvZaddr", OPT_STR, O(recvzaddr), 0, 0, "<addr>", "\"\"",
	  "shown as recvZaddr in DEX_stats" },
	{ "txpowbits", OPT_INT, O(txpowbits), 0, 24, "<0..24>", "12",
	  "network proof-of-work bits (same on all nodes)" },
	{ "purgetime", OPT_U32, O(purgetime), 10, 86400, "<10..86400>", "3600",
	  "packet lifetime in seconds" },
	{ "filesdir", OPT_STR, O(filesdir), 0, 0, "<dir>", "none",
	  "files to publish / reconstructed files (must exist)" },
	{ "dexkeyfile", OPT_STR, O(dexkeyfile), 0, 0, "<file>",
	  "<datadir>/dexp2p.key", "identity key file" },
	{ "daemon", OPT_BOOL, O(daemon), 0, 1, "", "0",
	  "run in the background (working directory unchanged)" },
	{ "printtoconsole", OPT_BOOL, O(printtoconsole), 0, 1, "", "0",
	  "log to stdout instead of <datadir>/debug.log" },
	{ "debug", OPT_DEBUG, O(debug), 0, 0, "<category>", "none",
	  "repeatable; net, rpc, dex, files, pow; alone/1/all = all" },
	{ "maxmem", OPT_MIB, O(maxmem), 1, 1048576, "<MiB>", "4096",
	  "memory cap of the packet store, in MiB" },
	{ "bantime", OPT_U32, O(bantime), 1, 315360000, "<secs>", "86400",
	  "how long a misbehaving peer's address stays banned" },
	{ "maxinboundperip", OPT_INT, O(maxinboundperip), 1, 10000, "<n>",
	  "32", "inbound peer connections from one address" },
	{ "maxinboundpersubnet", OPT_INT, O(maxinboundpersubnet), 1, 10000,
	  "<n>", "64", "inbound peer connections from one /24 (IPv4) or /48" },
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static const char *const debug_names[LOG_CAT_MAX] = {
	[LOG_NET] = "net", [LOG_RPC] = "rpc", [LOG_DEX] = "dex",
	[LOG_FILES] = "files", [LOG_POW] = "pow",
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return E_INVAL;
}

static const struct opt *opt_find(const char *name, size_t len)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (strlen(opts[i].name) == len &&
		    memcmp(opts[i].name, name, len) == 0)
			return &opts[i];
	return NULL;
}

static void set_str(char **slot, const char *v)
{
	free(*slot);
	*slot = xstrdup(v);
}

/* Strict decimal integer in [min, max]. */
static bool parse_range(const char *v, long long min, long long max,
                        long long *out)
{
	int64_t x;

	if (parse_int64(v, &x) != E_OK || x < min || x > max)
		return false;
	*out = x;
	return true;
}

static bool parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "1") || !strcmp(v, "true")) {
		*out = true;
		return true;
	}
	if (!strcmp(v, "0") || !strcmp(v, "false")) {
		*out = false;
		return true;
	}
	return false;
}

/* Apply one option.  v is NULL for "-name" without '='; neg is set for the
 * "-noname" form.  where names the source for messages ("command line" or
 * "file:line"). */
static int apply(struct config *c, const struct opt *o, const char *v,
                 bool neg, const char *where, char *err, size_t errlen)
{
	char *base = (char *)c;
	long long x;
	bool b;

	if (neg && o->kind != OPT_BOOL && o->kind != OPT_DEBUG)
		return fail(err, errlen, "Error: -no%s is not a valid option (%s)",
		            o->name, where);
	switch (o->kind) {
	case OPT_PATH:
	case OPT_STR:
	case OPT_PASS:
		if (!v)
			return fail(err, errlen,
			             "Error: option -%s requires a value (%s)",
			             o->name, where);
		if (o->kind == OPT_PASS && !*v) {
			/* An empty password is treated as no password:
			 * the cookie file is used. */
			free(*(char **)(base + o->off));
			*(char **)(base + o->off) = NULL;
		} else {
			set_str((char **)(base + o->off), v);
		}
		return E_OK;
	case OPT_INT:
	case OPT_U32:
	case OPT_MIB:
		if (!v || !parse_range(v, o->min, o->max, &x))
			return fail(err, errlen,
			            "Error: invalid value for -%s: '%s' (%s): "
			            "expected an integer from %lld to %lld",
			            o->name, v ? v : "", where, o->min, o->max);
		if (o->kind == OPT_INT)
			*(int *)(base + o->off) = (int)x;
		else if (o->kind == OPT_U32)
			*(uint32_t *)(base + o->off) = (uint32_t)x;
		else
			*(uint64_t *)(base + o->off) = (uint64_t)x << 20;
		return E_OK;
	case OPT_BOOL:
		b = true;
		if (v && !parse_bool(v, &b))
			return fail(err, errlen,
			            "Error: invalid value for -%s%s: '%s' (%s): "
			            "expected 0 or 1", neg ? "no" : "", o->name, v,
			            where);
		*(bool *)(base + o->off) = neg ? !b : b;
		return E_OK;
	case OPT_LIST: {
		struct strlist *l = (struct strlist *)(base + o->off);

		if (!v || !*v)
			return fail(err, errlen,
			            "Error: option -%s requires a value (%s)",
			            o->name, where);
		if (l->n >= CONFIG_MAX_LIST)
			return fail(err, errlen,
			            "Error: -%s given more than %d times (%s)",
			            o->name, CONFIG_MAX_LIST, where);
		if (l == &((struct config *)base)->addnode ||
		    l == &((struct config *)base)->connect) {
			char host[256];
			uint16_t port;

			if (hostport_split(v, host, sizeof host, &port, 1) !=
			    E_OK)
				return fail(err, errlen,
				            "Error: invalid value for -%s: '%s' "
				            "(%s): expected host[:port]",
				            o->name, v, where);
		}
		l->v[l->n++] = xstrdup(v);
		return E_OK;
	}
	case OPT_DEBUG: {
		unsigned *m = (unsigned *)(base + o->off);

		if (neg) {
			*m = 0;
			return E_OK;
		}
		if (!v || !strcmp(v, "1") || !strcmp(v, "all")) {
			*m |= DEBUG_ALL;
			return E_OK;
		}
		if (!strcmp(v, "0")) {
			*m = 0;
			return E_OK;
		}
		for (int i = 0; i < LOG_CAT_MAX; i++)
			if (debug_names[i] && !strcmp(v, debug_names[i])) {
				*m |= 1u << i;
				return E_OK;
			}
		return fail(err, errlen,
		            "Error: invalid value for -debug: '%s' (%s): expected "
		            "net, rpc, dex, files, pow, 1 or all", v, where);
	}
	}
	return E_INVAL;
}

/* Split "name[=value]" (dashes already removed) and apply it.  from_file
 * refuses datadir/conf. */
static int apply_text(struct config *c, const char *s, bool from_file,
                      const char *where, char *err, size_t errlen)
{
	const char *eq = strchr(s, '=');
	size_t nlen = eq ? (size_t)(eq - s) : strlen(s);
	const char *v = eq ? eq + 1 : NULL;
	const struct opt *o = opt_find(s, nlen);
	bool neg = false;

	if (!o && nlen > 2 && s[0] == 'n' && s[1] == 'o') {
		o = opt_find(s + 2, nlen - 2);
		neg = o != NULL;
	}
	if (!o)
		return fail(err, errlen, "Error: unknown option -%.*s (%s)",
		            (int)nlen, s, where);
	if (from_file && o->kind == OPT_PATH)
		return fail(err, errlen,
		            "Error: -%s cannot be set in the configuration "
		            "file (%s)", o->name, where);
	return apply(c, o, v, neg, where, err, errlen);
}

/* "-x", "--x" -> "x"; NULL when arg is not an option. */
static const char *strip_dashes(const char *a)
{
	if (a[0] != '-')
		return NULL;
	a++;
	if (a[0] == '-')
		a++;
	return *a ? a : NULL;
}

static bool is_help(const char *a)
{
	const char *s = strip_dashes(a);

	return s && (!strcmp(s, "help") || !strcmp(s, "?") || !strcmp(s, "h"));
}

static void defaults(struct config *c)
{
	const char *home = getenv("HOME");
	size_t n;

	memset(c, 0, sizeof(*c));
	if (home && *home) {
		n = strlen(home) + sizeof("/.dexp2p");
		c->datadir = xmalloc(n);
		snprintf(c->datadir, n, "%s/.dexp2p", home);
	} else {
		c->datadir = xstrdup(".dexp2p");
	}
	c->conf = xstrdup("dexp2p.conf");
	c->port = 7770;
	c->listen = true;
	c->maxconnections = 125;
	c->rpcport = 7771;
	c->rpcuser = xstrdup("");
	c->rpcmaxconnections = 64;
	c->rpcservertimeout = 30;
	c->rpcmaxsubscriptions = 1000;
	c->rpcmaxclientsubscriptions = 100;
	c->rpcsubscriptionbuffer = 1024;
	c->dexp2p = 2;
	c->handle = xstrdup("");
	c->recvtaddr = xstrdup("");
	c->recvzaddr = xstrdup("");
	c->txpowbits = 12;
	c->purgetime = 3600;
	c->maxmem = (uint64_t)4096 << 20;
	c->bantime = 86400;
	c->maxinboundperip = 32;
	c->maxinboundpersubnet = 64;
}

static char *path_join(const char *dir, const char *name)
{
	size_t n;
	char *p;

	if (name[0] == '/')
		return xstrdup(name);
	n = strlen(dir) + 1 + strlen(name) + 1;
	p = xmalloc(n);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* Read and apply the conf file; a missing file is not an error. */
static int read_conf(struct config *c, const char *path, char *err,
                     size_t errlen)
{
	char line[CONF_MAX_LINE + 2];
	char where[64];
	size_t total = 0;
	int lineno = 0;
	int rc = E_OK;
	FILE *f;

	f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT)
			return E_OK;
		return fail(err, errlen,
		            "Error: cannot read configuration file %s: %s", path,
		            strerror(errno));
	}
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		char *s;

		lineno++;
		total += len;
		if (total > CONF_MAX_BYTES) {
			rc = fail(err, errlen, "Error: configuration file %s is "
			          "larger than %u bytes", path, CONF_MAX_BYTES);
			goto out;
		}
		if (len > CONF_MAX_LINE && line[len - 1] != '\n') {
			rc = fail(err, errlen, "Error: %s:%d: line longer than %d "
			          "bytes", path, lineno, CONF_MAX_LINE);
			goto out;
		}
		s = str_trim(line);
		if (!*s || *s == '#')
			continue;
		/* Tolerate a leading dash, as written on the command line. */
		if (s[0] == '-')
			s = (char *)strip_dashes(s);
		if (!s) {
			rc = fail(err, errlen, "Error: %s:%d: bad line", path,
			          lineno);
			goto out;
		}
		/* "name = value": trim around the '='. */
		{
			char *eq = strchr(s, '=');

			if (eq) {
				char *ne = eq;
				char *v = eq + 1;

				while (ne > s && (ne[-1] == ' ' || ne[-1] == '\t'))
					ne--;
				while (*v == ' ' || *v == '\t')
					v++;
				if (ne != eq || v != eq + 1) {
					*ne = '=';
					memmove(ne + 1, v, strlen(v) + 1);
				}
			}
		}
		snprintf(where, sizeof(where), "%.40s:%d",
		         strrchr(path, '/') ? strrchr(path, '/') + 1 : path,
		         lineno);
		rc = apply_text(c, s, true, where, err, errlen);
		if (rc != E_OK)
			goto out;
	}
	if (ferror(f))
		rc = fail(err, errlen, "Error: cannot read configuration file "
		          "%s", path);
out:
	fclose(f);
	return rc;
}

int config_parse(struct config *c, int argc, char **argv, bool *help,
                 char *err, size_t errlen)
{
	struct stat st;
	char *conf_path;
	int rc;

	defaults(c);
	if (help)
		*help = false;
	if (err && errlen)
		err[0] = '\0';

	/* Pass 1: help, datadir, conf, and argument shape. */
	for (int i = 1; i < argc; i++) {
		const char *s = strip_dashes(argv[i]);

		if (is_help(argv[i])) {
			if (help)
				*help = true;
			return E_OK;
		}
		if (!s)
			return fail(err, errlen, "Error: unexpected argument "
			            "'%s' (options are written -name=value)",
			            argv[i]);
		if (!strncmp(s, "datadir", 7) && (s[7] == '=' || !s[7])) {
			rc = apply_text(c, s, false, "command line", err, errlen);
			if (rc != E_OK)
				return rc;
		} else if (!strncmp(s, "conf", 4) && (s[4] == '=' || !s[4])) {
			rc = apply_text(c, s, false, "command line", err, errlen);
			if (rc != E_OK)
				return rc;
		}
	}
	if (!*c->datadir)
		return fail(err, errlen, "Error: -datadir must not be empty");
	if (!*c->conf)
		return fail(err, errlen, "Error: -conf must not be empty");

	/* Pass 2: the configuration file. */
	conf_path = path_join(c->datadir, c->conf);
	free(c->conf);
	c->conf = conf_path;
	rc = read_conf(c, c->conf, err, errlen);
	if (rc != E_OK)
		return rc;

	/* Pass 3: the command line overrides / appends. */
	for (int i = 1; i < argc; i++) {
		const char *s = strip_dashes(argv[i]);

		if ((!strncmp(s, "datadir", 7) && (s[7] == '=' || !s[7])) ||
		    (!strncmp(s, "conf", 4) && (s[4] == '=' || !s[4])))
			continue;
		rc = apply_text(c, s, false, "command line", err, errlen);
		if (rc != E_OK)
			return rc;
	}

	/* Pass 4: derived defaults and checks. */
	if (!c->dexkeyfile || !*c->dexkeyfile) {
		free(c->dexkeyfile);
		c->dexkeyfile = path_join(c->datadir, "dexp2p.key");
	}
	if (c->rpcbind.n == 0)
		c->rpcbind.v[c->rpcbind.n++] = xstrdup("127.0.0.1");
	if (c->filesdir) {
		if (stat(c->filesdir, &st) != 0 || !S_ISDIR(st.st_mode))
			return fail(err, errlen, "Error: -filesdir=%s is not an "
			            "existing directory", c->filesdir);
	}
	return E_OK;
}

static void strlist_fini(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	l->n = 0;
}

void config_fini(struct config *c)
{
	free(c->datadir);
	free(c->conf);
	strlist_fini(&c->addnode);
	strlist_fini(&c->connect);
	strlist_fini(&c->rpcbind);
	strlist_fini(&c->rpcallowip);
	free(c->rpcuser);
	free(c->rpcpassword);
	free(c->handle);
	free(c->recvtaddr);
	free(c->recvzaddr);
	free(c->filesdir);
	free(c->dexkeyfile);
	memset(c, 0, sizeof(*c));
}

const char *config_help(void)
{
	static char text[8192];
	size_t off;

	if (text[0])
		return text;
	off = (size_t)snprintf(text, sizeof(text),
	                       "Usage: dexp2pd [options]\n\n"
	                       "Options (-name=value or --name=value; boolean "
	                       "-name = 1, -noname = 0):\n");
	for (size_t i = 0; i < NOPTS && off < sizeof(text); i++) {
		char left[48];

		snprintf(left, sizeof(left), "-%s%s%s", opts[i].name,
		         opts[i].arg[0] ? "=" : "", opts[i].arg);
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		                        "  %-28s %s (default: %s)\n", left,
		                        opts[i].help, opts[i].def);
	}
	if (off < sizeof(text))
		snprintf(text + off, sizeof(text) - off,
		         "  %-28s %s\n", "-help, -?", "print this text and exit");
	return text;
}
