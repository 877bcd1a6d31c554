/* SPDX-License-Identifier: MIT */
/*
 * test_kill.c - a client killed at any instruction loses no block
 * (lib/core/slab.c, "Kills").
 *
 * - every instruction: a child runs one operation (slab alloc, free, a free
 *   into a full thread cache, a cached alloc, a cache flush, a give; the
 *   buddy cache's free, alloc and flush; opening a block to sharing, sharing
 *   it on, releasing it, releasing it last) under ptrace;
 *   the parent single-steps it n instructions and SIGKILLs it, for n = 0, 1,
 *   2, ... until the operation completes on its own. After each kill the
 *   parent does what the daemon does for a dead client (reclaim by owner,
 *   then sweep; for shared blocks also the orphan pass, and the other
 *   holders die too), and the region must pass the checker with every block
 *   free, the in-use counts exact with no recount, and no share record left
 *   in use.
 * - sweep rules: a block left in FREE_P by a live slot is not touched (its
 *   freer may be about to push it); by a dead slot it is given back; a popped
 *   block that a live client has not claimed yet is taken, and that client's
 *   claim then fails and it pops another block.
 * - kill storm: worker processes allocate and free at random (thread caches
 *   too); the parent SIGKILLs one at a random moment, reclaims and sweeps
 *   while the others go on, and starts a new worker in the freed slot, at
 *   least 1000 times. At the end every block is free and the checker passes.
 *
 * ptrace does not reach the guest under qemu-user: there the first test
 * skips (77) and says so.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "region_fixture.h"
#include "step_probe.h"
#include "fastpath.h"
#include "stress_worker.h"

#define A rg_owner(1, 5) /* the killed client */
#define B rg_owner(2, 9) /* a live one */
#define C rg_owner(3, 2) /* another */
#define STEP_MAX 4000

struct shm {
	int fd;
	size_t size;
	void *mem;
	struct rg_region *r;
	struct rg_pool_desc d;
};

static struct shm *shm_new(const struct rg_pool_desc *d)
{
	struct shm *s = calloc(1, sizeof(*s));

	s->d = *d;
	s->mem = fixture_map_shared(d, &s->fd, &s->size);
	assert_non_null(s->mem);
	assert_int_equal(rg_region_attach(s->mem, s->size, &s->r), 0);
	return s;
}

static void shm_free(struct shm *s)
{
	rg_region_detach(s->r);
	munmap(s->mem, s->size);
	close(s->fd);
	free(s);
}

static struct rg_pool_desc slab_desc(uint32_t nslots, uint32_t cache)
{
	struct rg_pool_desc d = fixture_desc();

	d.buddy.size = 0;
	d.nslots = nslots;
	d.cache = cache;
	return d;
}

/* Every slab block is free, the lists and counts exact (no recount). */
static void assert_all_free(struct shm *s)
{
	struct rg_region_stats st;

	assert_region_ok(s->r);
	rg_region_stats(s->r, &st);
	for (uint32_t c = 0; c < st.nclasses; c++) {
		if (st.cls[c].in_use != 0 || st.cls[c].free != st.cls[c].count)
			fail_msg("class %u: %llu in use, %llu of %llu free", c, (unsigned long long)st.cls[c].in_use,
				 (unsigned long long)st.cls[c].free, (unsigned long long)st.cls[c].count);
	}
	if (st.buddy_free != st.buddy_size) /* and merged: the checker finds free buddies apart */
		fail_msg("buddy: %llu of %llu bytes free", (unsigned long long)st.buddy_free,
			 (unsigned long long)st.buddy_size);
}

/* What the daemon does when a client dies: reclaim by owner, then sweep
 * with the dead slot no longer live. Return: blocks the sweep gave back. */
static long bury(struct shm *s, uint64_t owner, uint8_t *live)
{
	long n;

	assert_true(rg_region_reclaim(s->r, owner, NULL) >= 0);
	live[owner >> 16 & 0xffff] = 0;
	n = rg_region_sweep(s->r, live);
	assert_true(n >= 0);
	return n;
}

enum op {
	OP_ALLOC, OP_FREE, OP_CACHE_FULL, OP_CACHE_ALLOC, OP_FLUSH, OP_GIVE, OP_BFREE, OP_BALLOC, OP_BFLUSH,
	OP_SHARE, OP_RESHARE, OP_RELEASE, OP_RELEASE_LAST, OP_N
};
static const char *const op_name[OP_N] = { "alloc", "free", "free into a full cache", "cached alloc", "cache flush",
					   "give to another client", "buddy free into the cache",
					   "buddy cached alloc", "buddy cache flush", "open a block to sharing",
					   "share a shared block on", "release a shared block",
					   "release a shared block last, and free it" };
