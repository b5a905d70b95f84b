/* test_wire.c - unit tests for src/proto/wire.c: frame header, each
 * message's round trip, malformed payloads (short, trailing, counts over
 * caps), handshake admission reasons.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "proto/wire.h"

/* Split wb into its one frame: check header, return payload. */
static const uint8_t *one_frame(const struct wbuf *wb, uint8_t want_type,
                                uint32_t *plen)
{
	uint8_t type;
	assert_int_equal(wire_hdr_decode(wb->p, wb->len, &type, plen), E_OK);
	assert_int_equal(type, want_type);
	assert_int_equal(wb->len, WIRE_HDR_LEN + *plen);
	return wb->p + WIRE_HDR_LEN;
}

static void test_header(void **state)
{
	uint8_t h[WIRE_HDR_LEN], type;
	uint32_t len;

	wire_hdr_encode(h, WIRE_INV, 1234);
	assert_memory_equal(h, "DXP2", 4);
	assert_int_equal(wire_hdr_decode(h, 8, &type, &len), E_AGAIN);
	assert_int_equal(wire_hdr_decode(h, 9, &type, &len), E_OK);
	assert_int_equal(type, WIRE_INV);
	assert_int_equal(len, 1234);
	wire_hdr_encode(h, WIRE_PACKET, WIRE_MAX_PAYLOAD);
	assert_int_equal(wire_hdr_decode(h, 9, &type, &len), E_OK);
	wire_hdr_encode(h, WIRE_PACKET, WIRE_MAX_PAYLOAD + 1);
	assert_int_equal(wire_hdr_decode(h, 9, &type, &len), E_TOOBIG);
	wire_hdr_encode(h, 0, 0);
	assert_int_equal(wire_hdr_decode(h, 9, &type, &len), E_PROTO);
	wire_hdr_encode(h, WIRE_TYPE_MAX, 0);
	assert_int_equal(wire_hdr_decode(h, 9, &type, &len), E_PROTO);
	wire_hdr_encode(h, WIRE_PING, 8);
	h[0] ^= 1;
	assert_int_equal(wire_hdr_decode(h, 9, &type, &len), E_PROTO);
	assert_string_equal(wire_type_name(WIRE_SUMMARY_SEC), "summary_sec");
	assert_string_equal(wire_type_name(99), "unknown");
}

static void test_version(void **state)
{
	struct wire_version v = {0}, d;
	struct wbuf wb;
	uint32_t plen;
	char why[128];

	v.version = 1;
	v.services = WIRE_SVC_DEXP2P | WIRE_SVC_FULL;
	v.txpowbits = 12;
	v.purgetime = 3600;
	v.nonce = 0x1122334455667788ULL;
	v.listen_port = 7770;
	v.time = 1767225300;
	v.plen = 33;
	for (int i = 0; i < 33; i++)
		v.pubkey[i] = (uint8_t)(i + 1);
	v.pubkey[0] = 1;
	strcpy(v.ua, "/dexp2p:0.1.0/");
	v.ualen = (uint8_t)strlen(v.ua);

	wb_init(&wb);
	wire_version_encode(&wb, &v);
	const uint8_t *p = one_frame(&wb, WIRE_VERSION, &plen);
	assert_int_equal(plen, 32 + 33 + 1 + 14);
	assert_int_equal(wire_version_decode(p, plen, &d), E_OK);
	assert_int_equal(d.version, 1);
	assert_true(d.services == v.services);
	assert_int_equal(d.txpowbits, 12);
	assert_int_equal(d.purgetime, 3600);
	assert_true(d.nonce == v.nonce);
	assert_int_equal(d.listen_port, 7770);
	assert_int_equal(d.time, v.time);
	assert_int_equal(d.plen, 33);
	assert_memory_equal(d.pubkey, v.pubkey, 33);
	assert_string_equal(d.ua, "/dexp2p:0.1.0/");
	/* every truncation and one trailing byte are refused */
	for (uint32_t n = 0; n < plen; n++)
		assert_int_equal(wire_version_decode(p, n, &d), E_PROTO);
	uint8_t big[256];
	memcpy(big, p, plen);
	big[plen] = 0;
	assert_int_equal(wire_version_decode(big, plen + 1, &d), E_PROTO);
	big[31] = 32; /* bad plen */
	assert_int_equal(wire_version_decode(big, plen, &d), E_PROTO);

	assert_true(wire_version_check(&v, 12, 3600, 1, why, sizeof(why)));
	assert_false(wire_version_check(&v, 10, 3600, 1, why, sizeof(why)));
	assert_string_equal(why, "peer txpowbits 12 != 10");
	assert_false(wire_version_check(&v, 12, 600, 1, why, sizeof(why)));
	assert_string_equal(why, "peer purgetime 3600 != 600");
	assert_false(wire_version_check(&v, 12, 3600, v.nonce, why,
	                                sizeof(why)));
	assert_string_equal(why, "connected to self");
	v.services = WIRE_SVC_FULL;
	assert_false(wire_version_check(&v, 12, 3600, 1, why, sizeof(why)));
	assert_string_equal(why, "peer is not a dexp2p node");

	/* no pubkey, empty user agent */
	v.services = WIRE_SVC_DEXP2P;
	v.plen = 0;
	v.ualen = 0;
	wb_reset(&wb);
	wire_version_encode(&wb, &v);
	p = one_frame(&wb, WIRE_VERSION, &plen);
	assert_int_equal(plen, 33);
	assert_int_equal(wire_version_decode(p, plen, &d), E_OK);
	assert_int_equal(d.plen, 0);
	assert_string_equal(d.ua, "");
	wb_fini(&wb);
}

