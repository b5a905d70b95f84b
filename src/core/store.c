/* store.c - the packet store (store.h, DESIGN.md 3, API.md 3.5, 4.2, 4.4).
 *
 * Owns every held packet.  Layout, chosen for memory (target: <= 100 bytes
 * per packet beyond its own bytes; see docs/store.md for the measured
 * figure):
 *
 *  - One slab object per packet (see "record slabs"): struct stored
 *    (60 B), then the list links (pairs of u32 slot numbers, only for the
 *    lists the packet is in), then the packet bytes.
 *  - A slot table maps a u32 slot number to the record's u32 reference
 *    (slab, object), in chunks of 4096 entries (no realloc copy of the
 *    whole table); free slots form a list threaded through the table.
 *    Links are slot numbers, so a link is 4 bytes instead of 8.
 *  - Two open-addressing tables of u32 entries (linear probing, tombstone
 *    deletion, grow by 1.5x at 0.7 live load, shrink at 1/4, resized
 *    incrementally: see tables_step): by full hash and by id (a multimap:
 *    every packet with an id is in it).  An entry is a 24-bit
 *    slot and an 8-bit tag taken from the key, so a probe touches the
 *    record only when the tag matches (1 in 256 for a wrong key): a lookup
 *    costs about one cache miss instead of one per probe.  Hence at most
 *    2^24 - 1 packets are held (STORE_MAX_PACKETS); at 4 GiB that is
 *    still more than the cap allows for packets over ~250 bytes.
 *  - Doubly linked newest-first lists (head = newest arrival):
 *      L_TP    one per (timestamp second, priority class 0..15, class 15
 *              = priority >= 15).  The seconds form a ring of purgetime
 *              + 964 buckets (room for clock steps back), so purge
 *              visits only what it frees; the eviction victim is the
 *              tail (oldest arrival) of the oldest second's list in the
 *              lowest class; the global newest-first
 *              walk (no tag, no pubkey: not used by DEX_list, which
 *              defaults to tagA general) merges all the lists.  One link
 *              pair serves both time and priority (8 bytes saved).
 *      L_PAIR  one per ordered pair (tagA, tagB) with at least one tag
 *              non-empty: every tagged packet is in exactly one;
 *      L_PUB   one per pubkey33.
 *    A tagA (or tagB) key holds no packet list: it lists its pair keys,
 *    and a tagA-only query merges their lists by arrival number (a heap
 *    of k cursors: O(k + m log k) for m packets walked).  That keeps one
 *    list link pair per tagged packet instead of three (16 bytes saved).
 *    Keys live in a chained hash table and are freed when they empty.
 *  - Running XORs of hashes and ids, and per-second count and hash XOR.
 *
 * Not thread-safe; callbacks must not call store_put/store_purge.
 */
#include "core/store.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"

#define NIL UINT32_MAX

enum { L_TP = 0, L_PAIR = 1, L_PUB = 2 };
/* stored.flags bits: membership of the optional lists (bit = L - 1). */
#define F_PAIR 0x01u
#define F_PUB 0x02u
#define F_LISTS 0x03u
/* The record's table generation: equal to store.gen when its entries are
 * in the tables' current arrays, else (during a resize) in the previous
 * ones. */
#define F_GEN 0x04u

#define NPC 16 /* priority classes: 0..14, and 15 for >= 15 */
#define SLOT_BITS 24
#define SLOT_MASK ((1u << SLOT_BITS) - 1)
/* Table entries hold slot + 1, so an all-zero array is empty (calloc:
 * fresh pages come from the kernel as they are touched, not in one
 * memset); slots 0 .. SLOT_MASK - 3 with tag 0xff never equal TOMB. */
#define STORE_MAX_PACKETS (SLOT_MASK - 2u)
#define EMPTY 0u
#define TOMB (NIL - 1u)
#define SLOT_SHIFT 12
#define SLOT_CHUNK (1u << SLOT_SHIFT)
#define OTAB_MIN 64u
#define KTAB_MIN 64u
/* Timestamps accepted up to now + STORE_FUTURE_MAX (check.h allows +1;
 * the margin keeps the ring correct for callers with a slightly different
 * clock). */
#define STORE_FUTURE_MAX 60u
/* Extra ring entries so the clock can step back by up to ~15 minutes
 * with no two held seconds needing the same entry (docs/store.md, "Clock
 * steps"); beyond that the entry of a second far in the future of the
 * new clock is given up to the current second. 155 KB per store. */
#define STORE_CLOCK_BACK 900u
#define STORE_MAX_PURGETIME (7u * 86400u)
/* Per-packet bytes outside the record, charged against maxmem: slot
 * table entry (4) and the two u32 table entries at 0.47-0.8 load (~12). */
#define STORE_TABLE_COST 16u

struct srec {
	struct stored pub;
	uint32_t lk[]; /* [2*i] = newer (prev), [2*i+1] = older (next) */
};
_Static_assert(sizeof(struct stored) == 60, "struct stored is 60 bytes");

struct lhead {
	uint32_t head; /* newest */
	uint32_t tail; /* oldest */
};

struct otab {
	uint32_t *e;
	uint32_t cap;  /* any size: positions come from a multiply-shift */
	uint32_t n;    /* live entries */
	uint32_t tomb; /* deleted entries (TOMB) */
	/* While a resize is under way (old != NULL), the previous array,
	 * read-only, still holds the entries of the `on` records not moved
	 * yet.  Its other entries are stale (their record was moved or
	 * removed): an entry counts only when its slot is in use by a record
	 * of the previous generation (old_ent_live), so nothing is written
	 * there and a move costs no probe of it. */
	uint32_t *old;
	uint32_t ocap, on;
};

enum { K_A = 1, K_B, K_PAIR, K_PUB };

/* An index key.  Pair and pubkey keys own a packet list (l); a pair key
 * is also linked under its tagA key (side 0) and tagB key (side 1) when
 * that tag is non-empty.  Tag keys own only the list of their pairs. */
struct ikey {
	struct ikey *next;       /* hash chain */
	uint64_t h;
	struct lhead l;          /* pair / pubkey: packets, newest first */
	uint32_t count;          /* packets under this key */
	uint32_t nkids;          /* tag key: pairs under it */
	struct ikey *kids;       /* tag key: first pair */
	struct ikey *up[2];      /* pair: its tagA key, its tagB key */
	struct ikey *sib[2][2];  /* pair: [side][0 prev, 1 next] among kids */
	uint8_t kind;
	uint8_t klen;
	uint8_t key[];
};

struct ktab {
	struct ikey **b;
	size_t cap; /* power of two */
	size_t n;
};

struct tbucket {
	uint32_t t;
	uint32_t count;
	uint32_t pmask;        /* bit c set when l[c] is not empty */
	struct lhead l[NPC];   /* per priority class, newest first */
	uint8_t fp[32];
};

struct prclass {
	uint64_t count;
	uint64_t bytes;
	uint32_t oldest;       /* <= every timestamp held in this class */
};

struct slab;
struct slabclass;

struct store {
	struct store_config cfg;
	/* slots */
	uint32_t **chunks;  /* slot -> record reference */
	uint32_t nchunks;
	uint32_t slot_hi;   /* slots below this have been handed out */
	uint32_t free_head; /* free slot list */
	/* record slabs */
	struct slab *slabs;
	uint32_t nslabs, capslabs;
	uint32_t slab_free;  /* freed slab entries, through .next */
	struct slabclass *classes; /* SLAB_NCLASS */
	/* tables */
	struct otab byhash;
	struct otab byid;
	/* The two tables hold the same records, so they have the same live
	 * counts and capacities and resize together (tombstones differ: an
	 * insert may reuse one in either): */
	uint32_t mig_slot;  /* resize under way: next slot to move */
	uint8_t gen;        /* F_GEN of records in the current arrays */
	bool shrink;        /* under a quarter full: resize smaller */
	struct ktab keys;
	uint64_t seed;
	/* lists */
	struct prclass pr[NPC];
	uint32_t prmask; /* bit c set when class c is not empty */
	struct tbucket *ring;
	uint32_t nring;
	uint32_t purge_next; /* lowest timestamp not yet purged */
	/* summaries */
	uint8_t fp[32];
	uint32_t idxor;
	uint32_t seq;
	struct store_stats st;
};

/* ---- records and links ------------------------------------------------ */

/* Bits set in a 4-bit value (no popcnt instruction at the baseline
 * x86-64 level; this is on every record access). */
static const uint8_t pop4[16] = {0, 1, 1, 2, 1, 2, 2, 3,
                                 1, 2, 2, 3, 2, 3, 3, 4};

static unsigned rec_nlists(uint8_t flags)
{
	return 1u + pop4[flags & F_LISTS];
}

static uint32_t *rec_link(struct srec *r, int list)
{
	unsigned i;

	if (list == L_TP)
		i = 0;
	else
		i = 1u + pop4[r->pub.flags & F_LISTS & ((1u << (list - 1)) - 1)];
	return &r->lk[2 * i];
}

