/* wire.c - codec of the peer-to-peer messages (docs/PROTOCOL.md).
 *
 * Owns nothing but the wbuf memory it is handed.  Every decoder checks each
 * declared count against the bytes actually present before reading, and
 * rejects trailing bytes, so a frame either decodes exactly or is refused.
 */
#include "proto/wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"

static const char *const type_names[WIRE_TYPE_MAX] = {
	[WIRE_VERSION] = "version",   [WIRE_VERACK] = "verack",
	[WIRE_PING] = "ping",         [WIRE_PONG] = "pong",
	[WIRE_GETADDR] = "getaddr",   [WIRE_ADDR] = "addr",
	[WIRE_PACKET] = "packet",     [WIRE_INV] = "inv",
	[WIRE_GETDATA] = "getdata",   [WIRE_NOTFOUND] = "notfound",
	[WIRE_SUMMARY] = "summary",   [WIRE_SUMMARY_SEC] = "summary_sec",
	[WIRE_IDLIST] = "idlist",     [WIRE_GETBITS] = "getbits",
	[WIRE_PACKETS] = "packets",   [WIRE_GETPKTS] = "getpkts",
	[WIRE_PKTREPLY] = "pktreply", [WIRE_PKTMISS] = "pktmiss",
	[WIRE_LLIST] = "llist",       [WIRE_LGET] = "lget",
	[WIRE_LANSWER] = "lanswer",   [WIRE_LSUB] = "lsub",
	[WIRE_LUNSUB] = "lunsub",     [WIRE_LPUSH] = "lpush",
	[WIRE_LRELAY] = "lrelay",
	[WIRE_TPACKETS] = "tpackets", [WIRE_PRUNE] = "prune",
	[WIRE_GRAFT] = "graft",
};

const char *wire_type_name(int type)
{
	if (type <= 0 || type >= WIRE_TYPE_MAX || !type_names[type])
		return "unknown";
	return type_names[type];
}

static inline uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

int wire_hdr_decode(const uint8_t *buf, size_t n, uint8_t *type,
                    uint32_t *len)
{
	if (n < WIRE_HDR_LEN)
		return E_AGAIN;
	if (le32(buf) != WIRE_MAGIC)
		return E_PROTO;
	if (buf[4] == 0 || buf[4] >= WIRE_TYPE_MAX || !type_names[buf[4]])
		return E_PROTO;
	*type = buf[4];
	*len = le32(buf + 5);
	if (*len > WIRE_MAX_PAYLOAD)
		return E_TOOBIG;
	return E_OK;
}

void wire_hdr_encode(uint8_t out[WIRE_HDR_LEN], uint8_t type, uint32_t len)
{
	put_le32(out, WIRE_MAGIC);
	out[4] = type;
	put_le32(out + 5, len);
}

/* ---- frame builder ---- */

void wb_init(struct wbuf *wb)
{
	memset(wb, 0, sizeof(*wb));
}

void wb_fini(struct wbuf *wb)
{
	free(wb->p);
	memset(wb, 0, sizeof(*wb));
}

void wb_reset(struct wbuf *wb)
{
	wb->len = 0;
	wb->frame_start = 0;
}

static void wb_reserve(struct wbuf *wb, size_t more)
{
	if (wb->len + more <= wb->cap)
		return;
	size_t cap = wb->cap ? wb->cap : 256;
	while (cap < wb->len + more)
		cap *= 2;
	wb->p = xrealloc(wb->p, cap);
	wb->cap = cap;
}

void wb_begin(struct wbuf *wb, uint8_t type)
{
	wb_reserve(wb, WIRE_HDR_LEN);
	wb->frame_start = wb->len;
	wire_hdr_encode(wb->p + wb->len, type, 0);
	wb->len += WIRE_HDR_LEN;
}

size_t wb_frame_payload_len(const struct wbuf *wb)
{
	return wb->len - wb->frame_start - WIRE_HDR_LEN;
}

void wb_end(struct wbuf *wb)
{
	put_le32(wb->p + wb->frame_start + 5,
	         (uint32_t)wb_frame_payload_len(wb));
}

void wb_u8(struct wbuf *wb, uint8_t v)
{
	wb_reserve(wb, 1);
	wb->p[wb->len++] = v;
}

