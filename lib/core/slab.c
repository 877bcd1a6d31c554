/* SPDX-License-Identifier: MIT */
/*
 * slab.c - lock-free slab classes in a shared region.
 *
 * Each class is a Treiber stack of block indices: the head is one 64-bit word
 * (32-bit index + 32-bit ABA tag that counts pops: a pop bumps it, a push
 * keeps it; see RG_HEAD_POP in region_int.h) and the links
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
 *   unlisted:  ALLOC (owner in the word), CACHED (in its owner's thread
 *              cache, owner in the word), CHECKOUT_U, BAD_U
 *
 * An allocation pops an index and then moves its state FREE -> ALLOC. If the
 * tester holds the block (CHECKOUT) the allocator hands it over (CHECKOUT_U: the
 * tester will push it back) and pops again; a BAD block is dropped (BAD_U).
 * The tester holds one block at a time, so this adds at most one retry, and
 * each bad block costs one retry once in its life.
 *
 * Invariants (rg_region_check): every listed block is FREE/CHECKOUT/BAD,
 * every unlisted one ALLOC/CACHED/CHECKOUT_U/BAD_U; pops - pushed = #ALLOC + #CACHED; bad = #BAD(_U);
 * checkout = #CHECKOUT(_U); the list has no cycle and only in-range indices.
 *
 * A process killed between the pop and its state CAS, or between the state CAS
 * and the push of a free, leaves one block in a listed state unlisted; the
 * daemon's rg_slab_sweep() finds and pushes it again ("Kills", below). A free
 * goes ALLOC -> FREE_P (its slot and the head's pop count in the word), push
 * (with its count, one CAS), FREE_P -> FREE; a pop claims the block from the
 * word it read while the block was listed.
 *
 * A class with a reserve has lim 0: a caller without RG_ALLOC_RESERVE
 * fails the plain pop's bound at once and goes to pop_room(), one pop whose
 * loop also compares in use with count - reserve - bad - checkout.
 *
 * The atomic steps (pop, state CAS, high-water mark, counted push; LL/SC
 * written out on arm64) are in fastpath.h, shared with the inline thread
 * cache, in the same header.
 *
 * Instructions, longest path: asserted by tests/test_icount.c (x86-64) and
 * tests/icount_qemu.py (arm64), printed by bench/; the figures live there.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <time.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fastpath.h"

/* gcc's noipa keeps a cold callee's register arguments where the caller has
 * them (no inter-procedural changes of the calling convention); clang has no
 * such attribute and keeps the standard convention for a noinline function. */
#if defined(__clang__)
#define RG_NOIPA __attribute__((noinline))
#else
#define RG_NOIPA __attribute__((noipa))
#endif

#define RELAXED memory_order_relaxed
#define ACQUIRE memory_order_acquire
#define RELEASE memory_order_release
#define ACQ_REL memory_order_acq_rel


static inline void push(struct rg_class *ctl, _Atomic uint32_t *next, uint32_t idx)
{
	uint64_t h = atomic_load_explicit(&ctl->head, RELAXED);

	do
		atomic_store_explicit(&next[idx], RG_HEAD_IDX(h), RELAXED);
	while (!atomic_compare_exchange_weak_explicit(&ctl->head, &h, RG_HEAD_PUSH(h, idx), RELEASE, RELAXED));
}


/*
 * The claim of popped block @idx failed: its word is @w, where the pop read
 * @exp while the block was listed. The upper bits differ: the daemon took the
 * block meanwhile (a sweep that found it unlisted while this thread was
 * preempted; it pushed it again and counted that push): not ours, pop again.
 * They agree: the freer finalized it (FREE_P -> FREE), or the tester holds
 * it (hand it over), or it is quarantined (drop it). Return: 1 if the block
 * is ours, 0 to pop again, -EUCLEAN on a corrupt state.
 */
