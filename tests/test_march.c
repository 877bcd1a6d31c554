/* SPDX-License-Identifier: MIT */
/*
 * test_march.c - unit tests of the March engine (daemon/march.c) and the
 * cache maintenance (daemon/cacheflush.c): the parser and each of its error
 * paths, the built-in table and its costs, the data backgrounds, the run on
 * real memory (clean buffer, injected fault, slices with overlap, read error
 * versus stored fault), argument checks, and a flush of a large buffer.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cacheflush.h"
#include "faultsim.h"
#include "march.h"

/* ---------------------------------------------------------------- parser */

static void test_parse_march_x_ascii(void **state)
{
	struct march_prog p;
	char err[160];

	(void)state;
	assert_int_equal(march_parse("{any(w0); up(r0,w1); down(r1,w0); any(r0)}", &p, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(p.kind, MARCH_KIND_MARCH);
	assert_int_equal(p.nelem, 4);
	assert_int_equal(p.elem[1].order, MARCH_UP);
	assert_int_equal(p.elem[1].nops, 2);
	assert_int_equal(p.elem[1].ops[0], MARCH_R0);
	assert_int_equal(p.elem[1].ops[1], MARCH_W1);
	assert_int_equal(p.elem[2].order, MARCH_DOWN);
	assert_int_equal(p.elem[3].order, MARCH_ANY);
	assert_int_equal(march_ops_per_word(&p, 0), 6);
}

static void test_parse_arrows_same_as_ascii(void **state)
{
	struct march_prog a, b, c;

	(void)state;
	assert_int_equal(march_parse("{any(w0); up(r0,w1); down(r1,w0); any(r0)}", &a, NULL, 0), 0);
	assert_int_equal(march_parse("{\u21d5(w0); \u21d1(r0,w1); \u21d3(r1,w0); \u21d5(r0)}", &b, NULL, 0), 0);
	assert_int_equal(march_parse("\u2195(W0);\u2191(R0,W1);\u2193(r1,w0);ANY(r0);", &c, NULL, 0), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_memory_equal(&a, &c, sizeof(a));
}

static void test_parse_delay_forms(void **state)
{
	struct march_prog p;

	(void)state;
	assert_int_equal(march_parse("{any(w1); del; del(250); del( 7 ms ); any(r1)}", &p, NULL, 0), 0);
	assert_int_equal(p.nelem, 5);
	assert_int_equal(p.elem[1].nops, 0);
	assert_int_equal(p.elem[1].delay_ms, MARCH_DELAY_DEFAULT);
	assert_int_equal(p.elem[2].delay_ms, 250);
	assert_int_equal(p.elem[3].delay_ms, 7);
	assert_int_equal(march_ops_per_word(&p, 0), 2);
}

static void test_parse_format_roundtrip(void **state)
{
	char buf[256];

	(void)state;
	for (unsigned i = 0; i < march_builtin_count(); i++) {
		const struct march_builtin *b = march_builtin_get(i);
		struct march_prog p, q;
		int n;

		if (!b->notation)
			continue;
		assert_int_equal(march_parse(b->notation, &p, NULL, 0), 0);
		n = march_format(&p, buf, sizeof(buf));
		assert_true(n > 0);
		assert_int_equal((size_t)n, strlen(buf));
		assert_string_equal(buf, b->notation); /* the table is canonical */
		assert_int_equal(march_parse(buf, &q, NULL, 0), 0);
		assert_memory_equal(&p, &q, sizeof(p));
	}
	{
		struct march_prog p;

		assert_int_equal(march_parse("{any(w0); del(5); del; any(r0)}", &p, NULL, 0), 0);
		assert_int_equal(march_format(&p, buf, sizeof(buf)), 31);
		assert_string_equal(buf, "{any(w0); del(5); del; any(r0)}");
		assert_int_equal(march_format(&p, buf, 8), -ENOSPC);
		assert_int_equal(strlen(buf), 7);
		assert_int_equal(march_format(NULL, buf, 8), -EINVAL);
	}
}

struct parse_err {
	const char *text;
	unsigned col;
	const char *msg; /* a substring of the message after "column N: " */
};

static const struct parse_err parse_errs[] = {
	{ "", 1, "expected an address order (up, down, any, \u21d1, \u21d3, \u21d5) or del, found end of text" },
	{ "   {", 5, "expected an address order" },
	{ "{}", 2, "found '}'" },
	{ "{sideways(w0)}", 2, "expected an address order (up, down, any, \u21d1, \u21d3, \u21d5) or del, found 's'" },
	{ "{upward(w0)}", 2, "expected an address order" },
	{ "{up w0}", 5, "expected '(' after the address order, found 'w'" },
	{ "{up(x0)}", 5, "expected an operation (r0, r1, w0, w1), found 'x'" },
	{ "{up(w2)}", 5, "expected an operation" },
	{ "{up(w01)}", 5, "expected an operation" },
	{ "{up(w0 w1)}", 8, "expected ',' or ')', found 'w'" },
	{ "{up(w0,)}", 8, "expected an operation (r0, r1, w0, w1), found ')'" },
	{ "{up(w0", 7, "expected ',' or ')', found end of text" },
	{ "{up(w0)", 8, "expected ';' or '}', found end of text" },
	{ "{up(w0) up(r0)}", 9, "expected ';' or '}', found 'u'" },
	{ "{up(w0)} x", 10, "expected end of text after '}', found 'x'" },
	{ "up(w0) down(r0)", 8, "expected ';' or end of text, found 'd'" },
	{ "{up(r0)}", 5, "expected a write before the first read, found 'r'" },
	{ "{any(w0); up(r1)}", 14, "expected r0 (the last write left 0), found 'r'" },
	{ "{any(w0); up(r0,w1,r0)}", 20, "expected r1 (the last write left 1)" },
	{ "{up(w0,w1,w0,w1,w0,w1,w0,w1,w0)}", 29, "expected ')': an element has at most 8 operations, found 'w'" },
	{ "{any(w0); del(}", 15, "expected a delay in milliseconds, found '}'" },
	{ "{any(w0); del(0)}", 15, "expected a delay of 1..86400000 ms, found '0'" },
	{ "{any(w0); del(86400001)}", 15, "expected a delay of 1..86400000 ms" },
	{ "{any(w0); del(5 s)}", 17, "expected ')' after the delay, found 's'" },
	{ "{\u21d1(w0); \u21d3(x)}", 11, "expected an operation" },
	{ "{up(w0); \u21d0(r0)}", 10, "found '\u21d0'" },
	{ "{any(w0);;}", 10, "expected an address order" },
};

static void test_parse_errors_name_column(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_errs) / sizeof(parse_errs[0]); i++) {
		const struct parse_err *e = &parse_errs[i];
		struct march_prog p;
		char err[200], want[16];

		memset(&p, 0xa5, sizeof(p));
		assert_int_equal(march_parse(e->text, &p, err, sizeof(err)), -EINVAL);
		snprintf(want, sizeof(want), "column %u: ", e->col);
		if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, e->msg))
			fail_msg("\"%s\": got \"%s\", want \"%s...%s\"", e->text, err, want, e->msg);
		for (size_t k = 0; k < sizeof(p); k++) /* untouched on failure */
			assert_int_equal(((unsigned char *)&p)[k], 0xa5);
	}
}

