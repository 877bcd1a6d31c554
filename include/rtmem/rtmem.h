/* SPDX-License-Identifier: MIT */
/*
 * rtmem.h - librtmem, the client library of rtmemd.
 *
 * An RT application follows three phases: set up (connect, open pools,
 * prepare the process), lock (rtmem_rt_prepare: mlockall, pre-fault the
 * stack, stop glibc from returning memory), then RT work, where allocation
 * and free in a pool are a few dozen instructions in shared memory with no
 * system call:
 *
 *     struct rtmem_client *c;  struct rtmem_pool *p;  void *buf;
 *     rtmem_connect(NULL, "motor", &c);            // $RTMEM_SOCKET or the default
 *     rtmem_pool_open(c, "control", 0, &p);         // memfd mapped, populated, locked
 *     rtmem_rt_prepare(256 * 1024);                  // mlockall + stack pre-fault
 *     ... loop: rtmem_alloc(p, 200, &buf); ... rtmem_free(p, buf);
 *
 * Errors are negative errno values; nothing in the library logs or exits.
 * Context lines say whether a call is RT-safe: it makes no system call, takes
 * no lock (except where it says the buddy lock, a priority-inheriting mutex),
 * allocates nothing and touches only locked memory.
 *
 * Threads: a client and its pools may be used from any number of threads;
 * rtmem_alloc/rtmem_free are thread-safe. rtmem_pool_close and
 * rtmem_disconnect must not race with allocations on the same pool.
 *
 * Thread caches: when the pool's thread_cache setting is not 0, each thread
 * keeps up to that many (at most count / (4 x max_clients) for a class) of
 * the slab blocks it frees, per class, and its next
 * allocations of that class take them back with no atomic instruction. It
 * also keeps up to 8 buddy blocks of each of the area's 16 smallest orders,
 * at most buddy / (4 x max_clients) bytes in all, which its next buddy
 * allocations of that order take back without the lock the pool's clients
 * share. Cached blocks stay charged to this client (quota, rtmemctl) until the thread exits or
 * calls rtmem_pool_flush(). At most 16 threads per pool and 16 pools per
 * process get a cache; the others allocate from the shared lists directly.
 */
#ifndef RTMEM_RTMEM_H
#define RTMEM_RTMEM_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RTMEM_VERSION_MAJOR 0
#define RTMEM_VERSION_MINOR 1

struct rtmem_client;
struct rtmem_pool;

/* rtmem_pool_open() flags */
#define RTMEM_POOL_NOLOCK 0x1u /* a failed mlock of the mapping is not an error */

/* rtmem_alloc_timed() timeouts */
#define RTMEM_WAIT_FOREVER ((int64_t)-1)
#define RTMEM_NO_WAIT ((int64_t)0)

/*
 * rtmem_connect() - connect to rtmemd and introduce this process as @name.
 * @socket_path: NULL for $RTMEM_SOCKET, else /run/rtmemd/rtmemd.sock.
 * Context: setup only; blocks on the socket; allocates.
 * Return: 0 and *ret, -ENOENT/-ECONNREFUSED (no daemon), -EACCES (socket
 * permissions), -EUSERS (the daemon's connection limits are reached: too
 * many connections in all or from this uid), -EPROTO (the daemon speaks
 * another protocol), -ECONNRESET (the daemon closed the connection), -ENOMEM.
 */
int rtmem_connect(const char *socket_path, const char *name, struct rtmem_client **ret);

/*
 * rtmem_disconnect() - close every pool of @c (unmapped, thread caches
 * dropped) and the connection; the daemon reclaims whatever the client still
 * held. The pool handles stay allocated but empty: rtmem_pool_close() on one
 * afterwards frees it (and touches nothing else); any other call on it is an
 * error. NULL is fine.
 * Context: setup only; must not race with allocations in @c's pools.
 */
void rtmem_disconnect(struct rtmem_client *c);

/*
 * rtmem_client_check() - is the daemon there? If the connection was lost
 * (the daemon restarted, crashed or was upgraded), connect again and take
 * back every open pool: same slot, same generation, same memory, blocks held
 * kept (docs/lifecycle.md). rtmem_pool_open() and rtmem_pool_close() do the
 * same first. Allocation and free never need it: they keep working while
 * the daemon is away.
 * Context: not RT (poll, and while reconnecting connect/sendmsg/recvmsg,
 * which block for the daemon's reply).
 * Return: 0 (connected all along), 1 (reconnected, every pool resumed),
 * -ESHUTDOWN (no daemon now: try again later), -ESTALE (connected, but a pool
 * is not served by this daemon: it was replaced, see rtmem_pool_daemon()),
 * -EINVAL (@c NULL).
 */
