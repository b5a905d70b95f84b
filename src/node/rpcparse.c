/* rpcparse.c - pure helpers of the JSON-RPC server (rpcparse.h): body
 * pre-scan for number parameters, request checks, the exact serializer,
 * Basic credentials, allow-list matching, perfstats formatting.
 *
 * Owns no state; every returned buffer is malloc'd and freed by the
 * caller.  Inputs are untrusted bytes: every scan is bounded by its length.
 */
#include "node/rpcparse.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

/* ---- growable buffer ---- */

struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_reserve(struct sbuf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + more + 1)
		cap *= 2;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
}

static void sb_add(struct sbuf *b, const void *d, size_t n)
{
	sb_reserve(b, n);
	memcpy(b->p + b->len, d, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void sb_addc(struct sbuf *b, char c)
{
	sb_add(b, &c, 1);
}

static void sb_adds(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* ---- pre-scan ---- */

/* Length of a JSON number token at s (strict RFC 8259 grammar), 0 if the
 * text there is not one. */
static size_t json_number_len(const char *s, size_t n)
{
	size_t i = 0;

	if (i < n && s[i] == '-')
		i++;
	if (i >= n)
		return 0;
	if (s[i] == '0') {
		i++;
	} else if (s[i] >= '1' && s[i] <= '9') {
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	} else {
		return 0;
	}
	if (i < n && s[i] == '.') {
		size_t d = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return 0;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		size_t d = i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return 0;
	}
	return i;
}

/* Skip a string starting at s[0] == '"'; returns its length including
 * both quotes, or 0 if unterminated. */
static size_t json_string_len(const char *s, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return 0;
}

/* Does the string token s (n bytes, with quotes) decode to exactly the
 * ASCII text want? */
static bool key_equals(const char *s, size_t n, const char *want)
{
	size_t wl = strlen(want), k = 0;

	for (size_t i = 1; i + 1 < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '\\') {
			if (i + 1 >= n - 1)
				return false;
			char e = s[++i];
			if (e == 'u') {
				if (i + 4 >= n - 1)
					return false;
				int v = 0;
				for (int j = 1; j <= 4; j++) {
					int h = hex_digit((unsigned char)s[i + (size_t)j]);
					if (h < 0)
						return false;
					v = v * 16 + h;
				}
				i += 4;
				c = v;
			} else if (e == '/' || e == '"' || e == '\\') {
				c = e;
			} else {
				return false; /* \b \f \n \r \t: not in a key we want */
			}
		}
		if (k >= wl || c != (unsigned char)want[k])
			return false;
		k++;
	}
	return k == wl;
}

static bool is_word(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || c == '+' || c == '-' || c == '.';
}

enum ps_kind { PS_OTHER, PS_REQUEST, PS_TOPARRAY, PS_PARAMS };

struct ps_level {
	enum ps_kind kind;
	bool is_object;
	bool expect_key;   /* objects: next string is a key */
	bool key_params;   /* objects: the last key was "params" */
	bool key_id;       /* requests: the last key was "id" */
	bool has_id;       /* requests: the last "id" so far is a number */
	size_t id_off, id_len; /* requests: that number token in the body */
	size_t index;      /* requests: index in the top array (0 if top);
	                    * top array: commas seen so far */
};

/* A request object closes: record its number id, if it has one. */
static void ps_commit_id(struct rpc_rawids *ids, const struct ps_level *l)
{
	if (!ids || l->kind != PS_REQUEST || !l->has_id)
		return;
	ids->v = xrealloc(ids->v, (ids->n + 1) * sizeof *ids->v);
	ids->v[ids->n].req = l->index;
	ids->v[ids->n].off = l->id_off;
	ids->v[ids->n].len = l->id_len;
	ids->n++;
}

char *rpc_prescan_ex(const char *body, size_t len, size_t *outlen,
                     struct rpc_rawids *ids)
{
	struct ps_level st[RPC_PRESCAN_MAX_DEPTH];
	size_t depth = 0;  /* containers open */
	struct sbuf out = { 0 };
	size_t i = 0, copied = 0;

	if (ids) {
		ids->v = NULL;
		ids->n = 0;
	}
	sb_reserve(&out, len + 16);
	while (i < len) {
		char c = body[i];
		struct ps_level *top =
			depth && depth <= RPC_PRESCAN_MAX_DEPTH ? &st[depth - 1]
			                                        : NULL;
		if (c == '{' || c == '[') {
			enum ps_kind k = PS_OTHER;
			size_t index = 0;
			if (c == '{' && depth == 0) {
				k = PS_REQUEST;
			} else if (c == '{' && top && top->kind == PS_TOPARRAY) {
				k = PS_REQUEST;
				index = top->index;
			} else if (c == '[' && depth == 0) {
				k = PS_TOPARRAY;
			} else if (c == '[' && top && top->kind == PS_REQUEST &&
			           top->key_params && !top->expect_key) {
				k = PS_PARAMS;
			}
			if (depth < RPC_PRESCAN_MAX_DEPTH) {
				st[depth] = (struct ps_level){ 0 };
				st[depth].kind = k;
				st[depth].is_object = c == '{';
				st[depth].expect_key = c == '{';
				st[depth].index = index;
			}
			depth++;
			i++;
		} else if (c == '}' || c == ']') {
			if (top)
				ps_commit_id(ids, top);
			if (depth)
				depth--;
			i++;
		} else if (c == ',') {
			if (top && top->is_object)
				top->expect_key = true;
			if (top && top->kind == PS_TOPARRAY)
				top->index++;
			i++;
		} else if (c == ':') {
			if (top && top->is_object)
				top->expect_key = false;
			i++;
		} else if (c == '"') {
			size_t n = json_string_len(body + i, len - i);
			if (n == 0)
				break; /* unterminated: invalid anyway */
			if (top && top->is_object && top->expect_key) {
				top->key_params = key_equals(body + i, n, "params");
				top->key_id = top->kind == PS_REQUEST &&
				              key_equals(body + i, n, "id");
				if (top->key_id)
					top->has_id = false; /* a later "id" wins */
			}
			i += n;
		} else if (is_word(c)) {
			/* A literal or number runs to the next delimiter; it is
			 * rewritten only when the whole run is one JSON number
			 * ("01" or ".5" are not, and stay invalid). */
			size_t n = 1;
			while (i + n < len && is_word(body[i + n]))
				n++;
			bool num = json_number_len(body + i, n) == n;
			if (top && top->kind == PS_PARAMS && num) {
				sb_add(&out, body + copied, i - copied);
				sb_addc(&out, '"');
				sb_add(&out, body + i, n);
				sb_addc(&out, '"');
				copied = i + n;
			} else if (ids && top && top->kind == PS_REQUEST &&
			           top->key_id && !top->expect_key) {
				top->has_id = num;
				if (num) {
					top->id_off = i;
					top->id_len = n;
					sb_add(&out, body + copied, i - copied);
					sb_adds(&out, "null");
					copied = i + n;
				}
			}
			i += n;
		} else {
			i++;
		}
	}
	sb_add(&out, body + copied, len - copied);
	*outlen = out.len;
	return out.p;
}

char *rpc_prescan(const char *body, size_t len, size_t *outlen)
{
	return rpc_prescan_ex(body, len, outlen, NULL);
}

void rpc_rawids_free(struct rpc_rawids *ids)
{
	if (!ids)
		return;
	free(ids->v);
	ids->v = NULL;
	ids->n = 0;
}

/* ---- request checks ---- */

int rpc_request_check(const json_t *req, const char **method,
                      size_t *method_len, const json_t **params,
                      const char **msg)
{
	const json_t *m = json_object_get(req, "method");
	const json_t *p = json_object_get(req, "params");

	if (!m) {
		*msg = "Missing method";
		return -32600;
	}
	if (!json_is_string(m)) {
		*msg = "Method must be a string";
		return -32600;
	}
	if (p && !json_is_null(p) && !json_is_array(p)) {
		*msg = "Params must be an array";
		return -32600;
	}
	*method = json_string_value(m);
	*method_len = json_string_length(m);
	*params = p && json_is_array(p) ? p : NULL;
	return 0;
}

int rpc_param_text(const json_t *v, char buf[64], const char **s,
                   size_t *len)
{
	if (json_is_string(v)) {
		*s = json_string_value(v);
		*len = json_string_length(v);
		return 0;
	}
	if (json_is_null(v)) {
		*s = "";
		*len = 0;
		return 0;
	}
	if (json_is_integer(v)) {
		snprintf(buf, 64, "%lld", (long long)json_integer_value(v));
	} else if (json_is_real(v)) {
		snprintf(buf, 64, "%.17g", json_real_value(v));
	} else {
		return -3;
	}
	*s = buf;
	*len = strlen(buf);
	return 0;
}

/* ---- serializer ---- */

static void dump_string(struct sbuf *b, const uint8_t *d, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	size_t i = 0;

	sb_addc(b, '"');
	while (i < n) {
		uint8_t c = d[i];
		char esc[7] = { '\\', 'u', '0', '0', hx[c >> 4], hx[c & 15], 0 };
		switch (c) {
		case '"': sb_add(b, "\\\"", 2); i++; continue;
		case '\\': sb_add(b, "\\\\", 2); i++; continue;
		case '\b': sb_add(b, "\\b", 2); i++; continue;
		case '\f': sb_add(b, "\\f", 2); i++; continue;
		case '\n': sb_add(b, "\\n", 2); i++; continue;
		case '\r': sb_add(b, "\\r", 2); i++; continue;
		case '\t': sb_add(b, "\\t", 2); i++; continue;
		default: break;
		}
		if (c < 0x20 || c == 0x7f) {
			sb_add(b, esc, 6);
			i++;
			continue;
		}
		size_t k = utf8_seq_len(d + i, n - i);
		if (k == 0) {
			sb_add(b, esc, 6); /* Latin-1 code point of the byte */
			i++;
		} else {
			sb_add(b, d + i, k);
			i += k;
		}
	}
	sb_addc(b, '"');
}

static void dump_value(struct sbuf *b, const json_t *v)
{
	char num[64];

	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *val;
		bool first = true;
		sb_addc(b, '{');
		json_object_foreach((json_t *)v, key, val) {
			if (!first)
				sb_addc(b, ',');
			first = false;
			dump_string(b, (const uint8_t *)key, strlen(key));
			sb_addc(b, ':');
			dump_value(b, val);
		}
		sb_addc(b, '}');
		break;
	}
	case JSON_ARRAY:
		sb_addc(b, '[');
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (i)
				sb_addc(b, ',');
			dump_value(b, json_array_get(v, i));
		}
		sb_addc(b, ']');
		break;
	case JSON_STRING:
		dump_string(b, (const uint8_t *)json_string_value(v),
		            json_string_length(v));
		break;
	case JSON_INTEGER:
		snprintf(num, sizeof num, "%lld",
		         (long long)json_integer_value(v));
		sb_adds(b, num);
		break;
	case JSON_REAL: {
		/* Plain decimals, never an exponent: pingtime 0.000088 rather
		 * than 8.8e-05.  12 decimals then trailing zeros trimmed, at
		 * least one kept (rate 0.0).  Magnitudes beyond 1e15 keep %g. */
		double x = json_real_value(v);
		if (x > -1e15 && x < 1e15) {
			size_t k;
			snprintf(num, sizeof num, "%.12f", x);
			k = strlen(num);
			while (k > 1 && num[k - 1] == '0' && num[k - 2] != '.')
				num[--k] = '\0';
			if (!strcmp(num, "-0.0"))
				strcpy(num, "0.0");
		} else {
			snprintf(num, sizeof num, "%.15g", x);
		}
		sb_adds(b, num);
		break;
	}
	case JSON_TRUE:
		sb_adds(b, "true");
		break;
	case JSON_FALSE:
		sb_adds(b, "false");
		break;
	case JSON_NULL:
	default:
		sb_adds(b, "null");
		break;
	}
}

