/* events_int.h - the state shared by events_core.c (registry, hooks,
 * delivery: linked into anything that stores packets) and events.c (the
 * SSE streams, the timers, events_new/events_free).  Private to them. */
#ifndef DEX_EVENTS_INT_H
#define DEX_EVENTS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "node/events.h"

#define EVENTS_PENDING_MAX 65536     /* stored packets awaiting delivery */

struct sse;

struct events {
	struct node *n;
	struct subs *subs;
	struct event *flush_ev, *timer_ev;
	uint8_t (*pend)[32];
	size_t npend;
	struct sse *sses;
	uint32_t purge_lo;
	size_t outmax;
	unsigned ticks;
	/* render cache: the last packet rendered */
	const struct stored *c_sp;
	uint8_t c_hash[32];
	uint32_t c_cancelled;
	char *c_text;
	size_t c_len;
	uint64_t delivered, overflows;
	size_t nstreams;    /* entries of sses */
	/* a light node (events_new): told of every subscription added
	 * (false: refused) and removed (lightcli_sub) */
	bool (*sink_hook)(struct node *n, const struct sub_filter *f,
	                  bool add);
};


/* flush_ev's callback (arg: the struct events). */
void events_flush_cb(evutil_socket_t fd, short what, void *arg);

#endif