void wb_u16(struct wbuf *wb, uint16_t v)
{
	wb_reserve(wb, 2);
	wb->p[wb->len++] = (uint8_t)v;
	wb->p[wb->len++] = (uint8_t)(v >> 8);
}

void wb_u32(struct wbuf *wb, uint32_t v)
{
	wb_reserve(wb, 4);
	put_le32(wb->p + wb->len, v);
	wb->len += 4;
}

void wb_u64(struct wbuf *wb, uint64_t v)
{
	wb_reserve(wb, 8);
	put_le64(wb->p + wb->len, v);
	wb->len += 8;
}

void wb_bytes(struct wbuf *wb, const void *p, size_t n)
{
	if (n == 0)
		return;
	wb_reserve(wb, n);
	memcpy(wb->p + wb->len, p, n);
	wb->len += n;
}

/* ---- VERSION ---- */

#define VERSION_FIXED (4 + 8 + 1 + 4 + 8 + 2 + 4 + 1)

int wire_version_decode(const uint8_t *p, size_t n, struct wire_version *v)
{
	size_t off = 0;

	memset(v, 0, sizeof(*v));
	if (n < VERSION_FIXED + 1)
		return E_PROTO;
	v->version = le32(p);
	v->services = le64(p + 4);
	v->txpowbits = p[12];
	v->purgetime = le32(p + 13);
	v->nonce = le64(p + 17);
	v->listen_port = le16(p + 25);
	v->time = le32(p + 27);
	v->plen = p[31];
	off = 32;
	if (v->plen != 0 && v->plen != 33)
		return E_PROTO;
	if (n - off < (size_t)v->plen + 1)
		return E_PROTO;
	memcpy(v->pubkey, p + off, v->plen);
	off += v->plen;
	v->ualen = p[off++];
	if (v->ualen > WIRE_UA_MAX || n - off != v->ualen)
		return E_PROTO;
	memcpy(v->ua, p + off, v->ualen);
	v->ua[v->ualen] = '\0';
	return E_OK;
}

void wire_version_encode(struct wbuf *wb, const struct wire_version *v)
{
	uint8_t ualen = v->ualen > WIRE_UA_MAX ? WIRE_UA_MAX : v->ualen;
	uint8_t plen = v->plen == 33 ? 33 : 0;

	wb_begin(wb, WIRE_VERSION);
	wb_u32(wb, v->version);
	wb_u64(wb, v->services);
	wb_u8(wb, v->txpowbits);
	wb_u32(wb, v->purgetime);
	wb_u64(wb, v->nonce);
	wb_u16(wb, v->listen_port);
	wb_u32(wb, v->time);
	wb_u8(wb, plen);
	wb_bytes(wb, v->pubkey, plen);
	wb_u8(wb, ualen);
	wb_bytes(wb, v->ua, ualen);
	wb_end(wb);
}

bool wire_version_check(const struct wire_version *peer, int txpowbits,
                        uint32_t purgetime, uint64_t my_nonce, char *why,
                        size_t whylen)
{
	if (peer->version < WIRE_MIN_VERSION) {
		snprintf(why, whylen, "peer protocol version %u < %u",
		         peer->version, WIRE_MIN_VERSION);
		return false;
	}
	if (!(peer->services & WIRE_SVC_DEXP2P)) {
		snprintf(why, whylen, "peer is not a dexp2p node");
		return false;
	}
	if (peer->txpowbits != txpowbits) {
		snprintf(why, whylen, "peer txpowbits %u != %d",
		         peer->txpowbits, txpowbits);
		return false;
	}
	if (peer->purgetime != purgetime) {
		snprintf(why, whylen, "peer purgetime %u != %u",
		         peer->purgetime, purgetime);
		return false;
	}
	if (peer->nonce == my_nonce) {
		snprintf(why, whylen, "connected to self");
		return false;
	}
	return true;
}

/* ---- PING / PONG ---- */

int wire_nonce_decode(const uint8_t *p, size_t n, uint64_t *nonce)
{
	if (n != 8)
		return E_PROTO;
	*nonce = le64(p);
	return E_OK;
}

void wire_nonce_encode(struct wbuf *wb, uint8_t type, uint64_t nonce)
{
	wb_begin(wb, type);
	wb_u64(wb, nonce);
	wb_end(wb);
}

/* ---- ADDR ---- */

