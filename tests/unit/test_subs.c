/* test_subs.c - the subscription registry (node/subs.h): DEX_list's
 * filter semantics on packet views, tagA buckets, the limits per client
 * address and in total, removal while matching; and the filter parsing
 * events_parse_filter shares with DEX_list (events_core.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"
#include "node/events.h"
#include "node/subs.h"

static uint8_t PK1[PACKET_PUBKEY_LEN] = { 0x01, 0xaa };
static uint8_t PK2[PACKET_PUBKEY_LEN] = { 0x01, 0xbb };

static struct packet_view view(const char *a, const char *b,
                               const uint8_t *pk, uint64_t amt_a,
                               uint64_t amt_b)
{
	struct packet_view pv;

	memset(&pv, 0, sizeof pv);
	pv.tag_a = (const uint8_t *)a;
	pv.len_a = (uint8_t)strlen(a);
	pv.tag_b = (const uint8_t *)b;
	pv.len_b = (uint8_t)strlen(b);
	pv.pubkey = pk;
	pv.plen = pk ? PACKET_PUBKEY_LEN : 0;
	pv.amount_a = amt_a;
	pv.amount_b = amt_b;
	return pv;
}

static void set_tags(struct sub_filter *f, const char *a, const char *b)
{
	f->len_a = strlen(a);
	memcpy(f->tag_a, a, f->len_a);
	f->len_b = strlen(b);
	memcpy(f->tag_b, b, f->len_b);
}

static void test_filter(void **state)
{
	struct sub_filter f;
	struct packet_view pv = view("BTC", "KMD", PK1, 50, 500);

	(void)state;
	sub_filter_init(&f);
	assert_true(sub_filter_match(&f, &pv, 0));
	set_tags(&f, "BTC", "");
	assert_true(sub_filter_match(&f, &pv, 0));
	set_tags(&f, "BT", "");       /* exact, not prefix */
	assert_false(sub_filter_match(&f, &pv, 0));
	set_tags(&f, "BTCX", "");
	assert_false(sub_filter_match(&f, &pv, 0));
	set_tags(&f, "btc", "");      /* case-sensitive */
	assert_false(sub_filter_match(&f, &pv, 0));
	set_tags(&f, "BTC", "KMD");
	assert_true(sub_filter_match(&f, &pv, 0));
	set_tags(&f, "BTC", "LTC");
	assert_false(sub_filter_match(&f, &pv, 0));
	set_tags(&f, "", "KMD");
	assert_true(sub_filter_match(&f, &pv, 0));

	f.has_pk = true;
	memcpy(f.pubkey, PK1, sizeof PK1);
	assert_true(sub_filter_match(&f, &pv, 0));
	memcpy(f.pubkey, PK2, sizeof PK2);
	assert_false(sub_filter_match(&f, &pv, 0));
	struct packet_view nopk = view("BTC", "KMD", NULL, 50, 500);
	assert_false(sub_filter_match(&f, &nopk, 0));
	f.has_pk = false;

	f.minpriority = 3;
	assert_false(sub_filter_match(&f, &pv, 2));
	assert_true(sub_filter_match(&f, &pv, 3));
	f.minpriority = 0;

	/* inclusive ranges */
	f.min_a = 50;
	f.max_a = 50;
	assert_true(sub_filter_match(&f, &pv, 0));
	f.min_a = 51;
	f.max_a = AMOUNT_MAX;
	assert_false(sub_filter_match(&f, &pv, 0));
	f.min_a = 0;
	f.max_a = 49;
	assert_false(sub_filter_match(&f, &pv, 0));
	f.max_a = AMOUNT_MAX;
	f.min_b = 500;
	f.max_b = 500;
	assert_true(sub_filter_match(&f, &pv, 0));
	f.max_b = 499;
	f.min_b = 0;
	assert_false(sub_filter_match(&f, &pv, 0));
	f.max_b = AMOUNT_MAX;
	f.min_b = 501;
	assert_false(sub_filter_match(&f, &pv, 0));
}

struct hits {
	struct sub *seen[64];
	size_t n;
	struct subs *r;
	bool remove;
};

