/* files.c - the file operations on the event loop (files.h, API.md 4.9 -
 * 4.13).
 *
 * One struct fop per call, from files_submit() until its answer and its
 * last worker job are done.  The running operation is fs->cur; the others
 * wait in fs->head..tail.  An operation goes through stages driven by
 * worker callbacks (hashing, mining) and by its timer (subscription scans),
 * all on the loop thread:
 *
 *   publish   source lookup -> [only when a reuse is possible: SHA-256 of
 *             the content (worker) -> reuse check] -> fragments (read with
 *             pread, hashed as they go, at most FILES_INFLIGHT mined at
 *             once) -> locators -> hash packet -> answer
 *   subscribe locators packet L -> output file -> signatures of the held
 *             fragments (workers) -> scan the store for present fragments
 *             (FILES_SCAN_BATCH per turn), write them, ask peers for the
 *             others (fetch.h) and rescan every FILES_POLL_MS under the
 *             wait rule -> SHA-256 of the output (as written in order, or
 *             read back on a worker) -> answer
 *   stream    cursor -> publish of one slice, or the warning object
 *   streamsub cursor -> subscribe of one slice into a 1 MB buffer, written
 *             to the output file only once its hash matched
 *
 * Memory: a publish holds the locators (8 bytes per fragment) and the
 * fragments being mined; a subscription holds the locators and one byte
 * per fragment (a slice: its 1,000,000 bytes).  The content itself is
 * read from and written to disk as it goes.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "node/files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/sha.h>

#include "core/err.h"
#include "core/store.h"
#include "core/util.h"
#include "node/crypto.h"
#include "node/fetch.h"
#include "node/log.h"
#include "node/mine.h"
#include "node/node.h"
#include "node/render.h"
#include "node/params.h"
#include "node/rpc.h"
#include "node/workers.h"

#define HASH_CHUNK (1u << 20)
#define LOCATORS_TAG "locators"
#define DATA_TAG "data"
#define FILES_TAG "files"
#define SLICES_TAG "slices"
#define VIP_BONUS 5

struct cursor {
	struct cursor *next;
	char name[FILES_NAME_MAX + 1];
	bool sub;
	uint8_t pub[PACKET_PUBKEY_LEN];
	int64_t slice;
};

enum stage {
	ST_QUEUED = 0,
	ST_HASHING,     /* publish: SHA-256 of the source on a worker */
	ST_FRAGMENTS,   /* publish: mining fragments */
	ST_LOCATORS,
	ST_HASHPKT,
	ST_VERIFY,      /* subscribe: signatures of held fragments, on workers */
	ST_SCAN,        /* subscribe: scanning and waiting */
	ST_FINAL,       /* subscribe: SHA-256 of the output on a worker */
};

struct fop {
	struct fop *next;
	struct node *n;
	struct rpc_call *c;        /* NULL once answered */
	struct files_req rq;
	enum stage stage;
	bool ended;                /* answered; freed when jobs == 0 */
	unsigned jobs;             /* worker jobs that will call back */
	struct event *ev;          /* retry (publish) or scan (subscribe) */
	struct cursor *cur;        /* stream, streamsub */

	/* the content: whole file (slice false) or one slice */
	bool slice;
	uint64_t off0, len;
	uint32_t k;
	char fname[FILES_NAME_MAX + 1 + FILES_DIGITS_MAX + 1];
	char tagb[FILES_DIGITS_MAX + 1]; /* locators tagB */
	uint8_t pub[PACKET_PUBKEY_LEN];  /* publisher */
	char pubhex[2 * PACKET_PUBKEY_LEN + 1];
	uint64_t *locs;

	/* publish */
	int fd;
	char path[PATH_MAX];
	uint64_t fsize;
	uint8_t h[32];
	SHA256_CTX run;
	uint32_t next_frag, done;
	int fail_rc;
	bool read_error;
	bool prehashed;            /* h was computed before the fragments */
	uint32_t loc_id;

	/* subscribe */
	uint32_t l_id;
	uint64_t numlocators;
	uint8_t *have;
	uint32_t written, scan;
	bool have_check;
	uint8_t check[32];
	uint8_t *buf;              /* streamsub: the slice */
	SHA256_CTX srun;           /* subscribe: over fragments 0..shashed-1 */
	uint32_t shashed;
	uint32_t vscan;            /* verify pass position */
	bool reverify;             /* verify new arrivals before the next pass */
	int outfd;
	char outpath[PATH_MAX];
	uint64_t t_start, t_progress, t_fetch;
	bool fetched;
};

struct files {
	struct fop *cur, *head, *tail;
	struct cursor *cursors;
	struct event *kick;
};

static void op_start(struct fop *op);
static void pub_pump(struct fop *op);
static void sub_step(evutil_socket_t fd, short what, void *arg);
static void vpump(struct fop *op);

/* ---- helpers ---- */

static struct files *fs_get(struct node *n)
{
	if (!n->files) {
		n->files = xcalloc(1, sizeof(struct files));
		n->stop_hook = files_stop;
	}
	return n->files;
}

static void op_free(struct fop *op)
{
	if (op->ev)
		event_free(op->ev);
	if (op->fd >= 0)
		close(op->fd);
	if (op->outfd >= 0)
		close(op->outfd);
	free(op->locs);
	free(op->have);
	free(op->buf);
	free(op);
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct node *n = arg;
	struct files *fs = n->files;
	struct fop *op;

	if (!fs || fs->cur || !fs->head)
		return;
	op = fs->head;
	fs->head = op->next;
	if (!fs->head)
		fs->tail = NULL;
	op->next = NULL;
	fs->cur = op;
	op_start(op);
}

static void schedule_next(struct node *n)
{
	struct files *fs = n->files;
	struct timeval tv = { 0, 0 };

	if (!fs->kick)
		fs->kick = evtimer_new(n->base, kick_cb, n);
	if (fs->kick)
		evtimer_add(fs->kick, &tv);
}

/* Answer the call (res stolen) and end the operation. */
static void op_end(struct fop *op, json_t *res)
{
	struct node *n = op->n;
	struct files *fs = n->files;

	if (op->c)
		rpc_reply(op->c, res);
	else
		json_decref(res);
	op->c = NULL;
	op->ended = true;
	if (op->ev)
		event_del(op->ev);
	if (fs->cur == op) {
		fs->cur = NULL;
		if (!atomic_load(&n->shutting_down))
			schedule_next(n);
	}
	if (op->jobs == 0)
		op_free(op);
}

/* A worker job of op called back: false if op has ended (and may have
 * been freed now). */
static bool job_back(struct fop *op)
{
	op->jobs--;
	if (!op->ended)
		return true;
	if (op->jobs == 0)
		op_free(op);
	return false;
}

static json_t *errobj_name(const char *msg, const struct fop *op)
{
	return rpc_errobj(msg, "filename",
	                  json_bytes(op->rq.name, op->rq.name_len), NULL);
}

static bool tag_is(const uint8_t *t, size_t tl, const char *s, size_t sl)
{
	return tl == sl && (sl == 0 || memcmp(t, s, sl) == 0);
}

