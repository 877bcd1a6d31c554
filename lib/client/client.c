/* SPDX-License-Identifier: MIT */
/*
 * client.c - librtmem: connect to rtmemd, open pools, allocate in them.
 *
 * Setup calls (connect, open, close) talk to the daemon over its
 * SOCK_SEQPACKET socket: one request, one reply, the pool's memfd arriving by
 * SCM_RIGHTS. The pool is then mapped, populated for writing
 * (rg_populate_write()) and mlock()ed: page tables are per
 * process, so a page the daemon pre-faulted would still fault on this
 * process's first touch otherwise, and a page populated only for reading
 * faults on its first write where the CPU tracks dirty pages in software
 * (arm64 before ARMv8.1, the Raspberry Pi 4's Cortex-A72).
 *
 * The allocation calls run entirely in this process on the shared region
 * (lib/core/slab.c, lib/core/buddy.c) with this client's owner word; the quota is
 * enforced here, on a per-pool counter private to the process.
 *
 * Thread caches: a pool whose region allows them (thread_cache in the
 * daemon's config) gets TC_THREADS cache slots, allocated and touched at open.
 * A thread claims one on its first allocation or free in the pool (one CAS, no
 * allocation, so it is RT-safe) and finds it again through an initial-exec TLS
 * table indexed by the pool's process-wide id, checked against the pool's
 * serial so a closed pool's slot is never used. Threads beyond TC_THREADS and
 * pools beyond TC_POOLS simply go without. A thread's cached blocks go back to
 * the shared lists when it exits (TSD destructor) or calls rtmem_pool_flush();
 * a pool close or a dead process leaves them to the daemon's reclaim, which
 * takes CACHED blocks with the rest. Cached blocks stay charged to the quota.
 *
 * Daemon restarts (docs/lifecycle.md): the allocation calls never look at
 * the connection, so a daemon that is away changes nothing for them. The
 * non-RT calls (rtmem_client_check(), rtmem_pool_open(), rtmem_pool_close())
 * first see whether the connection is still up (poll with no wait: the daemon
 * never speaks first, so readable or hung up means gone); if not, they
 * connect again, say HELLO and RESUME each open pool with the slot and
 * generation it had. The daemon answers with the pool's memfd, which must be
 * the same memory (device and inode of the memfd) or the pool is left
 * unserved: still mapped and working, no longer known to any daemon.
 *
 * rtmem_disconnect() closes every pool of the client; their handles stay
 * allocated, empty, until rtmem_pool_close() frees them.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "client_int.h"
#include "proto.h"
#include "fastpath.h"
#include "rtmem/rtmem.h"

/* Entry TC_POOLS is never written: pools without caches use it (serial 0, tc NULL). */
static __thread struct tls_ent tls_tc[TC_POOLS + 1] __attribute__((tls_model("initial-exec")));

static pthread_mutex_t tc_lock = PTHREAD_MUTEX_INITIALIZER; /* tc_pools, tc_serial; not RT */
static struct rtmem_pool *tc_pools[TC_POOLS];
static uint64_t tc_serial;
static pthread_key_t tc_key;
static int tc_key_rc = -1;

static void copy_name(char dst[RTMEM_NAME_MAX], const char *src)
{
	size_t n = src ? strnlen(src, RTMEM_NAME_MAX - 1) : 0;

	memset(dst, 0, RTMEM_NAME_MAX);
	if (n)
		memcpy(dst, src, n);
}

static int transact(struct rtmem_client *c, void *req, uint32_t type, void *rep, uint32_t rep_type, int *ret_fd)
{
	if (++c->seq == 0) /* seq 0 marks a refusal of the connection (lib/proto/proto.h) */
		c->seq = 1;
	return rtmem_msg_transact(c->fd, c->seq, req, type, rep, rep_type, ret_fd);
}

/* Connect @c->fd to @c->path and say HELLO. Return: 0, or -errno with c->fd -1. */
static int conn_open(struct rtmem_client *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct rtmem_msg_hello hello = { 0 };
	struct rtmem_msg_hello_reply rep;
	int rc;

	memcpy(sa.sun_path, c->path, sizeof(sa.sun_path));
	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		goto out_close;
	}
	memcpy(hello.name, c->name, sizeof(hello.name));
	rc = transact(c, &hello, RTMEM_MSG_HELLO, &rep, RTMEM_MSG_HELLO_REPLY, NULL);
	if (rc == 0)
		return 0;
