/* SPDX-License-Identifier: MIT */
/*
 * loop.h - rtmemd's event loop: io_uring (liburing) with an epoll fallback,
 * behind one small completion-style interface, so the server does not care
 * which one runs.
 *
 * A watch is persistent: after its callback returns it is armed again, until
 * loop_del(). Four kinds:
 *   accept   the callback gets each accepted fd (SOCK_CLOEXEC | SOCK_NONBLOCK)
 *            or a -errno; io_uring: IORING_OP_ACCEPT, epoll: accept4().
 *   recv     the callback gets one datagram in a buffer the watch owns, with
 *            its length, 0 on hang-up, or a -errno; io_uring: IORING_OP_RECVMSG,
 *            epoll: recvmsg(MSG_DONTWAIT). File descriptors a peer passes are
 *            discarded by the kernel (no control buffer is offered).
 *   poll     the callback gets the poll events (POLLIN, POLLHUP...) of an fd:
 *            pidfds, a signalfd; io_uring: IORING_OP_POLL_ADD, epoll: EPOLLIN.
 *   timer    the callback runs every @period_ns (CLOCK_MONOTONIC); io_uring:
 *            IORING_OP_TIMEOUT, epoll: the epoll_wait() timeout.
 *
 * Invariants: a watch's memory (and its receive buffer) lives until the
 * kernel no longer refers to it: loop_del() only marks it, and it is freed
 * once its last in-flight operation has completed or been cancelled. A
 * deleted watch's callback is never called again. Callbacks may add and
 * delete any watches, their own included.
 *
 * Not thread-safe: one thread runs the loop and calls everything here.
 * Nothing here logs; errors are returned as -errno.
 */
#ifndef RTMEMD_LOOP_H
#define RTMEMD_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum loop_kind {
	LOOP_AUTO = 0,  /* io_uring, else epoll */
	LOOP_URING = 1, /* io_uring or fail */
	LOOP_EPOLL = 2, /* epoll only */
};

struct loop;
struct loop_watch;

/* Callbacks. @res as described above per kind. */
typedef void (*loop_fn)(void *arg, int res);
typedef void (*loop_recv_fn)(void *arg, const void *buf, ssize_t res);

/*
 * loop_new() - make an event loop of @kind.
 * Context: setup; allocates; io_uring_queue_init() or epoll_create1().
 * Return: 0 and *ret; -ENOSYS/-EPERM (io_uring unavailable, LOOP_URING only),
 * -ENOMEM, or -errno of epoll_create1(). With LOOP_AUTO, an io_uring that
 * cannot be set up falls back to epoll; *ret_uring_err (may be NULL) then
 * says why (0 if io_uring runs or was not tried).
 */
int loop_new(enum loop_kind kind, struct loop **ret, int *ret_uring_err);

/* loop_free() - delete every watch and free the loop; accepts NULL. Does not close fds. */
void loop_free(struct loop *l);

/* loop_name() - "io_uring" or "epoll". Context: any. */
const char *loop_name(const struct loop *l);

/*
 * loop_add_accept() / loop_add_recv() / loop_add_poll() / loop_add_timer() -
 * start a persistent watch (see the top of this file). @fd stays the
 * caller's: close it only after loop_del(). @len: bytes of the receive buffer.
 * Context: loop thread; allocates.
 * Return: 0 and *ret (may be NULL: the watch then lives until loop_free()),
 * -ENOMEM, -EINVAL (@period_ns 0), -errno of epoll_ctl() or io_uring_submit().
 */
int loop_add_accept(struct loop *l, int fd, loop_fn fn, void *arg, struct loop_watch **ret);
int loop_add_recv(struct loop *l, int fd, size_t len, loop_recv_fn fn, void *arg, struct loop_watch **ret);
int loop_add_poll(struct loop *l, int fd, loop_fn fn, void *arg, struct loop_watch **ret);
int loop_add_timer(struct loop *l, uint64_t period_ns, loop_fn fn, void *arg, struct loop_watch **ret);

/*
 * loop_del() - stop @w; its callback is not called again. Accepts NULL.
 * Context: loop thread, also from inside a callback. Call it before closing
 * the watched fd (io_uring holds a reference to the file until cancelled).
 */
void loop_del(struct loop *l, struct loop_watch *w);

/*
 * loop_run_once() - wait up to @timeout_ms (-1: forever) for events and run
 * their callbacks.
 * Context: loop thread; blocks.
 * Return: callbacks run (>= 0), or -errno of the wait (never -EINTR).
 */
int loop_run_once(struct loop *l, int timeout_ms);

/* loop_run() - run until loop_stop(). Return: 0, or -errno as loop_run_once(). */
int loop_run(struct loop *l);

/* loop_stop() - make loop_run() return after the current callback. Context: loop thread. */
void loop_stop(struct loop *l);

#endif /* RTMEMD_LOOP_H */
