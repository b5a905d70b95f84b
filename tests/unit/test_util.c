/* test_util.c - unit tests for src/core/util.c and err.c: hex, strict
 * integers, exact amounts (API.md 3.2), payload input/rendering (C.1, C.2),
 * UTF-8 sanitising (3.4).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/util.h"

static void test_hex(void **state)
{
	uint8_t b[4] = {0x00, 0xab, 0xCD, 0xff}, d[4];
	char s[9];

	hex_encode(s, b, 4);
	assert_string_equal(s, "00abcdff");
	assert_true(hex_decode(d, "00ABcdFF", 4));
	assert_memory_equal(d, b, 4);
	assert_false(hex_decode(d, "00abcdfg", 4));
	assert_true(is_hex("cafe", 4));
	assert_true(is_hex("CAFE", 4));
	assert_false(is_hex("caf", 3));
	assert_false(is_hex("", 0));
	assert_false(is_hex("0x12", 4));
	hex_encode(s, b, 0);
	assert_string_equal(s, "");
}

static void test_hex_digit_trim(void **state)
{
	char a[] = "  \tname = v \r\n", b[] = "", c[] = " \t ";

	(void)state;
	assert_int_equal(hex_digit('0'), 0);
	assert_int_equal(hex_digit('9'), 9);
	assert_int_equal(hex_digit('a'), 10);
	assert_int_equal(hex_digit('F'), 15);
	assert_int_equal(hex_digit('g'), -1);
	assert_int_equal(hex_digit('/'), -1);
	assert_string_equal(str_trim(a), "name = v");
	assert_string_equal(str_trim(b), "");
	assert_string_equal(str_trim(c), "");
}

static void test_hostport(void **state)
{
	char h[64];
	uint16_t port;

	(void)state;
	assert_int_equal(hostport_split("127.0.0.1", h, sizeof h, &port, 7770),
	                 E_OK);
	assert_string_equal(h, "127.0.0.1");
	assert_int_equal(port, 7770);
	assert_int_equal(hostport_split("node-1.example:65535", h, sizeof h,
	                                &port, 7770), E_OK);
	assert_string_equal(h, "node-1.example");
	assert_int_equal(port, 65535);
	assert_int_equal(hostport_split("[::1]:17", h, sizeof h, &port, 1),
	                 E_OK);
	assert_string_equal(h, "::1");
	assert_int_equal(port, 17);
	assert_int_equal(hostport_split("[::ffff:127.0.0.1]", h, sizeof h,
	                                &port, 9), E_OK);
	assert_int_equal(port, 9);
	static const char *const bad[] = {
		"", ":80", "a b", "a!", "h:0", "h:65536", "h:", "h:8x", "::1",
		"[::1", "[::1]x", "[]:80", "[g::1]", "h:0080000",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(hostport_split(bad[i], h, sizeof h, &port, 1),
		                 E_PARSE);
	assert_int_equal(hostport_split("abcdefgh", h, 8, &port, 1), E_PARSE);
	assert_int_equal(hostport_split("abcdefg", h, 8, &port, 1), E_OK);
}

static void test_parse_int64(void **state)
{
	struct { const char *s; int rc; int64_t v; } c[] = {
		{"0", E_OK, 0}, {"5", E_OK, 5}, {"007", E_OK, 7},
		{"-0", E_OK, 0}, {"-12", E_OK, -12},
		{"9223372036854775807", E_OK, INT64_MAX},
		{"-9223372036854775808", E_OK, INT64_MIN},
		{"9223372036854775808", E_RANGE, 0},
		{"-9223372036854775809", E_RANGE, 0},
		{"18446744073709551615", E_RANGE, 0},  /* 20 digits */
		{"99999999999999999999", E_RANGE, 0},  /* 20 digits */
		{"00000000000000000001", E_OK, 1},     /* 20 digits */
		{"000000000000000000001", E_PARSE, 0}, /* 21 digits */
		{"", E_PARSE, 0}, {"-", E_PARSE, 0}, {"+1", E_PARSE, 0},
		{" 1", E_PARSE, 0}, {"1 ", E_PARSE, 0}, {"5x", E_PARSE, 0},
		{"1.0", E_PARSE, 0}, {"1e3", E_PARSE, 0}, {"--1", E_PARSE, 0},
		{"abc", E_PARSE, 0},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		int64_t v = 12345;
		int rc = parse_int64(c[i].s, &v);
		if (rc != c[i].rc || (rc == E_OK && v != c[i].v))
			print_message("case parse_int64(\"%s\")\n", c[i].s);
		assert_int_equal(rc, c[i].rc);
		if (rc == E_OK)
			assert_int_equal(v, c[i].v);
	}
	assert_int_equal(parse_int64(NULL, &(int64_t){0}), E_PARSE);
}

