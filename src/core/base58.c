/* base58.c - Base58 / Base58Check and Komodo addresses (base58.h).
 *
 * Plain big-number base conversion on small buffers (inputs are capped at
 * BASE58_MAX_INPUT bytes, so the quadratic loop costs nothing).  Owns no
 * state.
 */
#include "core/base58.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

static const char b58_alphabet[] =
	"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/* log(256)/log(58) < 1.38: digits needed for n bytes. */
#define B58_DIGITS(n) ((n) * 138 / 100 + 1)

size_t base58_encode(char *out, size_t cap, const uint8_t *in, size_t n)
{
	uint8_t digits[B58_DIGITS(BASE58_MAX_INPUT)];
	size_t zeros = 0, nd = 0, len;

	if (n > BASE58_MAX_INPUT)
		return 0;
	while (zeros < n && in[zeros] == 0)
		zeros++;
	/* digits[] holds the base-58 value, least significant first */
	for (size_t i = zeros; i < n; i++) {
		unsigned carry = in[i];
		for (size_t j = 0; j < nd; j++) {
			carry += (unsigned)digits[j] << 8;
			digits[j] = (uint8_t)(carry % 58);
			carry /= 58;
		}
		while (carry) {
			digits[nd++] = (uint8_t)(carry % 58);
			carry /= 58;
		}
	}
	len = zeros + nd;
	if (len + 1 > cap)
		return 0;
	memset(out, '1', zeros);
	for (size_t j = 0; j < nd; j++)
		out[zeros + j] = b58_alphabet[digits[nd - 1 - j]];
	out[len] = '\0';
	return len;
}

static int b58_value(char c)
{
	const char *p = c ? strchr(b58_alphabet, c) : NULL;
	return p ? (int)(p - b58_alphabet) : -1;
}

long base58_decode(uint8_t *out, size_t cap, const char *s)
{
	uint8_t bytes[BASE58_MAX_INPUT + 8];
	size_t slen = strlen(s), zeros = 0, nb = 0;

	if (slen > B58_DIGITS(BASE58_MAX_INPUT))
		return -1;
	while (zeros < slen && s[zeros] == '1')
		zeros++;
	/* bytes[] holds the value, least significant first */
	for (size_t i = zeros; i < slen; i++) {
		int v = b58_value(s[i]);
		if (v < 0)
			return -1;
		unsigned carry = (unsigned)v;
		for (size_t j = 0; j < nb; j++) {
			carry += (unsigned)bytes[j] * 58;
			bytes[j] = (uint8_t)carry;
			carry >>= 8;
		}
		while (carry) {
			if (nb == sizeof(bytes))
				return -1;
			bytes[nb++] = (uint8_t)carry;
			carry >>= 8;
		}
	}
	if (zeros + nb > cap)
		return -1;
	memset(out, 0, zeros);
	for (size_t j = 0; j < nb; j++)
		out[zeros + j] = bytes[nb - 1 - j];
	return (long)(zeros + nb);
}

static void checksum(const uint8_t *in, size_t n, uint8_t out[4])
{
	uint8_t h[SHA256_DIGEST_LENGTH];

	SHA256(in, n, h);
	SHA256(h, sizeof(h), h);
	memcpy(out, h, 4);
}

size_t base58check_encode(char *out, size_t cap, const uint8_t *in,
                          size_t n)
{
	uint8_t buf[BASE58_MAX_INPUT];

	if (n + 4 > sizeof(buf))
		return 0;
	memcpy(buf, in, n);
	checksum(in, n, buf + n);
	return base58_encode(out, cap, buf, n + 4);
}

long base58check_decode(uint8_t *out, size_t cap, const char *s)
{
	uint8_t buf[BASE58_MAX_INPUT + 8], ck[4];
	long n = base58_decode(buf, sizeof(buf), s);

	if (n < 4 || (size_t)n - 4 > cap)
		return -1;
	checksum(buf, (size_t)n - 4, ck);
	if (memcmp(ck, buf + n - 4, 4) != 0)
		return -1;
	memcpy(out, buf, (size_t)n - 4);
	return n - 4;
}

bool hash160(const uint8_t *d, size_t n, uint8_t out[20])
{
	uint8_t h[SHA256_DIGEST_LENGTH];
	unsigned int len = 0;

	SHA256(d, n, h);
	if (EVP_Digest(h, sizeof(h), out, &len, EVP_ripemd160(), NULL) != 1)
		return false;
	return len == 20;
}

bool komodo_address(const uint8_t pk33[33], char out[KOMODO_ADDR_MAX])
{
	uint8_t v[21];

	v[0] = KOMODO_ADDR_VERSION;
	if (!hash160(pk33, 33, v + 1))
		return false;
	return base58check_encode(out, KOMODO_ADDR_MAX, v, sizeof(v)) > 0;
}