static void test_parse_errors_too_many_elements(void **state)
{
	char text[400] = "{any(w0)", err[160];
	struct march_prog p;

	(void)state;
	for (unsigned i = 1; i < MARCH_MAX_ELEMS; i++)
		strcat(text, "; up(r0)");
	assert_int_equal(march_parse(strcat(strcpy(err, text), "}"), &p, NULL, 0), 0);
	assert_int_equal(p.nelem, MARCH_MAX_ELEMS);
	strcat(text, "; up(r0)}");
	assert_int_equal(march_parse(text, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "column 131: expected '}': at most 16 elements, found 'u'"));
}

static void test_parse_errors_bad_arguments(void **state)
{
	struct march_prog p;
	char err[8];

	(void)state;
	assert_int_equal(march_parse(NULL, &p, NULL, 0), -EINVAL);
	assert_int_equal(march_parse("{any(w0)}", NULL, NULL, 0), -EINVAL);
	/* A short buffer is truncated and terminated; none at all is fine. */
	assert_int_equal(march_parse("{up(r0)}", &p, err, sizeof(err)), -EINVAL);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_int_equal(march_parse("{up(r0)}", &p, NULL, 0), -EINVAL);
}

/* ------------------------------------------------------------- built-ins */

static void test_builtin_costs_match_table(void **state)
{
	static const struct {
		const char *name;
		unsigned ops;
	} known[] = {
		{ "MSCAN", 4 }, { "MATS+", 5 }, { "March X", 6 }, { "March Y", 8 },
		{ "March C-", 10 }, { "March A", 15 }, { "March B", 17 }, { "March LR", 14 },
		{ "March SS", 22 }, { "Checkerboard", 4 }, { "Address in address", 4 },
		{ "Bit fade", 4 }, { "GALPAT", 0 }, { "Walking 1/0", 0 },
	};

	(void)state;
	assert_int_equal(march_builtin_count(), sizeof(known) / sizeof(known[0]));
	for (unsigned i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		const struct march_builtin *b = march_builtin_find(known[i].name);
		struct march_prog p;
		struct faultsim sim;
		struct march_mem m;
		struct march_fault f;
		struct march_opts o = { .delay = faultsim_delay, .delay_arg = &sim, .window = 8 };
		unsigned per_word;

		assert_non_null(b);
		assert_int_equal(b->cost_n, known[i].ops);
		assert_int_equal(march_builtin_compile(b->name, &p), 0);
		per_word = march_ops_per_word(&p, 8);
		if (b->cost_n)
			assert_int_equal(per_word, b->cost_n);
		/* The engine does exactly that many operations on a clean memory. */
		assert_int_equal(faultsim_init(&sim, 32), 0);
		faultsim_mem(&sim, &m);
		assert_int_equal(march_run(&p, &m, 0, 32, &o, &f), 0);
		assert_int_equal(sim.reads + sim.writes, (uint64_t)per_word * 32);
	}
	assert_null(march_builtin_get(march_builtin_count()));
}

