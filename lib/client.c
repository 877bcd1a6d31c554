/* SPDX-License-Identifier: MIT */
/*
 * client.c - librtmem: connect to rtmemd, open pools, allocate in them.
 *
 * Setup calls (connect, open, close) talk to the daemon over its
 * SOCK_SEQPACKET socket: one request, one reply, the pool's memfd arriving by
 * SCM_RIGHTS. The pool is then mapped with MAP_POPULATE and mlock()ed:
 * page tables are per process, so a page the daemon pre-faulted would still
 * fault on this process's first touch otherwise.
 *
 * The allocation calls run entirely in this process on the shared region
 * (lib/slab.c, lib/buddy.c) with this client's owner word; the quota is
 * enforced here, on a per-pool counter private to the process.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto.h"
#include "region.h"
#include "rtmem/rtmem.h"

struct rtmem_client {
	int fd;
	uint32_t seq;
	char name[RTMEM_NAME_MAX];
};

struct rtmem_pool {
	struct rtmem_client *c;
	struct rtmem_region *r;
	void *mem;
	size_t size;
	uint64_t owner;       /* rtmem_owner(slot, gen) from OPEN_REPLY */
	uint64_t quota;       /* bytes, 0 = none */
	_Atomic uint64_t held; /* bytes this client holds in the pool */
	unsigned alloc_flags; /* RTMEM_ALLOC_RESERVE if granted */
	uint32_t policy;
	bool locked;
	char name[RTMEM_NAME_MAX];
};

static void copy_name(char dst[RTMEM_NAME_MAX], const char *src)
{
	size_t n = src ? strnlen(src, RTMEM_NAME_MAX - 1) : 0;

	memset(dst, 0, RTMEM_NAME_MAX);
	if (n)
		memcpy(dst, src, n);
}

static int transact(struct rtmem_client *c, void *req, uint32_t type, void *rep, uint32_t rep_type, int *ret_fd)
{
	return rtmem_msg_transact(c->fd, ++c->seq, req, type, rep, rep_type, ret_fd);
}

__attribute__((visibility("default"))) int rtmem_connect(const char *socket_path, const char *name,
							  struct rtmem_client **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct rtmem_msg_hello hello = { 0 };
	struct rtmem_msg_hello_reply rep;
	struct rtmem_client *c;
	const char *path = socket_path ? socket_path : getenv("RTMEM_SOCKET");
	int rc;

	if (!path || !*path)
		path = RTMEM_DEFAULT_SOCKET;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	copy_name(c->name, name);
	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		rc = -errno;
		goto out_free;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		goto out_close;
	}
	copy_name(hello.name, name);
	rc = transact(c, &hello, RTMEM_MSG_HELLO, &rep, RTMEM_MSG_HELLO_REPLY, NULL);
	if (rc < 0)
		goto out_close;
	*ret = c;
	return 0;
out_close:
	close(c->fd);
out_free:
	free(c);
	return rc;
}

__attribute__((visibility("default"))) void rtmem_disconnect(struct rtmem_client *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}

