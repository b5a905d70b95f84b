/* cli.c - dexp2p-cli (API.md 6.4): send one JSON-RPC 1.0 request to the
 * local dexp2pd and print the result.
 *
 * Owns nothing beyond one request.  Options come before the method name
 * only; every argument after it is sent as a JSON string.  Credentials:
 * -rpcpassword (command line or dexp2p.conf) with -rpcuser, else the
 * <datadir>/.cookie file.  The HTTP/1.1 client is a plain blocking socket:
 * one POST / with Content-Length and "Connection: close", then the whole
 * answer is read (Content-Length, chunked, or up to EOF) with no time limit,
 * since file methods can run for minutes.
 *
 * Parameters and the method name are C strings from argv; JSON strings
 * must be UTF-8 (jansson refuses anything else, and so does the server's
 * parser), so bytes that are not valid UTF-8 are mapped to the code point
 * of the same value (U+0080..U+00FF, utf8_sanitize()).  Valid UTF-8 is sent
 * unchanged.
 */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <jansson.h>

#include "core/err.h"
#include "core/util.h"

#define CLI_DEFAULT_PORT "7771"
#define CLI_DEFAULT_HOST "127.0.0.1"
#define CLI_COOKIE_MAX 1024
#define CLI_CONF_LINE 4096
#define CLI_HEADER_MAX (64 * 1024)          /* response head cap */
#define CLI_BODY_MAX (1024ULL * 1024 * 1024) /* response body cap: 1 GiB */

struct cli_opts {
	char *datadir;
	char *conf;
	char *rpcconnect;
	char *rpcport;
	char *rpcuser;
	char *rpcpassword;
};

static const char usage_text[] =
	"Usage: dexp2p-cli [options] <method> [param ...]\n"
	"       dexp2p-cli [options] events [name=value ...]\n"
	"\n"
	"Sends one JSON-RPC request to dexp2pd; every param is sent as a "
	"string.\n"
	"`events` follows GET /events (filters tagA, tagB, pubkey33, "
	"minpriority,\nminA, maxA, minB, maxB, since) and prints each event "
	"as one line,\n\"<event> <data>\", until the stream ends or Ctrl-C.\n"
	"Options (before the method, -name=value or --name=value):\n"
	"  -datadir=<dir>      data directory with dexp2p.conf and .cookie "
	"(default: $HOME/.dexp2p)\n"
	"  -conf=<file>        configuration file, relative to the data "
	"directory (default: dexp2p.conf)\n"
	"  -rpcconnect=<host>  daemon address (default: 127.0.0.1)\n"
	"  -rpcport=<n>        daemon RPC port (default: 7771)\n"
	"  -rpcuser=<user>     RPC user name (default: \"\")\n"
	"  -rpcpassword=<pw>   RPC password (default: the .cookie file)\n"
	"  -help, -?           print this text\n"
	"\n"
	"Example: dexp2p-cli help\n";

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
                                                     noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void set(char **slot, const char *v)
{
	free(*slot);
	*slot = xstrdup(v);
}

/* "-name=value" -> applies to o; returns false for an unknown name. */
static bool apply_opt(struct cli_opts *o, const char *name, size_t nlen,
                      const char *v)
{
	static const struct { const char *name; size_t off; } tab[] = {
		{ "datadir", offsetof(struct cli_opts, datadir) },
		{ "conf", offsetof(struct cli_opts, conf) },
		{ "rpcconnect", offsetof(struct cli_opts, rpcconnect) },
		{ "rpcport", offsetof(struct cli_opts, rpcport) },
		{ "rpcuser", offsetof(struct cli_opts, rpcuser) },
		{ "rpcpassword", offsetof(struct cli_opts, rpcpassword) },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strlen(tab[i].name) == nlen &&
		    !memcmp(tab[i].name, name, nlen)) {
			set((char **)((char *)o + tab[i].off), v);
			return true;
		}
	return false;
}

/* Read rpcuser, rpcpassword, rpcport, rpcconnect from the conf file into
 * o where the command line did not set them.  Other lines are ignored (they
 * are the daemon's); a missing file is fine. */
