/* light.h - the I/O-free parts of light clients (PROTOCOL.md 7): does a
 * packet match a light filter, and which full node left out packets that
 * another one returned.
 *
 * No I/O, no clock, no allocation: the caller passes the times and owns
 * every array.
 */
#ifndef DEX_LIGHT_H
#define DEX_LIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/packet.h"
#include "proto/wire.h"

/* A packet arriving up to this many seconds before an ask, or after it,
 * may be missing from one full node's answer for honest reasons (it was
 * still on its way): it is not held against it. */
#define LIGHT_OMIT_SLACK 10u

/* Does the decoded packet pv, of achieved priority `priority`, match f
 * (API.md 4.2 selection and filters, and timestamp >= since)? */
bool light_filter_match(const struct wire_lfilter *f,
                        const struct packet_view *pv, int priority);

/* What a light node makes of one packet a full node sent it. */
enum light_verdict {
	LIGHT_OK = 0,                /* valid and what was asked */
	LIGHT_SKIP,                  /* from the future or expired: clocks
	                              * differ, not held against the sender */
	LIGHT_INVALID,               /* codec, proof of work or priority */
	LIGHT_NOMATCH,               /* valid but not what was asked */
};

/* Check len bytes against the network's rules at `now` (packet_check) and
 * against what was asked: the filter f, or (f NULL) the LGET g (its id or
 * hash).  On LIGHT_OK, hash (if not NULL) gets the packet's hash. */
enum light_verdict light_check(const uint8_t *pkt, size_t len, uint32_t now,
                               int txpowbits, uint32_t purgetime,
                               const struct wire_lfilter *f,
                               const struct wire_lget *g, uint8_t hash[32]);

/* The filter selects on something: a tag or a pubkey (a full node answers
 * no filter that would walk every held packet). */
bool light_filter_selective(const struct wire_lfilter *f);

/* One full node's answer to the same ask, after checking: the hashes of
 * the valid, matching packets it returned, and whether it said it sent
 * every match (WIRE_LS_DONE, not a page limit). */
struct light_answer {
	const uint8_t (*hash)[32];
	size_t n;
	bool complete;
};

/* A packet known from the union of the answers: its hash and timestamp. */
struct light_known {
	uint8_t hash[32];
	uint32_t timestamp;
};

/* For each complete answer a[i] and each packet known[k] of the union of
 * every answer that a[i] lacks, call cb(arg, i, k), leaving out packets
 * with timestamp + LIGHT_OMIT_SLACK > asked_at (possibly in flight).
 * Incomplete answers are not judged.  Each a[i].hash must be sorted
 * (light_sort_hashes).  Returns the number of calls. */
size_t light_omissions(const struct light_answer *a, size_t na,
                       const struct light_known *known, size_t nk,
                       uint32_t asked_at,
                       void (*cb)(void *arg, size_t answer, size_t k),
                       void *arg);

/* Sort n hashes in place (memcmp order), for light_omissions. */
void light_sort_hashes(uint8_t (*hash)[32], size_t n);

#endif
