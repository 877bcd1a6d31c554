/* SPDX-License-Identifier: MIT */
/*
 * region.h - the allocator core: slab and buddy allocation inside one shared
 * region that any process may map at any address.
 *
 * Shared by the daemon (which formats regions, reclaims, tests and checks them)
 * and by librtmem clients (which allocate and free in them). Not installed:
 * applications use <rtmem/rtmem.h>.
 *
 * A region is a header, per-class control lines, index arrays and data, laid
 * out by rg_region_layout() from a pool description. The region holds no
 * pointers, only offsets and indices. A process attaches with
 * rg_region_attach(), which validates the header and every descriptor once
 * and keeps a private, trusted copy of the geometry in the handle; the fast
 * paths read geometry from that copy and only heads, links and state words
 * from shared memory, and bounds-check each index they read there.
 *
 * Block state words (one 64-bit word per slab block and per buddy min-block):
 *
 *   bits  0..7   state      (RG_BLK_*)
 *   bits  8..15  order      (buddy only: log2 of the block size)
 *   bits 16..31  slot       (owner: client slot, 0 = the daemon)
 *   bits 32..63  generation (owner: generation of that slot)
 *
 * An owner is the value (generation << 32 | slot << 16), see rg_owner().
 */
#ifndef RTMEM_REGION_H
#define RTMEM_REGION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RG_MAX_CLASSES 32u
#define RG_MIN_ORDER 4u  /* smallest buddy block: 16 B */
#define RG_MAX_ORDER 40u /* largest buddy block: 1 TiB */
#define RG_MAX_BLOCKS 0x7fffffffu /* per class, and buddy min-blocks */
#define RG_MAX_STRIPES 8u
#define RG_ARENA_COUNT 4096u /* arena mode: most arenas in a buddy area */
#define RG_ARENA_SPAN 14u    /* arena mode: an arena is at most 2^14 smallest blocks */ /* core classes per configured slab class (slab_stripes) */

/* Block states (low byte of a state word). */
enum rg_blk_state {
	RG_BLK_FREE = 1,       /* on a free list */
	RG_BLK_ALLOC = 2,      /* handed out; owner recorded */
	RG_BLK_CHECKOUT = 3,   /* taken by the memory tester (slab: still listed) */
	RG_BLK_CHECKOUT_U = 4, /* slab: tester's, and popped off the list meanwhile */
	RG_BLK_BAD = 5,        /* quarantined forever (slab: may still be listed) */
	RG_BLK_BAD_U = 6,      /* slab: quarantined and off the list */
	RG_BLK_TAIL = 7,       /* buddy: inside a larger block, not a head */
	RG_BLK_CACHED = 8,     /* freed into its owner's thread cache; owner recorded (buddy: a head) */
	RG_BLK_REMOTE = 9,     /* buddy, arena mode: freed by a client that does not hold its arena; the freer recorded */
	RG_BLK_FREE_P = 0x11,  /* slab: freed, its push may still be pending; the freer's slot recorded */
};

/* Most blocks per class a client thread may keep in its cache (struct rg_slab_cache). */
#define RG_CACHE_MAX 15u

/* Size-to-class policy for rg_class_for() (fastpath.h). */
enum rg_class_policy {
	RG_POLICY_EXACT = 0,    /* the smallest class whose size fits, only if it is the exact size */
	RG_POLICY_NEXT_FIT = 1, /* the smallest class whose size fits */
};

/* Flags of rg_slab_alloc() and rg_buddy_alloc(). */
#define RG_ALLOC_RESERVE 0x1u /* the caller may take the reserve */

struct rg_slab_desc {
	uint32_t size;    /* block size in bytes, a multiple of align */
	uint32_t count;   /* number of blocks */
	uint32_t align;   /* alignment in bytes, a power of two 8..4096; 0 = the
			   * largest power of two dividing size (at most 4096) */
	uint32_t reserve; /* blocks kept for RG_ALLOC_RESERVE callers */
};

struct rg_buddy_desc {
	uint64_t size;      /* bytes managed; 0 = no buddy area. Rounded down to 2^min_order */
	uint32_t min_order; /* log2 of the smallest block */
	uint32_t max_order; /* log2 of the largest block */
	uint64_t reserve;   /* bytes kept for RG_ALLOC_RESERVE callers */
	uint32_t arena_order; /* log2 of an arena (lib/core/arena.c); 0: one area under the lock */
	uint32_t pad;
};

struct rg_pool_desc {
	uint32_t nclasses;       /* slab classes in use, sizes increasing; a run of S equal sizes is
				  * one class striped S ways, and every run has the same S (1..RG_MAX_STRIPES) */
	uint32_t policy;         /* enum rg_class_policy */
	uint32_t nslots;         /* client slots in the region (1..65535) */
	uint32_t cache;          /* slab blocks per class a client thread may cache, 0..RG_CACHE_MAX */
	struct rg_slab_desc classes[RG_MAX_CLASSES];
	struct rg_buddy_desc buddy;
};

