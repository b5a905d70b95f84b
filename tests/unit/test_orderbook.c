/* test_orderbook.c - unit tests for src/core/orderbook.c (API.md 4.5):
 * sides and their base/rel mapping, exclusions, filters, sort and tie
 * rules, maxentries, price formatting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/orderbook.h"
#include "core/packet.h"
#include "core/store.h"
#include "core/txpow.h"
#include "core/util.h"

#define NOW 1767225600u
#define COIN 100000000ULL

static struct store *st;
static uint32_t nonce_ctr;

/* Store an order; prio = the exact priority wanted (txpowbits 0). */
static struct stored *put(const char *a, const char *b, uint64_t amt_a,
                          uint64_t amt_b, const uint8_t *pubkey, int prio)
{
	uint8_t buf[256];
	struct packet_fields f = {
		.relay = 10, .kind = PACKET_KIND_DATA, .timestamp = NOW - 10,
		.amount_a = amt_a, .amount_b = amt_b, .pubkey = pubkey,
		.tag_a = (const uint8_t *)a, .len_a = strlen(a),
		.tag_b = (const uint8_t *)b, .len_b = strlen(b),
		.payload = (const uint8_t *)"o", .payload_len = 1,
	};
	struct pow_eval pe;
	struct stored *sp = NULL;
	size_t len = packet_encode(buf, sizeof(buf), &f);

	assert_true(len > 0);
	for (int i = 0;; i++) {
		put_le32(buf + len - 4, nonce_ctr++);
		txpow_eval(buf, len, 0, &pe);
		if (pe.priority == prio)
			break;
		assert_true(i < 10000000);
	}
	assert_int_equal(store_put(st, buf, len, &pe, NOW, &sp), E_OK);
	return sp;
}

static int setup(void **state)
{
	struct store_config cfg = { .purgetime = 3600, .maxmem = 1 << 26 };
	st = store_new(&cfg);
	return 0;
}

static int teardown(void **state)
{
	store_free(st);
	return 0;
}

static struct ob_params params(const char *base, const char *rel)
{
	struct ob_params p = {
		.base = (const uint8_t *)base, .len_base = strlen(base),
		.rel = (const uint8_t *)rel, .len_rel = strlen(rel),
		.max_a = AMOUNT_MAX, .max_b = AMOUNT_MAX,
	};
	return p;
}

static bool exclude_marked(struct stored *sp, void *arg)
{
	return sp == arg;
}

static void test_book(void **state)
{
	uint8_t pk1[33] = {1, 0xaa}, pk2[33] = {1, 0xbb};
	struct orderbook ob;
	char s[ORDERBOOK_PRICE_MAX];

	/* asks BTC/KMD: prices 1020, 1000, 1000 (bigger base), 1000 (newer),
	 * 990 (cancelled), zero amount, wrong tags */
	struct stored *a1 = put("BTC", "KMD", COIN / 2, 510 * COIN, NULL, 0);
	struct stored *a2 = put("BTC", "KMD", COIN / 10, 100 * COIN, pk1, 3);
	struct stored *a3 = put("BTC", "KMD", COIN, 1000 * COIN, pk2, 1);
	struct stored *a4 = put("BTC", "KMD", COIN / 10, 100 * COIN, pk2, 0);
	struct stored *ac = put("BTC", "KMD", COIN, 990 * COIN, pk1, 0);
	put("BTC", "KMD", 0, 990 * COIN, pk1, 0);
	put("BTC", "KMD", COIN, 0, pk1, 0);
	put("BTC", "LTC", COIN, 990 * COIN, pk1, 0);
	store_cancel(st, ac, NOW);
	/* bids KMD/BTC: 950 KMD for 1 BTC -> price 950; 960; excluded 2000 */
	struct stored *b1 = put("KMD", "BTC", 950 * COIN, COIN, pk2, 4);
	struct stored *b2 = put("KMD", "BTC", 96 * COIN, COIN / 10, pk1, 0);
	struct stored *bx = put("KMD", "BTC", 2000 * COIN, COIN, pk1, 0);

	struct ob_params p = params("BTC", "KMD");
	p.excluded = exclude_marked;
	p.arg = bx;
	assert_int_equal(orderbook_build(st, &p, &ob), E_OK);
	assert_int_equal(ob.nasks, 4);
	assert_int_equal(ob.asks[0].seq, a3->seq); /* 1000, base 1 BTC */
	assert_int_equal(ob.asks[1].seq, a4->seq); /* 1000, 0.1, newer */
	assert_int_equal(ob.asks[2].seq, a2->seq);
	assert_int_equal(ob.asks[3].seq, a1->seq); /* 1020 */
	assert_int_equal(ob.asks[0].base, COIN);
	assert_int_equal(ob.asks[0].rel, 1000 * COIN);
	assert_true(ob.asks[2].has_pubkey);
	assert_memory_equal(ob.asks[2].pubkey, pk1, 33);
	assert_false(ob.asks[3].has_pubkey);
	assert_int_equal(ob.asks[2].priority, 3);
	assert_int_equal(ob.asks[2].id, a2->id);
	assert_memory_equal(ob.asks[2].hash, a2->hash, 32);
	orderbook_price(s, ob.asks[3].price);
	assert_string_equal(s, "1020.00000000");
	orderbook_price15(s, ob.asks[0].price);
	assert_string_equal(s, "1000.000000000000000");

	assert_int_equal(ob.nbids, 2);
	assert_int_equal(ob.bids[0].seq, b2->seq); /* 960 first */
	assert_int_equal(ob.bids[1].seq, b1->seq);
	assert_int_equal(ob.bids[1].base, COIN);   /* amountB */
	assert_int_equal(ob.bids[1].rel, 950 * COIN);
	orderbook_price(s, ob.bids[1].price);
	assert_string_equal(s, "950.00000000");
	orderbook_fini(&ob);

	/* without the exclusion the 2000 bid leads */
	p.excluded = NULL;
	assert_int_equal(orderbook_build(st, &p, &ob), E_OK);
	assert_int_equal(ob.nbids, 3);
	assert_int_equal(ob.bids[0].seq, bx->seq);
	orderbook_fini(&ob);

	/* maxentries */
	p.maxentries = 2;
	assert_int_equal(orderbook_build(st, &p, &ob), E_OK);
	assert_int_equal(ob.nasks, 2);
	assert_int_equal(ob.nbids, 2);
	assert_int_equal(ob.asks[1].seq, a4->seq);
	orderbook_fini(&ob);
	p.maxentries = 0;

	/* minpriority */
	p.minpriority = 1;
	assert_int_equal(orderbook_build(st, &p, &ob), E_OK);
	assert_int_equal(ob.nasks, 2); /* a3 (1), a2 (3) */
	assert_int_equal(ob.asks[0].seq, a3->seq);
	assert_int_equal(ob.nbids, 1);
	orderbook_fini(&ob);
	p.minpriority = 0;

	/* pubkey filter */
	p.pubkey = pk1;
	assert_int_equal(orderbook_build(st, &p, &ob), E_OK);
	assert_int_equal(ob.nasks, 1);
	assert_int_equal(ob.asks[0].seq, a2->seq);
	assert_int_equal(ob.nbids, 2);
	orderbook_fini(&ob);
	p.pubkey = NULL;

	/* base amount bounds apply to amountA of asks, amountB of bids */
	p.min_a = COIN / 2;
	p.max_a = COIN;
	assert_int_equal(orderbook_build(st, &p, &ob), E_OK);
	assert_int_equal(ob.nasks, 2); /* a3 (1), a1 (0.5) */
	assert_int_equal(ob.nbids, 2); /* b1, bx: 1 BTC each */
	orderbook_fini(&ob);
	p.min_a = 0;
	p.max_a = AMOUNT_MAX;
	p.max_b = 500 * COIN; /* rel amount */
	assert_int_equal(orderbook_build(st, &p, &ob), E_OK);
	assert_int_equal(ob.nasks, 2); /* a2, a4: 100 KMD */
	assert_int_equal(ob.nbids, 1); /* b2: 96 KMD */
	orderbook_fini(&ob);

	/* reversed market: bids and asks swap */
	struct ob_params r = params("KMD", "BTC");
	assert_int_equal(orderbook_build(st, &r, &ob), E_OK);
	assert_int_equal(ob.nasks, 3);
	assert_int_equal(ob.nbids, 4);
	orderbook_price(s, ob.asks[0].price); /* 1/2000 BTC per KMD */
	assert_string_equal(s, "0.00050000");
	orderbook_fini(&ob);

	/* missing tag */
	struct ob_params e = params("", "KMD");
	assert_int_equal(orderbook_build(st, &e, &ob), E_INVAL);
}

