/* SPDX-License-Identifier: MIT */
/*
 * pool.c - create, lock, pre-fault and format the pools (see pool.h for the
 * order of the steps and why).
 *
 * Owns: each pool's memfd and mapping, and its region handle.
 *
 * The SIGBUS guard: a shared mapping whose backing memory cannot be supplied
 * at fault time (a hugetlb pool whose pages were taken, a memory cgroup
 * limit, a file shorter than the mapping) raises SIGBUS on first touch.
 * pool_touch() installs a handler that siglongjmp()s back with the offset
 * reached, so the daemon fails at setup with the pool's name instead of
 * dying from a signal at run time.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "pool.h"

#define COMPACT_UNEVICTABLE "/proc/sys/vm/compact_unevictable_allowed"

const char *pool_fmt_size(uint64_t v, char buf[static 32])
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB" };
	double d = (double)v;
	int u = -1;

	if (v < 1024) {
		snprintf(buf, 32, "%" PRIu64 " bytes", v);
		return buf;
	}
	while (d >= 1024.0 && u < 3) {
		d /= 1024.0;
		u++;
	}
	if (d == (double)(uint64_t)d)
		snprintf(buf, 32, "%" PRIu64 " %s", (uint64_t)d, unit[u]);
	else
		snprintf(buf, 32, "%.1f %s", d, unit[u]);
	return buf;
}

__attribute__((format(printf, 4, 5)))
static int pool_fail(const struct cfg_pool *cp, struct pool_error *err, int rc, const char *fmt, ...)
{
	int n = snprintf(err->msg, sizeof(err->msg), "pool \"%s\": ", cp->name);
	va_list ap;

	if (n < 0 || (size_t)n >= sizeof(err->msg))
		return rc;
	va_start(ap, fmt);
	vsnprintf(err->msg + n, sizeof(err->msg) - (size_t)n, fmt, ap);
	va_end(ap);
	return rc;
}

static int create_fd(struct pool *p, const struct cfg_pool *cp, struct pool_error *err)
{
	unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING | (cp->hugepages ? MFD_HUGETLB : 0u);
	char name[64], sz[32];
	int rc;

	snprintf(name, sizeof(name), "rtmemd:%s", cp->name);
	p->memfd = memfd_create(name, flags);
	if (p->memfd < 0) {
		rc = -errno;
		return pool_fail(cp, err, rc, "memfd_create%s failed: %s", cp->hugepages ? " (hugepages)" : "",
				 strerror(-rc));
	}
	if (ftruncate(p->memfd, (off_t)p->size) < 0) {
		rc = -errno;
		return pool_fail(cp, err, rc, "ftruncate to %s failed: %s", pool_fmt_size(p->size, sz), strerror(-rc));
	}
	rc = posix_fallocate(p->memfd, 0, (off_t)p->size);
	if (rc) /* posix_fallocate returns the error number */
		return pool_fail(cp, err, -rc, "reserving %s failed: %s%s", pool_fmt_size(p->size, sz), strerror(rc),
				 cp->hugepages ? " (are enough huge pages reserved? vm.nr_hugepages)" : "");
	if (fcntl(p->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		rc = -errno;
		return pool_fail(cp, err, rc, "sealing the memfd failed: %s", strerror(-rc));
	}
	return 0;
}

