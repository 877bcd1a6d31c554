/* SPDX-License-Identifier: MIT */
/*
 * daemon_serve.c - step 3 of main.c: signals, the event loop and its
 * watchdog, the sockets, dropping privileges, READY=1, and the teardown.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
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

#include "notify.h"
#include "probe.h"
#include "size.h"

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

int daemon_start_loop(struct daemon *d, const struct opts *o)
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

int daemon_listen_socket(struct daemon *d, const struct opts *o)
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

int daemon_drop_privileges(const struct daemon *d)
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

void daemon_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int daemon_block_signals(struct daemon *d)
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

void daemon_announce(struct daemon *d, const char *path)
{
	char status[400], sz[32];
	int n;

	n = snprintf(status, sizeof(status), "serving %u pools (", d->npools);
	for (unsigned i = 0; i < d->npools && n < (int)sizeof(status); i++)
		n += snprintf(status + n, sizeof(status) - (size_t)n, "%s%s %s", i ? ", " : "", pool_name(&d->pools[i]),
			      size_fmt(d->pools[i].size, SIZE_IEC, sz));
	if (n < (int)sizeof(status))
		snprintf(status + n, sizeof(status) - (size_t)n, ") on %s", path);
	for (unsigned i = 0; i < d->npools; i++)
		rg_region_daemon_set(d->pools[i].region, RG_DAEMON_SERVING, (uint32_t)getpid());
	d->served = true;
	notify_state("READY=1\nSTATUS=%s", status);
	log_info("ready: %u pools, %s locked, event loop %s, socket %s", d->npools, size_fmt(d->locked, SIZE_IEC, sz),
		 loop_name(d->loop), path);
}

void daemon_free(struct daemon *d)
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
