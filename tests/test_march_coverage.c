/* SPDX-License-Identifier: MIT */
/*
 * test_march_coverage.c - proof that the March engine and the built-in
 * notations detect what the theory says they detect.
 *
 * For every built-in test and every fault class of faultsim.h, the test runs
 * the algorithm once per placement of the fault in a small simulated memory
 * and counts the placements detected; it prints the table (algorithm x class
 * -> percent) and asserts the known results (van de Goor, "Testing
 * Semiconductor Memories"; Hamdioui et al. 2002 for March SS; van de Goor et
 * al. 1996 for March LR). A wrong notation, a wrong address order or an
 * engine that skips a word makes one of the assertions fail.
 *
 * Sizes: 16 words for the simple faults (every ordered cell pair), 8 words
 * for linked faults (every triple), 4 words for intra-word coupling (132 bit
 * pairs); GALPAT and walking 1/0 use a window of the whole memory.
 * Columns run with one solid-0 background (the bit-oriented theory), except
 * "CFst-w 7bg", which runs the 7 standard backgrounds of 64-bit words.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "faultsim.h"
#include "march.h"

#define N_SIMPLE 16
#define N_LINKED 8
#define N_WORD 4
#define RETENTION_MS 1000u
#define FADE_MS 2000u /* bit fade's "del": longer than any retention time modelled */
#define MAX_ALGOS 16

struct column {
	enum faultsim_class cls;
	bool bgs; /* run the standard backgrounds */
	const char *name;
	size_t n;
};

static const struct column columns[] = {
	{ FSC_SAF, false, "SAF", N_SIMPLE },
	{ FSC_TF, false, "TF", N_SIMPLE },
	{ FSC_CFIN, false, "CFin", N_SIMPLE },
	{ FSC_CFID, false, "CFid", N_SIMPLE },
	{ FSC_CFST, false, "CFst", N_SIMPLE },
	{ FSC_AF, false, "AF", N_SIMPLE },
	{ FSC_DRF, false, "DRF", N_SIMPLE },
	{ FSC_CFST_WORD, false, "CFst-w 1bg", N_WORD },
	{ FSC_CFST_WORD, true, "CFst-w 7bg", N_WORD },
	{ FSC_TF_CFID, false, "TF+CFid", N_LINKED },
	{ FSC_CFID_CFID, false, "CFid+CFid", N_LINKED },
};
#define NCOL (sizeof(columns) / sizeof(columns[0]))

enum { C_SAF, C_TF, C_CFIN, C_CFID, C_CFST, C_AF, C_DRF, C_CFSTW1, C_CFSTW7, C_TFCFID, C_CFIDCFID };

static double cov[MAX_ALGOS][NCOL]; /* percent */
static bool computed;

static double coverage(const struct march_prog *p, const struct column *col)
{
	size_t total = faultsim_cases(col->cls, col->n, RETENTION_MS, NULL, 0);
	struct faultsim_case *cases = calloc(total, sizeof(*cases));
	struct march_bg bgs[8];
	struct faultsim sim;
	size_t found = 0;

	assert_non_null(cases);
	assert_int_equal(faultsim_cases(col->cls, col->n, RETENTION_MS, cases, total), total);
	int nbg = march_bg_standard(bgs, 8, 64);

	assert_int_equal(nbg, 7);
	for (size_t i = 0; i < total; i++) {
		struct march_opts o = {
			.bgs = col->bgs ? bgs : NULL,
			.nbg = col->bgs ? (unsigned)nbg : 0,
			.delay = faultsim_delay,
			.delay_arg = &sim,
			.delay_default_ms = FADE_MS,
			.window = col->n,
		};
		struct march_mem m;
		struct march_fault f;
		int rc;

		assert_int_equal(faultsim_init(&sim, col->n), 0);
		for (unsigned k = 0; k < cases[i].nf; k++)
			assert_int_equal(faultsim_add(&sim, &cases[i].f[k]), 0);
		faultsim_mem(&sim, &m);
		rc = march_run(p, &m, 0, col->n, &o, &f);
		assert_true(rc == 0 || rc == MARCH_DETECTED);
		found += rc == MARCH_DETECTED;
	}
	free(cases);
	return 100.0 * (double)found / (double)total;
}

