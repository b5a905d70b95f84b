/* test_session.c - unit tests for src/proto/session.c: the handshake order
 * (VERSION, VERACK), duplicates, the VERSION checks, the handshake
 * deadline, PING/PONG, the keepalive and pong deadlines, the idle limit,
 * a stalled output, GETADDR once, and the frames handed to the caller.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/util.h"
#include "proto/session.h"
#include "proto/wire.h"

#define T0 1000000u  /* a monotonic origin */
#define WALL 1767225300u
#define OUR_NONCE 0x1111u
#define PEER_NONCE 0x2222u

static struct wbuf out, tmp;

static void our_cfg(struct session_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->local.version = WIRE_PROTOCOL_VERSION;
	c->local.services = WIRE_SVC_DEXP2P | WIRE_SVC_FULL;
	c->local.txpowbits = 12;
	c->local.purgetime = 3600;
	c->local.nonce = OUR_NONCE;
	c->txpowbits = 12;
	c->purgetime = 3600;
	c->seed = 42;
}

/* The peer's VERSION payload. */
static void peer_version(struct wire_version *v)
{
	memset(v, 0, sizeof(*v));
	v->version = 2;
	v->services = WIRE_SVC_DEXP2P;
	v->txpowbits = 12;
	v->purgetime = 3600;
	v->nonce = PEER_NONCE;
	v->time = WALL;
}

/* Encode a frame into tmp; return its payload (p, n) */
static const uint8_t *version_payload(const struct wire_version *v,
                                      size_t *n)
{
	wb_reset(&tmp);
	wire_version_encode(&tmp, v);
	*n = tmp.len - WIRE_HDR_LEN;
	return tmp.p + WIRE_HDR_LEN;
}

/* The frame types written to `out` since the last call, in order, as a
 * string of type bytes; `out` is reset.  The nonce of the last PING/PONG
 * goes to *nonce if given. */
static size_t out_types(uint8_t *types, size_t cap, uint64_t *nonce)
{
	size_t k = 0, off = 0;
	while (off + WIRE_HDR_LEN <= out.len) {
		uint8_t t;
		uint32_t len;
		assert_int_equal(wire_hdr_decode(out.p + off, out.len - off, &t,
		                                 &len), E_OK);
		assert_true(off + WIRE_HDR_LEN + len <= out.len);
		if ((t == WIRE_PING || t == WIRE_PONG) && nonce)
			assert_int_equal(wire_nonce_decode(
				out.p + off + WIRE_HDR_LEN, len, nonce), E_OK);
		if (t == WIRE_VERSION) {
			struct wire_version v;
			assert_int_equal(wire_version_decode(
				out.p + off + WIRE_HDR_LEN, len, &v), E_OK);
			assert_int_equal(v.nonce, OUR_NONCE);
			assert_int_equal(v.time, WALL);
		}
		if (k < cap)
			types[k] = t;
		k++;
		off += WIRE_HDR_LEN + len;
	}
	assert_int_equal(off, out.len);
	wb_reset(&out);
	return k;
}

static enum session_ev frame(struct session *s, uint8_t type,
                             const uint8_t *p, size_t n, uint64_t now)
{
	return session_on_frame(s, type, p, n, now, WALL, &out);
}

static enum session_ev tick(struct session *s, uint64_t now)
{
	struct session_io io = {0};
	return session_tick(s, &io, now, &out);
}

/* An outbound session through the handshake to READY and activate. */
static void handshake(struct session *s, bool inbound)
{
	struct session_cfg c;
	struct wire_version v;
	uint8_t t[8];
	size_t n;
	const uint8_t *p;

	our_cfg(&c);
	wb_reset(&out);
	session_init(s, &c, inbound, T0);
	session_connected(s, WALL, &out);
	assert_int_equal(out_types(t, 8, NULL), inbound ? 0 : 1);
	peer_version(&v);
	p = version_payload(&v, &n);
	assert_int_equal(frame(s, WIRE_VERSION, p, n, T0 + 5), SESSION_NONE);
	if (inbound) {
		assert_int_equal(out_types(t, 8, NULL), 2);
		assert_int_equal(t[0], WIRE_VERSION);
		assert_int_equal(t[1], WIRE_VERACK);
	} else {
		assert_int_equal(out_types(t, 8, NULL), 1);
		assert_int_equal(t[0], WIRE_VERACK);
	}
	assert_int_equal(s->pv.nonce, PEER_NONCE);
	assert_int_equal(frame(s, WIRE_VERACK, NULL, 0, T0 + 10),
	                 SESSION_READY);
	assert_false(s->ready);
	session_activate(s, T0 + 10, &out);
	assert_true(s->ready);
	assert_int_equal(out_types(t, 8, NULL), 2);
	assert_int_equal(t[0], WIRE_GETADDR);
	assert_int_equal(t[1], WIRE_PING);
	assert_int_not_equal(s->ping_nonce, 0);
}

