/* SPDX-License-Identifier: MIT */
/*
 * srv.c - the socket server of rtmemd: clients, messages, ACLs, owner slots
 * and reclaim (see srv.h for the rules it enforces). This file holds the
 * server's lifetime, its replies and the periodic tick; the sockets and
 * connections are srv_conn.c's, the requests srv_req.c's, slots, sweeps,
 * audits, reclaim and orphans srv_reclaim.c's; srv_int.h is what they share.
 *
 * Owns: the listening socket and its file, every struct srv_client with its
 * socket and pidfd, the per-pool slot tables, and the orphans: slots of
 * clients of the daemon before this one, alive at adoption and not yet
 * reconnected (each with a pidfd; reclaimed when it exits, handed back by
 * RESUME).
 *
 * Invariants:
 *  - a client is on the list from srv_adopt() until srv_client_drop(), which
 *    deletes its loop watches before closing its fds and freeing it;
 *  - c->open[i].slot != 0 iff the client holds slot c->open[i].slot of pool
 *    i with generation c->open[i].gen, and that slot is marked used;
 *  - nothing read from a datagram is used before rtmem_msg_check() passed on
 *    it, and names are used only after they were found NUL-terminated within
 *    their array; they are logged only through srv_printable().
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

uint64_t srv_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A copy of a wire name (known NUL-terminated) safe to log: printable ASCII, no quotes. */
const char *srv_printable(const char *name, char out[RTMEM_NAME_MAX])
{
	size_t i;

	for (i = 0; i < RTMEM_NAME_MAX - 1 && name[i]; i++)
		out[i] = name[i] > 0x20 && name[i] < 0x7f && name[i] != '"' && name[i] != '\\' ? name[i] : '?';
	out[i] = '\0';
	return out;
}

bool srv_name_ok(const char name[RTMEM_NAME_MAX])
{
	return memchr(name, '\0', RTMEM_NAME_MAX) != NULL;
}

/* "client "motor" (pid 1234)", or "client #3 (pid 1234)" before it said HELLO. */
const char *srv_who(const struct srv_client *c, char buf[96])
{
	if (c->name[0])
		snprintf(buf, 96, "client \"%s\" (pid %d)", c->name, (int)c->pid);
	else
		snprintf(buf, 96, "client #%u (pid %d)", c->id, (int)c->pid);
	return buf;
}

/* Send @m (its header filled) with @fd by SCM_RIGHTS if >= 0. Never blocks. */
void srv_reply(struct srv_client *c, union rtmem_msg *m, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { m, m->h.size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *cm;

		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n != (ssize_t)m->h.size && !c->doomed)
		c->doomed = n < 0 && errno == EAGAIN ? "not reading its replies" : "send failed";
}

__attribute__((format(printf, 4, 5)))
void srv_refuse(struct srv_client *c, uint32_t seq, int err, const char *fmt, ...)
{
	union rtmem_msg m = { 0 };
	char w[96];
	va_list ap;

	rtmem_msg_init(&m.h, RTMEM_MSG_ERROR, seq);
	m.error.err = err;
	va_start(ap, fmt);
	vsnprintf(m.error.msg, sizeof(m.error.msg), fmt, ap);
	va_end(ap);
	c->s->counters.refusals_total++;
	notify_log(c->monitor ? LOG_DEBUG : LOG_WARNING, "%s: %s", srv_who(c, w), m.error.msg);
	srv_reply(c, &m, -1);
}

/* A protocol violation: one ERROR (EPROTO), then the client is dropped. */
void srv_violation(struct srv_client *c, uint32_t seq, const char *why)
{
	srv_refuse(c, seq, EPROTO, "protocol error: %s", why);
	c->doomed = "protocol error";
}

/* Every SRV_TICK_MS: drop peers that did not say HELLO in time. */
static void on_tick(void *arg, int res)
{
	struct srv *s = arg;
	uint64_t now = srv_mono_ms();
	struct srv_client *c = s->head, *next;

	(void)res;
	for (; c; c = next) {
		next = c->next;
		if (!c->hello && now - c->since_ms >= s->hello_timeout_ms)
			srv_client_drop(c, "no HELLO in time");
	}
	if (s->npools && ++s->ticks % SRV_AUDIT_TICKS == 0)
		srv_pool_audit(s, s->audit_next++ % s->npools);
}

void srv_set_hello_timeout(struct srv *s, uint64_t ms)
{
	s->hello_timeout_ms = ms;
}

int srv_new(const struct cfg *cfg, struct pool *pools, unsigned npools, struct loop *loop, struct srv **ret)
{
	struct srv *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->cfg = cfg;
	s->loop = loop;
	s->lfd = -1;
	s->mfd = -1;
	s->phase = "serving";
	s->start_ms = srv_mono_ms();
	s->counters.start_time = (int64_t)time(NULL);
	s->hello_timeout_ms = SRV_HELLO_TIMEOUT_MS;
	s->npools = npools;
	s->pools = calloc(npools ? npools : 1, sizeof(*s->pools));
	if (!s->pools)
		goto out_free;
	for (unsigned i = 0; i < npools; i++) {
		struct srv_pool *sp = &s->pools[i];

		sp->pool = &pools[i];
		sp->nslots = pools[i].cfg->desc.nslots;
		sp->gen = calloc(sp->nslots + 1u, sizeof(*sp->gen));
		sp->used = calloc(sp->nslots + 1u, sizeof(*sp->used));
		sp->pids = calloc(sp->nslots + 1u, sizeof(*sp->pids));
		if (!sp->gen || !sp->used || !sp->pids)
			goto out_free;
		rg_region_guard(sp->pool->region, srv_buddy_owner_ok, sp);
		s->locked += pools[i].size;
		if (srv_adopt_survivors(s, i) < 0)
			goto out_free;
	}
	if (loop_add_timer(loop, SRV_TICK_MS * 1000000ull, on_tick, s, &s->w_tick) < 0)
		goto out_free;
	*ret = s;
	return 0;
out_free:
	srv_free(s);
	return -ENOMEM;
}

void srv_set_memtest(struct srv *s, struct memtest *mt, srv_memtest_status_fn *status)
{
	s->mt = status ? mt : NULL;
	s->mt_status = status;
}

void srv_set_key(struct srv *s, const struct adopt_key *key)
{
	s->key = key;
}

void srv_set_phase(struct srv *s, const char *phase)
{
	s->phase = phase;
}

unsigned srv_nclients(const struct srv *s)
{
	return s->nclients;
}

void srv_free(struct srv *s)
{
	if (!s)
		return;
	s->stopping = true;
	while (s->head)
		srv_client_drop(s->head, "daemon stopping");
	while (s->orphans)
		srv_orphan_free(s->orphans); /* their records stay for the next daemon */
	loop_del(s->loop, s->w_tick);
	if (s->lfd >= 0) {
		loop_del(s->loop, s->w_listen);
		close(s->lfd);
		if (unlink(s->path) < 0 && errno != ENOENT)
			log_warn("socket %s: unlink failed: %s", s->path, strerror(errno));
	}
	if (s->mfd >= 0) {
		loop_del(s->loop, s->w_monitor);
		close(s->mfd);
		if (unlink(s->mpath) < 0 && errno != ENOENT)
			log_warn("monitor socket %s: unlink failed: %s", s->mpath, strerror(errno));
	}
	for (unsigned i = 0; s->pools && i < s->npools; i++) {
		free(s->pools[i].gen);
		free(s->pools[i].used);
		free(s->pools[i].pids);
	}
	free(s->pools);
	free(s);
}