static void test_ping_addr(void **state)
{
	struct wbuf wb;
	uint32_t plen;
	uint64_t x;
	struct wire_addr a[3] = {0}, d[3];
	size_t c;

	wb_init(&wb);
	wire_nonce_encode(&wb, WIRE_PONG, 0xdeadbeefcafeULL);
	const uint8_t *p = one_frame(&wb, WIRE_PONG, &plen);
	assert_int_equal(wire_nonce_decode(p, plen, &x), E_OK);
	assert_true(x == 0xdeadbeefcafeULL);
	assert_int_equal(wire_nonce_decode(p, 7, &x), E_PROTO);

	for (int i = 0; i < 3; i++) {
		a[i].ip[10] = a[i].ip[11] = 0xff;
		a[i].ip[12] = 127;
		a[i].ip[15] = (uint8_t)(i + 1);
		a[i].port = (uint16_t)(7770 + i);
		a[i].last_seen = 1000u + (uint32_t)i;
		a[i].services = 3;
	}
	wb_reset(&wb);
	wire_addr_encode(&wb, a, 3);
	p = one_frame(&wb, WIRE_ADDR, &plen);
	assert_int_equal(plen, 2 + 3 * WIRE_ADDR_LEN);
	assert_int_equal(wire_addr_decode(p, plen, d, 3, &c), E_OK);
	assert_int_equal(c, 3);
	for (int i = 0; i < 3; i++) {
		assert_memory_equal(d[i].ip, a[i].ip, 16);
		assert_int_equal(d[i].port, a[i].port);
		assert_int_equal(d[i].last_seen, a[i].last_seen);
		assert_int_equal(d[i].services, a[i].services);
	}
	assert_int_equal(wire_addr_decode(p, plen, d, 2, &c), E_OK);
	assert_int_equal(c, 2);
	assert_int_equal(wire_addr_decode(p, plen - 1, d, 3, &c), E_PROTO);
	/* count over the cap */
	uint8_t bad[2] = {0xe9, 0x03}; /* 1001 */
	assert_int_equal(wire_addr_decode(bad, 2, d, 3, &c), E_PROTO);
	wb_fini(&wb);
}

static void test_ids(void **state)
{
	struct wbuf wb;
	uint32_t plen, c;
	const uint8_t *ids;
	uint64_t s[5] = {1, 2, 0xffffffffffffffffULL, 42, 7};

	wb_init(&wb);
	wire_ids_encode(&wb, WIRE_GETDATA, s, 5);
	const uint8_t *p = one_frame(&wb, WIRE_GETDATA, &plen);
	assert_int_equal(wire_ids_decode(p, plen, &ids, &c), E_OK);
	assert_int_equal(c, 5);
	for (uint32_t i = 0; i < 5; i++)
		assert_true(wire_ids_at(ids, i) == s[i]);
	assert_int_equal(wire_ids_decode(p, plen - 1, &ids, &c), E_PROTO);
	uint8_t zero[4] = {0};
	assert_int_equal(wire_ids_decode(zero, 4, &ids, &c), E_PROTO);
	uint8_t huge[4] = {0x01, 0x00, 0x01, 0x00}; /* 65537 */
	assert_int_equal(wire_ids_decode(huge, 4, &ids, &c), E_PROTO);

	uint8_t h[32] = {0};
	for (int i = 0; i < 32; i++)
		h[i] = (uint8_t)i;
	assert_true(wire_sid(h) == 0x0f0e0d0c0b0a0908ULL);
	wb_fini(&wb);
}