int rtmem_client_check(struct rtmem_client *c);

/*
 * rtmem_client_fd() - the connection's socket, to poll(): it becomes
 * readable (POLLIN/POLLHUP) when the daemon goes away; then call
 * rtmem_client_check(). A reconnect replaces it: take it again after each
 * rtmem_client_check() that returns 1. -1 while the daemon is away.
 * Context: any.
 */
int rtmem_client_fd(const struct rtmem_client *c);

/*
 * rtmem_pool_daemon() - does a daemon still serve @p? Reads the state word
 * the daemon keeps in the pool's header (and what the last reconnect found).
 * A daemon killed by a signal cannot say so: its clients learn it from
 * rtmem_client_fd()/rtmem_client_check().
 * Context: RT-safe; one load, no system call.
 * Return: 0 (served, or a daemon crashed and nobody knows yet), -ESHUTDOWN
 * (the daemon stopped, or a restarted one did not take the pool back: it
 * keeps working, but blocks are no longer reclaimed for anyone).
 */
int rtmem_pool_daemon(const struct rtmem_pool *p);

/*
 * rtmem_pool_open() - open pool @name: receive its memfd, map it with
 * MAP_POPULATE and mlock it, so no access to it will fault.
 * Context: setup only; blocks; allocates.
 * Return: 0 and *ret, -EACCES (this user may not open it), -ENOENT (no such
 * pool), -EBUSY (this connection has it open already), -EUSERS (all of the
 * pool's client slots are taken: its max_clients), -EINVAL (unknown @flags),
 * -EXDEV (the pool has a locked buddy area and this process is
 * in another PID namespace than the daemon: the buddy's lock cannot work
 * across them; slab-only pools and pools with buddy_arena can be opened), -ENOMEM (mlock failed: raise
 * RLIMIT_MEMLOCK, or pass RTMEM_POOL_NOLOCK), -EBADMSG/-EUCLEAN (the region
 * failed validation), -EPROTO, -ECONNRESET, -ESHUTDOWN (the daemon is away
 * and a reconnect failed).
 */
int rtmem_pool_open(struct rtmem_client *c, const char *name, unsigned flags, struct rtmem_pool **ret);

/* rtmem_pool_close() - unmap the pool; the daemon frees what is still held
 * (after a reconnect, if the daemon restarted meanwhile). NULL is fine, and
 * so is a pool that rtmem_disconnect() already closed (its handle is freed). */
void rtmem_pool_close(struct rtmem_pool *p);

/*
 * rtmem_alloc() - allocate @size bytes: from the slab class the pool's policy
 * picks, else (no class fits, or the pool has only a buddy area) from the
 * buddy area.
 * Context: RT-safe. Slab: lock-free, no syscall, O(1). Buddy: takes the pool's
 * PI robust mutex, O(orders).
 * Return: 0 and *ret, -ENOMEM (nothing free), -EDQUOT (this client's quota
 * would be exceeded), -E2BIG (larger than any block), -EINVAL (@size 0),
 * -EUCLEAN (corrupted shared memory detected).
 */
int rtmem_alloc(struct rtmem_pool *p, size_t size, void **ret);

/*
 * rtmem_alloc_timed() - as rtmem_alloc() for a slab size, but when its class
 * is empty wait up to @timeout_ns (RTMEM_WAIT_FOREVER, RTMEM_NO_WAIT) for a
 * block of that class to be freed, on a futex in shared memory.
 * Context: may block (futex); no syscall when a block is free.
 * Return: as rtmem_alloc(), and -ETIMEDOUT, -EINTR; -EINVAL if no slab
 * class fits @size.
 */
int rtmem_alloc_timed(struct rtmem_pool *p, size_t size, int64_t timeout_ns, void **ret);

/*
 * rtmem_free() - free a block this client allocated from @p.
 * Context: RT-safe, as rtmem_alloc().
 * Return: 0, -EFAULT (not a block of this pool), -EALREADY (not allocated:
 * double free), -EPERM (another client's block).
 */
int rtmem_free(struct rtmem_pool *p, void *ptr);

/*
 * rtmem_pool_flush() - give the calling thread's cached blocks of @p back to
 * the pool (and this client's quota). Call it when a thread stops allocating
 * for a while; a thread that exits does it itself. NULL is fine.
 * Context: RT-safe, O(classes x thread_cache), and the buddy lock once per
 * cached buddy block (at most 128).
 */
void rtmem_pool_flush(struct rtmem_pool *p);

