/* SPDX-License-Identifier: MIT */
/*
 * main.c - rtmemd: hold locked, pre-faulted memory pools and serve them to
 * real-time clients over a unix socket.
 *
 *   rtmemd [-c FILE] [-s SOCKET] [--event-loop=auto|io_uring|epoll]
 *   rtmemd --check-config [-c FILE]
 *   rtmemd-inject ... --inject-fault=POOL:OFFSET:BIT   (test build only)
 *
 * The daemon follows the pattern it serves:
 *   1. non-RT setup: read the config, create, size, seal and map every pool;
 *   2. lock: mlock each pool, mlockall(MCL_CURRENT | MCL_FUTURE), pre-fault
 *      every page under a SIGBUS guard, format the regions;
 *   3. serve: socket, drop capabilities to CAP_IPC_LOCK, READY=1, event loop.
 * The memory tester (memtest.h) is set up in step 2, while the daemon still
 * has CAP_SYS_ADMIN for the pools' physical addresses; its bad-block list is
 * loaded before the socket exists, so no client ever gets a known bad block,
 * also with [memtest] enabled = no; its thread starts after READY=1 only when
 * enabled. Its events arrive on the tester thread: memtest_event() only
 * writes one log line (or one journal entry) and sd_notify()s, both safe
 * from any thread, and touches no daemon state.
 * A machine too small for the config fails in step 1 or 2 with a message
 * naming the pool and the limit, and exit status 1. SIGTERM/SIGINT stop it
 * cleanly (STOPPING=1, clients disconnected but nothing of theirs
 * reclaimed, the pools' state words say STOPPED, socket unlinked); SIGHUP is
 * logged and ignored (restart to apply a new config).
 *
 * Restarts (docs/lifecycle.md): each pool's memfd, once formatted, goes to
 * systemd's fd store as "pool-NAME", with the key that tags slot records
 * ("key", adopt.h). A start that finds them (LISTEN_FDS/LISTEN_FDNAMES)
 * re-adopts them in step 1 instead of creating new pools: same memory,
 * clients alive keep their slots and blocks, those that died meanwhile are
 * reclaimed. A pool whose configuration changed is re-adopted as it is while
 * clients use it, and replaced when none does. Stored pools that are no
 * longer configured stay in the store while clients use them.
 *
 * Exit: 0 after a clean stop or a valid --check-config, 1 on any setup
 * error or an invalid config, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "adopt.h"
#include "cfg.h"
#include "loop.h"
#include "memtest.h"
#include "notify.h"
#include "pool.h"
#include "proto.h"
#include "srv.h"

#ifndef RTMEMD_VERSION
#define RTMEMD_VERSION "unknown"
#endif

/* journalctl MESSAGE_ID=... finds every memory fault rtmemd ever logged. */
#define MEMTEST_FAULT_MESSAGE_ID "7c1d0a9e5b3f4f0c9a26d8e4b1f3a5c7"

#ifdef RTMEM_FAULT_INJECT
#define USAGE_INJECT                                                                      \
	"      --inject-fault=POOL:OFFSET:BIT  test build: the tester reads bit BIT of the\n" \
	"                        word at byte OFFSET of POOL flipped, as from a stuck cell\n"
#else
#define USAGE_INJECT ""
#endif

struct opts {
	const char *config;  /* NULL: CFG_DEFAULT_PATH, built-in default if missing */
	const char *socket;  /* NULL: from the config */
	const char *monitor; /* NULL: from the config; "none": no monitor socket */
	int log_level;       /* -1: from the config */
	bool check_config;
	enum loop_kind loop;
#ifdef RTMEM_FAULT_INJECT
	const char *inject;  /* POOL:OFFSET:BIT, the test build's simulated stuck cell */
#endif
};

struct daemon {
	struct cfg *cfg;
	struct pool *pools;
	unsigned npools;
	struct loop *loop;
	struct srv *srv;
	int sigfd;
	uint64_t locked;
	struct memtest *mt;  /* NULL until setup_memtest() */
	bool journal;        /* stderr is the journal: faults go there with fields */
	struct adopt_key key;  /* tags the slot records (adopt.h) */
	int nstored;           /* fds systemd's store passed us */
	int *stored_fd;        /* [nstored], -1 once taken */
	char **stored_name;    /* [nstored], strv */
	bool fdstore;          /* a store took our fds ($NOTIFY_SOCKET) */
	bool served;           /* READY=1 was sent: the state words say SERVING */
	unsigned adopted;      /* pools re-adopted */
	uint64_t adopt_us;     /* time from start to every stored pool adopted and locked */
};