/* Exact footprint of a region, computed before anything is mapped. */
struct rg_footprint {
	uint64_t meta; /* header, control lines, index and state arrays */
	uint64_t data; /* bytes handed out to users, including alignment padding */
	uint64_t total;
};

/* Per class or per order figures. in_use/free are blocks of that class/order. */
struct rg_class_stats {
	uint64_t size;     /* block size in bytes */
	uint64_t count;    /* slab: blocks in class; buddy: 0 */
	uint64_t in_use;   /* allocated blocks */
	uint64_t free;     /* blocks on the free list */
	uint64_t hwm;      /* highest in_use seen */
	uint64_t failed;   /* allocations that found nothing */
	uint64_t bad;      /* quarantined blocks */
	uint64_t checkout; /* blocks with the tester */
};

struct rg_region_stats {
	uint32_t nclasses;
	uint32_t min_order, max_order; /* buddy orders, 0/0 if none */
	struct rg_class_stats cls[RG_MAX_CLASSES];
	struct rg_class_stats order[RG_MAX_ORDER + 1];
	uint64_t buddy_size;         /* bytes in the buddy area */
	uint64_t buddy_free;         /* bytes free in the buddy area */
	uint64_t buddy_largest_free; /* largest free buddy block (fragmentation) */
	uint64_t buddy_repairs;      /* free-list rebuilds after a dead lock owner */
};

struct rg_region;

/* Owner word value of (slot, generation). slot 0 is the daemon. */
static inline uint64_t rg_owner(uint32_t slot, uint32_t gen)
{
	return ((uint64_t)gen << 32) | ((uint64_t)(slot & 0xffffu) << 16);
}

/*
 * rg_region_layout() - validate a pool description and compute its footprint.
 * Context: any; pure computation.
 * Return: 0, or -EINVAL (bad description), -EOVERFLOW (sizes overflow 64 bits
 * or a class has more than RG_MAX_BLOCKS blocks); *ret untouched on error.
 */
int rg_region_layout(const struct rg_pool_desc *desc, struct rg_footprint *ret);

/*
 * rg_region_format() - lay out a new region in @mem (footprint total bytes,
 * page aligned, zero or not), every block free, buddy lock initialised
 * process-shared, robust and priority-inheriting.
 * Context: setup only; touches every metadata page.
 * Return: 0, -EINVAL (bad description or @mem misaligned), -ENOSPC (@size below
 * the footprint), or a -errno from pthread mutex initialisation.
 */
int rg_region_format(void *mem, size_t size, const struct rg_pool_desc *desc);

/*
 * rg_region_attach() - validate the region at @mem and make a handle.
 * Checks the magic, version, layout hash and every offset and count against @size.
 * Context: setup only; allocates the handle with malloc.
 * Return: 0, -EBADMSG (not a region or version/layout mismatch, including the
 * other side's ABI), -EUCLEAN (geometry out of bounds), -ENOMEM.
 */
int rg_region_attach(void *mem, size_t size, struct rg_region **ret);

/*
 * rg_region_attach_desc() - as rg_region_attach(), but the geometry
 * and the limits (reserves, cache depth) are taken from @desc, the pool
 * description the daemon keeps (sent in its OPEN reply), and nothing is read
 * from the region's header or descriptor lines, which any client of the pool
 * could have rewritten. @layout_hash: the daemon's rg_region_layout_hash(),
 * so that a client of another ABI is still refused.
 * Context: setup only; allocates the handle with malloc.
 * Return: 0, -EBADMSG (@layout_hash is not this build's), -EINVAL (@desc
 * invalid), -EUCLEAN (@desc's footprint is larger than @size), -ENOMEM.
 */
int rg_region_attach_desc(void *mem, size_t size, const struct rg_pool_desc *desc, uint64_t layout_hash,
			     struct rg_region **ret);

/*
 * rg_region_desc_repair() - compare the region's header and descriptor
 * lines (what rg_region_format() wrote and rg_region_attach() reads)
 * with @desc, the daemon's copy, and rewrite each field that differs. Lists,
 * counters and state words are not touched.
 * Context: daemon, not RT; O(classes). Each field is a plain store: an opener
 * racing with it may see a mix, and the next audit finds it again.
 * Return: fields rewritten (0: the region agreed), -EINVAL (@desc invalid or
 * larger than the region).
 */
int rg_region_desc_repair(struct rg_region *r, const struct rg_pool_desc *desc);

/* rg_region_layout_hash() - this build's hash of the region's ABI. Context: any, pure. */
uint64_t rg_region_layout_hash(void);

/* rg_region_detach() - free the handle; accepts NULL. Does not unmap. */
void rg_region_detach(struct rg_region *r);

