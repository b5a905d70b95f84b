/* session.c - a peer connection's handshake and control messages
 * (session.h, docs/PROTOCOL.md 2 and 4).  Sans I/O. */
#include "proto/session.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"

static uint32_t or_default(uint32_t v, uint32_t d)
{
	return v ? v : d;
}

/* splitmix64: PING nonces (not secret; never 0). */
static uint64_t next_nonce(struct session *s)
{
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return z | 1;
}

static enum session_ev sess_kill(struct session *s, const char *why)
{
	if (!s->dead) {
		s->dead = true;
		snprintf(s->why, sizeof(s->why), "%s", why);
	}
	return SESSION_KILL;
}

/* Killed for breaking the protocol (the caller scores it). */
static enum session_ev sess_violation(struct session *s, const char *why)
{
	if (!s->dead)
		s->violation = true;
	return sess_kill(s, why);
}

void session_init(struct session *s, const struct session_cfg *cfg,
                  bool inbound, uint64_t now_ms)
{
	memset(s, 0, sizeof(*s));
	s->cfg = *cfg;
	s->cfg.handshake_ms = or_default(cfg->handshake_ms,
	                                 SESSION_HANDSHAKE_MS);
	s->cfg.quiet_ms = or_default(cfg->quiet_ms, SESSION_QUIET_MS);
	s->cfg.ping_every_ms = or_default(cfg->ping_every_ms,
	                                  SESSION_PING_EVERY_MS);
	s->cfg.pong_ms = or_default(cfg->pong_ms, SESSION_PONG_MS);
	s->cfg.idle_ms = or_default(cfg->idle_ms, SESSION_IDLE_MS);
	s->cfg.stall_ms = or_default(cfg->stall_ms, SESSION_STALL_MS);
	s->cfg.frozen_ms = or_default(cfg->frozen_ms, SESSION_FROZEN_MS);
	s->inbound = inbound;
	s->rng = cfg->seed;
	s->start_ms = s->last_recv_ms = s->out_progress_ms = now_ms;
}

static void send_version(struct session *s, uint32_t wall, struct wbuf *out)
{
	struct wire_version v = s->cfg.local;

	v.time = wall;
	wire_version_encode(out, &v);
	s->sent_version = true;
}

void session_connected(struct session *s, uint32_t wall, struct wbuf *out)
{
	if (!s->inbound && !s->sent_version && !s->dead)
		send_version(s, wall, out);
}

void session_on_recv(struct session *s, uint64_t now_ms)
{
	if (now_ms > s->last_recv_ms)
		s->last_recv_ms = now_ms;
}

static void send_ping(struct session *s, uint64_t now_ms, struct wbuf *out)
{
	s->ping_nonce = next_nonce(s);
	s->ping_sent_ms = s->last_ping_ms = now_ms;
	s->pings_sent++;
	wire_nonce_encode(out, WIRE_PING, s->ping_nonce);
}

static enum session_ev on_version(struct session *s, const uint8_t *p,
                                  size_t n, uint32_t wall, struct wbuf *out)
{
	char why[120];

	if (wire_version_decode(p, n, &s->pv) != E_OK)
		return sess_violation(s, "malformed version");
	s->got_version = true;
	if (!wire_version_check(&s->pv, s->cfg.txpowbits, s->cfg.purgetime,
	                        s->cfg.local.nonce, why, sizeof(why))) {
		s->self = s->pv.nonce == s->cfg.local.nonce;
		s->rejected = true;
		return sess_kill(s, why);
	}
	if (!s->sent_version)
		send_version(s, wall, out);
	wb_begin(out, WIRE_VERACK);
	wb_end(out);
	s->sent_verack = true;
	return SESSION_NONE;
}

enum session_ev session_on_frame(struct session *s, uint8_t type,
                                 const uint8_t *p, size_t n, uint64_t now_ms,
                                 uint32_t wall, struct wbuf *out)
{
	char why[64];
	uint64_t x;

	if (s->dead)
		return SESSION_KILL;
	session_on_recv(s, now_ms);
	if (!s->got_version) {
		if (type != WIRE_VERSION) {
			snprintf(why, sizeof(why), "%s before version",
			         wire_type_name(type));
			return sess_violation(s, why);
		}
		return on_version(s, p, n, wall, out);
	}
	if (type == WIRE_VERSION)
		return sess_violation(s, "duplicate version");
	if (!s->got_verack) {
		if (type != WIRE_VERACK || n != 0) {
			snprintf(why, sizeof(why), "%s before verack",
			         wire_type_name(type));
			return sess_violation(s, why);
		}
		s->got_verack = true;
		s->handshaken = true;
		return SESSION_READY;
	}
	if (!s->ready) /* READY returned, the caller did not activate */
		return sess_kill(s, "not admitted");
	switch (type) {
	case WIRE_VERACK:
		return sess_violation(s, "duplicate verack");
	case WIRE_PING:
		if (wire_nonce_decode(p, n, &x) != E_OK)
			return sess_violation(s, "malformed ping");
		wire_nonce_encode(out, WIRE_PONG, x);
		return SESSION_NONE;
	case WIRE_PONG:
		if (wire_nonce_decode(p, n, &x) != E_OK)
			return sess_violation(s, "malformed pong");
		if (!s->ping_nonce || x != s->ping_nonce)
			return SESSION_NONE; /* late or unsolicited: ignored */
		s->rtt_ms = now_ms > s->ping_sent_ms ? now_ms - s->ping_sent_ms
		                                      : 0;
		s->ping_nonce = 0;
		return SESSION_PONG;
	case WIRE_GETADDR:
		if (n != 0)
			return sess_violation(s, "malformed getaddr");
		/* once per connection (PROTOCOL.md 2): a 9-byte request for
		 * up to 24 KB of answer is not repeated on demand */
		if (s->addr_answered)
			return SESSION_NONE;
		s->addr_answered = true;
		return SESSION_GETADDR;
	case WIRE_ADDR:
		return SESSION_ADDR;
	default:
		if (type == 0 || type >= WIRE_TYPE_MAX)
			return sess_violation(s, "unknown frame type");
		return SESSION_GOSSIP;
	}
}

