/* test_fhold.c - the future hold (core/fhold.h): release in timestamp
 * order when due, one copy per hash, bounds in count and bytes, the lowest
 * priority evicted first, a sender's half share, and a random program
 * against a simple model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/fhold.h"

struct rel {
	uint32_t ts[4096];
	int peer[4096];
	uint8_t first[4096];
	size_t n;
};

static void rel_cb(void *arg, const uint8_t *pkt, size_t len, int peer)
{
	struct rel *r = arg;
	assert_true(len >= 5);
	assert_true(r->n < 4096);
	memcpy(&r->ts[r->n], pkt + 1, 4);
	r->peer[r->n] = peer;
	r->first[r->n] = pkt[0];
	r->n++;
}

/* A fake packet: byte 0 tag, bytes 1..4 ts, then filler; hash from k. */
static size_t mk(uint8_t *p, size_t len, uint32_t ts, uint8_t tag,
                 uint8_t hash[32], uint32_t k)
{
	memset(p, 0x5a, len);
	p[0] = tag;
	memcpy(p + 1, &ts, 4);
	memset(hash, 0, 32);
	memcpy(hash, &k, 4);
	hash[31] = tag;
	return len;
}

static void test_order_and_dup(void **state)
{
	struct fhold *h = fhold_new(1u << 20, 100);
	struct fhold_stats st;
	struct rel r = {0};
	uint8_t p[64], hs[32];
	uint32_t ts[] = {105, 101, 103, 101, 110};

	for (uint32_t i = 0; i < 5; i++) {
		mk(p, sizeof(p), ts[i], (uint8_t)i, hs, i);
		assert_int_equal(fhold_put(h, p, sizeof(p), ts[i], 0, hs, 7),
		                 E_OK);
	}
	mk(p, sizeof(p), 105, 0, hs, 0);
	assert_int_equal(fhold_put(h, p, sizeof(p), 105, 0, hs, 8), E_DUP);
	assert_int_equal(fhold_next(h), 101);
	assert_int_equal(fhold_release(h, 100, rel_cb, &r), 0);
	assert_int_equal(fhold_release(h, 103, rel_cb, &r), 3);
	assert_int_equal(r.ts[0], 101);
	assert_int_equal(r.ts[1], 101);
	assert_int_equal(r.ts[2], 103);
	assert_int_equal(r.peer[0], 7);
	assert_int_equal(fhold_next(h), 105);
	assert_int_equal(fhold_release(h, 1000, rel_cb, &r), 2);
	assert_int_equal(r.ts[4], 110);
	assert_int_equal(fhold_next(h), UINT32_MAX);
	fhold_get_stats(h, &st);
	assert_int_equal(st.count, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.held, 5);
	assert_int_equal(st.released, 5);
	/* released: may be held again */
	mk(p, sizeof(p), 105, 0, hs, 0);
	assert_int_equal(fhold_put(h, p, sizeof(p), 105, 0, hs, 8), E_OK);
	fhold_free(h);
}

/* Full: a higher priority evicts the lowest (newest first); an equal or
 * lower one is refused.  Bytes count too. */
