/* main.c - dexp2pd: parse options, take the data directory, build the node
 * (identity, store, cancels, workers, network, RPC), run the event loop,
 * and tear everything down in order on `stop`, SIGINT or SIGTERM.
 *
 * Startup order (each step may end the process with a message on stderr
 * and exit status 1):
 *   umask 077 -> config -> datadir (created or tightened to 0700) ->
 *   flock(<datadir>/.lock) -> log -> RLIMIT_NOFILE raised -> -daemon
 *   fork -> crypto_init -> identity -> event base -> store, cancels ->
 *   workers -> net -> rpc -> "dexp2pd started" -> loop.
 * SIGHUP reopens debug.log (log rotation).
 * With -daemon the parent waits on a pipe until the child has bound its
 * ports (exit 0) or failed (exit 1), so scripts can use the node at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "core/err.h"
#include "core/util.h"
#include "node/cancel.h"
#include "node/config.h"
#include "node/files.h"
#include "node/crypto.h"
#include "node/log.h"
#include "node/net.h"
#include "node/node.h"
#include "node/rpc.h"
#include "node/workers.h"

#define ERR_MAX 512

static int ready_fd = -1; /* -daemon: write end of the parent's pipe */

/* Report a startup failure on stderr (and in the log once it is open). */
static void startup_error(const char *msg)
{
	fprintf(stderr, "%s\n", msg);
	fflush(stderr);
	log_msg(LOG_WARN, "%s", msg);
}

/* mkdir -p with mode 0700 for every directory created. */
static int make_dirs(const char *path)
{
	char *p = xstrdup(path);
	struct stat st;
	int rc = 0;

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			rc = -1;
		*s = '/';
		if (rc)
			goto out;
	}
	if (mkdir(p, 0700) != 0 && errno != EEXIST)
		rc = -1;
	else if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
		rc = -1;
out:
	free(p);
	return rc;
}

/* The data directory holds the cookie and the identity key: make it 0700
 * when it is ours and wider, and say so; warn when it is not ours.  The
 * note (if any) goes to the log once it is open. */
static void tighten_datadir(const char *dir, char *note, size_t cap)
{
	struct stat st;

	note[0] = '\0';
	if (stat(dir, &st) != 0)
		return;
	if (st.st_uid != geteuid()) {
		snprintf(note, cap, "data directory %s is owned by uid %u, not "
		         "by this process (uid %u); its mode is %03o", dir,
		         (unsigned)st.st_uid, (unsigned)geteuid(),
		         (unsigned)(st.st_mode & 0777));
		return;
	}
	if ((st.st_mode & 0077) == 0)
		return;
	if (chmod(dir, 0700) == 0)
		snprintf(note, cap, "data directory %s had mode %03o; set to "
		         "700", dir, (unsigned)(st.st_mode & 0777));
	else
		snprintf(note, cap, "data directory %s has mode %03o and "
		         "cannot be set to 700: %s", dir,
		         (unsigned)(st.st_mode & 0777), strerror(errno));
}

/* Raise the soft RLIMIT_NOFILE to the hard limit (at most 1 << 20), so
 * that the RPC server's and the network's own caps, not the default 1024,
 * decide how many connections are held.  Writes what it did into note. */
static void raise_nofile(char *note, size_t cap)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		snprintf(note, cap, "cannot read the file descriptor limit: %s",
		         strerror(errno));
		return;
	}
	want = rl.rlim_max;
	if (want == RLIM_INFINITY || want > ((rlim_t)1 << 20))
		want = (rlim_t)1 << 20;
	if (want > rl.rlim_cur) {
		rlim_t old = rl.rlim_cur;
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0) {
			snprintf(note, cap, "file descriptor limit: %llu (raised "
			         "from %llu)", (unsigned long long)want,
			         (unsigned long long)old);
			return;
		}
		rl.rlim_cur = old;
	}
	snprintf(note, cap, "file descriptor limit: %llu",
	         (unsigned long long)rl.rlim_cur);
}

/* libevent's own messages (warnings such as a failing accept) go to the
 * log, rate-limited like every warning, instead of to stderr. */
static void libevent_log_cb(int severity, const char *msg)
{
	if (severity < EVENT_LOG_WARN)
		return;
	log_msg(LOG_WARN, "libevent: %s", msg);
}

