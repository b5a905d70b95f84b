/* cancel.c - the effect of cancel packets on every node (API.md 4.6, B.6).
 *
 * Owns the table of applied cancels ("remembered cancels"): one record per
 * valid cancel packet stored here, indexed by the cancelling key K, kept
 * until the cancel packet expires (cancels_purge).  A record is applied
 * once to the held packets when its packet is first stored, and then to
 * every packet of K that arrives later, so nodes converge whatever the
 * arrival order.
 *
 * Memory is bounded: at most CANCELS_MAX records in all and
 * CANCELS_PER_KEY_MAX per key (a cancel costs priority-7 proof of work, so
 * these are far above honest use).  A cancel that finds its key's quota
 * full is still applied to the held packets, just not remembered.
 *
 * Runs on the event-loop thread only (it touches the store).
 */
#include "node/cancel.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/store.h"
#include "core/util.h"
#include "node/crypto.h"
#include "node/events.h"
#include "node/log.h"
#include "node/node.h"

#define CANCELS_BUCKETS 4096u        /* power of two */
#define CANCELS_MAX 262144u          /* records in all (~20 MiB at most) */
#define CANCELS_PER_KEY_MAX 4096u    /* records of one key */
#define CANCEL_AGE_SLACK 10u         /* pubkey/pair: timestamp < T - 10 */
#define CANCEL_TAG "cancel"
#define INBOX_TAG "inbox"

enum cancel_mode { MODE_ID, MODE_PUBKEY, MODE_PAIR };

/* One applied cancel command. */
struct cancel_rec {
	struct cancel_rec *next;     /* bucket chain */
	uint8_t key[PACKET_PUBKEY_LEN];
	uint32_t t;                  /* the cancel packet's timestamp T */
	uint32_t id;                 /* MODE_ID */
	uint8_t mode;
	uint8_t len_a, len_b;        /* MODE_PAIR */
	uint8_t tag_a[PACKET_TAG_MAX];
	uint8_t tag_b[PACKET_TAG_MAX];
};

/* Per-key record count, in the same buckets. */
struct cancel_key {
	struct cancel_key *next;
	uint8_t key[PACKET_PUBKEY_LEN];
	uint32_t count;
};

struct cancels {
	struct cancel_rec *recs[CANCELS_BUCKETS];
	struct cancel_key *keys[CANCELS_BUCKETS];
	size_t count;
	uint32_t seed;               /* hash seed against crafted keys */
};

struct cancels *cancels_new(void)
{
	struct cancels *c = xcalloc(1, sizeof(*c));
	c->seed = crypto_random_u32();
	return c;
}

void cancels_free(struct cancels *c)
{
	if (!c)
		return;
	for (size_t b = 0; b < CANCELS_BUCKETS; b++) {
		struct cancel_rec *r = c->recs[b], *rn;
		struct cancel_key *k = c->keys[b], *kn;
		for (; r; r = rn) {
			rn = r->next;
			free(r);
		}
		for (; k; k = kn) {
			kn = k->next;
			free(k);
		}
	}
	free(c);
}

/* FNV-1a over the key, seeded. */
static size_t bucket_of(const struct cancels *c, const uint8_t *key)
{
	uint32_t h = 2166136261u ^ c->seed;
	for (size_t i = 0; i < PACKET_PUBKEY_LEN; i++) {
		h ^= key[i];
		h *= 16777619u;
	}
	h ^= h >> 15;
	return h & (CANCELS_BUCKETS - 1);
}

static struct cancel_key *key_find(struct cancels *c, size_t b,
                                   const uint8_t *key)
{
	struct cancel_key *k;
	for (k = c->keys[b]; k; k = k->next)
		if (memcmp(k->key, key, PACKET_PUBKEY_LEN) == 0)
			return k;
	return NULL;
}

static bool tag_is(const uint8_t *tag, size_t len, const char *s)
{
	size_t n = strlen(s);
	return len == n && memcmp(tag, s, n) == 0;
}

/* Owned by K: pubkey K and tagA not "inbox". */
static bool owned_by(const struct packet_view *pv, const uint8_t *key)
{
	return pv->plen == PACKET_PUBKEY_LEN &&
	       memcmp(pv->pubkey, key, PACKET_PUBKEY_LEN) == 0 &&
	       !tag_is(pv->tag_a, pv->len_a, INBOX_TAG);
}

