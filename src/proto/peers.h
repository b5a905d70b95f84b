/* peers.h - the peer table's pure parts: 5-minute peer epochs (at most 1024
 * peers mapped to bit positions per epoch, SEED.md) and the address book
 * (addnode / connect / learned addresses with exponential backoff).
 *
 * Fixed-size arrays: nothing here allocates.  No I/O, no clock (`now` is
 * passed in).  The caller owns the structs.
 */
#ifndef DEX_PEERS_H
#define DEX_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PEERS_EPOCH_SECS 300u
#define PEERS_EPOCH_MAX 1024u
#define PEERS_BOOK_MAX 1024u
#define PEERS_BACKOFF_MIN_MS 500u
#define PEERS_BACKOFF_MAX_MS 60000u
#define PEERS_NAME_MAX 128u

/* Epoch map: peer key (pubkey hash or nonce) -> bit 0..1023. */
struct peers_epoch {
	uint32_t epoch;          /* floor(now / 300) of the map */
	uint32_t n;              /* bits taken */
	uint64_t keys[PEERS_EPOCH_MAX];
};
void peers_epoch_init(struct peers_epoch *pe, uint32_t now);
/* True if now is in a later epoch than the map (which is then cleared:
 * the caller re-maps its connected peers). */
bool peers_epoch_roll(struct peers_epoch *pe, uint32_t now);
/* Bit position of key in the current epoch (rolling first if needed),
 * assigning the next free one; -1 when all 1024 are taken. */
int peers_epoch_bit(struct peers_epoch *pe, uint64_t key, uint32_t now);

enum peers_flag {
	PEERS_ADDNODE = 1,   /* -addnode / addnode add: keep connected */
	PEERS_CONNECT = 2,   /* -connect */
	PEERS_LEARNED = 4,   /* from ADDR or a peer's VERSION */
	PEERS_ONETRY = 8,    /* addnode onetry: one attempt, then forgotten */
};

struct peer_addr {
	bool used;
	uint8_t ip[16];          /* IPv6 or ::ffff:a.b.c.d */
	uint16_t port;
	uint16_t services;
	uint8_t flags;           /* enum peers_flag */
	uint8_t attempts;        /* failed attempts since the last success */
	bool connected;          /* a connection made for it is open */
	uint32_t last_seen;      /* unix seconds */
	uint64_t next_try_ms;    /* no attempt before this */
	char name[PEERS_NAME_MAX]; /* host[:port] as given, "" if learned */
};

struct peers_book {
	struct peer_addr a[PEERS_BOOK_MAX];
	size_t n;                /* used entries */
};

void peers_book_init(struct peers_book *b);
/* Find by address; NULL if absent. */
struct peer_addr *peers_book_find(struct peers_book *b, const uint8_t ip[16],
                                  uint16_t port);
struct peer_addr *peers_book_find_name(struct peers_book *b,
                                       const char *name);
/* Add or merge (flags OR-ed, last_seen max).  Returns the entry or NULL
 * when the book is full (a learned entry not connected is replaced first,
 * the oldest seen). */
struct peer_addr *peers_book_add(struct peers_book *b, const uint8_t ip[16],
                                 uint16_t port, uint8_t flags,
                                 uint16_t services, uint32_t last_seen,
                                 const char *name);
void peers_book_remove(struct peers_book *b, struct peer_addr *e);
/* The next address to dial at now_ms: not connected, next_try <= now_ms,
 * and with any of the flags in `mask`; NULL if none.  The attempt is
 * recorded (next_try pushed by the current backoff). */
struct peer_addr *peers_book_next(struct peers_book *b, uint64_t now_ms,
                                  uint8_t mask);
/* Outcome of a connection attempt. */
void peers_book_failed(struct peer_addr *e, uint64_t now_ms);
void peers_book_succeeded(struct peer_addr *e, uint32_t now);
/* Backoff after `attempts` failures: 500 ms doubling, capped at 60 s. */
uint64_t peers_backoff_ms(unsigned attempts);

/* IPv4 helpers for the ::ffff: mapped form. */
void peers_ip4(uint8_t ip[16], uint32_t host_order_v4);
bool peers_is_ip4(const uint8_t ip[16]);

#endif
