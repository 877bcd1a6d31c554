/* SPDX-License-Identifier: MIT */
/*
 * test_memtest.c - the daemon's memory tester (daemon/memtest.c), built with
 * fault injection (rtmemd_memtest_inject): clean pools pass; an injected
 * fault is detected, quarantined, reported, persisted and still excluded
 * after a restart; the budget holds (fake clock, no timing); stop is prompt
 * and returns the block; an allocating thread never fails because of the
 * tester; the bad-block file survives malformed lines; physical addresses.
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

#include "cfg.h"
#include "memtest.h"
#include "region_fixture.h"

/* ---------------------------------------------------------------- fixture */

struct env {
	struct rg_pool_desc d;
	void *mem;
	size_t size;
	struct rg_region *r;
	char dir[64];
	/* events, written by the tester thread */
	pthread_mutex_t lock;
	unsigned nfault, npass, nwarn;
	char last_fault[512], last_warn[512];
	struct memtest_status first_pass;
	struct memtest *mt;
};

static void on_event(void *arg, const struct memtest_event *ev)
{
	struct env *e = arg;

	pthread_mutex_lock(&e->lock);
	if (ev->kind == MEMTEST_EV_FAULT) {
		e->nfault++;
		snprintf(e->last_fault, sizeof(e->last_fault), "%s", ev->msg);
	} else if (ev->kind == MEMTEST_EV_PASS) {
		if (!e->npass++)
			memtest_status(e->mt, &e->first_pass);
	} else {
		e->nwarn++;
		snprintf(e->last_warn, sizeof(e->last_warn), "%s", ev->msg);
	}
	pthread_mutex_unlock(&e->lock);
	printf("# event %d: %s\n", ev->kind, ev->msg);
}

static void env_map_desc(struct env *e, const struct rg_pool_desc *d)
{
	e->d = *d;
	e->mem = fixture_map(&e->d, &e->size);
	assert_non_null(e->mem);
	assert_int_equal(rg_region_attach(e->mem, e->size, &e->r), 0);
}

static void env_map(struct env *e)
{
	e->d = fixture_desc();
	e->mem = fixture_map(&e->d, &e->size);
	assert_non_null(e->mem);
	assert_int_equal(rg_region_attach(e->mem, e->size, &e->r), 0);
}

static void env_unmap(struct env *e)
{
	rg_region_detach(e->r);
	munmap(e->mem, e->size);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	if (!e)
		return -1;
	pthread_mutex_init(&e->lock, NULL);
	snprintf(e->dir, sizeof(e->dir), "/tmp/test_memtest.XXXXXX");
	if (!mkdtemp(e->dir))
		return -1;
	env_map(e);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	char p[128];

	memtest_destroy(e->mt);
	env_unmap(e);
	snprintf(p, sizeof(p), "%s/badblocks", e->dir);
	unlink(p);
	rmdir(e->dir);
	pthread_mutex_destroy(&e->lock);
	free(e);
	return 0;
}

/* A fast configuration: MATS+ over two backgrounds, no budget to speak of. */
static struct memtest_config fast_config(void)
{
	struct memtest_config c;

	memtest_config_default(&c);
	assert_int_equal(march_builtin_compile("MATS+", &c.progs[0]), 0);
	snprintf(c.names[0], MEMTEST_NAME_MAX, "MATS+");
	c.nbgs = 2;
	c.bandwidth = UINT64_MAX / 4;
	c.period_ms = 0;
	c.slice_bytes = 4096;
	c.policy = SCHED_OTHER;
	return c;
}

static void env_create(struct env *e, const struct memtest_config *c)
{
	struct memtest_pool p = { .name = "p", .region = e->r, .base = e->mem, .size = e->size };

	assert_int_equal(memtest_create(c, &p, 1, e->dir, on_event, e, &e->mt), 0);
}

