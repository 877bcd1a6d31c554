/* SPDX-License-Identifier: MIT */
/*
 * memtest.c - the daemon's background memory tester.
 *
 * Owns: one tester thread, the per-pool geometry it sweeps, the status
 * counters, the fault records and the bad-block list file (state_dir/
 * badblocks), and each pool's table of physical addresses.
 *
 * Algorithm. A pass visits every block of every pool in address order
 * (rg_region_next_block()). A block is tested in slices of slice_bytes
 * that overlap by overlap_words, so a coupling fault between the last word
 * of one slice and the first of the next is still sensitised. For each
 * slice the tester checks the block out (a free block only: -EBUSY skips
 * it), runs every algorithm x background over the slice with march_run()
 * (which flushes to the point of coherency between elements), checks it
 * back in, and then sleeps as long as the bandwidth budget requires for the
 * bytes that slice read and wrote (ops per word x words x 8). The budget is a
 * leaky bucket: no credit builds up while idle, and sleeps shorter than
 * 1 ms are carried over. A pass starts at most once per period.
 *
 * A fault: march_run() re-reads the word after a flush (read error or stored
 * fault); the tester records it, quarantines the smallest unit holding the
 * word with rg_region_mark_bad() (which also ends the checkout), appends a
 * line to the bad-block list, rewrites the file atomically (tmp, fsync,
 * rename, fsync of the directory) and calls the event callback.
 *
 * Invariants:
 *  - the tester holds at most one block, and only between a checkout and the
 *    checkin or mark_bad of the same slice; it never sleeps holding one,
 *    except inside a retention delay of the program;
 *  - unless take_last, it takes no block that is the last free one of its slab
 *    class, nor a buddy block without another free block at least as large,
 *    so an allocation that would succeed without the tester still succeeds;
 *  - status fields change only under mt->lock; the file and its text only
 *    under mt->file_lock; the stop flag is atomic.
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

#include "cacheflush.h"
#include "cfg.h"

#define MIN_SLEEP_NS 1000000ull    /* shorter budget sleeps are carried over */
#define FILE_MAX (16u << 20)       /* bad-block list, bytes */
#define LINE_MAX_ 512u
#define BAD_HEADER "# rtmemd bad blocks: POOL OFFSET [key=value...], one faulty word a line\n"

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

/* ------------------------------------------------------------- events */

__attribute__((format(printf, 3, 4)))
static void emit(struct memtest *mt, const struct memtest_fault *f, const char *fmt, ...)
{
	struct memtest_event ev = { .kind = f ? MEMTEST_EV_FAULT : MEMTEST_EV_WARN, .fault = f };
	char msg[LINE_MAX_];
	va_list ap;

	if (!mt->cb)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ev.msg = msg;
	mt->cb(mt->cb_arg, &ev);
}

/* --------------------------------------------------------- time, sleep */