static void usage(FILE *f)
{
	fprintf(f, "usage: rtmemd [-c FILE] [-s SOCKET] [--event-loop=auto|io_uring|epoll]\n"
		   "       rtmemd --check-config [-c FILE]\n"
		   "  -c, --config FILE     configuration (default %s;\n"
		   "                        the built-in default if that file does not exist)\n"
		   "  -s, --socket PATH     serve on PATH instead of the config's socket\n"
		   "      --monitor-socket PATH  the read-only socket (status, metrics), or none\n"
		   "      --log-level LEVEL err, warning, notice, info (default) or debug;\n"
		   "                        overrides [daemon] log_level\n"
		   "      --event-loop=KIND io_uring (fail if unavailable), epoll, or auto (default)\n"
		   "      --check-config    validate the config, print each pool's footprint, exit 0/1\n"
		   "  -V, --version         print the version\n"
		   "  -h, --help            this text\n" USAGE_INJECT,
		CFG_DEFAULT_PATH);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "monitor-socket", required_argument, NULL, 'M' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "event-loop", required_argument, NULL, 'L' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
#ifdef RTMEM_FAULT_INJECT
		{ "inject-fault", required_argument, NULL, 'I' },
#endif
		{ 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:s:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 's':
			o->socket = optarg;
			break;
		case 'C':
			o->check_config = true;
			break;
		case 'M':
			o->monitor = optarg;
			break;
		case 'l':
			if (cfg_log_level_parse(optarg, &o->log_level) < 0)
				goto out_usage;
			notify_set_level(o->log_level);
			break;
		case 'L':
			if (!strcmp(optarg, "auto"))
				o->loop = LOOP_AUTO;
			else if (!strcmp(optarg, "io_uring") || !strcmp(optarg, "uring"))
				o->loop = LOOP_URING;
			else if (!strcmp(optarg, "epoll"))
				o->loop = LOOP_EPOLL;
			else
				goto out_usage;
			break;
		case 'V':
			printf("rtmemd %s (protocol %u)\n", RTMEMD_VERSION, RTMEM_PROTO_VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
#ifdef RTMEM_FAULT_INJECT
		case 'I':
			o->inject = optarg;
			break;
#endif
		default:
			goto out_usage;
		}
	}
	if (optind == argc)
		return 0;
out_usage:
	usage(stderr);
	return -EINVAL;
}