out_close:
	close(c->fd);
	c->fd = -1;
	return rc;
}

__attribute__((visibility("default"))) int rtmem_connect(const char *socket_path, const char *name,
							  struct rtmem_client **ret)
{
	struct rtmem_client *c;
	const char *path = socket_path ? socket_path : getenv("RTMEM_SOCKET");
	int rc;

	if (!path || !*path)
		path = RTMEM_DEFAULT_SOCKET;
	if (strlen(path) >= sizeof(c->path))
		return -ENAMETOOLONG;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	copy_name(c->name, name);
	strcpy(c->path, path);
	rc = conn_open(c);
	if (rc < 0) {
		free(c);
		return rc;
	}
	*ret = c;
	return 0;
}

static int map_pool(struct rtmem_pool *p, int fd, unsigned flags, const struct rtmem_msg_open_desc_reply *dr)
{
	struct stat st;
	int rc;

	if (fstat(fd, &st) < 0)
		return -errno;
	p->dev = st.st_dev;
	p->ino = st.st_ino;
	p->mem = mmap(NULL, p->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p->mem == MAP_FAILED)
		return -errno;
	/* A child of fork() gets no mapping of the pool: it would share its
	 * parent's blocks under the parent's owner word, which the daemon
	 * reclaims when the parent dies. A child connects and opens itself. */
	if (madvise(p->mem, p->size, MADV_DONTFORK) != 0)
		return -errno;
	/* written, not only read: else each page's first write faults on arm64 */
	rc = rg_populate_write(p->mem, p->size, (size_t)sysconf(_SC_PAGESIZE));
	if (rc < 0)
		return rc;
	if (mlock(p->mem, p->size) == 0)
		p->locked = true;
	else if (!(flags & RTMEM_POOL_NOLOCK))
		return errno == EPERM ? -EPERM : -ENOMEM;
	/* the daemon's description, or (a daemon before issue 12) the region's */
	if (dr) {
		struct rg_pool_desc d;

		rtmem_wire_desc_to(&d, &dr->desc);
		rc = rg_region_attach_desc(p->mem, p->size, &d, dr->layout_hash, &p->r);
	} else
		rc = rg_region_attach(p->mem, p->size, &p->r);
	return rc;
}

/* Give every block in this thread's slab and buddy caches of @p back. */
static void tc_flush(struct rtmem_pool *p, struct rg_slab_cache *tc)
{
	uncharge(p, rg_slab_cache_flush(p->r, tc, p->owner) + rg_buddy_cache_flush(p->r, tc_buddy(p, tc), p->owner));
}

static void tc_release(struct rtmem_pool *p, struct rg_slab_cache *tc)
{
	struct tc_slot *slot = (struct tc_slot *)((char *)tc - sizeof(struct tc_slot));

	tc_flush(p, tc);
	atomic_store_explicit(&slot->claimed, 0, memory_order_release);
}

/* TSD destructor: the thread exits; give its cached blocks back. */
static void tc_thread_exit(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&tc_lock);
	for (unsigned i = 0; i < TC_POOLS; i++) {
		struct tls_ent *e = &tls_tc[i];
		struct rtmem_pool *p = tc_pools[i];

		if (e->tc && p && p->tc_serial == e->serial)
			tc_release(p, e->tc);
		*e = (struct tls_ent){ 0 };
	}
	pthread_mutex_unlock(&tc_lock);
}

static void tc_key_init(void)
{
	tc_key_rc = pthread_key_create(&tc_key, tc_thread_exit);
}

/* Give @p cache slots for TC_THREADS threads, if its region allows caches and
 * a pool id is free. The memory is touched here, at setup. */