static void test_default_max(void **state)
{
	struct orderbook ob;
	for (int i = 0; i < 13; i++)
		put("AAA", "BBB", COIN, (uint64_t)(i + 1) * (uint64_t)COIN, NULL, 0);
	struct ob_params p = params("AAA", "BBB");
	assert_int_equal(orderbook_build(st, &p, &ob), E_OK);
	assert_int_equal(ob.nasks, 10);
	for (size_t i = 0; i < 10; i++)
		assert_true(ob.asks[i].price == (double)(i + 1));
	orderbook_fini(&ob);
}

static void test_cmp_ties(void **state)
{
	struct ob_entry a = { .price = 0.1, .base = 5, .seq = 1 };
	struct ob_entry b = { .price = 0.1 + 5e-16, .base = 5, .seq = 2 };
	struct ob_entry c = { .price = 0.1 + 3e-15, .base = 9, .seq = 3 };

	/* within 1e-15: newer first, on both sides */
	assert_true(orderbook_cmp(&b, &a, false) < 0);
	assert_true(orderbook_cmp(&b, &a, true) < 0);
	/* beyond 1e-15: price decides */
	assert_true(orderbook_cmp(&a, &c, false) < 0);
	assert_true(orderbook_cmp(&c, &a, true) < 0);
	b.base = 4;
	assert_true(orderbook_cmp(&a, &b, false) < 0); /* larger base */
	assert_int_equal(orderbook_cmp(&a, &a, false), 0);
}

static void test_price_format(void **state)
{
	static const struct { double p; const char *s, *s15; } v[] = {
		{1000.0, "1000.00000000", "1000.000000000000000"},
		{1.0 / 3.0, "0.33333334", "0.333333333333333"},
		{0.00000001, "0.00000001", "0.000000010000000"},
		{0.000000001, "0.000000001000000", "0.000000001000000"},
		{0.5, "0.50000000", "0.500000000000000"},
		{0.123456785, "0.12345679", "0.123456785000000"},
		{0.0, "0.000000000000000", "0.000000000000000"},
	};
	char s[ORDERBOOK_PRICE_MAX];
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		orderbook_price(s, v[i].p);
		assert_string_equal(s, v[i].s);
		orderbook_price15(s, v[i].p);
		assert_string_equal(s, v[i].s15);
	}
	orderbook_price(s, 18446744073709551615.0);
	assert_string_equal(s, "18446744073709551616.00000000");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_book),
		cmocka_unit_test(test_default_max),
		cmocka_unit_test(test_cmp_ties),
		cmocka_unit_test(test_price_format),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
