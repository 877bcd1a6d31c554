/* SPDX-License-Identifier: MIT */
/*
 * test_share.c - blocks shared with several readers (lib/core/handoff.c,
 * "Shared readers").
 *
 * - a slab block and a buddy block are shared by three clients: nobody can
 *   free them while shared, each holder lets go once, the last release hands
 *   the block back to be freed; every error of rg_region_share() and
 *   rg_region_release(), none of which changes anything;
 * - reclaim stays exact whoever dies: a reader, the opener, the last holder
 *   (the block is freed with it); an opener that died setting a record up
 *   (the record is undone); a closer that died between the record and the
 *   block word (the orphan pass frees the block); every record can be reused
 *   afterwards;
 * - a restarted daemon's owner scan reports the holders of a shared block,
 *   never its share id (which it would reclaim as a dead owner's block);
 * - stray writes: records overwritten with random bytes, a block word
 *   overwritten with a share id: refused, never a crash, and recovered;
 * - threads as clients: each opens blocks to the others, which check the
 *   stamp and release, all at once; every block is freed exactly once (TSan
 *   runs this too), and everything is free at the end.
 */
#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "region_fixture.h"
#include "fastpath.h"

#define A rg_owner(1, 3)
#define B rg_owner(2, 4)
#define C rg_owner(3, 5)