/* Base address and size the handle was attached at. Context: any, RT-safe. */
void *rg_region_base(const struct rg_region *r);
size_t rg_region_size(const struct rg_region *r);
uint32_t rg_region_nclasses(const struct rg_region *r);
uint32_t rg_region_nslots(const struct rg_region *r);
enum rg_class_policy rg_region_policy(const struct rg_region *r);
/* Block size of class @cls, 0 if out of range. */
uint32_t rg_slab_class_size(const struct rg_region *r, uint32_t cls);

/* The size-to-class lookup is rg_class_for(), inline in fastpath.h. */

/*
 * Striped classes. A pool described with runs of S equal sizes has S
 * stripes per size: S core classes, each with its own head line, pushed
 * count, state words and pages. A block is freed to its own stripe (found
 * from its page, as any class), so the free, reclaim, sweep, checker and
 * tester see stripes as classes. An allocation pops the caller's home stripe
 * first and steals from the other S - 1 when it is empty.
 *
 * rg_region_stripes() - S (1 for a pool without stripes). Context: any.
 *
 * rg_region_set_home() - make @slot's stripe, @slot mod S, the one that
 * rg_class_for() answers on this handle (the size table is private).
 * Context: setup, before the handle is used; a daemon handle keeps stripe 0.
 */
uint32_t rg_region_stripes(const struct rg_region *r);
void rg_region_set_home(struct rg_region *r, uint32_t slot);

/* The @i-th stripe after @cls (1 <= @i < @s) among the @s of its size, in turn. */
static inline uint32_t rg_stripe_other(uint32_t cls, uint32_t s, uint32_t i)
{
	return cls - cls % s + (cls % s + i) % s;
}

/*
 * rg_slab_alloc_steal() - after rg_slab_alloc() of @cls said -ENOMEM: pop
 * from the other stripes of @cls's size in turn, from the next one on.
 * Every empty pop counts a failed allocation in its stripe; this takes those
 * counts back, and @cls's too when another stripe had a block, so that the
 * size's `failed` counts each allocation that found nothing once. Call it
 * only after that -ENOMEM, or @cls's count is taken back for nothing.
 * Context: RT-safe, lock-free, no system call; at most S - 1 pops.
 * Return: as rg_slab_alloc(); -ENOMEM at once without stripes.
 */
int rg_slab_alloc_steal(struct rg_region *r, uint32_t cls, uint64_t owner, unsigned flags, void **ret);

/*
 * rg_slab_unfail() - take back the failure that rg_slab_alloc() of @cls
 * counted (its -ENOMEM) when the caller then found a block of the size
 * elsewhere: in its thread's cache of another stripe. Context: RT-safe.
 */
void rg_slab_unfail(struct rg_region *r, uint32_t cls);

/*
 * rg_slab_alloc() - pop a block of class @cls for @owner.
 * Context: RT-safe, lock-free, no system call. O(1): one CAS on the class head
 * (retried only under contention) and one CAS on the block's state word.
 * Return: 0 and *ret set, -ENOMEM (class empty or only the reserve left and
 * no RG_ALLOC_RESERVE), -EINVAL (@cls out of range), -EUCLEAN (an index or
 * state read from shared memory is corrupt). *ret untouched on error.
 */
int rg_slab_alloc(struct rg_region *r, uint32_t cls, uint64_t owner, unsigned flags, void **ret);

/*
 * rg_slab_alloc_timed() - rg_slab_alloc() then rg_slab_alloc_steal(), but
 * when every stripe is empty wait until @abs_timeout (CLOCK_MONOTONIC; NULL =
 * forever) for a free of that size, on the futex word in each stripe's shared
 * control line (futex_waitv(2) with stripes; where the kernel lacks it, a
 * wait on the home stripe in slices of RG_WAIT_SLICE_NS that re-check all).
 * Context: may block in FUTEX_WAIT; no system call while blocks are free.
 * Return: as rg_slab_alloc(), and -ETIMEDOUT, -EINTR.
 */
#define RG_WAIT_SLICE_NS 1000000
struct timespec;
int rg_slab_alloc_timed(struct rg_region *r, uint32_t cls, uint64_t owner, unsigned flags,
			   const struct timespec *abs_timeout, void **ret);

/*
 * rg_slab_free() - return a slab block owned by @owner.
 * Context: RT-safe, lock-free, no system call, O(1).
 * Return: 0, -EFAULT (@p is not a slab block start in this region), -EALREADY
 * (block is not allocated: double free), -EPERM (allocated to another owner).
 * Nothing is changed on error.
 */
int rg_slab_free(struct rg_region *r, void *p, uint64_t owner);

/*
 * rg_buddy_alloc() - allocate a buddy block of at least @size bytes.
 * Context: RT-safe but takes the region's PI robust mutex; bounded: at most
 * (max_order - min_order) splits. Repairs the free lists if the previous lock
 * owner died inside the lock.
 * Return: 0 and *ret set, -ENOMEM (nothing free that large, or only the
 * reserve), -E2BIG (@size above the largest block), -ENODEV (no buddy area),
 * -ENOTRECOVERABLE (the lock is unusable), -EUCLEAN (corruption found).
 */
