/* test_hist.c - the fixed-bucket histogram (core/hist.h): bucket edges
 * (an observation equal to a bound falls in that bound's bucket),
 * cumulative counts, sum, negative and NaN input, invalid bounds, the
 * quantile estimate, and a random run against a direct count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/hist.h"

static const double B[] = { 0.1, 0.5, 1, 5 };
#define NB (sizeof B / sizeof B[0])

static void test_edges(void **state)
{
	struct hist h;

	assert_int_equal(hist_init(&h, B, NB), 0);
	assert_int_equal(hist_cumulative(&h, NB), 0);
	hist_observe(&h, 0.1);   /* == bound: le="0.1" */
	hist_observe(&h, 0.10001);
	hist_observe(&h, 0.5);
	hist_observe(&h, 5);
	hist_observe(&h, 5.5);   /* +Inf only */
	hist_observe(&h, 1000);
	assert_int_equal(hist_cumulative(&h, 0), 1);
	assert_int_equal(hist_cumulative(&h, 1), 3);
	assert_int_equal(hist_cumulative(&h, 2), 3);
	assert_int_equal(hist_cumulative(&h, 3), 4);
	assert_int_equal(hist_cumulative(&h, 4), 6);
	assert_int_equal(hist_cumulative(&h, 99), 6); /* clamped to +Inf */
	assert_int_equal(h.count, 6);
	assert_true(h.sum > 1011.2 - 1e-9 && h.sum < 1011.2 + 1e-3);
}

static void test_negative_nan(void **state)
{
	struct hist h;
	double zero = 0.0;

	assert_int_equal(hist_init(&h, B, NB), 0);
	hist_observe(&h, -3);        /* sender clock ahead: counts as 0 */
	hist_observe(&h, zero / zero); /* NaN: ignored */
	assert_int_equal(h.count, 1);
	assert_int_equal(hist_cumulative(&h, 0), 1);
	assert_true(h.sum == 0.0);
}

static void test_bad_bounds(void **state)
{
	struct hist h;
	double zero = 0.0;
	const double desc[] = { 1, 0.5 };
	const double dup[] = { 1, 1 };
	const double inf[] = { 1, 1 / zero };
	double many[HIST_MAX_BOUNDS + 1];

	for (size_t i = 0; i < HIST_MAX_BOUNDS + 1; i++)
		many[i] = (double)i;
	assert_int_equal(hist_init(&h, desc, 2), -1);
	assert_int_equal(hist_init(&h, dup, 2), -1);
	assert_int_equal(hist_init(&h, inf, 2), -1);
	assert_int_equal(hist_init(&h, B, 0), -1);
	assert_int_equal(hist_init(&h, many, HIST_MAX_BOUNDS + 1), -1);
	assert_int_equal(hist_init(&h, many, HIST_MAX_BOUNDS), 0);
	/* an unusable histogram ignores observations */
	assert_int_equal(hist_init(&h, desc, 2), -1);
	hist_observe(&h, 1);
	assert_int_equal(h.count, 0);
	assert_true(hist_quantile(&h, 0.5) == 0.0);
}

static void test_quantile(void **state)
{
	struct hist h;

	assert_int_equal(hist_init(&h, B, NB), 0);
	assert_true(hist_quantile(&h, 0.99) == 0.0);   /* empty */
	/* 10 in (0.1, 0.5]: the median interpolates inside that bucket */
	for (int i = 0; i < 10; i++)
		hist_observe(&h, 0.3);
	assert_true(hist_quantile(&h, 0.5) > 0.299 &&
	            hist_quantile(&h, 0.5) < 0.301);
	assert_true(hist_quantile(&h, 1.0) == 0.5);
	/* 90 more above every bound: p99 is the last finite bound */
	for (int i = 0; i < 90; i++)
		hist_observe(&h, 50);
	assert_true(hist_quantile(&h, 0.99) == 5.0);
	assert_true(hist_quantile(&h, 0.05) > 0.1 &&
	            hist_quantile(&h, 0.05) <= 0.5);
	assert_true(hist_quantile(&h, -1) == hist_quantile(&h, 0));
	assert_true(hist_quantile(&h, 2) == hist_quantile(&h, 1));
}

static void test_random(void **state)
{
	struct hist h;
	uint64_t want[NB + 1] = { 0 };
	double sum = 0;

	srand(7);
	assert_int_equal(hist_init(&h, B, NB), 0);
	for (int i = 0; i < 20000; i++) {
		double x = (double)(rand() % 8000) / 1000.0; /* 0 .. 7.999 */
		size_t k = 0;
		while (k < NB && x > B[k])
			k++;
		for (size_t j = k; j <= NB; j++)
			want[j]++;
		sum += x;
		hist_observe(&h, x);
	}
	for (size_t j = 0; j <= NB; j++)
		assert_int_equal(hist_cumulative(&h, j), want[j]);
	assert_true(h.sum > sum - 1e-6 && h.sum < sum + 1e-6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_negative_nan),
		cmocka_unit_test(test_bad_bounds),
		cmocka_unit_test(test_quantile),
		cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