/* Does record r cancel a packet owned by r->key? */
static bool rec_matches(const struct cancel_rec *r,
                        const struct packet_view *pv, uint32_t id)
{
	/* timestamp < T - 10, without unsigned wrap for tiny T */
	bool old = (uint64_t)pv->timestamp + CANCEL_AGE_SLACK < r->t;

	switch (r->mode) {
	case MODE_ID:
		return id == r->id;
	case MODE_PUBKEY:
		return old;
	case MODE_PAIR:
		return old && pv->len_a == r->len_a && pv->len_b == r->len_b &&
		       memcmp(pv->tag_a, r->tag_a, r->len_a) == 0 &&
		       memcmp(pv->tag_b, r->tag_b, r->len_b) == 0;
	}
	return false;
}

/* Parse a stored packet as a cancel command (B.6, 4.6): kind X, tagA
 * "cancel", priority >= 7, pubkey present, valid signature by it, tagB
 * agreeing with the plaintext.  Returns true and fills *r. */
static bool parse_cancel(const struct identity *me, const struct stored *sp,
                         const struct packet_view *pv, struct cancel_rec *r)
{
	struct envelope_view ev;
	bool ok = false;
	const uint8_t *p;
	size_t n;

	if (pv->kind != PACKET_KIND_CANCEL ||
	    !tag_is(pv->tag_a, pv->len_a, CANCEL_TAG) ||
	    sp->priority < DEX_CMD_PRIORITY || pv->plen != PACKET_PUBKEY_LEN)
		return false;
	envelope_open(me, pv, &ev);
	if (!ev.has_decrypted || ev.wrong_sender)
		goto out;
	memset(r, 0, sizeof(*r));
	memcpy(r->key, pv->pubkey, PACKET_PUBKEY_LEN);
	r->t = pv->timestamp;
	p = ev.plain;
	n = ev.plain_len;
	if (tag_is(pv->tag_b, pv->len_b, "id")) {
		if (n != 4)
			goto out;
		r->mode = MODE_ID;
		r->id = le32(p);
	} else if (tag_is(pv->tag_b, pv->len_b, "pubkey")) {
		if (n != PACKET_PUBKEY_LEN ||
		    memcmp(p, pv->pubkey, PACKET_PUBKEY_LEN) != 0)
			goto out;
		r->mode = MODE_PUBKEY;
	} else if (tag_is(pv->tag_b, pv->len_b, "pair")) {
		size_t la, lb;
		if (n < 4)
			goto out;
		la = p[0];
		if (la < 1 || la > PACKET_TAG_MAX || 1 + la + 1 > n)
			goto out;
		lb = p[1 + la];
		if (lb < 1 || lb > PACKET_TAG_MAX || 2 + la + lb != n)
			goto out;
		r->mode = MODE_PAIR;
		r->len_a = (uint8_t)la;
		r->len_b = (uint8_t)lb;
		memcpy(r->tag_a, p + 1, la);
		memcpy(r->tag_b, p + 2 + la, lb);
	} else {
		goto out;
	}
	ok = true;
out:
	envelope_view_fini(&ev);
	return ok;
}

/* Collected targets of one cancel: cancelled after the store walk, so the
 * walk never sees a record change under it. */
struct targets {
	const struct cancel_rec *r;
	struct stored **v;
	size_t n, cap;
};

static bool collect_cb(struct stored *sp, void *arg)
{
	struct targets *t = arg;
	struct packet_view pv;

	if (sp->cancelled)
		return true;
	stored_view(sp, &pv);
	if (!owned_by(&pv, t->r->key) || !rec_matches(t->r, &pv, sp->id))
		return true;
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 16;
		t->v = xrealloc(t->v, t->cap * sizeof(*t->v));
	}
	t->v[t->n++] = sp;
	return true;
}

/* Apply r to the held packets; returns how many were cancelled. */
static size_t apply_to_store(struct node *n, const struct cancel_rec *r)
{
	struct store *s = n->store;
	struct targets t = { .r = r };
	struct store_query q = {
		.pubkey = r->key,
		.minpriority = 0,
		.min_a = 0, .max_a = UINT64_MAX,
		.min_b = 0, .max_b = UINT64_MAX,
	};

	if (r->mode == MODE_ID) {
		store_foreach_id(s, r->id, collect_cb, &t);
	} else {
		if (r->mode == MODE_PAIR) {
			q.tag_a = r->tag_a;
			q.len_a = r->len_a;
			q.tag_b = r->tag_b;
			q.len_b = r->len_b;
		}
		store_query(s, &q, collect_cb, &t);
	}
	for (size_t i = 0; i < t.n; i++) {
		store_cancel(s, t.v[i], r->t);
		events_on_cancelled(n, t.v[i]);
	}
	free(t.v);
	return t.n;
}