int rg_buddy_alloc(struct rg_region *r, size_t size, uint64_t owner, unsigned flags, void **ret);

/*
 * rg_buddy_free() - return a buddy block owned by @owner and coalesce.
 * Context: as rg_buddy_alloc(); at most (max_order - min_order) merges.
 * Return: 0, -EFAULT (not a buddy block start), -EALREADY (not allocated),
 * -EPERM (another owner's), -ENOTRECOVERABLE.
 */
int rg_buddy_free(struct rg_region *r, void *p, uint64_t owner);

/*
 * Thread caches. A client thread may keep up to the pool's `cache` freed slab
 * blocks per class in private memory and hand them out again with no atomic
 * read-modify-write: the block's state word goes ALLOC <-> CACHED with plain
 * stores (only its owner writes a block it owns), so a double free is still
 * caught, a dead client's cached blocks are reclaimed with the rest, and the
 * tester never sees them (they are not FREE). The price is memory: up to
 * cap x threads blocks per class are out of everyone else's reach, and the
 * class counts them in use. One struct per class; private to one thread.
 */
struct rg_slab_cache {
	uint32_t n;   /* blocks held */
	uint32_t cap; /* most blocks held, from the region */
#if defined(__aarch64__)
	/* each block beside its index: one STP (LDP) for both */
	struct {
		void *blk;    /* a block, last in first out */
		uint64_t idx; /* its index in the class */
	} ent[RG_CACHE_MAX];
	uint32_t hint; /* first struct only: see below */
	uint32_t pad;
#else
	/* apart: x86-64 addresses either with a scaled index, no shift */
	void *blk[RG_CACHE_MAX];    /* blocks, last in first out */
	uint32_t idx[RG_CACHE_MAX]; /* their indices in the class */
	uint32_t hint; /* first struct only: see below */
	uint32_t pad[16];
#endif
};
/* A cache is RG_TC_SCALE lines, a class control line one: rg_cache_free()
 * finds both from one offset (fastpath.h). */
#define RG_TC_SCALE 4u
/* tc[0].hint, RG_CACHE_HINT(class): the class this thread last allocated
 * from, or freed a block of that was not the hint's. A free checks the block
 * against that class first and looks its page up only when the block is not
 * one of that class: the free's cache slot then does not wait on a load that
 * depends on the pointer, which was a third of an alloc+free pair's time.
 * rg_slab_cache_init() sets it to class 0. */
#define RG_CACHE_HINT(cls) ((uint32_t)(cls) * 64u)

/* rg_region_cache() - the pool's thread cache depth (0: no caches). RT-safe. */
uint32_t rg_region_cache(const struct rg_region *r);

/* rg_slab_cache_cap() - blocks of class @cls one thread may cache: the
 * pool's depth, but at most count / (4 x client slots), so that one full
 * cache in every client slot still leaves three quarters of the class to the
 * shared list (a small class gets no cache; more threads per client take more). 0 if @cls is out of range. */
uint32_t rg_slab_cache_cap(const struct rg_region *r, uint32_t cls);

/* rg_slab_cache_init() - empty caches for every class of @r, each with
 * rg_slab_cache_cap(), and the hint at class 0: @tc holds
 * rg_region_nclasses(@r) entries, and at least one (a region without slab
 * classes has no cached blocks, but a free still reads tc[0].hint). */
void rg_slab_cache_init(const struct rg_region *r, struct rg_slab_cache *tc);

/*
 * rg_slab_cache_alloc() - take the most recently cached block of class @cls,
 * and make @cls the hint (tc[0].hint) whether or not one is cached.
 * Context: RT-safe; no atomic RMW, no syscall, O(1). The calling thread must own @tc.
 * Return: 0 and *ret, -EAGAIN (nothing cached: use rg_slab_alloc()),
 * -EINVAL (@cls out of range), -EUCLEAN (the cached block's state word is no
 * longer ours: shared memory was overwritten, or the daemon reclaimed it).
 */
int rg_slab_cache_alloc(struct rg_region *r, struct rg_slab_cache *tc, uint32_t cls, uint64_t owner,
			   void **ret);

/*
 * rg_slab_cache_free() - free a slab block of @owner into @tc, or, when its
 * class's cache is full or someone waits for that class, to the shared list
 * as rg_slab_free() does. The block is checked against the class of
 * tc[0].hint first, then found through its page (and the hint moves to it).
 * @tc: the region's rg_region_nclasses() caches, at least one.
 * Context: RT-safe, O(1); the calling thread must own @tc.
 * Return: 0 (cached: the block still counts as held), the block size (given
 * back to the shared list), or errors as rg_slab_free(): -EFAULT also for a
 * buddy block (free it with rg_region_free()).
 */
