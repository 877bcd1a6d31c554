/* SPDX-License-Identifier: MIT */
/*
 * test_handoff.c - blocks handed between clients (lib/core/handoff.c).
 *
 * - a slab block and a buddy block change owners: the receiver frees them,
 *   the giver no longer can; every error of rg_region_give();
 * - reclaim stays exact whoever dies: the giver after giving (the block is
 *   the receiver's), the receiver before using it (reclaimed with it), a
 *   receiver that left without the giver seeing it (found as an orphan);
 * - pipelines: producer processes give stamped blocks to consumer processes
 *   through rings of offsets in shared memory, and the consumers check and
 *   free them; a consumer is SIGKILLed in the middle, the daemon's steps run
 *   (record cleared, reclaim, orphan reclaim), the producer's gives to it
 *   then fail with -ESRCH and it frees those blocks itself. The checker runs
 *   after each burst and every block is free at the end.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "region_fixture.h"
#include "fastpath.h"

#define A rg_owner(1, 3)
#define B rg_owner(2, 4)

static int setup(void **state)
{
	struct rg_pool_desc d = fixture_desc();
	struct fixture_region *f;

	d.cache = 4; /* a cache slot for class 0 (100 blocks, 16 slots): one block */
	f = fixture_region_new(&d);
	assert_non_null(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture_region_free(*state);
	return 0;
}

static void record(struct rg_region *r, uint64_t owner)
{
	assert_int_equal(fixture_record(r, owner), 0);
}

static void unrecord(struct rg_region *r, uint64_t owner)
{
	assert_int_equal(fixture_unrecord(r, owner), 0);
}

static void test_give_moves_slab_and_buddy_blocks(void **state)
{
	struct fixture_region *f = *state;
	void *s, *b;
	size_t n = 0;

	record(f->r, A);
	record(f->r, B);
	assert_int_equal(rg_slab_alloc(f->r, 1, A, 0, &s), 0);
	assert_int_equal(rg_buddy_alloc(f->r, 1000, A, 0, &b), 0);
	assert_int_equal(rg_region_give(f->r, s, A, B), 0);
	assert_int_equal(rg_region_give(f->r, b, A, B), 0);
	assert_int_equal(rg_region_owned(f->r, s, B, &n), 0);
	assert_int_equal(n, 256);
	assert_int_equal(rg_region_owned(f->r, b, B, &n), 0);
	assert_int_equal(n, 1024);
	assert_int_equal(rg_region_owned(f->r, s, A, NULL), -EPERM);
	/* the giver's free and second give are refused; the receiver's free works */
	assert_int_equal(rg_slab_free(f->r, s, A), -EPERM);
	assert_int_equal(rg_buddy_free(f->r, b, A), -EPERM);
	assert_int_equal(rg_region_give(f->r, s, A, B), -EPERM);
	assert_region_ok(f->r);
	assert_int_equal(rg_slab_free(f->r, s, B), 0);
	assert_int_equal(rg_buddy_free(f->r, b, B), 0);
	assert_region_all_free(f->r);
}

static void test_give_errors_change_nothing(void **state)
{
	struct fixture_region *f = *state;
	struct rg_slab_cache tc[RG_MAX_CLASSES];
	void *s, *b, *cached;

	record(f->r, A);
	record(f->r, B);
	assert_int_equal(rg_slab_alloc(f->r, 1, A, 0, &s), 0);
	assert_int_equal(rg_buddy_alloc(f->r, 5000, A, 0, &b), 0);
	assert_int_equal(rg_region_give(f->r, s, A, 0), -EINVAL);             /* slot 0: the daemon */
	assert_int_equal(rg_region_give(f->r, s, A, B | 1), -EINVAL);         /* not an owner word */
	assert_int_equal(rg_region_give(f->r, s, A, rg_owner(17, 1)), -EINVAL); /* past nslots */
	assert_int_equal(rg_region_give(f->r, (char *)s + 8, A, B), -EFAULT);  /* inside a block */
	assert_int_equal(rg_region_give(f->r, (char *)b + 64, A, B), -EFAULT); /* a buddy block's tail */
	assert_int_equal(rg_region_give(f->r, f->mem, A, B), -EFAULT);         /* metadata */
	assert_int_equal(rg_region_give(f->r, s, B, A), -EPERM);              /* not B's */
	assert_int_equal(rg_region_give(f->r, s, A, rg_owner(2, 5)), -ESRCH); /* B's slot, other gen */
	assert_int_equal(rg_region_give(f->r, s, A, rg_owner(3, 1)), -ESRCH); /* nobody in slot 3 */
	/* a block in a thread cache is not the application's */
	rg_slab_cache_init(f->r, tc);
	assert_int_equal(rg_slab_alloc(f->r, 0, A, 0, &cached), 0);
	assert_int_equal(rg_slab_cache_free(f->r, tc, cached, A), 0);
	assert_int_equal(rg_region_give(f->r, cached, A, B), -EPERM);
	assert_int_equal(rg_region_owned(f->r, s, A, NULL), 0);
	assert_int_equal(rg_region_owned(f->r, b, A, NULL), 0);
	assert_int_equal(rg_region_reclaim(f->r, A, NULL), 3);
	assert_region_all_free(f->r);
}