static uint8_t *rec_bytes(struct srec *r)
{
	return (uint8_t *)&r->lk[2 * rec_nlists(r->pub.flags)];
}

const uint8_t *stored_bytes(const struct stored *sp)
{
	return (const uint8_t *)sp + sizeof(struct srec) +
	       8u * rec_nlists(sp->flags);
}

void stored_view(const struct stored *sp, struct packet_view *pv)
{
	(void)packet_decode(stored_bytes(sp), sp->len, pv);
}

static size_t rec_alloc_size(uint8_t flags, size_t len)
{
	return sizeof(struct srec) + 8u * rec_nlists(flags) + len;
}

/* What a record costs: its slab object (4-byte granules; a large record's
 * own slab also pays a malloc header and a struct slab), plus its slot and
 * table entries. */
static uint64_t rec_cost(uint8_t flags, size_t len)
{
	size_t c = (rec_alloc_size(flags, len) + 3) & ~(size_t)3;

	if (c > 8192) /* SLAB_MAX_OBJ */
		c = ((c + 8 + 15) & ~(size_t)15) + 32;
	return c + STORE_TABLE_COST;
}

/* Tag and pubkey fields of packet bytes (layout of packet.h). */
struct rtags {
	const uint8_t *a, *b, *pk;
	uint8_t la, lb;
};

/* Returns false when the bytes cannot hold the fields (defensive: the
 * caller is supposed to have decoded the packet). */
static bool tags_parse(const uint8_t *p, size_t len, struct rtags *t)
{
	size_t off, plen;

	if (len < PACKET_MIN_LEN)
		return false;
	plen = p[PACKET_OFF_PLEN];
	if (plen != 0 && plen != PACKET_PUBKEY_LEN)
		return false;
	t->pk = plen ? p + PACKET_OFF_PUBKEY : NULL;
	off = PACKET_OFF_PUBKEY + plen;
	if (off + 1 > len)
		return false;
	t->la = p[off];
	t->a = p + off + 1;
	off += 1u + t->la;
	if (t->la > PACKET_TAG_MAX || off + 1 > len)
		return false;
	t->lb = p[off];
	t->b = p + off + 1;
	off += 1u + t->lb;
	if (t->lb > PACKET_TAG_MAX || off + 1 + 4 > len)
		return false;
	return true;
}

/* The tags of a stored record.  Its bytes are the copy store_put() made
 * of a packet tags_parse() accepted, never written again, so the parse
 * cannot fail here: the assert states it (for a reader and for the static
 * analyser, which otherwise follows the failure path into reads of an
 * unset t). */
static void rec_tags(struct srec *r, struct rtags *t)
{
	bool ok = tags_parse(rec_bytes(r), r->pub.len, t);

	assert(ok);
	(void)ok;
}

/* ---- record slabs ---------------------------------------------------------
 *
 * Records are not malloc'd one by one (8-byte header + 16-byte rounding,
 * ~15 B a packet): they live in slabs, one record size per slab, sizes in
 * 4-byte granules.  A record is named by a u32 reference, slab index << 9
 * | object index; the slot table holds references (4 B, not an 8-byte
 * pointer).  Records never move, so struct stored pointers stay valid.
 * A size class (record size <= SLAB_MAX_OBJ) keeps a list of its slabs
 * with free objects; a class's first slabs are small (4, 8, 16 .. objects)
 * so a rare size does not pin 32 KiB.  Larger records get a slab of their
 * own (one object, malloc'd exactly).  An empty slab is freed at once.
 */

#define SLAB_GRAN 4u
#define SLAB_BYTES 32768u
#define SLAB_MAX_OBJ 8192u
#define SLAB_NCLASS (SLAB_MAX_OBJ / SLAB_GRAN + 1u)
#define OBJ_BITS 9                   /* <= 512 objects: 32768 / 98 < 512 */
#define OBJ_MASK ((1u << OBJ_BITS) - 1)
#define SLAB_LIMIT (1u << (31 - OBJ_BITS)) /* refs < 2^31 */
#define OBJ_NONE 0xffffu
#define SLOT_FREE 0x80000000u        /* slot table: free, next in low bits */

struct slab {
	uint8_t *mem;
	uint32_t objsz;
	uint32_t cls;        /* size class, 0 = a large record's own slab */
	uint32_t prev, next; /* class's list of slabs with room (NIL ends) */
	uint16_t nobj;       /* capacity */
	uint16_t nlive;
	uint16_t bump;       /* objects below this have been handed out */
	uint16_t freel;      /* free object list (index in the first u16) */
};

struct slabclass {
	uint32_t avail;  /* first slab with room, NIL if none */
	uint32_t nslabs; /* slabs of this class (sets the next slab's size) */
};

static uint8_t *slab_obj(const struct slab *b, uint32_t obj)
{
	return b->mem + (size_t)obj * b->objsz;
}

static struct srec *ref_rec(const struct store *s, uint32_t ref)
{
	return (struct srec *)slab_obj(&s->slabs[ref >> OBJ_BITS],
	                               ref & OBJ_MASK);
}

static uint32_t slab_objsz(size_t size)
{
	return (uint32_t)((size + SLAB_GRAN - 1) & ~(size_t)(SLAB_GRAN - 1));
}

static void avail_unlink(struct store *s, uint32_t i)
{
	struct slab *b = &s->slabs[i];

	if (b->prev != NIL)
		s->slabs[b->prev].next = b->next;
	else
		s->classes[b->cls].avail = b->next;
	if (b->next != NIL)
		s->slabs[b->next].prev = b->prev;
}

static void avail_push(struct store *s, uint32_t i)
{
	struct slab *b = &s->slabs[i];

	b->prev = NIL;
	b->next = s->classes[b->cls].avail;
	if (b->next != NIL)
		s->slabs[b->next].prev = i;
	s->classes[b->cls].avail = i;
}

/* A new slab for records of objsz bytes; NIL when the reference space is
 * used up (E_NOMEM for the caller; unreachable below ~10^12 bytes). */
static uint32_t slab_new(struct store *s, uint32_t objsz)
{
	uint32_t i, cls = objsz <= SLAB_MAX_OBJ ? objsz / SLAB_GRAN : 0;
	uint32_t nobj = 1;
	struct slab *b;

	if (s->slab_free != NIL) {
		i = s->slab_free;
		s->slab_free = s->slabs[i].next;
	} else {
		if (s->nslabs == SLAB_LIMIT)
			return NIL;
		if (s->nslabs == s->capslabs) {
			s->capslabs = s->capslabs ? s->capslabs * 2 : 64;
			s->slabs = xrealloc(s->slabs,
			                    s->capslabs * sizeof(*s->slabs));
		}
		i = s->nslabs++;
	}
	if (cls) {
		uint32_t most = SLAB_BYTES / objsz, n = s->classes[cls].nslabs;

		nobj = 4u << (n < 8 ? n : 8);
		if (nobj > most)
			nobj = most;
		s->classes[cls].nslabs++;
	}
	b = &s->slabs[i];
	b->mem = xmalloc((size_t)nobj * objsz);
	b->objsz = objsz;
	b->cls = cls;
	b->nobj = (uint16_t)nobj;
	b->nlive = 0;
	b->bump = 0;
	b->freel = OBJ_NONE;
	if (cls)
		avail_push(s, i);
	return i;
}

/* Memory for a record of `size` bytes; returns its reference, or NIL. */
static uint32_t rec_alloc(struct store *s, size_t size)
{
	uint32_t objsz = slab_objsz(size), i, obj;
	struct slab *b;

	i = objsz <= SLAB_MAX_OBJ ? s->classes[objsz / SLAB_GRAN].avail : NIL;
	if (i == NIL && (i = slab_new(s, objsz)) == NIL)
		return NIL;
	b = &s->slabs[i];
	if (b->freel != OBJ_NONE) {
		obj = b->freel;
		memcpy(&b->freel, slab_obj(b, obj), sizeof(b->freel));
	} else {
		obj = b->bump++;
	}
	if (++b->nlive == b->nobj && b->cls)
		avail_unlink(s, i);
	return i << OBJ_BITS | obj;
}

static void rec_release(struct store *s, uint32_t ref)
{
	uint32_t i = ref >> OBJ_BITS, obj = ref & OBJ_MASK;
	struct slab *b = &s->slabs[i];

	if (b->cls && b->nlive == b->nobj)
		avail_push(s, i); /* was full: has room again */
	if (--b->nlive == 0) {
		if (b->cls) {
			avail_unlink(s, i);
			s->classes[b->cls].nslabs--;
		}
		free(b->mem);
		b->mem = NULL;
		b->next = s->slab_free;
		s->slab_free = i;
		return;
	}
	memcpy(slab_obj(b, obj), &b->freel, sizeof(b->freel));
	b->freel = (uint16_t)obj;
}

/* ---- slots -------------------------------------------------------------- */