static void test_handshake_outbound(void **state)
{
	struct session s;
	handshake(&s, false);
	assert_false(s.dead);
	/* activate twice: nothing more */
	session_activate(&s, T0 + 11, &out);
	assert_int_equal(out.len, 0);
}

static void test_handshake_inbound(void **state)
{
	struct session s;
	handshake(&s, true);
	assert_true(s.inbound);
}

static void test_before_version(void **state)
{
	struct session s;
	struct session_cfg c;
	uint8_t ping[8] = {0};

	our_cfg(&c);
	session_init(&s, &c, true, T0);
	assert_int_equal(frame(&s, WIRE_PING, ping, 8, T0), SESSION_KILL);
	assert_string_equal(s.why, "ping before version");
	assert_true(s.dead);
	/* dead: every later call says so, and writes nothing */
	assert_int_equal(frame(&s, WIRE_VERSION, NULL, 0, T0), SESSION_KILL);
	assert_int_equal(tick(&s, T0 + 1), SESSION_KILL);
	assert_false(session_ping(&s, T0, &out));
	assert_int_equal(out.len, 0);
	assert_string_equal(s.why, "ping before version");

	session_init(&s, &c, true, T0);
	assert_int_equal(frame(&s, WIRE_VERACK, NULL, 0, T0), SESSION_KILL);
	assert_string_equal(s.why, "verack before version");
}

static void test_malformed_version(void **state)
{
	struct session s;
	struct session_cfg c;
	uint8_t junk[3] = {1, 2, 3};

	our_cfg(&c);
	session_init(&s, &c, true, T0);
	assert_int_equal(frame(&s, WIRE_VERSION, junk, 3, T0), SESSION_KILL);
	assert_string_equal(s.why, "malformed version");
	assert_int_equal(out.len, 0);
}

static void test_version_rejected(void **state)
{
	struct session s;
	struct session_cfg c;
	struct wire_version v;
	const uint8_t *p;
	size_t n;

	our_cfg(&c);
	session_init(&s, &c, false, T0);
	session_connected(&s, WALL, &out);
	wb_reset(&out);
	peer_version(&v);
	v.txpowbits = 10;
	p = version_payload(&v, &n);
	assert_int_equal(frame(&s, WIRE_VERSION, p, n, T0), SESSION_KILL);
	assert_string_equal(s.why, "peer txpowbits 10 != 12");
	assert_true(s.rejected);
	assert_false(s.self);
	assert_int_equal(out.len, 0); /* no VERACK */

	session_init(&s, &c, false, T0);
	peer_version(&v);
	v.nonce = OUR_NONCE;
	p = version_payload(&v, &n);
	assert_int_equal(frame(&s, WIRE_VERSION, p, n, T0), SESSION_KILL);
	assert_string_equal(s.why, "connected to self");
	assert_true(s.self);
}

