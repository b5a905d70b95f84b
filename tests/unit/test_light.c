/* test_light.c - unit tests for the light-client messages (wire.c,
 * 0x14-0x1b) and src/proto/light.c: round trips, malformed payloads
 * (short, trailing, over the caps), filter matching, the omission check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "proto/light.h"
#include "proto/wire.h"

static const uint8_t *one_frame(const struct wbuf *wb, uint8_t want_type,
                                uint32_t *plen)
{
	uint8_t type;
	assert_int_equal(wire_hdr_decode(wb->p, wb->len, &type, plen), E_OK);
	assert_int_equal(type, want_type);
	assert_int_equal(wb->len, WIRE_HDR_LEN + *plen);
	assert_int_equal(wire_payload_validate(type, wb->p + WIRE_HDR_LEN,
	                                       *plen), E_OK);
	return wb->p + WIRE_HDR_LEN;
}

static void filter_btc_kmd(struct wire_lfilter *f)
{
	memset(f, 0, sizeof(*f));
	f->la = 3;
	memcpy(f->tag_a, "BTC", 3);
	f->lb = 3;
	memcpy(f->tag_b, "KMD", 3);
	f->minpriority = 2;
	f->min_a = 5;
	f->max_a = 100;
	f->max_b = UINT64_MAX >> 1;
	f->since = 1000;
}

static void test_llist(void **state)
{
	struct wire_llist l, d;
	struct wbuf wb;
	uint32_t n;
	const uint8_t *p;

	memset(&l, 0, sizeof(l));
	l.reqid = 77;
	filter_btc_kmd(&l.f);
	l.f.plen = 33;
	memset(l.f.pubkey, 0xab, 33);
	l.has_after = true;
	memset(l.after, 0x5a, 32);
	l.has_stop = true;
	memset(l.stop, 0x6b, 32);
	l.max = 100;
	wb_init(&wb);
	wire_llist_encode(&wb, &l);
	p = one_frame(&wb, WIRE_LLIST, &n);
	assert_int_equal(wire_llist_decode(p, n, &d), E_OK);
	assert_int_equal(d.reqid, 77);
	assert_int_equal(d.f.la, 3);
	assert_memory_equal(d.f.tag_a, "BTC", 3);
	assert_memory_equal(d.f.tag_b, "KMD", 3);
	assert_int_equal(d.f.plen, 33);
	assert_memory_equal(d.f.pubkey, l.f.pubkey, 33);
	assert_int_equal(d.f.minpriority, 2);
	assert_true(d.f.min_a == 5 && d.f.max_a == 100);
	assert_true(d.f.max_b == UINT64_MAX >> 1);
	assert_int_equal(d.f.since, 1000);
	assert_true(d.has_after);
	assert_memory_equal(d.after, l.after, 32);
	assert_true(d.has_stop);
	assert_memory_equal(d.stop, l.stop, 32);
	assert_int_equal(d.max, 100);
	/* every truncation and one trailing byte are refused */
	for (uint32_t k = 0; k < n; k++)
		assert_int_equal(wire_llist_decode(p, k, &d), E_PROTO);
	uint8_t *big = malloc(n + 1);
	memcpy(big, p, n);
	big[n] = 0;
	assert_int_equal(wire_llist_decode(big, n + 1, &d), E_PROTO);
	/* a tag longer than 15 */
	big[4] = 16;
	assert_int_equal(wire_llist_decode(big, n, &d), E_PROTO);
	free(big);
	/* max 0 and over the page cap; a reversed range */
	l.max = 0;
	wb_reset(&wb);
	wire_llist_encode(&wb, &l);
	assert_int_equal(wire_llist_decode(wb.p + WIRE_HDR_LEN,
	                 wb.len - WIRE_HDR_LEN, &d), E_PROTO);
	l.max = WIRE_LPAGE_MAX + 1;
	wb_reset(&wb);
	wire_llist_encode(&wb, &l);
	assert_int_equal(wire_llist_decode(wb.p + WIRE_HDR_LEN,
	                 wb.len - WIRE_HDR_LEN, &d), E_PROTO);
	l.max = 1;
	l.f.min_a = 101;
	wb_reset(&wb);
	wire_llist_encode(&wb, &l);
	assert_int_equal(wire_llist_decode(wb.p + WIRE_HDR_LEN,
	                 wb.len - WIRE_HDR_LEN, &d), E_PROTO);
	wb_fini(&wb);
}

