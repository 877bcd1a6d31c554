/* SPDX-License-Identifier: MIT */
/*
 * test_region_random.c - randomized differential test of the allocator core
 * against a reference model.
 *
 * The model knows, per min-block / slab block, who holds it. From that it
 * predicts every outcome: a slab allocation succeeds iff the class has a block
 * that is neither allocated, bad nor checked out; a buddy allocation of order j
 * succeeds iff some 2^j-aligned run of the area is entirely unheld (with
 * eager coalescing the free blocks are exactly the maximal aligned free runs);
 * frees fail with the right error; reclaim frees exactly the owner's blocks;
 * statistics match. The checker runs after every burst. Seeded; the seed is
 * printed (RTMEM_SEED replays it).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "region_fixture.h"
#include "fastpath.h"

#define NOWN 4
#define OPS 30000
#define BURST 64

enum { M_FREE, M_ALLOC, M_BAD, M_CHECKOUT };

struct held {
	void *p;
	uint64_t owner;
	size_t size;
	int cls; /* -1: buddy */
};

struct model {
	struct rg_region *r;
	char *base;
	uint8_t *slab[3];    /* per block: M_* */
	uint8_t *bud;        /* per min-block: M_* */
	uint64_t *bud_owner; /* per min-block of an ALLOC head */
	struct held held[4096];
	unsigned nheld;
	uint64_t checkout_off, checkout_len; /* the tester's one block, len 0 if none */
	unsigned seed;
};

static uint64_t owner_of(unsigned i)
{
	return rg_owner(1 + i, 7 + i);
}

static bool run_free(const struct model *m, uint64_t first, uint64_t n)
{
	for (uint64_t t = first; t < first + n; t++)
		if (m->bud[t] != M_FREE)
			return false;
	return true;
}

/* Largest order with an aligned, entirely free run, 0 if none. */
static uint32_t model_largest(const struct model *m)
{
	const struct rg_region *r = m->r;

	for (uint32_t k = r->max_order; k >= r->min_order; k--) {
		uint64_t n = 1ull << (k - r->min_order);

		for (uint64_t i = 0; i + n <= r->nmin; i += n)
			if (run_free(m, i, n))
				return k;
	}
	return 0;
}

static void mark(struct model *m, uint64_t off, uint64_t len, uint8_t st)
{
	if (off >= m->r->bdata_off) {
		uint64_t first = (off - m->r->bdata_off) >> m->r->min_order;

		for (uint64_t t = 0; t < len >> m->r->min_order; t++)
			m->bud[first + t] = st;
		return;
	}
	for (int c = 0; c < 3; c++) {
		const struct rg_cls *k = &m->r->cls[c];

		if (off >= RG_CLS_DATA_OFF(m->r, k) && off < RG_CLS_DATA_OFF(m->r, k) + (uint64_t)k->count * k->size)
			m->slab[c][(off - RG_CLS_DATA_OFF(m->r, k)) / k->size] = st;
	}
}

static uint8_t model_state(const struct model *m, uint64_t off)
{
	if (off >= m->r->bdata_off)
		return m->bud[(off - m->r->bdata_off) >> m->r->min_order];
	for (int c = 0; c < 3; c++) {
		const struct rg_cls *k = &m->r->cls[c];

		if (off >= RG_CLS_DATA_OFF(m->r, k) && off < RG_CLS_DATA_OFF(m->r, k) + (uint64_t)k->count * k->size)
			return m->slab[c][(off - RG_CLS_DATA_OFF(m->r, k)) / k->size];
	}
	fail_msg("offset %llu in no block (seed %u)", (unsigned long long)off, m->seed);
	return M_BAD;
}