static int load_config(const struct opts *o, struct cfg **ret)
{
	struct cfg_error err = { 0 };
	int rc;

	if (o->config)
		rc = cfg_load(o->config, 0, ret, &err);
	else if (access(CFG_DEFAULT_PATH, F_OK) < 0 && errno == ENOENT) {
		log_info("%s does not exist: using the built-in default configuration", CFG_DEFAULT_PATH);
		rc = cfg_load(CFG_DEFAULT_PATH, CFG_DEFAULT_IF_MISSING, ret, &err);
	} else {
		rc = cfg_load(CFG_DEFAULT_PATH, 0, ret, &err);
	}
	if (rc < 0)
		log_err("%s", err.msg);
	return rc;
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The fds systemd's store passed us (none without systemd, or on a first start). */
static void stored_take(struct daemon *d)
{
	char **names = NULL;
	int n = notify_listen_fds(&names);

	if (n < 0)
		log_warn("reading LISTEN_FDS failed: %s: starting without stored pools", strerror(-n));
	if (n <= 0 || !names || !(d->stored_fd = calloc((size_t)n, sizeof(int)))) {
		for (int i = 0; i < n; i++)
			close(SD_LISTEN_FDS_START + i);
		for (char **p = names; p && *p; p++)
			free(*p);
		free(names);
		return;
	}
	d->nstored = n;
	d->stored_name = names;
	for (int i = 0; i < n; i++) {
		d->stored_fd[i] = SD_LISTEN_FDS_START + i;
		fcntl(d->stored_fd[i], F_SETFD, FD_CLOEXEC);
	}
	log_info("fd store: %d stored fds passed to this start", n);
}

/* Index of the stored fd named @name not taken yet, or -1. */
static int stored_index(const struct daemon *d, const char *name)
{
	for (int i = 0; i < d->nstored; i++)
		if (d->stored_fd[i] >= 0 && d->stored_name[i] && !strcmp(d->stored_name[i], name))
			return i;
	return -1;
}

/* Take the stored fd @name (ours to close from now on), or -1. */
static int stored_fd(struct daemon *d, const char *name)
{
	int i = stored_index(d, name), fd;

	if (i < 0)
		return -1;
	fd = d->stored_fd[i];
	d->stored_fd[i] = -1;
	return fd;
}

static void pool_fdname(const char *pool, char out[CFG_NAME_MAX + 8])
{
	snprintf(out, CFG_NAME_MAX + 8, "pool-%s", pool);
}

/* Put @fd in the store as @name; say once when there is no store. */
static void store_fd(struct daemon *d, int fd, const char *name)
{
	static bool told;
	int rc = notify_fdstore(fd, name);

	if (rc > 0) {
		d->fdstore = true;
		return;
	}
	if (!told)
		log_info(rc == 0 ? "no fd store ($NOTIFY_SOCKET unset, not started by systemd): a restarted daemon "
				   "will create new pools; clients keep the ones they have"
				 : "fd store refused %s: pools will not survive a restart", name);
	told = true;
}

/* The key that tags slot records: the stored one, else a new one (stored). */
static int setup_key(struct daemon *d)
{
	int fd = stored_fd(d, "key"), rc = -ENOENT;

	if (fd >= 0) {
		rc = adopt_key_read(fd, &d->key);
		close(fd);
		if (rc == 0)
			return 0;
		log_warn("stored key unreadable (%s): records of running clients cannot be trusted", strerror(-rc));
		notify_fdstore_remove("key");
	}
	rc = adopt_key_make(&d->key, &fd);
	if (rc < 0) {
		log_err("making the slot-record key failed: %s", strerror(-rc));
		return rc;
	}
	if (d->nstored)
		log_warn("the fd store holds pools but no key: their slot records cannot be trusted");
	store_fd(d, fd, "key");
	close(fd);
	return 0;
}

/* Fail early and clearly if the pools cannot fit in the memory the kernel says is available. */
static int check_fit(const struct daemon *d, const struct cfg_limits *lim)
{
	uint64_t total = 0;
	char need[32], have[32];

	for (unsigned i = 0; i < d->cfg->npools; i++) {
		struct rg_footprint fp;
		char fdname[CFG_NAME_MAX + 8];

		pool_fdname(d->cfg->pools[i].name, fdname);
		if (stored_index(d, fdname) >= 0)
			continue; /* re-adopted: its memory is already taken */
		if (cfg_pool_footprint(&d->cfg->pools[i], &fp) == 0)
			total += fp.total;
	}
	if (lim->mem_available == UINT64_MAX || total <= lim->mem_available)
		return 0;
	log_err("the pools need %s but MemAvailable is %s: this machine is too small for %s "
		"(rtmemd --check-config shows each pool)",
		pool_fmt_size(total, need), pool_fmt_size(lim->mem_available, have), d->cfg->source);
	return -ENOMEM;
}

static void log_survey(const struct pool *p, int changed, const struct pool_survey *sv)
{
	char sz[32];

	log_info("pool \"%s\": re-adopted %s from the fd store: %u clients kept, %u exited meanwhile, %u records "
		 "not trusted, %u other owners; %llu blocks (%s) reclaimed%s",
		 pool_name(p), pool_fmt_size(p->size, sz), sv->alive, sv->dead, sv->untrusted, sv->strays,
		 (unsigned long long)sv->blocks, pool_fmt_size(sv->bytes, (char[32]){ 0 }),
		 changed ? "; its configuration changed" : "");
	if (sv->checked_in)
		log_info("pool \"%s\": %u blocks the tester had checked out were given back", pool_name(p),
			 sv->checked_in);
	if (sv->check < 0)
		log_warn("pool \"%s\": region check: %s%s", pool_name(p), sv->check_msg,
			 sv->alive ? " (clients were running: may be a passing state)" : "");
}

/*
 * Re-adopt the stored memfd @fd of @cp into @p. A changed pool stays as it
 * is while clients use it and is dropped (return 0, @p empty) when none
 * does. Return: 1 adopted, 0 not (create a new one), -ENOMEM.
 */
static int adopt_pool(struct daemon *d, const struct cfg_pool *cp, int fd, struct pool *p)
{
	struct pool_error err;
	struct pool_survey sv;
	char fdname[CFG_NAME_MAX + 8];
	int changed, rc;

	pool_fdname(cp->name, fdname);
	changed = pool_adopt(cp, fd, p, &err);
	if (changed < 0) {
		log_warn("%s: creating a new pool (clients still on the old one keep it, unserved)", err.msg);
		notify_fdstore_remove(fdname);
		return 0;
	}
	rc = pool_survey(p, &d->key, &sv);
	if (rc < 0) {
		pool_destroy(p);
		return rc;
	}
	log_survey(p, changed, &sv);
	if (changed && !sv.alive) {
		log_info("pool \"%s\": no client uses it: replaced by a new pool as configured", cp->name);
		pool_destroy(p);
		notify_fdstore_remove(fdname);
		return 0;
	}
	if (changed)
		log_warn("pool \"%s\": the configuration changed, but %u clients use it: serving it as it was "
			 "formatted until a restart finds it unused", cp->name, sv.alive);
	d->adopted++;
	return 1;
}

/* Stored pools no longer configured: kept in the store while a client uses one. */
static void stored_leftovers(struct daemon *d)
{
	for (int i = 0; i < d->nstored; i++) {
		struct cfg_pool cp = { .desc = { .nslots = 0 } };
		struct pool p = { 0 };
		struct pool_error err;
		struct pool_survey sv;
		const char *name = d->stored_name[i];
		int fd = d->stored_fd[i];

		if (fd < 0)
			continue;
		d->stored_fd[i] = -1;
		if (strncmp(name, "pool-", 5) != 0) {
			log_warn("fd store: unknown fd \"%s\" dropped", name);
			close(fd);
			notify_fdstore_remove(name);
			continue;
		}
		snprintf(cp.name, sizeof(cp.name), "%s", name + 5);
		if (pool_adopt(&cp, fd, &p, &err) >= 0 && pool_survey(&p, &d->key, &sv) == 0 && sv.alive) {
			log_warn("pool \"%s\" is no longer configured but %u clients use it: kept in the fd store, "
				 "unserved, until a restart finds it unused", cp.name, sv.alive);
			pool_destroy(&p);
			continue;
		}
		pool_destroy(&p);
		log_info("pool \"%s\" is no longer configured and unused: released", cp.name);
		notify_fdstore_remove(name);
	}
}

static int create_pools(struct daemon *d)
{
	unsigned noexec_logged = 0;
	struct pool_error err;
	struct cfg_limits lim;
	int rc;

	rc = cfg_limits_read(&lim);
	if (rc < 0) {
		log_err("reading the machine's limits failed: %s", strerror(-rc));
		return rc;
	}
	rc = check_fit(d, &lim);
	if (rc < 0)
		return rc;
	d->pools = calloc(d->cfg->npools, sizeof(*d->pools));
	if (!d->pools)
		return -ENOMEM;
	for (unsigned i = 0; i < d->cfg->npools; i++) {
		char fdname[CFG_NAME_MAX + 8];
		int fd;

		pool_fdname(d->cfg->pools[i].name, fdname);
		fd = stored_fd(d, fdname);
		rc = fd >= 0 ? adopt_pool(d, &d->cfg->pools[i], fd, &d->pools[i]) : 0;
		if (rc < 0)
			return rc;
		if (rc == 0)
			rc = pool_create(&d->cfg->pools[i], (size_t)lim.huge_page, &d->pools[i], &err);
		else
			rc = 0;
		if (rc < 0) {
			log_err("%s", err.msg);
			return rc;
		}
		if (d->pools[i].noexec != POOL_NOEXEC_UNKNOWN && !noexec_logged++)
			log_info("pool memfds are kept from execution by %s", pool_noexec_name(d->pools[i].noexec));
		d->npools++;
		d->locked += d->pools[i].size;
	}
	return 0;
}

/* Step 2: lock, pre-fault, format. */
static int lock_pools(struct daemon *d)
{
	struct pool_error err;
	char sz[32];
	int rc;

	for (unsigned i = 0; i < d->npools; i++) {
		rc = pool_lock(&d->pools[i], &err);
		if (rc < 0)
			goto out_err;
	}
	if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0) {
		rc = -errno;
		log_err("mlockall (pools %s and the daemon itself) failed: %s", pool_fmt_size(d->locked, sz),
			strerror(-rc));
		return rc;
	}
	for (unsigned i = 0; i < d->npools; i++) {
		struct pool *p = &d->pools[i];
		char fdname[CFG_NAME_MAX + 8];

		if (p->adopted) { /* written in place: no byte a client stores is rewritten */
			rc = rg_populate_write(p->mem, p->size, p->page);
			if (rc < 0)
				log_warn("pool \"%s\": populating the re-adopted pool for writing failed: %s "
					 "(the daemon's first write to each page faults)", pool_name(p), strerror(-rc));
			continue;
		}
		rc = pool_prefault(p, &err);
		if (rc == 0)
			rc = pool_format(p, &err);
		if (rc < 0)
			goto out_err;
		log_info("pool \"%s\": %s locked and formatted (%s metadata)", pool_name(p), pool_fmt_size(p->size, sz),
			 pool_fmt_size(p->fp.meta, (char[32]){ 0 }));
		pool_fdname(pool_name(p), fdname);
		store_fd(d, p->memfd, fdname);
	}
	if (d->adopted) {
		d->adopt_us = mono_us() - d->adopt_us;
		log_info("re-adopted %u pools from the fd store in %llu.%03llu ms", d->adopted,
			 (unsigned long long)(d->adopt_us / 1000), (unsigned long long)(d->adopt_us % 1000));
	}
	rc = pool_compact_unevictable();
	if (rc == 1)
		log_warn("vm.compact_unevictable_allowed is 1: compaction may move locked pages (latency spikes); "
			 "set it to 0 (sysctl -w vm.compact_unevictable_allowed=0)");
	return 0;
out_err:
	log_err("%s", err.msg);
	return rc;
}