static void test_lget_lsub(void **state)
{
	struct wire_lget g = {0}, d;
	struct wire_lfilter f, df;
	struct wbuf wb;
	uint32_t n, sid;
	const uint8_t *p;

	wb_init(&wb);
	g.reqid = 5;
	g.id = 0xdeadbeef;
	wire_lget_encode(&wb, &g);
	p = one_frame(&wb, WIRE_LGET, &n);
	assert_int_equal(n, 9);
	assert_int_equal(wire_lget_decode(p, n, &d), E_OK);
	assert_false(d.by_hash);
	assert_int_equal(d.id, 0xdeadbeef);
	wb_reset(&wb);
	g.by_hash = true;
	memset(g.hash, 7, 32);
	wire_lget_encode(&wb, &g);
	p = one_frame(&wb, WIRE_LGET, &n);
	assert_int_equal(wire_lget_decode(p, n, &d), E_OK);
	assert_true(d.by_hash);
	assert_memory_equal(d.hash, g.hash, 32);
	assert_int_equal(wire_lget_decode(p, n - 1, &d), E_PROTO);
	uint8_t bad[9] = {0, 0, 0, 0, 2, 0, 0, 0, 0};
	assert_int_equal(wire_lget_decode(bad, 9, &d), E_PROTO);

	wb_reset(&wb);
	filter_btc_kmd(&f);
	wire_lsub_encode(&wb, 9, &f);
	p = one_frame(&wb, WIRE_LSUB, &n);
	assert_int_equal(wire_lsub_decode(p, n, &sid, &df), E_OK);
	assert_int_equal(sid, 9);
	assert_int_equal(df.lb, 3);
	assert_int_equal(wire_lsub_decode(p, n - 1, &sid, &df), E_PROTO);
	wb_reset(&wb);
	wire_lunsub_encode(&wb, 9);
	p = one_frame(&wb, WIRE_LUNSUB, &n);
	assert_int_equal(wire_lunsub_decode(p, n, &sid), E_OK);
	assert_int_equal(sid, 9);
	assert_int_equal(wire_lunsub_decode(p, 3, &sid), E_PROTO);
	wb_fini(&wb);
}

static void test_lanswer_lpush_lrelay(void **state)
{
	struct wbuf wb;
	struct wire_lentries e;
	uint32_t n, rid, rt, len;
	uint8_t st, pk1[40], pk2[50];
	const uint8_t *p, *pkt;

	memset(pk1, 1, sizeof pk1);
	memset(pk2, 2, sizeof pk2);
	wb_init(&wb);
	wire_lanswer_begin(&wb, 3, WIRE_LS_DONE);
	wire_lentry_add(&wb, 111, pk1, sizeof pk1);
	wire_lentry_add(&wb, 222, pk2, sizeof pk2);
	wb_end(&wb);
	p = one_frame(&wb, WIRE_LANSWER, &n);
	assert_int_equal(n, 5 + wire_lentry_len(40) + wire_lentry_len(50));
	assert_int_equal(wire_lanswer_decode(p, n, &rid, &st, &e), E_OK);
	assert_int_equal(rid, 3);
	assert_int_equal(st, WIRE_LS_DONE);
	assert_int_equal(e.n, 2);
	assert_true(wire_lentries_next(&e, &rt, &pkt, &len));
	assert_int_equal(rt, 111);
	assert_int_equal(len, 40);
	assert_memory_equal(pkt, pk1, 40);
	assert_true(wire_lentries_next(&e, &rt, &pkt, &len));
	assert_int_equal(rt, 222);
	assert_false(wire_lentries_next(&e, &rt, &pkt, &len));
	/* a cut entry, a length over the payload, an unknown status */
	assert_int_equal(wire_lanswer_decode(p, n - 1, &rid, &st, &e), E_PROTO);
	uint8_t *c = malloc(n);
	memcpy(c, p, n);
	c[5 + 4] = 0xff;
	assert_int_equal(wire_lanswer_decode(c, n, &rid, &st, &e), E_PROTO);
	memcpy(c, p, n);
	c[4] = WIRE_LS_MAX;
	assert_int_equal(wire_lanswer_decode(c, n, &rid, &st, &e), E_PROTO);
	free(c);
	/* an empty answer is fine, an empty push is not */
	wb_reset(&wb);
	wire_lanswer_begin(&wb, 4, WIRE_LS_NOTFOUND);
	wb_end(&wb);
	p = one_frame(&wb, WIRE_LANSWER, &n);
	assert_int_equal(wire_lanswer_decode(p, n, &rid, &st, &e), E_OK);
	assert_int_equal(e.n, 0);
	wb_reset(&wb);
	wb_begin(&wb, WIRE_LPUSH);
	wb_u32(&wb, 6);
	wb_end(&wb);
	assert_int_equal(wire_payload_validate(WIRE_LPUSH, wb.p + WIRE_HDR_LEN,
	                                       4), E_PROTO);
	wb_reset(&wb);
	wb_begin(&wb, WIRE_LPUSH);
	wb_u32(&wb, 6);
	wire_lentry_add(&wb, 1, pk1, sizeof pk1);
	wb_end(&wb);
	p = one_frame(&wb, WIRE_LPUSH, &n);
	assert_int_equal(wire_lpush_decode(p, n, &rid, &e), E_OK);
	assert_int_equal(rid, 6);
	assert_int_equal(e.n, 1);

	wb_reset(&wb);
	wire_lrelay_encode(&wb, 8, pk2, sizeof pk2);
	p = one_frame(&wb, WIRE_LRELAY, &n);
	assert_int_equal(wire_lrelay_decode(p, n, &rid, &pkt, &len), E_OK);
	assert_int_equal(rid, 8);
	assert_int_equal(len, 50);
	assert_int_equal(wire_lrelay_decode(p, 4, &rid, &pkt, &len), E_PROTO);
	wb_fini(&wb);
	/* the reserved 0x1b is not a known type */
	uint8_t h[WIRE_HDR_LEN], type;
	wire_hdr_encode(h, 0x1b, 0);
	assert_int_equal(wire_hdr_decode(h, 9, &type, &n), E_PROTO);
	assert_string_equal(wire_type_name(WIRE_LANSWER), "lanswer");
}