static void test_duplicates_and_order(void **state)
{
	struct session s;
	struct session_cfg c;
	struct wire_version v;
	const uint8_t *p;
	size_t n;
	uint8_t ping[8] = {0};

	our_cfg(&c);
	peer_version(&v);
	/* a second VERSION before VERACK */
	session_init(&s, &c, true, T0);
	p = version_payload(&v, &n);
	assert_int_equal(frame(&s, WIRE_VERSION, p, n, T0), SESSION_NONE);
	assert_int_equal(frame(&s, WIRE_VERSION, p, n, T0), SESSION_KILL);
	assert_string_equal(s.why, "duplicate version");
	/* anything but VERACK between VERSION and VERACK */
	session_init(&s, &c, true, T0);
	assert_int_equal(frame(&s, WIRE_VERSION, p, n, T0), SESSION_NONE);
	assert_int_equal(frame(&s, WIRE_PING, ping, 8, T0), SESSION_KILL);
	assert_string_equal(s.why, "ping before verack");
	/* a VERACK with a payload */
	session_init(&s, &c, true, T0);
	assert_int_equal(frame(&s, WIRE_VERSION, p, n, T0), SESSION_NONE);
	assert_int_equal(frame(&s, WIRE_VERACK, ping, 1, T0), SESSION_KILL);
	assert_string_equal(s.why, "verack before verack");
	/* after the handshake: duplicate VERACK and VERSION */
	handshake(&s, false);
	assert_int_equal(frame(&s, WIRE_VERACK, NULL, 0, T0), SESSION_KILL);
	assert_string_equal(s.why, "duplicate verack");
	handshake(&s, false);
	p = version_payload(&v, &n);
	assert_int_equal(frame(&s, WIRE_VERSION, p, n, T0), SESSION_KILL);
	assert_string_equal(s.why, "duplicate version");
}

static void test_not_admitted(void **state)
{
	struct session s;
	struct session_cfg c;
	struct wire_version v;
	const uint8_t *p;
	size_t n;

	our_cfg(&c);
	peer_version(&v);
	session_init(&s, &c, true, T0);
	p = version_payload(&v, &n);
	frame(&s, WIRE_VERSION, p, n, T0);
	assert_int_equal(frame(&s, WIRE_VERACK, NULL, 0, T0), SESSION_READY);
	/* the caller did not activate: no frame is accepted */
	assert_int_equal(frame(&s, WIRE_GETADDR, NULL, 0, T0), SESSION_KILL);
}

static void test_handshake_timeout(void **state)
{
	struct session s;
	struct session_cfg c;
	struct wire_version v;
	const uint8_t *p;
	size_t n;

	our_cfg(&c);
	session_init(&s, &c, true, T0);
	assert_int_equal(tick(&s, T0 + SESSION_HANDSHAKE_MS - 1), SESSION_NONE);
	assert_int_equal(tick(&s, T0 + SESSION_HANDSHAKE_MS), SESSION_KILL);
	assert_string_equal(s.why, "handshake timeout");
	/* VERSION without VERACK: still a timeout (no PING before ready) */
	session_init(&s, &c, true, T0);
	peer_version(&v);
	p = version_payload(&v, &n);
	frame(&s, WIRE_VERSION, p, n, T0);
	wb_reset(&out);
	assert_int_equal(tick(&s, T0 + 5000), SESSION_NONE);
	assert_int_equal(out.len, 0);
	assert_int_equal(tick(&s, T0 + SESSION_HANDSHAKE_MS), SESSION_KILL);
}

static void test_ping_pong(void **state)
{
	struct session s;
	uint8_t t[4], b[8];
	uint64_t x = 0, nonce;

	handshake(&s, true);
	/* their PING is answered with the same nonce */
	put_le64(b, 0x1122334455667788ull);
	assert_int_equal(frame(&s, WIRE_PING, b, 8, T0 + 20), SESSION_NONE);
	assert_int_equal(out_types(t, 4, &x), 1);
	assert_int_equal(t[0], WIRE_PONG);
	assert_int_equal(x, 0x1122334455667788ull);
	assert_int_equal(frame(&s, WIRE_PING, b, 7, T0 + 20), SESSION_KILL);
	assert_string_equal(s.why, "malformed ping");

	/* our PING (sent at activate, T0 + 10): a wrong nonce is ignored,
	 * the right one gives the round trip */
	handshake(&s, true);
	nonce = s.ping_nonce;
	put_le64(b, nonce ^ 2);
	assert_int_equal(frame(&s, WIRE_PONG, b, 8, T0 + 30), SESSION_NONE);
	put_le64(b, nonce);
	assert_int_equal(frame(&s, WIRE_PONG, b, 8, T0 + 35), SESSION_PONG);
	assert_int_equal(s.rtt_ms, 25);
	assert_int_equal(s.ping_nonce, 0);
	/* again: no ping outstanding, ignored */
	assert_int_equal(frame(&s, WIRE_PONG, b, 8, T0 + 36), SESSION_NONE);
	assert_int_equal(frame(&s, WIRE_PONG, b, 9, T0 + 36), SESSION_KILL);
	assert_string_equal(s.why, "malformed pong");

	/* session_ping: not while one is outstanding */
	handshake(&s, true);
	assert_false(session_ping(&s, T0 + 20, &out));
	put_le64(b, s.ping_nonce);
	assert_int_equal(frame(&s, WIRE_PONG, b, 8, T0 + 30), SESSION_PONG);
	assert_true(session_ping(&s, T0 + 40, &out));
	assert_int_equal(out_types(t, 4, &x), 1);
	assert_int_equal(t[0], WIRE_PING);
	assert_int_equal(x, s.ping_nonce);
	assert_int_not_equal(x, nonce); /* a fresh nonce */
}