#define SHARED_OP(op) ((op) >= OP_SHARE)

/* The thread caches of the child (a copy of the parent's, through fork()). */
struct caches {
	struct rg_slab_cache tc[RG_MAX_CLASSES];
	struct rg_buddy_cache bc;
};

/* The child: stop for the tracer, then run @op once. */
static void child_op(struct shm *s, enum op op, void *blk, struct caches *cc)
{
	struct rg_slab_cache *tc = cc->tc;
	void *p;

	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
		_exit(5);
	/* not raise(), whose signal-mask dance would be stepped through each time */
	syscall(SYS_tgkill, getpid(), gettid(), SIGSTOP);
	switch (op) {
	case OP_ALLOC:
		(void)rg_slab_alloc(s->r, 1, A, 0, &p);
		break;
	case OP_FREE:
		(void)rg_slab_free(s->r, blk, A);
		break;
	case OP_CACHE_FULL:
		(void)rg_slab_cache_free(s->r, tc, blk, A);
		break;
	case OP_CACHE_ALLOC:
		(void)rg_slab_cache_alloc(s->r, tc, 0, A, &p);
		break;
	case OP_GIVE:
		(void)rg_region_give(s->r, blk, A, B);
		break;
	case OP_BFREE:
		(void)rg_buddy_cache_free(s->r, &cc->bc, blk, A);
		break;
	case OP_BALLOC:
		(void)rg_buddy_cache_alloc(s->r, &cc->bc, 100, A, &p);
		break;
	case OP_BFLUSH:
		(void)rg_buddy_cache_flush(s->r, &cc->bc, A);
		break;
	case OP_SHARE:
		(void)rg_region_share(s->r, blk, A, B);
		break;
	case OP_RESHARE:
		(void)rg_region_share(s->r, blk, A, C);
		break;
	case OP_RELEASE:
	case OP_RELEASE_LAST:
		if (rg_region_release(s->r, blk, A) == RG_SHARE_CLOSED)
			(void)rg_slab_free(s->r, blk, A);
		break;
	default:
		(void)rg_slab_cache_flush(s->r, tc, A);
		break;
	}
	syscall(SYS_exit_group, 0); /* resolved already: _exit() would step through the lazy binder */
	_exit(0);
}

/* Set up @op's state as owner A. Return: the block a free frees. */
static void *prepare(struct shm *s, enum op op, struct caches *cc)
{
	struct rg_slab_cache *tc = cc->tc;
	void *p = NULL, *q;

	rg_slab_cache_init(s->r, tc);
	rg_buddy_cache_init(s->r, &cc->bc);
	switch (op) {
	case OP_FREE:
	case OP_GIVE:
	case OP_SHARE:
		assert_int_equal(rg_slab_alloc(s->r, 1, A, 0, &p), 0);
		break;
	case OP_RESHARE:
	case OP_RELEASE:
	case OP_RELEASE_LAST: /* A and B hold it; for the last release B has let go */
		assert_int_equal(rg_slab_alloc(s->r, 1, A, 0, &p), 0);
		assert_int_equal(rg_region_share(s->r, p, A, B), RG_SHARE_OPENED);
		if (op == OP_RELEASE_LAST)
			assert_int_equal(rg_region_release(s->r, p, B), 0);
		break;
	case OP_CACHE_FULL: /* fill class 0's cache, then one more to free */
		while (tc[0].n < tc[0].cap) {
			assert_int_equal(rg_slab_alloc(s->r, 0, A, 0, &q), 0);
			assert_int_equal(rg_slab_cache_free(s->r, tc, q, A), 0);
		}
		assert_int_equal(rg_slab_alloc(s->r, 0, A, 0, &p), 0);
		break;
	case OP_CACHE_ALLOC:
	case OP_FLUSH:
		for (int i = 0; i < 3; i++) {
			assert_int_equal(rg_slab_alloc(s->r, 0, A, 0, &q), 0);
			assert_int_equal(rg_slab_cache_free(s->r, tc, q, A), 0);
		}
		break;
	case OP_BFREE: /* a 128 B block next to a free one: flushed, they merge */
		assert_int_equal(rg_buddy_alloc(s->r, 100, A, 0, &p), 0);
		break;
	case OP_BALLOC:
	case OP_BFLUSH: /* one block: a flush's time is the lock and the merges, stepped n^2 / 2 times */
		assert_int_equal(rg_buddy_alloc(s->r, 100, A, 0, &q), 0);
		assert_int_equal(rg_buddy_cache_free(s->r, &cc->bc, q, A), 0);
		break;
	default:
		break;
	}
	return p;
}