int wire_addr_decode(const uint8_t *p, size_t n, struct wire_addr *out,
                     size_t cap, size_t *count)
{
	*count = 0;
	if (n < 2)
		return E_PROTO;
	uint16_t c = le16(p);
	if (c > WIRE_MAX_ADDR || n != 2 + (size_t)c * WIRE_ADDR_LEN)
		return E_PROTO;
	for (size_t i = 0; i < c && i < cap; i++) {
		const uint8_t *e = p + 2 + i * WIRE_ADDR_LEN;
		memcpy(out[i].ip, e, 16);
		out[i].port = le16(e + 16);
		out[i].last_seen = le32(e + 18);
		out[i].services = le16(e + 22);
		(*count)++;
	}
	return E_OK;
}

void wire_addr_encode(struct wbuf *wb, const struct wire_addr *a,
                      size_t count)
{
	if (count > WIRE_MAX_ADDR)
		count = WIRE_MAX_ADDR;
	wb_begin(wb, WIRE_ADDR);
	wb_u16(wb, (uint16_t)count);
	for (size_t i = 0; i < count; i++) {
		wb_bytes(wb, a[i].ip, 16);
		wb_u16(wb, a[i].port);
		wb_u32(wb, a[i].last_seen);
		wb_u16(wb, a[i].services);
	}
	wb_end(wb);
}

/* ---- INV / GETDATA / NOTFOUND ---- */

int wire_ids_decode(const uint8_t *p, size_t n, const uint8_t **ids,
                    uint32_t *count)
{
	if (n < 4)
		return E_PROTO;
	uint32_t c = le32(p);
	if (c == 0 || c > WIRE_MAX_IDS || n - 4 != (size_t)c * WIRE_SID_LEN)
		return E_PROTO;
	*ids = p + 4;
	*count = c;
	return E_OK;
}

void wire_ids_encode(struct wbuf *wb, uint8_t type, const uint64_t *sids,
                     uint32_t count)
{
	wb_begin(wb, type);
	wb_u32(wb, count);
	for (uint32_t i = 0; i < count; i++)
		wb_u64(wb, sids[i]);
	wb_end(wb);
}

/* ---- GETBITS ---- */

/* A u32 then 1 .. max bytes to the end of the payload. */
static int u32_tail_decode(const uint8_t *p, size_t n, size_t max,
                           uint32_t *x, const uint8_t **tail, uint32_t *len)
{
	if (n < 5 || n - 4 > max)
		return E_PROTO;
	*x = le32(p);
	*tail = p + 4;
	*len = (uint32_t)(n - 4);
	return E_OK;
}

int wire_getbits_decode(const uint8_t *p, size_t n, uint32_t *seq,
                        const uint8_t **bits, uint32_t *nbytes)
{
	return u32_tail_decode(p, n, WIRE_MAX_BITMAP, seq, bits, nbytes);
}

void wire_getbits_encode(struct wbuf *wb, uint32_t seq, const uint8_t *bits,
                         uint32_t nbytes)
{
	wb_begin(wb, WIRE_GETBITS);
	wb_u32(wb, seq);
	wb_bytes(wb, bits, nbytes);
	wb_end(wb);
}

/* ---- PACKET, PACKETS ---- */

/* The packet bytes, relay byte replaced (len >= 1). */
static void wb_packet(struct wbuf *wb, const uint8_t *pkt, size_t len,
                      uint8_t relay)
{
	wb_u8(wb, relay);
	wb_bytes(wb, pkt + 1, len - 1);
}

void wire_packet_encode(struct wbuf *wb, const uint8_t *pkt, size_t len,
                        uint8_t relay)
{
	wb_begin(wb, WIRE_PACKET);
	wb_packet(wb, pkt, len, relay);
	wb_end(wb);
}

void wire_packets_add(struct wbuf *wb, const uint8_t *pkt, size_t len,
                      uint8_t relay)
{
	wb_u32(wb, (uint32_t)len);
	wb_packet(wb, pkt, len, relay);
}

int wire_packets_decode(const uint8_t *p, size_t n, struct wire_packets *w)
{
	const uint8_t *q = p, *end = p + n;
	uint32_t k = 0;
	if (n == 0)
		return E_PROTO;
	while (q < end) {
		if ((size_t)(end - q) < 4)
			return E_PROTO;
		uint32_t len = le32(q);
		q += 4;
		if (len == 0 || len > PACKET_MAX_LEN || (size_t)(end - q) < len)
			return E_PROTO;
		q += len;
		k++;
	}
	w->n = k;
	w->p = p;
	w->end = end;
	return E_OK;
}


