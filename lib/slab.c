/* SPDX-License-Identifier: MIT */
/*
 * slab.c - lock-free slab classes in a shared region.
 *
 * Each class is a Treiber stack of block indices: the head is one 64-bit word
 * (32-bit index + 32-bit ABA tag, bumped on every successful CAS) and the links
 * live in next[], outside user data, so a client overrunning its block cannot
 * corrupt the list. Pop and push are one CAS each, retried only when another
 * thread changed the head in between.
 *
 * Membership of the free list and the block's state word are separate: a
 * block's state says who has it, and the state word is what every transition
 * is arbitrated on (CAS), so a double free, a free by the wrong owner and a
 * tester checkout racing an allocation are all decided by one word:
 *
 *   listed:    FREE, CHECKOUT (tester's), BAD (quarantined)
 *   unlisted:  ALLOC (owner in the word), CHECKOUT_U, BAD_U
 *
 * An allocation pops an index and then moves its state FREE -> ALLOC. If the
 * tester holds the block (CHECKOUT) the allocator hands it over (CHECKOUT_U: the
 * tester will push it back) and pops again; a BAD block is dropped (BAD_U).
 * The tester holds one block at a time, so this adds at most one retry, and
 * each bad block costs one retry once in its life.
 *
 * Invariants (rtmem_region_check): every listed block is FREE/CHECKOUT/BAD,
 * every unlisted one ALLOC/CHECKOUT_U/BAD_U; in_use = #ALLOC; bad = #BAD(_U);
 * checkout = #CHECKOUT(_U); the list has no cycle and only in-range indices.
 *
 * A process killed between the pop and its state CAS, or between the state CAS
 * and the push of a free, leaves one FREE block unlisted (the checker reports it).
 */
#include <errno.h>
#include <time.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "region_int.h"

#define RELAXED memory_order_relaxed
#define ACQUIRE memory_order_acquire
#define RELEASE memory_order_release
#define ACQ_REL memory_order_acq_rel

#define W_FREE RG_WORD(RTMEM_BLK_FREE, 0, 0)

static inline void push(const struct rg_cls *k, uint32_t idx)
{
	uint64_t h = atomic_load_explicit(&k->ctl->head, RELAXED);

	do
		atomic_store_explicit(&k->next[idx], RG_HEAD_IDX(h), RELAXED);
	while (!atomic_compare_exchange_weak_explicit(&k->ctl->head, &h, RG_HEAD_NEXT(h, idx), RELEASE, RELAXED));
}

/* Pop one index. Return: index, RG_NIL if empty, or a value >= count if corrupt. */
static inline uint32_t pop(const struct rg_cls *k)
{
	uint64_t h = atomic_load_explicit(&k->ctl->head, ACQUIRE);
	uint32_t idx, nx;

	do {
		idx = RG_HEAD_IDX(h);
		if (idx >= k->count)
			return idx;
		nx = atomic_load_explicit(&k->next[idx], RELAXED);
		if (nx >= k->count && nx != RG_NIL)
			return k->count; /* a link out of bounds: corrupt */
	} while (!atomic_compare_exchange_weak_explicit(&k->ctl->head, &h, RG_HEAD_NEXT(h, nx), ACQ_REL, ACQUIRE));
	return idx;
}

/*
 * The popped block was not FREE (state @w). Hand a checked-out block to the
 * tester, drop a bad one. Return: 1 if the block became ours after all (the
 * tester gave it back meanwhile), 0 to pop again, -EUCLEAN on a corrupt state.
 */
static __attribute__((noinline)) int handoff(const struct rg_cls *k, uint32_t idx, uint64_t w, uint64_t want)
{
	for (;;) {
		uint64_t to;

		switch (RG_ST(w)) {
		case RTMEM_BLK_FREE:
			to = want;
			break;
		case RTMEM_BLK_CHECKOUT:
			to = RG_WORD(RTMEM_BLK_CHECKOUT_U, 0, 0);
			break;
		case RTMEM_BLK_BAD:
			to = RG_WORD(RTMEM_BLK_BAD_U, 0, 0);
			break;
		default:
			return -EUCLEAN;
		}
		if (atomic_compare_exchange_strong_explicit(&k->state[idx], &w, to, ACQ_REL, ACQUIRE))
			return to == want;
	}
}

