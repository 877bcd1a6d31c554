/* SPDX-License-Identifier: MIT */
/*
 * faultsim.h - a fault simulator of a small word-oriented memory, the back-end
 * the March engine runs on to prove what each test detects.
 *
 * Model: n (<= FAULTSIM_MAX_WORDS) cells of 64 bits behind an address
 * decoder. Faults act on the bits of a victim mask (one bit, or a whole word
 * with ~0) of a victim cell; a coupling fault's aggressor is one bit of an
 * aggressor cell, which may be another cell (inter-word, both address orders)
 * or the victim's own cell (intra-word; caught only with data backgrounds).
 * Up to FAULTSIM_MAX_FAULTS faults are active at once (linked faults).
 *
 *   SAF   stuck-at v: the mask bits always hold v.
 *   TF    transition fault: up (v=1): a 0 -> 1 write leaves 0; down (v=0):
 *         a 1 -> 0 write leaves 1.
 *   CFin  inversion coupling <t; ~>: a write making the aggressor bit
 *         transition t (1 up, 0 down) inverts the victim bits.
 *   CFid  idempotent coupling <t; f>: that transition forces the victim to f.
 *   CFst  state coupling <s; f>: while the aggressor bit holds s, the victim
 *         bits hold f (enforced after every write).
 *   AF    address decoder faults, van de Goor's four combinations of x != y:
 *         1: address x reaches no cell, cell x is reached by no address;
 *         2: x reaches cell y (as does y), cell x is unreachable;
 *         3: x reaches cells x and y, y reaches no cell;
 *         4: x reaches cells x and y, y reaches cell y.
 *         Reading two cells gives their AND (v=0) or OR (v=1); reading no
 *         cell gives the floating value 0 (v=0) or ~0 (v=1).
 *   DRF   data retention: a victim bit holding v flips to ~v once
 *         retention_ms of simulated time have passed since its cell was last
 *         written. Time advances only in faultsim_delay(): operations take
 *         no time, as a March test without delays takes microseconds.
 *
 * Effects are applied after the write that triggers them, in the order the
 * faults were added.
 */
#ifndef RTMEMD_FAULTSIM_H
#define RTMEMD_FAULTSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "march.h"

#define FAULTSIM_MAX_WORDS 64u
#define FAULTSIM_MAX_FAULTS 2u

enum faultsim_type {
	FS_SAF = 1,
	FS_TF,
	FS_CFIN,
	FS_CFID,
	FS_CFST,
	FS_AF,
	FS_DRF,
};

struct faultsim_fault {
	uint8_t type;      /* enum faultsim_type */
	uint8_t t;         /* CFin/CFid: aggressor transition (1 up); CFst: state; AF: 1..4 */
	uint8_t v;         /* stuck/forced/decaying value; TF: 1 up, 0 down; AF: read variant */
	uint8_t abit;      /* aggressor bit (coupling) */
	size_t cell;       /* victim cell (AF: address x) */
	size_t aggr;       /* aggressor cell (AF: address y) */
	uint64_t mask;     /* victim bits */
	uint64_t retention_ms;
};

struct faultsim {
	size_t n;
	uint64_t cell[FAULTSIM_MAX_WORDS];
	uint64_t written_at[FAULTSIM_MAX_WORDS]; /* simulated ms of the last write */
	uint64_t now_ms;
	unsigned nf;
	struct faultsim_fault f[FAULTSIM_MAX_FAULTS];
	uint64_t reads, writes; /* operation counts, for cost checks */
};

/* A placement: the faults injected together for one simulation. */
struct faultsim_case {
	unsigned nf;
	struct faultsim_fault f[FAULTSIM_MAX_FAULTS];
};

/*
 * faultsim_init() - a fault-free memory of @n words holding 0 at time 0.
 * Return: 0; -EINVAL if n is 0 or above FAULTSIM_MAX_WORDS.
 */
int faultsim_init(struct faultsim *s, size_t n);

/*
 * faultsim_add() - inject a fault.
 * Return: 0; -EINVAL for a cell out of range or a malformed fault; -ENOSPC
 * when FAULTSIM_MAX_FAULTS are already active.
 */
int faultsim_add(struct faultsim *s, const struct faultsim_fault *f);

/* faultsim_mem() - the engine's view of @s (callbacks, no flush needed). */
void faultsim_mem(struct faultsim *s, struct march_mem *ret_mem);

/* faultsim_delay() - march_opts.delay: advance simulated time by @ms. */
void faultsim_delay(void *arg, uint32_t ms);

uint64_t faultsim_read(void *ctx, size_t addr);
void faultsim_write(void *ctx, size_t addr, uint64_t v);

/* Fault classes for coverage: every placement of one class in n words. */
enum faultsim_class {
	FSC_SAF,       /* each cell, stuck at 0 and 1 */
	FSC_TF,        /* each cell, up and down */
	FSC_CFIN,      /* each ordered pair aggressor != victim, up and down */
	FSC_CFID,      /* each ordered pair, 4 kinds */
	FSC_CFST,      /* each ordered pair, 4 kinds */
	FSC_AF,        /* each ordered pair x != y, 4 types, 2 read variants */
	FSC_DRF,       /* each cell, losing 1 and losing 0 */
	FSC_CFST_WORD, /* intra-word CFst: pairs of 12 bits in one word, 4 kinds */
	FSC_TF_CFID,   /* linked: TF on v and CFid a -> v, every a != v */
	FSC_CFID_CFID, /* linked: two CFids with opposite effects on v, a1 < v < a2 */
	FSC_COUNT
};

extern const char *const faultsim_class_name[FSC_COUNT];

/*
 * faultsim_cases() - the placements of a class in a memory of @n words, for
 * retention faults with @retention_ms.
 * Return: the number of placements (all of them, even if more than @max);
 * at most @max are written to @out (which may be NULL to count).
 */
size_t faultsim_cases(enum faultsim_class c, size_t n, uint64_t retention_ms,
		      struct faultsim_case *out, size_t max);

#endif /* RTMEMD_FAULTSIM_H */
