/* SPDX-License-Identifier: MIT */
/*
 * memtest.h - the daemon's background memory tester (module prefix memtest_).
 *
 * Owns: the tester thread, its sweep over the free blocks of every pool, the
 * bandwidth budget, the fault records, the bad-block list file under the state
 * directory, and the table of physical addresses of each pool. The March
 * engine (march.h) runs the tests; the allocator core (region.h) arbitrates
 * which blocks the tester may hold.
 *
 * Order of calls in the daemon:
 *
 *   setup, while CAP_SYS_ADMIN:  memtest_resolve_phys() per pool (mlocked)
 *   setup:                       memtest_config_from_cfg(), memtest_create()
 *   before serving clients:      memtest_load_badblocks()
 *   after READY=1:               memtest_start()
 *   rtmemctl memtest:            memtest_status()
 *   SIGTERM:                     memtest_stop(), memtest_destroy()
 *
 * Events (faults, finished passes, warnings) reach the daemon through one
 * callback, on the thread that found them, with a formatted one-line message
 * for the journal and sd_notify STATUS. Nothing in this module logs.
 */
#ifndef RTMEMD_MEMTEST_H
#define RTMEMD_MEMTEST_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "march.h"
#include "region.h"

#define MEMTEST_MAX_ALGOS 16u
#define MEMTEST_MAX_BGS 16u
#define MEMTEST_NAME_MAX 32u          /* pool and algorithm names, with the NUL */
#define MEMTEST_STATUS_FAULTS 16u     /* most recent faults in a status snapshot */
#define MEMTEST_SLICE_DEFAULT 65536u  /* bytes per slice */
#define MEMTEST_OVERLAP_DEFAULT 8u    /* words shared by consecutive slices */
#define MEMTEST_DELAY_DEFAULT 1000u   /* ms, the retention delay of "del" */
#define MEMTEST_BADBLOCKS "badblocks" /* file name under the state directory */
#define MEMTEST_FAULT 1               /* memtest_test_block_now(): a fault */

/* Time source and sleep, injectable for tests. NULL in the config: the real ones. */
struct memtest_clock {
	uint64_t (*now_ns)(void *arg);            /* monotonic nanoseconds */
	void (*sleep_ns)(void *arg, uint64_t ns); /* may return early */
	void *arg;
};

struct memtest_config {
	unsigned nalgos;                              /* run in this order, 1.. */
	struct march_prog progs[MEMTEST_MAX_ALGOS];
	char names[MEMTEST_MAX_ALGOS][MEMTEST_NAME_MAX];
	unsigned nbgs;                                /* 1..MEMTEST_MAX_BGS */
	struct march_bg bgs[MEMTEST_MAX_BGS];
	uint64_t bandwidth;                           /* bytes read + written per second, > 0 */
	uint64_t period_ms;                           /* start a full pass at most this often */
	int policy;                                   /* SCHED_IDLE, SCHED_BATCH, SCHED_OTHER */
	bool cpus_set;                                /* false: inherit (housekeeping CPUs) */
	cpu_set_t cpus;
	size_t slice_bytes;                           /* 0: MEMTEST_SLICE_DEFAULT */
	size_t overlap_words;                         /* 0: MEMTEST_OVERLAP_DEFAULT */
	uint32_t delay_ms;                            /* "del"; 0: MEMTEST_DELAY_DEFAULT */
	size_t window;                                /* GALPAT/walk; 0: engine default */
	bool take_last;                               /* also test a class's last free block */
	const struct memtest_clock *clock;            /* NULL: CLOCK_MONOTONIC, real sleeps */
};

/* Physical addresses of one mapping, as resolved at setup (opaque). */
struct memtest_phys;

struct memtest_pool {
	const char *name;           /* copied */
	struct rg_region *region;
	void *base;                 /* the region's mapping, rg_region_base() */
	size_t size;                /* bytes mapped */
	struct memtest_phys *phys;  /* may be NULL; memtest_create() takes it */
};

