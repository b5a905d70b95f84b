/* test_crypto.c - unit tests for src/node/crypto.c: identity key file
 * (API.md 6.3), the envelope forms of Appendix B reproduced byte for byte
 * from the Appendix D vectors, and the views of each node (3.6).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/packet.h"
#include "core/txpow.h"
#include "core/util.h"
#include "node/crypto.h"
#include "node/log.h"

#define PK_A "d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737"
#define PK_B "a09aa5f47a6759802ff955f8dc2d2a14a5c99d23be97f864127ff9383455a4f0"

/* D.3 signed packet, lines as printed. */
#define D3_HDR "0a5105b95569809698000000000000e40b54020000002101d04ab232742bb4ab" \
	"3a1368bd4615e4e6d0224ab71a016baf8520a332c977873703425443034b4d44"
#define D3_SIG "be117fc6e368c51ce208a4b40073ddba3c61596840a7cac70e1e1355833315a6" \
	"c555ed6c3061e7123c60252637abbbd92072e449c1303bddcd154e86f7038209"
/* D.4 cancel packet. */
#define D4_HDR "0a5864b95569000000000000000000000000000000002101d04ab232742bb4ab" \
	"3a1368bd4615e4e6d0224ab71a016baf8520a332c97787370663616e63656c026964"
#define D4_SIG "6b2e3c2d2eca39017ae33516902541bb1c7fac624d5affecdee8aaeb589e9238" \
	"a1d6fbb3a6ba467900fa9dd213649b2462d7a7aa1844b2296943d0830f05dd02"
/* 4.3 inbox payload (nonce 00..17). */
#define INBOX_PAYLOAD PK_A "000102030405060708090a0b0c0d0e0f1011121314151617" \
	"45bda9ffe52efb25c176c2addf28c8f8da997676864be71823dd3d29aa3f1799" \
	"c5265f184e504ef7a13ef10de631e5122ef2d274ca7b9354a8b572c136b720ac" \
	"9446b7c9a137f090ecec605b9bdf75dff0a5ebd2"

static struct identity *ida, *idb, *idc;

static uint8_t *unhex(const char *s, size_t *n)
{
	size_t len = strlen(s);
	uint8_t *b = xmalloc(len / 2 + 1);

	assert_int_equal(len % 2, 0);
	assert_true(hex_decode(b, s, len / 2));
	*n = len / 2;
	return b;
}

static void tohex(char *out, const uint8_t *b, size_t n)
{
	hex_encode(out, b, n);
}

static struct identity *seeded(uint8_t byte)
{
	uint8_t seed[32];
	memset(seed, byte, sizeof(seed));
	return identity_from_seed(seed);
}

static int setup(void **state)
{
	assert_int_equal(crypto_init(), E_OK);
	ida = seeded(0x11);
	idb = seeded(0x22);
	idc = seeded(0x44);
	return 0;
}

static int teardown(void **state)
{
	identity_free(ida);
	identity_free(idb);
	identity_free(idc);
	return 0;
}

/* Assemble hdr (packet[0..H-1]) || payload || nonce into a packet. */
static uint8_t *assemble(const uint8_t *hdr, size_t hlen, const uint8_t *pl,
                         size_t plen, uint32_t nonce, size_t *len)
{
	uint8_t *p = xmalloc(hlen + plen + 4);
	memcpy(p, hdr, hlen);
	memcpy(p + hlen, pl, plen);
	put_le32(p + hlen + plen, nonce);
	*len = hlen + plen + 4;
	return p;
}

static void test_keys(void **state)
{
	uint8_t pk33[33];
	char hex[67];

	identity_pubkey33(ida, pk33);
	tohex(hex, pk33, 33);
	assert_string_equal(hex, "01" PK_A);
	identity_pubkey33(idb, pk33);
	tohex(hex, pk33, 33);
	assert_string_equal(hex, "01" PK_B);
	assert_true(crypto_pk_valid(pk33 + 1));
	uint8_t zero[32] = {0}, ff[32];
	memset(ff, 0xff, sizeof(ff));
	assert_false(crypto_pk_valid(zero));
	assert_false(crypto_pk_valid(ff));
	assert_true(crypto_random_u32() != crypto_random_u32() ||
		    crypto_random_u32() != crypto_random_u32());
}