static void test_parse_u32(void **state)
{
	uint32_t v = 0;
	assert_int_equal(parse_u32("4294967295", &v), E_OK);
	assert_int_equal(v, 4294967295u);
	assert_int_equal(parse_u32("0", &v), E_OK);
	assert_int_equal(v, 0);
	assert_int_equal(parse_u32("4294967296", &v), E_RANGE);
	assert_int_equal(parse_u32("-1", &v), E_RANGE);
	assert_int_equal(parse_u32("x", &v), E_PARSE);
	assert_int_equal(parse_u32("", &v), E_PARSE);
}

static void test_parse_amount(void **state)
{
	struct { const char *s; int rc; uint64_t v; } c[] = {
		{"0.1", E_OK, 10000000}, {"11.234", E_OK, 1123400000},
		{"0.7771", E_OK, 77710000}, {"1e-8", E_OK, 1},
		{"1E-8", E_OK, 1}, {".5", E_OK, 50000000},
		{"1E3", E_OK, 100000000000ULL}, {"1e+3", E_OK, 100000000000ULL},
		{"0", E_OK, 0}, {"000", E_OK, 0}, {"0.0", E_OK, 0},
		{"1", E_OK, 100000000}, {"007.5", E_OK, 750000000},
		{"0.00000001", E_OK, 1}, {"0.12345678", E_OK, 12345678},
		/* rounding to nearest, exact half down */
		{"0.000000005", E_OK, 0}, {"0.000000015", E_OK, 1},
		{"0.000000025", E_OK, 2}, {"0.0000000051", E_OK, 1},
		{"0.0000000049999", E_OK, 0}, {"0.000000006", E_OK, 1},
		{"0.123456785", E_OK, 12345678}, {"0.123456786", E_OK, 12345679},
		{"0.1234567850000001", E_OK, 12345679},
		{"5e-9", E_OK, 0}, {"6e-9", E_OK, 1}, {"1e-100", E_OK, 0},
		{"0e999999999999", E_OK, 0}, {"1.5e-8", E_OK, 1},
		{"2.5e-8", E_OK, 2}, {"0.00000000999999", E_OK, 1},
		{"12345678901e-3", E_OK, 1234567890100000ULL},
		/* range: 2^63 - 1 sats is the largest */
		{"92233720368.54775807", E_OK, 9223372036854775807ULL},
		{"92233720368.54775808", E_RANGE, 0},
		{"92233720368.547758075", E_OK, 9223372036854775807ULL},
		{"92233720368.547758076", E_RANGE, 0},
		{"9223372036854775807e-8", E_OK, 9223372036854775807ULL},
		{"1e10", E_OK, 1000000000000000000ULL},
		{"1e11", E_RANGE, 0}, {"1e999999999999999", E_RANGE, 0},
		{"100000000000", E_RANGE, 0},
		/* 64 characters accepted, 65 refused */
		{"0.00000001000000000000000000000000000000000000000000000000000000",
		 E_OK, 1},
		{"0.000000010000000000000000000000000000000000000000000000000000000",
		 E_PARSE, 0},
		/* negative: always E_NEGATIVE, even if the rest is junk */
		{"-1", E_NEGATIVE, 0}, {"-0", E_NEGATIVE, 0}, {"-x", E_NEGATIVE, 0},
		/* does not match */
		{"", E_PARSE, 0}, {".", E_PARSE, 0}, {"1.", E_PARSE, 0},
		{"+1", E_PARSE, 0}, {"1e", E_PARSE, 0}, {"1e+", E_PARSE, 0},
		{"e5", E_PARSE, 0}, {"1.2.3", E_PARSE, 0}, {" 1", E_PARSE, 0},
		{"1 ", E_PARSE, 0}, {"0x10", E_PARSE, 0}, {"1,5", E_PARSE, 0},
		{"inf", E_PARSE, 0}, {"nan", E_PARSE, 0}, {"1e5.5", E_PARSE, 0},
		{".e1", E_PARSE, 0},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		uint64_t v = 777;
		int rc = parse_amount(c[i].s, &v);
		if (rc != c[i].rc || (rc == E_OK && v != c[i].v))
			print_message("case parse_amount(\"%s\")\n", c[i].s);
		assert_int_equal(rc, c[i].rc);
		if (rc == E_OK)
			assert_int_equal(v, c[i].v);
	}
}