static __attribute__((noinline, cold)) int handoff(const struct rg_cls *k, uint32_t idx, uint64_t w, uint64_t exp,
						   uint64_t want)
{
	for (;;) {
		uint64_t to;

		if ((w ^ exp) >> 16)
			return 0;
		switch (RG_ST(w)) {
		case RG_BLK_FREE:
		case RG_BLK_FREE_P:
			to = want;
			break;
		case RG_BLK_CHECKOUT:
			to = (w & ~0xffull) | RG_BLK_CHECKOUT_U;
			break;
		case RG_BLK_BAD:
			to = (w & ~0xffull) | RG_BLK_BAD_U;
			break;
		default:
			return -EUCLEAN;
		}
		if (!atomic_compare_exchange_strong_explicit(&k->state[idx], &w, to, ACQ_REL, ACQUIRE))
			continue;
		if (to != want) /* a pop that allocated nothing: count it as pushed back */
			atomic_fetch_add_explicit(&k->ctl->pushed, 1, RELAXED);
		return to == want;
	}
}

static inline int alloc_done(const struct rg_cls *k, uint32_t idx, void **ret)
{
	*ret = k->data + (uint64_t)idx * k->size;
	return (int)raise_hwm(k->ctl, rg_in_use(k->ctl));
}

static __attribute__((noinline, cold)) int alloc_empty(const struct rg_cls *k, uint32_t idx)
{
	if (idx != RG_NIL)
		return -EUCLEAN;
	atomic_fetch_add_explicit(&k->ctl->failed, 1, RELAXED);
	return -ENOMEM;
}

/* How a pop bounds the head index it found (see pop_claim_inline()). */
enum pop_mode {
	POP_LIM,     /* below lim: count, or 0 in a class with a reserve (-> alloc_slow) */
	POP_GRANTED, /* below count: RG_ALLOC_RESERVE may take the reserve */
	POP_ROOM,    /* below count, and only while rg_reserve_room() */
};

static __attribute__((noinline, cold)) int reserve_full(const struct rg_cls *k)
{
	atomic_fetch_add_explicit(&k->ctl->failed, 1, RELAXED);
	return -ENOMEM;
}

static RG_NOIPA __attribute__((cold)) int pop_room(const struct rg_cls *k, uint32_t idx, uint64_t want, void **ret);

/* A pop found index @idx at or past lim: the class is empty, corrupt (idx
 * not RG_NIL), or has a reserve (lim 0), which a caller without
 * RG_ALLOC_RESERVE must leave. All three go on to pop_room(), which pops
 * with the room check in its loop and reports empty or corrupt itself (in a
 * class without a reserve its room is count - bad: it leaves only when
 * nothing FREE is left). */
#define alloc_slow(k, idx, want, ret) pop_room(k, idx, want, ret)

static int pop_claim(const struct rg_cls *k, uint64_t want, void **ret);

/* The popped block was not FREE: hand it over, then pop again (a tail call),
 * with the grant the caller has: one without RG_ALLOC_RESERVE pops with
 * the room check again (others may have taken the room meanwhile). */
static __attribute__((noinline, cold)) int claim_failed(const struct rg_cls *k, uint32_t idx, uint64_t w,
							uint64_t exp, uint64_t want, void **ret, bool granted)
{
	int rc = handoff(k, idx, w, exp, want);

	if (rc < 0)
		return rc;
	if (rc)
		return alloc_done(k, idx, ret);
	return granted ? pop_claim(k, want, ret) : pop_room(k, idx, want, ret);
}

/*
 * Pop a block and claim its state word. Only k, the owner word and ret are
 * live across the loop, so it runs in the caller-saved registers; every slow
 * case leaves by a tail call. Fields are re-read from the private handle.
 */
#if defined(__aarch64__)
static inline __attribute__((always_inline)) int pop_claim_inline(const struct rg_cls *k, uint64_t want, void **ret,
								     enum pop_mode mode)
{
	struct rg_class *ctl = k->ctl;
	uint64_t w, exp, idx, nh, pushed;
	/* read the handle before the asm's memory clobbers */
	_Atomic uint64_t *state = k->state;
	char *data = k->data;
	uint64_t size = k->size;