/* D.3: the signed payload from the header bytes, the packet's hash, id and
 * priority, and what every node sees. */
static void test_signed_vector(void **state)
{
	size_t hlen, n, len;
	uint8_t *hdr = unhex(D3_HDR, &hlen);
	const uint8_t plain[] = "hello";   /* 6 bytes with the NUL */
	uint8_t out[ENVELOPE_SIGNED_OVERHEAD + 6];
	char hex[2 * sizeof(out) + 1];
	struct packet_view pv;
	struct envelope_view ev;
	struct pow_eval pe;

	assert_int_equal(hlen, 64);
	assert_int_equal(envelope_signed(ida, hdr + 1, hlen - 1, plain, 6, out),
			 E_OK);
	tohex(hex, out, sizeof(out));
	assert_string_equal(hex, PK_A D3_SIG "68656c6c6f00");

	uint8_t *pkt = assemble(hdr, hlen, out, sizeof(out), 266385, &len);
	assert_int_equal(len, 170);
	txpow_eval(pkt, len, 12, &pe);
	char hh[65];
	tohex(hh, pe.hash, 32);
	assert_string_equal(hh, "770790342bcd0c5062e452b6e812d895ba9b2334b6b0d4f35b0b42a2b0073f06");
	assert_int_equal(pe.id, 3534964992u);
	assert_int_equal(pe.priority, 8);

	assert_int_equal(packet_decode(pkt, len, &pv), E_OK);
	const struct identity *viewers[] = {ida, idb, NULL};
	for (size_t i = 0; i < 3; i++) {
		envelope_open(viewers[i], &pv, &ev);
		assert_true(ev.has_decrypted);
		assert_int_equal(ev.plain_len, 6);
		assert_memory_equal(ev.plain, plain, 6);
		assert_true(ev.has_sender);
		tohex(hex, ev.sender, 32);
		assert_string_equal(hex, PK_A);
		assert_false(ev.wrong_sender);
		assert_false(ev.has_anon);
		envelope_view_fini(&ev);
	}

	/* Any tampered byte of header, key, signature or plaintext. */
	size_t spots[] = {2, 7, 25, 60, 63, 64, 100, 160, 165};
	for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
		uint8_t *t = xmalloc(len);
		memcpy(t, pkt, len);
		t[spots[i]] ^= 0x01;
		assert_int_equal(packet_decode(t, len, &pv), E_OK);
		envelope_open(idb, &pv, &ev);
		if (!ev.wrong_sender)
			print_message("tampered offset %zu verified\n", spots[i]);
		assert_true(ev.wrong_sender);
		assert_false(ev.has_decrypted);
		assert_true(ev.has_sender);
		envelope_view_fini(&ev);
		free(t);
	}
	/* The relay byte is not signed. */
	pkt[0] = 3;
	assert_int_equal(packet_decode(pkt, len, &pv), E_OK);
	envelope_open(idb, &pv, &ev);
	assert_false(ev.wrong_sender);
	envelope_view_fini(&ev);
	free(pkt);
	free(hdr);
	(void)n;
}

