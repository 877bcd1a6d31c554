/* SPDX-License-Identifier: MIT */
/*
 * pool.c - librtmem: a pool's calls that are neither setup nor allocation:
 * block sizes and offsets, handing blocks to other clients, sharing them
 * with several, statistics.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "client_int.h"
#include "region_int.h"

static_assert(RTMEM_SHARE_OPEN == RG_SHARE_RECS && RTMEM_SHARE_HOLDERS == RG_SHARE_HOLDERS, "the limits rtmem.h states");

__attribute__((visibility("default"))) size_t rtmem_block_size(const struct rtmem_pool *p, const void *ptr)
{
	return rg_region_block_size(p->r, ptr);
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

__attribute__((visibility("default"))) uint64_t rtmem_pool_client_id(const struct rtmem_pool *p)
{
	return p->owner;
}

__attribute__((visibility("default"))) int rtmem_give(struct rtmem_pool *p, void *ptr, uint64_t to)
{
	size_t bytes = rg_region_block_size(p->r, ptr);
	int rc = rg_region_give(p->r, ptr, p->owner, to);

	if (rc == 0)
		uncharge(p, bytes);
	return rc;
}

__attribute__((visibility("default"))) int rtmem_take(struct rtmem_pool *p, void *ptr)
{
	size_t bytes;
	int rc = rg_region_owned(p->r, ptr, p->owner, &bytes);

	if (rc == 0)
		atomic_fetch_add_explicit(&p->held, bytes, memory_order_relaxed);
	return rc;
}

/* A shared block that came back to this client (RG_SHARE_CLOSED): charge it,
 * as an allocation would, and free it the usual way. */
static void free_closed(struct rtmem_pool *p, void *ptr)
{
	atomic_fetch_add_explicit(&p->held, rg_region_block_size(p->r, ptr), memory_order_relaxed);
	(void)rtmem_free(p, ptr);
}

__attribute__((visibility("default"))) int rtmem_share(struct rtmem_pool *p, void *ptr, uint64_t to)
{
	size_t bytes = rg_region_block_size(p->r, ptr);
	int rc = rg_region_share(p->r, ptr, p->owner, to);

	if (rc == RG_SHARE_OPENED) { /* shared blocks are charged to nobody */
		uncharge(p, bytes);
		return 0;
	}
	if (rc == RG_SHARE_CLOSED) { /* another thread of ours let go meanwhile, and it was the last hold */
		free_closed(p, ptr);
		return -EPERM;
	}
	return rc;
}

__attribute__((visibility("default"))) int rtmem_release(struct rtmem_pool *p, void *ptr)
{
	int rc = rg_region_release(p->r, ptr, p->owner);

	if (rc == RG_SHARE_CLOSED) {
		free_closed(p, ptr);
		return 1;
	}
	return rc;
}

__attribute__((visibility("default"))) int rtmem_holders(const struct rtmem_pool *p, const void *ptr)
{
	return rg_region_holders(p->r, ptr);
}

__attribute__((visibility("default"))) int rtmem_pool_stats(const struct rtmem_pool *p, struct rtmem_pool_stats *ret)
{
	struct rg_region_stats s;

	rg_region_stats(p->r, &s);
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