static void test_getaddr_once_and_dispatch(void **state)
{
	struct session s;
	uint8_t one = 0;

	handshake(&s, false);
	assert_int_equal(frame(&s, WIRE_GETADDR, NULL, 0, T0), SESSION_GETADDR);
	assert_int_equal(frame(&s, WIRE_GETADDR, NULL, 0, T0), SESSION_NONE);
	assert_int_equal(frame(&s, WIRE_GETADDR, NULL, 0, T0), SESSION_NONE);
	assert_int_equal(frame(&s, WIRE_ADDR, NULL, 0, T0), SESSION_ADDR);
	for (uint8_t t = WIRE_PACKET; t < WIRE_TYPE_MAX; t++)
		assert_int_equal(frame(&s, t, &one, 1, T0), SESSION_GOSSIP);
	assert_int_equal(out.len, 0);
	assert_int_equal(frame(&s, WIRE_GETADDR, &one, 1, T0), SESSION_KILL);
	assert_string_equal(s.why, "malformed getaddr");
	handshake(&s, false);
	assert_int_equal(frame(&s, 0, NULL, 0, T0), SESSION_KILL);
	handshake(&s, false);
	assert_int_equal(frame(&s, WIRE_TYPE_MAX, NULL, 0, T0), SESSION_KILL);
}

/* A quiet link: PING after SESSION_QUIET_MS of silence; unanswered with
 * nothing received for SESSION_PONG_MS: dead. */
static void test_keepalive_dead_link(void **state)
{
	struct session s;
	uint8_t t[4], b[8];
	uint64_t now = T0 + 10;

	handshake(&s, true);
	put_le64(b, s.ping_nonce);
	assert_int_equal(frame(&s, WIRE_PONG, b, 8, now), SESSION_PONG);
	/* silence: no PING before QUIET ms */
	assert_int_equal(tick(&s, now + SESSION_QUIET_MS - 1), SESSION_NONE);
	assert_int_equal(out.len, 0);
	now += SESSION_QUIET_MS;
	assert_int_equal(tick(&s, now), SESSION_NONE);
	assert_int_equal(out_types(t, 4, NULL), 1);
	assert_int_equal(t[0], WIRE_PING);
	/* no second PING while one is outstanding */
	assert_int_equal(tick(&s, now + 1000), SESSION_NONE);
	assert_int_equal(out.len, 0);
	assert_int_equal(tick(&s, now + SESSION_PONG_MS - 1), SESSION_NONE);
	assert_int_equal(tick(&s, now + SESSION_PONG_MS), SESSION_KILL);
	assert_memory_equal(s.why, "ping timeout", 12);
}

/* Bytes received after the PING (a long frame arriving): alive; the
 * unanswered PING ends the link only at the idle limit. */
static void test_keepalive_receiving(void **state)
{
	struct session s;
	uint64_t now = T0 + 10; /* the activate PING */

	handshake(&s, true);
	for (uint64_t k = 1; k < SESSION_IDLE_MS / 1000; k++) {
		session_on_recv(&s, now + k * 1000);
		assert_int_equal(tick(&s, now + k * 1000), SESSION_NONE);
	}
	session_on_recv(&s, now + SESSION_IDLE_MS);
	assert_int_equal(tick(&s, now + SESSION_IDLE_MS), SESSION_KILL);
	assert_string_equal(s.why, "no pong in 60 s");
}