/* Entries of 8 bytes (a u32, then len u32 of 1 .. PACKET_MAX_LEN) each
 * followed by len bytes, filling [p, end) exactly: E_OK and their count
 * (TPACKETS, LANSWER / LPUSH). */
static int count_entries8(const uint8_t *p, const uint8_t *end,
                          uint32_t *count)
{
	const uint8_t *q = p;
	uint32_t k = 0;

	while (q < end) {
		if ((size_t)(end - q) < 8)
			return E_PROTO;
		uint32_t len = le32(q + 4);
		q += 8;
		if (len == 0 || len > PACKET_MAX_LEN || (size_t)(end - q) < len)
			return E_PROTO;
		q += len;
		k++;
	}
	*count = k;
	return E_OK;
}

int wire_tpackets_decode(const uint8_t *p, size_t n,
                         struct wire_tpackets *w)
{
	const uint8_t *end = p + n;
	uint32_t k;
	if (n == 0 || count_entries8(p, end, &k) != E_OK)
		return E_PROTO;
	w->n = k;
	w->p = p;
	w->end = end;
	return E_OK;
}

bool wire_tpackets_next(struct wire_tpackets *w, uint32_t *tag,
                        const uint8_t **pkt, uint32_t *len)
{
	if (w->p >= w->end || (size_t)(w->end - w->p) < 8)
		return false;
	*tag = le32(w->p);
	*len = le32(w->p + 4);
	*pkt = w->p + 8;
	w->p += 8 + (size_t)*len;
	return true;
}

void wire_tpackets_add(struct wbuf *wb, uint32_t tag, const uint8_t *pkt,
                       size_t len, uint8_t relay)
{
	wb_u32(wb, tag);
	wb_u32(wb, (uint32_t)len);
	wb_u8(wb, relay);
	wb_bytes(wb, pkt + 1, len - 1);
}

int wire_keys_decode(const uint8_t *p, size_t n, const uint8_t **keys,
                     uint32_t *count)
{
	if (n < 2)
		return E_PROTO;
	uint32_t c = le16(p);
	if (c == 0 || c > WIRE_MAX_KEYS || n != 2 + (size_t)c * 4)
		return E_PROTO;
	for (uint32_t i = 0; i < c; i++) {
		uint32_t k = le32(p + 2 + (size_t)i * 4);
		if (k == 0 || k > WIRE_TREE_KEY_MASK)
			return E_PROTO;
	}
	*keys = p + 2;
	*count = c;
	return E_OK;
}

void wire_keys_encode(struct wbuf *wb, uint8_t type, const uint32_t *keys,
                      uint32_t count)
{
	wb_begin(wb, type);
	wb_u16(wb, (uint16_t)count);
	for (uint32_t i = 0; i < count; i++)
		wb_u32(wb, keys[i]);
	wb_end(wb);
}

bool wire_packets_next(struct wire_packets *w, const uint8_t **pkt,
                       uint32_t *len)
{
	if (w->p >= w->end || (size_t)(w->end - w->p) < 4)
		return false;
	*len = le32(w->p);
	*pkt = w->p + 4;
	w->p += 4 + (size_t)*len;
	return true;
}

/* ---- SUMMARY / SUMMARY_SEC ---- */

void wire_minute_range(uint32_t t0, uint32_t t1, uint32_t i, uint32_t *a,
                       uint32_t *b)
{
	uint32_t m = t0 / 60 + i;
	uint32_t lo = m * 60, hi = m * 60 + 59;
	*a = lo < t0 ? t0 : lo;
	*b = hi > t1 ? t1 : hi;
}

static bool span_ok(uint32_t t0, uint32_t t1)
{
	return t0 <= t1 && t1 - t0 < WIRE_MAX_SPAN;
}

int wire_summary_decode(const uint8_t *p, size_t n, struct wire_summary *s)
{
	if (n < 10)
		return E_PROTO;
	s->t0 = le32(p);
	s->t1 = le32(p + 4);
	s->n = le16(p + 8);
	if (!span_ok(s->t0, s->t1) || s->n != wire_minutes(s->t0, s->t1))
		return E_PROTO;
	if (n - 10 != (size_t)s->n * 12)
		return E_PROTO;
	s->b = p + 10;
	return E_OK;
}

