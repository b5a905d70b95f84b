/* test_packet.c - unit tests for src/core/packet.c (codec) and
 * src/core/check.c (admission): round trips, each malformed case with its
 * own error code, the length-prefixed form, and every drop reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/check.h"
#include "core/err.h"
#include "core/packet.h"
#include "core/txpow.h"
#include "core/util.h"

static const uint8_t PUB[33] = {
	0x01, 0xd0, 0x4a, 0xb2, 0x32, 0x74, 0x2b, 0xb4, 0xab, 0x3a, 0x13,
	0x68, 0xbd, 0x46, 0x15, 0xe4, 0xe6, 0xd0, 0x22, 0x4a, 0xb7, 0x1a,
	0x01, 0x6b, 0xaf, 0x85, 0x20, 0xa3, 0x32, 0xc9, 0x77, 0x87, 0x37,
};

static struct packet_fields fields(const char *ta, const char *tb,
                                   const uint8_t *pub, const void *payload,
                                   size_t plen)
{
	struct packet_fields f = {
		.relay = 10, .kind = PACKET_KIND_DATA, .timestamp = 1767225610,
		.amount_a = 0x0102030405060708ULL, .amount_b = UINT64_MAX,
		.pubkey = pub,
		.tag_a = (const uint8_t *)ta, .len_a = ta ? strlen(ta) : 0,
		.tag_b = (const uint8_t *)tb, .len_b = tb ? strlen(tb) : 0,
		.payload = payload, .payload_len = plen, .nonce = 0xa1b2c3d4,
	};
	return f;
}

static void test_d2_layout(void **state)
{
	/* API.md D.2 byte for byte from its fields */
	static const char d2[] =
	    "0a510ab9556900000000000000000000000000000000000767656e6572616c00"
	    "68656c6c6f20776f726c6400a5030000";
	uint8_t want[48], out[64];
	struct packet_fields f = fields("general", NULL, NULL,
	                                "hello world", 12);
	f.amount_a = f.amount_b = 0;
	f.nonce = 933;
	assert_true(hex_decode(want, d2, 48));
	assert_int_equal(packet_encoded_len(&f), 48);
	assert_int_equal(packet_encode(out, sizeof(out), &f), 48);
	assert_memory_equal(out, want, 48);

	struct packet_view pv;
	assert_int_equal(packet_decode(want, 48, &pv), E_OK);
	assert_int_equal(pv.relay, 10);
	assert_int_equal(pv.kind, 'Q');
	assert_int_equal(pv.timestamp, 1767225610u);
	assert_int_equal(pv.hdr_len, 32);
	assert_int_equal(pv.payload_len, 12);
	assert_int_equal(pv.nonce, 933);
	assert_null(pv.pubkey);
	assert_int_equal(pv.len_a, 7);
	assert_memory_equal(pv.tag_a, "general", 7);
	assert_int_equal(pv.len_b, 0);
}

static void roundtrip(const struct packet_fields *f)
{
	uint8_t buf[2048];
	struct packet_view pv;
	size_t len = packet_encode(buf, sizeof(buf), f);

	assert_int_not_equal(len, 0);
	assert_int_equal(len, packet_encoded_len(f));
	assert_int_equal(packet_decode(buf, len, &pv), E_OK);
	assert_ptr_equal(pv.raw, buf);
	assert_int_equal(pv.len, len);
	assert_int_equal(pv.relay, f->relay);
	assert_int_equal(pv.kind, f->kind);
	assert_int_equal(pv.timestamp, f->timestamp);
	assert_int_equal(pv.amount_a, f->amount_a);
	assert_int_equal(pv.amount_b, f->amount_b);
	assert_int_equal(pv.plen, f->pubkey ? 33 : 0);
	if (f->pubkey)
		assert_memory_equal(pv.pubkey, f->pubkey, 33);
	assert_int_equal(pv.len_a, f->len_a);
	assert_memory_equal(pv.tag_a, f->tag_a ? f->tag_a : (const uint8_t *)"",
	                    f->len_a);
	assert_int_equal(pv.len_b, f->len_b);
	assert_memory_equal(pv.tag_b, f->tag_b ? f->tag_b : (const uint8_t *)"",
	                    f->len_b);
	assert_int_equal(pv.hdr_len,
	                 packet_hdr_len(pv.plen, f->len_a, f->len_b));
	assert_int_equal(pv.payload_len, f->payload_len);
	assert_memory_equal(pv.payload, f->payload, f->payload_len);
	assert_int_equal(pv.nonce, f->nonce);
	assert_int_equal(pv.hdr_len + pv.payload_len + 4, len);
}

