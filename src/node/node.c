/* node.c - the running node's own logic (node.h): the clock, admission of
 * received and local packets into the store with the DEX_stats counters,
 * the lag averages and the rate ring, and the 1-second tick (purge, LAG
 * flag, the periodic "stats:" log line, the seed's tx/sec printout).
 *
 * Owns n->store, n->cancels and n->tick_ev (node_init/node_fini).  All of
 * it runs on the event-loop thread; node_now()/node_now_ms() (wall) and
 * node_mono_ms() (monotonic) are the only clock reads of the daemon (besides log timestamps) and may be called
 * from any thread.
 */
#include "node/node.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/fhold.h"
#include "core/txpow.h"
#include "core/util.h"
#include "node/cancel.h"
#include "node/events.h"
#include "node/log.h"
#include "node/net.h"
#include "proto/gossip.h"

#define RATE_SLOTS 10
#define LAG_MIN 1   /* seconds: lag samples outside [1, 59] are ignored */
#define LAG_MAX 59
#define STOP_DELAY_MS 100 /* lets the `stop` answer reach its client */

static uint64_t mock_ms;

void node_set_mocktime(uint64_t ms)
{
	__atomic_store_n(&mock_ms, ms, __ATOMIC_RELAXED);
}

/* ms on clock `id`, or the mock time when set (both clocks then read
 * it: the tests move them together). */