int wire_summary_sec_decode(const uint8_t *p, size_t n,
                            struct wire_summary_sec *s)
{
	if (n < 12)
		return E_PROTO;
	s->t0 = le32(p);
	s->t1 = le32(p + 4);
	s->n = le32(p + 8);
	if (!span_ok(s->t0, s->t1) || s->n > WIRE_MAX_SEC_ENTRIES)
		return E_PROTO;
	if (n - 12 != (size_t)s->n * 16)
		return E_PROTO;
	s->e = p + 12;
	return E_OK;
}

/* ---- IDLIST ---- */

int wire_idlist_decode(const uint8_t *p, size_t n, struct wire_idlist *l)
{
	if (n < 4)
		return E_PROTO;
	uint32_t entries = le32(p);
	const uint8_t *q = p + 4, *end = p + n;
	if (entries > WIRE_MAX_SEC_ENTRIES)
		return E_PROTO;
	for (uint32_t i = 0; i < entries; i++) {
		if ((size_t)(end - q) < 8)
			return E_PROTO;
		uint32_t c = le32(q + 4);
		q += 8;
		if ((size_t)(end - q) / WIRE_SID_LEN < c)
			return E_PROTO;
		q += (size_t)c * WIRE_SID_LEN;
	}
	if (q != end)
		return E_PROTO;
	l->n = entries;
	l->p = p + 4;
	l->end = end;
	return E_OK;
}

bool wire_idlist_next(struct wire_idlist *l, uint32_t *t, uint32_t *count,
                      const uint8_t **ids)
{
	if (l->p >= l->end || (size_t)(l->end - l->p) < 8)
		return false;
	*t = le32(l->p);
	*count = le32(l->p + 4);
	*ids = l->p + 8;
	l->p += 8 + (size_t)*count * WIRE_SID_LEN;
	return true;
}

/* ---- light clients ---- */

/* Bounded reader: every get fails once the bytes run out. */
struct rd {
	const uint8_t *p;
	size_t n, off;
	bool bad;
};

static const uint8_t *rd_take(struct rd *r, size_t k)
{
	if (r->bad || r->n - r->off < k) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *q = r->p + r->off;
	r->off += k;
	return q;
}

static uint8_t rd_u8(struct rd *r)
{
	const uint8_t *q = rd_take(r, 1);
	return q ? q[0] : 0;
}

static uint16_t rd_u16(struct rd *r)
{
	const uint8_t *q = rd_take(r, 2);
	return q ? le16(q) : 0;
}

static uint32_t rd_u32(struct rd *r)
{
	const uint8_t *q = rd_take(r, 4);
	return q ? le32(q) : 0;
}

static uint64_t rd_u64(struct rd *r)
{
	const uint8_t *q = rd_take(r, 8);
	return q ? le64(q) : 0;
}

/* A length-prefixed field of at most max bytes copied into out. */
static uint8_t rd_field(struct rd *r, uint8_t *out, size_t max)
{
	uint8_t len = rd_u8(r);
	if (len > max) {
		r->bad = true;
		return 0;
	}
	const uint8_t *q = rd_take(r, len);
	if (q)
		memcpy(out, q, len);
	return len;
}

static void rd_lfilter(struct rd *r, struct wire_lfilter *f)
{
	memset(f, 0, sizeof(*f));
	f->la = rd_field(r, f->tag_a, PACKET_TAG_MAX);
	f->lb = rd_field(r, f->tag_b, PACKET_TAG_MAX);
	f->plen = rd_field(r, f->pubkey, PACKET_PUBKEY_LEN);
	if (f->plen != 0 && f->plen != PACKET_PUBKEY_LEN)
		r->bad = true;
	f->minpriority = rd_u8(r);
	f->min_a = rd_u64(r);
	f->max_a = rd_u64(r);
	f->min_b = rd_u64(r);
	f->max_b = rd_u64(r);
	f->since = rd_u32(r);
	if (f->min_a > f->max_a || f->min_b > f->max_b)
		r->bad = true;
}

/* E_OK when every byte was read and nothing was out of bounds. */
static int rd_end(const struct rd *r)
{
	return !r->bad && r->off == r->n ? E_OK : E_PROTO;
}

