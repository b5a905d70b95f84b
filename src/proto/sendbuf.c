/* sendbuf.c - an output buffer sized in time (sendbuf.h). */
#include "proto/sendbuf.h"

#include <string.h>

void sendbuf_init(struct sendbuf *s)
{
	memset(s, 0, sizeof(*s));
}

void sendbuf_added(struct sendbuf *s, uint64_t now_us, size_t before)
{
	if (!s->busy || before == 0) {
		s->busy = true;
		s->mark_us = now_us;
	}
}

static void sample(struct sendbuf *s)
{
	uint64_t r = s->acc_bytes * 1000000u / (s->acc_us ? s->acc_us : 1);

	if (r == 0)
		r = 1;
	s->rate = s->rate ? (s->rate + r) / 2 : r;
	s->samples++;
	s->acc_bytes = s->acc_us = 0;
}

void sendbuf_drained(struct sendbuf *s, uint64_t now_us, size_t n,
                     size_t after)
{
	if (s->busy && now_us > s->mark_us) {
		s->acc_us += now_us - s->mark_us;
		s->mark_us = now_us;
	}
	s->acc_bytes += n;
	if (after == 0)
		s->busy = false;
	if (s->acc_us >= SENDBUF_WIN_US || s->acc_bytes >= SENDBUF_WIN_BYTES)
		sample(s);
}

size_t sendbuf_cap(const struct sendbuf *s, unsigned time_ms, size_t floor,
                   size_t ceil)
{
	uint64_t c;

	if (time_ms == 0)
		return ceil;
	c = s->rate ? s->rate * time_ms / 1000u : floor;
	if (c < floor)
		c = floor;
	if (c > ceil)
		c = ceil;
	return (size_t)c;
}

size_t sendbuf_room(const struct sendbuf *s, size_t queued, unsigned time_ms,
                    size_t floor, size_t ceil)
{
	size_t c = sendbuf_cap(s, time_ms, floor, ceil);

	return queued >= c ? 0 : c - queued;
}
