/* crypto.c - node identity and payload envelopes (API.md 3.6, 6.3, App. B).
 *
 * Owns: the identity key pair (Ed25519 secret key and its X25519
 * conversion), the identity key file, and every use of libsodium: this is
 * the only file of the project that includes sodium.h.
 *
 * The identity is read-only after identity_load(), so every function here
 * may run on any thread (mining workers build envelopes).  Secret material
 * is wiped with sodium_memzero before its memory is released.
 */
#include "node/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "core/err.h"
#include "core/util.h"
#include "node/log.h"

#define SEED_LEN 32
#define SEED_HEX_LEN 64
#define KEYFILE_READ_MAX 128   /* anything longer is bad content anyway */
#define KEYFILE_CREATE_TRIES 3 /* create/read races before giving up */
#define DOMAIN_LEN (sizeof(SIGMSG_DOMAIN) - 1)
#define ANON_INNER_LEN (CRYPTO_PK_LEN + CRYPTO_SIG_LEN + ANON_MSG_LEN)
#define INBOX_TAG "inbox"

struct identity {
	uint8_t sk[crypto_sign_SECRETKEYBYTES];   /* Ed25519 seed || pk */
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
	uint8_t xsk[crypto_box_SECRETKEYBYTES];   /* X25519 of sk */
	uint8_t xpk[crypto_box_PUBLICKEYBYTES];   /* X25519 of pk */
};

_Static_assert(crypto_sign_PUBLICKEYBYTES == CRYPTO_PK_LEN, "pk size");
_Static_assert(crypto_sign_BYTES == CRYPTO_SIG_LEN, "sig size");
_Static_assert(crypto_box_NONCEBYTES == CRYPTO_NONCE_LEN, "nonce size");
_Static_assert(ENVELOPE_INBOX_OVERHEAD == CRYPTO_PK_LEN + CRYPTO_NONCE_LEN +
	       CRYPTO_SIG_LEN + crypto_box_MACBYTES, "inbox overhead");
_Static_assert(ANON_PAYLOAD_LEN == ANON_INNER_LEN + crypto_box_SEALBYTES,
	       "anon payload size");

int crypto_init(void)
{
	return sodium_init() < 0 ? E_CRYPTO : E_OK;
}

void crypto_random(void *buf, size_t n)
{
	randombytes_buf(buf, n);
}

uint32_t crypto_random_u32(void)
{
	return randombytes_random();
}

/* ---- identity ---- */

struct identity *identity_from_seed(const uint8_t seed[32])
{
	struct identity *id = xcalloc(1, sizeof(*id));

	if (crypto_sign_seed_keypair(id->pk, id->sk, seed) != 0 ||
	    crypto_sign_ed25519_sk_to_curve25519(id->xsk, id->sk) != 0 ||
	    crypto_sign_ed25519_pk_to_curve25519(id->xpk, id->pk) != 0) {
		identity_free(id);
		return NULL;
	}
	return id;
}

void identity_free(struct identity *id)
{
	if (!id)
		return;
	sodium_memzero(id, sizeof(*id));
	free(id);
}

void identity_pubkey33(const struct identity *id, uint8_t out[33])
{
	out[0] = 0x01;
	memcpy(out + 1, id->pk, CRYPTO_PK_LEN);
}

/* Parse the key file content: exactly 64 hex digits, optionally one final
 * newline.  Returns true and fills seed. */
static bool parse_seed(const char *buf, size_t n, uint8_t seed[SEED_LEN])
{
	if (n == SEED_HEX_LEN + 1 && buf[SEED_HEX_LEN] == '\n')
		n = SEED_HEX_LEN;
	if (n != SEED_HEX_LEN)
		return false;
	return hex_decode(seed, buf, SEED_LEN);
}

/* Create the key file with a fresh seed.  E_OK, E_DUP if it appeared
 * meanwhile (O_EXCL), E_IO otherwise. */
