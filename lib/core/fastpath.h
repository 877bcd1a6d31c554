/* SPDX-License-Identifier: MIT */
/*
 * fastpath.h - the allocator's fast path, in one place: the atomic steps on
 * shared words (relaxed loads and stores, pop, push, state-word CAS,
 * high-water mark), a block's index from its address, the size-to-class
 * lookup, and the thread cache. Everything here is inline: librtmem's
 * rtmem_alloc()/rtmem_free() (lib/client/client.c) compile it into their own
 * bodies, and slab.c builds the out-of-line slab paths from it.
 *
 * Following one rtmem_alloc(): client.c (quota, thread cache slot) ->
 * rg_class_for() and rg_cache_alloc_valid() here -> on a cache miss
 * rg_slab_alloc() in slab.c, whose pop is here. Nothing else: the layout
 * (region_int.h) is only read for its structs and constants.
 * docs/architecture.md walks it through.
 *
 * Context: every function here is RT-safe: no allocation, no lock, no system
 * call (a wake-up after a free is slab.c's rg_wake_size(), out of line).
 * Instruction counts of these paths are asserted by tests/test_icount.c.
 */
#ifndef RG_FASTPATH_H
#define RG_FASTPATH_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "region_int.h"

/*
 * Relaxed loads and stores of shared words. gcc 12 on arm64 addresses every
 * C11 atomic access through a base register alone (one add more per access
 * at an offset or index); these are the same single-copy-atomic LDR/STR with
 * the addressing modes of plain ones. Elsewhere they are C11 relaxed.
 */
#if defined(__aarch64__)
static inline uint32_t rg_load32(const _Atomic uint32_t *a)
{
	uint32_t v;

	__asm__ volatile("ldr	%w0, %1" : "=r"(v) : "m"(*(const uint32_t __attribute__((may_alias)) *)a));
	return v;
}

static inline uint64_t rg_load64(const _Atomic uint64_t *a)
{
	uint64_t v;

	__asm__ volatile("ldr	%0, %1" : "=r"(v) : "m"(*(const uint64_t __attribute__((may_alias)) *)a));
	return v;
}

/* a[i] with a register index (gcc's "m" operands are base + offset only);
 * the memory operand is the whole array at a, so no address is computed for it. */
typedef struct {
	uint64_t w[1u << 28];
} __attribute__((may_alias)) rg_u64_array;

static inline uint64_t rg_load64_at(const _Atomic uint64_t *a, uint64_t i)
{
	uint64_t v;

	__asm__ volatile("ldr	%0, [%1, %2, lsl #3]" : "=r"(v) : "r"(a), "r"(i), "m"(*(const rg_u64_array *)a));
	return v;
}

