/* session.h - one peer connection's handshake and control-message state
 * machine (docs/PROTOCOL.md 2 and 4): VERSION / VERACK order, duplicates,
 * the handshake deadline, keepalive PING / PONG with a pong deadline, the
 * idle limit, a stalled output stream, GETADDR answered once.
 *
 * Sans I/O: driven by (session, frame, now_ms) and (session, now_ms) ticks;
 * frames to send are appended to the caller's wbuf, and what the caller
 * must do is the return value (enum session_ev).  No clock reads: now_ms is
 * a monotonic clock, `wall` (unix seconds) only goes into our VERSION.  No
 * sockets, no allocation.  net.c maps it to a bufferevent; the unit tests
 * and the fuzzer drive it directly.
 */
#ifndef DEX_SESSION_H
#define DEX_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/wire.h"

/* Defaults of struct session_cfg's timers (ms). */
#define SESSION_HANDSHAKE_MS 10000u  /* VERSION + VERACK within this */
#define SESSION_QUIET_MS 3000u       /* PING after this much silence */
#define SESSION_PING_EVERY_MS 30000u /* PING at least this often (rtt) */
/* A PING unanswered this long, with not one byte received since it was
 * sent: the link is dead (quiet link: detected in QUIET + PONG ms).  The
 * deadline runs from the later of the PING and the last tick at which our
 * output moved with more of it waiting (the PING may be queued behind a
 * long transfer to a slow but live peer). */
#define SESSION_PONG_MS 7000u
#define SESSION_IDLE_MS 60000u       /* nothing received / no PONG */
/* Output waiting and not one byte of it taken by the peer this long: the
 * link (or the peer) is dead. */
#define SESSION_STALL_MS 15000u
/* The pong deadline passed but the peer's kernel still acknowledges our
 * bytes or sends some (session_io.tcp_heard_ms within the deadline): the
 * path is alive, only congested (a flow starved on a slow shared link
 * answers late), so the link is kept up to this long without a byte
 * received; a peer process frozen behind a live kernel, or a middlebox
 * that acknowledges and forwards nothing, is dropped then. */
#define SESSION_FROZEN_MS 18000u

struct session_cfg {
	/* ours: what VERSION says and what the peer's must match */
	struct wire_version local;   /* `time` is set at send from `wall` */
	int txpowbits;
	uint32_t purgetime;
	uint64_t seed;               /* PING nonces (any value) */
	/* timers, 0 = the defaults above */
	uint32_t handshake_ms, quiet_ms, ping_every_ms, pong_ms, idle_ms,
	         stall_ms, frozen_ms;
};

/* What the caller must do after a call. */
enum session_ev {
	SESSION_NONE = 0,            /* nothing (frames may have been written) */
	SESSION_READY,               /* handshake complete: admit the peer and
	                              * call session_activate(), or drop it */
	SESSION_KILL,                /* disconnect; reason in s->why */
	SESSION_PONG,                /* our PING answered: s->rtt_ms */
	SESSION_GETADDR,             /* answer with ADDR (first GETADDR only) */
	SESSION_ADDR,                /* an ADDR frame for the address book */
	SESSION_GOSSIP,              /* a dissemination frame (gossip_on_msg) */
};

/* Output state given to session_tick(). */
struct session_io {
	size_t out_pending;          /* bytes queued, not yet written */
	uint64_t out_written;        /* bytes written so far (monotone) */
	bool recv_paused;            /* the caller stopped reading this peer */
	/* The kernel heard from the peer at the TCP level (an ACK, or data not
	 * read yet) at this time (now_ms's clock); 0 = unknown or never. */
	uint64_t tcp_heard_ms;
};

struct session {
	struct session_cfg cfg;
	bool inbound;
	bool sent_version, got_version, sent_verack, got_verack;
	bool handshaken;             /* SESSION_READY returned */
	bool ready;                  /* session_activate() called */
	bool dead;                   /* SESSION_KILL returned */
	bool self;                   /* killed: the peer's nonce is ours */
	bool rejected;               /* killed by the VERSION checks */
	bool violation;              /* killed for breaking the protocol
	                              * (malformed or out-of-order frame) */
	bool addr_answered;          /* GETADDR seen */
	struct wire_version pv;      /* the peer's VERSION (got_version) */
	uint64_t start_ms;           /* session_init */
	uint64_t last_recv_ms;       /* last byte received */
	uint64_t ping_nonce;         /* outstanding PING, 0 = none */
	uint64_t ping_sent_ms;       /* ... sent then */
	uint64_t last_ping_ms;       /* last PING sent (answered or not) */
	uint64_t pings_sent;
	uint64_t rtt_ms;             /* last round trip (SESSION_PONG) */
	uint64_t out_written;        /* session_io.out_written last seen */
	uint64_t out_progress_ms;    /* ... last moved (or output empty) */
	uint64_t busy_ms;            /* last tick output moved with more left */
	uint64_t rng;
	char why[128];               /* SESSION_KILL reason */
};

void session_init(struct session *s, const struct session_cfg *cfg,
                  bool inbound, uint64_t now_ms);
/* The TCP connection is up.  The connecting side sends VERSION now; the
 * accepting side waits for the peer's. */
void session_connected(struct session *s, uint32_t wall, struct wbuf *out);
/* Bytes arrived from the peer (any, even part of a frame): liveness. */
void session_on_recv(struct session *s, uint64_t now_ms);
/* One whole frame from the peer (header already decoded: a known type,
 * payload within WIRE_MAX_PAYLOAD).  Writes the answers to out (VERSION,
 * VERACK, PONG) and says what the caller must do.  After SESSION_KILL
 * every call returns SESSION_KILL again. */
enum session_ev session_on_frame(struct session *s, uint8_t type,
                                 const uint8_t *p, size_t n, uint64_t now_ms,
                                 uint32_t wall, struct wbuf *out);
/* The caller admitted the peer after SESSION_READY: GETADDR and the first
 * PING go out. */
void session_activate(struct session *s, uint64_t now_ms, struct wbuf *out);
/* Timers: the handshake deadline, keepalive PINGs and their deadline, the
 * idle limit, a stalled output.  Call about every second.  Returns
 * SESSION_NONE or SESSION_KILL. */
enum session_ev session_tick(struct session *s, const struct session_io *io,
                             uint64_t now_ms, struct wbuf *out);
/* PING now (the `ping` RPC) unless one is outstanding.  True if sent. */
bool session_ping(struct session *s, uint64_t now_ms, struct wbuf *out);

#endif
