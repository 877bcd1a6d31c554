/* SPDX-License-Identifier: MIT */
/*
 * client_int.h - librtmem's handles, shared by client.c (connection, pools,
 * allocation) and pool.c (the pool's other calls). Private to the library.
 */
#ifndef RTMEM_CLIENT_INT_H
#define RTMEM_CLIENT_INT_H

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include "proto.h"
#include "region.h"
#include "rtmem/rtmem.h"

struct rtmem_client {
	int fd;                   /* -1 while the daemon is away */
	uint32_t seq;
	char name[RTMEM_NAME_MAX];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct rtmem_pool *pools; /* open pools, through rtmem_pool.next */
};

#define TC_POOLS 16   /* pools per process with thread caches */
#define TC_THREADS 16 /* threads per pool with a cache */

/* One thread's cache slot of a pool: a claim line, one line per class, then
 * the buddy cache (tc_buddy()). */
struct tc_slot {
	_Atomic uint32_t claimed;
	uint32_t pad[15];
	struct rg_slab_cache cls[];
};
static_assert(sizeof(struct tc_slot) == 64 && sizeof(struct rg_slab_cache) % 64 == 0, "slots are lines");
static_assert(sizeof(struct rg_buddy_cache) % 64 == 0, "the buddy cache is lines");

struct tls_ent {
	uint64_t serial; /* the pool's tc_serial this entry belongs to, 0 = none */
	struct rg_slab_cache *tc;
};

struct rtmem_pool {
	struct rtmem_client *c;   /* NULL once rtmem_disconnect() closed it */
	struct rtmem_pool *next;  /* in c->pools */
	struct rg_region *r;
	void *mem;
	size_t size;
	uint64_t owner;       /* rg_owner(slot, gen) from OPEN_REPLY */
	uint32_t slot, gen;   /* what RESUME asks for after a daemon restart */
	dev_t dev;            /* the memfd's identity: a resumed pool must be the same memory */
	ino_t ino;
	bool unserved;        /* a restarted daemon did not take it back */
	uint64_t quota;       /* bytes, 0 = none */
	_Atomic uint64_t held; /* bytes this client holds in the pool */
	unsigned alloc_flags; /* RG_ALLOC_RESERVE if granted */
	uint32_t policy;
	bool locked;
	uint32_t tc_id;      /* index in tls_tc, TC_POOLS if no caches */
	uint64_t tc_serial;  /* unique per open, 0 if no caches */
	char *tc_mem;        /* TC_THREADS slots of tc_stride bytes */
	size_t tc_stride;
	uint32_t tc_nclasses; /* slab caches per slot: the classes, at least one */
	uint32_t stripes;     /* slab stripes per size (rg_region_stripes()), 1 without */
	char name[RTMEM_NAME_MAX];
};

/* The thread-cache slot's buddy cache: after its rg_region_nclasses()
 * (at least one) slab caches. */
static inline struct rg_buddy_cache *tc_buddy(const struct rtmem_pool *p, struct rg_slab_cache *tc)
{
	return (struct rg_buddy_cache *)(tc + p->tc_nclasses);
}

static inline void uncharge(struct rtmem_pool *p, uint64_t bytes)
{
	atomic_fetch_sub_explicit(&p->held, bytes, memory_order_relaxed);
}

#endif
