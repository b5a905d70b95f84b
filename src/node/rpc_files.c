/* rpc_files.c - DEX_publish, DEX_subscribe, DEX_stream, DEX_streamsub
 * (API.md 4.10 - 4.13): parameter validation in position order, then the
 * operation is queued in files.c, which answers the call when it ends.
 * The filename is checked here, before any file is looked at.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/files.h"
#include "core/util.h"
#include "node/files.h"
#include "node/node.h"
#include "node/params.h"
#include "node/rpc.h"

/* `filename`: "" is testfile; the rules of API.md 3.2 / 4.9. */
static json_t *param_filename(const char *s, size_t len,
                              struct files_req *rq)
{
	if (len == 0) {
		s = FILES_DEFAULT_NAME;
		len = strlen(FILES_DEFAULT_NAME);
	}
	switch (files_name_check(s, len)) {
	case FILES_NAME_TOO_LONG:
		return rpc_errobj("filename longer than 15 chars", "filename",
		                  json_bytes(s, len), NULL);
	case FILES_NAME_INVALID:
		return rpc_errobj("invalid filename", "filename",
		                  json_bytes(s, len), NULL);
	case FILES_NAME_OK:
	default:
		break;
	}
	memcpy(rq->name, s, len);
	rq->name[len] = '\0';
	rq->name_len = len;
	return NULL;
}

/* A publisher key: 66 hex digits starting 01; otherwise the error of
 * 4.11 / 4.13 with the context key `key`. */
static json_t *param_publisher(const char *key, const char *s, size_t len,
                               uint8_t out[PACKET_PUBKEY_LEN])
{
	if (len != 2 * PACKET_PUBKEY_LEN ||
	    !hex_decode(out, s, PACKET_PUBKEY_LEN) || out[0] != 0x01)
		return rpc_errobj("need publisher pubkey for sub", key,
		                  json_bytes(s, len), NULL);
	return NULL;
}

static json_t *param_sliceid(const char *s, size_t len, int64_t *out)
{
	int64_t v = 0;
	char buf[32];

	*out = 0;
	if (len == 0)
		return NULL;
	if (len < sizeof buf && !memchr(s, 0, len)) {
		memcpy(buf, s, len);
		buf[len] = '\0';
		if (parse_int64(buf, &v) == E_OK) {
			if (v < 0)
				return rpc_errobj("negative sliceid", "sliceid",
				                  json_integer((json_int_t)v),
				                  NULL);
			if (v <= FILES_MAX_SLICEID) {
				*out = v;
				return NULL;
			}
		}
	}
	return rpc_errobj("invalid sliceid", "sliceid", json_bytes(s, len),
	                  NULL);
}

void rpc_dex_publish(struct node *n, struct rpc_call *c,
                     const char *const *p, size_t np)
{
	struct files_req rq;
	json_t *e;

	memset(&rq, 0, sizeof rq);
	rq.op = FILES_OP_PUBLISH;
	if ((e = param_filename(p[0], rpc_param_len(c, 0), &rq)) ||
	    (e = param_priority(p[1], rpc_param_len(c, 1), &rq.priority)) ||
	    (e = param_sliceid(p[2], rpc_param_len(c, 2), &rq.sliceid))) {
		rpc_reply(c, e);
		return;
	}
	files_submit(n, c, &rq);
}

void rpc_dex_subscribe(struct node *n, struct rpc_call *c,
                       const char *const *p, size_t np)
{
	struct files_req rq;
	json_t *e;

	memset(&rq, 0, sizeof rq);
	rq.op = FILES_OP_SUBSCRIBE;
	if ((e = param_filename(p[0], rpc_param_len(c, 0), &rq)) ||
	    (e = param_priority(p[1], rpc_param_len(c, 1), &rq.priority)) ||
	    (e = param_id("id", p[2], rpc_param_len(c, 2), true, &rq.id)) ||
	    (e = param_publisher("publisher33", p[3], rpc_param_len(c, 3),
	                         rq.pub))) {
		rpc_reply(c, e);
		return;
	}
	files_submit(n, c, &rq);
}

void rpc_dex_stream(struct node *n, struct rpc_call *c,
                    const char *const *p, size_t np)
{
	struct files_req rq;
	json_t *e;

	memset(&rq, 0, sizeof rq);
	rq.op = FILES_OP_STREAM;
	if ((e = param_filename(p[0], rpc_param_len(c, 0), &rq)) ||
	    (e = param_priority(p[1], rpc_param_len(c, 1), &rq.priority))) {
		rpc_reply(c, e);
		return;
	}
	files_submit(n, c, &rq);
}

void rpc_dex_streamsub(struct node *n, struct rpc_call *c,
                       const char *const *p, size_t np)
{
	struct files_req rq;
	json_t *e;

	memset(&rq, 0, sizeof rq);
	rq.op = FILES_OP_STREAMSUB;
	if ((e = param_filename(p[0], rpc_param_len(c, 0), &rq)) ||
	    (e = param_priority(p[1], rpc_param_len(c, 1), &rq.priority)) ||
	    (e = param_publisher("pubkey", p[2], rpc_param_len(c, 2),
	                         rq.pub))) {
		rpc_reply(c, e);
		return;
	}
	files_submit(n, c, &rq);
}
