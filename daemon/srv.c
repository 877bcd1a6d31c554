/* SPDX-License-Identifier: MIT */
/*
 * srv.c - the socket server of rtmemd: clients, messages, ACLs, owner slots
 * and reclaim (see srv.h for the rules it enforces).
 *
 * Owns: the listening socket and its file, every struct srv_client with its
 * socket and pidfd, the per-pool slot tables, and the orphans: slots of
 * clients of the daemon before this one, alive at adoption and not yet
 * reconnected (each with a pidfd; reclaimed when it exits, handed back by
 * RESUME).
 *
 * Invariants:
 *  - a client is on the list from srv_adopt() until client_drop(), which
 *    deletes its loop watches before closing its fds and freeing it;
 *  - c->open[i].slot != 0 iff the client holds slot c->open[i].slot of pool
 *    i with generation c->open[i].gen, and that slot is marked used;
 *  - nothing read from a datagram is used before rtmem_msg_check() passed on
 *    it, and names are used only after they were found NUL-terminated within
 *    their array; they are logged only through printable().
 */
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
#include "srv.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5 */
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

static_assert(sizeof(gid_t) == sizeof(uint32_t), "gids are passed to cfg as uint32_t");

struct srv_open {
	uint32_t slot; /* 0: pool not open by this client */
	uint32_t gen;
};

struct srv_pool {
	struct pool *pool;
	uint32_t nslots;
	uint32_t nopen;  /* slots in use */
	uint32_t *gen;   /* [nslots + 1]: last generation handed out per slot */
	uint8_t *used;   /* [nslots + 1] */
	uint64_t recovered; /* blocks given back by sweeps: left on no list by killed clients */
	_Atomic int *pids;  /* [nslots + 1]: pid of each slot's holder, 0 if free; read by any daemon thread */
	uint32_t damage;    /* AUDIT_* found since start (sticky: the data may still be wrong) */
};

static_assert(AUDIT_HEADER == RTMEM_DAMAGE_HEADER && AUDIT_HOLE == RTMEM_DAMAGE_HOLE &&
		      AUDIT_LIST == RTMEM_DAMAGE_LIST, "audit bits are the wire's");

struct srv_client {
	struct srv *s;
	struct srv_client *prev, *next;
	unsigned id;                 /* for logs before HELLO names it */
	int fd, pidfd;               /* pidfd -1 if the kernel has none */
	struct loop_watch *w_sock, *w_pid;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	uint32_t *gids;              /* gid and uid's supplementary groups */
	size_t ngids;
	bool hello;
	bool monitor;                /* monitor socket or RTMEM_HELLO_MONITOR: reads only */
	bool via_monitor;            /* accepted on the monitor socket: counts against its limits */
	uint64_t since_ms;           /* CLOCK_MONOTONIC ms of the accept: the HELLO deadline counts from it */
	const char *doomed;          /* set by a handler: drop after it, for this reason */
	char name[RTMEM_NAME_MAX];   /* printable copy of HELLO's name */
	struct srv_open open[];      /* [npools] */
};

/* A slot held by a client of an earlier daemon (docs/lifecycle.md). */
struct srv_orphan {
	struct srv *s;
	struct srv_orphan *next;
	unsigned pool;
	uint32_t slot, gen;
	pid_t pid;
	uint64_t start_time; /* recorded; 0 = unknown */
	int pidfd;
	struct loop_watch *w;
};

