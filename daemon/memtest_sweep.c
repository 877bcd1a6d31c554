/* SPDX-License-Identifier: MIT */
/*
 * memtest_sweep.c - one pass of the tester over the pools (the algorithm is
 * in memtest.c's head comment): a block at a time, in slices, and what
 * happens on a fault: record, quarantine, save, report.
 */
#include "memtest_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cacheflush.h"
#include "fault.h"

/* ------------------------------------------------------------ one slice */

#ifdef RTMEM_FAULT_INJECT
struct inj_mem {
	volatile uint64_t *w;
	size_t bad, s, e;
	uint64_t mask;
};

static uint64_t inj_read(void *ctx, size_t i)
{
	const struct inj_mem *c = ctx;

	return c->w[i] ^ (i == c->bad ? c->mask : 0);
}

static void inj_write(void *ctx, size_t i, uint64_t v)
{
	((struct inj_mem *)ctx)->w[i] = v;
}

static void inj_flush(void *ctx)
{
	const struct inj_mem *c = ctx;

	cacheflush_range((const void *)&c->w[c->s], (c->e - c->s) * sizeof(uint64_t));
}

static const struct march_mem_ops inj_ops = { inj_read, inj_write, inj_flush };

/* Route the block through the injecting reader if the injected word is in it. */
static void inj_setup(struct memtest *mt, unsigned pi, uint64_t boff, struct march_mem *m,
		      struct inj_mem *c, size_t s, size_t e)
{
	pthread_mutex_lock(&mt->lock);
	if (mt->inj.on && mt->inj.pool == pi && mt->inj.off >= boff && mt->inj.off < boff + m->n * 8) {
		*c = (struct inj_mem){ .w = m->words, .bad = (mt->inj.off - boff) / 8, .s = s, .e = e,
				       .mask = mt->inj.mask };
		m->words = NULL;
		m->ops = &inj_ops;
		m->ctx = c;
	}
	pthread_mutex_unlock(&mt->lock);
}

int memtest_inject(struct memtest *mt, unsigned pool, uint64_t offset, int bit)
{
	if (!mt || pool >= mt->npools || bit >= 64 || offset >= mt->pools[pool].size)
		return -EINVAL;
	pthread_mutex_lock(&mt->lock);
	mt->inj.on = bit >= 0;
	mt->inj.pool = pool;
	mt->inj.off = offset & ~7ull;
	mt->inj.mask = bit >= 0 ? 1ull << bit : 0;
	pthread_mutex_unlock(&mt->lock);
	return 0;
}
#endif

static void show(struct memtest *mt, unsigned pi, uint64_t boff, unsigned algo, uint64_t bg)
{
	pthread_mutex_lock(&mt->lock);
	memcpy(mt->st.pool, mt->pools[pi].name, MEMTEST_NAME_MAX);
	memcpy(mt->st.algorithm, mt->cfg.names[algo], MEMTEST_NAME_MAX);
	mt->st.background = bg;
	mt->st.offset = boff;
	pthread_mutex_unlock(&mt->lock);
}

/*
 * Run every algorithm x background over words [s, e) of the block at @boff
 * (@n words), which the caller holds. Adds the bytes read and written to
 * *touched. Return: 0, MARCH_DETECTED (*h filled), -ECANCELED (@stoppable and
 * stop requested), -EINVAL (engine refused: a bug).
 */