/* GETBITS: seq + 1..8192 bitmap bytes. */
static void test_getbits(void **state)
{
	struct wbuf wb;
	uint32_t plen, seq, nb;
	const uint8_t *bits;
	uint8_t bm[3] = {0x81, 0x00, 0x04};

	wb_init(&wb);
	wire_getbits_encode(&wb, 0xfffffffeu, bm, 3);
	const uint8_t *p = one_frame(&wb, WIRE_GETBITS, &plen);
	assert_int_equal(plen, 7);
	assert_int_equal(wire_getbits_decode(p, plen, &seq, &bits, &nb), E_OK);
	assert_true(seq == 0xfffffffeu);
	assert_int_equal(nb, 3);
	assert_memory_equal(bits, bm, 3);
	assert_int_equal(wire_payload_validate(WIRE_GETBITS, p, plen), E_OK);
	/* no bitmap, or one longer than 65,536 bits */
	assert_int_equal(wire_getbits_decode(p, 4, &seq, &bits, &nb), E_PROTO);
	uint8_t *big = calloc(1, 4 + WIRE_MAX_BITMAP + 1);
	assert_non_null(big);
	assert_int_equal(wire_getbits_decode(big, 4 + WIRE_MAX_BITMAP, &seq,
	                                     &bits, &nb), E_OK);
	assert_int_equal(wire_getbits_decode(big, 4 + WIRE_MAX_BITMAP + 1,
	                                     &seq, &bits, &nb), E_PROTO);
	free(big);
	wb_fini(&wb);
}

/* PACKETS: entries len u32 + bytes filling the payload exactly. */
static void test_packets(void **state)
{
	struct wbuf wb;
	struct wire_packets w;
	const uint8_t *pk;
	uint32_t plen, len;
	uint8_t a[30], b[1];

	memset(a, 0x11, sizeof(a));
	b[0] = 0x22;
	wb_init(&wb);
	wb_begin(&wb, WIRE_PACKETS);
	wb_u32(&wb, sizeof(a));
	wb_bytes(&wb, a, sizeof(a));
	wb_u32(&wb, sizeof(b));
	wb_bytes(&wb, b, sizeof(b));
	wb_end(&wb);
	const uint8_t *p = one_frame(&wb, WIRE_PACKETS, &plen);
	assert_int_equal(plen, wire_packets_entry_len(30) +
	                       wire_packets_entry_len(1));
	assert_int_equal(wire_packets_decode(p, plen, &w), E_OK);
	assert_int_equal(w.n, 2);
	assert_true(wire_packets_next(&w, &pk, &len));
	assert_int_equal(len, 30);
	assert_memory_equal(pk, a, 30);
	assert_true(wire_packets_next(&w, &pk, &len));
	assert_int_equal(len, 1);
	assert_int_equal(pk[0], 0x22);
	assert_false(wire_packets_next(&w, &pk, &len));
	assert_int_equal(wire_payload_validate(WIRE_PACKETS, p, plen), E_OK);
	/* short last entry, trailing bytes, empty, zero or oversize length */
	assert_int_equal(wire_packets_decode(p, plen - 1, &w), E_PROTO);
	assert_int_equal(wire_packets_decode(p, 36, &w), E_PROTO);
	assert_int_equal(wire_packets_decode(p, 0, &w), E_PROTO);
	uint8_t z[5] = {0};
	assert_int_equal(wire_packets_decode(z, 4, &w), E_PROTO);
	put_le32(z, PACKET_MAX_LEN + 1);
	assert_int_equal(wire_packets_decode(z, 5, &w), E_PROTO);
	wb_fini(&wb);
}

