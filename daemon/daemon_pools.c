/* SPDX-License-Identifier: MIT */
/*
 * daemon_pools.c - steps 1 and 2 of main.c: create or re-adopt every pool,
 * then lock, pre-fault and format them; the check that they fit in memory.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"
#include "probe.h"
#include "size.h"

/* Fail early and clearly if the pools cannot fit in the memory the kernel says is available. */
static int check_fit(const struct daemon *d, const struct probe_limits *lim)
{
	uint64_t total = 0;
	char need[32], have[32];

	for (unsigned i = 0; i < d->cfg->npools; i++) {
		struct rg_footprint fp;
		char fdname[CFG_NAME_MAX + 8];

		daemon_pool_fdname(d->cfg->pools[i].name, fdname);
		if (daemon_stored_index(d, fdname) >= 0)
			continue; /* re-adopted: its memory is already taken */
		if (cfg_pool_footprint(&d->cfg->pools[i], &fp) == 0)
			total += fp.total;
	}
	if (lim->mem_available == UINT64_MAX || total <= lim->mem_available)
		return 0;
	log_err("the pools need %s but MemAvailable is %s: this machine is too small for %s "
		"(rtmemd --check-config shows each pool)",
		size_fmt(total, SIZE_IEC, need), size_fmt(lim->mem_available, SIZE_IEC, have), d->cfg->source);
	return -ENOMEM;
}

static void log_survey(const struct pool *p, int changed, const struct pool_survey *sv)
{
	char sz[32];

	log_info("pool \"%s\": re-adopted %s from the fd store: %u clients kept, %u exited meanwhile, %u records "
		 "not trusted, %u other owners; %llu blocks (%s) reclaimed%s",
		 pool_name(p), size_fmt(p->size, SIZE_IEC, sz), sv->alive, sv->dead, sv->untrusted, sv->strays,
		 (unsigned long long)sv->blocks, size_fmt(sv->bytes, SIZE_IEC, (char[SIZE_FMT_MAX]){ 0 }),
		 changed ? "; its configuration changed" : "");
	if (sv->checked_in)
		log_info("pool \"%s\": %u blocks the tester had checked out were given back", pool_name(p),
			 sv->checked_in);
	if (sv->check < 0)
		log_warn("pool \"%s\": region check: %s%s", pool_name(p), sv->check_msg,
			 sv->alive ? " (clients were running: may be a passing state)" : "");
}

/*
 * Re-adopt the stored memfd @fd of @cp into @p. A changed pool stays as it
 * is while clients use it and is dropped (return 0, @p empty) when none
 * does. Return: 1 adopted, 0 not (create a new one), -ENOMEM.
 */
static int adopt_pool(struct daemon *d, const struct cfg_pool *cp, int fd, struct pool *p)
{
	struct pool_error err;
	struct pool_survey sv;
	char fdname[CFG_NAME_MAX + 8];
	int changed, rc;

	daemon_pool_fdname(cp->name, fdname);
	changed = pool_adopt(cp, fd, p, &err);
	if (changed < 0) {
		log_warn("%s: creating a new pool (clients still on the old one keep it, unserved)", err.msg);
		notify_fdstore_remove(fdname);
		return 0;
	}
	rc = pool_survey(p, &d->key, &sv);
	if (rc < 0) {
		pool_destroy(p);
		return rc;
	}
	log_survey(p, changed, &sv);
	if (changed && !sv.alive) {
		log_info("pool \"%s\": no client uses it: replaced by a new pool as configured", cp->name);
		pool_destroy(p);
		notify_fdstore_remove(fdname);
		return 0;
	}
	if (changed)
		log_warn("pool \"%s\": the configuration changed, but %u clients use it: serving it as it was "
			 "formatted until a restart finds it unused", cp->name, sv.alive);
	d->adopted++;
	return 1;
}

