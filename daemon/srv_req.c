/* SPDX-License-Identifier: MIT */
/*
 * srv_req.c - the requests of the protocol (lib/proto/proto.h): a datagram is
 * checked by rtmem_msg_check() before dispatch() hands it to its handler;
 * each handler replies, or refuses with a reason that is logged.
 */
#include "srv_int.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "adopt.h"
#include "audit.h"
#include "memtest.h"
#include "notify.h"
#include "proto.h"
#include "fault.h"
#include "size.h"

static void on_hello(struct srv_client *c, const struct rtmem_msg_hello *in)
{
	struct srv *s = c->s;
	union rtmem_msg m = { 0 };
	struct rtmem_msg_hello_reply *r = &m.hello_reply;
	char w[96];

	if (c->hello)
		return srv_violation(c, in->h.seq, "second HELLO");
	if (!srv_name_ok(in->name))
		return srv_violation(c, in->h.seq, "client name not NUL-terminated");
	if (in->flags & ~RTMEM_HELLO_MONITOR)
		return srv_violation(c, in->h.seq, "unknown HELLO flags");
	srv_printable(in->name, c->name);
	c->hello = true;
	if ((in->flags & RTMEM_HELLO_MONITOR) && !c->monitor) {
		c->monitor = true;
		s->nmonitors++;
	}
	rtmem_msg_init(&m.h, RTMEM_MSG_HELLO_REPLY, in->h.seq);
	for (unsigned i = 0; !c->monitor && i < s->npools && r->npools < RTMEM_HELLO_POOLS; i++) {
		const struct pool *p = s->pools[i].pool;
		struct rtmem_pool_brief *b = &r->pools[r->npools];

		if (!cfg_pool_may_open(p->cfg, c->uid, c->gids, c->ngids))
			continue;
		snprintf(b->name, sizeof(b->name), "%s", pool_name(p));
		b->size = p->size;
		b->nclasses = p->cfg->desc.nclasses;
		b->has_buddy = p->cfg->desc.buddy.size != 0;
		r->npools++;
	}
	log_debug("%s: hello from uid %u gid %u, %s%u pools open to it", srv_who(c, w), (unsigned)c->uid,
		  (unsigned)c->gid, c->monitor ? "a monitor, " : "", r->npools);
	srv_reply(c, &m, -1);
}

static int pool_index(const struct srv *s, const char *name)
{
	for (unsigned i = 0; i < s->npools; i++)
		if (!strcmp(pool_name(s->pools[i].pool), name))
			return (int)i;
	return -1;
}

