/* test_ban.c - unit tests for src/proto/ban.c: subnet parsing and
 * formatting (bitcoind's forms), matching, expiry, the offence policy
 * (repeat offenders lose their /24 or /48, never the host's own).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/ban.h"
#include "proto/peers.h"

static struct bans B;

static void fmt(const char *in, const char *want)
{
	uint8_t ip[16], bits;
	char out[64];
	assert_int_equal(ban_parse(in, ip, &bits), 0);
	ban_format(out, sizeof out, ip, bits);
	assert_string_equal(out, want);
}

static void test_parse(void **state)
{
	uint8_t ip[16], bits;
	fmt("1.2.3.4", "1.2.3.4/32");
	fmt("1.2.3.4/24", "1.2.3.0/24");
	fmt("1.2.3.4/255.255.0.0", "1.2.0.0/16");
	fmt("2001:db8::1/32", "2001:db8::/32");
	fmt("::1", "::1/128");
	fmt("0.0.0.0/0", "0.0.0.0/0");
	assert_int_equal(ban_parse("1.2.3.4/33", ip, &bits), -1);
	assert_int_equal(ban_parse("1.2.3.4/255.0.255.0", ip, &bits), -1);
	assert_int_equal(ban_parse("1.2.3", ip, &bits), -1);
	assert_int_equal(ban_parse("", ip, &bits), -1);
	assert_int_equal(ban_parse("1.2.3.4/", ip, &bits), -1);
	assert_int_equal(ban_parse("1.2.3.4/-1", ip, &bits), -1);
	assert_int_equal(ban_parse("::/129", ip, &bits), -1);
	assert_int_equal(ban_parse("host.example", ip, &bits), -1);
}

static void test_match_expiry(void **state)
{
	uint8_t ip[16], bits, q[16];
	bans_init(&B, 1, 2);
	ban_parse("10.1.2.0/24", ip, &bits);
	assert_int_equal(ban_add(&B, ip, bits, 100, 200, false), 0);
	peers_ip4(q, 0x0a010263);
	assert_true(ban_match(&B, q, 150));
	assert_false(ban_match(&B, q, 200));
	peers_ip4(q, 0x0a010363);
	assert_false(ban_match(&B, q, 150));
	/* covers: a single address inside, the /24 itself, not the /16 */
	peers_ip4(q, 0x0a010263);
	assert_true(ban_covers(&B, q, 128, 150));
	assert_true(ban_covers(&B, ip, 120, 150));
	assert_false(ban_covers(&B, ip, 112, 150));
	assert_int_equal(ban_del(&B, q, 128), -1);
	assert_int_equal(ban_sweep(&B, 199), 0);
	assert_int_equal(ban_sweep(&B, 200), 1);
	assert_int_equal(B.n, 0);
	assert_false(ban_match(&B, q, 150));
}

static void test_offence(void **state)
{
	uint8_t a[16], out[16], bits, q[16];
	char s[64];
	bans_init(&B, 3, 4);
	/* 127.0.1.2 misbehaves: that address only */
	peers_ip4(a, 0x7f000102);
	assert_int_equal(ban_offence(&B, a, 1000, 60, out, &bits), 0);
	assert_int_equal(bits, 128);
	peers_ip4(q, 0x7f000103);
	assert_false(ban_match(&B, q, 1001));
	/* its ban expires, it misbehaves again: the /24 */
	ban_sweep(&B, 2000);
	assert_int_equal(ban_offence(&B, a, 2000, 60, out, &bits), 0);
	ban_format(s, sizeof s, out, bits);
	assert_string_equal(s, "127.0.1.0/24");
	assert_true(ban_match(&B, q, 2001));
	/* three addresses of another /24: the third bans the subnet and the
	 * single bans inside are folded into it */
	bans_init(&B, 3, 4);
	for (uint32_t i = 1; i <= 3; i++) {
		peers_ip4(a, 0x0a000000 + i);
		ban_offence(&B, a, 10, 60, out, &bits);
	}
	assert_int_equal(bits, 120);
	assert_int_equal(B.n, 1);
	/* never the host's own subnet: 127.0.0.x stay single bans */
	bans_init(&B, 3, 4);
	for (uint32_t i = 2; i <= 6; i++) {
		peers_ip4(a, 0x7f000000 + i);
		ban_offence(&B, a, 10, 60, out, &bits);
		ban_offence(&B, a, 10, 60, out, &bits);
		assert_int_equal(bits, 128);
	}
	peers_ip4(q, 0x7f000001);
	assert_false(ban_match(&B, q, 11));
}

static void test_full(void **state)
{
	uint8_t ip[16];
	bans_init(&B, 5, 6);
	for (uint32_t i = 0; i < BAN_MAX; i++) {
		peers_ip4(ip, 0x0b000000 + i);
		assert_int_equal(ban_add(&B, ip, 128, 0, 1000 + i, true), 0);
	}
	/* a new ban replaces the automatic one expiring first */
	peers_ip4(ip, 0x0c000000);
	assert_int_equal(ban_add(&B, ip, 128, 0, 5000, false), 0);
	peers_ip4(ip, 0x0b000000);
	assert_false(ban_match(&B, ip, 1));
	assert_int_equal(B.n, BAN_MAX);
	ban_clear(&B);
	assert_int_equal(B.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_match_expiry),
		cmocka_unit_test(test_offence),
		cmocka_unit_test(test_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
