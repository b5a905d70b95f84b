/* wire.h - the peer-to-peer wire format (docs/PROTOCOL.md): frame header,
 * message payload codecs and a growable frame builder.
 *
 * Decoders never copy: they validate every count against the bytes given
 * and hand back pointers into the caller's buffer, valid as long as it is.
 * Each decoder requires the payload to be consumed exactly (trailing bytes
 * are an error).  No I/O, no clock.
 */
#ifndef DEX_WIRE_H
#define DEX_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/packet.h"

#define WIRE_MAGIC 0x32505844u        /* "DXP2" on the wire */
#define WIRE_HDR_LEN 9u
#define WIRE_MAX_PAYLOAD (PACKET_MAX_LEN + 4096u)
#define WIRE_PROTOCOL_VERSION 3u      /* what we send */
#define WIRE_MIN_VERSION 1u           /* oldest peer accepted */
/* Version 2 adds GETBITS and PACKETS (PROTOCOL.md 3): they are sent only
 * to peers whose VERSION says 2 or more; version 1 peers get GETDATA and
 * PACKET, and every node accepts all of them. */
#define WIRE_V2 2u
/* Version 3 adds the message types 0x10 and up (PROTOCOL.md): packets by
 * (timestamp, id) for files, the light-client requests, and the eager-push
 * tree control.  They are sent only to peers whose VERSION says 3 or more;
 * a type a node does not know is a protocol error, as before. */
#define WIRE_V3 3u
#define WIRE_SVC_DEXP2P 1u            /* service bit 0 */
#define WIRE_SVC_FULL 2u              /* service bit 1: -dexp2p=2 */
/* service bit 2: a light node (-light=1): gossip nothing to it, no INV,
 * no catch-up; it only asks (PROTOCOL.md 7) */
#define WIRE_SVC_LIGHT 4u
#define WIRE_UA_MAX 64u
#define WIRE_MAX_ADDR 1000u
#define WIRE_ADDR_LEN 24u
#define WIRE_MAX_IDS 65536u           /* INV / GETDATA / NOTFOUND */
#define WIRE_SID_LEN 8u
#define WIRE_MAX_BITMAP (WIRE_MAX_IDS / 8u) /* GETBITS bitmap bytes */
#define WIRE_MAX_SEC_ENTRIES 86460u   /* SUMMARY_SEC */
#define WIRE_IDLIST_BUDGET 1000000u   /* bytes an IDLIST payload may use */
#define WIRE_MAX_SPAN (86400u + 60u)  /* t1 - t0 of a SUMMARY */

enum wire_type {
	WIRE_VERSION = 0x01,
	WIRE_VERACK = 0x02,
	WIRE_PING = 0x03,
	WIRE_PONG = 0x04,
	WIRE_GETADDR = 0x05,
	WIRE_ADDR = 0x06,
	WIRE_PACKET = 0x07,
	WIRE_INV = 0x08,
	WIRE_GETDATA = 0x09,
	WIRE_NOTFOUND = 0x0a,
	WIRE_SUMMARY = 0x0b,
	WIRE_SUMMARY_SEC = 0x0c,
	WIRE_IDLIST = 0x0d,
	WIRE_GETBITS = 0x0e,         /* v2: GETDATA by INV number + bitmap */
	WIRE_PACKETS = 0x0f,         /* v2: several packets in one frame */
	/* v3.  0x10-0x13: packets by (timestamp, id), for files (PROTOCOL.md
	 * 3.6).  0x14-0x1b: light clients through full nodes (PROTOCOL.md 7).
	 * 0x1c-0x1f: the eager-push trees (PROTOCOL.md 3.7). */
	WIRE_GETPKTS = 0x10,         /* v3: packets by (timestamp, id) */
	WIRE_PKTREPLY = 0x11,        /* v3: packets found, answer to GETPKTS */
	WIRE_PKTMISS = 0x12,         /* v3: keys not sent; ends the answer */
	/* 0x13: reserved for packets by (timestamp, id) */
	/* light clients: a light peer asks a full node (WIRE_SVC_FULL) */
	WIRE_LLIST = 0x14,           /* reqid, filter, cursor, max: a list */
	WIRE_LGET = 0x15,            /* reqid, by id or by hash */
	WIRE_LANSWER = 0x16,         /* reqid, status, entries */
	WIRE_LSUB = 0x17,            /* subid, filter: live filter */
	WIRE_LUNSUB = 0x18,          /* subid */
	WIRE_LPUSH = 0x19,           /* subid, entries: a live match */
	WIRE_LRELAY = 0x1a,          /* reqid, packet mined by the peer */
	/* 0x1b: reserved for light clients */
	WIRE_TPACKETS = 0x1c,        /* v3: PACKETS with a tree tag each */
	WIRE_PRUNE = 0x1d,           /* v3: stop pushing these trees to me */
	WIRE_GRAFT = 0x1e,           /* v3: push these trees to me again */
	WIRE_TYPE_MAX
};