long rg_slab_cache_free(struct rg_region *r, struct rg_slab_cache *tc, void *p, uint64_t owner);

/*
 * rg_slab_cache_flush() - give every block in @tc back to the shared lists.
 * Context: RT-safe but O(classes x cache). Return: bytes given back.
 */
uint64_t rg_slab_cache_flush(struct rg_region *r, struct rg_slab_cache *tc, uint64_t owner);

/*
 * Buddy thread caches: the same idea for buddy blocks. A client thread keeps
 * up to RG_BCACHE_MAX freed blocks of each of the RG_BCACHE_ORDERS smallest
 * orders of the area and hands them out again without the buddy lock. The
 * block's head word goes ALLOC <-> CACHED with plain stores (only its owner
 * writes a block it owns), so double frees are still caught; a cached block
 * counts as in use, is never merged (a merge reads only FREE heads) nor
 * tested, and a dead client's cached blocks are reclaimed with the rest. The
 * price is memory: a thread holds at most `budget` bytes, the area's size
 * divided by 4 x client slots (one full cache in every slot leaves three
 * quarters of the area to the shared lists), and nothing while the pool's
 * thread_cache is 0. One struct per region; private to one thread.
 */
#define RG_BCACHE_ORDERS 16u
#define RG_BCACHE_MAX 8u
struct rg_buddy_cache {
	uint64_t bytes;  /* held */
	uint64_t budget; /* most bytes held; 0: no cache */
	uint8_t n[RG_BCACHE_ORDERS];
	uint32_t idx[RG_BCACHE_ORDERS][RG_BCACHE_MAX]; /* min-block indices, last in first out */
	uint8_t pad[32];
};

/* rg_buddy_cache_init() - an empty buddy cache with the region's budget. */
void rg_buddy_cache_init(const struct rg_region *r, struct rg_buddy_cache *bc);

/*
 * rg_buddy_cache_alloc() - a cached block of the order that fits @size.
 * Context: RT-safe; no lock, no atomic RMW, no system call, O(1). The
 * calling thread must own @bc.
 * Return: 0 and *ret; -EAGAIN (none cached of that order, or an order the
 * cache does not keep: use rg_buddy_alloc()); -EUCLEAN (the block's head
 * word is no longer ours: shared memory was overwritten; the block leaves
 * the cache).
 */
int rg_buddy_cache_alloc(struct rg_region *r, struct rg_buddy_cache *bc, size_t size, uint64_t owner, void **ret);

/*
 * rg_buddy_cache_free() - keep buddy block @p of @owner in @bc.
 * Context: RT-safe, O(1), as rg_buddy_cache_alloc().
 * Return: 0 (cached: the block still counts as held), -EAGAIN (not taken:
 * not an allocated buddy block of @owner's, an order not kept, or the cache
 * is full; free it with rg_region_free(), which says which error it is).
 */
int rg_buddy_cache_free(struct rg_region *r, struct rg_buddy_cache *bc, void *p, uint64_t owner);

/*
 * rg_buddy_cache_flush() - give every block in @bc back to the area.
 * Context: RT-safe but takes the buddy lock once per block (at most
 * RG_BCACHE_ORDERS x RG_BCACHE_MAX). Return: bytes given back.
 */
uint64_t rg_buddy_cache_flush(struct rg_region *r, struct rg_buddy_cache *bc, uint64_t owner);

/*
 * rg_buddy_thread_prepare() - look up what the buddy lock's fast path
 * needs for the calling thread (its TID and robust-list head), so that its
 * first buddy call on the RT path makes no system call. Optional: the first
 * buddy call of a thread does it otherwise. Idempotent.
 * Context: any thread, not RT (two system calls the first time).
 * Return: true if this thread takes the buddy lock without glibc when
 * uncontended; false if it always goes through pthread_mutex_lock() (no
 * get_robust_list, e.g. qemu-user or a seccomp filter; ThreadSanitizer).
 */
bool rg_buddy_thread_prepare(void);

/* Size of the allocated block at @p (slab or buddy), 0 if @p is not one. RT-safe. */
size_t rg_region_block_size(const struct rg_region *r, const void *p);

/*
 * rg_region_free() - free @p, slab or buddy, whichever holds it; its block
 * size in *ret_size on success (NULL: not wanted), found by the same lookup.
 * Context/Return: as rg_slab_free() or rg_buddy_free().
 */
int rg_region_free(struct rg_region *r, void *p, uint64_t owner, size_t *ret_size);

/*
 * The daemon's record of a client slot, kept in the region (one line per
 * slot) so that a daemon restarted under running clients finds who held
 * which slot. Written by the daemon only; a client could overwrite it, so
 * the daemon cross-checks what it reads back (pid alive, same start time).
 */
struct rg_slot_record {
	uint64_t owner;      /* rg_owner(slot, gen) while held, 0 when free */
	uint64_t pid;        /* the holder's pid in the daemon's PID namespace */
	uint64_t start_time; /* its start time, clock ticks after boot (/proc/PID/stat field 22) */
	uint64_t flags;      /* daemon-defined */
};

