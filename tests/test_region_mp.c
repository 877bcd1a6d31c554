/* SPDX-License-Identifier: MIT */
/*
 * test_region_mp.c - several processes on one memfd-backed region, each
 * mapping it at a different address, as the daemon and its clients do.
 *
 * - stress: N processes run random alloc/free; afterwards the checker passes
 *   and every block is free again.
 * - dead clients: processes exit holding blocks; reclaim by owner returns
 *   exactly their blocks.
 * - killed inside the buddy lock: a test hook SIGKILLs a process right after
 *   its first shared write in rg_buddy_alloc() or rg_buddy_free(), or
 *   in a free between a merge's unlink and the merged head's store; the
 *   next locker gets EOWNERDEAD, rebuilds the lists from the state table, and
 *   the region is consistent with nothing lost. Where the buddy lock has its
 *   fast path (rg_buddy_thread_prepare()), the child must have held it
 *   through that path when it died (lock word = its TID, list_op_pending =
 *   the mutex, glibc's robust list empty): the kernel found the dead owner
 *   through list_op_pending alone.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
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
#include "stress_worker.h"

#define NPROC 4
#define OPS 20000

struct shm {
	int fd;
	size_t size;
	void *mem; /* the parent's mapping */
	struct rg_region *r;
};

static int shm_setup(void **state)
{
	struct rg_pool_desc d = fixture_desc();
	struct shm *s = calloc(1, sizeof(*s));

	s->mem = fixture_map_shared(&d, &s->fd, &s->size);
	assert_non_null(s->mem);
	assert_int_equal(rg_region_attach(s->mem, s->size, &s->r), 0);
	*state = s;
	return 0;
}

static int shm_teardown(void **state)
{
	struct shm *s = *state;

	rg_region_detach(s->r);
	munmap(s->mem, s->size);
	close(s->fd);
	free(s);
	return 0;
}

/* In a child: map the region at an address of its own and attach. Exits 3 on failure. */
static struct rg_region *child_attach(const struct shm *s, unsigned i)
{
	/* Shift the child's mapping by a different amount in each child. */
	void *pad = mmap(NULL, (i + 1) * 64 * 4096ul, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *mem = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
	struct rg_region *r;

	if (pad == MAP_FAILED || mem == MAP_FAILED || mem == s->mem || rg_region_attach(mem, s->size, &r) < 0)
		_exit(3);
	return r;
}

static int wait_child(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

static void test_processes_at_different_addresses_lose_nothing(void **state)
{
	struct shm *s = *state;
	struct rg_region_stats st;
	unsigned seed = fixture_seed("processes");
	pid_t pid[NPROC];

	for (unsigned i = 0; i < NPROC; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0) {
			struct rg_region *r = child_attach(s, i);

			_exit(sw_run(r, rg_owner(i + 1, 1), seed + i, OPS, true) ? 1 : 0);
		}
	}
	for (unsigned i = 0; i < NPROC; i++)
		assert_int_equal(wait_child(pid[i]), 0);
	assert_region_ok(s->r);
	rg_region_stats(s->r, &st);
	for (unsigned c = 0; c < st.nclasses; c++)
		assert_int_equal(st.cls[c].free, st.cls[c].count);
	assert_int_equal(st.buddy_free, st.buddy_size);
}

static void test_dead_processes_blocks_reclaimed_exactly(void **state)
{
	struct shm *s = *state;
	struct rg_region_stats st;
	unsigned seed = fixture_seed("dead clients");
	uint64_t total = 0;
	pid_t pid[NPROC];
	int ready[2], go[2];
	char byte = 0;

	/* every child takes its first two blocks before any starts its random
	 * run, which may fill the pool: a barrier of two pipes */
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	for (unsigned i = 0; i < NPROC; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0) {
			struct rg_region *r = child_attach(s, i);
			void *p;

			if (rg_slab_alloc(r, 0, rg_owner(i + 1, 2), 0, &p) ||
			    rg_buddy_alloc(r, 64, rg_owner(i + 1, 2), 0, &p))
				_exit(6);
			if (write(ready[1], &byte, 1) != 1)
				_exit(7);
			close(ready[1]); /* the parent's reads end when every child wrote or died */
			if (read(go[0], &byte, 1) != 1)
				_exit(7);
			sw_run(r, rg_owner(i + 1, 2), seed + i, 5000, false);
			raise(SIGKILL); /* dies holding what it holds */
		}
	}
	close(ready[1]);
	close(go[0]);
	signal(SIGPIPE, SIG_IGN); /* every child dead already: the write fails, wait_child() says why */
	for (unsigned i = 0; i < NPROC; i++)
		if (read(ready[0], &byte, 1) != 1)
			break; /* a child failed and exited: wait_child() reports it */
	for (unsigned i = 0; i < NPROC; i++)
		if (write(go[1], &byte, 1) != 1)
			break;
	close(ready[0]);
	close(go[1]);
	for (unsigned i = 0; i < NPROC; i++)
		assert_int_equal(wait_child(pid[i]), 128 + SIGKILL);
	assert_region_ok(s->r);
	for (unsigned i = 0; i < NPROC; i++) {
		uint64_t bytes = 0;
		long n = rg_region_reclaim(s->r, rg_owner(i + 1, 2), &bytes);

		assert_true(n >= 2);
		total += bytes;
		assert_int_equal(rg_region_reclaim(s->r, rg_owner(i + 1, 2), &bytes), 0);
	}
	printf("# reclaimed %llu bytes from %d killed processes\n", (unsigned long long)total, NPROC);
	assert_region_ok(s->r);
	rg_region_stats(s->r, &st);
	for (unsigned c = 0; c < st.nclasses; c++)
		assert_int_equal(st.cls[c].free, st.cls[c].count);
	assert_int_equal(st.buddy_free, st.buddy_size);
}