/* The signed-form check (API.md 3.6) of a held packet, memoised in
 * vstate as render.c does: signature valid and signer = its pubkey. */
static bool signed_ok(struct node *n, struct stored *sp)
{
	struct packet_view pv;

	if (render_vstate(n, sp) != VSTATE_OK)
		return false;
	stored_view(sp, &pv);
	return pv.kind != PACKET_KIND_ANON;
}

static const uint8_t *plaintext(const struct packet_view *pv, size_t *len)
{
	*len = pv->payload_len - FILES_SIGNED_OVERHEAD;
	return pv->payload + FILES_SIGNED_OVERHEAD;
}

/* Absolute form of a configured directory. */
static void abs_dir(char *out, size_t cap, const char *dir)
{
	char cwd[PATH_MAX];

	int w;

	if (dir[0] == '/' || !getcwd(cwd, sizeof cwd))
		w = snprintf(out, cap, "%s", dir);
	else
		w = snprintf(out, cap, "%s/%s", cwd, dir);
	if (w < 0 || (size_t)w >= cap)
		snprintf(out, cap, "%s", "/nonexistent"); /* too long: unusable */
}

static void out_dir(const struct node *n, char *out, size_t cap)
{
	if (n->cfg->filesdir)
		abs_dir(out, cap, n->cfg->filesdir);
	else if (!getcwd(out, cap))
		snprintf(out, cap, ".");
}

/* ---- the file result object (API.md 4.9) ---- */

static json_t *result_obj(const struct fop *op, uint32_t id,
                          uint64_t filesize, uint64_t fragments,
                          uint64_t numlocators, const uint8_t filehash[32],
                          bool have_check, const uint8_t check[32],
                          uint32_t missing, enum files_outcome *outp)
{
	static const uint8_t zero[32];
	char fh[65], ch[65];
	enum files_outcome o =
		files_outcome(missing, have_check, filehash, check);
	json_t *r = json_object();

	hex_encode(fh, filehash, 32);
	hex_encode(ch, have_check ? check : zero, 32);
	json_object_set_new(r, "fname", json_bytes(op->fname,
	                                            strlen(op->fname)));
	json_object_set_new(r, "id", json_integer(id));
	json_object_set_new(r, "senderpub", json_string(op->pubhex));
	json_object_set_new(r, "filesize", json_integer((json_int_t)filesize));
	json_object_set_new(r, "fragments",
	                    json_integer((json_int_t)fragments));
	json_object_set_new(r, "numlocators",
	                    json_integer((json_int_t)numlocators));
	json_object_set_new(r, "filehash", json_string(fh));
	json_object_set_new(r, "checkhash", json_string(ch));
	json_object_set_new(r, "result", json_string(o == FILES_SUCCESS
	                                                 ? "success"
	                                                 : "error"));
	if (o != FILES_SUCCESS)
		json_object_set_new(r, "error",
		                    json_string(files_outcome_str(o)));
	if (o == FILES_MISSING)
		json_object_set_new(r, "missing", json_integer(missing));
	if (outp)
		*outp = o;
	return r;
}

/* Name the content: fname, locators tagB. */
static void set_content(struct fop *op, bool slice, uint64_t off0,
                        uint64_t len)
{
	op->slice = slice;
	op->off0 = off0;
	op->len = len;
	op->k = files_frag_count(len);
	if (slice) {
		files_offset_tag(op->tagb, off0);
		snprintf(op->fname, sizeof op->fname, "%s.%s", op->rq.name,
		         op->tagb);
	} else {
		snprintf(op->tagb, sizeof op->tagb, "%s", LOCATORS_TAG);
		snprintf(op->fname, sizeof op->fname, "%s", op->rq.name);
	}
}

/* ---- hashing on a worker ---- */

struct hash_job {
	struct fop *op;
	int fd;
	uint64_t off, len;
	uint64_t expect_size;      /* the file must keep this size */
	const _Atomic int *cancel;
	int rc;                    /* E_CANCELLED until the work ran */
	uint8_t out[32];
	void (*then)(struct fop *op, int rc, const uint8_t h[32]);
};

static void hash_work(void *arg)
{
	struct hash_job *j = arg;
	uint8_t *b = malloc(HASH_CHUNK);
	SHA256_CTX c;
	uint64_t pos = 0;
	struct stat st;

	if (!b) {
		j->rc = E_NOMEM;
		return;
	}
	SHA256_Init(&c);
	j->rc = E_OK;
	while (pos < j->len) {
		size_t want = j->len - pos > HASH_CHUNK ? HASH_CHUNK
		                                        : (size_t)(j->len - pos);
		ssize_t r;
		if (atomic_load(j->cancel)) {
			j->rc = E_CANCELLED;
			break;
		}
		r = pread(j->fd, b, want, (off_t)(j->off + pos));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			j->rc = E_IO;
			break;
		}
		SHA256_Update(&c, b, (size_t)r);
		pos += (uint64_t)r;
	}
	SHA256_Final(j->out, &c);
	if (j->rc == E_OK && j->expect_size != UINT64_MAX &&
	    (fstat(j->fd, &st) != 0 || (uint64_t)st.st_size != j->expect_size))
		j->rc = E_IO;
	free(b);
}

static void hash_done(void *arg)
{
	struct hash_job *j = arg;
	struct fop *op = j->op;

	if (job_back(op))
		j->then(op, j->rc, j->out);
	free(j);
}

static void hash_submit(struct fop *op, int fd, uint64_t off, uint64_t len,
                        uint64_t expect_size,
                        void (*then)(struct fop *, int, const uint8_t *))
{
	struct hash_job *j = xcalloc(1, sizeof *j);
	int rc;

	j->op = op;
	j->fd = fd;
	j->off = off;
	j->len = len;
	j->expect_size = expect_size;
	j->cancel = &op->n->shutting_down;
	j->rc = E_CANCELLED;
	j->then = then;
	op->jobs++;
	rc = workers_submit(op->n->workers, hash_work, hash_done, j);
	if (rc != E_OK) {
		op->jobs--;
		free(j);
		then(op, rc, NULL);
	}
}

/* ---- store lookups ---- */

/* Newest-first walk of held packets with (tagA, tagB, pubkey). */
static void query(struct node *n, const char *ta, size_t la, const char *tb,
                  size_t lb, const uint8_t *pub,
                  bool (*cb)(struct stored *, void *), void *arg)
{
	struct store_query q;

	memset(&q, 0, sizeof q);
	q.tag_a = (const uint8_t *)ta;
	q.len_a = la;
	q.tag_b = (const uint8_t *)tb;
	q.len_b = lb;
	q.pubkey = pub;
	q.max_a = UINT64_MAX;
	q.max_b = UINT64_MAX;
	store_query(n->store, &q, cb, arg);
}

/* The locators packet: greatest timestamp (then newest) among held,
 * not cancelled, validly signed packets of the publisher. */
struct best_ctx {
	struct node *n;
	const struct fop *op;
	struct stored *best;
	/* hash packet search */
	bool slice;
	uint64_t want_a;
	uint32_t k;
	const uint8_t *want_hash;   /* NULL: any */
};

