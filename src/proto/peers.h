/* peers.h - the peer table's pure parts: 5-minute peer epochs (at most 1024
 * peers mapped to bit positions per epoch, SEED.md, with a share per
 * address and per subnet), the address book (addnode / connect / learned
 * addresses with exponential backoff, a hash index, a quota per source)
 * and the sample of it a node hands out in ADDR, and a token bucket.
 *
 * Fixed-size arrays: nothing here allocates.  No I/O, no clock (`now` is
 * passed in), no randomness (random values are passed in).  The caller
 * owns the structs.
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

/* A peer that leaves less than this long after its handshake gives its
 * epoch position back (peers_epoch_left): connect-and-leave cycles do not
 * use up the map. */
#define PEERS_EPOCH_QUICK_SECS 60u

/* Epoch map: peer key (pubkey hash or nonce) -> bit 0..1023.  The key is
 * what the peer claims (unauthenticated), so the positions a limited
 * (inbound) peer may take are capped per address and per subnet
 * (peers_netgroup): one host cannot fill the map. */
struct peers_epoch_slot {
	uint64_t key;
	uint8_t ip[16];          /* address the position was taken from */
	bool used, limited;
};
struct peers_epoch {
	uint32_t epoch;          /* floor(now / 300) of the map */
	uint32_t n;              /* positions in use */
	unsigned per_addr;       /* limited positions per address, 0 = any */
	unsigned per_net;        /* ... per /24 (IPv4) or /48 (IPv6), 0 = any */
	struct peers_epoch_slot s[PEERS_EPOCH_MAX];
};
enum {
	PEERS_EPOCH_FULL = -1,   /* all 1024 positions taken */
	PEERS_EPOCH_ADDR = -2,   /* the address has its share */
	PEERS_EPOCH_NET = -3,    /* the subnet has its share */
};
/* Empty map, no limits (set per_addr / per_net afterwards). */
void peers_epoch_init(struct peers_epoch *pe, uint32_t now);
/* True if now is in a later epoch than the map (which is then cleared:
 * the caller re-maps its connected peers). */
bool peers_epoch_roll(struct peers_epoch *pe, uint32_t now);
/* Bit position of key in the current epoch (rolling first if needed): the
 * key's position if it has one, else the lowest free one.  A new limited
 * key from ip is refused when ip or its subnet holds its share of limited
 * positions.  Returns the bit or a PEERS_EPOCH_* code. */
int peers_epoch_take(struct peers_epoch *pe, uint64_t key,
                     const uint8_t ip[16], bool limited, uint32_t now);
/* peers_epoch_take, unlimited and with no address. */
int peers_epoch_bit(struct peers_epoch *pe, uint64_t key, uint32_t now);
/* The peer holding key left after ready_secs of connection (and no other
 * connection holds key): a quick leaver's position is freed.  True if
 * freed. */
bool peers_epoch_left(struct peers_epoch *pe, uint64_t key,
                      uint32_t ready_secs);

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
	bool tried;              /* a handshake with it completed (verified) */
	int16_t hnext;           /* hash chain (index into the book), -1 end */
	uint32_t src;            /* learned from ADDR: key of the sender's
	                          * address, 0 otherwise (peers_book_learn) */
	uint32_t srcnet;         /* ... of the sender's /16 (IPv4), /32 (v6) */
	uint32_t last_seen;      /* unix seconds */
	uint64_t next_try_ms;    /* no attempt before this */
	char name[PEERS_NAME_MAX]; /* host[:port] as given, "" if learned */
};

#define PEERS_BOOK_BUCKETS 2048u   /* hash index: power of two */
/* Addresses learned from one sender address / one sender /16 (IPv4) or
 * /32 (IPv6) held at once; the rest of what it sends is ignored. */
#define PEERS_BOOK_PER_SRC 64u
#define PEERS_BOOK_PER_SRCNET 256u
/* Slots looked at to find one to replace when the book is full. */
#define PEERS_BOOK_SAMPLE 16u

struct peers_book {
	struct peer_addr a[PEERS_BOOK_MAX];
	size_t n;                /* used entries */
	uint64_t k0, k1;         /* secret hash key (peers_book_seed) */
	int16_t head[PEERS_BOOK_BUCKETS]; /* hash index: first entry, -1 */
};

/* Empty book; the hash key is 0 until peers_book_seed. */
void peers_book_init(struct peers_book *b);
/* Set the secret key of the hash index (random, so that no sender can
 * choose addresses that collide); only on an empty book. */
void peers_book_seed(struct peers_book *b, uint64_t k0, uint64_t k1);
/* Find by address (hash index, O(1)); NULL if absent. */
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

/* Learning from one ADDR message: peers_book_src() counts what the sender
 * (src_ip) already has in the book, once per message, then
 * peers_book_learn() merges each entry.  A new entry is refused (E_NOMEM)
 * when the sender or its /16 has its quota (PEERS_BOOK_PER_SRC, _SRCNET);
 * when the book is full it replaces the oldest of PEERS_BOOK_SAMPLE slots
 * picked with rnd (learned, not connected, not manual, never tried
 * preferred), so a flood displaces mostly its own entries.  Returns E_OK
 * (added or merged) or E_NOMEM.  O(1) per entry. */
struct peers_src {
	uint32_t src, srcnet;
	unsigned n_src, n_net;
};
void peers_book_src(const struct peers_book *b, const uint8_t src_ip[16],
                    struct peers_src *ps);
int peers_book_learn(struct peers_book *b, struct peers_src *ps,
                     const uint8_t ip[16], uint16_t port, uint16_t services,
                     uint32_t last_seen, uint64_t rnd);

/* The book entries to hand out in ADDR at `now` (learned, not connected,
 * seen within 3 h), in random order (rnd), at most cap indices into
 * b->a written to out.  Verified entries (tried) come first, all of them;
 * then unverified ones, at most q from each sender, q the largest value
 * for which no sender provides more than 1/PEERS_ADDR_SHARE of the
 * answer (n_verified_extra counts verified addresses the caller adds,
 * its connected peers).  Returns the count. */
#define PEERS_ADDR_SHARE 4u
#define PEERS_ADDR_FRESH_SECS (3u * 3600u)
size_t peers_book_pick(const struct peers_book *b, uint32_t now,
                       size_t n_verified_extra, uint64_t rnd, size_t *out,
                       size_t cap);
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
/* Copy ip with all but its first `bits` bits (of the 128) cleared. */
void peers_mask(uint8_t out[16], const uint8_t ip[16], unsigned bits);
/* Prefix length (of 128) of an address's subnet for caps and bans: /24
 * for IPv4 (96 + 24), /48 for IPv6. */
unsigned peers_netbits(const uint8_t ip[16]);
bool peers_same_net(const uint8_t a[16], const uint8_t b[16]);
/* 127.0.0.1 or ::1: the host itself. */
bool peers_is_localhost(const uint8_t ip[16]);

/* SipHash-2-4 of data under the 128-bit key (k0, k1). */
uint64_t peers_siphash(uint64_t k0, uint64_t k1, const void *data,
                       size_t len);

/* Token bucket: `rate` tokens per second up to `burst`; starts full at
 * the first peers_bucket_take. */
struct peers_bucket {
	double tokens;
	uint64_t last_ms;
	bool init;
};
/* Take one token at now_ms (monotonic); false if none. */
bool peers_bucket_take(struct peers_bucket *tb, uint64_t now_ms,
                       double rate, double burst);

#endif
