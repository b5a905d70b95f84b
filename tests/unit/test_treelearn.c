/* test_treelearn.c - unit tests for src/proto/treelearn.c: which tree
 * peers a new tree's first packet is pushed to, learnt from the trees
 * before it (docs/PROTOCOL.md 5.1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/treelearn.h"

#define B(s) (1u << (s))

/* Predict n trees from up and return the mask of the non-exploring ones
 * (all equal), checking that one in TL_EXPLORE predicts nothing. */
static uint32_t predict_steady(struct tlearn *l, unsigned up, uint32_t peers)
{
	uint32_t m = 0;
	unsigned zero = 0;
	bool have = false;
	for (unsigned i = 0; i < 2 * TL_EXPLORE; i++) {
		uint32_t x = tl_predict(l, up, peers);
		if (x == 0) {
			zero++;
			continue;
		}
		if (have)
			assert_int_equal(x, m);
		m = x;
		have = true;
	}
	assert_true(zero >= 2); /* the exploring trees */
	return m;
}

static uint32_t predict_steady_rtt(struct tlearn *l, unsigned up,
                                   uint32_t peers, unsigned pct)
{
	uint32_t m = 0;
	unsigned zero = 0;
	for (unsigned i = 0; i < 2 * TL_EXPLORE; i++) {
		uint32_t x = tl_predict_rtt(l, up, peers, pct);
		if (x == 0) {
			zero++;
			continue;
		}
		assert_true(m == 0 || x == m);
		m = x;
	}
	assert_true(zero >= 2 && zero < 2 * TL_EXPLORE);
	return m;
}

/* Peers 1-4; from upstream 0 peer 1 always keeps us, peer 2 never, peer 3
 * once in 4; peer 4 was never pushed to.  Only peer 2 is predicted lazy,
 * and only after TL_MIN trees. */
static void test_never_kept_goes_lazy(void **state)
{
	struct tlearn l;
	uint32_t peers = B(0) | B(1) | B(2) | B(3) | B(4);
	tl_init(&l);
	for (unsigned i = 0; i < TL_MIN - 1; i++)
		tl_learn(&l, 0, B(1) | B(2) | B(3),
		         B(2) | (i % 4 ? B(3) : 0));
	for (unsigned i = 0; i < 2 * TL_EXPLORE; i++)
		assert_int_equal(tl_predict(&l, 0, peers), 0); /* too few */
	tl_learn(&l, 0, B(1) | B(2) | B(3), B(2) | B(3));
	assert_int_equal(predict_steady(&l, 0, peers), B(2));
	/* learnt per upstream: from upstream 1 nothing is known */
	for (unsigned i = 0; i < 2 * TL_EXPLORE; i++)
		assert_int_equal(tl_predict(&l, 1, peers), 0);
	/* a peer no longer there is not reported */
	for (unsigned i = 0; i < 2 * TL_EXPLORE; i++)
		assert_int_equal(tl_predict(&l, 0, B(0) | B(1)), 0);
}

/* No upstream (created here, or entered untagged): never predicted, and
 * not learnt either. */
static void test_no_upstream(void **state)
{
	struct tlearn l;
	tl_init(&l);
	for (unsigned i = 0; i < 4 * TL_MIN; i++)
		tl_learn(&l, TL_PEERS, B(1), B(1));
	for (unsigned i = 0; i < 2 * TL_EXPLORE; i++) {
		assert_int_equal(tl_predict(&l, TL_PEERS, B(1)), 0);
		assert_int_equal(tl_predict(&l, 0, B(1)), 0);
	}
	/* nor is the upstream itself ever counted as a child */
	for (unsigned i = 0; i < 4 * TL_MIN; i++)
		tl_learn(&l, 3, B(3), B(3));
	for (unsigned i = 0; i < 2 * TL_EXPLORE; i++)
		assert_int_equal(tl_predict(&l, 3, B(3)), 0);
}

/* Counts are halved as they grow: a peer that starts keeping us is pushed
 * to again after the exploring trees have measured it; forgetting a slot
 * (another peer in it) drops what was learnt for it both ways. */
static void test_follows_change_and_forget(void **state)
{
	struct tlearn l;
	uint32_t peers = B(0) | B(5);
	tl_init(&l);
	for (unsigned i = 0; i < 200; i++)
		tl_learn(&l, 0, B(5), B(5));
	assert_int_equal(predict_steady(&l, 0, peers), B(5));
	assert_true(l.pushed[0][5] < TL_HALVE);
	/* the graph changed: peer 5 now takes the packets from us; only the
	 * exploring trees push to it, and that is enough to learn it */
	unsigned rounds = 0;
	while (rounds < 1000) {
		uint32_t m = tl_predict(&l, 0, peers);
		tl_learn(&l, 0, B(5) & ~m, 0);
		rounds++;
		if (l.kept[0][5] * 100u >= l.pushed[0][5] * TL_KEEP_PCT)
			break;
	}
	assert_true(rounds < 1000);
	for (unsigned i = 0; i < 2 * TL_EXPLORE; i++)
		assert_int_equal(tl_predict(&l, 0, peers), 0);
	/* forget slot 5: its counts go, as do those where it was upstream */
	for (unsigned i = 0; i < 3 * TL_MIN; i++)
		tl_learn(&l, 5, B(0), B(0));
	tl_forget(&l, 5);
	assert_int_equal(l.pushed[0][5], 0);
	assert_int_equal(l.pushed[5][0], 0);
	for (unsigned i = 0; i < 2 * TL_EXPLORE; i++)
		assert_int_equal(tl_predict(&l, 5, peers), 0);
	tl_forget(&l, TL_PEERS); /* out of range: ignored */
}

