/* fuzz_light.c - the light-client decoders (wire.c, 0x14-0x1b) on
 * arbitrary payloads: never read out of bounds, and whatever decodes
 * re-encodes to exactly the same bytes (exact consumption, one encoding).
 * data[0] picks the message type, the rest is the payload.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/light.h"
#include "proto/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const struct wbuf *wb, const uint8_t *p, size_t n)
{
	if (wb->len != WIRE_HDR_LEN + n ||
	    memcmp(wb->p + WIRE_HDR_LEN, p, n) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wbuf wb;
	struct wire_llist l;
	struct wire_lget g;
	struct wire_lfilter f;
	struct wire_lentries e;
	struct packet_view pv;
	uint32_t id, rt, len;
	uint8_t st;
	const uint8_t *pkt;

	if (size < 1)
		return 0;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	uint8_t type = (uint8_t)(WIRE_LLIST + data[0] % 7);
	int ok = wire_payload_validate(type, p, n) == E_OK;

	wb_init(&wb);
	switch (type) {
	case WIRE_LLIST:
		if ((wire_llist_decode(p, n, &l) == E_OK) != ok)
			abort();
		if (ok) {
			wire_llist_encode(&wb, &l);
			same(&wb, p, n);
			memset(&pv, 0, sizeof(pv));
			(void)light_filter_match(&l.f, &pv, 0);
		}
		break;
	case WIRE_LGET:
		if (ok && wire_lget_decode(p, n, &g) == E_OK) {
			wire_lget_encode(&wb, &g);
			same(&wb, p, n);
		}
		break;
	case WIRE_LSUB:
		if (ok && wire_lsub_decode(p, n, &id, &f) == E_OK) {
			wire_lsub_encode(&wb, id, &f);
			same(&wb, p, n);
		}
		break;
	case WIRE_LANSWER:
		if (ok && wire_lanswer_decode(p, n, &id, &st, &e) == E_OK) {
			wire_lanswer_begin(&wb, id, st);
			while (wire_lentries_next(&e, &rt, &pkt, &len))
				wire_lentry_add(&wb, rt, pkt, len);
			wb_end(&wb);
			same(&wb, p, n);
		}
		break;
	case WIRE_LPUSH:
		if (ok && wire_lpush_decode(p, n, &id, &e) == E_OK) {
			uint32_t k = 0;
			while (wire_lentries_next(&e, &rt, &pkt, &len))
				k++;
			if (k != e.n || k == 0)
				abort();
		}
		break;
	case WIRE_LRELAY:
		if (ok && wire_lrelay_decode(p, n, &id, &pkt, &len) == E_OK) {
			wire_lrelay_encode(&wb, id, pkt, len);
			same(&wb, p, n);
		}
		break;
	default:
		break;
	}
	wb_fini(&wb);
	return 0;
}
