/* config.h - dexp2pd options (API.md 6.1, 6.2): command line and conf file.
 *
 * config_parse() fills a struct config from argv and the configuration file
 * (`-conf`, relative to the data directory); command-line values override
 * single-valued options from the file, repeatable ones accumulate.  Strings
 * are owned by the struct and freed by config_fini().
 */
#ifndef DEX_CONFIG_H
#define DEX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_LIST 64

struct strlist {
	char *v[CONFIG_MAX_LIST];
	size_t n;
};

struct config {
	char *datadir;        /* -datadir, default $HOME/.dexp2p */
	char *conf;           /* resolved path of the conf file */
	int port;             /* -port, 7770 */
	bool listen;          /* -listen, 1 */
	struct strlist addnode;
	struct strlist connect;
	int maxconnections;   /* 125 */
	int rpcport;          /* 7771 */
	struct strlist rpcbind;
	struct strlist rpcallowip;
	char *rpcuser;        /* "" */
	char *rpcpassword;    /* NULL when absent -> cookie */
	int rpcmaxconnections; /* RPC connections held at once, 64 */
	int rpcservertimeout; /* seconds to a complete request, 30 */
	int rpcmaxsubscriptions;       /* live subscriptions, 1000 */
	int rpcmaxclientsubscriptions; /* ... per client address, 100 */
	int rpcsubscriptionbuffer;     /* KiB unread per subscriber, 1024 */
	int dexp2p;           /* 1 or 2, default 2 */
	bool light;           /* -light: ask full nodes, relay nothing */
	char *handle, *recvtaddr, *recvzaddr;
	int txpowbits;        /* 0..24, 12 */
	uint32_t purgetime;   /* 10..86400, 3600 */
	char *filesdir;       /* NULL */
	char *dexkeyfile;     /* default <datadir>/dexp2p.key */
	bool daemon;
	bool printtoconsole;
	unsigned debug;       /* bit set of enum log_cat */
	uint64_t maxmem;      /* -maxmem=<MiB>, store cap */
	uint32_t bantime;     /* -bantime, seconds, 86400 */
	int maxinboundperip;  /* inbound connections per address, 32 */
	int maxinboundpersubnet; /* ... per /24 (IPv4) or /48 (IPv6), 64 */
};

/* Parse; on error writes a message into err (errlen bytes) and returns
 * E_INVAL.  `-help` / `-?` set *help. */
int config_parse(struct config *c, int argc, char **argv, bool *help,
                 char *err, size_t errlen);
void config_fini(struct config *c);
/* The -help text (every option, one line each). */
const char *config_help(void);

#endif