static uint64_t sum_checkout(struct rg_region *r, uint64_t *ret_bad)
{
	struct rg_region_stats s;
	uint64_t co = 0, bad = 0;

	rg_region_stats(r, &s);
	for (uint32_t c = 0; c < s.nclasses; c++) {
		co += s.cls[c].checkout;
		bad += s.cls[c].bad;
	}
	for (uint32_t k = 0; k <= RG_MAX_ORDER; k++) {
		co += s.order[k].checkout;
		bad += s.order[k].bad;
	}
	if (ret_bad)
		*ret_bad = bad;
	return co;
}

static void wait_passes(struct env *e, uint64_t n)
{
	struct memtest_status st;

	for (int i = 0; i < 60000; i++) { /* 60 s at most, for valgrind and qemu */
		memtest_status(e->mt, &st);
		if (st.passes >= n)
			return;
		usleep(1000);
	}
	fail_msg("no %llu passes after 60 s", (unsigned long long)n);
}

/* Offset of block @idx of slab class @cls (classes are laid out in order). */
static uint64_t slab_off(struct rg_region *r, uint32_t cls, uint32_t idx)
{
	struct rg_region_stats s;
	uint64_t off = 0, o = 0, l;

	rg_region_stats(r, &s);
	for (uint32_t c = 0; c <= cls; c++) {
		assert_int_equal(rg_region_next_block(r, off, &o, &l), 0);
		assert_int_equal(l, s.cls[c].size);
		off = o + s.cls[c].count * l;
	}
	return o + (uint64_t)idx * s.cls[cls].size;
}

/* Offset of the first buddy block: right after the last slab class. */
static uint64_t buddy_off(struct rg_region *r)
{
	uint64_t o, l;

	assert_int_equal(rg_region_next_block(r, slab_off(r, 2, 8), &o, &l), 0);
	return o;
}

/* Allocate every block of slab class @cls (or every 64 B buddy block if
 * @cls < 0); none may hold byte @bad; free them again. Return: how many. */
static unsigned alloc_all_avoids(struct rg_region *r, int cls, uint64_t bad)
{
	static void *held[4096];
	uint8_t *base = rg_region_base(r);
	unsigned n = 0;
	void *p;

	while (n < 4096 && (cls >= 0 ? rg_slab_alloc(r, (uint32_t)cls, rg_owner(1, 1), 0, &p)
				     : rg_buddy_alloc(r, 64, rg_owner(1, 1), 0, &p)) == 0) {
		uint64_t off = (uint64_t)((uint8_t *)p - base);

		if (bad >= off && bad < off + rg_region_block_size(r, p))
			fail_msg("allocation returned the quarantined block at %#llx", (unsigned long long)off);
		held[n++] = p;
	}
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(rg_region_free(r, held[i], rg_owner(1, 1), NULL), 0);
	return n;
}

