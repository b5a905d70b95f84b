/* crypto.h - node identity and payload envelopes (API.md 3.6, 6.3, App. B).
 *
 * The only module that includes sodium.h.  Secrets are wiped after use
 * (sodium_memzero) and compared in constant time (sodium_memcmp).
 * Everything here is thread-safe given a read-only identity, so envelopes
 * can be built on a mining worker thread.
 *
 * Envelope forms (Appendix B):
 *   signed: payload = spk(32) || sig(64) || P
 *   inbox : payload = spk(32) || nonce(24) || box(sig(64) || P)
 *   anon  : payload = seal(spk(32) || sig(64) || M[1024])          1168 bytes
 *   sig over sigmsg = "dexp2p-sig-v1" || packet[1 .. H-1] || R || P
 */
#ifndef DEX_CRYPTO_H
#define DEX_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/packet.h"

#define CRYPTO_PK_LEN 32
#define CRYPTO_SIG_LEN 64
#define CRYPTO_NONCE_LEN 24
#define ENVELOPE_SIGNED_OVERHEAD 96   /* spk + sig */
#define ENVELOPE_INBOX_OVERHEAD 136   /* spk + nonce + sig + MAC */
#define ANON_MSG_LEN 1024
#define ANON_PAYLOAD_LEN 1168
#define SIGMSG_DOMAIN "dexp2p-sig-v1"

struct identity;

/* Call once at startup before threads exist.  E_OK or E_CRYPTO. */
int crypto_init(void);
void crypto_random(void *buf, size_t n);
uint32_t crypto_random_u32(void);

/* Load the identity seed file (API.md 6.3), creating it with a new random
 * seed (mode 0600, O_EXCL) when missing.  On failure writes a clear
 * message into err and returns E_IO / E_INVAL. */
int identity_load(const char *path, struct identity **out, char *err,
                  size_t errlen);
/* From a 32-byte seed (tests, vectors). */
struct identity *identity_from_seed(const uint8_t seed[32]);
void identity_free(struct identity *id);
/* 0x01 || Ed25519 public key. */
void identity_pubkey33(const struct identity *id, uint8_t out[33]);

/* True if pk is a valid Ed25519 point usable as a box recipient. */
bool crypto_pk_valid(const uint8_t pk[CRYPTO_PK_LEN]);

/* Build the payload of a packet whose header packet[1 .. H-1] is `hdr`
 * (hdr_len bytes, from the kind byte to the end of tagB).  out must have
 * room for the form's length.  Return E_OK or E_CRYPTO. */
int envelope_signed(const struct identity *id, const uint8_t *hdr,
                    size_t hdr_len, const uint8_t *plain, size_t plain_len,
                    uint8_t *out);
/* nonce NULL = random. dest = the addressee's 32-byte key. */
int envelope_inbox(const struct identity *id, const uint8_t *hdr,
                   size_t hdr_len, const uint8_t dest[CRYPTO_PK_LEN],
                   const uint8_t *nonce, const uint8_t *plain,
                   size_t plain_len, uint8_t *out);
/* msg of at most 1024 bytes is padded with zero bytes to 1024. */
int envelope_anon(const struct identity *id, const uint8_t *hdr,
                  size_t hdr_len, const uint8_t dest[CRYPTO_PK_LEN],
                  const uint8_t *msg, size_t msg_len,
                  uint8_t out[ANON_PAYLOAD_LEN]);

/* envelope_anon with the sealed box's ephemeral key pair derived from
 * eph_seed (crypto_box_seed_keypair) instead of random; eph_seed NULL is
 * envelope_anon.  For test vectors (API.md D.1) only. */
int envelope_anon_seeded(const struct identity *id, const uint8_t *hdr,
                         size_t hdr_len, const uint8_t dest[CRYPTO_PK_LEN],
                         const uint8_t *msg, size_t msg_len,
                         const uint8_t *eph_seed,
                         uint8_t out[ANON_PAYLOAD_LEN]);

/* What this node can see of a packet's payload (API.md 3.6, 3.7). */
struct envelope_view {
	bool has_decrypted;         /* `decrypted` present */
	uint8_t *plain;             /* malloc'd plaintext when has_decrypted */
	size_t plain_len;
	bool has_anon;              /* `anonmsg` / `anonsender` present */
	uint8_t *anonmsg;           /* malloc'd, bytes before the first NUL */
	size_t anonmsg_len;
	uint8_t anonsender[CRYPTO_PK_LEN];
	bool has_sender;            /* `senderpub` is "01"+sender, else "" */
	uint8_t sender[CRYPTO_PK_LEN];
	bool wrong_sender;          /* `"error":"wrong sender"` */
};

/* Open/verify pv as seen by identity `me`.  Never fails: a payload that
 * does not verify gives wrong_sender per Appendix B. */
void envelope_open(const struct identity *me, const struct packet_view *pv,
                   struct envelope_view *ev);
void envelope_view_fini(struct envelope_view *ev);

#endif
