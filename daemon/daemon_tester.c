/* SPDX-License-Identifier: MIT */
/*
 * daemon_tester.c - the memory tester in the daemon: set up in step 2 while
 * the daemon can read physical addresses, its bad-block list loaded before the
 * socket exists, its thread started after READY=1, and its events logged.
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
#include "fault.h"

/* journalctl MESSAGE_ID=... finds every memory fault rtmemd ever logged. */
#define MEMTEST_FAULT_MESSAGE_ID "7c1d0a9e5b3f4f0c9a26d8e4b1f3a5c7"

/*
 * A tester event, on the tester thread. Under the journal a fault is one
 * entry with its fields (RTMEM_POOL=, RTMEM_OFFSET=, ...); elsewhere every
 * event is one line on stderr. Faults also become the STATUS= line.
 */
static void memtest_event(void *arg, const struct memtest_event *ev)
{
	const struct daemon *d = arg;
	const struct memtest_fault *f = ev->fault;
	char phys[FAULT_PHYS_MAX], status[FAULT_LINE_MAX];

	if (ev->kind != MEMTEST_EV_FAULT || !f) {
		notify_log(ev->kind == MEMTEST_EV_WARN ? LOG_WARNING : LOG_INFO, "%s", ev->msg);
		return;
	}
	if (!d->journal || sd_journal_send("MESSAGE=rtmemd: %s", ev->msg, "PRIORITY=%d", LOG_CRIT,
					   "MESSAGE_ID=" MEMTEST_FAULT_MESSAGE_ID, "SYSLOG_IDENTIFIER=rtmemd",
					   "RTMEM_POOL=%s", f->pool, "RTMEM_OFFSET=%#" PRIx64, f->offset,
					   "RTMEM_PHYS=%s", fault_phys(f, phys), "RTMEM_EXPECTED=0x%016" PRIx64, f->expected,
					   "RTMEM_ACTUAL=0x%016" PRIx64, f->actual, "RTMEM_XOR=0x%016" PRIx64, f->xor_,
					   "RTMEM_KIND=%s", fault_kind(f), "RTMEM_ALGORITHM=%s",
					   f->algorithm, "RTMEM_ELEMENT=%u", f->element,
					   "RTMEM_BACKGROUND=0x%016" PRIx64, f->background,
					   "RTMEM_QUARANTINE=%s", fault_quarantine_result(f), NULL) < 0)
		notify_log(LOG_CRIT, "%s", ev->msg);
	fault_format_status(f, status, sizeof(status));
	notify_state("STATUS=%s", status);
}

/* The tester saves its bad-block list in state_dir: create it (not its parents) if missing. */
static void make_state_dir(const char *dir)
{
	if (mkdir(dir, 0755) == 0)
		log_info("created state directory %s", dir);
	else if (errno != EEXIST)
		log_warn("state directory %s: %s: faults found will not be saved", dir, strerror(errno));
}

#ifdef RTMEM_FAULT_INJECT
static int inject_fault(struct daemon *d, const char *spec)
{
	char pool[CFG_NAME_MAX], *end;
	unsigned long long off;
	long bit;
	const char *colon = strchr(spec, ':');
	unsigned i;

	if (!colon || (size_t)(colon - spec) >= sizeof(pool))
		goto out_bad;
	memcpy(pool, spec, (size_t)(colon - spec));
	pool[colon - spec] = '\0';
	errno = 0;
	off = strtoull(colon + 1, &end, 0);
	if (errno || *end != ':')
		goto out_bad;
	bit = strtol(end + 1, &end, 0);
	if (*end || bit < 0 || bit > 63)
		goto out_bad;
	for (i = 0; i < d->npools && strcmp(pool_name(&d->pools[i]), pool); i++)
		;
	if (i == d->npools || memtest_inject(d->mt, i, off, (int)bit) < 0)
		goto out_bad;
	log_warn("TEST BUILD: injected a stuck bit %ld at pool \"%s\" offset %#llx", bit, pool, off);
	return 0;
out_bad:
	log_err("--inject-fault=%s: expected POOL:OFFSET:BIT naming a pool, an offset inside it and a bit 0..63", spec);
	return -EINVAL;
}
#endif

