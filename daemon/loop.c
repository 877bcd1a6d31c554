/* SPDX-License-Identifier: MIT */
/*
 * loop.c - the event loop of rtmemd: io_uring, or epoll where io_uring cannot
 * be set up (kernel.io_uring_disabled, seccomp, old kernels, qemu-user).
 *
 * Owns: the ring or the epoll fd, and every struct loop_watch.
 *
 * io_uring: each live watch has at most one operation in flight, with the
 * watch's address as user_data (cancel requests carry user_data 0). A
 * completion is copied out of the CQ ring before its callback runs, and the
 * watch re-armed after it. A watch deleted while its operation is in flight
 * gets an async cancel and is freed when that operation's completion
 * arrives (-ECANCELED or a late real result, which is dropped).
 *
 * epoll: level-triggered; one accept or one recvmsg per readiness event;
 * timers are due times checked around epoll_wait(). A deleted watch leaves
 * the epoll set at once and is freed after the current batch of events,
 * which may still name it.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

#define LOOP_RING_ENTRIES 256u
#define LOOP_BATCH 64

enum watch_kind { W_ACCEPT, W_RECV, W_POLL, W_TIMER };

struct loop_watch {
	struct loop_watch *prev, *next; /* every watch of the loop */
	struct loop_watch *zombie;      /* deleted, not in flight: free after the batch */
	enum watch_kind kind;
	int fd;
	bool dead;      /* loop_del() called */
	bool inflight;  /* io_uring: an operation refers to this watch */
	loop_fn fn;
	loop_recv_fn rfn;
	void *arg;
	uint64_t period_ns;            /* timer */
	uint64_t due_ns;               /* timer, epoll: next expiry */
	struct __kernel_timespec ts;   /* timer, io_uring: relative timeout */
	struct msghdr mh;              /* recv */
	struct iovec iov;
	size_t len;                    /* recv: bytes of buf */
	unsigned char buf[];
};

struct loop {
	bool uring;
	bool stop;
	int epfd;
	struct io_uring ring;
	struct loop_watch *all;
	struct loop_watch *zombies;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int loop_new(enum loop_kind kind, struct loop **ret, int *ret_uring_err)
{
	struct loop *l = calloc(1, sizeof(*l));
	int rc = 0;

	if (ret_uring_err)
		*ret_uring_err = 0;
	if (!l)
		return -ENOMEM;
	l->epfd = -1;
	if (kind != LOOP_EPOLL) {
		rc = io_uring_queue_init(LOOP_RING_ENTRIES, &l->ring, 0);
		if (rc == 0) {
			l->uring = true;
			*ret = l;
			return 0;
		}
		if (kind == LOOP_URING)
			goto out_free;
		if (ret_uring_err)
			*ret_uring_err = rc;
	}
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		rc = -errno;
		goto out_free;
	}
	*ret = l;
	return 0;
out_free:
	free(l);
	return rc;
}

const char *loop_name(const struct loop *l)
{
	return l->uring ? "io_uring" : "epoll";
}

static void watch_free(struct loop *l, struct loop_watch *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		l->all = w->next;
	if (w->next)
		w->next->prev = w->prev;
	free(w);
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	if (l->uring)
		io_uring_queue_exit(&l->ring); /* cancels and waits for everything in flight */
	else if (l->epfd >= 0)
		close(l->epfd);
	while (l->all)
		watch_free(l, l->all);
	free(l);
}

/* An SQE, submitting the queue first if it is full. Return: NULL if that failed too. */
static struct io_uring_sqe *sqe_get(struct loop *l)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

	if (!sqe && io_uring_submit(&l->ring) >= 0)
		sqe = io_uring_get_sqe(&l->ring);
	return sqe;
}

/* io_uring: put @w's operation in the submission queue. Return: 0 or -EBUSY. */
static int uring_arm(struct loop *l, struct loop_watch *w)
{
	struct io_uring_sqe *sqe = sqe_get(l);

	if (!sqe)
		return -EBUSY;
	switch (w->kind) {
	case W_ACCEPT:
		io_uring_prep_accept(sqe, w->fd, NULL, NULL, SOCK_CLOEXEC);
		break;
	case W_RECV:
		w->mh.msg_flags = 0;
		io_uring_prep_recvmsg(sqe, w->fd, &w->mh, MSG_TRUNC);
		break;
	case W_POLL:
		io_uring_prep_poll_add(sqe, w->fd, POLLIN);
		break;
	case W_TIMER:
		io_uring_prep_timeout(sqe, &w->ts, 0, 0);
		break;
	}
	io_uring_sqe_set_data(sqe, w);
	w->inflight = true;
	return 0;
}

