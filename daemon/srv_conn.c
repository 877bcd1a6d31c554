/* SPDX-License-Identifier: MIT */
/*
 * srv_conn.c - the sockets and the connections: binding the client and
 * monitor sockets, accepting, the peer's credentials and pidfd, the limits
 * on connections (per socket and per uid), and refusing what does not fit.
 */
#include "srv_int.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "adopt.h"
#include "audit.h"
#include "memtest.h"
#include "notify.h"
#include "proto.h"

static void on_pidfd(void *arg, int res)
{
	(void)res;
	srv_client_drop(arg, "process exited");
}

/* The peer's groups: its gid and the supplementary groups of its uid in the user database. */
static int peer_groups(struct srv_client *c)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int n = 32;

	if (getpwuid_r(c->uid, &pw, buf, sizeof(buf), &res) != 0 || !res) {
		c->gids = malloc(sizeof(*c->gids));
		if (!c->gids)
			return -ENOMEM;
		c->gids[0] = c->gid;
		c->ngids = 1;
		return 0;
	}
	for (;;) {
		int got = n;

		c->gids = malloc((size_t)n * sizeof(*c->gids));
		if (!c->gids)
			return -ENOMEM;
		if (getgrouplist(pw.pw_name, c->gid, (gid_t *)c->gids, &got) >= 0) {
			c->ngids = (size_t)got;
			return 0;
		}
		free(c->gids);
		c->gids = NULL;
		if (n >= 65536)
			return -E2BIG;
		n = got > n ? got : n * 2;
	}
}

/* The peer's pidfd: SO_PEERPIDFD names exactly the process that connected; pidfd_open may race pid reuse. */
static int peer_pidfd(struct srv_client *c)
{
	static bool warned;
	socklen_t len = sizeof(c->pidfd);
	long fd;

	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERPIDFD, &c->pidfd, &len) == 0)
		return 0;
	fd = syscall(SYS_pidfd_open, c->pid, 0);
	if (fd >= 0) {
		c->pidfd = (int)fd;
		return 0;
	}
	c->pidfd = -1;
	if (errno == ESRCH)
		return -ESRCH;
	if (!warned)
		log_warn("no pidfd for clients (%s): liveness by socket hang-up only", strerror(errno));
	warned = true;
	return 0;
}

static int client_new(struct srv *s, int fd, struct srv_client **ret)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct srv_client *c;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	c = calloc(1, sizeof(*c) + s->npools * sizeof(c->open[0]));
	if (!c)
		return -ENOMEM;
	c->s = s;
	c->fd = fd;
	c->pidfd = -1;
	c->id = ++s->next_id;
	c->pid = cred.pid;
	c->uid = cred.uid;
	c->gid = cred.gid;
	*ret = c;
	return 0;
}

static int client_arm(struct srv *s, struct srv_client *c)
{
	int rc = peer_groups(c);

	if (rc == 0)
		rc = peer_pidfd(c);
	if (rc == 0)
		rc = loop_add_recv(s->loop, c->fd, RTMEM_MSG_MAX, srv_on_recv, c, &c->w_sock);
	if (rc == 0 && c->pidfd >= 0)
		rc = loop_add_poll(s->loop, c->pidfd, on_pidfd, c, &c->w_pid);
	return rc;
}

/*
 * Refuse the connection @fd with EUSERS and close it. The ERROR carries the
 * seq of the peer's first request if it is already queued (librtmem sends
 * HELLO right after connect), else 0, which librtmem takes as a refusal of
 * the connection itself (lib/proto/proto.h).
 */