static void compute(void)
{
	unsigned na = march_builtin_count();

	if (computed)
		return;
	assert_true(na <= MAX_ALGOS);
	for (unsigned a = 0; a < na; a++) {
		struct march_prog p;

		assert_int_equal(march_builtin_compile(march_builtin_get(a)->name, &p), 0);
		for (unsigned c = 0; c < NCOL; c++)
			cov[a][c] = coverage(&p, &columns[c]);
	}
	computed = true;

	/* The table, as Markdown, for docs/memtest.md. */
	printf("\n| algorithm |");
	for (unsigned c = 0; c < NCOL; c++)
		printf(" %s |", columns[c].name);
	printf("\n|---|");
	for (unsigned c = 0; c < NCOL; c++)
		printf("---:|");
	printf("\n");
	for (unsigned a = 0; a < na; a++) {
		printf("| %s |", march_builtin_get(a)->name);
		for (unsigned c = 0; c < NCOL; c++)
			printf(" %.1f |", cov[a][c]);
		printf("\n");
	}
	printf("\nplacements:");
	for (unsigned c = 0; c < NCOL; c++)
		printf(" %s=%zu", columns[c].name,
		       faultsim_cases(columns[c].cls, columns[c].n, RETENTION_MS, NULL, 0));
	printf(" (n=%d simple, %d linked, %d intra-word)\n\n", N_SIMPLE, N_LINKED, N_WORD);
	fflush(stdout);
}

static const double *row(const char *name)
{
	for (unsigned a = 0; a < march_builtin_count(); a++)
		if (!strcmp(march_builtin_get(a)->name, name))
			return cov[a];
	fail_msg("no built-in %s", name);
	return NULL;
}

#define assert_all(alg, col) \
	do { \
		double v_ = row(alg)[col]; \
		if (v_ != 100.0) \
			fail_msg("%s detects %.1f%% of %s, theory: all", alg, v_, columns[col].name); \
	} while (0)

#define assert_some_missed(alg, col) \
	do { \
		double v_ = row(alg)[col]; \
		if (v_ >= 100.0) \
			fail_msg("%s detects all %s, theory: not all", alg, columns[col].name); \
	} while (0)

static void test_coverage_mscan_misses_af(void **state)
{
	(void)state;
	compute();
	assert_all("MSCAN", C_SAF);
	assert_some_missed("MSCAN", C_AF);
	assert_some_missed("MSCAN", C_TF);
	assert_some_missed("MSCAN", C_CFIN);
}

static void test_coverage_mats_plus_saf_af(void **state)
{
	(void)state;
	compute();
	assert_all("MATS+", C_SAF);
	assert_all("MATS+", C_AF);
	assert_some_missed("MATS+", C_TF); /* the last w0 is never read */
}

static void test_coverage_march_x_y_saf_af_tf_cfin(void **state)
{
	static const char *const names[] = { "March X", "March Y" };

	(void)state;
	compute();
	for (unsigned i = 0; i < 2; i++) {
		assert_all(names[i], C_SAF);
		assert_all(names[i], C_AF);
		assert_all(names[i], C_TF);
		assert_all(names[i], C_CFIN);
	}
	assert_some_missed("March X", C_CFID);
}

static void test_coverage_march_c_minus_all_unlinked(void **state)
{
	(void)state;
	compute();
	for (unsigned c = C_SAF; c <= C_AF; c++)
		assert_all("March C-", c);
	/* Not sensitised by a solid background, caught by the standard ones. */
	assert_some_missed("March C-", C_CFSTW1);
	assert_all("March C-", C_CFSTW7);
	/* Linked faults can mask each other under March C-. */
	assert_some_missed("March C-", C_CFIDCFID);
}

