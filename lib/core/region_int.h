/* SPDX-License-Identifier: MIT */
/*
 * region_int.h - the shared-memory layout of a region and the private handle.
 * Internal to lib/: region.c (layout, format, attach, stats), slab.c, buddy.c,
 * check.c.
 *
 * Layout (offsets from the region base, every part 64-byte aligned):
 *
 *   rg_hdr                                   header, geometry, offsets
 *   rg_class[nclasses]                       one control line + one descriptor line each
 *   rg_buddy                                 lock, per-order lists and counters (if any)
 *   rg_slot[nslots + 1]                      one line per client slot (slot 0: the daemon)
 *   per class: uint32_t next[count]          free-list links, outside user data
 *              uint64_t state[count]         state + owner words
 *   buddy:     struct rg_link link[nmin + RG_NSENT]  circular doubly linked free lists:
 *                                            min-block indices, then one sentinel per order
 *              uint64_t state[nmin]          state + order + owner words
 *   data (page aligned): class 0 .. class n-1 (each page aligned), buddy area
 *
 * Everything in shared memory is written by the daemon at format time; after
 * that clients write only heads, links, state words and counters. The
 * geometry is copied into the private handle at attach, after validation, and
 * never read from shared memory again. The handle also holds a private page ->
 * class table (one byte per data page) so that a free finds its class in O(1)
 * without trusting anything a client could have overwritten.
 *
 * The handle's layout serves the free paths' first reads: base, total and
 * pagecls open it (one arm64 LDP reaches them; none reaches past cls[]), and
 * each class's count and shift sit side by side as 64-bit words (an LDP on
 * arm64, a compare with memory on x86-64).
 *
 * Thread caches (rg_cache_alloc_valid(), rg_cache_free(), inline here for
 * librtmem): their instruction counts are asserted by tests/test_icount.c.
 */
#ifndef RTMEM_REGION_INT_H
#define RTMEM_REGION_INT_H

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "region.h"

#define RG_MAGIC 0x3147524d454d5452ull /* "RTMEMRG1" little-endian */
#define RG_VERSION 3u
#define RG_PAGE 4096u
#define RG_LINE 64u
#define RG_NIL 0xffffffffu
/* Buddy list sentinels: the list of order k is a ring through link[nmin + k]. */
#define RG_NSENT (RG_MAX_ORDER + 1u)
/* pagecls values past the real classes; each names a sentinel class with
 * count 0 in the handle, so a lookup through it fails the index check. */
#define RG_PAGE_NONE RG_MAX_CLASSES         /* metadata or padding */
#define RG_PAGE_BUDDY (RG_MAX_CLASSES + 1u) /* the buddy area */

/* Sizes up to this many bytes find their slab class in one table lookup. */
#define RG_SIZECLS_MAX 4096u
#define RG_SIZECLS_NONE 0xffu

/*
 * Slab words of the listed states (FREE, FREE_P, CHECKOUT, BAD) carry no
 * owner: bits 16..31 hold the slot that freed the block (0: the daemon or a
 * flush), bits 32..63 the head's pop count read just before that free. No
 * two frees of a block write the same word (a pop comes between them), so a
 * CAS expecting a word read earlier fails if the block went round meanwhile:
 * see slab.c, "Kills".
 */
#define RG_FREEW(st, slotbits, h) (((uint64_t)(h) << 32) | ((slotbits) & 0xffff0000u) | (st))
#define RG_FREE_FIN (RG_BLK_FREE_P ^ RG_BLK_FREE) /* FREE_P ^ this = FREE, upper bits kept */
/* Low byte FREE or FREE_P (0x01, 0x11): a block a pop may claim. 0x00 and
 * 0x10 pass too; they are no state, and only a corrupt word has them. */
#define RG_CLAIMABLE(w) (((w) & 0xeeu) == 0)