static void wb_lfilter(struct wbuf *wb, const struct wire_lfilter *f)
{
	uint8_t la = f->la > PACKET_TAG_MAX ? PACKET_TAG_MAX : f->la;
	uint8_t lb = f->lb > PACKET_TAG_MAX ? PACKET_TAG_MAX : f->lb;
	uint8_t pl = f->plen == PACKET_PUBKEY_LEN ? PACKET_PUBKEY_LEN : 0;

	wb_u8(wb, la);
	wb_bytes(wb, f->tag_a, la);
	wb_u8(wb, lb);
	wb_bytes(wb, f->tag_b, lb);
	wb_u8(wb, pl);
	wb_bytes(wb, f->pubkey, pl);
	wb_u8(wb, f->minpriority);
	wb_u64(wb, f->min_a);
	wb_u64(wb, f->max_a);
	wb_u64(wb, f->min_b);
	wb_u64(wb, f->max_b);
	wb_u32(wb, f->since);
}

int wire_llist_decode(const uint8_t *p, size_t n, struct wire_llist *l)
{
	struct rd r = { p, n, 0, false };
	uint8_t al;

	memset(l, 0, sizeof(*l));
	l->reqid = rd_u32(&r);
	rd_lfilter(&r, &l->f);
	al = rd_field(&r, l->after, 32);
	if (al != 0 && al != 32)
		return E_PROTO;
	l->has_after = al == 32;
	al = rd_field(&r, l->stop, 32);
	if (al != 0 && al != 32)
		return E_PROTO;
	l->has_stop = al == 32;
	l->max = rd_u16(&r);
	if (l->max == 0 || l->max > WIRE_LPAGE_MAX)
		return E_PROTO;
	return rd_end(&r);
}

void wire_llist_encode(struct wbuf *wb, const struct wire_llist *l)
{
	wb_begin(wb, WIRE_LLIST);
	wb_u32(wb, l->reqid);
	wb_lfilter(wb, &l->f);
	wb_u8(wb, l->has_after ? 32 : 0);
	if (l->has_after)
		wb_bytes(wb, l->after, 32);
	wb_u8(wb, l->has_stop ? 32 : 0);
	if (l->has_stop)
		wb_bytes(wb, l->stop, 32);
	wb_u16(wb, l->max);
	wb_end(wb);
}

int wire_lget_decode(const uint8_t *p, size_t n, struct wire_lget *g)
{
	struct rd r = { p, n, 0, false };
	uint8_t kind;
	const uint8_t *q;

	memset(g, 0, sizeof(*g));
	g->reqid = rd_u32(&r);
	kind = rd_u8(&r);
	if (kind == 0) {
		g->id = rd_u32(&r);
	} else if (kind == 1) {
		g->by_hash = true;
		if ((q = rd_take(&r, 32)))
			memcpy(g->hash, q, 32);
	} else {
		return E_PROTO;
	}
	return rd_end(&r);
}

void wire_lget_encode(struct wbuf *wb, const struct wire_lget *g)
{
	wb_begin(wb, WIRE_LGET);
	wb_u32(wb, g->reqid);
	wb_u8(wb, g->by_hash ? 1 : 0);
	if (g->by_hash)
		wb_bytes(wb, g->hash, 32);
	else
		wb_u32(wb, g->id);
	wb_end(wb);
}

int wire_lsub_decode(const uint8_t *p, size_t n, uint32_t *subid,
                     struct wire_lfilter *f)
{
	struct rd r = { p, n, 0, false };

	*subid = rd_u32(&r);
	rd_lfilter(&r, f);
	return rd_end(&r);
}

void wire_lsub_encode(struct wbuf *wb, uint32_t subid,
                      const struct wire_lfilter *f)
{
	wb_begin(wb, WIRE_LSUB);
	wb_u32(wb, subid);
	wb_lfilter(wb, f);
	wb_end(wb);
}

int wire_lunsub_decode(const uint8_t *p, size_t n, uint32_t *subid)
{
	if (n != 4)
		return E_PROTO;
	*subid = le32(p);
	return E_OK;
}

void wire_lunsub_encode(struct wbuf *wb, uint32_t subid)
{
	wb_begin(wb, WIRE_LUNSUB);
	wb_u32(wb, subid);
	wb_end(wb);
}

