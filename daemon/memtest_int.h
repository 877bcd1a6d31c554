/* SPDX-License-Identifier: MIT */
/*
 * memtest_int.h - what the tester's files share: the tester's state, and the
 * few calls one file makes into another. Not a public interface: memtest.h is.
 *
 *   memtest.c        lifecycle, configuration, events, budget, the thread
 *   memtest_sweep.c  a pass: blocks, slices, faults (and fault injection)
 *   memtest_bad.c    the bad-block list: saving faults, loading at start
 *   memtest_phys.c   physical addresses (/proc/self/pagemap)
 */
#ifndef RTMEMD_MEMTEST_INT_H
#define RTMEMD_MEMTEST_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "memtest.h"

#define MT_LINE_MAX 512u /* a message or a line of the bad-block list, with the NUL */

struct mt_pool {
	char name[MEMTEST_NAME_MAX];
	struct rg_region *r;
	uint8_t *base;
	size_t size;
	struct memtest_phys *phys;
	uint32_t ncls;
	uint64_t cls_lo[RG_MAX_CLASSES], cls_hi[RG_MAX_CLASSES]; /* slab class areas */
	uint64_t data;     /* slab + buddy bytes */
	uint64_t nblocks;  /* slices of a pass, roughly: slab blocks + buddy slices */
};

struct memtest {
	struct memtest_config cfg;
	size_t slice_words, overlap;
	unsigned npools;
	struct mt_pool *pools;
	memtest_event_fn *cb;
	void *cb_arg;

	pthread_t thread;
	bool started;                /* start/stop caller only */
	atomic_bool stop;
	uint64_t next_ns;            /* budget bucket: tester thread only */

	pthread_mutex_t lock;        /* guards st, inj; with wake: interruptible sleeps */
	pthread_cond_t wake;         /* CLOCK_MONOTONIC */
	struct memtest_status st;

	pthread_mutex_t file_lock;   /* guards path, text, len and the file */
	char *path, *dir;            /* NULL: no file */
	char *text;                  /* the file's content, as it will be written */
	size_t len;
#ifdef RTMEM_FAULT_INJECT
	struct {
		bool on;
		unsigned pool;
		uint64_t off;        /* byte offset of the word */
		uint64_t mask;
	} inj;
#endif
};

/* A mismatch and where it happened. */
struct hit {
	struct march_fault f;
	unsigned algo;
	uint64_t bg;
};

/* memtest.c: events, time and the bandwidth budget */
void mt_budget(struct memtest *mt, uint64_t t0, uint64_t bytes);
void mt_delay_cb(void *arg, uint32_t ms);
__attribute__((format(printf, 3, 4)))
void mt_emit(struct memtest *mt, const struct memtest_fault *f, const char *fmt, ...);
uint64_t mt_now(const struct memtest *mt);
bool mt_stopping(struct memtest *mt);

/* memtest_sweep.c: a pass */
void mt_count(struct memtest *mt, uint64_t *field, uint64_t touched);
int mt_sweep_pool(struct memtest *mt, unsigned pi);

/* memtest_bad.c: the bad-block list */
int mt_bad_persist(struct memtest *mt, const struct memtest_fault *f);

#endif /* RTMEMD_MEMTEST_INT_H */