/* State word fields. */
#define RG_ST(w) ((uint32_t)((w) & 0xffu))
#define RG_ORD(w) ((uint32_t)(((w) >> 8) & 0xffu))
#define RG_OWNER(w) ((w) & ~(uint64_t)0xffffu)
#define RG_WORD(st, ord, owner) ((uint64_t)(st) | ((uint64_t)(ord) << 8) | (owner))

/*
 * Slab head: 32-bit index (high) + 32-bit tag (low). The tag counts pops:
 * a pop bumps it, a push keeps it. That is enough against ABA (a pop's CAS
 * fails if anyone popped meanwhile, and the head cannot return to the same
 * index without a pop), and it makes the tag a pop counter, so blocks in use
 * are pops - pushed: the allocation path updates no counter of its own.
 */
#define RG_HEAD_IDX(h) ((uint32_t)((h) >> 32))
#define RG_HEAD_POP(h, idx) (((uint64_t)(idx) << 32) | (uint32_t)((uint32_t)(h) + 1u))
#define RG_HEAD_PUSH(h, idx) (((uint64_t)(idx) << 32) | (uint32_t)(h))

struct rg_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t hdr_size;     /* sizeof(struct rg_hdr) */
	uint64_t layout_hash;  /* hash of struct sizes/offsets and ABI, see rg_layout_hash() */
	uint64_t total_size;   /* bytes: the footprint total */
	uint32_t nclasses;     /* 0..RG_MAX_CLASSES */
	uint32_t policy;       /* enum rg_class_policy */
	uint32_t nslots;       /* client slots */
	uint32_t has_buddy;    /* 0 or 1 */
	uint64_t classes_off;  /* rg_class[nclasses] */
	uint64_t buddy_off;    /* rg_buddy, 0 if none */
	uint64_t slots_off;    /* rg_slot[nslots + 1] */
	uint64_t data_off;     /* page aligned */
	uint64_t data_size;    /* bytes, multiple of RG_PAGE */
	uint64_t meta_size;    /* bytes before data_off */
	uint32_t cache;        /* thread cache depth, 0..RG_CACHE_MAX */
	uint32_t pad32;
	uint64_t pad[3];
};
static_assert(sizeof(struct rg_hdr) == 128, "rg_hdr is two cache lines");

/* One slab class: a control line written by everyone, a descriptor line read-only. */
struct rg_class {
	/* line 0: the hot line. head and its counters share it: after the CAS
	 * on head the line is already held exclusively. */
	_Atomic uint64_t head;    /* RG_HEAD: index of the first free block + ABA tag */
	_Atomic uint64_t pushed;  /* frees, reclaims and tester hand-offs, mod 2^32; see rg_in_use() */
	_Atomic uint64_t hwm;     /* highest in_use reached by an allocation */
	_Atomic uint64_t failed;  /* allocations that found the class empty */
	_Atomic uint32_t waiters; /* threads in a timed allocation (futex users) */
	_Atomic uint32_t seq;     /* futex word: bumped on every free when waiters */
	_Atomic uint64_t bad;      /* quarantined blocks */
	_Atomic uint64_t checkout; /* blocks with the tester */
	uint64_t pad0;
	/* line 1: descriptor, written at format only */
	uint32_t size;    /* block size, bytes */
	uint32_t count;   /* blocks */
	uint32_t align;   /* bytes */
	uint32_t reserve; /* blocks kept for RG_ALLOC_RESERVE */
	uint64_t data_off;  /* first block */
	uint64_t next_off;  /* uint32_t[count] */
	uint64_t state_off; /* uint64_t[count] */
	uint64_t area_size; /* bytes of data pages of this class */
	uint64_t pad1[2];
};
static_assert(sizeof(struct rg_class) == 2 * RG_LINE, "rg_class is two cache lines");
static_assert(offsetof(struct rg_class, size) == RG_LINE, "descriptor on its own line");

