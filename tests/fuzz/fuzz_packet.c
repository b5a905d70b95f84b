/* fuzz_packet.c - libFuzzer target for the packet codec and admission
 * check: packet_decode, packet_decode_prefixed (both modes), packet_check,
 * and encode(decode(x)) == x for every x that decodes; and the file
 * format's decoders (core/files.h): the locators packet check (its
 * invariants and encode(decode(x)) == x when it passes), the filename
 * rules, and the fragment / hash packet checks on every decoded packet.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "core/err.h"
#include "core/files.h"
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
static void locators(const uint8_t *buf, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Copy into an exact-size heap buffer so ASan sees any overread. */
	uint8_t *buf = malloc(size ? size : 1);

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	one(buf, size);
	locators(buf, size);
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
	if (rc == E_OK && pv.plen == PACKET_PUBKEY_LEN) {
		/* a packet that says it is fragment amountA of a file of
		 * amountB bytes named tagA must pass the length rule */
		bool present = files_fragment_present(
			&pv, true, pv.pubkey, (const char *)pv.tag_a, pv.len_a,
			pv.timestamp, (uint32_t)pv.amount_a, pv.amount_b);
		if (present && (pv.payload_len < FILES_SIGNED_OVERHEAD ||
		                pv.payload_len - FILES_SIGNED_OVERHEAD !=
		                        files_frag_len(pv.amount_b,
		                                       (uint32_t)pv.amount_a)))
			abort();
		(void)files_hash_candidate(&pv, pv.amount_a & 1, pv.pubkey,
		                           (const char *)pv.tag_b, pv.len_b,
		                           pv.amount_a, (uint32_t)pv.amount_b);
	}
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

/* Input: flags, 8 bytes amountA, 8 bytes amountB, 8 bytes offset0, then
 * the plaintext.  Flags steer towards the accepted shape: amountB = the
 * fragment count of amountA, or k from the plaintext length with a
 * matching size. */
static void locators(const uint8_t *buf, size_t size)
{
	struct files_locators l;
	const uint8_t *plain;
	size_t plen;
	uint64_t a, b, off;
	uint8_t flags;
	int rc;

	if (size < 25)
		return;
	flags = buf[0];
	a = le64(buf + 1);
	b = le64(buf + 9);
	off = (flags & 4) ? le64(buf + 17) : 0;
	plain = buf + 25;
	plen = size - 25;
	if (flags & 1)
		a %= FILES_MAX_SIZE + 2;
	if (flags & 2)
		b = files_frag_count(a);
	if ((flags & 8) && plen >= 8) {
		b = (plen - 8) / 8;
		a = b * FILES_FRAG - (b ? buf[1] % FILES_FRAG : 0);
	}
	if ((flags & 16) && plen >= 8)
		off = le64(plain);
	rc = files_locators_parse(plain, plen, a, b, (flags & 32) != 0, off,
	                          &l);
	if (l.numlocators != (plen >= 8 ? (plen - 8) / 8 : 0) || l.size != a)
		abort();
	if (rc == E_OK) {
		uint64_t *locs;
		uint8_t *out;
		if (b < 1 || b > FILES_MAX_FRAGS || l.k != b ||
		    plen != files_locators_len(l.k) || l.offset0 != off ||
		    files_frag_count(a) != b || a > FILES_MAX_SIZE ||
		    ((flags & 32) && a > FILES_SLICE))
			abort();
		locs = malloc((size_t)l.k * sizeof *locs);
		out = malloc(plen);
		if (!locs || !out)
			abort();
		for (uint32_t i = 0; i < l.k; i++) {
			uint32_t t, id;
			files_locator_get(&l, i, &t, &id);
			locs[i] = files_locator(t, id);
			if (locs[i] != le64(plain + 8 + (size_t)8 * i))
				abort();
			if (files_frag_len(a, i) == 0 ||
			    files_frag_len(a, i) > FILES_FRAG)
				abort();
		}
		files_locators_encode(out, off, locs, l.k);
		if (memcmp(out, plain, plen) != 0)
			abort();
		free(locs);
		free(out);
	} else if (rc != E_PARSE) {
		abort();
	}
	/* the filename rules on the same bytes */
	size_t nl = plen < 20 ? plen : 20;
	if (files_name_check((const char *)plain, nl) == FILES_NAME_OK) {
		if (nl == 0 || nl > FILES_NAME_MAX ||
		    memchr(plain, '/', nl) || memchr(plain, '\\', nl) ||
		    (nl == 2 && plain[0] == '.' && plain[1] == '.'))
			abort();
		for (size_t i = 0; i < nl; i++)
			if (plain[i] < 0x20)
				abort();
	}
}
