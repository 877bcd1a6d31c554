/* SPDX-License-Identifier: MIT */
/*
 * rtmemctl_metrics.c - `rtmemctl metrics` (Prometheus text format) and
 * `rtmemctl top` (a live terminal view), both from one snapshot of what the
 * daemon reports (STATUS, COUNTERS, MEMTEST, POOL_INFO i, CLIENT_INFO i).
 *
 * Metric names: prefix rtmemd_, base units (bytes, seconds), counters end in
 * _total, one HELP and one TYPE line per family. Labels are bounded: pool
 * names come from the config, class labels are the block size, and clients
 * are labelled by name only (not pid), at most CTL_CLIENT_LABELS names, the
 * rest summed under client="other", so a churn of short-lived clients does
 * not grow the number of series. Each family's HELP line below says what it
 * counts; man/rtmemctl.1 describes the command.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rtmemctl.h"

#define CTL_CLIENT_LABELS 32u

static double now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int ctl_snap_take(struct ctl *c, struct ctl_snap *s)
{
	struct rtmem_msg_status req = { 0 };
	int rc;

	memset(s, 0, sizeof(*s));
	s->taken = now_real();
	rc = rtmem_msg_transact(c->fd, ++c->seq, &req, RTMEM_MSG_STATUS, &s->status, RTMEM_MSG_STATUS_REPLY, NULL);
	if (rc == 0)
		rc = rtmem_msg_transact(c->fd, ++c->seq, &req, RTMEM_MSG_COUNTERS, &s->counters,
					RTMEM_MSG_COUNTERS_REPLY, NULL);
	if (rc == 0)
		rc = rtmem_msg_transact(c->fd, ++c->seq, &req, RTMEM_MSG_MEMTEST, &s->memtest, RTMEM_MSG_MEMTEST_REPLY,
					NULL);
	if (rc < 0)
		return rc;
	s->pools = calloc(s->status.npools ? s->status.npools : 1, sizeof(*s->pools));
	s->clients = calloc(s->status.nclients ? s->status.nclients : 1, sizeof(*s->clients));
	if (!s->pools || !s->clients)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->status.npools; i++) {
		struct rtmem_msg_index q = { .index = i };

		rc = rtmem_msg_transact(c->fd, ++c->seq, &q, RTMEM_MSG_POOL_INFO, &s->pools[s->npools],
					RTMEM_MSG_POOL_INFO_REPLY, NULL);
		if (rc < 0)
			return rc;
		ctl_merge_stripes(&s->pools[s->npools].stats);
		s->npools++;
	}
	for (uint32_t i = 0; i < s->status.nclients; i++) {
		struct rtmem_msg_index q = { .index = i };

		rc = rtmem_msg_transact(c->fd, ++c->seq, &q, RTMEM_MSG_CLIENT_INFO, &s->clients[s->nclients],
					RTMEM_MSG_CLIENT_INFO_REPLY, NULL);
		if (rc == -ENOENT) /* gone meanwhile */
			break;
		if (rc < 0)
			return rc;
		s->nclients++;
	}
	return 0;
}

void ctl_snap_free(struct ctl_snap *s)
{
	free(s->pools);
	free(s->clients);
	s->pools = NULL;
	s->clients = NULL;
}

static void family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP rtmemd_%s %s\n# TYPE rtmemd_%s %s\n", name, help, name, type);
}

/* The classes of a pool: slab classes, then the buddy orders. */
static unsigned pool_classes(const struct rtmem_wire_stats *st, const struct rtmem_wire_class_stats *ret[],
			     const char *kinds[])
{
	unsigned n = 0;

	for (uint32_t k = 0; k < st->nclasses && k < RTMEM_WIRE_MAX_CLASSES; k++) {
		kinds[n] = "slab";
		ret[n++] = &st->cls[k];
	}
	for (uint32_t k = st->min_order; st->buddy_size && k <= st->max_order && k <= RTMEM_WIRE_MAX_ORDER; k++) {
		kinds[n] = "buddy";
		ret[n++] = &st->order[k];
	}
	return n;
}