static int keyfile_create(const char *path, char *err, size_t errlen)
{
	uint8_t seed[SEED_LEN];
	char text[SEED_HEX_LEN + 2];
	int rc = E_IO;
	size_t off = 0;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			return E_DUP;
		snprintf(err, errlen, "cannot create identity key file %s: %s",
			 path, strerror(errno));
		return E_IO;
	}
	randombytes_buf(seed, sizeof(seed));
	hex_encode(text, seed, SEED_LEN);
	text[SEED_HEX_LEN] = '\n';
	text[SEED_HEX_LEN + 1] = '\0';
	while (off < SEED_HEX_LEN + 1) {
		ssize_t w = write(fd, text + off, SEED_HEX_LEN + 1 - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(err, errlen,
				 "cannot write identity key file %s: %s", path,
				 w < 0 ? strerror(errno) : "short write");
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0) {
		snprintf(err, errlen, "cannot write identity key file %s: %s",
			 path, strerror(errno));
		goto out;
	}
	rc = E_OK;
	log_msg(LOG_INFO, "created new identity key file %s", path);
out:
	close(fd);
	if (rc != E_OK)
		unlink(path); /* never leave a half-written key behind */
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(text, sizeof(text));
	return rc;
}

/* Read an existing key file.  E_OK, E_NOTFOUND (ENOENT), E_IO, E_INVAL. */
static int keyfile_read(const char *path, uint8_t seed[SEED_LEN], char *err,
                        size_t errlen)
{
	char buf[KEYFILE_READ_MAX];
	size_t n = 0;
	struct stat st;
	int rc = E_IO;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return E_NOTFOUND;
		snprintf(err, errlen, "cannot open identity key file %s: %s",
			 path, strerror(errno));
		return E_IO;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "cannot stat identity key file %s: %s",
			 path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen,
			 "identity key file %s is not a regular file", path);
		rc = E_INVAL;
		goto out;
	}
	if (st.st_mode & (S_IRGRP | S_IROTH))
		log_msg(LOG_WARN,
			"identity key file %s is readable by group "
			"or others (mode %03o); run chmod 600 on it",
			path, (unsigned)(st.st_mode & 0777));
	for (;;) {
		ssize_t r = read(fd, buf + n, sizeof(buf) - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen,
				 "cannot read identity key file %s: %s", path,
				 strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == sizeof(buf))
			break;
	}
	if (!parse_seed(buf, n, seed)) {
		snprintf(err, errlen,
			 "invalid identity key file %s: it must hold exactly "
			 "64 hex digits (an Ed25519 seed) and an optional "
			 "final newline", path);
		rc = E_INVAL;
		goto out;
	}
	rc = E_OK;
out:
	sodium_memzero(buf, sizeof(buf));
	close(fd);
	return rc;
}

int identity_load(const char *path, struct identity **out, char *err,
                  size_t errlen)
{
	uint8_t seed[SEED_LEN];
	int rc = E_IO;
	int tries;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	for (tries = 0; tries < KEYFILE_CREATE_TRIES; tries++) {
		rc = keyfile_read(path, seed, err, errlen);
		if (rc != E_NOTFOUND)
			break;
		rc = keyfile_create(path, err, errlen);
		if (rc != E_OK && rc != E_DUP)
			goto out;
		/* created (or someone else did): read it back */
		rc = E_NOTFOUND;
	}
	if (rc == E_NOTFOUND) {
		snprintf(err, errlen, "identity key file %s keeps vanishing",
			 path);
		rc = E_IO;
	}
	if (rc != E_OK)
		goto out;
	*out = identity_from_seed(seed);
	if (!*out) {
		snprintf(err, errlen, "cannot derive keys from %s", path);
		rc = E_INVAL;
	}
out:
	sodium_memzero(seed, sizeof(seed));
	return rc;
}

bool crypto_pk_valid(const uint8_t pk[CRYPTO_PK_LEN])
{
	uint8_t x[crypto_box_PUBLICKEYBYTES];

	if (!crypto_core_ed25519_is_valid_point(pk))
		return false;
	return crypto_sign_ed25519_pk_to_curve25519(x, pk) == 0;
}

/* ---- signatures ---- */

/* sigmsg = domain || hdr || R || P (Appendix B.2); R is 33 bytes or none. */
static uint8_t *sigmsg_build(const uint8_t *hdr, size_t hdr_len,
                             const uint8_t *r33, const uint8_t *plain,
                             size_t plain_len, size_t *len)
{
	size_t rlen = r33 ? PACKET_PUBKEY_LEN : 0;
	size_t n = DOMAIN_LEN + hdr_len + rlen + plain_len;
	uint8_t *m = xmalloc(n);
	uint8_t *p = m;

	memcpy(p, SIGMSG_DOMAIN, DOMAIN_LEN);
	p += DOMAIN_LEN;
	memcpy(p, hdr, hdr_len);
	p += hdr_len;
	if (rlen) {
		memcpy(p, r33, rlen);
		p += rlen;
	}
	if (plain_len)
		memcpy(p, plain, plain_len);
	*len = n;
	return m;
}