static void test_reclaim_is_exact_whoever_dies(void **state)
{
	struct fixture_region *f = *state;
	uint64_t owners[17] = { 0 };
	void *s1, *s2, *s3;

	record(f->r, A);
	record(f->r, B);
	owners[1] = A;
	owners[2] = B;
	assert_int_equal(rg_slab_alloc(f->r, 1, A, 0, &s1), 0);
	assert_int_equal(rg_slab_alloc(f->r, 1, A, 0, &s2), 0);
	assert_int_equal(rg_slab_alloc(f->r, 1, A, 0, &s3), 0);
	assert_int_equal(rg_region_give(f->r, s1, A, B), 0);
	/* the giver dies: what it gave stays the receiver's, the rest is reclaimed */
	unrecord(f->r, A);
	assert_int_equal(rg_region_reclaim(f->r, A, NULL), 2);
	owners[1] = 0;
	assert_int_equal(rg_region_owned(f->r, s1, B, NULL), 0);
	assert_int_equal(rg_region_reclaim_orphans(f->r, owners, NULL), 0);
	/* a receiver that leaves: gives to it are refused from then on */
	unrecord(f->r, B);
	assert_int_equal(rg_slab_alloc(f->r, 1, rg_owner(3, 1), 0, &s2), 0);
	assert_int_equal(rg_region_give(f->r, s2, rg_owner(3, 1), B), -ESRCH);
	assert_int_equal(rg_region_owned(f->r, s2, rg_owner(3, 1), NULL), 0);
	/* the daemon reclaims the receiver, including what it never took */
	assert_int_equal(rg_region_reclaim(f->r, B, NULL), 1);
	owners[2] = 0;
	/* a give that the receiver's departure raced: the block is an orphan */
	record(f->r, B);
	assert_int_equal(rg_region_give(f->r, s2, rg_owner(3, 1), B), 0);
	unrecord(f->r, B);
	owners[3] = rg_owner(3, 1);
	assert_int_equal(rg_region_reclaim_orphans(f->r, owners, NULL), 1);
	assert_int_equal(rg_region_owned(f->r, s2, B, NULL), -EPERM);
	assert_region_all_free(f->r);
}

/* --- pipelines of processes --- */

#define RING 64
#define PAIRS 2
#define PER_PAIR 20000

struct ring {
	_Atomic uint64_t head, tail; /* head: written by the producer, tail: by the consumer */
	_Atomic uint64_t off[RING];
	_Atomic int consumer_gone;
	_Atomic uint64_t taken, bad;
};

static void consumer(struct fixture_region *f, struct ring *q, uint64_t me, long stop_after)
{
	for (long n = 0; n < PER_PAIR; n++) {
		uint64_t t = atomic_load(&q->tail), off;
		uint64_t *p;

		while (atomic_load_explicit(&q->head, memory_order_acquire) == t)
			;
		off = atomic_load(&q->off[t % RING]);
		p = (uint64_t *)((char *)f->mem + off);
		if (rg_region_owned(f->r, p, me, NULL) != 0 || p[0] != off * 7 + 1)
			atomic_fetch_add(&q->bad, 1);
		else if (n == stop_after)
			raise(SIGKILL); /* dies holding a taken block and what is in the ring */
		else if (rg_slab_free(f->r, p, me) != 0 && rg_buddy_free(f->r, p, me) != 0)
			atomic_fetch_add(&q->bad, 1);
		atomic_fetch_add(&q->taken, 1);
		atomic_store_explicit(&q->tail, t + 1, memory_order_release);
	}
	_exit(0);
}

