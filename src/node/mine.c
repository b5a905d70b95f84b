/* mine.c - create packets on this node (mine.h, API.md A.4): lay out the
 * header, build the payload form for the mining timestamp, search the
 * nonce on a worker thread, then store and announce the packet on the
 * loop thread.
 *
 * Owns one struct mine_job per request from mine_submit() until its done
 * callback has run.  The worker touches only the job and the read-only
 * identity and configuration; the store and the network are touched in
 * job_done() on the loop thread.
 *
 * New packets carry relay byte MINE_RELAY = 10, the hop budget the
 * reference gives to packets it creates (API.md A.1).
 */
#include "node/mine.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/txpow.h"
#include "core/util.h"
#include "node/crypto.h"
#include "node/log.h"
#include "node/node.h"
#include "node/workers.h"

#define MINE_RELAY 10

struct mine_job {
	struct node *n;
	struct mine_req req;       /* req.plain points at `plain` */
	uint8_t *plain;
	uint8_t *pkt;
	size_t len;
	size_t hdr_len;            /* H */
	const struct identity *ident;
	int txpowbits;
	int rc;                    /* E_CANCELLED until the work ran */
	uint64_t hashes;
	uint64_t ms;
	mine_done_cb done;
	void *arg;
};

static size_t payload_len(const struct mine_req *req)
{
	switch (req->form) {
	case MINE_SIGNED:
		return req->plain_len + ENVELOPE_SIGNED_OVERHEAD;
	case MINE_INBOX:
		return req->plain_len + ENVELOPE_INBOX_OVERHEAD;
	case MINE_ANON:
		return ANON_PAYLOAD_LEN;
	case MINE_PLAIN:
	default:
		return req->plain_len;
	}
}

static bool has_pubkey(const struct mine_req *req)
{
	return req->form != MINE_ANON && req->has_pubkey;
}

size_t mine_packet_len(const struct mine_req *req)
{
	return PACKET_FIXED_LEN + (has_pubkey(req) ? PACKET_PUBKEY_LEN : 0) +
	       req->len_a + req->len_b + payload_len(req);
}

/* txpow rebuild callback: the whole packet for timestamp t.  The payload
 * forms with signatures cover the header, so they are rebuilt each time
 * the second changes. */
static int rebuild(uint8_t *pkt, size_t len, uint32_t t, void *arg)
{
	struct mine_job *j = arg;
	const struct mine_req *q = &j->req;
	uint8_t *p = pkt;
	size_t h = j->hdr_len;

	*p++ = MINE_RELAY;
	*p++ = q->kind;
	put_le32(p, t);
	p += 4;
	put_le64(p, q->amount_a);
	p += 8;
	put_le64(p, q->amount_b);
	p += 8;
	if (has_pubkey(q)) {
		*p++ = PACKET_PUBKEY_LEN;
		memcpy(p, q->pubkey, PACKET_PUBKEY_LEN);
		p += PACKET_PUBKEY_LEN;
	} else {
		*p++ = 0;
	}
	*p++ = (uint8_t)q->len_a;
	memcpy(p, q->tag_a, q->len_a);
	p += q->len_a;
	*p++ = (uint8_t)q->len_b;
	memcpy(p, q->tag_b, q->len_b);
	p += q->len_b;
	if ((size_t)(p - pkt) != h || h + payload_len(q) + 4 != len)
		return E_INVAL;

	switch (q->form) {
	case MINE_SIGNED:
		return envelope_signed(j->ident, pkt + 1, h - 1, j->plain,
		                       q->plain_len, pkt + h);
	case MINE_INBOX:
		return envelope_inbox(j->ident, pkt + 1, h - 1, q->pubkey + 1,
		                      NULL, j->plain, q->plain_len, pkt + h);
	case MINE_ANON:
		return envelope_anon(j->ident, pkt + 1, h - 1, q->dest, j->plain,
		                     q->plain_len, pkt + h);
	case MINE_PLAIN:
	default:
		memcpy(pkt + h, j->plain, q->plain_len);
		return E_OK;
	}
}

static uint64_t clock_ms(void *arg)
{
	return node_now_ms();
}

static void job_work(void *arg)
{
	struct mine_job *j = arg;
	struct pow_eval pe;
	struct txpow_job tj = {
		.pkt = j->pkt,
		.len = j->len,
		.txpowbits = j->txpowbits,
		.requested = j->req.priority,
		.rebuild = rebuild,
		.rebuild_arg = j,
		.clock = clock_ms,
		.cancel = &j->n->shutting_down,
		.nonce_start = crypto_random_u32(),
	};
	uint64_t t0 = node_now_ms();

	j->rc = txpow_mine(&tj, &pe);
	j->hashes = tj.hashes;
	j->ms = node_now_ms() - t0;
}

static void job_free(struct mine_job *j)
{
	free(j->plain);
	free(j->pkt);
	free(j);
}

static void job_done(void *arg)
{
	struct mine_job *j = arg;
	struct node *n = j->n;
	struct stored *sp = NULL;
	int rc = j->rc;

	if (rc == E_OK && atomic_load(&n->shutting_down))
		rc = E_CANCELLED;
	if (rc == E_OK) {
		rc = node_add_local(n, j->pkt, j->len, &sp);
		if (rc == E_NOMEM)
			rc = E_FULL; /* not "too many being mined": the cap */
		if (rc != E_OK)
			sp = NULL;
	}
	if (log_enabled(LOG_POW))
		log_msg(LOG_POW, "mine: kind %c len %zu priority %d: %s, "
		        "%llu hashes in %llu ms", j->req.kind, j->len,
		        j->req.priority, err_str(rc),
		        (unsigned long long)j->hashes,
		        (unsigned long long)j->ms);
	j->done(n, sp, rc, j->arg);
	job_free(j);
}

int mine_submit(struct node *n, const struct mine_req *req,
                mine_done_cb done, void *arg)
{
	struct mine_job *j;
	size_t len = mine_packet_len(req);
	int rc;

	if (len > PACKET_MAX_LEN)
		return E_TOOBIG;
	if (req->len_a > PACKET_TAG_MAX || req->len_b > PACKET_TAG_MAX ||
	    req->priority < 0 ||
	    (req->form == MINE_ANON && req->plain_len > ANON_MSG_LEN) ||
	    (req->form != MINE_ANON && req->plain_len == 0) ||
	    ((req->form == MINE_SIGNED || req->form == MINE_INBOX) &&
	     !req->has_pubkey))
		return E_INVAL;

	j = xcalloc(1, sizeof *j);
	j->n = n;
	j->req = *req;
	j->plain = xmalloc(req->plain_len);
	if (req->plain_len)
		memcpy(j->plain, req->plain, req->plain_len);
	j->req.plain = j->plain;
	j->len = len;
	j->hdr_len = packet_hdr_len(has_pubkey(req) ? PACKET_PUBKEY_LEN : 0,
	                            req->len_a, req->len_b);
	j->pkt = xcalloc(1, len);
	j->ident = n->ident;
	j->txpowbits = n->cfg->txpowbits;
	j->rc = E_CANCELLED;
	j->done = done;
	j->arg = arg;
	rc = workers_submit(n->workers, job_work, job_done, j);
	if (rc != E_OK)
		job_free(j);
	return rc;
}