	/* A link is not checked when read: it becomes the head, and the next
	 * pop checks it before using it (a corrupt head gives -EUCLEAN then).
	 * lim is 0 in a class with a reserve, which sends its callers to the
	 * reserve check; that check then pops with the real count. */
	if (__builtin_expect(!pop(ctl, k->next, state, mode == POP_LIM ? k->lim : mode == POP_GRANTED ? k->count : 0,
				  mode == POP_ROOM ? k : NULL, &idx, &nh, &pushed, &w),
			     0)) { /* RG_NIL: empty; else corrupt; or the reserve reached */
		if (mode == POP_LIM)
			return alloc_slow(k, (uint32_t)idx, want, ret);
		if (mode == POP_ROOM && idx < k->count)
			return reserve_full(k);
		return alloc_empty(k, (uint32_t)idx);
	}
	exp = w;
	if (__builtin_expect(!RG_CLAIMABLE(w) || !cas_state(&state[idx], &w, want), 0))
		return claim_failed(k, (uint32_t)idx, w, exp, want, ret, mode == POP_GRANTED);
	*ret = data + idx * size;
	return (int)raise_hwm(ctl, in_use_after(ctl, nh, pushed));
}
#else /* the C11 loops written out: gcc keeps x86-64 within its caller-saved registers this way */
static inline __attribute__((always_inline)) int pop_claim_inline(const struct rg_cls *k, uint64_t want, void **ret,
								     enum pop_mode mode)
{
	struct rg_class *ctl = k->ctl;
	uint64_t h = atomic_load_explicit(&ctl->head, ACQUIRE), w, exp, nh, hwm;
	int64_t room = mode == POP_ROOM ? rg_reserve_room(k) : 0;
	uint32_t idx, u;

	/* A link is not checked when read: it becomes the head, and the next
	 * pop checks it before using it (a corrupt head gives -EUCLEAN then).
	 * lim is 0 in a class with a reserve, which sends its callers to the
	 * reserve check; that check then pops with the real count. */
	do {
		idx = RG_HEAD_IDX(h);
		if (__builtin_expect(idx >= (mode == POP_LIM ? k->lim : k->count), 0)) /* RG_NIL: empty; else corrupt */
			return mode == POP_LIM ? alloc_slow(k, idx, want, ret) : alloc_empty(k, idx);
		if (mode == POP_ROOM && __builtin_expect(!rg_room_left(k, h, room), 0))
			return reserve_full(k);
		nh = RG_HEAD_POP(h, atomic_load_explicit(&k->next[idx], RELAXED));
		w = atomic_load_explicit(&k->state[idx], RELAXED); /* the word the claim expects ("Kills") */
	} while (!atomic_compare_exchange_weak_explicit(&ctl->head, &h, nh, ACQ_REL, ACQUIRE));
	exp = w;
	if (__builtin_expect(!RG_CLAIMABLE(w) ||
				     !atomic_compare_exchange_strong_explicit(&k->state[idx], &w, want, ACQ_REL, ACQUIRE),
			     0))
		return claim_failed(k, idx, w, exp, want, ret, mode == POP_GRANTED);
	*ret = k->data + (uint64_t)idx * k->size;
	/* in use right after our pop: our pop count minus the pushes seen now (a
	 * push racing in between can only make this lower than the true peak) */
	u = (uint32_t)nh - (uint32_t)atomic_load_explicit(&ctl->pushed, RELAXED);
	hwm = atomic_load_explicit(&ctl->hwm, RELAXED);
	/* pushes that landed after our pop make u "negative": never a mark */
	while (__builtin_expect(u > hwm, 0) && (int32_t)u > 0 &&
	       !atomic_compare_exchange_weak_explicit(&ctl->hwm, &hwm, u, RELAXED, RELAXED))
		;
	return 0;
}
#endif

static __attribute__((noinline)) int pop_claim(const struct rg_cls *k, uint64_t want, void **ret)
{
	return pop_claim_inline(k, want, ret, POP_GRANTED);
}

/* A caller without the grant, in a class with a reserve: one pop with the
 * room check in its loop (no pop, then check, then pop again). */
static RG_NOIPA __attribute__((cold)) int pop_room(const struct rg_cls *k, uint32_t idx, uint64_t want, void **ret)
{
	(void)idx; /* the failed pop's, in its register: noipa keeps it, so the fast path moves nothing */
	return pop_claim_inline(k, want, ret, POP_ROOM);
}