/* Our PING queued behind a long transfer to a slow peer: while output is
 * moving with more waiting the pong deadline waits. */
static void test_keepalive_busy_output(void **state)
{
	struct session s;
	struct session_io io = {.out_pending = 1 << 20, .out_written = 0};
	uint64_t now = T0 + 10;

	handshake(&s, true);
	for (int k = 1; k <= 20; k++) {
		io.out_written += 10000;
		assert_int_equal(session_tick(&s, &io, now + (uint64_t)k * 1000,
		                              &out), SESSION_NONE);
	}
	/* output stops moving: dead PONG_MS after the last move */
	now += 20000;
	assert_int_equal(session_tick(&s, &io, now + SESSION_PONG_MS - 1, &out),
	                 SESSION_NONE);
	assert_int_equal(session_tick(&s, &io, now + SESSION_PONG_MS, &out),
	                 SESSION_KILL);
	assert_memory_equal(s.why, "ping timeout", 12);
}

/* The pong deadline passed but the kernel keeps hearing from the peer
 * (ACKs of our bytes): a congested path, kept up to FROZEN ms without an
 * application byte; once the kernel too is silent for PONG ms, dead. */
static void test_keepalive_congested(void **state)
{
	struct session s;
	struct session_io io = {0};
	uint64_t now = T0 + 10; /* the activate PING */

	handshake(&s, true);
	for (uint64_t k = 1000; k < SESSION_FROZEN_MS; k += 1000) {
		io.tcp_heard_ms = now + k - 500;
		assert_int_equal(session_tick(&s, &io, now + k, &out),
		                 SESSION_NONE);
	}
	io.tcp_heard_ms = now + SESSION_FROZEN_MS - 500;
	assert_int_equal(session_tick(&s, &io, now + SESSION_FROZEN_MS, &out),
	                 SESSION_KILL);
	assert_memory_equal(s.why, "ping timeout", 12);

	/* heard by the kernel only before the PING: no extension */
	handshake(&s, true);
	io.tcp_heard_ms = now - 5;
	assert_int_equal(session_tick(&s, &io, now + SESSION_PONG_MS, &out),
	                 SESSION_KILL);
	/* heard after the PING but long ago: none either */
	handshake(&s, true);
	io.tcp_heard_ms = now + 100;
	assert_int_equal(session_tick(&s, &io, now + SESSION_PONG_MS - 1, &out),
	                 SESSION_NONE);
	assert_int_equal(session_tick(&s, &io, now + SESSION_PONG_MS + 200,
	                              &out), SESSION_KILL);
}

static void test_ping_every(void **state)
{
	struct session s;
	uint8_t t[4], b[8];
	uint64_t now = T0 + 10;
	unsigned pings = 0;

	handshake(&s, true);
	put_le64(b, s.ping_nonce);
	frame(&s, WIRE_PONG, b, 8, now);
	/* data every 500 ms: the link is never quiet; a PING every 30 s */
	for (uint64_t ms = 500; ms <= 61000; ms += 500) {
		session_on_recv(&s, now + ms);
		assert_int_equal(tick(&s, now + ms), SESSION_NONE);
		if (out.len) {
			assert_int_equal(out_types(t, 4, NULL), 1);
			assert_int_equal(t[0], WIRE_PING);
			pings++;
			put_le64(b, s.ping_nonce);
			frame(&s, WIRE_PONG, b, 8, now + ms);
		}
	}
	assert_int_equal(pings, 2);
}

static void test_idle_timeout(void **state)
{
	struct session s;
	struct session_cfg c;
	struct wire_version v;
	const uint8_t *p;
	size_t n;
	uint8_t b[8];

	/* quiet/pong limits above idle: the idle rule is what ends it */
	our_cfg(&c);
	c.quiet_ms = c.pong_ms = 100000;
	session_init(&s, &c, true, T0);
	peer_version(&v);
	p = version_payload(&v, &n);
	frame(&s, WIRE_VERSION, p, n, T0);
	frame(&s, WIRE_VERACK, NULL, 0, T0);
	session_activate(&s, T0, &out);
	put_le64(b, s.ping_nonce);
	assert_int_equal(frame(&s, WIRE_PONG, b, 8, T0), SESSION_PONG);
	assert_int_equal(tick(&s, T0 + SESSION_IDLE_MS - 1), SESSION_NONE);
	assert_int_equal(tick(&s, T0 + SESSION_IDLE_MS), SESSION_KILL);
	assert_string_equal(s.why, "timeout (60 s without data)");
}