static void tc_setup(struct rtmem_pool *p)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	uint32_t n = rg_region_nclasses(p->r);

	p->tc_id = TC_POOLS;
	if (!rg_region_cache(p->r) || pthread_once(&once, tc_key_init) || tc_key_rc)
		return;
	p->tc_nclasses = n ? n : 1; /* a free reads tc[0].hint even without classes */
	p->tc_stride = sizeof(struct tc_slot) + p->tc_nclasses * sizeof(struct rg_slab_cache) +
		       sizeof(struct rg_buddy_cache);
	p->tc_mem = aligned_alloc(64, TC_THREADS * p->tc_stride);
	if (!p->tc_mem)
		return;
	for (unsigned t = 0; t < TC_THREADS; t++) {
		struct tc_slot *slot = (struct tc_slot *)(p->tc_mem + t * p->tc_stride);

		memset(slot, 0, sizeof(*slot));
		rg_slab_cache_init(p->r, slot->cls);
		rg_buddy_cache_init(p->r, tc_buddy(p, slot->cls));
	}
	pthread_mutex_lock(&tc_lock);
	for (uint32_t i = 0; i < TC_POOLS; i++) {
		if (!tc_pools[i]) {
			tc_pools[i] = p;
			p->tc_id = i;
			p->tc_serial = ++tc_serial;
			break;
		}
	}
	pthread_mutex_unlock(&tc_lock);
	if (p->tc_id == TC_POOLS) {
		free(p->tc_mem);
		p->tc_mem = NULL;
	}
}

static void tc_teardown(struct rtmem_pool *p)
{
	if (p->tc_id == TC_POOLS)
		return;
	pthread_mutex_lock(&tc_lock);
	tc_pools[p->tc_id] = NULL; /* the daemon reclaims what caches still hold */
	pthread_mutex_unlock(&tc_lock);
	free(p->tc_mem);
}

/* The connection is up: nothing to read (the daemon never speaks first), no hang-up. */
static bool conn_alive(const struct rtmem_client *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN | POLLRDHUP };

	return c->fd >= 0 && poll(&pfd, 1, 0) == 0;
}

/* Take back @p's slot from a restarted daemon. Return: 0, -ESTALE (not the
 * same memory), or the daemon's refusal / transport error. */
static int pool_resume(struct rtmem_client *c, struct rtmem_pool *p)
{
	struct rtmem_msg_resume req = { 0 };
	struct rtmem_msg_open_reply rep;
	struct stat st;
	int fd = -1, rc;

	copy_name(req.pool, p->name);
	req.slot = p->slot;
	req.gen = p->gen;
	rc = transact(c, &req, RTMEM_MSG_RESUME, &rep, RTMEM_MSG_OPEN_REPLY, &fd);
	if (rc < 0)
		return rc;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_dev != p->dev || st.st_ino != p->ino || rep.slot != p->slot ||
	    rep.gen != p->gen)
		rc = -ESTALE;
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Reconnect @c if the daemon went away and resume its pools. Context: not RT.
 * Return: 0 (was up), 1 (reconnected, all resumed), -ESTALE (reconnected, a
 * pool left unserved), -ESHUTDOWN (no daemon now). */
static int client_ensure(struct rtmem_client *c)
{
	bool stale = false;
	int rc;

	if (conn_alive(c))
		return 0;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	rc = conn_open(c);
	if (rc < 0)
		return -ESHUTDOWN;
	for (struct rtmem_pool *p = c->pools; p; p = p->next) {
		if (p->unserved)
			continue;
		rc = pool_resume(c, p);
		if (rc == -ECONNRESET || rc == -EPIPE) /* gone again meanwhile: next call retries */
			return -ESHUTDOWN;
		if (rc < 0) {
			p->unserved = true;
			stale = true;
		}
	}
	return stale ? -ESTALE : 1;
}

__attribute__((visibility("default"))) int rtmem_client_check(struct rtmem_client *c)
{
	bool stale = false;
	int rc;

	if (!c)
		return -EINVAL;
	rc = client_ensure(c);
	for (struct rtmem_pool *p = c->pools; p; p = p->next)
		stale |= p->unserved;
	return rc >= 0 && stale ? -ESTALE : rc;
}

__attribute__((visibility("default"))) int rtmem_client_fd(const struct rtmem_client *c)
{
	return c ? c->fd : -1;
}