static void test_builtin_find_ignores_case_and_spaces(void **state)
{
	struct march_prog p;

	(void)state;
	assert_string_equal(march_builtin_find("march c-")->name, "March C-");
	assert_string_equal(march_builtin_find("MARCH_C-")->name, "March C-");
	assert_string_equal(march_builtin_find("MarchSS")->name, "March SS");
	assert_string_equal(march_builtin_find("bit fade")->name, "Bit fade");
	assert_null(march_builtin_find("MATS"));
	assert_null(march_builtin_find("March C"));
	assert_null(march_builtin_find(NULL));
	assert_int_equal(march_builtin_compile("no such test", &p), -ENOENT);
	assert_int_equal(march_builtin_compile(NULL, &p), -EINVAL);
	assert_int_equal(march_builtin_compile("MSCAN", NULL), -EINVAL);
	assert_int_equal(march_builtin_compile("Checkerboard", &p), 0);
	assert_true(p.has_bg);
	assert_int_equal(p.bg.kind, MARCH_BG_CHECKER);
	assert_int_equal(march_builtin_compile("GALPAT", &p), 0);
	assert_int_equal(p.kind, MARCH_KIND_GALPAT);
	assert_int_equal(march_ops_per_word(&p, 16), 4 * 16 + 6);
}

/* ----------------------------------------------------------- backgrounds */

