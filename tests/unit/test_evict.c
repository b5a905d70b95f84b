/* test_evict.c - unit tests for src/proto/evict.c: which inbound peer is
 * dropped for a new one (Bitcoin Core's AttemptToEvictConnection rules).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/evict.h"

static struct evict_cand cand(int id, uint64_t group, uint64_t since)
{
	struct evict_cand c = {id, group, since, UINT64_MAX, 0};
	return c;
}

/* 100 connections from one attacker group and 10 honest ones from ten
 * groups: the attacker's youngest goes, whatever the order given. */
static void test_flood_group_loses(void **state)
{
	struct evict_cand c[110];
	size_t n = 0;
	for (int i = 0; i < 10; i++)
		c[n++] = cand(i, 1000 + (uint64_t)i, 100 + (uint64_t)i);
	for (int i = 0; i < 100; i++)
		c[n++] = cand(100 + i, 7, 1000 + (uint64_t)i);
	assert_int_equal(evict_select(c, n), 199);
}

/* Fast, useful and long-connected peers are protected even inside the
 * largest group. */
static void test_protections(void **state)
{
	struct evict_cand c[40];
	size_t n = 0;
	for (int i = 0; i < 40; i++)
		c[n++] = cand(i, 5, 1000 + (uint64_t)i);
	/* the youngest (39) pings fastest; 38 delivered a packet last */
	c[39].ping_us = 100;
	for (int i = 0; i < 39; i++)
		c[i].ping_us = 100000 + (uint64_t)i;
	c[38].last_packet_ms = 5000;
	int id = evict_select(c, n);
	assert_int_not_equal(id, 39);
	assert_int_not_equal(id, 38);
	/* 8 lowest pings: 39 and 0..6 protected; 4 packets: only 38 has one;
	 * netgroup: 4 of the one group (oldest); age: half the rest. The
	 * youngest unprotected one goes. */
	assert_int_equal(id, 37);
}

static void test_all_protected(void **state)
{
	struct evict_cand c[4];
	for (int i = 0; i < 4; i++)
		c[i] = cand(i, (uint64_t)i, 10);
	assert_int_equal(evict_select(c, 4), -1);
	assert_int_equal(evict_select(c, 0), -1);
}

/* Two groups of equal size: the one with the youngest member loses it. */
static void test_tie_youngest_group(void **state)
{
	struct evict_cand c[24];
	size_t n = 0;
	for (int i = 0; i < 12; i++)
		c[n++] = cand(i, 1, 100 + (uint64_t)i);
	for (int i = 0; i < 12; i++)
		c[n++] = cand(50 + i, 2, 200 + (uint64_t)i);
	assert_int_equal(evict_select(c, n), 61);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flood_group_loses),
		cmocka_unit_test(test_protections),
		cmocka_unit_test(test_all_protected),
		cmocka_unit_test(test_tie_youngest_group),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
