/* test_peers.c - unit tests for src/proto/peers.c: epoch bit map (1024 cap,
 * a new epoch resets, shares per address and subnet, quick leavers),
 * address book (merge, cap/replacement, backoff, hash index, quotas per
 * source), the ADDR sample (no source dominates), token bucket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/peers.h"

static void test_epoch(void **state)
{
	static struct peers_epoch pe;
	uint32_t t = 1767225300; /* divisible by 300 */

	peers_epoch_init(&pe, t);
	for (uint64_t k = 0; k < PEERS_EPOCH_MAX; k++)
		assert_int_equal(peers_epoch_bit(&pe, 1000 + k, t + 10),
		                 (int)k);
	/* same key -> same bit; the 1025th new peer is refused */
	assert_int_equal(peers_epoch_bit(&pe, 1000 + 77, t + 20), 77);
	assert_int_equal(peers_epoch_bit(&pe, 5, t + 299), -1);
	assert_false(peers_epoch_roll(&pe, t + 299));
	/* next epoch: map cleared, the refused peer gets bit 0 */
	assert_int_equal(peers_epoch_bit(&pe, 5, t + 300), 0);
	assert_int_equal(peers_epoch_bit(&pe, 1000, t + 301), 1);
	assert_true(peers_epoch_roll(&pe, t + 600));
	assert_int_equal(pe.n, 0);
}

static void test_book(void **state)
{
	static struct peers_book b;
	uint8_t ip[16];

	peers_book_init(&b);
	peers_ip4(ip, 0x7f000001);
	assert_true(peers_is_ip4(ip));
	struct peer_addr *e = peers_book_add(&b, ip, 7770, PEERS_ADDNODE, 0,
	                                     0, "127.0.0.1:7770");
	assert_non_null(e);
	assert_int_equal(b.n, 1);
	assert_ptr_equal(peers_book_add(&b, ip, 7770, PEERS_LEARNED, 3, 50,
	                                NULL), e);
	assert_int_equal(e->flags, PEERS_ADDNODE | PEERS_LEARNED);
	assert_int_equal(e->last_seen, 50);
	assert_ptr_equal(peers_book_find_name(&b, "127.0.0.1:7770"), e);
	assert_null(peers_book_find_name(&b, "x"));

	/* dial schedule: once, then not before the backoff */
	assert_ptr_equal(peers_book_next(&b, 1000, PEERS_ADDNODE), e);
	assert_null(peers_book_next(&b, 1000, PEERS_ADDNODE));
	peers_book_failed(e, 1000);
	assert_int_equal(e->attempts, 1);
	assert_null(peers_book_next(&b, 1999, PEERS_ADDNODE));
	assert_ptr_equal(peers_book_next(&b, 2000, PEERS_ADDNODE), e);
	for (int i = 0; i < 20; i++)
		peers_book_failed(e, 0);
	assert_int_equal(e->next_try_ms, PEERS_BACKOFF_MAX_MS);
	peers_book_succeeded(e, 99);
	assert_true(e->connected);
	assert_null(peers_book_next(&b, 1u << 30, 0xff));
	assert_int_equal(peers_backoff_ms(0), 500);
	assert_int_equal(peers_backoff_ms(3), 4000);

	/* fill the book with learned entries; a new one replaces the oldest */
	for (uint32_t i = 1; i < PEERS_BOOK_MAX; i++) {
		peers_ip4(ip, 0x7f000001 + i);
		assert_non_null(peers_book_add(&b, ip, 1, PEERS_LEARNED, 0,
		                               1000 + i, NULL));
	}
	assert_int_equal(b.n, PEERS_BOOK_MAX);
	peers_ip4(ip, 0x0a000001);
	struct peer_addr *r = peers_book_add(&b, ip, 1, PEERS_LEARNED, 0,
	                                     5000, NULL);
	assert_non_null(r);
	assert_int_equal(b.n, PEERS_BOOK_MAX);
	peers_ip4(ip, 0x7f000002); /* last_seen 1001: the one replaced */
	assert_null(peers_book_find(&b, ip, 1));
	peers_book_remove(&b, r);
	assert_int_equal(b.n, PEERS_BOOK_MAX - 1);
}

/* Issue 7: one address with fresh nonces filled the whole epoch map and
 * locked every new peer out for 5 minutes. */
