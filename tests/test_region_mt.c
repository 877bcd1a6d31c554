/* SPDX-License-Identifier: MIT */
/*
 * test_region_mt.c - threads hammering one region, with the memory tester
 * checking blocks out beside them. Built for ThreadSanitizer too: every
 * shared access in lib/ is atomic or under the buddy lock, so TSan must
 * report nothing. Afterwards the checker passes and no block is lost.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "region_fixture.h"
#include "stress_worker.h"

#define NTHREADS 4
#define OPS 20000

struct arg {
	struct rg_region *r;
	unsigned id;
	uint64_t seed;
	int errors;
};

static void *worker(void *p)
{
	struct arg *a = p;
	struct sw_caches c;

	/* odd threads go through thread caches, slab and buddy, as librtmem's do */
	a->errors = sw_run_cached(a->r, a->id % 2 ? sw_caches_init(a->r, &c) : NULL, rg_owner(a->id + 1, a->id),
				  a->seed + a->id, OPS, true);
	return NULL;
}

struct targ {
	struct rg_region *r;
	atomic_bool stop;
	long tested;
};

static void *tester(void *p)
{
	struct targ *t = p;

	t->tested = sw_tester(t->r, &t->stop);
	return NULL;
}

static void test_threads_and_tester_lose_nothing(void **state)
{
	struct rg_pool_desc d = fixture_desc();
	struct rg_region_stats s;
	struct arg a[NTHREADS];
	pthread_t th[NTHREADS], tt;
	struct targ t = { .stop = false };
	unsigned seed = fixture_seed("threads");
	size_t size;
	void *mem;

	d.cache = 4; /* the odd threads' caches: caps 4, 2, 4 with 5 slots */
	d.nslots = NTHREADS + 1;
	d.classes[2].count = 80;
	mem = fixture_map(&d, &size);

	(void)state;
	assert_int_equal(rg_region_attach(mem, size, &t.r), 0);
	assert_int_equal(pthread_create(&tt, NULL, tester, &t), 0);
	for (unsigned i = 0; i < NTHREADS; i++) {
		a[i] = (struct arg){ t.r, i, seed, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, worker, &a[i]), 0);
	}
	for (unsigned i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(a[i].errors, 0);
	}
	atomic_store(&t.stop, true);
	pthread_join(tt, NULL);
	assert_true(t.tested > 0);
	printf("# tester checked out %ld blocks during the run\n", t.tested);
	assert_region_ok(t.r);
	rg_region_stats(t.r, &s);
	for (unsigned c = 0; c < s.nclasses; c++) {
		assert_int_equal(s.cls[c].in_use, 0);
		assert_int_equal(s.cls[c].free, s.cls[c].count);
	}
	assert_int_equal(s.buddy_free, s.buddy_size);
	rg_region_detach(t.r);
	munmap(mem, size);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads_and_tester_lose_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
