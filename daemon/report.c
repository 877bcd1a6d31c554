/* SPDX-License-Identifier: MIT */
/*
 * report.c - the --check-config report (see report.h). Owns nothing.
 *
 * A pool's mapped size is its footprint rounded up to its page size (huge or
 * base); RLIMIT_MEMLOCK is checked against all of them, MemAvailable against
 * the base-page pools, HugePages_Free against the huge-page pools.
 */
#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "size.h"

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return a ? (v + a - 1) / a * a : v;
}

/* One line per pool; sums of mapped bytes into *sum_all and *sum_huge. */
static int report_pools(const struct cfg *cfg, const struct probe_limits *lim, FILE *out,
			uint64_t *sum_all, uint64_t *sum_huge)
{
	fprintf(out, "%-31s %12s %12s %12s %12s  %s\n", "pool", "metadata", "data", "total",
		"mapped", "pages");
	for (unsigned i = 0; i < cfg->npools; i++) {
		const struct cfg_pool *pl = &cfg->pools[i];
		struct rg_footprint fp;
		uint64_t mapped;
		int r = cfg_pool_footprint(pl, &fp);

		if (r) {
			fprintf(out, "%-31s layout failed: %s\n", pl->name, strerrordesc_np(-r));
			return -EINVAL;
		}
		mapped = round_up(fp.total, pl->hugepages ? lim->huge_page : lim->page);
		fprintf(out, "%-31s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %12" PRIu64 "  %s\n",
			pl->name, fp.meta, fp.data, fp.total, mapped, pl->hugepages ? "huge" : "base");
		*sum_all += mapped;
		if (pl->hugepages)
			*sum_huge += mapped;
	}
	return 0;
}

static bool report_check(FILE *out, const char *what, uint64_t need, uint64_t have, const char *note)
{
	char a[32], b[32];
	bool fits = have == UINT64_MAX || need <= have;

	fprintf(out, "%-15s %s needed, %s available%s: %s\n", what, size_fmt(need, SIZE_MIB, a), size_fmt(have, SIZE_MIB, b),
		note, fits ? "fits" : "DOES NOT FIT");
	return fits;
}

int report_limits(const struct cfg *cfg, const struct probe_limits *lim, FILE *out)
{
	uint64_t all = 0, huge = 0;
	bool fits = true;
	char a[32];
	int r = report_pools(cfg, lim, out, &all, &huge);

	if (r)
		return r;
	fprintf(out, "%-31s %12s %12s %12s %12" PRIu64 "  (%s, plus the daemon's own memory)\n",
		"total", "", "", "", all, size_fmt(all, SIZE_MIB, a));
	if (lim->cap_ipc_lock)
		fprintf(out, "%-15s not enforced (CAP_IPC_LOCK)\n", "RLIMIT_MEMLOCK");
	else
		fits &= report_check(out, "RLIMIT_MEMLOCK", all, lim->memlock, "");
	fits &= report_check(out, "MemAvailable", all - huge, lim->mem_available, "");
	if (huge)
		fits &= report_check(out, "HugePages_Free", huge, lim->huge_page ? lim->huge_free : 0,
				     lim->huge_page ? "" : " (no huge pages)");
	if (fflush(out) || ferror(out))
		return -EIO;
	return fits ? 0 : -ENOMEM;
}

int report_config(const struct cfg *cfg, FILE *out)
{
	struct probe_limits lim = { 0 };
	int r = probe_limits_read(&lim);

	if (r)
		return r;
	return report_limits(cfg, &lim, out);
}
