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
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pool.h"
#include "size.h"


const char *pool_noexec_name(enum pool_noexec how)
{
	switch (how) {
	case POOL_NOEXEC_SEALED:
		return "MFD_NOEXEC_SEAL";
	case POOL_NOEXEC_MODE:
		return "mode 0600 (the kernel has no MFD_NOEXEC_SEAL)";
	default:
		return "unknown (adopted)";
	}
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
	/* Not executable, for good: Linux 6.3+ seals that at creation; older
	 * kernels refuse the flag (EINVAL) and get mode 0600 below instead,
	 * which only the daemon's uid could change back. */
	p->memfd = memfd_create(name, flags | POOL_MFD_NOEXEC_SEAL);
	p->noexec = POOL_NOEXEC_SEALED;
	if (p->memfd < 0 && errno == EINVAL) {
		p->memfd = memfd_create(name, flags);
		p->noexec = POOL_NOEXEC_MODE;
	}
	if (p->memfd >= 0 && p->noexec == POOL_NOEXEC_MODE && fchmod(p->memfd, 0600) < 0) {
		rc = -errno;
		return pool_fail(cp, err, rc, "fchmod 0600 of the memfd failed: %s", strerror(-rc));
	}
	if (p->memfd < 0) {
		rc = -errno;
		return pool_fail(cp, err, rc, "memfd_create%s failed: %s", cp->hugepages ? " (hugepages)" : "",
				 strerror(-rc));
	}
	if (ftruncate(p->memfd, (off_t)p->size) < 0) {
		rc = -errno;
		return pool_fail(cp, err, rc, "ftruncate to %s failed: %s", size_fmt(p->size, SIZE_IEC, sz), strerror(-rc));
	}
	rc = posix_fallocate(p->memfd, 0, (off_t)p->size);
	if (rc) /* posix_fallocate returns the error number */
		return pool_fail(cp, err, -rc, "reserving %s failed: %s%s", size_fmt(p->size, SIZE_IEC, sz), strerror(rc),
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

	rc = rg_region_layout(&cp->desc, &p.fp);
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
		pool_fail(cp, err, rc, "mmap %s failed: %s", size_fmt(p.size, SIZE_IEC, sz), strerror(-rc));
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
		size_fmt(rl.rlim_cur, SIZE_IEC, lim);
	return pool_fail(p->cfg, err, rc, "mlock %s failed: %s (RLIMIT_MEMLOCK is %s)", size_fmt(p->size, SIZE_IEC, sz),
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
			 size_fmt(p->size, SIZE_IEC, sz), size_fmt(off, SIZE_IEC, at),
			 p->cfg->hugepages ? " (huge pages taken by someone else?)" : " (memory cgroup limit?)");
}

int pool_format(struct pool *p, struct pool_error *err)
{
	int rc = rg_region_format(p->mem, p->size, &p->cfg->desc);

	if (rc < 0)
		return pool_fail(p->cfg, err, rc, "formatting the region failed: %s", strerror(-rc));
	rc = rg_region_attach(p->mem, p->size, &p->region);
	if (rc < 0)
		return pool_fail(p->cfg, err, rc, "attaching the new region failed: %s", strerror(-rc));
	return 0;
}

/* Does the region's description @got still say what the config @want says? */
static bool desc_same(const struct rg_pool_desc *want, const struct rg_pool_desc *got)
{
	const struct rg_buddy_desc *wb = &want->buddy, *gb = &got->buddy;

	if (want->nclasses != got->nclasses || want->policy != got->policy || want->nslots != got->nslots ||
	    want->cache != got->cache)
		return false;
	for (uint32_t c = 0; c < want->nclasses; c++) {
		const struct rg_slab_desc *w = &want->classes[c], *g = &got->classes[c];

		if (w->size != g->size || w->count != g->count || w->reserve != g->reserve ||
		    (w->align && w->align != g->align))
			return false;
	}
	if (!wb->size || !gb->size)
		return !wb->size == !gb->size;
	return wb->min_order == gb->min_order && wb->max_order == gb->max_order && wb->reserve == gb->reserve &&
	       wb->arena_order == gb->arena_order &&
	       wb->size >> wb->min_order == gb->size >> gb->min_order;
}

int pool_adopt(const struct cfg_pool *cp, int memfd, struct pool *ret, struct pool_error *err)
{
	struct pool p = { .cfg = cp, .memfd = memfd, .mem = MAP_FAILED, .adopted = true };
	struct rg_pool_desc desc;
	struct stat st;
	int rc, seals = fcntl(memfd, F_GET_SEALS);

	if (fstat(memfd, &st) < 0) {
		rc = -errno;
		pool_fail(cp, err, rc, "stored memfd: fstat failed: %s", strerror(-rc));
		goto out_close;
	}
	p.page = st.st_blksize > 0 ? (size_t)st.st_blksize : (size_t)sysconf(_SC_PAGESIZE);
	if (seals < 0 || !(seals & F_SEAL_SHRINK) || st.st_size <= 0 || (size_t)st.st_size % p.page) {
		rc = pool_fail(cp, err, -EINVAL, "stored fd is not a sealed pool memfd (seals %#x, %lld bytes)", seals,
			       (long long)st.st_size);
		goto out_close;
	}
	p.size = (size_t)st.st_size;
	p.mem = mmap(NULL, p.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, memfd, 0);
	if (p.mem == MAP_FAILED) {
		rc = -errno;
		pool_fail(cp, err, rc, "stored memfd: mmap failed: %s", strerror(-rc));
		goto out_close;
	}
	rc = rg_region_attach(p.mem, p.size, &p.region);
	if (rc == 0)
		rc = rg_region_desc(p.region, &desc);
	if (rc == 0)
		rc = rg_region_layout(&desc, &p.fp);
	if (rc < 0) {
		pool_fail(cp, err, rc, "stored region is not valid: %s", strerror(-rc));
		goto out_unmap;
	}
	if (desc_same(&cp->desc, &desc) && !cp->hugepages == (p.page == (size_t)sysconf(_SC_PAGESIZE))) {
		*ret = p;
		return 0;
	}
	p.own_cfg = malloc(sizeof(*p.own_cfg));
	if (!p.own_cfg) {
		rc = pool_fail(cp, err, -ENOMEM, "out of memory");
		goto out_unmap;
	}
	*p.own_cfg = *cp; /* ACLs and quota from the config: its lists outlive the pool */
	p.own_cfg->desc = desc;
	p.own_cfg->hugepages = p.page != (size_t)sysconf(_SC_PAGESIZE);
	p.cfg = p.own_cfg;
	*ret = p;
	return 1;
out_unmap:
	rg_region_detach(p.region);
	munmap(p.mem, p.size);
out_close:
	close(memfd);
	return rc;
}

/* The owners a survey found in state words: grown as found. */
struct owner_set {
	const struct pool *p;
	uint64_t *v;
	size_t n, cap;
	bool oom;
};

static void owner_found(void *arg, uint64_t owner)
{
	struct owner_set *os = arg;
	const struct pool *p = os->p;
	uint32_t slot = (uint32_t)(owner >> 16 & 0xffff), gen = (uint32_t)(owner >> 32);

	if (slot == 0)
		return; /* the daemon's own: never a client's */
	if (slot <= rg_region_nslots(p->region) && gen > p->gen_floor[slot])
		p->gen_floor[slot] = gen;
	for (unsigned i = 0; i < p->nsurv; i++)
		if (owner == rg_owner(p->surv[i].slot, p->surv[i].gen))
			return;
	for (size_t i = os->n; i-- > 0;) /* recent first: blocks of one owner come in runs */
		if (os->v[i] == owner)
			return;
	if (os->n == os->cap) {
		size_t cap = os->cap ? os->cap * 2 : 64;
		uint64_t *v = realloc(os->v, cap * sizeof(*v));

		if (!v) {
			os->oom = true;
			return;
		}
		os->v = v;
		os->cap = cap;
	}
	os->v[os->n++] = owner;
}

static void reclaim_owner(struct pool *p, uint64_t owner, struct pool_survey *rep)
{
	uint64_t bytes = 0;
	long n = rg_region_reclaim(p->region, owner, &bytes);

	if (n > 0) {
		rep->blocks += (uint64_t)n;
		rep->bytes += bytes;
	}
}

/* Blocks a tester that died with the old daemon still had checked out. */
static unsigned checkin_all(struct pool *p)
{
	uint64_t off = 0, at, len;
	unsigned n = 0;

	while (rg_region_next_block(p->region, off, &at, &len) == 0 && len) {
		if (rg_region_checkin(p->region, at) == 0)
			n++;
		off = at + len;
	}
	return n;
}

/* Trust or reclaim each slot record. */
static void survey_slots(struct pool *p, const struct adopt_key *key, struct pool_survey *rep)
{
	uint32_t nslots = rg_region_nslots(p->region);

	for (uint32_t slot = 1; slot <= nslots; slot++) {
		struct rg_slot_record rec;
		const char *why;
		int pidfd = -1;

		if (rg_region_slot_get(p->region, slot, &rec) < 0 || rec.owner == 0)
			continue;
		if (!adopt_record_trusted(key, slot, &rec)) {
			rep->untrusted++; /* its blocks, if any, go with the strays */
		} else if (adopt_holder_alive(&rec, &pidfd, &why) == 1) {
			p->surv[p->nsurv++] = (struct pool_survivor){ .slot = slot, .gen = (uint32_t)(rec.owner >> 32),
								       .pid = (pid_t)rec.pid,
								       .start_time = rec.start_time, .pidfd = pidfd };
			if ((uint32_t)(rec.owner >> 32) > p->gen_floor[slot])
				p->gen_floor[slot] = (uint32_t)(rec.owner >> 32);
			continue;
		} else {
			rep->dead++;
		}
		if (adopt_record_trusted(key, slot, &rec) && (uint32_t)(rec.owner >> 32) > p->gen_floor[slot])
			p->gen_floor[slot] = (uint32_t)(rec.owner >> 32);
		adopt_record_clear(p->region, slot);
	}
}

int pool_survey(struct pool *p, const struct adopt_key *key, struct pool_survey *rep)
{
	uint32_t nslots = rg_region_nslots(p->region);
	struct owner_set os = { .p = p };

	memset(rep, 0, sizeof(*rep));
	for (int i = 0; i < 3; i++) {
		rep->check = rg_region_check(p->region, rep->check_msg, sizeof(rep->check_msg));
		if (rep->check != -EUCLEAN)
			break;
	}
	if (rep->check == -ENOMEM)
		return -ENOMEM;
	p->gen_floor = calloc(nslots + 1u, sizeof(*p->gen_floor));
	p->surv = calloc(nslots, sizeof(*p->surv));
	if (!p->gen_floor || !p->surv)
		return -ENOMEM;
	rep->checked_in = checkin_all(p);
	survey_slots(p, key, rep);
	rg_region_owner_scan(p->region, owner_found, &os);
	if (os.oom) {
		free(os.v);
		return -ENOMEM;
	}
	for (size_t i = 0; i < os.n; i++)
		reclaim_owner(p, os.v[i], rep);
	rep->strays = (unsigned)os.n;
	rep->alive = p->nsurv;
	free(os.v);
	return 0;
}

void pool_destroy(struct pool *p)
{
	rg_region_detach(p->region);
	p->region = NULL;
	if (p->mem != MAP_FAILED && p->mem)
		munmap(p->mem, p->size);
	p->mem = MAP_FAILED;
	if (p->memfd >= 0)
		close(p->memfd);
	p->memfd = -1;
	p->locked = false;
	for (unsigned i = 0; p->surv && i < p->nsurv; i++)
		if (p->surv[i].pidfd >= 0)
			close(p->surv[i].pidfd);
	free(p->surv);
	p->surv = NULL;
	p->nsurv = 0;
	free(p->gen_floor);
	p->gen_floor = NULL;
	free(p->own_cfg);
	p->own_cfg = NULL;
}