struct srv {
	const struct cfg *cfg;
	const struct adopt_key *key;      /* tags slot records; NULL: all-zero key (tests) */
	struct srv_orphan *orphans;
	bool stopping;                    /* srv_free(): clients go, their blocks stay */
	struct loop *loop;
	struct srv_pool *pools;
	unsigned npools;
	struct srv_client *head, *tail;
	unsigned nclients, next_id;
	int lfd;
	struct loop_watch *w_listen;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *phase;
	uint64_t start_ms, locked;
	unsigned accept_errors;
	struct memtest *mt;               /* NULL: no tester */
	srv_memtest_status_fn *mt_status;
	unsigned nmonitors;               /* of nclients */
	int mfd;                          /* monitor socket, -1: none */
	struct loop_watch *w_monitor;
	char mpath[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct rtmem_msg_counters_reply counters; /* COUNTERS, header unused */
	struct loop_watch *w_tick;        /* SRV_TICK_MS: HELLO deadlines, audits */
	unsigned ticks, audit_next;       /* the periodic audit: one pool per SRV_AUDIT_TICKS */
	uint64_t hello_timeout_ms;        /* SRV_HELLO_TIMEOUT_MS; tests shorten it */
};


static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A copy of a wire name (known NUL-terminated) safe to log: printable ASCII, no quotes. */
static const char *printable(const char *name, char out[RTMEM_NAME_MAX])
{
	size_t i;

	for (i = 0; i < RTMEM_NAME_MAX - 1 && name[i]; i++)
		out[i] = name[i] > 0x20 && name[i] < 0x7f && name[i] != '"' && name[i] != '\\' ? name[i] : '?';
	out[i] = '\0';
	return out;
}

static bool name_ok(const char name[RTMEM_NAME_MAX])
{
	return memchr(name, '\0', RTMEM_NAME_MAX) != NULL;
}

/* "client "motor" (pid 1234)", or "client #3 (pid 1234)" before it said HELLO. */
static const char *who(const struct srv_client *c, char buf[96])
{
	if (c->name[0])
		snprintf(buf, 96, "client \"%s\" (pid %d)", c->name, (int)c->pid);
	else
		snprintf(buf, 96, "client #%u (pid %d)", c->id, (int)c->pid);
	return buf;
}

/* Send @m (its header filled) with @fd by SCM_RIGHTS if >= 0. Never blocks. */
static void reply(struct srv_client *c, union rtmem_msg *m, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { m, m->h.size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *cm;

		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n != (ssize_t)m->h.size && !c->doomed)
		c->doomed = n < 0 && errno == EAGAIN ? "not reading its replies" : "send failed";
}

__attribute__((format(printf, 4, 5)))
static void refuse(struct srv_client *c, uint32_t seq, int err, const char *fmt, ...)
{
	union rtmem_msg m = { 0 };
	char w[96];
	va_list ap;

	rtmem_msg_init(&m.h, RTMEM_MSG_ERROR, seq);
	m.error.err = err;
	va_start(ap, fmt);
	vsnprintf(m.error.msg, sizeof(m.error.msg), fmt, ap);
	va_end(ap);
	c->s->counters.refusals_total++;
	notify_log(c->monitor ? LOG_DEBUG : LOG_WARNING, "%s: %s", who(c, w), m.error.msg);
	reply(c, &m, -1);
}

/* A protocol violation: one ERROR (EPROTO), then the client is dropped. */
static void violation(struct srv_client *c, uint32_t seq, const char *why)
{
	refuse(c, seq, EPROTO, "protocol error: %s", why);
	c->doomed = "protocol error";
}

static uint32_t slot_take(struct srv_pool *sp, uint32_t *ret_gen)
{
	for (uint32_t i = 1; i <= sp->nslots; i++) {
		if (sp->used[i])
			continue;
		sp->used[i] = 1;
		sp->gen[i] = sp->gen[i] + 1 ? sp->gen[i] + 1 : 1;
		sp->nopen++;
		*ret_gen = sp->gen[i];
		return i;
	}
	return 0;
}

/*
 * Give back what clients killed in the middle of an allocation or a free
 * left on no list (lib/core/slab.c, "Kills"), once the dead slot is no longer
 * marked used; with no client left, set the in-use counts from the state
 * words too.
 */
static void pool_sweep(struct srv *s, unsigned i)
{
	struct srv_pool *sp = &s->pools[i];
	uint32_t fixed = 0;
	long n = rg_region_sweep_report(sp->pool->region, sp->used, &fixed);
	uint64_t *owners = calloc(sp->nslots + 1u, sizeof(*owners)), bytes = 0;
	int k;

	/* blocks handed to a client that left just then (lib/core/handoff.c) */
	if (owners) {
		long m;

		for (struct srv_client *c = s->head; c; c = c->next)
			if (c->open[i].slot)
				owners[c->open[i].slot] = rg_owner(c->open[i].slot, c->open[i].gen);
		for (struct srv_orphan *o = s->orphans; o; o = o->next)
			if (o->pool == i)
				owners[o->slot] = rg_owner(o->slot, o->gen);
		m = rg_region_reclaim_orphans(sp->pool->region, owners, &bytes);
		if (m > 0)
			log_warn("pool \"%s\": reclaimed %ld blocks (%llu bytes) handed to clients that had left",
				 pool_name(sp->pool), m, (unsigned long long)bytes);
		free(owners);
	}
	if (fixed) {
		struct audit_found f = { .found = AUDIT_LIST };

		log_warn("pool \"%s\": %u slab free lists were corrupt (a stray write): rebuilt from the state words",
			 pool_name(sp->pool), fixed);
		if (!(sp->damage & AUDIT_LIST))
			audit_report(pool_name(sp->pool), &f);
		sp->damage |= AUDIT_LIST;
	}
	if (n > 0) {
		sp->recovered += (uint64_t)n;
		log_warn("pool \"%s\": gave back %ld blocks that killed clients left on no free list", pool_name(sp->pool), n);
	} else if (n == -EUCLEAN) {
		struct audit_found f = { .found = AUDIT_LIST };

		if (!(sp->damage & AUDIT_LIST))
			audit_report(pool_name(sp->pool), &f);
		sp->damage |= AUDIT_LIST;
	} else if (n < 0 && n != -EAGAIN) {
		log_err("pool \"%s\": sweeping for lost blocks failed: %s", pool_name(sp->pool), strerror((int)-n));
	}
	if (sp->nopen == 0 && (k = rg_region_recount(sp->pool->region)) > 0)
		log_warn("pool \"%s\": in-use counts of %d classes corrected with no client left", pool_name(sp->pool), k);
}

/* A field of /proc/PID/status as text ("Tgid", "NSpid"); false if unreadable. */
static bool proc_status_field(int pid, const char *key, char *out, size_t len)
{
	char path[48], buf[2048], *p;
	ssize_t n;
	size_t k = strlen(key);
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (p = buf; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, key, k) && p[k] == ':') {
			size_t m = strcspn(p + k + 1, "\n");

			snprintf(out, len, "%.*s", (int)m, p + k + 1);
			return true;
		}
	}
	return false;
}

/*
 * The buddy lock's guard (rg_region_guard()): is thread @tid one of the
 * daemon's or of a client holding a slot of this pool? A lock word naming
 * anything else was written by a stray store, not by a locker. Called from
 * the event loop and the tester thread: reads only the atomic pid table.
 */