static void read_conf(struct cli_opts *o, const struct cli_opts *cmd,
                      const char *path)
{
	static const char *const keys[] = {
		"rpcuser", "rpcpassword", "rpcport", "rpcconnect",
	};
	char line[CLI_CONF_LINE];
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *s = str_trim(line), *eq, *name, *v;

		if (!*s || *s == '#')
			continue;
		while (*s == '-')
			s++;
		eq = strchr(s, '=');
		if (!eq)
			continue;
		*eq = '\0';
		name = str_trim(s);
		v = str_trim(eq + 1);
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (strcmp(name, keys[i]))
				continue;
			/* Command line overrides the file. */
			if ((i == 0 && cmd->rpcuser) ||
			    (i == 1 && cmd->rpcpassword) ||
			    (i == 2 && cmd->rpcport) ||
			    (i == 3 && cmd->rpcconnect))
				break;
			apply_opt(o, name, strlen(name), v);
		}
	}
	fclose(f);
}

static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = xmalloc(n);

	if (name[0] == '/')
		snprintf(p, n, "%s", name);
	else
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static char *base64(const uint8_t *d, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = xmalloc(4 * ((n + 2) / 3) + 1), *p = out;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)d[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)d[i + 1] << 8;
		if (i + 2 < n)
			v |= d[i + 2];
		*p++ = tab[(v >> 18) & 63];
		*p++ = tab[(v >> 12) & 63];
		*p++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		*p++ = i + 2 < n ? tab[v & 63] : '=';
	}
	*p = '\0';
	return out;
}

/* A JSON string of argv bytes (see the file header). */
static json_t *arg_string(const char *s)
{
	size_t n;
	char *t = utf8_sanitize((const uint8_t *)s, strlen(s), &n);
	json_t *j = json_stringn(t, n);

	free(t);
	if (!j)
		die("error: cannot encode parameter");
	return j;
}

static int connect_to(const char *host, const char *port)
{
	struct addrinfo hints, *res = NULL, *ai;
	char h[256];
	size_t hl = strlen(host);
	int fd = -1;

	/* "[::1]" -> "::1" */
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']' &&
	    hl - 2 < sizeof(h)) {
		memcpy(h, host + 1, hl - 2);
		h[hl - 2] = '\0';
		host = h;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		            ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static bool write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		p += k;
		n -= (size_t)k;
	}
	return true;
}

struct buf {
	char *d;
	size_t n, cap;
};

static void buf_add(struct buf *b, const char *p, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		while (b->n + n + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 65536;
		b->d = xrealloc(b->d, b->cap);
	}
	memcpy(b->d + b->n, p, n);
	b->n += n;
	b->d[b->n] = '\0';
}

/* Read everything until EOF (the server closes: Connection: close) or
 * until the declared body is complete. */
static bool read_response(int fd, struct buf *b)
{
	char chunk[65536];

	for (;;) {
		ssize_t k = recv(fd, chunk, sizeof(chunk), 0);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return false;
		if (k == 0)
			return true;
		if (b->n + (size_t)k > CLI_BODY_MAX + CLI_HEADER_MAX)
			return false;
		buf_add(b, chunk, (size_t)k);
	}
}

static const char *find_header(const char *head, size_t hlen,
                               const char *name)
{
	size_t nl = strlen(name);

	for (const char *p = head; p && p < head + hlen;) {
		const char *eol = memchr(p, '\n', (size_t)(head + hlen - p));

		if ((size_t)(head + hlen - p) > nl && !strncasecmp(p, name, nl) &&
		    p[nl] == ':')
			return p + nl + 1;
		p = eol ? eol + 1 : NULL;
	}
	return NULL;
}

/* Decode a chunked body in place; returns false when malformed. */
static bool dechunk(char *body, size_t len, size_t *outlen)
{
	size_t in = 0, out = 0;

	for (;;) {
		char *end;
		unsigned long long sz;

		if (in >= len)
			return false;
		sz = strtoull(body + in, &end, 16);
		if (end == body + in)
			return false;
		end = memchr(body + in, '\n', len - in);
		if (!end)
			return false;
		in = (size_t)(end - body) + 1;
		if (sz == 0)
			break;
		if (sz > len - in)
			return false;
		memmove(body + out, body + in, (size_t)sz);
		out += (size_t)sz;
		in += (size_t)sz;
		if (in < len && body[in] == '\r')
			in++;
		if (in < len && body[in] == '\n')
			in++;
	}
	*outlen = out;
	return true;
}