/*
 * One client slot: who holds it, and what that client is doing. The first
 * half is the daemon's record, written only by the daemon (when it grants
 * and takes back the slot) and never trusted by it on the way back in: it
 * cross-checks it with its own tables and the kernel (pidfd, /proc). It is
 * what a daemon that restarts under running clients finds about them. The
 * second half is the client's own line of work: written only by the client
 * holding the slot (its intent record, see docs/), read by the daemon once
 * the client has died.
 */
struct rg_slot {
	_Atomic uint64_t owner;      /* rg_owner(slot, gen) while held, 0 when free */
	_Atomic uint64_t pid;        /* the holder's pid, in the daemon's PID namespace */
	_Atomic uint64_t start_time; /* its start time: clock ticks after boot (/proc/PID/stat field 22) */
	_Atomic uint64_t flags;      /* RG_SLOT_*: daemon-side state of the slot */
	_Atomic uint64_t intent[4];  /* the client's: written by the slot's holder only */
};
static_assert(sizeof(struct rg_slot) == RG_LINE, "a slot is one cache line");

/* A buddy list link: min-block indices, or nmin + k for the sentinel of order k.
 * An empty list is its sentinel linked to itself. */
struct rg_link {
	uint32_t prev, next;
};

/* The buddy area's control block. Everything but the descriptor is guarded by lock. */
struct rg_buddy {
	pthread_mutex_t lock; /* process-shared, robust, PTHREAD_PRIO_INHERIT */
	char pad_lock[RG_LINE - (sizeof(pthread_mutex_t) % RG_LINE)];
	/* descriptor, written at format only */
	uint32_t min_order, max_order;
	uint64_t nmin;      /* min-blocks */
	uint64_t data_off;  /* first byte of the area */
	uint64_t link_off;  /* struct rg_link[nmin + RG_NSENT] */
	uint64_t state_off; /* uint64_t[nmin] */
	uint64_t reserve;   /* bytes kept for RG_ALLOC_RESERVE */
	uint64_t pad0[2];
	/* under lock */
	uint64_t nonempty;   /* bit k set <=> the order-k list is not empty */
	uint64_t free_bytes; /* sum of free block sizes */
	uint64_t repairs;    /* rebuilds after EOWNERDEAD */
	uint64_t pad1[5];
	uint64_t nfree[RG_MAX_ORDER + 1];
	uint64_t in_use[RG_MAX_ORDER + 1];
	uint64_t hwm[RG_MAX_ORDER + 1];
	uint64_t bad[RG_MAX_ORDER + 1];
	uint64_t checkout[RG_MAX_ORDER + 1];
	_Atomic uint64_t failed[RG_MAX_ORDER + 1]; /* bumped without lock too */
};

/*
 * Private, validated geometry of one class (the fast paths read only this).
 * A block's index from its offset is an exact division done as a multiply:
 * size = d * 2^shift with d odd, inv = d^-1 mod 2^64, and
 * ror64(rel * inv, shift) equals rel / size when size divides rel, and is
 * >= 2^32 > count otherwise (Granlund & Montgomery's divisibility test), so
 * one compare with count checks both "a block start" and "in range".
 */
struct rg_cls {
	struct rg_class *ctl;
	_Atomic uint32_t *next;
	_Atomic uint64_t *state;
	char *data;        /* first block */
	uint64_t inv;      /* inverse of the odd part of size, mod 2^64 */
	union {            /* count64: count zero-extended (count_hi stays 0, the handle is calloc()ed), */
		uint64_t count64; /* so that an index check is one compare with memory on x86-64 */
		struct {
			uint32_t count; /* blocks */
			uint32_t count_hi;
		};
	};
	union {            /* shift64: shift in its low 6 bits, what a rotate reads; with count64, one arm64 LDP */
		uint64_t shift64;
		struct {
			uint32_t shift; /* log2 of the power-of-two part of size */
			uint32_t size;  /* block size, bytes */
		};
	};
	uint32_t lim;     /* pops without a reserve check may take indices below: count, or 0 with a reserve */
	uint32_t reserve;
};
static_assert(sizeof(struct rg_cls) == 64, "one line per class: the index is a shift");
static_assert(offsetof(struct rg_cls, count64) == offsetof(struct rg_cls, count) && offsetof(struct rg_cls, count64) % 8 == 0 &&
		      offsetof(struct rg_cls, shift64) == offsetof(struct rg_cls, shift) &&
		      offsetof(struct rg_cls, shift64) == offsetof(struct rg_cls, count64) + 8,
	      "count64 overlays count, shift64 shift, side by side");
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "count64 is count zero-extended on little-endian only");

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