static bool buddy_owner_ok(void *arg, int tid)
{
	const struct srv_pool *sp = arg;
	char v[32];
	long tgid;

	if (!proc_status_field(tid, "Tgid", v, sizeof(v)))
		return false; /* no such thread */
	tgid = strtol(v, NULL, 10);
	if (tgid == (long)getpid())
		return true;
	for (uint32_t k = 1; k <= sp->nslots; k++)
		if (atomic_load_explicit(&sp->pids[k], memory_order_relaxed) == tgid)
			return true;
	return false;
}

/* Fields of an NSpid line: 1 in the first PID namespace, one more per nesting level. */
static int nspid_depth(int pid)
{
	char v[128], *save, *t;
	int n = 0;

	if (!proc_status_field(pid, "NSpid", v, sizeof(v)))
		return -1;
	for (t = strtok_r(v, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
		n++;
	return n;
}

/*
 * Audit @sp (audit.h) and its lists (pool_sweep()); report what is new.
 * Runs after every client death and, for one pool in turn, every
 * SRV_AUDIT_TICKS ticks.
 */
static void pool_audit(struct srv *s, unsigned i)
{
	struct srv_pool *sp = &s->pools[i];
	struct audit_found f;

	audit_pool(sp->pool, &f);
	if (f.found) {
		audit_report(pool_name(sp->pool), &f);
		sp->damage |= f.found;
	}
	pool_sweep(s, i);
}

/* Reclaim what @c holds in pool @i and give the slot back. Return: blocks, bytes in *ret_bytes. */
static uint64_t client_reclaim(struct srv_client *c, unsigned i, uint64_t *ret_bytes)
{
	struct srv_pool *sp = &c->s->pools[i];
	struct srv_open *o = &c->open[i];
	uint64_t bytes = 0;
	long n;
	char w[96];

	/* the record first: a give to this slot that sees it still set lands
	 * before the reclaim below, one that does not see it backs out */
	adopt_record_clear(sp->pool->region, o->slot);
	atomic_store_explicit(&sp->pids[o->slot], 0, memory_order_relaxed);
	n = rg_region_reclaim(sp->pool->region, rg_owner(o->slot, o->gen), &bytes);
	if (n < 0) {
		log_err("pool \"%s\": reclaiming the blocks of %s (slot %u gen %u) failed: %s", pool_name(sp->pool),
			who(c, w), o->slot, o->gen, strerror((int)-n));
		n = 0;
		bytes = 0;
	}
	if (n > 0) {
		c->s->counters.reclaims_total++;
		c->s->counters.reclaimed_blocks_total += (uint64_t)n;
		c->s->counters.reclaimed_bytes_total += bytes;
	}
	sp->used[o->slot] = 0;
	sp->nopen--;
	o->slot = 0;
	pool_audit(c->s, i);
	*ret_bytes = bytes;
	return (uint64_t)n;
}

static void client_drop(struct srv_client *c, const char *why)
{
	struct srv *s = c->s;
	bool any = false;
	char w[96];

	for (unsigned i = 0; i < s->npools; i++) {
		uint64_t bytes, n;

		if (!c->open[i].slot)
			continue;
		if (s->stopping) { /* the daemon's lifecycle never touches a client's blocks */
			log_info("%s: slot %u of pool \"%s\" kept for it (daemon stopping)", who(c, w), c->open[i].slot,
				 pool_name(s->pools[i].pool));
			any = true;
			continue;
		}
		n = client_reclaim(c, i, &bytes);
		log_info("%s gone: reclaimed %llu blocks, %llu bytes in pool \"%s\" (%s)", who(c, w),
			 (unsigned long long)n, (unsigned long long)bytes, pool_name(s->pools[i].pool), why);
		any = true;
	}
	if (!any)
		log_debug("%s gone (%s)", who(c, w), why);
	if (c->monitor)
		s->nmonitors--;
	else
		s->counters.clients_gone_total++;
	loop_del(s->loop, c->w_sock);
	loop_del(s->loop, c->w_pid);
	shutdown(c->fd, SHUT_RDWR); /* the peer sees the end now, whatever the loop still holds */
	close(c->fd);
	if (c->pidfd >= 0)
		close(c->pidfd);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		s->tail = c->prev;
	s->nclients--;
	free(c->gids);
	free(c);
}

static void on_hello(struct srv_client *c, const struct rtmem_msg_hello *in)
{
	struct srv *s = c->s;
	union rtmem_msg m = { 0 };
	struct rtmem_msg_hello_reply *r = &m.hello_reply;
	char w[96];

	if (c->hello)
		return violation(c, in->h.seq, "second HELLO");
	if (!name_ok(in->name))
		return violation(c, in->h.seq, "client name not NUL-terminated");
	if (in->flags & ~RTMEM_HELLO_MONITOR)
		return violation(c, in->h.seq, "unknown HELLO flags");
	printable(in->name, c->name);
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
	log_debug("%s: hello from uid %u gid %u, %s%u pools open to it", who(c, w), (unsigned)c->uid,
		  (unsigned)c->gid, c->monitor ? "a monitor, " : "", r->npools);
	reply(c, &m, -1);
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

	if (!name_ok(in->pool))
		return violation(c, seq, "pool name not NUL-terminated");
	printable(in->pool, pn);
	if (in->flags & ~RTMEM_OPEN_WANT_DESC)
		return refuse(c, seq, EINVAL, "open \"%s\": unknown flags 0x%x", pn, in->flags);
	if (c->monitor) {
		c->monitor = false; /* refuse() logs it at warning level, not debug */
		refuse(c, seq, EACCES, "open \"%s\": a monitor connection (monitor socket or rtmemctl) opens no pools", pn);
		c->monitor = true;
		return;
	}
	i = pool_index(c->s, in->pool);
	if (i < 0)
		return refuse(c, seq, ENOENT, "open \"%s\": no such pool", pn);
	sp = &c->s->pools[i];
	cp = sp->pool->cfg;
	if (!cfg_pool_may_open(cp, c->uid, c->gids, c->ngids))
		return refuse(c, seq, EACCES, "open \"%s\": uid %u is not allowed (users/groups)", pn, (unsigned)c->uid);
	if (c->open[i].slot)
		return refuse(c, seq, EBUSY, "open \"%s\": already open on this connection", pn);
	/* a buddy area's lock is a PI futex: the TID a client in another PID
	 * namespace writes there means another thread, or none, to everyone else */
	if (cp->desc.buddy.size && nspid_depth(c->pid) != nspid_depth(getpid()))
		return refuse(c, seq, EXDEV,
			      "open \"%s\": the pool has a buddy area, whose lock cannot work across PID namespaces; "
			      "a client in a container can open slab-only pools",
			      pn);
	r->slot = slot_take(sp, &r->gen);
	if (!r->slot)
		return refuse(c, seq, EUSERS, "open \"%s\": all %u client slots taken (max_clients)", pn, sp->nslots);
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
	reply(c, &m, sp->pool->memfd);
	log_info("%s opened pool \"%s\": slot %u gen %u, quota %s%s", who(c, w), pn, r->slot, r->gen,
		 cp->quota ? pool_fmt_size(cp->quota, q) : "none", r->flags ? ", may take the reserve" : "");
}

static void orphan_free(struct srv_orphan *o)
{
	struct srv_orphan **pp = &o->s->orphans;

	while (*pp != o)
		pp = &(*pp)->next;
	*pp = o->next;
	loop_del(o->s->loop, o->w);
	close(o->pidfd);
	free(o);
}

/* RESUME: the orphan of this pool, slot and generation, if the peer is the process that held it. */
static struct srv_orphan *orphan_find(struct srv_client *c, unsigned i, uint32_t slot, uint32_t gen)
{
	uint64_t start;

	for (struct srv_orphan *o = c->s->orphans; o; o = o->next) {
		if (o->pool != i || o->slot != slot || o->gen != gen || o->pid != c->pid)
			continue;
		if (o->start_time && (adopt_proc_start_time(c->pid, &start) < 0 || start != o->start_time))
			return NULL;
		return o;
	}
	return NULL;
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

	if (!name_ok(in->pool))
		return violation(c, in->h.seq, "pool name not NUL-terminated");
	printable(in->pool, pn);
	i = pool_index(c->s, in->pool);
	if (i < 0)
		return refuse(c, in->h.seq, ENOENT, "resume \"%s\": no such pool", pn);
	if (c->open[i].slot)
		return refuse(c, in->h.seq, EBUSY, "resume \"%s\": already open on this connection", pn);
	o = orphan_find(c, (unsigned)i, in->slot, in->gen);
	if (!o)
		return refuse(c, in->h.seq, ESTALE, "resume \"%s\" slot %u gen %u: not held by this process", pn,
			      in->slot, in->gen);
	sp = &c->s->pools[i];
	cp = sp->pool->cfg;
	c->open[i] = (struct srv_open){ .slot = o->slot, .gen = o->gen };
	orphan_free(o);
	rtmem_msg_init(&m.h, RTMEM_MSG_OPEN_REPLY, in->h.seq);
	r->size = sp->pool->size;
	r->quota = cp->quota;
	r->slot = c->open[i].slot;
	r->gen = c->open[i].gen;
	r->flags = cfg_pool_may_reserve(cp, c->uid, c->gids, c->ngids) ? RTMEM_OPEN_RESERVE : 0;
	reply(c, &m, sp->pool->memfd);
	log_info("%s resumed pool \"%s\": slot %u gen %u", who(c, w), pn, r->slot, r->gen);
}

/* An orphan's process exited before it reconnected: reclaim its slot. */
static void on_orphan_exit(void *arg, int res)
{
	struct srv_orphan *o = arg;
	struct srv *s = o->s;
	unsigned pool = o->pool;
	struct srv_pool *sp = &s->pools[pool];
	uint64_t bytes = 0;
	long n;

	(void)res;
	adopt_record_clear(sp->pool->region, o->slot);
	atomic_store_explicit(&sp->pids[o->slot], 0, memory_order_relaxed);
	n = rg_region_reclaim(sp->pool->region, rg_owner(o->slot, o->gen), &bytes);
	if (n < 0)
		log_err("pool \"%s\": reclaiming slot %u gen %u (pid %d, exited) failed: %s", pool_name(sp->pool),
			o->slot, o->gen, (int)o->pid, strerror((int)-n));
	else
		log_info("pid %d (a client of the daemon before) gone: reclaimed %ld blocks, %llu bytes in pool \"%s\"",
			 (int)o->pid, n, (unsigned long long)bytes, pool_name(sp->pool));
	sp->used[o->slot] = 0;
	sp->nopen--;
	orphan_free(o);
	pool_audit(s, pool);
}

/* Take over @p's survivors (pool_survey()) and its generation floor. */
static int adopt_survivors(struct srv *s, unsigned i)
{
	struct srv_pool *sp = &s->pools[i];
	struct pool *p = sp->pool;

	for (uint32_t k = 0; p->gen_floor && k <= sp->nslots; k++)
		sp->gen[k] = p->gen_floor[k];
	for (unsigned k = 0; k < p->nsurv; k++) {
		struct pool_survivor *sv = &p->surv[k];
		struct srv_orphan *o;
		int rc;

		if (sv->pidfd < 0 || sv->slot == 0 || sv->slot > sp->nslots)
			continue;
		o = calloc(1, sizeof(*o));
		if (!o)
			return -ENOMEM;
		*o = (struct srv_orphan){ .s = s, .pool = i, .slot = sv->slot, .gen = sv->gen, .pid = sv->pid,
					  .start_time = sv->start_time, .pidfd = sv->pidfd, .next = s->orphans };
		sv->pidfd = -1;
		s->orphans = o;
		sp->used[o->slot] = 1;
		atomic_store_explicit(&sp->pids[o->slot], o->pid, memory_order_relaxed);
		sp->nopen++;
		rc = loop_add_poll(s->loop, o->pidfd, on_orphan_exit, o, &o->w);
		if (rc < 0)
			return rc;
	}
	pool_sweep(s, i); /* what clients killed while no daemon ran left on no list */
	return 0;
}

static void on_close(struct srv_client *c, const struct rtmem_msg_close *in)
{
	union rtmem_msg m = { 0 };
	char pn[RTMEM_NAME_MAX], w[96];
	uint64_t bytes;
	int i;

	if (!name_ok(in->pool))
		return violation(c, in->h.seq, "pool name not NUL-terminated");
	printable(in->pool, pn);
	i = pool_index(c->s, in->pool);
	if (i < 0 || !c->open[i].slot)
		return refuse(c, in->h.seq, ENOENT, "close \"%s\": not open on this connection", pn);
	rtmem_msg_init(&m.h, RTMEM_MSG_CLOSE_REPLY, in->h.seq);
	m.close_reply.reclaimed_blocks = client_reclaim(c, (unsigned)i, &bytes);
	m.close_reply.reclaimed_bytes = bytes;
	log_info("%s closed pool \"%s\": reclaimed %llu blocks, %llu bytes", who(c, w), pn,
		 (unsigned long long)m.close_reply.reclaimed_blocks, (unsigned long long)bytes);
	reply(c, &m, -1);
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
	r->uptime_ms = mono_ms() - s->start_ms;
	r->locked_bytes = s->locked;
	r->pid = (uint32_t)getpid();
	for (unsigned i = 0; i < s->npools; i++)
		r->ndamaged += s->pools[i].damage != 0;
	reply(c, &m, -1);
}

static void on_pool_info(struct srv_client *c, const struct rtmem_msg_index *in)
{
	union rtmem_msg m = { 0 };
	struct rtmem_msg_pool_info_reply *r = &m.pool_info_reply;
	struct rg_region_stats st;
	struct srv_pool *sp;

	if (in->index >= c->s->npools)
		return refuse(c, in->h.seq, ENOENT, "pool info %u: no such pool", in->index);
	sp = &c->s->pools[in->index];
	rtmem_msg_init(&m.h, RTMEM_MSG_POOL_INFO_REPLY, in->h.seq);
	snprintf(r->name, sizeof(r->name), "%s", pool_name(sp->pool));
	r->size = sp->pool->size;
	r->nclients = sp->nopen;
	r->damage = sp->damage;
	rg_region_stats(sp->pool->region, &st);
	rtmem_wire_stats_from(&r->stats, &st);
	reply(c, &m, -1);
}

/*
 * Blocks and bytes a client holds are not reported yet (0): the core has no
 * per-owner count, and a scan of every state word per request is not worth it.
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
		return refuse(c, in->h.seq, ENOENT, "client info %u: no such client", in->index);
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
		/* O(blocks) per pool: fine for a status query, never on a client's path */
		rg_region_owner_usage(s->pools[i].pool->region, rg_owner(t->open[i].slot, t->open[i].gen),
					 &blocks, &bytes);
		r->blocks += blocks;
		r->bytes += bytes;
	}
	reply(c, &m, -1);
}

