/* test_peers.c - unit tests for src/proto/peers.c: epoch bit map (1024 cap,
 * a new epoch resets), address book (merge, cap/replacement, backoff).
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_epoch),
		cmocka_unit_test(test_book),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