static void test_roundtrip(void **state)
{
	uint8_t big[1500];
	memset(big, 0xee, sizeof(big));
	struct packet_fields f;

	f = fields("general", NULL, NULL, "x", 1);
	roundtrip(&f);
	f = fields(NULL, NULL, NULL, "x", 1); /* L = 30, the minimum */
	assert_int_equal(packet_encoded_len(&f), PACKET_MIN_LEN);
	roundtrip(&f);
	f = fields("abcdefghijklmno", "ABCDEFGHIJKLMNO", PUB, big, sizeof(big));
	roundtrip(&f);
	f = fields("inbox", NULL, PUB, "\0\0\0", 3);
	f.kind = PACKET_KIND_CANCEL;
	roundtrip(&f);
	f = fields("anon", "", NULL, big, 1168);
	f.kind = PACKET_KIND_ANON;
	f.relay = 0;
	roundtrip(&f);
}

static void test_encode_rejects(void **state)
{
	uint8_t out[256];
	uint8_t badpub[33];
	struct packet_fields f;

	f = fields("general", NULL, NULL, "x", 0);
	assert_int_equal(packet_encoded_len(&f), 0); /* empty payload */
	f = fields("abcdefghijklmnop", NULL, NULL, "x", 1);
	assert_int_equal(packet_encoded_len(&f), 0); /* 16-byte tag */
	f = fields(NULL, "abcdefghijklmnop", NULL, "x", 1);
	assert_int_equal(packet_encoded_len(&f), 0);
	f = fields("a", NULL, NULL, "x", 1);
	f.tag_a = (const uint8_t *)"a\0b";
	f.len_a = 3;
	assert_int_equal(packet_encoded_len(&f), 0); /* NUL in tag */
	memcpy(badpub, PUB, 33);
	badpub[0] = 0x02;
	f = fields("a", NULL, badpub, "x", 1);
	assert_int_equal(packet_encoded_len(&f), 0);
	f = fields("a", NULL, NULL, "x", 1);
	f.kind = 'R';
	assert_int_equal(packet_encoded_len(&f), 0);
	assert_int_equal(packet_encode(out, sizeof(out), &f), 0);
	/* cap one byte short */
	f = fields("a", NULL, NULL, "xyz", 3);
	assert_int_equal(packet_encoded_len(&f), 29 + 1 + 3);
	assert_int_equal(packet_encode(out, 32, &f), 0);
	assert_int_equal(packet_encode(out, 33, &f), 33);
	/* over 1 MiB: a length is still reported, the caller checks it */
	f.payload_len = PACKET_MAX_LEN;
	assert_int_equal(packet_encoded_len(&f), PACKET_MAX_LEN + 30);
}

/* A valid packet in buf: plen 33, tagA "ab", tagB "cd", payload 4. */
static size_t base_packet(uint8_t *buf, size_t cap)
{
	struct packet_fields f = fields("ab", "cd", PUB, "\x01\x02\x03\x04", 4);
	return packet_encode(buf, cap, &f);
}