static uint32_t *slot_ent(const struct store *s, uint32_t slot)
{
	return &s->chunks[slot >> SLOT_SHIFT][slot & (SLOT_CHUNK - 1)];
}

static struct srec *slot_rec(const struct store *s, uint32_t slot)
{
	return ref_rec(s, *slot_ent(s, slot));
}

static uint32_t slot_alloc(struct store *s, uint32_t ref)
{
	uint32_t slot;

	if (s->free_head != NIL) {
		slot = s->free_head;
		s->free_head = *slot_ent(s, slot) & ~SLOT_FREE;
		if (s->free_head == (NIL & ~SLOT_FREE))
			s->free_head = NIL;
	} else {
		slot = s->slot_hi++;
		if ((slot >> SLOT_SHIFT) >= s->nchunks) {
			s->chunks = xrealloc(s->chunks, (s->nchunks + 1) *
			                                    sizeof(*s->chunks));
			s->chunks[s->nchunks++] =
			    xmalloc(SLOT_CHUNK * sizeof(uint32_t));
		}
	}
	*slot_ent(s, slot) = ref;
	return slot;
}

static void slot_free(struct store *s, uint32_t slot)
{
	*slot_ent(s, slot) = SLOT_FREE | s->free_head;
	s->free_head = slot;
}

/* ---- lists -------------------------------------------------------------- */

static void list_push(struct store *s, struct lhead *h, uint32_t slot,
                      struct srec *r, int list)
{
	uint32_t *l = rec_link(r, list);

	l[0] = NIL;
	l[1] = h->head;
	if (h->head != NIL)
		rec_link(slot_rec(s, h->head), list)[0] = slot;
	else
		h->tail = slot;
	h->head = slot;
}

static void list_unlink(struct store *s, struct lhead *h, struct srec *r,
                        int list)
{
	uint32_t *l = rec_link(r, list);
	uint32_t p = l[0], n = l[1];

	if (p != NIL)
		rec_link(slot_rec(s, p), list)[1] = n;
	else
		h->head = n;
	if (n != NIL)
		rec_link(slot_rec(s, n), list)[0] = p;
	else
		h->tail = p;
}

/* ---- open-addressing slot tables ---------------------------------------- */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* Key hash: low 32 bits pick the home bucket, the top byte is the tag.
 * It is the packet's short id (bytes 8..15, little-endian): keep it so,
 * store_get_short() probes with the short id alone. */
static uint64_t home_hash(const uint8_t hash[32])
{
	return le64(hash + 8); /* uniformly random bits */
}

static uint64_t home_id(uint32_t id)
{
	return mix64(id);
}

static uint32_t ent_make(uint32_t slot, uint64_t home)
{
	return (slot + 1) | (uint32_t)(home >> 56) << SLOT_BITS;
}

static uint32_t ent_slot(uint32_t e)
{
	return (e & SLOT_MASK) - 1;
}

static bool ent_tag_is(uint32_t e, uint64_t home)
{
	return e != TOMB && (e >> SLOT_BITS) == (uint32_t)(home >> 56);
}

/* Home position: the low 32 bits of the key hash scaled to the capacity
 * (Lemire's multiply-shift), so the capacity need not be a power of two
 * and can grow by 1.5x: the load stays in [0.47, 0.7] instead of
 * [0.35, 0.7], about 2 bytes per packet and table saved. */
static uint32_t tab_pos(uint64_t home, uint32_t cap)
{
	return (uint32_t)(((uint64_t)(uint32_t)home * cap) >> 32);
}

static uint32_t tab_next(uint32_t pos, uint32_t cap)
{
	return ++pos == cap ? 0 : pos;
}

static void otab_init(struct otab *t, uint32_t cap)
{
	t->e = xcalloc(cap, sizeof(uint32_t));
	t->cap = cap;
	t->n = 0;
	t->tomb = 0;
}

/* Into the first free or deleted entry (keys are never inserted twice:
 * store_put looks the hash up first, and the id table is a multimap). */
static void otab_raw_insert(struct otab *t, uint64_t home, uint32_t e)
{
	uint32_t pos = tab_pos(home, t->cap);

	while (t->e[pos] != EMPTY && t->e[pos] != TOMB)
		pos = tab_next(pos, t->cap);
	if (t->e[pos] == TOMB)
		t->tomb--;
	t->e[pos] = e;
}

/* Position of entry e (key `home`) in the array tab of capacity cap, or
 * NIL. */
static uint32_t otab_find_ent(const uint32_t *tab, uint32_t cap,
                              uint64_t home, uint32_t e)
{
	uint32_t i = tab_pos(home, cap);

	for (; tab[i] != EMPTY; i = tab_next(i, cap))
		if (tab[i] == e)
			return i;
	return NIL;
}

/* Resizing.  A rebuild of 1M entries at once stalled a put for 100+ ms,
 * so a resize moves the records over a little at each insert and purge:
 * new arrays are allocated, store.gen flips (every record is then "old"),
 * and tables_step walks the slot table in slot order (records in roughly
 * address order: one sequential read each) moving each old record from
 * the previous arrays to the new ones.  Lookups probe both arrays.
 *
 * Pace.  The bound on the new arrays counts the entries still to move:
 * n + tomb + on <= 0.8 * cap (moves and deletes do not change that sum,
 * inserts are checked), so a resize must end within the inserts that
 * leaves room for.  Each insert visits enough slots to end within a
 * quarter of that room (tables_pace), and at least OTAB_STEP_MIN: a
 * growth at 1M packets spreads its ~150 ms of moves over ~60,000
 * inserts.  Not slower: while a resize is under way, a lookup of an
 * absent key probes both arrays (measured: ten nodes on one 2-core
 * machine at 20,000 packets/s kept a backlog for the whole of 12 s
 * resizes at 4 slots per insert).  Were the room to run out all the
 * same, the rest moves at once (tables_finish). */
#define OTAB_STEP_MIN 16u

static bool tables_resizing(const struct store *s)
{
	return s->byhash.old != NULL;
}

/* Entries used in the fuller of the two current arrays: live,
 * tombstones, and the entries still to move. */
static uint64_t tables_used(const struct store *s)
{
	const struct otab *h = &s->byhash, *d = &s->byid;

	return (uint64_t)h->n + h->on + (h->tomb > d->tomb ? h->tomb : d->tomb);
}

/* Would one more entry take either table past 0.8 of its capacity?
 * Linear probing with 4-byte tagged entries at that load: an unsuccessful
 * search reads ~13 entries, one or two cache lines. */
static bool tables_full(const struct store *s)
{
	return (tables_used(s) + 1) * 5 > (uint64_t)s->byhash.cap * 4;
}

/* Is the entry for slot in a previous array live: the slot in use by a
 * record not moved yet? */
static bool old_ent_live(const struct store *s, uint32_t slot)
{
	uint32_t v = *slot_ent(s, slot);

	return !(v & SLOT_FREE) && (ref_rec(s, v)->pub.flags & F_GEN) != s->gen;
}

/* Move one record's entry (`home`, slot) to t's current array (its entry
 * in the previous one goes stale when the caller flips the record's
 * generation). */
static void otab_insert(struct otab *t, uint64_t home, uint32_t slot)
{
	otab_raw_insert(t, home, ent_make(slot, home));
	t->n++;
}

static void otab_move(struct otab *t, uint64_t home, uint32_t slot)
{
	t->on--;
	otab_insert(t, home, slot);
}

static void otab_end_resize(struct otab *t)
{
	free(t->old);
	t->old = NULL;
}

/* Slots to visit per insert: the rest of the walk within a quarter of the
 * room left (see "Pace"). */
static uint32_t tables_pace(const struct store *s)
{
	uint64_t used = tables_used(s);
	uint64_t limit = (uint64_t)s->byhash.cap * 4 / 5;
	uint64_t room = limit > used ? limit - used : 1;
	uint64_t k = 4 * (uint64_t)(s->slot_hi - s->mig_slot) / room + 1;

	return k < OTAB_STEP_MIN ? OTAB_STEP_MIN : k > UINT32_MAX ? UINT32_MAX
	                                                          : (uint32_t)k;
}

/* Visit up to k slots of the resize walk.  Batches of MOVE_BATCH slots
 * in three passes, so the cache misses of a batch overlap instead of
 * following one another: prefetch the records, then read their keys and
 * prefetch the new arrays' home positions, then move. */
#define MOVE_BATCH 16u