/* Offset of class @k's first block from the region base. */
#define RG_CLS_DATA_OFF(r, k) ((uint64_t)((k)->data - (r)->base))

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

struct rg_region {
	/* first line: base, total, pagecls, what every free reads first, at
	 * offsets an arm64 LDP reaches (it cannot reach past cls[]) */
	char *base;
	uint64_t total;   /* footprint: offsets below it have a pagecls entry */
	uint8_t *pagecls; /* private: region page -> class index, RG_PAGE_BUDDY or RG_PAGE_NONE */
	size_t size;
	struct rg_hdr *hdr;
	uint32_t nclasses, nslots;
	uint32_t policy, cache;
	uint64_t data_off;
	/* &r->cls[c] is r->cls + 64 * c; two sentinels (count 0) follow */
	struct rg_cls cls[RG_MAX_CLASSES + 2];
	uint64_t data_size;
	struct rg_slot *slots; /* [nslots + 1], slot 0 the daemon's */
	/* private: request size (rounded up to 8) / 8 -> smallest class that fits, RG_SIZECLS_NONE if none */
	uint8_t sizecls[RG_SIZECLS_MAX / 8 + 1];
	/* buddy, NULL bdy if none */
	struct rg_buddy *bdy;
	struct rg_link *link;
	_Atomic uint64_t *bstate;
	char *bdata;
	uint64_t bdata_off, nmin;
	uint32_t min_order, max_order;
	/* derived from the validated buddy descriptor at attach (0 without a buddy area) */
	uint64_t bsize;    /* bytes in the area: nmin << min_order */
	uint64_t bminmask; /* 2^min_order - 1 */
	uint64_t bmax;     /* largest block, bytes: 2^max_order */
	uint64_t ntop;     /* min-blocks in whole blocks of max_order: their buddies never leave the area */
	uint64_t breserve; /* bytes kept for RG_ALLOC_RESERVE */
	/* the daemon's guard on the buddy lock (buddy.c, "Guarded lock"); NULL in clients */
	bool (*guard_owner_ok)(void *arg, int tid);
	void *guard_arg;
	int guard_kind;          /* __kind of a mutex formatted as rg_region_format() does */
	_Atomic uint64_t guard_repairs; /* lock words or kinds a stray write had changed */
};

static_assert(offsetof(struct rg_region, cls) == 64, "one line before cls[]");

uint64_t rg_layout_hash(void);

#include "slab_atomic.h"

/*
 * Thread cache paths, inline for librtmem's rtmem_alloc()/rtmem_free();
 * rg_slab_cache_alloc()/rg_slab_cache_free() are these (see region.h).
 * Only the owner writes a block it owns, so ALLOC <-> CACHED are plain stores;
 * the load before each checks the word.
 */
static_assert(sizeof(struct rg_slab_cache) == 2 * sizeof(struct rg_cls), "rg_cache_free() scales k to t");
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
 * free (nothing reloaded: 4 instructions fewer); on x86-64 a tail call
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
	t = (struct rg_slab_cache *)((char *)tc + 2 * c);
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
 * so that the hint's path keeps nothing for it but the arguments (36 -> 33
 * instructions); inline on arm64, which has the registers (31, not 37). */
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
	return (int)rg_cache_put_as(k, (struct rg_slab_cache *)((char *)tc + 2 * c), idx, p, owner, false);
}

