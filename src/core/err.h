/* err.h - the one error enum of dexp2p.
 *
 * Functions return E_OK (0) or a negative enum err; results travel through
 * out-parameters.  err_str() gives a short lower-case description.
 */
#ifndef DEX_ERR_H
#define DEX_ERR_H

enum err {
	E_OK = 0,
	E_NOMEM = -1,     /* allocation failed or a cap was reached */
	E_PROTO = -2,     /* peer sent something that breaks the protocol */
	E_AGAIN = -3,     /* need more input */
	E_TOOBIG = -4,    /* over a size limit */
	E_CRYPTO = -5,    /* signature / box failure */
	E_INVAL = -6,     /* bad argument */
	E_NOTFOUND = -7,
	E_DUP = -8,       /* already held */
	E_CANCELLED = -9, /* operation interrupted */
	E_IO = -10,
	E_FULL = -11,     /* the store's memory cap holds only packets at least
	                   * as important (store_put's E_NOMEM, to a client) */

	/* packet codec (packet_decode), one code per malformed case */
	E_PKT_TRUNCATED = -20, /* a length points past the bytes given, or L < 30 */
	E_PKT_TRAILING = -21,  /* bytes left over after a length-delimited packet */
	E_PKT_PLEN = -22,      /* plen is neither 0 nor 33 */
	E_PKT_DESTPUB = -23,   /* 33-byte pubkey does not start with 0x01 */
	E_PKT_TAGLEN = -24,    /* tag longer than 15 bytes */
	E_PKT_TAGNUL = -25,    /* tag contains a NUL byte */
	E_PKT_EMPTY = -26,     /* payload is empty */
	E_PKT_OVERSIZE = -27,  /* packet longer than PACKET_MAX_LEN */
	E_PKT_FUNCID = -28,    /* kind is not Q, X or A */

	/* parsers */
	E_NEGATIVE = -40,      /* amount starts with '-' */
	E_PARSE = -41,         /* text does not parse */
	E_RANGE = -42,         /* value out of range */
};

const char *err_str(int e);

#endif