/* Entries from p to end: each recvtime u32, len u32, len bytes. */
static int lentries_decode(const uint8_t *p, const uint8_t *end,
                           struct wire_lentries *e)
{
	uint32_t k;

	if (count_entries8(p, end, &k) != E_OK)
		return E_PROTO;
	e->n = k;
	e->p = p;
	e->end = end;
	return E_OK;
}

int wire_lanswer_decode(const uint8_t *p, size_t n, uint32_t *reqid,
                        uint8_t *status, struct wire_lentries *e)
{
	if (n < 5)
		return E_PROTO;
	*reqid = le32(p);
	*status = p[4];
	if (*status >= WIRE_LS_MAX)
		return E_PROTO;
	return lentries_decode(p + 5, p + n, e);
}

int wire_lpush_decode(const uint8_t *p, size_t n, uint32_t *subid,
                      struct wire_lentries *e)
{
	if (n < 4)
		return E_PROTO;
	*subid = le32(p);
	if (lentries_decode(p + 4, p + n, e) != E_OK || e->n == 0)
		return E_PROTO;
	return E_OK;
}

bool wire_lentries_next(struct wire_lentries *e, uint32_t *recvtime,
                        const uint8_t **pkt, uint32_t *len)
{
	if (e->p >= e->end || (size_t)(e->end - e->p) < 8)
		return false;
	*recvtime = le32(e->p);
	*len = le32(e->p + 4);
	*pkt = e->p + 8;
	e->p += 8 + (size_t)*len;
	return true;
}

void wire_lanswer_begin(struct wbuf *wb, uint32_t reqid, uint8_t status)
{
	wb_begin(wb, WIRE_LANSWER);
	wb_u32(wb, reqid);
	wb_u8(wb, status);
}

void wire_lentry_add(struct wbuf *wb, uint32_t recvtime, const uint8_t *pkt,
                     size_t len)
{
	wb_u32(wb, recvtime);
	wb_u32(wb, (uint32_t)len);
	wb_bytes(wb, pkt, len);
}

int wire_lrelay_decode(const uint8_t *p, size_t n, uint32_t *reqid,
                       const uint8_t **pkt, uint32_t *len)
{
	return u32_tail_decode(p, n, PACKET_MAX_LEN, reqid, pkt, len);
}

void wire_lrelay_encode(struct wbuf *wb, uint32_t reqid, const uint8_t *pkt,
                        size_t len)
{
	wb_begin(wb, WIRE_LRELAY);
	wb_u32(wb, reqid);
	wb_bytes(wb, pkt, len);
	wb_end(wb);
}

/* ---- GETPKTS / PKTREPLY / PKTMISS ---- */

static void wb_keys(struct wbuf *wb, const struct wire_pktkey *keys,
                    uint32_t count)
{
	for (uint32_t i = 0; i < count; i++) {
		wb_u32(wb, keys[i].timestamp);
		wb_u32(wb, keys[i].id);
	}
}

int wire_getpkts_decode(const uint8_t *p, size_t n, uint32_t *reqid,
                        const uint8_t **keys, uint32_t *count)
{
	if (n < 6)
		return E_PROTO;
	uint32_t c = le16(p + 4);
	if (c == 0 || c > WIRE_PKT_MAX_KEYS ||
	    n - 6 != (size_t)c * WIRE_PKT_KEY_LEN)
		return E_PROTO;
	*reqid = le32(p);
	*keys = p + 6;
	*count = c;
	return E_OK;
}

void wire_getpkts_encode(struct wbuf *wb, uint32_t reqid,
                         const struct wire_pktkey *keys, uint32_t count)
{
	wb_begin(wb, WIRE_GETPKTS);
	wb_u32(wb, reqid);
	wb_u16(wb, (uint16_t)count);
	wb_keys(wb, keys, count);
	wb_end(wb);
}

int wire_pktreply_decode(const uint8_t *p, size_t n, uint32_t *reqid,
                         struct wire_packets *w)
{
	if (n < 4 || wire_packets_decode(p + 4, n - 4, w) != E_OK)
		return E_PROTO;
	*reqid = le32(p);
	return E_OK;
}

void wire_pktreply_begin(struct wbuf *wb, uint32_t reqid)
{
	wb_begin(wb, WIRE_PKTREPLY);
	wb_u32(wb, reqid);
}

