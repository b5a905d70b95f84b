/* util.h - small pure helpers shared by every layer: hex, strict integer and
 * amount parsing (API.md 3.2), payload input and rendering (API.md C.1, C.2),
 * JSON string escaping of raw bytes (API.md 3.4), and checked allocation.
 *
 * Nothing here does I/O or reads the clock.
 */
#ifndef DEX_UTIL_H
#define DEX_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SATOSHIS 100000000ULL
#define AMOUNT_MAX INT64_MAX /* 2^63 - 1 satoshis */

/* xmalloc family: abort on OOM (a bug-level condition, STYLE.md). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Strip blanks (space, tab) at both ends and CR/LF at the end, in place;
 * returns the first kept character (conf file lines). */
char *str_trim(char *s);

/* Value 0..15 of a hex digit (either case), -1 if c is not one. */
int hex_digit(unsigned char c);

/* Split "host[:port]" (host a name, an IPv4 address or a bracketed IPv6
 * address) into host (NUL-terminated, brackets removed; hostcap bytes)
 * and port (def_port when absent).  Syntax only, no lookup: a name is
 * letters, digits, '-', '.' and '_'; an IPv6 literal hex digits, ':' and
 * '.'; the port 1..65535.  Returns E_OK or E_PARSE. */
int hostport_split(const char *s, char *host, size_t hostcap,
                   uint16_t *port, uint16_t def_port);

/* Lower-case hex of n bytes into out (2n+1 bytes with the NUL). */
void hex_encode(char *out, const uint8_t *in, size_t n);
/* Decode exactly 2*n hex digits (either case) into out. Returns false on a
 * non-hex digit.  s must hold at least 2*n characters. */
bool hex_decode(uint8_t *out, const char *s, size_t n);
/* True if s is non-empty, even length and all hex digits. */
bool is_hex(const char *s, size_t len);

/* Strict integer (API.md 3.2): optional '-', 1..20 digits, nothing else.
 * Returns E_OK, E_PARSE, or E_RANGE (does not fit int64). */
int parse_int64(const char *s, int64_t *out);
/* id: integer in 0..4294967295. E_PARSE / E_RANGE. */
int parse_u32(const char *s, uint32_t *out);

/* Amount (API.md 3.2) to satoshis with exact decimal arithmetic, no
 * floating point: "0.1" -> 10000000, "1e-8" -> 1, rounded to nearest,
 * half down.  Returns E_OK, E_NEGATIVE (leading '-'), E_PARSE (does not
 * match, > 64 chars) or E_RANGE (>= 2^63 satoshis). */
int parse_amount(const char *s, uint64_t *sats);
/* "%llu.%08llu" of satoshis; out needs 32 bytes. */
void amount_format(char out[32], uint64_t sats);

/* API.md C.1: the `hex` parameter to plaintext bytes.  Even length >= 2 and
 * all hex digits -> decoded; otherwise the bytes plus one 0x00.  Returns a
 * malloc'd buffer (caller frees) and its length in *outlen. */
uint8_t *payload_from_input(const char *s, size_t len, size_t *outlen);

/* API.md C.2: render n bytes for `payload` / `decrypted`.  Returns a
 * malloc'd NUL-terminated string (the text without its final NUL, or the
 * lower-case hex) and sets *is_hex to the flag. */
char *payload_render(const uint8_t *d, size_t n, int *is_hex);

/* Length (1..4) of the valid UTF-8 sequence starting at d[0] (n bytes
 * available), or 0 if it is not one.  Strict RFC 3629, as jansson. */
size_t utf8_seq_len(const uint8_t *d, size_t n);

/* API.md 3.4: make raw bytes safe for a JSON string.  Valid UTF-8
 * sequences are copied; every other byte b becomes the UTF-8 encoding of
 * U+00b (its Latin-1 code point), so jansson's json_stringn() accepts the
 * result and a JSON reader sees "\u00XX".  NUL bytes are kept (json_stringn
 * escapes them).  Returns a malloc'd buffer, its length in *outlen. */
char *utf8_sanitize(const uint8_t *d, size_t n, size_t *outlen);

#endif