static void test_summary(void **state)
{
	struct wbuf wb;
	uint32_t plen, a, b;
	struct wire_summary s;
	struct wire_summary_sec ss;

	/* 119 .. 245: minutes 1, 2, 3, 4 */
	assert_int_equal(wire_minutes(119, 245), 4);
	wire_minute_range(119, 245, 0, &a, &b);
	assert_int_equal(a, 119); assert_int_equal(b, 119);
	wire_minute_range(119, 245, 1, &a, &b);
	assert_int_equal(a, 120); assert_int_equal(b, 179);
	wire_minute_range(119, 245, 3, &a, &b);
	assert_int_equal(a, 240); assert_int_equal(b, 245);

	wb_init(&wb);
	wb_begin(&wb, WIRE_SUMMARY);
	wb_u32(&wb, 119); wb_u32(&wb, 245); wb_u16(&wb, 4);
	for (uint32_t i = 0; i < 4; i++) {
		wb_u32(&wb, i * 10);
		wb_u64(&wb, 0x100 + i);
	}
	wb_end(&wb);
	const uint8_t *p = one_frame(&wb, WIRE_SUMMARY, &plen);
	assert_int_equal(wire_summary_decode(p, plen, &s), E_OK);
	uint32_t cnt;
	uint64_t fp;
	wire_summary_at(&s, 3, &cnt, &fp);
	assert_int_equal(cnt, 30);
	assert_true(fp == 0x103);
	assert_int_equal(wire_summary_decode(p, plen - 1, &s), E_PROTO);
	/* n that does not match the span */
	uint8_t bad[10 + 48];
	memcpy(bad, p, plen);
	bad[8] = 3;
	assert_int_equal(wire_summary_decode(bad, plen - 12, &s), E_PROTO);
	/* t1 < t0 */
	memcpy(bad, p, plen);
	put_le32(bad + 4, 100);
	assert_int_equal(wire_summary_decode(bad, plen, &s), E_PROTO);

	wb_reset(&wb);
	wb_begin(&wb, WIRE_SUMMARY_SEC);
	wb_u32(&wb, 119); wb_u32(&wb, 245); wb_u32(&wb, 2);
	wb_u32(&wb, 130); wb_u32(&wb, 5); wb_u64(&wb, 77);
	wb_u32(&wb, 131); wb_u32(&wb, 0); wb_u64(&wb, 0);
	wb_end(&wb);
	p = one_frame(&wb, WIRE_SUMMARY_SEC, &plen);
	assert_int_equal(wire_summary_sec_decode(p, plen, &ss), E_OK);
	uint32_t t;
	wire_summary_sec_at(&ss, 0, &t, &cnt, &fp);
	assert_int_equal(t, 130); assert_int_equal(cnt, 5);
	assert_true(fp == 77);
	assert_int_equal(wire_summary_sec_decode(p, plen + 0 - 16, &ss),
	                 E_PROTO);
	wb_fini(&wb);
}

static void test_idlist(void **state)
{
	struct wbuf wb;
	uint32_t plen, t, c;
	struct wire_idlist l;
	const uint8_t *ids;

	wb_init(&wb);
	wb_begin(&wb, WIRE_IDLIST);
	wb_u32(&wb, 3);
	wb_u32(&wb, 100); wb_u32(&wb, 2); wb_u64(&wb, 11); wb_u64(&wb, 12);
	wb_u32(&wb, 101); wb_u32(&wb, 0);
	wb_u32(&wb, 102); wb_u32(&wb, 1); wb_u64(&wb, 13);
	wb_end(&wb);
	const uint8_t *p = one_frame(&wb, WIRE_IDLIST, &plen);
	assert_int_equal(wire_idlist_decode(p, plen, &l), E_OK);
	assert_int_equal(l.n, 3);
	assert_true(wire_idlist_next(&l, &t, &c, &ids));
	assert_int_equal(t, 100); assert_int_equal(c, 2);
	assert_true(wire_ids_at(ids, 1) == 12);
	assert_true(wire_idlist_next(&l, &t, &c, &ids));
	assert_int_equal(t, 101); assert_int_equal(c, 0);
	assert_true(wire_idlist_next(&l, &t, &c, &ids));
	assert_int_equal(t, 102); assert_true(wire_ids_at(ids, 0) == 13);
	assert_false(wire_idlist_next(&l, &t, &c, &ids));
	for (uint32_t n = 0; n < plen; n++)
		assert_int_equal(wire_idlist_decode(p, n, &l), E_PROTO);
	/* a count that overruns the payload */
	uint8_t bad[64];
	memcpy(bad, p, plen);
	put_le32(bad + 8, 0x20000000u);
	assert_int_equal(wire_idlist_decode(bad, plen, &l), E_PROTO);
	wb_fini(&wb);
}