static void on_open(struct srv_client *c, const struct rtmem_msg_open *in)
{
	union rtmem_msg m = { 0 };
	struct rtmem_msg_open_reply *r = &m.open_reply;
	const struct cfg_pool *cp;
	struct srv_pool *sp;
	char pn[RTMEM_NAME_MAX], w[96], q[32];
	uint32_t seq = in->h.seq;
	int i;

	if (!srv_name_ok(in->pool))
		return srv_violation(c, seq, "pool name not NUL-terminated");
	srv_printable(in->pool, pn);
	if (in->flags & ~RTMEM_OPEN_WANT_DESC)
		return srv_refuse(c, seq, EINVAL, "open \"%s\": unknown flags 0x%x", pn, in->flags);
	if (c->monitor) {
		c->monitor = false; /* srv_refuse() logs it at warning level, not debug */
		srv_refuse(c, seq, EACCES, "open \"%s\": a monitor connection (monitor socket or rtmemctl) opens no pools", pn);
		c->monitor = true;
		return;
	}
	i = pool_index(c->s, in->pool);
	if (i < 0)
		return srv_refuse(c, seq, ENOENT, "open \"%s\": no such pool", pn);
	sp = &c->s->pools[i];
	cp = sp->pool->cfg;
	if (!cfg_pool_may_open(cp, c->uid, c->gids, c->ngids))
		return srv_refuse(c, seq, EACCES, "open \"%s\": uid %u is not allowed (users/groups)", pn, (unsigned)c->uid);
	if (c->open[i].slot)
		return srv_refuse(c, seq, EBUSY, "open \"%s\": already open on this connection", pn);
	/* a buddy area's lock is a PI futex: the TID a client in another PID
	 * namespace writes there means another thread, or none, to everyone else.
	 * An area in arenas (buddy_arena) has no lock and no TID in it. */
	if (cp->desc.buddy.size && !cp->desc.buddy.arena_order && srv_nspid_depth(c->pid) != srv_nspid_depth(getpid()))
		return srv_refuse(c, seq, EXDEV,
			      "open \"%s\": the pool has a buddy area, whose lock cannot work across PID namespaces; "
			      "a client in a container can open slab-only pools and pools with buddy_arena",
			      pn);
	r->slot = srv_slot_take(sp, &r->gen);
	if (!r->slot)
		return srv_refuse(c, seq, EUSERS, "open \"%s\": all %u client slots taken (max_clients)", pn, sp->nslots);
	if (in->flags & RTMEM_OPEN_WANT_DESC) { /* limits from the daemon's copy, never the region */
		rtmem_msg_init(&m.h, RTMEM_MSG_OPEN_DESC_REPLY, seq);
		m.open_desc_reply.layout_hash = rg_region_layout_hash();
		rtmem_wire_desc_from(&m.open_desc_reply.desc, &cp->desc);
	} else {
		rtmem_msg_init(&m.h, RTMEM_MSG_OPEN_REPLY, seq);
	}
	r->size = sp->pool->size;
	r->quota = cp->quota;
	r->flags = cfg_pool_may_reserve(cp, c->uid, c->gids, c->ngids) ? RTMEM_OPEN_RESERVE : 0;
	c->open[i] = (struct srv_open){ .slot = r->slot, .gen = r->gen };
	atomic_store_explicit(&sp->pids[r->slot], c->pid, memory_order_relaxed);
	adopt_record_set(sp->pool->region, c->s->key, r->slot, r->gen, c->pid);
	srv_reply(c, &m, sp->pool->memfd);
	log_info("%s opened pool \"%s\": slot %u gen %u, quota %s%s", srv_who(c, w), pn, r->slot, r->gen,
		 cp->quota ? size_fmt(cp->quota, SIZE_IEC, q) : "none", r->flags ? ", may take the reserve" : "");
}

static void on_resume(struct srv_client *c, const struct rtmem_msg_resume *in)
{
	union rtmem_msg m = { 0 };
	struct rtmem_msg_open_reply *r = &m.open_reply;
	char pn[RTMEM_NAME_MAX], w[96];
	struct srv_orphan *o;
	struct srv_pool *sp;
	const struct cfg_pool *cp;
	int i;

	if (!srv_name_ok(in->pool))
		return srv_violation(c, in->h.seq, "pool name not NUL-terminated");
	srv_printable(in->pool, pn);
	i = pool_index(c->s, in->pool);
	if (i < 0)
		return srv_refuse(c, in->h.seq, ENOENT, "resume \"%s\": no such pool", pn);
	if (c->open[i].slot)
		return srv_refuse(c, in->h.seq, EBUSY, "resume \"%s\": already open on this connection", pn);
	o = srv_orphan_find(c, (unsigned)i, in->slot, in->gen);
	if (!o)
		return srv_refuse(c, in->h.seq, ESTALE, "resume \"%s\" slot %u gen %u: not held by this process", pn,
			      in->slot, in->gen);
	sp = &c->s->pools[i];
	cp = sp->pool->cfg;
	c->open[i] = (struct srv_open){ .slot = o->slot, .gen = o->gen };
	srv_orphan_free(o);
	rtmem_msg_init(&m.h, RTMEM_MSG_OPEN_REPLY, in->h.seq);
	r->size = sp->pool->size;
	r->quota = cp->quota;
	r->slot = c->open[i].slot;
	r->gen = c->open[i].gen;
	r->flags = cfg_pool_may_reserve(cp, c->uid, c->gids, c->ngids) ? RTMEM_OPEN_RESERVE : 0;
	srv_reply(c, &m, sp->pool->memfd);
	log_info("%s resumed pool \"%s\": slot %u gen %u", srv_who(c, w), pn, r->slot, r->gen);
}