static void refuse_connection(struct srv *s, int fd, const char *why)
{
	struct rtmem_msg_error e = { .err = EUSERS };
	struct rtmem_msg_hdr h;
	uint32_t seq = 0;

	if (recv(fd, &h, sizeof(h), MSG_PEEK | MSG_DONTWAIT) == (ssize_t)sizeof(h) && h.magic == RTMEM_PROTO_MAGIC)
		seq = h.seq;
	rtmem_msg_init(&e.h, RTMEM_MSG_ERROR, seq);
	snprintf(e.msg, sizeof(e.msg), "too many clients: %s", why);
	send(fd, &e, sizeof(e), MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
	s->counters.refusals_total++;
	log_warn("connection refused: %s", why);
}

/*
 * Make room for a connection of @uid on the client socket or (@monitor) the
 * monitor socket, which count apart, so that no flood of one locks out the
 * other. At a limit (the uid's, then the socket's), the oldest connection of
 * that uid (then of anyone) that has not said HELLO yet is dropped for it:
 * an idle peer never keeps out one that talks.
 * Return: 0 (room made), -EUSERS with @why filled.
 */
static int make_room(struct srv *s, uid_t uid, bool monitor, char why[96])
{
	unsigned all = 0, mine = 0, max = monitor ? SRV_MAX_MONITORS : SRV_MAX_CLIENTS;
	unsigned per_uid = s->cfg->daemon.max_connections_per_uid ? s->cfg->daemon.max_connections_per_uid
								     : CFG_CONNECTIONS_PER_UID;
	struct srv_client *idle_all = NULL, *idle_mine = NULL, *victim;

	for (struct srv_client *c = s->head; c; c = c->next) { /* oldest first */
		if (c->via_monitor != monitor)
			continue;
		all++;
		mine += c->uid == uid;
		if (!c->hello && !idle_all)
			idle_all = c;
		if (!c->hello && c->uid == uid && !idle_mine)
			idle_mine = c;
	}
	if (mine >= per_uid)
		victim = idle_mine;
	else if (all >= max)
		victim = idle_all;
	else
		return 0;
	if (!victim) {
		if (mine >= per_uid)
			snprintf(why, 96, "uid %u holds %u connections (max_connections_per_uid)", (unsigned)uid, mine);
		else
			snprintf(why, 96, "%u connections on the %s socket", all, monitor ? "monitor" : "client");
		return -EUSERS;
	}
	srv_client_drop(victim, "no HELLO yet, dropped to make room for a new connection");
	return 0;
}

static int adopt(struct srv *s, int fd, bool monitor)
{
	struct srv_client *c = NULL;
	char w[96], why[96];
	int rc;

	rc = client_new(s, fd, &c);
	if (rc < 0) {
		close(fd);
		log_warn("connection dropped: %s", strerror(-rc));
		return rc;
	}
	if (make_room(s, c->uid, monitor, why) < 0) {
		free(c);
		refuse_connection(s, fd, why);
		return -EUSERS;
	}
	c->via_monitor = monitor;
	c->since_ms = srv_mono_ms();
	c->prev = s->tail;
	if (s->tail)
		s->tail->next = c;
	else
		s->head = c;
	s->tail = c;
	s->nclients++;
	s->counters.connections_total++;
	c->monitor = monitor;
	s->nmonitors += monitor;
	rc = client_arm(s, c);
	if (rc < 0) {
		srv_client_drop(c, rc == -ESRCH ? "exited before it was served" : strerror(-rc));
		return rc;
	}
	log_debug("%s connected%s: uid %u gid %u%s", srv_who(c, w), monitor ? " to the monitor socket" : "",
		  (unsigned)c->uid, (unsigned)c->gid, c->pidfd >= 0 ? "" : ", no pidfd");
	return 0;
}

int srv_adopt(struct srv *s, int fd)
{
	return adopt(s, fd, false);
}

int srv_adopt_monitor(struct srv *s, int fd)
{
	return adopt(s, fd, true);
}

static void accept_done(struct srv *s, int res, bool monitor)
{
	if (res >= 0) {
		adopt(s, res, monitor);
		return;
	}
	if (res == -EINTR || res == -EAGAIN || res == -ECONNABORTED)
		return;
	if (s->accept_errors++ % 1000 == 0)
		log_err("accept on %s failed: %s", monitor ? s->mpath : s->path, strerror(-res));
}

static void on_accept(void *arg, int res)
{
	accept_done(arg, res, false);
}

static void on_accept_monitor(void *arg, int res)
{
	accept_done(arg, res, true);
}

/* Make room for a new socket at @path: remove a stale one, refuse a live one or a non-socket. */
static int clear_path(const char *path, char err[SRV_ERR_MAX])
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		rc = -errno;
		snprintf(err, SRV_ERR_MAX, "socket %s: %s", path, strerror(-rc));
		return rc;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, SRV_ERR_MAX, "socket %s: exists and is not a socket; not removing it", path);
		return -EEXIST;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		snprintf(err, SRV_ERR_MAX, "socket %s: another rtmemd is serving on it", path);
		return -EADDRINUSE;
	}
	if (fd >= 0)
		close(fd);
	if (unlink(path) < 0 && errno != ENOENT) {
		rc = -errno;
		snprintf(err, SRV_ERR_MAX, "socket %s: removing the stale socket failed: %s", path, strerror(-rc));
		return rc;
	}
	log_info("removed stale socket %s", path);
	return 0;
}

