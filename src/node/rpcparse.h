/* rpcparse.h - the pure pieces of the JSON-RPC server (API.md 2, 3.1, 3.4,
 * 4.4): request body pre-scan, request shape checks, parameter text, the
 * exact response serializer, HTTP Basic credentials, -rpcallowip matching
 * and the perfstats line.  No I/O, no clock, no libevent: unit-tested and
 * fuzzable on their own.
 */
#ifndef DEX_RPCPARSE_H
#define DEX_RPCPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define RPC_PRESCAN_MAX_DEPTH 64 /* deeper containers are not tracked */

/* API.md 3.1: a number parameter stands for its JSON text as written.
 * jansson keeps only the value, so before parsing, every JSON number that
 * is a direct element of a request's "params" array (request = the top
 * object, or an object element of the top array) is wrapped in quotes.
 * Only numbers matching the JSON grammar are rewritten, so an invalid body
 * stays invalid.  Returns a malloc'd copy (caller frees), *outlen its
 * length; never fails. */
char *rpc_prescan(const char *body, size_t len, size_t *outlen);

/* API.md 2.3: the id is echoed unchanged.  jansson re-formats numbers
 * (1e2, 2.50, -0) and refuses integers beyond 64 bits, so a number id is
 * taken out before parsing: the id of request number req (0 for a top
 * object; for a top array the element index, non-object elements
 * counted) is the number token body[off, off + len), exactly as written. */
struct rpc_rawid {
	size_t req;
	size_t off, len;
};
struct rpc_rawids {
	struct rpc_rawid *v; /* malloc'd, ascending req; NULL when n == 0 */
	size_t n;
};

/* rpc_prescan, and (ids non-NULL) also: in each request, every top-level
 * "id" key (escaped spellings included) whose value is a number has that
 * value replaced by null; when the last "id" key of a request (the one
 * jansson keeps) has a number value, its token is recorded in *ids.
 * Nested "id" keys (inside params or other values) are left alone.
 * Free *ids with rpc_rawids_free (also when the body does not parse).
 * rpc_prescan(b, l, o) is rpc_prescan_ex(b, l, o, NULL). */
char *rpc_prescan_ex(const char *body, size_t len, size_t *outlen,
                     struct rpc_rawids *ids);
void rpc_rawids_free(struct rpc_rawids *ids);

/* Shape checks of one request object, in the order of API.md 2.4:
 * "Missing method", "Method must be a string", "Params must be an array"
 * (-32600).  Returns 0 and sets *method / *params (NULL for absent or
 * null params), or the code and sets *msg. */
int rpc_request_check(const json_t *req, const char **method,
                      size_t *method_len, const json_t **params,
                      const char **msg);

#define RPC_ERR_TYPE_MSG "JSON value is not a string or number as expected"

/* Text of one parameter (API.md 3.1): a string as its bytes, null as "",
 * a number (only when the pre-scan did not rewrite it) as printed into
 * buf.  Returns 0, or -3 for true/false/array/object. */
int rpc_param_text(const json_t *v, char buf[64], const char **s,
                   size_t *len);

/* Compact JSON of v per API.md 3.4: no whitespace, keys in insertion
 * order, strings as raw bytes escaped (", \, \b \f \n \r \t, other bytes
 * below 0x20 and 0x7F as \u00xx, valid UTF-8 copied, every other byte as
 * \u00xx), integers as integers, reals with up to 15 significant digits
 * and always a '.' or exponent (0.0, 12.3).  No trailing newline.
 * Returns a malloc'd NUL-terminated buffer and its length. */
char *rpc_dump(const json_t *v, size_t *outlen);

/* Decode an Authorization header "Basic <base64>" into out (cap bytes).
 * Returns false when the scheme is not Basic, the base64 is invalid or
 * the credentials do not fit. */
bool rpc_basic_decode(const char *hdr, uint8_t *out, size_t cap,
                      size_t *outlen);

/* One -rpcallowip entry: an IPv4/IPv6 address, optionally /prefix or (IPv4)
 * /netmask.  IPv4 is kept as an IPv4-mapped IPv6 address. */
struct rpc_allow {
	uint8_t addr[16];
	uint8_t mask[16];
};
/* Parse an entry; false if it is not an address / network. */
bool rpc_allow_parse(const char *s, struct rpc_allow *out);
/* True if the client address text (as libevent gives it) is 127.0.0.1,
 * ::1, or inside one of the n entries.  IPv4-mapped IPv6 clients match
 * IPv4 entries. */
bool rpc_allow_match(const struct rpc_allow *list, size_t n,
                     const char *addr);

/* Inputs of the DEX_stats perfstats line (API.md 4.4). */
struct perfstats_in {
	uint64_t ram;
	uint32_t idxor;
	uint64_t received, sent, added, duplicates;
	uint64_t ann_examined, fetch_sent, fetch_retried;
	double lag[3];
	uint64_t pending, expired, freed;
	uint64_t by_priority[14]; /* [p] for p 0..12, [13] for >= 13 */
	bool overloaded;
	uint64_t rate_floor;
};
/* Format the line into out (cap bytes, truncated if too small). */
void perfstats_format(char *out, size_t cap, const struct perfstats_in *p);

#endif