static __attribute__((noinline)) int alloc_fail(const struct rg_cls *k, int err)
{
	if (err == -ENOMEM)
		atomic_fetch_add_explicit(&k->ctl->failed, 1, RELAXED);
	return err;
}

int rtmem_slab_alloc(struct rtmem_region *r, uint32_t cls, uint64_t owner, unsigned flags, void **ret)
{
	const struct rg_cls *k;
	uint64_t want = RG_WORD(RTMEM_BLK_ALLOC, 0, owner), u, hwm;
	uint32_t idx;

	if (__builtin_expect(cls >= r->nclasses, 0))
		return -EINVAL;
	k = &r->cls[cls];
	if (k->reserve && !(flags & RTMEM_ALLOC_RESERVE) &&
	    k->count - atomic_load_explicit(&k->ctl->in_use, RELAXED) -
			    atomic_load_explicit(&k->ctl->bad, RELAXED) <= k->reserve)
		return alloc_fail(k, -ENOMEM);
	for (;;) {
		uint64_t w = W_FREE;
		int rc;

		idx = pop(k);
		if (__builtin_expect(idx >= k->count, 0))
			return alloc_fail(k, idx == RG_NIL ? -ENOMEM : -EUCLEAN);
		if (__builtin_expect(atomic_compare_exchange_strong_explicit(&k->state[idx], &w, want, ACQ_REL, ACQUIRE), 1))
			break;
		rc = handoff(k, idx, w, want);
		if (rc < 0)
			return rc;
		if (rc)
			break;
	}
	u = atomic_fetch_add_explicit(&k->ctl->in_use, 1, RELAXED) + 1;
	hwm = atomic_load_explicit(&k->ctl->hwm, RELAXED);
	while (u > hwm && !atomic_compare_exchange_weak_explicit(&k->ctl->hwm, &hwm, u, RELAXED, RELAXED))
		;
	*ret = k->data + (uint64_t)idx * k->size;
	return 0;
}

static __attribute__((noinline)) int free_error(uint64_t w)
{
	return RG_ST(w) == RTMEM_BLK_ALLOC ? -EPERM : -EALREADY;
}

static __attribute__((noinline)) void wake(struct rg_class *ctl)
{
	atomic_fetch_add_explicit(&ctl->seq, 1, RELEASE);
	syscall(SYS_futex, &ctl->seq, FUTEX_WAKE, 1, NULL, NULL, 0);
}

int rtmem_slab_free(struct rtmem_region *r, void *p, uint64_t owner)
{
	uint64_t off = (uint64_t)((char *)p - r->base), doff = off - r->data_off, rel, idx;
	uint64_t w = RG_WORD(RTMEM_BLK_ALLOC, 0, owner);
	const struct rg_cls *k;
	uint32_t c;

	if (__builtin_expect(doff >= r->data_size, 0))
		return -EFAULT;
	c = r->pagecls[doff / RG_PAGE];
	if (__builtin_expect(c >= r->nclasses, 0))
		return -EFAULT;
	k = &r->cls[c];
	rel = off - k->data_off;
	idx = rel / k->size;
	if (__builtin_expect(idx >= k->count || idx * k->size != rel, 0))
		return -EFAULT;
	if (__builtin_expect(!atomic_compare_exchange_strong_explicit(&k->state[idx], &w, W_FREE, ACQ_REL, RELAXED), 0))
		return free_error(w);
	push(k, (uint32_t)idx);
	atomic_fetch_sub_explicit(&k->ctl->in_use, 1, RELAXED);
	if (__builtin_expect(atomic_load_explicit(&k->ctl->waiters, RELAXED) != 0, 0))
		wake(k->ctl);
	return 0;
}

int rtmem_slab_alloc_timed(struct rtmem_region *r, uint32_t cls, uint64_t owner, unsigned flags,
			   const struct timespec *abs_timeout, void **ret)
{
	struct rg_class *ctl;
	int rc = rtmem_slab_alloc(r, cls, owner, flags, ret);

	if (rc != -ENOMEM)
		return rc;
	ctl = r->cls[cls].ctl;
	for (;;) {
		uint32_t seq;

		/* Announce ourselves before the re-check: a free that lands after
		 * the re-check sees waiters != 0 and bumps seq, so FUTEX_WAIT
		 * returns at once instead of missing the wake-up. */
		atomic_fetch_add_explicit(&ctl->waiters, 1, ACQ_REL);
		seq = atomic_load_explicit(&ctl->seq, ACQUIRE);
		rc = rtmem_slab_alloc(r, cls, owner, flags, ret);
		if (rc == -ENOMEM &&
		    syscall(SYS_futex, &ctl->seq, FUTEX_WAIT_BITSET, seq, abs_timeout, NULL, FUTEX_BITSET_MATCH_ANY) < 0 &&
		    (errno == ETIMEDOUT || errno == EINTR))
			rc = -errno;
		atomic_fetch_sub_explicit(&ctl->waiters, 1, RELEASE);
		if (rc != -ENOMEM)
			return rc;
	}
}