static bool best_loc_cb(struct stored *sp, void *arg)
{
	struct best_ctx *b = arg;
	struct packet_view pv;

	if (sp->cancelled || (b->best && sp->timestamp <= b->best->timestamp))
		return true;
	stored_view(sp, &pv);
	/* its shape is checked afterwards (invalid locators packet) */
	if (pv.kind != PACKET_KIND_DATA || pv.plen != PACKET_PUBKEY_LEN ||
	    !signed_ok(b->n, sp))
		return true;
	b->best = sp;
	return true;
}

static struct stored *find_locators(struct node *n, const struct fop *op,
                                    const uint8_t *pub)
{
	struct best_ctx b = { .n = n, .op = op };

	query(n, op->rq.name, op->rq.name_len, op->tagb, strlen(op->tagb), pub,
	      best_loc_cb, &b);
	return b.best;
}

static bool best_hash_cb(struct stored *sp, void *arg)
{
	struct best_ctx *b = arg;
	struct packet_view pv;
	const uint8_t *p;
	size_t pl;

	if (sp->cancelled || (b->best && sp->timestamp <= b->best->timestamp))
		return true;
	stored_view(sp, &pv);
	if (!files_hash_candidate(&pv, b->slice, b->op->pub, b->op->rq.name,
	                          b->op->rq.name_len, b->want_a, b->k))
		return true;
	p = plaintext(&pv, &pl);
	if (b->want_hash && memcmp(p, b->want_hash, 32) != 0)
		return true;
	if (!signed_ok(b->n, sp))
		return true;
	b->best = sp;
	return true;
}

/* The file hash (slice hash) packet F of op's content; want_hash NULL for
 * any announced hash. */
static struct stored *find_hashpkt(struct node *n, const struct fop *op,
                                   uint64_t size, const uint8_t *want_hash)
{
	struct best_ctx b = { .n = n, .op = op, .slice = op->slice,
	                      .k = op->k, .want_hash = want_hash };
	const char *ta = op->slice ? SLICES_TAG : FILES_TAG;

	b.want_a = op->slice ? files_slice_amount(op->off0) : size;
	query(n, ta, strlen(ta), op->rq.name, op->rq.name_len, op->pub,
	      best_hash_cb, &b);
	return b.best;
}

struct frag_ctx {
	struct node *n;
	const struct fop *op;
	uint32_t ts, i;
	uint64_t size;
	struct stored *found;
};

static bool frag_cb(struct stored *sp, void *arg)
{
	struct frag_ctx *f = arg;
	struct packet_view pv;

	if (sp->timestamp != f->ts)
		return true;
	stored_view(sp, &pv);
	if (!files_fragment_present(&pv, true, f->op->pub, f->op->rq.name,
	                            f->op->rq.name_len, f->ts, f->i, f->size) ||
	    !signed_ok(f->n, sp))
		return true;
	f->found = sp;
	return false;
}

/* The present fragment i named by locator loc, or NULL. */
static struct stored *find_fragment(struct node *n, const struct fop *op,
                                    uint64_t loc, uint32_t i, uint64_t size)
{
	struct frag_ctx f = { .n = n, .op = op, .ts = (uint32_t)(loc >> 32),
	                      .i = i, .size = size };

	store_foreach_id(n->store, (uint32_t)loc, frag_cb, &f);
	return f.found;
}

/* ---- source lookup (API.md 4.9) ---- */

int files_open_regular(const char *path, int flags, mode_t mode,
                       bool one_link, struct stat *st)
{
	int fd, fl;

	do
		fd = open(path, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
		          mode);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -1;
	if (fstat(fd, st) != 0)
		goto bad;
	if (!S_ISREG(st->st_mode) || (one_link && st->st_nlink != 1)) {
		errno = FILES_ENOTREG;
		goto bad;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || ((fl & O_NONBLOCK) &&
	               fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0))
		goto bad;
	return fd;
bad:
	fl = errno;
	close(fd);
	errno = fl;
	return -1;
}

/* Open the source: E_OK with op->fd, op->path, op->fsize, or an error
 * object. */
static json_t *source_open(struct fop *op)
{
	struct node *n = op->n;
	char dirs[3][PATH_MAX];
	size_t nd = 0;
	const char *home = getenv("HOME");
	json_t *searched = json_array();
	struct stat st;

	if (!getcwd(dirs[nd], sizeof dirs[nd]))
		snprintf(dirs[nd], sizeof dirs[nd], ".");
	nd++;
	if (home && home[0]) {
		char h[PATH_MAX];
		abs_dir(h, sizeof h, home);
		snprintf(dirs[nd++], PATH_MAX, "%.*s/dexp2p", PATH_MAX - 16,
		         h);
	}
	if (n->cfg->filesdir)
		abs_dir(dirs[nd++], PATH_MAX, n->cfg->filesdir);
	for (size_t i = 0; i < nd; i++) {
		char p[PATH_MAX];
		int w = snprintf(p, sizeof p, "%s/%s", dirs[i], op->rq.name);
		if (w < 0 || (size_t)w >= sizeof p)
			continue;
		json_array_append_new(searched, json_bytes(p, strlen(p)));
		/* opened first, checked on the descriptor: a FIFO (or a name
		 * swapped for one) is passed over without blocking the loop */
		op->fd = files_open_regular(p, O_RDONLY, 0, false, &st);
		if (op->fd < 0) {
			int e = errno;
			/* an open that failed on what is a regular file (no
			 * read permission): "file read error", as before;
			 * stat() here only names the failure */
			if (e == FILES_ENOTREG || e == ENOENT || e == ENOTDIR ||
			    stat(p, &st) != 0 || !S_ISREG(st.st_mode))
				continue;
			json_decref(searched);
			snprintf(op->path, sizeof op->path, "%s", p);
			return errobj_name("file read error", op);
		}
		json_decref(searched);
		snprintf(op->path, sizeof op->path, "%s", p);
		op->fsize = (uint64_t)st.st_size;
		return NULL;
	}
	return rpc_errobj("file not found", "filename",
	                  json_bytes(op->rq.name, op->rq.name_len), "searched",
	                  searched, NULL);
}

/* ---- publish (API.md 4.10) ---- */

struct frag_job {
	struct fop *op;
	uint32_t i;
};

static json_t *mine_err(int rc)
{
	if (rc == E_CANCELLED)
		return rpc_errobj("shutting down", NULL);
	if (rc == E_NOMEM)
		return rpc_errobj("too many packets being mined, try again",
		                  NULL);
	return rpc_errobj(err_str(rc), NULL);
}

static void publish_result(struct fop *op, uint32_t loc_id)
{
	enum files_outcome o;
	json_t *r = result_obj(op, loc_id, op->len, op->k, op->k, op->h, true,
	                       op->h, 0, &o);

	if (o == FILES_SUCCESS && op->cur && op->rq.op == FILES_OP_STREAM)
		op->cur->slice++;
	op_end(op, r);
}

