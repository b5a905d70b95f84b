/* render.c - the packet object (API.md 3.7) of a held packet.
 *
 * Payload forms (API.md 3.6, Appendix B) are opened through crypto.h's
 * envelope_open().  The outcome is memoised in stored.vstate: a signed
 * packet's signature is checked once per node (VSTATE_OK / VSTATE_WRONG),
 * an inbox or anonymous packet that is not for this node is never opened
 * again (VSTATE_OTHER).  Packets this node can decrypt are re-opened each
 * time they are shown, since the plaintext is not kept.
 *
 * Owns no state.
 */
#include "node/render.h"

#include <stdlib.h>
#include <string.h>

#include "core/store.h"
#include "core/util.h"
#include "node/crypto.h"
#include "node/node.h"
#include "node/params.h"

static const char INBOX_TAG[] = "inbox";

enum form { FORM_PLAIN, FORM_SIGNED, FORM_INBOX, FORM_ANON };

static enum form packet_form(const struct packet_view *pv)
{
	if (pv->kind == PACKET_KIND_ANON)
		return FORM_ANON;
	if (pv->plen != PACKET_PUBKEY_LEN || !pv->pubkey)
		return FORM_PLAIN;
	if (pv->kind == PACKET_KIND_DATA && pv->len_a == sizeof INBOX_TAG - 1 &&
	    !memcmp(pv->tag_a, INBOX_TAG, pv->len_a))
		return FORM_INBOX;
	return FORM_SIGNED;
}

static void first_key_as_sender(const struct packet_view *pv,
                                struct envelope_view *ev)
{
	if (pv->payload_len >= CRYPTO_PK_LEN) {
		ev->has_sender = true;
		memcpy(ev->sender, pv->payload, CRYPTO_PK_LEN);
	}
}

/* Fill ev as envelope_open() would, skipping the work the memo allows. */
static void view_open(struct node *n, struct stored *sp,
                      const struct packet_view *pv, struct envelope_view *ev)
{
	uint8_t me[PACKET_PUBKEY_LEN];
	enum form f = packet_form(pv);

	memset(ev, 0, sizeof *ev);
	switch (f) {
	case FORM_PLAIN:
		sp->vstate = VSTATE_PLAIN;
		return;
	case FORM_SIGNED:
		if (sp->vstate == VSTATE_OK) {
			/* verified before: spk || sig || P */
			first_key_as_sender(pv, ev);
			ev->has_decrypted = true;
			ev->plain_len =
				pv->payload_len - ENVELOPE_SIGNED_OVERHEAD;
			ev->plain = xmalloc(ev->plain_len + 1);
			memcpy(ev->plain,
			       pv->payload + ENVELOPE_SIGNED_OVERHEAD,
			       ev->plain_len);
			return;
		}
		if (sp->vstate == VSTATE_WRONG) {
			first_key_as_sender(pv, ev);
			ev->wrong_sender = true;
			return;
		}
		break;
	case FORM_INBOX:
		identity_pubkey33(n->ident, me);
		if (sp->vstate == VSTATE_OTHER ||
		    memcmp(pv->pubkey, me, PACKET_PUBKEY_LEN) != 0) {
			sp->vstate = VSTATE_OTHER;
			first_key_as_sender(pv, ev);
			return;
		}
		if (sp->vstate == VSTATE_WRONG) {
			first_key_as_sender(pv, ev);
			ev->wrong_sender = true;
			return;
		}
		break;
	case FORM_ANON:
		if (sp->vstate == VSTATE_OTHER)
			return;
		if (sp->vstate == VSTATE_WRONG) {
			ev->wrong_sender = true;
			return;
		}
		break;
	}
	envelope_open(n->ident, pv, ev);
	if (ev->wrong_sender)
		sp->vstate = VSTATE_WRONG;
	else if (ev->has_decrypted || ev->has_anon)
		sp->vstate = VSTATE_OK;
	else
		sp->vstate = VSTATE_OTHER;
}

