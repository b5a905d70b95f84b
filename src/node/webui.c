/* webui.c - GET / on the RPC port: the web view of the node (docs/rpc.md,
 * "Web view").
 *
 * One page, src/node/webui/index.html, compiled into the binary (the
 * Makefile turns it into the byte array of webui_page.h).  The page talks
 * JSON-RPC to POST / of the same origin; rpc.c lets a GET / through only
 * after API.md 2.1's checks and only when the request accepts text/html.
 *
 * Headers: a Content-Security-Policy that allows nothing from elsewhere
 * and no inline code but the page's own <style> and <script> blocks, named
 * by their SHA-256 hashes (computed here once from the embedded page, so
 * they always match it), connections to the same origin only, no framing;
 * X-Content-Type-Options nosniff; Cache-Control no-store; no referrer.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>

#include "node/log.h"
#include "node/rpc.h"
#include "webui_page.h" /* generated: static const unsigned char webui_page[] */

#define CSP_MAX 512

static char csp[CSP_MAX];

/* The bytes between the first `open` and the next `close` of the page. */
static bool block(const char *open, const char *close, const unsigned char **s,
                  size_t *n)
{
	const char *p = (const char *)webui_page;
	size_t len = sizeof webui_page;
	const char *a = memmem(p, len, open, strlen(open)), *b;

	if (!a)
		return false;
	a += strlen(open);
	b = memmem(a, len - (size_t)(a - p), close, strlen(close));
	if (!b)
		return false;
	*s = (const unsigned char *)a;
	*n = (size_t)(b - a);
	return true;
}

/* 'sha256-<base64>' of a block into out. */
static bool block_hash(const char *open, const char *close, char *out,
                       size_t cap)
{
	const unsigned char *s;
	unsigned char h[crypto_hash_sha256_BYTES];
	char b64[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES,
	                                   sodium_base64_VARIANT_ORIGINAL)];
	size_t n;

	if (!block(open, close, &s, &n))
		return false;
	crypto_hash_sha256(h, s, n);
	sodium_bin2base64(b64, sizeof b64, h, sizeof h,
	                  sodium_base64_VARIANT_ORIGINAL);
	return snprintf(out, cap, "'sha256-%s'", b64) < (int)cap;
}

static const char *policy(void)
{
	char js[64], css[64];

	if (csp[0])
		return csp;
	if (!block_hash("<script>", "</script>", js, sizeof js) ||
	    !block_hash("<style>", "</style>", css, sizeof css)) {
		/* a page without them is a build mistake: allow no code */
		log_msg(LOG_WARN, "webui: page without <script> or <style>");
		snprintf(js, sizeof js, "'none'");
		snprintf(css, sizeof css, "'none'");
	}
	snprintf(csp, sizeof csp,
	         "default-src 'none'; script-src %s; style-src %s; "
	         "connect-src 'self'; img-src data:; base-uri 'none'; "
	         "form-action 'none'; frame-ancestors 'none'",
	         js, css);
	return csp;
}

bool webui_origin_ok(const char *origin, const char *host)
{
	static const char scheme[] = "http://";
	size_t sl = sizeof scheme - 1;

	return origin && host && host[0] &&
	       !strncasecmp(origin, scheme, sl) &&
	       !strcasecmp(origin + sl, host);
}

void webui_http(struct node *n, struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	(void)n;
	if (evhttp_add_header(h, "Content-Security-Policy", policy()) != 0 ||
	    evhttp_add_header(h, "X-Content-Type-Options", "nosniff") != 0 ||
	    evhttp_add_header(h, "Cache-Control", "no-store") != 0 ||
	    evhttp_add_header(h, "Referrer-Policy", "no-referrer") != 0 ||
	    evhttp_add_header(h, "X-Frame-Options", "DENY") != 0)
		abort(); /* out of memory, as xmalloc */
	rpc_http_reply(req, 200, "OK", "text/html; charset=utf-8", webui_page,
	               sizeof webui_page);
}
