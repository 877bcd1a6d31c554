/* SPDX-License-Identifier: MIT */
/*
 * pool.h - rtmemd's pools: one sealed memfd per configured pool, mapped,
 * locked, pre-faulted and formatted as an allocator region.
 *
 * Setup follows the daemon's pattern, in this order:
 *   pool_create()    memfd (MFD_CLOEXEC | MFD_ALLOW_SEALING [| MFD_HUGETLB]),
 *                    ftruncate to the footprint rounded up to the page size,
 *                    fallocate (the memory is taken now, not at first touch),
 *                    seals F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, mmap
 *                    MAP_SHARED;
 *   pool_lock()      mlock the mapping (per pool, so an error names it);
 *   mlockall()       by the caller, once, for everything else;
 *   pool_prefault()  write every page under a SIGBUS guard;
 *   pool_format()    rg_region_format() and rg_region_attach().
 * Each step fills a struct pool_error with one line naming the pool, the
 * size and the cause; nothing here logs.
 *
 * After setup a pool never grows or moves: clients map the same memfd, the
 * seals stop any of them from truncating it under the others.
 *
 * A restarted daemon re-adopts a pool from systemd's fd store instead
 * (docs/lifecycle.md):
 *   pool_adopt()     map the stored memfd (MAP_POPULATE: no write to any
 *                    page, clients are using them), attach (the header and
 *                    every descriptor validated), compare with the config;
 *   pool_lock()      as for a new pool; never pool_prefault() (it rewrites
 *                    every page's first byte, racing the clients);
 *   pool_survey()    check the region, give back blocks a killed tester
 *                    held, trust the slot records the kernel confirms
 *                    (adopt.h) and reclaim the blocks of everyone else.
 */
#ifndef RTMEMD_POOL_H
#define RTMEMD_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adopt.h"
#include "cfg.h"
#include "region.h"

#define POOL_ERR_MAX 256

struct pool_error {
	char msg[POOL_ERR_MAX]; /* "pool \"audio\": mlock 64 MiB failed: ..." */
};

/* A client that held a slot when the daemon before this one stopped, and still lives. */
struct pool_survivor {
	uint32_t slot, gen;
	pid_t pid;
	uint64_t start_time; /* as recorded; 0 = unknown */
	int pidfd;           /* owned by the pool until srv takes it (then -1) */
};

/* What pool_survey() found. */
struct pool_survey {
	unsigned alive;        /* clients kept (struct pool.surv) */
	unsigned dead;         /* trusted records of clients that exited: reclaimed */
	unsigned untrusted;    /* records with a wrong tag or garbage: reclaimed */
	unsigned strays;       /* other owners found in block state words: reclaimed */
	uint64_t blocks, bytes; /* reclaimed in all */
	unsigned checked_in;   /* blocks a killed tester had checked out */
	int check;             /* rg_region_check(): 0 or -EUCLEAN */
	char check_msg[160];   /* its first violation */
};

#ifndef MFD_NOEXEC_SEAL
#define POOL_MFD_NOEXEC_SEAL 0x0008u /* Linux 6.3; older headers lack it */
#else
#define POOL_MFD_NOEXEC_SEAL MFD_NOEXEC_SEAL
#endif

/* How a pool's memfd is kept from being executed (fexecve, docs/trust.md). */
enum pool_noexec {
	POOL_NOEXEC_UNKNOWN = 0, /* adopted from the fd store: as the daemon before made it */
	POOL_NOEXEC_SEALED = 1,  /* MFD_NOEXEC_SEAL: no exec bits, F_SEAL_EXEC */
	POOL_NOEXEC_MODE = 2,    /* kernel before 6.3: mode 0600, changeable only by the daemon's uid */
};

/* pool_noexec_name() - words for the log. Context: any. */
const char *pool_noexec_name(enum pool_noexec how);