static void test_match(void **state)
{
	struct wire_lfilter f;
	struct packet_view pv;
	uint8_t pk[33];

	memset(&pv, 0, sizeof(pv));
	memset(pk, 3, sizeof pk);
	pv.tag_a = (const uint8_t *)"BTC";
	pv.len_a = 3;
	pv.tag_b = (const uint8_t *)"KMD";
	pv.len_b = 3;
	pv.amount_a = 50;
	pv.amount_b = 7;
	pv.timestamp = 2000;
	filter_btc_kmd(&f);
	assert_true(light_filter_selective(&f));
	assert_true(light_filter_match(&f, &pv, 2));
	assert_false(light_filter_match(&f, &pv, 1));  /* minpriority */
	pv.amount_a = 101;
	assert_false(light_filter_match(&f, &pv, 5));  /* maxA */
	pv.amount_a = 5;
	assert_true(light_filter_match(&f, &pv, 5));   /* inclusive */
	pv.timestamp = 999;
	assert_false(light_filter_match(&f, &pv, 5));  /* since */
	pv.timestamp = 1000;
	pv.tag_b = (const uint8_t *)"KMDX";
	pv.len_b = 4;
	assert_false(light_filter_match(&f, &pv, 5));  /* tagB */
	f.lb = 0;
	assert_true(light_filter_match(&f, &pv, 5));   /* tagB any */
	f.plen = 33;
	memcpy(f.pubkey, pk, 33);
	assert_false(light_filter_match(&f, &pv, 5));  /* no pubkey */
	pv.plen = 33;
	pv.pubkey = pk;
	assert_true(light_filter_match(&f, &pv, 5));
	memset(&f, 0, sizeof f);
	assert_false(light_filter_selective(&f));
}

/* A plain packet (txpowbits 0: every hash valid, no mining). */
static size_t make_pkt(uint8_t *out, size_t cap, uint32_t t, const char *ta,
                       uint64_t amount_a, uint32_t salt)
{
	uint8_t payload[16];
	struct packet_fields pf = { 0 };

	memset(payload, 'x', sizeof payload);
	memcpy(payload, &salt, 4);
	pf.kind = PACKET_KIND_DATA;
	pf.timestamp = t;
	pf.amount_a = amount_a;
	pf.tag_a = (const uint8_t *)ta;
	pf.len_a = strlen(ta);
	pf.tag_b = (const uint8_t *)"KMD";
	pf.len_b = 3;
	pf.payload = payload;
	pf.payload_len = sizeof payload;
	return packet_encode(out, cap, &pf);
}

