/* SPDX-License-Identifier: MIT */
/*
 * march.h - the March-test engine of the memory tester (module prefix march_).
 *
 * Owns: the parser of March notation, the compiled program, the table of
 * built-in tests, the data backgrounds for word-oriented memory, and the run
 * loop over a memory (real words, or callbacks for the fault simulator).
 * The daemon owns everything around it: the tester thread, checking blocks
 * out of the pools, quarantine and persistence.
 *
 * Notation (van de Goor): a test is a list of elements in braces, separated
 * by ';'. An element is an address order and a list of operations applied, in
 * that order, to every word before the next word is visited:
 *
 *   {any(w0); up(r0,w1); down(r1,w0); any(r0)}        March X, 6n
 *   {⇕(w0); ⇑(r0,w1); ⇓(r1,w0); ⇕(r0)}               the same
 *
 * orders:  up ⇑ ↑ (ascending), down ⇓ ↓ (descending), any ⇕ ↕ (ascending here)
 * ops:     w0 w1 (write the background / its complement), r0 r1 (read, compare)
 * delays:  del (the caller's default retention delay), del(N) (N ms)
 *
 * Keywords are ASCII case-insensitive; white space is free; the braces may be
 * left out. The parser also checks that the test is self-consistent: every
 * read expects the value the last write left (so a good memory passes).
 *
 * Word-oriented memory: "0" at word i is the background value b(i), "1" is
 * ~b(i). A run repeats the whole program once per background of a set.
 *
 * Run model: march_run() executes the whole program on words [start, end) of
 * a memory; the caller bounds the time of one call by the slice length and
 * runs overlapping slices to cover coupling across slice edges. Between
 * elements the range is cleaned and invalidated to the point of coherency
 * (cacheflush_range()), so reads of the next element come from DRAM. The run
 * stops at the first mismatch and re-reads that word after flushing its line.
 *
 * Invariants: a compiled program has 1..MARCH_MAX_ELEMS elements, each with
 * 1..MARCH_MAX_OPS operations or none (a delay); the run path never
 * allocates, never logs and never calls anything but the memory callbacks,
 * the delay callback and cacheflush_range().
 */
#ifndef RTMEMD_MARCH_H
#define RTMEMD_MARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MARCH_MAX_ELEMS 16u
#define MARCH_MAX_OPS 8u
#define MARCH_MAX_DELAY_MS 86400000u /* one day */
#define MARCH_DELAY_DEFAULT 0u       /* del without a value: caller's default */
#define MARCH_WINDOW_DEFAULT 16u     /* GALPAT / walking window, words */
#define MARCH_DETECTED 1             /* march_run(): a fault was found */

enum march_order {
	MARCH_ANY = 0,  /* any order; runs ascending */
	MARCH_UP = 1,   /* ascending addresses */
	MARCH_DOWN = 2, /* descending addresses */
};

/* Bit 0: data (0 = background, 1 = complement); bit 1: read. */
enum march_op {
	MARCH_W0 = 0,
	MARCH_W1 = 1,
	MARCH_R0 = 2,
	MARCH_R1 = 3,
};

enum march_kind {
	MARCH_KIND_MARCH = 0,  /* elements as parsed */
	MARCH_KIND_GALPAT = 1, /* galloping pattern in windows */
	MARCH_KIND_WALK = 2,   /* walking 1/0 in windows */
};

enum march_bg_kind {
	MARCH_BG_SOLID = 0,   /* b(i) = pattern */
	MARCH_BG_CHECKER = 1, /* b(i) = pattern on even words, ~pattern on odd */
	MARCH_BG_ADDRESS = 2, /* b(i) = i ^ pattern (address in address) */
};

struct march_bg {
	uint64_t pattern;
	uint32_t kind; /* enum march_bg_kind */
};

struct march_elem {
	uint8_t order;               /* enum march_order */
	uint8_t nops;                /* 0: a delay element */
	uint8_t ops[MARCH_MAX_OPS];  /* enum march_op */
	uint32_t delay_ms;           /* delay element: ms, or MARCH_DELAY_DEFAULT */
};

struct march_prog {
	uint8_t kind;      /* enum march_kind */
	uint8_t nelem;     /* MARCH_KIND_MARCH: 1..MARCH_MAX_ELEMS */
	bool has_bg;       /* true: run with bg only, ignore the caller's set */
	struct march_bg bg;
	struct march_elem elem[MARCH_MAX_ELEMS];
};

/* A built-in test. */
struct march_builtin {
	const char *name;     /* "March C-" */
	const char *notation; /* NULL for special-cased kinds */
	const char *cost;     /* "10n", "4n*w" */
	unsigned cost_n;      /* operations per word; 0 when it depends on the window */
	uint8_t kind;         /* enum march_kind */
	int8_t bg_kind;       /* fixed background kind, or -1: the caller's set */
	const char *detects;  /* one line, for docs and rtmemctl */
};

/*
 * The memory a test runs on. Real memory: @words != NULL, @n words, the
 * engine loads and stores through a volatile pointer and flushes the cache.
 * Simulated memory: @words == NULL, the engine calls @ops.
 */
struct march_mem_ops {
	uint64_t (*read)(void *ctx, size_t i);
	void (*write)(void *ctx, size_t i, uint64_t v);
	void (*flush)(void *ctx); /* may be NULL; called where real memory flushes */
};

struct march_mem {
	volatile uint64_t *words;
	size_t n;
	const struct march_mem_ops *ops;
	void *ctx;
};

