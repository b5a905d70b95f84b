/* check.c - admission test for received packets (check.h, API.md A.2).
 *
 * A pure function of the bytes, `now` and the network settings.  The cheap
 * checks (codec, clock window) run first so a flood of junk costs no
 * SHA-256.  Owns the drop_reason_name[] table used by DEX_stats.
 */
#include "core/check.h"

#include "core/err.h"

const char *const drop_reason_name[DROP_MAX] = {
	[DROP_MALFORMED] = "malformed",
	[DROP_OVERSIZE] = "oversize",
	[DROP_BADPOW] = "badpow",
	[DROP_LOWPRIORITY] = "lowpriority",
	[DROP_FUTURE] = "future",
	[DROP_EXPIRED] = "expired",
	[DROP_OVERLOAD] = "overload",
};

enum drop_reason packet_check(const uint8_t *pkt, size_t len, uint32_t now,
                              int txpowbits, uint32_t purgetime,
                              struct packet_view *pv, struct pow_eval *pe)
{
	int rc = packet_decode(pkt, len, pv);

	if (rc == E_PKT_OVERSIZE)
		return DROP_OVERSIZE;
	if (rc != E_OK)
		return DROP_MALFORMED;
	/* 64-bit sums: now + 1 and timestamp + purgetime cannot wrap. */
	if ((uint64_t)pv->timestamp > (uint64_t)now + 1)
		return DROP_FUTURE;
	/* Held while now - timestamp < purgetime (A.5). */
	if ((uint64_t)pv->timestamp + purgetime <= (uint64_t)now)
		return DROP_EXPIRED;
	txpow_eval(pkt, len, txpowbits, pe);
	if (!pe->valid)
		return DROP_BADPOW;
	if (pe->priority < 0)
		return DROP_LOWPRIORITY;
	return DROP_NONE;
}