static void test_check(void **state)
{
	uint8_t pkt[256], h[32], h2[32];
	struct wire_lfilter f;
	struct wire_lget g;
	const uint32_t now = 1767225600;
	size_t n = make_pkt(pkt, sizeof pkt, now - 5, "BTC", 50, 1);

	assert_true(n > 0);
	filter_btc_kmd(&f);
	f.minpriority = 0;
	assert_int_equal(light_check(pkt, n, now, 0, 3600, &f, NULL, h),
	                 LIGHT_OK);
	/* not the pair asked, or below the amount asked */
	size_t m = make_pkt(pkt, sizeof pkt, now - 5, "ETH", 50, 2);
	assert_int_equal(light_check(pkt, m, now, 0, 3600, &f, NULL, h2),
	                 LIGHT_NOMATCH);
	m = make_pkt(pkt, sizeof pkt, now - 5, "BTC", 4, 3);
	assert_int_equal(light_check(pkt, m, now, 0, 3600, &f, NULL, h2),
	                 LIGHT_NOMATCH);
	/* expired or far in the future: skipped, not a lie */
	m = make_pkt(pkt, sizeof pkt, now - 3600, "BTC", 50, 4);
	assert_int_equal(light_check(pkt, m, now, 0, 3600, &f, NULL, h2),
	                 LIGHT_SKIP);
	m = make_pkt(pkt, sizeof pkt, now + 120, "BTC", 50, 5);
	assert_int_equal(light_check(pkt, m, now, 0, 3600, &f, NULL, h2),
	                 LIGHT_SKIP);
	/* cut inside its header: malformed; with 24 bits of proof of work
	 * asked, an unmined packet is invalid (1 chance in 2^24 of passing) */
	m = make_pkt(pkt, sizeof pkt, now - 5, "BTC", 50, 6);
	assert_int_equal(light_check(pkt, 20, now, 0, 3600, &f, NULL, h2),
	                 LIGHT_INVALID);
	assert_int_equal(light_check(pkt, m, now, 24, 3600, &f, NULL, h2),
	                 LIGHT_INVALID);
	/* LGET: by hash, by id */
	n = make_pkt(pkt, sizeof pkt, now - 5, "BTC", 50, 1);
	memset(&g, 0, sizeof g);
	g.by_hash = true;
	memcpy(g.hash, h, 32);
	assert_int_equal(light_check(pkt, n, now, 0, 3600, NULL, &g, h2),
	                 LIGHT_OK);
	assert_memory_equal(h, h2, 32);
	g.hash[0] ^= 1;
	assert_int_equal(light_check(pkt, n, now, 0, 3600, NULL, &g, h2),
	                 LIGHT_NOMATCH);
	g.by_hash = false;
	g.id = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
	       (uint32_t)h[3] << 24;
	enum light_verdict v = light_check(pkt, n, now, 0, 3600, NULL, &g, h2);
	g.id ^= 1;
	enum light_verdict w = light_check(pkt, n, now, 0, 3600, NULL, &g, h2);
	/* exactly one of the two ids is the packet's */
	assert_true((v == LIGHT_OK) != (w == LIGHT_OK));
}

struct om_log {
	size_t n, who[8], which[8];
};

static void om_cb(void *arg, size_t answer, size_t k)
{
	struct om_log *l = arg;
	assert_true(l->n < 8);
	l->who[l->n] = answer;
	l->which[l->n++] = k;
}

static void test_omissions(void **state)
{
	uint8_t h0[3][32], h1[1][32];
	struct light_known k[4];
	struct light_answer a[3];
	struct om_log log = {0};

	for (int i = 0; i < 4; i++) {
		memset(k[i].hash, 0x10 * (i + 1), 32);
		k[i].timestamp = 1000;
	}
	k[3].timestamp = 1995; /* recent: in flight, not held against */
	memcpy(h0[0], k[2].hash, 32);
	memcpy(h0[1], k[0].hash, 32);
	memcpy(h0[2], k[1].hash, 32);
	light_sort_hashes(h0, 3);
	memcpy(h1[0], k[3].hash, 32);
	a[0] = (struct light_answer){ (const uint8_t (*)[32])h0, 3, true };
	a[1] = (struct light_answer){ (const uint8_t (*)[32])h1, 1, true };
	a[2] = (struct light_answer){ NULL, 0, false };
	/* answer 0 lacks only the recent one; answer 1 the three old ones;
	 * answer 2 hit a page limit: not judged */
	assert_int_equal(light_omissions(a, 3, k, 4, 2000, om_cb, &log), 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(log.who[i], 1);
		assert_int_equal(log.which[i], i);
	}
	memset(&log, 0, sizeof log);
	assert_int_equal(light_omissions(a, 3, k, 4, 3000, om_cb, &log), 4);
	assert_int_equal(log.who[0], 0);
	assert_int_equal(log.which[0], 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_llist),
		cmocka_unit_test(test_lget_lsub),
		cmocka_unit_test(test_lanswer_lpush_lrelay),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_omissions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
