/* SPDX-License-Identifier: MIT */
/*
 * slab_atomic.h - the atomic steps of the slab paths: pop, state-word CAS,
 * high-water mark, counted push. Internal to lib/: slab.c, and the inline
 * thread-cache free (region_int.h), whose full-cache path pushes the block
 * itself instead of calling out and reloading what it has checked.
 */
#ifndef RTMEM_SLAB_ATOMIC_H
#define RTMEM_SLAB_ATOMIC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* included from region_int.h, after struct rg_class */

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

#endif /* RTMEM_SLAB_ATOMIC_H */