static void test_amount_format(void **state)
{
	char o[32];
	amount_format(o, 10000000);
	assert_string_equal(o, "0.10000000");
	amount_format(o, 0);
	assert_string_equal(o, "0.00000000");
	amount_format(o, 1123400000);
	assert_string_equal(o, "11.23400000");
	amount_format(o, UINT64_MAX);
	assert_string_equal(o, "184467440737.09551615");
	/* format then parse is the identity */
	uint64_t vals[] = {0, 1, 99999999, 100000000, 9223372036854775807ULL};
	for (size_t i = 0; i < 5; i++) {
		uint64_t back = 0;
		amount_format(o, vals[i]);
		assert_int_equal(parse_amount(o, &back), E_OK);
		assert_int_equal(back, vals[i]);
	}
}

static void check_input(const char *in, const uint8_t *want, size_t wlen)
{
	size_t n = 0;
	uint8_t *p = payload_from_input(in, strlen(in), &n);
	if (n != wlen)
		print_message("case payload_from_input(\"%s\")\n", in);
	assert_int_equal(n, wlen);
	assert_memory_equal(p, want, wlen);
	free(p);
}

static void test_payload_from_input(void **state)
{
	check_input("cafe", (const uint8_t *)"\xca\xfe", 2);
	check_input("FFFF", (const uint8_t *)"\xff\xff", 2);
	check_input("hello", (const uint8_t *)"hello\0", 6);
	check_input("a", (const uint8_t *)"a\0", 2);
	check_input("abc", (const uint8_t *)"abc\0", 4);
	check_input("0x12", (const uint8_t *)"0x12\0", 5);
	check_input("", (const uint8_t *)"\0", 1);
	/* an embedded NUL is carried through (len is given) */
	size_t n = 0;
	uint8_t *p = payload_from_input("a\0b", 3, &n);
	assert_int_equal(n, 4);
	assert_memory_equal(p, "a\0b\0", 4);
	free(p);
}

static void check_render(const uint8_t *d, size_t n, const char *want,
                         int want_hex)
{
	int h = -1;
	char *s = payload_render(d, n, &h);
	assert_string_equal(s, want);
	assert_int_equal(h, want_hex);
	free(s);
}

