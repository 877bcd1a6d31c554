/* SPDX-License-Identifier: MIT */
/*
 * stress_worker.h - the random alloc/free loop run by every thread or process
 * of the concurrency tests, and the memory tester loop run beside them.
 *
 * Each worker stamps its blocks with its owner and a serial, and checks the
 * stamp before freeing: two workers ever given the same block, or a block
 * changed under its owner, is caught. Returns the number of errors.
 */
#ifndef RTMEM_TEST_STRESS_WORKER_H
#define RTMEM_TEST_STRESS_WORKER_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "region.h"

#define SW_HELD 64

struct sw_block {
	uint64_t *p;
	uint64_t stamp;
};

static inline uint64_t sw_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A worker's thread caches, as librtmem keeps them: slab and buddy. */
struct sw_caches {
	struct rg_slab_cache tc[RG_MAX_CLASSES];
	struct rg_buddy_cache bc;
};

static inline struct sw_caches *sw_caches_init(struct rg_region *r, struct sw_caches *c)
{
	rg_slab_cache_init(r, c->tc);
	rg_buddy_cache_init(r, &c->bc);
	return c;
}

/* Free block @b after checking its stamp, into @c's caches if not NULL. Return: 0 or 1 (an error). */
static inline int sw_release(struct rg_region *r, struct sw_caches *c, struct sw_block *b, uint64_t owner)
{
	int err = 0, rc = -EFAULT;

	if (b->p[0] != b->stamp || b->p[1] != ~b->stamp) {
		fprintf(stderr, "block %p: stamp %#llx, expected %#llx\n", (void *)b->p,
			(unsigned long long)b->p[0], (unsigned long long)b->stamp);
		err = 1;
	}
	if (c) {
		long n = rg_slab_cache_free(r, c->tc, b->p, owner);

		rc = n < 0 ? (int)n : 0;
		if (rc == -EFAULT && rg_buddy_cache_free(r, &c->bc, b->p, owner) == 0)
			rc = 0; /* a buddy block, kept */
	}
	if (rc == -EFAULT) /* no cache, or a buddy block */
		rc = rg_region_free(r, b->p, owner, NULL);
	if (rc != 0) {
		fprintf(stderr, "free %p: %d\n", (void *)b->p, rc);
		err = 1;
	}
	return err;
}

/* Run @ops random operations; free everything at the end if @free_all. With
 * @c, blocks go through those thread caches, as librtmem does. */
static inline int sw_run_cached(struct rg_region *r, struct sw_caches *c, uint64_t owner, uint64_t seed,
				long ops, bool free_all)
{
	struct rg_slab_cache *tc = c ? c->tc : NULL;
	struct sw_block held[SW_HELD];
	unsigned n = 0, nclasses = rg_region_nclasses(r);
	uint64_t s = seed | 1, serial = 0;
	int errors = 0;

	for (long i = 0; i < ops; i++) {
		uint64_t x = sw_rand(&s);
		void *p;
		int rc;

		if (n == SW_HELD || (n && x % 2)) {
			unsigned h = (unsigned)(x >> 8) % n;

			errors += sw_release(r, c, &held[h], owner);
			held[h] = held[--n];
			continue;
		}
		if (x % 5 == 0) {
			size_t size = 16 + (x >> 16) % 8192;

			rc = c ? rg_buddy_cache_alloc(r, &c->bc, size, owner, &p) : -EAGAIN;
			if (rc == -EAGAIN)
				rc = rg_buddy_alloc(r, size, owner, 0, &p);
		} else if (tc && tc[(x >> 16) % nclasses].n)
			rc = rg_slab_cache_alloc(r, tc, (uint32_t)((x >> 16) % nclasses), owner, &p);
		else if ((rc = rg_slab_alloc(r, (uint32_t)((x >> 16) % nclasses), owner, 0, &p)) == -ENOMEM)
			/* the other stripes of a striped class (-ENOMEM at once without) */
			rc = rg_slab_alloc_steal(r, (uint32_t)((x >> 16) % nclasses), owner, 0, &p);
		if (rc == -ENOMEM || rc == -ENODEV) /* ENODEV: a region without a buddy area */
			continue;
		if (rc != 0) {
			fprintf(stderr, "alloc: %d\n", rc);
			errors++;
			continue;
		}
		held[n].p = p;
		held[n].stamp = owner ^ ++serial << 20;
		held[n].p[0] = held[n].stamp;
		held[n].p[1] = ~held[n].stamp;
		n++;
	}
	while (free_all && n)
		errors += sw_release(r, c, &held[--n], owner);
	if (free_all && c) {
		rg_slab_cache_flush(r, tc, owner);
		rg_buddy_cache_flush(r, &c->bc, owner);
	}
	return errors;
}

static inline int sw_run(struct rg_region *r, uint64_t owner, uint64_t seed, long ops, bool free_all)
{
	return sw_run_cached(r, NULL, owner, seed, ops, free_all);
}

/* The tester: sweep blocks, check each free one out, scribble, put it back. */
static inline long sw_tester(struct rg_region *r, atomic_bool *stop)
{
	uint64_t off = 0, len;
	long tested = 0;

	while (!atomic_load(stop)) {
		if (rg_region_next_block(r, off, &off, &len) < 0) {
			off = 0;
			continue;
		}
		if (rg_region_checkout(r, off, &len) == 0) {
			uint64_t *w = (uint64_t *)((char *)rg_region_base(r) + off);

			w[0] = 0x5a5a5a5a5a5a5a5aull; /* as a March test would */
			w[len / 8 - 1] = 0xa5a5a5a5a5a5a5a5ull;
			if (rg_region_checkin(r, off) != 0)
				return -1;
			tested++;
		}
		off += len;
	}
	return tested;
}

#endif