/* Usable size of the block at @ptr, 0 if it is not an allocated block. RT-safe. */
size_t rtmem_block_size(const struct rtmem_pool *p, const void *ptr);

/*
 * Offsets: a block handed to another client of the same pool travels as its
 * offset; each side maps the pool at its own address.
 * rtmem_ptr_to_off() - Return: offset of @ptr in the pool, or UINT64_MAX if
 * @ptr is outside it. rtmem_off_to_ptr() - Return: the address, NULL if
 * @off is outside the pool. Context: RT-safe, pure arithmetic.
 */
uint64_t rtmem_ptr_to_off(const struct rtmem_pool *p, const void *ptr);
void *rtmem_off_to_ptr(const struct rtmem_pool *p, uint64_t off);

/*
 * Handing a block to another client of the same pool (zero-copy pipelines:
 * capture -> processing -> output). The receiver tells the giver its id once
 * (rtmem_pool_client_id(), over any channel); the giver hands a block over
 * with rtmem_give() and sends its offset; the receiver maps the offset back
 * (rtmem_off_to_ptr()) and calls rtmem_take() before using it. From the
 * give on, the block is the receiver's: the receiver frees it, and if the
 * receiver dies, even before its take, the daemon reclaims it with the
 * receiver's other blocks; if the giver dies first, the block stays the
 * receiver's. A give is one compare-and-swap of the block's owner word.
 *
 * rtmem_pool_client_id() - this client's id in pool @p: never 0; a new id
 * after each open of the pool. Context: RT-safe.
 */
uint64_t rtmem_pool_client_id(const struct rtmem_pool *p);

/*
 * rtmem_give() - hand block @ptr, allocated by this client (not in a thread
 * cache: a block rtmem_alloc() returned), to the client whose id is @to.
 * Context: RT-safe; no lock, no system call, O(1).
 * Return: 0 (the block is no longer this client's through this give: do
 * not free it; also when the receiver left during the call, and the block
 * with it or before it, as if it had left just after the give; a receiver
 * that gave it back first announces that, as any give);
 * -EINVAL (@to is no client id of this pool); -EFAULT (@ptr is not the
 * start of a block of @p); -EPERM (@ptr is not this client's block);
 * -ESRCH (no client with id @to holds a slot of @p now, or it left during
 * the call: the block stays this client's).
 */
int rtmem_give(struct rtmem_pool *p, void *ptr, uint64_t to);

/*
 * rtmem_take() - accept block @ptr that another client gave this one: it is
 * charged to this client's quota (never refused for the quota: the block is
 * already this client's) and may then be used and freed like any other.
 * Context: RT-safe; one load and one atomic add.
 * Return: 0; -EFAULT (@ptr is not the start of a block of @p); -EPERM (the
 * block is not this client's: not given to it, or the giver died before
 * giving it, so that the daemon took it back).
 */
int rtmem_take(struct rtmem_pool *p, void *ptr);

/*
 * Sharing a block with several readers (one capture buffer read by several
 * processing processes): the block's owner calls rtmem_share() for each
 * reader and sends them its offset; every holder, the owner included, calls
 * rtmem_release() when done, and the last release frees the block. A holder
 * that dies lets go of it with its death (the daemon drops its hold), so a
 * block is freed exactly once, when nobody holds it. While shared, a block is
 * charged to nobody's quota and rtmem_free() refuses it (-EPERM). Each client
 * may have RTMEM_SHARE_OPEN blocks of its own shared at once, and a block
 * has at most RTMEM_SHARE_HOLDERS holders.
 *
 * rtmem_share() - add the client whose id is @to as a holder of @ptr: a block
 * this client allocated (not in a thread cache), which then becomes shared,
 * or a shared block this client holds. Sharing a block with a client that
 * holds it already is refused; each client holds a shared block once (its
 * threads share that hold).
 * Context: RT-safe; no lock, no system call, O(RTMEM_SHARE_OPEN +
 * RTMEM_SHARE_HOLDERS).
 * Return: 0; -EINVAL (@to is no client id of this pool); -EFAULT (@ptr is
 * not the start of a block of @p); -EPERM (@ptr is neither this client's nor
 * held by it; also when another thread of this client released its hold
 * during the call, which freed the block if it was the last); -EALREADY (@to
 * holds it already); -EAGAIN (another holder was adding @to, or the
 * block's other holders were letting go, at the same instant: nothing
 * changed by this call; call again: -EALREADY then says that the other
 * holder's add landed, and both may have backed out); -ESRCH (no client with id @to holds a
 * slot of @p now, or it left during the call: nothing changed); -ENOSPC (this client has
 * RTMEM_SHARE_OPEN blocks shared already, or the block has
 * RTMEM_SHARE_HOLDERS holders).
 */