static void test_bg_standard_64_bit(void **state)
{
	static const uint64_t want[] = {
		0, 0x5555555555555555ull, 0x3333333333333333ull, 0x0f0f0f0f0f0f0f0full,
		0x00ff00ff00ff00ffull, 0x0000ffff0000ffffull, 0x00000000ffffffffull,
	};
	struct march_bg bg[8];

	(void)state;
	assert_int_equal(march_bg_standard(bg, 8, 64), 7);
	for (unsigned i = 0; i < 7; i++) {
		assert_int_equal(bg[i].kind, MARCH_BG_SOLID);
		assert_int_equal(bg[i].pattern, want[i]);
	}
	/* Every pair of bits differs in some background (intra-word coupling). */
	for (unsigned i = 0; i < 64; i++)
		for (unsigned j = i + 1; j < 64; j++) {
			bool differ = false;

			for (unsigned k = 0; k < 7; k++)
				differ |= ((bg[k].pattern >> i) & 1) != ((bg[k].pattern >> j) & 1);
			assert_true(differ);
		}
}

static void test_bg_standard_narrow_and_errors(void **state)
{
	struct march_bg bg[8];

	(void)state;
	assert_int_equal(march_bg_standard(bg, 8, 16), 5);
	assert_int_equal(bg[4].pattern, 0x00ff00ff00ff00ffull);
	assert_int_equal(march_bg_standard(bg, 8, 1), 1);
	assert_int_equal(march_bg_standard(bg, 8, 0), -EINVAL);
	assert_int_equal(march_bg_standard(bg, 8, 24), -EINVAL);
	assert_int_equal(march_bg_standard(bg, 8, 128), -EINVAL);
	assert_int_equal(march_bg_standard(NULL, 8, 64), -EINVAL);
	assert_int_equal(march_bg_standard(bg, 6, 64), -ENOSPC);
}

static void test_bg_value_kinds(void **state)
{
	struct march_bg cb = { .pattern = 0x5555555555555555ull, .kind = MARCH_BG_CHECKER };
	struct march_bg ad = { .pattern = 0, .kind = MARCH_BG_ADDRESS };
	struct march_bg so = { .pattern = 0x0f, .kind = MARCH_BG_SOLID };

	(void)state;
	assert_int_equal(march_bg_value(&cb, 10), 0x5555555555555555ull);
	assert_int_equal(march_bg_value(&cb, 11), 0xaaaaaaaaaaaaaaaaull);
	assert_int_equal(march_bg_value(&ad, 12345), 12345);
	assert_int_equal(march_bg_value(&so, 7), 0x0f);
}

/* ---------------------------------------------------- run on real memory */

#define NW 4096

struct flipper {
	volatile uint64_t *words;
	size_t index;
	uint64_t mask;
	unsigned calls, flip_on; /* flip on the flip_on-th delay call (1-based) */
};

static void flip_delay(void *arg, uint32_t ms)
{
	struct flipper *fl = arg;

	(void)ms;
	if (++fl->calls == fl->flip_on)
		fl->words[fl->index] ^= fl->mask;
}

static uint64_t *words_alloc(size_t n)
{
	size_t bytes = (n * sizeof(uint64_t) + 63) & ~(size_t)63;
	uint64_t *w = aligned_alloc(64, bytes);

	assert_non_null(w);
	memset(w, 0xee, n * sizeof(uint64_t));
	return w;
}

static void test_run_clean_buffer_passes(void **state)
{
	uint64_t *w = words_alloc(NW);
	struct march_mem m = { .words = w, .n = NW };
	struct march_bg bg[8];
	struct flipper fl = { .words = w, .flip_on = 0 };
	struct march_opts o = { .bgs = bg, .delay = flip_delay, .delay_arg = &fl, .window = 8 };
	struct march_fault f;

	(void)state;
	o.nbg = (unsigned)march_bg_standard(bg, 8, 64);
	for (unsigned i = 0; i < march_builtin_count(); i++) {
		struct march_prog p;

		assert_int_equal(march_builtin_compile(march_builtin_get(i)->name, &p), 0);
		if (march_run(&p, &m, 0, NW, &o, &f) != 0)
			fail_msg("%s failed on clean memory at word %zu", march_builtin_get(i)->name, f.index);
	}
	assert_int_equal(fl.calls, 2 * 7); /* bit fade: two delays per background */
	free(w);
}