static void test_coverage_march_a_b_linked(void **state)
{
	static const char *const names[] = { "March A", "March B" };

	(void)state;
	compute();
	for (unsigned i = 0; i < 2; i++) {
		assert_all(names[i], C_SAF);
		assert_all(names[i], C_AF);
		assert_all(names[i], C_TF);
		assert_all(names[i], C_CFIN);
		assert_all(names[i], C_CFID);
		assert_all(names[i], C_TFCFID);
		assert_all(names[i], C_CFIDCFID);
	}
	assert_true(row("March B")[C_CFIDCFID] >= row("March C-")[C_CFIDCFID]);
}

static void test_coverage_march_lr_ss_all_static(void **state)
{
	static const char *const names[] = { "March LR", "March SS" };

	(void)state;
	compute();
	for (unsigned i = 0; i < 2; i++)
		for (unsigned c = C_SAF; c <= C_AF; c++)
			assert_all(names[i], c);
	assert_all("March LR", C_CFIDCFID);
	assert_all("March LR", C_TFCFID);
}

static void test_coverage_windowed_galpat_walk(void **state)
{
	static const char *const names[] = { "GALPAT", "Walking 1/0" };

	(void)state;
	compute();
	for (unsigned i = 0; i < 2; i++) {
		for (unsigned c = C_SAF; c <= C_AF; c++)
			assert_all(names[i], c);
		assert_all(names[i], C_CFSTW7);
	}
}

static void test_coverage_checkerboard_and_address(void **state)
{
	(void)state;
	compute();
	assert_all("Checkerboard", C_SAF);
	assert_some_missed("Checkerboard", C_AF);
	assert_all("Address in address", C_AF);
	assert_all("Address in address", C_SAF);
}

static void test_coverage_retention_needs_delay(void **state)
{
	(void)state;
	compute();
	for (unsigned a = 0; a < march_builtin_count(); a++) {
		const struct march_builtin *b = march_builtin_get(a);

		if (!strcmp(b->name, "Bit fade"))
			continue;
		if (cov[a][C_DRF] != 0.0)
			fail_msg("%s without a delay detects %.1f%% of DRF", b->name, cov[a][C_DRF]);
	}
	assert_all("Bit fade", C_DRF);
	assert_all("Bit fade", C_SAF);
}

/* The assertions have teeth: March C- with every element ascending (a
 * plausible typo) no longer detects every CFid, and MATS (MATS+ without
 * the read-then-write of its last element) does not detect every AF. */
static void test_coverage_wrong_notation_is_caught(void **state)
{
	static const struct column cfid = { FSC_CFID, false, "CFid", N_SIMPLE };
	static const struct column af = { FSC_AF, false, "AF", N_SIMPLE };
	struct march_prog p;

	(void)state;
	assert_int_equal(march_parse("{any(w0); up(r0,w1); up(r1,w0); up(r0,w1); up(r1,w0); any(r0)}",
				     &p, NULL, 0), 0);
	assert_true(coverage(&p, &cfid) < 100.0);
	assert_int_equal(march_parse("{any(w0); any(r0,w1); any(r1)}", &p, NULL, 0), 0);
	assert_true(coverage(&p, &af) < 100.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_coverage_mscan_misses_af),
		cmocka_unit_test(test_coverage_mats_plus_saf_af),
		cmocka_unit_test(test_coverage_march_x_y_saf_af_tf_cfin),
		cmocka_unit_test(test_coverage_march_c_minus_all_unlinked),
		cmocka_unit_test(test_coverage_march_a_b_linked),
		cmocka_unit_test(test_coverage_march_lr_ss_all_static),
		cmocka_unit_test(test_coverage_windowed_galpat_walk),
		cmocka_unit_test(test_coverage_checkerboard_and_address),
		cmocka_unit_test(test_coverage_retention_needs_delay),
		cmocka_unit_test(test_coverage_wrong_notation_is_caught),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
