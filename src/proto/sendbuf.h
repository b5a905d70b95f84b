/* sendbuf.h - an output buffer sized in time, not bytes (docs/daemon.md
 * "Output buffers", docs/PROTOCOL.md 6).  What a connection's output
 * buffer holds is sent in the order it was written, whatever its
 * priority: the priority send queues of gossip (gossip_push.c) order only
 * what has not reached it.  So the buffer should hold no more than a
 * short time of what the link carries: the rest waits in the queues,
 * where a packet of higher priority overtakes it.
 *
 * A sendbuf measures a buffer's drain rate while it holds bytes (bytes
 * that left it / time it was not empty, over samples of SENDBUF_WIN_US of
 * such time or SENDBUF_WIN_BYTES) and sizes the buffer at rate x time_ms,
 * within [floor, ceil]; before the first sample, at floor.  The caller
 * reports what is added and what leaves (net.c: the output evbuffer's
 * callback; the simulator: its link model), with the clock passed in
 * (microseconds, monotonic).  No I/O. */
#ifndef DEX_SENDBUF_H
#define DEX_SENDBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The daemon's sizing (net.c; the simulator's defaults): at most
 * SENDBUF_TIME_MS of the measured rate, at least SENDBUF_FLOOR (a few
 * packets: a fast link measures its rate within its first
 * SENDBUF_WIN_BYTES and is then sized by it). */
#define SENDBUF_TIME_MS 50u
#define SENDBUF_FLOOR 1024u
/* A rate sample closes after this much time with bytes waiting, or this
 * many bytes drained; the rate is the mean of the last and the new. */
#define SENDBUF_WIN_US 50000u
#define SENDBUF_WIN_BYTES (64u << 10)

struct sendbuf {
	bool busy;               /* the buffer holds bytes */
	uint64_t mark_us;        /* ... busy time counted up to here */
	uint64_t acc_bytes;      /* the open sample: bytes drained */
	uint64_t acc_us;         /* ... and busy time */
	uint64_t rate;           /* bytes/s, 0 = not measured yet */
	uint64_t samples;        /* closed samples */
};

void sendbuf_init(struct sendbuf *s);
/* Bytes were added at now_us to a buffer that held `before` bytes. */
void sendbuf_added(struct sendbuf *s, uint64_t now_us, size_t before);
/* n bytes left the buffer at now_us; `after` bytes remain. */
void sendbuf_drained(struct sendbuf *s, uint64_t now_us, size_t n,
                     size_t after);
/* The most the buffer should hold: rate x time_ms within [floor, ceil]
 * (floor before the first sample; ceil when time_ms is 0). */
size_t sendbuf_cap(const struct sendbuf *s, unsigned time_ms, size_t floor,
                   size_t ceil);
/* What may be added to a buffer holding `queued` bytes (0 when full). */
size_t sendbuf_room(const struct sendbuf *s, size_t queued, unsigned time_ms,
                    size_t floor, size_t ceil);

#endif