static void submit_signed(struct fop *op, const char *ta, size_t la,
                          const char *tb, size_t lb, uint64_t a, uint64_t b,
                          const uint8_t *plain, size_t plen, int priority,
                          mine_done_cb done, void *arg, int *rc)
{
	struct mine_req req;

	memset(&req, 0, sizeof req);
	req.kind = PACKET_KIND_DATA;
	req.form = MINE_SIGNED;
	memcpy(req.tag_a, ta, la);
	req.len_a = la;
	memcpy(req.tag_b, tb, lb);
	req.len_b = lb;
	memcpy(req.pubkey, op->pub, PACKET_PUBKEY_LEN);
	req.has_pubkey = 1;
	req.amount_a = a;
	req.amount_b = b;
	req.plain = plain;
	req.plain_len = plen;
	req.priority = priority;
	*rc = mine_submit(op->n, &req, done, arg);
}

static void hashpkt_done(struct node *n, struct stored *sp, int rc,
                         void *arg)
{
	struct fop *op = arg;

	if (!job_back(op))
		return;
	if (rc != E_OK || !sp) {
		op_end(op, mine_err(rc != E_OK ? rc : E_INVAL));
		return;
	}
	sp->vstate = VSTATE_OK; /* made and signed here */
	publish_result(op, op->loc_id);
}

static void locators_done(struct node *n, struct stored *sp, int rc,
                          void *arg)
{
	struct fop *op = arg;
	const char *ta = op->slice ? SLICES_TAG : FILES_TAG;

	if (!job_back(op))
		return;
	if (rc != E_OK || !sp) {
		op_end(op, mine_err(rc != E_OK ? rc : E_INVAL));
		return;
	}
	sp->vstate = VSTATE_OK;
	op->loc_id = sp->id;
	op->stage = ST_HASHPKT;
	op->jobs++;
	submit_signed(op, ta, strlen(ta), op->rq.name, op->rq.name_len,
	              op->slice ? files_slice_amount(op->off0) : op->len, op->k,
	              op->h, 32, op->rq.priority + VIP_BONUS, hashpkt_done, op,
	              &rc);
	if (rc != E_OK) {
		op->jobs--;
		op_end(op, mine_err(rc));
	}
}

static void pub_locators(struct fop *op)
{
	size_t ll = files_locators_len(op->k);
	uint8_t *plain = xmalloc(ll), fin[32];
	struct stat st;
	int rc;

	/* the bytes published are the bytes hashed: H is their SHA-256;
	 * when H was computed first (for the reuse check), the source must
	 * not have changed in between */
	SHA256_Final(fin, &op->run);
	if (!op->prehashed)
		memcpy(op->h, fin, 32);
	if (memcmp(fin, op->h, 32) != 0 || fstat(op->fd, &st) != 0 ||
	    (uint64_t)st.st_size != op->fsize) {
		free(plain);
		op_end(op, errobj_name("file read error", op));
		return;
	}
	files_locators_encode(plain, op->off0, op->locs, op->k);
	op->stage = ST_LOCATORS;
	op->jobs++;
	submit_signed(op, op->rq.name, op->rq.name_len, op->tagb,
	              strlen(op->tagb), op->len, op->k, plain, ll,
	              op->rq.priority + VIP_BONUS, locators_done, op, &rc);
	free(plain);
	if (rc != E_OK) {
		op->jobs--;
		op_end(op, mine_err(rc));
	}
}

static void frag_done(struct node *n, struct stored *sp, int rc, void *arg)
{
	struct frag_job *fj = arg;
	struct fop *op = fj->op;
	uint32_t i = fj->i;

	free(fj);
	if (!job_back(op))
		return;
	if (rc == E_OK && sp) {
		sp->vstate = VSTATE_OK;
		op->locs[i] = files_locator(sp->timestamp, sp->id);
		op->done++;
	} else if (!op->fail_rc) {
		op->fail_rc = rc != E_OK ? rc : E_INVAL;
	}
	if (op->fail_rc || op->read_error) {
		if (op->jobs == 0)
			op_end(op, op->read_error
			                   ? errobj_name("file read error", op)
			                   : mine_err(op->fail_rc));
		return;
	}
	if (op->done == op->k) {
		pub_locators(op);
		return;
	}
	pub_pump(op);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fop *op = arg;

	if (!op->ended && op->stage == ST_FRAGMENTS)
		pub_pump(op);
}

