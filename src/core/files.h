/* files.h - the file format of DEX_publish / DEX_subscribe / DEX_stream /
 * DEX_streamsub (API.md 4.9 - 4.13), without I/O:
 *
 *   fragment i   tagA filename, tagB "data", amountA i, amountB 0,
 *                plaintext = bytes [i*10000, min(size, (i+1)*10000))
 *   locators     tagA filename, tagB "locators" (whole file) or the decimal
 *                offset0 (slice), amountA size, amountB k,
 *                plaintext = offset0 u64le || k locators u64le
 *   file hash    tagA "files", tagB filename, amountA size, amountB k,
 *                plaintext = SHA-256 of the file
 *   slice hash   tagA "slices", tagB filename, amountA offset0 * 10^8,
 *                amountB k, plaintext = SHA-256 of the slice
 *
 * A locator is (timestamp << 32) | id, written little-endian.
 *
 * Sizes, slice arithmetic, filename rules, locator encoding and parsing,
 * the "counts as present" check of a fragment packet (given the outcome of
 * its signature check, which the caller does) and the outcome fields of
 * the file result object.  Pure functions.
 */
#ifndef DEX_FILES_H
#define DEX_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/packet.h"

#define FILES_FRAG 10000u              /* bytes per fragment */
#define FILES_SLICE 1000000u           /* bytes per slice (100 fragments) */
#define FILES_MAX_SIZE 1310000000ull   /* largest publishable file */
#define FILES_MAX_FRAGS 131000u        /* its fragment count */
#define FILES_MAX_SLICEID 92234        /* offset0 * 10^8 < 2^63 */
#define FILES_NAME_MAX 15u
#define FILES_DEFAULT_NAME "testfile"
#define FILES_SIGNED_OVERHEAD 96u      /* signed form: spk(32) || sig(64) */
#define FILES_LOC_HDR 8u               /* offset0 u64le before the locators */
#define FILES_DIGITS_MAX 20u           /* decimal u64 */

/* Filename rules (API.md 3.2, 4.9): 1..15 bytes, no '/', '\\' or byte
 * below 0x20 (NUL included), not "." or "..".  The caller maps "" to
 * FILES_DEFAULT_NAME first. */
enum files_name_check {
	FILES_NAME_OK = 0,
	FILES_NAME_TOO_LONG,   /* "filename longer than 15 chars" */
	FILES_NAME_INVALID,    /* "invalid filename" */
};
enum files_name_check files_name_check(const char *name, size_t len);

/* Number of fragments of `size` bytes: ceil(size / 10000). */
uint32_t files_frag_count(uint64_t size);
/* Length of fragment i of a content of `size` bytes (0 if i is past the
 * end). */
uint32_t files_frag_len(uint64_t size, uint32_t i);

/* Slice s (1..FILES_MAX_SLICEID) of a file of file_size bytes:
 * offset0 = (s - 1) * 10^6 and len = min(size, offset0 + 10^6) - offset0.
 * E_OK, E_RANGE (s outside 1..92234) or E_NOTFOUND (offset0 >= size;
 * *offset0 is still set). */
int files_slice(int64_t s, uint64_t file_size, uint64_t *offset0,
                uint64_t *len);
/* Slice hash amountA: offset0 * 10^8 (offset0 <= 92,233,000,000). */
uint64_t files_slice_amount(uint64_t offset0);

/* The locator of a packet and its two parts. */
static inline uint64_t files_locator(uint32_t timestamp, uint32_t id)
{
	return (uint64_t)timestamp << 32 | id;
}

/* tagB of a slice's locators packet: offset0 in decimal (no leading
 * zeros); out needs FILES_DIGITS_MAX + 1 bytes.  Returns the length. */
size_t files_offset_tag(char *out, uint64_t offset0);

/* Locators plaintext length for k fragments: 8 + 8k. */
static inline size_t files_locators_len(uint32_t k)
{
	return FILES_LOC_HDR + (size_t)8 * k;
}
/* Write offset0 and the k locators (locs[i] = files_locator(t, id)) into
 * out (files_locators_len(k) bytes). */
void files_locators_encode(uint8_t *out, uint64_t offset0,
                           const uint64_t *locs, uint32_t k);

/* A locators packet's announcement, checked (API.md 4.11 step 2). */
struct files_locators {
	uint64_t size;         /* amountA: file or slice size */
	uint32_t k;            /* amountB: fragment count */
	uint64_t offset0;
	uint64_t numlocators;  /* (plaintext length - 8) / 8, rounded down */
	const uint8_t *locs;   /* k locators (8 bytes each, u64le), in plain */
};
/* Parse and check the plaintext of a locators packet: length 8 + 8k with
 * k = amount_b, offset0 as expected, 1 <= k <= 131000, k = ceil(size /
 * 10000) and, for a slice (expect_offset0 > 0 or is_slice), size at most
 * 10^6.  Fills *out in every case (numlocators for the error object) and
 * returns E_OK or E_PARSE. */
int files_locators_parse(const uint8_t *plain, size_t plain_len,
                         uint64_t amount_a, uint64_t amount_b,
                         bool is_slice, uint64_t expect_offset0,
                         struct files_locators *out);
/* Locator i of a parsed packet: its timestamp and id. */
void files_locator_get(const struct files_locators *l, uint32_t i,
                       uint32_t *timestamp, uint32_t *id);

/* Does a held fragment packet count as present (API.md 4.9) for
 * fragment i (of k) of a content of `size` bytes named by a locator with
 * this timestamp?  sig_ok is the caller's signature check of its signed
 * form (signature valid and signer = pubkey).  Checks kind Q, the
 * timestamp, pubkey = publisher (33 bytes), tagA = name, tagB = "data",
 * amountA = i, amountB = 0 and the plaintext length. */
bool files_fragment_present(const struct packet_view *pv, bool sig_ok,
                            const uint8_t publisher[PACKET_PUBKEY_LEN],
                            const char *name, size_t name_len,
                            uint32_t timestamp, uint32_t i, uint64_t size);

/* Is pv a candidate hash packet (file hash: tagA "files"; slice hash:
 * tagA "slices") for name from publisher, with amountA = want_a, amountB
 * = k and a 32-byte plaintext (payload = 96 + 32 bytes)?  The caller
 * checks the signature and the cancelled flag. */
bool files_hash_candidate(const struct packet_view *pv, bool slice,
                          const uint8_t publisher[PACKET_PUBKEY_LEN],
                          const char *name, size_t name_len,
                          uint64_t want_a, uint32_t k);

/* Outcome fields of the file result object (API.md 4.9): "success" when
 * missing == 0 and filehash = checkhash (with a hash packet held),
 * otherwise the first of "missing fragments", "file hash not found",
 * "file hash mismatch". */
enum files_outcome {
	FILES_SUCCESS = 0,
	FILES_MISSING,
	FILES_NO_HASH,
	FILES_MISMATCH,
};
enum files_outcome files_outcome(uint32_t missing, bool have_check,
                                 const uint8_t filehash[32],
                                 const uint8_t checkhash[32]);
/* The `error` string of an outcome (NULL for FILES_SUCCESS). */
const char *files_outcome_str(enum files_outcome o);

/* DEX_stats `progress`: done / total as a percentage rounded to two
 * decimals (0 when total is 0). */
double files_progress_pct(uint64_t done, uint64_t total);

#endif
