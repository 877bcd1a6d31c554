/* SPDX-License-Identifier: MIT */
/*
 * multi_clients.c - the client processes of bench_multi, the daemon's
 * config and the final check for lost blocks.
 *
 * Each client: connect and open its pool (rtmem rows), take SCHED_FIFO if
 * asked, warm up, fault in its sample slice, say it is ready, wait for the
 * common start (with a deadline), run, close. Every loop is bounded by time
 * (the run's own end) and leaves as soon as the parent gives up
 * (mp_aborted()); a wait for the peer in (c) yields the CPU when clients
 * share CPUs, so that a SCHED_FIFO waiter cannot keep its peer from running.
 * The timed loops call nothing but the allocator and the vDSO clock.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench_multi.h"
#include "rtmem/rtmem.h"

#define NS_PER_MS 1000000ull
#define DRAIN_MS 1000u /* a consumer waits this long past the end for the last blocks */

/* A client's handle on its allocator. */
struct conn {
	const struct allocator *a;
	struct rtmem_client *c;
	struct rtmem_pool *p;
};

static inline void *conn_alloc(const struct conn *k, size_t size)
{
	void *p;

	if (k->p)
		return rtmem_alloc(k->p, size, &p) == 0 ? p : NULL;
	return k->a->alloc(size);
}

/* Return: true if the free went through. */
static inline bool conn_free(const struct conn *k, void *ptr)
{
	if (k->p)
		return rtmem_free(k->p, ptr) == 0;
	k->a->free(ptr);
	return true;
}

static void conn_close(struct conn *k)
{
	rtmem_pool_close(k->p);
	rtmem_disconnect(k->c);
	k->p = NULL;
	k->c = NULL;
}

/* Set up client @i for job @j: open the pool, take SCHED_FIFO if asked,
 * fault in the sample slice. Return: 0, or -errno (in res.setup_err too). */
static int client_setup(unsigned i, const struct job *j, struct conn *k)
{
	struct sched_param sp = { .sched_priority = (int)opt.prio };
	char name[32];
	int rc = 0;

	*k = (struct conn){ .a = &allocs[j->a] };
	if (k->a->pool) {
		snprintf(name, sizeof(name), "bench-%u", i);
		rc = rtmem_connect(dmn.sock, name, &k->c);
		if (rc == 0)
			rc = rtmem_pool_open(k->c, k->a->pool, 0, &k->p);
		if (rc < 0) {
			fprintf(stderr, "bench_multi: client %u: pool %s: %s\n", i, k->a->pool, rtmem_strerror(rc));
			sh->res[i].setup_err = rc;
			conn_close(k);
			return rc;
		}
	}
	if (opt.fifo_ok)
		sched_setscheduler(0, SCHED_FIFO, &sp); /* the parent's probe succeeded: so does this */
	memset(samples_of(i), 0, opt.per_client * sizeof(uint32_t));
	return 0;
}

/* Ready; then the common start, or 0 when the parent gave up. */
static uint64_t client_start(void)
{
	mp_ready(&sh->ctl);
	return mp_wait_start(&sh->ctl, mp_now_ns() + (SETUP_MS + 1000u) * NS_PER_MS);
}

/* BURST allocations then BURST frees, untimed; NULLs stay NULL. Return: failures. */
static unsigned burst_untimed(const struct conn *k, size_t size, void **b)
{
	unsigned bad = 0;

	for (unsigned x = 0; x < BURST; x++)
		bad += !(b[x] = conn_alloc(k, size));
	for (unsigned x = 0; x < BURST; x++)
		bad += b[x] && !conn_free(k, b[x]);
	return bad;
}

int client_cyclic(unsigned i, unsigned n, void *job)
{
	const struct job *j = job;
	struct client_res *r = &sh->res[i];
	uint32_t *s = samples_of(i), ns = 0;
	uint64_t t0, period = opt.period_us * 1000ull;
	struct conn k;
	void *b[BURST];

	(void)n;
	if (client_setup(i, j, &k) < 0)
		return 3;
	for (unsigned w = 0; w < 64; w++) /* warm: caches, the heap, the thread cache */
		r->errors += burst_untimed(&k, j->size, b);
	t0 = client_start();
	for (unsigned c = 0; t0 && c < opt.cycles && !mp_aborted(&sh->ctl); c++) {
		uint64_t wake = t0 + c * period, a;

		mp_sleep_until(wake);
		if (mp_now_ns() > wake + period)
			r->late++;
		for (unsigned x = 0; x < BURST; x++) {
			a = mp_now_ns();
			b[x] = conn_alloc(&k, j->size);
			s[ns++] = (uint32_t)(mp_now_ns() - a);
			r->errors += !b[x];
		}
		for (unsigned x = 0; x < BURST; x++) {
			bool ok;

			a = mp_now_ns();
			ok = !b[x] || conn_free(&k, b[x]);
			s[ns++] = (uint32_t)(mp_now_ns() - a);
			r->errors += !ok;
		}
	}
	r->nsamples = ns;
	conn_close(&k);
	return t0 ? 0 : 4;
}

