/* SPDX-License-Identifier: MIT */
/*
 * notify.c - logging to stderr/journal, sd_notify(), and dropping
 * privileges after setup (see notify.h).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "notify.h"

bool notify_stderr_is_journal(void)
{
	static int known = -1;
	const char *e;
	unsigned long long dev, ino;
	struct stat st;

	if (known >= 0)
		return known;
	known = 0;
	e = getenv("JOURNAL_STREAM");
	if (e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino)
		known = 1;
	return known;
}

static int log_level = LOG_INFO;

void notify_set_level(int prio)
{
	log_level = prio;
}

void notify_log(int prio, const char *fmt, ...)
{
	char line[1024];
	int n = 0, m;
	va_list ap;

	if ((prio & 7) > log_level)
		return;
	if (notify_stderr_is_journal())
		n = snprintf(line, sizeof(line), "<%d>", prio & 7);
	else
		n = snprintf(line, sizeof(line), "rtmemd: ");
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n = n + m < (int)sizeof(line) - 1 ? n + m : (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere left to say it */
	}
}

void notify_state(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sd_notify(0, buf);
}

int notify_fdstore(int fd, const char *name)
{
	char msg[300];

	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
	return sd_pid_notify_with_fds(0, 0, msg, &fd, 1);
}

void notify_fdstore_remove(const char *name)
{
	notify_state("FDSTOREREMOVE=1\nFDNAME=%s", name);
}

int notify_listen_fds(char ***ret_names)
{
	*ret_names = NULL;
	return sd_listen_fds_with_names(1, ret_names);
}

uint64_t notify_watchdog_ns(void)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0 || !usec)
		return 0;
	return usec * 1000u / 2u;
}

void notify_watchdog(void)
{
	sd_notify(0, "WATCHDOG=1");
}

/* Become @uid/@gid, keeping the permitted capabilities across setuid(). */
static int change_user(uid_t uid, gid_t gid, const char **ret_what)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) < 0) {
		*ret_what = "prctl(PR_SET_KEEPCAPS)";
		return -errno;
	}
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res) {
		if (initgroups(pw.pw_name, gid) < 0) {
			*ret_what = "initgroups";
			return -errno;
		}
	} else if (setgroups(0, NULL) < 0) {
		*ret_what = "setgroups";
		return -errno;
	}
	if (setresgid(gid, gid, gid) < 0) {
		*ret_what = "setresgid";
		return -errno;
	}
	if (setresuid(uid, uid, uid) < 0) {
		*ret_what = "setresuid";
		return -errno;
	}
	return 0;
}

/* Drop every capability but CAP_IPC_LOCK from the bounding set, if we may (CAP_SETPCAP). */
static void drop_bounding(void)
{
	cap_value_t max = cap_max_bits();

	for (cap_value_t c = 0; c < max; c++)
		if (c != CAP_IPC_LOCK && CAP_IS_SUPPORTED(c))
			cap_drop_bound(c);
}

int notify_drop_privileges(uid_t uid, gid_t gid, bool *ret_kept, const char **ret_what)
{
	cap_flag_value_t had = CAP_CLEAR, setpcap = CAP_CLEAR;
	cap_value_t keep = CAP_IPC_LOCK;
	cap_t now, want;
	int rc = 0;

	*ret_kept = false;
	now = cap_get_proc();
	if (!now) {
		*ret_what = "cap_get_proc";
		return -errno;
	}
	cap_get_flag(now, CAP_IPC_LOCK, CAP_PERMITTED, &had);
	cap_get_flag(now, CAP_SETPCAP, CAP_EFFECTIVE, &setpcap);
	if (setpcap == CAP_SET)
		drop_bounding();
	cap_free(now);
	if (uid != (uid_t)-1 && geteuid() == 0) {
		rc = change_user(uid, gid, ret_what);
		if (rc < 0)
			return rc;
	}
	want = cap_init();
	if (!want) {
		*ret_what = "cap_init";
		return -errno;
	}
	if (had == CAP_SET && (cap_set_flag(want, CAP_PERMITTED, 1, &keep, CAP_SET) < 0 ||
			       cap_set_flag(want, CAP_EFFECTIVE, 1, &keep, CAP_SET) < 0)) {
		rc = -errno;
		*ret_what = "cap_set_flag";
	} else if (cap_set_proc(want) < 0) {
		rc = -errno;
		*ret_what = "cap_set_proc";
	} else {
		*ret_kept = had == CAP_SET;
	}
	cap_free(want);
	prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L);
	return rc;
}