static void on_close(struct srv_client *c, const struct rtmem_msg_close *in)
{
	union rtmem_msg m = { 0 };
	char pn[RTMEM_NAME_MAX], w[96];
	uint64_t bytes;
	int i;

	if (!srv_name_ok(in->pool))
		return srv_violation(c, in->h.seq, "pool name not NUL-terminated");
	srv_printable(in->pool, pn);
	i = pool_index(c->s, in->pool);
	if (i < 0 || !c->open[i].slot)
		return srv_refuse(c, in->h.seq, ENOENT, "close \"%s\": not open on this connection", pn);
	rtmem_msg_init(&m.h, RTMEM_MSG_CLOSE_REPLY, in->h.seq);
	m.close_reply.reclaimed_blocks = srv_client_reclaim(c, (unsigned)i, &bytes);
	m.close_reply.reclaimed_bytes = bytes;
	log_info("%s closed pool \"%s\": reclaimed %llu blocks, %llu bytes", srv_who(c, w), pn,
		 (unsigned long long)m.close_reply.reclaimed_blocks, (unsigned long long)bytes);
	srv_reply(c, &m, -1);
}

static void on_status(struct srv_client *c, uint32_t seq)
{
	struct srv *s = c->s;
	union rtmem_msg m = { 0 };
	struct rtmem_msg_status_reply *r = &m.status_reply;

	rtmem_msg_init(&m.h, RTMEM_MSG_STATUS_REPLY, seq);
	snprintf(r->phase, sizeof(r->phase), "%s", s->phase);
	snprintf(r->loop, sizeof(r->loop), "%s", loop_name(s->loop));
	r->npools = s->npools;
	r->nclients = s->nclients - s->nmonitors;
	r->uptime_ms = srv_mono_ms() - s->start_ms;
	r->locked_bytes = s->locked;
	r->pid = (uint32_t)getpid();
	for (unsigned i = 0; i < s->npools; i++)
		r->ndamaged += s->pools[i].damage != 0;
	srv_reply(c, &m, -1);
}

static void on_pool_info(struct srv_client *c, const struct rtmem_msg_index *in)
{
	union rtmem_msg m = { 0 };
	struct rtmem_msg_pool_info_reply *r = &m.pool_info_reply;
	struct rg_region_stats st;
	struct srv_pool *sp;

	if (in->index >= c->s->npools)
		return srv_refuse(c, in->h.seq, ENOENT, "pool info %u: no such pool", in->index);
	sp = &c->s->pools[in->index];
	rtmem_msg_init(&m.h, RTMEM_MSG_POOL_INFO_REPLY, in->h.seq);
	snprintf(r->name, sizeof(r->name), "%s", pool_name(sp->pool));
	r->size = sp->pool->size;
	r->nclients = sp->nopen;
	r->damage = sp->damage;
	rg_region_stats(sp->pool->region, &st);
	rtmem_wire_stats_from(&r->stats, &st);
	srv_reply(c, &m, -1);
}

/*
 * The client's blocks and bytes come from rg_region_owner_usage(), a scan
 * of every state word of each pool it has open: fine for a status query, never
 * on a client's path.
 */
static void on_client_info(struct srv_client *c, const struct rtmem_msg_index *in)
{
	struct srv *s = c->s;
	union rtmem_msg m = { 0 };
	struct rtmem_msg_client_info_reply *r = &m.client_info_reply;
	struct srv_client *t = s->head;

	while (t && t->monitor)
		t = t->next;
	for (uint32_t k = 0; t && k < in->index; k++)
		for (t = t->next; t && t->monitor; t = t->next)
			;
	if (!t)
		return srv_refuse(c, in->h.seq, ENOENT, "client info %u: no such client", in->index);
	rtmem_msg_init(&m.h, RTMEM_MSG_CLIENT_INFO_REPLY, in->h.seq);
	snprintf(r->name, sizeof(r->name), "%s", t->name);
	r->pid = (uint32_t)t->pid;
	r->uid = t->uid;
	r->gid = t->gid;
	for (unsigned i = 0; i < s->npools; i++) {
		uint64_t blocks, bytes;

		if (!t->open[i].slot)
			continue;
		if (r->npools < 4)
			snprintf(r->pools[r->npools], RTMEM_NAME_MAX, "%s", pool_name(s->pools[i].pool));
		r->npools++;
		rg_region_owner_usage(s->pools[i].pool->region, rg_owner(t->open[i].slot, t->open[i].gen),
					 &blocks, &bytes);
		r->blocks += blocks;
		r->bytes += bytes;
	}
	srv_reply(c, &m, -1);
}

static_assert(MEMTEST_STATUS_FAULTS >= RTMEM_MEMTEST_FAULTS, "faults[] of the reply");