int render_vstate(struct node *n, struct stored *sp)
{
	struct packet_view pv;
	struct envelope_view ev;

	if (sp->vstate != VSTATE_UNKNOWN)
		return sp->vstate;
	stored_view(sp, &pv);
	if (pv.plen == 0 && pv.kind != PACKET_KIND_ANON) {
		sp->vstate = VSTATE_PLAIN;
		return sp->vstate;
	}
	envelope_open(n->ident, &pv, &ev);
	if (ev.wrong_sender)
		sp->vstate = VSTATE_WRONG;
	else if (ev.has_decrypted || ev.has_anon)
		sp->vstate = VSTATE_OK;
	else
		sp->vstate = VSTATE_OTHER;
	envelope_view_fini(&ev);
	return sp->vstate;
}

static json_t *hex_string(const uint8_t *d, size_t n)
{
	char *h = xmalloc(2 * n + 1);
	json_t *j;

	hex_encode(h, d, n);
	j = json_stringn(h, 2 * n);
	free(h);
	return j;
}

static json_t *amount_string(uint64_t sats)
{
	char a[32];

	amount_format(a, sats);
	return json_string(a);
}

/* Rendered bytes (API.md C.2) under key, flag under flagkey. */
static void set_rendered(json_t *o, const char *key, const char *flagkey,
                         const uint8_t *d, size_t n)
{
	int is_hex = 0;
	char *s = payload_render(d, n, &is_hex);

	json_object_set_new(o, key, json_bytes(s, strlen(s)));
	json_object_set_new(o, flagkey, json_integer(is_hex ? 1 : 0));
	free(s);
}

json_t *render_packet(struct node *n, struct stored *sp)
{
	struct packet_view pv;
	struct envelope_view ev;
	json_t *o = json_object();

	stored_view(sp, &pv);
	view_open(n, sp, &pv, &ev);

	json_object_set_new(o, "timestamp", json_integer(pv.timestamp));
	json_object_set_new(o, "id", json_integer(sp->id));
	json_object_set_new(o, "hash", hex_string(sp->hash, 32));
	json_object_set_new(o, "tagA", json_bytes(pv.tag_a, pv.len_a));
	json_object_set_new(o, "tagB", json_bytes(pv.tag_b, pv.len_b));
	json_object_set_new(o, "pubkey", pv.plen ? hex_string(pv.pubkey, pv.plen)
	                                         : json_string(""));
	set_rendered(o, "payload", "hex", pv.payload, pv.payload_len);
	if (ev.has_decrypted)
		set_rendered(o, "decrypted", "decryptedhex", ev.plain,
		             ev.plain_len);
	if (ev.has_anon) {
		uint8_t k[PACKET_PUBKEY_LEN] = { 0x01 };
		memcpy(k + 1, ev.anonsender, CRYPTO_PK_LEN);
		json_object_set_new(o, "anonmsg",
		                    json_bytes(ev.anonmsg, ev.anonmsg_len));
		json_object_set_new(o, "anonsender",
		                    hex_string(k, PACKET_PUBKEY_LEN));
	}
	if (ev.has_sender && packet_form(&pv) != FORM_ANON) {
		uint8_t k[PACKET_PUBKEY_LEN] = { 0x01 };
		memcpy(k + 1, ev.sender, CRYPTO_PK_LEN);
		json_object_set_new(o, "senderpub",
		                    hex_string(k, PACKET_PUBKEY_LEN));
	} else {
		json_object_set_new(o, "senderpub", json_string(""));
	}
	if (ev.wrong_sender)
		json_object_set_new(o, "error", json_string("wrong sender"));
	json_object_set_new(o, "amountA", amount_string(pv.amount_a));
	json_object_set_new(o, "amountB", amount_string(pv.amount_b));
	json_object_set_new(o, "priority", json_integer(sp->priority));
	json_object_set_new(o, "recvtime", json_integer(sp->recvtime));
	json_object_set_new(o, "cancelled", json_integer(sp->cancelled));
	envelope_view_fini(&ev);
	return o;
}