static void test_epoch_share(void **state)
{
	static struct peers_epoch pe;
	uint32_t t = 1767225300;
	uint8_t a[16], b[16], c[16];
	int bit;

	peers_epoch_init(&pe, t);
	pe.per_addr = 64;
	pe.per_net = 128;
	peers_ip4(a, 0x7f000002);  /* attacker */
	peers_ip4(b, 0x7f000003);  /* same /24 */
	peers_ip4(c, 0x7f000103);  /* 127.0.1.3: another /24 */
	int refused = 0;
	for (uint64_t k = 0; k < 1023; k++)
		if (peers_epoch_take(&pe, 5000 + k, a, true, t) < 0)
			refused++;
	assert_int_equal(refused, 1023 - 64);
	assert_int_equal(peers_epoch_take(&pe, 1, a, true, t),
	                 PEERS_EPOCH_ADDR);
	/* an honest peer from elsewhere still gets a position */
	bit = peers_epoch_take(&pe, 42, c, true, t);
	assert_true(bit >= 0);
	/* a known key keeps its position whatever the share */
	assert_int_equal(peers_epoch_take(&pe, 5000, a, true, t), 0);
	/* the subnet share: 64 more from b, then the /24 is full */
	for (uint64_t k = 0; k < 64; k++)
		assert_true(peers_epoch_take(&pe, 9000 + k, b, true, t) >= 0);
	peers_ip4(b, 0x7f000004);
	assert_int_equal(peers_epoch_take(&pe, 7, b, true, t),
	                 PEERS_EPOCH_NET);
	/* outbound (not limited) peers are not counted against it */
	assert_true(peers_epoch_take(&pe, 8, b, false, t) >= 0);
	/* a quick leaver's position is reusable, a long-lived one's not */
	assert_false(peers_epoch_left(&pe, 5001, PEERS_EPOCH_QUICK_SECS));
	assert_true(peers_epoch_left(&pe, 5001, 2));
	assert_false(peers_epoch_left(&pe, 5001, 2));
	assert_int_equal(peers_epoch_take(&pe, 6000, a, true, t), 1);
	assert_int_equal(peers_epoch_take(&pe, 6001, a, true, t),
	                 PEERS_EPOCH_ADDR);
}

static void test_book_index(void **state)
{
	static struct peers_book b;
	uint8_t ip[16];

	peers_book_init(&b);
	peers_book_seed(&b, 1, 2);
	for (uint32_t i = 0; i < PEERS_BOOK_MAX; i++) {
		peers_ip4(ip, 0x0a000000 + i);
		assert_non_null(peers_book_add(&b, ip, (uint16_t)(i % 3), 0, 0, 0,
		                               NULL));
	}
	for (uint32_t i = 0; i < PEERS_BOOK_MAX; i++) {
		peers_ip4(ip, 0x0a000000 + i);
		struct peer_addr *e = peers_book_find(&b, ip, (uint16_t)(i % 3));
		assert_non_null(e);
		assert_int_equal(e->port, i % 3);
		assert_null(peers_book_find(&b, ip, 9));
	}
	/* removal unlinks from the index */
	for (uint32_t i = 0; i < PEERS_BOOK_MAX; i += 2) {
		peers_ip4(ip, 0x0a000000 + i);
		peers_book_remove(&b, peers_book_find(&b, ip, (uint16_t)(i % 3)));
	}
	assert_int_equal(b.n, PEERS_BOOK_MAX / 2);
	for (uint32_t i = 0; i < PEERS_BOOK_MAX; i++) {
		peers_ip4(ip, 0x0a000000 + i);
		struct peer_addr *e = peers_book_find(&b, ip, (uint16_t)(i % 3));
		if (i % 2)
			assert_non_null(e);
		else
			assert_null(e);
	}
}

/* Issue 10: an ADDR flood filled the book, and 999 of the 1000
 * addresses handed out were the attacker's. */