static char *slurp(const char *dir)
{
	static char buf[8192];
	char p[128];
	FILE *f;
	size_t n;

	snprintf(p, sizeof(p), "%s/badblocks", dir);
	f = fopen(p, "r");
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static void spit(const char *dir, const char *text)
{
	char p[128];
	FILE *f;

	snprintf(p, sizeof(p), "%s/badblocks", dir);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* ------------------------------------------------------------------ tests */

static void test_memtest_clean_pool_passes(void **state)
{
	struct env *e = *state;
	struct memtest_config c = fast_config();
	struct memtest_status st;
	uint64_t bad, off = slab_off(e->r, 2, 3), len;

	env_create(e, &c);
	assert_int_equal(memtest_start(e->mt), 0);
	assert_int_equal(memtest_start(e->mt), -EALREADY);
	wait_passes(e, 2);
	assert_int_equal(memtest_stop(e->mt), 0);
	assert_int_equal(memtest_stop(e->mt), -ESRCH);
	memtest_status(e->mt, &st);
	assert_false(st.running);
	assert_int_equal(st.faults_total, 0);
	assert_int_equal(e->nfault, 0);
	assert_true(st.blocks_tested >= 2 * (100 + 40 + 8 + 4));
	assert_true(st.bytes_tested > 2 * 64 * 1024);
	assert_true(st.bytes_touched >= st.bytes_tested * 5 * 2);
	assert_string_equal(st.pool, "p");
	assert_string_equal(st.algorithm, "MATS+");
	assert_int_equal(sum_checkout(e->r, &bad), 0);
	assert_int_equal(bad, 0);
	assert_region_ok(e->r);
	/* a block reclaimed from a dead client, tested before reuse */
	assert_int_equal(rg_region_checkout(e->r, off, &len), 0);
	assert_int_equal(memtest_test_block_now(e->mt, 0, off), 0);
	assert_int_equal(rg_region_checkin(e->r, off), 0);
	assert_int_equal(memtest_test_block_now(e->mt, 1, off), -EINVAL);
	assert_null(slurp(e->dir)); /* no fault, no file */
}

/* Injected fault at @bad, bit 17: the whole path, then a restart. */
static void fault_path(struct env *e, uint64_t bad, int cls)
{
	struct memtest_config c = fast_config();
	struct memtest_status st;
	char want[64], *file;
	uint64_t nbad;
	unsigned before = alloc_all_avoids(e->r, cls, UINT64_MAX), mal = 9;

	env_create(e, &c);
	assert_int_equal(memtest_inject(e->mt, 0, bad + 5, 17), 0); /* rounded down to the word */
	assert_int_equal(memtest_start(e->mt), 0);
	wait_passes(e, 2);
	assert_int_equal(memtest_stop(e->mt), 0);
	/* detected and reported */
	memtest_status(e->mt, &st);
	assert_int_equal(st.faults_total, 1);
	assert_int_equal(st.nfaults, 1);
	assert_string_equal(st.faults[0].pool, "p");
	assert_int_equal(st.faults[0].offset, bad);
	assert_int_equal(st.faults[0].xor_, 1ull << 17);
	assert_int_equal(st.faults[0].expected ^ st.faults[0].actual, 1ull << 17);
	assert_false(st.faults[0].read_error); /* the injected cell reads wrong again */
	assert_false(st.faults[0].phys_valid);
	assert_int_equal(st.faults[0].quarantine, 0);
	assert_string_equal(st.faults[0].algorithm, "MATS+");
	assert_int_equal(e->nfault, 1);
	assert_non_null(strstr(e->last_fault, "block quarantined"));
	assert_non_null(strstr(e->last_fault, "physical address unavailable"));
	assert_non_null(strstr(e->last_fault, "stored fault"));
	/* quarantined */
	assert_int_equal(sum_checkout(e->r, &nbad), 0);
	assert_int_equal(nbad, 1);
	assert_int_equal(alloc_all_avoids(e->r, cls, bad), before - 1);
	assert_region_ok(e->r);
	/* persisted */
	file = slurp(e->dir);
	assert_non_null(file);
	snprintf(want, sizeof(want), "\np %#llx phys=none ", (unsigned long long)bad);
	assert_non_null(strstr(file, want));
	assert_non_null(strstr(file, " xor=0x0000000000020000 kind=stored alg=MATS+ "));
	/* restart: a fresh region, the list loaded again */
	memtest_destroy(e->mt);
	e->mt = NULL;
	env_unmap(e);
	env_map(e);
	env_create(e, &c);
	assert_int_equal(memtest_load_badblocks(e->mt, &mal), 1);
	assert_int_equal(mal, 0);
	assert_int_equal(sum_checkout(e->r, &nbad), 0);
	assert_int_equal(nbad, 1);
	assert_int_equal(alloc_all_avoids(e->r, cls, bad), before - 1);
	assert_region_ok(e->r);
}

static void test_memtest_injected_fault_slab(void **state)
{
	struct env *e = *state;

	fault_path(e, slab_off(e->r, 1, 5) + 24, 1);
}

static void test_memtest_injected_fault_buddy(void **state)
{
	struct env *e = *state;

	fault_path(e, buddy_off(e->r) + 16384 + 1000 - 1000 % 8, -1);
}

/*
 * A buddy area in arenas (buddy_arena): the tester takes whole FREE arenas,
 * and a bad cell quarantines its whole arena, which no client leases again,
 * also after a restart that loads the bad-block list.
 */
static void test_memtest_injected_fault_buddy_arena(void **state)
{
	struct env *e = *state;
	struct rg_pool_desc d = fixture_desc();
	struct memtest_config c = fast_config();
	struct memtest_status st;
	uint64_t nbad, bad;
	unsigned mal = 9;

	d.buddy.max_order = 12;
	d.buddy.arena_order = 12; /* 16 arenas of 4 KiB, 64 blocks of 64 B each */
	env_unmap(e);
	env_map_desc(e, &d);
	bad = buddy_off(e->r) + 3 * 4096 + 1000;
	assert_int_equal(alloc_all_avoids(e->r, -1, UINT64_MAX), 16 * 64);
	env_create(e, &c);
	assert_int_equal(memtest_inject(e->mt, 0, bad, 17), 0);
	assert_int_equal(memtest_start(e->mt), 0);
	wait_passes(e, 2);
	assert_int_equal(memtest_stop(e->mt), 0);
	memtest_status(e->mt, &st);
	assert_int_equal(st.faults_total, 1);
	assert_int_equal(st.faults[0].offset, bad);
	assert_non_null(strstr(e->last_fault, "block quarantined"));
	assert_int_equal(sum_checkout(e->r, &nbad), 0);
	assert_int_equal(nbad, 1); /* one arena, counted as one largest block */
	assert_int_equal(alloc_all_avoids(e->r, -1, bad), 15 * 64);
	assert_region_ok(e->r);
	memtest_destroy(e->mt);
	e->mt = NULL;
	env_unmap(e);
	env_map_desc(e, &d);
	env_create(e, &c);
	assert_int_equal(memtest_load_badblocks(e->mt, &mal), 1);
	assert_int_equal(mal, 0);
	assert_int_equal(alloc_all_avoids(e->r, -1, bad), 15 * 64);
	assert_region_ok(e->r);
}

struct fake {
	_Atomic uint64_t now, slept;
	atomic_uint nsleep;
};

static uint64_t fake_now(void *a)
{
	return atomic_load(&((struct fake *)a)->now);
}

static void fake_sleep(void *a, uint64_t ns)
{
	struct fake *f = a;

	atomic_fetch_add(&f->now, ns);
	atomic_fetch_add(&f->slept, ns);
	atomic_fetch_add(&f->nsleep, 1);
}

static void test_memtest_budget_respected(void **state)
{
	struct env *e = *state;
	struct fake f = { 0 };
	struct memtest_clock clk = { fake_now, fake_sleep, &f };
	struct memtest_config c = fast_config();
	uint64_t bw = 1u << 20, cost_ns, pass_ns;

	c.bandwidth = bw;
	c.period_ms = 500; /* a pass needs about 1.1 s of fake time: warned at start and after it */
	c.clock = &clk;
	env_create(e, &c);
	assert_int_equal(memtest_start(e->mt), 0);
	wait_passes(e, 1);
	assert_int_equal(memtest_stop(e->mt), 0);
	/* the work itself takes no fake time: a pass lasts exactly its sleeps */
	pthread_mutex_lock(&e->lock);
	cost_ns = (uint64_t)((unsigned __int128)e->first_pass.bytes_touched * 1000000000u / bw);
	pass_ns = e->first_pass.pass_ms * 1000000u;
	pthread_mutex_unlock(&e->lock);
	printf("# %llu bytes touched in a pass of %llu ms of fake time at %llu B/s, %u sleeps\n",
	       (unsigned long long)e->first_pass.bytes_touched, (unsigned long long)e->first_pass.pass_ms,
	       (unsigned long long)bw, atomic_load(&f.nsleep));
	assert_true(e->first_pass.bytes_touched > 1000000);
	assert_true(pass_ns <= cost_ns);                /* never faster than the budget */
	assert_true(pass_ns + 2000000 > cost_ns);       /* and not much slower */
	assert_true(atomic_load(&f.nsleep) > 10);
	assert_true(e->first_pass.sleep_ms * 1000000u <= cost_ns);
	assert_true(e->first_pass.pass_estimate_ms * 1000000u + 50000000u >= cost_ns);
	assert_int_equal(sum_checkout(e->r, NULL), 0);
	assert_true(e->nwarn >= 2);
	assert_non_null(strstr(e->last_warn, "longer than the period of 0.5 s"));
}

static uint64_t ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)((t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000);
}

static void test_memtest_stop_is_prompt_and_returns_block(void **state)
{
	struct env *e = *state;
	struct memtest_config c = fast_config();
	struct memtest_status st;
	struct timespec t0;
	int i;

	/* inside a 60 s retention delay, holding the block */
	assert_int_equal(march_builtin_compile("Bit fade", &c.progs[0]), 0);
	snprintf(c.names[0], MEMTEST_NAME_MAX, "Bit fade");
	c.delay_ms = 60000;
	env_create(e, &c);
	assert_int_equal(memtest_start(e->mt), 0);
	for (i = 0; i < 10000 && sum_checkout(e->r, NULL) != 1; i++)
		usleep(1000);
	assert_int_equal(sum_checkout(e->r, NULL), 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(memtest_stop(e->mt), 0);
	printf("# stop inside a retention delay took %llu ms\n", (unsigned long long)ms_since(&t0));
	assert_true(ms_since(&t0) < 5000);
	assert_int_equal(sum_checkout(e->r, NULL), 0);
	assert_region_ok(e->r);
	memtest_destroy(e->mt);

	/* inside a budget sleep: 64 bytes per second */
	c = fast_config();
	c.bandwidth = 64;
	env_create(e, &c);
	assert_int_equal(memtest_start(e->mt), 0);
	for (i = 0; i < 10000; i++) {
		memtest_status(e->mt, &st);
		if (st.bytes_touched)
			break;
		usleep(1000);
	}
	assert_true(st.bytes_touched > 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(memtest_stop(e->mt), 0);
	assert_true(ms_since(&t0) < 5000);
	assert_int_equal(sum_checkout(e->r, NULL), 0);
	memtest_status(e->mt, &st);
	assert_int_equal(st.blocks_tested, 1); /* the 5 s sleep was cut short */
}

struct rt_arg {
	struct env *e;
	atomic_bool stop, ready;
	long iters, failures;
};

/* An RT-like client: class 0 with one free block, class 1 with two. */
static void *rt_client(void *p)
{
	struct rt_arg *a = p;
	struct rg_region *r = a->e->r;
	static void *held0[100], *held1[40];
	uint64_t me = rg_owner(2, 1);
	void *x;

	for (unsigned i = 0; i < 99; i++)
		if (rg_slab_alloc(r, 0, me, 0, &held0[i]))
			a->failures++;
	for (unsigned i = 0; i < 38; i++)
		if (rg_slab_alloc(r, 1, me, 0, &held1[i]))
			a->failures++;
	atomic_store(&a->ready, true);
	while (!atomic_load(&a->stop)) {
		for (uint32_t c = 0; c < 2; c++) {
			if (rg_slab_alloc(r, c, me, 0, &x) == 0)
				rg_slab_free(r, x, me);
			else
				a->failures++;
		}
		a->iters++;
	}
	for (unsigned i = 0; i < 99; i++)
		rg_slab_free(r, held0[i], me);
	for (unsigned i = 0; i < 38; i++)
		rg_slab_free(r, held1[i], me);
	return NULL;
}

static void test_memtest_rt_client_never_fails_near_full(void **state)
{
	struct env *e = *state;
	struct memtest_config c = fast_config();
	struct rt_arg a = { .e = e };
	struct memtest_status st;
	pthread_t th;

	env_create(e, &c);
	assert_int_equal(pthread_create(&th, NULL, rt_client, &a), 0);
	while (!atomic_load(&a.ready)) /* the pool near full first, then the tester */
		usleep(1000);
	assert_int_equal(memtest_start(e->mt), 0);
	wait_passes(e, 3);
	atomic_store(&a.stop, true);
	pthread_join(th, NULL);
	assert_int_equal(memtest_stop(e->mt), 0);
	memtest_status(e->mt, &st);
	printf("# client: %ld alloc/free rounds, %ld failures; tester: %llu blocks tested, "
	       "%llu busy, %llu spared\n", a.iters, a.failures, (unsigned long long)st.blocks_tested,
	       (unsigned long long)st.blocks_busy, (unsigned long long)st.blocks_spared);
	assert_int_equal(a.failures, 0);
	assert_true(st.blocks_tested > 0);
	assert_int_equal(sum_checkout(e->r, NULL), 0);
	assert_region_ok(e->r);
}

static void test_memtest_badblocks_malformed_lines(void **state)
{
	struct env *e = *state;
	struct memtest_config c = fast_config();
	uint64_t good = slab_off(e->r, 0, 7), other = slab_off(e->r, 2, 1), len, nbad;
	char text[2048], longline[700], *file;
	unsigned mal = 0;

	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = 0;
	snprintf(text, sizeof(text),
		 "# a comment\n"
		 "p %#llx phys=none alg=March_C-\n" /* 2: good */
		 "p notanumber\n"                  /* 3: malformed */
		 "p\n"                             /* 4: malformed */
		 "nosuchpool 0x100\n"              /* 5: kept, warned */
		 "p 0x10 phys=zz\n"                /* 6: malformed */
		 "%s\n"                            /* 7: too long */
		 "\n"
		 "p %#llx\n"                       /* 9: the same block again */
		 "p 0x10",                         /* 10: metadata, not a block; no newline */
		 (unsigned long long)good, longline, (unsigned long long)good + 8);
	spit(e->dir, text);
	env_create(e, &c);
	assert_int_equal(memtest_load_badblocks(e->mt, &mal), 1);
	assert_int_equal(mal, 4);
	assert_int_equal(sum_checkout(e->r, &nbad), 0);
	assert_int_equal(nbad, 1);
	assert_non_null(strstr(e->last_warn, "badblocks:10: pool \"p\" offset 0x10: cannot quarantine"));
	assert_int_equal(e->nwarn, 6);
	assert_string_equal(slurp(e->dir), text); /* nothing lost */
	/* a new fault keeps every old line */
	assert_int_equal(memtest_inject(e->mt, 0, other + 64, 0), 0);
	assert_int_equal(rg_region_checkout(e->r, other, &len), 0);
	assert_int_equal(memtest_test_block_now(e->mt, 0, other), MEMTEST_FAULT);
	assert_int_equal(rg_region_checkin(e->r, other), -EINVAL); /* quarantined */
	file = slurp(e->dir);
	assert_memory_equal(file, text, strlen(text));
	assert_non_null(strstr(file + strlen(text), "p 0x"));
	assert_int_equal(sum_checkout(e->r, &nbad), 0);
	assert_int_equal(nbad, 2);
	assert_region_ok(e->r);
}

static void test_memtest_badblocks_missing_file(void **state)
{
	struct env *e = *state;
	struct memtest_config c = fast_config();
	struct memtest_pool p = { .name = "p", .region = e->r, .base = e->mem, .size = e->size };
	struct memtest *mt;
	unsigned mal = 9;

	env_create(e, &c);
	assert_int_equal(memtest_load_badblocks(e->mt, &mal), 0);
	assert_int_equal(mal, 0);
	/* no state directory: nothing loaded, nothing written */
	assert_int_equal(memtest_create(&c, &p, 1, NULL, NULL, NULL, &mt), 0);
	assert_int_equal(memtest_load_badblocks(mt, NULL), 0);
	memtest_destroy(mt);
	/* an unreadable list is an error */
	assert_int_equal(memtest_create(&c, &p, 1, "/proc/self/mem/", NULL, NULL, &mt), 0);
	assert_true(memtest_load_badblocks(mt, NULL) < 0);
	memtest_destroy(mt);
}

static void test_memtest_phys_table(void **state)
{
	struct env *e = *state;
	static const uint64_t pfns[] = { 0, 100, 101, 102, 0, 7, 500 };
	struct memtest_phys *ph;
	uint64_t a;

	assert_int_equal(memtest_phys_from_pfns(pfns, 7, 4096, &ph), 0);
	assert_true(memtest_phys_available(ph));
	assert_false(memtest_phys_lookup(ph, 5, &a));
	assert_true(memtest_phys_lookup(ph, 4096 + 5, &a));
	assert_int_equal(a, 100 * 4096 + 5);
	assert_true(memtest_phys_lookup(ph, 3 * 4096, &a));
	assert_int_equal(a, 102 * 4096);
	assert_false(memtest_phys_lookup(ph, 4 * 4096 + 8, &a));
	assert_true(memtest_phys_lookup(ph, 6 * 4096 + 8, &a));
	assert_int_equal(a, 500 * 4096 + 8);
	assert_false(memtest_phys_lookup(ph, 7 * 4096, &a));
	assert_true(memtest_phys_reverse(ph, 101 * 4096 + 3, &a));
	assert_int_equal(a, 2 * 4096 + 3);
	assert_false(memtest_phys_reverse(ph, 9999 * 4096, &a));
	memtest_phys_free(ph);
	assert_int_equal(memtest_phys_from_pfns(pfns, 1, 4096, &ph), 0);
	assert_false(memtest_phys_available(ph));
	memtest_phys_free(ph);
	assert_int_equal(memtest_phys_from_pfns(pfns, 1, 1000, &ph), -EINVAL);
	assert_int_equal(memtest_resolve_phys((char *)e->mem + 1, 4096, &ph), -EINVAL);
	/* the real thing: frames only with CAP_SYS_ADMIN */
	assert_int_equal(memtest_resolve_phys(e->mem, e->size, &ph), 0);
	printf("# pagemap: %s\n", memtest_phys_available(ph) ? "physical addresses available"
							      : "physical address unavailable (no CAP_SYS_ADMIN)");
	if (memtest_phys_available(ph))
		assert_true(memtest_phys_lookup(ph, 0, &a));
	memtest_phys_free(ph);
	assert_false(memtest_phys_available(NULL));
	memtest_phys_free(NULL);
}

/* After a restart the pool's pages are other frames: the list names the
 * physical cell, which is quarantined where it is now. */
static void test_memtest_badblocks_follow_physical_address(void **state)
{
	struct env *e = *state;
	struct memtest_config c = fast_config();
	size_t npages = e->size / 4096, j = (size_t)(buddy_off(e->r) / 4096) + 1;
	uint64_t *pfns = calloc(npages, sizeof(*pfns)), nbad, where = j * 4096 + 0x88;
	struct memtest_pool p = { .name = "p", .region = e->r, .base = e->mem, .size = e->size };
	char text[256];

	assert_non_null(pfns);
	for (size_t i = 0; i < npages; i++)
		pfns[i] = 5000 + i;
	pfns[j] = 1000;
	assert_int_equal(memtest_phys_from_pfns(pfns, npages, 4096, &p.phys), 0);
	free(pfns);
	snprintf(text, sizeof(text), "p 0x100 phys=%#llx\nq 0x200 phys=0x999000\n",
		 (unsigned long long)(1000 * 4096 + 0x88));
	spit(e->dir, text);
	assert_int_equal(memtest_create(&c, &p, 1, e->dir, on_event, e, &e->mt), 0);
	assert_int_equal(memtest_load_badblocks(e->mt, NULL), 1);
	assert_int_equal(e->nwarn, 0);
	assert_int_equal(sum_checkout(e->r, &nbad), 0);
	assert_int_equal(nbad, 1);
	assert_int_equal(alloc_all_avoids(e->r, -1, where), 1023);
}

static void test_memtest_config_from_cfg(void **state)
{
	static const char bad[] = "[memtest]\nenabled = yes\nalgorithms = March C-, Marsh X\n"
				  "[pool a]\nslab = 64x16\n";
	static const char good[] = "[memtest]\nalgorithms = mats+, GALPAT\nbackgrounds = 0x0, 0xff\n"
				   "bandwidth = 2M\npolicy = batch\n[pool a]\nslab = 64x16\n";
	struct memtest_config c;
	struct cfg_error err;
	struct cfg *cfg;

	(void)state;
	assert_int_equal(cfg_parse(bad, sizeof(bad) - 1, "t.conf", CFG_NO_RESOLVE, &cfg, &err), 0);
	assert_int_equal(memtest_config_from_cfg(cfg, &c, &err), -ENOENT);
	printf("# %s\n", err.msg);
	assert_non_null(strstr(err.msg, "t.conf:3:"));
	assert_non_null(strstr(err.msg, "\"Marsh X\""));
	cfg_free(cfg);
	assert_int_equal(cfg_parse(good, sizeof(good) - 1, "t.conf", CFG_NO_RESOLVE, &cfg, &err), 0);
	assert_int_equal(memtest_config_from_cfg(cfg, &c, &err), 0);
	assert_int_equal(c.nalgos, 2);
	assert_string_equal(c.names[0], "MATS+");
	assert_string_equal(c.names[1], "GALPAT");
	assert_int_equal(c.nbgs, 2);
	assert_int_equal(c.bgs[1].pattern, 0xff);
	assert_int_equal(c.bandwidth, 2u << 20);
	assert_int_equal(c.policy, SCHED_BATCH);
	cfg_free(cfg);
}

static void test_memtest_create_rejects_bad_arguments(void **state)
{
	struct env *e = *state;
	struct memtest_config c = fast_config();
	struct memtest_pool p = { .name = "p", .region = e->r, .base = e->mem, .size = e->size };
	struct memtest *mt = NULL;

	assert_int_equal(memtest_create(&c, NULL, 1, NULL, NULL, NULL, &mt), -EINVAL);
	assert_int_equal(memtest_create(&c, &p, 0, NULL, NULL, NULL, &mt), -EINVAL);
	c.bandwidth = 0;
	assert_int_equal(memtest_resolve_phys(e->mem, e->size, &p.phys), 0); /* taken even on failure */
	assert_int_equal(memtest_create(&c, &p, 1, NULL, NULL, NULL, &mt), -EINVAL);
	p.phys = NULL;
	c = fast_config();
	c.nbgs = 0;
	assert_int_equal(memtest_create(&c, &p, 1, NULL, NULL, NULL, &mt), -EINVAL);
	c = fast_config();
	c.slice_bytes = 64; /* not more than twice the overlap */
	assert_int_equal(memtest_create(&c, &p, 1, NULL, NULL, NULL, &mt), -EINVAL);
	assert_null(mt);
	assert_int_equal(memtest_inject(NULL, 0, 0, 0), -EINVAL);
	memtest_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_memtest_clean_pool_passes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memtest_injected_fault_slab, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memtest_injected_fault_buddy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memtest_injected_fault_buddy_arena, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memtest_budget_respected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memtest_stop_is_prompt_and_returns_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memtest_rt_client_never_fails_near_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memtest_badblocks_malformed_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memtest_badblocks_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memtest_phys_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memtest_badblocks_follow_physical_address, setup, teardown),
		cmocka_unit_test(test_memtest_config_from_cfg),
		cmocka_unit_test_setup_teardown(test_memtest_create_rejects_bad_arguments, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
