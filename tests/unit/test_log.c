/* test_log.c - unit tests for the log rate limiter (src/node/log.c):
 * burst, refill at the configured rate, per-key buckets, the count of
 * suppressed lines, slot reuse when the table is full; and a file opened
 * by log_open is mode 0600 under umask 000 and reopened by log_reopen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "node/log.h"

static struct log_limit lim;

static void test_burst_then_rate(void **state)
{
	static const char key[] = "k";
	uint64_t sup = 99;
	int ok = 0;

	(void)state;
	log_limit_init(&lim, 30, 5);
	for (int i = 0; i < 1000; i++)
		ok += log_limit_take(&lim, key, 1000, &sup);
	assert_int_equal(ok, 30);
	/* one second later: 5 more lines, the first reports 970 dropped */
	assert_true(log_limit_take(&lim, key, 2000, &sup));
	assert_int_equal(sup, 970);
	ok = 1;
	for (int i = 0; i < 100; i++)
		ok += log_limit_take(&lim, key, 2000, &sup);
	assert_int_equal(ok, 5);
	/* 200 ms is one line */
	assert_true(log_limit_take(&lim, key, 2200, &sup));
	assert_int_equal(sup, 96);
	assert_false(log_limit_take(&lim, key, 2200, &sup));
	/* a long pause refills to the burst, not beyond */
	ok = 0;
	for (int i = 0; i < 100; i++)
		ok += log_limit_take(&lim, key, 1000000, &sup);
	assert_int_equal(ok, 30);
}

static void test_sustained_flood_is_bounded(void **state)
{
	static const char key[] = "flood";
	uint64_t sup, written = 0, dropped = 0;

	(void)state;
	log_limit_init(&lim, 30, 5);
	/* 10,000 lines a second for 60 s */
	for (uint64_t ms = 0; ms < 60000; ms++)
		for (int i = 0; i < 10; i++) {
			if (log_limit_take(&lim, key, ms, &sup)) {
				written++;
				dropped += sup;
			}
		}
	assert_true(written <= 30 + 5 * 60 + 1);
	assert_true(written >= 5 * 60);
	/* every dropped line is reported with a later written one, but the
	 * ones after the last written line (at most 200 ms of them) */
	assert_true(dropped + written <= 600000);
	assert_true(dropped + written >= 600000 - 2000);
}

static void test_keys_independent(void **state)
{
	static const char a[] = "a", b[] = "b";
	uint64_t sup;

	(void)state;
	log_limit_init(&lim, 2, 1);
	assert_true(log_limit_take(&lim, a, 0, &sup));
	assert_true(log_limit_take(&lim, a, 0, &sup));
	assert_false(log_limit_take(&lim, a, 0, &sup));
	assert_true(log_limit_take(&lim, b, 0, &sup));
	assert_int_equal(sup, 0);
}

static void test_many_keys(void **state)
{
	static char keys[4 * LOG_LIMIT_SLOTS];
	uint64_t sup;

	(void)state;
	log_limit_init(&lim, 1, 1);
	/* more keys than slots: every new key gets a slot (a full bucket) */
	for (size_t i = 0; i < sizeof keys; i++)
		assert_true(log_limit_take(&lim, &keys[i], 5, &sup));
	/* and the table still limits a key seen again at once */
	assert_false(log_limit_take(&lim, &keys[sizeof keys - 1], 5, &sup));
}

static void test_file_mode_and_reopen(void **state)
{
	char dir[] = "/tmp/test_log.XXXXXX", path[64], moved[80];
	struct stat st;
	mode_t old;
	FILE *f;
	char buf[256];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/debug.log", dir);
	snprintf(moved, sizeof moved, "%s/debug.log.1", dir);
	old = umask(0);
	assert_int_equal(log_open(path, 0), E_OK);
	umask(old);
	log_msg(LOG_INFO, "first %d", 1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(rename(path, moved), 0);
	assert_int_equal(log_reopen(), E_OK);
	log_msg(LOG_INFO, "second %d", 2);
	log_close();
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof buf, f));
	assert_non_null(strstr(buf, "second 2"));
	fclose(f);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	f = fopen(moved, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof buf, f));
	assert_non_null(strstr(buf, "first 1"));
	assert_null(fgets(buf, sizeof buf, f));
	fclose(f);
	unlink(path);
	unlink(moved);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_rate),
		cmocka_unit_test(test_sustained_flood_is_bounded),
		cmocka_unit_test(test_keys_independent),
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_file_mode_and_reopen),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
