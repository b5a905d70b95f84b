/* subs.h - the registry of live subscriptions (GET /events, DEX_wait):
 * their filters, the limits per client address and in total, and the
 * matching of a packet against every subscription.
 *
 * A filter has the meaning of DEX_list's (API.md 4.2): tagA, tagB and
 * pubkey33 select (empty = any; with all three empty, tagA is "general",
 * applied by the caller as DEX_list does), then priority >= minpriority
 * and the inclusive amount ranges.  Subscriptions with a tagA are kept in
 * buckets by tagA so a packet is compared only with the subscriptions of
 * its own tagA and those without one.
 *
 * No I/O, no clock, no allocation but the registry itself: a struct sub is
 * embedded in its owner (events.c).  One thread.
 */
#ifndef DEX_SUBS_H
#define DEX_SUBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/packet.h"

#define SUBS_ADDR_MAX 46 /* INET6_ADDRSTRLEN */
#define SUBS_BUCKETS 256

struct sub_filter {
	uint8_t tag_a[PACKET_TAG_MAX];
	size_t len_a;                 /* 0 = any */
	uint8_t tag_b[PACKET_TAG_MAX];
	size_t len_b;
	uint8_t pubkey[PACKET_PUBKEY_LEN];
	bool has_pk;                  /* false = any */
	int minpriority;
	uint64_t min_a, max_a, min_b, max_b; /* inclusive */
};

/* A filter that takes everything (no tag, no pubkey, full ranges). */
void sub_filter_init(struct sub_filter *f);
/* Does a packet (view pv, achieved priority) match f? */
bool sub_filter_match(const struct sub_filter *f,
                      const struct packet_view *pv, int priority);

struct sub {
	struct sub_filter f;
	char addr[SUBS_ADDR_MAX];     /* client address, for its limit */
	void *owner;
	/* private */
	struct sub *prev, *next;
	size_t bucket;                /* SUBS_BUCKETS = the no-tagA list */
	bool linked;
};

enum subs_rc {
	SUBS_OK = 0,
	SUBS_FULL,        /* the total limit is reached */
	SUBS_ADDR_FULL,   /* the limit of this client address is reached */
	SUBS_LIGHT_FULL,  /* light node: no live filter left on the full
	                   * nodes for a new filter (LC_MAX_SUBLIVE) */
};

struct subs;

/* A registry holding at most max_total subscriptions, max_per_addr of
 * them from one client address.  NULL when out of memory. */
struct subs *subs_new(size_t max_total, size_t max_per_addr);
/* Free the registry (the subscriptions belong to their owners). */
void subs_free(struct subs *r);
/* Register s (its f, addr and owner set by the caller).  SUBS_OK, or the
 * limit that refused it (s is then not registered). */
enum subs_rc subs_add(struct subs *r, struct sub *s);
/* Unregister s (no-op when it is not registered). */
void subs_remove(struct subs *r, struct sub *s);
size_t subs_count(const struct subs *r);
size_t subs_count_addr(const struct subs *r, const char *addr);

/* Call cb for every registered subscription whose filter matches the
 * packet.  cb may remove the subscription it is given (not another one).
 * Returns the number of matches. */
size_t subs_match(struct subs *r, const struct packet_view *pv,
                  int priority, void (*cb)(struct sub *s, void *arg),
                  void *arg);
/* Call cb for every registered subscription (cb may remove the one it is
 * given). */
void subs_foreach(struct subs *r, void (*cb)(struct sub *s, void *arg),
                  void *arg);

#endif