static_assert(MEMTEST_NAME_MAX == RTMEM_NAME_MAX, "names are copied as they are");
static_assert(MEMTEST_STATUS_FAULTS >= RTMEM_MEMTEST_FAULTS, "faults[] of the reply");

static void memtest_fault_wire(const struct memtest_fault *f, bool phys, struct rtmem_memtest_fault *w)
{
	memcpy(w->pool, f->pool, sizeof(w->pool));
	memcpy(w->algorithm, f->algorithm, sizeof(w->algorithm));
	w->pool[RTMEM_NAME_MAX - 1] = w->algorithm[RTMEM_NAME_MAX - 1] = '\0';
	w->offset = f->offset;
	if (f->phys_valid && phys) {
		w->phys = f->phys;
		w->flags |= RTMEM_MEMTEST_PHYS;
	} else if (f->phys_valid) {
		w->flags |= RTMEM_MEMTEST_PHYS_WITHHELD;
	}
	if (f->read_error)
		w->flags |= RTMEM_MEMTEST_READ_ERROR;
	w->expected = f->expected;
	w->actual = f->actual;
	w->reread = f->reread;
	w->background = f->background;
	w->time = f->time;
	w->element = f->element;
	w->op = f->op;
	w->quarantine = f->quarantine;
}

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
		memtest_fault_wire(&st.faults[i], phys, &r->faults[r->nfaults++]);
	reply(c, &m, -1);
}