int client_saturate(unsigned i, unsigned n, void *job)
{
	const struct job *j = job;
	struct client_res *r = &sh->res[i];
	uint64_t t0, end;
	struct conn k;
	void *b[BURST];

	(void)n;
	if (client_setup(i, j, &k) < 0)
		return 3;
	for (unsigned w = 0; w < 64; w++)
		r->errors += burst_untimed(&k, j->size, b);
	t0 = client_start();
	end = t0 + opt.run_ms * NS_PER_MS;
	if (t0)
		mp_sleep_until(t0);
	while (t0 && mp_now_ns() < end && !mp_aborted(&sh->ctl)) {
		for (unsigned x = 0; x < 64; x++) {
			void *p = conn_alloc(&k, j->size);

			if (!p || !conn_free(&k, p))
				r->errors++;
		}
		r->ops += 64;
	}
	conn_close(&k);
	return t0 ? 0 : 4;
}

/* Wait a moment for the peer: spin when each process has a CPU of its own,
 * else yield it (a SCHED_FIFO spinner would keep a peer on its CPU out). */
static inline void pause_for_peer(const struct job *j)
{
	if (!j->pinned)
		sched_yield();
}

/* Producer: allocate, stamp, give, publish. Return: false if it did not. */
static bool give_one(const struct conn *k, const struct job *j, struct ring *q, uint64_t to, uint64_t phase,
		     struct client_res *r)
{
	uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed), *m = conn_alloc(k, j->size);

	if (!m) {
		r->errors++;
		return false;
	}
	m[1] = phase;
	m[0] = mp_now_ns();
	if (rtmem_give(k->p, m, to) != 0) {
		r->errors++;
		conn_free(k, m);
		return false;
	}
	atomic_store_explicit(&q->off[h % RING], rtmem_ptr_to_off(k->p, m), memory_order_relaxed);
	atomic_store_explicit(&q->head, h + 1, memory_order_release);
	return true;
}

static void producer(const struct conn *k, const struct job *j, struct ring *q, uint64_t to, uint64_t t0,
		     struct client_res *r)
{
	uint64_t end_rate = t0 + opt.run_ms * NS_PER_MS, end = end_rate + opt.run_ms * NS_PER_MS;

	mp_sleep_until(t0);
	/* the rate half: as many in flight as the ring holds */
	while (mp_now_ns() < end_rate && !mp_aborted(&sh->ctl)) {
		uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed);

		if (h - atomic_load_explicit(&q->tail, memory_order_acquire) >= RING)
			pause_for_peer(j);
		else if (give_one(k, j, q, to, 0, r))
			r->ops++;
	}
	/* the latency half: the next block once the last one is taken */
	while (mp_now_ns() < end && !mp_aborted(&sh->ctl)) {
		if (atomic_load_explicit(&q->tail, memory_order_acquire) !=
		    atomic_load_explicit(&q->head, memory_order_relaxed))
			pause_for_peer(j);
		else
			give_one(k, j, q, to, 1, r);
	}
	atomic_store_explicit(&q->done, 1, memory_order_release);
}

/* (c) Consumer: take each block given to it and free it. (d) Reader
 * (@shared): read each block shared with it and let go; the last of the
 * readers frees it, which counts in r->ops. */
static void consumer(const struct conn *k, const struct job *j, struct ring *q, uint64_t t0, struct client_res *r,
		     uint32_t *s, bool shared)
{
	uint64_t give_up = t0 + (2ull * opt.run_ms + DRAIN_MS) * NS_PER_MS;

	for (;;) {
		uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed), *m;

		if (atomic_load_explicit(&q->head, memory_order_acquire) == t) {
			if (atomic_load_explicit(&q->done, memory_order_acquire) &&
			    atomic_load_explicit(&q->head, memory_order_acquire) == t)
				break;
			if (mp_now_ns() > give_up || mp_aborted(&sh->ctl))
				break;
			pause_for_peer(j);
			continue;
		}
		m = rtmem_off_to_ptr(k->p, atomic_load_explicit(&q->off[t % RING], memory_order_relaxed));
		if (!m || (!shared && rtmem_take(k->p, m) != 0)) {
			r->errors++;
		} else {
			uint64_t now = mp_now_ns(), phase = m[1], sent = m[0];
			int rc = shared ? rtmem_release(k->p, m) : !conn_free(k, m);

			if (phase == 1 && r->nsamples < opt.per_client)
				s[r->nsamples++] = (uint32_t)(now - sent);
			r->errors += rc < 0 || (!shared && rc);
			r->ops += shared && rc == 1;
		}
		atomic_store_explicit(&q->tail, t + 1, memory_order_release);
	}
	/* blocks given or shared but never read: the daemon reclaims them, but count them */
	r->errors += atomic_load(&q->head) - atomic_load(&q->tail);
}

