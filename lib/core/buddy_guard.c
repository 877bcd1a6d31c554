/* SPDX-License-Identifier: MIT */
/*
 * buddy_guard.c - the buddy lock as the daemon takes it, never trusting the
 * lock word that clients can write. buddy.c's lock_slow() and unlock() call
 * here when rg_region_guard() armed the region; clients never do.
 */
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fastpath.h"

#define RELAXED memory_order_relaxed

/*
 * Guarded lock: how the daemon takes the lock (rg_region_guard()). The
 * lock word is in memory every client of the pool can write, and glibc's
 * PI path trusts it: a TID that does not exist makes FUTEX_LOCK_PI fail
 * with ESRCH, which glibc asserts never happens on a robust mutex (abort);
 * a TID of a process that never unlocks (init, say), or a mutex kind
 * overwritten with 0, blocks the caller for ever. So the daemon takes the
 * word itself, with a CAS, and never sleeps in the kernel:
 *  - 0: CAS to our TID;
 *  - the owner-died bit (the kernel's robust-list walk after a client died
 *    inside): with waiters queued, FUTEX_TRYLOCK_PI (never blocks); else a
 *    CAS; then the lists are rebuilt, as after EOWNERDEAD;
 *  - a TID that is no thread of a live client of the pool or of the daemon
 *    (asked of the daemon through owner_ok, which reads /proc): a stray
 *    write. Without waiters queued the word is taken over by a CAS and the
 *    lists rebuilt; with waiters (the kernel holds PI state for that owner)
 *    it cannot be taken safely: -ENOTRECOVERABLE, the pool is damaged;
 *  - a live client's thread: it holds the lock for real; retry for a few
 *    milliseconds, then -EBUSY.
 * The hold is released with a CAS, or FUTEX_UNLOCK_PI when waiters queued
 * meanwhile. The daemon's hold is not on a robust list when the fast path's
 * list_op_pending is unavailable (qemu-user, TSan): if the daemon dies
 * holding it, clients then meet a dead owner, as they would any crashed
 * holder without robust-list support.
 */
#define GUARD_WAIT_NS 5000000 /* longest wait for a live holder */

static __thread int gl_tid;   /* this thread's TID (0: not looked up) */
__thread bool rg_guard_held __attribute__((tls_model("initial-exec"))); /* this thread holds a guarded lock */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void rg_guarded_unlock(struct rg_region *r)
{
	pthread_mutex_t *m = &r->bdy->lock;
	int tid = gl_tid;

	m->__data.__owner = 0;
	m->__data.__nusers = 0;
	rg_guard_held = false;
	if (!__atomic_compare_exchange_n(&m->__data.__lock, &tid, 0, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		syscall(SYS_futex, &m->__data.__lock, FUTEX_UNLOCK_PI, 0, NULL, NULL, 0);
}

static int guarded_got(struct rg_region *r, bool repair)
{
	pthread_mutex_t *m = &r->bdy->lock;
	int rc;

	rg_guard_held = true;
	m->__data.__owner = gl_tid;
	m->__data.__count = 1;
	m->__data.__nusers = 1;
	if (!repair)
		return 0;
	rc = rg_buddy_rebuild(r);
	if (rc < 0) {
		rg_guarded_unlock(r);
		return rc;
	}
	r->bdy->repairs++;
	return 0;
}

int rg_guarded_lock(struct rg_region *r)
{
	pthread_mutex_t *m = &r->bdy->lock;
	int *word = &m->__data.__lock;
	uint64_t deadline = mono_ns() + GUARD_WAIT_NS;

	if (!gl_tid)
		gl_tid = (int)syscall(SYS_gettid);
	if (m->__data.__kind != r->guard_kind) { /* a stray write: glibc's lockers would misread it */
		m->__data.__kind = r->guard_kind;
		atomic_fetch_add_explicit(&r->guard_repairs, 1, RELAXED);
	}
	for (;;) {
		int w = __atomic_load_n(word, __ATOMIC_ACQUIRE), owner = w & FUTEX_TID_MASK;
		bool died = w & FUTEX_OWNER_DIED, waiters = w & (int)FUTEX_WAITERS;
		int expect = w;

		if (w == 0) {
			if (__atomic_compare_exchange_n(word, &expect, gl_tid, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
				return guarded_got(r, false);
			continue;
		}
		if (!died && owner != 0 && r->guard_owner_ok(r->guard_arg, owner)) {
			if (mono_ns() > deadline)
				return -EBUSY;
			sched_yield();
			continue;
		}
		if (!died) /* names no thread of ours or of a client: a stray write */
			atomic_fetch_add_explicit(&r->guard_repairs, 1, RELAXED);
		if (waiters) {
			if (!died)
				return -ENOTRECOVERABLE;
			if (syscall(SYS_futex, word, FUTEX_TRYLOCK_PI, 0, NULL, NULL, 0) == 0) {
				__atomic_fetch_and(word, ~FUTEX_OWNER_DIED, __ATOMIC_RELAXED);
				return guarded_got(r, true);
			}
			if (errno != EWOULDBLOCK && errno != EAGAIN && errno != EINTR)
				return -ENOTRECOVERABLE;
			if (mono_ns() > deadline)
				return -EBUSY;
			continue;
		}
		if (__atomic_compare_exchange_n(word, &expect, gl_tid, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return guarded_got(r, true);
	}
}

void rg_region_guard(struct rg_region *r, bool (*owner_ok)(void *arg, int tid), void *arg)
{
	pthread_mutexattr_t ma;
	pthread_mutex_t tmp;

	r->guard_arg = arg;
	r->guard_owner_ok = owner_ok;
	/* the kind rg_region_format() gives the lock, from a mutex made the same way */
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_INHERIT);
	pthread_mutex_init(&tmp, &ma);
	pthread_mutexattr_destroy(&ma);
	r->guard_kind = tmp.__data.__kind;
	pthread_mutex_destroy(&tmp);
}

uint64_t rg_region_guard_repairs(const struct rg_region *r)
{
	return atomic_load_explicit(&r->guard_repairs, RELAXED);
}