static int map_pool(struct rtmem_pool *p, int fd, unsigned flags)
{
	int rc;

	p->mem = mmap(NULL, p->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (p->mem == MAP_FAILED)
		return -errno;
	if (mlock(p->mem, p->size) == 0)
		p->locked = true;
	else if (!(flags & RTMEM_POOL_NOLOCK))
		return errno == EPERM ? -EPERM : -ENOMEM;
	rc = rtmem_region_attach(p->mem, p->size, &p->r);
	return rc;
}

__attribute__((visibility("default"))) int rtmem_pool_open(struct rtmem_client *c, const char *name,
							    unsigned flags, struct rtmem_pool **ret)
{
	struct rtmem_msg_open req = { 0 };
	struct rtmem_msg_open_reply rep;
	struct rtmem_pool *p;
	int fd = -1, rc;

	if (!c || !name || strlen(name) >= RTMEM_NAME_MAX || (flags & ~RTMEM_POOL_NOLOCK))
		return -EINVAL;
	copy_name(req.pool, name);
	rc = transact(c, &req, RTMEM_MSG_OPEN, &rep, RTMEM_MSG_OPEN_REPLY, &fd);
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
	p->owner = rtmem_owner(rep.slot, rep.gen);
	p->quota = rep.quota;
	p->alloc_flags = rep.flags & RTMEM_OPEN_RESERVE ? RTMEM_ALLOC_RESERVE : 0;
	copy_name(p->name, name);
	rc = map_pool(p, fd, flags);
	if (rc < 0)
		goto out_unmap;
	p->policy = rtmem_region_policy(p->r);
	close(fd); /* the mapping keeps the memfd alive */
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
	copy_name(req.pool, p->name);
	transact(p->c, &req, RTMEM_MSG_CLOSE, &rep, RTMEM_MSG_CLOSE_REPLY, NULL);
	rtmem_region_detach(p->r);
	munmap(p->mem, p->size);
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

static inline void uncharge(struct rtmem_pool *p, uint64_t bytes)
{
	atomic_fetch_sub_explicit(&p->held, bytes, memory_order_relaxed);
}

static int alloc_buddy(struct rtmem_pool *p, size_t size, void **ret)
{
	uint64_t bytes = size <= 16 ? 16 : 1ull << (64 - __builtin_clzll((uint64_t)size - 1));
	int rc;

	if (!charge(p, bytes))
		return -EDQUOT;
	rc = rtmem_buddy_alloc(p->r, size, p->owner, p->alloc_flags, ret);
	if (rc == 0)
		uncharge(p, bytes - rtmem_region_block_size(p->r, *ret)); /* min block may be larger */
	else
		uncharge(p, bytes);
	return rc == -ENODEV ? -E2BIG : rc;
}

__attribute__((visibility("default"))) int rtmem_alloc(struct rtmem_pool *p, size_t size, void **ret)
{
	int cls = rtmem_slab_class_for(p->r, size, (enum rtmem_class_policy)p->policy);
	uint32_t bytes;
	int rc;

	if (cls < 0)
		return alloc_buddy(p, size, ret);
	bytes = rtmem_slab_class_size(p->r, (uint32_t)cls);
	if (!charge(p, bytes))
		return -EDQUOT;
	rc = rtmem_slab_alloc(p->r, (uint32_t)cls, p->owner, p->alloc_flags, ret);
	if (rc < 0)
		uncharge(p, bytes);
	return rc;
}

__attribute__((visibility("default"))) int rtmem_alloc_timed(struct rtmem_pool *p, size_t size, int64_t timeout_ns,
							      void **ret)
{
	int cls = rtmem_slab_class_for(p->r, size, (enum rtmem_class_policy)p->policy);
	struct timespec abs;
	uint32_t bytes;
	int rc;

	if (cls < 0)
		return -EINVAL;
	if (timeout_ns == RTMEM_NO_WAIT)
		return rtmem_alloc(p, size, ret);
	if (timeout_ns > 0) {
		clock_gettime(CLOCK_MONOTONIC, &abs);
		abs.tv_sec += timeout_ns / 1000000000;
		abs.tv_nsec += timeout_ns % 1000000000;
		if (abs.tv_nsec >= 1000000000) {
			abs.tv_sec++;
			abs.tv_nsec -= 1000000000;
		}
	}
	bytes = rtmem_slab_class_size(p->r, (uint32_t)cls);
	if (!charge(p, bytes))
		return -EDQUOT;
	rc = rtmem_slab_alloc_timed(p->r, (uint32_t)cls, p->owner, p->alloc_flags, timeout_ns > 0 ? &abs : NULL, ret);
	if (rc < 0)
		uncharge(p, bytes);
	return rc;
}

__attribute__((visibility("default"))) int rtmem_free(struct rtmem_pool *p, void *ptr)
{
	size_t bytes;
	int rc = rtmem_region_free(p->r, ptr, p->owner, &bytes);

	if (rc == 0)
		uncharge(p, bytes);
	return rc;
}

__attribute__((visibility("default"))) size_t rtmem_block_size(const struct rtmem_pool *p, const void *ptr)
{
	return rtmem_region_block_size(p->r, ptr);
}

__attribute__((visibility("default"))) uint64_t rtmem_ptr_to_off(const struct rtmem_pool *p, const void *ptr)
{
	uint64_t off = (uint64_t)((const char *)ptr - (const char *)p->mem);

	return off < p->size ? off : UINT64_MAX;
}

__attribute__((visibility("default"))) void *rtmem_off_to_ptr(const struct rtmem_pool *p, uint64_t off)
{
	return off < p->size ? (char *)p->mem + off : NULL;
}

__attribute__((visibility("default"))) int rtmem_pool_stats(const struct rtmem_pool *p, struct rtmem_pool_stats *ret)
{
	struct rtmem_region_stats s;

	rtmem_region_stats(p->r, &s);
	memset(ret, 0, sizeof(*ret));
	ret->size = p->size;
	ret->held_bytes = atomic_load_explicit(&((struct rtmem_pool *)p)->held, memory_order_relaxed);
	ret->quota = p->quota;
	ret->nclasses = s.nclasses;
	for (uint32_t c = 0; c < s.nclasses; c++) {
		ret->cls[c].size = s.cls[c].size;
		ret->cls[c].count = s.cls[c].count;
		ret->cls[c].in_use = s.cls[c].in_use;
		ret->cls[c].free = s.cls[c].free;
		ret->cls[c].hwm = s.cls[c].hwm;
		ret->cls[c].failed = s.cls[c].failed;
	}
	ret->buddy_size = s.buddy_size;
	ret->buddy_free = s.buddy_free;
	ret->buddy_largest_free = s.buddy_largest_free;
	return 0;
}