static void hit_cb(struct sub *s, void *arg)
{
	struct hits *h = arg;

	if (h->n < 64)
		h->seen[h->n++] = s;
	if (h->remove)
		subs_remove(h->r, s);
}

static bool seen(const struct hits *h, const struct sub *s)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->seen[i] == s)
			return true;
	return false;
}

static void mk(struct sub *s, const char *a, const char *b,
               const char *addr)
{
	memset(s, 0, sizeof *s);
	sub_filter_init(&s->f);
	set_tags(&s->f, a, b);
	snprintf(s->addr, sizeof s->addr, "%s", addr);
}

static void test_match_buckets(void **state)
{
	struct subs *r = subs_new(100, 100);
	struct sub s_btc, s_btc_kmd, s_any_kmd, s_eth, s_all;
	struct hits h = { .r = r };
	struct packet_view pv = view("BTC", "KMD", NULL, 1, 1);

	(void)state;
	mk(&s_btc, "BTC", "", "a");
	mk(&s_btc_kmd, "BTC", "KMD", "a");
	mk(&s_any_kmd, "", "KMD", "a");
	mk(&s_eth, "ETH", "", "a");
	mk(&s_all, "", "", "a");
	assert_int_equal(subs_add(r, &s_btc), SUBS_OK);
	assert_int_equal(subs_add(r, &s_btc_kmd), SUBS_OK);
	assert_int_equal(subs_add(r, &s_any_kmd), SUBS_OK);
	assert_int_equal(subs_add(r, &s_eth), SUBS_OK);
	assert_int_equal(subs_add(r, &s_all), SUBS_OK);
	assert_int_equal(subs_count(r), 5);
	assert_int_equal(subs_match(r, &pv, 0, hit_cb, &h), 4);
	assert_int_equal(h.n, 4);
	assert_true(seen(&h, &s_btc) && seen(&h, &s_btc_kmd) &&
	            seen(&h, &s_any_kmd) && seen(&h, &s_all));
	assert_false(seen(&h, &s_eth));

	/* a packet without tagA reaches only the no-tagA list */
	struct packet_view notag = view("", "KMD", NULL, 1, 1);
	h.n = 0;
	assert_int_equal(subs_match(r, &notag, 0, hit_cb, &h), 2);
	assert_true(seen(&h, &s_any_kmd) && seen(&h, &s_all));

	/* removal inside the callback, every match removed */
	h.n = 0;
	h.remove = true;
	assert_int_equal(subs_match(r, &pv, 0, hit_cb, &h), 4);
	assert_int_equal(subs_count(r), 1);
	h.n = 0;
	h.remove = false;
	assert_int_equal(subs_match(r, &pv, 0, hit_cb, &h), 0);
	subs_remove(r, &s_eth);
	subs_remove(r, &s_eth); /* twice: no-op */
	assert_int_equal(subs_count(r), 0);
	subs_free(r);
}

static void test_limits(void **state)
{
	struct subs *r = subs_new(5, 3);
	struct sub s[8];

	(void)state;
	for (int i = 0; i < 3; i++) {
		mk(&s[i], "T", "", "10.0.0.1");
		assert_int_equal(subs_add(r, &s[i]), SUBS_OK);
	}
	mk(&s[3], "T", "", "10.0.0.1");
	assert_int_equal(subs_add(r, &s[3]), SUBS_ADDR_FULL);
	assert_int_equal(subs_count_addr(r, "10.0.0.1"), 3);
	mk(&s[4], "", "", "10.0.0.2");
	assert_int_equal(subs_add(r, &s[4]), SUBS_OK);
	mk(&s[5], "U", "", "10.0.0.3");
	assert_int_equal(subs_add(r, &s[5]), SUBS_OK);
	mk(&s[6], "U", "", "10.0.0.4");
	assert_int_equal(subs_add(r, &s[6]), SUBS_FULL);
	assert_int_equal(subs_count(r), 5);
	/* a refused one is not registered: removing it changes nothing */
	subs_remove(r, &s[6]);
	subs_remove(r, &s[3]);
	assert_int_equal(subs_count(r), 5);
	/* room again after a removal */
	subs_remove(r, &s[0]);
	assert_int_equal(subs_add(r, &s[3]), SUBS_OK);
	assert_int_equal(subs_count_addr(r, "10.0.0.1"), 3);
	subs_free(r);
}