/* Fork a child for @op, step it @n instructions, kill it. Return: 1 if it
 * was killed mid-operation, 0 if the operation ended first, -ENOSYS if it
 * cannot be traced. */
static int kill_after(struct shm *s, enum op op, unsigned n)
{
	struct caches cc;
	void *blk = prepare(s, op, &cc);
	int st;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		child_op(s, op, blk, &cc);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFSTOPPED(st)) /* PTRACE_TRACEME refused: no tracing here */
		return -ENOSYS;
	for (unsigned i = 0; i < n; i++) {
		if (ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) != 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -ENOSYS;
		}
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (WIFEXITED(st))
			return 0;
	}
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? 0 : 1;
}

static void test_kill_at_every_instruction_loses_nothing(void **state)
{
	struct rg_pool_desc d = slab_desc(4, 4);
	struct shm *s;
	uint8_t live[5] = { 0 };
	uint64_t owners[5] = { 0, 0, B, C, 0 };

	(void)state;
	d.buddy = fixture_desc().buddy; /* and a buddy area, for the buddy cache's operations */
	s = shm_new(&d);
	/* B and C are clients: a give or a share may reach them */
	assert_int_equal(fixture_record(s->r, B), 0);
	assert_int_equal(fixture_record(s->r, C), 0);
	for (enum op op = 0; op < OP_N; op++) {
		long kills = 0, given = 0, handed = 0, dangling = 0;
		unsigned n;

		for (n = 0; n < STEP_MAX; n++) {
			int rc = kill_after(s, op, n);

			if (rc == -ENOSYS)
				fail_msg("ptrace single-stepping failed after the probe succeeded");
			kills += rc;
			given += bury(s, A, live);
			if (op == OP_GIVE) { /* the block is B's or free again, never both: B leaves too */
				long b = rg_region_reclaim(s->r, B, NULL);

				assert_in_range(b, 0, 1);
				handed += b;
			}
			if (SHARED_OP(op)) {
				/* a closer killed between record and block word: the orphan pass */
				long o = rg_region_reclaim_orphans(s->r, owners, NULL);

				assert_in_range(o, 0, 1);
				dangling += o;
				/* the other holders let go by dying: whoever holds it last frees it */
				o = rg_region_reclaim(s->r, B, NULL) + rg_region_reclaim(s->r, C, NULL);
				assert_in_range(o, 0, 1);
				handed += o;
			}
			assert_all_free(s);
			for (uint32_t k = 0; k < 5 * RG_SHARE_RECS; k++) /* and no share record is left in use */
				if (atomic_load(&s->r->shares[k].hdr) & 0xff)
					fail_msg("share record %u of slot %u left in use after %s", k % RG_SHARE_RECS,
						 k / RG_SHARE_RECS, op_name[op]);
			if (rc == 0)
				break;
		}
		assert_true(n < STEP_MAX);
		printf("# %s: killed at each of %ld instructions, %ld blocks given back by the sweep, %ld handed over, "
		       "%ld closed by a killed holder\n",
		       op_name[op], kills, given, handed, dangling);
		/* the windows exist: some kill left a block on no list */
		if (op == OP_ALLOC || op == OP_FREE || op == OP_CACHE_FULL)
			assert_true(given > 0);
		if (op == OP_GIVE || op == OP_SHARE) /* both sides of the CAS were reached */
			assert_true(handed > 0 && handed < kills + 1);
		if (op == OP_RESHARE || op == OP_RELEASE) /* B held it throughout: freed with B, each time */
			assert_int_equal(handed, kills + 1);
		if (op == OP_RELEASE_LAST) /* A held it alone; the window between a closer's two CASes */
			assert_true(handed == 0 && dangling > 0);
	}
	shm_free(s);
}