/* ---- `events`: follow GET /events ---- */

static void url_encode(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char e[3];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~') {
			buf_add(b, (const char *)&c, 1);
			continue;
		}
		e[0] = '%';
		e[1] = hex[c >> 4];
		e[2] = hex[c & 15];
		buf_add(b, e, 3);
	}
}

/* One complete SSE line (without its newline): print "<event> <data>"
 * when a data line ends an event's fields; ignore comments, id, retry. */
static void sse_line(const char *line, size_t n, char *event, size_t cap,
                     bool *overflowed)
{
	if (n > 7 && !strncmp(line, "event: ", 7)) {
		size_t k = n - 7 < cap - 1 ? n - 7 : cap - 1;
		memcpy(event, line + 7, k);
		event[k] = '\0';
	} else if (n >= 6 && !strncmp(line, "data: ", 6)) {
		printf("%s ", event[0] ? event : "message");
		fwrite(line + 6, 1, n - 6, stdout);
		fputc('\n', stdout);
		fflush(stdout);
		if (!strcmp(event, "overflow"))
			*overflowed = true;
	} else if (n == 0) {
		event[0] = '\0';
	}
}

/* GET /events?<args> over HTTP/1.0 (no chunking: the stream is the body
 * up to EOF); returns the exit status. */
static int follow_events(const struct cli_opts *o, const char *auth_b64,
                         char **args, int nargs)
{
	struct buf path = { 0 }, in = { 0 };
	char *request, event[64] = "";
	bool head_done = false, overflowed = false;
	size_t done = 0;
	int fd, status = 0;

	buf_add(&path, "/events", 7);
	for (int k = 0; k < nargs; k++) {
		const char *eq = strchr(args[k], '=');
		if (!eq)
			die("error: events arguments are name=value (got %s)",
			    args[k]);
		buf_add(&path, k ? "&" : "?", 1);
		url_encode(&path, args[k], (size_t)(eq - args[k]));
		buf_add(&path, "=", 1);
		url_encode(&path, eq + 1, strlen(eq + 1));
	}
	{
		const char *fmt = "GET %s HTTP/1.0\r\n"
		                  "Host: %s:%s\r\n"
		                  "Authorization: Basic %s\r\n"
		                  "Accept: text/event-stream\r\n"
		                  "\r\n";
		int n = snprintf(NULL, 0, fmt, path.d, o->rpcconnect, o->rpcport,
		                 auth_b64);
		request = xmalloc((size_t)n + 1);
		snprintf(request, (size_t)n + 1, fmt, path.d, o->rpcconnect,
		         o->rpcport, auth_b64);
	}
	free(path.d);
	fd = connect_to(o->rpcconnect, o->rpcport);
	if (fd < 0 || !write_all(fd, request, strlen(request)))
		die("error: couldn't connect to server");
	free(request);
	for (;;) {
		char chunk[65536];
		ssize_t k = recv(fd, chunk, sizeof chunk, 0);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		buf_add(&in, chunk, (size_t)k);
		if (!head_done) {
			char *hend = strstr(in.d, "\r\n\r\n");
			if (!hend) {
				if (in.n > CLI_HEADER_MAX)
					die("error: no response from server");
				continue;
			}
			if (in.n < 12 || strncmp(in.d, "HTTP/1.", 7) ||
			    sscanf(in.d + 8, " %d", &status) != 1)
				die("error: no response from server");
			head_done = true;
			done = (size_t)(hend - in.d) + 4;
			if (status == 401)
				die("error: incorrect rpcuser or rpcpassword "
				    "(authorization failed)");
		}
		if (status != 200)
			continue; /* the error text, read to EOF */
		/* every complete line */
		for (;;) {
			char *nl = memchr(in.d + done, '\n', in.n - done);
			size_t len;
			if (!nl)
				break;
			len = (size_t)(nl - (in.d + done));
			if (len && in.d[done + len - 1] == '\r')
				len--;
			sse_line(in.d + done, len, event, sizeof event,
			         &overflowed);
			done = (size_t)(nl - in.d) + 1;
		}
		if (done > 65536) { /* keep the buffer small */
			memmove(in.d, in.d + done, in.n - done);
			in.n -= done;
			in.d[in.n] = '\0';
			done = 0;
		}
	}
	close(fd);
	if (!head_done)
		die("error: no response from server");
	if (status != 200) {
		fprintf(stderr, "error: server returned HTTP status %d: ",
		        status);
		fwrite(in.d + done, 1, in.n - done, stderr);
		free(in.d);
		return 1;
	}
	free(in.d);
	return overflowed ? 1 : 0;
}

