/* SPDX-License-Identifier: MIT */
/*
 * memtest.c - the daemon's background memory tester: its lifecycle and
 * configuration, events, the bandwidth budget and the thread. A pass is
 * memtest_sweep.c's, the bad-block list memtest_bad.c's, physical addresses
 * memtest_phys.c's; memtest_int.h is what they share.
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
#include "memtest_int.h"

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

#include "cfg.h"

#define MIN_SLEEP_NS 1000000ull    /* shorter budget sleeps are carried over */

/* ------------------------------------------------------------- events */

__attribute__((format(printf, 3, 4)))
void mt_emit(struct memtest *mt, const struct memtest_fault *f, const char *fmt, ...)
{
	struct memtest_event ev = { .kind = f ? MEMTEST_EV_FAULT : MEMTEST_EV_WARN, .fault = f };
	char msg[MT_LINE_MAX];
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

uint64_t mt_now(const struct memtest *mt)
{
	struct timespec ts;

	if (mt->cfg.clock)
		return mt->cfg.clock->now_ns(mt->cfg.clock->arg);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

bool mt_stopping(struct memtest *mt)
{
	return atomic_load_explicit(&mt->stop, memory_order_acquire);
}

/* Sleep @ns, or less if memtest_stop() is called meanwhile. */
static void mt_sleep(struct memtest *mt, uint64_t ns)
{
	struct timespec ts;
	uint64_t end;

	if (mt->cfg.clock) {
		if (!mt_stopping(mt))
			mt->cfg.clock->sleep_ns(mt->cfg.clock->arg, ns);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	end = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + ns;
	ts.tv_sec = (time_t)(end / 1000000000ull);
	ts.tv_nsec = (long)(end % 1000000000ull);
	pthread_mutex_lock(&mt->lock);
	while (!mt_stopping(mt) && pthread_cond_timedwait(&mt->wake, &mt->lock, &ts) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&mt->lock);
}

void mt_delay_cb(void *arg, uint32_t ms)
{
	mt_sleep(arg, (uint64_t)ms * 1000000ull);
}

/*
 * Charge @bytes touched by work that started at @t0 to the budget and sleep
 * until the bucket allows more. Tester thread only.
 */
void mt_budget(struct memtest *mt, uint64_t t0, uint64_t bytes)
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

/* ------------------------------------------------------------ the thread */

static void apply_sched(struct memtest *mt)
{
	static const char *const names[] = { [SCHED_OTHER] = "other", [SCHED_BATCH] = "batch",
					      [SCHED_IDLE] = "idle" };
	struct sched_param sp = { .sched_priority = 0 };
	int rc = pthread_setschedparam(pthread_self(), mt->cfg.policy, &sp);

	if (rc)
		mt_emit(mt, NULL, "memory tester: cannot set scheduling policy %s: %s",
		     mt->cfg.policy >= 0 && mt->cfg.policy <= SCHED_IDLE && names[mt->cfg.policy]
			     ? names[mt->cfg.policy] : "?",
		     strerror(rc));
	if (mt->cfg.cpus_set) {
		rc = pthread_setaffinity_np(pthread_self(), sizeof(mt->cfg.cpus), &mt->cfg.cpus);
		if (rc)
			mt_emit(mt, NULL, "memory tester: cannot set CPU affinity (%d CPUs): %s",
			     CPU_COUNT(&mt->cfg.cpus), strerror(rc));
	}
}

static void pass_done(struct memtest *mt, uint64_t t0)
{
	struct memtest_event ev = { .kind = MEMTEST_EV_PASS };
	uint64_t ms = (mt_now(mt) - t0) / 1000000u, passes, faults, bytes;
	char msg[MT_LINE_MAX];

	pthread_mutex_lock(&mt->lock);
	passes = ++mt->st.passes;
	mt->st.pass_ms = ms;
	faults = mt->st.faults_total;
	bytes = mt->st.bytes_tested;
	pthread_mutex_unlock(&mt->lock);
	if (mt->cfg.period_ms && ms > mt->cfg.period_ms)
		mt_emit(mt, NULL, "memory tester: pass %" PRIu64 " took %.1f s, longer than the period of %.1f s"
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
	while (!mt_stopping(mt)) {
		uint64_t t0 = mt_now(mt), period = mt->cfg.period_ms * 1000000u, el;
		int rc = 0;

		for (unsigned i = 0; i < mt->npools && !rc; i++)
			rc = mt_sweep_pool(mt, i);
		if (rc || mt_stopping(mt))
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
		mt_emit(mt, NULL,
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