/*
 * A tester event, on the tester thread. Under the journal a fault is one
 * entry with its fields (RTMEM_POOL=, RTMEM_OFFSET=, ...); elsewhere every
 * event is one line on stderr. Faults also become the STATUS= line.
 */
static void memtest_event(void *arg, const struct memtest_event *ev)
{
	const struct daemon *d = arg;
	const struct memtest_fault *f = ev->fault;
	char phys[24] = "none";

	if (ev->kind != MEMTEST_EV_FAULT || !f) {
		notify_log(ev->kind == MEMTEST_EV_WARN ? LOG_WARNING : LOG_INFO, "%s", ev->msg);
		return;
	}
	if (f->phys_valid)
		snprintf(phys, sizeof(phys), "%#" PRIx64, f->phys);
	if (!d->journal || sd_journal_send("MESSAGE=rtmemd: %s", ev->msg, "PRIORITY=%d", LOG_CRIT,
					   "MESSAGE_ID=" MEMTEST_FAULT_MESSAGE_ID, "SYSLOG_IDENTIFIER=rtmemd",
					   "RTMEM_POOL=%s", f->pool, "RTMEM_OFFSET=%#" PRIx64, f->offset,
					   "RTMEM_PHYS=%s", phys, "RTMEM_EXPECTED=0x%016" PRIx64, f->expected,
					   "RTMEM_ACTUAL=0x%016" PRIx64, f->actual, "RTMEM_XOR=0x%016" PRIx64, f->xor_,
					   "RTMEM_KIND=%s", f->read_error ? "read" : "stored", "RTMEM_ALGORITHM=%s",
					   f->algorithm, "RTMEM_ELEMENT=%u", f->element,
					   "RTMEM_BACKGROUND=0x%016" PRIx64, f->background,
					   "RTMEM_QUARANTINE=%s", f->quarantine ? strerror(-f->quarantine) : "ok",
					   NULL) < 0)
		notify_log(LOG_CRIT, "%s", ev->msg);
	notify_state("STATUS=memory fault in pool \"%s\" at offset %#" PRIx64 " (%s); %s", f->pool, f->offset,
		     f->phys_valid ? phys : "physical address unavailable",
		     f->quarantine == 0 || f->quarantine == -EALREADY ? "block quarantined" : "QUARANTINE FAILED");
}

