/* test_sendbuf.c - the output buffer sized in time (proto/sendbuf.h):
 * the floor before any sample, a slow link's rate measured over the time
 * its buffer held bytes (idle time not counted), a fast link sized at the
 * ceiling within its first sample, a rate that falls, and time_ms 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/sendbuf.h"

#define FLOOR 1024u
#define CEIL (1u << 20)

/* A buffer kept non-empty and drained at rate bytes/s for ms, in steps of
 * 1 ms, from t (us); returns the time at the end. */
static uint64_t drain_busy(struct sendbuf *s, uint64_t t, uint64_t rate,
                           unsigned ms, size_t *queued)
{
	for (unsigned i = 0; i < ms; i++) {
		size_t n = (size_t)(rate / 1000u);
		sendbuf_added(s, t, *queued);
		*queued += n;          /* refilled as fast as it drains */
		t += 1000;
		*queued -= n;
		sendbuf_drained(s, t, n, *queued);
	}
	return t;
}

static void test_floor_unmeasured(void **state)
{
	struct sendbuf s;

	sendbuf_init(&s);
	assert_int_equal(sendbuf_cap(&s, 100, FLOOR, CEIL), FLOOR);
	assert_int_equal(sendbuf_room(&s, 0, 100, FLOOR, CEIL), FLOOR);
	assert_int_equal(sendbuf_room(&s, 1000, 100, FLOOR, CEIL), 24);
	assert_int_equal(sendbuf_room(&s, 5000, 100, FLOOR, CEIL), 0);
	/* time 0: bytes only, the ceiling */
	assert_int_equal(sendbuf_cap(&s, 0, FLOOR, CEIL), CEIL);
}

static void test_slow_link(void **state)
{
	struct sendbuf s;
	size_t q = 4000;
	uint64_t t = 1000000;

	sendbuf_init(&s);
	t = drain_busy(&s, t, 100000, 1000, &q);  /* 100 kB/s for 1 s */
	assert_true(s.samples >= 10);
	assert_in_range(s.rate, 95000, 105000);
	/* 100 ms of it */
	assert_in_range(sendbuf_cap(&s, 100, FLOOR, CEIL), 9500, 10500);
	assert_in_range(sendbuf_room(&s, 4000, 100, FLOOR, CEIL), 5500, 6500);
	/* far under the floor: the floor */
	assert_int_equal(sendbuf_cap(&s, 1, FLOOR, CEIL), FLOOR);
	(void)t;
}

/* Time with nothing in the buffer is not the link's: 1,000 B that left
 * in 10 ms, then 1 s idle, again and again, is 100 kB/s, not ~1 kB/s. */
static void test_idle_not_counted(void **state)
{
	struct sendbuf s;
	uint64_t t = 5000000;

	sendbuf_init(&s);
	for (int i = 0; i < 20; i++) {
		sendbuf_added(&s, t, 0);
		t += 5000;
		sendbuf_drained(&s, t, 500, 500);
		t += 5000;
		sendbuf_drained(&s, t, 500, 0);
		t += 1000000;               /* idle */
	}
	assert_true(s.samples >= 3);
	assert_in_range(s.rate, 90000, 110000);
}

/* A fast link: 64 KiB gone within microseconds is one sample, and the
 * buffer is sized at the ceiling at once. */
static void test_fast_link(void **state)
{
	struct sendbuf s;
	uint64_t t = 1000;

	sendbuf_init(&s);
	for (int i = 0; i < 64; i++) {
		sendbuf_added(&s, t, 0);
		t += 2;
		sendbuf_drained(&s, t, 1024, 0);
		t += 50;
	}
	assert_int_equal(s.samples, 1);
	assert_int_equal(sendbuf_cap(&s, 100, FLOOR, CEIL), CEIL);
}

/* The rate follows the link down: a fast start, then a slow link. */
static void test_rate_falls(void **state)
{
	struct sendbuf s;
	size_t q = 1000;
	uint64_t t = 1000;

	sendbuf_init(&s);
	t = drain_busy(&s, t, 10000000, 100, &q);   /* 10 MB/s */
	assert_true(sendbuf_cap(&s, 100, FLOOR, CEIL) >= 900000);
	t = drain_busy(&s, t, 50000, 1000, &q);     /* then 50 kB/s */
	assert_in_range(sendbuf_cap(&s, 100, FLOOR, CEIL), 4500, 6000);
	(void)t;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_floor_unmeasured),
		cmocka_unit_test(test_slow_link),
		cmocka_unit_test(test_idle_not_counted),
		cmocka_unit_test(test_fast_link),
		cmocka_unit_test(test_rate_falls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