int client_handoff(unsigned i, unsigned n, void *job)
{
	const struct job *j = job;
	struct client_res *r = &sh->res[i];
	struct ring *q = &sh->ring[i / 2];
	struct conn k;
	uint64_t t0;

	(void)n;
	if (client_setup(i, j, &k) < 0)
		return 3;
	r->id = rtmem_pool_client_id(k.p); /* before ready: the peer reads it after the start */
	t0 = client_start();
	if (t0 && i % 2 == 0)
		producer(&k, j, q, sh->res[i + 1].id, t0, r);
	else if (t0)
		consumer(&k, j, q, t0, r, samples_of(i), false);
	conn_close(&k);
	return t0 ? 0 : 4;
}

/* (d) Producer: allocate, stamp, share with every reader, let go of its own
 * hold, publish to every reader's ring. Return: false if it did not. */
static bool share_one(const struct conn *k, const struct job *j, struct ring *q, const uint64_t *to, unsigned nr,
		      uint64_t phase, struct client_res *r)
{
	uint64_t h = atomic_load_explicit(&q[0].head, memory_order_relaxed), *m = conn_alloc(k, j->size);
	int rc;

	if (!m) {
		r->errors++;
		return false;
	}
	m[1] = phase;
	m[0] = mp_now_ns();
	for (unsigned x = 0; x < nr; x++) {
		while ((rc = rtmem_share(k->p, m, to[x])) == -ENOSPC && x == 0 && !mp_aborted(&sh->ctl))
			pause_for_peer(j); /* 16 blocks of ours shared already: wait for the readers */
		if (rc != 0) {
			r->errors++;
			if (x == 0)
				conn_free(k, m);
			else
				rtmem_release(k->p, m); /* the readers so far would wait for it: not published */
			return false;
		}
	}
	if (rtmem_release(k->p, m) != 0) /* others hold it: 0 */
		r->errors++;
	for (unsigned x = 0; x < nr; x++) {
		atomic_store_explicit(&q[x].off[h % RING], rtmem_ptr_to_off(k->p, m), memory_order_relaxed);
		atomic_store_explicit(&q[x].head, h + 1, memory_order_release);
	}
	return true;
}

static bool rings_empty(struct ring *q, unsigned nr)
{
	for (unsigned x = 0; x < nr; x++)
		if (atomic_load_explicit(&q[x].tail, memory_order_acquire) !=
		    atomic_load_explicit(&q[x].head, memory_order_relaxed))
			return false;
	return true;
}

static void fan_producer(const struct conn *k, const struct job *j, struct ring *q, const uint64_t *to, unsigned nr,
			 uint64_t t0, struct client_res *r)
{
	uint64_t end_rate = t0 + opt.run_ms * NS_PER_MS, end = end_rate + opt.run_ms * NS_PER_MS;

	mp_sleep_until(t0);
	while (mp_now_ns() < end_rate && !mp_aborted(&sh->ctl)) {
		uint64_t h = atomic_load_explicit(&q[0].head, memory_order_relaxed);
		bool room = true;

		for (unsigned x = 0; x < nr; x++)
			room &= h - atomic_load_explicit(&q[x].tail, memory_order_acquire) < RING;
		if (!room)
			pause_for_peer(j);
		else if (share_one(k, j, q, to, nr, 0, r))
			r->ops++;
	}
	while (mp_now_ns() < end && !mp_aborted(&sh->ctl)) {
		if (!rings_empty(q, nr))
			pause_for_peer(j);
		else if (share_one(k, j, q, to, nr, 1, r))
			r->late++;
	}
	for (unsigned x = 0; x < nr; x++)
		atomic_store_explicit(&q[x].done, 1, memory_order_release);
}

int client_fanout(unsigned i, unsigned n, void *job)
{
	const struct job *j = job;
	struct client_res *r = &sh->res[i];
	unsigned first = i - i % j->group, nr = j->group - 1;
	uint64_t to[FANOUT_GROUP], t0;
	struct conn k;

	(void)n;
	if (client_setup(i, j, &k) < 0)
		return 3;
	r->id = rtmem_pool_client_id(k.p);
	t0 = client_start();
	if (t0 && i == first) {
		for (unsigned x = 0; x < nr; x++)
			to[x] = sh->res[first + 1 + x].id;
		fan_producer(&k, j, &sh->ring[first + 1], to, nr, t0, r);
	} else if (t0) {
		consumer(&k, j, &sh->ring[i], t0, r, samples_of(i), true);
	}
	conn_close(&k);
	return t0 ? 0 : 4;
}