/* Before anything is learnt, RTTs decide: peers well above the node's
 * median go lazy; the upstream, unknown RTTs, the TL_RTT_KEEP fastest and
 * those within TL_RTT_SLACK_MS of the fastest never do. */
static void test_rtt_lazy(void **state)
{
	struct tlearn l;
	uint32_t all = B(0) | B(1) | B(2) | B(3) | B(4) | B(5) | B(6);
	tl_init(&l);
	/* nothing known, or too little: nothing lazy */
	assert_int_equal(tl_rtt_lazy(&l, 0, all, 100), 0);
	tl_set_rtt(&l, 1, 40);
	tl_set_rtt(&l, 2, 300);
	assert_int_equal(tl_rtt_lazy(&l, 0, all, 100), 0);
	/* slots 1-6: 40, 300, 60, 100, 250, unknown; upstream 0 at 280 */
	tl_set_rtt(&l, 3, 60);
	tl_set_rtt(&l, 4, 100);
	tl_set_rtt(&l, 5, 250);
	tl_set_rtt(&l, 0, 280);
	/* sorted 40 60 100 250 280 300: median (lower) 100 */
	assert_int_equal(tl_rtt_lazy(&l, 0, all, 100), B(2) | B(5));
	assert_int_equal(tl_rtt_lazy(&l, 0, all, 250), B(2));
	assert_int_equal(tl_rtt_lazy(&l, 0, all, 1000), 0);
	/* the upstream itself is never named, lazy or not */
	assert_int_equal(tl_rtt_lazy(&l, 2, all, 100), B(0) | B(5));
	/* a low factor still keeps the 2 fastest */
	assert_int_equal(tl_rtt_lazy(&l, 0, all, 1),
	                 B(2) | B(4) | B(5));
	/* pct 0: off */
	assert_int_equal(tl_rtt_lazy(&l, 0, all, 0), 0);
	/* only the peers asked about count, for the median too: of 40, 60
	 * and 100 (6 unknown), 100 is above the median */
	assert_int_equal(tl_rtt_lazy(&l, 6, B(1) | B(3) | B(4) | B(6), 100),
	                 B(4));
	/* a slot that changes peer forgets its RTT */
	tl_forget(&l, 2);
	assert_int_equal(tl_rtt_lazy(&l, 0, all, 100), B(5));
	/* big values are clamped, not wrapped */
	tl_set_rtt(&l, 2, 1u << 20);
	assert_true(tl_rtt_lazy(&l, 0, all, 100) & B(2));
}

/* Equal or near-equal RTTs (one machine: 0-2 ms) are all eager at any
 * factor: within TL_RTT_SLACK_MS of the fastest. */
static void test_rtt_equal_is_eager(void **state)
{
	struct tlearn l;
	uint32_t all = 0;
	tl_init(&l);
	for (unsigned q = 0; q < 8; q++) {
		tl_set_rtt(&l, q, 1 + q % 3);
		all |= B(q);
	}
	for (unsigned pct = 1; pct <= 300; pct += 49)
		assert_int_equal(tl_rtt_lazy(&l, 0, all, pct), 0);
	for (unsigned q = 0; q < 8; q++)
		tl_set_rtt(&l, q, 80);
	assert_int_equal(tl_rtt_lazy(&l, 0, all, 50), 0);
}

/* tl_predict_rtt: RTT decides only for the peers not counted TL_MIN
 * times; a learnt peer follows what was learnt, whatever its RTT; an
 * exploring tree is not predicted at all. */
static void test_rtt_only_until_learnt(void **state)
{
	struct tlearn l;
	uint32_t peers = B(0) | B(1) | B(2) | B(3) | B(4);
	tl_init(&l);
	tl_set_rtt(&l, 0, 50);
	tl_set_rtt(&l, 1, 40);
	tl_set_rtt(&l, 2, 45);
	tl_set_rtt(&l, 3, 290); /* slow */
	tl_set_rtt(&l, 4, 300); /* slow */
	assert_int_equal(predict_steady_rtt(&l, 0, peers, 100), B(3) | B(4));
	assert_int_equal(predict_steady(&l, 0, peers), 0); /* pct 0 */
	/* learnt from upstream 0: peer 3 always keeps us, peer 1 never */
	for (unsigned i = 0; i < TL_MIN; i++)
		tl_learn(&l, 0, B(1) | B(3), B(1));
	assert_int_equal(predict_steady_rtt(&l, 0, peers, 100), B(1) | B(4));
	/* from another upstream nothing is learnt: RTT again */
	assert_int_equal(predict_steady_rtt(&l, 2, peers, 100), B(3) | B(4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_never_kept_goes_lazy),
		cmocka_unit_test(test_no_upstream),
		cmocka_unit_test(test_follows_change_and_forget),
		cmocka_unit_test(test_rtt_lazy),
		cmocka_unit_test(test_rtt_equal_is_eager),
		cmocka_unit_test(test_rtt_only_until_learnt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