/* mkdir the parent of @path if it is missing (not recursively). */
static int make_parent(const char *path, char err[SRV_ERR_MAX])
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;
	int rc;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) == 0) {
		log_info("created directory %s", dir);
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	rc = -errno;
	snprintf(err, SRV_ERR_MAX, "socket directory %s: %s", dir, strerror(-rc));
	return rc;
}

static int bind_socket(int lfd, const char *path, uint32_t mode, gid_t group, char err[SRV_ERR_MAX])
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *what;
	mode_t old;
	int rc;

	strcpy(sa.sun_path, path);
	old = umask(0177); /* nobody may connect before chmod says so */
	rc = bind(lfd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0) {
		what = "bind";
		goto out_err;
	}
	if (chmod(path, (mode_t)mode) < 0) {
		what = "chmod";
		goto out_unlink;
	}
	if (group != (gid_t)-1 && chown(path, (uid_t)-1, group) < 0) {
		what = "chown to the socket group";
		goto out_unlink;
	}
	if (listen(lfd, 64) < 0) {
		what = "listen";
		goto out_unlink;
	}
	return 0;
out_unlink:
	rc = -errno;
	unlink(path);
	errno = -rc;
out_err:
	rc = -errno;
	snprintf(err, SRV_ERR_MAX, "socket %s: %s failed: %s", path, what, strerror(-rc));
	return rc;
}

/* Listen on @path (a socket of @what, into *@fd, its path kept in @pathbuf
 * of @pathlen bytes), accepted connections to @fn. On failure *@fd is -1. */
static int listen_on(struct srv *s, const char *what, const char *path, uint32_t mode, gid_t group, int *fd,
		     char *pathbuf, size_t pathlen, loop_fn fn, struct loop_watch **w, char err[SRV_ERR_MAX])
{
	int rc;

	if (strlen(path) >= pathlen) {
		snprintf(err, SRV_ERR_MAX, "%s %s: path longer than %zu bytes", what, path, pathlen - 1);
		return -ENAMETOOLONG;
	}
	rc = clear_path(path, err);
	if (rc == 0)
		rc = make_parent(path, err);
	if (rc < 0)
		return rc;
	*fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (*fd < 0) {
		rc = -errno;
		snprintf(err, SRV_ERR_MAX, "%s %s: socket() failed: %s", what, path, strerror(-rc));
		return rc;
	}
	snprintf(pathbuf, pathlen, "%s", path);
	rc = bind_socket(*fd, pathbuf, mode, group, err);
	if (rc == 0) {
		rc = loop_add_accept(s->loop, *fd, fn, s, w);
		if (rc < 0) {
			snprintf(err, SRV_ERR_MAX, "%s %s: watching it failed: %s", what, path, strerror(-rc));
			unlink(pathbuf);
		}
	}
	if (rc < 0) {
		close(*fd);
		*fd = -1;
		pathbuf[0] = '\0';
	}
	return rc;
}

int srv_listen(struct srv *s, const char *path, uint32_t mode, gid_t group, char err[SRV_ERR_MAX])
{
	return listen_on(s, "socket", path, mode, group, &s->lfd, s->path, sizeof(s->path), on_accept, &s->w_listen,
			 err);
}

int srv_listen_monitor(struct srv *s, const char *path, uint32_t mode, gid_t group, char err[SRV_ERR_MAX])
{
	return listen_on(s, "monitor socket", path, mode, group, &s->mfd, s->mpath, sizeof(s->mpath),
			 on_accept_monitor, &s->w_monitor, err);
}