enum cls_field { F_SIZE, F_COUNT, F_IN_USE, F_FREE, F_HWM, F_FAILED, F_BAD, F_IN_USE_BYTES };

static uint64_t cls_value(const struct rtmem_wire_class_stats *c, enum cls_field f)
{
	switch (f) {
	case F_SIZE:
		return c->size;
	case F_COUNT:
		return c->count;
	case F_IN_USE:
		return c->in_use;
	case F_FREE:
		return c->free;
	case F_HWM:
		return c->hwm;
	case F_FAILED:
		return c->failed;
	case F_BAD:
		return c->bad;
	default:
		return c->in_use * c->size;
	}
}

static void class_family(const struct ctl_snap *s, FILE *out, const char *name, const char *type, const char *help,
			 enum cls_field f)
{
	family(out, name, type, help);
	for (uint32_t i = 0; i < s->npools; i++) {
		const struct rtmem_wire_class_stats *cls[RTMEM_WIRE_MAX_CLASSES + RTMEM_WIRE_MAX_ORDER + 1];
		const char *kinds[RTMEM_WIRE_MAX_CLASSES + RTMEM_WIRE_MAX_ORDER + 1];
		unsigned n = pool_classes(&s->pools[i].stats, cls, kinds);
		char pn[RTMEM_NAME_MAX];

		ctl_wire_name(s->pools[i].name, pn);
		for (unsigned k = 0; k < n; k++)
			fprintf(out, "rtmemd_%s{pool=\"%s\",kind=\"%s\",block_size=\"%" PRIu64 "\"} %" PRIu64 "\n", name,
				pn, kinds[k], cls[k]->size, cls_value(cls[k], f));
	}
}

enum pool_field { P_SIZE, P_CLIENTS, P_BUDDY_SIZE, P_BUDDY_FREE, P_BUDDY_LARGEST, P_REPAIRS };

static void pool_family(const struct ctl_snap *s, FILE *out, const char *name, const char *type, const char *help,
			enum pool_field f)
{
	family(out, name, type, help);
	for (uint32_t i = 0; i < s->npools; i++) {
		const struct rtmem_msg_pool_info_reply *p = &s->pools[i];
		uint64_t v = f == P_SIZE ? p->size
			   : f == P_CLIENTS ? p->nclients
			   : f == P_BUDDY_SIZE ? p->stats.buddy_size
			   : f == P_BUDDY_FREE ? p->stats.buddy_free
			   : f == P_BUDDY_LARGEST ? p->stats.buddy_largest_free
						  : p->stats.buddy_repairs;
		char pn[RTMEM_NAME_MAX];

		fprintf(out, "rtmemd_%s{pool=\"%s\"} %" PRIu64 "\n", name, ctl_wire_name(p->name, pn), v);
	}
}

/* Clients by name, at most CTL_CLIENT_LABELS names, the rest as "other". */
static void client_families(const struct ctl_snap *s, FILE *out)
{
	char names[CTL_CLIENT_LABELS + 1][RTMEM_NAME_MAX];
	uint64_t bytes[CTL_CLIENT_LABELS + 1] = { 0 }, blocks[CTL_CLIENT_LABELS + 1] = { 0 };
	unsigned n = 0, k;

	strcpy(names[CTL_CLIENT_LABELS], "other");
	for (uint32_t i = 0; i < s->nclients; i++) {
		char nm[RTMEM_NAME_MAX];

		ctl_wire_name(s->clients[i].name, nm);
		if (!nm[0])
			strcpy(nm, "unnamed");
		for (k = 0; k < n && strcmp(names[k], nm); k++)
			;
		if (k == n && n < CTL_CLIENT_LABELS)
			strcpy(names[n++], nm);
		else if (k == n)
			k = CTL_CLIENT_LABELS;
		bytes[k] += s->clients[i].bytes;
		blocks[k] += s->clients[i].blocks;
	}
	family(out, "client_held_bytes", "gauge", "Bytes of blocks held, by client name (summed over processes).");
	for (k = 0; k <= CTL_CLIENT_LABELS; k++)
		if (k < n || (k == CTL_CLIENT_LABELS && (bytes[k] || blocks[k])))
			fprintf(out, "rtmemd_client_held_bytes{client=\"%s\"} %" PRIu64 "\n", names[k], bytes[k]);
	family(out, "client_held_blocks", "gauge", "Blocks held, by client name (summed over processes).");
	for (k = 0; k <= CTL_CLIENT_LABELS; k++)
		if (k < n || (k == CTL_CLIENT_LABELS && (bytes[k] || blocks[k])))
			fprintf(out, "rtmemd_client_held_blocks{client=\"%s\"} %" PRIu64 "\n", names[k], blocks[k]);
}