__attribute__((visibility("default"))) int rtmem_pool_daemon(const struct rtmem_pool *p)
{
	if (p->unserved || rg_region_daemon_state(p->r) == RG_DAEMON_STOPPED)
		return -ESHUTDOWN;
	return 0;
}

/* Unmap @p and drop its caches; the handle stays (freed by rtmem_pool_close()). */
static void pool_release(struct rtmem_pool *p)
{
	tc_teardown(p);
	rg_region_detach(p->r);
	munmap(p->mem, p->size);
	p->r = NULL;
	p->mem = NULL;
	p->c = NULL;
}

__attribute__((visibility("default"))) void rtmem_disconnect(struct rtmem_client *c)
{
	if (!c)
		return;
	while (c->pools) {
		struct rtmem_pool *p = c->pools;

		c->pools = p->next;
		p->next = NULL;
		pool_release(p);
	}
	if (c->fd >= 0)
		close(c->fd); /* the daemon reclaims what the pools still held */
	free(c);
}

/* This thread's first use of @p: claim a slot (RT-safe: CAS only). NULL if none. */
static __attribute__((noinline, cold)) struct rg_slab_cache *tc_claim(struct rtmem_pool *p, struct tls_ent *e)
{
	struct rg_slab_cache *tc = NULL;

	for (unsigned t = 0; p->tc_mem && t < TC_THREADS && !tc; t++) {
		struct tc_slot *slot = (struct tc_slot *)(p->tc_mem + t * p->tc_stride);
		uint32_t zero = 0;

		if (atomic_compare_exchange_strong_explicit(&slot->claimed, &zero, 1, memory_order_acquire,
							    memory_order_relaxed))
			tc = slot->cls;
	}
	*e = (struct tls_ent){ .serial = p->tc_serial, .tc = tc };
	if (tc)
		pthread_setspecific(tc_key, tls_tc); /* for the exit destructor; no allocation */
	return tc;
}

static inline struct rg_slab_cache *thread_cache(struct rtmem_pool *p)
{
	struct tls_ent *e = &tls_tc[p->tc_id];

	if (__builtin_expect(e->serial == p->tc_serial, 1))
		return e->tc;
	return tc_claim(p, e);
}

__attribute__((visibility("default"))) void rtmem_pool_flush(struct rtmem_pool *p)
{
	struct rg_slab_cache *tc = p ? thread_cache(p) : NULL;

	if (tc)
		tc_flush(p, tc);
}

__attribute__((visibility("default"))) int rtmem_pool_open(struct rtmem_client *c, const char *name,
							    unsigned flags, struct rtmem_pool **ret)
{
	struct rtmem_msg_open req = { 0 };
	struct rtmem_msg_open_desc_reply drep;
	struct rtmem_msg_open_reply rep;
	bool with_desc = true;
	struct rtmem_pool *p;
	int fd = -1, rc;

	if (!c || !name || strlen(name) >= RTMEM_NAME_MAX || (flags & ~RTMEM_POOL_NOLOCK))
		return -EINVAL;
	rc = client_ensure(c);
	if (rc == -ESHUTDOWN)
		return rc;
	copy_name(req.pool, name);
	req.flags = RTMEM_OPEN_WANT_DESC;
	rc = transact(c, &req, RTMEM_MSG_OPEN, &drep, RTMEM_MSG_OPEN_DESC_REPLY, &fd);
	if (rc == -EINVAL) { /* a daemon before issue 12 knows no flags */
		with_desc = false;
		req.flags = 0;
		rc = transact(c, &req, RTMEM_MSG_OPEN, &rep, RTMEM_MSG_OPEN_REPLY, &fd);
	} else {
		rep = drep.o;
	}
	if (rc < 0)
		return rc;
	if (fd < 0 || rep.slot == 0 || rep.slot > 0xffff || rep.size == 0 || rep.size > SIZE_MAX) {
		rc = -EPROTO;
		goto out_close_fd;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		rc = -ENOMEM;
		goto out_close_fd;
	}
	p->c = c;
	p->size = (size_t)rep.size;
	p->owner = rg_owner(rep.slot, rep.gen);
	p->slot = rep.slot;
	p->gen = rep.gen;
	p->quota = rep.quota;
	p->alloc_flags = rep.flags & RTMEM_OPEN_RESERVE ? RG_ALLOC_RESERVE : 0;
	copy_name(p->name, name);
	rc = map_pool(p, fd, flags, with_desc ? &drep : NULL);
	if (rc < 0)
		goto out_unmap;
	p->policy = rg_region_policy(p->r);
	rg_region_set_home(p->r, p->slot); /* clients spread over the stripes of a size */
	p->stripes = rg_region_stripes(p->r);
	rc = rg_region_arena_prepare(p->r, p->owner); /* its lists, made and touched now, not on the RT path */
	if (rc < 0)
		goto out_unmap;
	tc_setup(p);
	close(fd); /* the mapping keeps the memfd alive */
	p->next = c->pools;
	c->pools = p;
	*ret = p;
	return 0;
out_unmap:
	if (p->mem != MAP_FAILED)
		munmap(p->mem, p->size);
	free(p);
out_close_fd:
	if (fd >= 0)
		close(fd);
	return rc;
}