/* Signed by B but carrying A's pubkey: wrong sender, senderpub = B. */
static void test_signer_not_pubkey(void **state)
{
	size_t hlen, len;
	uint8_t *hdr = unhex(D3_HDR, &hlen);
	uint8_t out[ENVELOPE_SIGNED_OVERHEAD + 6];
	struct packet_view pv;
	struct envelope_view ev;
	char hex[65];

	assert_int_equal(envelope_signed(idb, hdr + 1, hlen - 1,
					 (const uint8_t *)"hello", 6, out), E_OK);
	uint8_t *pkt = assemble(hdr, hlen, out, sizeof(out), 0, &len);
	assert_int_equal(packet_decode(pkt, len, &pv), E_OK);
	envelope_open(ida, &pv, &ev);
	assert_true(ev.wrong_sender);
	assert_false(ev.has_decrypted);
	assert_true(ev.has_sender);
	tohex(hex, ev.sender, 32);
	assert_string_equal(hex, PK_B);
	envelope_view_fini(&ev);
	free(pkt);

	/* Payload shorter than 32 bytes: wrong sender, senderpub "". */
	pkt = assemble(hdr, hlen, (const uint8_t *)"short", 5, 0, &len);
	assert_int_equal(packet_decode(pkt, len, &pv), E_OK);
	envelope_open(ida, &pv, &ev);
	assert_true(ev.wrong_sender);
	assert_false(ev.has_sender);
	envelope_view_fini(&ev);
	free(pkt);
	free(hdr);
}

/* D.4: the cancel packet's payload, hash and id. */
static void test_cancel_vector(void **state)
{
	size_t hlen, len;
	uint8_t *hdr = unhex(D4_HDR, &hlen);
	uint8_t plain[4], out[ENVELOPE_SIGNED_OVERHEAD + 4];
	char hex[2 * sizeof(out) + 1];
	struct pow_eval pe;
	struct packet_view pv;
	struct envelope_view ev;

	put_le32(plain, 3534964992u);
	assert_int_equal(envelope_signed(ida, hdr + 1, hlen - 1, plain, 4, out),
			 E_OK);
	tohex(hex, out, sizeof(out));
	assert_string_equal(hex, PK_A D4_SIG "0049b3d2");
	uint8_t *pkt = assemble(hdr, hlen, out, sizeof(out), 406311, &len);
	assert_int_equal(len, 170);
	txpow_eval(pkt, len, 12, &pe);
	tohex(hex, pe.hash, 32);
	assert_string_equal(hex, "7707d0707499f3ad127cd2bfbebfe1c169ae0671ea015f8dafae196ee22a24ba");
	assert_int_equal(pe.id, 2538016000u);
	assert_int_equal(pe.priority, 8);
	assert_int_equal(packet_decode(pkt, len, &pv), E_OK);
	envelope_open(idc, &pv, &ev);
	assert_true(ev.has_decrypted);
	assert_memory_equal(ev.plain, plain, 4);
	envelope_view_fini(&ev);
	free(pkt);
	free(hdr);
}

/* Header of the 4.3 inbox packet: Q, t=1767225620, amounts 0, pubkey B,
 * tagA "inbox". */
static size_t inbox_hdr(uint8_t *h, uint32_t t)
{
	size_t n = 0, blen;
	uint8_t *b = unhex("01" PK_B, &blen);

	h[n++] = 0x0a;
	h[n++] = PACKET_KIND_DATA;
	put_le32(h + n, t); n += 4;
	put_le64(h + n, 0); n += 8;
	put_le64(h + n, 0); n += 8;
	h[n++] = 33;
	memcpy(h + n, b, 33); n += 33;
	h[n++] = 5;
	memcpy(h + n, "inbox", 5); n += 5;
	h[n++] = 0;
	free(b);
	return n;
}