/* One fault, as found and as persisted. */
struct memtest_fault {
	char pool[MEMTEST_NAME_MAX];
	uint64_t offset;         /* byte offset of the faulty word in the pool */
	uint64_t phys;           /* physical address of that word, if phys_valid */
	bool phys_valid;
	bool read_error;         /* the re-read after a flush was right */
	uint64_t expected, actual, reread, xor_;
	char algorithm[MEMTEST_NAME_MAX];
	unsigned element, op;    /* where in the program (march_fault) */
	uint64_t background;     /* pattern of the background */
	int64_t time;            /* CLOCK_REALTIME seconds */
	int quarantine;          /* rg_region_mark_bad(): 0 or -errno */
};

struct memtest_status {
	bool running;
	uint64_t bytes_tested;     /* block bytes that passed every algorithm x background */
	uint64_t bytes_touched;    /* reads + writes, what the budget counts */
	uint64_t blocks_tested;
	uint64_t blocks_busy;      /* in use when their turn came (skipped) */
	uint64_t blocks_spared;    /* the last free block of a class: left alone */
	uint64_t passes;           /* full passes completed */
	uint64_t pass_ms;          /* duration of the last full pass, 0 before the first */
	uint64_t pass_estimate_ms; /* touched bytes of a pass / bandwidth */
	uint64_t sleep_ms;         /* time spent sleeping for the budget */
	char pool[MEMTEST_NAME_MAX];
	char algorithm[MEMTEST_NAME_MAX];
	uint64_t background;
	uint64_t offset;           /* block being tested */
	uint64_t faults_total;     /* found since start (loaded ones not counted) */
	unsigned nfaults;          /* in faults[], the most recent first */
	struct memtest_fault faults[MEMTEST_STATUS_FAULTS];
};

enum memtest_event_kind {
	MEMTEST_EV_FAULT = 1, /* ev->fault set; the block is quarantined */
	MEMTEST_EV_PASS = 2,  /* a full pass completed */
	MEMTEST_EV_WARN = 3,  /* something to log: budget, scheduling, bad-block file */
};

struct memtest_event {
	enum memtest_event_kind kind;
	const struct memtest_fault *fault; /* MEMTEST_EV_FAULT only */
	const char *msg;                   /* one line, no newline */
};

typedef void memtest_event_fn(void *arg, const struct memtest_event *ev);

struct memtest;
struct cfg;
struct cfg_error;

/*
 * memtest_config_default() - March C-, the 7 standard backgrounds, 16 MB/s,
 * one pass an hour, SCHED_IDLE, inherited affinity.
 * Context: any. Return: 0.
 */
int memtest_config_default(struct memtest_config *ret);

/*
 * memtest_config_from_cfg() - the tester's config from the [memtest] section:
 * looks each algorithm name up in the built-in table.
 * Context: setup. Return: 0; -ENOENT for an unknown algorithm (@err says
 * "file:line:col: unknown memory test ..."); *ret untouched on error.
 */
int memtest_config_from_cfg(const struct cfg *cfg, struct memtest_config *ret, struct cfg_error *err);

/*
 * memtest_resolve_phys() - read /proc/self/pagemap for every page of
 * [base, base + size) and keep the frame numbers as runs of contiguous pages.
 * Without CAP_SYS_ADMIN the kernel reports frame 0: the table then says
 * unavailable. Pages should be resident (mlocked) first.
 * Context: setup; allocates; reads 8 bytes per page.
 * Return: 0 and *ret; -ENOMEM, -EINVAL, or -errno from open/pread.
 */
int memtest_resolve_phys(const void *base, size_t size, struct memtest_phys **ret);

/* The same table from given frame numbers (0 = unknown); for tests. */
int memtest_phys_from_pfns(const uint64_t *pfns, size_t npages, size_t page, struct memtest_phys **ret);

