/* SPDX-License-Identifier: MIT */
/*
 * daemon_fdstore.c - systemd's fd store (docs/lifecycle.md): the fds a start
 * is handed (LISTEN_FDS/LISTEN_FDNAMES), each pool's memfd stored as
 * "pool-NAME" once formatted, and the key that tags slot records ("key").
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

uint64_t daemon_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The fds systemd's store passed us (none without systemd, or on a first start). */
void daemon_stored_take(struct daemon *d)
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
int daemon_stored_index(const struct daemon *d, const char *name)
{
	for (int i = 0; i < d->nstored; i++)
		if (d->stored_fd[i] >= 0 && d->stored_name[i] && !strcmp(d->stored_name[i], name))
			return i;
	return -1;
}

/* Take the stored fd @name (ours to close from now on), or -1. */
int daemon_stored_fd(struct daemon *d, const char *name)
{
	int i = daemon_stored_index(d, name), fd;

	if (i < 0)
		return -1;
	fd = d->stored_fd[i];
	d->stored_fd[i] = -1;
	return fd;
}

void daemon_pool_fdname(const char *pool, char out[CFG_NAME_MAX + 8])
{
	snprintf(out, CFG_NAME_MAX + 8, "pool-%s", pool);
}

/* Put @fd in the store as @name; say once when there is no store. */
void daemon_store_fd(struct daemon *d, int fd, const char *name)
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
int daemon_setup_key(struct daemon *d)
{
	int fd = daemon_stored_fd(d, "key"), rc = -ENOENT;

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
	daemon_store_fd(d, fd, "key");
	close(fd);
	return 0;
}