char *rpc_dump(const json_t *v, size_t *outlen)
{
	struct sbuf b = { 0 };

	sb_reserve(&b, 64);
	if (v)
		dump_value(&b, v);
	else
		sb_adds(&b, "null");
	*outlen = b.len;
	return b.p;
}

/* ---- Basic credentials ---- */

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

bool rpc_basic_decode(const char *hdr, uint8_t *out, size_t cap,
                      size_t *outlen)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;
	const char *p;

	if (!hdr || strncasecmp(hdr, "Basic ", 6) != 0)
		return false;
	p = hdr + 6;
	while (*p == ' ')
		p++;
	for (; *p && *p != '=' && *p != ' '; p++) {
		int v = b64val(*p);
		if (v < 0)
			return false;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= cap)
				return false;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	while (*p == '=')
		p++;
	while (*p == ' ')
		p++;
	if (*p)
		return false;
	*outlen = n;
	return true;
}

/* ---- allow list ---- */

static bool addr16(const char *s, uint8_t out[16], bool *v4)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, s, &a4) == 1) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a4, 4);
		*v4 = true;
		return true;
	}
	if (inet_pton(AF_INET6, s, &a6) == 1) {
		memcpy(out, &a6, 16);
		*v4 = false;
		return true;
	}
	return false;
}

