/* fuzz_parsers.c - libFuzzer target for the text parsers and renderers of
 * util.c: hex, parse_amount (checked against amount_format round trip),
 * parse_int64, parse_u32, payload_from_input, payload_render, and
 * utf8_sanitize (its output must be valid UTF-8).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Strict UTF-8 validity, written independently of util.c. */
static int valid_utf8(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint32_t cp;
		size_t k;
		if (s[i] < 0x80) {
			i++;
			continue;
		} else if ((s[i] & 0xe0) == 0xc0) {
			k = 1; cp = s[i] & 0x1f;
		} else if ((s[i] & 0xf0) == 0xe0) {
			k = 2; cp = s[i] & 0x0f;
		} else if ((s[i] & 0xf8) == 0xf0) {
			k = 3; cp = s[i] & 0x07;
		} else {
			return 0;
		}
		if (i + k >= n)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) ||
		    (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k + 1;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	size_t n = 0;
	int h;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	/* hex */
	if (is_hex(s, size)) {
		uint8_t *b = malloc(size / 2 + 1);
		char *back = malloc(size + 1);
		if (!hex_decode(b, s, size / 2))
			abort();
		hex_encode(back, b, size / 2);
		for (size_t i = 0; i < size; i++)
			if (back[i] != (s[i] | 0x20) && back[i] != s[i])
				abort();
		free(b);
		free(back);
	}

	/* numbers: the C string stops at the first NUL */
	{
		int64_t v;
		uint32_t u;
		uint64_t sats, again;
		char out[32];
		int rc = parse_int64(s, &v);
		if (rc != E_OK && rc != E_PARSE && rc != E_RANGE)
			abort();
		rc = parse_u32(s, &u);
		if (rc != E_OK && rc != E_PARSE && rc != E_RANGE)
			abort();
		rc = parse_amount(s, &sats);
		if (rc == E_OK) {
			if (sats > (uint64_t)AMOUNT_MAX)
				abort();
			amount_format(out, sats);
			if (parse_amount(out, &again) != E_OK || again != sats)
				abort();
		} else if (rc != E_PARSE && rc != E_RANGE &&
		           rc != E_NEGATIVE) {
			abort();
		}
	}

	/* payloads */
	{
		uint8_t *p = payload_from_input(s, size, &n);
		char *r = payload_render(p, n, &h);
		if (h != 0 && h != 1)
			abort();
		/* text input always renders as the same text when printable */
		free(r);
		free(p);
		r = payload_render(data, size, &h);
		if (h == 1 && strlen(r) != 2 * size)
			abort();
		if (h == 0 && strlen(r) != size - 1)
			abort();
		free(r);
	}

	/* utf8_sanitize: valid output, identity on valid input */
	{
		char *u = utf8_sanitize(data, size, &n);
		if (n < size || n > 2 * size || !valid_utf8((uint8_t *)u, n))
			abort();
		if (valid_utf8(data, size) &&
		    (n != size || memcmp(u, data, size) != 0))
			abort();
		free(u);
	}
	free(s);
	return 0;
}
