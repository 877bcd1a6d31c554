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
 * error or an invalid config, 2 on bad usage. *
 * This file is the command line and the list of phases (serve()); each phase
 * is in its own file: daemon_pools.c (steps 1 and 2), daemon_tester.c,
 * daemon_serve.c (step 3), daemon_fdstore.c (the fd store); daemon.h is
 * what they share.
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
#include "daemon.h"
#include "fault.h"
#include "loop.h"
#include "memtest.h"
#include "notify.h"
#include "pool.h"
#include "probe.h"
#include "proto.h"
#include "report.h"
#include "size.h"
#include "srv.h"

#ifndef RTMEMD_VERSION
#define RTMEMD_VERSION "unknown"
#endif

#ifdef RTMEM_FAULT_INJECT
#define USAGE_INJECT                                                                      \
	"      --inject-fault=POOL:OFFSET:BIT  test build: the tester reads bit BIT of the\n" \
	"                        word at byte OFFSET of POOL flipped, as from a stuck cell\n"
#else
#define USAGE_INJECT ""
#endif

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

static int serve(const struct opts *o, struct daemon *d)
{
	const char *path = o->socket ? o->socket : d->cfg->daemon.socket;
	int rc;

	log_info("starting: %u pools from %s%s", d->cfg->npools, d->cfg->source,
		 d->cfg->ndropins ? " and its conf.d drop-ins" : "");
	notify_state("STATUS=setup: creating %u pools", d->cfg->npools);
	daemon_raise_nofile();
	d->adopt_us = daemon_mono_us();
	daemon_stored_take(d);
	if ((rc = daemon_block_signals(d)) < 0 || (rc = daemon_setup_key(d)) < 0 ||
	    (rc = daemon_create_pools(d)) < 0)
		return rc;
	daemon_stored_leftovers(d);
	notify_state("STATUS=setup: locking and pre-faulting %u pools", d->npools);
	if ((rc = daemon_lock_pools(d)) < 0 || (rc = daemon_setup_memtest(d, o)) < 0 ||
	    (rc = daemon_start_loop(d, o)) < 0 || (rc = daemon_listen_socket(d, o)) < 0 ||
	    (rc = daemon_drop_privileges(d)) < 0)
		return rc;
	srv_set_memtest(d->srv, d->mt, memtest_status);
	srv_set_key(d->srv, &d->key);
	daemon_announce(d, path);
	daemon_start_memtest(d);
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
		rc = report_config(d.cfg, stdout);
		cfg_free(d.cfg);
		return rc == 0 ? 0 : 1;
	}
	rc = serve(&o, &d);
	daemon_free(&d);
	if (rc == 0)
		log_info("stopped");
	return rc < 0 ? 1 : 0;
}