/* The tester saves its bad-block list in state_dir: create it (not its parents) if missing. */
static void make_state_dir(const char *dir)
{
	if (mkdir(dir, 0755) == 0)
		log_info("created state directory %s", dir);
	else if (errno != EEXIST)
		log_warn("state directory %s: %s: faults found will not be saved", dir, strerror(errno));
}

#ifdef RTMEM_FAULT_INJECT
static int inject_fault(struct daemon *d, const char *spec)
{
	char pool[CFG_NAME_MAX], *end;
	unsigned long long off;
	long bit;
	const char *colon = strchr(spec, ':');
	unsigned i;

	if (!colon || (size_t)(colon - spec) >= sizeof(pool))
		goto out_bad;
	memcpy(pool, spec, (size_t)(colon - spec));
	pool[colon - spec] = '\0';
	errno = 0;
	off = strtoull(colon + 1, &end, 0);
	if (errno || *end != ':')
		goto out_bad;
	bit = strtol(end + 1, &end, 0);
	if (*end || bit < 0 || bit > 63)
		goto out_bad;
	for (i = 0; i < d->npools && strcmp(pool_name(&d->pools[i]), pool); i++)
		;
	if (i == d->npools || memtest_inject(d->mt, i, off, (int)bit) < 0)
		goto out_bad;
	log_warn("TEST BUILD: injected a stuck bit %ld at pool \"%s\" offset %#llx", bit, pool, off);
	return 0;
out_bad:
	log_err("--inject-fault=%s: expected POOL:OFFSET:BIT naming a pool, an offset inside it and a bit 0..63", spec);
	return -EINVAL;
}
#endif