static void producer(struct fixture_region *f, struct ring *q, uint64_t me, uint64_t to, uint64_t seed)
{
	uint64_t s = seed | 1;

	for (long n = 0; n < PER_PAIR; n++) {
		uint64_t h = atomic_load(&q->head), off;
		uint64_t *p;
		int rc;

		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		rc = s % 4 ? rg_slab_alloc(f->r, (uint32_t)(s >> 8) % 2, me, 0, (void **)&p)
			   : rg_buddy_alloc(f->r, 64 + (s >> 8) % 2048, me, 0, (void **)&p);
		if (rc != 0) {
			n--;
			continue; /* the consumer holds what it has not freed yet */
		}
		off = (uint64_t)((char *)p - (char *)f->mem);
		p[0] = off * 7 + 1;
		rc = rg_region_give(f->r, p, me, to);
		if (rc == -ESRCH) { /* the consumer is gone: ours to free */
			if (rg_slab_free(f->r, p, me) != 0 && rg_buddy_free(f->r, p, me) != 0)
				_exit(4);
			continue;
		}
		if (rc != 0)
			_exit(3);
		while (h - atomic_load_explicit(&q->tail, memory_order_acquire) >= RING) {
			if (atomic_load(&q->consumer_gone))
				_exit(0); /* what it gave is the consumer's: reclaimed with it */
		}
		atomic_store(&q->off[h % RING], off);
		atomic_store_explicit(&q->head, h + 1, memory_order_release);
	}
	_exit(0);
}

static void test_pipelines_of_processes_hand_blocks_over(void **state)
{
	struct fixture_region *f = *state;
	struct ring *q = mmap(NULL, PAIRS * sizeof(*q), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned seed = fixture_seed("pipelines");
	pid_t prod[PAIRS], cons[PAIRS];
	uint64_t owners[17] = { 0 };
	int st;

	assert_true(q != MAP_FAILED);
	memset(q, 0, PAIRS * sizeof(*q));
	for (unsigned i = 0; i < PAIRS; i++) {
		uint64_t po = rg_owner(1 + 2 * i, 1), co = rg_owner(2 + 2 * i, 1);

		record(f->r, po);
		record(f->r, co);
		owners[1 + 2 * i] = po;
		owners[2 + 2 * i] = co;
		cons[i] = fork();
		assert_true(cons[i] >= 0);
		if (cons[i] == 0) /* the last consumer dies half-way */
			consumer(f, &q[i], co, i == PAIRS - 1 ? PER_PAIR / 2 : -1);
		prod[i] = fork();
		assert_true(prod[i] >= 0);
		if (prod[i] == 0)
			producer(f, &q[i], po, co, seed + i);
	}
	for (unsigned i = 0; i < PAIRS; i++) {
		uint64_t co = rg_owner(2 + 2 * i, 1);

		assert_int_equal(waitpid(cons[i], &st, 0), cons[i]);
		if (WIFSIGNALED(st)) { /* the daemon's steps for a dead client */
			unrecord(f->r, co);
			assert_true(rg_region_reclaim(f->r, co, NULL) > 0);
			owners[2 + 2 * i] = 0;
			atomic_store(&q[i].consumer_gone, 1);
		} else {
			assert_int_equal(WEXITSTATUS(st), 0);
		}
	}
	for (unsigned i = 0; i < PAIRS; i++) {
		assert_int_equal(waitpid(prod[i], &st, 0), prod[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
		assert_int_equal(atomic_load(&q[i].bad), 0);
		printf("# pair %u: %llu blocks handed over and taken\n", i, (unsigned long long)atomic_load(&q[i].taken));
	}
	/* gives that raced the consumer's death */
	assert_true(rg_region_reclaim_orphans(f->r, owners, NULL) >= 0);
	for (unsigned i = 0; i < PAIRS; i++)
		assert_int_equal(rg_region_reclaim(f->r, rg_owner(1 + 2 * i, 1), NULL), 0);
	assert_region_all_free(f->r);
	munmap(q, PAIRS * sizeof(*q));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_give_moves_slab_and_buddy_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_give_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reclaim_is_exact_whoever_dies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelines_of_processes_hand_blocks_over, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