static bool robust;
static struct rg_region *dying;  /* the child's handle */
static volatile int *died_fast;    /* MAP_SHARED: 1 held through the fast path, 2 through glibc */

static void die(void)
{
	struct {
		void *next;
		long futex_offset;
		void *list_op_pending;
	} *h = NULL;
	size_t len = 0;
	pthread_mutex_t *m = &dying->bdy->lock;

	*died_fast = 2;
	if (syscall(SYS_get_robust_list, 0, &h, &len) == 0 && h && (void *)h->next == (void *)h &&
	    (uintptr_t)h->list_op_pending == ((uintptr_t)&m->__data.__list.__next | 1u) &&
	    m->__data.__lock == gettid())
		*died_fast = 1;
	raise(SIGKILL);
}

/* Does this platform report a dead robust-mutex owner? qemu-user ignores
 * set_robust_list, so there the answer is no and the repair cannot be shown. */
static const char *robust_why = "robust mutexes do not report a dead owner here (qemu-user ignores set_robust_list)";

static bool robust_supported(void)
{
	pthread_mutexattr_t a;
	pthread_mutex_t *m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct timespec ts;
	pid_t pid;
	int rc;

#if defined(__SANITIZE_THREAD__)
	robust_why = "ThreadSanitizer does not model a robust mutex's dead owner";
	return false;
#endif
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(m, &a);
	pid = fork();
	if (pid == 0) {
		pthread_mutex_lock(m);
		_exit(0);
	}
	wait_child(pid);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 2;
	rc = pthread_mutex_timedlock(m, &ts);
	if (rc == 0 || rc == EOWNERDEAD) { /* ours now: off this thread's robust list before unmapping */
		if (rc == EOWNERDEAD)
			pthread_mutex_consistent(m);
		pthread_mutex_unlock(m);
	}
	munmap(m, sizeof(*m));
	return rc == EOWNERDEAD;
}

/* The hook fires after the first shared write of a call and, in a free,
 * after each merge's unlink: die at the second, in the middle of a merge. */
static void die_mid_merge(void)
{
	static int calls;

	if (++calls == 2)
		die();
}

static void kill_in_lock(struct shm *s, bool in_free, void (*hook)(void))
{
	struct rg_region_stats st;
	void *keep, *p;
	pid_t pid;

	if (!robust)
		skip(); /* the reason is printed by main() */
	died_fast = mmap(NULL, sizeof(*died_fast), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(died_fast != MAP_FAILED);
	*died_fast = 0;
	assert_int_equal(rg_buddy_alloc(s->r, 100, rg_owner(0, 0), 0, &keep), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rg_region *r = child_attach(s, 0);

		/* two blocks: the second is split off a larger one, so its free merges */
		if (in_free && (rg_buddy_alloc(r, 300, rg_owner(1, 3), 0, &p) != 0 ||
				rg_buddy_alloc(r, 300, rg_owner(1, 3), 0, &p) != 0))
			_exit(4);
		dying = r;
		rg_buddy_test_hook = hook;
		if (in_free)
			rg_buddy_free(r, p, rg_owner(1, 3));
		else
			rg_buddy_alloc(r, 64, rg_owner(1, 3), 0, &p);
		_exit(5); /* the hook did not fire */
	}
	assert_int_equal(wait_child(pid), 128 + SIGKILL);
	assert_int_equal(*died_fast, rg_buddy_thread_prepare() ? 1 : 2);
	munmap((void *)died_fast, sizeof(*died_fast));
	/* The dead child holds the lock; the next locker repairs it. */
	assert_int_equal(rg_buddy_alloc(s->r, 64, rg_owner(0, 0), 0, &p), 0);
	rg_region_stats(s->r, &st);
	assert_int_equal(st.buddy_repairs, 1);
	assert_region_ok(s->r);
	assert_int_equal(rg_buddy_free(s->r, p, rg_owner(0, 0)), 0);
	assert_int_equal(rg_buddy_free(s->r, keep, rg_owner(0, 0)), 0);
	/* Whatever the child had taken is its own and reclaimable. */
	assert_true(rg_region_reclaim(s->r, rg_owner(1, 3), NULL) >= 0);
	assert_region_ok(s->r);
	rg_region_stats(s->r, &st);
	assert_int_equal(st.buddy_free, st.buddy_size);
}

static void test_killed_inside_buddy_alloc_lock_is_repaired(void **state)
{
	kill_in_lock(*state, false, die);
}

static void test_killed_inside_buddy_free_lock_is_repaired(void **state)
{
	kill_in_lock(*state, true, die);
}

/* A free that has taken its buddy off the list and not yet written the
 * merged head: the table still shows both halves free, rebuild merges them. */
static void test_killed_in_the_middle_of_a_merge_is_repaired(void **state)
{
	kill_in_lock(*state, true, die_mid_merge);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_processes_at_different_addresses_lose_nothing, shm_setup,
						shm_teardown),
		cmocka_unit_test_setup_teardown(test_dead_processes_blocks_reclaimed_exactly, shm_setup, shm_teardown),
		cmocka_unit_test_setup_teardown(test_killed_inside_buddy_alloc_lock_is_repaired, shm_setup,
						shm_teardown),
		cmocka_unit_test_setup_teardown(test_killed_inside_buddy_free_lock_is_repaired, shm_setup,
						shm_teardown),
		cmocka_unit_test_setup_teardown(test_killed_in_the_middle_of_a_merge_is_repaired, shm_setup,
						shm_teardown),
	};

	robust = robust_supported();
	if (!robust)
		printf("# %s: the kill-in-lock tests skip\n", robust_why);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
