/* SPDX-License-Identifier: MIT */
/*
 * pool.c - librtmem: a pool's calls that are neither setup nor allocation:
 * block sizes and offsets, handing blocks to other clients, statistics.
 */
#include <stdatomic.h>
#include <string.h>

#include "client_int.h"

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