/*
 * rg_region_slot_set() - write the record of client slot @slot (1..nslots).
 * Context: daemon; any thread; no lock (each field is one relaxed store, the
 * owner last, with release).
 * Return: 0, or -EINVAL for a slot out of range.
 */
int rg_region_slot_set(struct rg_region *r, uint32_t slot, const struct rg_slot_record *rec);

/*
 * rg_region_slot_get() - read the record of client slot @slot (1..nslots).
 * Context: any; no lock. The record may be torn if it is being written.
 * Return: 0 with *ret filled, or -EINVAL (slot out of range; *ret untouched).
 */
int rg_region_slot_get(const struct rg_region *r, uint32_t slot, struct rg_slot_record *ret);

/*
 * The daemon's own line (slot 0 of the slot table): whether a daemon serves
 * the region now. Written by the daemon only, read by clients on any path.
 */
#define RG_DAEMON_SERVING 1u /* a daemon serves this region */
#define RG_DAEMON_STOPPED 2u /* the daemon that served it stopped (SIGTERM) */

/*
 * rg_region_daemon_set() - record @state (RG_DAEMON_*) and the serving
 * daemon's @pid in the region.
 * Context: daemon; any thread; two relaxed stores, the state last (release).
 */
void rg_region_daemon_set(struct rg_region *r, uint32_t state, uint32_t pid);

/*
 * rg_region_daemon_state() - the state last recorded by a daemon: one
 * of RG_DAEMON_*, or 0 if none ever was (or a client wrote garbage).
 * Context: RT-safe; one load.
 */
uint32_t rg_region_daemon_state(const struct rg_region *r);

/*
 * rg_region_desc() - the pool description the region was formatted
 * with, read back from its descriptors (a daemon that re-adopts a region
 * compares it with its configuration).
 * Context: not RT; O(classes). Return: 0, -EUCLEAN (descriptors corrupt).
 */
int rg_region_desc(const struct rg_region *r, struct rg_pool_desc *ret);

/*
 * rg_region_owner_scan() - call @fn(@arg, owner) for every held block
 * (slab ALLOC or CACHED, buddy ALLOC head) and for every hold of a shared
 * block (a holder's id in a share record in use): what a daemon that
 * re-adopts a region needs to find the blocks and holds of owners it has no
 * trusted record of. A shared block's own word names no owner and is not
 * reported: its holders are.
 * Context: daemon, not RT; O(blocks); reads state words without locks.
 */
void rg_region_owner_scan(const struct rg_region *r, void (*fn)(void *arg, uint64_t owner), void *arg);

/*
 * rg_region_reclaim() - free every block owned by @owner (a dead client).
 * Blocks the tester holds or that are bad are not touched.
 * Context: daemon, not RT; O(blocks); takes the buddy lock.
 * Return: number of blocks reclaimed (>= 0), bytes in *ret_bytes (may be NULL),
 * or -ENOTRECOVERABLE / -EUCLEAN.
 */
long rg_region_reclaim(struct rg_region *r, uint64_t owner, uint64_t *ret_bytes);

/*
 * rg_region_sweep() - give back the blocks that clients killed in the
 * middle of an allocation or a free left on no list (see lib/core/slab.c,
 * "Kills"). Safe while other clients allocate and free.
 * @live: [nslots + 1], non-zero for each slot a live client holds.
 * Context: daemon; not RT (walks every free list, allocates a bitmap).
 * Return: blocks given back (>= 0), -ENOMEM, -EAGAIN (a list changed too fast
 * to walk: try again later), -EUCLEAN (a corrupt list that could not be
 * repaired; the other classes are still swept).
 */
long rg_region_sweep(struct rg_region *r, const uint8_t *live);

/*
 * rg_region_sweep_report() - rg_region_sweep(), which also repairs a
 * corrupt slab free list (an index out of range or a cycle, from a stray
 * write): the list is detached and rebuilt from the state words. The number
 * of classes so repaired goes to *@ret_repaired (if not NULL).
 * Context and Return: as rg_region_sweep().
 */
long rg_region_sweep_report(struct rg_region *r, const uint8_t *live, uint32_t *ret_repaired);

/*
 * rg_region_recount() - set each slab class's count of blocks in use from
 * its state words. Only while no client has the region mapped for use.
 * Context: daemon; not RT.
 * Return: classes whose count was wrong.
 */
int rg_region_recount(struct rg_region *r);

/*
 * rg_region_reclaim_orphans() - reclaim every block whose owner is not a
 * current client: @owners[slot] is the owner word of the client holding each
 * slot, 0 for a free slot (the daemon's own tables, not the region's
 * records). A block handed to a client that left just then is found here
 * (lib/core/handoff.c).
 * Context: daemon; not RT; O(blocks); takes the buddy lock per orphan owner.
 * Return: blocks reclaimed, bytes in *@ret_bytes (if not NULL), or a
 * negative value from rg_region_reclaim().
 */
