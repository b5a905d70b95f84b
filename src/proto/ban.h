/* ban.h - the ban list: banned addresses and subnets with their expiry
 * times, as Bitcoin Core's BanMan keeps them, and the policy that turns a
 * misbehaving peer into a ban (repeat offenders lose their subnet).
 *
 * Fixed-size arrays, nothing allocates; no I/O, no clock: times (wall
 * clock seconds, bans are wall-clock as bitcoind's) are passed in.  The
 * caller owns the struct (about 250 KB: allocate it).
 *
 * A subnet is an address in the 16-byte form (IPv4 as ::ffff:a.b.c.d) and
 * a prefix length of the 128 bits: 1.2.3.0/24 is bits 96 + 24.  Lookups
 * are O(number of distinct prefix lengths in the list): one hash probe per
 * length.
 */
#ifndef DEX_BAN_H
#define DEX_BAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BAN_MAX 4096u            /* entries */
#define BAN_BUCKETS 8192u        /* hash index, power of two */
#define BAN_STRIKES 1024u        /* addresses remembered as past offenders */
#define BAN_NET_AFTER 3u         /* addresses of one subnet banned: the
                                  * subnet is banned */
#define BAN_SCORE_MAX 100u       /* misbehaviour score that bans */
#define BAN_DEFAULT_SECS 86400u  /* -bantime default */

struct ban_entry {
	uint8_t ip[16];          /* masked to bits */
	uint8_t bits;            /* prefix length, 0..128 */
	bool used;
	bool automatic;          /* set by misbehaviour, not by setban */
	int32_t next;            /* hash chain, -1 end */
	int64_t created, until;  /* unix seconds */
};

struct ban_strike {
	uint8_t ip[16];
	uint32_t count;          /* automatic bans so far */
	int64_t last;
};

struct bans {
	struct ban_entry e[BAN_MAX];
	int32_t head[BAN_BUCKETS];
	uint32_t nbits[129];     /* entries per prefix length */
	size_t n;
	uint64_t k0, k1;         /* secret hash key */
	struct ban_strike strikes[BAN_STRIKES];
};

void bans_init(struct bans *b, uint64_t k0, uint64_t k1);
/* Parse "ip", "ip/len" or "ip/dotted-mask" (bitcoind's setban forms; IPv6
 * with /len).  The address is masked.  Returns 0 or -1 (invalid). */
int ban_parse(const char *s, uint8_t ip[16], uint8_t *bits);
/* "1.2.3.0/24", "2001:db8::/32" (a single address /32 or /128). */
void ban_format(char *out, size_t cap, const uint8_t ip[16], uint8_t bits);
/* The entry for exactly this subnet, NULL if none. */
struct ban_entry *ban_find(struct bans *b, const uint8_t ip[16],
                           uint8_t bits);
/* Add or replace the ban of a subnet.  0, or -1 when the list is full and
 * no automatic entry could make room (the one expiring first goes). */
int ban_add(struct bans *b, const uint8_t ip[16], uint8_t bits,
            int64_t created, int64_t until, bool automatic);
/* Remove exactly this subnet's entry: 0, or -1 if there is none. */
int ban_del(struct bans *b, const uint8_t ip[16], uint8_t bits);
void ban_clear(struct bans *b);
/* Whether a ban in force at now covers ip. */
bool ban_match(const struct bans *b, const uint8_t ip[16], int64_t now);
/* Whether a ban in force at now covers every address of the subnet
 * (bitcoind's "already banned" for setban add). */
bool ban_covers(const struct bans *b, const uint8_t ip[16], uint8_t bits,
                int64_t now);
/* Drop the entries expired at now; returns how many. */
size_t ban_sweep(struct bans *b, int64_t now);

/* A peer at ip reached BAN_SCORE_MAX.  Bans ip for `secs` from now, or,
 * for a repeat offender (ip banned automatically before, or
 * BAN_NET_AFTER addresses of its subnet banned), its whole /24 (IPv4) or
 * /48 (IPv6), replacing the automatic bans inside it.  A subnet holding
 * 127.0.0.1 or ::1 is never banned this way.  Writes what was banned to
 * *out_ip / *out_bits.  Returns 0 or -1 (list full). */
int ban_offence(struct bans *b, const uint8_t ip[16], int64_t now,
                uint32_t secs, uint8_t out_ip[16], uint8_t *out_bits);

#endif
