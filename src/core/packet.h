/* packet.h - the packet codec (API.md Appendix A.1, A.2).
 *
 *   relay u8 | kind u8 | timestamp u32le | amountA u64le | amountB u64le |
 *   plen u8 (0|33) | pubkey33[plen] | lenA u8 | tagA | lenB u8 | tagB |
 *   payload (D >= 1) | nonce u32le
 *
 * A packet is not self-delimiting: the payload runs to L-4, so the codec is
 * always given the exact packet length by its container (a wire frame, an
 * RPC call).  Decoding never copies: struct packet_view points into the
 * caller's buffer and is valid as long as that buffer is.
 */
#ifndef DEX_PACKET_H
#define DEX_PACKET_H

#include <stddef.h>
#include <stdint.h>

#define PACKET_MAX_LEN 1048576u /* 1 MiB, on creation and on receipt */
#define PACKET_MIN_LEN 30u      /* 29 bytes of fields + a 1-byte payload */
#define PACKET_FIXED_LEN 29u    /* L = 29 + plen + lenA + lenB + D */
#define PACKET_TAG_MAX 15u
#define PACKET_PUBKEY_LEN 33u   /* 0x01 || Ed25519 public key */
#define PACKET_OFF_NONCE_FROM_END 4u

#define PACKET_OFF_RELAY 0
#define PACKET_OFF_KIND 1
#define PACKET_OFF_TIME 2
#define PACKET_OFF_AMOUNTA 6
#define PACKET_OFF_AMOUNTB 14
#define PACKET_OFF_PLEN 22
#define PACKET_OFF_PUBKEY 23

enum packet_kind {
	PACKET_KIND_ANON = 0x41,   /* 'A' anonymous message */
	PACKET_KIND_DATA = 0x51,   /* 'Q' data */
	PACKET_KIND_CANCEL = 0x58, /* 'X' cancel command */
};

/* A decoded packet: pointers into the buffer given to packet_decode(). */
struct packet_view {
	const uint8_t *raw;     /* the whole packet, raw[0] is the relay byte */
	uint32_t len;           /* L */
	uint8_t relay;
	uint8_t kind;
	uint32_t timestamp;
	uint64_t amount_a;
	uint64_t amount_b;
	uint8_t plen;           /* 0 or 33 */
	const uint8_t *pubkey;  /* plen bytes, NULL when plen == 0 */
	uint8_t len_a;
	const uint8_t *tag_a;   /* len_a bytes, not NUL-terminated */
	uint8_t len_b;
	const uint8_t *tag_b;
	uint32_t hdr_len;       /* H: offset of the payload */
	const uint8_t *payload;
	uint32_t payload_len;   /* D */
	uint32_t nonce;
};

/* The fields of a packet to build.  Tags are byte strings (len <= 15, no
 * NUL); pubkey is NULL or 33 bytes starting with 0x01. */
struct packet_fields {
	uint8_t relay;
	uint8_t kind;
	uint32_t timestamp;
	uint64_t amount_a;
	uint64_t amount_b;
	const uint8_t *pubkey;
	const uint8_t *tag_a;
	size_t len_a;
	const uint8_t *tag_b;
	size_t len_b;
	const uint8_t *payload;
	size_t payload_len;
	uint32_t nonce;
};

/* Decode exactly len bytes as one packet.  Checks, in this order: oversize
 * (E_PKT_OVERSIZE), L < 30 (E_PKT_TRUNCATED), kind (E_PKT_FUNCID), plen
 * (E_PKT_PLEN), pubkey prefix (E_PKT_DESTPUB), each tag length against the
 * bytes left (E_PKT_TRUNCATED) and against 15 (E_PKT_TAGLEN), NUL in a tag
 * (E_PKT_TAGNUL), empty payload (E_PKT_EMPTY).  Returns E_OK and fills *pv,
 * or the error and leaves *pv undefined. */
int packet_decode(const uint8_t *buf, size_t len, struct packet_view *pv);

/* Decode a packet that is preceded by its u32le length inside a larger
 * buffer (the wire form used by proto messages): returns the bytes consumed
 * (4 + L) or a negative error; E_PKT_TRUNCATED when the declared length runs
 * past len.  When `exact` is non-zero, bytes left after the packet give
 * E_PKT_TRAILING. */
long packet_decode_prefixed(const uint8_t *buf, size_t len, int exact,
                            struct packet_view *pv);

/* Length the encoded packet will have (0 if a field breaks a limit other
 * than the 1 MiB maximum, which the caller checks against the result). */
size_t packet_encoded_len(const struct packet_fields *f);

/* Encode into out (cap bytes).  Returns the length written, or 0 if the
 * fields are invalid or cap is too small. */
size_t packet_encode(uint8_t *out, size_t cap, const struct packet_fields *f);

/* Offset of the payload (H) for given field sizes. */
static inline size_t packet_hdr_len(size_t plen, size_t len_a, size_t len_b)
{
	return 25 + plen + len_a + len_b;
}

/* Little-endian helpers. */
static inline uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}
static inline uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}
static inline void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v); put_le32(p + 4, (uint32_t)(v >> 32));
}

#endif