void session_activate(struct session *s, uint64_t now_ms, struct wbuf *out)
{
	if (!s->handshaken || s->ready || s->dead)
		return;
	s->ready = true;
	wb_begin(out, WIRE_GETADDR);
	wb_end(out);
	send_ping(s, now_ms, out);
}

/* ms from t to now; 0 if now is not after t (a caller's clock never goes
 * back, but nothing here relies on it). */
static uint64_t since(uint64_t now_ms, uint64_t t)
{
	return now_ms > t ? now_ms - t : 0;
}

enum session_ev session_tick(struct session *s, const struct session_io *io,
                             uint64_t now_ms, struct wbuf *out)
{
	char why[96];
	bool moved = io->out_written != s->out_written;

	if (s->dead)
		return SESSION_KILL;
	/* Output: a byte taken by the peer (or nothing waiting) is progress;
	 * taken while more waits, the link is busy carrying our data (and a
	 * PING may be queued behind it). */
	if (io->out_pending && moved)
		s->busy_ms = now_ms;
	if (io->out_pending == 0 || moved) {
		s->out_written = io->out_written;
		s->out_progress_ms = now_ms;
	} else if (since(now_ms, s->out_progress_ms) >= s->cfg.stall_ms) {
		snprintf(why, sizeof(why),
		         "output stalled (%zu bytes not taken in %u s)",
		         io->out_pending, s->cfg.stall_ms / 1000);
		return sess_kill(s, why);
	}
	if (!s->ready) {
		if (since(now_ms, s->start_ms) >= s->cfg.handshake_ms)
			return sess_kill(s, "handshake timeout");
		return SESSION_NONE;
	}
	/* We do not read a paused peer: its silence means nothing (a peer
	 * that does not drain its output is caught above). */
	if (io->recv_paused)
		session_on_recv(s, now_ms);
	if (since(now_ms, s->last_recv_ms) >= s->cfg.idle_ms) {
		snprintf(why, sizeof(why), "timeout (%u s without data)",
		         s->cfg.idle_ms / 1000);
		return sess_kill(s, why);
	}
	if (s->ping_nonce) {
		uint64_t t = s->ping_sent_ms > s->busy_ms ? s->ping_sent_ms
		                                          : s->busy_ms;
		if (since(now_ms, t) >= s->cfg.idle_ms) {
			snprintf(why, sizeof(why), "no pong in %u s",
			         s->cfg.idle_ms / 1000);
			return sess_kill(s, why);
		}
		/* the kernel still hears from the peer: congested, not dead */
		uint32_t dead_ms = io->tcp_heard_ms > t &&
		                   since(now_ms, io->tcp_heard_ms) < s->cfg.pong_ms
		                       ? s->cfg.frozen_ms
		                       : s->cfg.pong_ms;
		if (s->last_recv_ms <= s->ping_sent_ms &&
		    since(now_ms, t) >= dead_ms) {
			snprintf(why, sizeof(why),
			         "ping timeout (nothing received in %.1f s)",
			         (double)since(now_ms, s->last_recv_ms) / 1e3);
			return sess_kill(s, why);
		}
		return SESSION_NONE;
	}
	if (since(now_ms, s->last_ping_ms) >= s->cfg.ping_every_ms ||
	    (since(now_ms, s->last_recv_ms) >= s->cfg.quiet_ms &&
	     since(now_ms, s->last_ping_ms) >= s->cfg.quiet_ms))
		send_ping(s, now_ms, out);
	return SESSION_NONE;
}

bool session_ping(struct session *s, uint64_t now_ms, struct wbuf *out)
{
	if (!s->ready || s->dead || s->ping_nonce)
		return false;
	send_ping(s, now_ms, out);
	return true;
}
