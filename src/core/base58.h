/* base58.h - Base58Check (Bitcoin alphabet) and Komodo addresses of
 * secp256k1 public keys (API.md 4.8, D.5).
 *
 *   address = Base58Check(0x3C || RIPEMD-160(SHA-256(pubkey33)))
 *   Base58Check(v) = Base58(v || first 4 bytes of SHA-256(SHA-256(v)))
 *
 * Pure: no I/O, no state.  Hashes come from OpenSSL libcrypto (RIPEMD-160
 * is in OpenSSL 3's default provider).
 */
#ifndef DEX_BASE58_H
#define DEX_BASE58_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BASE58_MAX_INPUT 128       /* bytes; plenty for addresses */
#define KOMODO_ADDR_VERSION 0x3C   /* 60: Komodo "R" addresses */
#define KOMODO_ADDR_MAX 64         /* buffer size for an address + NUL */

/* Base58 of n bytes (n <= BASE58_MAX_INPUT; each leading zero byte is a
 * '1').  Writes a NUL-terminated string into out (cap bytes).  Returns the
 * string length, or 0 if n is too large or cap too small. */
size_t base58_encode(char *out, size_t cap, const uint8_t *in, size_t n);

/* Decode a Base58 string into out (cap bytes).  Returns the byte count, or
 * -1 on a bad character, an over-long input or a full buffer. */
long base58_decode(uint8_t *out, size_t cap, const char *s);

/* Base58Check of n bytes (version byte included in `in`). */
size_t base58check_encode(char *out, size_t cap, const uint8_t *in,
                          size_t n);
/* Decode and verify the checksum: byte count without the checksum, or -1. */
long base58check_decode(uint8_t *out, size_t cap, const char *s);

/* RIPEMD-160(SHA-256(d)). Returns false if the digest is unavailable. */
bool hash160(const uint8_t *d, size_t n, uint8_t out[20]);

/* Komodo address of a 33-byte compressed secp256k1 key (first byte 02 or
 * 03; the point is not checked).  Returns false on a hash failure. */
bool komodo_address(const uint8_t pk33[33], char out[KOMODO_ADDR_MAX]);

#endif