const char *wire_type_name(int type);

/* Short id of a packet: hash bytes 8..15 as u64le (PROTOCOL.md 3.4). */
static inline uint64_t wire_sid(const uint8_t hash[32])
{
	return le64(hash + 8);
}

/* Frame header.  Returns E_OK and fills *type / *len, E_AGAIN when fewer
 * than WIRE_HDR_LEN bytes are given, E_PROTO for a wrong magic or unknown
 * type, E_TOOBIG when len > WIRE_MAX_PAYLOAD. */
int wire_hdr_decode(const uint8_t *buf, size_t n, uint8_t *type,
                    uint32_t *len);
void wire_hdr_encode(uint8_t out[WIRE_HDR_LEN], uint8_t type, uint32_t len);

/* Growable frame builder.  wb_begin() starts a frame (header with length
 * patched by wb_end()); several frames may be built back to back.  Memory
 * is owned by the wbuf; wb_fini() frees it. */
struct wbuf {
	uint8_t *p;
	size_t len, cap;
	size_t frame_start;
};
void wb_init(struct wbuf *wb);
void wb_fini(struct wbuf *wb);
void wb_reset(struct wbuf *wb);
void wb_begin(struct wbuf *wb, uint8_t type);
void wb_end(struct wbuf *wb);
void wb_u8(struct wbuf *wb, uint8_t v);
void wb_u16(struct wbuf *wb, uint16_t v);
void wb_u32(struct wbuf *wb, uint32_t v);
void wb_u64(struct wbuf *wb, uint64_t v);
void wb_bytes(struct wbuf *wb, const void *p, size_t n);
/* Payload bytes of the frame being built (since wb_begin). */
size_t wb_frame_payload_len(const struct wbuf *wb);

struct wire_version {
	uint32_t version;
	uint64_t services;
	uint8_t txpowbits;
	uint32_t purgetime;
	uint64_t nonce;
	uint16_t listen_port;
	uint32_t time;
	uint8_t plen;                /* 0 or 33 */
	uint8_t pubkey[33];
	uint8_t ualen;
	char ua[WIRE_UA_MAX + 1];    /* NUL-terminated copy */
};
int wire_version_decode(const uint8_t *p, size_t n, struct wire_version *v);
void wire_version_encode(struct wbuf *wb, const struct wire_version *v);

/* Handshake admission (PROTOCOL.md 2.1).  Returns true if acceptable;
 * otherwise writes the reason ("peer txpowbits 10 != 12") into why. */
bool wire_version_check(const struct wire_version *peer, int txpowbits,
                        uint32_t purgetime, uint64_t my_nonce, char *why,
                        size_t whylen);

/* PING / PONG */
int wire_nonce_decode(const uint8_t *p, size_t n, uint64_t *nonce);
void wire_nonce_encode(struct wbuf *wb, uint8_t type, uint64_t nonce);

struct wire_addr {
	uint8_t ip[16];              /* IPv6 or ::ffff:a.b.c.d */
	uint16_t port;
	uint32_t last_seen;
	uint16_t services;
};
/* ADDR: decodes at most cap entries (count > WIRE_MAX_ADDR is E_PROTO). */
int wire_addr_decode(const uint8_t *p, size_t n, struct wire_addr *out,
                     size_t cap, size_t *count);
void wire_addr_encode(struct wbuf *wb, const struct wire_addr *a,
                      size_t count);

/* INV / GETDATA / NOTFOUND: *ids points at count * 8 bytes in p. */
int wire_ids_decode(const uint8_t *p, size_t n, const uint8_t **ids,
                    uint32_t *count);
void wire_ids_encode(struct wbuf *wb, uint8_t type, const uint64_t *sids,
                     uint32_t count);
static inline uint64_t wire_ids_at(const uint8_t *ids, uint32_t i)
{
	return le64(ids + (size_t)i * WIRE_SID_LEN);
}