int wire_pktmiss_decode(const uint8_t *p, size_t n, uint32_t *reqid,
                        uint8_t *flags, const uint8_t **keys,
                        uint32_t *count)
{
	if (n < 7)
		return E_PROTO;
	uint32_t c = le16(p + 5);
	if ((p[4] & ~WIRE_PKTMISS_BUSY) != 0 || c > WIRE_PKT_MAX_KEYS ||
	    n - 7 != (size_t)c * WIRE_PKT_KEY_LEN)
		return E_PROTO;
	*reqid = le32(p);
	*flags = p[4];
	*keys = p + 7;
	*count = c;
	return E_OK;
}

void wire_pktmiss_encode(struct wbuf *wb, uint32_t reqid, uint8_t flags,
                         const struct wire_pktkey *keys, uint32_t count)
{
	wb_begin(wb, WIRE_PKTMISS);
	wb_u32(wb, reqid);
	wb_u8(wb, flags);
	wb_u16(wb, (uint16_t)count);
	wb_keys(wb, keys, count);
	wb_end(wb);
}

int wire_payload_validate(uint8_t type, const uint8_t *p, size_t n)
{
	union {
		struct wire_version v;
		struct wire_summary s;
		struct wire_summary_sec ss;
		struct wire_idlist il;
		struct wire_addr a[1];
		struct wire_packets pk;
		struct wire_llist ll;
		struct wire_lget lg;
		struct wire_lfilter lf;
		struct wire_lentries le;
	} u;
	uint8_t st;
	uint32_t u32;
	const uint8_t *bits;
	uint32_t seq;
	const uint8_t *ids;
	uint32_t c;
	uint64_t x;
	size_t cnt;

	switch (type) {
	case WIRE_VERSION:
		return wire_version_decode(p, n, &u.v);
	case WIRE_VERACK:
	case WIRE_GETADDR:
		return n == 0 ? E_OK : E_PROTO;
	case WIRE_PING:
	case WIRE_PONG:
		return wire_nonce_decode(p, n, &x);
	case WIRE_ADDR:
		return wire_addr_decode(p, n, u.a, 1, &cnt);
	case WIRE_PACKET:
		/* length rules are packet_check's (counted by reason) */
		return n >= 1 ? E_OK : E_PROTO;
	case WIRE_INV:
	case WIRE_GETDATA:
	case WIRE_NOTFOUND:
		return wire_ids_decode(p, n, &ids, &c);
	case WIRE_GETBITS:
		return wire_getbits_decode(p, n, &seq, &bits, &c);
	case WIRE_PACKETS:
		return wire_packets_decode(p, n, &u.pk);
	case WIRE_TPACKETS: {
		struct wire_tpackets tp;
		return wire_tpackets_decode(p, n, &tp);
	}
	case WIRE_PRUNE:
	case WIRE_GRAFT:
		return wire_keys_decode(p, n, &ids, &c);
	case WIRE_SUMMARY:
		return wire_summary_decode(p, n, &u.s);
	case WIRE_SUMMARY_SEC:
		return wire_summary_sec_decode(p, n, &u.ss);
	case WIRE_IDLIST:
		return wire_idlist_decode(p, n, &u.il);
	case WIRE_LLIST:
		return wire_llist_decode(p, n, &u.ll);
	case WIRE_LGET:
		return wire_lget_decode(p, n, &u.lg);
	case WIRE_LANSWER:
		return wire_lanswer_decode(p, n, &u32, &st, &u.le);
	case WIRE_LSUB:
		return wire_lsub_decode(p, n, &u32, &u.lf);
	case WIRE_LUNSUB:
		return wire_lunsub_decode(p, n, &u32);
	case WIRE_LPUSH:
		return wire_lpush_decode(p, n, &u32, &u.le);
	case WIRE_LRELAY:
		return wire_lrelay_decode(p, n, &u32, &ids, &c);
	case WIRE_GETPKTS:
		return wire_getpkts_decode(p, n, &seq, &ids, &c);
	case WIRE_PKTREPLY:
		return wire_pktreply_decode(p, n, &seq, &u.pk);
	case WIRE_PKTMISS: {
		uint8_t fl;
		return wire_pktmiss_decode(p, n, &seq, &fl, &ids, &c);
	}
	default:
		return E_PROTO;
	}
}