static inline void rg_store64_at(_Atomic uint64_t *a, uint64_t i, uint64_t v)
{
	__asm__ volatile("str	%1, [%2, %3, lsl #3]" : "+m"(*(rg_u64_array *)a) : "r"(v), "r"(a), "r"(i));
}
#else
static inline uint32_t rg_load32(const _Atomic uint32_t *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

static inline uint64_t rg_load64(const _Atomic uint64_t *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

static inline uint64_t rg_load64_at(const _Atomic uint64_t *a, uint64_t i)
{
	return atomic_load_explicit(&a[i], memory_order_relaxed);
}

static inline void rg_store64_at(_Atomic uint64_t *a, uint64_t i, uint64_t v)
{
	atomic_store_explicit(&a[i], v, memory_order_relaxed);
}
#endif

/*
 * The waiter count, read by a free right after its push. A free and a timed
 * allocation are a store-then-load pair each (push, read waiters; count
 * itself a waiter, read the list again): at least one must see the other's
 * store, or the waiter sleeps through the free. That needs store->load order
 * on the free's side too: x86-64's push is a LOCK CMPXCHG, a full barrier;
 * on arm64 the push is a store-release (STLXR/STLXP) and an LDAR after it
 * stays after it (RCsc: one instruction, like LDR); elsewhere a sequentially
 * consistent fence.
 */
static inline uint32_t rg_waiters_after_push(const _Atomic uint32_t *waiters)
{
#if defined(__aarch64__)
	uint32_t v;

	/* LDAR written out: an acquire load may compile to LDAPR where the
	 * target has RCpc (gcc 13+, +rcpc), and LDAPR may pass an earlier
	 * store-release to another address, which is the order needed here */
	__asm__ volatile("ldar	%w0, %1" : "=r"(v) : "Q"(*(const uint32_t *)waiters) : "memory");
	return v;
#elif defined(__x86_64__) || defined(__i386__)
	atomic_signal_fence(memory_order_seq_cst); /* the compiler must not hoist it above the push */
	return rg_load32(waiters);
#else
	atomic_thread_fence(memory_order_seq_cst);
	return atomic_load_explicit(waiters, memory_order_relaxed);
#endif
}

/* @x's value, hidden from the optimizer: a register known to be 0 is
 * returned as it is instead of a new constant 0. */
#define RG_OPAQUE(x) __asm__("" : "+r"(x))

/*
 * Blocks allocated in a class: pops minus pushes (frees, reclaims, hand-offs).
 * Exact when quiescent. Concurrently, pushed is read first (acquire) and the
 * pop count after it, so a racing free can only make the result too high and
 * never too low: free counts derived from it err on the safe side for the
 * reserve and for the tester's "never take the last free block".
 */
static inline uint32_t rg_in_use(const struct rg_class *ctl)
{
	uint32_t pushed = (uint32_t)atomic_load_explicit(&ctl->pushed, memory_order_acquire);

	return (uint32_t)atomic_load_explicit(&ctl->head, memory_order_relaxed) - pushed;
}


static inline uint64_t rg_block_index(const struct rg_cls *k, uint64_t rel)
{
	uint64_t x = rel * k->inv, s = k->shift64;

	return (x >> (s & 63)) | (x << (-s & 63)); /* a rotate: it reads the low 6 bits alone */
}

/* rg_block_index(), and *ret_count = count64: on arm64 one LDP for count and
 * shift (gcc pairs only loads it schedules side by side). */
static inline uint64_t rg_block_index_count(const struct rg_cls *k, uint64_t rel, uint64_t *ret_count)
{
#if defined(__aarch64__)
	uint64_t x = rel * k->inv, n, s;

	__asm__("ldp	%0, %1, %2"
		: "=r"(n), "=r"(s)
		: "Ump"(*(const struct { uint64_t a, b; } *)&k->count64));
	*ret_count = n;
	return (x >> (s & 63)) | (x << (-s & 63));
#else
	*ret_count = k->count64;
	return rg_block_index(k, rel);
#endif
}

/*
 * The four atomic steps of the fast paths: pop, state CAS, high-water mark,
 * push. C11 everywhere; on arm64 (ARMv8.0, no LSE: every RMW is an LL/SC
 * loop) written as the loop itself, which drops the separate load, compare
 * and status test that gcc wraps around each compare-exchange:
 *  - pop and push take head and pushed (adjacent, 16-byte aligned) as one
 *    LDXP/STXP pair: the push counts itself in the same store-exclusive, and
 *    the pop reads the pushed count of the same instant (in use is exact);
 *  - no memory access sits between a load- and its store-exclusive (the link
 *    is read or written before the load-exclusive, which then compares the
 *    head, as a CAS does), so the architecture's forward-progress guarantee
 *    for LL/SC holds.
 * Orders: pop acquire (the link and the block were written before the push's
 * release), push release, state word acquire+release, hwm relaxed. ABA: the
 * pop bumps the head's 32-bit tag, as in the C version.
 */
/*
 * A caller without RG_ALLOC_RESERVE pops from class @k only while
 * in use + bad + checkout + reserve < count: the blocks the tester holds
 * come out of the room of such callers, not out of the reserve.
 * rg_reserve_room() is count - reserve - bad - checkout (signed: below 0 when
 * bad blocks eat into the reserve), read once before the pop loop; the loop compares in use with
 * it at each try. In use is the head's pop count minus pushed read after the
 * head: a push or pop in between changes the head and fails the pop's CAS,
 * so when the pop succeeds the figure was exact (a pushed that lags its
 * push, x86-64, only makes it higher: the safe side). bad and checkout are
 * read before the loop: a block the tester takes or quarantines meanwhile is
 * counted from the next allocation on.
 */
static inline __attribute__((always_inline)) int64_t rg_reserve_room(const struct rg_cls *k)
{
	return (int64_t)k->count - k->reserve - (int64_t)rg_load64(&k->ctl->bad) -
	       (int64_t)rg_load64(&k->ctl->checkout); /* < 0 if bad eats into it */
}

static inline __attribute__((always_inline)) bool rg_room_left(const struct rg_cls *k, uint64_t h, int64_t room)
{
	return (int64_t)(uint32_t)((uint32_t)h - (uint32_t)rg_load64(&k->ctl->pushed)) < room;
}

#if defined(__aarch64__)
typedef uint64_t __attribute__((may_alias)) a64_u64;
typedef unsigned __int128 __attribute__((may_alias)) a64_u128;

/* One exclusive each: the loops are C, with nothing between a load- and its
 * store-exclusive but registers. Store-exclusive: 0 on success. The release
 * forms clobber memory, so the compiler keeps earlier stores before them. */
static inline __attribute__((always_inline)) uint64_t ldaxr(_Atomic uint64_t *a)
{
	uint64_t v;

	__asm__ volatile("ldaxr	%0, %1" : "=r"(v) : "Q"(*(a64_u64 *)a) : "memory");
	return v;
}

static inline __attribute__((always_inline)) uint64_t ldxr(_Atomic uint64_t *a)
{
	uint64_t v;

	__asm__ volatile("ldxr	%0, %1" : "=r"(v) : "Q"(*(a64_u64 *)a));
	return v;
}

static inline __attribute__((always_inline)) uint32_t stxr(_Atomic uint64_t *a, uint64_t v)
{
	uint32_t st;

	__asm__ volatile("stxr	%w0, %2, %1" : "=&r"(st), "=Q"(*(a64_u64 *)a) : "r"(v));
	return st;
}

static inline __attribute__((always_inline)) uint32_t stlxr(_Atomic uint64_t *a, uint64_t v)
{
	uint32_t st;

	__asm__ volatile("stlxr	%w0, %2, %1" : "=&r"(st), "=Q"(*(a64_u64 *)a) : "r"(v) : "memory");
	return st;
}

/* head and pushed, adjacent and 16-byte aligned, as one exclusive pair */
static inline __attribute__((always_inline)) uint64_t ldaxp(struct rg_class *ctl, uint64_t *ret_pushed)
{
	uint64_t h, p;

	__asm__ volatile("ldaxp	%0, %1, %2" : "=&r"(h), "=&r"(p) : "Q"(*(a64_u128 *)&ctl->head) : "memory");
	*ret_pushed = p;
	return h;
}

static inline __attribute__((always_inline)) uint64_t ldxp(struct rg_class *ctl, uint64_t *ret_pushed)
{
	uint64_t h, p;

	__asm__ volatile("ldxp	%0, %1, %2" : "=&r"(h), "=&r"(p) : "Q"(*(a64_u128 *)&ctl->head));
	*ret_pushed = p;
	return h;
}

static inline __attribute__((always_inline)) uint32_t stxp(struct rg_class *ctl, uint64_t h, uint64_t p)
{
	uint32_t st;

	__asm__ volatile("stxp	%w0, %2, %3, %1"
			 : "=&r"(st), "=Q"(*(a64_u128 *)&ctl->head)
			 : "r"(h), "r"(p));
	return st;
}

static inline __attribute__((always_inline)) uint32_t stlxp(struct rg_class *ctl, uint64_t h, uint64_t p)
{
	uint32_t st;

	__asm__ volatile("stlxp	%w0, %2, %3, %1"
			 : "=&r"(st), "=Q"(*(a64_u128 *)&ctl->head)
			 : "r"(h), "r"(p)
			 : "memory");
	return st;
}

/* Pop below @lim. Return: true with *ret_idx, and *ret_nh and *ret_pushed
 * for in_use_after() (read together: in use is exact); false with *ret_idx
 * the head index found (>= lim). */
static inline __attribute__((always_inline)) bool pop(struct rg_class *ctl, const _Atomic uint32_t *next,
						      const _Atomic uint64_t *state, uint32_t lim,
						      const struct rg_cls *rsv, uint64_t *ret_idx, uint64_t *ret_nh,
						      uint64_t *ret_pushed, uint64_t *ret_w)
{
	uint64_t h = atomic_load_explicit(&ctl->head, memory_order_acquire), nh, cur, p, w;
	uint64_t idx;
	int64_t room = rsv ? rg_reserve_room(rsv) : 0;

	for (;;) {
		idx = RG_HEAD_IDX(h);
		if (__builtin_expect((uint32_t)idx >= lim, 0) && (!rsv || idx >= rsv->count || !rg_room_left(rsv, h, room))) {
			*ret_idx = idx;
			return false;
		}
		nh = RG_HEAD_POP(h, rg_load32(&next[idx]));
		w = rg_load64_at(state, idx); /* the word the claim expects (slab.c, "Kills") */
		do {
			cur = ldaxp(ctl, &p);
			if (__builtin_expect(cur != h, 0))
				break;
		} while (__builtin_expect(stxp(ctl, nh, p) != 0, 0));
		if (__builtin_expect(cur == h, 1))
			break;
		h = cur;
	}
	*ret_idx = idx;
	*ret_nh = nh;
	*ret_pushed = p;
	*ret_w = w;
	return true;
}

/* Blocks in use right after the pop that made head @nh. */
#define in_use_after(ctl, nh, pushed) ((uint32_t)(nh) - (uint32_t)(pushed))

/* Strong CAS of a state word, acquire and release. Return: true, or false
 * with *w the word found. */
static inline __attribute__((always_inline)) bool cas_state(_Atomic uint64_t *a, uint64_t *w, uint64_t to)
{
	uint64_t old;

	do {
		old = ldaxr(a);
		if (__builtin_expect(old != *w, 0)) {
			*w = old;
			return false;
		}
	} while (__builtin_expect(stlxr(a, to) != 0, 0));
	return true;
}

/* hwm = max(hwm, @u), stored every time (the line is ours after the pop):
 * a new high-water mark costs nothing more. Return: 0 (the store-exclusive's
 * status, so that no register is set to 0 for the caller's return). */
static inline __attribute__((always_inline)) uint32_t raise_hwm(struct rg_class *ctl, uint64_t u)
{
	uint64_t h;
	uint32_t st;

	do {
		h = ldxr(&ctl->hwm);
		st = stxr(&ctl->hwm, u > h ? u : h);
	} while (__builtin_expect(st != 0, 0));
	RG_OPAQUE(st);
	return st;
}

/* Push freed block @idx and count it (in use = pops - pushed), one
 * store-exclusive; @h is the head read before (the caller's guess). */
static inline __attribute__((always_inline)) void push_freed(struct rg_class *ctl, _Atomic uint32_t *next, uint64_t idx,
							     uint64_t h)
{
	uint64_t nh, cur, p;

	for (;;) {
		__asm__ volatile("str	%w0, [%1, %2, lsl #2]" : : "r"(RG_HEAD_IDX(h)), "r"(next), "r"(idx) : "memory");
		nh = h; /* RG_HEAD_PUSH(h, idx): the index into the high half */
		__asm__("bfi	%0, %1, #32, #32" : "+r"(nh) : "r"(idx));
		do {
			cur = ldxp(ctl, &p);
			if (__builtin_expect(cur != h, 0))
				break;
		} while (__builtin_expect(stlxp(ctl, nh, p + 1) != 0, 0));
		if (__builtin_expect(cur == h, 1))
			return;
		h = cur;
	}
}
#else /* no pop() or in_use_after(): slab.c's pop_claim_inline() writes the C11 loop out */
static inline __attribute__((always_inline)) bool cas_state(_Atomic uint64_t *a, uint64_t *w, uint64_t to)
{
	return atomic_compare_exchange_strong_explicit(a, w, to, memory_order_acq_rel, memory_order_acquire);
}

/* hwm = max(hwm, @u). Return: 0. */
static inline __attribute__((always_inline)) uint32_t raise_hwm(struct rg_class *ctl, uint64_t u)
{
	uint64_t hwm = atomic_load_explicit(&ctl->hwm, memory_order_relaxed);

	while (__builtin_expect(u > hwm, 0) &&
	       !atomic_compare_exchange_weak_explicit(&ctl->hwm, &hwm, u, memory_order_relaxed, memory_order_relaxed))
		;
	return 0;
}

#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
/*
 * head and pushed as one 16-byte CAS (LOCK CMPXCHG16B): a push and its count
 * are one step, so a process killed between them cannot leave in use one
 * too high. Return: true, or false with *h and *p the pair found. (TSan sees
 * no asm: its build takes the two-step C11 push below.)
 */
typedef unsigned __int128 __attribute__((may_alias)) rg_u128;

static inline __attribute__((always_inline)) bool cas_pair(struct rg_class *ctl, uint64_t *h, uint64_t *p, uint64_t nh,
							   uint64_t np)
{
	bool ok;

	__asm__ volatile("lock cmpxchg16b %1"
			 : "=@ccz"(ok), "+m"(*(rg_u128 *)&ctl->head), "+a"(*h), "+d"(*p)
			 : "b"(nh), "c"(np)
			 : "memory");
	return ok;
}

/* Push freed block @idx and count it, one CAS; @h is the head read before. */
static inline __attribute__((always_inline)) void push_freed(struct rg_class *ctl, _Atomic uint32_t *next, uint64_t idx,
							     uint64_t h)
{
	uint64_t p = atomic_load_explicit(&ctl->pushed, memory_order_relaxed);

	do
		atomic_store_explicit(&next[idx], RG_HEAD_IDX(h), memory_order_relaxed);
	while (!cas_pair(ctl, &h, &p, RG_HEAD_PUSH(h, idx), p + 1));
}
#else
#define RG_PUSH_TWO_STEPS 1 /* a kill between the push and its count is possible */
static inline __attribute__((always_inline)) void push_freed(struct rg_class *ctl, _Atomic uint32_t *next, uint64_t idx,
							     uint64_t h)
{
	do
		atomic_store_explicit(&next[idx], RG_HEAD_IDX(h), memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(&ctl->head, &h, RG_HEAD_PUSH(h, idx), memory_order_release, memory_order_relaxed));
	atomic_fetch_add_explicit(&ctl->pushed, 1, memory_order_relaxed);
}
#endif
#endif
static_assert(offsetof(struct rg_class, pushed) == offsetof(struct rg_class, head) + 8 &&
		      offsetof(struct rg_class, head) % 16 == 0,
	      "pop and push take head and pushed as one 16-byte pair (arm64 LDXP/STXP)");

/*
 * rg_class_for() - the slab class for a request of @size bytes: the smallest
 * class that fits (RG_POLICY_NEXT_FIT), and with RG_POLICY_EXACT only if its
 * size is @size. Up to RG_SIZECLS_MAX one lookup in the handle's private
 * table (class sizes are multiples of 8: the next fit of size rounded up to
 * 8, plus the handle's home stripe); past it a binary search over the
 * classes, whose sizes increase (a run of equal sizes: the stripes of one).
 * A caller that has already checked size <= RG_SIZECLS_MAX, as rtmem_alloc()
 * does, compiles to the table lookup alone.
 * Context: any; RT-safe; O(1) up to RG_SIZECLS_MAX, O(log nclasses) past it.
 * Return: the class index, or -ENOENT (no class fits, or none of that exact
 * size; also for size 0, whose table entry is RG_SIZECLS_NONE).
 */
static inline int rg_class_for(const struct rg_region *r, size_t size, enum rg_class_policy policy)
{
	uint32_t lo = 0, hi = r->nclasses;

	if (__builtin_expect(size <= RG_SIZECLS_MAX, 1)) {
		lo = r->sizecls[(size + 7) / 8];
		if (lo == RG_SIZECLS_NONE || (policy == RG_POLICY_EXACT && r->cls[lo].size != size))
			return -ENOENT;
		return (int)lo;
	}
	while (lo < hi) { /* first class with size >= request */
		uint32_t mid = (lo + hi) / 2;

		if (r->cls[mid].size < size)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == r->nclasses || (policy == RG_POLICY_EXACT && r->cls[lo].size != size))
		return -ENOENT;
	return (int)(lo + r->home); /* lo: the first stripe of its size */
}


/*
 * Thread cache paths, inline for librtmem's rtmem_alloc()/rtmem_free();
 * rg_slab_cache_alloc()/rg_slab_cache_free() are these (see region.h).
 * Only the owner writes a block it owns, so ALLOC <-> CACHED are plain stores;
 * the load before each checks the word.
 */
static_assert(sizeof(struct rg_slab_cache) == RG_TC_SCALE * sizeof(struct rg_cls), "rg_cache_free() scales k to t");
static_assert(RG_CACHE_HINT(1) == sizeof(struct rg_cls), "the hint is a class's offset in cls[]");
/* Entry @i of a thread cache (lvalues): its block and its index. */
#if defined(__aarch64__)
#define RG_TC_BLK(t, i) ((t)->ent[i].blk)
#define RG_TC_IDX(t, i) ((t)->ent[i].idx)
typedef uint64_t rg_tc_idx_t;
#else
typedef uint32_t rg_tc_idx_t;
#define RG_TC_BLK(t, i) ((t)->blk[i])
#define RG_TC_IDX(t, i) ((t)->idx[i])
#endif
long rg_free_error_long(uint64_t w) __attribute__((cold, noinline));
long rg_wake_size(struct rg_class *ctl, long size) __attribute__((cold, noinline));

/* The cache is full or someone waits: free block @idx of @owner to the
 * shared list, with k and idx already checked. Inline in the arm64 cache
 * free (nothing reloaded); on x86-64 a tail call
 * to rg_cache_full(), since inline gcc spills a register on the cache path.
 * Return: the block size (given back), or -EPERM/-EALREADY. */
long rg_cache_full(const struct rg_cls *k, uint64_t idx, uint64_t owner) __attribute__((noinline));

static inline __attribute__((always_inline)) long rg_cache_to_shared(const struct rg_cls *k, uint64_t idx,
								     uint64_t owner)
{
	uint64_t w = RG_WORD(RG_BLK_ALLOC, 0, owner);
	struct rg_class *ctl = k->ctl;
	uint64_t h = atomic_load_explicit(&ctl->head, memory_order_relaxed);
	uint64_t fp = RG_FREEW(RG_BLK_FREE_P, owner, h);

	if (__builtin_expect(!cas_state(&k->state[idx], &w, fp), 0))
		return rg_free_error_long(w);
	push_freed(ctl, k->next, idx, h);
	(void)cas_state(&k->state[idx], &fp, fp ^ RG_FREE_FIN); /* fails only if popped and claimed meanwhile */
	if (__builtin_expect(rg_waiters_after_push(&ctl->waiters) != 0, 0))
		return rg_wake_size(ctl, k->size);
	return k->size;
}

/* rg_cache_alloc() for a class index the caller got from rg_class_for(). */
static inline int rg_cache_alloc_valid(struct rg_region *r, struct rg_slab_cache *tc, uint32_t cls,
				       uint64_t owner, void **ret)
{
	uint64_t c = (uint64_t)cls * sizeof(struct rg_cls); /* as in rg_cache_free() */
	struct rg_slab_cache *t;
	const struct rg_cls *k;
	uint32_t n, idx;
	void *p;

	RG_OPAQUE(c); /* one shift for k, t and the hint */
	k = (const struct rg_cls *)((const char *)r->cls + c);
	t = (struct rg_slab_cache *)((char *)tc + RG_TC_SCALE * c);
	tc->hint = (uint32_t)c;
	n = t->n;
	if (__builtin_expect(n == 0, 0))
		return -EAGAIN;
	/* The cache keeps pointers and indices: the block handed out does not
	 * wait for the index multiply of the free that cached it. Both came from
	 * rg_cache_free(), which checked them; the state word, in shared memory,
	 * is checked again. */
	p = RG_TC_BLK(t, n - 1);
	idx = (uint32_t)RG_TC_IDX(t, n - 1);
	t->n = n - 1; /* taken out either way: a block no longer ours is dropped */
	if (__builtin_expect(atomic_load_explicit(&k->state[idx], memory_order_relaxed) !=
				     RG_WORD(RG_BLK_CACHED, 0, owner),
			     0))
		return -EUCLEAN;
	atomic_store_explicit(&k->state[idx], RG_WORD(RG_BLK_ALLOC, 0, owner), memory_order_relaxed);
	*ret = p;
	return 0;
}

static inline int rg_cache_alloc(struct rg_region *r, struct rg_slab_cache *tc, uint32_t cls, uint64_t owner,
				 void **ret)
{
	if (__builtin_expect(cls >= r->nclasses, 0))
		return -EINVAL;
	return rg_cache_alloc_valid(r, tc, cls, owner, ret);
}

/* The free into cache @t of block @idx (at @p) of class @k, both checked.
 * @callout: a full cache, a waiter or a wrong state word go on to the shared
 * list or the error here; else they return 1, which rg_cache_free_hinted()
 * needs to stay free of calls. */
static inline __attribute__((always_inline)) long rg_cache_put_as(const struct rg_cls *k, struct rg_slab_cache *t,
								 uint64_t idx, void *p, uint64_t owner, bool callout)
{
	uint64_t w, n;

#if defined(__aarch64__)
	RG_OPAQUE(t); /* one base register for n, cap and the entries: an LDP of n and cap */
#endif
	n = t->n;
	if (__builtin_expect(n >= t->cap || rg_load32(&k->ctl->waiters) != 0, 0)) {
		if (!callout)
			return 1;
#if defined(__aarch64__)
		return rg_cache_to_shared(k, idx, owner);
#else
		return rg_cache_full(k, idx, owner);
#endif
	}
	w = rg_load64_at(k->state, idx);
	if (__builtin_expect(w != RG_WORD(RG_BLK_ALLOC, 0, owner), 0))
		return callout ? rg_free_error_long(w) : 1;
	/* ALLOC -> CACHED, owner kept: on arm64 an OR into the owner (ALLOC ^
	 * CACHED, 0xa, is no logical immediate there), on x86-64 an XOR of w */
#if defined(__aarch64__)
	rg_store64_at(k->state, idx, RG_WORD(RG_BLK_CACHED, 0, owner));
#else
	rg_store64_at(k->state, idx, w ^ (RG_BLK_ALLOC ^ RG_BLK_CACHED));
#endif
	RG_TC_BLK(t, n) = p;
	RG_TC_IDX(t, n) = (rg_tc_idx_t)idx; /* < count */
	t->n = (uint32_t)n + 1;
	return 0;
}

static inline __attribute__((always_inline)) long rg_cache_put(const struct rg_cls *k, struct rg_slab_cache *t,
							      uint64_t idx, void *p, uint64_t owner)
{
	return rg_cache_put_as(k, t, idx, p, owner, true);
}

/* The class of @p from its page, for a block not of the hint's class; the
 * hint moves to it. Return: its index, or UINT64_MAX if @p is no slab block. */
static inline __attribute__((always_inline)) uint64_t rg_cache_lookup(struct rg_region *r,
								     struct rg_slab_cache *tc, void *p,
								     const struct rg_cls **k, uint64_t *c)
{
	uint64_t off = (uint64_t)((char *)p - r->base), idx, count;

	if (off >= r->total)
		return UINT64_MAX;
	*c = (uint64_t)r->pagecls[off / RG_PAGE] * sizeof(struct rg_cls);
	RG_OPAQUE(*c);
	*k = (const struct rg_cls *)((const char *)r->cls + *c);
	idx = rg_block_index_count(*k, (uint64_t)((char *)p - (*k)->data), &count);
	if (idx >= count) /* also every non-slab page: count 0 */
		return UINT64_MAX;
	tc->hint = (uint32_t)*c;
	return idx;
}

/* rg_cache_free() of a block not of the hint's class. Out of line on x86-64,
 * so that the hint's path keeps nothing for it but the arguments (shorter
 * there); inline on arm64, which has the registers (shorter there). The
 * counts are tests/test_icount.c's and tests/icount_qemu.py's. */
long rg_cache_free_other(struct rg_region *r, struct rg_slab_cache *tc, void *p, uint64_t owner)
	__attribute__((noinline));

/* rg_cache_free() for librtmem's rtmem_free(): only the free of a block of
 * the hint's class into a cache with room, and no call at all (so the caller
 * needs no stack frame). Return: 0 (cached), or 1 for everything else, which
 * the caller then gives to rg_cache_free(). */
static inline __attribute__((always_inline)) int rg_cache_free_hinted(struct rg_region *r,
								     struct rg_slab_cache *tc, void *p,
								     uint64_t owner)
{
	uint64_t c = tc->hint, idx, count;
	const struct rg_cls *k = (const struct rg_cls *)((const char *)r->cls + c);

	idx = rg_block_index_count(k, (uint64_t)((char *)p - k->data), &count);
	if (__builtin_expect(idx >= count, 0))
		return 1;
	return (int)rg_cache_put_as(k, (struct rg_slab_cache *)((char *)tc + RG_TC_SCALE * c), idx, p, owner, false);
}

/*
 * c: a class's byte offset in cls[] (a line each), a quarter of its cache's
 * in tc[] (four lines each), so each address is one add (x86-64 LEA with
 * scale 4).
 * The hint's class first: the block index check tells whether @p is one of
 * its blocks, whatever @p is, so k and t do not wait for a page lookup that
 * depends on @p (which was a third of an alloc+free pair's time).
 */
static inline long rg_cache_free(struct rg_region *r, struct rg_slab_cache *tc, void *p, uint64_t owner)
{
	uint64_t c = tc->hint, idx, count;
	const struct rg_cls *k = (const struct rg_cls *)((const char *)r->cls + c);

	idx = rg_block_index_count(k, (uint64_t)((char *)p - k->data), &count);
	if (__builtin_expect(idx >= count, 0)) {
#if defined(__aarch64__)
		idx = rg_cache_lookup(r, tc, p, &k, &c);
		if (idx == UINT64_MAX)
			return -EFAULT;
#else
		return rg_cache_free_other(r, tc, p, owner);
#endif
	}
	return rg_cache_put(k, (struct rg_slab_cache *)((char *)tc + RG_TC_SCALE * c), idx, p, owner);
}

#endif /* RG_FASTPATH_H */