int pool_create(const struct cfg_pool *cp, size_t huge_page, struct pool *ret, struct pool_error *err)
{
	struct pool p = { .cfg = cp, .memfd = -1, .mem = MAP_FAILED };
	char sz[32];
	int rc;

	rc = rtmem_region_layout(&cp->desc, &p.fp);
	if (rc < 0)
		return pool_fail(cp, err, rc, "invalid layout: %s", strerror(-rc));
	p.page = cp->hugepages ? huge_page : (size_t)sysconf(_SC_PAGESIZE);
	if (!p.page)
		return pool_fail(cp, err, -EINVAL, "hugepages = yes, but this kernel has no huge pages");
	if (p.fp.total > SIZE_MAX - p.page)
		return pool_fail(cp, err, -EOVERFLOW, "footprint does not fit the address space");
	p.size = ((size_t)p.fp.total + p.page - 1) / p.page * p.page;
	rc = create_fd(&p, cp, err);
	if (rc < 0)
		goto out_close;
	p.mem = mmap(NULL, p.size, PROT_READ | PROT_WRITE, MAP_SHARED, p.memfd, 0);
	if (p.mem == MAP_FAILED) {
		rc = -errno;
		pool_fail(cp, err, rc, "mmap %s failed: %s", pool_fmt_size(p.size, sz), strerror(-rc));
		goto out_close;
	}
	*ret = p;
	return 0;
out_close:
	close(p.memfd);
	return rc;
}

int pool_lock(struct pool *p, struct pool_error *err)
{
	struct rlimit rl = { 0 };
	char sz[32], lim[48] = "unlimited";
	int rc;

	if (mlock(p->mem, p->size) == 0) {
		p->locked = true;
		return 0;
	}
	rc = -errno;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		pool_fmt_size(rl.rlim_cur, lim);
	return pool_fail(p->cfg, err, rc, "mlock %s failed: %s (RLIMIT_MEMLOCK is %s)", pool_fmt_size(p->size, sz),
			 strerror(-rc), lim);
}

static sigjmp_buf touch_jmp;
static volatile sig_atomic_t touch_armed;

static void on_sigbus(int sig)
{
	if (touch_armed)
		siglongjmp(touch_jmp, 1);
	signal(sig, SIG_DFL); /* not ours: die as we would have */
	raise(sig);
}

int pool_touch(void *mem, size_t len, size_t page, size_t *ret_off)
{
	struct sigaction sa = { .sa_handler = on_sigbus }, old;
	volatile size_t off = 0;
	int rc = 0;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(touch_jmp, 1) == 0) {
		touch_armed = 1;
		for (off = 0; off < len; off += page) {
			volatile unsigned char *b = (unsigned char *)mem + off;

			*b = *b;
		}
	} else {
		rc = -EFAULT;
		if (ret_off)
			*ret_off = off;
	}
	touch_armed = 0;
	sigaction(SIGBUS, &old, NULL);
	return rc;
}

int pool_prefault(struct pool *p, struct pool_error *err)
{
	char sz[32], at[32];
	size_t off = 0;

	if (pool_touch(p->mem, p->size, p->page, &off) == 0)
		return 0;
	return pool_fail(p->cfg, err, -EFAULT, "pre-faulting %s failed at offset %s: SIGBUS, the memory is not there%s",
			 pool_fmt_size(p->size, sz), pool_fmt_size(off, at),
			 p->cfg->hugepages ? " (huge pages taken by someone else?)" : " (memory cgroup limit?)");
}

int pool_format(struct pool *p, struct pool_error *err)
{
	int rc = rtmem_region_format(p->mem, p->size, &p->cfg->desc);

	if (rc < 0)
		return pool_fail(p->cfg, err, rc, "formatting the region failed: %s", strerror(-rc));
	rc = rtmem_region_attach(p->mem, p->size, &p->region);
	if (rc < 0)
		return pool_fail(p->cfg, err, rc, "attaching the new region failed: %s", strerror(-rc));
	return 0;
}

void pool_destroy(struct pool *p)
{
	rtmem_region_detach(p->region);
	p->region = NULL;
	if (p->mem != MAP_FAILED && p->mem)
		munmap(p->mem, p->size);
	p->mem = MAP_FAILED;
	if (p->memfd >= 0)
		close(p->memfd);
	p->memfd = -1;
	p->locked = false;
}

int pool_compact_unevictable(void)
{
	FILE *f = fopen(COMPACT_UNEVICTABLE, "re");
	int v = -1, rc;

	if (!f)
		return -errno;
	rc = fscanf(f, "%d", &v);
	fclose(f);
	if (rc != 1 || v < 0)
		return -EINVAL;
	return v ? 1 : 0;
}