static int setup(void **state)
{
	struct rg_pool_desc d = fixture_desc();
	struct fixture_region *f;

	d.cache = 4;
	f = fixture_region_new(&d);
	assert_non_null(f);
	assert_int_equal(fixture_record(f->r, A), 0);
	assert_int_equal(fixture_record(f->r, B), 0);
	assert_int_equal(fixture_record(f->r, C), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture_region_free(*state);
	return 0;
}

/* Free @p as @owner, slab or buddy. */
static int free_as(struct fixture_region *f, void *p, uint64_t owner)
{
	int rc = rg_slab_free(f->r, p, owner);

	return rc == -EFAULT ? rg_buddy_free(f->r, p, owner) : rc;
}

static void share_round(struct fixture_region *f, void *p)
{
	assert_int_equal(rg_region_holders(f->r, p), 0);
	assert_int_equal(rg_region_share(f->r, p, A, B), RG_SHARE_OPENED);
	assert_int_equal(rg_region_holders(f->r, p), 2);
	assert_int_equal(rg_region_share(f->r, p, B, C), 0); /* a reader passes it on */
	assert_int_equal(rg_region_holders(f->r, p), 3);
	/* nobody frees or gives a shared block, not even its opener */
	assert_int_equal(free_as(f, p, A), -EPERM);
	assert_int_equal(free_as(f, p, B), -EPERM);
	assert_int_equal(rg_region_give(f->r, p, A, B), -EPERM);
	{ /* nor puts it in a thread cache */
		struct rg_slab_cache tc[RG_MAX_CLASSES];
		struct rg_buddy_cache bc;

		rg_slab_cache_init(f->r, tc);
		rg_buddy_cache_init(f->r, &bc);
		assert_true(rg_slab_cache_free(f->r, tc, p, A) < 0);
		assert_true(rg_buddy_cache_free(f->r, &bc, p, A) < 0);
		assert_true(rg_slab_cache_free(f->r, tc, p, B) < 0);
		assert_true(rg_buddy_cache_free(f->r, &bc, p, B) < 0);
		for (uint32_t c = 0; c < f->r->nclasses; c++)
			assert_int_equal(tc[c].n, 0);
		assert_int_equal(rg_buddy_cache_flush(f->r, &bc, A), 0);
	}
	assert_region_ok(f->r);
	assert_int_equal(rg_region_release(f->r, p, A), 0);
	assert_int_equal(rg_region_release(f->r, p, A), -EPERM); /* once */
	assert_int_equal(rg_region_release(f->r, p, B), 0);
	assert_int_equal(rg_region_holders(f->r, p), 1);
	assert_int_equal(rg_region_release(f->r, p, C), RG_SHARE_CLOSED);
	/* the last holder's: an ordinary block of its own again */
	assert_int_equal(rg_region_holders(f->r, p), 0);
	assert_int_equal(rg_region_owned(f->r, p, C, NULL), 0);
	assert_int_equal(free_as(f, p, C), 0);
}

static void test_share_and_release_slab_and_buddy_blocks(void **state)
{
	struct fixture_region *f = *state;
	void *s, *b;

	for (int round = 0; round < 40; round++) { /* more rounds than records: they are reused */
		assert_int_equal(rg_slab_alloc(f->r, 1, A, 0, &s), 0);
		assert_int_equal(rg_buddy_alloc(f->r, 3000, A, 0, &b), 0);
		share_round(f, s);
		share_round(f, b);
	}
	assert_region_all_free(f->r);
}

static void test_share_errors_change_nothing(void **state)
{
	struct fixture_region *f = *state;
	struct rg_slab_cache tc[RG_MAX_CLASSES];
	void *s, *b, *cached, *many[RG_SHARE_RECS + 1];
	uint64_t extra[RG_SHARE_HOLDERS];

	assert_int_equal(rg_slab_alloc(f->r, 1, A, 0, &s), 0);
	assert_int_equal(rg_buddy_alloc(f->r, 5000, A, 0, &b), 0);
	assert_int_equal(rg_region_share(f->r, s, A, 0), -EINVAL);                        /* the daemon's slot */
	assert_int_equal(rg_region_share(f->r, s, A, B | 1), -EINVAL);                    /* not an id */
	assert_int_equal(rg_region_share(f->r, s, A, rg_owner(17, 1)), -EINVAL);          /* past nslots */
	assert_int_equal(rg_region_share(f->r, s, A, B | RG_SHARE_BIT), -EINVAL);         /* a share id */
	assert_int_equal(rg_region_share(f->r, (char *)s + 8, A, B), -EFAULT);            /* inside a block */
	assert_int_equal(rg_region_share(f->r, (char *)b + 64, A, B), -EFAULT);           /* a buddy tail */
	assert_int_equal(rg_region_share(f->r, f->mem, A, B), -EFAULT);                   /* metadata */
	assert_int_equal(rg_region_share(f->r, s, A, A), -EALREADY);
	assert_int_equal(rg_region_share(f->r, s, B, C), -EPERM);                         /* not B's */
	assert_int_equal(rg_region_share(f->r, s, A, rg_owner(2, 5)), -ESRCH);           /* B's slot, other gen */
	assert_int_equal(rg_region_share(f->r, s, A, rg_owner(4, 1)), -ESRCH);           /* nobody in slot 4 */
	assert_int_equal(rg_region_release(f->r, s, A), -EPERM);                          /* not shared */
	assert_int_equal(rg_region_release(f->r, (char *)s + 8, A), -EFAULT);
	assert_int_equal(rg_region_holders(f->r, (char *)s + 8), -EFAULT);
	assert_int_equal(rg_region_owned(f->r, s, A, NULL), 0);
	rg_slab_cache_init(f->r, tc); /* a cached block is not the application's */
	assert_int_equal(rg_slab_alloc(f->r, 0, A, 0, &cached), 0);
	assert_int_equal(rg_slab_cache_free(f->r, tc, cached, A), 0);
	assert_int_equal(rg_region_share(f->r, cached, A, B), -EPERM);
	rg_slab_cache_flush(f->r, tc, A);

	/* holders of a shared block */
	assert_int_equal(rg_region_share(f->r, s, A, B), RG_SHARE_OPENED);
	assert_int_equal(rg_region_share(f->r, s, A, B), -EALREADY);
	assert_int_equal(rg_region_share(f->r, s, B, A), -EALREADY);
	assert_int_equal(rg_region_share(f->r, s, C, A), -EPERM); /* C holds none */
	assert_int_equal(rg_region_release(f->r, s, C), -EPERM);
	for (uint32_t i = 0; i < RG_SHARE_HOLDERS; i++) {
		extra[i] = rg_owner(4 + i, 1);
		assert_int_equal(fixture_record(f->r, extra[i]), 0);
	}
	for (uint32_t i = 0; i < RG_SHARE_HOLDERS - 2; i++)
		assert_int_equal(rg_region_share(f->r, s, B, extra[i]), 0);
	assert_int_equal(rg_region_holders(f->r, s), (int)RG_SHARE_HOLDERS);
	assert_int_equal(rg_region_share(f->r, s, A, extra[RG_SHARE_HOLDERS - 2]), -ENOSPC);
	assert_int_equal(rg_region_holders(f->r, s), (int)RG_SHARE_HOLDERS);

	/* records: RG_SHARE_RECS open blocks per client; one is in use (s) */
	for (uint32_t i = 0; i < RG_SHARE_RECS; i++) {
		assert_int_equal(rg_slab_alloc(f->r, 0, A, 0, &many[i]), 0);
		assert_int_equal(rg_region_share(f->r, many[i], A, B), i + 1 < RG_SHARE_RECS ? RG_SHARE_OPENED : -ENOSPC);
	}
	assert_int_equal(rg_region_holders(f->r, many[RG_SHARE_RECS - 1]), 0); /* the refused one: unchanged */
	assert_int_equal(rg_region_owned(f->r, many[RG_SHARE_RECS - 1], A, NULL), 0);
	/* B's slot has records of its own */
	assert_int_equal(rg_slab_alloc(f->r, 0, B, 0, &many[RG_SHARE_RECS]), 0);
	assert_int_equal(rg_region_share(f->r, many[RG_SHARE_RECS], B, A), RG_SHARE_OPENED);

	/* everyone leaves: the daemon's reclaims free every shared block once */
	assert_region_ok(f->r);
	for (uint32_t i = 0; i < RG_SHARE_HOLDERS; i++)
		assert_int_equal(rg_region_reclaim(f->r, extra[i], NULL), 0);
	assert_int_equal(rg_region_reclaim(f->r, C, NULL), 0);
	/* A: b, the refused one, and nothing shared (B holds those) */
	assert_int_equal(rg_region_reclaim(f->r, A, NULL), 2);
	/* B: s, the 15 that A opened and the one it opened itself */
	assert_int_equal(rg_region_reclaim(f->r, B, NULL), 1 + (RG_SHARE_RECS - 1) + 1);
	assert_region_all_free(f->r);
}

static struct rg_share *rec_of(struct fixture_region *f, uint64_t owner, uint32_t k)
{
	return &f->r->shares[(owner >> 16 & 0xffff) * RG_SHARE_RECS + k];
}

static void test_reclaim_is_exact_whoever_dies(void **state)
{
	struct fixture_region *f = *state;
	uint64_t owners[17] = { 0, A, B, C };
	void *p, *q;
	uint64_t h;

	/* readers die, then the opener: the last death frees it */
	assert_int_equal(rg_slab_alloc(f->r, 1, A, 0, &p), 0);
	assert_int_equal(rg_region_share(f->r, p, A, B), RG_SHARE_OPENED);
	assert_int_equal(rg_region_share(f->r, p, A, C), 0);
	assert_int_equal(fixture_unrecord(f->r, B), 0);
	assert_int_equal(rg_region_reclaim(f->r, B, NULL), 0);
	assert_int_equal(rg_region_holders(f->r, p), 2);
	assert_int_equal(rg_region_release(f->r, p, C), 0);
	assert_int_equal(fixture_unrecord(f->r, A), 0);
	assert_int_equal(rg_region_reclaim(f->r, A, NULL), 1);
	assert_region_all_free(f->r);
	assert_int_equal(fixture_record(f->r, A), 0);
	assert_int_equal(fixture_record(f->r, B), 0);

	/* the opener dies first: the readers go on, the last release frees */
	assert_int_equal(rg_buddy_alloc(f->r, 200, A, 0, &p), 0);
	assert_int_equal(rg_region_share(f->r, p, A, B), RG_SHARE_OPENED);
	assert_int_equal(fixture_unrecord(f->r, A), 0);
	assert_int_equal(rg_region_reclaim(f->r, A, NULL), 0);
	assert_int_equal(rg_region_share(f->r, p, A, C), -EPERM); /* its hold went with it */
	assert_int_equal(rg_region_share(f->r, p, B, C), 0);
	assert_int_equal(rg_region_release(f->r, p, B), 0);
	assert_int_equal(rg_region_release(f->r, p, C), RG_SHARE_CLOSED);
	assert_int_equal(free_as(f, p, C), 0);
	assert_region_all_free(f->r);
	assert_int_equal(fixture_record(f->r, A), 0);

	/* an opener killed while it set a record up (entries written, block not
	 * linked yet): the record is undone, the block reclaimed as A's */
	assert_int_equal(rg_slab_alloc(f->r, 1, A, 0, &p), 0);
	h = atomic_load(&rec_of(f, A, 0)->hdr);
	atomic_store(&rec_of(f, A, 0)->hdr, ((h >> 8) + 1) << 8 | 1); /* SETUP */
	atomic_store(&rec_of(f, A, 0)->blk, (uint64_t)((char *)p - (char *)f->mem));
	atomic_store(&rec_of(f, A, 0)->ent[0], A | (((h >> 8) + 1) & 0xffff));
	atomic_store(&rec_of(f, A, 0)->ent[1], B | (((h >> 8) + 1) & 0xffff));
	assert_int_equal(fixture_unrecord(f->r, A), 0);
	assert_int_equal(rg_region_reclaim(f->r, A, NULL), 1);
	assert_int_equal(atomic_load(&rec_of(f, A, 0)->hdr) & 0xff, 0); /* FREE again */
	assert_int_equal(atomic_load(&rec_of(f, A, 0)->ent[1]), 0);
	assert_region_all_free(f->r);
	assert_int_equal(fixture_record(f->r, A), 0);

	/* a closer killed between its record CAS and its block CAS: the block
	 * word names a closed record, and the orphan pass frees it */
	assert_int_equal(rg_slab_alloc(f->r, 1, A, 0, &p), 0);
	assert_int_equal(rg_slab_alloc(f->r, 1, A, 0, &q), 0);
	assert_int_equal(rg_region_share(f->r, p, A, B), RG_SHARE_OPENED);
	assert_int_equal(rg_region_share(f->r, q, A, B), RG_SHARE_OPENED);
	assert_int_equal(rg_region_release(f->r, p, A), 0);
	for (uint32_t k = 0; k < RG_SHARE_RECS; k++) {
		struct rg_share *s = rec_of(f, A, k);

		if (atomic_load(&s->blk) == (uint64_t)((char *)p - (char *)f->mem) && (atomic_load(&s->hdr) & 0xff) == 2) {
			atomic_store(&s->ent[1], 0);                                /* B let go... */
			atomic_store(&s->hdr, atomic_load(&s->hdr) & ~(uint64_t)0xff); /* ...closed, and died */
		}
	}
	assert_int_equal(rg_region_holders(f->r, p), 0);
	assert_int_equal(rg_region_release(f->r, p, B), -EPERM);
	assert_int_equal(rg_region_reclaim_orphans(f->r, owners, NULL), 1);
	assert_int_equal(rg_region_holders(f->r, q), 2); /* a live share is nobody's orphan */
	assert_int_equal(rg_region_release(f->r, q, B), 0);
	assert_int_equal(rg_region_release(f->r, q, A), RG_SHARE_CLOSED);
	assert_int_equal(free_as(f, q, A), 0);
	assert_region_all_free(f->r);
}

struct owners_seen {
	uint64_t v[32];
	unsigned n;
};

static void saw_owner(void *arg, uint64_t owner)
{
	struct owners_seen *o = arg;

	for (unsigned i = 0; i < o->n; i++)
		if (o->v[i] == owner)
			return;
	if (o->n < 32)
		o->v[o->n++] = owner;
}

static bool seen(const struct owners_seen *o, uint64_t owner)
{
	for (unsigned i = 0; i < o->n; i++)
		if (o->v[i] == owner)
			return true;
	return false;
}

/* A restarted daemon reclaims every owner its scan finds that is no longer
 * alive (daemon/pool.c, pool_survey()). A shared block's word names no
 * owner: the scan reports its holders instead, so the block stays while a
 * holder lives, and goes with the last one. */
static void test_owner_scan_reports_holders_not_share_ids(void **state)
{
	struct fixture_region *f = *state;
	struct owners_seen o = { .n = 0 };
	void *p;

	assert_int_equal(rg_slab_alloc(f->r, 1, A, 0, &p), 0);
	assert_int_equal(rg_region_share(f->r, p, A, B), RG_SHARE_OPENED);
	assert_int_equal(rg_region_share(f->r, p, B, C), 0);
	assert_int_equal(rg_region_release(f->r, p, C), 0);
	rg_region_owner_scan(f->r, saw_owner, &o);
	assert_int_equal(o.n, 2); /* A and B; not C, which let go, nor the share id */
	assert_true(seen(&o, A) && seen(&o, B));
	/* the restarted daemon finds A dead and B alive: A's hold goes, B's stays */
	assert_int_equal(fixture_unrecord(f->r, A), 0);
	assert_int_equal(rg_region_reclaim(f->r, A, NULL), 0);
	assert_int_equal(rg_region_holders(f->r, p), 1);
	o.n = 0;
	rg_region_owner_scan(f->r, saw_owner, &o);
	assert_int_equal(o.n, 1);
	assert_true(seen(&o, B));
	assert_int_equal(rg_region_release(f->r, p, B), RG_SHARE_CLOSED);
	assert_int_equal(rg_slab_free(f->r, p, B), 0);
	assert_region_all_free(f->r);
}

/* Stray writes: every share record overwritten with random bytes, and the
 * word of a block that is not shared overwritten with a share id. No call
 * crashes or takes a block it should not, and once its clients are gone the
 * daemon's passes give every block back and free every record. */
static void test_corrupt_records_are_survived_and_recovered(void **state)
{
	struct fixture_region *f = *state;
	uint64_t owners[17] = { 0, A, B, C }, x = fixture_seed("corrupt records") | 1ull;
	struct rg_share *all = f->r->shares;
	void *p[8], *q;
	uint64_t *words = (uint64_t *)all;
	size_t nwords = (size_t)(f->r->nslots + 1) * RG_SHARE_RECS * sizeof(*all) / 8;

	for (int i = 0; i < 8; i++) {
		assert_int_equal(i % 2 ? rg_slab_alloc(f->r, 1, A, 0, &p[i]) : rg_buddy_alloc(f->r, 100, A, 0, &p[i]), 0);
		if (i < 6)
			assert_int_equal(rg_region_share(f->r, p[i], A, i % 3 ? B : C), RG_SHARE_OPENED);
	}
	assert_int_equal(rg_slab_alloc(f->r, 0, B, 0, &q), 0);
	for (size_t i = 0; i < nwords; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		words[i] = i % 8 == 0 ? (x & ~(uint64_t)0xfc) : x; /* headers: a real state most of the time */
	}
	/* q's word names a record it was never shared with */
	atomic_store(&f->r->cls[0].state[(uint64_t)((char *)q - f->r->cls[0].data) / f->r->cls[0].size],
		     RG_WORD(RG_BLK_ALLOC, 0, RG_SHARE_BIT | (5ull << 36) | (3ull << 32) | (2ull << 16)));
	for (int i = 0; i < 8; i++) { /* refused, never a crash */
		assert_true(rg_region_holders(f->r, p[i]) >= 0);
		assert_true(rg_region_release(f->r, p[i], B) < 0);
		assert_true(rg_region_share(f->r, p[i], B, C) < 0);
	}
	assert_int_equal(rg_region_release(f->r, q, B), -EPERM);
	assert_int_equal(rg_slab_free(f->r, q, B), -EPERM); /* no longer B's, as the word says */
	/* the daemon: the orphan pass frees the six whose records are gone and q;
	 * the clients leave; nothing is left, and every record is free */
	assert_int_equal(rg_region_reclaim_orphans(f->r, owners, NULL), 7);
	for (uint32_t slot = 1; slot <= 3; slot++) {
		uint64_t o = owners[slot];

		assert_int_equal(fixture_unrecord(f->r, o), 0);
		assert_true(rg_region_reclaim(f->r, o, NULL) >= 0);
	}
	assert_region_all_free(f->r);
	for (uint32_t slot = 1; slot <= 3; slot++)
		for (uint32_t k = 0; k < RG_SHARE_RECS; k++)
			assert_int_equal(atomic_load(&all[slot * RG_SHARE_RECS + k].hdr) & 0xff, 0);
}

/* --- threads as clients --- */

#define NT 4
#define OPENS 500 /* blocks each worker opens to sharing */

struct board {
	struct fixture_region *f;
	_Atomic uint64_t off[NT][NT]; /* [opener][reader]: offset + 1 of a block to read and release */
	_Atomic uint64_t closed, opened, bad;
	_Atomic unsigned done; /* workers that opened OPENS blocks */
};

struct worker {
	struct board *b;
	unsigned me;
};

static uint64_t tid_owner(unsigned i)
{
	return rg_owner(1 + i, 7);
}

/* Read and release what others opened to @me. Return: blocks released. */
static unsigned drain(struct board *b, unsigned me)
{
	unsigned n = 0;

	for (unsigned o = 0; o < NT; o++) {
		uint64_t off = atomic_exchange(&b->off[o][me], 0);
		uint64_t *p;
		int rc;

		if (!off)
			continue;
		p = (uint64_t *)((char *)b->f->mem + off - 1);
		if (atomic_load((_Atomic uint64_t *)p) != off * 3)
			atomic_fetch_add(&b->bad, 1);
		rc = rg_region_release(b->f->r, p, tid_owner(me));
		if (rc == RG_SHARE_CLOSED) {
			atomic_fetch_add(&b->closed, 1);
			if (free_as(b->f, p, tid_owner(me)) != 0)
				atomic_fetch_add(&b->bad, 1);
		} else if (rc != 0) {
			atomic_fetch_add(&b->bad, 1);
		}
		n++;
	}
	return n;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct board *b = w->b;
	uint64_t me = tid_owner(w->me), x = 0x9e3779b97f4a7c15ull * (w->me + 1);
	unsigned mine = 0;

	/* open OPENS blocks, then keep reading until every worker has */
	while (atomic_load(&b->done) < NT) {
		void *p;
		uint64_t off;
		int rc, readers = 0;

		drain(b, w->me);
		if (mine == OPENS)
			continue;
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		rc = x % 2 ? rg_slab_alloc(b->f->r, (uint32_t)(x >> 8) % 2, me, 0, &p)
			   : rg_buddy_alloc(b->f->r, 64 + (x >> 8) % 1024, me, 0, &p);
		if (rc != 0) {
			sched_yield(); /* all in flight: let the readers read */
			continue;
		}
		off = (uint64_t)((char *)p - (char *)b->f->mem) + 1;
		atomic_store((_Atomic uint64_t *)p, off * 3);
		/* open it to every reader whose mailbox is empty */
		for (unsigned r = 0; r < NT; r++) {
			if (r == w->me || atomic_load(&b->off[w->me][r]))
				continue;
			rc = rg_region_share(b->f->r, p, me, tid_owner(r));
			if (rc == RG_SHARE_OPENED)
				atomic_fetch_add(&b->opened, 1);
			else if (rc != 0)
				atomic_fetch_add(&b->bad, 1);
			if (rc >= 0) {
				atomic_store(&b->off[w->me][r], off);
				readers++;
			}
		}
		/* let go of our own hold, or free it if no reader was free to read it */
		rc = readers ? rg_region_release(b->f->r, p, me) : free_as(b->f, p, me);
		if (rc == RG_SHARE_CLOSED) {
			atomic_fetch_add(&b->closed, 1);
			rc = free_as(b->f, p, me);
		}
		if (rc != 0)
			atomic_fetch_add(&b->bad, 1);
		if (!readers)
			sched_yield();
		else if (++mine == OPENS)
			atomic_fetch_add(&b->done, 1);
	}
	return NULL;
}

static void test_threads_share_and_release_at_once(void **state)
{
	struct fixture_region *f = *state;
	struct board *b = calloc(1, sizeof(*b));
	struct worker w[NT];
	pthread_t t[NT];

	b->f = f;
	for (unsigned i = 0; i < NT; i++)
		assert_int_equal(fixture_record(f->r, tid_owner(i)), 0);
	for (unsigned i = 0; i < NT; i++) {
		w[i] = (struct worker){ .b = b, .me = i };
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < NT; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	for (unsigned i = 0; i < NT; i++)
		drain(b, i);
	printf("# %llu blocks opened to sharing, %llu freed by their last holder\n",
	       (unsigned long long)atomic_load(&b->opened), (unsigned long long)atomic_load(&b->closed));
	assert_int_equal(atomic_load(&b->bad), 0);
	assert_int_equal(atomic_load(&b->opened), NT * OPENS);
	assert_int_equal(atomic_load(&b->closed), atomic_load(&b->opened)); /* each freed once */
	assert_region_all_free(f->r);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_share_and_release_slab_and_buddy_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_share_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reclaim_is_exact_whoever_dies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_scan_reports_holders_not_share_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_records_are_survived_and_recovered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads_share_and_release_at_once, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