static void scalar(FILE *out, const char *name, const char *type, const char *help, double v)
{
	family(out, name, type, help);
	fprintf(out, "rtmemd_%s %.17g\n", name, v);
}

void ctl_metrics_print(const struct ctl_snap *s, FILE *out)
{
	const struct rtmem_msg_memtest_reply *m;
	uint64_t bad = 0;

	scalar(out, "up", "gauge", "1 if rtmemd answered this scrape, else 0.", s ? 1 : 0);
	scalar(out, "last_update_timestamp_seconds", "gauge", "When rtmemctl took these figures (Unix time).",
	       s ? s->taken : now_real());
	if (!s)
		return;
	m = &s->memtest;
	scalar(out, "start_time_seconds", "gauge", "When the daemon started serving (Unix time).",
	       (double)s->counters.start_time);
	scalar(out, "locked_bytes", "gauge", "Bytes of all pools, locked in RAM.", (double)s->status.locked_bytes);
	scalar(out, "clients", "gauge", "Connected clients (monitors such as rtmemctl not counted).",
	       (double)s->status.nclients);
	scalar(out, "monitors", "gauge", "Connected monitors.", (double)s->counters.monitors);
	scalar(out, "connections_total", "counter", "Connections accepted.", (double)s->counters.connections_total);
	scalar(out, "refusals_total", "counter", "Requests refused (no such pool, access denied, ...).",
	       (double)s->counters.refusals_total);
	scalar(out, "clients_gone_total", "counter", "Clients that disconnected or died.",
	       (double)s->counters.clients_gone_total);
	scalar(out, "reclaims_total", "counter", "Closes and departures that left blocks to reclaim.",
	       (double)s->counters.reclaims_total);
	scalar(out, "reclaimed_blocks_total", "counter", "Blocks reclaimed from clients.",
	       (double)s->counters.reclaimed_blocks_total);
	scalar(out, "reclaimed_bytes_total", "counter", "Bytes reclaimed from clients.",
	       (double)s->counters.reclaimed_bytes_total);
	pool_family(s, out, "pool_size_bytes", "gauge", "Bytes of the pool's region.", P_SIZE);
	pool_family(s, out, "pool_clients", "gauge", "Clients that have the pool open.", P_CLIENTS);
	pool_family(s, out, "pool_buddy_size_bytes", "gauge", "Bytes of the buddy area.", P_BUDDY_SIZE);
	pool_family(s, out, "pool_buddy_free_bytes", "gauge", "Free bytes in the buddy area.", P_BUDDY_FREE);
	pool_family(s, out, "pool_buddy_largest_free_bytes", "gauge", "Largest free buddy block.", P_BUDDY_LARGEST);
	pool_family(s, out, "pool_buddy_repairs_total", "counter", "Buddy free-list rebuilds after a dead lock owner.",
		    P_REPAIRS);
	class_family(s, out, "class_blocks", "gauge", "Blocks of the class (slab class or buddy order).", F_COUNT);
	class_family(s, out, "class_blocks_in_use", "gauge", "Blocks allocated now.", F_IN_USE);
	class_family(s, out, "class_blocks_free", "gauge", "Blocks free now.", F_FREE);
	class_family(s, out, "class_blocks_high_water", "gauge", "Most blocks in use at once since start.", F_HWM);
	class_family(s, out, "class_in_use_bytes", "gauge", "Bytes allocated now (blocks x block size).",
		     F_IN_USE_BYTES);
	class_family(s, out, "class_alloc_failures_total", "counter", "Allocations that found the class empty.",
		     F_FAILED);
	class_family(s, out, "class_bad_blocks", "gauge", "Blocks quarantined by the memory tester.", F_BAD);
	client_families(s, out);
	for (uint32_t i = 0; i < s->npools; i++) {
		const struct rtmem_wire_class_stats *cls[RTMEM_WIRE_MAX_CLASSES + RTMEM_WIRE_MAX_ORDER + 1];
		const char *kinds[RTMEM_WIRE_MAX_CLASSES + RTMEM_WIRE_MAX_ORDER + 1];
		unsigned n = pool_classes(&s->pools[i].stats, cls, kinds);

		for (unsigned k = 0; k < n; k++)
			bad += cls[k]->bad;
	}
	scalar(out, "memtest_enabled", "gauge", "1 if [memtest] enabled = yes.", m->enabled);
	scalar(out, "memtest_running", "gauge", "1 while the tester thread runs.", m->running);
	scalar(out, "memtest_tested_bytes_total", "counter", "Block bytes that passed every test.",
	       (double)m->bytes_tested);
	scalar(out, "memtest_touched_bytes_total", "counter", "Bytes read and written by the tester.",
	       (double)m->bytes_touched);
	scalar(out, "memtest_passes_total", "counter", "Full passes over all pools.", (double)m->passes);
	scalar(out, "memtest_last_pass_seconds", "gauge", "Duration of the last full pass (0 before the first).",
	       (double)m->pass_ms / 1e3);
	scalar(out, "memtest_faults_total", "counter", "Memory faults found since start.", (double)m->faults_total);
	scalar(out, "bad_blocks", "gauge", "Quarantined blocks in all pools.", (double)bad);
}