static void test_recv_paused(void **state)
{
	struct session s;
	struct session_io io = {.recv_paused = true};
	uint64_t now = T0 + 10;

	/* not read on purpose (its output is over the high mark, moving) */
	handshake(&s, true);
	io.out_pending = 1;
	for (uint64_t k = 1; k <= 120; k++) {
		io.out_written += 1;
		assert_int_equal(session_tick(&s, &io, now + k * 1000, &out),
		                 SESSION_NONE);
	}
}

static void test_output_stall(void **state)
{
	struct session s;
	struct session_io io = {.out_pending = 100, .out_written = 5};
	uint64_t now = T0 + 10;

	handshake(&s, true);
	/* the peer keeps talking (so no ping timeout) but takes nothing */
	assert_int_equal(session_tick(&s, &io, now, &out), SESSION_NONE);
	for (uint64_t k = 1; k < SESSION_STALL_MS / 1000; k++) {
		session_on_recv(&s, now + k * 1000);
		assert_int_equal(session_tick(&s, &io, now + k * 1000, &out),
		                 SESSION_NONE);
	}
	/* one byte taken: the clock restarts */
	io.out_written++;
	now += SESSION_STALL_MS - 1000;
	assert_int_equal(session_tick(&s, &io, now, &out), SESSION_NONE);
	session_on_recv(&s, now + SESSION_STALL_MS - 1);
	assert_int_equal(session_tick(&s, &io, now + SESSION_STALL_MS - 1, &out),
	                 SESSION_NONE);
	session_on_recv(&s, now + SESSION_STALL_MS);
	assert_int_equal(session_tick(&s, &io, now + SESSION_STALL_MS, &out),
	                 SESSION_KILL);
	assert_string_equal(s.why, "output stalled (100 bytes not taken in 15 s)");
	/* also before the handshake */
	struct session_cfg c;
	our_cfg(&c);
	c.handshake_ms = 100000;
	session_init(&s, &c, false, T0);
	io.out_pending = 10;
	assert_int_equal(session_tick(&s, &io, T0, &out), SESSION_NONE);
	assert_int_equal(session_tick(&s, &io, T0 + SESSION_STALL_MS, &out),
	                 SESSION_KILL);
}

/* The clock given is whatever the caller passes: a value before an
 * earlier one (never from a monotonic clock) kills nothing. */
static void test_clock_backwards(void **state)
{
	struct session s;

	handshake(&s, true);
	session_on_recv(&s, T0 + 50000);
	assert_int_equal(tick(&s, T0 + 40000), SESSION_NONE);
	assert_int_equal(tick(&s, 5), SESSION_NONE);
	assert_false(s.dead);
}

static int setup(void **state)
{
	wb_init(&out);
	wb_init(&tmp);
	return 0;
}

static int teardown(void **state)
{
	wb_fini(&out);
	wb_fini(&tmp);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_outbound),
		cmocka_unit_test(test_handshake_inbound),
		cmocka_unit_test(test_before_version),
		cmocka_unit_test(test_malformed_version),
		cmocka_unit_test(test_version_rejected),
		cmocka_unit_test(test_duplicates_and_order),
		cmocka_unit_test(test_not_admitted),
		cmocka_unit_test(test_handshake_timeout),
		cmocka_unit_test(test_ping_pong),
		cmocka_unit_test(test_getaddr_once_and_dispatch),
		cmocka_unit_test(test_keepalive_dead_link),
		cmocka_unit_test(test_keepalive_receiving),
		cmocka_unit_test(test_keepalive_busy_output),
		cmocka_unit_test(test_keepalive_congested),
		cmocka_unit_test(test_ping_every),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_recv_paused),
		cmocka_unit_test(test_output_stall),
		cmocka_unit_test(test_clock_backwards),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