static void pub_pump(struct fop *op)
{
	uint8_t frag[FILES_FRAG];

	while (!op->fail_rc && !op->read_error && op->next_frag < op->k &&
	       op->jobs < FILES_INFLIGHT) {
		uint32_t i = op->next_frag;
		uint32_t fl = files_frag_len(op->len, i);
		uint64_t pos = op->off0 + (uint64_t)i * FILES_FRAG;
		size_t got = 0;
		struct frag_job *fj;
		int rc;

		while (got < fl) {
			ssize_t r = pread(op->fd, frag + got, fl - got,
			                  (off_t)(pos + got));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		if (got != fl) {
			op->read_error = true;
			break;
		}
		fj = xcalloc(1, sizeof *fj);
		fj->op = op;
		fj->i = i;
		op->jobs++;
		submit_signed(op, op->rq.name, op->rq.name_len, DATA_TAG,
		              strlen(DATA_TAG), i, 0, frag, fl, op->rq.priority,
		              frag_done, fj, &rc);
		if (rc == E_NOMEM) {
			/* the worker queue is full: try again shortly */
			struct timeval tv = { 0, 20000 };
			op->jobs--;
			free(fj);
			evtimer_add(op->ev, &tv);
			return;
		}
		if (rc != E_OK) {
			op->jobs--;
			free(fj);
			op->fail_rc = rc;
			break;
		}
		SHA256_Update(&op->run, frag, fl);
		op->next_frag++;
	}
	if ((op->fail_rc || op->read_error) && op->jobs == 0)
		op_end(op, op->read_error ? errobj_name("file read error", op)
		                          : mine_err(op->fail_rc));
}

/* Reuse (4.10 step 2).  What a subscriber rebuilds is the newest
 * locators packet checked against the newest hash packet of that size
 * (4.11 steps 1 and 5), so those two are the ones looked at: the newest
 * own locators packet must announce this size, name fragments that are
 * all present, and the newest own hash packet for this size, made with or
 * after it, must announce H.  (Any older pair announcing H would not be
 * what subscribers get.)  Returns the locators packet, or NULL. */
static struct stored *reusable(struct fop *op)
{
	struct node *n = op->n;
	struct stored *l = find_locators(n, op, op->pub), *f;
	struct packet_view pv;
	struct files_locators loc;
	const uint8_t *p;
	size_t pl;

	if (!l)
		return NULL;
	f = find_hashpkt(n, op, op->len, NULL);
	if (!f || f->timestamp < l->timestamp)
		return NULL;
	stored_view(f, &pv);
	if (memcmp(plaintext(&pv, &pl), op->h, 32) != 0)
		return NULL;
	stored_view(l, &pv);
	p = plaintext(&pv, &pl);
	if (files_locators_parse(p, pl, pv.amount_a, pv.amount_b, op->slice,
	                         op->off0, &loc) != E_OK ||
	    loc.size != op->len || loc.k != op->k)
		return NULL;
	for (uint32_t i = 0; i < loc.k; i++) {
		uint32_t ts, id;
		files_locator_get(&loc, i, &ts, &id);
		if (!find_fragment(n, op, files_locator(ts, id), i, op->len))
			return NULL;
	}
	return l;
}

static void pub_fragments(struct fop *op);

static void pub_hashed(struct fop *op, int rc, const uint8_t *h)
{
	struct stored *l;

	if (rc == E_CANCELLED) {
		op_end(op, rpc_errobj("shutting down", NULL));
		return;
	}
	if (rc != E_OK) {
		op_end(op, rc == E_NOMEM ? mine_err(rc)
		                         : errobj_name("file read error", op));
		return;
	}
	memcpy(op->h, h, 32);
	op->prehashed = true;
	if ((l = reusable(op))) {
		publish_result(op, l->id);
		return;
	}
	pub_fragments(op);
}

/* Broadcast the fragments, then the locators and the hash packet. */
static void pub_fragments(struct fop *op)
{
	op->locs = xcalloc(op->k, sizeof *op->locs);
	SHA256_Init(&op->run);
	op->stage = ST_FRAGMENTS;
	op->ev = evtimer_new(op->n->base, retry_cb, op);
	if (!op->ev) {
		op_end(op, mine_err(E_NOMEM));
		return;
	}
	pub_pump(op);
}

/* Can a reuse happen: does the newest own locators packet for op's name
 * (and slice) announce op's size? */
static bool reuse_candidate(struct fop *op)
{
	struct stored *l = find_locators(op->n, op, op->pub);
	struct packet_view pv;

	if (!l)
		return false;
	stored_view(l, &pv);
	return pv.amount_a == op->len && pv.amount_b == op->k;
}

/* Publish the source already open in op (whole file or slice s). */
static void publish_begin(struct fop *op, int64_t s)
{
	uint64_t off0, len;

	if (s == 0) {
		if (op->fsize == 0) {
			op_end(op, errobj_name("file is empty", op));
			return;
		}
		if (op->fsize > FILES_MAX_SIZE) {
			op_end(op, rpc_errobj(
				"file too big", "filename",
				json_bytes(op->rq.name, op->rq.name_len),
				"filesize", json_integer((json_int_t)op->fsize),
				"maxsize", json_integer((json_int_t)FILES_MAX_SIZE),
				NULL));
			return;
		}
		set_content(op, false, 0, op->fsize);
	} else {
		if (files_slice(s, op->fsize, &off0, &len) != E_OK) {
			op_end(op, rpc_errobj(
				"sliceid beyond end of file", "sliceid",
				json_integer((json_int_t)s), "filesize",
				json_integer((json_int_t)op->fsize), "offset0",
				json_integer((json_int_t)off0), NULL));
			return;
		}
		set_content(op, true, off0, len);
	}
	/* Reuse needs H before anything is broadcast; without an own
	 * locators packet of this name and size reuse cannot happen, and H
	 * is computed over the fragments as they are read (one pass). */
	if (!reuse_candidate(op)) {
		pub_fragments(op);
		return;
	}
	op->stage = ST_HASHING;
	hash_submit(op, op->fd, op->off0, op->len, op->fsize, pub_hashed);
}

/* ---- stream (API.md 4.12) ---- */

static struct cursor *cursor_get(struct files *fs, const struct fop *op,
                                 bool sub)
{
	struct cursor *c;

	for (c = fs->cursors; c; c = c->next)
		if (c->sub == sub && !strcmp(c->name, op->rq.name) &&
		    (!sub || !memcmp(c->pub, op->pub, PACKET_PUBKEY_LEN)))
			return c;
	c = xcalloc(1, sizeof *c);
	snprintf(c->name, sizeof c->name, "%s", op->rq.name);
	c->sub = sub;
	memcpy(c->pub, op->pub, PACKET_PUBKEY_LEN);
	c->slice = 0; /* set by the caller */
	c->next = fs->cursors;
	fs->cursors = c;
	return c;
}

/* Does this node hold a not cancelled, validly signed locators packet of
 * pub for the slice at off0? */
static bool holds_slice_locators(struct fop *op, uint64_t off0)
{
	char tb[FILES_DIGITS_MAX + 1];
	struct best_ctx b = { .n = op->n, .op = op };

	files_offset_tag(tb, off0);
	query(op->n, op->rq.name, op->rq.name_len, tb, strlen(tb), op->pub,
	      best_loc_cb, &b);
	return b.best != NULL;
}

static void stream_start(struct fop *op)
{
	struct files *fs = op->n->files;
	json_t *e;
	uint64_t off0;

	if ((e = source_open(op))) {
		op_end(op, e);
		return;
	}
	op->cur = cursor_get(fs, op, false);
	if (op->cur->slice < 1)
		op->cur->slice = 1;
	while (op->cur->slice < FILES_MAX_SLICEID &&
	       holds_slice_locators(op, (uint64_t)(op->cur->slice - 1) *
	                                        FILES_SLICE))
		op->cur->slice++;
	off0 = (uint64_t)(op->cur->slice - 1) * FILES_SLICE;
	if (op->fsize >= off0 + FILES_SLICE) {
		publish_begin(op, op->cur->slice);
		return;
	}
	json_t *r = json_object();
	json_object_set_new(r, "result", json_string("success"));
	json_object_set_new(r, "warning",
	                    json_string("not enough data to extend stream"));
	json_object_set_new(r, "filename",
	                    json_bytes(op->rq.name, op->rq.name_len));
	json_object_set_new(r, "filesize", json_integer((json_int_t)op->fsize));
	json_object_set_new(r, "offset0", json_integer((json_int_t)off0));
	json_object_set_new(r, "available",
	                    json_integer((json_int_t)op->fsize -
	                                 (json_int_t)off0));
	json_object_set_new(r, "needed", json_integer(FILES_SLICE));
	op_end(op, r);
}

/* ---- subscribe (API.md 4.11, 4.13) ---- */

static json_t *wrong_sender_obj(const struct packet_view *pv)
{
	char s[2 + 2 * 32 + 1] = "";

	/* the plain form has no sender key (API.md 3.6) */
	if (pv->plen == PACKET_PUBKEY_LEN && pv->payload_len >= 32) {
		s[0] = '0';
		s[1] = '1';
		hex_encode(s + 2, pv->payload, 32);
	}
	return rpc_errobj("wrong sender", "senderpub", json_string(s), NULL);
}

static json_t *open_output(struct fop *op, bool truncate_to_size)
{
	char dir[PATH_MAX];
	struct stat st;
	int w;

	out_dir(op->n, dir, sizeof dir);
	w = snprintf(op->outpath, sizeof op->outpath, "%s/%s.%s", dir,
	             op->rq.name, op->pubhex);
	if (w < 0 || (size_t)w >= sizeof op->outpath)
		goto fail;
	/* not through a symbolic link (O_NOFOLLOW) nor a hard link: the
	 * bytes written would land in a file of another name; nor into a
	 * FIFO or device (checked on the descriptor, opened without
	 * blocking) */
	op->outfd = files_open_regular(op->outpath,
	                               O_RDWR | O_CREAT | O_NOFOLLOW, 0644,
	                               true, &st);
	if (op->outfd < 0)
		goto fail;
	if (truncate_to_size && ftruncate(op->outfd, (off_t)op->len) != 0)
		goto fail;
	return NULL;
fail:
	return rpc_errobj("cannot write output file", "path",
	                  json_bytes(op->outpath, strlen(op->outpath)), NULL);
}

static bool pwrite_all(int fd, const uint8_t *b, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pwrite(fd, b + done, len - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		done += (size_t)r;
	}
	return true;
}

static void sub_result(struct fop *op, const uint8_t filehash[32])
{
	enum files_outcome o;
	json_t *r = result_obj(op, op->l_id, op->len, op->k, op->numlocators,
	                       filehash, op->have_check, op->check,
	                       op->k - op->written, &o);

	if (op->rq.op == FILES_OP_STREAMSUB && o == FILES_SUCCESS) {
		/* only a verified slice goes into the stream's copy */
		if (!pwrite_all(op->outfd, op->buf, (size_t)op->len, op->off0)) {
			json_decref(r);
			op_end(op, rpc_errobj("cannot write output file", "path",
			                      json_bytes(op->outpath,
			                                 strlen(op->outpath)),
			                      NULL));
			return;
		}
		op->cur->slice++;
	}
	op_end(op, r);
}

static void sub_hashed(struct fop *op, int rc, const uint8_t *h)
{
	if (rc == E_CANCELLED) {
		op_end(op, rpc_errobj("shutting down", NULL));
		return;
	}
	if (rc != E_OK) {
		op_end(op, rpc_errobj("cannot write output file", "path",
		                      json_bytes(op->outpath,
		                                 strlen(op->outpath)),
		                      NULL));
		return;
	}
	sub_result(op, h);
}

static void sub_finish(struct fop *op)
{
	op->stage = ST_FINAL;
	event_del(op->ev);
	if (op->rq.op == FILES_OP_STREAMSUB) {
		uint8_t h[32];
		SHA256(op->buf, (size_t)op->len, h);
		sub_result(op, h);
		return;
	}
	/* where fragments are missing the output holds zero bytes, also
	 * over what an earlier run left there (4.11 step 7) */
	static const uint8_t zeros[FILES_FRAG];
	bool ok = true;
	for (uint32_t i = 0; i < op->k && ok; i++)
		if (!op->have[i])
			ok = pwrite_all(op->outfd, zeros,
			                files_frag_len(op->len, i),
			                (uint64_t)i * FILES_FRAG);
	/* filehash is the SHA-256 of the output file as written */
	if (!ok) {
		op_end(op, rpc_errobj("cannot write output file", "path",
		                      json_bytes(op->outpath,
		                                 strlen(op->outpath)),
		                      NULL));
		return;
	}
	if (op->shashed == op->k) {
		/* every fragment was written in order: hashed as it went */
		uint8_t h[32];
		SHA256_Final(h, &op->srun);
		sub_result(op, h);
		return;
	}
	hash_submit(op, op->outfd, 0, op->len, UINT64_MAX, sub_hashed);
}

static void sub_fetch_missing(struct fop *op)
{
	struct fetch_key *keys;
	size_t nk = 0;

	keys = xmalloc((size_t)(op->k - op->written) * sizeof *keys + 1);
	for (uint32_t i = 0; i < op->k; i++)
		if (!op->have[i]) {
			keys[nk].timestamp = (uint32_t)(op->locs[i] >> 32);
			keys[nk].id = (uint32_t)op->locs[i];
			nk++;
		}
	if (nk)
		node_fetch_keys(op->n, keys, nk);
	free(keys);
}

static void sub_step(evutil_socket_t fd, short what, void *arg)
{
	struct fop *op = arg;
	struct node *n = op->n;
	unsigned looked = 0;
	uint64_t now;
	struct timeval tv = { 0, 0 };

	if (op->ended || op->stage != ST_SCAN)
		return;
	if (op->scan == 0 && op->reverify) {
		/* fragments that arrived since the last pass: their
		 * signatures on the workers first */
		op->reverify = false;
		op->stage = ST_VERIFY;
		op->vscan = 0;
		vpump(op);
		return;
	}
	while (op->scan < op->k && looked < FILES_SCAN_BATCH) {
		uint32_t i = op->scan++;
		struct stored *sp;
		struct packet_view pv;
		const uint8_t *p;
		size_t pl;
		bool ok;

		if (op->have[i])
			continue;
		looked++;
		sp = find_fragment(n, op, op->locs[i], i, op->len);
		if (!sp)
			continue;
		stored_view(sp, &pv);
		p = plaintext(&pv, &pl);
		if (op->buf) {
			memcpy(op->buf + (size_t)i * FILES_FRAG, p, pl);
			ok = true;
		} else {
			ok = pwrite_all(op->outfd, p, pl,
			                op->off0 + (uint64_t)i * FILES_FRAG);
		}
		if (!ok) {
			op_end(op, rpc_errobj("cannot write output file", "path",
			                      json_bytes(op->outpath,
			                                 strlen(op->outpath)),
			                      NULL));
			return;
		}
		op->have[i] = 1;
		op->written++;
		if (i == op->shashed) {
			SHA256_Update(&op->srun, p, pl);
			op->shashed++;
		}
		op->t_progress = node_mono_ms();
	}
	if (op->scan < op->k) {
		evtimer_add(op->ev, &tv); /* next batch, after other events */
		return;
	}
	/* a pass is complete */
	if (!op->have_check) {
		struct stored *f = find_hashpkt(n, op, op->len, NULL);
		if (f) {
			struct packet_view pv;
			size_t pl;
			stored_view(f, &pv);
			memcpy(op->check, plaintext(&pv, &pl), 32);
			op->have_check = true;
			op->t_progress = node_mono_ms();
		}
	}
	now = node_mono_ms();
	if (op->written == op->k && op->have_check) {
		sub_finish(op);
		return;
	}
	if (now - op->t_start >= FILES_TOTAL_MS ||
	    now - op->t_progress >= FILES_IDLE_MS) {
		sub_finish(op);
		return;
	}
	if (op->written < op->k &&
	    (!op->fetched || now - op->t_fetch >= FILES_REFETCH_MS)) {
		sub_fetch_missing(op);
		op->fetched = true;
		op->t_fetch = now;
	}
	op->scan = 0;
	op->reverify = true;
	tv.tv_usec = FILES_POLL_MS * 1000;
	evtimer_add(op->ev, &tv);
}

/* ---- signatures on the workers ----
 * Before the first scan, the signed-form checks of the held fragment
 * packets the locators name run on the worker threads, FILES_VBATCH
 * packets (copied) per job, at most FILES_VJOBS jobs at once; the outcome
 * goes into each packet's vstate memo, which the scan then reads.  A
 * 100 MB file has 10,000 signatures to check: on the loop alone that
 * would hold it for seconds. */
#define FILES_VBATCH 32
#define FILES_VJOBS 4

struct vitem {
	uint8_t hash[32];
	uint8_t *pkt;
	uint32_t len;
	uint8_t res;               /* enum store_vstate */
};

struct vjob {
	struct fop *op;
	const struct identity *ident;
	size_t count;
	struct vitem it[FILES_VBATCH];
};

static void vjob_work(void *arg)
{
	struct vjob *j = arg;

	for (size_t i = 0; i < j->count; i++) {
		struct packet_view pv;
		struct envelope_view ev;
		struct vitem *v = &j->it[i];

		v->res = VSTATE_UNKNOWN;
		if (packet_decode(v->pkt, v->len, &pv) != E_OK)
			continue;
		envelope_open(j->ident, &pv, &ev);
		if (ev.wrong_sender)
			v->res = VSTATE_WRONG;
		else if (ev.has_decrypted)
			v->res = VSTATE_OK;
		envelope_view_fini(&ev);
	}
}


static void vjob_done(void *arg)
{
	struct vjob *j = arg;
	struct fop *op = j->op;
	bool live = job_back(op);

	for (size_t i = 0; i < j->count; i++) {
		struct vitem *v = &j->it[i];
		struct stored *sp;
		/* the packet may have gone meanwhile: look it up again */
		if (live && v->res != VSTATE_UNKNOWN &&
		    (sp = store_get_hash(op->n->store, v->hash)) &&
		    sp->vstate == VSTATE_UNKNOWN)
			sp->vstate = v->res;
		free(v->pkt);
	}
	free(j);
	if (live)
		vpump(op);
}

struct vcand_ctx {
	const struct fop *op;
	uint32_t ts, i;
	struct stored *found;
};

static bool vcand_cb(struct stored *sp, void *arg)
{
	struct vcand_ctx *c = arg;
	struct packet_view pv;

	if (sp->timestamp != c->ts || sp->vstate != VSTATE_UNKNOWN)
		return true;
	stored_view(sp, &pv);
	if (!files_fragment_present(&pv, true, c->op->pub, c->op->rq.name,
	                            c->op->rq.name_len, c->ts, c->i,
	                            c->op->len))
		return true;
	c->found = sp;
	return false;
}

static void vpump(struct fop *op)
{
	struct timeval tv = { 0, 0 };

	while (op->jobs < FILES_VJOBS && op->vscan < op->k) {
		struct vjob *j = xcalloc(1, sizeof *j);
		int rc;

		j->op = op;
		j->ident = op->n->ident;
		while (j->count < FILES_VBATCH && op->vscan < op->k) {
			uint32_t i = op->vscan++;
			if (op->have[i])
				continue;
			struct vcand_ctx c = { .op = op,
			                       .ts = (uint32_t)(op->locs[i] >> 32),
			                       .i = i };
			store_foreach_id(op->n->store, (uint32_t)op->locs[i],
			                 vcand_cb, &c);
			if (!c.found)
				continue;
			struct vitem *v = &j->it[j->count++];
			memcpy(v->hash, c.found->hash, 32);
			v->len = c.found->len;
			v->pkt = xmalloc(v->len);
			memcpy(v->pkt, stored_bytes(c.found), v->len);
		}
		if (j->count == 0) {
			free(j);
			break;
		}
		op->jobs++;
		rc = workers_submit(op->n->workers, vjob_work, vjob_done, j);
		if (rc != E_OK) {
			/* queue full: the scan checks these on the loop */
			op->jobs--;
			for (size_t i = 0; i < j->count; i++)
				free(j->it[i].pkt);
			free(j);
			op->vscan = op->k;
			break;
		}
	}
	if (op->jobs == 0 && op->vscan >= op->k && op->stage == ST_VERIFY) {
		op->stage = ST_SCAN;
		evtimer_add(op->ev, &tv);
	}
}

static void sub_begin(struct fop *op)
{
	struct node *n = op->n;
	struct stored *l;
	struct packet_view pv;
	struct files_locators loc;
	const uint8_t *p;
	size_t pl;
	json_t *e;

	if (op->rq.id != 0 && op->rq.op == FILES_OP_SUBSCRIBE) {
		l = store_get_id(n->store, op->rq.id);
		if (l) {
			stored_view(l, &pv);
			if (!tag_is(pv.tag_a, pv.len_a, op->rq.name,
			            op->rq.name_len) ||
			    !tag_is(pv.tag_b, pv.len_b, LOCATORS_TAG,
			            strlen(LOCATORS_TAG))) {
				op_end(op, rpc_errobj(
					"tags mismatch", "tagA",
					json_bytes(pv.tag_a, pv.len_a),
					"filename",
					json_bytes(op->rq.name, op->rq.name_len),
					"tagB", json_bytes(pv.tag_b, pv.len_b),
					"tagBstr", json_string(LOCATORS_TAG), NULL));
				return;
			}
			if (pv.plen != PACKET_PUBKEY_LEN ||
			    memcmp(pv.pubkey, op->pub, PACKET_PUBKEY_LEN) != 0 ||
			    pv.kind != PACKET_KIND_DATA || !signed_ok(n, l)) {
				op_end(op, wrong_sender_obj(&pv));
				return;
			}
		}
	} else {
		l = find_locators(n, op, op->pub);
	}
	if (!l) {
		op_end(op, rpc_errobj("couldnt find id", "id",
		                      json_integer(op->rq.id), NULL));
		return;
	}
	stored_view(l, &pv);
	op->l_id = l->id;
	if (pv.payload_len < FILES_SIGNED_OVERHEAD) {
		p = pv.payload;
		pl = 0;
	} else {
		p = plaintext(&pv, &pl);
	}
	if (files_locators_parse(p, pl, pv.amount_a, pv.amount_b, op->slice,
	                         op->off0, &loc) != E_OK) {
		op_end(op, rpc_errobj(
			"invalid locators packet", "id", json_integer(l->id),
			"filesize", json_integer((json_int_t)pv.amount_a),
			"fragments", json_integer((json_int_t)pv.amount_b),
			"numlocators", json_integer((json_int_t)loc.numlocators),
			NULL));
		return;
	}
	op->len = loc.size;
	op->k = loc.k;
	op->numlocators = loc.numlocators;
	op->locs = xmalloc((size_t)loc.k * sizeof *op->locs);
	for (uint32_t i = 0; i < loc.k; i++) {
		uint32_t ts, id;
		files_locator_get(&loc, i, &ts, &id);
		op->locs[i] = files_locator(ts, id);
	}
	op->have = xcalloc(loc.k, 1);
	if (op->rq.op == FILES_OP_STREAMSUB)
		op->buf = xcalloc(1, (size_t)op->len);
	if ((e = open_output(op, op->rq.op == FILES_OP_SUBSCRIBE))) {
		op_end(op, e);
		return;
	}
	op->ev = evtimer_new(n->base, sub_step, op);
	if (!op->ev) {
		op_end(op, mine_err(E_NOMEM));
		return;
	}
	SHA256_Init(&op->srun);
	op->t_start = op->t_progress = node_mono_ms();
	op->stage = ST_VERIFY;
	vpump(op);
}

struct later_ctx {
	struct fop *op;
	uint64_t after;
	uint64_t best;
	bool found;
};

static bool later_cb(struct stored *sp, void *arg)
{
	struct later_ctx *lc = arg;
	struct packet_view pv;
	uint64_t v = 0;

	stored_view(sp, &pv);
	if (pv.len_b == 0 || pv.len_b > FILES_DIGITS_MAX || sp->cancelled ||
	    (pv.len_b > 1 && pv.tag_b[0] == '0'))
		return true;
	for (size_t i = 0; i < pv.len_b; i++) {
		if (pv.tag_b[i] < '0' || pv.tag_b[i] > '9' ||
		    v > (UINT64_MAX - 9) / 10)
			return true;
		v = v * 10 + (uint64_t)(pv.tag_b[i] - '0');
	}
	if (v % FILES_SLICE || v <= lc->after ||
	    v / FILES_SLICE + 1 > FILES_MAX_SLICEID ||
	    (lc->found && v >= lc->best))
		return true;
	if (!signed_ok(lc->op->n, sp))
		return true;
	lc->best = v;
	lc->found = true;
	return true;
}

static void streamsub_start(struct fop *op)
{
	struct files *fs = op->n->files;
	uint64_t off0, len;
	struct stat st;
	char dir[PATH_MAX];
	uint64_t outsize = 0;

	out_dir(op->n, dir, sizeof dir);
	if (snprintf(op->outpath, sizeof op->outpath, "%s/%s.%s", dir,
	             op->rq.name, op->pubhex) >= (int)sizeof op->outpath)
		op->outpath[0] = '\0';
	/* the size of the output as open_output() will accept it: a link or
	 * a FIFO in its place counts as no file (and is refused there) */
	if (op->outpath[0]) {
		int fd = files_open_regular(op->outpath, O_RDONLY | O_NOFOLLOW,
		                            0, true, &st);
		if (fd >= 0) {
			outsize = (uint64_t)st.st_size;
			close(fd);
		}
	}
	op->cur = cursor_get(fs, op, true);
	if (op->cur->slice < 1)
		op->cur->slice = (int64_t)(outsize / FILES_SLICE) + 1;
	if (op->cur->slice > FILES_MAX_SLICEID)
		op->cur->slice = FILES_MAX_SLICEID;
	off0 = (uint64_t)(op->cur->slice - 1) * FILES_SLICE;
	if (!holds_slice_locators(op, off0)) {
		struct later_ctx lc = { .op = op, .after = off0 };
		query(op->n, op->rq.name, op->rq.name_len, "", 0, op->pub,
		      later_cb, &lc);
		if (lc.found) {
			op->cur->slice = (int64_t)(lc.best / FILES_SLICE) + 1;
			off0 = lc.best;
		} else {
			json_t *r = json_object();
			json_object_set_new(r, "result", json_string("success"));
			json_object_set_new(r, "warning",
			                    json_string("stream has no new slice "
			                                "yet"));
			json_object_set_new(r, "filename",
			                    json_bytes(op->rq.name,
			                               op->rq.name_len));
			json_object_set_new(r, "offset0",
			                    json_integer((json_int_t)off0));
			json_object_set_new(r, "filesize",
			                    json_integer((json_int_t)outsize));
			op_end(op, r);
			return;
		}
	}
	len = FILES_SLICE;
	set_content(op, true, off0, len);
	sub_begin(op);
}

/* ---- queue ---- */

static void op_start(struct fop *op)
{
	json_t *e;

	if (atomic_load(&op->n->shutting_down)) {
		op_end(op, rpc_errobj("shutting down", NULL));
		return;
	}
	switch (op->rq.op) {
	case FILES_OP_PUBLISH:
		identity_pubkey33(op->n->ident, op->pub);
		hex_encode(op->pubhex, op->pub, PACKET_PUBKEY_LEN);
		if ((e = source_open(op))) {
			op_end(op, e);
			return;
		}
		publish_begin(op, op->rq.sliceid);
		break;
	case FILES_OP_STREAM:
		identity_pubkey33(op->n->ident, op->pub);
		hex_encode(op->pubhex, op->pub, PACKET_PUBKEY_LEN);
		stream_start(op);
		break;
	case FILES_OP_SUBSCRIBE:
		memcpy(op->pub, op->rq.pub, PACKET_PUBKEY_LEN);
		hex_encode(op->pubhex, op->pub, PACKET_PUBKEY_LEN);
		set_content(op, false, 0, 0);
		sub_begin(op);
		break;
	case FILES_OP_STREAMSUB:
	default:
		memcpy(op->pub, op->rq.pub, PACKET_PUBKEY_LEN);
		hex_encode(op->pubhex, op->pub, PACKET_PUBKEY_LEN);
		streamsub_start(op);
		break;
	}
}

void files_submit(struct node *n, struct rpc_call *c,
                  const struct files_req *rq)
{
	struct files *fs = fs_get(n);
	struct fop *op;

	if (atomic_load(&n->shutting_down)) {
		rpc_reply(c, rpc_errobj("shutting down", NULL));
		return;
	}
	op = xcalloc(1, sizeof *op);
	op->n = n;
	op->c = c;
	op->rq = *rq;
	op->fd = -1;
	op->outfd = -1;
	if (fs->tail)
		fs->tail->next = op;
	else
		fs->head = op;
	fs->tail = op;
	if (!fs->cur)
		kick_cb(-1, 0, n);
}

bool files_progress(const struct node *n, double *pct)
{
	const struct files *fs = n->files;
	const struct fop *op;

	if (!fs || !fs->cur)
		return false;
	op = fs->cur;
	switch (op->stage) {
	case ST_FRAGMENTS:
	case ST_LOCATORS:
	case ST_HASHPKT:
		*pct = files_progress_pct(op->done, op->k);
		break;
	case ST_VERIFY:
	case ST_SCAN:
	case ST_FINAL:
		*pct = files_progress_pct(op->written, op->k);
		break;
	default:
		*pct = 0.0;
		break;
	}
	return true;
}

void files_stop(struct node *n)
{
	struct files *fs = n->files;
	struct fop *op;

	if (!fs)
		return;
	while ((op = fs->head)) {
		fs->head = op->next;
		op_end(op, rpc_errobj("shutting down", NULL));
	}
	fs->tail = NULL;
	if (fs->cur)
		op_end(fs->cur, rpc_errobj("shutting down", NULL));
}

void files_free(struct node *n)
{
	struct files *fs = n->files;

	if (!fs)
		return;
	files_stop(n);
	while (fs->cursors) {
		struct cursor *c = fs->cursors;
		fs->cursors = c->next;
		free(c);
	}
	if (fs->kick)
		event_free(fs->kick);
	free(fs);
	n->files = NULL;
	n->stop_hook = NULL;
}
