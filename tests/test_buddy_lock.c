/* SPDX-License-Identifier: MIT */
/*
 * test_buddy_lock.c - the buddy lock's fast path (lib/core/buddy.c, "Fast path of
 * the lock") against glibc's robust PI mutex protocol:
 *
 * - an uncontended call holds the lock through the fast path: lock word =
 *   our TID, list_op_pending = the mutex's entry, glibc's robust list empty;
 *   afterwards the mutex is as glibc leaves it (word, __owner, __nusers 0);
 * - a glibc holder and a fast-path caller, and a fast-path holder and a
 *   glibc waiter (FUTEX_WAITERS: the release goes through FUTEX_UNLOCK_PI),
 *   hand the lock over both ways;
 * - contended calls without the test hook (fast holders that find waiters)
 *   leave the mutex idle and lose nothing;
 * - a fork child locks with its own TID, not the parent's cached one;
 * - a NOTRECOVERABLE mutex fails every call, fast path or not, and none hangs;
 * - priority inheritance: a SCHED_FIFO waiter boosts a SCHED_OTHER holder
 *   that took the lock through the fast path.
 * - the daemon's guarded lock: a lock word naming no thread, or a process
 *   that is no client (init), is taken over and the lists rebuilt; a mutex
 *   kind overwritten with 0 is restored; a live holder is waited for a few
 *   milliseconds, then -EBUSY; waiters queued on a word naming no client give
 *   -ENOTRECOVERABLE. None hangs or aborts.
 * The fast-path tests skip where there is none (qemu-user has no robust-list
 * system calls; ThreadSanitizer builds always use glibc) and say so.
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "region_fixture.h"
#include "fastpath.h"
#include "test_hooks.h"

/* The kernel's struct robust_list_head. */
struct robust_head {
	void *next;
	long futex_offset;
	void *list_op_pending;
};

struct seen {
	int word, owner, tid;
	unsigned nusers;
	bool pending_is_entry, list_empty;
};

static struct rg_region *R;
static void *Mem;
static size_t Size;

/* The hook parks (or records) only in the thread named here. */
static _Atomic int hook_tid;
static atomic_bool parked, release_holder;
static struct seen *Seen; /* MAP_SHARED: written by fork children too */

