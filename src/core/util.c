/* util.c - pure helpers (util.h): checked allocation, hex, strict integer
 * and amount parsing (API.md 3.2), payload input/rendering (API.md C.1,
 * C.2) and UTF-8 sanitising for JSON strings (API.md 3.4).
 *
 * Owns no state.  Every returned buffer is malloc'd and freed by the caller.
 * No floating point anywhere: amounts are converted digit by digit.
 */
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define AMOUNT_TEXT_MAX 64 /* API.md 3.2: at most 64 characters */
#define U64_DIGITS_SAFE 19 /* any 19-digit decimal fits a u64 */

static void oom(void)
{
	fputs("dexp2p: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom();
	return q;
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = xmalloc(n);
	memcpy(p, s, n);
	return p;
}

/* ---- strings ---- */

char *str_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
	                 e[-1] == '\n'))
		*--e = '\0';
	return s;
}

int hostport_split(const char *s, char *host, size_t hostcap,
                   uint16_t *port, uint16_t def_port)
{
	const char *h = s, *ps = NULL, *c;
	size_t hl;
	bool v6 = false;

	if (!s || !*s)
		return E_PARSE;
	if (s[0] == '[') {
		const char *e = strchr(s, ']');

		if (!e)
			return E_PARSE;
		h = s + 1;
		hl = (size_t)(e - h);
		v6 = true;
		if (e[1] == ':')
			ps = e + 2;
		else if (e[1])
			return E_PARSE;
	} else {
		c = strchr(s, ':');
		if (c && strchr(c + 1, ':'))
			return E_PARSE; /* bare IPv6 needs brackets */
		hl = c ? (size_t)(c - s) : strlen(s);
		ps = c ? c + 1 : NULL;
	}
	if (hl == 0 || hl >= hostcap)
		return E_PARSE;
	for (size_t i = 0; i < hl; i++) {
		unsigned char ch = (unsigned char)h[i];
		bool ok = v6 ? (hex_digit(ch) >= 0 || ch == ':' || ch == '.')
		             : ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		                (ch >= '0' && ch <= '9') || ch == '-' ||
		                ch == '.' || ch == '_');
		if (!ok)
			return E_PARSE;
	}
	*port = def_port;
	if (ps) {
		uint32_t v = 0;
		size_t i;

		for (i = 0; ps[i] >= '0' && ps[i] <= '9' && i < 6; i++)
			v = v * 10 + (uint32_t)(ps[i] - '0');
		if (i == 0 || ps[i] || v == 0 || v > 65535)
			return E_PARSE;
		*port = (uint16_t)v;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	return E_OK;
}

/* ---- hex ---- */

int hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void hex_encode(char *out, const uint8_t *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

bool hex_decode(uint8_t *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hex_digit((unsigned char)s[2 * i]);
		int lo = hex_digit((unsigned char)s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

bool is_hex(const char *s, size_t len)
{
	if (!s || len == 0 || (len & 1))
		return false;
	for (size_t i = 0; i < len; i++)
		if (hex_digit((unsigned char)s[i]) < 0)
			return false;
	return true;
}

/* ---- integers ---- */

int parse_int64(const char *s, int64_t *out)
{
	const char *p = s;
	bool neg = false;
	uint64_t v = 0;
	size_t nd = 0;

	if (!s)
		return E_PARSE;
	if (*p == '-') {
		neg = true;
		p++;
	}
	for (; *p; p++, nd++) {
		if (*p < '0' || *p > '9' || nd >= 20)
			return E_PARSE;
	}
	if (nd == 0)
		return E_PARSE;
	/* 20 digits may exceed u64: accumulate with an overflow check. */
	for (p = s + neg; *p; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return E_RANGE;
		v = v * 10 + d;
	}
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return E_RANGE;
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	} else {
		if (v > (uint64_t)INT64_MAX)
			return E_RANGE;
		*out = (int64_t)v;
	}
	return E_OK;
}

int parse_u32(const char *s, uint32_t *out)
{
	int64_t v;
	int rc = parse_int64(s, &v);
	if (rc != E_OK)
		return rc;
	if (v < 0 || v > (int64_t)UINT32_MAX)
		return E_RANGE;
	*out = (uint32_t)v;
	return E_OK;
}

/* ---- amounts ---- */

/* Exact conversion.  The text is split into its significant digits D (the
 * integer and fraction digits with leading zeros removed, n of them) and a
 * power of ten k such that satoshis = D * 10^k: k = exponent - fraction
 * digits + 8.  For k >= 0 the result has n + k digits, and more than 19
 * digits is >= 10^19 > 2^63, so the range test needs no wide arithmetic.
 * For k < 0 the last -k digits are dropped and decide the rounding: up only
 * when they are more than half (first dropped digit > 5, or 5 followed by
 * any non-zero digit); an exact half rounds down (API.md 3.2). */
int parse_amount(const char *s, uint64_t *sats)
{
	char dig[AMOUNT_TEXT_MAX + 1];
	size_t n = 0, nint = 0, nfrac = 0, len;
	const char *p = s;
	long exp = 0;
	bool exp_neg = false;
	long k;
	uint64_t v = 0;

	if (!s)
		return E_PARSE;
	if (s[0] == '-')
		return E_NEGATIVE;
	len = strlen(s);
	if (len == 0 || len > AMOUNT_TEXT_MAX)
		return E_PARSE;

	for (; *p >= '0' && *p <= '9'; p++, nint++) {
		if (n == 0 && *p == '0')
			continue; /* leading zero of the integer part */
		dig[n++] = *p;
	}
	if (*p == '.') {
		p++;
		for (; *p >= '0' && *p <= '9'; p++, nfrac++) {
			if (n == 0 && *p == '0')
				continue; /* leading zero: only moves the point */
			dig[n++] = *p;
		}
		if (nfrac == 0)
			return E_PARSE; /* "1." and "." do not match */
	}
	if (nint == 0 && nfrac == 0)
		return E_PARSE;
	if (*p == 'e' || *p == 'E') {
		size_t ne = 0;
		p++;
		if (*p == '+' || *p == '-') {
			exp_neg = *p == '-';
			p++;
		}
		for (; *p >= '0' && *p <= '9'; p++, ne++) {
			if (exp < 1000000) /* saturate: 64 chars cannot need more */
				exp = exp * 10 + (*p - '0');
		}
		if (ne == 0)
			return E_PARSE;
	}
	if (*p != '\0')
		return E_PARSE;

	if (n == 0) {
		*sats = 0;
		return E_OK;
	}
	/* Leading zeros of the fraction were skipped but still count as
	 * fraction digits: "0.05" is D = 5, nfrac = 2, k = -2 + 8 = 6. */
	k = (exp_neg ? -exp : exp) - (long)nfrac + 8;
	if (k >= 0) {
		if ((long)n + k > U64_DIGITS_SAFE)
			return E_RANGE;
		for (size_t i = 0; i < n; i++)
			v = v * 10 + (uint64_t)(dig[i] - '0');
		for (long i = 0; i < k; i++)
			v *= 10;
	} else {
		size_t drop = (size_t)-k, keep, i;
		bool up = false;
		if (drop > n) {
			keep = 0;
			up = false; /* < 0.1 of a satoshi */
		} else {
			keep = n - drop;
			if (dig[keep] > '5') {
				up = true;
			} else if (dig[keep] == '5') {
				for (i = keep + 1; i < n; i++)
					if (dig[i] != '0')
						up = true;
			}
		}
		if (keep > U64_DIGITS_SAFE)
			return E_RANGE;
		for (i = 0; i < keep; i++)
			v = v * 10 + (uint64_t)(dig[i] - '0');
		if (up)
			v++;
	}
	if (v > (uint64_t)AMOUNT_MAX)
		return E_RANGE;
	*sats = v;
	return E_OK;
}

void amount_format(char out[32], uint64_t sats)
{
	snprintf(out, 32, "%llu.%08llu", (unsigned long long)(sats / SATOSHIS),
	         (unsigned long long)(sats % SATOSHIS));
}

/* ---- payloads ---- */

uint8_t *payload_from_input(const char *s, size_t len, size_t *outlen)
{
	uint8_t *out;

	if (len >= 2 && is_hex(s, len)) {
		out = xmalloc(len / 2);
		hex_decode(out, s, len / 2);
		*outlen = len / 2;
		return out;
	}
	out = xmalloc(len + 1);
	if (len)
		memcpy(out, s, len);
	out[len] = 0;
	*outlen = len + 1;
	return out;
}

char *payload_render(const uint8_t *d, size_t n, int *is_hex_out)
{
	char *out;
	bool text = n > 0 && d[n - 1] == 0;

	for (size_t i = 0; text && i + 1 < n; i++)
		if (d[i] < 0x20 || d[i] > 0x7e)
			text = false;
	if (text) {
		out = xmalloc(n);
		memcpy(out, d, n - 1);
		out[n - 1] = '\0';
		*is_hex_out = 0;
		return out;
	}
	out = xmalloc(2 * n + 1);
	hex_encode(out, d, n);
	*is_hex_out = 1;
	return out;
}

/* Length of the valid UTF-8 sequence at d[0..n), or 0 if it is not one.
 * Strict (RFC 3629): no overlong forms, no surrogates, nothing above
 * U+10FFFF -- the same rules jansson applies in json_stringn(). */
size_t utf8_seq_len(const uint8_t *d, size_t n)
{
	uint8_t c = d[0];
	size_t need;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((d[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (d[i] & 0x3f);
	}
	if (need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
		return 0;
	if (need == 4 && (cp < 0x10000 || cp > 0x10ffff))
		return 0;
	return need;
}

char *utf8_sanitize(const uint8_t *d, size_t n, size_t *outlen)
{
	/* Worst case every byte becomes two. */
	char *out = xmalloc(2 * n + 1);
	size_t o = 0, i = 0;

	while (i < n) {
		size_t l = utf8_seq_len(d + i, n - i);
		if (l) {
			memcpy(out + o, d + i, l);
			o += l;
			i += l;
		} else {
			/* U+0080..U+00FF as UTF-8: 0xc2/0xc3 then 10xxxxxx */
			out[o++] = (char)(0xc0 | d[i] >> 6);
			out[o++] = (char)(0x80 | (d[i] & 0x3f));
			i++;
		}
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}
