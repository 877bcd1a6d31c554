/* SPDX-License-Identifier: MIT */
/*
 * srv_reclaim.c - owner slots and what a client leaves behind: slots handed
 * out and given back, the sweep of blocks left on no list by killed clients,
 * the periodic audit, reclaiming a client's blocks when it goes, and the
 * orphans (slots of an earlier daemon's clients, see docs/lifecycle.md).
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

uint32_t srv_slot_take(struct srv_pool *sp, uint32_t *ret_gen)
{
	for (uint32_t i = 1; i <= sp->nslots; i++) {
		if (sp->used[i])
			continue;
		sp->used[i] = 1;
		/* 31 bits: an owner word with bit 63 set is a share id (lib/core/handoff.c) */
		sp->gen[i] = (sp->gen[i] + 1) & 0x7fffffffu ? (sp->gen[i] + 1) & 0x7fffffffu : 1;
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
	rg_region_arena_pass(sp->pool->region); /* arenas whose dead holder's last block came back */
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
bool srv_buddy_owner_ok(void *arg, int tid)
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
int srv_nspid_depth(int pid)
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
void srv_pool_audit(struct srv *s, unsigned i)
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
uint64_t srv_client_reclaim(struct srv_client *c, unsigned i, uint64_t *ret_bytes)
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
			srv_who(c, w), o->slot, o->gen, strerror((int)-n));
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
	srv_pool_audit(c->s, i);
	*ret_bytes = bytes;
	return (uint64_t)n;
}

void srv_client_drop(struct srv_client *c, const char *why)
{
	struct srv *s = c->s;
	bool any = false;
	char w[96];

	for (unsigned i = 0; i < s->npools; i++) {
		uint64_t bytes, n;

		if (!c->open[i].slot)
			continue;
		if (s->stopping) { /* the daemon's lifecycle never touches a client's blocks */
			log_info("%s: slot %u of pool \"%s\" kept for it (daemon stopping)", srv_who(c, w), c->open[i].slot,
				 pool_name(s->pools[i].pool));
			any = true;
			continue;
		}
		n = srv_client_reclaim(c, i, &bytes);
		log_info("%s gone: reclaimed %llu blocks, %llu bytes in pool \"%s\" (%s)", srv_who(c, w),
			 (unsigned long long)n, (unsigned long long)bytes, pool_name(s->pools[i].pool), why);
		any = true;
	}
	if (!any)
		log_debug("%s gone (%s)", srv_who(c, w), why);
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

void srv_orphan_free(struct srv_orphan *o)
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
struct srv_orphan *srv_orphan_find(struct srv_client *c, unsigned i, uint32_t slot, uint32_t gen)
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
	srv_orphan_free(o);
	srv_pool_audit(s, pool);
}

/* Take over @p's survivors (pool_survey()) and its generation floor. */
int srv_adopt_survivors(struct srv *s, unsigned i)
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