struct pool {
	const struct cfg_pool *cfg;  /* name, ACLs, quota: owned by the struct cfg, or own_cfg */
	int memfd;                   /* -1 when not created */
	void *mem;                   /* MAP_FAILED when not mapped */
	size_t size;                 /* bytes mapped = memfd size = footprint rounded to page */
	size_t page;                 /* page size of the mapping (huge page size with hugepages) */
	struct rg_footprint fp;   /* exact footprint */
	struct rg_region *region; /* after pool_format() */
	bool locked;                 /* pool_lock() succeeded */
	bool adopted;                /* from the fd store, not created */
	enum pool_noexec noexec;     /* how its memfd is kept from being executed */
	struct cfg_pool *own_cfg;    /* adopted with a geometry the config no longer has: a copy
				      * of the config's entry with the region's description */
	struct pool_survivor *surv;  /* after pool_survey(): [nsurv] */
	unsigned nsurv;
	uint32_t *gen_floor;         /* after pool_survey(): [nslots + 1], the highest generation
				      * any record or block holds per slot; NULL for a new pool */
};

/*
 * pool_create() - create, size, seal and map the memfd of @cp.
 * @huge_page: the huge page size in bytes (for hugepages pools), 0 if none.
 * Context: setup; allocates kernel memory for the whole pool (fallocate).
 * Return: 0; -EINVAL (bad layout, or hugepages asked with @huge_page 0),
 * -ENOSPC/-ENOMEM (not enough memory or huge pages), or the -errno of
 * memfd_create/ftruncate/fallocate/fcntl/mmap; @ret is cleaned up on error.
 */
int pool_create(const struct cfg_pool *cp, size_t huge_page, struct pool *ret, struct pool_error *err);

/*
 * pool_lock() - mlock @p's mapping.
 * Context: setup. Return: 0, -ENOMEM/-EPERM/-EAGAIN from mlock (the message
 * gives RLIMIT_MEMLOCK).
 */
int pool_lock(struct pool *p, struct pool_error *err);

/*
 * pool_touch() - write every @page-th byte of [@mem, @mem + @len) (keeping
 * its value) under a SIGBUS guard. *ret_off gets the offset of the page that
 * raised SIGBUS. Exposed for tests.
 * Context: setup; single-threaded (installs and restores a SIGBUS handler).
 * Return: 0, -EFAULT on SIGBUS.
 */
int pool_touch(void *mem, size_t len, size_t page, size_t *ret_off);

/*
 * pool_prefault() - pool_touch() the whole pool: a SIGBUS means the memory
 * the kernel promised is not there (huge pages gone, memory cgroup limit).
 * Context: setup. Return: 0, -EFAULT.
 */
int pool_prefault(struct pool *p, struct pool_error *err);

/*
 * pool_format() - format the region in @p and attach a handle to it.
 * Context: setup. Return: 0 or the -errno of rg_region_format/attach.
 */
int pool_format(struct pool *p, struct pool_error *err);

/*
 * pool_adopt() - take over the stored memfd @memfd of pool @cp (the fd is
 * the pool's from now on, closed by pool_destroy() also on error): map it
 * with MAP_POPULATE, attach, compare with @cp. A region whose description
 * differs from @cp's is adopted with its own (ret->own_cfg).
 * Context: setup. Return: 0 (same as configured), 1 (adopted with the
 * geometry it was formatted with, not @cp's), or -errno: -EINVAL (not a
 * sealed memfd of a whole number of pages), -EBADMSG/-EUCLEAN (attach:
 * not a region, or a corrupt one), -ENOMEM, -errno of fstat/mmap.
 */
int pool_adopt(const struct cfg_pool *cp, int memfd, struct pool *ret, struct pool_error *err);

/*
 * pool_survey() - after pool_adopt() and pool_lock(): check @p's region
 * (rg_region_check(), up to three times: live clients mutate it),
 * check in blocks a killed tester held, keep the clients whose slot records
 * @key tagged and the kernel confirms (p->surv), reclaim the blocks of every
 * other owner, and note each slot's highest generation (p->gen_floor) so that
 * no owner value a survivor holds is handed out again.
 * Context: setup; O(slots + blocks). Return: 0 and @rep, -ENOMEM.
 */
int pool_survey(struct pool *p, const struct adopt_key *key, struct pool_survey *rep);

/* pool_destroy() - detach, unmap, close; accepts a pool in any state. */
void pool_destroy(struct pool *p);

/* pool_name() - the configured name. Context: any. */
static inline const char *pool_name(const struct pool *p)
{
	return p->cfg->name;
}


#endif /* RTMEMD_POOL_H */