static void sign_sigmsg(const struct identity *id, const uint8_t *hdr,
                        size_t hdr_len, const uint8_t *r33,
                        const uint8_t *plain, size_t plain_len,
                        uint8_t sig[CRYPTO_SIG_LEN])
{
	size_t n;
	uint8_t *m = sigmsg_build(hdr, hdr_len, r33, plain, plain_len, &n);

	crypto_sign_detached(sig, NULL, m, n, id->sk);
	free(m);
}

static bool verify_sigmsg(const uint8_t sig[CRYPTO_SIG_LEN],
                          const uint8_t spk[CRYPTO_PK_LEN],
                          const uint8_t *hdr, size_t hdr_len,
                          const uint8_t *r33, const uint8_t *plain,
                          size_t plain_len)
{
	size_t n;
	uint8_t *m = sigmsg_build(hdr, hdr_len, r33, plain, plain_len, &n);
	bool ok = crypto_sign_verify_detached(sig, m, n, spk) == 0;

	free(m);
	return ok;
}

/* ---- building envelopes ---- */

int envelope_signed(const struct identity *id, const uint8_t *hdr,
                    size_t hdr_len, const uint8_t *plain, size_t plain_len,
                    uint8_t *out)
{
	memcpy(out, id->pk, CRYPTO_PK_LEN);
	sign_sigmsg(id, hdr, hdr_len, NULL, plain, plain_len,
		    out + CRYPTO_PK_LEN);
	if (plain_len)
		memmove(out + ENVELOPE_SIGNED_OVERHEAD, plain, plain_len);
	return E_OK;
}

int envelope_inbox(const struct identity *id, const uint8_t *hdr,
                   size_t hdr_len, const uint8_t dest[CRYPTO_PK_LEN],
                   const uint8_t *nonce, const uint8_t *plain,
                   size_t plain_len, uint8_t *out)
{
	uint8_t xdest[crypto_box_PUBLICKEYBYTES];
	uint8_t *inner;
	uint8_t *np = out + CRYPTO_PK_LEN;
	size_t inner_len = CRYPTO_SIG_LEN + plain_len;
	int rc = E_CRYPTO;

	if (crypto_sign_ed25519_pk_to_curve25519(xdest, dest) != 0)
		return E_CRYPTO;
	inner = xmalloc(inner_len);
	sign_sigmsg(id, hdr, hdr_len, NULL, plain, plain_len, inner);
	if (plain_len)
		memcpy(inner + CRYPTO_SIG_LEN, plain, plain_len);
	memcpy(out, id->pk, CRYPTO_PK_LEN);
	if (nonce)
		memcpy(np, nonce, CRYPTO_NONCE_LEN);
	else
		randombytes_buf(np, CRYPTO_NONCE_LEN);
	if (crypto_box_easy(np + CRYPTO_NONCE_LEN, inner, inner_len, np,
			    xdest, id->xsk) != 0)
		goto out;
	rc = E_OK;
out:
	sodium_memzero(inner, inner_len);
	free(inner);
	return rc;
}

/* crypto_box_seal with a caller-chosen ephemeral key pair (eph_seed) or a
 * random one (eph_seed NULL): epk || box(m, blake2b-192(epk || pk)). */
static int seal(uint8_t *out, const uint8_t *m, size_t mlen,
                const uint8_t xpk[crypto_box_PUBLICKEYBYTES],
                const uint8_t *eph_seed)
{
	uint8_t epk[crypto_box_PUBLICKEYBYTES];
	uint8_t esk[crypto_box_SECRETKEYBYTES];
	uint8_t nonce[crypto_box_NONCEBYTES];
	crypto_generichash_state st;
	int rc = E_CRYPTO;

	if (!eph_seed)
		return crypto_box_seal(out, m, mlen, xpk) == 0 ? E_OK
							       : E_CRYPTO;
	if (crypto_box_seed_keypair(epk, esk, eph_seed) != 0)
		goto out;
	crypto_generichash_init(&st, NULL, 0, sizeof(nonce));
	crypto_generichash_update(&st, epk, sizeof(epk));
	crypto_generichash_update(&st, xpk, crypto_box_PUBLICKEYBYTES);
	crypto_generichash_final(&st, nonce, sizeof(nonce));
	memcpy(out, epk, sizeof(epk));
	if (crypto_box_easy(out + sizeof(epk), m, mlen, nonce, xpk, esk) != 0)
		goto out;
	rc = E_OK;
out:
	sodium_memzero(esk, sizeof(esk));
	return rc;
}