static uint64_t mt_now(const struct memtest *mt)
{
	struct timespec ts;

	if (mt->cfg.clock)
		return mt->cfg.clock->now_ns(mt->cfg.clock->arg);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool stopping(struct memtest *mt)
{
	return atomic_load_explicit(&mt->stop, memory_order_acquire);
}

/* Sleep @ns, or less if memtest_stop() is called meanwhile. */
static void mt_sleep(struct memtest *mt, uint64_t ns)
{
	struct timespec ts;
	uint64_t end;

	if (mt->cfg.clock) {
		if (!stopping(mt))
			mt->cfg.clock->sleep_ns(mt->cfg.clock->arg, ns);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	end = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + ns;
	ts.tv_sec = (time_t)(end / 1000000000ull);
	ts.tv_nsec = (long)(end % 1000000000ull);
	pthread_mutex_lock(&mt->lock);
	while (!stopping(mt) && pthread_cond_timedwait(&mt->wake, &mt->lock, &ts) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&mt->lock);
}

static void delay_cb(void *arg, uint32_t ms)
{
	mt_sleep(arg, (uint64_t)ms * 1000000ull);
}

/*
 * Charge @bytes touched by work that started at @t0 to the budget and sleep
 * until the bucket allows more. Tester thread only.
 */
static void budget(struct memtest *mt, uint64_t t0, uint64_t bytes)
{
	uint64_t now, cost = (uint64_t)((unsigned __int128)bytes * 1000000000u / mt->cfg.bandwidth);

	if (mt->next_ns < t0)
		mt->next_ns = t0;
	mt->next_ns += cost;
	now = mt_now(mt);
	if (mt->next_ns <= now + MIN_SLEEP_NS)
		return;
	mt_sleep(mt, mt->next_ns - now);
	pthread_mutex_lock(&mt->lock);
	mt->st.sleep_ms += (mt->next_ns - now) / 1000000u;
	pthread_mutex_unlock(&mt->lock);
}

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

/* ----------------------------------------------------------------- config */

int memtest_config_default(struct memtest_config *ret)
{
	int n;

	memset(ret, 0, sizeof(*ret));
	ret->nalgos = 1;
	march_builtin_compile(CFG_DEFAULT_ALGO, &ret->progs[0]);
	snprintf(ret->names[0], MEMTEST_NAME_MAX, "%s", CFG_DEFAULT_ALGO);
	n = march_bg_standard(ret->bgs, MEMTEST_MAX_BGS, 64);
	ret->nbgs = n > 0 ? (unsigned)n : 0;
	ret->bandwidth = CFG_DEFAULT_MEMTEST_BANDWIDTH;
	ret->period_ms = CFG_DEFAULT_MEMTEST_PERIOD_MS;
	ret->policy = SCHED_IDLE;
	return 0;
}

int memtest_config_from_cfg(const struct cfg *cfg, struct memtest_config *ret, struct cfg_error *err)
{
	const struct cfg_memtest *m = &cfg->memtest;
	struct memtest_config c;

	memtest_config_default(&c);
	if (m->nalgos)
		c.nalgos = m->nalgos < MEMTEST_MAX_ALGOS ? m->nalgos : MEMTEST_MAX_ALGOS;
	for (unsigned i = 0; i < m->nalgos && i < c.nalgos; i++) {
		const struct cfg_algo *a = &m->algos[i];
		const struct march_builtin *b = march_builtin_find(a->name);

		if (!b || march_builtin_compile(a->name, &c.progs[i]) < 0)
			return cfg_error_at(cfg, a->line, a->col, err, ENOENT,
					    "unknown memory test \"%s\" (see the list in rtmemd.conf)", a->name);
		snprintf(c.names[i], MEMTEST_NAME_MAX, "%s", b->name);
	}
	if (m->nbackgrounds) {
		c.nbgs = m->nbackgrounds < MEMTEST_MAX_BGS ? m->nbackgrounds : MEMTEST_MAX_BGS;
		for (unsigned i = 0; i < c.nbgs; i++)
			c.bgs[i] = (struct march_bg){ .pattern = m->backgrounds[i], .kind = MARCH_BG_SOLID };
	}
	if (m->bandwidth)
		c.bandwidth = m->bandwidth;
	c.period_ms = m->period_ms;
	c.policy = m->policy;
	c.cpus_set = m->cpus_set;
	c.cpus = m->cpus;
	*ret = c;
	return 0;
}

/* ------------------------------------------------------- create, destroy */

/* Find each slab class's data area by walking the blocks (classes are laid
 * out in order, then the buddy area), and the pool's data bytes. */
static int pool_geometry(struct mt_pool *p, size_t slice_bytes)
{
	struct rg_region_stats s;
	uint64_t off = 0, len;

	rg_region_stats(p->r, &s);
	p->ncls = s.nclasses;
	for (uint32_t c = 0; c < s.nclasses; c++) {
		if (rg_region_next_block(p->r, off, &p->cls_lo[c], &len) < 0 || len != s.cls[c].size)
			return -EINVAL;
		p->cls_hi[c] = p->cls_lo[c] + s.cls[c].count * len;
		off = p->cls_hi[c];
		p->data += s.cls[c].count * len;
		p->nblocks += s.cls[c].count * ((len + slice_bytes - 1) / slice_bytes);
	}
	p->data += s.buddy_size;
	p->nblocks += (s.buddy_size + slice_bytes - 1) / slice_bytes;
	return 0;
}

/* Touched bytes and delays of one pass over every pool, in ms at the budget. */
static uint64_t pass_estimate_ms(const struct memtest *mt)
{
	unsigned __int128 bytes = 0, delay_ms = 0;

	for (unsigned a = 0; a < mt->cfg.nalgos; a++) {
		const struct march_prog *p = &mt->cfg.progs[a];
		unsigned nbg = p->has_bg ? 1 : mt->cfg.nbgs, ndel = 0;

		for (unsigned e = 0; p->kind == MARCH_KIND_MARCH && e < p->nelem; e++)
			if (!p->elem[e].nops)
				ndel++;
		for (unsigned i = 0; i < mt->npools; i++) {
			bytes += (unsigned __int128)mt->pools[i].data * march_ops_per_word(p, mt->cfg.window) * nbg;
			delay_ms += (unsigned __int128)mt->pools[i].nblocks * ndel * nbg * mt->cfg.delay_ms;
		}
	}
	return (uint64_t)(bytes * 1000u / mt->cfg.bandwidth + delay_ms);
}

static int config_check(struct memtest_config *c)
{
	if (!c->nalgos || c->nalgos > MEMTEST_MAX_ALGOS || !c->nbgs || c->nbgs > MEMTEST_MAX_BGS ||
	    !c->bandwidth)
		return -EINVAL;
	if (!c->slice_bytes)
		c->slice_bytes = MEMTEST_SLICE_DEFAULT;
	if (!c->overlap_words)
		c->overlap_words = MEMTEST_OVERLAP_DEFAULT;
	if (!c->delay_ms)
		c->delay_ms = MEMTEST_DELAY_DEFAULT;
	c->slice_bytes &= ~(size_t)7;
	if (c->slice_bytes / 8 < 2 * c->overlap_words + 2)
		return -EINVAL;
	for (unsigned i = 0; i < c->nalgos; i++)
		if (!march_ops_per_word(&c->progs[i], c->window))
			return -EINVAL;
	if (c->clock && (!c->clock->now_ns || !c->clock->sleep_ns))
		return -EINVAL;
	return 0;
}

static int create_sync(struct memtest *mt)
{
	pthread_condattr_t ca;
	int rc = pthread_condattr_init(&ca);

	if (rc)
		return -rc;
	rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (!rc)
		rc = pthread_cond_init(&mt->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (rc)
		return -rc;
	pthread_mutex_init(&mt->lock, NULL);
	pthread_mutex_init(&mt->file_lock, NULL);
	return 0;
}

static int create_paths(struct memtest *mt, const char *state_dir)
{
	if (!state_dir)
		return 0;
	mt->dir = strdup(state_dir);
	if (!mt->dir || asprintf(&mt->path, "%s/%s", state_dir, MEMTEST_BADBLOCKS) < 0) {
		mt->path = NULL;
		return -ENOMEM;
	}
	return 0;
}

int memtest_create(const struct memtest_config *cfg, const struct memtest_pool *pools, unsigned npools,
		   const char *state_dir, memtest_event_fn *cb, void *arg, struct memtest **ret)
{
	struct memtest *mt = NULL;
	unsigned i;
	int rc = -EINVAL;

	if (!cfg || !pools || !npools || !ret)
		goto out_phys;
	rc = -ENOMEM;
	mt = calloc(1, sizeof(*mt));
	if (!mt || !(mt->pools = calloc(npools, sizeof(*mt->pools))))
		goto out_phys;
	mt->cfg = *cfg;
	rc = config_check(&mt->cfg);
	if (rc)
		goto out_phys;
	mt->slice_words = mt->cfg.slice_bytes / 8;
	mt->overlap = mt->cfg.overlap_words;
	mt->cb = cb;
	mt->cb_arg = arg;
	for (i = 0; i < npools; i++) {
		struct mt_pool *p = &mt->pools[i];

		snprintf(p->name, sizeof(p->name), "%s", pools[i].name ? pools[i].name : "");
		p->r = pools[i].region;
		p->base = pools[i].base ? pools[i].base : (p->r ? rg_region_base(p->r) : NULL);
		p->size = pools[i].size;
		p->phys = pools[i].phys;
		mt->npools = i + 1; /* from here on, destroy frees the phys table */
		rc = p->r && p->base ? pool_geometry(p, mt->cfg.slice_bytes) : -EINVAL;
		if (rc)
			goto out_phys;
	}
	rc = create_sync(mt);
	if (rc == 0)
		rc = create_paths(mt, state_dir);
	if (rc) {
		memtest_destroy(mt);
		return rc;
	}
	mt->st.pass_estimate_ms = pass_estimate_ms(mt);
	*ret = mt;
	return 0;
out_phys:
	for (i = mt ? mt->npools : 0; pools && i < npools; i++)
		memtest_phys_free(pools[i].phys);
	if (mt)
		for (i = 0; i < mt->npools; i++)
			memtest_phys_free(mt->pools[i].phys);
	if (mt)
		free(mt->pools);
	free(mt);
	return rc;
}

void memtest_destroy(struct memtest *mt)
{
	if (!mt)
		return;
	if (mt->started)
		memtest_stop(mt);
	for (unsigned i = 0; i < mt->npools; i++)
		memtest_phys_free(mt->pools[i].phys);
	pthread_cond_destroy(&mt->wake);
	pthread_mutex_destroy(&mt->lock);
	pthread_mutex_destroy(&mt->file_lock);
	free(mt->pools);
	free(mt->path);
	free(mt->dir);
	free(mt->text);
	free(mt);
}

/* ------------------------------------------------------------ one slice */

#ifdef RTMEM_FAULT_INJECT
struct inj_mem {
	volatile uint64_t *w;
	size_t bad, s, e;
	uint64_t mask;
};

static uint64_t inj_read(void *ctx, size_t i)
{
	const struct inj_mem *c = ctx;

	return c->w[i] ^ (i == c->bad ? c->mask : 0);
}

static void inj_write(void *ctx, size_t i, uint64_t v)
{
	((struct inj_mem *)ctx)->w[i] = v;
}

static void inj_flush(void *ctx)
{
	const struct inj_mem *c = ctx;

	cacheflush_range((const void *)&c->w[c->s], (c->e - c->s) * sizeof(uint64_t));
}

static const struct march_mem_ops inj_ops = { inj_read, inj_write, inj_flush };

/* Route the block through the injecting reader if the injected word is in it. */
static void inj_setup(struct memtest *mt, unsigned pi, uint64_t boff, struct march_mem *m,
		      struct inj_mem *c, size_t s, size_t e)
{
	pthread_mutex_lock(&mt->lock);
	if (mt->inj.on && mt->inj.pool == pi && mt->inj.off >= boff && mt->inj.off < boff + m->n * 8) {
		*c = (struct inj_mem){ .w = m->words, .bad = (mt->inj.off - boff) / 8, .s = s, .e = e,
				       .mask = mt->inj.mask };
		m->words = NULL;
		m->ops = &inj_ops;
		m->ctx = c;
	}
	pthread_mutex_unlock(&mt->lock);
}

int memtest_inject(struct memtest *mt, unsigned pool, uint64_t offset, int bit)
{
	if (!mt || pool >= mt->npools || bit >= 64 || offset >= mt->pools[pool].size)
		return -EINVAL;
	pthread_mutex_lock(&mt->lock);
	mt->inj.on = bit >= 0;
	mt->inj.pool = pool;
	mt->inj.off = offset & ~7ull;
	mt->inj.mask = bit >= 0 ? 1ull << bit : 0;
	pthread_mutex_unlock(&mt->lock);
	return 0;
}
#endif

static void show(struct memtest *mt, unsigned pi, uint64_t boff, unsigned algo, uint64_t bg)
{
	pthread_mutex_lock(&mt->lock);
	memcpy(mt->st.pool, mt->pools[pi].name, MEMTEST_NAME_MAX);
	memcpy(mt->st.algorithm, mt->cfg.names[algo], MEMTEST_NAME_MAX);
	mt->st.background = bg;
	mt->st.offset = boff;
	pthread_mutex_unlock(&mt->lock);
}

/*
 * Run every algorithm x background over words [s, e) of the block at @boff
 * (@n words), which the caller holds. Adds the bytes read and written to
 * *touched. Return: 0, MARCH_DETECTED (*h filled), -ECANCELED (@stoppable and
 * stop requested), -EINVAL (engine refused: a bug).
 */
static int test_slice(struct memtest *mt, unsigned pi, uint64_t boff, size_t n, size_t s, size_t e,
		      bool stoppable, struct hit *h, uint64_t *touched)
{
	struct march_mem m = { .words = (volatile uint64_t *)(void *)(mt->pools[pi].base + boff), .n = n };
#ifdef RTMEM_FAULT_INJECT
	struct inj_mem ic;

	inj_setup(mt, pi, boff, &m, &ic, s, e);
#endif
	for (unsigned a = 0; a < mt->cfg.nalgos; a++) {
		const struct march_prog *p = &mt->cfg.progs[a];
		unsigned nbg = p->has_bg ? 1 : mt->cfg.nbgs;
		uint64_t per = (uint64_t)march_ops_per_word(p, mt->cfg.window) * (e - s) * 8;

		for (unsigned b = 0; b < nbg; b++) {
			struct march_opts o = {
				.bgs = &mt->cfg.bgs[b], .nbg = 1, .delay = delay_cb, .delay_arg = mt,
				.delay_default_ms = mt->cfg.delay_ms, .window = mt->cfg.window,
			};
			uint64_t bg = p->has_bg ? p->bg.pattern : mt->cfg.bgs[b].pattern;
			int rc;

			if (stoppable && stopping(mt))
				return -ECANCELED;
			show(mt, pi, boff, a, bg);
			rc = march_run(p, &m, s, e, &o, &h->f);
			*touched += per;
			if (rc == MARCH_DETECTED) {
				h->algo = a;
				h->bg = bg;
			}
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* ------------------------------------------------------ bad-block file */

static int text_append(struct memtest *mt, const char *s)
{
	size_t n = strlen(s), hdr = mt->len ? 0 : strlen(BAD_HEADER);
	char *t = realloc(mt->text, mt->len + hdr + n + 1);

	if (!t)
		return -ENOMEM;
	if (hdr)
		memcpy(t, BAD_HEADER, hdr);
	memcpy(t + mt->len + hdr, s, n + 1);
	mt->text = t;
	mt->len += hdr + n;
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Replace the file with mt->text: tmp file, fsync, rename, fsync the directory. */
static int store(struct memtest *mt)
{
	char tmp[CFG_PATH_MAX + 32];
	int fd, rc;

	snprintf(tmp, sizeof(tmp), "%s.tmp", mt->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, mt->text, mt->len);
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, mt->path) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return rc;
	}
	fd = open(mt->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
}

static void fmt_fault(char *buf, size_t len, const struct memtest_fault *f)
{
	char alg[MEMTEST_NAME_MAX], phys[24] = "none";

	for (size_t i = 0; i < sizeof(alg); i++)
		alg[i] = (char)(f->algorithm[i] == ' ' ? '_' : f->algorithm[i]);
	if (f->phys_valid)
		snprintf(phys, sizeof(phys), "%#" PRIx64, f->phys);
	snprintf(buf, len,
		 "%s %#" PRIx64 " phys=%s expected=0x%016" PRIx64 " actual=0x%016" PRIx64 " reread=0x%016" PRIx64
		 " xor=0x%016" PRIx64 " kind=%s alg=%s elem=%u op=%u bg=0x%016" PRIx64 " time=%" PRId64 "\n",
		 f->pool, f->offset, phys, f->expected, f->actual, f->reread, f->xor_,
		 f->read_error ? "read" : "stored", alg, f->element, f->op, f->background, f->time);
}

static int persist(struct memtest *mt, const struct memtest_fault *f)
{
	char line[LINE_MAX_];
	int rc;

	if (!mt->path)
		return 0;
	fmt_fault(line, sizeof(line), f);
	pthread_mutex_lock(&mt->file_lock);
	rc = text_append(mt, line);
	if (!rc)
		rc = store(mt);
	pthread_mutex_unlock(&mt->file_lock);
	return rc;
}

/* ---------------------------------------------------------------- faults */

static void record(struct memtest *mt, const struct memtest_fault *f)
{
	pthread_mutex_lock(&mt->lock);
	mt->st.faults_total++;
	memmove(&mt->st.faults[1], &mt->st.faults[0], (MEMTEST_STATUS_FAULTS - 1) * sizeof(*f));
	mt->st.faults[0] = *f;
	if (mt->st.nfaults < MEMTEST_STATUS_FAULTS)
		mt->st.nfaults++;
	pthread_mutex_unlock(&mt->lock);
}

/*
 * A mismatch in the block at @boff of pool @pi: record, quarantine, persist,
 * report. Return: 0 if the block is quarantined (no longer checked out), or
 * mark_bad's -errno (the caller still holds the block).
 */
static int on_fault(struct memtest *mt, unsigned pi, uint64_t boff, const struct hit *h)
{
	const struct mt_pool *p = &mt->pools[pi];
	struct memtest_fault f = { 0 };
	char phys[48] = "physical address unavailable";
	int rc;

	memcpy(f.pool, p->name, sizeof(f.pool));
	memcpy(f.algorithm, mt->cfg.names[h->algo], sizeof(f.algorithm));
	f.offset = boff + h->f.index * 8;
	f.phys_valid = memtest_phys_lookup(p->phys, f.offset, &f.phys);
	f.read_error = h->f.read_error;
	f.expected = h->f.expected;
	f.actual = h->f.actual;
	f.reread = h->f.reread;
	f.xor_ = f.expected ^ f.actual;
	f.element = h->f.elem;
	f.op = h->f.op;
	f.background = h->bg;
	f.time = (int64_t)time(NULL);
	f.quarantine = rg_region_mark_bad(p->r, f.offset);
	record(mt, &f);
	rc = persist(mt, &f);
	if (rc)
		emit(mt, NULL, "bad-block list %s: cannot save the fault at pool \"%s\" offset %#" PRIx64 ": %s",
		     mt->path, f.pool, f.offset, strerror(-rc));
	if (f.phys_valid)
		snprintf(phys, sizeof(phys), "physical address %#" PRIx64, f.phys);
	emit(mt, &f,
	     "memory fault in pool \"%s\" at offset %#" PRIx64 " (%s): expected 0x%016" PRIx64 ", read 0x%016" PRIx64
	     " (xor %#" PRIx64 "), %s; %s element %u op %u, background %#" PRIx64 "; %s%s",
	     f.pool, f.offset, phys, f.expected, f.actual, f.xor_,
	     f.read_error ? "read error (re-read correct)" : "stored fault (re-read wrong)", f.algorithm,
	     f.element, f.op, f.background,
	     f.quarantine && f.quarantine != -EALREADY ? "QUARANTINE FAILED: " : "",
	     f.quarantine == 0 ? "block quarantined" :
	     f.quarantine == -EALREADY ? "block already bad" : strerror(-f.quarantine));
	return f.quarantine == -EALREADY ? 0 : f.quarantine;
}

/* ----------------------------------------------------------------- sweep */

/* Leave the block alone: it is the last free one of its slab class, or no
 * other free buddy block is at least as large. */
static bool spare(const struct memtest *mt, const struct mt_pool *p, uint64_t off, uint64_t len)
{
	struct rg_region_stats s;
	uint64_t others = 0;

	if (mt->cfg.take_last)
		return false;
	rg_region_stats(p->r, &s);
	for (uint32_t c = 0; c < p->ncls; c++)
		if (off >= p->cls_lo[c] && off < p->cls_hi[c])
			return s.cls[c].free < 2;
	for (uint32_t k = (uint32_t)__builtin_ctzll(len); k <= s.max_order && k <= RG_MAX_ORDER; k++)
		others += s.order[k].free;
	return others < 2;
}

static void count(struct memtest *mt, uint64_t *field, uint64_t touched)
{
	pthread_mutex_lock(&mt->lock);
	if (field)
		(*field)++;
	mt->st.bytes_touched += touched;
	pthread_mutex_unlock(&mt->lock);
}

/*
 * Test one block, checking it out for one slice at a time and sleeping for
 * the budget with the block checked in. A block that changes hands between
 * slices is left for the next pass. Return: 0, -ECANCELED (stop).
 */
static int sweep_block(struct memtest *mt, unsigned pi, uint64_t boff, uint64_t blen)
{
	struct mt_pool *p = &mt->pools[pi];
	size_t n = (size_t)(blen / 8), s = 0;

	for (;;) {
		size_t e = n - s > mt->slice_words ? s + mt->slice_words : n;
		uint64_t len, touched = 0, t0 = mt_now(mt);
		struct hit h;
		int rc;

		if (spare(mt, p, boff, blen)) {
			count(mt, &mt->st.blocks_spared, 0);
			return 0;
		}
		if (rg_region_checkout(p->r, boff, &len) < 0) {
			count(mt, &mt->st.blocks_busy, 0);
			return 0;
		}
		if (len != blen) { /* merged or split meanwhile */
			rg_region_checkin(p->r, boff);
			return 0;
		}
		rc = test_slice(mt, pi, boff, n, s, e, true, &h, &touched);
		if (rc != MARCH_DETECTED || on_fault(mt, pi, boff, &h) < 0)
			rg_region_checkin(p->r, boff);
		count(mt, NULL, touched);
		budget(mt, t0, touched);
		if (rc)
			return rc == -ECANCELED ? rc : 0;
		if (e == n)
			break;
		if (stopping(mt))
			return -ECANCELED;
		s = e - mt->overlap;
	}
	pthread_mutex_lock(&mt->lock);
	mt->st.blocks_tested++;
	mt->st.bytes_tested += blen;
	pthread_mutex_unlock(&mt->lock);
	return 0;
}

static int sweep_pool(struct memtest *mt, unsigned pi)
{
	uint64_t off = 0, b, len;

	while (!stopping(mt) && rg_region_next_block(mt->pools[pi].r, off, &b, &len) == 0) {
		int rc = sweep_block(mt, pi, b, len);

		if (rc)
			return rc;
		off = b + len;
	}
	return stopping(mt) ? -ECANCELED : 0;
}

int memtest_test_block_now(struct memtest *mt, unsigned pool, uint64_t off)
{
	uint64_t b, len, touched = 0;
	size_t n, s = 0;

	if (!mt || pool >= mt->npools || rg_region_next_block(mt->pools[pool].r, off, &b, &len) < 0 ||
	    b != off)
		return -EINVAL;
	n = (size_t)(len / 8);
	for (;;) {
		size_t e = n - s > mt->slice_words ? s + mt->slice_words : n;
		struct hit h;
		int rc = test_slice(mt, pool, off, n, s, e, false, &h, &touched);

		if (rc == MARCH_DETECTED) {
			on_fault(mt, pool, off, &h);
			count(mt, NULL, touched);
			return MEMTEST_FAULT;
		}
		if (rc)
			return rc;
		if (e == n)
			break;
		s = e - mt->overlap;
	}
	count(mt, NULL, touched);
	return 0;
}

/* ------------------------------------------------------------ the thread */

static void apply_sched(struct memtest *mt)
{
	static const char *const names[] = { [SCHED_OTHER] = "other", [SCHED_BATCH] = "batch",
					      [SCHED_IDLE] = "idle" };
	struct sched_param sp = { .sched_priority = 0 };
	int rc = pthread_setschedparam(pthread_self(), mt->cfg.policy, &sp);

	if (rc)
		emit(mt, NULL, "memory tester: cannot set scheduling policy %s: %s",
		     mt->cfg.policy >= 0 && mt->cfg.policy <= SCHED_IDLE && names[mt->cfg.policy]
			     ? names[mt->cfg.policy] : "?",
		     strerror(rc));
	if (mt->cfg.cpus_set) {
		rc = pthread_setaffinity_np(pthread_self(), sizeof(mt->cfg.cpus), &mt->cfg.cpus);
		if (rc)
			emit(mt, NULL, "memory tester: cannot set CPU affinity (%d CPUs): %s",
			     CPU_COUNT(&mt->cfg.cpus), strerror(rc));
	}
}

static void pass_done(struct memtest *mt, uint64_t t0)
{
	struct memtest_event ev = { .kind = MEMTEST_EV_PASS };
	uint64_t ms = (mt_now(mt) - t0) / 1000000u, passes, faults, bytes;
	char msg[LINE_MAX_];

	pthread_mutex_lock(&mt->lock);
	passes = ++mt->st.passes;
	mt->st.pass_ms = ms;
	faults = mt->st.faults_total;
	bytes = mt->st.bytes_tested;
	pthread_mutex_unlock(&mt->lock);
	if (mt->cfg.period_ms && ms > mt->cfg.period_ms)
		emit(mt, NULL, "memory tester: pass %" PRIu64 " took %.1f s, longer than the period of %.1f s"
		     " (raise the bandwidth or test fewer algorithms or backgrounds)",
		     passes, (double)ms / 1e3, (double)mt->cfg.period_ms / 1e3);
	if (!mt->cb)
		return;
	snprintf(msg, sizeof(msg),
		 "memory test pass %" PRIu64 " done in %" PRIu64 ".%03" PRIu64 " s; %" PRIu64
		 " MiB tested since start, %" PRIu64 " faults",
		 passes, ms / 1000, ms % 1000, bytes >> 20, faults);
	ev.msg = msg;
	mt->cb(mt->cb_arg, &ev);
}

static void *tester(void *arg)
{
	struct memtest *mt = arg;

	apply_sched(mt);
	while (!stopping(mt)) {
		uint64_t t0 = mt_now(mt), period = mt->cfg.period_ms * 1000000u, el;
		int rc = 0;

		for (unsigned i = 0; i < mt->npools && !rc; i++)
			rc = sweep_pool(mt, i);
		if (rc || stopping(mt))
			break;
		pass_done(mt, t0);
		el = mt_now(mt) - t0;
		if (el < period)
			mt_sleep(mt, period - el);
	}
	return NULL;
}

int memtest_start(struct memtest *mt)
{
	uint64_t est;
	int rc;

	if (mt->started)
		return -EALREADY;
	atomic_store(&mt->stop, false);
	pthread_mutex_lock(&mt->lock);
	mt->st.running = true;
	est = mt->st.pass_estimate_ms;
	pthread_mutex_unlock(&mt->lock);
	if (mt->cfg.period_ms && est > mt->cfg.period_ms)
		emit(mt, NULL,
		     "memory tester: a full pass needs about %.1f s at %" PRIu64
		     " bytes/s, longer than the period of %.1f s; passes will run back to back",
		     (double)est / 1e3, mt->cfg.bandwidth, (double)mt->cfg.period_ms / 1e3);
	/* The daemon runs under mlockall(MCL_FUTURE): a default 8 MiB stack
	 * would be locked whole. The tester's frames are small and it never
	 * recurses; 256 KiB leaves ample room (more under sanitizers). */
	{
		pthread_attr_t attr;

		rc = pthread_attr_init(&attr);
		if (rc)
			return -rc;
#ifndef RTMEM_SANITIZED
		pthread_attr_setstacksize(&attr, 256 * 1024);
#endif
		rc = pthread_create(&mt->thread, &attr, tester, mt);
		pthread_attr_destroy(&attr);
	}
	if (rc) {
		pthread_mutex_lock(&mt->lock);
		mt->st.running = false;
		pthread_mutex_unlock(&mt->lock);
		return -rc;
	}
	mt->started = true;
	return 0;
}

int memtest_stop(struct memtest *mt)
{
	if (!mt->started)
		return -ESRCH;
	pthread_mutex_lock(&mt->lock);
	atomic_store_explicit(&mt->stop, true, memory_order_release);
	pthread_cond_broadcast(&mt->wake);
	pthread_mutex_unlock(&mt->lock);
	pthread_join(mt->thread, NULL);
	mt->started = false;
	pthread_mutex_lock(&mt->lock);
	mt->st.running = false;
	pthread_mutex_unlock(&mt->lock);
	return 0;
}

void memtest_status(struct memtest *mt, struct memtest_status *ret)
{
	pthread_mutex_lock(&mt->lock);
	*ret = mt->st;
	pthread_mutex_unlock(&mt->lock);
}

/* ------------------------------------------------- loading the bad blocks */

static int read_file(const char *path, char **ret, size_t *ret_len)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	if (fd < 0 || !buf) {
		rc = fd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap) {
			char *nb = cap >= FILE_MAX ? NULL : realloc(buf, cap * 2);

			if (!nb) {
				rc = cap >= FILE_MAX ? -EFBIG : -ENOMEM;
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = 0;
	*ret = buf;
	*ret_len = len;
	buf = NULL;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

static bool parse_u64(const char *s, uint64_t *ret)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*ret = strtoull(s, &end, 0);
	return !errno && !*end;
}

/* Quarantine one entry. Return: 1 quarantined, 0 nothing to do, -1 malformed. */
static int load_entry(struct memtest *mt, char *line, unsigned lineno)
{
	char *save = NULL, *pool = strtok_r(line, " \t\r", &save), *off = strtok_r(NULL, " \t\r", &save), *kv;
	bool have_phys = false, any_phys = false;
	uint64_t o, phys = 0;
	int rc = -ENOENT;
	unsigned pi;

	if (!pool || *pool == '#')
		return 0;
	if (!off || !parse_u64(off, &o)) {
		emit(mt, NULL, "%s:%u: malformed entry (expected POOL OFFSET [phys=ADDR ...]), skipped",
		     mt->path, lineno);
		return -1;
	}
	while ((kv = strtok_r(NULL, " \t\r", &save)))
		if (strncmp(kv, "phys=", 5) == 0 && strcmp(kv + 5, "none") != 0) {
			if (!parse_u64(kv + 5, &phys)) {
				emit(mt, NULL, "%s:%u: malformed physical address \"%s\", skipped", mt->path,
				     lineno, kv + 5);
				return -1;
			}
			have_phys = true;
		}
	for (pi = 0; pi < mt->npools; pi++)
		any_phys |= memtest_phys_available(mt->pools[pi].phys);
	if (have_phys && any_phys) { /* the cell is physical: find where it is now */
		for (pi = 0; pi < mt->npools; pi++)
			if (memtest_phys_reverse(mt->pools[pi].phys, phys, &o))
				break;
		if (pi == mt->npools)
			return 0; /* in none of the pools' memory this time */
	} else {
		for (pi = 0; pi < mt->npools && strcmp(mt->pools[pi].name, pool) != 0; pi++)
			;
		if (pi == mt->npools) {
			emit(mt, NULL, "%s:%u: no pool \"%s\" now, entry kept", mt->path, lineno, pool);
			return 0;
		}
	}
	rc = rg_region_mark_bad(mt->pools[pi].r, o);
	if (rc == 0)
		return 1;
	if (rc != -EALREADY)
		emit(mt, NULL, "%s:%u: pool \"%s\" offset %#" PRIx64 ": cannot quarantine: %s", mt->path, lineno,
		     mt->pools[pi].name, o, strerror(-rc));
	return 0;
}

int memtest_load_badblocks(struct memtest *mt, unsigned *ret_malformed)
{
	char *text = NULL, *line, *next;
	unsigned lineno = 0, bad = 0;
	size_t len = 0;
	int rc, n = 0;

	if (!mt->path)
		return 0;
	pthread_mutex_lock(&mt->file_lock);
	rc = read_file(mt->path, &text, &len);
	if (rc == -ENOENT)
		rc = 0;
	if (rc || !text)
		goto out;
	free(mt->text); /* the file is kept as it is, malformed lines included */
	mt->text = strdup(text);
	mt->len = mt->text ? len : 0;
	for (line = text; line && *line; line = next) {
		char buf[LINE_MAX_];
		size_t l;

		next = strchr(line, '\n');
		l = next ? (size_t)(next - line) : strlen(line);
		if (next)
			next++;
		lineno++;
		if (l >= sizeof(buf)) {
			emit(mt, NULL, "%s:%u: line longer than %u bytes, skipped", mt->path, lineno, LINE_MAX_ - 1);
			bad++;
			continue;
		}
		memcpy(buf, line, l);
		buf[l] = 0;
		rc = load_entry(mt, buf, lineno);
		if (rc < 0)
			bad++;
		else
			n += rc;
	}
	rc = n;
out:
	pthread_mutex_unlock(&mt->file_lock);
	free(text);
	if (ret_malformed)
		*ret_malformed = bad;
	return rc;
}