static void tables_step(struct store *s, uint32_t k)
{
	if (!tables_resizing(s))
		return;
	while (k && s->byhash.on) {
		struct srec *r[MOVE_BATCH];
		uint32_t slot[MOVE_BATCH];
		uint64_t hh[MOVE_BATCH], hi[MOVE_BATCH];
		uint32_t n = 0, m = 0, i;

		/* records not moved yet (on > 0) lie at or after mig_slot */
		assert(s->mig_slot < s->slot_hi);
		for (; k && n < MOVE_BATCH && s->mig_slot < s->slot_hi;
		     k--, s->mig_slot++) {
			uint32_t v = *slot_ent(s, s->mig_slot);

			if (v & SLOT_FREE)
				continue;
			r[n] = ref_rec(s, v);
			__builtin_prefetch(r[n]);
			slot[n++] = s->mig_slot;
		}
		for (i = 0; i < n; i++) {
			if ((r[i]->pub.flags & F_GEN) == s->gen)
				continue; /* stored during the resize */
			r[m] = r[i];
			slot[m] = slot[i];
			hh[m] = home_hash(r[i]->pub.hash);
			hi[m] = home_id(r[i]->pub.id);
			__builtin_prefetch(&s->byhash.e[tab_pos(hh[m], s->byhash.cap)], 1);
			__builtin_prefetch(&s->byid.e[tab_pos(hi[m], s->byid.cap)], 1);
			m++;
		}
		for (i = 0; i < m; i++) {
			r[i]->pub.flags ^= F_GEN;
			otab_move(&s->byhash, hh[i], slot[i]);
			otab_move(&s->byid, hi[i], slot[i]);
		}
	}
	if (s->byhash.on == 0) {
		assert(s->byid.on == 0);
		otab_end_resize(&s->byhash);
		otab_end_resize(&s->byid);
	}
}

/* Move every remaining record now. */
static void tables_finish(struct store *s)
{
	while (tables_resizing(s))
		tables_step(s, UINT32_MAX);
}

static void otab_start_resize(struct otab *t, uint32_t cap)
{
	t->old = t->e;
	t->ocap = t->cap;
	t->on = t->n;
	otab_init(t, cap);
}

/* Start resizing both tables to capacity cap (dropping tombstones); with
 * nothing to move it ends at once. */
static void tables_resize(struct store *s, uint32_t cap)
{
	tables_finish(s);
	otab_start_resize(&s->byhash, cap);
	otab_start_resize(&s->byid, cap);
	s->gen ^= F_GEN;
	s->mig_slot = 0;
	tables_step(s, 0);
}

/* Make room for one more entry in both tables (before each insert). */
static void tables_reserve(struct store *s)
{
	const struct otab *t = &s->byhash;

	if (tables_resizing(s))
		tables_step(s, tables_pace(s));
	if (!tables_full(s))
		return;
	tables_finish(s); /* not expected during a resize: see "Pace" */
	/* Grow by 1.5x when the live load passes 0.7, else just sweep the
	 * tombstones. */
	if (tables_full(s))
		tables_resize(s, (uint64_t)(t->n + 1) * 10 > (uint64_t)t->cap * 7
		                     ? t->cap + t->cap / 2 : t->cap);
}

/* Remove the entry (home, slot) (present): it becomes a tombstone, so
 * deleting reads no other record (a backward shift would have to fetch
 * the record of every entry it considers moving).  in_old: the record was
 * not moved yet by the resize under way. */
static void otab_delete(struct otab *t, uint64_t home, uint32_t slot,
                        bool in_old)
{
	if (in_old) {
		t->on--; /* its entry goes stale with the slot */
	} else {
		uint32_t i = otab_find_ent(t->e, t->cap, home,
		                           ent_make(slot, home));

		assert(i != NIL);
		t->e[i] = TOMB;
		t->tomb++;
		t->n--;
	}
}

static void tables_insert(struct store *s, struct srec *r, uint32_t slot)
{
	otab_insert(&s->byhash, home_hash(r->pub.hash), slot);
	otab_insert(&s->byid, home_id(r->pub.id), slot);
}

static void tables_delete(struct store *s, struct srec *r, uint32_t slot)
{
	const struct otab *t = &s->byhash;
	bool in_old = tables_resizing(s) && (r->pub.flags & F_GEN) != s->gen;

	otab_delete(&s->byhash, home_hash(r->pub.hash), slot, in_old);
	otab_delete(&s->byid, home_id(r->pub.id), slot, in_old);
	if (t->cap > OTAB_MIN && (uint64_t)(t->n + t->on) * 4 < t->cap)
		s->shrink = true;
}

/* Shrinks start at the end of store_purge / store_put, once the removals
 * are done. */
static void tables_maybe_shrink(struct store *s)
{
	const struct otab *t = &s->byhash;

	if (!s->shrink || tables_resizing(s))
		return;
	s->shrink = false;
	if ((uint64_t)t->n * 4 < t->cap && t->cap > OTAB_MIN)
		tables_resize(s, t->cap / 2 > OTAB_MIN ? t->cap / 2 : OTAB_MIN);
}

/* Probe both arrays of a table (the previous one during a resize, its
 * live entries only) for entries whose tag matches `home`: oprobe_init,
 * then oprobe_next until it returns NIL.  The store must not change
 * meanwhile. */
struct oprobe {
	const struct store *s;
	const struct otab *t;
	const uint32_t *e;
	uint32_t cap, pos;
	uint64_t home;
	bool in_old;
};

static void oprobe_at(struct oprobe *p, const uint32_t *e, uint32_t cap)
{
	p->e = e;
	p->cap = cap;
	p->pos = tab_pos(p->home, cap);
}

static void oprobe_init(struct oprobe *p, const struct store *s,
                        const struct otab *t, uint64_t home)
{
	p->s = s;
	p->t = t;
	p->home = home;
	p->in_old = false;
	oprobe_at(p, t->e, t->cap);
}

/* The next slot whose entry has the tag of home, or NIL. */
static uint32_t oprobe_next(struct oprobe *p)
{
	for (;;) {
		uint32_t e = p->e[p->pos];

		if (e == EMPTY) {
			if (p->in_old || !p->t->old)
				return NIL;
			p->in_old = true;
			oprobe_at(p, p->t->old, p->t->ocap);
			continue;
		}
		p->pos = tab_next(p->pos, p->cap);
		if (ent_tag_is(e, p->home) &&
		    (!p->in_old || old_ent_live(p->s, ent_slot(e))))
			return ent_slot(e);
	}
}

static uint32_t find_hash(const struct store *s, const uint8_t hash[32])
{
	struct oprobe p;
	uint32_t slot;

	oprobe_init(&p, s, &s->byhash, home_hash(hash));
	while ((slot = oprobe_next(&p)) != NIL)
		if (memcmp(slot_rec(s, slot)->pub.hash, hash, 32) == 0)
			return slot;
	return NIL;
}

/* ---- index keys ------------------------------------------------------------ */

static uint64_t key_hash(const struct store *s, uint8_t kind,
                         const uint8_t *k, size_t n)
{
	uint64_t h = s->seed ^ ((uint64_t)kind << 56) ^ n;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ k[i]) * 0x100000001b3ULL;
	return mix64(h);
}

/* Key bytes of index `kind` for the tags t, into buf (>= 33 bytes).
 * Pair keys are lenA | tagA | tagB. */
static size_t key_make(uint8_t kind, const struct rtags *t, uint8_t *buf)
{
	switch (kind) {
	case K_A:
		memcpy(buf, t->a, t->la);
		return t->la;
	case K_B:
		memcpy(buf, t->b, t->lb);
		return t->lb;
	case K_PAIR:
		buf[0] = t->la;
		memcpy(buf + 1, t->a, t->la);
		memcpy(buf + 1 + t->la, t->b, t->lb);
		return 1u + t->la + t->lb;
	default:
		/* a K_PUB key is made only for a record with F_PUB, which
		 * store_put() sets when tags_parse() found a pubkey */
		assert(t->pk);
		memcpy(buf, t->pk, PACKET_PUBKEY_LEN);
		return PACKET_PUBKEY_LEN;
	}
}

static struct ikey **key_find(const struct store *s, uint8_t kind,
                              const uint8_t *k, size_t n, uint64_t h)
{
	struct ikey **pp = &s->keys.b[h & (s->keys.cap - 1)];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->h == h && (*pp)->kind == kind && (*pp)->klen == n &&
		    memcmp((*pp)->key, k, n) == 0)
			return pp;
	return pp;
}

static void ktab_resize(struct store *s, size_t cap)
{
	struct ikey **nb = xcalloc(cap, sizeof(*nb)), *k, *nx;
	size_t i;

	for (i = 0; i < s->keys.cap; i++)
		for (k = s->keys.b[i]; k; k = nx) {
			nx = k->next;
			k->next = nb[k->h & (cap - 1)];
			nb[k->h & (cap - 1)] = k;
		}
	free(s->keys.b);
	s->keys.b = nb;
	s->keys.cap = cap;
}