__attribute__((visibility("default"))) void rtmem_pool_close(struct rtmem_pool *p)
{
	struct rtmem_msg_close req = { 0 };
	struct rtmem_msg_close_reply rep;

	if (!p)
		return;
	if (p->c) {
		struct rtmem_client *c = p->c;
		struct rtmem_pool **pp = &c->pools;

		/* reconnect first, so that the daemon that serves it reclaims what it holds */
		if (client_ensure(c) != -ESHUTDOWN && !p->unserved) {
			copy_name(req.pool, p->name);
			transact(c, &req, RTMEM_MSG_CLOSE, &rep, RTMEM_MSG_CLOSE_REPLY, NULL);
		}
		while (*pp && *pp != p)
			pp = &(*pp)->next;
		if (*pp)
			*pp = p->next;
		pool_release(p);
	}
	free(p);
}

/* Charge @bytes to the quota. Return: true if within it. RT-safe. */
static inline bool charge(struct rtmem_pool *p, uint64_t bytes)
{
	uint64_t was = atomic_fetch_add_explicit(&p->held, bytes, memory_order_relaxed);

	if (__builtin_expect(p->quota && was + bytes > p->quota, 0)) {
		atomic_fetch_sub_explicit(&p->held, bytes, memory_order_relaxed);
		return false;
	}
	return true;
}

static int area_alloc(struct rtmem_pool *p, size_t size, void **ret)
{
	uint64_t bytes = size <= 16 ? 16 : 1ull << (64 - __builtin_clzll((uint64_t)size - 1));
	int rc;

	if (!charge(p, bytes))
		return -EDQUOT;
	rc = rg_buddy_alloc(p->r, size, p->owner, p->alloc_flags, ret);
	if (rc == 0)
		uncharge(p, bytes - rg_region_block_size(p->r, *ret)); /* min block may be larger */
	else
		uncharge(p, bytes);
	return rc;
}

/* A buddy block: from this thread's buddy cache (@tc, may be NULL; its
 * blocks are charged already), else from the area, under its lock. When the
 * area or the quota is short, the cache's blocks go back first. */
static int alloc_buddy(struct rtmem_pool *p, struct rg_slab_cache *tc, size_t size, void **ret)
{
	struct rg_buddy_cache *bc = tc ? tc_buddy(p, tc) : NULL;
	int rc = bc ? rg_buddy_cache_alloc(p->r, bc, size, p->owner, ret) : -EAGAIN;

	if (rc != -EAGAIN)
		return rc;
	rc = area_alloc(p, size, ret);
	if ((rc == -ENOMEM || rc == -EDQUOT) && bc && bc->bytes) {
		uncharge(p, rg_buddy_cache_flush(p->r, bc, p->owner));
		rc = area_alloc(p, size, ret);
	}
	return rc == -ENODEV ? -E2BIG : rc;
}

/* Charge a slab block of @bytes; at the quota, give this thread's cached
 * blocks back first (they count against it) and try once more. */