/* Tester side (daemon). */

int rg_slab_checkout(struct rtmem_region *r, uint32_t c, uint32_t idx)
{
	const struct rg_cls *k = &r->cls[c];
	uint64_t w = W_FREE;

	if (!atomic_compare_exchange_strong_explicit(&k->state[idx], &w, RG_WORD(RTMEM_BLK_CHECKOUT, 0, 0), ACQ_REL,
						     RELAXED))
		return -EBUSY;
	atomic_fetch_add_explicit(&k->ctl->checkout, 1, RELAXED);
	return 0;
}

int rg_slab_checkin(struct rtmem_region *r, uint32_t c, uint32_t idx)
{
	const struct rg_cls *k = &r->cls[c];
	uint64_t w = RG_WORD(RTMEM_BLK_CHECKOUT, 0, 0);

	/* Still listed: make it FREE again. Else an allocator popped it
	 * meanwhile (CHECKOUT_U) and only we touch it now: push it back. */
	if (!atomic_compare_exchange_strong_explicit(&k->state[idx], &w, W_FREE, ACQ_REL, ACQUIRE)) {
		if (RG_ST(w) != RTMEM_BLK_CHECKOUT_U)
			return -EINVAL;
		atomic_store_explicit(&k->state[idx], W_FREE, RELEASE);
		push(k, idx);
	}
	atomic_fetch_sub_explicit(&k->ctl->checkout, 1, RELAXED);
	if (atomic_load_explicit(&k->ctl->waiters, RELAXED))
		wake(k->ctl);
	return 0;
}

int rg_slab_mark_bad(struct rtmem_region *r, uint32_t c, uint32_t idx)
{
	const struct rg_cls *k = &r->cls[c];
	uint64_t w = atomic_load_explicit(&k->state[idx], ACQUIRE), to;

	do {
		switch (RG_ST(w)) {
		case RTMEM_BLK_FREE:
		case RTMEM_BLK_CHECKOUT:
			to = RG_WORD(RTMEM_BLK_BAD, 0, 0);
			break;
		case RTMEM_BLK_CHECKOUT_U:
			to = RG_WORD(RTMEM_BLK_BAD_U, 0, 0);
			break;
		case RTMEM_BLK_BAD:
		case RTMEM_BLK_BAD_U:
			return -EALREADY;
		default:
			return -EBUSY;
		}
	} while (!atomic_compare_exchange_weak_explicit(&k->state[idx], &w, to, ACQ_REL, ACQUIRE));
	if (RG_ST(w) != RTMEM_BLK_FREE)
		atomic_fetch_sub_explicit(&k->ctl->checkout, 1, RELAXED);
	atomic_fetch_add_explicit(&k->ctl->bad, 1, RELAXED);
	return 0;
}

/* Reclaim every block of @owner in class @c. Return: blocks freed. */
long rg_slab_reclaim(struct rtmem_region *r, uint32_t c, uint64_t owner)
{
	const struct rg_cls *k = &r->cls[c];
	uint64_t want = RG_WORD(RTMEM_BLK_ALLOC, 0, owner);
	long n = 0;

	for (uint32_t i = 0; i < k->count; i++) {
		uint64_t w = want;

		if (atomic_load_explicit(&k->state[i], RELAXED) != want ||
		    !atomic_compare_exchange_strong_explicit(&k->state[i], &w, W_FREE, ACQ_REL, RELAXED))
			continue;
		push(k, i);
		atomic_fetch_sub_explicit(&k->ctl->in_use, 1, RELAXED);
		n++;
	}
	if (n && atomic_load_explicit(&k->ctl->waiters, RELAXED))
		wake(k->ctl);
	return n;
}