/* GETBITS: `seq u32` (the number of an INV frame on this connection, the
 * first INV after the handshake being 0), then a bitmap of 1..8192 bytes:
 * bit i (byte i/8, bit i%8, LSB first) asks for entry i of that INV. */
int wire_getbits_decode(const uint8_t *p, size_t n, uint32_t *seq,
                        const uint8_t **bits, uint32_t *nbytes);
void wire_getbits_encode(struct wbuf *wb, uint32_t seq, const uint8_t *bits,
                         uint32_t nbytes);

/* PACKETS: one or more entries `len u32` (1 .. PACKET_MAX_LEN) + packet
 * bytes (relay byte first), filling the payload exactly.  Validated as a
 * whole, then walked with wire_packets_next(). */
struct wire_packets {
	uint32_t n;                  /* entries */
	const uint8_t *p, *end;      /* cursor */
};
int wire_packets_decode(const uint8_t *p, size_t n, struct wire_packets *w);
bool wire_packets_next(struct wire_packets *w, const uint8_t **pkt,
                       uint32_t *len);
/* A whole PACKET frame carrying the len packet bytes pkt with the relay
 * byte replaced by relay. */
void wire_packet_encode(struct wbuf *wb, const uint8_t *pkt, size_t len,
                        uint8_t relay);
/* One PACKETS entry (between wb_begin(wb, WIRE_PACKETS) and wb_end), the
 * relay byte replaced likewise. */
void wire_packets_add(struct wbuf *wb, const uint8_t *pkt, size_t len,
                      uint8_t relay);
/* Payload bytes a PACKETS entry of a len-byte packet takes. */
static inline size_t wire_packets_entry_len(size_t len)
{
	return 4 + len;
}

/* TPACKETS (v3, PROTOCOL.md 5.2): PACKETS whose every entry carries a
 * tree tag: `tag u32 | len u32` (1 .. PACKET_MAX_LEN) + packet bytes.  Bits
 * 0-30 of the tag are the packet's tree key (the key its creator chose for
 * its packets; 0 = none), bit 31 says it was pushed eagerly (a duplicate
 * so received is answered with PRUNE) rather than sent as the answer to a
 * request (a first copy so received is answered with GRAFT). */
#define WIRE_TAG_EAGER 0x80000000u
#define WIRE_TREE_KEY_MASK 0x7fffffffu
struct wire_tpackets {
	uint32_t n;                  /* entries */
	const uint8_t *p, *end;      /* cursor */
};
int wire_tpackets_decode(const uint8_t *p, size_t n,
                         struct wire_tpackets *w);
bool wire_tpackets_next(struct wire_tpackets *w, uint32_t *tag,
                        const uint8_t **pkt, uint32_t *len);
/* One TPACKETS entry (between wb_begin(wb, WIRE_TPACKETS) and wb_end),
 * the relay byte replaced by relay. */
void wire_tpackets_add(struct wbuf *wb, uint32_t tag, const uint8_t *pkt,
                       size_t len, uint8_t relay);
static inline size_t wire_tpackets_entry_len(size_t len)
{
	return 8 + len;
}

/* PRUNE / GRAFT (v3): `count u16` (1 .. WIRE_MAX_KEYS) + count tree keys
 * u32 (each 1 .. WIRE_TREE_KEY_MASK).  *keys points at count * 4 bytes. */
#define WIRE_MAX_KEYS 4096u
int wire_keys_decode(const uint8_t *p, size_t n, const uint8_t **keys,
                     uint32_t *count);
void wire_keys_encode(struct wbuf *wb, uint8_t type, const uint32_t *keys,
                      uint32_t count);
static inline uint32_t wire_keys_at(const uint8_t *keys, uint32_t i)
{
	return le32(keys + (size_t)i * 4);
}

/* SUMMARY: minute buckets over [t0, t1]. */
struct wire_summary {
	uint32_t t0, t1;
	uint16_t n;
	const uint8_t *b;            /* n * 12 bytes */
};
/* Number of minute buckets [t0, t1] spans. */
static inline uint32_t wire_minutes(uint32_t t0, uint32_t t1)
{
	return t1 / 60 - t0 / 60 + 1;
}
/* Seconds covered by minute bucket i of [t0, t1]. */
void wire_minute_range(uint32_t t0, uint32_t t1, uint32_t i, uint32_t *a,
                       uint32_t *b);