/*
 * Test build with --inject-fault: the simulated cell sits at a pool offset,
 * not in a frame, so physical addresses are left unresolved and the fault is
 * persisted (and found again after a restart) by pool and offset.
 */
static bool injecting(const struct opts *o)
{
#ifdef RTMEM_FAULT_INJECT
	return o->inject != NULL;
#else
	(void)o;
	return false;
#endif
}

/* Physical address tables of every pool, into @mp. Return: whether any is known. */
static bool resolve_phys(const struct daemon *d, struct memtest_pool *mp)
{
	bool any = false;

	for (unsigned i = 0; i < d->npools; i++) {
		int rc = memtest_resolve_phys(d->pools[i].mem, d->pools[i].size, &mp[i].phys);

		if (rc < 0)
			log_warn("pool \"%s\": physical addresses unavailable (/proc/self/pagemap: %s)",
				 pool_name(&d->pools[i]), strerror(-rc));
		any |= memtest_phys_available(mp[i].phys);
	}
	return any;
}

/*
 * Step 2, after the pools are locked and formatted, before any client: the
 * tester over every pool, its bad blocks quarantined again. Physical
 * addresses need CAP_SYS_ADMIN, which the daemon still has here. With
 * [memtest] enabled = no the thread never starts, but bad blocks stay out.
 */
static int setup_memtest(struct daemon *d, const struct opts *o)
{
	const struct cfg_memtest *mc = &d->cfg->memtest;
	const char *dir = d->cfg->daemon.state_dir;
	struct cfg_error err = { 0 };
	struct memtest_config mcfg;
	struct memtest_pool *mp;
	bool phys = false;
	unsigned malformed = 0;
	int rc;

	d->journal = notify_stderr_is_journal();
	rc = mc->enabled ? memtest_config_from_cfg(d->cfg, &mcfg, &err) : memtest_config_default(&mcfg);
	if (rc < 0) {
		log_err("%s", err.msg);
		return rc;
	}
	mp = calloc(d->npools ? d->npools : 1, sizeof(*mp));
	if (!mp)
		return -ENOMEM;
	for (unsigned i = 0; i < d->npools; i++)
		mp[i] = (struct memtest_pool){ .name = pool_name(&d->pools[i]), .region = d->pools[i].region,
					       .base = d->pools[i].mem, .size = d->pools[i].size };
	if (!injecting(o))
		phys = resolve_phys(d, mp);
	if (mc->enabled)
		make_state_dir(dir);
	rc = memtest_create(&mcfg, mp, d->npools, dir, memtest_event, d, &d->mt); /* takes mp[].phys */
	free(mp);
	if (rc < 0) {
		log_err("memory tester: setup failed: %s", strerror(-rc));
		return rc;
	}
	rc = memtest_load_badblocks(d->mt, &malformed);
	if (rc < 0) {
		log_err("bad-block list %s/%s: %s: refusing to serve pools with unknown bad blocks", dir,
			MEMTEST_BADBLOCKS, strerror(-rc));
		return rc;
	}
	log_info("memory tester %s: %d bad blocks quarantined from %s/%s%s; physical addresses %s",
		 mc->enabled ? "enabled" : "disabled", rc, dir, MEMTEST_BADBLOCKS,
		 malformed ? " (malformed lines skipped)" : "", phys ? "known" : "unavailable");
#ifdef RTMEM_FAULT_INJECT
	if (o->inject)
		return inject_fault(d, o->inject);
#endif
	return 0;
}

