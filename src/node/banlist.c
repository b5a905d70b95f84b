/* banlist.c - the ban list file (see banlist.h). */
#include "node/banlist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "core/err.h"
#include "proto/ban.h"

int banlist_load(struct bans *b, const char *path, int64_t now, char *err,
                 size_t errlen)
{
	json_error_t je;
	json_t *root, *arr, *it;
	size_t i;
	int rc = E_OK;

	if (access(path, F_OK) != 0 && errno == ENOENT)
		return E_OK;
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		snprintf(err, errlen, "%s: %s (line %d)", path, je.text, je.line);
		return errno == EACCES ? E_IO : E_PARSE;
	}
	arr = json_object_get(root, "banned_nets");
	if (!json_is_array(arr)) {
		snprintf(err, errlen, "%s: no banned_nets array", path);
		json_decref(root);
		return E_PARSE;
	}
	json_array_foreach(arr, i, it) {
		const char *a = json_string_value(json_object_get(it, "address"));
		json_t *c = json_object_get(it, "ban_created");
		json_t *u = json_object_get(it, "banned_until");
		uint8_t ip[16], bits;
		if (!a || !json_is_integer(c) || !json_is_integer(u) ||
		    ban_parse(a, ip, &bits) != 0) {
			snprintf(err, errlen, "%s: entry %zu malformed", path, i);
			rc = E_PARSE;
			continue;
		}
		if (json_integer_value(u) <= now)
			continue; /* expired */
		if (ban_add(b, ip, bits, json_integer_value(c),
		            json_integer_value(u),
		            json_is_true(json_object_get(it, "automatic"))) != 0) {
			snprintf(err, errlen, "%s: more than %u bans", path,
			         BAN_MAX);
			rc = E_PARSE;
			break;
		}
	}
	json_decref(root);
	return rc;
}

int banlist_save(const struct bans *b, const char *path, char *err,
                 size_t errlen)
{
	json_t *root = json_object(), *arr = json_array();
	char *text, *tmp;
	size_t len, tl = strlen(path) + 8;
	int fd, rc = E_IO;

	for (size_t i = 0; i < BAN_MAX; i++) {
		const struct ban_entry *e = &b->e[i];
		char a[64];
		if (!e->used)
			continue;
		ban_format(a, sizeof a, e->ip, e->bits);
		json_t *o = json_object();
		json_object_set_new(o, "version", json_integer(1));
		json_object_set_new(o, "ban_created", json_integer(e->created));
		json_object_set_new(o, "banned_until", json_integer(e->until));
		json_object_set_new(o, "address", json_string(a));
		json_object_set_new(o, "automatic", json_boolean(e->automatic));
		json_array_append_new(arr, o);
	}
	json_object_set_new(root, "banned_nets", arr);
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!text) {
		snprintf(err, errlen, "out of memory");
		return E_IO;
	}
	len = strlen(text);
	tmp = malloc(tl);
	if (!tmp) {
		free(text);
		snprintf(err, errlen, "out of memory");
		return E_IO;
	}
	snprintf(tmp, tl, "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	/* 0600 whatever the umask and whoever created it before */
	if (fchmod(fd, 0600) != 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		close(fd);
		goto out_unlink;
	}
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
			close(fd);
			goto out_unlink;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out_unlink;
	}
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out_unlink;
	}
	rc = E_OK;
	goto out;
out_unlink:
	unlink(tmp);
out:
	free(tmp);
	free(text);
	return rc;
}