int wire_summary_decode(const uint8_t *p, size_t n, struct wire_summary *s);
static inline void wire_summary_at(const struct wire_summary *s, uint32_t i,
                                   uint32_t *count, uint64_t *fp)
{
	*count = le32(s->b + (size_t)i * 12);
	*fp = le64(s->b + (size_t)i * 12 + 4);
}

/* SUMMARY_SEC: per-second buckets. */
struct wire_summary_sec {
	uint32_t t0, t1;
	uint32_t n;
	const uint8_t *e;            /* n * 16 bytes */
};
int wire_summary_sec_decode(const uint8_t *p, size_t n,
                            struct wire_summary_sec *s);
static inline void wire_summary_sec_at(const struct wire_summary_sec *s,
                                       uint32_t i, uint32_t *t,
                                       uint32_t *count, uint64_t *fp)
{
	*t = le32(s->e + (size_t)i * 16);
	*count = le32(s->e + (size_t)i * 16 + 4);
	*fp = le64(s->e + (size_t)i * 16 + 8);
}

/* IDLIST: validated as a whole, then walked with wire_idlist_next(). */
struct wire_idlist {
	uint32_t n;                  /* entries */
	const uint8_t *p, *end;      /* cursor */
};
int wire_idlist_decode(const uint8_t *p, size_t n, struct wire_idlist *l);
/* Next entry; false at the end.  ids points at count * 8 bytes. */
bool wire_idlist_next(struct wire_idlist *l, uint32_t *t, uint32_t *count,
                      const uint8_t **ids);

/* ---- light clients (0x14-0x1b, PROTOCOL.md 7) ---- */

/* A filter as DEX_list's (API.md 4.2) plus `since`: tagA, tagB, pubkey33
 * (each empty = any), minpriority, inclusive amount ranges in satoshis,
 * and only packets with timestamp >= since.  Encoded as
 * la u8, tagA, lb u8, tagB, plen u8 (0|33), pubkey, minpriority u8,
 * minA u64, maxA u64, minB u64, maxB u64, since u32. */
struct wire_lfilter {
	uint8_t la, lb, plen;
	uint8_t tag_a[PACKET_TAG_MAX], tag_b[PACKET_TAG_MAX];
	uint8_t pubkey[PACKET_PUBKEY_LEN];
	uint8_t minpriority;
	uint64_t min_a, max_a, min_b, max_b;
	uint32_t since;
};
#define WIRE_LPAGE_MAX 4096u          /* LLIST max / LANSWER entries */
/* LANSWER status */
enum wire_lstatus {
	WIRE_LS_MORE = 0,            /* more LANSWER frames follow */
	WIRE_LS_DONE = 1,            /* complete: every match was sent */
	WIRE_LS_PAGE = 2,            /* page full: ask again after the last */
	WIRE_LS_REFUSED = 3,         /* not answered (-dexp2p=1, limits) */
	WIRE_LS_NOTFOUND = 4,        /* LGET: nothing held */
	WIRE_LS_REJECTED = 5,        /* LRELAY: the packet was refused */
	WIRE_LS_MAX
};
struct wire_llist {
	uint32_t reqid;
	struct wire_lfilter f;
	bool has_after;              /* cursor: continue after this hash */
	uint8_t after[32];
	bool has_stop;               /* stop (exclusive) at this hash, as */
	uint8_t stop[32];            /* DEX_list's stophash */
	uint16_t max;                /* 1 .. WIRE_LPAGE_MAX packets */
};
int wire_llist_decode(const uint8_t *p, size_t n, struct wire_llist *l);
void wire_llist_encode(struct wbuf *wb, const struct wire_llist *l);

struct wire_lget {
	uint32_t reqid;
	bool by_hash;
	uint32_t id;
	uint8_t hash[32];
};
int wire_lget_decode(const uint8_t *p, size_t n, struct wire_lget *g);
void wire_lget_encode(struct wbuf *wb, const struct wire_lget *g);

/* LSUB: subid u32 + filter; LUNSUB: subid u32. */
int wire_lsub_decode(const uint8_t *p, size_t n, uint32_t *subid,
                     struct wire_lfilter *f);
void wire_lsub_encode(struct wbuf *wb, uint32_t subid,
                      const struct wire_lfilter *f);
int wire_lunsub_decode(const uint8_t *p, size_t n, uint32_t *subid);
void wire_lunsub_encode(struct wbuf *wb, uint32_t subid);

