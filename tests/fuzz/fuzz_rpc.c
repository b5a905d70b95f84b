/* fuzz_rpc.c - libFuzzer target for the RPC request parser (rpcparse.c):
 * the number pre-scan (a body is valid JSON after it exactly when it was
 * before, except numbers too large for jansson), jansson on the result, the request shape checks and parameter
 * text of every request, the response serializer (its output must parse
 * back), HTTP Basic decoding and -rpcallowip parsing and matching.
 * Every input goes through all of it.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "node/rpcparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL)

static void check_request(const json_t *req)
{
	const char *method, *msg;
	size_t mlen;
	const json_t *params;

	if (!json_is_object(req))
		return;
	if (rpc_request_check(req, &method, &mlen, &params, &msg) != 0 ||
	    !params)
		return;
	for (size_t i = 0; i < json_array_size(params); i++) {
		char buf[64];
		const char *s;
		size_t len;
		if (rpc_param_text(json_array_get(params, i), buf, &s, &len) ==
		    0 && len > 0 && !s)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t err, oerr;
	size_t plen;
	char *pre = rpc_prescan((const char *)data, size, &plen);
	json_t *orig = json_loadb((const char *)data, size, FLAGS, &oerr);
	json_t *doc = json_loadb(pre, plen, FLAGS, &err);

	/* jansson takes some bodies with a raw NUL byte after a number
	 * ("[0<NUL>]"), which is not JSON: no claim about those */
	bool nul = memchr(data, 0, size) != NULL;
	if (orig && !doc && !nul)
		abort(); /* the pre-scan broke a valid body */
	/* the other way only for numbers jansson cannot hold (1e400, 2^70):
	 * valid JSON text, passed on as written (API.md 3.1) */
	if (!orig && doc && !nul && !strstr(oerr.text, "overflow") &&
	    !strstr(oerr.text, "too big"))
		abort();
	if (doc) {
		if (json_is_array(doc))
			for (size_t i = 0; i < json_array_size(doc); i++)
				check_request(json_array_get(doc, i));
		else
			check_request(doc);
		size_t dlen;
		char *d = rpc_dump(doc, &dlen);
		if (!d || strlen(d) != dlen)
			abort();
		json_t *back = json_loadb(d, dlen, FLAGS, &err);
		if (!back)
			abort(); /* the serializer wrote invalid JSON */
		json_decref(back);
		free(d);
	}
	json_decref(orig);
	json_decref(doc);
	free(pre);

	/* header and allow-list parsers take C strings */
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	uint8_t cred[64];
	size_t n = 0;
	if (rpc_basic_decode(s, cred, sizeof cred, &n) && n > sizeof cred)
		abort();
	struct rpc_allow a;
	if (rpc_allow_parse(s, &a))
		(void)rpc_allow_match(&a, 1, "127.0.0.2");
	(void)rpc_allow_match(&a, 0, s);
	free(s);
	return 0;
}