static bool charge_slab(struct rtmem_pool *p, struct rg_slab_cache *tc, uint64_t bytes)
{
	if (__builtin_expect(charge(p, bytes), 1))
		return true;
	if (!tc)
		return false;
	uncharge(p, rg_slab_cache_flush(p->r, tc, p->owner));
	return charge(p, bytes);
}

/* This thread's cache of @p if it already has its slot (or knows it has
 * none: NULL), else NULL too; thread_cache() claims one. */
static inline struct rg_slab_cache *thread_cache_known(const struct rtmem_pool *p)
{
	const struct tls_ent *e = &tls_tc[p->tc_id];

	return __builtin_expect(e->serial == p->tc_serial, 1) ? e->tc : NULL;
}

/* After a miss in @tc's cache of home stripe @cls: a block this thread
 * cached in another stripe of the size (a free caches a block under its own
 * stripe, and only the home stripe's cache is looked at first). @tc: may
 * be NULL (no cache). Return: as rg_cache_alloc_valid(): -EAGAIN when none
 * holds one. */
static int alloc_cached_stripe(struct rtmem_pool *p, struct rg_slab_cache *tc, uint32_t cls, void **ret)
{
	int rc = -EAGAIN;

	for (uint32_t i = 1; tc && i < p->stripes && rc == -EAGAIN; i++)
		rc = rg_cache_alloc_valid(p->r, tc, rg_stripe_other(cls, p->stripes, i), p->owner, ret);
	return rc;
}

/* The home stripe's pop of alloc_shared() said @rc: steal from the other
 * stripes (none without stripes), or give the charge of @bytes back. Then
 * blocks this thread cached in other stripes, already charged; last, so
 * that nothing before costs more. */
static __attribute__((noinline, cold)) int alloc_shared_failed(struct rtmem_pool *p, uint32_t cls, uint32_t bytes,
							       int rc, void **ret)
{
	if (rc == -ENOMEM)
		rc = rg_slab_alloc_steal(p->r, cls, p->owner, p->alloc_flags, ret);
	if (rc < 0)
		uncharge(p, bytes);
	if (rc == -ENOMEM && p->stripes > 1 && alloc_cached_stripe(p, thread_cache_known(p), cls, ret) == 0) {
		rg_slab_unfail(p->r, cls); /* home's empty pop was no failure */
		rc = 0;
	}
	return rc;
}

/* A block of class @cls from the shared list, charged to the quota (@tc:
 * this thread's cache, flushed if the quota is short; may be NULL). Out of
 * line: rtmem_alloc() reaches it as a tail call when the cache is empty. */
static __attribute__((noinline)) int alloc_shared(struct rtmem_pool *p, uint32_t cls, struct rg_slab_cache *tc, void **ret)
{
	uint32_t bytes = rg_slab_class_size(p->r, cls);
	int rc;

	if (!charge_slab(p, tc, bytes))
		return -EDQUOT;
	rc = rg_slab_alloc(p->r, cls, p->owner, p->alloc_flags, ret);
	if (__builtin_expect(rc < 0, 0))
		return alloc_shared_failed(p, cls, bytes, rc, ret);
	return rc;
}

/* rtmem_alloc() for everything else: a size past the class table or of no
 * class (the buddy), a thread that has no cache slot yet (claimed here). */
static __attribute__((noinline)) int alloc_other(struct rtmem_pool *p, size_t size, void **ret)
{
	int cls = rg_class_for(p->r, size, (enum rg_class_policy)p->policy);
	struct rg_slab_cache *tc;
	int rc;

	if (__builtin_expect(size == 0, 0)) /* sizecls[0] sends it here, off the fast path */
		return -EINVAL;
	tc = thread_cache(p);
	if (cls < 0)
		return alloc_buddy(p, tc, size, ret);
	if (tc) { /* a cached block is already charged */
		rc = rg_cache_alloc_valid(p->r, tc, (uint32_t)cls, p->owner, ret);
		if (rc != -EAGAIN)
			return rc;
	}
	return alloc_shared(p, (uint32_t)cls, tc, ret);
}