#define RTMEM_SHARE_OPEN 16
#define RTMEM_SHARE_HOLDERS 6
int rtmem_share(struct rtmem_pool *p, void *ptr, uint64_t to);

/*
 * rtmem_release() - let go of this client's hold of shared block @ptr; the
 * last holder's release frees it.
 * Context: RT-safe; no system call; O(RTMEM_SHARE_HOLDERS), and a free when
 * it is the last; its close looks again once for each step another holder
 * of the same block takes at the same instant (an add, a release, a close).
 * Return: 0 (let go; others hold it), 1 (it was the last hold: freed);
 * -EFAULT (@ptr is not the start of a block of @p); -EPERM (@ptr is not a
 * shared block this client holds).
 */
int rtmem_release(struct rtmem_pool *p, void *ptr);

/*
 * rtmem_holders() - how many clients hold shared block @ptr now: 0 if it is
 * not shared, -EFAULT if @ptr is not the start of a block of @p.
 * Context: RT-safe; a few loads.
 */
int rtmem_holders(const struct rtmem_pool *p, const void *ptr);

struct rtmem_pool_stats {
	uint64_t size;           /* bytes of the pool's region */
	uint64_t held_bytes;     /* bytes this client holds */
	uint64_t quota;          /* this client's quota, 0 = none */
	uint32_t nclasses;       /* slab classes */
	uint32_t pad;
	struct {
		uint64_t size, count, in_use, free, hwm, failed;
	} cls[32];
	uint64_t buddy_size, buddy_free, buddy_largest_free;
};

/* rtmem_pool_stats() - the pool as this client sees it. Context: not RT
 * (takes the buddy lock briefly). Return: 0. */
int rtmem_pool_stats(const struct rtmem_pool *p, struct rtmem_pool_stats *ret);

/*
 * rtmem_rt_prepare() - the "lock" step for the calling process: glibc malloc
 * tuning (M_TRIM_THRESHOLD, M_MMAP_MAX = 0, so free() never returns memory and
 * malloc never mmaps), mlockall(MCL_CURRENT | MCL_FUTURE), pre-faulting
 * @stack_bytes of the calling thread's stack, and the calling thread's
 * lookups for the buddy lock (its TID and robust-list head: another thread's
 * first buddy allocation makes those two system calls itself).
 * Context: setup only, once, from the thread that will run RT work.
 * Return: 0, -ENOMEM/-EPERM (mlockall failed: RLIMIT_MEMLOCK or CAP_IPC_LOCK).
 */
int rtmem_rt_prepare(size_t stack_bytes);

/* Page faults of this process (minor, major) since the last mark: call
 * rtmem_faults_mark() before the RT phase, rtmem_faults_since() after.
 * Context: one getrusage() system call each; not for the RT loop itself. */
struct rtmem_faults {
	uint64_t minor, major;
};
void rtmem_faults_mark(struct rtmem_faults *mark);
struct rtmem_faults rtmem_faults_since(const struct rtmem_faults *mark);

/* rtmem_strerror() - a short description of an rtmem error code (negative
 * errno), whatever call returned it. Prefer rtmem_error_hint(). */
const char *rtmem_strerror(int err);

/* Calls, for rtmem_error_hint(). */
enum rtmem_call {
	RTMEM_CALL_CONNECT = 1,
	RTMEM_CALL_POOL_OPEN,
	RTMEM_CALL_ALLOC,      /* also rtmem_alloc_timed() */
	RTMEM_CALL_FREE,
	RTMEM_CALL_RT_PREPARE,
};

/*
 * rtmem_error_hint() - what @err (negative errno) means when @call
 * (RTMEM_CALL_*) returned it, and what to do: "rtmemd is not running ..."
 * for -ENOENT from rtmem_connect, "rtmemd has no pool of that name ..." for
 * -ENOENT from rtmem_pool_open, the memlock limit and where to raise it for
 * -ENOMEM from rtmem_pool_open, the group to join for -EACCES.
 * Context: any; RT-safe (a table lookup). Return: a static string, never NULL
 * (rtmem_strerror(@err) when there is nothing more to say).
 */
const char *rtmem_error_hint(int call, int err);

/* rtmem_version() - librtmem's version as loaded at run time, "MAJOR.MINOR.PATCH"
 * (RTMEM_VERSION_MAJOR/MINOR are what the program was compiled against).
 * Context: any. Return: a static string. */
const char *rtmem_version(void);

#ifdef __cplusplus
}
#endif
#endif /* RTMEM_RTMEM_H */