static void test_bounds_priority(void **state)
{
	struct fhold *h = fhold_new(1u << 20, 4);
	struct fhold_stats st;
	struct rel r = {0};
	uint8_t p[64], hs[32];

	for (uint32_t i = 0; i < 4; i++) {
		mk(p, sizeof(p), 200 + i, (uint8_t)i, hs, i);
		assert_int_equal(fhold_put(h, p, sizeof(p), 200 + i,
		                           i < 2 ? 1 : 3, hs, -1), E_OK);
	}
	mk(p, sizeof(p), 300, 9, hs, 9);
	assert_int_equal(fhold_put(h, p, sizeof(p), 300, 1, hs, -1), E_NOMEM);
	assert_int_equal(fhold_put(h, p, sizeof(p), 300, 2, hs, -1), E_OK);
	fhold_get_stats(h, &st);
	assert_int_equal(st.count, 4);
	assert_int_equal(st.evicted, 1);
	assert_int_equal(st.refused, 1);
	fhold_release(h, 1000, rel_cb, &r);
	/* tag 1 (priority 1, the newer of the two lowest) went */
	assert_int_equal(r.n, 4);
	assert_int_equal(r.first[0], 0);
	assert_int_equal(r.first[1], 2);
	assert_int_equal(r.first[2], 3);
	assert_int_equal(r.first[3], 9);
	fhold_free(h);

	/* bytes: 3 entries of 1000 + cost fit in 3500 */
	h = fhold_new(3 * (1000 + FHOLD_ENTRY_COST) + 10, 100);
	uint8_t big[1000];
	for (uint32_t i = 0; i < 3; i++) {
		mk(big, sizeof(big), 10, (uint8_t)i, hs, i);
		assert_int_equal(fhold_put(h, big, sizeof(big), 10, 0, hs, -1),
		                 E_OK);
	}
	mk(big, sizeof(big), 10, 5, hs, 5);
	assert_int_equal(fhold_put(h, big, sizeof(big), 10, 0, hs, -1),
	                 E_NOMEM);
	fhold_get_stats(h, &st);
	assert_true(st.bytes <= 3 * (1000 + FHOLD_ENTRY_COST) + 10);
	fhold_free(h);
}

/* One sender fills at most half; others still get in. */
static void test_sender_share(void **state)
{
	struct fhold *h = fhold_new(1u << 20, 100);
	uint8_t p[64], hs[32];
	uint32_t k = 0, ok = 0;

	for (; k < 100; k++) {
		mk(p, sizeof(p), 50, 1, hs, k);
		ok += fhold_put(h, p, sizeof(p), 50, 0, hs, 3) == E_OK;
	}
	assert_int_equal(ok, 51);
	for (uint32_t i = 0; i < 40; i++, k++) {
		mk(p, sizeof(p), 50, 2, hs, k);
		assert_int_equal(fhold_put(h, p, sizeof(p), 50, 0, hs, 4), E_OK);
	}
	fhold_free(h);
}

/* Random puts and releases against counts: every held packet comes back
 * exactly once, in timestamp order, and the bounds hold throughout. */
static void test_random(void **state)
{
	struct fhold *h = fhold_new(64u << 10, 300);
	struct fhold_stats st;
	uint8_t p[600], hs[32];
	uint64_t rng = 12345;
	uint32_t now = 1000, last = 0;
	uint64_t in = 0, out = 0, ev = 0;

	for (int step = 0; step < 20000; step++) {
		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		uint32_t x = (uint32_t)(rng >> 33);
		if (x % 10 == 0) {
			struct rel r = {0};
			now++;
			fhold_release(h, now, rel_cb, &r);
			for (size_t i = 0; i < r.n; i++) {
				assert_true(r.ts[i] <= now);
				assert_true(i == 0 || r.ts[i] >= r.ts[i - 1]);
				assert_true(r.ts[i] >= last || r.ts[i] <= now);
			}
			if (r.n)
				last = r.ts[r.n - 1];
			out += r.n;
			continue;
		}
		uint32_t ts = now + 1 + x % 60;
		size_t len = 10 + x % 500;
		mk(p, len, ts, (uint8_t)(x & 0xff), hs, (uint32_t)step);
		int rc = fhold_put(h, p, len, ts, (int)(x % 16), hs,
		                   (int)(x % 5) - 1);
		in += rc == E_OK;
		fhold_get_stats(h, &st);
		assert_true(st.count <= 300);
		assert_true(st.bytes <= 64u << 10);
		ev = st.evicted;
	}
	struct rel r = {0};
	while (fhold_next(h) != UINT32_MAX) {
		r.n = 0;
		fhold_release(h, fhold_next(h), rel_cb, &r);
		out += r.n;
	}
	assert_int_equal(in, out + ev);
	fhold_get_stats(h, &st);
	assert_int_equal(st.count, 0);
	assert_int_equal(st.bytes, 0);
	fhold_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_dup),
		cmocka_unit_test(test_bounds_priority),
		cmocka_unit_test(test_sender_share),
		cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