/* The cached block needs no stack frame: everything else is a tail call. */
__attribute__((visibility("default"))) int rtmem_alloc(struct rtmem_pool *p, size_t size, void **ret)
{
	/* the table alone: past it, alloc_other() asks again, so that this
	 * function calls nothing and needs no stack frame */
	int cls = __builtin_expect(size <= RG_SIZECLS_MAX, 1) ? rg_class_for(p->r, size, (enum rg_class_policy)p->policy) : -ENOENT;
	struct rg_slab_cache *tc = thread_cache_known(p);

	if (__builtin_expect(cls >= 0 && tc != NULL, 1)) {
		int rc = rg_cache_alloc_valid(p->r, tc, (uint32_t)cls, p->owner, ret);

		if (__builtin_expect(rc != -EAGAIN, 1))
			return rc;
		return alloc_shared(p, (uint32_t)cls, tc, ret);
	}
	return alloc_other(p, size, ret);
}

__attribute__((visibility("default"))) int rtmem_alloc_timed(struct rtmem_pool *p, size_t size, int64_t timeout_ns,
							      void **ret)
{
	int cls = rg_class_for(p->r, size, (enum rg_class_policy)p->policy);
	struct rg_slab_cache *tc;
	struct timespec abs;
	uint32_t bytes;
	int rc;

	if (cls < 0)
		return -EINVAL;
	if (timeout_ns == RTMEM_NO_WAIT)
		return rtmem_alloc(p, size, ret);
	tc = thread_cache(p);
	if (tc) {
		rc = rg_cache_alloc_valid(p->r, tc, (uint32_t)cls, p->owner, ret);
		if (rc == -EAGAIN && p->stripes > 1)
			rc = alloc_cached_stripe(p, tc, (uint32_t)cls, ret);
		if (rc != -EAGAIN)
			return rc;
	}
	if (timeout_ns > 0) {
		clock_gettime(CLOCK_MONOTONIC, &abs);
		abs.tv_sec += timeout_ns / 1000000000;
		abs.tv_nsec += timeout_ns % 1000000000;
		if (abs.tv_nsec >= 1000000000) {
			abs.tv_sec++;
			abs.tv_nsec -= 1000000000;
		}
	}
	bytes = rg_slab_class_size(p->r, (uint32_t)cls);
	if (!charge_slab(p, tc, bytes))
		return -EDQUOT;
	rc = rg_slab_alloc_timed(p->r, (uint32_t)cls, p->owner, p->alloc_flags, timeout_ns > 0 ? &abs : NULL, ret);
	if (rc < 0)
		uncharge(p, bytes);
	return rc;
}

/* rtmem_free() past the hint's cached free: through the whole cache path
 * (another class, a full cache, a waiter, an error), else the region (a
 * buddy block, or a thread without a cache). */
static __attribute__((noinline)) int free_other(struct rtmem_pool *p, void *ptr)
{
	struct rg_slab_cache *tc = thread_cache(p); /* claims a slot on the thread's first use */
	size_t bytes;
	int rc;

	if (tc) {
		long n = rg_cache_free(p->r, tc, ptr, p->owner);

		if (n > 0) /* given back to the pool */
			uncharge(p, (uint64_t)n);
		if (n != -EFAULT) /* -EFAULT: a buddy block, or not a block: below */
			return n > 0 ? 0 : (int)n;
		if (rg_buddy_cache_free(p->r, tc_buddy(p, tc), ptr, p->owner) == 0)
			return 0;
	}
	rc = rg_region_free(p->r, ptr, p->owner, &bytes);
	if (rc == 0)
		uncharge(p, bytes);
	return rc;
}

/* A block of the hint's class into the cache needs no stack frame:
 * everything else is a tail call. */
__attribute__((visibility("default"))) int rtmem_free(struct rtmem_pool *p, void *ptr)
{
	struct rg_slab_cache *tc = thread_cache_known(p);

	if (__builtin_expect(tc != NULL, 1) && __builtin_expect(rg_cache_free_hinted(p->r, tc, ptr, p->owner) == 0, 1))
		return 0;
	return free_other(p, ptr); /* not passing tc keeps the cached path shorter */
}