static void on_counters(struct srv_client *c, uint32_t seq)
{
	union rtmem_msg m = { 0 };

	m.counters_reply = c->s->counters;
	m.counters_reply.monitors = c->s->nmonitors;
	rtmem_msg_init(&m.h, RTMEM_MSG_COUNTERS_REPLY, seq);
	reply(c, &m, -1);
}

static void dispatch(struct srv_client *c, const union rtmem_msg *m)
{
	if (!c->hello && m->h.type != RTMEM_MSG_HELLO)
		return violation(c, m->h.seq, "message before HELLO");
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
		return violation(c, m->h.seq, "not a request type");
	}
}

static void on_recv(void *arg, const void *buf, ssize_t n)
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
		violation(c, 0, "message larger than any message");
	} else if (n < 0) {
		c->doomed = strerror((int)-n);
	} else if (rtmem_msg_check(buf, (size_t)n, &why) < 0) {
		violation(c, seq, why);
	} else {
		memcpy(&m, buf, (size_t)n);
		dispatch(c, &m);
	}
	if (c->doomed)
		client_drop(c, c->doomed);
}

static void on_pidfd(void *arg, int res)
{
	(void)res;
	client_drop(arg, "process exited");
}

/* The peer's groups: its gid and the supplementary groups of its uid in the user database. */
static int peer_groups(struct srv_client *c)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int n = 32;

	if (getpwuid_r(c->uid, &pw, buf, sizeof(buf), &res) != 0 || !res) {
		c->gids = malloc(sizeof(*c->gids));
		if (!c->gids)
			return -ENOMEM;
		c->gids[0] = c->gid;
		c->ngids = 1;
		return 0;
	}
	for (;;) {
		int got = n;

		c->gids = malloc((size_t)n * sizeof(*c->gids));
		if (!c->gids)
			return -ENOMEM;
		if (getgrouplist(pw.pw_name, c->gid, (gid_t *)c->gids, &got) >= 0) {
			c->ngids = (size_t)got;
			return 0;
		}
		free(c->gids);
		c->gids = NULL;
		if (n >= 65536)
			return -E2BIG;
		n = got > n ? got : n * 2;
	}
}