static int add_watch(struct loop *l, struct loop_watch *w, struct loop_watch **ret)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };
	int rc = 0;

	if (l->uring) {
		rc = uring_arm(l, w);
		if (rc == 0) {
			rc = io_uring_submit(&l->ring);
			rc = rc < 0 ? rc : 0;
		}
		/* a failed submit leaves the SQE queued: keep the watch, the next submit sends it */
		if (rc < 0 && !w->inflight)
			goto out_free;
	} else if (w->kind == W_TIMER) {
		w->due_ns = now_ns() + w->period_ns;
	} else if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0) {
		rc = -errno;
		goto out_free;
	}
	w->next = l->all;
	if (l->all)
		l->all->prev = w;
	l->all = w;
	if (ret)
		*ret = w;
	return 0;
out_free:
	free(w);
	return rc;
}

static struct loop_watch *watch_new(enum watch_kind kind, int fd, size_t len, void *arg)
{
	struct loop_watch *w = calloc(1, sizeof(*w) + len);

	if (!w)
		return NULL;
	w->kind = kind;
	w->fd = fd;
	w->arg = arg;
	return w;
}

int loop_add_accept(struct loop *l, int fd, loop_fn fn, void *arg, struct loop_watch **ret)
{
	struct loop_watch *w;
	int fl;

	if (!l->uring) { /* a connection aborted between readiness and accept4 must not block */
		fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
			return -errno;
	}
	w = watch_new(W_ACCEPT, fd, 0, arg);
	if (!w)
		return -ENOMEM;
	w->fn = fn;
	return add_watch(l, w, ret);
}

int loop_add_recv(struct loop *l, int fd, size_t len, loop_recv_fn fn, void *arg, struct loop_watch **ret)
{
	struct loop_watch *w = watch_new(W_RECV, fd, len, arg);

	if (!w)
		return -ENOMEM;
	w->rfn = fn;
	w->len = len;
	w->iov.iov_base = w->buf;
	w->iov.iov_len = len;
	w->mh.msg_iov = &w->iov;
	w->mh.msg_iovlen = 1;
	return add_watch(l, w, ret);
}

int loop_add_poll(struct loop *l, int fd, loop_fn fn, void *arg, struct loop_watch **ret)
{
	struct loop_watch *w = watch_new(W_POLL, fd, 0, arg);

	if (!w)
		return -ENOMEM;
	w->fn = fn;
	return add_watch(l, w, ret);
}

int loop_add_timer(struct loop *l, uint64_t period_ns, loop_fn fn, void *arg, struct loop_watch **ret)
{
	struct loop_watch *w;

	if (!period_ns)
		return -EINVAL;
	w = watch_new(W_TIMER, -1, 0, arg);
	if (!w)
		return -ENOMEM;
	w->fn = fn;
	w->period_ns = period_ns;
	w->ts.tv_sec = (long long)(period_ns / 1000000000u);
	w->ts.tv_nsec = (long long)(period_ns % 1000000000u);
	return add_watch(l, w, ret);
}

void loop_del(struct loop *l, struct loop_watch *w)
{
	struct io_uring_sqe *sqe;

	if (!w || w->dead)
		return;
	w->dead = true;
	if (l->uring && w->inflight) {
		sqe = sqe_get(l);
		if (sqe) { /* else it completes on its own: at the fd's shutdown, or at loop_free() */
			io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)w, 0);
			io_uring_sqe_set_data64(sqe, 0);
		}
		return;
	}
	if (!l->uring && w->kind != W_TIMER)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->zombie = l->zombies;
	l->zombies = w;
}

static void reap_zombies(struct loop *l)
{
	while (l->zombies) {
		struct loop_watch *w = l->zombies;

		l->zombies = w->zombie;
		watch_free(l, w);
	}
}

/* io_uring: run @w's callback for a completion of @res; re-arm it. */
static void uring_dispatch(struct loop *l, struct loop_watch *w, int res)
{
	w->inflight = false;
	if (w->dead) {
		watch_free(l, w);
		return;
	}
	switch (w->kind) {
	case W_ACCEPT:
	case W_POLL:
		w->fn(w->arg, res);
		break;
	case W_RECV:
		if (res > 0 && ((size_t)res > w->len || (w->mh.msg_flags & MSG_TRUNC)))
			res = -EMSGSIZE;
		w->rfn(w->arg, w->buf, res);
		break;
	case W_TIMER:
		w->fn(w->arg, res == -ETIME ? 0 : res);
		break;
	}
	if (!w->dead && uring_arm(l, w) < 0) {
		w->inflight = false;
		if (w->kind == W_RECV)
			w->rfn(w->arg, w->buf, -EBUSY);
		else
			w->fn(w->arg, -EBUSY);
	}
}