static void test_validate(void **state)
{
	uint8_t z[8] = {0};
	assert_int_equal(wire_payload_validate(WIRE_VERACK, z, 0), E_OK);
	assert_int_equal(wire_payload_validate(WIRE_VERACK, z, 1), E_PROTO);
	assert_int_equal(wire_payload_validate(WIRE_GETADDR, z, 0), E_OK);
	assert_int_equal(wire_payload_validate(WIRE_PING, z, 8), E_OK);
	assert_int_equal(wire_payload_validate(WIRE_PACKET, z, 0), E_PROTO);
	assert_int_equal(wire_payload_validate(0, z, 0), E_PROTO);
	assert_int_equal(wire_payload_validate(WIRE_INV, z, 4), E_PROTO);
}

/* Several frames built back to back parse one after the other. */
static void test_stream(void **state)
{
	struct wbuf wb;
	uint64_t s[1] = {9};
	uint8_t type;
	uint32_t len;

	wb_init(&wb);
	wire_nonce_encode(&wb, WIRE_PING, 5);
	wire_ids_encode(&wb, WIRE_INV, s, 1);
	wb_begin(&wb, WIRE_VERACK);
	wb_end(&wb);
	size_t off = 0;
	uint8_t want[3] = {WIRE_PING, WIRE_INV, WIRE_VERACK};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(wire_hdr_decode(wb.p + off, wb.len - off, &type,
		                                 &len), E_OK);
		assert_int_equal(type, want[i]);
		assert_int_equal(wire_payload_validate(type,
		                 wb.p + off + WIRE_HDR_LEN, len), E_OK);
		off += WIRE_HDR_LEN + len;
	}
	assert_int_equal(off, wb.len);
	wb_fini(&wb);
}

/* GETPKTS / PKTREPLY / PKTMISS: round trips, every bound, trailing and
 * short payloads. */