/* The peer's pidfd: SO_PEERPIDFD names exactly the process that connected; pidfd_open may race pid reuse. */
static int peer_pidfd(struct srv_client *c)
{
	static bool warned;
	socklen_t len = sizeof(c->pidfd);
	long fd;

	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERPIDFD, &c->pidfd, &len) == 0)
		return 0;
	fd = syscall(SYS_pidfd_open, c->pid, 0);
	if (fd >= 0) {
		c->pidfd = (int)fd;
		return 0;
	}
	c->pidfd = -1;
	if (errno == ESRCH)
		return -ESRCH;
	if (!warned)
		log_warn("no pidfd for clients (%s): liveness by socket hang-up only", strerror(errno));
	warned = true;
	return 0;
}

static int client_new(struct srv *s, int fd, struct srv_client **ret)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct srv_client *c;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	c = calloc(1, sizeof(*c) + s->npools * sizeof(c->open[0]));
	if (!c)
		return -ENOMEM;
	c->s = s;
	c->fd = fd;
	c->pidfd = -1;
	c->id = ++s->next_id;
	c->pid = cred.pid;
	c->uid = cred.uid;
	c->gid = cred.gid;
	*ret = c;
	return 0;
}

static int client_arm(struct srv *s, struct srv_client *c)
{
	int rc = peer_groups(c);

	if (rc == 0)
		rc = peer_pidfd(c);
	if (rc == 0)
		rc = loop_add_recv(s->loop, c->fd, RTMEM_MSG_MAX, on_recv, c, &c->w_sock);
	if (rc == 0 && c->pidfd >= 0)
		rc = loop_add_poll(s->loop, c->pidfd, on_pidfd, c, &c->w_pid);
	return rc;
}

/*
 * Refuse the connection @fd with EUSERS and close it. The ERROR carries the
 * seq of the peer's first request if it is already queued (librtmem sends
 * HELLO right after connect), else 0, which librtmem takes as a refusal of
 * the connection itself (lib/proto/proto.h).
 */
