/* params.h - validation of DEX_* method parameters (API.md 3.2, 3.3) and
 * the result error objects they produce.
 *
 * Every validator takes the parameter as received (bytes s, length len;
 * may contain NUL) and either fills its out-parameter and returns NULL, or
 * returns a new error object {"result":"error","error":...,<ctx>} in the
 * exact shape of API.md 3.3 that the method returns as its result.
 * `""` always means "use the default".  Pure: jansson and core/util only,
 * so DEX_list, DEX_orderbook, DEX_cancel... all share one implementation.
 */
#ifndef DEX_PARAMS_H
#define DEX_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/packet.h"

/* A JSON string holding raw bytes (tags, payload text, parameters as
 * received).  The bytes are kept unchanged; the RPC serializer
 * (rpc_dump) escapes them per API.md 3.4 (invalid UTF-8 bytes as \u00XX).
 * Never NULL. */
json_t *json_bytes(const void *d, size_t n);

/* `priority`: integer 0..32, default 0. */
json_t *param_priority(const char *s, size_t len, int *out);
/* `tagA` / `tagB` (name gives the message and context key): at most 15
 * bytes, no NUL.  out must hold PACKET_TAG_MAX bytes. */
json_t *param_tag(const char *name, const char *s, size_t len,
                  uint8_t *out, size_t *out_len);
/* `pubkey33`: "" (absent, *has = false) or 66 hex digits starting "01". */
json_t *param_pubkey33(const char *s, size_t len,
                       uint8_t out[PACKET_PUBKEY_LEN], bool *has);
/* Amount parameter `name` (volA, minA, ...): "" gives dflt; else
 * "negative X" / "invalid X". *given tells whether a value was given. */
json_t *param_amount(const char *name, const char *s, size_t len,
                     uint64_t dflt, uint64_t *out, bool *given);
/* The min/max range check after both amounts parsed: "minA greater than
 * maxA" with context minA, maxA (the texts as received).  Only when both
 * were given. */
json_t *param_range(const char *minname, const char *mins, size_t minlen,
                    const char *maxname, const char *maxs, size_t maxlen,
                    uint64_t min, uint64_t max);
/* `minpriority`: non-negative integer, default 0 (values above INT32_MAX
 * are clamped: no packet has such a priority). */
json_t *param_minpriority(const char *s, size_t len, int *out);
/* `id` / `stopat` (name is the key, message "invalid <name>"): integer in
 * 0..4294967295.  allow_empty: "" gives 0 (stopat); else "" is invalid. */
json_t *param_id(const char *name, const char *s, size_t len,
                 bool allow_empty, uint32_t *out);
/* `stophash`: "" (absent, *has = false) or 64 hex digits. */
json_t *param_stophash(const char *s, size_t len, uint8_t out[32],
                       bool *has);

#endif