static uint64_t clock_ms(clockid_t id)
{
	uint64_t m = __atomic_load_n(&mock_ms, __ATOMIC_RELAXED);
	struct timespec ts;

	if (m)
		return m;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t node_now_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

uint64_t node_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

uint32_t node_now(void)
{
	return (uint32_t)(node_now_ms() / 1000);
}

/* Move the rate ring forward to second `now`, zeroing the slots of the
 * seconds that passed without packets. */
static void rate_advance(struct node_counters *c, uint32_t now)
{
	uint32_t gap;

	if (now <= c->rate_sec)
		return;
	gap = now - c->rate_sec;
	if (gap >= RATE_SLOTS || c->rate_sec == 0) {
		memset(c->rate_ring, 0, sizeof(c->rate_ring));
	} else {
		for (uint32_t s = c->rate_sec + 1; s <= now; s++)
			c->rate_ring[s % RATE_SLOTS] = 0;
	}
	c->rate_sec = now;
}

static void count_added(struct node *n, uint32_t now)
{
	n->ctr.added++;
	rate_advance(&n->ctr, now);
	/* A clock step backwards lands in the current slot. */
	n->ctr.rate_ring[n->ctr.rate_sec % RATE_SLOTS]++;
}

double node_rate(const struct node *n, uint32_t now)
{
	const struct node_counters *c = &n->ctr;
	uint64_t sum = 0;

	if (c->rate_sec == 0 || now >= c->rate_sec + RATE_SLOTS)
		return 0.0;
	/* Slots hold seconds rate_sec-9 .. rate_sec; keep those > now-10. */
	for (uint32_t i = 0; i < RATE_SLOTS; i++) {
		uint32_t s;

		if (i > c->rate_sec)
			break;
		s = c->rate_sec - i;
		if (now < RATE_SLOTS || s > now - RATE_SLOTS)
			sum += c->rate_ring[s % RATE_SLOTS];
	}
	return (double)sum / 10.0;
}

const double node_lag_bounds[] = { 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30,
                                   60, 120, 300 };
const size_t node_lag_nbounds = sizeof node_lag_bounds /
                                sizeof node_lag_bounds[0];

/* The lag histogram of GET /metrics: every stored received packet, at ms
 * resolution (its timestamp is whole seconds, so a packet is seen up to
 * 1 s "late" on top of mining and travel). */
static void lag_observe(struct node_counters *c, uint64_t now_ms,
                        uint32_t timestamp)
{
	hist_observe(&c->lag_hist,
	             ((double)now_ms - (double)timestamp * 1000.0) / 1000.0);
}

/* API.md 4.4: three moving averages of recvtime - timestamp over samples
 * between 1 and 59 s, all starting at the first sample. */
static void lag_sample(struct node_counters *c, uint32_t recvtime,
                       uint32_t timestamp)
{
	double x;

	if (recvtime < timestamp + LAG_MIN || recvtime > timestamp + LAG_MAX)
		return;
	x = (double)(recvtime - timestamp);
	if (!c->lag_init) {
		c->lag[0] = c->lag[1] = c->lag[2] = x;
		c->lag_init = true;
		return;
	}
	c->lag[0] = 0.999 * c->lag[0] + 0.001 * x;
	c->lag[1] = 0.9999 * c->lag[1] + 0.0001 * x;
	c->lag[2] = 0.99999 * c->lag[2] + 0.00001 * x;
}

int node_ingest(struct node *n, const uint8_t *pkt, size_t len,
                struct stored **out, enum drop_reason *reason)
{
	uint64_t now_ms = node_now_ms();
	uint32_t now = (uint32_t)(now_ms / 1000);
	struct packet_view pv;
	struct pow_eval pe;
	struct stored *sp = NULL;
	enum drop_reason r;
	int rc;

	*out = NULL;
	*reason = DROP_NONE;
	n->ctr.received++;
	r = packet_check(pkt, len, now, n->cfg->txpowbits, n->cfg->purgetime,
	                 &pv, &pe);
	if (r == DROP_FUTURE && n->fhold &&
	    (uint64_t)pv.timestamp <= (uint64_t)now + DEX_FUTURE_HOLD) {
		/* Checked as it will be when due; kept if valid. */
		r = packet_check(pkt, len, pv.timestamp - DEX_FUTURE_SLACK,
		                 n->cfg->txpowbits, n->cfg->purgetime, &pv, &pe);
		if (r != DROP_NONE)
			goto drop;
		rc = fhold_put(n->fhold, pkt, len, pv.timestamp, pe.priority,
		               pe.hash, -1);
		if (rc == E_OK || rc == E_DUP) {
			*reason = DROP_FUTURE;
			return E_AGAIN;
		}
		r = DROP_FUTURE;
	}
	if (r != DROP_NONE)
		goto drop;
	rc = store_put(n->store, pkt, len, &pe, now, &sp);
	switch (rc) {
	case E_OK:
		break;
	case E_DUP:
		n->ctr.duplicates++;
		*out = sp;
		return E_DUP;
	case E_NOMEM:
		/* Store full of packets at least as important: shed it. */
		r = DROP_OVERLOAD;
		goto drop;
	default:
		/* packet_check passed, so only a clock edge gets here. */
		r = pe.priority < 0 ? DROP_LOWPRIORITY : DROP_EXPIRED;
		goto drop;
	}
	count_added(n, now);
	lag_sample(&n->ctr, now, pv.timestamp);
	lag_observe(&n->ctr, now_ms, pv.timestamp);
	if (n->cancels)
		cancel_on_stored(n, sp);
	events_on_stored(n, sp);
	*out = sp;
	return E_OK;
drop:
	n->ctr.dropped[r]++;
	*reason = r;
	if (log_enabled(LOG_DEX))
		log_msg(LOG_DEX, "dropped packet of %zu bytes: %s", len,
		        drop_reason_name[r]);
	return E_PROTO;
}

int node_add_local(struct node *n, const uint8_t *pkt, size_t len,
                   struct stored **out)
{
	uint32_t now = node_now();
	struct pow_eval pe;
	struct stored *sp = NULL;
	int rc;

	*out = NULL;
	txpow_eval(pkt, len, n->cfg->txpowbits, &pe);
	rc = store_put(n->store, pkt, len, &pe, now, &sp);
	if (rc == E_DUP)
		*out = sp;
	if (rc != E_OK)
		return rc;
	count_added(n, now);
	if (n->cancels)
		cancel_on_stored(n, sp);
	if (n->net)
		net_on_new_packet(n->net, sp, -1);
	events_on_stored(n, sp);
	*out = sp;
	return E_OK;
}

bool node_synced(const struct node *n)
{
	if (n->ctr.overloaded)
		return false;
	return n->net ? net_synced(n->net) : true;
}

static void log_stats(struct node *n, uint32_t now)
{
	struct store_stats st;
	uint8_t fp[32];
	char fphex[65];
	uint64_t dropped = 0;

	store_get_stats(n->store, &st);
	store_fingerprint(n->store, fp);
	hex_encode(fphex, fp, 32);
	fphex[16] = '\0';
	for (int i = 0; i < DROP_MAX; i++)
		dropped += n->ctr.dropped[i];
	log_msg(LOG_INFO, "stats: %.1f/s peers=%zu held=%llu fp=%s "
	        "dropped=%llu%s", node_rate(n, now),
	        n->net ? net_peer_count(n->net) : (size_t)0,
	        (unsigned long long)st.count, fphex,
	        (unsigned long long)dropped, n->ctr.overloaded ? " LAG" : "");
}

struct release_ctx {
	struct node *n;
	uint32_t now;
};

/* A held future packet is due: store it and hand it to the network. */
static void release_cb(void *arg, const uint8_t *pkt, size_t len, int peer)
{
	struct release_ctx *rc = arg;
	struct node *n = rc->n;
	struct packet_view pv;
	struct pow_eval pe;
	struct stored *sp = NULL;
	enum drop_reason r;

	r = packet_check(pkt, len, rc->now, n->cfg->txpowbits,
	                 n->cfg->purgetime, &pv, &pe);
	if (r != DROP_NONE) {
		n->ctr.dropped[r]++;
		return;
	}
	int e = store_put(n->store, pkt, len, &pe, rc->now, &sp);
	if (e == E_DUP) {
		n->ctr.duplicates++;
		return;
	}
	if (e != E_OK) {
		n->ctr.dropped[e == E_NOMEM ? DROP_OVERLOAD : DROP_EXPIRED]++;
		return;
	}
	count_added(n, rc->now);
	lag_sample(&n->ctr, rc->now, pv.timestamp);
	lag_observe(&n->ctr, node_now_ms(), pv.timestamp);
	if (n->cancels)
		cancel_on_stored(n, sp);
	if (n->net)
		net_on_new_packet(n->net, sp, GOSSIP_FROM_HOLD);
	events_on_stored(n, sp);
}

/* Store (and gossip) the held future packets due at `now`. */
static void release_due(struct node *n, uint32_t now)
{
	struct release_ctx rc = { n, now };

	if (n->fhold && fhold_next(n->fhold) <= (uint64_t)now + DEX_FUTURE_SLACK)
		fhold_release(n->fhold, now + DEX_FUTURE_SLACK, release_cb, &rc);
}

void node_tick(struct node *n, uint32_t now)
{
	uint64_t od = n->ctr.dropped[DROP_OVERLOAD];
	size_t purged;

	release_due(n, now);
	events_before_purge(n, now);
	purged = store_purge(n->store, now);
	if (purged && log_enabled(LOG_DEX))
		log_msg(LOG_DEX, "purged %zu expired packets", purged);
	if (n->cancels)
		cancels_purge(n->cancels, now, n->cfg->purgetime);
	rate_advance(&n->ctr, now);

	/* LAG: the node shed packets for lack of room in the last second;
	 * held for NODE_LAG_HOLD s so a burst is visible to pollers. */
	if (od > n->last_overload_drops)
		n->overload_until = now + NODE_LAG_HOLD;
	n->last_overload_drops = od;
	n->ctr.overloaded = now < n->overload_until;

	n->tick_count++;
	if (n->tick_count % NODE_STATS_LOG_EVERY == 0 || log_enabled(LOG_DEX))
		log_stats(n, now);
}

static void on_evict(struct stored *sp, void *arg)
{
	events_on_evicted(arg, sp);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct node *n = arg;

	node_tick(n, node_now());
}

int node_init(struct node *n, struct event_base *base, struct config *cfg)
{
	struct store_config sc;

	memset(n, 0, sizeof(*n));
	n->base = base;
	n->cfg = cfg;
	n->start_time = node_now();
	(void)hist_init(&n->ctr.lag_hist, node_lag_bounds, node_lag_nbounds);
	memset(&sc, 0, sizeof sc);
	sc.purgetime = cfg->purgetime;
	sc.maxmem = cfg->maxmem;
	sc.on_evict = on_evict;
	sc.evict_arg = n;
	n->store = store_new(&sc);
	if (!n->store)
		return E_NOMEM;
	n->cancels = cancels_new();
	if (!n->cancels) {
		store_free(n->store);
		n->store = NULL;
		return E_NOMEM;
	}
	{
		uint64_t b = cfg->maxmem / DEX_FUTURE_HOLD_DIV;
		n->fhold = fhold_new(b < (1u << 20) ? (1u << 20) : (size_t)b,
		                     DEX_FUTURE_HOLD_COUNT);
	}
	return E_OK;
}

int node_start_tick(struct node *n)
{
	struct timeval tv = { 1, 0 };

	n->tick_ev = event_new(n->base, -1, EV_PERSIST, tick_cb, n);
	if (!n->tick_ev || event_add(n->tick_ev, &tv) != 0)
		return E_NOMEM;
	return E_OK;
}

void node_fini(struct node *n)
{
	if (n->tick_ev) {
		event_free(n->tick_ev);
		n->tick_ev = NULL;
	}
	if (n->cancels) {
		cancels_free(n->cancels);
		n->cancels = NULL;
	}
	fhold_free(n->fhold);
	n->fhold = NULL;
	if (n->store) {
		store_free(n->store);
		n->store = NULL;
	}
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct node *n = arg;

	event_base_loopbreak(n->base);
}

void node_request_stop(struct node *n)
{
	struct timeval tv = { 0, STOP_DELAY_MS * 1000 };

	if (n->stop_requested)
		return;
	n->stop_requested = 1;
	/* Workers' cancel checks read this at once; the loop leaves after a
	 * short delay so the reply to `stop` is flushed first.  main() then
	 * closes the listeners and frees everything. */
	atomic_store(&n->shutting_down, 1);
	log_msg(LOG_INFO, "shutdown requested");
	/* a running file operation answers "shutting down" (API.md 4.9) */
	if (n->stop_hook)
		n->stop_hook(n);
	if (event_base_once(n->base, -1, EV_TIMEOUT, stop_cb, n, &tv) != 0)
		event_base_loopbreak(n->base);
}