static void test_pktkeys(void **state)
{
	struct wire_pktkey keys[WIRE_PKT_MAX_KEYS + 1];
	struct wbuf wb;
	const uint8_t *p, *kp;
	uint32_t plen, reqid, count;
	uint8_t flags;

	for (uint32_t i = 0; i <= WIRE_PKT_MAX_KEYS; i++) {
		keys[i].timestamp = 1767225300u + i;
		keys[i].id = 0xfedc0000u + i;
	}
	wb_init(&wb);
	wire_getpkts_encode(&wb, 77, keys, 3);
	p = one_frame(&wb, WIRE_GETPKTS, &plen);
	assert_int_equal(plen, 6 + 3 * 8);
	assert_int_equal(wire_getpkts_decode(p, plen, &reqid, &kp, &count),
	                 E_OK);
	assert_int_equal(reqid, 77);
	assert_int_equal(count, 3);
	for (uint32_t i = 0; i < 3; i++) {
		struct wire_pktkey k = wire_pktkey_at(kp, i);
		assert_int_equal(k.timestamp, keys[i].timestamp);
		assert_int_equal(k.id, keys[i].id);
	}
	assert_int_equal(wire_payload_validate(WIRE_GETPKTS, p, plen), E_OK);
	/* one byte short, one trailing, the count lying */
	assert_int_equal(wire_getpkts_decode(p, plen - 1, &reqid, &kp, &count),
	                 E_PROTO);
	uint8_t big[6 + 8 * (WIRE_PKT_MAX_KEYS + 1) + 1];
	memcpy(big, p, plen);
	big[plen] = 0;
	assert_int_equal(wire_getpkts_decode(big, plen + 1, &reqid, &kp,
	                                     &count), E_PROTO);
	big[4] = 2;
	assert_int_equal(wire_getpkts_decode(big, plen, &reqid, &kp, &count),
	                 E_PROTO);
	assert_int_equal(wire_getpkts_decode(big, 5, &reqid, &kp, &count),
	                 E_PROTO);
	/* count 0 and count over the cap are refused even when the bytes
	 * match */
	big[4] = 0;
	big[5] = 0;
	assert_int_equal(wire_getpkts_decode(big, 6, &reqid, &kp, &count),
	                 E_PROTO);
	wb_reset(&wb);
	wire_getpkts_encode(&wb, 1, keys, WIRE_PKT_MAX_KEYS);
	p = one_frame(&wb, WIRE_GETPKTS, &plen);
	assert_int_equal(wire_getpkts_decode(p, plen, &reqid, &kp, &count),
	                 E_OK);
	assert_int_equal(count, WIRE_PKT_MAX_KEYS);
	memcpy(big, p, plen);
	big[4] = (uint8_t)((WIRE_PKT_MAX_KEYS + 1) & 0xff);
	big[5] = (uint8_t)((WIRE_PKT_MAX_KEYS + 1) >> 8);
	memset(big + plen, 0, 8);
	assert_int_equal(wire_getpkts_decode(big, plen + 8, &reqid, &kp,
	                                     &count), E_PROTO);

	/* PKTMISS: 0 keys is fine (all served), flags other than BUSY not */
	wb_reset(&wb);
	wire_pktmiss_encode(&wb, 9, 0, keys, 0);
	p = one_frame(&wb, WIRE_PKTMISS, &plen);
	assert_int_equal(plen, 7);
	assert_int_equal(wire_pktmiss_decode(p, plen, &reqid, &flags, &kp,
	                                     &count), E_OK);
	assert_int_equal(count, 0);
	assert_int_equal(flags, 0);
	wb_reset(&wb);
	wire_pktmiss_encode(&wb, 0xffffffffu, WIRE_PKTMISS_BUSY, keys + 5, 2);
	p = one_frame(&wb, WIRE_PKTMISS, &plen);
	assert_int_equal(wire_pktmiss_decode(p, plen, &reqid, &flags, &kp,
	                                     &count), E_OK);
	assert_int_equal(reqid, 0xffffffffu);
	assert_int_equal(flags, WIRE_PKTMISS_BUSY);
	assert_int_equal(count, 2);
	assert_int_equal(wire_pktkey_at(kp, 1).id, keys[6].id);
	assert_int_equal(wire_payload_validate(WIRE_PKTMISS, p, plen), E_OK);
	memcpy(big, p, plen);
	big[4] = 2;
	assert_int_equal(wire_pktmiss_decode(big, plen, &reqid, &flags, &kp,
	                                     &count), E_PROTO);
	big[4] = 1;
	assert_int_equal(wire_pktmiss_decode(big, plen - 1, &reqid, &flags,
	                                     &kp, &count), E_PROTO);
	assert_int_equal(wire_pktmiss_decode(big, 6, &reqid, &flags, &kp,
	                                     &count), E_PROTO);

	/* PKTREPLY: reqid then PACKETS entries */
	uint8_t pk1[40], pk2[300];
	memset(pk1, 0x11, sizeof pk1);
	memset(pk2, 0x22, sizeof pk2);
	wb_reset(&wb);
	wire_pktreply_begin(&wb, 1234);
	wire_packets_add(&wb, pk1, sizeof pk1, 0);
	wire_packets_add(&wb, pk2, sizeof pk2, 0);
	wb_end(&wb);
	p = one_frame(&wb, WIRE_PKTREPLY, &plen);
	assert_int_equal(plen, 4 + 4 + 40 + 4 + 300);
	struct wire_packets w;
	const uint8_t *pk;
	uint32_t len;
	assert_int_equal(wire_pktreply_decode(p, plen, &reqid, &w), E_OK);
	assert_int_equal(reqid, 1234);
	assert_int_equal(w.n, 2);
	assert_true(wire_packets_next(&w, &pk, &len));
	assert_int_equal(len, 40);
	assert_int_equal(pk[0], 0);         /* relay byte replaced */
	assert_int_equal(pk[1], 0x11);
	assert_true(wire_packets_next(&w, &pk, &len));
	assert_int_equal(len, 300);
	assert_false(wire_packets_next(&w, &pk, &len));
	assert_int_equal(wire_payload_validate(WIRE_PKTREPLY, p, plen), E_OK);
	/* no packet, a truncated entry, a reqid alone */
	assert_int_equal(wire_pktreply_decode(p, 4, &reqid, &w), E_PROTO);
	assert_int_equal(wire_pktreply_decode(p, 3, &reqid, &w), E_PROTO);
	assert_int_equal(wire_pktreply_decode(p, plen - 1, &reqid, &w),
	                 E_PROTO);
	assert_string_equal(wire_type_name(WIRE_GETPKTS), "getpkts");
	assert_string_equal(wire_type_name(WIRE_PKTMISS), "pktmiss");
	/* 0x13 is reserved: no payload of it is valid */
	assert_int_equal(wire_payload_validate(0x13, p, plen), E_PROTO);
	wb_fini(&wb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_ping_addr),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_getbits),
		cmocka_unit_test(test_packets),
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_idlist),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_pktkeys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