/*
 * Test build with --inject-fault: the simulated cell sits at a pool offset,
 * not in a frame, so physical addresses are left unresolved and the fault is
 * persisted (and found again after a restart) by pool and offset.
 */
static bool injecting(const struct opts *o)
{
#ifdef RTMEM_FAULT_INJECT
	return o->inject != NULL;
#else
	(void)o;
	return false;
#endif
}

/* Physical address tables of every pool, into @mp. Return: whether any is known. */
static bool resolve_phys(const struct daemon *d, struct memtest_pool *mp)
{
	bool any = false;

	for (unsigned i = 0; i < d->npools; i++) {
		int rc = memtest_resolve_phys(d->pools[i].mem, d->pools[i].size, &mp[i].phys);

		if (rc < 0)
			log_warn("pool \"%s\": physical addresses unavailable (/proc/self/pagemap: %s)",
				 pool_name(&d->pools[i]), strerror(-rc));
		any |= memtest_phys_available(mp[i].phys);
	}
	return any;
}

/*
 * Step 2, after the pools are locked and formatted, before any client: the
 * tester over every pool, its bad blocks quarantined again. Physical
 * addresses need CAP_SYS_ADMIN, which the daemon still has here. With
 * [memtest] enabled = no the thread never starts, but bad blocks stay out.
 */
int daemon_setup_memtest(struct daemon *d, const struct opts *o)
{
	const struct cfg_memtest *mc = &d->cfg->memtest;
	const char *dir = d->cfg->daemon.state_dir;
	struct cfg_error err = { 0 };
	struct memtest_config mcfg;
	struct memtest_pool *mp;
	bool phys = false;
	unsigned malformed = 0;
	int rc;

	d->journal = notify_stderr_is_journal();
	rc = mc->enabled ? memtest_config_from_cfg(d->cfg, &mcfg, &err) : memtest_config_default(&mcfg);
	if (rc < 0) {
		log_err("%s", err.msg);
		return rc;
	}
	mp = calloc(d->npools ? d->npools : 1, sizeof(*mp));
	if (!mp)
		return -ENOMEM;
	for (unsigned i = 0; i < d->npools; i++)
		mp[i] = (struct memtest_pool){ .name = pool_name(&d->pools[i]), .region = d->pools[i].region,
					       .base = d->pools[i].mem, .size = d->pools[i].size };
	if (!injecting(o))
		phys = resolve_phys(d, mp);
	if (mc->enabled)
		make_state_dir(dir);
	rc = memtest_create(&mcfg, mp, d->npools, dir, memtest_event, d, &d->mt); /* takes mp[].phys */
	free(mp);
	if (rc < 0) {
		log_err("memory tester: setup failed: %s", strerror(-rc));
		return rc;
	}
	rc = memtest_load_badblocks(d->mt, &malformed);
	if (rc < 0) {
		log_err("bad-block list %s/%s: %s: refusing to serve pools with unknown bad blocks", dir,
			MEMTEST_BADBLOCKS, strerror(-rc));
		return rc;
	}
	log_info("memory tester %s: %d bad blocks quarantined from %s/%s%s; physical addresses %s",
		 mc->enabled ? "enabled" : "disabled", rc, dir, MEMTEST_BADBLOCKS,
		 malformed ? " (malformed lines skipped)" : "", phys ? "known" : "unavailable");
#ifdef RTMEM_FAULT_INJECT
	if (o->inject)
		return inject_fault(d, o->inject);
#endif
	return 0;
}

/* After READY=1: the tester thread, if enabled; the bad-block list must stay writable. */
void daemon_start_memtest(struct daemon *d)
{
	const char *dir = d->cfg->daemon.state_dir;
	int rc;

	if (!d->cfg->memtest.enabled)
		return;
	if (access(dir, W_OK) < 0)
		log_warn("state directory %s is not writable by uid %u: faults will not be saved", dir, (unsigned)getuid());
	rc = memtest_start(d->mt);
	if (rc < 0)
		log_err("memory tester: starting its thread failed: %s; serving without it", strerror(-rc));
}