static void test_sweep_spares_live_freers_and_takes_dead_ones(void **state)
{
	struct rg_pool_desc d = slab_desc(4, 0);
	struct shm *s = shm_new(&d);
	const struct rg_cls *k = &s->r->cls[1];
	uint8_t live[5] = { 0, 1, 1, 0, 0 };
	void *p;
	uint64_t idx;

	(void)state;
	/* B popped a block and froze between its free's state CAS and push */
	assert_int_equal(rg_slab_alloc(s->r, 1, B, 0, &p), 0);
	idx = (uint64_t)((char *)p - k->data) / k->size;
	atomic_store(&k->state[idx], RG_FREEW(RG_BLK_FREE_P, B, 7));
	assert_int_equal(rg_region_sweep(s->r, live), 0); /* B lives: hands off */
	live[2] = 0;
	assert_int_equal(rg_region_sweep(s->r, live), 1); /* B died: given back */
	assert_all_free(s);
	shm_free(s);
}

static void test_sweep_steals_an_unclaimed_pop_and_the_claim_fails(void **state)
{
	struct rg_pool_desc d = slab_desc(4, 0);
	struct shm *s = shm_new(&d);
	const struct rg_cls *k = &s->r->cls[2];
	uint8_t live[5] = { 0, 1, 1, 0, 0 };
	uint64_t h = atomic_load(&k->ctl->head), w;
	uint32_t idx = RG_HEAD_IDX(h);
	void *p;

	(void)state;
	/* a live client's pop, up to its head CAS: the word it read, then the pop */
	w = atomic_load(&k->state[idx]);
	assert_true(atomic_compare_exchange_strong(&k->ctl->head, &h, RG_HEAD_POP(h, atomic_load(&k->next[idx]))));
	assert_int_equal(rg_region_sweep(s->r, live), 1);
	/* its claim, from the word it read: refused */
	assert_false(atomic_compare_exchange_strong(&k->state[idx], &w, RG_WORD(RG_BLK_ALLOC, 0, B)));
	/* the handoff path sees "not ours" (upper bits differ) and pops again:
	 * take every block of the class; each once */
	for (uint32_t i = 0; i < k->count; i++)
		assert_int_equal(rg_slab_alloc(s->r, 2, B, 0, &p), 0);
	assert_int_equal(rg_slab_alloc(s->r, 2, B, 0, &p), -ENOMEM);
	assert_int_equal(rg_region_reclaim(s->r, B, NULL), k->count);
	/* the popper's pop was counted, and so was the sweep's push */
	assert_all_free(s);
	shm_free(s);
}

/* A stray write made a cycle (or an index out of range) in a list: the class
 * returned -EUCLEAN for ever; the sweep rebuilds it. */
static void corrupt_then_repair(uint32_t bad_link)
{
	struct rg_pool_desc d = slab_desc(4, 0);
	struct shm *s = shm_new(&d);
	const struct rg_cls *k = &s->r->cls[1];
	uint8_t live[5] = { 0, 1, 1, 0, 0 };
	uint32_t repaired = 0, got = 0;
	void *p[2], *q;
	int rc;

	assert_int_equal(rg_slab_alloc(s->r, 1, B, 0, &p[0]), 0); /* blocks 0 and 1 held by B */
	assert_int_equal(rg_slab_alloc(s->r, 1, B, 0, &p[1]), 0);
	atomic_store(&k->next[5], bad_link); /* 2 -> 3 -> 4 -> 5 -> bad_link */
	while ((rc = rg_slab_alloc(s->r, 1, rg_owner(3, 1), 0, &q)) == 0)
		got++;
	assert_int_equal(rc, -EUCLEAN); /* the damage, as a client meets it */
	assert_true(got >= 3);
	assert_int_equal(rg_region_reclaim(s->r, rg_owner(3, 1), NULL), got);
	assert_true(rg_region_sweep_report(s->r, live, &repaired) >= 0);
	assert_int_equal(repaired, 1);
	/* every block but B's two is allocatable again, each once */
	for (uint32_t i = 0; i < k->count - 2; i++)
		assert_int_equal(rg_slab_alloc(s->r, 1, rg_owner(3, 2), 0, &q), 0);
	assert_int_equal(rg_slab_alloc(s->r, 1, rg_owner(3, 2), 0, &q), -ENOMEM);
	assert_int_equal(rg_region_reclaim(s->r, rg_owner(3, 2), NULL), k->count - 2);
	assert_int_equal(rg_slab_free(s->r, p[0], B), 0);
	assert_int_equal(rg_slab_free(s->r, p[1], B), 0);
	assert_all_free(s);
	shm_free(s);
}

static void test_sweep_repairs_a_list_with_a_cycle(void **state)
{
	(void)state;
	corrupt_then_repair(3);
}

static void test_sweep_repairs_a_list_with_an_index_out_of_range(void **state)
{
	(void)state;
	corrupt_then_repair(0x7ffffff0u);
}