static void refuse_connection(struct srv *s, int fd, const char *why)
{
	struct rtmem_msg_error e = { .err = EUSERS };
	struct rtmem_msg_hdr h;
	uint32_t seq = 0;

	if (recv(fd, &h, sizeof(h), MSG_PEEK | MSG_DONTWAIT) == (ssize_t)sizeof(h) && h.magic == RTMEM_PROTO_MAGIC)
		seq = h.seq;
	rtmem_msg_init(&e.h, RTMEM_MSG_ERROR, seq);
	snprintf(e.msg, sizeof(e.msg), "too many clients: %s", why);
	send(fd, &e, sizeof(e), MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
	s->counters.refusals_total++;
	log_warn("connection refused: %s", why);
}

/*
 * Make room for a connection of @uid on the client socket or (@monitor) the
 * monitor socket, which count apart, so that no flood of one locks out the
 * other. At a limit (the uid's, then the socket's), the oldest connection of
 * that uid (then of anyone) that has not said HELLO yet is dropped for it:
 * an idle peer never keeps out one that talks.
 * Return: 0 (room made), -EUSERS with @why filled.
 */
static int make_room(struct srv *s, uid_t uid, bool monitor, char why[96])
{
	unsigned all = 0, mine = 0, max = monitor ? SRV_MAX_MONITORS : SRV_MAX_CLIENTS;
	unsigned per_uid = s->cfg->daemon.max_connections_per_uid ? s->cfg->daemon.max_connections_per_uid
								     : CFG_CONNECTIONS_PER_UID;
	struct srv_client *idle_all = NULL, *idle_mine = NULL, *victim;

	for (struct srv_client *c = s->head; c; c = c->next) { /* oldest first */
		if (c->via_monitor != monitor)
			continue;
		all++;
		mine += c->uid == uid;
		if (!c->hello && !idle_all)
			idle_all = c;
		if (!c->hello && c->uid == uid && !idle_mine)
			idle_mine = c;
	}
	if (mine >= per_uid)
		victim = idle_mine;
	else if (all >= max)
		victim = idle_all;
	else
		return 0;
	if (!victim) {
		if (mine >= per_uid)
			snprintf(why, 96, "uid %u holds %u connections (max_connections_per_uid)", (unsigned)uid, mine);
		else
			snprintf(why, 96, "%u connections on the %s socket", all, monitor ? "monitor" : "client");
		return -EUSERS;
	}
	client_drop(victim, "no HELLO yet, dropped to make room for a new connection");
	return 0;
}

static int adopt(struct srv *s, int fd, bool monitor)
{
	struct srv_client *c = NULL;
	char w[96], why[96];
	int rc;

	rc = client_new(s, fd, &c);
	if (rc < 0) {
		close(fd);
		log_warn("connection dropped: %s", strerror(-rc));
		return rc;
	}
	if (make_room(s, c->uid, monitor, why) < 0) {
		free(c);
		refuse_connection(s, fd, why);
		return -EUSERS;
	}
	c->via_monitor = monitor;
	c->since_ms = mono_ms();
	c->prev = s->tail;
	if (s->tail)
		s->tail->next = c;
	else
		s->head = c;
	s->tail = c;
	s->nclients++;
	s->counters.connections_total++;
	c->monitor = monitor;
	s->nmonitors += monitor;
	rc = client_arm(s, c);
	if (rc < 0) {
		client_drop(c, rc == -ESRCH ? "exited before it was served" : strerror(-rc));
		return rc;
	}
	log_debug("%s connected%s: uid %u gid %u%s", who(c, w), monitor ? " to the monitor socket" : "",
		  (unsigned)c->uid, (unsigned)c->gid, c->pidfd >= 0 ? "" : ", no pidfd");
	return 0;
}

int srv_adopt(struct srv *s, int fd)
{
	return adopt(s, fd, false);
}

int srv_adopt_monitor(struct srv *s, int fd)
{
	return adopt(s, fd, true);
}

/* Every SRV_TICK_MS: drop peers that did not say HELLO in time. */
static void on_tick(void *arg, int res)
{
	struct srv *s = arg;
	uint64_t now = mono_ms();
	struct srv_client *c = s->head, *next;

	(void)res;
	for (; c; c = next) {
		next = c->next;
		if (!c->hello && now - c->since_ms >= s->hello_timeout_ms)
			client_drop(c, "no HELLO in time");
	}
	if (s->npools && ++s->ticks % SRV_AUDIT_TICKS == 0)
		pool_audit(s, s->audit_next++ % s->npools);
}

void srv_set_hello_timeout(struct srv *s, uint64_t ms)
{
	s->hello_timeout_ms = ms;
}

static void accept_done(struct srv *s, int res, bool monitor)
{
	if (res >= 0) {
		adopt(s, res, monitor);
		return;
	}
	if (res == -EINTR || res == -EAGAIN || res == -ECONNABORTED)
		return;
	if (s->accept_errors++ % 1000 == 0)
		log_err("accept on %s failed: %s", monitor ? s->mpath : s->path, strerror(-res));
}

static void on_accept(void *arg, int res)
{
	accept_done(arg, res, false);
}

static void on_accept_monitor(void *arg, int res)
{
	accept_done(arg, res, true);
}

/* Make room for a new socket at @path: remove a stale one, refuse a live one or a non-socket. */
static int clear_path(const char *path, char err[SRV_ERR_MAX])
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		rc = -errno;
		snprintf(err, SRV_ERR_MAX, "socket %s: %s", path, strerror(-rc));
		return rc;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, SRV_ERR_MAX, "socket %s: exists and is not a socket; not removing it", path);
		return -EEXIST;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		snprintf(err, SRV_ERR_MAX, "socket %s: another rtmemd is serving on it", path);
		return -EADDRINUSE;
	}
	if (fd >= 0)
		close(fd);
	if (unlink(path) < 0 && errno != ENOENT) {
		rc = -errno;
		snprintf(err, SRV_ERR_MAX, "socket %s: removing the stale socket failed: %s", path, strerror(-rc));
		return rc;
	}
	log_info("removed stale socket %s", path);
	return 0;
}

/* mkdir the parent of @path if it is missing (not recursively). */
static int make_parent(const char *path, char err[SRV_ERR_MAX])
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;
	int rc;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) == 0) {
		log_info("created directory %s", dir);
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	rc = -errno;
	snprintf(err, SRV_ERR_MAX, "socket directory %s: %s", dir, strerror(-rc));
	return rc;
}

static int bind_socket(int lfd, const char *path, uint32_t mode, gid_t group, char err[SRV_ERR_MAX])
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *what;
	mode_t old;
	int rc;

	strcpy(sa.sun_path, path);
	old = umask(0177); /* nobody may connect before chmod says so */
	rc = bind(lfd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0) {
		what = "bind";
		goto out_err;
	}
	if (chmod(path, (mode_t)mode) < 0) {
		what = "chmod";
		goto out_unlink;
	}
	if (group != (gid_t)-1 && chown(path, (uid_t)-1, group) < 0) {
		what = "chown to the socket group";
		goto out_unlink;
	}
	if (listen(lfd, 64) < 0) {
		what = "listen";
		goto out_unlink;
	}
	return 0;