static int setup(void **state)
{
	struct rg_pool_desc d = fixture_desc();

	(void)state;
	Mem = fixture_map(&d, &Size);
	assert_non_null(Mem);
	assert_int_equal(rg_region_attach(Mem, Size, &R), 0);
	Seen = mmap(NULL, sizeof(*Seen), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(Seen != MAP_FAILED);
	memset(Seen, 0, sizeof(*Seen));
	atomic_store(&hook_tid, 0);
	atomic_store(&parked, false);
	atomic_store(&release_holder, false);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rg_buddy_test_hook = NULL;
	rg_region_detach(R);
	munmap(Mem, Size);
	munmap(Seen, sizeof(*Seen));
	return 0;
}

static void need_fast_path(void)
{
	if (!rg_buddy_thread_prepare()) {
		printf("# no fast path here (no get_robust_list, e.g. qemu-user; or a ThreadSanitizer build)\n");
		skip();
	}
}

static int lock_word(void)
{
	return __atomic_load_n(&R->bdy->lock.__data.__lock, __ATOMIC_RELAXED);
}

/* In the hook: what does this thread's hold of the lock look like? */
static void record(void)
{
	struct robust_head *h = NULL;
	size_t len = 0;
	uintptr_t entry = (uintptr_t)&R->bdy->lock.__data.__list.__next | 1u;

	Seen->tid = gettid();
	Seen->word = lock_word();
	Seen->owner = R->bdy->lock.__data.__owner;
	Seen->nusers = R->bdy->lock.__data.__nusers;
	if (syscall(SYS_get_robust_list, 0, &h, &len) == 0 && h) {
		Seen->pending_is_entry = (uintptr_t)h->list_op_pending == entry;
		Seen->list_empty = h->next == h;
	}
}

static void hook(void)
{
	if (gettid() != atomic_load(&hook_tid))
		return;
	record();
	atomic_store(&parked, true);
	while (!atomic_load(&release_holder))
		usleep(1000);
}

static void assert_fast_hold_seen(void)
{
	assert_int_equal(Seen->word, Seen->tid); /* no FUTEX_WAITERS, no OWNER_DIED */
	assert_int_equal(Seen->owner, Seen->tid);
	assert_int_equal(Seen->nusers, 1);
	assert_true(Seen->pending_is_entry);
	assert_true(Seen->list_empty); /* glibc did not queue it: not glibc's lock */
}

static void assert_mutex_idle(void)
{
	assert_int_equal(lock_word(), 0);
	assert_int_equal(R->bdy->lock.__data.__owner, 0);
	assert_int_equal(R->bdy->lock.__data.__nusers, 0);
}

static void test_uncontended_call_takes_fast_path_and_leaves_glibc_state(void **state)
{
	void *p;

	(void)state;
	need_fast_path();
	atomic_store(&hook_tid, gettid());
	atomic_store(&release_holder, true); /* record, do not park */
	rg_buddy_test_hook = hook;
	assert_int_equal(rg_buddy_alloc(R, 100, rg_owner(1, 1), 0, &p), 0);
	assert_fast_hold_seen();
	assert_mutex_idle();
	memset(Seen, 0, sizeof(*Seen));
	assert_int_equal(rg_buddy_free(R, p, rg_owner(1, 1)), 0);
	assert_fast_hold_seen();
	assert_mutex_idle();
	/* glibc takes and gives it back as usual after the fast path. */
	assert_int_equal(pthread_mutex_lock(&R->bdy->lock), 0);
	assert_int_equal(pthread_mutex_unlock(&R->bdy->lock), 0);
	assert_mutex_idle();
	assert_region_ok(R);
}

struct call {
	pthread_t th;
	_Atomic int tid;
	atomic_bool done;
	int rc;
	void *p;
};

static void *alloc_thread(void *arg)
{
	struct call *c = arg;

	atomic_store(&c->tid, gettid());
	c->rc = rg_buddy_alloc(R, 64, rg_owner(2, 1), 0, &c->p);
	if (c->rc == 0)
		c->rc = rg_buddy_free(R, c->p, rg_owner(2, 1));
	atomic_store(&c->done, true);
	return NULL;
}

/* Wait until the lock word says a waiter sleeps in the kernel, at most 5 s. */
static bool wait_for_waiters(void)
{
	for (int i = 0; i < 5000; i++) {
		if ((unsigned)lock_word() & FUTEX_WAITERS)
			return true;
		usleep(1000);
	}
	return false;
}

static void test_glibc_holder_hands_over_to_fast_path_caller(void **state)
{
	struct call c = { 0 };

	(void)state;
	assert_int_equal(pthread_mutex_lock(&R->bdy->lock), 0);
	assert_int_equal(pthread_create(&c.th, NULL, alloc_thread, &c), 0);
	assert_true(wait_for_waiters());
	assert_false(atomic_load(&c.done));
	assert_int_equal(pthread_mutex_unlock(&R->bdy->lock), 0);
	assert_int_equal(pthread_join(c.th, NULL), 0);
	assert_int_equal(c.rc, 0);
	assert_mutex_idle();
	assert_region_ok(R);
}

static void *holder_thread(void *arg)
{
	struct call *c = arg;

	atomic_store(&hook_tid, gettid());
	return alloc_thread(c);
}

/* Start a holder parked inside the lock; return once it is parked. */
static void start_holder(struct call *h)
{
	rg_buddy_test_hook = hook;
	assert_int_equal(pthread_create(&h->th, NULL, holder_thread, h), 0);
	for (int i = 0; i < 5000 && !atomic_load(&parked); i++)
		usleep(1000);
	assert_true(atomic_load(&parked));
}

static void test_fast_path_holder_hands_over_to_glibc_waiter(void **state)
{
	struct call h = { 0 }, w = { 0 };

	(void)state;
	start_holder(&h);
	if (rg_buddy_thread_prepare())
		assert_fast_hold_seen();
	assert_int_equal(pthread_create(&w.th, NULL, alloc_thread, &w), 0);
	assert_true(wait_for_waiters());
	atomic_store(&release_holder, true); /* its release CAS fails: FUTEX_UNLOCK_PI */
	assert_int_equal(pthread_join(h.th, NULL), 0);
	assert_int_equal(pthread_join(w.th, NULL), 0);
	assert_int_equal(h.rc, 0);
	assert_int_equal(w.rc, 0);
	assert_mutex_idle();
	assert_region_ok(R);
}

static void test_fork_child_locks_with_its_own_tid(void **state)
{
	void *p;
	pid_t pid;
	int st;

	(void)state;
	need_fast_path(); /* and the parent's TID is cached now */
	assert_int_equal(rg_buddy_alloc(R, 64, rg_owner(1, 1), 0, &p), 0);
	assert_int_equal(rg_buddy_free(R, p, rg_owner(1, 1)), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		atomic_store(&hook_tid, gettid());
		atomic_store(&release_holder, true);
		rg_buddy_test_hook = hook;
		if (rg_buddy_alloc(R, 64, rg_owner(1, 1), 0, &p) || rg_buddy_free(R, p, rg_owner(1, 1)))
			_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(Seen->tid, pid);
	assert_fast_hold_seen();
}

/* Field 18 of /proc/self/task/TID/stat: the kernel's prio - 100; 20 for a
 * nice-0 SCHED_OTHER task, -1 - p when running at (or boosted to) RT priority p. */
static int task_prio(int tid)
{
	char path[64], buf[512], *s;
	FILE *f;
	int prio = 1000;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	f = fopen(path, "r");
	if (!f)
		return prio;
	if (fgets(buf, sizeof(buf), f) && (s = strrchr(buf, ')')) != NULL) {
		/* after ") " comes field 3; field 18 is the 16th from there */
		s += 2;
		for (int field = 3; field < 18 && s; field++) {
			s = strchr(s, ' ');
			if (s)
				s++;
		}
		if (s)
			prio = atoi(s);
	}
	fclose(f);
	return prio;
}

static void test_fifo_waiter_boosts_fast_path_holder(void **state)
{
	const int rtprio = 10;
	struct call h = { 0 }, w = { 0 };
	struct sched_param sp = { .sched_priority = rtprio };
	pthread_attr_t a;
	int before, boosted = 1000, e;

	(void)state;
	need_fast_path();
	start_holder(&h);
	assert_fast_hold_seen();
	before = task_prio(h.tid);
	assert_int_equal(pthread_attr_init(&a), 0);
	pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&a, SCHED_FIFO);
	pthread_attr_setschedparam(&a, &sp);
	e = pthread_create(&w.th, &a, alloc_thread, &w);
	pthread_attr_destroy(&a);
	if (e != 0) {
		atomic_store(&release_holder, true);
		pthread_join(h.th, NULL);
		printf("# SCHED_FIFO not permitted here (%s): cannot show priority inheritance\n", strerror(e));
		skip();
	}
	for (int i = 0; i < 5000; i++) {
		boosted = task_prio(h.tid);
		if (boosted == -1 - rtprio)
			break;
		usleep(1000);
	}
	printf("# holder prio %d before, %d while a SCHED_FIFO %d waiter blocks\n", before, boosted, rtprio);
	atomic_store(&release_holder, true);
	assert_int_equal(pthread_join(h.th, NULL), 0);
	assert_int_equal(pthread_join(w.th, NULL), 0);
	assert_true(before >= 0);
	assert_int_equal(boosted, -1 - rtprio);
	assert_int_equal(h.rc, 0);
	assert_int_equal(w.rc, 0);
	assert_mutex_idle();
	assert_region_ok(R);
}

static void *hammer(void *arg)
{
	struct call *c = arg;
	void *p[8];

	for (int n = 0; n < 20000 && c->rc == 0; n++) {
		unsigned k = (unsigned)n % 8;

		if (n >= 8)
			c->rc = rg_buddy_free(R, p[k], rg_owner(3, 1));
		if (c->rc == 0)
			c->rc = rg_buddy_alloc(R, 64u << (n % 5), rg_owner(3, 1), 0, &p[k]);
	}
	for (unsigned k = 0; k < 8 && c->rc == 0; k++)
		c->rc = rg_buddy_free(R, p[k], rg_owner(3, 1));
	return NULL;
}

/* Contention without the test hook: fast holders meet FUTEX_WAITERS and
 * release through FUTEX_UNLOCK_PI, waiters go through glibc. Afterwards the
 * mutex is idle and nothing is lost. */
static void test_contended_calls_leave_mutex_idle(void **state)
{
	struct call c[3] = { 0 };
	struct rg_region_stats st;

	(void)state;
	for (unsigned t = 0; t < 3; t++)
		assert_int_equal(pthread_create(&c[t].th, NULL, hammer, &c[t]), 0);
	for (unsigned t = 0; t < 3; t++) {
		assert_int_equal(pthread_join(c[t].th, NULL), 0);
		assert_int_equal(c[t].rc, 0);
	}
	assert_mutex_idle();
	assert_region_ok(R);
	rg_region_stats(R, &st);
	assert_int_equal(st.buddy_free, st.buddy_size);
}

/* What glibc leaves after an EOWNERDEAD holder unlocks without
 * pthread_mutex_consistent(): a free lock word, __owner NOTRECOVERABLE. Every
 * locker then gets ENOTRECOVERABLE, the fast path included, and nobody hangs. */
static void test_notrecoverable_lock_fails_every_call(void **state)
{
	void *p;

	(void)state;
	assert_int_equal(rg_buddy_alloc(R, 64, rg_owner(1, 1), 0, &p), 0);
	R->bdy->lock.__data.__owner = 0x7ffffffe; /* glibc's PTHREAD_MUTEX_NOTRECOVERABLE */
	alarm(10);                                /* a hang fails the test */
	assert_int_equal(rg_buddy_alloc(R, 64, rg_owner(1, 1), 0, &p), -ENOTRECOVERABLE);
	assert_int_equal(rg_buddy_free(R, p, rg_owner(1, 1)), -ENOTRECOVERABLE);
	rg_buddy_test_hook = hook; /* and through the slow path */
	assert_int_equal(rg_buddy_alloc(R, 64, rg_owner(1, 1), 0, &p), -ENOTRECOVERABLE);
	alarm(0);
	assert_int_equal(lock_word(), 0);
	assert_int_equal(pthread_mutex_lock(&R->bdy->lock), ENOTRECOVERABLE);
}

/* --- the daemon's guarded lock (lib/core/buddy.c, "Guarded lock") --- */

static _Atomic int client_tid; /* the one thread the guard calls a live client's */

static bool owner_ok(void *arg, int tid)
{
	(void)arg;
	return tid == gettid() || tid == atomic_load(&client_tid);
}

/* A block of a dead client, for the guarded reclaim to take back. */
static void *dead_clients_block(void)
{
	void *p;

	assert_int_equal(rg_buddy_alloc(R, 1000, rg_owner(3, 1), 0, &p), 0);
	return p;
}

static void assert_reclaimed_under_guard(uint64_t repairs_before, uint64_t repairs_after)
{
	char msg[200];

	alarm(10); /* a hang fails the test */
	assert_int_equal(rg_region_reclaim(R, rg_owner(3, 1), NULL), 1);
	alarm(0);
	assert_int_equal(rg_region_guard_repairs(R) - repairs_before, repairs_after);
	assert_int_equal(lock_word(), 0);
	assert_int_equal(rg_region_check(R, msg, sizeof(msg)), 0);
}

static void test_guard_takes_over_a_lock_word_naming_no_thread(void **state)
{
	(void)state;
	rg_region_guard(R, owner_ok, NULL);
	dead_clients_block();
	/* glibc would assert on ESRCH and abort the daemon */
	__atomic_store_n(&R->bdy->lock.__data.__lock, 0x3ffffff0, __ATOMIC_RELAXED);
	assert_reclaimed_under_guard(0, 1);
	assert_true(R->bdy->repairs >= 1); /* the lists were rebuilt */
}

static void test_guard_takes_over_a_lock_word_naming_another_process(void **state)
{
	(void)state;
	rg_region_guard(R, owner_ok, NULL);
	dead_clients_block();
	/* init exists and never unlocks: glibc would block for ever */
	__atomic_store_n(&R->bdy->lock.__data.__lock, 1, __ATOMIC_RELAXED);
	assert_reclaimed_under_guard(0, 1);
}

static void test_guard_restores_an_overwritten_mutex_kind(void **state)
{
	int kind = R->bdy->lock.__data.__kind;
	void *p;

	(void)state;
	rg_region_guard(R, owner_ok, NULL);
	dead_clients_block();
	R->bdy->lock.__data.__kind = 0; /* a plain mutex: glibc's lock would wait on a plain futex */
	R->bdy->lock.__data.__owner = 0x7ffffffe; /* and NOTRECOVERABLE, for glibc */
	__atomic_store_n(&R->bdy->lock.__data.__lock, 1, __ATOMIC_RELAXED);
	assert_reclaimed_under_guard(0, 2);
	assert_int_equal(R->bdy->lock.__data.__kind, kind);
	/* and clients through glibc can use it again */
	assert_int_equal(rg_buddy_alloc(R, 64, rg_owner(1, 1), 0, &p), 0);
	assert_int_equal(rg_buddy_free(R, p, rg_owner(1, 1)), 0);
}

static void test_guard_waits_a_little_for_a_live_holder_then_gives_up(void **state)
{
	struct timespec t0, t1;
	void *p;
	long rc;

	(void)state;
	rg_region_guard(R, owner_ok, NULL);
	p = dead_clients_block();
	atomic_store(&client_tid, 12345);
	__atomic_store_n(&R->bdy->lock.__data.__lock, 12345, __ATOMIC_RELAXED); /* a live client holds it */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = rg_region_reclaim(R, rg_owner(3, 1), NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(rc, -EBUSY);
	assert_true((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) < 1000000000L);
	assert_int_equal(lock_word(), 12345); /* not taken from a live holder */
	/* the holder lets go: the reclaim goes through */
	__atomic_store_n(&R->bdy->lock.__data.__lock, 0, __ATOMIC_RELAXED);
	assert_int_equal(rg_region_reclaim(R, rg_owner(3, 1), NULL), 1);
	(void)p;
}

static void test_guard_refuses_a_wedged_lock_without_hanging(void **state)
{
	(void)state;
	rg_region_guard(R, owner_ok, NULL);
	dead_clients_block();
	/* waiters queued on a word that names no client: the kernel keeps PI
	 * state for it, which no CAS may take over */
	__atomic_store_n(&R->bdy->lock.__data.__lock, (int)(0x80000000u | 0x3ffffff0u), __ATOMIC_RELAXED);
	alarm(10);
	assert_int_equal(rg_region_reclaim(R, rg_owner(3, 1), NULL), -ENOTRECOVERABLE);
	alarm(0);
	__atomic_store_n(&R->bdy->lock.__data.__lock, 0, __ATOMIC_RELAXED);
	assert_int_equal(rg_region_reclaim(R, rg_owner(3, 1), NULL), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_uncontended_call_takes_fast_path_and_leaves_glibc_state, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_glibc_holder_hands_over_to_fast_path_caller, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fast_path_holder_hands_over_to_glibc_waiter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fork_child_locks_with_its_own_tid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_waiter_boosts_fast_path_holder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contended_calls_leave_mutex_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notrecoverable_lock_fails_every_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guard_takes_over_a_lock_word_naming_no_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guard_takes_over_a_lock_word_naming_another_process, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guard_restores_an_overwritten_mutex_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guard_waits_a_little_for_a_live_holder_then_gives_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guard_refuses_a_wedged_lock_without_hanging, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
