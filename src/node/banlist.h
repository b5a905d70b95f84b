/* banlist.h - the ban list on disk: <datadir>/banlist.json, mode 0600,
 * written whole on every change (temporary file, fsync, rename) and read
 * at startup, expired bans dropped.  The format is bitcoind's:
 *
 *   {"banned_nets":[{"version":1,"ban_created":<unix s>,
 *     "banned_until":<unix s>,"address":"1.2.3.0/24","automatic":true}]}
 */
#ifndef DEX_BANLIST_H
#define DEX_BANLIST_H

#include <stddef.h>
#include <stdint.h>

struct bans;

/* Load path into b (added to what b holds), skipping bans expired at now.
 * A missing file is E_OK; a malformed one E_PARSE (err says why, entries
 * read so far are kept); unreadable E_IO. */
int banlist_load(struct bans *b, const char *path, int64_t now, char *err,
                 size_t errlen);
/* Write b to path atomically.  E_OK or E_IO (err says why). */
int banlist_save(const struct bans *b, const char *path, char *err,
                 size_t errlen);

#endif
