/* SPDX-License-Identifier: MIT */
/*
 * bench_multi.h - what bench_multi.c (tables, main) and multi_clients.c (the
 * client processes, the daemon's config, the final check) share.
 */
#ifndef RTMEM_BENCH_MULTI_H
#define RTMEM_BENCH_MULTI_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "multi_proc.h"

#ifndef RTMEMD_PATH
#error "RTMEMD_PATH (the daemon binary) is a compile definition: see bench/CMakeLists.txt"
#endif

#define BURST 8u                   /* allocations, then frees, per cycle in (a) */
#define RING 256u                  /* slots of a handoff ring */
#define HANDOFF_SAMPLES (1u << 20) /* latencies kept per consumer, at most */
#define FANOUT_GROUP 4u            /* (d): a producer and up to 3 readers of each block */
#define SETUP_MS 10000u            /* connect, open, warm up: all clients ready by then */
#define LEAD_MS 20u                /* from "all ready" to the common start */

enum alloc_id { A_SLAB, A_STRIPED, A_CACHED, A_BUDDY, A_ARENA, A_BUDDY0, A_ARENA0, A_GLIBC, A_JE, A_MI, NALLOC };

/* One allocator as a client sees it: an rtmem pool, or a malloc family. */
struct allocator {
	const char *name;
	const char *pool;              /* rtmem: the pool it opens; NULL: malloc family */
	void *(*alloc)(size_t);        /* malloc family; NULL: not loaded */
	void (*free)(void *);
};

struct opts {
	unsigned max_clients, period_us, cycles, run_ms, prio;
	size_t small, big;       /* bytes: a slab size, and one above the slab classes */
	size_t per_client;       /* samples each client may keep */
	int ncpu;
	bool fifo, fifo_ok, quick;
};

/* What a client reports, in the shared mapping (written by client i only). */
struct client_res {
	uint64_t ops;      /* (b) pairs done; (c) producer: blocks handed over in the rate half;
			    * (d) producer: blocks shared in the rate half, reader: blocks it freed */
	uint64_t errors;   /* calls that failed (alloc, free, give, take), blocks never taken */
	uint64_t late;     /* (a) cycles that began after their period was over; (d) producer: blocks
			    * shared in the latency half */
	uint64_t id;       /* (c) the client's id in its pool */
	uint32_t nsamples; /* ns samples kept in samples_of(i) */
	int32_t setup_err; /* -errno of connect/pool open; 0 */
};

/* A handoff ring: one per producer/consumer pair (c), one per reader (d). */
struct ring {
	_Atomic uint64_t head; /* written by the producer */
	char pad0[56];
	_Atomic uint64_t tail; /* written by the consumer */
	char pad1[56];
	_Atomic uint32_t done; /* 1: the producer gives no more */
	char pad2[60];
	_Atomic uint64_t off[RING]; /* block offsets in the pool */
};

/* Everything shared with the clients: MAP_SHARED|MAP_ANONYMOUS, mapped once. */
struct shared {
	struct mp_ctl ctl;
	struct client_res res[MP_MAX];
	struct ring ring[MP_MAX];
	uint64_t lost; /* the checker's result */
	uint32_t samples[]; /* [MP_MAX][opt.per_client], ns */
};

/* A case as its clients see it. */
struct job {
	enum alloc_id a;
	size_t size;
	bool pinned; /* clients <= CPUs: each client on a CPU of its own */
	unsigned group; /* (d): processes per producer and its readers */
};

extern struct shared *sh;
extern struct opts opt;
extern struct mp_daemon dmn;
extern struct allocator allocs[NALLOC];

static inline uint32_t *samples_of(unsigned i)
{
	return sh->samples + (size_t)i * opt.per_client;
}

/* The client bodies, for mp_run(): (a), (b), (c), (d). Return: exit status. */
int client_cyclic(unsigned i, unsigned n, void *job);
int client_saturate(unsigned i, unsigned n, void *job);
int client_handoff(unsigned i, unsigned n, void *job);
int client_fanout(unsigned i, unsigned n, void *job);

/* Start rtmemd with the benchmark's three pools. Return: 0, or -1 (said why). */
int start_daemon(void);

/* With no client left, the blocks still in use in all pools (a checker
 * client reads the counters, for up to 2 s while the daemon reclaims).
 * Return: that count, or UINT64_MAX if the checker could not run. */
uint64_t check_pools(void);

#endif