int ctl_metrics_write(const struct ctl_snap *s, const char *path)
{
	char tmp[4096];
	FILE *f;
	int fd, rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		rc = -errno;
		close(fd);
		goto out_unlink;
	}
	ctl_metrics_print(s, f);
	if (fflush(f) != 0 || fsync(fd) != 0)
		rc = -errno;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc == 0)
		return 0;
out_unlink:
	unlink(tmp);
	return rc;
}

/* ---- top ---- */

static volatile sig_atomic_t top_stop;

static void on_sigint(int sig)
{
	(void)sig;
	top_stop = 1;
}

static uint64_t pool_failed(const struct rtmem_msg_pool_info_reply *p)
{
	const struct rtmem_wire_class_stats *cls[RTMEM_WIRE_MAX_CLASSES + RTMEM_WIRE_MAX_ORDER + 1];
	const char *kinds[RTMEM_WIRE_MAX_CLASSES + RTMEM_WIRE_MAX_ORDER + 1];
	unsigned n = pool_classes(&p->stats, cls, kinds);
	uint64_t v = 0;

	for (unsigned k = 0; k < n; k++)
		v += cls[k]->failed;
	return v;
}

/* Per second from @a (before) to @b, 0 without a previous frame or on a restart. */
static double rate(uint64_t a, uint64_t b, double dt, bool have)
{
	return have && dt > 0 && b >= a ? (double)(b - a) / dt : 0.0;
}