static void test_run_flip_between_elements_found_exactly(void **state)
{
	uint64_t *w = words_alloc(NW);
	struct march_mem m = { .words = w, .n = NW };
	struct march_bg bg[8];
	struct flipper fl = { .words = w, .index = 1234, .mask = 1ull << 17, .flip_on = 3 };
	struct march_opts o = { .bgs = bg, .delay = flip_delay, .delay_arg = &fl };
	struct march_prog p;
	struct march_fault f;

	(void)state;
	o.nbg = (unsigned)march_bg_standard(bg, 8, 64);
	/* The 3rd delay is the first of background 1 (0x5555...). */
	assert_int_equal(march_parse("{up(w0); del(1); up(r0,w1); del(1); down(r1)}", &p, NULL, 0), 0);
	memset(&f, 0, sizeof(f));
	assert_int_equal(march_run(&p, &m, 0, NW, &o, &f), MARCH_DETECTED);
	assert_int_equal(f.index, 1234);
	assert_int_equal(f.bg, 1);
	assert_int_equal(f.elem, 2);
	assert_int_equal(f.op, 0);
	assert_int_equal(f.expected, 0x5555555555555555ull);
	assert_int_equal(f.actual, 0x5555555555555555ull ^ (1ull << 17));
	assert_int_equal(f.reread, f.actual); /* stored in the cell */
	assert_false(f.read_error);
	free(w);
}

static void test_run_slices_overlap_cover_edges(void **state)
{
	const size_t slice = 512, overlap = 16;
	uint64_t *w = words_alloc(NW);
	struct march_mem m = { .words = w, .n = NW };
	struct flipper fl = { .words = w, .index = 1020, .mask = 1, .flip_on = 1 };
	struct march_opts o = { .delay = flip_delay, .delay_arg = &fl };
	struct march_prog p;
	struct march_fault f;
	size_t start, found = SIZE_MAX;

	(void)state;
	assert_int_equal(march_parse("{any(w1); del(1); any(r1)}", &p, NULL, 0), 0);
	/* A run touches only its slice. */
	assert_int_equal(march_run(&p, &m, 100, 200, &o, &f), 0);
	assert_int_equal(w[99], 0xeeeeeeeeeeeeeeeeull);
	assert_int_equal(w[200], 0xeeeeeeeeeeeeeeeeull);
	assert_int_equal(w[100], ~0ull);
	fl.calls = 0;
	fl.flip_on = 1;
	for (start = 0; start < NW; start += slice - overlap) {
		size_t end = start + slice < NW ? start + slice : NW;

		fl.calls = 0;
		fl.flip_on = start <= 1020 && 1020 < end ? 1 : 0;
		if (march_run(&p, &m, start, end, &o, &f) == MARCH_DETECTED) {
			found = f.index;
			break;
		}
	}
	assert_int_equal(found, 1020);
	assert_int_equal(start, 992); /* the second slice [496, 1008) misses it */
	free(w);
}

/* Coupling across a slice edge is caught only when the slices overlap. */
static void test_run_slices_overlap_catch_coupling(void **state)
{
	struct faultsim_fault cf = { .type = FS_CFID, .t = 1, .v = 1, .abit = 0, .cell = 16,
				     .aggr = 15, .mask = 1 };
	struct march_prog p;
	struct march_fault f;
	struct faultsim sim;
	struct march_mem m;

	(void)state;
	assert_int_equal(march_builtin_compile("March C-", &p), 0);
	assert_int_equal(faultsim_init(&sim, 32), 0);
	assert_int_equal(faultsim_add(&sim, &cf), 0);
	faultsim_mem(&sim, &m);
	assert_int_equal(march_run(&p, &m, 0, 16, NULL, &f), 0);
	assert_int_equal(march_run(&p, &m, 16, 32, NULL, &f), 0);
	assert_int_equal(march_run(&p, &m, 0, 20, NULL, &f), MARCH_DETECTED);
	assert_int_equal(f.index, 16);
}

