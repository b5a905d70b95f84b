/* err.c - err_str(): the text of each enum err (err.h).  Owns nothing. */
#include "core/err.h"

/* Short lower-case description of e; "unknown error" for values outside
 * the enum.  The returned string is static. */
const char *err_str(int e)
{
	switch ((enum err)e) {
	case E_OK: return "ok";
	case E_NOMEM: return "out of memory or cap reached";
	case E_PROTO: return "protocol violation";
	case E_AGAIN: return "need more input";
	case E_TOOBIG: return "over a size limit";
	case E_CRYPTO: return "signature or box failure";
	case E_INVAL: return "bad argument";
	case E_NOTFOUND: return "not found";
	case E_DUP: return "already held";
	case E_CANCELLED: return "cancelled";
	case E_IO: return "i/o error";
	case E_FULL: return "memory cap reached: every packet held has at least this priority";
	case E_PKT_TRUNCATED: return "packet truncated";
	case E_PKT_TRAILING: return "bytes after packet";
	case E_PKT_PLEN: return "bad pubkey length";
	case E_PKT_DESTPUB: return "bad pubkey prefix";
	case E_PKT_TAGLEN: return "tag longer than 15 bytes";
	case E_PKT_TAGNUL: return "tag contains a nul byte";
	case E_PKT_EMPTY: return "empty payload";
	case E_PKT_OVERSIZE: return "packet too large";
	case E_PKT_FUNCID: return "bad packet kind";
	case E_NEGATIVE: return "negative value";
	case E_PARSE: return "does not parse";
	case E_RANGE: return "out of range";
	}
	return "unknown error";
}
