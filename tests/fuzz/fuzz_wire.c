/* fuzz_wire.c - libFuzzer target for the wire decoder: the input is a byte
 * stream cut into frames as net.c does; every frame payload goes through
 * wire_payload_validate() and, when valid, its typed decoder and walker.
 * Invariant: no read outside the input, no crash, decoders agree with the
 * validator.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	while (off < size) {
		uint8_t type;
		uint32_t len;
		if (wire_hdr_decode(data + off, size - off, &type, &len) != E_OK)
			break;
		size_t n = size - off - WIRE_HDR_LEN;
		/* a short frame: validate what is there (as a payload) too */
		if (len < n)
			n = len;
		const uint8_t *p = data + off + WIRE_HDR_LEN;
		int rc = wire_payload_validate(type, p, n);
		if (rc == E_OK && type == WIRE_IDLIST) {
			struct wire_idlist l;
			uint32_t t, c, k = 0;
			const uint8_t *ids;
			if (wire_idlist_decode(p, n, &l) != E_OK)
				abort();
			while (wire_idlist_next(&l, &t, &c, &ids)) {
				if (c)
					(void)wire_ids_at(ids, c - 1);
				k++;
			}
			if (k != l.n)
				abort();
		}
		if (rc == E_OK && type == WIRE_PACKETS) {
			struct wire_packets w;
			const uint8_t *pk;
			uint32_t plen, k = 0;
			if (wire_packets_decode(p, n, &w) != E_OK)
				abort();
			while (wire_packets_next(&w, &pk, &plen)) {
				if (plen == 0 || pk + plen > p + n)
					abort();
				(void)pk[plen - 1];
				k++;
			}
			if (k != w.n)
				abort();
		}
		if (rc == E_OK && type == WIRE_GETBITS) {
			const uint8_t *bits;
			uint32_t seq, nb;
			if (wire_getbits_decode(p, n, &seq, &bits, &nb) != E_OK ||
			    nb == 0 || nb > WIRE_MAX_BITMAP)
				abort();
			(void)bits[nb - 1];
		}
		if (rc == E_OK && type == WIRE_SUMMARY_SEC) {
			struct wire_summary_sec s;
			uint32_t t, c;
			uint64_t fp;
			if (wire_summary_sec_decode(p, n, &s) != E_OK)
				abort();
			if (s.n)
				wire_summary_sec_at(&s, s.n - 1, &t, &c, &fp);
		}
		if (rc == E_OK &&
		    (type == WIRE_GETPKTS || type == WIRE_PKTMISS)) {
			/* decodes, walks, and encodes back to the same bytes */
			struct wire_pktkey k[WIRE_PKT_MAX_KEYS];
			const uint8_t *kp;
			uint32_t reqid, c;
			uint8_t fl = 0;
			struct wbuf wb;
			if (type == WIRE_GETPKTS ?
			    wire_getpkts_decode(p, n, &reqid, &kp, &c) :
			    wire_pktmiss_decode(p, n, &reqid, &fl, &kp, &c))
				abort();
			if (c > WIRE_PKT_MAX_KEYS ||
			    (type == WIRE_GETPKTS && c == 0))
				abort();
			for (uint32_t i = 0; i < c; i++)
				k[i] = wire_pktkey_at(kp, i);
			wb_init(&wb);
			if (type == WIRE_GETPKTS)
				wire_getpkts_encode(&wb, reqid, k, c);
			else
				wire_pktmiss_encode(&wb, reqid, fl, k, c);
			if (wb.len != WIRE_HDR_LEN + n ||
			    memcmp(wb.p + WIRE_HDR_LEN, p, n) != 0)
				abort();
			wb_fini(&wb);
		}
		if (rc == E_OK && type == WIRE_PKTREPLY) {
			struct wire_packets w;
			const uint8_t *pk;
			uint32_t reqid, plen, k = 0;
			if (wire_pktreply_decode(p, n, &reqid, &w) != E_OK)
				abort();
			while (wire_packets_next(&w, &pk, &plen)) {
				if (plen == 0 || pk + plen > p + n)
					abort();
				(void)pk[plen - 1];
				k++;
			}
			if (k == 0 || k != w.n)
				abort();
		}
		off += WIRE_HDR_LEN + n;
	}
	return 0;
}