static int test_slice(struct memtest *mt, unsigned pi, uint64_t boff, size_t n, size_t s, size_t e,
		      bool stoppable, struct hit *h, uint64_t *touched)
{
	struct march_mem m = { .words = (volatile uint64_t *)(void *)(mt->pools[pi].base + boff), .n = n };
#ifdef RTMEM_FAULT_INJECT
	struct inj_mem ic;

	inj_setup(mt, pi, boff, &m, &ic, s, e);
#endif
	for (unsigned a = 0; a < mt->cfg.nalgos; a++) {
		const struct march_prog *p = &mt->cfg.progs[a];
		unsigned nbg = p->has_bg ? 1 : mt->cfg.nbgs;
		uint64_t per = (uint64_t)march_ops_per_word(p, mt->cfg.window) * (e - s) * 8;

		for (unsigned b = 0; b < nbg; b++) {
			struct march_opts o = {
				.bgs = &mt->cfg.bgs[b], .nbg = 1, .delay = mt_delay_cb, .delay_arg = mt,
				.delay_default_ms = mt->cfg.delay_ms, .window = mt->cfg.window,
			};
			uint64_t bg = p->has_bg ? p->bg.pattern : mt->cfg.bgs[b].pattern;
			int rc;

			if (stoppable && mt_stopping(mt))
				return -ECANCELED;
			show(mt, pi, boff, a, bg);
			rc = march_run(p, &m, s, e, &o, &h->f);
			*touched += per;
			if (rc == MARCH_DETECTED) {
				h->algo = a;
				h->bg = bg;
			}
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- faults */

static void record(struct memtest *mt, const struct memtest_fault *f)
{
	pthread_mutex_lock(&mt->lock);
	mt->st.faults_total++;
	memmove(&mt->st.faults[1], &mt->st.faults[0], (MEMTEST_STATUS_FAULTS - 1) * sizeof(*f));
	mt->st.faults[0] = *f;
	if (mt->st.nfaults < MEMTEST_STATUS_FAULTS)
		mt->st.nfaults++;
	pthread_mutex_unlock(&mt->lock);
}

/*
 * A mismatch in the block at @boff of pool @pi: record, quarantine, persist,
 * report. Return: 0 if the block is quarantined (no longer checked out), or
 * mark_bad's -errno (the caller still holds the block).
 */
static int on_fault(struct memtest *mt, unsigned pi, uint64_t boff, const struct hit *h)
{
	const struct mt_pool *p = &mt->pools[pi];
	struct memtest_fault f = { 0 };
	char msg[MT_LINE_MAX];
	int rc;

	memcpy(f.pool, p->name, sizeof(f.pool));
	memcpy(f.algorithm, mt->cfg.names[h->algo], sizeof(f.algorithm));
	f.offset = boff + h->f.index * 8;
	f.phys_valid = memtest_phys_lookup(p->phys, f.offset, &f.phys);
	f.read_error = h->f.read_error;
	f.expected = h->f.expected;
	f.actual = h->f.actual;
	f.reread = h->f.reread;
	f.xor_ = f.expected ^ f.actual;
	f.element = h->f.elem;
	f.op = h->f.op;
	f.background = h->bg;
	f.time = (int64_t)time(NULL);
	f.quarantine = rg_region_mark_bad(p->r, f.offset);
	record(mt, &f);
	rc = mt_bad_persist(mt, &f);
	if (rc)
		mt_emit(mt, NULL, "bad-block list %s: cannot save the fault at pool \"%s\" offset %#" PRIx64 ": %s",
		     mt->path, f.pool, f.offset, strerror(-rc));
	fault_format_message(&f, msg, sizeof(msg));
	mt_emit(mt, &f, "%s", msg);
	return f.quarantine == -EALREADY ? 0 : f.quarantine;
}

/* ----------------------------------------------------------------- sweep */

/* Leave the block alone: it is the last free one of its slab class, or no
 * other free buddy block is at least as large. */
static bool spare(const struct memtest *mt, const struct mt_pool *p, uint64_t off, uint64_t len)
{
	struct rg_region_stats s;
	uint64_t others = 0;

	if (mt->cfg.take_last)
		return false;
	rg_region_stats(p->r, &s);
	for (uint32_t c = 0; c < p->ncls; c++)
		if (off >= p->cls_lo[c] && off < p->cls_hi[c])
			return s.cls[c].free < 2;
	if ((uint32_t)__builtin_ctzll(len) > s.max_order) /* a whole arena (buddy_arena), in largest blocks */
		return (s.order[s.max_order].free >> ((uint32_t)__builtin_ctzll(len) - s.max_order)) < 2;
	for (uint32_t k = (uint32_t)__builtin_ctzll(len); k <= s.max_order && k <= RG_MAX_ORDER; k++)
		others += s.order[k].free;
	return others < 2;
}

void mt_count(struct memtest *mt, uint64_t *field, uint64_t touched)
{
	pthread_mutex_lock(&mt->lock);
	if (field)
		(*field)++;
	mt->st.bytes_touched += touched;
	pthread_mutex_unlock(&mt->lock);
}

/*
 * Test one block, checking it out for one slice at a time and sleeping for
 * the budget with the block checked in. A block that changes hands between
 * slices is left for the next pass. Return: 0, -ECANCELED (stop).
 */
static int sweep_block(struct memtest *mt, unsigned pi, uint64_t boff, uint64_t blen)
{
	struct mt_pool *p = &mt->pools[pi];
	size_t n = (size_t)(blen / 8), s = 0;

	for (;;) {
		size_t e = n - s > mt->slice_words ? s + mt->slice_words : n;
		uint64_t len, touched = 0, t0 = mt_now(mt);
		struct hit h;
		int rc;

		if (spare(mt, p, boff, blen)) {
			mt_count(mt, &mt->st.blocks_spared, 0);
			return 0;
		}
		if (rg_region_checkout(p->r, boff, &len) < 0) {
			mt_count(mt, &mt->st.blocks_busy, 0);
			return 0;
		}
		if (len != blen) { /* merged or split meanwhile */
			rg_region_checkin(p->r, boff);
			return 0;
		}
		rc = test_slice(mt, pi, boff, n, s, e, true, &h, &touched);
		if (rc != MARCH_DETECTED || on_fault(mt, pi, boff, &h) < 0)
			rg_region_checkin(p->r, boff);
		mt_count(mt, NULL, touched);
		mt_budget(mt, t0, touched);
		if (rc)
			return rc == -ECANCELED ? rc : 0;
		if (e == n)
			break;
		if (mt_stopping(mt))
			return -ECANCELED;
		s = e - mt->overlap;
	}
	pthread_mutex_lock(&mt->lock);
	mt->st.blocks_tested++;
	mt->st.bytes_tested += blen;
	pthread_mutex_unlock(&mt->lock);
	return 0;
}

int mt_sweep_pool(struct memtest *mt, unsigned pi)
{
	uint64_t off = 0, b, len;

	while (!mt_stopping(mt) && rg_region_next_block(mt->pools[pi].r, off, &b, &len) == 0) {
		int rc = sweep_block(mt, pi, b, len);

		if (rc)
			return rc;
		off = b + len;
	}
	return mt_stopping(mt) ? -ECANCELED : 0;
}

int memtest_test_block_now(struct memtest *mt, unsigned pool, uint64_t off)
{
	uint64_t b, len, touched = 0;
	size_t n, s = 0;

	if (!mt || pool >= mt->npools || rg_region_next_block(mt->pools[pool].r, off, &b, &len) < 0 ||
	    b != off)
		return -EINVAL;
	n = (size_t)(len / 8);
	for (;;) {
		size_t e = n - s > mt->slice_words ? s + mt->slice_words : n;
		struct hit h;
		int rc = test_slice(mt, pool, off, n, s, e, false, &h, &touched);

		if (rc == MARCH_DETECTED) {
			on_fault(mt, pool, off, &h);
			mt_count(mt, NULL, touched);
			return MEMTEST_FAULT;
		}
		if (rc)
			return rc;
		if (e == n)
			break;
		s = e - mt->overlap;
	}
	mt_count(mt, NULL, touched);
	return 0;
}