static void top_frame(const struct ctl_snap *s, const struct ctl_snap *prev, bool tty)
{
	bool have = prev && prev->pools && prev->npools == s->npools;
	double dt = have ? s->taken - prev->taken : 0;
	char pn[RTMEM_NAME_MAX];

	if (tty)
		printf("\033[H\033[2J");
	printf("rtmemd pid %u, up %" PRIu64 " s, %u clients, %.1f MiB locked | reclaims %.2f/s, refusals %.2f/s, "
	       "tester %.1f MiB/s, faults %" PRIu64 "\n\n",
	       s->status.pid, s->status.uptime_ms / 1000, s->status.nclients,
	       (double)s->status.locked_bytes / 1048576.0,
	       have ? rate(prev->counters.reclaims_total, s->counters.reclaims_total, dt, have) : 0.0,
	       have ? rate(prev->counters.refusals_total, s->counters.refusals_total, dt, have) : 0.0,
	       have ? rate(prev->memtest.bytes_touched, s->memtest.bytes_touched, dt, have) / 1048576.0 : 0.0,
	       s->memtest.faults_total);
	printf("%-16s %-6s %10s %9s %9s %9s %9s %10s %5s\n", "pool", "kind", "block", "count", "in_use", "free", "hwm",
	       "failed/s", "bad");
	for (uint32_t i = 0; i < s->npools; i++) {
		const struct rtmem_wire_class_stats *cls[RTMEM_WIRE_MAX_CLASSES + RTMEM_WIRE_MAX_ORDER + 1], *pcls[RTMEM_WIRE_MAX_CLASSES +
												       RTMEM_WIRE_MAX_ORDER + 1];
		const char *kinds[RTMEM_WIRE_MAX_CLASSES + RTMEM_WIRE_MAX_ORDER + 1];
		unsigned n = pool_classes(&s->pools[i].stats, cls, kinds);
		bool same = have && pool_classes(&prev->pools[i].stats, pcls, kinds) == n &&
			    pool_classes(&s->pools[i].stats, cls, kinds) == n;

		ctl_wire_name(s->pools[i].name, pn);
		for (unsigned k = 0; k < n; k++)
			printf("%-16s %-6s %10" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %10.1f %5" PRIu64
			       "\n",
			       k ? "" : pn, kinds[k], cls[k]->size, cls[k]->count, cls[k]->in_use, cls[k]->free,
			       cls[k]->hwm, same ? rate(pcls[k]->failed, cls[k]->failed, dt, true) : 0.0, cls[k]->bad);
		if (s->pools[i].stats.buddy_size)
			printf("%-16s buddy %" PRIu64 " of %" PRIu64 " bytes free, largest %" PRIu64 ", %" PRIu64
			       " failed allocations in all\n",
			       "", s->pools[i].stats.buddy_free, s->pools[i].stats.buddy_size,
			       s->pools[i].stats.buddy_largest_free, pool_failed(&s->pools[i]));
	}
	printf("\n%-20s %8s %10s %12s %12s\n", "client", "pid", "blocks", "bytes", "bytes/s");
	for (uint32_t i = 0; i < s->nclients; i++) {
		const struct rtmem_msg_client_info_reply *cl = &s->clients[i];
		double r = 0;

		for (uint32_t k = 0; have && k < prev->nclients; k++)
			if (prev->clients[k].pid == cl->pid)
				r = (double)((int64_t)cl->bytes - (int64_t)prev->clients[k].bytes) / (dt > 0 ? dt : 1);
		printf("%-20s %8u %10" PRIu64 " %12" PRIu64 " %12.0f\n", ctl_wire_name(cl->name, pn), cl->pid, cl->blocks,
		       cl->bytes, r);
	}
	fflush(stdout);
}

int ctl_top(struct ctl *c, double interval_s, unsigned count)
{
	struct ctl_snap prev = { 0 }, cur;
	struct sigaction sa = { .sa_handler = on_sigint };
	bool tty = isatty(STDOUT_FILENO);
	int rc = 0;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	for (unsigned i = 0; !top_stop && (count == 0 || i < count); i++) {
		struct timespec d = { (time_t)interval_s, (long)((interval_s - (double)(time_t)interval_s) * 1e9) };

		if (i)
			nanosleep(&d, NULL);
		if (top_stop)
			break;
		rc = ctl_snap_take(c, &cur);
		if (rc < 0) {
			ctl_snap_free(&cur);
			break;
		}
		top_frame(&cur, i ? &prev : NULL, tty);
		ctl_snap_free(&prev);
		prev = cur;
	}
	ctl_snap_free(&prev);
	return rc;
}