static struct ikey *key_get(struct store *s, uint8_t kind,
                            const struct rtags *t)
{
	uint8_t buf[40];
	size_t n = key_make(kind, t, buf);
	uint64_t h = key_hash(s, kind, buf, n);
	struct ikey **pp = key_find(s, kind, buf, n, h), *k;
	int side;

	if (*pp)
		return *pp;
	k = xcalloc(1, sizeof(*k) + n);
	k->h = h;
	k->l.head = k->l.tail = NIL;
	k->kind = kind;
	k->klen = (uint8_t)n;
	memcpy(k->key, buf, n);
	*pp = k;
	if (++s->keys.n > s->keys.cap)
		ktab_resize(s, s->keys.cap * 2);
	if (kind != K_PAIR)
		return k;
	for (side = 0; side < 2; side++) {
		struct ikey *up;

		if (!(side ? t->lb : t->la))
			continue;
		up = key_get(s, side ? K_B : K_A, t);
		k->up[side] = up;
		k->sib[side][1] = up->kids;
		if (up->kids)
			up->kids->sib[side][0] = k;
		up->kids = k;
		up->nkids++;
	}
	return k;
}

static struct ikey *key_lookup(const struct store *s, uint8_t kind,
                               const struct rtags *t)
{
	uint8_t buf[40];
	size_t n = key_make(kind, t, buf);

	return *key_find(s, kind, buf, n, key_hash(s, kind, buf, n));
}

static void key_drop(struct store *s, struct ikey *k)
{
	struct ikey **pp = key_find(s, k->kind, k->key, k->klen, k->h);
	int side;

	*pp = k->next;
	for (side = 0; side < 2; side++) {
		struct ikey *up = k->up[side], *p = k->sib[side][0],
		            *n = k->sib[side][1];

		if (!up)
			continue;
		if (p)
			p->sib[side][1] = n;
		else
			up->kids = n;
		if (n)
			n->sib[side][0] = p;
		if (--up->nkids == 0)
			key_drop(s, up);
	}
	free(k);
	if (--s->keys.n * 8 < s->keys.cap && s->keys.cap > KTAB_MIN)
		ktab_resize(s, s->keys.cap / 2);
}

static const uint8_t key_kind_of_list[3] = {0, K_PAIR, K_PUB};

/* Count one packet more (+1) or less (-1) under key k and its tag keys;
 * frees the keys that empty. */
static void key_count(struct store *s, struct ikey *k, int d)
{
	int side;

	for (side = 0; side < 2; side++)
		if (k->up[side])
			k->up[side]->count += (uint32_t)d;
	k->count += (uint32_t)d;
	if (k->count == 0)
		key_drop(s, k);
}

/* ---- create / free ---------------------------------------------------------- */

struct store *store_new(const struct store_config *cfg)
{
	struct store *s;
	int p;

	if (!cfg || cfg->purgetime > STORE_MAX_PURGETIME)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->cfg = *cfg;
	s->free_head = NIL;
	s->slab_free = NIL;
	s->classes = xmalloc(SLAB_NCLASS * sizeof(*s->classes));
	for (uint32_t c = 0; c < SLAB_NCLASS; c++) {
		s->classes[c].avail = NIL;
		s->classes[c].nslabs = 0;
	}
	otab_init(&s->byhash, OTAB_MIN);
	otab_init(&s->byid, OTAB_MIN);
	s->keys.cap = KTAB_MIN;
	s->keys.b = xcalloc(KTAB_MIN, sizeof(*s->keys.b));
	/* No clock or RNG in core: the address gives a per-process seed
	 * (ASLR), enough to keep tag-chosen keys from colliding on purpose
	 * across nodes. */
	s->seed = mix64((uint64_t)(uintptr_t)s ^ 0x9e3779b97f4a7c15ULL);
	for (p = 0; p < NPC; p++)
		s->pr[p].oldest = UINT32_MAX;
	s->nring = cfg->purgetime + STORE_FUTURE_MAX + STORE_CLOCK_BACK + 4;
	s->ring = xcalloc(s->nring, sizeof(*s->ring));
	for (uint32_t i = 0; i < s->nring; i++)
		for (p = 0; p < NPC; p++)
			s->ring[i].l[p].head = s->ring[i].l[p].tail = NIL;
	return s;
}

void store_free(struct store *s)
{
	uint32_t i;
	size_t b;
	struct ikey *k, *nx;

	if (!s)
		return;
	for (i = 0; i < s->nslabs; i++)
		free(s->slabs[i].mem);
	free(s->slabs);
	free(s->classes);
	for (i = 0; i < s->nchunks; i++)
		free(s->chunks[i]);
	free(s->chunks);
	for (b = 0; b < s->keys.cap; b++)
		for (k = s->keys.b[b]; k; k = nx) {
			nx = k->next;
			free(k);
		}
	free(s->keys.b);
	free(s->byhash.e);
	free(s->byhash.old);
	free(s->byid.e);
	free(s->byid.old);
	free(s->ring);
	free(s);
}

/* ---- removal ---------------------------------------------------------------- */

static int prio_class(int priority)
{
	return priority >= NPC ? NPC - 1 : priority;
}

static void xor32(uint8_t *d, const uint8_t *x)
{
	for (int i = 0; i < 32; i++)
		d[i] ^= x[i];
}

static void rec_remove(struct store *s, uint32_t slot)
{
	struct srec *r = slot_rec(s, slot);
	struct stored *sp = &r->pub;
	int c = prio_class(sp->priority);
	struct prclass *pc = &s->pr[c];
	struct tbucket *b = &s->ring[sp->timestamp % s->nring];
	uint64_t cost = rec_cost(sp->flags, sp->len);
	struct rtags t;
	int list;

	pc->count--;
	pc->bytes -= cost;
	if (!pc->count) {
		s->prmask &= ~(1u << c);
		pc->oldest = UINT32_MAX;
	}
	list_unlink(s, &b->l[c], r, L_TP);
	if (b->l[c].head == NIL)
		b->pmask &= ~(1u << c);
	b->count--;
	xor32(b->fp, sp->hash);

	rec_tags(r, &t);
	for (list = L_PAIR; list <= L_PUB; list++) {
		struct ikey *k;

		if (!(sp->flags & (1u << (list - 1))))
			continue;
		k = key_lookup(s, key_kind_of_list[list], &t);
		list_unlink(s, &k->l, r, list);
		key_count(s, k, -1);
	}
	tables_delete(s, r, slot);

	xor32(s->fp, sp->hash);
	s->idxor ^= sp->id;
	s->st.count--;
	s->st.bytes -= cost;
	s->st.freed++;
	s->st.by_priority[sp->priority >= 13 ? 13 : sp->priority]--;
	rec_release(s, *slot_ent(s, slot));
	slot_free(s, slot);
}

/* Remove every packet of bucket b (all expired). */
static size_t bucket_drop(struct store *s, struct tbucket *b)
{
	size_t n = 0;
	int c;

	for (c = 0; c < NPC; c++)
		while (b->l[c].head != NIL) {
			rec_remove(s, b->l[c].head);
			n++;
		}
	s->st.purged += n;
	return n;
}

size_t store_purge(struct store *s, uint32_t now)
{
	uint32_t cutoff, t;
	size_t n = 0;

	/* Held while now - timestamp < purgetime: remove timestamp <= cutoff. */
	if (now < s->cfg.purgetime)
		return 0;
	cutoff = now - s->cfg.purgetime;
	if (cutoff < s->purge_next)
		return 0;
	t = s->purge_next;
	if (cutoff - t >= s->nring)
		t = cutoff - s->nring + 1; /* visit each ring entry once */
	for (;; t++) {
		struct tbucket *b = &s->ring[t % s->nring];

		if (b->count && b->t <= cutoff)
			n += bucket_drop(s, b);
		if (t == cutoff)
			break;
	}
	s->purge_next = cutoff + 1;
	/* a resize under way advances with the removals too */
	tables_step(s, n < UINT32_MAX / OTAB_STEP_MIN
	                   ? (uint32_t)n * OTAB_STEP_MIN : UINT32_MAX);
	tables_maybe_shrink(s);
	return n;
}

/* ---- insertion -------------------------------------------------------------- */

/* The oldest second holding class c, from a pass over the whole ring. */
static uint32_t class_oldest(const struct store *s, int c)
{
	uint32_t i, best = UINT32_MAX;

	for (i = 0; i < s->nring; i++) {
		const struct tbucket *b = &s->ring[i];

		if ((b->pmask & (1u << c)) && b->t < best)
			best = b->t;
	}
	return best;
}

/* Evict the oldest arrival of the oldest second of the lowest class.
 * pr[c].oldest is a lower bound on the class's timestamps (put lowers
 * it, eviction raises it to the second it finds; purge leaves it alone,
 * so it can lag far behind): scan forward from it for at most one ring
 * length, then take the exact oldest from one pass over the ring.  So an
 * eviction costs at most two ring passes, amortised O(1). */
