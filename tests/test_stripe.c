/* SPDX-License-Identifier: MIT */
/*
 * test_stripe.c - striped slab classes (region.h, "Striped classes";
 * lib/core/stripe.c).
 *
 * - the description: runs of equal sizes are stripes, every run the same
 *   length, at most RG_MAX_STRIPES; anything else is refused;
 * - a handle's home stripe answers rg_class_for(), through the size table
 *   and past it; an empty home steals from the others, in turn, and only
 *   when every stripe is empty does the pool say -ENOMEM; a block goes back
 *   to its own stripe; a corrupt stripe is passed over, not fatal;
 * - a timed allocation sleeps on every stripe of its size: a free in a
 *   stripe that is not the waiter's home wakes it, and a timeout leaves no
 *   waiter registered anywhere;
 * - threads with different homes allocate, steal and free at once (TSan runs
 *   this too); every block is free at the end and the checker passes.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "region_fixture.h"
#include "fastpath.h"

#define S 4u
#define PER 4u /* blocks per 64 B stripe */

/* 64 B x 16 and 8 KiB x 8, each in 4 stripes; no thread caches. */
static struct rg_pool_desc striped_desc(void)
{
	struct rg_pool_desc d = fixture_desc();

	d.nclasses = 2 * S;
	d.buddy.size = 0;
	for (uint32_t i = 0; i < S; i++) {
		d.classes[i] = (struct rg_slab_desc){ .size = 64, .count = PER };
		d.classes[S + i] = (struct rg_slab_desc){ .size = 8192, .count = 2 };
	}
	return d;
}