static void print_result(json_t *result)
{
	char *s;

	if (!result || json_is_null(result))
		return;
	if (json_is_string(result)) {
		fwrite(json_string_value(result), 1, json_string_length(result),
		       stdout);
		fputc('\n', stdout);
		return;
	}
	/* 15 significant digits: decimals the daemon prints (0.000214,
	 * 0.0) come back as written instead of their 17-digit binary
	 * expansion. */
	s = json_dumps(result, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
	               JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
	if (!s)
		die("error: cannot print the result");
	fputs(s, stdout);
	fputc('\n', stdout);
	free(s);
}

int main(int argc, char **argv)
{
	struct cli_opts cmd = { 0 }, o = { 0 };
	json_t *req, *params, *resp, *err, *result;
	struct buf rb = { 0 };
	json_error_t jerr;
	char *body, *auth_b64, *cred = NULL, *conf_path, *request;
	const char *home = getenv("HOME");
	size_t body_len, hlen, cred_len;
	char *hend;
	int i, fd, status;

	/* Options, before the method only. */
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *eq;

		if (a[0] != '-' || a[1] == '\0')
			break;
		a += a[1] == '-' ? 2 : 1;
		if (!strcmp(a, "help") || !strcmp(a, "?") || !strcmp(a, "h")) {
			fputs(usage_text, stdout);
			return 0;
		}
		eq = strchr(a, '=');
		if (!eq || !apply_opt(&cmd, a, (size_t)(eq - a), eq + 1)) {
			fprintf(stderr, "error: unknown option %s\n\n%s", argv[i],
			        usage_text);
			return 1;
		}
	}
	if (i >= argc) {
		fputs(usage_text, stderr);
		return 1;
	}

	/* Effective settings: defaults < conf file < command line. */
	if (cmd.datadir)
		set(&o.datadir, cmd.datadir);
	else if (home && *home)
		o.datadir = path_join(home, ".dexp2p");
	else
		set(&o.datadir, ".dexp2p");
	conf_path = path_join(o.datadir, cmd.conf ? cmd.conf : "dexp2p.conf");
	read_conf(&o, &cmd, conf_path);
	free(conf_path);
	if (cmd.rpcconnect)
		set(&o.rpcconnect, cmd.rpcconnect);
	if (cmd.rpcport)
		set(&o.rpcport, cmd.rpcport);
	if (cmd.rpcuser)
		set(&o.rpcuser, cmd.rpcuser);
	if (cmd.rpcpassword)
		set(&o.rpcpassword, cmd.rpcpassword);
	if (!o.rpcconnect)
		set(&o.rpcconnect, CLI_DEFAULT_HOST);
	if (!o.rpcport)
		set(&o.rpcport, CLI_DEFAULT_PORT);

	/* Credentials: a password, else the cookie. */
	if (o.rpcpassword && *o.rpcpassword) {
		const char *u = o.rpcuser ? o.rpcuser : "";

		cred_len = strlen(u) + 1 + strlen(o.rpcpassword);
		cred = xmalloc(cred_len + 1);
		snprintf(cred, cred_len + 1, "%s:%s", u, o.rpcpassword);
	} else {
		char *cookie_path = path_join(o.datadir, ".cookie");
		FILE *f = fopen(cookie_path, "r");

		if (f) {
			cred = xmalloc(CLI_COOKIE_MAX + 1);
			cred_len = fread(cred, 1, CLI_COOKIE_MAX, f);
			cred[cred_len] = '\0';
			fclose(f);
			while (cred_len && (cred[cred_len - 1] == '\n' ||
			                    cred[cred_len - 1] == '\r'))
				cred[--cred_len] = '\0';
		}
		free(cookie_path);
		if (!f)
			die("error: no RPC credentials (no rpcpassword and no "
			    "%s/.cookie)", o.datadir);
	}
	auth_b64 = base64((const uint8_t *)cred, strlen(cred));
	if (!strcmp(argv[i], "events")) {
		int rc = follow_events(&o, auth_b64, argv + i + 1,
		                       argc - i - 1);
		free(auth_b64);
		free(cred);
		return rc;
	}

	/* The request: {"jsonrpc":"1.0","id":"dexp2p-cli","method":..,
	 * "params":[..]} in this key order. */
	req = json_object();
	params = json_array();
	json_object_set_new(req, "jsonrpc", json_string("1.0"));
	json_object_set_new(req, "id", json_string("dexp2p-cli"));
	json_object_set_new(req, "method", arg_string(argv[i]));
	for (int k = i + 1; k < argc; k++)
		json_array_append_new(params, arg_string(argv[k]));
	json_object_set_new(req, "params", params);
	body = json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(req);
	if (!body)
		die("error: cannot encode the request");
	body_len = strlen(body);
	{
		const char *fmt = "POST / HTTP/1.1\r\n"
		                  "Host: %s:%s\r\n"
		                  "Authorization: Basic %s\r\n"
		                  "Content-Type: application/json\r\n"
		                  "Content-Length: %zu\r\n"
		                  "Connection: close\r\n"
		                  "\r\n";
		int n = snprintf(NULL, 0, fmt, o.rpcconnect, o.rpcport, auth_b64,
		                 body_len);

		request = xmalloc((size_t)n + 1);
		snprintf(request, (size_t)n + 1, fmt, o.rpcconnect, o.rpcport,
		         auth_b64, body_len);
	}

	fd = connect_to(o.rpcconnect, o.rpcport);
	if (fd < 0)
		die("error: couldn't connect to server");
	if (!write_all(fd, request, strlen(request)) ||
	    !write_all(fd, body, body_len) || !read_response(fd, &rb)) {
		close(fd);
		die("error: couldn't connect to server");
	}
	close(fd);
	free(request);
	free(body);
	free(auth_b64);
	free(cred);

	/* Status line and head. */
	if (rb.n < 12 || strncmp(rb.d, "HTTP/1.", 7) ||
	    sscanf(rb.d + 8, " %d", &status) != 1)
		die("error: no response from server");
	if (status == 401)
		die("error: incorrect rpcuser or rpcpassword (authorization "
		    "failed)");
	if (status != 200 && status != 500)
		die("error: server returned HTTP status %d", status);
	hend = strstr(rb.d, "\r\n\r\n");
	if (!hend)
		die("error: no response from server");
	hlen = (size_t)(hend - rb.d) + 4;
	body = rb.d + hlen;
	body_len = rb.n - hlen;
	{
		const char *te = find_header(rb.d, hlen, "Transfer-Encoding");
		const char *cl = find_header(rb.d, hlen, "Content-Length");

		if (te && strstr(te, "chunked") &&
		    strstr(te, "chunked") < strchr(te, '\n')) {
			if (!dechunk(body, body_len, &body_len))
				die("error: malformed response from server");
		} else if (cl) {
			unsigned long long want = strtoull(cl, NULL, 10);

			if (want < body_len)
				body_len = (size_t)want;
		}
	}

	resp = json_loadb(body, body_len, JSON_ALLOW_NUL, &jerr);
	if (!resp || !json_is_object(resp))
		die("error: couldn't parse reply from server");
	err = json_object_get(resp, "error");
	result = json_object_get(resp, "result");
	if (err && !json_is_null(err)) {
		json_t *code = json_object_get(err, "code");
		json_t *msg = json_object_get(err, "message");

		fprintf(stderr, "error code: %lld\nerror message:\n",
		        code ? (long long)json_integer_value(code) : 0LL);
		if (json_is_string(msg))
			fwrite(json_string_value(msg), 1,
			       json_string_length(msg), stderr);
		fputc('\n', stderr);
		return 1;
	}
	if (status != 200)
		die("error: server returned HTTP status %d", status);
	print_result(result);
	fflush(stdout);
	json_decref(resp);
	free(rb.d);
	free(o.datadir); free(o.conf); free(o.rpcconnect); free(o.rpcport);
	free(o.rpcuser); free(o.rpcpassword);
	free(cmd.datadir); free(cmd.conf); free(cmd.rpcconnect);
	free(cmd.rpcport); free(cmd.rpcuser); free(cmd.rpcpassword);
	return 0;
}