long rg_region_reclaim_orphans(struct rg_region *r, const uint64_t *owners, uint64_t *ret_bytes);

/*
 * rg_region_give() - hand block @p, allocated to @owner, to the client
 * whose owner word is @to (one CAS of the block's state word; see
 * lib/core/handoff.c). The receiver must hold its slot now (the region's slot
 * record says so).
 * Context: RT-safe; no lock, no system call, O(1).
 * Return: 0 (also when the receiver left during the call and the block
 * went with it: it is not @owner's either way); -EINVAL (@to is no owner
 * word of this region); -EFAULT (@p is not the start of a block); -EPERM
 * (@p is not allocated to @owner); -ESRCH (the receiver holds no slot, or
 * left during the call: the block stays @owner's).
 */
int rg_region_give(struct rg_region *r, void *p, uint64_t owner, uint64_t to);

/*
 * rg_region_owned() - is block @p allocated to @owner? Its size in
 * *@ret_size (if not NULL).
 * Context: RT-safe; one load.
 * Return: 0, -EFAULT (not the start of a block), -EPERM (not @owner's).
 */
int rg_region_owned(const struct rg_region *r, const void *p, uint64_t owner, size_t *ret_size);

/*
 * Shared readers (lib/core/handoff.c, "Shared readers"). A block shared with
 * several clients is freed by the last of them to let go of it; while shared
 * it is charged to nobody and rg_*_free() refuses it (-EPERM).
 *
 * rg_region_share() - add client @to as a holder of block @p. If @p is
 * @owner's own allocated block, it becomes shared, held by @owner and @to
 * (one of @owner's slot's RG_SHARE_RECS records); if it is a shared block
 * that @owner holds, @to is added.
 * Context: RT-safe; no lock, no system call, O(RG_SHARE_RECS + RG_SHARE_HOLDERS).
 * Return: RG_SHARE_OPENED (@owner's block became shared), 0 (@to added),
 * RG_SHARE_CLOSED (another thread of @owner released @owner's hold
 * meanwhile and nobody else held it: the block is @owner's again, ALLOC, to
 * be freed), -EINVAL (@to is no client id of this region), -EFAULT (not the
 * start of a block), -EPERM (neither @owner's nor held by it), -EALREADY (@to
 * holds it already), -EAGAIN (another holder added @to, or the record was
 * closing, at the same instant; nothing changed by this call), -ESRCH (@to holds no slot or left
 * during the call; nothing changed), -ENOSPC (no free record in @owner's slot, or
 * RG_SHARE_HOLDERS holders already).
 *
 * rg_region_release() - let go of @owner's hold of shared block @p.
 * Context: RT-safe; no lock, no system call, O(RG_SHARE_HOLDERS).
 * Return: 0, RG_SHARE_CLOSED (it was the last hold: the block is @owner's,
 * ALLOC, to be freed now), -EFAULT (not the start of a block), -EPERM (not
 * a shared block @owner holds).
 *
 * rg_region_holders() - clients holding shared block @p now: 0 if it is not
 * shared, -EFAULT if @p is not the start of a block. Context: RT-safe.
 */
#define RG_SHARE_RECS 16u   /* share records per slot: blocks a client may have open to sharing */
#define RG_SHARE_HOLDERS 6u /* holders of one shared block */
#define RG_SHARE_CLOSED 1
#define RG_SHARE_OPENED 2
int rg_region_share(struct rg_region *r, void *p, uint64_t owner, uint64_t to);
int rg_region_release(struct rg_region *r, void *p, uint64_t owner);
int rg_region_holders(const struct rg_region *r, const void *p);

/*
 * rg_region_owner_usage() - blocks and bytes @owner holds in the region.
 * Context: daemon, not RT; O(blocks); reads state words without locks (a
 * snapshot only if the owner is idle).
 */
void rg_region_owner_usage(const struct rg_region *r, uint64_t owner, uint64_t *ret_blocks, uint64_t *ret_bytes);

/*
 * Memory tester interface. A block is named by its offset from the region base.
 *
 * rg_region_next_block() - the first block at or after @offset (any state),
 *   for the tester's sweep. Return: 0 with *ret_off and *ret_len, -ENOENT past the end.
 * rg_region_checkout() - take the free block at @offset out of service for
 *   testing. Slab blocks stay listed (an allocator that pops one hands it to the
 *   tester and pops again, at most once per checked-out block). Buddy blocks of
 *   any order are unlinked under the lock.
 *   Return: 0 and *ret_len, -EBUSY (not free), -EFAULT (no block starts there).
 * rg_region_checkin() - give a checked-out block back to service.
 *   Return: 0, -EINVAL (not checked out).
 * rg_region_mark_bad() - quarantine forever the smallest unit holding the
 *   byte at @offset: the slab block, or the buddy min-block (the rest of a
 *   larger free or checked-out buddy block is split off and freed). Works on
 *   free and checked-out blocks (the tester's fault path, and the bad-block
 *   list at startup). Return: 0, -EALREADY (already bad), -EBUSY (allocated),
 *   -EFAULT (no block there).
 * Context: daemon tester thread, not RT; buddy calls take the lock.
 */