/* True if any page has a known frame. Context: any. */
bool memtest_phys_available(const struct memtest_phys *ph);

/* Physical address of byte @offset; false if unknown. Context: any, O(log runs). */
bool memtest_phys_lookup(const struct memtest_phys *ph, uint64_t offset, uint64_t *ret_addr);

/* Offset whose physical address is @addr; false if none. Context: any, O(runs). */
bool memtest_phys_reverse(const struct memtest_phys *ph, uint64_t addr, uint64_t *ret_offset);

/* Free a table; accepts NULL. */
void memtest_phys_free(struct memtest_phys *ph);

/*
 * memtest_create() - a stopped tester over @npools pools.
 * @state_dir: the bad-block list is @state_dir/badblocks (NULL: no file)
 * @cb, @arg:  event callback (may be NULL)
 * Context: setup; allocates. Takes every pools[i].phys, also on failure.
 * Return: 0 and *ret; -EINVAL (no pool, no algorithm, no background, zero
 * bandwidth, a program march_run() would refuse), -ENOMEM.
 */
int memtest_create(const struct memtest_config *cfg, const struct memtest_pool *pools, unsigned npools,
		   const char *state_dir, memtest_event_fn *cb, void *arg, struct memtest **ret);

/*
 * memtest_load_badblocks() - quarantine every block of the bad-block list
 * again. A line whose physical address falls in a pool now (phys tables
 * available) quarantines that place; else its pool and offset. Malformed
 * lines are reported as "file:line: ..." warnings and kept in the file.
 * Context: setup, before clients allocate and before memtest_start().
 * Return: the number of blocks quarantined (>= 0; a missing file is 0);
 * -errno if the file cannot be read; *ret_malformed (may be NULL) counts
 * the malformed lines.
 */
int memtest_load_badblocks(struct memtest *mt, unsigned *ret_malformed);

/*
 * memtest_start() - start the tester thread. Scheduling policy and affinity
 * are applied by the thread; failures (e.g. under qemu-user) are warnings.
 * Context: after setup. Return: 0; -EALREADY; -errno from pthread_create.
 */
int memtest_start(struct memtest *mt);

/*
 * memtest_stop() - ask the thread to stop and join it. The thread returns a
 * checked-out block before it exits; it stops within one March run over one
 * slice (or one sleep of the delay callback's step).
 * Context: may block for that long. Return: 0; -ESRCH if not running.
 */
int memtest_stop(struct memtest *mt);

/*
 * memtest_status() - a consistent snapshot of progress and recent faults.
 * Context: any thread; takes the tester's mutex (held only for counters).
 */
void memtest_status(struct memtest *mt, struct memtest_status *ret);

/*
 * memtest_test_block_now() - test the block at @off of pool @pool, which the
 * caller has checked out (a block reclaimed from a dead client), with every
 * algorithm x background, without the budget. On a fault the block is
 * quarantined, reported and persisted and is no longer checked out (if
 * quarantining itself fails, the event says so and the caller still holds it).
 * Context: daemon thread, not RT; runs for the whole test of the block.
 * Return: 0 (passed: the caller checks it in), MEMTEST_FAULT (quarantined),
 * -EINVAL (bad pool or block).
 */
int memtest_test_block_now(struct memtest *mt, unsigned pool, uint64_t off);

/* memtest_destroy() - stop if running and free everything; accepts NULL. */
void memtest_destroy(struct memtest *mt);

#ifdef RTMEM_FAULT_INJECT
/*
 * memtest_inject() - test builds only: reads by the tester of the word at
 * byte @offset (rounded down to 8) of pool @pool return bit @bit flipped,
 * as a stuck cell would. One injection at a time; @bit < 0 removes it.
 * Return: 0, -EINVAL.
 */
int memtest_inject(struct memtest *mt, unsigned pool, uint64_t offset, int bit);
#endif

#endif /* RTMEMD_MEMTEST_H */