out_unlink:
	rc = -errno;
	unlink(path);
	errno = -rc;
out_err:
	rc = -errno;
	snprintf(err, SRV_ERR_MAX, "socket %s: %s failed: %s", path, what, strerror(-rc));
	return rc;
}

/* Listen on @path (a socket of @what, into *@fd, its path kept in @pathbuf
 * of @pathlen bytes), accepted connections to @fn. On failure *@fd is -1. */
static int listen_on(struct srv *s, const char *what, const char *path, uint32_t mode, gid_t group, int *fd,
		     char *pathbuf, size_t pathlen, loop_fn fn, struct loop_watch **w, char err[SRV_ERR_MAX])
{
	int rc;

	if (strlen(path) >= pathlen) {
		snprintf(err, SRV_ERR_MAX, "%s %s: path longer than %zu bytes", what, path, pathlen - 1);
		return -ENAMETOOLONG;
	}
	rc = clear_path(path, err);
	if (rc == 0)
		rc = make_parent(path, err);
	if (rc < 0)
		return rc;
	*fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (*fd < 0) {
		rc = -errno;
		snprintf(err, SRV_ERR_MAX, "%s %s: socket() failed: %s", what, path, strerror(-rc));
		return rc;
	}
	snprintf(pathbuf, pathlen, "%s", path);
	rc = bind_socket(*fd, pathbuf, mode, group, err);
	if (rc == 0) {
		rc = loop_add_accept(s->loop, *fd, fn, s, w);
		if (rc < 0) {
			snprintf(err, SRV_ERR_MAX, "%s %s: watching it failed: %s", what, path, strerror(-rc));
			unlink(pathbuf);
		}
	}
	if (rc < 0) {
		close(*fd);
		*fd = -1;
		pathbuf[0] = '\0';
	}
	return rc;
}

int srv_listen(struct srv *s, const char *path, uint32_t mode, gid_t group, char err[SRV_ERR_MAX])
{
	return listen_on(s, "socket", path, mode, group, &s->lfd, s->path, sizeof(s->path), on_accept, &s->w_listen,
			 err);
}

int srv_listen_monitor(struct srv *s, const char *path, uint32_t mode, gid_t group, char err[SRV_ERR_MAX])
{
	return listen_on(s, "monitor socket", path, mode, group, &s->mfd, s->mpath, sizeof(s->mpath),
			 on_accept_monitor, &s->w_monitor, err);
}

int srv_new(const struct cfg *cfg, struct pool *pools, unsigned npools, struct loop *loop, struct srv **ret)
{
	struct srv *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->cfg = cfg;
	s->loop = loop;
	s->lfd = -1;
	s->mfd = -1;
	s->phase = "serving";
	s->start_ms = mono_ms();
	s->counters.start_time = (int64_t)time(NULL);
	s->hello_timeout_ms = SRV_HELLO_TIMEOUT_MS;
	s->npools = npools;
	s->pools = calloc(npools ? npools : 1, sizeof(*s->pools));
	if (!s->pools)
		goto out_free;
	for (unsigned i = 0; i < npools; i++) {
		struct srv_pool *sp = &s->pools[i];

		sp->pool = &pools[i];
		sp->nslots = pools[i].cfg->desc.nslots;
		sp->gen = calloc(sp->nslots + 1u, sizeof(*sp->gen));
		sp->used = calloc(sp->nslots + 1u, sizeof(*sp->used));
		sp->pids = calloc(sp->nslots + 1u, sizeof(*sp->pids));
		if (!sp->gen || !sp->used || !sp->pids)
			goto out_free;
		rg_region_guard(sp->pool->region, buddy_owner_ok, sp);
		s->locked += pools[i].size;
		if (adopt_survivors(s, i) < 0)
			goto out_free;
	}
	if (loop_add_timer(loop, SRV_TICK_MS * 1000000ull, on_tick, s, &s->w_tick) < 0)
		goto out_free;
	*ret = s;
	return 0;
out_free:
	srv_free(s);
	return -ENOMEM;
}

void srv_set_memtest(struct srv *s, struct memtest *mt, srv_memtest_status_fn *status)
{
	s->mt = status ? mt : NULL;
	s->mt_status = status;
}

void srv_set_key(struct srv *s, const struct adopt_key *key)
{
	s->key = key;
}

void srv_set_phase(struct srv *s, const char *phase)
{
	s->phase = phase;
}

unsigned srv_nclients(const struct srv *s)
{
	return s->nclients;
}

void srv_free(struct srv *s)
{
	if (!s)
		return;
	s->stopping = true;
	while (s->head)
		client_drop(s->head, "daemon stopping");
	while (s->orphans)
		orphan_free(s->orphans); /* their records stay for the next daemon */
	loop_del(s->loop, s->w_tick);
	if (s->lfd >= 0) {
		loop_del(s->loop, s->w_listen);
		close(s->lfd);
		if (unlink(s->path) < 0 && errno != ENOENT)
			log_warn("socket %s: unlink failed: %s", s->path, strerror(errno));
	}
	if (s->mfd >= 0) {
		loop_del(s->loop, s->w_monitor);
		close(s->mfd);
		if (unlink(s->mpath) < 0 && errno != ENOENT)
			log_warn("monitor socket %s: unlink failed: %s", s->mpath, strerror(errno));
	}
	for (unsigned i = 0; s->pools && i < s->npools; i++) {
		free(s->pools[i].gen);
		free(s->pools[i].used);
		free(s->pools[i].pids);
	}
	free(s->pools);
	free(s);
}