#define STORM_WORKERS 3
#define STORM_KILLS 1000

static pid_t storm_start(struct shm *s, uint64_t owner, uint64_t seed)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct sw_caches c;
		bool cached = seed & 1;

		sw_caches_init(s->r, &c);
		for (;;)
			if (sw_run_cached(s->r, cached ? &c : NULL, owner, seed, 1000, false) != 0)
				_exit(3);
	}
	return pid;
}

static void kill_storm(const struct rg_pool_desc *dp, const char *what)
{
	struct rg_pool_desc d = *dp;
	struct shm *s;
	unsigned seed = fixture_seed(what);
	uint64_t rnd = seed | 1;
	pid_t pid[STORM_WORKERS + 1];
	uint32_t gen[STORM_WORKERS + 1] = { 0 };
	uint8_t live[STORM_WORKERS + 1] = { 0 };
	struct rg_region_stats rs;
	long given = 0;
	int st;

	s = shm_new(&d);
	for (uint32_t w = 1; w <= STORM_WORKERS; w++) {
		live[w] = 1;
		pid[w] = storm_start(s, rg_owner(w, gen[w]), sw_rand(&rnd));
	}
	for (int i = 0; i < STORM_KILLS; i++) {
		uint32_t w = 1 + (uint32_t)(sw_rand(&rnd) % STORM_WORKERS);
		struct timespec ts = { 0, (long)(sw_rand(&rnd) % 300000) };

		nanosleep(&ts, NULL);
		kill(pid[w], SIGKILL);
		assert_int_equal(waitpid(pid[w], &st, 0), pid[w]);
		if (!WIFSIGNALED(st))
			fail_msg("worker %u ended by itself (status %#x): it found a block held twice", w, st);
		given += bury(s, rg_owner(w, gen[w]), live);
		live[w] = 1;
		pid[w] = storm_start(s, rg_owner(w, ++gen[w]), sw_rand(&rnd));
	}
	for (uint32_t w = 1; w <= STORM_WORKERS; w++) {
		kill(pid[w], SIGKILL);
		waitpid(pid[w], &st, 0);
		given += bury(s, rg_owner(w, gen[w]), live);
	}
#if defined(RG_PUSH_TWO_STEPS)
	rg_region_recount(s->r); /* this build's push counts in a second step */
#endif
	rg_region_stats(s->r, &rs);
	printf("# %s: %d kills, %ld blocks given back by sweeps, %llu buddy lock repairs, 0 lost\n", what,
	       STORM_KILLS, given, (unsigned long long)rs.buddy_repairs);
	assert_all_free(s);
	shm_free(s);
}

/* No buddy area: qemu-user has no robust futexes, so a kill inside the buddy
 * lock wedges it there (the kill-step test covers the buddy cache). */
static void test_kill_storm_loses_no_block(void **state)
{
	struct rg_pool_desc d = slab_desc(STORM_WORKERS + 1, 4);

	(void)state;
	kill_storm(&d, "kill storm");
}

/* The same on classes in 4 stripes, few blocks each: workers of different
 * homes steal from each other's stripes while they are killed. */
static void test_kill_storm_striped_loses_no_block(void **state)
{
	struct rg_pool_desc d = slab_desc(STORM_WORKERS + 1, 0);

	(void)state;
	d.nclasses = 8;
	for (uint32_t i = 0; i < 4; i++) {
		d.classes[i] = (struct rg_slab_desc){ .size = 64, .count = 12 };
		d.classes[4 + i] = (struct rg_slab_desc){ .size = 512, .count = 4 };
	}
	kill_storm(&d, "kill storm, 4 stripes");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest step[] = {
		cmocka_unit_test(test_kill_at_every_instruction_loses_nothing),
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sweep_spares_live_freers_and_takes_dead_ones),
		cmocka_unit_test(test_sweep_steals_an_unclaimed_pop_and_the_claim_fails),
		cmocka_unit_test(test_sweep_repairs_a_list_with_a_cycle),
		cmocka_unit_test(test_sweep_repairs_a_list_with_an_index_out_of_range),
		cmocka_unit_test(test_kill_storm_loses_no_block),
		cmocka_unit_test(test_kill_storm_striped_loses_no_block),
	};

	if (argc > 1 && !strcmp(argv[1], "step")) {
		if (!can_step()) {
			printf("# skip: a child cannot be single-stepped with ptrace here (qemu-user, or ptrace denied)\n");
			return 77;
		}
		return cmocka_run_group_tests_name("kill at every instruction", step, NULL, NULL);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
