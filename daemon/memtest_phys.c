/* SPDX-License-Identifier: MIT */
/*
 * memtest_phys.c - the physical address of every page of a pool, read once
 * from /proc/self/pagemap while the daemon has CAP_SYS_ADMIN, kept as runs
 * of contiguous frames: a fault names the cell, and a bad-block entry written
 * by an earlier boot finds where that cell is now.
 */
#include "memtest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------ physical addresses */

struct phys_run {
	uint64_t page, pfn, n; /* pages [page, page + n) are frames [pfn, pfn + n) */
};

struct memtest_phys {
	size_t page, npages, nruns;
	struct phys_run runs[];
};

int memtest_phys_from_pfns(const uint64_t *pfns, size_t npages, size_t page, struct memtest_phys **ret)
{
	struct memtest_phys *ph;
	size_t nruns = 0;

	if ((!pfns && npages) || !page || (page & (page - 1)) || !ret)
		return -EINVAL;
	for (size_t i = 0; i < npages; i++)
		if (pfns[i] && (i == 0 || pfns[i] != pfns[i - 1] + 1 || !pfns[i - 1]))
			nruns++;
	ph = calloc(1, sizeof(*ph) + nruns * sizeof(ph->runs[0]));
	if (!ph)
		return -ENOMEM;
	ph->page = page;
	ph->npages = npages;
	for (size_t i = 0; i < npages; i++) {
		if (!pfns[i])
			continue;
		if (ph->nruns && pfns[i] == pfns[i - 1] + 1 && pfns[i - 1]) {
			ph->runs[ph->nruns - 1].n++;
			continue;
		}
		ph->runs[ph->nruns++] = (struct phys_run){ .page = i, .pfn = pfns[i], .n = 1 };
	}
	*ret = ph;
	return 0;
}

int memtest_resolve_phys(const void *base, size_t size, struct memtest_phys **ret)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t page = pg > 0 ? (size_t)pg : 4096, npages = (size + page - 1) / page;
	uint64_t *pfns;
	int fd, rc = 0;

	if (!base || !ret || ((uintptr_t)base & (page - 1)))
		return -EINVAL;
	pfns = calloc(npages ? npages : 1, sizeof(*pfns));
	if (!pfns)
		return -ENOMEM;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto out_free;
	}
	for (size_t done = 0; done < npages;) {
		off_t at = (off_t)(((uintptr_t)base / page + done) * sizeof(uint64_t));
		ssize_t n = pread(fd, &pfns[done], (npages - done) * sizeof(uint64_t), at);

		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			goto out_close;
		}
		done += (size_t)n / sizeof(uint64_t);
	}
	for (size_t i = 0; i < npages; i++) /* bit 63 present, bits 0..54 the frame */
		pfns[i] = (pfns[i] >> 63) ? pfns[i] & ((1ull << 55) - 1) : 0;
	rc = memtest_phys_from_pfns(pfns, npages, page, ret);
out_close:
	close(fd);
out_free:
	free(pfns);
	return rc;
}

bool memtest_phys_available(const struct memtest_phys *ph)
{
	return ph && ph->nruns;
}

bool memtest_phys_lookup(const struct memtest_phys *ph, uint64_t offset, uint64_t *ret_addr)
{
	size_t lo = 0, hi;
	uint64_t pgi;

	if (!ph)
		return false;
	pgi = offset / ph->page;
	hi = ph->nruns;
	while (lo < hi) { /* the last run starting at or before pgi */
		size_t mid = lo + (hi - lo) / 2;

		if (ph->runs[mid].page <= pgi)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || pgi >= ph->runs[lo - 1].page + ph->runs[lo - 1].n)
		return false;
	*ret_addr = (ph->runs[lo - 1].pfn + pgi - ph->runs[lo - 1].page) * ph->page + offset % ph->page;
	return true;
}

bool memtest_phys_reverse(const struct memtest_phys *ph, uint64_t addr, uint64_t *ret_offset)
{
	uint64_t pfn;

	if (!ph)
		return false;
	pfn = addr / ph->page;
	for (size_t i = 0; i < ph->nruns; i++) {
		const struct phys_run *r = &ph->runs[i];

		if (pfn >= r->pfn && pfn < r->pfn + r->n) {
			*ret_offset = (r->page + pfn - r->pfn) * ph->page + addr % ph->page;
			return true;
		}
	}
	return false;
}

void memtest_phys_free(struct memtest_phys *ph)
{
	free(ph);
}
