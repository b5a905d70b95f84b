/* check.h - the admission test a received packet must pass before any work
 * is spent on it (API.md A.2), as a pure function of the bytes and `now`.
 */
#ifndef DEX_CHECK_H
#define DEX_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "core/packet.h"
#include "core/txpow.h"

/* Why a received packet was rejected; the order is DEX_stats `dropped`. */
enum drop_reason {
	DROP_NONE = -1,
	DROP_MALFORMED = 0,
	DROP_OVERSIZE,
	DROP_BADPOW,
	DROP_LOWPRIORITY,
	DROP_FUTURE,
	DROP_EXPIRED,
	DROP_OVERLOAD,
	DROP_MAX
};
extern const char *const drop_reason_name[DROP_MAX]; /* "malformed", ... */

/* Check len bytes: codec (oversize / malformed), timestamp <= now + 1
 * (future), timestamp > now - purgetime (expired), txpow validity (badpow),
 * priority >= 0 (lowpriority).  On DROP_NONE *pv and *pe are filled.  The
 * hash is computed only after the cheap checks pass. */
enum drop_reason packet_check(const uint8_t *pkt, size_t len, uint32_t now,
                              int txpowbits, uint32_t purgetime,
                              struct packet_view *pv, struct pow_eval *pe);

#endif