/*
 * c: a class's byte offset in cls[] (a line each), half its cache's in tc[]
 * (two lines each), so each address is one add (x86-64 LEA with scale 2).
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
	return rg_cache_put(k, (struct rg_slab_cache *)((char *)tc + 2 * c), idx, p, owner);
}

/* rg_slab_class_for() with its table lookup inlined, for the allocation paths. */
/* rg_class_for() without its call for sizes past the table: -ENOENT for
 * those too (the caller then asks rg_class_for()). */
static inline int rg_class_for_small(const struct rg_region *r, size_t size, enum rg_class_policy policy)
{
	uint32_t c;

	if (__builtin_expect(size > RG_SIZECLS_MAX, 0))
		return -ENOENT;
	c = r->sizecls[(size + 7) / 8];
	if (c == RG_SIZECLS_NONE || (policy == RG_POLICY_EXACT && r->cls[c].size != size))
		return -ENOENT;
	return (int)c;
}

static inline int rg_class_for(const struct rg_region *r, size_t size, enum rg_class_policy policy)
{
	if (__builtin_expect(size <= RG_SIZECLS_MAX, 1)) {
		uint32_t c = r->sizecls[(size + 7) / 8];

		if (c == RG_SIZECLS_NONE || (policy == RG_POLICY_EXACT && r->cls[c].size != size))
			return -ENOENT;
		return (int)c;
	}
	return rg_slab_class_for(r, size, policy);
}

/* buddy.c: rebuild lists and counters from the state table (lock held). */
int rg_buddy_rebuild(struct rg_region *r);
int rg_buddy_lock(struct rg_region *r);
void rg_buddy_unlock(struct rg_region *r);
long rg_buddy_reclaim(struct rg_region *r, uint64_t owner, uint64_t *ret_bytes);
int rg_buddy_checkout(struct rg_region *r, uint64_t i, uint64_t *ret_len);
int rg_buddy_checkin(struct rg_region *r, uint64_t i);
int rg_buddy_mark_bad(struct rg_region *r, uint64_t m);
bool rg_buddy_containing(const struct rg_region *r, uint64_t m, uint64_t *ret_i, uint32_t *ret_k);
int rg_slab_checkout(struct rg_region *r, uint32_t c, uint32_t idx);
int rg_slab_checkin(struct rg_region *r, uint32_t c, uint32_t idx);
int rg_slab_mark_bad(struct rg_region *r, uint32_t c, uint32_t idx);
long rg_slab_reclaim(struct rg_region *r, uint32_t c, uint64_t owner);
/* slab.c, "Kills": give back class @c's blocks that dead clients left in a
 * listed state but on no list; @live[slot] != 0 for slots held by live
 * clients, @bm scratch of (count + 63) / 64 words. A corrupt list (index out
 * of range, cycle) is detached and rebuilt from the state words first, and
 * *ret_repaired set. Return: blocks given back, -EAGAIN (the list moved too
 * fast to walk), -EUCLEAN (corrupt, and the repair could not take the head). */
long rg_slab_sweep(struct rg_region *r, uint32_t c, const uint8_t *live, uint64_t *bm, bool *ret_repaired);
/* Set class @c's push count from its state words, with a pair CAS on head
 * and pushed (arm64, x86-64): exact with no client left; with clients, off
 * only by pops not yet claimed. Return: 1 if it was wrong, 0 if not. */
int rg_slab_recount(struct rg_region *r, uint32_t c);

/* Where does offset @off (from base) fall? Return 0 with class/index, 1 for a
 * buddy min-block index, -EFAULT otherwise. Checks block-start alignment. */
int rg_locate(const struct rg_region *r, uint64_t off, uint32_t *ret_cls, uint64_t *ret_idx);

#endif /* RTMEM_REGION_INT_H */