/* LANSWER: reqid u32, status u8, then entries; LPUSH: subid u32, then
 * entries (at least one).  An entry: recvtime u32 (when the full node
 * stored it: advisory), len u32 (1 .. PACKET_MAX_LEN), packet bytes.
 * Entries fill the payload exactly; walked with wire_lentries_next(). */
struct wire_lentries {
	uint32_t n;
	const uint8_t *p, *end;
};
int wire_lanswer_decode(const uint8_t *p, size_t n, uint32_t *reqid,
                        uint8_t *status, struct wire_lentries *e);
int wire_lpush_decode(const uint8_t *p, size_t n, uint32_t *subid,
                      struct wire_lentries *e);
bool wire_lentries_next(struct wire_lentries *e, uint32_t *recvtime,
                        const uint8_t **pkt, uint32_t *len);
/* wb_begin(wb, WIRE_LANSWER) + reqid + status (entries then added with
 * wire_lentry_add, the frame closed with wb_end). */
void wire_lanswer_begin(struct wbuf *wb, uint32_t reqid, uint8_t status);
void wire_lentry_add(struct wbuf *wb, uint32_t recvtime, const uint8_t *pkt,
                     size_t len);
static inline size_t wire_lentry_len(size_t len)
{
	return 8 + len;
}

/* LRELAY: reqid u32 + one packet (the rest of the payload, 1 ..
 * PACKET_MAX_LEN bytes). */
int wire_lrelay_decode(const uint8_t *p, size_t n, uint32_t *reqid,
                       const uint8_t **pkt, uint32_t *len);
void wire_lrelay_encode(struct wbuf *wb, uint32_t reqid, const uint8_t *pkt,
                        size_t len);
/* GETPKTS / PKTREPLY / PKTMISS (v3, PROTOCOL.md 3.6): packets named by
 * (timestamp, id), as a file's locators name its fragments.
 *   GETPKTS  `reqid u32`, `count u16` (1 .. WIRE_PKT_MAX_KEYS), count keys
 *   PKTREPLY `reqid u32`, then one or more PACKETS entries (len u32 +
 *            packet), filling the payload exactly
 *   PKTMISS  `reqid u32`, `flags u8`, `count u16` (0 .. WIRE_PKT_MAX_KEYS),
 *            count keys; the last frame of every answer
 * A key is `timestamp u32`, `id u32` (8 bytes). */
#define WIRE_PKT_MAX_KEYS 1024u
#define WIRE_PKT_KEY_LEN 8u
#define WIRE_PKTMISS_BUSY 1u         /* flags: keys not looked up (budget) */
struct wire_pktkey {
	uint32_t timestamp;
	uint32_t id;
};
static inline struct wire_pktkey wire_pktkey_at(const uint8_t *keys,
                                                uint32_t i)
{
	struct wire_pktkey k;
	k.timestamp = le32(keys + (size_t)i * WIRE_PKT_KEY_LEN);
	k.id = le32(keys + (size_t)i * WIRE_PKT_KEY_LEN + 4);
	return k;
}
/* *keys points at count * 8 bytes in p. */
int wire_getpkts_decode(const uint8_t *p, size_t n, uint32_t *reqid,
                        const uint8_t **keys, uint32_t *count);
/* count must be 1 .. WIRE_PKT_MAX_KEYS. */
void wire_getpkts_encode(struct wbuf *wb, uint32_t reqid,
                         const struct wire_pktkey *keys, uint32_t count);
/* The packets are walked with wire_packets_next(w). */
int wire_pktreply_decode(const uint8_t *p, size_t n, uint32_t *reqid,
                         struct wire_packets *w);
/* Starts a PKTREPLY frame: add entries with wire_packets_add(), then
 * wb_end(). */
void wire_pktreply_begin(struct wbuf *wb, uint32_t reqid);
int wire_pktmiss_decode(const uint8_t *p, size_t n, uint32_t *reqid,
                        uint8_t *flags, const uint8_t **keys,
                        uint32_t *count);
/* count must be 0 .. WIRE_PKT_MAX_KEYS. */
void wire_pktmiss_encode(struct wbuf *wb, uint32_t reqid, uint8_t flags,
                         const struct wire_pktkey *keys, uint32_t count);

/* Validate any frame payload by type (used by the fuzzer and by net before
 * dispatch).  PACKET payloads are checked for length bounds only (the
 * packet itself is judged by packet_check).  Returns E_OK or E_PROTO. */
int wire_payload_validate(uint8_t type, const uint8_t *p, size_t n);

#endif