static size_t counter;

static void count_cb(struct sub *s, void *arg)
{
	(void)s;
	(void)arg;
	counter++;
}

static void test_many(void **state)
{
	enum { N = 2000 };
	struct subs *r = subs_new(N, N);
	struct sub *s = calloc(N, sizeof *s);
	char tag[16];

	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(tag, sizeof tag, "t%d", i % 100);
		mk(&s[i], tag, "", "127.0.0.1");
		assert_int_equal(subs_add(r, &s[i]), SUBS_OK);
	}
	struct packet_view pv = view("t7", "", NULL, 0, 0);
	counter = 0;
	assert_int_equal(subs_match(r, &pv, 0, count_cb, NULL), N / 100);
	assert_int_equal(counter, N / 100);
	counter = 0;
	subs_foreach(r, count_cb, NULL);
	assert_int_equal(counter, N);
	for (int i = 0; i < N; i++)
		subs_remove(r, &s[i]);
	assert_int_equal(subs_count(r), 0);
	free(s);
	subs_free(r);
}

/* events_parse_filter: DEX_list's validators in DEX_list's order, the
 * `general` default, the ranges. */
static json_t *parse(const char *mp, const char *ta, const char *tb,
                     const char *pk, const char *mina, const char *maxa,
                     const char *minb, const char *maxb,
                     struct sub_filter *f)
{
	const char *p[8] = { mp, ta, tb, pk, mina, maxa, minb, maxb };
	size_t len[8];

	for (int i = 0; i < 8; i++)
		len[i] = strlen(p[i]);
	return events_parse_filter(p, len, f);
}

static const char *err_of(json_t *e)
{
	static char buf[128];

	snprintf(buf, sizeof buf, "%s",
	         e ? json_string_value(json_object_get(e, "error")) : "");
	json_decref(e);
	return buf;
}

static void test_parse_filter(void **state)
{
	struct sub_filter f;
	char pk[67] = "01";

	(void)state;
	for (int i = 0; i < 32; i++)
		memcpy(pk + 2 + 2 * i, "ab", 2);
	assert_null(parse("", "", "", "", "", "", "", "", &f));
	assert_int_equal(f.len_a, 7);       /* the general default */
	assert_memory_equal(f.tag_a, "general", 7);
	assert_int_equal(f.max_a, AMOUNT_MAX);
	assert_null(parse("3", "", "KMD", "", "0.5", "1", "", "", &f));
	assert_int_equal(f.len_a, 0);       /* a tagB: no default */
	assert_int_equal(f.minpriority, 3);
	assert_int_equal(f.min_a, 50000000);
	assert_int_equal(f.max_a, 100000000);
	assert_null(parse("", "", "", pk, "", "", "", "", &f));
	assert_true(f.has_pk && f.len_a == 0);
	/* first failure in DEX_list's order */
	assert_string_equal(err_of(parse("-1", "AAAAAAAAAAAAAAAA", "", "x",
	                                 "", "", "", "", &f)),
	                    "minpriority must be a non-negative integer");
	assert_string_equal(err_of(parse("", "AAAAAAAAAAAAAAAA", "", "x", "",
	                                 "", "", "", &f)),
	                    "tagA longer than 15 bytes");
	assert_string_equal(err_of(parse("", "", "", "x", "-1", "", "", "",
	                                 &f)),
	                    "pubkey33 must be 66 hex characters starting with 01");
	assert_string_equal(err_of(parse("", "A", "", "", "-1", "", "", "",
	                                 &f)),
	                    "negative minA");
	assert_string_equal(err_of(parse("", "A", "", "", "2", "1", "3", "1",
	                                 &f)),
	                    "minA greater than maxA");
	assert_string_equal(err_of(parse("", "A", "", "", "", "", "3", "1",
	                                 &f)),
	                    "minB greater than maxB");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_match_buckets),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_parse_filter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
