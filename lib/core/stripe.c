/* SPDX-License-Identifier: MIT */
/*
 * stripe.c - striped slab classes (region.h, "Striped classes"): the
 * handle's home stripe, stealing from the other stripes of a size, and the
 * timed allocation, which waits for a free in any stripe of its size.
 *
 * Stripes are classes to everything else: the free path finds a block's
 * stripe from its page, so only the allocating side knows about them.
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "region_int.h"
#include "region.h"

uint32_t rg_region_stripes(const struct rg_region *r)
{
	return r->stripes;
}

void rg_region_set_home(struct rg_region *r, uint32_t slot)
{
	uint32_t home = slot % r->stripes;

	/* an entry is the first stripe of its size plus the current home */
	for (size_t i = 0; i < sizeof(r->sizecls); i++)
		if (r->sizecls[i] != RG_SIZECLS_NONE)
			r->sizecls[i] = (uint8_t)(r->sizecls[i] - r->home + home);
	r->home = home;
}

/* An empty pop of a stripe counted a failure that the size did not have. */
static void uncount(const struct rg_region *r, uint32_t c)
{
	atomic_fetch_sub_explicit(&r->cls[c].ctl->failed, 1, memory_order_relaxed);
}

void rg_slab_unfail(struct rg_region *r, uint32_t cls)
{
	if (cls < r->nclasses)
		uncount(r, cls);
}

int rg_slab_alloc_steal(struct rg_region *r, uint32_t cls, uint64_t owner, unsigned flags, void **ret)
{
	uint32_t s = r->stripes, c;
	int rc = -ENOMEM, x = -ENOMEM;

	if (cls >= r->nclasses)
		return -EINVAL;
	for (uint32_t i = 1; i < s && x != 0; i++) {
		c = rg_stripe_other(cls, s, i);
		/* an empty list is passed over with one load (the pop would
		 * find the same, and count a failure to take back) */
		if (RG_HEAD_IDX(atomic_load_explicit(&r->cls[c].ctl->head, memory_order_relaxed)) == RG_NIL)
			continue;
		x = rg_slab_alloc(r, c, owner, flags, ret);
		if (x == -ENOMEM)
			uncount(r, c);
		if (x == -EUCLEAN) /* one corrupt stripe does not deny the others */
			rc = x;
	}
	if (x == 0)
		uncount(r, cls); /* the caller's empty home */
	return x == 0 ? 0 : rc;
}

/* The home stripe, then the others. */
static int alloc_any(struct rg_region *r, uint32_t cls, uint64_t owner, unsigned flags, void **ret)
{
	int rc = rg_slab_alloc(r, cls, owner, flags, ret);

	return rc == -ENOMEM ? rg_slab_alloc_steal(r, cls, owner, flags, ret) : rc;
}

static int futex_errno(long rc)
{
	if (rc < 0 && (errno == ETIMEDOUT || errno == EINTR))
		return -errno;
	return -ENOMEM; /* woken, or the word moved on: look again */
}

/* Did the wait happen (or end as a wait ends)? Else the kernel refused the
 * call itself: ENOSYS, or EPERM/EINVAL from a seccomp filter or an old
 * emulator. */
static bool waited(long rc)
{
	return rc >= 0 || errno == EAGAIN || errno == ETIMEDOUT || errno == EINTR;
}

static _Atomic int waitv_missing; /* futex_waitv refused: not in the kernel (or qemu-user, valgrind), or filtered */

static bool before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Sleep until a free bumps one of the @n words of @wv (@home: this handle's),
 * or @abs passes. Return: -ENOMEM (look again), -ETIMEDOUT, -EINTR. */
static int wait_any(const struct futex_waitv *wv, uint32_t n, uint32_t home, const struct timespec *abs)
{
	struct timespec slice;
	bool last;
	long rc;

	if (n == 1)
		return futex_errno(syscall(SYS_futex, (void *)(uintptr_t)wv[0].uaddr, FUTEX_WAIT_BITSET,
					   (uint32_t)wv[0].val, abs, NULL, FUTEX_BITSET_MATCH_ANY));
#ifdef SYS_futex_waitv
	if (!atomic_load_explicit(&waitv_missing, memory_order_relaxed)) {
		rc = syscall(SYS_futex_waitv, wv, n, 0, abs, CLOCK_MONOTONIC);
		if (waited(rc))
			return futex_errno(rc);
		atomic_store_explicit(&waitv_missing, 1, memory_order_relaxed);
	}
#endif
	/* without it: the home stripe's word, in slices, so that a free in
	 * another stripe is seen within one slice; the caller's deadline when
	 * it comes first */
	clock_gettime(CLOCK_MONOTONIC, &slice);
	slice.tv_nsec += RG_WAIT_SLICE_NS;
	if (slice.tv_nsec >= 1000000000) {
		slice.tv_sec++;
		slice.tv_nsec -= 1000000000;
	}
	last = abs && !before(&slice, abs);
	rc = syscall(SYS_futex, (void *)(uintptr_t)wv[home].uaddr, FUTEX_WAIT_BITSET, (uint32_t)wv[home].val,
		     last ? abs : &slice, NULL, FUTEX_BITSET_MATCH_ANY);
	if (rc < 0 && errno == ETIMEDOUT && !last)
		return -ENOMEM; /* the slice's end is not the caller's */
	return futex_errno(rc);
}

static bool past(const struct timespec *abs)
{
	struct timespec now;

	if (!abs)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return !before(&now, abs);
}

int rg_slab_alloc_timed(struct rg_region *r, uint32_t cls, uint64_t owner, unsigned flags,
			   const struct timespec *abs_timeout, void **ret)
{
	struct futex_waitv wv[RG_MAX_STRIPES] = { { 0 } };
	uint32_t s, first;
	int rc = cls < r->nclasses ? alloc_any(r, cls, owner, flags, ret) : -EINVAL;

	if (rc != -ENOMEM)
		return rc;
	s = r->stripes;
	first = cls - cls % s;
	for (;;) {
		/* Announce ourselves in every stripe before the re-check: a free
		 * that lands after it sees waiters != 0 and bumps its stripe's
		 * seq, so the wait returns at once instead of missing it. */
		for (uint32_t i = 0; i < s; i++)
			atomic_fetch_add_explicit(&r->cls[first + i].ctl->waiters, 1, memory_order_acq_rel);
		for (uint32_t i = 0; i < s; i++) {
			_Atomic uint32_t *seq = &r->cls[first + i].ctl->seq;

			wv[i].val = atomic_load_explicit(seq, memory_order_acquire);
			wv[i].uaddr = (uintptr_t)seq;
			wv[i].flags = FUTEX_32; /* shared: the words are in every client's mapping */
		}
		rc = alloc_any(r, cls, owner, flags, ret);
		if (rc == -ENOMEM)
			rc = wait_any(wv, s, cls - first, abs_timeout);
		if (rc == -ENOMEM && past(abs_timeout)) /* a wait that returns at once cannot spin past it */
			rc = -ETIMEDOUT;
		if (rc == -ETIMEDOUT && s > 1) /* a last look: a slice waits on home only */
			rc = alloc_any(r, cls, owner, flags, ret) == 0 ? 0 : -ETIMEDOUT;
		for (uint32_t i = 0; i < s; i++)
			atomic_fetch_sub_explicit(&r->cls[first + i].ctl->waiters, 1, memory_order_release);
		if (rc != -ENOMEM)
			return rc;
	}
}