static void test_decode_malformed(void **state)
{
	uint8_t buf[PACKET_MAX_LEN + 8];
	struct packet_view pv;
	size_t len = base_packet(buf, sizeof(buf));
	/* offsets: plen 22, pubkey 23..55, lenA 56, tagA 57..58, lenB 59,
	 * tagB 60..61, payload 62..65, nonce 66..69 */
	assert_int_equal(len, 70);
	assert_int_equal(packet_decode(buf, len, &pv), E_OK);
	assert_int_equal(pv.hdr_len, 62);

	/* oversize comes first, whatever the bytes */
	memset(buf + len, 0, sizeof(buf) - len);
	assert_int_equal(packet_decode(buf, PACKET_MAX_LEN + 1, &pv),
	                 E_PKT_OVERSIZE);
	/* a 1 MiB packet is not oversize: trailing zeros are payload */
	assert_int_equal(packet_decode(buf, PACKET_MAX_LEN, &pv), E_OK);
	assert_int_equal(pv.payload_len, PACKET_MAX_LEN - 62 - 4);

	/* shorter than 30 */
	for (size_t l = 0; l < PACKET_MIN_LEN; l++)
		assert_int_equal(packet_decode(buf, l, &pv), E_PKT_TRUNCATED);

	/* kind */
	buf[1] = 'R';
	assert_int_equal(packet_decode(buf, len, &pv), E_PKT_FUNCID);
	buf[1] = 'Q';

	/* plen */
	buf[22] = 32;
	assert_int_equal(packet_decode(buf, len, &pv), E_PKT_PLEN);
	buf[22] = 34;
	assert_int_equal(packet_decode(buf, len, &pv), E_PKT_PLEN);
	buf[22] = 33;

	/* pubkey prefix */
	buf[23] = 0x02;
	assert_int_equal(packet_decode(buf, len, &pv), E_PKT_DESTPUB);
	buf[23] = 0x01;

	/* a pubkey running into the nonce */
	assert_int_equal(packet_decode(buf, 30, &pv), E_PKT_TRUNCATED);
	assert_int_equal(packet_decode(buf, 60, &pv), E_PKT_TRUNCATED);

	/* tagA length past the bytes left, then over 15 with bytes left */
	buf[56] = 200;
	assert_int_equal(packet_decode(buf, len, &pv), E_PKT_TRUNCATED);
	buf[56] = 16;
	assert_int_equal(packet_decode(buf, 200, &pv), E_PKT_TAGLEN);
	buf[56] = 2;

	/* tagB */
	buf[59] = 9; /* 60 + 9 > 66 */
	assert_int_equal(packet_decode(buf, len, &pv), E_PKT_TRUNCATED);
	buf[59] = 16;
	assert_int_equal(packet_decode(buf, 200, &pv), E_PKT_TAGLEN);
	buf[59] = 2;

	/* NUL in either tag */
	buf[57] = 0;
	assert_int_equal(packet_decode(buf, len, &pv), E_PKT_TAGNUL);
	buf[57] = 'a';
	buf[61] = 0;
	assert_int_equal(packet_decode(buf, len, &pv), E_PKT_TAGNUL);
	buf[61] = 'd';

	/* the payload is empty when the tags end right at the nonce */
	buf[59] = 6;
	assert_int_equal(packet_decode(buf, len, &pv), E_PKT_EMPTY);
	buf[59] = 7;
	assert_int_equal(packet_decode(buf, len, &pv), E_PKT_TRUNCATED);
	buf[59] = 2;
	/* lenB byte itself where the nonce starts */
	buf[56] = 9;
	assert_int_equal(packet_decode(buf, len, &pv), E_PKT_TRUNCATED);
	buf[56] = 2;

	assert_int_equal(packet_decode(buf, len, &pv), E_OK);

	/* every proper prefix of a valid packet is rejected without reading
	 * past it (ASan checks the "without reading" part) */
	for (size_t l = 0; l < len; l++) {
		uint8_t *copy = xmalloc(l ? l : 1);
		memcpy(copy, buf, l);
		int rc = packet_decode(copy, l, &pv);
		/* cutting off only payload bytes still decodes */
		if (l >= 67)
			assert_int_equal(rc, E_OK);
		else
			assert_int_not_equal(rc, E_OK);
		free(copy);
	}
}

static void test_decode_prefixed(void **state)
{
	uint8_t buf[256];
	struct packet_view pv;
	size_t len = base_packet(buf + 4, sizeof(buf) - 8);

	put_le32(buf, (uint32_t)len);
	assert_int_equal(packet_decode_prefixed(buf, len + 4, 1, &pv),
	                 (long)len + 4);
	assert_ptr_equal(pv.raw, buf + 4);
	assert_int_equal(pv.len, len);
	/* trailing bytes */
	assert_int_equal(packet_decode_prefixed(buf, len + 5, 1, &pv),
	                 E_PKT_TRAILING);
	assert_int_equal(packet_decode_prefixed(buf, len + 5, 0, &pv),
	                 (long)len + 4);
	/* declared length runs past the buffer */
	assert_int_equal(packet_decode_prefixed(buf, len + 3, 0, &pv),
	                 E_PKT_TRUNCATED);
	assert_int_equal(packet_decode_prefixed(buf, 3, 0, &pv),
	                 E_PKT_TRUNCATED);
	assert_int_equal(packet_decode_prefixed(buf, 0, 0, &pv),
	                 E_PKT_TRUNCATED);
	/* declared length over 1 MiB, whatever follows */
	put_le32(buf, PACKET_MAX_LEN + 1);
	assert_int_equal(packet_decode_prefixed(buf, len + 4, 0, &pv),
	                 E_PKT_OVERSIZE);
	put_le32(buf, UINT32_MAX);
	assert_int_equal(packet_decode_prefixed(buf, len + 4, 0, &pv),
	                 E_PKT_OVERSIZE);
	/* inner errors pass through */
	put_le32(buf, (uint32_t)len);
	buf[4 + 1] = 'Z';
	assert_int_equal(packet_decode_prefixed(buf, len + 4, 1, &pv),
	                 E_PKT_FUNCID);
	put_le32(buf, 10);
	assert_int_equal(packet_decode_prefixed(buf, len + 4, 0, &pv),
	                 E_PKT_TRUNCATED);
}

/* ---- packet_check ---- */

static uint64_t fixed_clock(void *arg)
{
	return *(uint64_t *)arg;
}

/* Mine buf to at least `prio` at txpowbits 12 with timestamp ts. */
static void mine(uint8_t *buf, size_t len, uint32_t ts, int prio)
{
	uint64_t ms = (uint64_t)ts * 1000;
	struct txpow_job job = {
		.pkt = buf, .len = len, .txpowbits = 12, .requested = prio,
		.clock = fixed_clock, .clock_arg = &ms,
	};
	struct pow_eval pe;
	assert_int_equal(txpow_mine(&job, &pe), E_OK);
	assert_int_equal(le32(buf + PACKET_OFF_TIME), ts);
}

