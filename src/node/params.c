/* params.c - DEX_* parameter validators and result error objects
 * (API.md 3.2, 3.3); see params.h.  Also home of rpc_errobj() (rpc.h) so
 * that every user of error objects links without the HTTP server.
 *
 * Owns no state.  Parameters arrive as (bytes, length): a parameter may
 * contain NUL bytes, and one that does is never a valid number, key or
 * hash (the strict parsers below see only the text before the NUL).
 */
#include "node/params.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "node/rpc.h"

#define PRIORITY_MAX 32
#define PARAM_NAME_MAX 32

json_t *json_bytes(const void *d, size_t n)
{
	json_t *j = json_stringn_nocheck(n ? (const char *)d : "", n);
	if (!j)
		abort();
	return j;
}

json_t *rpc_errobj(const char *msg, ...)
{
	json_t *o = json_object();
	va_list ap;
	const char *key;

	json_object_set_new(o, "result", json_string("error"));
	json_object_set_new(o, "error", json_string(msg));
	va_start(ap, msg);
	while ((key = va_arg(ap, const char *)) != NULL) {
		json_t *v = va_arg(ap, json_t *);
		json_object_set_new(o, key, v ? v : json_null());
	}
	va_end(ap);
	return o;
}

/* The text has no embedded NUL, so the NUL-terminated parsers see it all. */
static bool whole(const char *s, size_t len)
{
	return strlen(s) == len;
}

json_t *param_priority(const char *s, size_t len, int *out)
{
	int64_t v;

	if (len == 0) {
		*out = 0;
		return NULL;
	}
	if (!whole(s, len) || parse_int64(s, &v) != E_OK || v < 0 ||
	    v > PRIORITY_MAX)
		return rpc_errobj("priority must be an integer from 0 to 32",
		                  "priority", json_bytes(s, len), NULL);
	*out = (int)v;
	return NULL;
}

json_t *param_tag(const char *name, const char *s, size_t len,
                  uint8_t *out, size_t *out_len)
{
	char msg[64];

	if (len > PACKET_TAG_MAX) {
		snprintf(msg, sizeof msg, "%s longer than 15 bytes", name);
		return rpc_errobj(msg, name, json_bytes(s, len), NULL);
	}
	if (memchr(s, 0, len)) {
		snprintf(msg, sizeof msg, "%s contains a NUL byte", name);
		return rpc_errobj(msg, name, json_bytes(s, len), NULL);
	}
	memcpy(out, s, len);
	*out_len = len;
	return NULL;
}

json_t *param_pubkey33(const char *s, size_t len,
                       uint8_t out[PACKET_PUBKEY_LEN], bool *has)
{
	*has = false;
	if (len == 0)
		return NULL;
	if (len != 2 * PACKET_PUBKEY_LEN ||
	    !hex_decode(out, s, PACKET_PUBKEY_LEN) || out[0] != 0x01)
		return rpc_errobj(
			"pubkey33 must be 66 hex characters starting with 01",
			"pubkey33", json_bytes(s, len), NULL);
	*has = true;
	return NULL;
}

json_t *param_amount(const char *name, const char *s, size_t len,
                     uint64_t dflt, uint64_t *out, bool *given)
{
	char msg[64];
	int rc;

	*given = false;
	if (len == 0) {
		*out = dflt;
		return NULL;
	}
	if (s[0] == '-') {
		snprintf(msg, sizeof msg, "negative %s", name);
		return rpc_errobj(msg, name, json_bytes(s, len), NULL);
	}
	rc = whole(s, len) ? parse_amount(s, out) : E_PARSE;
	if (rc != E_OK) {
		snprintf(msg, sizeof msg, "invalid %s", name);
		return rpc_errobj(msg, name, json_bytes(s, len), NULL);
	}
	*given = true;
	return NULL;
}

json_t *param_range(const char *minname, const char *mins, size_t minlen,
                    const char *maxname, const char *maxs, size_t maxlen,
                    uint64_t min, uint64_t max)
{
	char msg[96];

	if (minlen == 0 || maxlen == 0 || min <= max)
		return NULL;
	snprintf(msg, sizeof msg, "%s greater than %s", minname, maxname);
	return rpc_errobj(msg, minname, json_bytes(mins, minlen), maxname,
	                  json_bytes(maxs, maxlen), NULL);
}

json_t *param_minpriority(const char *s, size_t len, int *out)
{
	int64_t v;

	if (len == 0) {
		*out = 0;
		return NULL;
	}
	if (!whole(s, len) || parse_int64(s, &v) != E_OK || v < 0)
		return rpc_errobj("minpriority must be a non-negative integer",
		                  "minpriority", json_bytes(s, len), NULL);
	*out = v > INT32_MAX ? INT32_MAX : (int)v;
	return NULL;
}

json_t *param_id(const char *name, const char *s, size_t len,
                 bool allow_empty, uint32_t *out)
{
	char msg[PARAM_NAME_MAX + 16];

	if (len == 0 && allow_empty) {
		*out = 0;
		return NULL;
	}
	if (len == 0 || !whole(s, len) || parse_u32(s, out) != E_OK) {
		snprintf(msg, sizeof msg, "invalid %s", name);
		return rpc_errobj(msg, name, json_bytes(s, len), NULL);
	}
	return NULL;
}

json_t *param_stophash(const char *s, size_t len, uint8_t out[32],
                       bool *has)
{
	*has = false;
	if (len == 0)
		return NULL;
	if (len != 64 || !hex_decode(out, s, 32))
		return rpc_errobj("stophash must be 64 hex characters",
		                  "stophash", json_bytes(s, len), NULL);
	*has = true;
	return NULL;
}