int envelope_anon_seeded(const struct identity *id, const uint8_t *hdr,
                         size_t hdr_len, const uint8_t dest[CRYPTO_PK_LEN],
                         const uint8_t *msg, size_t msg_len,
                         const uint8_t *eph_seed,
                         uint8_t out[ANON_PAYLOAD_LEN])
{
	uint8_t xdest[crypto_box_PUBLICKEYBYTES];
	uint8_t r33[PACKET_PUBKEY_LEN];
	uint8_t *inner;
	uint8_t *mm;
	int rc;

	if (msg_len > ANON_MSG_LEN)
		return E_TOOBIG;
	if (crypto_sign_ed25519_pk_to_curve25519(xdest, dest) != 0)
		return E_CRYPTO;
	inner = xcalloc(1, ANON_INNER_LEN);
	mm = inner + CRYPTO_PK_LEN + CRYPTO_SIG_LEN;
	if (msg_len)
		memcpy(mm, msg, msg_len);
	r33[0] = 0x01;
	memcpy(r33 + 1, dest, CRYPTO_PK_LEN);
	memcpy(inner, id->pk, CRYPTO_PK_LEN);
	sign_sigmsg(id, hdr, hdr_len, r33, mm, ANON_MSG_LEN,
		    inner + CRYPTO_PK_LEN);
	rc = seal(out, inner, ANON_INNER_LEN, xdest, eph_seed);
	sodium_memzero(inner, ANON_INNER_LEN);
	free(inner);
	return rc;
}

int envelope_anon(const struct identity *id, const uint8_t *hdr,
                  size_t hdr_len, const uint8_t dest[CRYPTO_PK_LEN],
                  const uint8_t *msg, size_t msg_len,
                  uint8_t out[ANON_PAYLOAD_LEN])
{
	return envelope_anon_seeded(id, hdr, hdr_len, dest, msg, msg_len,
				    NULL, out);
}

/* ---- opening envelopes ---- */

static bool is_inbox_tag(const struct packet_view *pv)
{
	return pv->len_a == sizeof(INBOX_TAG) - 1 &&
	       memcmp(pv->tag_a, INBOX_TAG, sizeof(INBOX_TAG) - 1) == 0;
}

static void set_decrypted(struct envelope_view *ev, const uint8_t *p,
                          size_t n)
{
	ev->plain = xmalloc(n ? n : 1);
	if (n)
		memcpy(ev->plain, p, n);
	ev->plain_len = n;
	ev->has_decrypted = true;
}

/* B.3: spk || sig || P, spk must be the packet's pubkey. */
static void open_signed(const struct packet_view *pv,
                        struct envelope_view *ev)
{
	const uint8_t *pl = pv->payload;
	size_t n = pv->payload_len;

	if (n >= CRYPTO_PK_LEN) {
		ev->has_sender = true;
		memcpy(ev->sender, pl, CRYPTO_PK_LEN);
	}
	if (n < ENVELOPE_SIGNED_OVERHEAD ||
	    memcmp(pl, pv->pubkey + 1, CRYPTO_PK_LEN) != 0 ||
	    !verify_sigmsg(pl + CRYPTO_PK_LEN, pl, pv->raw + 1,
			   pv->hdr_len - 1, NULL,
			   pl + ENVELOPE_SIGNED_OVERHEAD,
			   n - ENVELOPE_SIGNED_OVERHEAD)) {
		ev->wrong_sender = true;
		return;
	}
	set_decrypted(ev, pl + ENVELOPE_SIGNED_OVERHEAD,
		      n - ENVELOPE_SIGNED_OVERHEAD);
}