static void test_inbox_vector(void **state)
{
	uint8_t hdr[64], nonce[24], plain[4] = {0xde, 0xad, 0xbe, 0xef};
	uint8_t out[ENVELOPE_INBOX_OVERHEAD + 4];
	char hex[2 * sizeof(out) + 1];
	struct packet_view pv;
	struct envelope_view ev;
	size_t hlen = inbox_hdr(hdr, 1767225620), len, blen;
	uint8_t *pkb = unhex(PK_B, &blen);

	for (int i = 0; i < 24; i++)
		nonce[i] = (uint8_t)i;
	assert_int_equal(envelope_inbox(ida, hdr + 1, hlen - 1, pkb, nonce,
					plain, 4, out), E_OK);
	tohex(hex, out, sizeof(out));
	assert_string_equal(hex, INBOX_PAYLOAD);

	uint8_t *pkt = assemble(hdr, hlen, out, sizeof(out), 0, &len);
	assert_int_equal(packet_decode(pkt, len, &pv), E_OK);
	/* addressee */
	envelope_open(idb, &pv, &ev);
	assert_true(ev.has_decrypted);
	assert_int_equal(ev.plain_len, 4);
	assert_memory_equal(ev.plain, plain, 4);
	assert_true(ev.has_sender);
	tohex(hex, ev.sender, 32);
	assert_string_equal(hex, PK_A);
	assert_false(ev.wrong_sender);
	envelope_view_fini(&ev);
	/* sender and a third node: senderpub only */
	const struct identity *others[] = {ida, idc, NULL};
	for (size_t i = 0; i < 3; i++) {
		envelope_open(others[i], &pv, &ev);
		assert_false(ev.has_decrypted);
		assert_false(ev.wrong_sender);
		assert_true(ev.has_sender);
		tohex(hex, ev.sender, 32);
		assert_string_equal(hex, PK_A);
		envelope_view_fini(&ev);
	}
	/* tampered box or header: the addressee flags it, others do not */
	size_t spots[] = {10, 100, len - 10};
	for (size_t i = 0; i < 3; i++) {
		pkt[spots[i]] ^= 0x80;
		assert_int_equal(packet_decode(pkt, len, &pv), E_OK);
		envelope_open(idb, &pv, &ev);
		assert_true(ev.wrong_sender);
		assert_false(ev.has_decrypted);
		envelope_view_fini(&ev);
		envelope_open(idc, &pv, &ev);
		assert_false(ev.wrong_sender);
		envelope_view_fini(&ev);
		pkt[spots[i]] ^= 0x80;
	}
	free(pkt);

	/* random nonce: different payload, still opens */
	assert_int_equal(envelope_inbox(ida, hdr + 1, hlen - 1, pkb, NULL,
					plain, 4, out), E_OK);
	assert_memory_not_equal(out + 32, nonce, 24);
	pkt = assemble(hdr, hlen, out, sizeof(out), 0, &len);
	assert_int_equal(packet_decode(pkt, len, &pv), E_OK);
	envelope_open(idb, &pv, &ev);
	assert_true(ev.has_decrypted);
	envelope_view_fini(&ev);
	free(pkt);

	/* too short for an inbox envelope */
	pkt = assemble(hdr, hlen, out, 40, 0, &len);
	assert_int_equal(packet_decode(pkt, len, &pv), E_OK);
	envelope_open(idb, &pv, &ev);
	assert_true(ev.wrong_sender);
	assert_true(ev.has_sender);
	envelope_view_fini(&ev);
	free(pkt);
	free(pkb);
}

static size_t anon_hdr(uint8_t *h, uint32_t t)
{
	size_t n = 0;
	h[n++] = 0x0a;
	h[n++] = PACKET_KIND_ANON;
	put_le32(h + n, t); n += 4;
	put_le64(h + n, 0); n += 8;
	put_le64(h + n, 0); n += 8;
	h[n++] = 0;
	h[n++] = 4;
	memcpy(h + n, "anon", 4); n += 4;
	h[n++] = 0;
	return n;
}

