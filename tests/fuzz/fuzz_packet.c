/* fuzz_packet.c - libFuzzer target for the packet codec and admission
 * check: packet_decode, packet_decode_prefixed (both modes), packet_check,
 * and encode(decode(x)) == x for every x that decodes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "core/err.h"
#include "core/packet.h"
#include "core/txpow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Force the header bytes a random input almost never gets right (kind,
 * plen, pubkey prefix, tag lengths) so the fuzzer reaches the deep cases. */
static void fix_header(uint8_t *b, size_t size)
{
	static const uint8_t kinds[3] = {PACKET_KIND_ANON, PACKET_KIND_DATA,
	                                 PACKET_KIND_CANCEL};
	size_t p;

	if (size < PACKET_MIN_LEN)
		return;
	b[PACKET_OFF_KIND] = kinds[b[PACKET_OFF_KIND] % 3];
	b[PACKET_OFF_PLEN] = (b[PACKET_OFF_PLEN] & 1) ? PACKET_PUBKEY_LEN : 0;
	p = PACKET_OFF_PUBKEY;
	if (b[PACKET_OFF_PLEN]) {
		b[p] = 0x01;
		p += PACKET_PUBKEY_LEN;
	}
	if (p < size) {
		b[p] %= 16;
		p += 1 + b[p];
	}
	if (p < size)
		b[p] %= 16;
}

static void one(uint8_t *buf, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Copy into an exact-size heap buffer so ASan sees any overread. */
	uint8_t *buf = malloc(size ? size : 1);

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	one(buf, size);
	fix_header(buf, size);
	one(buf, size);
	free(buf);
	return 0;
}

static void one(uint8_t *buf, size_t size)
{
	struct packet_view pv;
	struct pow_eval pe;
	int rc;

	rc = packet_decode(buf, size, &pv);
	if (rc == E_OK) {
		struct packet_fields f = {
			.relay = pv.relay, .kind = pv.kind,
			.timestamp = pv.timestamp, .amount_a = pv.amount_a,
			.amount_b = pv.amount_b, .pubkey = pv.pubkey,
			.tag_a = pv.tag_a, .len_a = pv.len_a, .tag_b = pv.tag_b,
			.len_b = pv.len_b, .payload = pv.payload,
			.payload_len = pv.payload_len, .nonce = pv.nonce,
		};
		uint8_t *out = malloc(size);
		if (pv.len != size || pv.hdr_len + pv.payload_len + 4 != size)
			abort();
		if (!out || packet_encoded_len(&f) != size ||
		    packet_encode(out, size, &f) != size ||
		    memcmp(out, buf, size) != 0)
			abort();
		free(out);
	} else if (rc >= 0) {
		abort();
	}

	for (int exact = 0; exact < 2; exact++) {
		long n = packet_decode_prefixed(buf, size, exact, &pv);
		if (n > 0 && ((size_t)n > size || (exact && (size_t)n != size)))
			abort();
	}

	if (size >= 6) {
		/* now within [timestamp, timestamp + 3]: never future or
		 * expired, so the verdict is decided by the codec and the pow */
		struct pow_eval ref;
		uint32_t ts = le32(buf + 2), now = ts + (buf[size - 1] & 3);
		int bits = buf[size - 1] % (TXPOW_MAX_BITS + 1);
		enum drop_reason r;
		if (now < ts)
			now = ts;
		r = packet_check(buf, size, now, bits, 3600, &pv, &pe);
		if (r < DROP_NONE || r >= DROP_MAX)
			abort();
		txpow_eval(buf, size, bits, &ref);
		if ((r == DROP_NONE) !=
		    (rc == E_OK && ref.valid && ref.priority >= 0))
			abort();
		if (r == DROP_NONE && memcmp(pe.hash, ref.hash, 32) != 0)
			abort();
	}
}