/* Remember r; false when a cap is reached. */
/* Same signer, timestamp and command (the record's signed content). */
static bool same_command(const struct cancel_rec *a,
                         const struct cancel_rec *b)
{
	return a->t == b->t && a->mode == b->mode && a->id == b->id &&
	       a->len_a == b->len_a && a->len_b == b->len_b &&
	       !memcmp(a->key, b->key, PACKET_PUBKEY_LEN) &&
	       !memcmp(a->tag_a, b->tag_a, a->len_a) &&
	       !memcmp(a->tag_b, b->tag_b, a->len_b);
}

static bool remember(struct cancels *c, const struct cancel_rec *r)
{
	size_t b = bucket_of(c, r->key);
	struct cancel_key *k = key_find(c, b, r->key);
	struct cancel_rec *nr;

	if (c->count >= CANCELS_MAX)
		return false;
	if (!k) {
		k = xcalloc(1, sizeof(*k));
		memcpy(k->key, r->key, PACKET_PUBKEY_LEN);
		k->next = c->keys[b];
		c->keys[b] = k;
	}
	/* The proof-of-work nonce is not signed: anyone can re-mine K's
	 * cancel into new packets.  Those copies say nothing new, and must
	 * not use up K's quota. */
	for (struct cancel_rec *e = c->recs[b]; e; e = e->next)
		if (same_command(e, r))
			return true;
	if (k->count >= CANCELS_PER_KEY_MAX)
		return false;
	nr = xmalloc(sizeof(*nr));
	*nr = *r;
	nr->next = c->recs[b];
	c->recs[b] = nr;
	k->count++;
	c->count++;
	return true;
}

/* Remembered cancels that reach a newly stored packet: the earliest T of
 * those matching (so the result does not depend on arrival order). */
static void apply_remembered(struct cancels *c, struct store *s,
                             struct stored *sp, const struct packet_view *pv)
{
	size_t b;
	uint32_t best = 0;

	if (sp->cancelled || pv->plen != PACKET_PUBKEY_LEN ||
	    tag_is(pv->tag_a, pv->len_a, INBOX_TAG) || c->count == 0)
		return;
	b = bucket_of(c, pv->pubkey);
	if (!key_find(c, b, pv->pubkey))
		return;
	for (const struct cancel_rec *r = c->recs[b]; r; r = r->next) {
		if (memcmp(r->key, pv->pubkey, PACKET_PUBKEY_LEN) != 0)
			continue;
		if (rec_matches(r, pv, sp->id) && (best == 0 || r->t < best))
			best = r->t;
	}
	if (best)
		store_cancel(s, sp, best);
}

void cancel_on_stored(struct node *n, struct stored *sp)
{
	struct packet_view pv;
	struct cancel_rec r;

	stored_view(sp, &pv);
	if (parse_cancel(n->ident, sp, &pv, &r)) {
		size_t k = apply_to_store(n, &r);
		bool kept = remember(n->cancels, &r);
		if (log_enabled(LOG_DEX))
			log_msg(LOG_DEX, "cancel (mode %d, T %u) applied to %zu "
				"packets%s", r.mode, r.t, k,
				kept ? "" : " (not remembered: table full)");
	}
	apply_remembered(n->cancels, n->store, sp, &pv);
}

size_t cancels_count(const struct cancels *c)
{
	return c->count;
}

void cancels_purge(struct cancels *c, uint32_t now, uint32_t purgetime)
{
	if (!c || c->count == 0)
		return;
	for (size_t b = 0; b < CANCELS_BUCKETS; b++) {
		struct cancel_rec **pp = &c->recs[b];
		while (*pp) {
			struct cancel_rec *r = *pp;
			if ((uint64_t)now - r->t < purgetime || r->t > now) {
				pp = &r->next;
				continue;
			}
			struct cancel_key *k = key_find(c, b, r->key);
			if (k && --k->count == 0) {
				struct cancel_key **kp = &c->keys[b];
				while (*kp != k)
					kp = &(*kp)->next;
				*kp = k->next;
				free(k);
			}
			*pp = r->next;
			free(r);
			c->count--;
		}
	}
}