/* The status is copied under the tester's mutex, which it holds only for counters. */
static void on_memtest(struct srv_client *c, uint32_t seq)
{
	const struct cfg_memtest *mc = &c->s->cfg->memtest;
	union rtmem_msg m = { 0 };
	struct rtmem_msg_memtest_reply *r = &m.memtest_reply;
	struct memtest_status st = { 0 };
	bool phys = c->uid == 0 || c->uid == geteuid();

	if (c->s->mt)
		c->s->mt_status(c->s->mt, &st);
	rtmem_msg_init(&m.h, RTMEM_MSG_MEMTEST_REPLY, seq);
	r->enabled = mc->enabled;
	r->running = st.running;
	r->bandwidth = mc->bandwidth;
	r->period_ms = mc->period_ms;
	r->bytes_tested = st.bytes_tested;
	r->bytes_touched = st.bytes_touched;
	r->blocks_tested = st.blocks_tested;
	r->blocks_busy = st.blocks_busy;
	r->blocks_spared = st.blocks_spared;
	r->passes = st.passes;
	r->pass_ms = st.pass_ms;
	r->pass_estimate_ms = st.pass_estimate_ms;
	r->sleep_ms = st.sleep_ms;
	memcpy(r->pool, st.pool, sizeof(r->pool));
	memcpy(r->algorithm, st.algorithm, sizeof(r->algorithm));
	r->pool[RTMEM_NAME_MAX - 1] = r->algorithm[RTMEM_NAME_MAX - 1] = '\0';
	r->background = st.background;
	r->offset = st.offset;
	r->faults_total = st.faults_total;
	for (unsigned i = 0; i < st.nfaults && i < RTMEM_MEMTEST_FAULTS; i++)
		fault_to_wire(&st.faults[i], phys, &r->faults[r->nfaults++]);
	srv_reply(c, &m, -1);
}

static void on_counters(struct srv_client *c, uint32_t seq)
{
	union rtmem_msg m = { 0 };

	m.counters_reply = c->s->counters;
	m.counters_reply.monitors = c->s->nmonitors;
	rtmem_msg_init(&m.h, RTMEM_MSG_COUNTERS_REPLY, seq);
	srv_reply(c, &m, -1);
}

static void dispatch(struct srv_client *c, const union rtmem_msg *m)
{
	if (!c->hello && m->h.type != RTMEM_MSG_HELLO)
		return srv_violation(c, m->h.seq, "message before HELLO");
	switch (m->h.type) {
	case RTMEM_MSG_HELLO:
		return on_hello(c, &m->hello);
	case RTMEM_MSG_OPEN:
		return on_open(c, &m->open);
	case RTMEM_MSG_CLOSE:
		return on_close(c, &m->close);
	case RTMEM_MSG_STATUS:
		return on_status(c, m->h.seq);
	case RTMEM_MSG_POOL_INFO:
		return on_pool_info(c, &m->index);
	case RTMEM_MSG_CLIENT_INFO:
		return on_client_info(c, &m->index);
	case RTMEM_MSG_MEMTEST:
		return on_memtest(c, m->h.seq);
	case RTMEM_MSG_RESUME:
		return on_resume(c, &m->resume);
	case RTMEM_MSG_COUNTERS:
		return on_counters(c, m->h.seq);
	default:
		return srv_violation(c, m->h.seq, "not a request type");
	}
}

void srv_on_recv(void *arg, const void *buf, ssize_t n)
{
	struct srv_client *c = arg;
	union rtmem_msg m;
	const char *why;
	uint32_t seq = 0;

	if (n >= (ssize_t)sizeof(m.h))
		memcpy(&seq, (const char *)buf + offsetof(struct rtmem_msg_hdr, seq), sizeof(seq));
	if (n == 0) {
		c->doomed = "hang-up";
	} else if (n == -EMSGSIZE) {
		srv_violation(c, 0, "message larger than any message");
	} else if (n < 0) {
		c->doomed = strerror((int)-n);
	} else if (rtmem_msg_check(buf, (size_t)n, &why) < 0) {
		srv_violation(c, seq, why);
	} else {
		memcpy(&m, buf, (size_t)n);
		dispatch(c, &m);
	}
	if (c->doomed)
		srv_client_drop(c, c->doomed);
}