/* B.4: spk || nonce || box(sig || P); only the addressee opens it. */
static void open_inbox(const struct identity *me,
                       const struct packet_view *pv,
                       struct envelope_view *ev)
{
	const uint8_t *pl = pv->payload;
	size_t n = pv->payload_len;
	uint8_t xspk[crypto_box_PUBLICKEYBYTES];
	const uint8_t *c = pl + CRYPTO_PK_LEN + CRYPTO_NONCE_LEN;
	size_t clen, mlen;
	uint8_t *m = NULL;

	if (n >= CRYPTO_PK_LEN) {
		ev->has_sender = true;
		memcpy(ev->sender, pl, CRYPTO_PK_LEN);
	}
	if (!me || memcmp(pv->pubkey + 1, me->pk, CRYPTO_PK_LEN) != 0)
		return; /* not the addressee: nothing more to show */
	if (n < ENVELOPE_INBOX_OVERHEAD ||
	    crypto_sign_ed25519_pk_to_curve25519(xspk, pl) != 0)
		goto wrong;
	clen = n - CRYPTO_PK_LEN - CRYPTO_NONCE_LEN;
	mlen = clen - crypto_box_MACBYTES;
	m = xmalloc(mlen);
	if (crypto_box_open_easy(m, c, clen, pl + CRYPTO_PK_LEN, xspk,
				 me->xsk) != 0)
		goto wrong;
	if (!verify_sigmsg(m, pl, pv->raw + 1, pv->hdr_len - 1, NULL,
			   m + CRYPTO_SIG_LEN, mlen - CRYPTO_SIG_LEN))
		goto wrong;
	set_decrypted(ev, m + CRYPTO_SIG_LEN, mlen - CRYPTO_SIG_LEN);
	goto out;
wrong:
	ev->wrong_sender = true;
out:
	if (m) {
		sodium_memzero(m, mlen);
		free(m);
	}
}

/* B.5: sealed box of spk || sig || M to the addressee. */
static void open_anon(const struct identity *me, const struct packet_view *pv,
                      struct envelope_view *ev)
{
	size_t n = pv->payload_len;
	size_t ilen, mlen, k;
	uint8_t r33[PACKET_PUBKEY_LEN];
	uint8_t *inner;
	const uint8_t *mm;

	if (!me || n < crypto_box_SEALBYTES)
		return;
	ilen = n - crypto_box_SEALBYTES;
	inner = xmalloc(ilen ? ilen : 1);
	if (crypto_box_seal_open(inner, pv->payload, n, me->xpk, me->xsk) !=
	    0)
		goto out; /* not for us: nothing shown */
	if (ilen < CRYPTO_PK_LEN + CRYPTO_SIG_LEN) {
		ev->wrong_sender = true;
		goto out;
	}
	mm = inner + CRYPTO_PK_LEN + CRYPTO_SIG_LEN;
	mlen = ilen - CRYPTO_PK_LEN - CRYPTO_SIG_LEN;
	r33[0] = 0x01;
	memcpy(r33 + 1, me->pk, CRYPTO_PK_LEN);
	if (!verify_sigmsg(inner + CRYPTO_PK_LEN, inner, pv->raw + 1,
			   pv->hdr_len - 1, r33, mm, mlen)) {
		ev->wrong_sender = true;
		goto out;
	}
	for (k = 0; k < mlen && mm[k]; k++)
		;
	ev->anonmsg = xmalloc(k ? k : 1);
	if (k)
		memcpy(ev->anonmsg, mm, k);
	ev->anonmsg_len = k;
	memcpy(ev->anonsender, inner, CRYPTO_PK_LEN);
	ev->has_anon = true;
out:
	sodium_memzero(inner, ilen ? ilen : 1);
	free(inner);
}

void envelope_open(const struct identity *me, const struct packet_view *pv,
                   struct envelope_view *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (pv->kind == PACKET_KIND_ANON)
		open_anon(me, pv, ev);
	else if (pv->plen != PACKET_PUBKEY_LEN || !pv->pubkey)
		return; /* plain form */
	else if (pv->kind == PACKET_KIND_DATA && is_inbox_tag(pv))
		open_inbox(me, pv, ev);
	else
		open_signed(pv, ev);
}

void envelope_view_fini(struct envelope_view *ev)
{
	if (ev->plain) {
		sodium_memzero(ev->plain, ev->plain_len);
		free(ev->plain);
	}
	if (ev->anonmsg) {
		sodium_memzero(ev->anonmsg, ev->anonmsg_len);
		free(ev->anonmsg);
	}
	memset(ev, 0, sizeof(*ev));
}