int start_daemon(void)
{
	char conf[3072];
	unsigned uid = (unsigned)getuid(), mc = MP_MAX + 2;
	int rc;

	snprintf(conf, sizeof(conf),
		 "[daemon]\nlog_level = info\n\n" /* mp_daemon_start() waits for its "ready" */
		 "[pool slab]\nslab = 64x16384, 256x4096, 4Kx1024\nthread_cache = 0\nmax_clients = %u\nusers = root, %u\n\n"
		 "[pool striped]\nslab = 64x16384, 256x4096, 4Kx1024\nslab_stripes = 4\nthread_cache = 0\n"
		 "max_clients = %u\nusers = root, %u\n\n"
		 "[pool cached]\nslab = 64x16384, 256x4096, 4Kx1024\nthread_cache = 8\nmax_clients = %u\n"
		 "users = root, %u\n\n"
		 "[pool buddy]\nslab = 64x1024, 256x1024\nbuddy = 32M\nbuddy_min = 256\nbuddy_max = 1M\n"
		 "max_clients = %u\nusers = root, %u\n\n"
		 "[pool arena]\nslab = 64x1024, 256x1024\nbuddy = 64M\nbuddy_min = 256\nbuddy_max = 1M\n"
		 "buddy_arena = 1M\nmax_clients = %u\nusers = root, %u\n\n"
		 "[pool buddy0]\nslab = 64x1024, 256x1024\nbuddy = 32M\nbuddy_min = 256\nbuddy_max = 1M\n"
		 "thread_cache = 0\nmax_clients = %u\nusers = root, %u\n\n"
		 "[pool arena0]\nslab = 64x1024, 256x1024\nbuddy = 64M\nbuddy_min = 256\nbuddy_max = 1M\n"
		 "buddy_arena = 1M\nthread_cache = 0\nmax_clients = %u\nusers = root, %u\n",
		 mc, uid, mc, uid, mc, uid, mc, uid, mc, uid, mc, uid, mc, uid);
	rc = mp_daemon_start(&dmn, RTMEMD_PATH, conf, 10000);
	if (rc < 0) {
		fprintf(stderr, "bench_multi: rtmemd (%s) did not start: %s; its log:\n%s\n", RTMEMD_PATH, strerror(-rc),
			mp_daemon_log(&dmn));
		mp_daemon_stop(&dmn);
	}
	return rc < 0 ? -1 : 0;
}

/* Blocks in use in pool @name, as a fresh client of it sees them. Return: -errno on failure. */
static int64_t in_use(struct rtmem_client *c, const char *name)
{
	struct rtmem_pool_stats st;
	struct rtmem_pool *p;
	int64_t used = 0;
	int rc = rtmem_pool_open(c, name, 0, &p);

	if (rc < 0)
		return rc;
	rtmem_pool_stats(p, &st);
	for (uint32_t x = 0; x < st.nclasses; x++)
		used += (int64_t)st.cls[x].in_use;
	if (st.buddy_size != st.buddy_free)
		used++; /* the buddy counts bytes: any missing byte is a lost block */
	rtmem_pool_close(p);
	return used;
}

static int checker(unsigned i, unsigned n, void *job)
{
	static const char *const pools[] = { "slab", "striped", "cached", "buddy", "arena", "buddy0", "arena0" };
	struct rtmem_client *c;
	uint64_t until = mp_now_ns() + 2000 * NS_PER_MS;
	int64_t lost;

	(void)i, (void)n, (void)job;
	if (rtmem_connect(dmn.sock, "bench-check", &c) < 0)
		return 3;
	mp_ready(&sh->ctl);
	do { /* a killed client's blocks come back when the daemon has seen it go */
		lost = 0;
		for (size_t k = 0; k < sizeof(pools) / sizeof(pools[0]); k++) {
			int64_t u = in_use(c, pools[k]);

			if (u < 0) {
				rtmem_disconnect(c);
				return 3;
			}
			lost += u;
		}
		if (lost)
			mp_sleep_until(mp_now_ns() + 50 * NS_PER_MS);
	} while (lost && mp_now_ns() < until);
	sh->lost = (uint64_t)lost;
	rtmem_disconnect(c);
	return 0;
}

uint64_t check_pools(void)
{
	return mp_run(&sh->ctl, 1, checker, NULL, false, SETUP_MS, 0, 10000) == MP_OK ? sh->lost : UINT64_MAX;
}
