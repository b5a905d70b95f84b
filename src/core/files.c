/* files.c - the file format of the file methods (files.h, API.md 4.9). */
#include "core/files.h"

#include <string.h>

#include "core/err.h"

#define DATA_TAG "data"

enum files_name_check files_name_check(const char *name, size_t len)
{
	if (len > FILES_NAME_MAX)
		return FILES_NAME_TOO_LONG;
	if (len == 0)
		return FILES_NAME_INVALID;
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return FILES_NAME_INVALID;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (ch < 0x20 || ch == '/' || ch == '\\')
			return FILES_NAME_INVALID;
	}
	return FILES_NAME_OK;
}

uint32_t files_frag_count(uint64_t size)
{
	return (uint32_t)((size + FILES_FRAG - 1) / FILES_FRAG);
}

uint32_t files_frag_len(uint64_t size, uint32_t i)
{
	uint64_t start = (uint64_t)i * FILES_FRAG;

	if (start >= size)
		return 0;
	return size - start >= FILES_FRAG ? FILES_FRAG
	                                  : (uint32_t)(size - start);
}

int files_slice(int64_t s, uint64_t file_size, uint64_t *offset0,
                uint64_t *len)
{
	uint64_t o, end;

	*offset0 = 0;
	*len = 0;
	if (s < 1 || s > FILES_MAX_SLICEID)
		return E_RANGE;
	o = (uint64_t)(s - 1) * FILES_SLICE;
	*offset0 = o;
	if (o >= file_size)
		return E_NOTFOUND;
	end = file_size - o > FILES_SLICE ? o + FILES_SLICE : file_size;
	*len = end - o;
	return E_OK;
}

uint64_t files_slice_amount(uint64_t offset0)
{
	return offset0 * 100000000ull;
}

size_t files_offset_tag(char *out, uint64_t offset0)
{
	char tmp[FILES_DIGITS_MAX];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + offset0 % 10);
		offset0 /= 10;
	} while (offset0 && n < sizeof tmp);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
	return n;
}

void files_locators_encode(uint8_t *out, uint64_t offset0,
                           const uint64_t *locs, uint32_t k)
{
	put_le64(out, offset0);
	for (uint32_t i = 0; i < k; i++)
		put_le64(out + FILES_LOC_HDR + (size_t)8 * i, locs[i]);
}

int files_locators_parse(const uint8_t *plain, size_t plain_len,
                         uint64_t amount_a, uint64_t amount_b,
                         bool is_slice, uint64_t expect_offset0,
                         struct files_locators *out)
{
	uint64_t k = amount_b;

	memset(out, 0, sizeof *out);
	out->size = amount_a;
	out->k = amount_b > UINT32_MAX ? UINT32_MAX : (uint32_t)amount_b;
	out->numlocators = plain_len >= FILES_LOC_HDR
	                           ? (plain_len - FILES_LOC_HDR) / 8
	                           : 0;
	if (plain_len < FILES_LOC_HDR)
		return E_PARSE;
	out->offset0 = le64(plain);
	if (k < 1 || k > FILES_MAX_FRAGS)
		return E_PARSE;
	if (plain_len != files_locators_len((uint32_t)k))
		return E_PARSE;
	if (out->offset0 != expect_offset0)
		return E_PARSE;
	if (amount_a > FILES_MAX_SIZE || files_frag_count(amount_a) != k)
		return E_PARSE;
	if (is_slice && amount_a > FILES_SLICE)
		return E_PARSE;
	out->locs = plain + FILES_LOC_HDR;
	return E_OK;
}

void files_locator_get(const struct files_locators *l, uint32_t i,
                       uint32_t *timestamp, uint32_t *id)
{
	uint64_t v = le64(l->locs + (size_t)8 * i);

	*timestamp = (uint32_t)(v >> 32);
	*id = (uint32_t)v;
}

static bool tag_eq(const uint8_t *t, size_t tl, const char *s, size_t sl)
{
	return tl == sl && (sl == 0 || memcmp(t, s, sl) == 0);
}

bool files_fragment_present(const struct packet_view *pv, bool sig_ok,
                            const uint8_t publisher[PACKET_PUBKEY_LEN],
                            const char *name, size_t name_len,
                            uint32_t timestamp, uint32_t i, uint64_t size)
{
	uint32_t want = files_frag_len(size, i);

	return sig_ok && want > 0 && pv->kind == PACKET_KIND_DATA &&
	       pv->timestamp == timestamp && pv->plen == PACKET_PUBKEY_LEN &&
	       memcmp(pv->pubkey, publisher, PACKET_PUBKEY_LEN) == 0 &&
	       tag_eq(pv->tag_a, pv->len_a, name, name_len) &&
	       tag_eq(pv->tag_b, pv->len_b, DATA_TAG, strlen(DATA_TAG)) &&
	       pv->amount_a == i && pv->amount_b == 0 &&
	       pv->payload_len == FILES_SIGNED_OVERHEAD + want;
}

bool files_hash_candidate(const struct packet_view *pv, bool slice,
                          const uint8_t publisher[PACKET_PUBKEY_LEN],
                          const char *name, size_t name_len,
                          uint64_t want_a, uint32_t k)
{
	const char *ta = slice ? "slices" : "files";

	return pv->kind == PACKET_KIND_DATA && pv->plen == PACKET_PUBKEY_LEN &&
	       memcmp(pv->pubkey, publisher, PACKET_PUBKEY_LEN) == 0 &&
	       tag_eq(pv->tag_a, pv->len_a, ta, strlen(ta)) &&
	       tag_eq(pv->tag_b, pv->len_b, name, name_len) &&
	       pv->amount_a == want_a && pv->amount_b == k &&
	       pv->payload_len == FILES_SIGNED_OVERHEAD + 32;
}

enum files_outcome files_outcome(uint32_t missing, bool have_check,
                                 const uint8_t filehash[32],
                                 const uint8_t checkhash[32])
{
	if (missing)
		return FILES_MISSING;
	if (!have_check)
		return FILES_NO_HASH;
	if (memcmp(filehash, checkhash, 32) != 0)
		return FILES_MISMATCH;
	return FILES_SUCCESS;
}

const char *files_outcome_str(enum files_outcome o)
{
	switch (o) {
	case FILES_MISSING:
		return "missing fragments";
	case FILES_NO_HASH:
		return "file hash not found";
	case FILES_MISMATCH:
		return "file hash mismatch";
	case FILES_SUCCESS:
	default:
		return NULL;
	}
}

double files_progress_pct(uint64_t done, uint64_t total)
{
	uint64_t hundredths;

	if (total == 0)
		return 0.0;
	if (done > total)
		done = total;
	/* round half up to 1/100 of a percent, in integers */
	hundredths = (done * 20000 / total + 1) / 2;
	return (double)hundredths / 100.0;
}