static void test_payload_render(void **state)
{
	check_render((const uint8_t *)"", 0, "", 1);
	check_render((const uint8_t *)"hello\0", 6, "hello", 0);
	check_render((const uint8_t *)"\x68\x69\x00", 3, "hi", 0);
	check_render((const uint8_t *)"\0", 1, "", 0);
	check_render((const uint8_t *)"\xca\xfe", 2, "cafe", 1);
	check_render((const uint8_t *)"hi", 2, "6869", 1);
	check_render((const uint8_t *)"h\ti\0", 4, "68096900", 1);
	check_render((const uint8_t *)"\xc3\xa9\0", 3, "c3a900", 1);
	check_render((const uint8_t *)"~ \0", 3, "~ ", 0);
	check_render((const uint8_t *)"a\x7f\0", 3, "617f00", 1);
	check_render((const uint8_t *)"a\0\0", 3, "610000", 1);
}

static void check_san(const char *in, size_t n, const char *want, size_t wn)
{
	size_t o = 0;
	char *s = utf8_sanitize((const uint8_t *)in, n, &o);
	assert_int_equal(o, wn);
	assert_memory_equal(s, want, wn);
	free(s);
}

static void test_utf8_sanitize(void **state)
{
	check_san("abc", 3, "abc", 3);
	check_san("", 0, "", 0);
	check_san("a\0b", 3, "a\0b", 3);
	check_san("\xc3\xa9", 2, "\xc3\xa9", 2);                 /* é */
	check_san("\xe2\x82\xac", 3, "\xe2\x82\xac", 3);         /* € */
	check_san("\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80", 4); /* emoji */
	check_san("\xff", 1, "\xc3\xbf", 2);
	check_san("\x80", 1, "\xc2\x80", 2);
	check_san("\xc3", 1, "\xc3\x83", 2);                 /* truncated */
	check_san("\xc0\xaf", 2, "\xc3\x80\xc2\xaf", 4);     /* overlong */
	check_san("\xed\xa0\x80", 3, "\xc3\xad\xc2\xa0\xc2\x80", 6); /* surr. */
	check_san("\xf4\x90\x80\x80", 4,
	          "\xc3\xb4\xc2\x90\xc2\x80\xc2\x80", 8);    /* > U+10FFFF */
	check_san("a\xe2\x82", 3, "a\xc3\xa2\xc2\x82", 5);   /* cut short */
}

static void test_err_str(void **state)
{
	int codes[] = {E_OK, E_NOMEM, E_PROTO, E_AGAIN, E_TOOBIG, E_CRYPTO,
	               E_INVAL, E_NOTFOUND, E_DUP, E_CANCELLED, E_IO,
	               E_PKT_TRUNCATED, E_PKT_TRAILING, E_PKT_PLEN,
	               E_PKT_DESTPUB, E_PKT_TAGLEN, E_PKT_TAGNUL, E_PKT_EMPTY,
	               E_PKT_OVERSIZE, E_PKT_FUNCID, E_NEGATIVE, E_PARSE,
	               E_RANGE};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		assert_non_null(err_str(codes[i]));
		assert_string_not_equal(err_str(codes[i]), "unknown error");
	}
	assert_string_equal(err_str(-999), "unknown error");
}

static void test_xalloc(void **state)
{
	char *s = xstrdup("abc");
	assert_string_equal(s, "abc");
	s = xrealloc(s, 100);
	assert_string_equal(s, "abc");
	free(s);
	uint32_t *z = xcalloc(8, sizeof(*z));
	for (int i = 0; i < 8; i++)
		assert_int_equal(z[i], 0);
	free(z);
	free(xmalloc(0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_hex_digit_trim),
		cmocka_unit_test(test_hostport),
		cmocka_unit_test(test_parse_int64),
		cmocka_unit_test(test_parse_u32),
		cmocka_unit_test(test_parse_amount),
		cmocka_unit_test(test_amount_format),
		cmocka_unit_test(test_payload_from_input),
		cmocka_unit_test(test_payload_render),
		cmocka_unit_test(test_utf8_sanitize),
		cmocka_unit_test(test_err_str),
		cmocka_unit_test(test_xalloc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