static void evict_one(struct store *s)
{
	int c = __builtin_ctz(s->prmask);
	uint32_t t = s->pr[c].oldest, i;
	struct tbucket *b;

	for (i = 0; i < s->nring; i++, t++) {
		b = &s->ring[t % s->nring];
		if ((b->pmask & (1u << c)) && b->t == t)
			goto found;
	}
	t = class_oldest(s, c);
	b = &s->ring[t % s->nring];
	assert(b->t == t && (b->pmask & (1u << c)));
found:
	s->pr[c].oldest = t;
	if (s->cfg.on_evict)
		s->cfg.on_evict(&slot_rec(s, b->l[c].tail)->pub, s->cfg.evict_arg);
	rec_remove(s, b->l[c].tail);
	s->st.evicted++;
}

static int cmp_rec_seq(const void *a, const void *b)
{
	const struct stored *x = *(struct stored *const *)a;
	const struct stored *y = *(struct stored *const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Arrival numbers are about to wrap: number the held packets 1..n in the
 * same order, so every comparison of held seqs stays right. */
static void seq_renumber(struct store *s)
{
	struct stored **v = xmalloc((s->st.count ? s->st.count : 1) *
	                            sizeof(*v));
	size_t n = 0, i;
	uint32_t slot;

	for (slot = 0; slot < s->slot_hi; slot++)
		if (!(*slot_ent(s, slot) & SLOT_FREE))
			v[n++] = &slot_rec(s, slot)->pub;
	qsort(v, n, sizeof(*v), cmp_rec_seq);
	for (i = 0; i < n; i++)
		v[i]->seq = (uint32_t)(i + 1);
	s->seq = (uint32_t)n;
	free(v);
}

void store_debug_set_seq(struct store *s, uint32_t seq)
{
	s->seq = seq;
}

bool store_debug_resizing(const struct store *s)
{
	return tables_resizing(s);
}

int store_put(struct store *s, const uint8_t *pkt, size_t len,
              const struct pow_eval *pe, uint32_t now, struct stored **out)
{
	struct rtags t;
	struct srec *r;
	struct tbucket *b;
	uint32_t ts, slot, ref;
	uint8_t flags = 0;
	uint64_t cost;
	int p, list;

	if (out)
		*out = NULL;
	if (!pe || pe->priority < 0 || len > PACKET_MAX_LEN ||
	    !tags_parse(pkt, len, &t))
		return E_INVAL;
	ts = le32(pkt + PACKET_OFF_TIME);
	if ((uint64_t)ts + s->cfg.purgetime <= now ||
	    (uint64_t)ts > (uint64_t)now + STORE_FUTURE_MAX)
		return E_INVAL;
	slot = find_hash(s, pe->hash);
	if (slot != NIL) {
		if (out)
			*out = &slot_rec(s, slot)->pub;
		return E_DUP;
	}

	/* A ring entry holds one second.  If it still holds an older one,
	 * that second is expired (ts - b->t >= nring > purgetime + 60).  If
	 * it holds a newer one, the clock stepped back by more than
	 * STORE_CLOCK_BACK: that second is over 15 minutes ahead of `now`,
	 * beyond what the store accepts, and gives way (docs/store.md). */
	b = &s->ring[ts % s->nring];
	if (b->count && b->t != ts)
		(void)bucket_drop(s, b);

	if (t.la || t.lb)
		flags |= F_PAIR;
	if (t.pk)
		flags |= F_PUB;
	cost = rec_cost(flags, len);
	p = prio_class(pe->priority);
	if (s->st.bytes + cost > s->cfg.maxmem ||
	    s->st.count >= STORE_MAX_PACKETS) {
		uint64_t evictable = 0, nevictable = 0;
		int q;

		for (q = 0; q < p; q++) {
			evictable += s->pr[q].bytes;
			nevictable += s->pr[q].count;
		}
		if (s->st.bytes - evictable + cost > s->cfg.maxmem ||
		    s->st.count - nevictable >= STORE_MAX_PACKETS)
			return E_NOMEM;
		while (s->st.bytes + cost > s->cfg.maxmem ||
		       s->st.count >= STORE_MAX_PACKETS)
			evict_one(s);
	}

	tables_reserve(s);
	ref = rec_alloc(s, rec_alloc_size(flags, len));
	if (ref == NIL)
		return E_NOMEM;
	r = ref_rec(s, ref);
	memset(&r->pub, 0, sizeof(r->pub));
	memcpy(r->pub.hash, pe->hash, 32);
	if (s->seq == UINT32_MAX)
		seq_renumber(s);
	r->pub.seq = ++s->seq;
	r->pub.id = pe->id;
	r->pub.timestamp = ts;
	r->pub.recvtime = now;
	r->pub.priority = (int8_t)(pe->priority > 127 ? 127 : pe->priority);
	r->pub.relay = pkt[PACKET_OFF_RELAY];
	r->pub.flags = flags | s->gen;
	r->pub.len = (uint32_t)len;
	memcpy(rec_bytes(r), pkt, len);
	rec_tags(r, &t); /* point into the copy */
	slot = slot_alloc(s, ref);

	s->pr[p].count++;
	s->pr[p].bytes += cost;
	s->prmask |= 1u << p;
	if (ts < s->pr[p].oldest)
		s->pr[p].oldest = ts;
	/* After the clock stepped back, a packet can be older than the purge
	 * position: purge must come back for it (else it outlives its
	 * lifetime until the clock catches up again). */
	if (ts < s->purge_next)
		s->purge_next = ts;

	b->t = ts;
	b->count++;
	xor32(b->fp, pe->hash);
	list_push(s, &b->l[p], slot, r, L_TP);
	b->pmask |= 1u << p;

	for (list = L_PAIR; list <= L_PUB; list++) {
		struct ikey *k;

		if (!(flags & (1u << (list - 1))))
			continue;
		k = key_get(s, key_kind_of_list[list], &t);
		list_push(s, &k->l, slot, r, list);
		key_count(s, k, +1);
	}
	tables_insert(s, r, slot);

	xor32(s->fp, pe->hash);
	s->idxor ^= pe->id;
	s->st.count++;
	s->st.added++;
	s->st.bytes += cost;
	s->st.by_priority[r->pub.priority >= 13 ? 13 : r->pub.priority]++;
	tables_maybe_shrink(s);
	if (out)
		*out = &r->pub;
	return E_OK;
}

/* ---- lookups ---------------------------------------------------------------- */

bool store_has(const struct store *s, const uint8_t hash[32])
{
	return find_hash(s, hash) != NIL;
}

struct stored *store_get_hash(const struct store *s, const uint8_t hash[32])
{
	uint32_t slot = find_hash(s, hash);

	return slot == NIL ? NULL : &slot_rec(s, slot)->pub;
}

struct stored *store_get_short(const struct store *s, uint64_t sid)
{
	struct oprobe p;
	uint32_t slot;
	struct stored *best = NULL;

	/* home_hash(hash) == le64(hash + 8) == the short id. */
	oprobe_init(&p, s, &s->byhash, sid);
	while ((slot = oprobe_next(&p)) != NIL) {
		struct stored *sp = &slot_rec(s, slot)->pub;

		if (le64(sp->hash + 8) == sid && (!best || sp->seq > best->seq))
			best = sp;
	}
	return best;
}

void store_foreach_short(const struct store *s, uint64_t sid,
                         bool (*cb)(struct stored *, void *), void *arg)
{
	struct oprobe p;
	uint32_t slot;

	/* cb may not put or purge, so the table does not change under us. */
	oprobe_init(&p, s, &s->byhash, sid);
	while ((slot = oprobe_next(&p)) != NIL) {
		struct stored *sp = &slot_rec(s, slot)->pub;

		if (le64(sp->hash + 8) == sid && !cb(sp, arg))
			return;
	}
}

struct stored *store_get_id(const struct store *s, uint32_t id)
{
	struct oprobe p;
	uint32_t slot;
	struct stored *best = NULL;

	oprobe_init(&p, s, &s->byid, home_id(id));
	while ((slot = oprobe_next(&p)) != NIL) {
		struct stored *sp = &slot_rec(s, slot)->pub;

		if (sp->id == id && (!best || sp->seq > best->seq))
			best = sp;
	}
	return best;
}

static int cmp_seq_desc(const void *a, const void *b)
{
	const struct stored *x = *(struct stored *const *)a;
	const struct stored *y = *(struct stored *const *)b;

	return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

void store_foreach_id(const struct store *s, uint32_t id,
                      bool (*cb)(struct stored *, void *), void *arg)
{
	struct oprobe p;
	uint32_t slot;
	struct stored *stack[16], **v = stack;
	size_t n = 0, cap = 16, i;

	oprobe_init(&p, s, &s->byid, home_id(id));
	while ((slot = oprobe_next(&p)) != NIL) {
		struct stored *sp = &slot_rec(s, slot)->pub;

		if (sp->id != id)
			continue;
		if (n == cap) {
			struct stored **nv = xmalloc(2 * cap * sizeof(*nv));

			memcpy(nv, v, n * sizeof(*nv));
			if (v != stack)
				free(v);
			v = nv;
			cap *= 2;
		}
		v[n++] = sp;
	}
	qsort(v, n, sizeof(*v), cmp_seq_desc);
	for (i = 0; i < n; i++)
		if (!cb(v[i], arg))
			break;
	if (v != stack)
		free(v);
}

void store_cancel(struct store *s, struct stored *sp, uint32_t t)
{
	(void)s;
	if (sp && !sp->cancelled)
		sp->cancelled = t;
}

/* ---- query ------------------------------------------------------------------ */

/* Step 3 and 4 of DEX_list for one selected packet.  Returns 0 to go on,
 * 1 to stop the walk (stop point or cb said so). */
static int query_visit(const struct store_query *q, struct srec *r,
                       bool (*cb)(struct stored *, void *), void *arg,
                       size_t *n)
{
	const uint8_t *p = rec_bytes(r);
	uint64_t a, b;

	if ((q->stopat && r->pub.id == q->stopat) ||
	    (q->stophash && memcmp(r->pub.hash, q->stophash, 32) == 0))
		return 1;
	if (r->pub.priority < q->minpriority)
		return 0;
	a = le64(p + PACKET_OFF_AMOUNTA);
	b = le64(p + PACKET_OFF_AMOUNTB);
	if (a < q->min_a || a > q->max_a || b < q->min_b || b > q->max_b)
		return 0;
	(*n)++;
	return cb(&r->pub, arg) ? 0 : 1;
}

static bool query_selects(const struct store_query *q, struct srec *r)
{
	struct rtags t;

	rec_tags(r, &t);
	if (q->len_a && (t.la != q->len_a || memcmp(t.a, q->tag_a, t.la)))
		return false;
	if (q->len_b && (t.lb != q->len_b || memcmp(t.b, q->tag_b, t.lb)))
		return false;
	if (q->pubkey && (!t.pk || memcmp(t.pk, q->pubkey, PACKET_PUBKEY_LEN)))
		return false;
	return true;
}

/* Walk several newest-first lists (link `list`) as one, by descending
 * seq: a max-heap of cursors.  sel: test the tag/pubkey selection. */
struct cur {
	uint64_t seq;
	uint32_t slot;
};

static void heap_down(struct cur *h, size_t k, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct cur x;

		if (l < k && h[l].seq > h[m].seq)
			m = l;
		if (r < k && h[r].seq > h[m].seq)
			m = r;
		if (m == i)
			return;
		x = h[i];
		h[i] = h[m];
		h[m] = x;
		i = m;
	}
}

static size_t walk_merge(const struct store *s, struct cur *h, size_t k,
                         int list, bool sel, const struct store_query *q,
                         bool (*cb)(struct stored *, void *), void *arg)
{
	size_t n = 0, i;

	for (i = k / 2; i-- > 0;)
		heap_down(h, k, i);
	while (k > 0) {
		struct srec *r = slot_rec(s, h[0].slot);
		uint32_t next = rec_link(r, list)[1];

		if (next != NIL) {
			h[0].slot = next;
			h[0].seq = slot_rec(s, next)->pub.seq;
		} else {
			h[0] = h[--k];
		}
		heap_down(h, k, 0);
		if (sel && !query_selects(q, r))
			continue;
		if (query_visit(q, r, cb, arg, &n))
			break;
	}
	return n;
}

static void cur_set(const struct store *s, struct cur *c, uint32_t slot)
{
	c->slot = slot;
	c->seq = slot_rec(s, slot)->pub.seq;
}

/* No tag, no pubkey: merge every (second, class) list.  O(lists + m log
 * lists); DEX_list never asks this (its default is tagA general). */
static size_t query_all(const struct store *s, const struct store_query *q,
                        bool (*cb)(struct stored *, void *), void *arg)
{
	struct cur *h;
	size_t k = 0, n, nl = 0;
	uint32_t i;
	int c;

	for (i = 0; i < s->nring; i++)
		nl += (size_t)__builtin_popcount(s->ring[i].pmask);
	h = xmalloc((nl ? nl : 1) * sizeof(*h));
	for (i = 0; i < s->nring; i++)
		for (c = 0; c < NPC; c++)
			if (s->ring[i].l[c].head != NIL)
				cur_set(s, &h[k++], s->ring[i].l[c].head);
	n = walk_merge(s, h, k, L_TP, false, q, cb, arg);
	free(h);
	return n;
}

size_t store_query(const struct store *s, const struct store_query *q,
                   bool (*cb)(struct stored *, void *), void *arg)
{
	static const uint8_t kinds[4] = {K_PAIR, K_A, K_B, K_PUB};
	struct rtags t = {0};
	struct ikey *best = NULL, *kid;
	struct cur one, *h;
	size_t n, k = 0;
	int i;

	if ((q->len_a && (q->len_a > PACKET_TAG_MAX || !q->tag_a)) ||
	    (q->len_b && (q->len_b > PACKET_TAG_MAX || !q->tag_b)))
		return 0;
	if (!q->len_a && !q->len_b && !q->pubkey)
		return query_all(s, q, cb, arg);
	t.a = q->tag_a;
	t.la = (uint8_t)q->len_a;
	t.b = q->tag_b;
	t.lb = (uint8_t)q->len_b;
	t.pk = q->pubkey;
	/* The smallest applicable key; a missing key means nothing matches.
	 * A pair key fits a query with both tags or with only tagA / only
	 * tagB (the pair with an empty other tag is then NOT enough: tagA
	 * alone matches any tagB), so: pair only when both tags are given. */
	for (i = 0; i < 4; i++) {
		struct ikey *c;

		if ((kinds[i] == K_PAIR && !(q->len_a && q->len_b)) ||
		    (kinds[i] == K_A && !q->len_a) ||
		    (kinds[i] == K_B && !q->len_b) ||
		    (kinds[i] == K_PUB && !q->pubkey))
			continue;
		c = key_lookup(s, kinds[i], &t);
		if (!c)
			return 0;
		if (!best || c->count < best->count)
			best = c;
	}
	if (best->kind == K_PAIR || best->kind == K_PUB) {
		if (best->l.head == NIL)
			return 0;
		cur_set(s, &one, best->l.head);
		return walk_merge(s, &one, 1,
		                  best->kind == K_PAIR ? L_PAIR : L_PUB, true, q,
		                  cb, arg);
	}
	/* A tag key: merge the lists of its pairs. */
	h = xmalloc(best->nkids * sizeof(*h));
	for (kid = best->kids; kid;
	     kid = kid->sib[best->kind == K_A ? 0 : 1][1])
		if (kid->l.head != NIL)
			cur_set(s, &h[k++], kid->l.head);
	n = walk_merge(s, h, k, L_PAIR, true, q, cb, arg);
	free(h);
	return n;
}

/* ---- time buckets and fingerprints ------------------------------------------ */

void store_foreach_time(const struct store *s, uint32_t t0, uint32_t t1,
                        bool (*cb)(struct stored *, void *), void *arg)
{
	uint64_t t, end;

	if (t1 < t0)
		return;
	t = t0;
	end = t1;
	if (end - t + 1 > s->nring) {
		/* Wider than the ring: visit each entry once. */
		t = 0;
		end = s->nring - 1;
	}
	for (; t <= end; t++) {
		const struct tbucket *b = &s->ring[t % s->nring];
		uint32_t slot;

		if (!b->count || b->t < t0 || b->t > t1)
			continue;
		for (int c = 0; c < NPC; c++)
			for (slot = b->l[c].head; slot != NIL;) {
				struct srec *r = slot_rec(s, slot);

				slot = rec_link(r, L_TP)[1];
				if (!cb(&r->pub, arg))
					return;
			}
	}
}

void store_fingerprint(const struct store *s, uint8_t out[32])
{
	memcpy(out, s->fp, 32);
}

uint32_t store_idxor(const struct store *s)
{
	return s->idxor;
}

void store_bucket(const struct store *s, uint32_t t, struct store_bucket *b)
{
	const struct tbucket *tb = &s->ring[t % s->nring];

	memset(b, 0, sizeof(*b));
	if (tb->count && tb->t == t) {
		b->count = tb->count;
		memcpy(b->fp, tb->fp, 32);
	}
}

void store_range(const struct store *s, uint32_t t0, uint32_t t1,
                 struct store_bucket *b)
{
	uint64_t t, end;

	memset(b, 0, sizeof(*b));
	if (t1 < t0)
		return;
	t = t0;
	end = t1;
	if (end - t + 1 > s->nring) {
		t = 0;
		end = s->nring - 1;
	}
	for (; t <= end; t++) {
		const struct tbucket *tb = &s->ring[t % s->nring];

		if (!tb->count || tb->t < t0 || tb->t > t1)
			continue;
		b->count += tb->count;
		xor32(b->fp, tb->fp);
	}
}

void store_get_stats(const struct store *s, struct store_stats *st)
{
	*st = s->st;
}

size_t store_index_keys(const struct store *s)
{
	return s->keys.n;
}

/* ---- consistency check (tests) ---------------------------------------------- */

#define CHK(c) do { if (!(c)) return __LINE__; } while (0)

/* Length of a list, checking its back links and tail; UINT32_MAX if it
 * is malformed or longer than `most`. */
static uint32_t list_check(const struct store *s, const struct lhead *h,
                           int list, uint32_t most)
{
	uint32_t slot = h->head, prev = NIL, n = 0;

	while (slot != NIL) {
		struct srec *r;

		if (n++ == most || slot >= s->slot_hi ||
		    (*slot_ent(s, slot) & SLOT_FREE))
			return UINT32_MAX;
		r = slot_rec(s, slot);
		if (rec_link(r, list)[0] != prev)
			return UINT32_MAX;
		prev = slot;
		slot = rec_link(r, list)[1];
	}
	return prev == h->tail ? n : UINT32_MAX;
}

/* Is `slot` in table t under key `home`, in the array its generation
 * says: the current one, or the previous one while a resize has not
 * moved it yet (a moved record may leave a stale entry there)? */
static bool otab_holds(const struct store *s, const struct otab *t,
                       uint64_t home, uint32_t slot)
{
	uint32_t e = ent_make(slot, home);
	bool in_new = otab_find_ent(t->e, t->cap, home, e) != NIL;
	bool moved = (slot_rec(s, slot)->pub.flags & F_GEN) == s->gen;

	if (moved)
		return in_new;
	return !in_new && t->old && otab_find_ent(t->old, t->ocap, home, e) != NIL;
}

int store_debug_check(const struct store *s)
{
	uint8_t fp[32] = {0};
	uint32_t idx = 0, slot, i, n = 0, ntp = 0, prmask = 0, tabn[2] = {0};
	uint64_t bytes = 0, byp[14] = {0}, pcount[NPC] = {0},
	         pbytes[NPC] = {0}, npair = 0, npub = 0, keyed[2] = {0};
	uint64_t live = 0;
	uint32_t nold = 0; /* records the resize under way has not moved */
	size_t nkeys = 0, b;
	int c;

	/* Every record: reachable by hash and id, in its ring entry. */
	for (slot = 0; slot < s->slot_hi; slot++) {
		struct srec *r;
		struct stored *sp;
		const struct tbucket *tb;

		if (*slot_ent(s, slot) & SLOT_FREE)
			continue;
		r = slot_rec(s, slot);
		sp = &r->pub;
		n++;
		xor32(fp, sp->hash);
		idx ^= sp->id;
		c = prio_class(sp->priority);
		CHK(sp->priority >= 0);
		pcount[c]++;
		pbytes[c] += rec_cost(sp->flags, sp->len);
		bytes += rec_cost(sp->flags, sp->len);
		byp[sp->priority >= 13 ? 13 : sp->priority]++;
		npair += (sp->flags & F_PAIR) != 0;
		npub += (sp->flags & F_PUB) != 0;
		CHK(sp->seq != 0 && sp->seq <= s->seq);
		CHK(sp->timestamp >= s->purge_next);
		CHK(sp->timestamp >= s->pr[c].oldest);
		tb = &s->ring[sp->timestamp % s->nring];
		CHK(tb->t == sp->timestamp && (tb->pmask & (1u << c)));
		CHK(find_hash(s, sp->hash) == slot);
		CHK(otab_holds(s, &s->byhash, home_hash(sp->hash), slot));
		CHK(otab_holds(s, &s->byid, home_id(sp->id), slot));
		nold += (sp->flags & F_GEN) != s->gen;
	}
	CHK(n == s->st.count);
	CHK(memcmp(fp, s->fp, 32) == 0);
	CHK(idx == s->idxor);
	CHK(bytes == s->st.bytes);
	CHK(bytes <= s->cfg.maxmem);
	CHK(memcmp(byp, s->st.by_priority, sizeof(byp)) == 0);
	for (c = 0; c < NPC; c++) {
		CHK(pcount[c] == s->pr[c].count && pbytes[c] == s->pr[c].bytes);
		CHK(pcount[c] || s->pr[c].oldest == UINT32_MAX);
		if (pcount[c])
			prmask |= 1u << c;
	}
	CHK(prmask == s->prmask);
	CHK(s->st.added - s->st.purged - s->st.evicted == s->st.count);
	CHK(s->st.purged + s->st.evicted == s->st.freed);

	/* Ring: one second per entry, each list that second and class. */
	for (i = 0; i < s->nring; i++) {
		const struct tbucket *tb = &s->ring[i];
		uint8_t bfp[32] = {0};
		uint32_t bn = 0, pm = 0;

		for (c = 0; c < NPC; c++) {
			uint32_t len = list_check(s, &tb->l[c], L_TP, n), sl;

			CHK(len != UINT32_MAX);
			if (len)
				pm |= 1u << c;
			for (sl = tb->l[c].head; sl != NIL;) {
				struct srec *r = slot_rec(s, sl);

				CHK(r->pub.timestamp == tb->t);
				CHK(prio_class(r->pub.priority) == c);
				xor32(bfp, r->pub.hash);
				sl = rec_link(r, L_TP)[1];
			}
			bn += len;
		}
		CHK(bn == tb->count && pm == tb->pmask);
		CHK(memcmp(bfp, tb->fp, 32) == 0);
		if (bn)
			CHK(tb->t % s->nring == i);
		ntp += bn;
	}
	CHK(ntp == n);

	/* Tables: live entries are live slots; counts and tombstones. */
	for (int k = 0; k < 2; k++) {
		const struct otab *t = k ? &s->byid : &s->byhash;
		uint32_t tomb = 0, used = 0, oused = 0;

		for (i = 0; i < t->cap; i++) {
			uint32_t e = t->e[i];

			if (e == EMPTY)
				continue;
			if (e == TOMB) {
				tomb++;
				continue;
			}
			CHK(ent_slot(e) < s->slot_hi &&
			    !(*slot_ent(s, ent_slot(e)) & SLOT_FREE));
			used++;
		}
		CHK(used == t->n && tomb == t->tomb);
		for (i = 0; t->old && i < t->ocap; i++) {
			uint32_t e = t->old[i];

			if (e == EMPTY || e == TOMB)
				continue;
			CHK(ent_slot(e) < s->slot_hi);
			oused += old_ent_live(s, ent_slot(e));
		}
		CHK(!t->old || (oused == t->on && t->on > 0));
		CHK((uint64_t)(t->n + t->tomb + oused) * 5 <=
		    (uint64_t)t->cap * 4);
		CHK((t->old != NULL) == tables_resizing(s));
		CHK(t->cap == s->byhash.cap);
		tabn[k] = used + oused;
		CHK(oused == nold);
	}
	CHK(tabn[0] == n && tabn[1] == n);

	/* Index keys: list lengths = counts; tag keys sum their pairs. */
	for (b = 0; b < s->keys.cap; b++) {
		const struct ikey *k;

		for (k = s->keys.b[b]; k; k = k->next) {
			nkeys++;
			CHK((k->h & (s->keys.cap - 1)) == b);
			CHK(k->count > 0);
			if (k->kind == K_PAIR || k->kind == K_PUB) {
				int list = k->kind == K_PAIR ? L_PAIR : L_PUB;
				uint32_t len = list_check(s, &k->l, list, n), sl;

				CHK(len == k->count);
				keyed[k->kind == K_PUB] += len;
				for (sl = k->l.head; sl != NIL;) {
					struct srec *r = slot_rec(s, sl);
					struct rtags t;

					rec_tags(r, &t);
					CHK(key_lookup(s, k->kind, &t) == k);
					sl = rec_link(r, list)[1];
				}
			} else {
				const struct ikey *kid;
				uint32_t nk = 0, sum = 0;
				int side = k->kind == K_A ? 0 : 1;

				for (kid = k->kids; kid; kid = kid->sib[side][1]) {
					CHK(kid->up[side] == k);
					nk++;
					sum += kid->count;
				}
				CHK(nk == k->nkids && sum == k->count);
			}
		}
	}
	CHK(nkeys == s->keys.n);
	CHK(keyed[0] == npair && keyed[1] == npub);

	/* Slabs: live objects = packets; a class slab is on its avail list
	 * exactly when it has room. */
	for (i = 0; i < s->nslabs; i++) {
		const struct slab *sb = &s->slabs[i];

		if (!sb->mem)
			continue;
		CHK(sb->nlive > 0 && sb->nlive <= sb->nobj);
		live += sb->nlive;
	}
	CHK(live == n);
	for (i = 1; i < SLAB_NCLASS; i++) {
		uint32_t j, prev = NIL, cnt = 0;

		for (j = s->classes[i].avail; j != NIL; j = s->slabs[j].next) {
			CHK(j < s->nslabs && s->slabs[j].mem &&
			    s->slabs[j].cls == i && s->slabs[j].prev == prev);
			CHK(s->slabs[j].nlive < s->slabs[j].nobj);
			CHK(cnt++ < s->nslabs);
			prev = j;
		}
	}
	return 0;
}
