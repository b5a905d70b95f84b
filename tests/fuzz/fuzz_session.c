/* fuzz_session.c - stateful libFuzzer target for src/proto/session.c: the
 * input is a program of steps driving one session (frames, clock ticks
 * with an output state, bytes received, activate, ping), with shortcuts to
 * a valid VERSION and to the answer of the outstanding PING so that runs
 * get past the handshake.
 * Invariants: every byte the session writes is whole, valid frames;
 * after SESSION_KILL every call returns SESSION_KILL and writes nothing;
 * SESSION_READY at most once and only after VERSION; ready only after
 * READY; SESSION_GETADDR at most once; SESSION_PONG only for an
 * outstanding PING; no frame after the handshake other than PONG, PING,
 * GETADDR; nothing written before VERSION is sent.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "proto/session.h"
#include "proto/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct rd {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct rd *r)
{
	if (!r->n)
		return 0;
	r->n--;
	return *r->p++;
}

static uint16_t u16(struct rd *r)
{
	return (uint16_t)(u8(r) | (u8(r) << 8));
}

/* Check that out holds whole valid frames; count the types. */
static void check_out(const struct wbuf *out, unsigned counts[WIRE_TYPE_MAX])
{
	size_t off = 0;
	while (off < out->len) {
		uint8_t t;
		uint32_t len;
		if (wire_hdr_decode(out->p + off, out->len - off, &t, &len) !=
		    E_OK)
			abort();
		if (off + WIRE_HDR_LEN + len > out->len)
			abort();
		if (wire_payload_validate(t, out->p + off + WIRE_HDR_LEN, len) !=
		    E_OK)
			abort();
		if (t != WIRE_VERSION && t != WIRE_VERACK && t != WIRE_PING &&
		    t != WIRE_PONG && t != WIRE_GETADDR)
			abort();
		counts[t]++;
		off += WIRE_HDR_LEN + len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wbuf out, tmp;
	static bool init;
	struct session s;
	struct session_cfg c = {0};
	struct session_io io = {0};
	struct rd r = {data, size};
	uint64_t now = 1000000, written = 0;
	unsigned counts[WIRE_TYPE_MAX];
	bool was_dead = false, ready_seen = false, getaddr_seen = false;

	if (!init) {
		wb_init(&out);
		wb_init(&tmp);
		init = true;
	}
	c.local.version = WIRE_PROTOCOL_VERSION;
	c.local.services = WIRE_SVC_DEXP2P;
	c.local.txpowbits = 12;
	c.local.purgetime = 3600;
	c.local.nonce = 77;
	c.txpowbits = 12;
	c.purgetime = 3600;
	c.seed = u8(&r);
	/* small timers sometimes, so that a short input reaches them */
	if (u8(&r) & 1)
		c.quiet_ms = 100, c.pong_ms = 200, c.idle_ms = 1000,
		c.stall_ms = 500, c.handshake_ms = 300, c.ping_every_ms = 400;
	session_init(&s, &c, u8(&r) & 1, now);

	while (r.n) {
		enum session_ev ev = SESSION_NONE;
		uint8_t op = u8(&r) % 9;
		uint64_t nonce_before = s.ping_nonce;
		bool sent_version_before = s.sent_version;

		wb_reset(&out);
		switch (op) {
		case 0: { /* a raw frame */
			uint8_t t = u8(&r);
			size_t n = u16(&r) % 512;
			if (n > r.n)
				n = r.n;
			ev = session_on_frame(&s, t, r.p, n, now, 1767225300u,
			                      &out);
			r.p += n;
			r.n -= n;
			break;
		}
		case 1: { /* a valid VERSION with a few fields fuzzed */
			struct wire_version v = {0};
			uint8_t f = u8(&r);
			v.version = (f & 1) ? 2 : (f & 2) ? 0 : 1;
			v.services = WIRE_SVC_DEXP2P | ((f & 4) ? WIRE_SVC_FULL : 0);
			v.txpowbits = (f & 8) ? 11 : 12;
			v.purgetime = (f & 16) ? 60 : 3600;
			v.nonce = (f & 32) ? 77 : 78;
			wb_reset(&tmp);
			wire_version_encode(&tmp, &v);
			ev = session_on_frame(&s, WIRE_VERSION,
			                      tmp.p + WIRE_HDR_LEN,
			                      tmp.len - WIRE_HDR_LEN, now, 1, &out);
			break;
		}
		case 2: /* VERACK */
			ev = session_on_frame(&s, WIRE_VERACK, NULL, 0, now, 1,
			                      &out);
			break;
		case 3: { /* the answer to our PING (or a stale one) */
			uint8_t b[8];
			put_le64(b, s.ping_nonce ^ (u8(&r) & 1));
			ev = session_on_frame(&s, WIRE_PONG, b, 8, now, 1, &out);
			if (ev == SESSION_PONG && !nonce_before)
				abort();
			break;
		}
		case 4: { /* clock tick with an output state */
			uint8_t f = u8(&r);
			now += (uint64_t)u16(&r) * ((f & 1) ? 16 : 1);
			io.out_pending = (f & 2) ? (size_t)u16(&r) + 1 : 0;
			if (f & 4)
				written += u8(&r);
			io.out_written = written;
			io.recv_paused = (f & 8) != 0;
			ev = session_tick(&s, &io, now, &out);
			if (ev != SESSION_NONE && ev != SESSION_KILL)
				abort();
			break;
		}
		case 5: /* bytes received */
			now += u8(&r);
			session_on_recv(&s, now);
			break;
		case 6:
			session_activate(&s, now, &out);
			if (s.ready && !ready_seen)
				abort();
			break;
		case 7:
			if (session_ping(&s, now, &out) &&
			    (!s.ready || s.dead || !s.ping_nonce))
				abort();
			break;
		case 8:
			session_connected(&s, 1767225300u, &out);
			break;
		}
		memset(counts, 0, sizeof(counts));
		check_out(&out, counts);
		if (was_dead && (ev != SESSION_NONE && ev != SESSION_KILL))
			abort();
		if (was_dead && out.len)
			abort();
		if (ev == SESSION_KILL && (!s.dead || !s.why[0]))
			abort();
		if (ev == SESSION_READY) {
			if (ready_seen || !s.got_version || !s.sent_verack)
				abort();
			ready_seen = true;
		}
		if (ev == SESSION_GETADDR) {
			if (getaddr_seen || !s.ready)
				abort();
			getaddr_seen = true;
		}
		if ((ev == SESSION_ADDR || ev == SESSION_GOSSIP ||
		     ev == SESSION_PONG) && !s.ready)
			abort();
		if (s.ready && !ready_seen)
			abort();
		/* a VERSION is written once, and a VERACK only after it */
		if (counts[WIRE_VERSION] > 1 ||
		    (counts[WIRE_VERSION] && sent_version_before))
			abort();
		if (counts[WIRE_VERACK] && !s.sent_version)
			abort();
		if (counts[WIRE_PING] && !s.ready)
			abort();
		was_dead = s.dead;
	}
	return 0;
}