static void test_book_sources(void **state)
{
	static struct peers_book b;
	static size_t out[1000];
	struct peers_src ps;
	uint8_t ip[16], src[16], honest[16];
	uint32_t now = 1767225600;

	peers_book_init(&b);
	peers_book_seed(&b, 3, 4);
	/* 5 verified peers (handshake done: tried) */
	for (uint32_t i = 0; i < 5; i++) {
		peers_ip4(ip, 0xc0a80001 + i);
		struct peer_addr *e = peers_book_add(&b, ip, 7770, PEERS_LEARNED,
		                                     1, now, NULL);
		peers_book_succeeded(e, now);
		e->connected = false;
	}
	/* an honest sender tells us about 3 others */
	peers_ip4(honest, 0xc0a80001);
	peers_book_src(&b, honest, &ps);
	for (uint32_t i = 0; i < 3; i++) {
		peers_ip4(ip, 0xc0a80101 + i);
		assert_int_equal(peers_book_learn(&b, &ps, ip, 7770, 1, now, i),
		                 0);
	}
	/* one attacker floods 5000 addresses: only its quota is kept */
	peers_ip4(src, 0x7f000002);
	peers_book_src(&b, src, &ps);
	int kept = 0;
	for (uint32_t i = 0; i < 5000; i++) {
		peers_ip4(ip, 0x0a000000 + i);
		kept += peers_book_learn(&b, &ps, ip, 7770, 1, now, i) == 0;
	}
	assert_int_equal(kept, PEERS_BOOK_PER_SRC);
	assert_int_equal(b.n, 5 + 3 + PEERS_BOOK_PER_SRC);
	/* what we hand out: mostly not the attacker's */
	size_t k = peers_book_pick(&b, now, 0, 99, out, 1000);
	size_t bad = 0;
	for (size_t i = 0; i < k; i++)
		bad += b.a[out[i]].ip[12] == 10;
	assert_true(k >= 5);
	assert_true(bad * PEERS_ADDR_SHARE <= k);
	/* all 5 verified ones are there */
	size_t ver = 0;
	for (size_t i = 0; i < k; i++)
		ver += b.a[out[i]].tried;
	assert_int_equal(ver, 5);
	/* a sender's quota per /16: 4 addresses of one /16 send 64 each */
	peers_book_init(&b);
	kept = 0;
	for (uint32_t s = 0; s < 5; s++) {
		peers_ip4(src, 0x0b0b0000 + s);
		peers_book_src(&b, src, &ps);
		for (uint32_t i = 0; i < 100; i++) {
			peers_ip4(ip, 0x0c000000 + s * 1000 + i);
			kept += peers_book_learn(&b, &ps, ip, 1, 1, now, i) == 0;
		}
	}
	assert_int_equal(kept, PEERS_BOOK_PER_SRCNET);
}

/* A full book: a flood displaces learned entries, never manual ones. */
static void test_book_full_learn(void **state)
{
	static struct peers_book b;
	struct peers_src ps;
	uint8_t ip[16], src[16];

	peers_book_init(&b);
	peers_ip4(ip, 0x01020304);
	peers_book_add(&b, ip, 1, PEERS_ADDNODE, 0, 0, "1.2.3.4:1");
	for (uint32_t s = 0; s < 40; s++) {
		peers_ip4(src, 0x20000000 + (s << 16));
		peers_book_src(&b, src, &ps);
		for (uint32_t i = 0; i < PEERS_BOOK_PER_SRC; i++) {
			peers_ip4(ip, 0x30000000 + s * 100 + i);
			peers_book_learn(&b, &ps, ip, 1, 1, 100, s * 1000 + i);
		}
	}
	assert_int_equal(b.n, PEERS_BOOK_MAX);
	peers_ip4(ip, 0x01020304);
	assert_non_null(peers_book_find(&b, ip, 1));
}

static void test_bucket(void **state)
{
	struct peers_bucket tb = {0};
	int ok = 0;
	for (int i = 0; i < 2000; i++)
		ok += peers_bucket_take(&tb, 1000, 0.1, 1000);
	assert_int_equal(ok, 1000);
	assert_false(peers_bucket_take(&tb, 10999, 0.1, 1000));
	assert_true(peers_bucket_take(&tb, 11000, 0.1, 1000));
	/* never more than the burst */
	ok = 0;
	for (int i = 0; i < 2000; i++)
		ok += peers_bucket_take(&tb, 100000000, 0.1, 1000);
	assert_int_equal(ok, 1000);
}

static void test_net_helpers(void **state)
{
	uint8_t a[16], b[16];
	peers_ip4(a, 0x7f000001);
	assert_true(peers_is_localhost(a));
	peers_ip4(b, 0x7f0000fe);
	assert_true(peers_same_net(a, b));
	assert_false(peers_is_localhost(b));
	peers_ip4(b, 0x7f000101);
	assert_false(peers_same_net(a, b));
	assert_int_equal(peers_netbits(a), 120);
	/* SipHash-2-4 reference vector: key 00..0f, empty message */
	uint64_t k0 = 0x0706050403020100ULL, k1 = 0x0f0e0d0c0b0a0908ULL;
	assert_true(peers_siphash(k0, k1, "", 0) == 0x726fdb47dd0e0e31ULL);
	uint8_t m[15];
	for (int i = 0; i < 15; i++)
		m[i] = (uint8_t)i;
	assert_true(peers_siphash(k0, k1, m, 15) == 0xa129ca6149be45e5ULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_epoch),
		cmocka_unit_test(test_book),
		cmocka_unit_test(test_epoch_share),
		cmocka_unit_test(test_book_index),
		cmocka_unit_test(test_book_sources),
		cmocka_unit_test(test_book_full_learn),
		cmocka_unit_test(test_bucket),
		cmocka_unit_test(test_net_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