static int uring_run_once(struct loop *l, int timeout_ms)
{
	struct io_uring_cqe *cqes[LOOP_BATCH];
	struct { uint64_t data; int res; } got[LOOP_BATCH];
	struct __kernel_timespec ts = { .tv_sec = timeout_ms / 1000, .tv_nsec = (timeout_ms % 1000) * 1000000ll };
	struct io_uring_cqe *cqe;
	unsigned n;
	int rc, ran = 0;

	rc = io_uring_submit(&l->ring);
	if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN)
		return rc;
	rc = io_uring_wait_cqe_timeout(&l->ring, &cqe, timeout_ms < 0 ? NULL : &ts);
	if (rc < 0 && rc != -ETIME && rc != -EINTR)
		return rc;
	n = io_uring_peek_batch_cqe(&l->ring, cqes, LOOP_BATCH);
	for (unsigned i = 0; i < n; i++) {
		got[i].data = io_uring_cqe_get_data64(cqes[i]);
		got[i].res = cqes[i]->res;
	}
	io_uring_cq_advance(&l->ring, n);
	for (unsigned i = 0; i < n; i++) {
		if (!got[i].data)
			continue; /* a cancel request's own completion */
		uring_dispatch(l, (struct loop_watch *)(uintptr_t)got[i].data, got[i].res);
		ran++;
	}
	reap_zombies(l);
	rc = io_uring_submit(&l->ring);
	return rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN ? rc : ran;
}

static void epoll_dispatch(struct loop_watch *w)
{
	ssize_t n;
	int fd;

	switch (w->kind) {
	case W_ACCEPT:
		fd = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0 || (errno != EAGAIN && errno != EINTR))
			w->fn(w->arg, fd >= 0 ? fd : -errno);
		break;
	case W_RECV:
		w->mh.msg_flags = 0;
		n = recvmsg(w->fd, &w->mh, MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n > 0 && ((size_t)n > w->len || (w->mh.msg_flags & MSG_TRUNC)))
			n = -EMSGSIZE;
		else if (n < 0)
			n = -errno;
		w->rfn(w->arg, w->buf, n);
		break;
	case W_POLL:
		w->fn(w->arg, POLLIN);
		break;
	case W_TIMER:
		break;
	}
}

/* epoll: run due timers; Return: callbacks run, and *ret_wait_ms till the next one. */
static int epoll_timers(struct loop *l, int *ret_wait_ms)
{
	uint64_t now = now_ns(), next = UINT64_MAX;
	int ran = 0;

	for (struct loop_watch *w = l->all; w; w = w->next) {
		if (w->kind != W_TIMER || w->dead)
			continue;
		if (w->due_ns <= now) {
			w->due_ns = w->due_ns + w->period_ns > now ? w->due_ns + w->period_ns : now + w->period_ns;
			w->fn(w->arg, 0);
			ran++;
		}
		if (!w->dead && w->due_ns < next)
			next = w->due_ns;
	}
	if (next != UINT64_MAX) {
		uint64_t ms = next > now ? (next - now + 999999u) / 1000000u : 0;

		if (*ret_wait_ms < 0 || ms < (uint64_t)*ret_wait_ms)
			*ret_wait_ms = ms > INT32_MAX ? INT32_MAX : (int)ms;
	}
	return ran;
}

static int epoll_run_once(struct loop *l, int timeout_ms)
{
	struct epoll_event ev[LOOP_BATCH];
	int n, ran = epoll_timers(l, &timeout_ms);

	reap_zombies(l);
	if (ran)
		timeout_ms = 0;
	n = epoll_wait(l->epfd, ev, LOOP_BATCH, timeout_ms);
	if (n < 0 && errno != EINTR)
		return -errno;
	for (int i = 0; i < n; i++) {
		struct loop_watch *w = ev[i].data.ptr;

		if (!w->dead) {
			epoll_dispatch(w);
			ran++;
		}
	}
	reap_zombies(l);
	timeout_ms = 0;
	ran += epoll_timers(l, &timeout_ms);
	reap_zombies(l);
	return ran;
}

int loop_run_once(struct loop *l, int timeout_ms)
{
	return l->uring ? uring_run_once(l, timeout_ms) : epoll_run_once(l, timeout_ms);
}

int loop_run(struct loop *l)
{
	int rc = 0;

	while (!l->stop && rc >= 0)
		rc = loop_run_once(l, -1);
	l->stop = false;
	return rc < 0 ? rc : 0;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}
