/* orderbook.h - DEX_orderbook as a pure function of the store (API.md 4.5).
 *
 * Asks of base/rel are held packets with (tagA, tagB) = (base, rel), bids
 * those with (rel, base).  Each becomes an entry in base/rel terms:
 *
 *          base amount   rel amount   price (rel per base, double)
 *   ask    amountA       amountB      amountB / amountA
 *   bid    amountB       amountA      amountA / amountB
 *
 * Left out: cancelled packets, amount 0 on either side, priority below
 * minpriority, another pubkey than the filter's, and whatever the caller's
 * `excluded` callback rejects (the node passes "wrong sender" there, since
 * checking signatures is not core's business).  Asks sort by price
 * ascending, bids descending; prices within 1e-15 are equal, then the
 * larger base amount first, then the newer arrival (higher seq).
 *
 * No I/O, no clock.  The result owns its arrays (orderbook_fini).
 */
#ifndef DEX_ORDERBOOK_H
#define DEX_ORDERBOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/packet.h"
#include "core/store.h"

#define ORDERBOOK_DEFAULT_ENTRIES 10
#define ORDERBOOK_PRICE_EPS 1e-15
#define ORDERBOOK_PRICE_MAX 64      /* buffer for a formatted price */

struct ob_entry {
	double price;
	uint64_t base;               /* satoshis */
	uint64_t rel;
	int priority;
	bool has_pubkey;
	uint8_t pubkey[PACKET_PUBKEY_LEN];
	uint32_t timestamp;
	uint8_t hash[32];
	uint32_t id;
	uint64_t seq;                /* arrival number, for the tie rule */
};

struct ob_params {
	const uint8_t *base; size_t len_base;   /* 1..15 bytes */
	const uint8_t *rel; size_t len_rel;
	const uint8_t *pubkey;                  /* 33 bytes or NULL = any */
	int minpriority;
	uint64_t min_a, max_a;                  /* base amount bounds */
	uint64_t min_b, max_b;                  /* rel amount bounds */
	size_t maxentries;                      /* 0 = ORDERBOOK_DEFAULT_ENTRIES */
	/* extra exclusion (NULL = none); true = leave the packet out */
	bool (*excluded)(struct stored *sp, void *arg);
	void *arg;
};

struct orderbook {
	struct ob_entry *asks; size_t nasks;
	struct ob_entry *bids; size_t nbids;
};

/* Build the book.  Returns E_OK (out filled, possibly empty lists) or
 * E_INVAL when base or rel is empty. */
int orderbook_build(const struct store *s, const struct ob_params *p,
                    struct orderbook *out);
void orderbook_fini(struct orderbook *ob);

/* Order of two entries: < 0 if a comes first.  bids: descending price. */
int orderbook_cmp(const struct ob_entry *a, const struct ob_entry *b,
                  bool bids);
/* Sort n entries and return the count kept (at most maxentries). */
size_t orderbook_sort(struct ob_entry *v, size_t n, bool bids,
                      size_t maxentries);

/* `price`: "%.8f" of price + 0.0000000049 when price >= 1e-8 - 1e-15,
 * else "%.15f" of price.  `price15`: "%.15f". */
void orderbook_price(char out[ORDERBOOK_PRICE_MAX], double price);
void orderbook_price15(char out[ORDERBOOK_PRICE_MAX], double price);

#endif