static void prefix_mask(uint8_t mask[16], unsigned bits)
{
	memset(mask, 0, 16);
	for (unsigned i = 0; i < 16 && bits; i++) {
		unsigned b = bits >= 8 ? 8 : bits;
		mask[i] = (uint8_t)(0xff00 >> b);
		bits -= b;
	}
}

bool rpc_allow_parse(const char *s, struct rpc_allow *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	bool v4, mv4;

	if (hl == 0 || hl >= sizeof host)
		return false;
	memcpy(host, s, hl);
	host[hl] = 0;
	if (!addr16(host, out->addr, &v4))
		return false;
	if (!slash) {
		memset(out->mask, 0xff, 16);
		return true;
	}
	slash++;
	if (v4 && strchr(slash, '.')) {
		uint8_t m[16];
		if (!addr16(slash, m, &mv4) || !mv4)
			return false;
		memset(out->mask, 0xff, 12);
		memcpy(out->mask + 12, m + 12, 4);
	} else {
		int64_t bits;
		if (parse_int64(slash, &bits) != 0 || bits < 0 ||
		    bits > (v4 ? 32 : 128))
			return false;
		prefix_mask(out->mask, (unsigned)(v4 ? bits + 96 : bits));
	}
	for (int i = 0; i < 16; i++)
		out->addr[i] &= out->mask[i];
	return true;
}