int rg_slab_alloc(struct rg_region *r, uint32_t cls, uint64_t owner, unsigned flags, void **ret)
{
	const struct rg_cls *k;
	uint64_t b;

	if (__builtin_expect(cls >= r->nclasses, 0))
		return -EINVAL;
	/* k = r->cls + an opaque 64 * cls: one shift and one add (LEA), where
	 * gcc would otherwise keep both r + 64 * cls and k in registers */
	b = (uint64_t)cls * sizeof(struct rg_cls);
	RG_OPAQUE(b);
	k = (const struct rg_cls *)((const char *)r->cls + b);
	if (flags & RG_ALLOC_RESERVE) /* may take the reserve: pop up to count */
		return pop_claim_inline(k, RG_WORD(RG_BLK_ALLOC, 0, owner), ret, POP_GRANTED);
	return pop_claim_inline(k, RG_WORD(RG_BLK_ALLOC, 0, owner), ret, POP_LIM);
}

static __attribute__((noinline, cold)) int free_error(uint64_t w)
{
	return RG_ST(w) == RG_BLK_ALLOC ? -EPERM : -EALREADY;
}

/* Wake every waiter, not one: a waiter of a striped class sleeps on all
 * stripes of its size at once (stripe.c), so one that is already awake,
 * taking a block freed elsewhere, may still be queued here and would use up
 * a wake of one while another waiter sleeps on with this block free. The
 * woken look again in priority order; those who find nothing sleep again.
 * Return: 0, so the free path can leave through it as a tail call. */