/* A memory whose reads of one word go wrong once (a read error) or always. */
struct glitch {
	uint64_t w[16];
	size_t index;
	int bad_reads; /* -1: the cell itself is wrong */
	unsigned flushes;
};

static uint64_t glitch_read(void *ctx, size_t i)
{
	struct glitch *g = ctx;

	if (i == g->index && g->bad_reads) {
		if (g->bad_reads > 0)
			g->bad_reads--;
		return g->w[i] ^ 0x80;
	}
	return g->w[i];
}

static void glitch_write(void *ctx, size_t i, uint64_t v)
{
	((struct glitch *)ctx)->w[i] = v;
}

static void glitch_flush(void *ctx)
{
	((struct glitch *)ctx)->flushes++;
}

static const struct march_mem_ops glitch_ops = { glitch_read, glitch_write, glitch_flush };

static void test_run_reread_tells_read_error(void **state)
{
	struct glitch g = { .index = 5, .bad_reads = 1 };
	struct march_mem m = { .words = NULL, .n = 16, .ops = &glitch_ops, .ctx = &g };
	struct march_prog p;
	struct march_fault f;

	(void)state;
	assert_int_equal(march_builtin_compile("March X", &p), 0);
	assert_int_equal(march_run(&p, &m, 0, 16, NULL, &f), MARCH_DETECTED);
	assert_int_equal(f.index, 5);
	assert_int_equal(f.elem, 1);
	assert_int_equal(f.expected, 0);
	assert_int_equal(f.actual, 0x80);
	assert_int_equal(f.reread, 0);
	assert_true(f.read_error);
	assert_true(g.flushes >= 2); /* between elements, and before the re-read */

	g.bad_reads = -1;
	assert_int_equal(march_run(&p, &m, 0, 16, NULL, &f), MARCH_DETECTED);
	assert_int_equal(f.reread, 0x80);
	assert_false(f.read_error);
	assert_int_equal(march_reread(&m, 5), 0x80);
}

static void test_run_windowed_on_real_memory(void **state)
{
	uint64_t *w = words_alloc(100);
	struct march_mem m = { .words = w, .n = 100 };
	struct march_opts o = { .window = 7 }; /* 100 = 14 windows of 7 + one of 2 */
	struct march_prog p;
	struct march_fault f;
	struct faultsim sim;
	struct faultsim_fault saf = { .type = FS_SAF, .v = 1, .cell = 9, .mask = 1ull << 63 };

	(void)state;
	assert_int_equal(march_builtin_compile("GALPAT", &p), 0);
	assert_int_equal(march_run(&p, &m, 0, 100, &o, &f), 0);
	assert_int_equal(march_run(&p, &m, 99, 100, &o, &f), 0); /* a window of one */
	assert_int_equal(march_builtin_compile("Walking 1/0", &p), 0);
	assert_int_equal(march_run(&p, &m, 3, 100, &o, &f), 0);
	assert_int_equal(faultsim_init(&sim, 16), 0);
	assert_int_equal(faultsim_add(&sim, &saf), 0);
	faultsim_mem(&sim, &m);
	assert_int_equal(march_run(&p, &m, 0, 16, &o, &f), MARCH_DETECTED);
	assert_int_equal(f.index, 9);
	assert_int_equal(f.elem, 1);
	assert_int_equal(f.actual, 1ull << 63);
	free(w);
}