static int setup(void **state)
{
	struct rg_pool_desc d = striped_desc();
	struct fixture_region *f = fixture_region_new(&d);

	assert_non_null(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture_region_free(*state);
	return 0;
}

static void test_description(void **state)
{
	struct rg_pool_desc d = striped_desc();
	struct rg_footprint fp;

	(void)state;
	assert_int_equal(rg_region_layout(&d, &fp), 0);
	d.nclasses = 2 * S - 1; /* the 8 KiB run is one short */
	assert_int_equal(rg_region_layout(&d, &fp), -EINVAL);
	d = striped_desc();
	d.classes[S].size = 64; /* runs of 5 and 3 */
	assert_int_equal(rg_region_layout(&d, &fp), -EINVAL);
	d = striped_desc();
	d.classes[1].size = 32; /* decreasing */
	assert_int_equal(rg_region_layout(&d, &fp), -EINVAL);
	d = fixture_desc();
	d.nclasses = RG_MAX_STRIPES + 1; /* one run too long */
	for (uint32_t i = 0; i < d.nclasses; i++)
		d.classes[i] = (struct rg_slab_desc){ .size = 64, .count = 2 };
	assert_int_equal(rg_region_layout(&d, &fp), -EINVAL);
	d.nclasses = RG_MAX_STRIPES;
	assert_int_equal(rg_region_layout(&d, &fp), 0);
}

static void test_home_in_size_table_and_past_it(void **state)
{
	struct fixture_region *f = *state;
	struct rg_region *r = f->r;

	assert_int_equal(rg_region_stripes(r), S);
	assert_int_equal(rg_class_for(r, 64, RG_POLICY_NEXT_FIT), 0); /* the daemon's: stripe 0 */
	assert_true(8192 > RG_SIZECLS_MAX);                           /* so the search is tried too */
	for (uint32_t slot = 1; slot <= 9; slot++) {
		rg_region_set_home(r, slot);
		assert_int_equal(rg_class_for(r, 1, RG_POLICY_NEXT_FIT), (int)(slot % S));
		assert_int_equal(rg_class_for(r, 64, RG_POLICY_EXACT), (int)(slot % S));
		assert_int_equal(rg_class_for(r, 65, RG_POLICY_NEXT_FIT), (int)(S + slot % S));
		assert_int_equal(rg_class_for(r, 8192, RG_POLICY_EXACT), (int)(S + slot % S));
		assert_int_equal(rg_class_for(r, 8193, RG_POLICY_NEXT_FIT), -ENOENT);
	}
	rg_region_set_home(r, 0);
	assert_int_equal(rg_class_for(r, 64, RG_POLICY_NEXT_FIT), 0);
}

/* The stripe a block of 64 B belongs to. */
static uint32_t stripe_of(struct rg_region *r, void *p)
{
	for (uint32_t c = 0; c < S; c++) {
		const struct rg_cls *k = &r->cls[c];

		if ((char *)p >= k->data && (char *)p < k->data + (uint64_t)k->count * k->size)
			return c;
	}
	fail_msg("%p is in no 64 B stripe", p);
	return UINT32_MAX;
}

static void test_steal_in_turn_and_free_home(void **state)
{
	struct fixture_region *f = *state;
	struct rg_region *r = f->r;
	const uint64_t me = rg_owner(3, 1);
	void *b[S * PER + 1];
	uint32_t seen[S] = { 0 };
	struct rg_region_stats st;

	rg_region_set_home(r, 3);
	for (uint32_t i = 0; i < S * PER; i++) {
		int cls = rg_class_for(r, 64, RG_POLICY_NEXT_FIT), rc = rg_slab_alloc(r, (uint32_t)cls, me, 0, &b[i]);

		assert_int_equal(rc == 0, i < PER); /* the home stripe, then empty */
		if (rc == -ENOMEM)
			rc = rg_slab_alloc_steal(r, (uint32_t)cls, me, 0, &b[i]);
		assert_int_equal(rc, 0);
		/* home first, then the next stripes in turn: 3, 0, 1, 2 */
		assert_int_equal(stripe_of(r, b[i]), (3 + i / PER) % S);
		seen[stripe_of(r, b[i])]++;
	}
	for (uint32_t c = 0; c < S; c++)
		assert_int_equal(seen[c], PER);
	rg_region_stats(r, &st);
	for (uint32_t c = 0; c < S; c++) /* every allocation found a block: none failed */
		assert_int_equal(st.cls[c].failed, 0);
	assert_int_equal(rg_slab_alloc(r, 3, me, 0, &b[S * PER]), -ENOMEM);
	assert_int_equal(rg_slab_alloc_steal(r, 3, me, 0, &b[S * PER]), -ENOMEM);
	assert_int_equal(rg_slab_alloc_steal(r, 2 * S, me, 0, &b[S * PER]), -EINVAL);
	rg_region_stats(r, &st);
	for (uint32_t c = 0; c < S; c++) /* one failure, counted once, at home */
		assert_int_equal(st.cls[c].failed, c == 3);
	assert_region_ok(r);
	for (uint32_t i = 0; i < S * PER; i++) /* each to its own stripe, found from its page */
		assert_int_equal(rg_slab_free(r, b[i], me), 0);
	rg_region_stats(r, &st);
	for (uint32_t c = 0; c < S; c++)
		assert_int_equal(st.cls[c].free, PER);
	assert_region_all_free(r);
	rg_region_set_home(r, 0);
}

static void test_corrupt_stripe_passed_over(void **state)
{
	struct fixture_region *f = *state;
	struct rg_region *r = f->r;
	const uint64_t me = rg_owner(1, 1);
	_Atomic uint64_t *head = &r->cls[2].ctl->head;
	uint64_t was = atomic_load(head);
	void *b[PER], *x;

	for (uint32_t i = 0; i < PER; i++) /* home stripe 1 empty */
		assert_int_equal(rg_slab_alloc(r, 1, me, 0, &b[i]), 0);
	atomic_store(head, (uint64_t)(PER + 7) << 32); /* a stray write: stripe 2's head out of range */
	assert_int_equal(rg_slab_alloc(r, 2, me, 0, &x), -EUCLEAN);
	assert_int_equal(rg_slab_alloc(r, 1, me, 0, &x), -ENOMEM);
	assert_int_equal(rg_slab_alloc_steal(r, 1, me, 0, &x), 0);
	assert_int_equal(stripe_of(r, x), 3);
	assert_int_equal(rg_slab_free(r, x, me), 0);
	atomic_store(head, was);
	for (uint32_t i = 0; i < PER; i++)
		assert_int_equal(rg_slab_free(r, b[i], me), 0);
	assert_region_all_free(r);
}

struct waiter {
	struct rg_region *r;
	uint32_t cls;
	int64_t timeout_ns;
	int rc;
	void *got;
	int64_t took_ns; /* how long the call took */
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;
	struct timespec abs, start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	abs = start;
	abs.tv_sec += w->timeout_ns / 1000000000;
	abs.tv_nsec += w->timeout_ns % 1000000000;
	if (abs.tv_nsec >= 1000000000) {
		abs.tv_sec++;
		abs.tv_nsec -= 1000000000;
	}
	w->rc = rg_slab_alloc_timed(w->r, w->cls, rg_owner(9, 1), 0, &abs, &w->got);
	clock_gettime(CLOCK_MONOTONIC, &now);
	w->took_ns = (now.tv_sec - start.tv_sec) * 1000000000ll + now.tv_nsec - start.tv_nsec;
	return NULL;
}

static uint32_t waiters_of(struct rg_region *r, uint32_t c)
{
	return atomic_load(&r->cls[c].ctl->waiters);
}

static void test_timed_woken_by_any_stripe(void **state)
{
	struct fixture_region *f = *state;
	struct rg_region *r = f->r;
	const uint64_t me = rg_owner(1, 1);
	void *b[S * PER];
	struct waiter w = { .r = r, .cls = 1, .timeout_ns = 30ll * 1000000000 };
	pthread_t t;

	for (uint32_t i = 0; i < S * PER; i++)
		assert_int_equal(rg_slab_alloc(r, i / PER, me, 0, &b[i]), 0);
	/* nothing freed: the timeout, and no waiter left behind */
	w.timeout_ns = 20 * 1000000;
	wait_thread(&w);
	assert_int_equal(w.rc, -ETIMEDOUT);
	for (uint32_t c = 0; c < S; c++)
		assert_int_equal(waiters_of(r, c), 0);
	/* a free in stripe 3 wakes a waiter whose home is stripe 1 (with the
	 * wake missed it would sleep its 30 s and say -ETIMEDOUT) */
	w.timeout_ns = 30ll * 1000000000;
	assert_int_equal(pthread_create(&t, NULL, wait_thread, &w), 0);
	while (waiters_of(r, 3) == 0)
		usleep(1000);
	usleep(20000); /* past its re-check, into the wait (a free before it is found by the re-check) */
	assert_int_equal(rg_slab_free(r, b[3 * PER], me), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(w.rc, 0);
	assert_ptr_equal(w.got, b[3 * PER]);
	for (uint32_t c = 0; c < S; c++)
		assert_int_equal(waiters_of(r, c), 0);
	assert_int_equal(rg_slab_free(r, w.got, rg_owner(9, 1)), 0);
	for (uint32_t i = 0; i < S * PER; i++)
		if (i != 3 * PER)
			assert_int_equal(rg_slab_free(r, b[i], me), 0);
	assert_region_all_free(r);
}

/* Two waiters with different homes, all stripes empty, then frees in two
 * stripes close together: both must get a block. A wake of one waiter could
 * go to the waiter the first free already woke (it sleeps on every stripe),
 * and the second would sleep on beside a free block. */
static void test_two_waiters_two_frees(void **state)
{
	struct fixture_region *f = *state;
	struct rg_region *r = f->r;
	const uint64_t me = rg_owner(1, 1);
	void *b[S * PER];

	for (uint32_t i = 0; i < S * PER; i++)
		assert_int_equal(rg_slab_alloc(r, i / PER, me, 0, &b[i]), 0);
	for (unsigned round = 0; round < 60; round++) {
		struct waiter w[2] = { { .r = r, .cls = 0, .timeout_ns = 10ll * 1000000000 },
				       { .r = r, .cls = 1, .timeout_ns = 10ll * 1000000000 } };
		pthread_t t[2];

		for (unsigned i = 0; i < 2; i++)
			assert_int_equal(pthread_create(&t[i], NULL, wait_thread, &w[i]), 0);
		while (waiters_of(r, 0) < 2 || waiters_of(r, 1) < 2)
			usleep(500);
		usleep(5000); /* into their waits */
		assert_int_equal(rg_slab_free(r, b[0], me), 0);
		assert_int_equal(rg_slab_free(r, b[PER], me), 0);
		for (unsigned i = 0; i < 2; i++) {
			assert_int_equal(pthread_join(t[i], NULL), 0);
			assert_int_equal(w[i].rc, 0);
			/* woken by the free, not by its deadline's last look */
			assert_in_range(w[i].took_ns, 0, w[i].timeout_ns / 2);
		}
		for (unsigned i = 0; i < 2; i++) /* back to stripes 0 and 1, and taken again */
			assert_int_equal(rg_slab_free(r, w[i].got, rg_owner(9, 1)), 0);
		assert_int_equal(rg_slab_alloc(r, 0, me, 0, &b[0]), 0);
		assert_int_equal(rg_slab_alloc(r, 1, me, 0, &b[PER]), 0);
	}
	for (uint32_t i = 0; i < S * PER; i++)
		assert_int_equal(rg_slab_free(r, b[i], me), 0);
	assert_region_all_free(r);
}

#define THREADS 4
#define ROUNDS 20000

struct worker {
	struct rg_region *r;
	uint64_t owner;
	uint32_t home;
	unsigned stolen, full;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	void *held[5];

	for (unsigned i = 0; i < ROUNDS; i++) {
		unsigned n = 0;

		/* five at once from stripes of four: each thread steals, and
		 * at times all 16 are held and the pool says -ENOMEM */
		for (; n < 5; n++) {
			int rc = rg_slab_alloc(w->r, w->home, w->owner, 0, &held[n]);

			if (rc == -ENOMEM) {
				rc = rg_slab_alloc_steal(w->r, w->home, w->owner, 0, &held[n]);
				w->stolen += rc == 0;
			}
			if (rc != 0) {
				w->full++;
				break;
			}
			*(uint64_t *)held[n] = w->owner; /* ours alone while held */
		}
		while (n--) {
			if (*(uint64_t *)held[n] != w->owner || rg_slab_free(w->r, held[n], w->owner) != 0)
				return (void *)1;
		}
	}
	return NULL;
}

static void test_threads_with_homes(void **state)
{
	struct fixture_region *f = *state;
	struct worker w[THREADS];
	pthread_t t[THREADS];
	unsigned stolen = 0;
	uint64_t full = 0, failed = 0;
	struct rg_region_stats st;

	for (unsigned i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .r = f->r, .owner = rg_owner(i + 1, 1), .home = (i + 1) % S };
		assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (unsigned i = 0; i < THREADS; i++) {
		void *rv;

		assert_int_equal(pthread_join(t[i], &rv), 0);
		assert_null(rv); /* no block held twice, no free refused */
		stolen += w[i].stolen;
		full += w[i].full;
	}
	rg_region_stats(f->r, &st);
	for (uint32_t c = 0; c < S; c++)
		failed += st.cls[c].failed;
	print_message("# %u blocks stolen from other stripes, %llu allocations found none\n", stolen,
		      (unsigned long long)full);
	assert_true(stolen > 0);
	assert_int_equal(failed, full); /* each counted once, whatever the steals tried */
	assert_region_all_free(f->r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_description),
		cmocka_unit_test_setup_teardown(test_home_in_size_table_and_past_it, setup, teardown),
		cmocka_unit_test_setup_teardown(test_steal_in_turn_and_free_home, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_stripe_passed_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timed_woken_by_any_stripe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_waiters_two_frees, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads_with_homes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
