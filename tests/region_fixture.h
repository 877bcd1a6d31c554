/* SPDX-License-Identifier: MIT */
/* region_fixture.h - helpers shared by the allocator core's tests. */
#ifndef RTMEM_TEST_REGION_FIXTURE_H
#define RTMEM_TEST_REGION_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "region.h"

/* A small pool: three slab classes and a 64 KiB buddy area of 64 B..16 KiB. */
static inline struct rg_pool_desc fixture_desc(void)
{
	struct rg_pool_desc d;

	memset(&d, 0, sizeof(d));
	d.nclasses = 3;
	d.nslots = 16;
	d.policy = RG_POLICY_NEXT_FIT;
	d.classes[0] = (struct rg_slab_desc){ .size = 32, .count = 100 };
	d.classes[1] = (struct rg_slab_desc){ .size = 256, .count = 40 };
	d.classes[2] = (struct rg_slab_desc){ .size = 4096, .count = 8 };
	d.buddy = (struct rg_buddy_desc){ .size = 64 * 1024, .min_order = 6, .max_order = 14 };
	return d;
}

/* Map anonymous memory for @d and format it; the caller attaches. */
static inline void *fixture_map(const struct rg_pool_desc *d, size_t *ret_size)
{
	struct rg_footprint fp;
	void *mem;

	*ret_size = 0;
	if (rg_region_layout(d, &fp) < 0)
		return NULL;
	mem = mmap(NULL, fp.total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return NULL;
	if (rg_region_format(mem, fp.total, d) < 0) {
		munmap(mem, fp.total);
		return NULL;
	}
	*ret_size = fp.total;
	return mem;
}

/* A region in a memfd mapped MAP_SHARED, formatted from @d, as the daemon
 * and its clients share one (fork children see the parent's writes); the
 * caller attaches. NULL on failure. */
static inline void *fixture_map_shared(const struct rg_pool_desc *d, int *ret_fd, size_t *ret_size)
{
	struct rg_footprint fp;
	void *mem;
	int fd;

	*ret_fd = -1;
	*ret_size = 0;
	if (rg_region_layout(d, &fp) < 0)
		return NULL;
	fd = memfd_create("rtmem-test", MFD_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (ftruncate(fd, (off_t)fp.total) < 0 ||
	    (mem = mmap(NULL, fp.total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		close(fd);
		return NULL;
	}
	if (rg_region_format(mem, fp.total, d) < 0) {
		munmap(mem, fp.total);
		close(fd);
		return NULL;
	}
	*ret_fd = fd;
	*ret_size = fp.total;
	return mem;
}

/* A region of @d in a shared memfd, formatted and attached (fixture_region_new()),
 * and all of it undone (fixture_region_free()). NULL on failure. */
struct fixture_region {
	int fd;
	size_t size;
	void *mem;
	struct rg_region *r;
};

static inline struct fixture_region *fixture_region_new(const struct rg_pool_desc *d)
{
	struct fixture_region *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->mem = fixture_map_shared(d, &f->fd, &f->size);
	if (!f->mem || rg_region_attach(f->mem, f->size, &f->r) < 0) {
		if (f->mem) {
			munmap(f->mem, f->size);
			close(f->fd);
		}
		free(f);
		return NULL;
	}
	return f;
}

static inline void fixture_region_free(struct fixture_region *f)
{
	rg_region_detach(f->r);
	munmap(f->mem, f->size);
	close(f->fd);
	free(f);
}

/* Fail the test with the checker's message if the region is inconsistent. */
#define assert_region_ok(r)                                                       \
	do {                                                                      \
		char msg_[256];                                                   \
		int rc_ = rg_region_check((r), msg_, sizeof(msg_));            \
		if (rc_ != 0)                                                     \
			fail_msg("region check failed (%d): %s", rc_, msg_);      \
	} while (0)

/* What the daemon writes when it grants @owner's slot (fixture_record()),
 * and clears before it reclaims a dead client (fixture_unrecord()). */
static inline int fixture_record(struct rg_region *r, uint64_t owner)
{
	struct rg_slot_record rec = { .owner = owner, .pid = 1 };

	return rg_region_slot_set(r, (uint32_t)(owner >> 16 & 0xffff), &rec);
}

static inline int fixture_unrecord(struct rg_region *r, uint64_t owner)
{
	static const struct rg_slot_record zero;

	return rg_region_slot_set(r, (uint32_t)(owner >> 16 & 0xffff), &zero);
}

/* Nothing in use: no slab block, no buddy byte, and the checker passes. */
#define assert_region_all_free(r)                                                 \
	do {                                                                      \
		struct rg_region_stats st_;                                       \
		assert_region_ok(r);                                              \
		rg_region_stats((r), &st_);                                       \
		for (uint32_t c_ = 0; c_ < st_.nclasses; c_++)                    \
			assert_int_equal(st_.cls[c_].in_use, 0);                  \
		assert_int_equal(st_.buddy_free, st_.buddy_size);                 \
	} while (0)

/* Seed from RTMEM_SEED or the clock; always printed so a failure can be replayed. */
static inline unsigned fixture_seed(const char *what)
{
	const char *env = getenv("RTMEM_SEED");
	unsigned seed = env ? (unsigned)strtoul(env, NULL, 0) : (unsigned)time(NULL) ^ (unsigned)getpid();

	printf("# %s: seed %u (replay with RTMEM_SEED=%u)\n", what, seed, seed);
	return seed;
}

#endif