static __attribute__((noinline, cold)) int wake(struct rg_class *ctl)
{
	atomic_fetch_add_explicit(&ctl->seq, 1, RELEASE);
	syscall(SYS_futex, &ctl->seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	return 0;
}

/* Free block @idx of class @k, allocated to @owner, to the shared list.
 * rg_cache_to_shared() is the same steps returning the block size; one
 * inline for both, returning a given value, makes this free longer (the 0
 * is no longer the waiters register; tests/test_icount.c counts it). */
static inline __attribute__((always_inline)) int free_shared(const struct rg_cls *k, uint64_t idx, uint64_t owner)
{
	uint64_t w = RG_WORD(RG_BLK_ALLOC, 0, owner);
	struct rg_class *ctl = k->ctl;
	_Atomic uint32_t *next = k->next;
	uint64_t h = atomic_load_explicit(&ctl->head, RELAXED);
	uint64_t fp = RG_FREEW(RG_BLK_FREE_P, owner, h);
	uint32_t waiters;

	if (__builtin_expect(!cas_state(&k->state[idx], &w, fp), 0))
		return free_error(w);
	push_freed(ctl, next, idx, h);
	(void)cas_state(&k->state[idx], &fp, fp ^ RG_FREE_FIN); /* fails only if popped and claimed meanwhile */
#if defined(__aarch64__)
	/* rg_waiters_after_push() and its test in one asm: the 0 it leaves
	 * is returned from the register it was loaded into (gcc otherwise
	 * loads into one register and moves it to w0: a move more) */
	__asm__ goto("ldar	%w0, %1\n\tcbnz	%w0, %l[waiting]"
		     : "=r"(waiters)
		     : "Q"(*(const uint32_t *)&ctl->waiters)
		     : "memory"
		     : waiting);
	return (int)waiters; /* 0 */
waiting:
	return wake(ctl);
#else
	waiters = rg_waiters_after_push(&ctl->waiters);
	if (__builtin_expect(waiters != 0, 0))
		return wake(ctl);
	RG_OPAQUE(waiters); /* 0: returned as it is, not set again */
	return (int)waiters;
#endif
}

int rg_slab_free(struct rg_region *r, void *p, uint64_t owner)
{
	uint64_t off = (uint64_t)((char *)p - r->base), idx, count;
	const struct rg_cls *k;

	if (__builtin_expect(off >= r->total, 0))
		return -EFAULT;
	/* pagecls is private and holds a class or a sentinel of count 0, so the
	 * index check below also rejects metadata, padding and buddy pages. */
	k = &r->cls[(uint64_t)r->pagecls[off / RG_PAGE]];
	idx = rg_block_index_count(k, (uint64_t)((char *)p - k->data), &count);
	if (__builtin_expect(idx >= count, 0)) /* not a block start, padding, not slab */
		return -EFAULT;
	return free_shared(k, idx, owner);
}

/* Block @idx, in state @w (ALLOC or CACHED), back to the shared list as a
 * daemon-side free: a FREE word of slot 0, pushed and counted in one step.
 * Return: true, or false if the word was no longer @w. */
static bool give_back(const struct rg_cls *k, uint64_t idx, uint64_t w)
{
	uint64_t h = atomic_load_explicit(&k->ctl->head, RELAXED);

	if (!atomic_compare_exchange_strong_explicit(&k->state[idx], &w, RG_FREEW(RG_BLK_FREE, 0, h), ACQ_REL, RELAXED))
		return false;
	push_freed(k->ctl, k->next, idx, h);
	return true;
}

/* Thread caches (see region.h). Only the owner writes a block it owns, so
 * ALLOC <-> CACHED are plain stores; the load before each checks the word. */

uint32_t rg_slab_cache_cap(const struct rg_region *r, uint32_t cls)
{
	uint64_t fair;

	if (cls >= r->nclasses)
		return 0;
	/* one full cache per client slot must leave 3/4 of the class */
	fair = r->cls[cls].count / (4ull * r->nslots);
	return fair < r->cache ? (uint32_t)fair : r->cache;
}

void rg_slab_cache_init(const struct rg_region *r, struct rg_slab_cache *tc)
{
	tc[0] = (struct rg_slab_cache){ .n = 0, .cap = 0 }; /* also without classes: the hint, class 0 */
	for (uint32_t c = 0; c < r->nclasses; c++)
		tc[c] = (struct rg_slab_cache){ .n = 0, .cap = rg_slab_cache_cap(r, c) };
}

int rg_slab_cache_alloc(struct rg_region *r, struct rg_slab_cache *tc, uint32_t cls, uint64_t owner,
			   void **ret)
{
	return rg_cache_alloc(r, tc, cls, owner, ret);
}

long rg_free_error_long(uint64_t w)
{
	return free_error(w);
}

/* Wake a waiter, then return @size: the tail of rg_cache_full(). */
long rg_wake_size(struct rg_class *ctl, long size)
{
	wake(ctl);
	return size;
}

long rg_cache_full(const struct rg_cls *k, uint64_t idx, uint64_t owner)
{
	return rg_cache_to_shared(k, idx, owner);
}

long rg_cache_free_other(struct rg_region *r, struct rg_slab_cache *tc, void *p, uint64_t owner)
{
	const struct rg_cls *k;
	uint64_t c, idx = rg_cache_lookup(r, tc, p, &k, &c);

	if (idx == UINT64_MAX)
		return -EFAULT;
	return rg_cache_put(k, (struct rg_slab_cache *)((char *)tc + RG_TC_SCALE * c), idx, p, owner);
}

long rg_slab_cache_free(struct rg_region *r, struct rg_slab_cache *tc, void *p, uint64_t owner)
{
	return rg_cache_free(r, tc, p, owner);
}

uint64_t rg_slab_cache_flush(struct rg_region *r, struct rg_slab_cache *tc, uint64_t owner)
{
	uint64_t bytes = 0;

	for (uint32_t c = 0; c < r->nclasses; c++) {
		const struct rg_cls *k = &r->cls[c];
		struct rg_slab_cache *t = &tc[c];

		while (t->n) {
			uint64_t idx = RG_TC_IDX(t, --t->n);

			/* a block that is no longer ours (reclaimed) is simply dropped */
			if (idx < k->count && give_back(k, idx, RG_WORD(RG_BLK_CACHED, 0, owner)))
				bytes += k->size;
		}
		if (rg_waiters_after_push(&k->ctl->waiters))
			(void)wake(k->ctl);
	}
	return bytes;
}

/* Tester side (daemon). */

int rg_slab_checkout(struct rg_region *r, uint32_t c, uint32_t idx)
{
	const struct rg_cls *k = &r->cls[c];
	uint64_t w = atomic_load_explicit(&k->state[idx], RELAXED);

	/* FREE only (not FREE_P, whose freer may still finalize it); the upper
	 * bits are kept, so that checkin gives the word back as it was */
	if (RG_ST(w) != RG_BLK_FREE ||
	    !atomic_compare_exchange_strong_explicit(&k->state[idx], &w, (w & ~0xffull) | RG_BLK_CHECKOUT, ACQ_REL,
						     RELAXED))
		return -EBUSY;
	atomic_fetch_add_explicit(&k->ctl->checkout, 1, RELAXED);
	return 0;
}

int rg_slab_checkin(struct rg_region *r, uint32_t c, uint32_t idx)
{
	const struct rg_cls *k = &r->cls[c];
	uint64_t w = atomic_load_explicit(&k->state[idx], ACQUIRE);

	/* Still listed: the word it had before checkout. Else an allocator
	 * popped it meanwhile (CHECKOUT_U) and only we touch it now: push it
	 * back, with a word no pop can be expecting. */
	if (RG_ST(w) == RG_BLK_CHECKOUT &&
	    atomic_compare_exchange_strong_explicit(&k->state[idx], &w, (w & ~0xffull) | RG_BLK_FREE, ACQ_REL,
						    ACQUIRE)) {
	} else if (RG_ST(w) == RG_BLK_CHECKOUT_U) {
		uint64_t h = atomic_load_explicit(&k->ctl->head, RELAXED);

		atomic_store_explicit(&k->state[idx], RG_FREEW(RG_BLK_FREE, 0, h), RELEASE);
		push(k->ctl, k->next, idx);
	} else {
		return -EINVAL;
	}
	atomic_fetch_sub_explicit(&k->ctl->checkout, 1, RELAXED);
	if (rg_waiters_after_push(&k->ctl->waiters))
		return wake(k->ctl);
	return 0;
}

int rg_slab_mark_bad(struct rg_region *r, uint32_t c, uint32_t idx)
{
	const struct rg_cls *k = &r->cls[c];
	uint64_t w = atomic_load_explicit(&k->state[idx], ACQUIRE), to;

	do {
		switch (RG_ST(w)) {
		case RG_BLK_FREE:
		case RG_BLK_CHECKOUT:
			to = (w & ~0xffull) | RG_BLK_BAD;
			break;
		case RG_BLK_CHECKOUT_U:
			to = (w & ~0xffull) | RG_BLK_BAD_U;
			break;
		case RG_BLK_BAD:
		case RG_BLK_BAD_U:
			return -EALREADY;
		default:
			return -EBUSY;
		}
	} while (!atomic_compare_exchange_weak_explicit(&k->state[idx], &w, to, ACQ_REL, ACQUIRE));
	if (RG_ST(w) != RG_BLK_FREE)
		atomic_fetch_sub_explicit(&k->ctl->checkout, 1, RELAXED);
	atomic_fetch_add_explicit(&k->ctl->bad, 1, RELAXED);
	return 0;
}

/* Reclaim every block of @owner in class @c. Return: blocks freed. */
long rg_slab_reclaim(struct rg_region *r, uint32_t c, uint64_t owner)
{
	const struct rg_cls *k = &r->cls[c];
	uint64_t want = RG_WORD(RG_BLK_ALLOC, 0, owner), cached = RG_WORD(RG_BLK_CACHED, 0, owner);
	long n = 0;

	for (uint32_t i = 0; i < k->count; i++) {
		uint64_t w = atomic_load_explicit(&k->state[i], RELAXED);

		if (w == want || w == cached)
			n += give_back(k, i, w);
	}
	if (n && rg_waiters_after_push(&k->ctl->waiters))
		(void)wake(k->ctl);
	return n;
}

/*
 * Kills. A client may die at any instruction. Its ALLOC and CACHED blocks
 * carry its owner word and rg_slab_reclaim() takes them back; what else it
 * can leave is a block in a listed state that is on no list:
 *  - killed between a pop's head CAS and its claim: the block keeps the word
 *    it had while listed (FREE, FREE_P, CHECKOUT or BAD);
 *  - killed between a free's state CAS (ALLOC -> FREE_P, its slot in the
 *    word) and the push.
 * rg_slab_sweep() finds them: a validated walk of the list, then every block
 * in a listed state that the walk did not meet is taken by a CAS from the
 * word read before a second walk, and pushed again (counted). Blocks are
 * left alone while they may still be in the hands of a live client:
 *  - FREE_P of a live slot: its freer may be between state CAS and push (a
 *    free finalizes FREE_P -> FREE once pushed, so that a block popped and
 *    lost after such a free does not stay FREE_P for ever);
 *  - a block a live client has popped and not yet claimed is taken all the
 *    same: that client's claim expects the word it read while the block was
 *    listed, the sweep's CAS changed it, so the claim fails and the client
 *    pops again (handoff(): upper bits differ). Nothing is held twice.
 * The walk is validated against pops: a block at depth d of the list read
 * from head h0 is still listed, with the same link, while fewer than d + 1
 * pops have happened since h0 (the tag counts them). A walk that pops outrun
 * starts again, at most SWEEP_TRIES times.
 */
#define SWEEP_TRIES 16
#define SWEEP_CAND 256 /* candidates per pass; more are taken by the next sweep */

static bool bm_test(const uint64_t *bm, uint64_t i)
{
	return bm[i / 64] >> (i % 64) & 1;
}

/* Return: 0 with @bm the blocks listed at one instant, -EAGAIN (outrun),
 * -EUCLEAN (an index out of range or a cycle: the list is corrupt). */
static int walk(const struct rg_cls *k, uint64_t *bm)
{
	for (int t = 0; t < SWEEP_TRIES; t++) {
		uint64_t h0 = atomic_load_explicit(&k->ctl->head, ACQUIRE), d = 0;
		uint32_t i = RG_HEAD_IDX(h0), n;
		bool outrun = false;

		memset(bm, 0, ((size_t)k->count + 63) / 64 * 8);
		while (i != RG_NIL) {
			if (i >= k->count)
				return -EUCLEAN;
			n = atomic_load_explicit(&k->next[i], ACQUIRE);
			atomic_thread_fence(ACQUIRE);
			if ((uint32_t)atomic_load_explicit(&k->ctl->head, ACQUIRE) - (uint32_t)h0 > d) {
				outrun = true;
				break;
			}
			if (bm_test(bm, i))
				return -EUCLEAN;
			bm[i / 64] |= 1ull << (i % 64);
			i = n;
			d++;
		}
		if (!outrun)
			return 0;
	}
	return -EAGAIN;
}

static bool listed_word(uint64_t w)
{
	uint32_t s = RG_ST(w);

	return s == RG_BLK_FREE || s == RG_BLK_FREE_P || s == RG_BLK_CHECKOUT || s == RG_BLK_BAD;
}

/* Take unlisted block @i from word @w and give it back. Return: true if taken. */
static bool retake(const struct rg_cls *k, uint32_t i, uint64_t w)
{
	uint64_t h = atomic_load_explicit(&k->ctl->head, RELAXED), to;

	switch (RG_ST(w)) {
	case RG_BLK_FREE:
	case RG_BLK_FREE_P:
		to = RG_FREEW(RG_BLK_FREE, 0, h);
		break;
	case RG_BLK_CHECKOUT: /* the tester pushes it back at checkin */
		to = (w & ~0xffull) | RG_BLK_CHECKOUT_U;
		break;
	default: /* BAD: it stays out for good */
		to = (w & ~0xffull) | RG_BLK_BAD_U;
		break;
	}
	if (!atomic_compare_exchange_strong_explicit(&k->state[i], &w, to, ACQ_REL, RELAXED))
		return false;
	if (RG_ST(to) == RG_BLK_FREE)
		push_freed(k->ctl, k->next, i, h);
	else
		atomic_fetch_add_explicit(&k->ctl->pushed, 1, RELAXED); /* as handoff() counts it */
	return true;
}

/*
 * A list that is corrupt (an index out of range, or a cycle: what a stray
 * write into next[] or the head does) is detached whole: the head becomes
 * empty with its pop count raised by the distinct blocks of the chain, as
 * if each had been popped, and the sweep then gives back every block in a
 * listed state that is on no list, each counted as a push. Blocks of the
 * chain that a stray write left in another state stay counted as in use.
 * Return: 0, or -EAGAIN if the head moved meanwhile.
 */
static int detach_corrupt(const struct rg_cls *k, uint64_t *bm)
{
	uint64_t h = atomic_load_explicit(&k->ctl->head, ACQUIRE);
	uint32_t i = RG_HEAD_IDX(h), n = 0;

	memset(bm, 0, ((size_t)k->count + 63) / 64 * 8);
	while (i < k->count && !bm_test(bm, i)) {
		bm[i / 64] |= 1ull << (i % 64);
		n++;
		i = atomic_load_explicit(&k->next[i], RELAXED);
	}
	if (!atomic_compare_exchange_strong_explicit(&k->ctl->head, &h,
						     ((uint64_t)RG_NIL << 32) | (uint32_t)((uint32_t)h + n), ACQ_REL,
						     RELAXED))
		return -EAGAIN;
	return 0;
}

long rg_slab_sweep(struct rg_region *r, uint32_t c, const uint8_t *live, uint64_t *bm, bool *ret_repaired)
{
	const struct rg_cls *k = &r->cls[c];
	uint32_t cand[SWEEP_CAND];
	uint64_t cw[SWEEP_CAND];
	uint32_t nc = 0;
	long n = 0;
	int rc = walk(k, bm);

	for (int t = 0; rc == -EUCLEAN && t < SWEEP_TRIES; t++) {
		rc = detach_corrupt(k, bm);
		if (rc == 0) {
			*ret_repaired = true;
			rc = walk(k, bm);
		} else {
			rc = walk(k, bm); /* the head moved: corrupt still? */
		}
	}
	if (rc < 0)
		return rc;
	for (uint32_t b = 0; b < k->count && nc < SWEEP_CAND; b++) {
		uint64_t w;

		if (bm_test(bm, b))
			continue;
		w = atomic_load_explicit(&k->state[b], ACQUIRE);
		if (!listed_word(w))
			continue;
		if (RG_ST(w) == RG_BLK_FREE_P && (w >> 16 & 0xffff) != 0 && (w >> 16 & 0xffff) <= r->nslots &&
		    live[w >> 16 & 0xffff])
			continue; /* its live freer may be about to push it */
		cand[nc] = b;
		cw[nc++] = w;
	}
	if (!nc) {
		if (*ret_repaired)
			(void)rg_slab_recount(r, c);
		return 0;
	}
	/* the words were read before this walk: a block pushed since is on the
	 * list now, or has another word (and the CAS fails) */
	rc = walk(k, bm);
	if (rc < 0)
		return rc;
	for (uint32_t j = 0; j < nc; j++)
		if (!bm_test(bm, cand[j]))
			n += retake(k, cand[j], cw[j]);
	if (*ret_repaired) /* which blocks the lost chain had counted is unknown: count from the words */
		(void)rg_slab_recount(r, c);
	if (n && rg_waiters_after_push(&k->ctl->waiters))
		(void)wake(k->ctl);
	return n;
}

/* pushed = @np if head is still @h and pushed @p, as one step where the
 * architecture has a pair CAS (a pop or push in between fails it). */
static bool recount_cas(struct rg_class *ctl, uint64_t h, uint64_t p, uint64_t np)
{
#if defined(__aarch64__)
	uint64_t cur, cp;

	do {
		cur = ldaxp(ctl, &cp);
		if (cur != h || cp != p) {
			__asm__ volatile("clrex" ::: "memory");
			return false;
		}
	} while (stlxp(ctl, h, np) != 0);
	return true;
#elif !defined(RG_PUSH_TWO_STEPS)
	return cas_pair(ctl, &h, &p, h, np);
#else
	return atomic_compare_exchange_strong_explicit(&ctl->pushed, &p, np, ACQ_REL, RELAXED) &&
	       atomic_load_explicit(&ctl->head, ACQUIRE) == h;
#endif
}

int rg_slab_recount(struct rg_region *r, uint32_t c)
{
	const struct rg_cls *k = &r->cls[c];

	for (int t = 0; t < SWEEP_TRIES; t++) {
		uint64_t h = atomic_load_explicit(&k->ctl->head, ACQUIRE);
		uint64_t p = atomic_load_explicit(&k->ctl->pushed, ACQUIRE), want;
		uint32_t held = 0;

		for (uint32_t b = 0; b < k->count; b++) {
			uint32_t s = RG_ST(atomic_load_explicit(&k->state[b], RELAXED));

			held += s == RG_BLK_ALLOC || s == RG_BLK_CACHED;
		}
		want = (uint32_t)((uint32_t)h - held);
		if ((uint32_t)p == want)
			return 0;
		if (recount_cas(k->ctl, h, p, (p & ~0xffffffffull) | want))
			return 1;
	}
	return 0;
}