struct march_opts {
	const struct march_bg *bgs;  /* NULL: one solid-0 background */
	unsigned nbg;
	void (*delay)(void *arg, uint32_t ms); /* required by delay elements */
	void *delay_arg;
	uint32_t delay_default_ms;   /* for "del" without a value */
	size_t window;               /* GALPAT / walk window; 0: MARCH_WINDOW_DEFAULT */
	bool no_flush;               /* skip cache maintenance (benchmarks only) */
};

/*
 * The first mismatch of a run. For GALPAT / walking tests, elem is the phase
 * (0 fill 0s, 1 walk over 0s, 2 fill 1s, 3 walk over 1s) and op is 0 (base
 * cell read), 1 (other cell read) or 2 (final read of the window).
 */
struct march_fault {
	size_t index;      /* word index in the memory */
	uint64_t expected;
	uint64_t actual;   /* the value the failing read returned */
	uint64_t reread;   /* the same word, read again after a flush */
	unsigned elem;     /* element index in the program */
	unsigned op;       /* operation index in the element */
	unsigned bg;       /* index in the background set (0 for a fixed bg) */
	bool read_error;   /* reread == expected: the cell is right, a read failed */
};

/*
 * march_parse() - compile March notation into a program.
 * @text:      NUL-terminated notation (UTF-8)
 * @ret_prog:  the program; untouched on failure
 * @err:       on -EINVAL, "column N: expected ..., found ..." (N counts
 *             characters from 1); may be NULL
 * @errlen:    size of @err
 * Context: not for the RT path (it is not slow, but has no reason to be
 * there); no allocation, never blocks.
 * Return: 0; -EINVAL on malformed or inconsistent text, or a NULL argument.
 */
int march_parse(const char *text, struct march_prog *ret_prog, char *err, size_t errlen);

/*
 * march_format() - write a program back as ASCII notation.
 * Context: no allocation, never blocks.
 * Return: the length written (without the NUL); -ENOSPC if @len is too
 * small (the output is then truncated but terminated); -EINVAL.
 */
int march_format(const struct march_prog *p, char *buf, size_t len);

/*
 * march_ops_per_word() - the cost k of a kn March test: reads and writes per
 * word; for GALPAT / walking tests, the cost for the given window (0: default).
 * Context: RT-safe.
 * Return: operations per word (0 for a NULL program).
 */
unsigned march_ops_per_word(const struct march_prog *p, size_t window);

/*
 * march_builtin_count(), march_builtin_get() - the table of built-in tests.
 * Context: RT-safe. Return: the count; the entry, or NULL past the end.
 */
unsigned march_builtin_count(void);
const struct march_builtin *march_builtin_get(unsigned i);

/*
 * march_builtin_find() - look a built-in test up by name, ignoring ASCII
 * case, spaces and '_' ("march c-", "MarchC-" and "MARCH_C-" all find
 * "March C-"; '+', '-' and '/' count: "MATS" is not "MATS+").
 * Context: RT-safe. Return: the entry, or NULL when there is none.
 */
const struct march_builtin *march_builtin_find(const char *name);

/*
 * march_builtin_compile() - the program of a built-in test.
 * Context: no allocation, never blocks.
 * Return: 0; -ENOENT for an unknown name; -EINVAL for NULL arguments.
 */
int march_builtin_compile(const char *name, struct march_prog *ret_prog);

/*
 * march_bg_standard() - the log2(width)+1 standard backgrounds for
 * @width-bit words, replicated over 64 bits: solid 0 first, then alternating
 * runs of 1, 2, 4, ... width/2 bits (0x5555..., 0x3333..., 0x0f0f..., ...).
 * For width 64: 7 backgrounds, the last one 0x00000000ffffffff.
 * Context: RT-safe.
 * Return: the number written; -EINVAL if @width is not a power of two in
 * 1..64; -ENOSPC if @max is too small (nothing written).
 */
int march_bg_standard(struct march_bg *out, unsigned max, unsigned width);

/*
 * march_bg_value() - b(i) of a background.
 */
static inline uint64_t march_bg_value(const struct march_bg *bg, size_t i)
{
	if (bg->kind == MARCH_BG_ADDRESS)
		return (uint64_t)i ^ bg->pattern;
	if (bg->kind == MARCH_BG_CHECKER && (i & 1))
		return ~bg->pattern;
	return bg->pattern;
}

/*
 * march_run() - run a program on words [start, end) of a memory.
 * @p, @m, @o:    program, memory, options (@o may be NULL: one solid-0
 *                background, flushing on, no delays allowed)
 * @ret_fault:    the first mismatch, filled only when MARCH_DETECTED
 * Context: RT-safe as far as the engine goes (no allocation, no logging, no
 * system call); it runs for time linear in (end - start) (GALPAT/walk: times
 * the window) plus the delays, and blocks only inside o->delay. Not
 * thread-safe on one memory: the caller owns [start, end) for the duration.
 * Return: 0 if the range passed; MARCH_DETECTED (1) on a mismatch; -EINVAL
 * for a bad program, start >= end, end > m->n, a memory with neither words
 * nor ops, a delay element without o->delay, or an empty background set.
 */
int march_run(const struct march_prog *p, const struct march_mem *m, size_t start, size_t end,
	      const struct march_opts *o, struct march_fault *ret_fault);

/*
 * march_reread() - flush the line holding word @i and read it again, to tell
 * a read error (the value is right now) from a stored fault.
 * Context: RT-safe. Return: the value read.
 */
uint64_t march_reread(const struct march_mem *m, size_t i);

#ifdef __cplusplus
}
#endif

#endif /* RTMEMD_MARCH_H */
