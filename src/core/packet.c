/* packet.c - the packet codec (packet.h, API.md A.1, A.2).
 *
 * Decoding never copies and never reads a byte before checking that the
 * length given by the container covers it; each malformed case has its
 * own error code so tests and fuzzers can tell them apart.  Owns nothing.
 */
#include "core/packet.h"

#include <assert.h>
#include <string.h>

#include "core/err.h"

/* The fixed offsets of A.1, pinned so a typo in packet.h cannot drift. */
static_assert(PACKET_OFF_KIND == PACKET_OFF_RELAY + 1, "kind follows relay");
static_assert(PACKET_OFF_TIME == PACKET_OFF_KIND + 1, "time follows kind");
static_assert(PACKET_OFF_AMOUNTA == PACKET_OFF_TIME + 4, "u32 timestamp");
static_assert(PACKET_OFF_AMOUNTB == PACKET_OFF_AMOUNTA + 8, "u64 amountA");
static_assert(PACKET_OFF_PLEN == PACKET_OFF_AMOUNTB + 8, "u64 amountB");
static_assert(PACKET_OFF_PUBKEY == PACKET_OFF_PLEN + 1, "pubkey after plen");
/* 23 bytes of fixed header + lenA + lenB + nonce = 29; plus 1 payload byte */
static_assert(PACKET_FIXED_LEN == PACKET_OFF_PUBKEY + 1 + 1 + 4, "L = 29+...");
static_assert(PACKET_MIN_LEN == PACKET_FIXED_LEN + 1, "D >= 1");

static int kind_ok(uint8_t k)
{
	return k == PACKET_KIND_ANON || k == PACKET_KIND_DATA ||
	       k == PACKET_KIND_CANCEL;
}

int packet_decode(const uint8_t *buf, size_t len, struct packet_view *pv)
{
	size_t end, p;
	struct packet_view v;

	if (len > PACKET_MAX_LEN)
		return E_PKT_OVERSIZE;
	if (len < PACKET_MIN_LEN)
		return E_PKT_TRUNCATED;
	memset(&v, 0, sizeof(v));
	v.raw = buf;
	v.len = (uint32_t)len;
	v.relay = buf[PACKET_OFF_RELAY];
	v.kind = buf[PACKET_OFF_KIND];
	if (!kind_ok(v.kind))
		return E_PKT_FUNCID;
	v.timestamp = le32(buf + PACKET_OFF_TIME);
	v.amount_a = le64(buf + PACKET_OFF_AMOUNTA);
	v.amount_b = le64(buf + PACKET_OFF_AMOUNTB);
	v.plen = buf[PACKET_OFF_PLEN];
	if (v.plen != 0 && v.plen != PACKET_PUBKEY_LEN)
		return E_PKT_PLEN;

	/* Everything up to the payload must end before the nonce. */
	end = len - PACKET_OFF_NONCE_FROM_END;
	p = PACKET_OFF_PUBKEY;
	if (v.plen) {
		/* len >= 30 so byte 23 exists; the pubkey may still run into
		 * the nonce, which is caught by the lenA bound below. */
		if (buf[p] != 0x01)
			return E_PKT_DESTPUB;
		if (p + v.plen >= end)
			return E_PKT_TRUNCATED;
		v.pubkey = buf + p;
		p += v.plen;
	}

	if (p >= end)
		return E_PKT_TRUNCATED;
	v.len_a = buf[p++];
	if (v.len_a > end - p)
		return E_PKT_TRUNCATED;
	if (v.len_a > PACKET_TAG_MAX)
		return E_PKT_TAGLEN;
	v.tag_a = buf + p;
	p += v.len_a;

	if (p >= end)
		return E_PKT_TRUNCATED;
	v.len_b = buf[p++];
	if (v.len_b > end - p)
		return E_PKT_TRUNCATED;
	if (v.len_b > PACKET_TAG_MAX)
		return E_PKT_TAGLEN;
	v.tag_b = buf + p;
	p += v.len_b;

	if (memchr(v.tag_a, 0, v.len_a) || memchr(v.tag_b, 0, v.len_b))
		return E_PKT_TAGNUL;
	if (p == end)
		return E_PKT_EMPTY;

	v.hdr_len = (uint32_t)p;
	v.payload = buf + p;
	v.payload_len = (uint32_t)(end - p);
	v.nonce = le32(buf + end);
	*pv = v;
	return E_OK;
}

long packet_decode_prefixed(const uint8_t *buf, size_t len, int exact,
                            struct packet_view *pv)
{
	uint32_t l;
	int rc;

	if (len < 4)
		return E_PKT_TRUNCATED;
	l = le32(buf);
	if (l > PACKET_MAX_LEN)
		return E_PKT_OVERSIZE;
	if (l > len - 4)
		return E_PKT_TRUNCATED;
	if (exact && l != len - 4)
		return E_PKT_TRAILING;
	rc = packet_decode(buf + 4, l, pv);
	if (rc != E_OK)
		return rc;
	return 4 + (long)l;
}

size_t packet_encoded_len(const struct packet_fields *f)
{
	size_t plen = f->pubkey ? PACKET_PUBKEY_LEN : 0;

	if (!kind_ok(f->kind))
		return 0;
	if (f->pubkey && f->pubkey[0] != 0x01)
		return 0;
	if (f->len_a > PACKET_TAG_MAX || f->len_b > PACKET_TAG_MAX)
		return 0;
	if ((f->len_a && !f->tag_a) || (f->len_b && !f->tag_b))
		return 0;
	if ((f->len_a && memchr(f->tag_a, 0, f->len_a)) ||
	    (f->len_b && memchr(f->tag_b, 0, f->len_b)))
		return 0;
	if (f->payload_len == 0 || !f->payload)
		return 0;
	/* Keep the sum far from overflow and within the u32 length field. */
	if (f->payload_len > UINT32_MAX - 128)
		return 0;
	return PACKET_FIXED_LEN + plen + f->len_a + f->len_b + f->payload_len;
}

size_t packet_encode(uint8_t *out, size_t cap, const struct packet_fields *f)
{
	size_t len = packet_encoded_len(f), p;

	if (len == 0 || len > cap)
		return 0;
	out[PACKET_OFF_RELAY] = f->relay;
	out[PACKET_OFF_KIND] = f->kind;
	put_le32(out + PACKET_OFF_TIME, f->timestamp);
	put_le64(out + PACKET_OFF_AMOUNTA, f->amount_a);
	put_le64(out + PACKET_OFF_AMOUNTB, f->amount_b);
	p = PACKET_OFF_PUBKEY;
	if (f->pubkey) {
		out[PACKET_OFF_PLEN] = PACKET_PUBKEY_LEN;
		memcpy(out + p, f->pubkey, PACKET_PUBKEY_LEN);
		p += PACKET_PUBKEY_LEN;
	} else {
		out[PACKET_OFF_PLEN] = 0;
	}
	out[p++] = (uint8_t)f->len_a;
	if (f->len_a)
		memcpy(out + p, f->tag_a, f->len_a);
	p += f->len_a;
	out[p++] = (uint8_t)f->len_b;
	if (f->len_b)
		memcpy(out + p, f->tag_b, f->len_b);
	p += f->len_b;
	assert(p == packet_hdr_len(out[PACKET_OFF_PLEN], f->len_a, f->len_b));
	memcpy(out + p, f->payload, f->payload_len);
	p += f->payload_len;
	put_le32(out + p, f->nonce);
	return p + 4;
}