static void test_run_bad_arguments(void **state)
{
	uint64_t w[8];
	struct march_mem m = { .words = w, .n = 8 };
	struct march_mem none = { .words = NULL, .n = 8 };
	struct march_bg bg = { 0, MARCH_BG_SOLID };
	struct march_opts nobg = { .bgs = &bg, .nbg = 0 };
	struct march_prog p, fade, bad;
	struct march_fault f;

	(void)state;
	assert_int_equal(march_builtin_compile("March C-", &p), 0);
	assert_int_equal(march_builtin_compile("Bit fade", &fade), 0);
	assert_int_equal(march_run(NULL, &m, 0, 8, NULL, &f), -EINVAL);
	assert_int_equal(march_run(&p, NULL, 0, 8, NULL, &f), -EINVAL);
	assert_int_equal(march_run(&p, &m, 0, 8, NULL, NULL), -EINVAL);
	assert_int_equal(march_run(&p, &m, 4, 4, NULL, &f), -EINVAL);
	assert_int_equal(march_run(&p, &m, 0, 9, NULL, &f), -EINVAL);
	assert_int_equal(march_run(&p, &none, 0, 8, NULL, &f), -EINVAL);
	assert_int_equal(march_run(&fade, &m, 0, 8, NULL, &f), -EINVAL); /* no delay function */
	assert_int_equal(march_run(&p, &m, 0, 8, &nobg, &f), -EINVAL);
	bad = p;
	bad.nelem = 0;
	assert_int_equal(march_run(&bad, &m, 0, 8, NULL, &f), -EINVAL);
	bad = p;
	bad.elem[1].ops[0] = 7;
	assert_int_equal(march_run(&bad, &m, 0, 8, NULL, &f), -EINVAL);
	bad = p;
	bad.kind = 9;
	assert_int_equal(march_run(&bad, &m, 0, 8, NULL, &f), -EINVAL);
	assert_int_equal(march_ops_per_word(NULL, 0), 0);
}

/* ------------------------------------------------------------ cacheflush */

static void test_cacheflush_range_keeps_data(void **state)
{
	const size_t len = 2u << 20; /* larger than the Pi 4's 1 MiB L2 */
	size_t line = cacheflush_line_size();
	unsigned char *buf = malloc(len);

	(void)state;
	assert_non_null(buf);
	assert_true(line >= 16 && (line & (line - 1)) == 0);
	assert_int_equal(cacheflush_line_size(), line);
#if defined(__x86_64__) || defined(__aarch64__)
	assert_true(cacheflush_supported());
#endif
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(i * 31u + 7u);
	cacheflush_range(buf, len);
	cacheflush_range(buf + 3, 1);     /* unaligned, inside one line */
	cacheflush_range(buf + line - 1, 2); /* straddles two lines */
	cacheflush_range(buf, 0);
	for (size_t i = 0; i < len; i++)
		if (buf[i] != (unsigned char)(i * 31u + 7u))
			fail_msg("byte %zu changed by the flush", i);
	printf("cache line %zu bytes\n", line);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_march_x_ascii),
		cmocka_unit_test(test_parse_arrows_same_as_ascii),
		cmocka_unit_test(test_parse_delay_forms),
		cmocka_unit_test(test_parse_format_roundtrip),
		cmocka_unit_test(test_parse_errors_name_column),
		cmocka_unit_test(test_parse_errors_too_many_elements),
		cmocka_unit_test(test_parse_errors_bad_arguments),
		cmocka_unit_test(test_builtin_costs_match_table),
		cmocka_unit_test(test_builtin_find_ignores_case_and_spaces),
		cmocka_unit_test(test_bg_standard_64_bit),
		cmocka_unit_test(test_bg_standard_narrow_and_errors),
		cmocka_unit_test(test_bg_value_kinds),
		cmocka_unit_test(test_run_clean_buffer_passes),
		cmocka_unit_test(test_run_flip_between_elements_found_exactly),
		cmocka_unit_test(test_run_slices_overlap_cover_edges),
		cmocka_unit_test(test_run_slices_overlap_catch_coupling),
		cmocka_unit_test(test_run_reread_tells_read_error),
		cmocka_unit_test(test_run_windowed_on_real_memory),
		cmocka_unit_test(test_run_bad_arguments),
		cmocka_unit_test(test_cacheflush_range_keeps_data),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