bool rpc_allow_match(const struct rpc_allow *list, size_t n,
                     const char *addr)
{
	static const uint8_t lo4[16] = { [10] = 0xff, [11] = 0xff, [12] = 127,
	                                 [15] = 1 };
	static const uint8_t lo6[16] = { [15] = 1 };
	uint8_t a[16];
	bool v4;

	if (!addr || !addr16(addr, a, &v4))
		return false;
	if (!memcmp(a, lo4, 16) || !memcmp(a, lo6, 16))
		return true;
	for (size_t k = 0; k < n; k++) {
		bool ok = true;
		for (int i = 0; i < 16 && ok; i++)
			ok = (a[i] & list[k].mask[i]) == list[k].addr[i];
		if (ok)
			return true;
	}
	return false;
}

/* ---- perfstats ---- */

void perfstats_format(char *out, size_t cap, const struct perfstats_in *p)
{
	size_t n;
	int w;

	w = snprintf(out, cap,
	             "RAM.%llu %08x R.%llu S.%llu A.%llu dup.%llu | L.%llu "
	             "A.%llu coll.%llu | lag (%.4f %.4f %.4f) err.0 pend.%llu "
	             "T/F %llu/%llu | ",
	             (unsigned long long)p->ram, p->idxor,
	             (unsigned long long)p->received,
	             (unsigned long long)p->sent,
	             (unsigned long long)p->added,
	             (unsigned long long)p->duplicates,
	             (unsigned long long)p->ann_examined,
	             (unsigned long long)p->fetch_sent,
	             (unsigned long long)p->fetch_retried, p->lag[0],
	             p->lag[1], p->lag[2], (unsigned long long)p->pending,
	             (unsigned long long)p->expired,
	             (unsigned long long)p->freed);
	if (w < 0 || (size_t)w >= cap)
		return;
	n = (size_t)w;
	for (int i = 13; i >= 0; i--) {
		w = snprintf(out + n, cap - n, "%llu ",
		             (unsigned long long)p->by_priority[i]);
		if (w < 0 || (size_t)w >= cap - n)
			return;
		n += (size_t)w;
	}
	snprintf(out + n, cap - n, "%s %llu/sec", p->overloaded ? "LAG" : "",
	         (unsigned long long)p->rate_floor);
}