/* After READY=1: the tester thread, if enabled; the bad-block list must stay writable. */
static void start_memtest(struct daemon *d)
{
	const char *dir = d->cfg->daemon.state_dir;
	int rc;

	if (!d->cfg->memtest.enabled)
		return;
	if (access(dir, W_OK) < 0)
		log_warn("state directory %s is not writable by uid %u: faults will not be saved", dir, (unsigned)getuid());
	rc = memtest_start(d->mt);
	if (rc < 0)
		log_err("memory tester: starting its thread failed: %s; serving without it", strerror(-rc));
}

static void on_signal(void *arg, int res)
{
	struct daemon *d = arg;
	struct signalfd_siginfo si;

	(void)res;
	if (read(d->sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP) {
		log_info("SIGHUP: reloading is not supported; restart rtmemd to apply a new configuration");
		return;
	}
	log_info("stopping (%s from pid %u)", strsignal((int)si.ssi_signo), si.ssi_pid);
	notify_state("STOPPING=1\nSTATUS=stopping");
	srv_set_phase(d->srv, "stopping");
	loop_stop(d->loop);
}

static void on_watchdog(void *arg, int res)
{
	(void)arg;
	(void)res;
	notify_watchdog();
}

static int start_loop(struct daemon *d, const struct opts *o)
{
	int uring_err = 0, rc;

	rc = loop_new(o->loop, &d->loop, &uring_err);
	if (rc < 0) {
		log_err("event loop %s: %s", o->loop == LOOP_URING ? "io_uring" : "epoll", strerror(-rc));
		return rc;
	}
	if (uring_err)
		log_warn("io_uring unavailable (%s; kernel.io_uring_disabled or seccomp?): falling back to epoll",
			 strerror(-uring_err));
	rc = srv_new(d->cfg, d->pools, d->npools, d->loop, &d->srv);
	if (rc == 0)
		rc = loop_add_poll(d->loop, d->sigfd, on_signal, d, NULL);
	if (rc == 0 && notify_watchdog_ns())
		rc = loop_add_timer(d->loop, notify_watchdog_ns(), on_watchdog, d, NULL);
	if (rc < 0)
		log_err("event loop setup failed: %s", strerror(-rc));
	return rc;
}

/* The read-only socket for monitoring (srv.h): mode 0660, group monitor_group. */
static int listen_monitor(struct daemon *d, const struct opts *o)
{
	const struct cfg_daemon *cd = &d->cfg->daemon;
	const char *path = o->monitor ? o->monitor : cd->monitor_socket;
	char err[SRV_ERR_MAX];
	int rc;

	if (!*path || !strcmp(path, "none"))
		return 0;
	rc = srv_listen_monitor(d->srv, path, 0660, cd->has_monitor_group ? (gid_t)cd->monitor_group.id : (gid_t)-1,
				err);
	if (rc < 0)
		log_err("%s (monitor_socket = none in [daemon] turns it off)", err);
	return rc;
}

static int listen_socket(struct daemon *d, const struct opts *o)
{
	const struct cfg_daemon *cd = &d->cfg->daemon;
	char err[SRV_ERR_MAX];
	int rc;

	rc = srv_listen(d->srv, o->socket ? o->socket : cd->socket, cd->socket_mode,
			cd->has_socket_group ? (gid_t)cd->socket_group.id : (gid_t)-1, err);
	if (rc < 0) {
		log_err("%s", err);
		return rc;
	}
	return listen_monitor(d, o);
}

static int drop_privileges(const struct daemon *d)
{
	const struct cfg_daemon *cd = &d->cfg->daemon;
	uid_t uid = cd->has_user ? (uid_t)cd->user.id : (uid_t)-1;
	gid_t gid = cd->has_group ? (gid_t)cd->group.id : getgid();
	const char *what = "";
	bool kept;
	int rc;

	if (cd->has_user && !cd->has_group) {
		struct passwd *pw = getpwuid(uid);

		gid = pw ? pw->pw_gid : (gid_t)uid;
	}
	rc = notify_drop_privileges(uid, gid, &kept, &what);
	if (rc < 0) {
		log_err("dropping privileges failed: %s: %s", what, strerror(-rc));
		return rc;
	}
	log_info("running as uid %u gid %u, capabilities: %s", (unsigned)getuid(), (unsigned)getgid(),
		 kept ? "cap_ipc_lock" : "none");
	return 0;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int block_signals(struct daemon *d)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 || (d->sigfd = signalfd(-1, &set, SFD_CLOEXEC)) < 0) {
		log_err("signalfd failed: %s", strerror(errno));
		return -errno;
	}
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void announce(struct daemon *d, const char *path)
{
	char status[400], sz[32];
	int n;

	n = snprintf(status, sizeof(status), "serving %u pools (", d->npools);
	for (unsigned i = 0; i < d->npools && n < (int)sizeof(status); i++)
		n += snprintf(status + n, sizeof(status) - (size_t)n, "%s%s %s", i ? ", " : "", pool_name(&d->pools[i]),
			      pool_fmt_size(d->pools[i].size, sz));
	if (n < (int)sizeof(status))
		snprintf(status + n, sizeof(status) - (size_t)n, ") on %s", path);
	for (unsigned i = 0; i < d->npools; i++)
		rg_region_daemon_set(d->pools[i].region, RG_DAEMON_SERVING, (uint32_t)getpid());
	d->served = true;
	notify_state("READY=1\nSTATUS=%s", status);
	log_info("ready: %u pools, %s locked, event loop %s, socket %s", d->npools, pool_fmt_size(d->locked, sz),
		 loop_name(d->loop), path);
}

static void daemon_free(struct daemon *d)
{
	memtest_destroy(d->mt); /* first: its thread tests the pools' memory */
	srv_free(d->srv);
	loop_free(d->loop);
	for (unsigned i = 0; i < d->npools; i++) {
		if (d->served) /* clients keep their pools and can tell nobody serves them */
			rg_region_daemon_set(d->pools[i].region, RG_DAEMON_STOPPED, (uint32_t)getpid());
		pool_destroy(&d->pools[i]);
	}
	free(d->pools);
	for (int i = 0; i < d->nstored; i++) {
		if (d->stored_fd[i] >= 0)
			close(d->stored_fd[i]);
		free(d->stored_name[i]);
	}
	free(d->stored_fd);
	free(d->stored_name);
	if (d->sigfd >= 0)
		close(d->sigfd);
	cfg_free(d->cfg);
}

static int serve(const struct opts *o, struct daemon *d)
{
	const char *path = o->socket ? o->socket : d->cfg->daemon.socket;
	int rc;

	log_info("starting: %u pools from %s%s", d->cfg->npools, d->cfg->source,
		 d->cfg->ndropins ? " and its conf.d drop-ins" : "");
	notify_state("STATUS=setup: creating %u pools", d->cfg->npools);
	raise_nofile();
	d->adopt_us = mono_us();
	stored_take(d);
	if ((rc = block_signals(d)) < 0 || (rc = setup_key(d)) < 0 || (rc = create_pools(d)) < 0)
		return rc;
	stored_leftovers(d);
	notify_state("STATUS=setup: locking and pre-faulting %u pools", d->npools);
	if ((rc = lock_pools(d)) < 0 || (rc = setup_memtest(d, o)) < 0 || (rc = start_loop(d, o)) < 0 ||
	    (rc = listen_socket(d, o)) < 0 || (rc = drop_privileges(d)) < 0)
		return rc;
	srv_set_memtest(d->srv, d->mt, memtest_status);
	srv_set_key(d->srv, &d->key);
	announce(d, path);
	start_memtest(d);
	rc = loop_run(d->loop);
	if (memtest_stop(d->mt) == 0)
		log_info("memory tester stopped");
	if (rc < 0) {
		log_err("event loop failed: %s", strerror(-rc));
		notify_state("STOPPING=1\nSTATUS=event loop failed");
		return rc;
	}
	log_info("stopping: disconnecting %u clients; their pools and blocks stay theirs%s", srv_nclients(d->srv),
		 d->fdstore ? " (the pools stay in the fd store for the next start)" : "");
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .log_level = -1 };
	struct daemon d = { .sigfd = -1 };
	int rc;

	if (parse_args(argc, argv, &o) < 0)
		return 2;
	if (load_config(&o, &d.cfg) < 0)
		return 1;
	if (o.log_level < 0)
		notify_set_level(d.cfg->daemon.log_level);
	if (o.check_config) {
		rc = cfg_report(d.cfg, stdout);
		cfg_free(d.cfg);
		return rc == 0 ? 0 : 1;
	}
	rc = serve(&o, &d);
	daemon_free(&d);
	if (rc == 0)
		log_info("stopped");
	return rc < 0 ? 1 : 0;
}