/* Stored pools no longer configured: kept in the store while a client uses one. */
void daemon_stored_leftovers(struct daemon *d)
{
	for (int i = 0; i < d->nstored; i++) {
		struct cfg_pool cp = { .desc = { .nslots = 0 } };
		struct pool p = { 0 };
		struct pool_error err;
		struct pool_survey sv;
		const char *name = d->stored_name[i];
		int fd = d->stored_fd[i];

		if (fd < 0)
			continue;
		d->stored_fd[i] = -1;
		if (strncmp(name, "pool-", 5) != 0) {
			log_warn("fd store: unknown fd \"%s\" dropped", name);
			close(fd);
			notify_fdstore_remove(name);
			continue;
		}
		snprintf(cp.name, sizeof(cp.name), "%s", name + 5);
		if (pool_adopt(&cp, fd, &p, &err) >= 0 && pool_survey(&p, &d->key, &sv) == 0 && sv.alive) {
			log_warn("pool \"%s\" is no longer configured but %u clients use it: kept in the fd store, "
				 "unserved, until a restart finds it unused", cp.name, sv.alive);
			pool_destroy(&p);
			continue;
		}
		pool_destroy(&p);
		log_info("pool \"%s\" is no longer configured and unused: released", cp.name);
		notify_fdstore_remove(name);
	}
}

int daemon_create_pools(struct daemon *d)
{
	unsigned noexec_logged = 0;
	struct pool_error err;
	struct probe_limits lim;
	int rc;

	rc = probe_limits_read(&lim);
	if (rc < 0) {
		log_err("reading the machine's limits failed: %s", strerror(-rc));
		return rc;
	}
	rc = check_fit(d, &lim);
	if (rc < 0)
		return rc;
	d->pools = calloc(d->cfg->npools, sizeof(*d->pools));
	if (!d->pools)
		return -ENOMEM;
	for (unsigned i = 0; i < d->cfg->npools; i++) {
		char fdname[CFG_NAME_MAX + 8];
		int fd;

		daemon_pool_fdname(d->cfg->pools[i].name, fdname);
		fd = daemon_stored_fd(d, fdname);
		rc = fd >= 0 ? adopt_pool(d, &d->cfg->pools[i], fd, &d->pools[i]) : 0;
		if (rc < 0)
			return rc;
		if (rc == 0)
			rc = pool_create(&d->cfg->pools[i], (size_t)lim.huge_page, &d->pools[i], &err);
		else
			rc = 0;
		if (rc < 0) {
			log_err("%s", err.msg);
			return rc;
		}
		if (d->pools[i].noexec != POOL_NOEXEC_UNKNOWN && !noexec_logged++)
			log_info("pool memfds are kept from execution by %s", pool_noexec_name(d->pools[i].noexec));
		d->npools++;
		d->locked += d->pools[i].size;
	}
	return 0;
}

/* Step 2: lock, pre-fault, format. */
int daemon_lock_pools(struct daemon *d)
{
	struct pool_error err;
	char sz[32];
	int rc;

	for (unsigned i = 0; i < d->npools; i++) {
		rc = pool_lock(&d->pools[i], &err);
		if (rc < 0)
			goto out_err;
	}
	if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0) {
		rc = -errno;
		log_err("mlockall (pools %s and the daemon itself) failed: %s", size_fmt(d->locked, SIZE_IEC, sz),
			strerror(-rc));
		return rc;
	}
	for (unsigned i = 0; i < d->npools; i++) {
		struct pool *p = &d->pools[i];
		char fdname[CFG_NAME_MAX + 8];

		if (p->adopted) { /* written in place: no byte a client stores is rewritten */
			rc = rg_populate_write(p->mem, p->size, p->page);
			if (rc < 0)
				log_warn("pool \"%s\": populating the re-adopted pool for writing failed: %s "
					 "(the daemon's first write to each page faults)", pool_name(p), strerror(-rc));
			continue;
		}
		rc = pool_prefault(p, &err);
		if (rc == 0)
			rc = pool_format(p, &err);
		if (rc < 0)
			goto out_err;
		log_info("pool \"%s\": %s locked and formatted (%s metadata)", pool_name(p), size_fmt(p->size, SIZE_IEC, sz),
			 size_fmt(p->fp.meta, SIZE_IEC, (char[SIZE_FMT_MAX]){ 0 }));
		daemon_pool_fdname(pool_name(p), fdname);
		daemon_store_fd(d, p->memfd, fdname);
	}
	if (d->adopted) {
		d->adopt_us = daemon_mono_us() - d->adopt_us;
		log_info("re-adopted %u pools from the fd store in %llu.%03llu ms", d->adopted,
			 (unsigned long long)(d->adopt_us / 1000), (unsigned long long)(d->adopt_us % 1000));
	}
	rc = probe_compact_unevictable();
	if (rc == 1)
		log_warn("vm.compact_unevictable_allowed is 1: compaction may move locked pages (latency spikes); "
			 "set it to 0 (sysctl -w vm.compact_unevictable_allowed=0)");
	return 0;
out_err:
	log_err("%s", err.msg);
	return rc;
}
