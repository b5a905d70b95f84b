/* test_base58.c - unit tests for src/core/base58.c: Base58 vectors of
 * Bitcoin Core (base58_encode_decode.json), Base58Check round trips and
 * checksum failures, hash160, and the Komodo address vector of API.md D.5.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/base58.h"
#include "core/util.h"

static void test_base58_vectors(void **state)
{
	static const struct { const char *hex, *b58; } v[] = {
		{"", ""},
		{"61", "2g"},
		{"626262", "a3gV"},
		{"636363", "aPEr"},
		{"73696d706c792061206c6f6e6720737472696e67",
		 "2cFupjhnEsSn59qHXstmK2ffpLv2"},
		{"00eb15231dfceb60925886b67d065299925915aeb172c06647",
		 "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L"},
		{"516b6fcd0f", "ABnLTmg"},
		{"bf4f89001e670274dd", "3SEo3LWLoPntC"},
		{"572e4794", "3EFU7m"},
		{"ecac89cad93923c02321", "EJDM8drfXA6uyA"},
		{"10c8511e", "Rt5zm"},
		{"00000000000000000000", "1111111111"},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t in[64], back[64];
		size_t n = strlen(v[i].hex) / 2;
		char out[128];

		assert_true(hex_decode(in, v[i].hex, n));
		assert_int_equal(base58_encode(out, sizeof(out), in, n),
				 strlen(v[i].b58));
		assert_string_equal(out, v[i].b58);
		assert_int_equal(base58_decode(back, sizeof(back), v[i].b58),
				 (long)n);
		assert_memory_equal(back, in, n);
	}
	uint8_t b[8];
	char small[4];
	assert_int_equal(base58_decode(b, sizeof(b), "0OIl"), -1);
	assert_int_equal(base58_decode(b, sizeof(b), "2g!"), -1);
	assert_int_equal(base58_encode(small, sizeof(small), (const uint8_t *)"bbb", 3), 0);
	assert_int_equal(base58_decode(b, 2, "a3gV"), -1); /* 3 bytes */
}

static void test_check(void **state)
{
	uint8_t v[21], back[32];
	char s[64];

	for (size_t i = 0; i < sizeof(v); i++)
		v[i] = (uint8_t)(i * 7);
	assert_true(base58check_encode(s, sizeof(s), v, sizeof(v)) > 0);
	assert_int_equal(base58check_decode(back, sizeof(back), s), 21);
	assert_memory_equal(back, v, 21);
	/* a changed character breaks the checksum */
	s[5] = s[5] == 'z' ? 'y' : 'z';
	assert_int_equal(base58check_decode(back, sizeof(back), s), -1);
}

static void test_addresses(void **state)
{
	uint8_t pk[33], h[20], v[32];
	char addr[KOMODO_ADDR_MAX], hex[41];

	/* Bitcoin wiki: technical background of addresses */
	assert_true(hex_decode(pk, "0250863ad64a87ae8a2fe83c1af1a8403cb53f53e486d8511dad8a04887e5b2352", 33));
	assert_true(hash160(pk, 33, h));
	hex_encode(hex, h, 20);
	assert_string_equal(hex, "f54a5851e9372b87810a8e60cdd2e7cfd80b6e31");
	v[0] = 0;
	memcpy(v + 1, h, 20);
	assert_true(base58check_encode(addr, sizeof(addr), v, 21) > 0);
	assert_string_equal(addr, "1PMycacnJaSqwwJqjawXBErnLsZ7RkXUAs");

	/* API.md D.5 */
	assert_true(hex_decode(pk, "03ac42ded82688c381563d2e123a2eaf54b29d9fd15a8bd4f9f2727dbfe9be1688", 33));
	assert_true(komodo_address(pk, addr));
	assert_string_equal(addr, "RTteDcwszpLbd2S6uw5ib2wqC9vjSE8N4Q");
	assert_int_equal(base58check_decode(v, sizeof(v), addr), 21);
	assert_int_equal(v[0], 60);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base58_vectors),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_addresses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