static void test_check(void **state)
{
	static uint8_t buf[PACKET_MAX_LEN + 1];
	struct packet_view pv;
	struct pow_eval pe;
	const uint32_t now = 1767225610, purge = 3600;
	size_t len = base_packet(buf, sizeof(buf));

	assert_string_equal(drop_reason_name[DROP_MALFORMED], "malformed");
	assert_string_equal(drop_reason_name[DROP_OVERSIZE], "oversize");
	assert_string_equal(drop_reason_name[DROP_BADPOW], "badpow");
	assert_string_equal(drop_reason_name[DROP_LOWPRIORITY], "lowpriority");
	assert_string_equal(drop_reason_name[DROP_FUTURE], "future");
	assert_string_equal(drop_reason_name[DROP_EXPIRED], "expired");
	assert_string_equal(drop_reason_name[DROP_OVERLOAD], "overload");

	mine(buf, len, now, 0);
	assert_int_equal(packet_check(buf, len, now, 12, purge, &pv, &pe),
	                 DROP_NONE);
	assert_true(pe.valid);
	assert_int_equal(pv.timestamp, now);
	struct pow_eval ref;
	txpow_eval(buf, len, 12, &ref);
	assert_memory_equal(pe.hash, ref.hash, 32);

	/* clock window: now + 1 is fine, now + 2 is future; held while
	 * now - timestamp < purgetime */
	assert_int_equal(packet_check(buf, len, now - 1, 12, purge, &pv, &pe),
	                 DROP_NONE);
	assert_int_equal(packet_check(buf, len, now - 2, 12, purge, &pv, &pe),
	                 DROP_FUTURE);
	assert_int_equal(packet_check(buf, len, now + purge - 1, 12, purge,
	                              &pv, &pe), DROP_NONE);
	assert_int_equal(packet_check(buf, len, now + purge, 12, purge, &pv,
	                              &pe), DROP_EXPIRED);
	assert_int_equal(packet_check(buf, len, UINT32_MAX, 12, UINT32_MAX,
	                              &pv, &pe), DROP_NONE);
	assert_int_equal(packet_check(buf, len, 0, 12, purge, &pv, &pe),
	                 DROP_FUTURE);

	/* badpow: the hash checked at other txpowbits (or a changed nonce) */
	uint32_t nonce = le32(buf + len - 4);
	put_le32(buf + len - 4, nonce + 1);
	txpow_eval(buf, len, 12, &ref);
	assert_int_equal(packet_check(buf, len, now, 12, purge, &pv, &pe),
	                 ref.valid ? (ref.priority < 0 ? DROP_LOWPRIORITY
	                                               : DROP_NONE)
	                           : DROP_BADPOW);
	put_le32(buf + len - 4, nonce);
	assert_int_equal(packet_check(buf, len, now, 0, purge, &pv, &pe),
	                 DROP_NONE);

	/* malformed / oversize, and the cheap checks come before the hash */
	buf[1] = 'R';
	assert_int_equal(packet_check(buf, len, now, 12, purge, &pv, &pe),
	                 DROP_MALFORMED);
	buf[1] = 'Q';
	assert_int_equal(packet_check(buf, 29, now, 12, purge, &pv, &pe),
	                 DROP_MALFORMED);
	assert_int_equal(packet_check(buf, PACKET_MAX_LEN + 1, now, 12, purge,
	                              &pv, &pe), DROP_OVERSIZE);

	/* lowpriority: a valid hash at L >= 1024 (pen 1) with z = 0: try
	 * nonces until one gives priority -1 (about 8192 tries). */
	static uint8_t payload[1100];
	memset(payload, 0x5c, sizeof(payload));
	struct packet_fields f = fields("ab", NULL, NULL, payload, 1100);
	size_t blen = packet_encode(buf, sizeof(buf), &f);
	int found = 0;
	assert_int_equal(txpow_penalty(blen), 1);
	for (uint32_t n = 0; n < 2000000 && !found; n++) {
		put_le32(buf + blen - 4, n);
		txpow_eval(buf, blen, 12, &ref);
		found = ref.valid && ref.priority == -1;
	}
	assert_true(found);
	assert_int_equal(packet_check(buf, blen, f.timestamp, 12, purge, &pv,
	                              &pe), DROP_LOWPRIORITY);
	assert_int_equal(pe.priority, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_d2_layout),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_encode_rejects),
		cmocka_unit_test(test_decode_malformed),
		cmocka_unit_test(test_decode_prefixed),
		cmocka_unit_test(test_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