static void op_slab_alloc(struct model *m, int c, unsigned o)
{
	const struct rg_cls *k = &m->r->cls[c];
	uint64_t avail = 0;
	void *p;
	int rc;

	for (uint32_t i = 0; i < k->count; i++)
		avail += m->slab[c][i] == M_FREE;
	rc = rg_slab_alloc(m->r, (uint32_t)c, owner_of(o), 0, &p);
	if (!avail) {
		assert_int_equal(rc, -ENOMEM);
		return;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(model_state(m, (uint64_t)((char *)p - m->base)), M_FREE);
	mark(m, (uint64_t)((char *)p - m->base), k->size, M_ALLOC);
	m->held[m->nheld++] = (struct held){ p, owner_of(o), k->size, c };
}

static void op_buddy_alloc(struct model *m, size_t size, unsigned o)
{
	uint32_t j = size <= 64 ? 6 : 64u - (uint32_t)__builtin_clzll(size - 1);
	uint32_t largest = model_largest(m);
	uint64_t off;
	void *p;
	int rc = rg_buddy_alloc(m->r, size, owner_of(o), 0, &p);

	if (largest < j) {
		assert_int_equal(rc, -ENOMEM);
		return;
	}
	assert_int_equal(rc, 0);
	off = (uint64_t)((char *)p - m->base);
	assert_int_equal((off - m->r->bdata_off) % (1ull << j), 0);
	assert_true(run_free(m, (off - m->r->bdata_off) >> 6, 1ull << (j - 6)));
	mark(m, off, 1ull << j, M_ALLOC);
	m->held[m->nheld++] = (struct held){ p, owner_of(o), 1ull << j, -1 };
}

static void op_free(struct model *m, unsigned h, int how)
{
	struct held x = m->held[h];

	if (how == 0) { /* wrong owner */
		assert_int_equal(rg_region_free(m->r, x.p, x.owner ^ 0x10000, NULL), -EPERM);
		return;
	}
	assert_int_equal(rg_region_free(m->r, x.p, x.owner, NULL), 0);
	mark(m, (uint64_t)((char *)x.p - m->base), x.size, M_FREE);
	m->held[h] = m->held[--m->nheld];
	if (how == 1) /* and again: a double free */
		assert_int_equal(rg_region_free(m->r, x.p, x.owner, NULL), -EALREADY);
}

static void op_reclaim(struct model *m, unsigned o)
{
	uint64_t bytes = 0, want_bytes = 0;
	long want = 0;

	for (unsigned h = 0; h < m->nheld;) {
		if (m->held[h].owner == owner_of(o)) {
			want++;
			want_bytes += m->held[h].size;
			mark(m, (uint64_t)((char *)m->held[h].p - m->base), m->held[h].size, M_FREE);
			m->held[h] = m->held[--m->nheld];
		} else {
			h++;
		}
	}
	assert_int_equal(rg_region_reclaim(m->r, owner_of(o), &bytes), want);
	assert_int_equal(bytes, want_bytes);
}

/* The tester: check out the next block of a sweep, then give it back or quarantine. */
static void op_tester(struct model *m, uint64_t at, bool fault)
{
	uint64_t off, len;
	int rc;

	if (m->checkout_len) {
		if (fault) {
			uint64_t bad = m->checkout_off + (at % m->checkout_len);
			uint64_t unit = m->checkout_off >= m->r->bdata_off ? 64 : m->checkout_len;

			assert_int_equal(rg_region_mark_bad(m->r, bad), 0);
			mark(m, m->checkout_off, m->checkout_len, M_FREE);
			mark(m, bad - (bad - m->checkout_off) % unit, unit, M_BAD);
		} else {
			assert_int_equal(rg_region_checkin(m->r, m->checkout_off), 0);
			mark(m, m->checkout_off, m->checkout_len, M_FREE);
		}
		m->checkout_len = 0;
		return;
	}
	if (rg_region_next_block(m->r, at % m->r->size, &off, &len) < 0)
		return;
	rc = rg_region_checkout(m->r, off, &len);
	if (model_state(m, off) != M_FREE || (off >= m->r->bdata_off && !run_free(m, (off - m->r->bdata_off) >> 6, len >> 6))) {
		assert_int_equal(rc, -EBUSY);
		return;
	}
	assert_int_equal(rc, 0);
	mark(m, off, len, M_CHECKOUT);
	m->checkout_off = off;
	m->checkout_len = len;
}

static void compare_stats(const struct model *m)
{
	struct rg_region_stats s;
	uint64_t busy = 0;
	uint32_t largest = model_largest(m);

	rg_region_stats(m->r, &s);
	for (uint64_t i = 0; i < m->r->nmin; i++)
		busy += m->bud[i] != M_FREE;
	assert_int_equal(s.buddy_free, (m->r->nmin - busy) << 6);
	assert_int_equal(s.buddy_largest_free, largest ? 1ull << largest : 0);
	for (int c = 0; c < 3; c++) {
		uint64_t n[4] = { 0 };

		for (uint32_t i = 0; i < m->r->cls[c].count; i++)
			n[m->slab[c][i]]++;
		assert_int_equal(s.cls[c].in_use, n[M_ALLOC]);
		assert_int_equal(s.cls[c].bad, n[M_BAD]);
		assert_int_equal(s.cls[c].checkout, n[M_CHECKOUT]);
		assert_int_equal(s.cls[c].free, n[M_FREE]);
	}
}

static void test_random_ops_match_model(void **state)
{
	struct rg_pool_desc d = fixture_desc();
	struct model *m = calloc(1, sizeof(*m));
	size_t size;
	void *mem = fixture_map(&d, &size);

	(void)state;
	m->seed = fixture_seed("differential");
	srand(m->seed);
	assert_int_equal(rg_region_attach(mem, size, &m->r), 0);
	m->base = mem;
	for (int c = 0; c < 3; c++)
		m->slab[c] = calloc(d.classes[c].count, 1);
	m->bud = calloc(m->r->nmin, 1);
	for (int op = 0; op < OPS; op++) {
		int x = rand() % 100;
		unsigned o = (unsigned)rand() % NOWN;

		if (x < 30)
			op_slab_alloc(m, rand() % 3, o);
		else if (x < 50)
			op_buddy_alloc(m, 1 + (size_t)rand() % (1u << (rand() % 15)), o);
		else if (x < 90 && m->nheld)
			op_free(m, (unsigned)rand() % m->nheld, rand() % 20);
		else if (x < 91)
			op_reclaim(m, o);
		else if (x < 99)
			op_tester(m, (uint64_t)rand() * 64, rand() % 50 == 0);
		if (op % BURST == BURST - 1) {
			assert_region_ok(m->r);
			compare_stats(m);
		}
	}
	assert_region_ok(m->r);
	rg_region_detach(m->r);
	for (int c = 0; c < 3; c++)
		free(m->slab[c]);
	free(m->bud);
	free(m);
	munmap(mem, size);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_ops_match_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