static void test_anon(void **state)
{
	uint8_t hdr[40], seed33[32], out[ANON_PAYLOAD_LEN];
	char *hex = xmalloc(2 * ANON_PAYLOAD_LEN + 1);
	size_t hlen = anon_hdr(hdr, 1767225630), len, blen;
	uint8_t *pkb = unhex(PK_B, &blen);
	const char *msg = "meet at noon";
	struct packet_view pv;
	struct envelope_view ev;

	/* 4.7 example: ephemeral key from seed 33..33 */
	memset(seed33, 0x33, sizeof(seed33));
	assert_int_equal(envelope_anon_seeded(ida, hdr + 1, hlen - 1, pkb,
					      (const uint8_t *)msg, strlen(msg),
					      seed33, out), E_OK);
	tohex(hex, out, ANON_PAYLOAD_LEN);
	assert_int_equal(strlen(hex), 2336);
	assert_memory_equal(hex, "4eb4fafee2bd3018a24e310de8106333c2b364eaed029a7f05d7b45ccc77683a", 64);
	assert_string_equal(hex + 2336 - 18, "2455d3f11cd61b0296");

	for (int round = 0; round < 2; round++) {
		if (round == 1) /* random ephemeral key */
			assert_int_equal(envelope_anon(ida, hdr + 1, hlen - 1, pkb,
						       (const uint8_t *)msg,
						       strlen(msg), out), E_OK);
		uint8_t *pkt = assemble(hdr, hlen, out, sizeof(out), 0, &len);
		assert_int_equal(packet_decode(pkt, len, &pv), E_OK);
		envelope_open(idb, &pv, &ev);
		assert_true(ev.has_anon);
		assert_int_equal(ev.anonmsg_len, strlen(msg));
		assert_memory_equal(ev.anonmsg, msg, strlen(msg));
		tohex(hex, ev.anonsender, 32);
		assert_string_equal(hex, PK_A);
		assert_false(ev.has_sender);
		assert_false(ev.has_decrypted);
		assert_false(ev.wrong_sender);
		envelope_view_fini(&ev);
		const struct identity *others[] = {ida, idc, NULL};
		for (size_t i = 0; i < 3; i++) {
			envelope_open(others[i], &pv, &ev);
			assert_false(ev.has_anon);
			assert_false(ev.has_sender);
			assert_false(ev.wrong_sender);
			envelope_view_fini(&ev);
		}
		/* header changed after sealing: addressee says wrong sender */
		pkt[10] ^= 1;
		assert_int_equal(packet_decode(pkt, len, &pv), E_OK);
		envelope_open(idb, &pv, &ev);
		assert_true(ev.wrong_sender);
		assert_false(ev.has_anon);
		envelope_view_fini(&ev);
		free(pkt);
	}

	/* Sent to C: only C opens it. */
	{
		uint8_t c33[33];
		identity_pubkey33(idc, c33);
		assert_int_equal(envelope_anon(ida, hdr + 1, hlen - 1, c33 + 1,
					       (const uint8_t *)msg, strlen(msg),
					       out), E_OK);
		uint8_t *pkt = assemble(hdr, hlen, out, sizeof(out), 0, &len);
		assert_int_equal(packet_decode(pkt, len, &pv), E_OK);
		envelope_open(idc, &pv, &ev);
		assert_true(ev.has_anon);
		envelope_view_fini(&ev);
		envelope_open(idb, &pv, &ev);
		assert_false(ev.has_anon);
		assert_false(ev.wrong_sender);
		envelope_view_fini(&ev);
		free(pkt);
	}
	/* message too long */
	uint8_t big[ANON_MSG_LEN + 1];
	memset(big, 'x', sizeof(big));
	assert_int_equal(envelope_anon(ida, hdr + 1, hlen - 1, pkb, big,
				       sizeof(big), out), E_TOOBIG);
	assert_int_equal(envelope_anon(ida, hdr + 1, hlen - 1, pkb, big,
				       ANON_MSG_LEN, out), E_OK);
	free(pkb);
	free(hex);
}

/* A plain packet shows nothing, a kind-X packet tagged "inbox" with a
 * pubkey is a signed form. */
static void test_plain(void **state)
{
	uint8_t pkt[64];
	struct packet_fields f = {
		.relay = 10, .kind = PACKET_KIND_DATA, .timestamp = 1767225610,
		.tag_a = (const uint8_t *)"general", .len_a = 7,
		.payload = (const uint8_t *)"hello world", .payload_len = 12,
		.nonce = 933,
	};
	size_t len = packet_encode(pkt, sizeof(pkt), &f);
	struct packet_view pv;
	struct envelope_view ev;

	assert_int_equal(len, 48);
	assert_int_equal(packet_decode(pkt, len, &pv), E_OK);
	envelope_open(ida, &pv, &ev);
	assert_false(ev.has_decrypted || ev.has_sender || ev.wrong_sender ||
		     ev.has_anon);
	envelope_view_fini(&ev);
}