static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = xmalloc(n);

	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* Fork into the background.  The parent waits for one status byte from
 * the child ('0' = up) and exits with 0, or 1 on anything else. */
static void daemonize(void)
{
	int fds[2];
	pid_t pid;
	char c = 1;

	if (pipe(fds) != 0) {
		perror("Error: pipe");
		exit(1);
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		perror("Error: fork");
		exit(1);
	}
	if (pid > 0) {
		close(fds[1]);
		while (read(fds[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(c == '0' ? 0 : 1);
	}
	close(fds[0]);
	ready_fd = fds[1];
	if (setsid() < 0)
		perror("setsid");
}

/* -daemon child: tell the parent we are up, detach from its terminal. */
static void daemon_ready(bool keep_stdout)
{
	int null;

	if (ready_fd < 0)
		return;
	if (write(ready_fd, "0", 1) != 1)
		log_msg(LOG_WARN, "cannot notify the parent process");
	close(ready_fd);
	ready_fd = -1;
	null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		if (!keep_stdout)
			dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
}

static void sighup_cb(evutil_socket_t sig, short what, void *arg)
{
	if (log_reopen() != E_OK)
		log_msg(LOG_WARN, "SIGHUP: cannot reopen the log file: %s",
		        strerror(errno));
	else
		log_msg(LOG_INFO, "SIGHUP: log file reopened");
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct node *n = arg;

	log_msg(LOG_INFO, "received signal %d", (int)sig);
	node_request_stop(n);
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct node node;
	struct event_base *base = NULL;
	struct event *sigint_ev = NULL, *sigterm_ev = NULL, *sighup_ev = NULL;
	char err[ERR_MAX], msg[ERR_MAX + 128];
	char dir_note[PATH_MAX + 160], fd_note[128];
	char *lock_path = NULL, *log_path = NULL;
	uint8_t pk[PACKET_PUBKEY_LEN];
	char pkhex[2 * PACKET_PUBKEY_LEN + 1];
	bool help = false, node_ok = false;
	int lock_fd = -1;
	int status = 1;

	/* Every file this process creates (cookie, key, log, lock, and what
	 * the store may write) is private, whatever the caller's umask. */
	umask(077);
	memset(&node, 0, sizeof(node));
	signal(SIGPIPE, SIG_IGN);
	if (config_parse(&cfg, argc, argv, &help, err, sizeof(err)) != E_OK) {
		fprintf(stderr, "%s\n", err);
		config_fini(&cfg);
		return 1;
	}
	if (help) {
		fputs(config_help(), stdout);
		config_fini(&cfg);
		return 0;
	}

	if (make_dirs(cfg.datadir) != 0) {
		fprintf(stderr, "Error: cannot create data directory %s: %s\n",
		        cfg.datadir, strerror(errno));
		goto out;
	}
	tighten_datadir(cfg.datadir, dir_note, sizeof dir_note);
	lock_path = join(cfg.datadir, ".lock");
	lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd < 0) {
		/* EACCES, EROFS, ...: say what it is, not "running". */
		fprintf(stderr, "Error: cannot create the lock file %s: %s "
		        "(the data directory must be writable)\n", lock_path,
		        strerror(errno));
		goto out;
	}
	if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			fprintf(stderr, "Error: cannot lock data directory %s: "
			        "another dexp2pd is probably running\n",
			        cfg.datadir);
		else
			fprintf(stderr, "Error: cannot lock data directory %s: "
			        "%s\n", cfg.datadir, strerror(errno));
		close(lock_fd);
		lock_fd = -1;
		goto out;
	}
	(void)fchmod(lock_fd, 0600);

	if (!cfg.printtoconsole)
		log_path = join(cfg.datadir, "debug.log");
	if (log_open(log_path, cfg.debug) != E_OK) {
		fprintf(stderr, "Error: cannot open log file %s: %s\n",
		        log_path, strerror(errno));
		goto out;
	}
	event_set_log_callback(libevent_log_cb);
	if (dir_note[0])
		log_msg(LOG_WARN, "%s", dir_note);
	raise_nofile(fd_note, sizeof fd_note);
	log_msg(LOG_INFO, "%s", fd_note);
	if (cfg.daemon)
		daemonize();

	if (crypto_init() != E_OK) {
		startup_error("Error: cannot initialise libsodium");
		goto out;
	}
	if (identity_load(cfg.dexkeyfile, &node.ident, err, sizeof(err)) !=
	    E_OK) {
		snprintf(msg, sizeof(msg), "Error: %s", err);
		startup_error(msg);
		goto out;
	}

	if (evthread_use_pthreads() != 0) {
		startup_error("Error: cannot set up libevent for threads");
		goto out;
	}
	base = event_base_new();
	if (!base) {
		startup_error("Error: cannot create the event loop");
		goto out;
	}
	{
		struct identity *ident = node.ident;

		if (node_init(&node, base, &cfg) != E_OK) {
			node.ident = ident;
			startup_error("Error: cannot create the packet store");
			goto out;
		}
		node.ident = ident;
	}
	node_ok = true;
	node.workers = workers_new(base, WORKERS_DEFAULT_THREADS);
	if (!node.workers) {
		startup_error("Error: cannot start worker threads");
		goto out;
	}
	node.net = net_new(&node);
	if (!node.net || net_start(node.net) != E_OK) {
		snprintf(msg, sizeof(msg), "Error: cannot start the peer network "
		         "on port %d (see %s)", cfg.port,
		         log_path ? log_path : "the log");
		startup_error(msg);
		goto out;
	}
	node.rpc = rpc_new(&node);
	err[0] = '\0';
	if (!node.rpc || rpc_start(node.rpc, err, sizeof(err)) != E_OK) {
		snprintf(msg, sizeof(msg), "Error: %s",
		         err[0] ? err : "cannot start the RPC server");
		startup_error(msg);
		goto out;
	}
	if (node_start_tick(&node) != E_OK) {
		startup_error("Error: cannot start the timer");
		goto out;
	}
	sigint_ev = evsignal_new(base, SIGINT, signal_cb, &node);
	sigterm_ev = evsignal_new(base, SIGTERM, signal_cb, &node);
	sighup_ev = evsignal_new(base, SIGHUP, sighup_cb, &node);
	if (!sigint_ev || !sigterm_ev || !sighup_ev ||
	    evsignal_add(sigint_ev, NULL) != 0 ||
	    evsignal_add(sigterm_ev, NULL) != 0 ||
	    evsignal_add(sighup_ev, NULL) != 0) {
		startup_error("Error: cannot install signal handlers");
		goto out;
	}

	identity_pubkey33(node.ident, pk);
	hex_encode(pkhex, pk, sizeof(pk));
	log_msg(LOG_INFO, "dexp2pd started: port=%d rpcport=%d pubkey=%s "
	        "txpowbits=%d purgetime=%u datadir=%s", cfg.port, cfg.rpcport,
	        pkhex, cfg.txpowbits, cfg.purgetime, cfg.datadir);
	daemon_ready(cfg.printtoconsole);

	if (event_base_dispatch(base) < 0)
		log_msg(LOG_WARN, "the event loop failed");
	log_msg(LOG_INFO, "dexp2pd stopping");
	status = 0;

out:
	/* Teardown, in the reverse order of what exists.  Mining jobs see
	 * shutting_down and end; their done callbacks run inside
	 * workers_free() while the RPC server and the network still exist,
	 * so they can answer their calls (which rpc_stop then drops). */
	atomic_store(&node.shutting_down, 1);
	if (node.workers) {
		workers_free(node.workers);
		node.workers = NULL;
	}
	files_free(&node);
	if (node.rpc)
		rpc_stop(node.rpc);
	if (node.net)
		net_stop(node.net);
	if (node.rpc) {
		rpc_free(node.rpc);
		node.rpc = NULL;
	}
	if (node.net) {
		net_free(node.net);
		node.net = NULL;
	}
	if (sigint_ev)
		event_free(sigint_ev);
	if (sigterm_ev)
		event_free(sigterm_ev);
	if (sighup_ev)
		event_free(sighup_ev);
	if (node_ok)
		node_fini(&node);
	if (node.ident)
		identity_free(node.ident);
	if (base)
		event_base_free(base);
	if (status == 0)
		log_msg(LOG_INFO, "dexp2pd stopped");
	log_close();
	if (lock_fd >= 0) {
		unlink(lock_path);
		close(lock_fd);
	}
	free(lock_path);
	free(log_path);
	config_fini(&cfg);
	return status;
}
