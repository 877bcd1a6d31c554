/* SPDX-License-Identifier: MIT */
/*
 * notify.h - how rtmemd talks to its supervisor: log lines on stderr (the
 * journal under systemd), sd_notify() state (READY, STATUS, WATCHDOG,
 * STOPPING), and the one-way step from setup privileges to serving ones
 * (libcap: keep CAP_IPC_LOCK only, optionally become another user).
 *
 * Owns: nothing but a flag saying whether stderr is the journal.
 */
#ifndef RTMEMD_NOTIFY_H
#define RTMEMD_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <syslog.h>

/*
 * notify_stderr_is_journal() - is stderr the journal (JOURNAL_STREAM names
 * its device and inode)? Decided on the first call and kept.
 * Context: first call from the main thread during setup; then any thread.
 */
bool notify_stderr_is_journal(void);

/*
 * notify_log() - one line on stderr, if @prio is at or above the level set
 * by notify_set_level() (default LOG_INFO). When stderr is the journal
 * (JOURNAL_STREAM names it) the line starts with the "<N>" priority prefix
 * the journal reads and nothing else: the journal adds "rtmemd[pid]: "
 * itself. Elsewhere (a terminal, a file) it starts with "rtmemd: ".
 * Context: not RT; one write(2).
 */
__attribute__((format(printf, 2, 3)))
void notify_log(int prio, const char *fmt, ...);

/* notify_set_level() - log @prio (LOG_ERR .. LOG_DEBUG) and more urgent only.
 * Context: setup, before other threads start. */
void notify_set_level(int prio);

#define log_err(...) notify_log(LOG_ERR, __VA_ARGS__)
#define log_warn(...) notify_log(LOG_WARNING, __VA_ARGS__)
#define log_info(...) notify_log(LOG_INFO, __VA_ARGS__)
#define log_debug(...) notify_log(LOG_DEBUG, __VA_ARGS__)

/*
 * notify_state() - sd_notify() a state such as "READY=1\nSTATUS=serving".
 * A no-op without $NOTIFY_SOCKET. Context: not RT.
 */
__attribute__((format(printf, 1, 2)))
void notify_state(const char *fmt, ...);

/*
 * notify_fdstore() - hand @fd to systemd's file descriptor store under
 * @name (FDSTORE=1, FDNAME=), so that it survives this process: systemd
 * passes it back to the next start (docs/lifecycle.md).
 * Context: setup. Return: 1 sent, 0 no $NOTIFY_SOCKET (no store), -errno.
 */
int notify_fdstore(int fd, const char *name);

/* notify_fdstore_remove() - FDSTOREREMOVE=1 for every stored fd named @name. */
void notify_fdstore_remove(const char *name);

/*
 * notify_listen_fds() - the fds systemd passed (LISTEN_FDS, for this pid),
 * from SD_LISTEN_FDS_START on, with their names (LISTEN_FDNAMES) in
 * *ret_names (strv, the caller's; NULL when none). The variables are unset.
 * Context: setup, first thing. Return: the number of fds, 0, or -errno.
 */
int notify_listen_fds(char ***ret_names);

/*
 * notify_watchdog_ns() - the period at which to send WATCHDOG=1: half of
 * WATCHDOG_USEC when systemd set it for this process, else 0.
 */
uint64_t notify_watchdog_ns(void);

/* notify_watchdog() - send WATCHDOG=1. Context: event loop timer. */
void notify_watchdog(void);

/*
 * notify_drop_privileges() - end of setup. When @uid is not (uid_t)-1 and we
 * are root: become @uid/@gid with @uid's supplementary groups. Then keep only
 * CAP_IPC_LOCK (if we had it: locked memory of clients' structures beyond
 * RLIMIT_MEMLOCK under MCL_FUTURE) in the permitted and effective sets, and
 * drop every other capability from the bounding set where allowed.
 * @ret_kept gets whether CAP_IPC_LOCK is still effective.
 * Context: setup, single-threaded. Return: 0, or -errno of the failing call
 * with its name in *ret_what.
 */
int notify_drop_privileges(uid_t uid, gid_t gid, bool *ret_kept, const char **ret_what);

#endif /* RTMEMD_NOTIFY_H */