static char tmpdir[64];

static void rm_tmp(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	assert_int_equal(system(cmd), 0);
}

static void write_file(const char *path, const char *s, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(s, f);
	fclose(f);
	chmod(path, mode);
}

static void test_identity_file(void **state)
{
	char path[128], logpath[128], err[256];
	struct identity *id = NULL, *id2 = NULL;
	uint8_t a[33], b[33];
	struct stat st;
	char buf[128];

	strcpy(tmpdir, "/tmp/test_crypto.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(logpath, sizeof(logpath), "%s/log", tmpdir);
	assert_int_equal(log_open(logpath, 0), E_OK);

	/* created when missing: 0600, 64 hex + newline, stable */
	snprintf(path, sizeof(path), "%s/dexp2p.key", tmpdir);
	assert_int_equal(identity_load(path, &id, err, sizeof(err)), E_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 65);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_int_equal(n, 65);
	assert_true(is_hex(buf, 64));
	assert_int_equal(buf[64], '\n');
	assert_int_equal(identity_load(path, &id2, err, sizeof(err)), E_OK);
	identity_pubkey33(id, a);
	identity_pubkey33(id2, b);
	assert_memory_equal(a, b, 33);
	identity_free(id);
	identity_free(id2);

	/* chosen seed, without newline, upper case */
	write_file(path, "1111111111111111111111111111111111111111111111111111111111111111", 0600);
	assert_int_equal(identity_load(path, &id, err, sizeof(err)), E_OK);
	identity_pubkey33(id, a);
	identity_pubkey33(ida, b);
	assert_memory_equal(a, b, 33);
	identity_free(id);
	write_file(path, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", 0600);
	assert_int_equal(identity_load(path, &id, err, sizeof(err)), E_OK);
	identity_free(id);

	/* bad content: clear error, no identity */
	const char *bad[] = {
		"", "\n", "1111", "zz11111111111111111111111111111111111111111111111111111111111111\n",
		"1111111111111111111111111111111111111111111111111111111111111111\n\n",
		"1111111111111111111111111111111111111111111111111111111111111111 \n",
		" 1111111111111111111111111111111111111111111111111111111111111111",
		"11111111111111111111111111111111111111111111111111111111111111111\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(path, bad[i], 0600);
		id = (struct identity *)1;
		err[0] = 0;
		assert_int_equal(identity_load(path, &id, err, sizeof(err)), E_INVAL);
		assert_null(id);
		assert_non_null(strstr(err, "64 hex digits"));
		assert_non_null(strstr(err, path));
	}

	/* readable by others: loads, with a warning in the log */
	write_file(path, "2222222222222222222222222222222222222222222222222222222222222222\n", 0644);
	assert_int_equal(identity_load(path, &id, err, sizeof(err)), E_OK);
	identity_free(id);
	log_close();
	char logbuf[4096];
	f = fopen(logpath, "r");
	assert_non_null(f);
	n = fread(logbuf, 1, sizeof(logbuf) - 1, f);
	fclose(f);
	logbuf[n] = 0;
	assert_non_null(strstr(logbuf, "readable by group or others"));

	/* a directory, or a path in a missing directory */
	assert_int_equal(identity_load(tmpdir, &id, err, sizeof(err)), E_INVAL);
	snprintf(path, sizeof(path), "%s/nodir/key", tmpdir);
	assert_int_equal(identity_load(path, &id, err, sizeof(err)), E_IO);
	assert_non_null(strstr(err, "cannot create"));
	rm_tmp();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_signed_vector),
		cmocka_unit_test(test_signer_not_pubkey),
		cmocka_unit_test(test_cancel_vector),
		cmocka_unit_test(test_inbox_vector),
		cmocka_unit_test(test_anon),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_identity_file),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