int rg_region_next_block(const struct rg_region *r, uint64_t offset, uint64_t *ret_off, uint64_t *ret_len);
int rg_region_checkout(struct rg_region *r, uint64_t offset, uint64_t *ret_len);
int rg_region_checkin(struct rg_region *r, uint64_t offset);
int rg_region_mark_bad(struct rg_region *r, uint64_t offset);

/*
 * rg_region_stats() - per class/order figures. Slab counters are read
 * without locks (each is atomic; the set is not a snapshot); buddy figures
 * under the buddy lock.
 * Context: not on the RT path (takes the buddy lock); O(classes + orders).
 */
void rg_region_stats(const struct rg_region *r, struct rg_region_stats *ret);

/*
 * rg_region_check() - verify every invariant: each block in exactly one
 * state, free lists and counters agree with the state table, no index out of
 * bounds, no list cycle. Never crashes on a corrupt region. Must run while no
 * one mutates the region (tests; the daemon when quiescent).
 * Context: not RT; O(blocks); allocates a bitmap with malloc.
 * Return: 0 if consistent, -EUCLEAN with the first violation written to
 * @msg (NUL-terminated, at most @len bytes), -ENOMEM.
 */
int rg_region_check(const struct rg_region *r, char *msg, size_t len);

/*
 * rg_region_arena_prepare() - make @owner's private lists for a pool in
 * arena mode (lib/core/arena.c) now, so that its first buddy call does not
 * allocate them. Nothing to do without arena mode. Idempotent.
 * Context: client setup, not RT (allocates and touches about 9 bytes per
 * buddy min-block).
 * Return: 0, -ENOMEM.
 */
int rg_region_arena_prepare(struct rg_region *r, uint64_t owner);

/*
 * rg_region_arena_pass() - give back the ORPHAN arenas (their holder died
 * while others held blocks of them) whose last block has come back, set
 * again the hints of every FREE arena and the bits of every REMOTE block in
 * a held one, and recount the FREE arenas (the count is set from a walk
 * that no change of it overlapped, with no live client between a lease or
 * give-back CAS and its add). Nothing to do without arena mode.
 * rg_region_reclaim() runs it too.
 * Context: daemon, not RT; the thread that reclaims (the tester's
 * checkouts may run beside it; neither waits for the other); O(buddy
 * min-blocks of ORPHAN and held arenas + arenas + slots).
 */
void rg_region_arena_pass(struct rg_region *r);

/*
 * rg_region_guard() - the daemon's way to take the buddy lock: never
 * through glibc, never blocking, never trusting the lock word (lib/core/buddy.c,
 * "Guarded lock"). A lock word that names no live thread of a client of this
 * pool (@owner_ok(@arg, tid) says which are) or the daemon, or that a stray
 * write left with a dead owner, is taken over and the lists rebuilt; a lock
 * held by a live client is waited for a few milliseconds at most, then the
 * call gives up with -EBUSY (reclaims are retried by the next sweep); a
 * wedged lock (waiters queued on a word that names no client) gives
 * -ENOTRECOVERABLE. The mutex's kind is restored if it was overwritten.
 * @owner_ok is called from any daemon thread that takes the lock.
 * Context: daemon, setup.
 */
void rg_region_guard(struct rg_region *r, bool (*owner_ok)(void *arg, int tid), void *arg);

/* Lock words and mutex kinds the guard found changed by stray writes and repaired. */
uint64_t rg_region_guard_repairs(const struct rg_region *r);

/*
 * Fault every page of a MAP_SHARED mapping in as written (dirty), without
 * changing a byte, so that no later write to it takes a fault. Shared
 * mappings are populated for reading only (mmap's MAP_POPULATE, mlock):
 * on CPUs that track dirty pages in software (arm64 without FEAT_HAFDBS,
 * which includes the Cortex-A72 of the Raspberry Pi 4) the first write to
 * each such page then takes a minor fault, RT phase or not.
 * MADV_POPULATE_WRITE (Linux 5.14) faults absent pages in written; then an
 * atomic add of 0 per page, a real store that cannot lose a concurrent
 * writer's, dirties the pages that were present but clean (for those the
 * madvise's page walk finds nothing to do). Call it before mlock().
 * Return: 0 or -errno of madvise() (-EFAULT: the file is shorter).
 */
int rg_populate_write(void *mem, size_t len, size_t page);

#ifdef __cplusplus
}
#endif
#endif /* RTMEM_REGION_H */
