/* SPDX-License-Identifier: MIT */
/*
 * rtmemctl - ask a running rtmemd what it holds.
 *
 *   rtmemctl [-s SOCKET] [--json] status | pools | clients | memtest
 *   rtmemctl [-s SOCKET] metrics [-o FILE]
 *   rtmemctl [-s SOCKET] top [-d SECONDS] [-n COUNT]
 *
 * Talks the daemon's protocol (lib/proto/proto.h) on its socket as a monitor (HELLO
 * with RTMEM_HELLO_MONITOR: not counted as a client, opens nothing): STATUS,
 * POOL_INFO i, CLIENT_INFO i, MEMTEST, COUNTERS. Without -s it tries
 * $RTMEM_SOCKET or the main socket, then the read-only monitor socket (for
 * members of rtmem-monitor). Prints a table, or JSON with --json (64-bit data
 * patterns as hex strings, which JSON numbers cannot hold); metrics and top
 * live in rtmemctl_metrics.c.
 * Exit: 0, 1 on an error talking to the daemon, 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "rtmemctl.h"

#ifndef RTMEMD_VERSION
#define RTMEMD_VERSION "unknown"
#endif

#define wire_name ctl_wire_name

static int ctl_connect(struct ctl *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct rtmem_msg_hello hello = { 0 };
	struct rtmem_msg_hello_reply rep;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	strcpy(hello.name, "rtmemctl");
	hello.flags = RTMEM_HELLO_MONITOR;
	return rtmem_msg_transact(c->fd, ++c->seq, &hello, RTMEM_MSG_HELLO, &rep, RTMEM_MSG_HELLO_REPLY, NULL);
}

const char *ctl_wire_name(const char name[RTMEM_NAME_MAX], char out[RTMEM_NAME_MAX])
{
	size_t i;

	for (i = 0; i < RTMEM_NAME_MAX - 1 && name[i]; i++)
		out[i] = name[i] >= 0x20 && name[i] < 0x7f && name[i] != '"' && name[i] != '\\' ? name[i] : '?';
	out[i] = '\0';
	return out;
}

uint32_t ctl_merge_stripes(struct rtmem_wire_stats *s)
{
	uint32_t n = s->nclasses < RTMEM_WIRE_MAX_CLASSES ? s->nclasses : RTMEM_WIRE_MAX_CLASSES, out = 0, most = 1;

	for (uint32_t k = 0; k < n;) {
		struct rtmem_wire_class_stats sum = s->cls[k];
		uint32_t run = 1;

		for (; k + run < n && s->cls[k + run].size == sum.size; run++) {
			const struct rtmem_wire_class_stats *t = &s->cls[k + run];

			sum.count += t->count;
			sum.in_use += t->in_use;
			sum.free += t->free;
			sum.hwm += t->hwm;
			sum.failed += t->failed;
			sum.bad += t->bad;
			sum.checkout += t->checkout;
		}
		s->cls[out++] = sum;
		most = run > most ? run : most;
		k += run;
	}
	s->nclasses = out;
	return most;
}

/* "serving", or "damaged (header rewritten, ...)": what the daemon's audit found. */
static const char *audit_state(uint32_t damage, char *buf, size_t len)
{
	static const char *const words[] = { "header rewritten", "memory punched out, re-locked",
					     "free list corrupt" };
	size_t n;

	if (!damage) {
		snprintf(buf, len, "serving");
		return buf;
	}
	n = (size_t)snprintf(buf, len, "damaged (");
	for (unsigned i = 0; i < 3 && n < len; i++)
		if (damage & (1u << i))
			n += (size_t)snprintf(buf + n, len - n, "%s%s", n > 9 ? ", " : "", words[i]);
	if (n < len)
		snprintf(buf + n, len - n, "; see the journal)");
	return buf;
}

static int cmd_status(struct ctl *c, struct rtmem_msg_status_reply *ret)
{
	struct rtmem_msg_status req = { 0 };
	struct rtmem_msg_status_reply rep;
	char ph[RTMEM_NAME_MAX], lp[RTMEM_NAME_MAX], a[RTMEM_NAME_MAX], b[RTMEM_NAME_MAX];
	int rc = rtmem_msg_transact(c->fd, ++c->seq, &req, RTMEM_MSG_STATUS, &rep, RTMEM_MSG_STATUS_REPLY, NULL);

	if (rc < 0)
		return rc;
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	memcpy(a, rep.phase, sizeof(rep.phase));
	memcpy(b, rep.loop, sizeof(rep.loop));
	wire_name(a, ph);
	wire_name(b, lp);
	if (ret) {
		*ret = rep;
		return 0;
	}
	if (c->json)
		printf("{\"phase\":\"%s\",\"event_loop\":\"%s\",\"pid\":%u,\"pools\":%u,\"damaged_pools\":%u,"
		       "\"clients\":%u,\"uptime_ms\":%" PRIu64 ",\"locked_bytes\":%" PRIu64 "}\n",
		       ph, lp, rep.pid, rep.npools, rep.ndamaged, rep.nclients, rep.uptime_ms, rep.locked_bytes);
	else
		printf("rtmemd (pid %u): %s, event loop %s, up %" PRIu64 ".%03" PRIu64 " s\n"
		       "pools: %u, %.1f MiB locked%s\nclients: %u\n",
		       rep.pid, ph, lp, rep.uptime_ms / 1000, rep.uptime_ms % 1000, rep.npools,
		       (double)rep.locked_bytes / (1024.0 * 1024.0),
		       rep.ndamaged ? ", DAMAGED: see rtmemctl pools" : "", rep.nclients);
	return 0;
}

/*
 * A count read without locks from memory clients can write may be nonsense
 * (an in-use count driven below zero reads 18446744073709551615): above
 * @max it is shown as @max and flagged, never printed raw.
 */
static uint64_t clamp(uint64_t v, uint64_t max, bool *flag)
{
	if (v <= max)
		return v;
	*flag = true;
	return max;
}

static void print_class(const struct ctl *c, const char *kind, const struct rtmem_wire_class_stats *in, bool *first)
{
	struct rtmem_wire_class_stats v = *in, *s = &v;
	uint64_t max = s->count ? s->count : (uint64_t)INT64_MAX; /* buddy orders: no count */
	bool bad = false;

	s->in_use = clamp(s->in_use, max, &bad);
	s->free = clamp(s->free, max, &bad);
	s->hwm = clamp(s->hwm, max, &bad);
	s->bad = clamp(s->bad, max, &bad);
	s->failed = clamp(s->failed, (uint64_t)INT64_MAX, &bad); /* a count of events: no bound but sanity */
	if (c->json) {
		printf("%s{\"kind\":\"%s\",\"size\":%" PRIu64 ",\"count\":%" PRIu64 ",\"in_use\":%" PRIu64
		       ",\"free\":%" PRIu64 ",\"hwm\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"bad\":%" PRIu64
		       ",\"counts_out_of_range\":%s}",
		       *first ? "" : ",", kind, s->size, s->count, s->in_use, s->free, s->hwm, s->failed, s->bad,
		       bad ? "true" : "false");
		*first = false;
		return;
	}
	printf("  %-6s %10" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %5" PRIu64 "%s\n",
	       kind, s->size, s->count, s->in_use, s->free, s->hwm, s->failed, s->bad,
	       bad ? "  ! counts out of range, clamped" : "");
}

/* External fragmentation of the buddy area, in %: how far the largest free
 * block falls short of the largest one the free bytes could make (never more
 * than the largest block size, max_order). 0 when all free memory is in
 * blocks as large as it can be. */
static double fragmentation(const struct rtmem_wire_stats *s)
{
	uint64_t best = s->max_order <= 63 ? 1ull << s->max_order : 0;

	if (s->buddy_free < best)
		best = s->buddy_free;
	return best ? 100.0 * (1.0 - (double)s->buddy_largest_free / (double)best) : 0.0;
}

static int cmd_pools(struct ctl *c)
{
	struct rtmem_msg_status_reply st;
	int rc = cmd_status(c, &st);

	if (rc < 0)
		return rc;
	if (c->json)
		printf("[");
	for (uint32_t i = 0; i < st.npools; i++) {
		struct rtmem_msg_index req = { .index = i };
		struct rtmem_msg_pool_info_reply rep;
		const struct rtmem_wire_stats *s = &rep.stats;
		char name[RTMEM_NAME_MAX], state[160];
		bool first = true;
		uint32_t stripes;

		rc = rtmem_msg_transact(c->fd, ++c->seq, &req, RTMEM_MSG_POOL_INFO, &rep, RTMEM_MSG_POOL_INFO_REPLY, NULL);
		if (rc < 0)
			return rc;
		stripes = ctl_merge_stripes(&rep.stats);
		wire_name(rep.name, name);
		audit_state(rep.damage, state, sizeof(state));
		if (c->json) {
			printf("%s{\"name\":\"%s\",\"state\":\"%s\",\"damage\":%u,\"size\":%" PRIu64
			       ",\"clients\":%u,\"slab_stripes\":%u,\"buddy_size\":%" PRIu64
			       ",\"buddy_free\":%" PRIu64 ",\"buddy_largest_free\":%" PRIu64 ",\"buddy_repairs\":%" PRIu64
			       ",\"classes\":[",
			       i ? "," : "", name, rep.damage ? "damaged" : "serving", rep.damage, rep.size, rep.nclients,
			       stripes, s->buddy_size, s->buddy_free,
			       s->buddy_largest_free, s->buddy_repairs);
		} else {
			printf("pool \"%s\": %s, %.1f MiB, %u clients%s\n  %-6s %10s %8s %8s %8s %8s %8s %5s\n", name,
			       state, (double)rep.size / (1024.0 * 1024.0), rep.nclients,
			       stripes > 1 ? ", slab classes in stripes (rows: their sums)" : "", "kind", "size", "count", "in_use",
			       "free", "hwm", "failed", "bad");
		}
		for (uint32_t k = 0; k < s->nclasses && k < RTMEM_WIRE_MAX_CLASSES; k++)
			print_class(c, "slab", &s->cls[k], &first);
		for (uint32_t k = s->min_order; s->buddy_size && k <= s->max_order && k <= RTMEM_WIRE_MAX_ORDER; k++)
			print_class(c, "buddy", &s->order[k], &first);
		if (c->json)
			printf("]}");
		else if (s->buddy_size)
			printf("  buddy: %" PRIu64 " of %" PRIu64 " bytes free, largest free block %" PRIu64
			       " (fragmentation %.1f %%), lock repairs %" PRIu64 "\n",
			       s->buddy_free, s->buddy_size, s->buddy_largest_free, fragmentation(s), s->buddy_repairs);
	}
	if (c->json)
		printf("]\n");
	return 0;
}

static int cmd_clients(struct ctl *c)
{
	struct rtmem_msg_status_reply st;
	int rc = cmd_status(c, &st);

	if (rc < 0)
		return rc;
	if (c->json)
		printf("[");
	else
		printf("%-20s %8s %6s %6s %10s %12s  %s\n", "client", "pid", "uid", "gid", "blocks", "bytes", "pools");
	for (uint32_t i = 0; i < st.nclients; i++) {
		struct rtmem_msg_index req = { .index = i };
		struct rtmem_msg_client_info_reply rep;
		char name[RTMEM_NAME_MAX], pool[RTMEM_NAME_MAX];

		rc = rtmem_msg_transact(c->fd, ++c->seq, &req, RTMEM_MSG_CLIENT_INFO, &rep, RTMEM_MSG_CLIENT_INFO_REPLY,
					NULL);
		if (rc == -ENOENT) /* gone meanwhile */
			continue;
		if (rc < 0)
			return rc;
		wire_name(rep.name, name);
		if (c->json)
			printf("%s{\"name\":\"%s\",\"pid\":%u,\"uid\":%u,\"gid\":%u,\"blocks\":%" PRIu64
			       ",\"bytes\":%" PRIu64 ",\"pools\":[",
			       i ? "," : "", name, rep.pid, rep.uid, rep.gid, rep.blocks, rep.bytes);
		else
			printf("%-20s %8u %6u %6u %10" PRIu64 " %12" PRIu64 " ", name, rep.pid, rep.uid, rep.gid,
			       rep.blocks, rep.bytes);
		for (uint32_t k = 0; k < rep.npools && k < 4; k++)
			printf(c->json ? "%s\"%s\"" : "%s%s", k ? (c->json ? "," : " ") : (c->json ? "" : " "),
			       wire_name(rep.pools[k], pool));
		printf(c->json ? "]}" : "\n");
	}
	if (c->json)
		printf("]\n");
	return 0;
}

/* Bad blocks in all pools now: what the tester found, and the list loaded at start. */
static int count_bad(struct ctl *c, uint64_t *ret)
{
	struct rtmem_msg_status_reply st;
	int rc = cmd_status(c, &st);

	*ret = 0;
	for (uint32_t i = 0; rc == 0 && i < st.npools; i++) {
		struct rtmem_msg_index req = { .index = i };
		struct rtmem_msg_pool_info_reply rep;
		const struct rtmem_wire_stats *s = &rep.stats;

		rc = rtmem_msg_transact(c->fd, ++c->seq, &req, RTMEM_MSG_POOL_INFO, &rep, RTMEM_MSG_POOL_INFO_REPLY, NULL);
		for (uint32_t k = 0; rc == 0 && k < s->nclasses && k < RTMEM_WIRE_MAX_CLASSES; k++)
			*ret += s->cls[k].bad;
		for (uint32_t k = s->min_order; rc == 0 && s->buddy_size && k <= s->max_order && k <= RTMEM_WIRE_MAX_ORDER; k++)
			*ret += s->order[k].bad;
	}
	return rc;
}

static void print_fault_json(const struct rtmem_memtest_fault *f, bool first)
{
	char pool[RTMEM_NAME_MAX], alg[RTMEM_NAME_MAX], phys[24] = "null";

	if (f->flags & RTMEM_MEMTEST_PHYS)
		snprintf(phys, sizeof(phys), "%" PRIu64, f->phys);
	printf("%s{\"pool\":\"%s\",\"offset\":%" PRIu64 ",\"phys\":%s,\"phys_withheld\":%s,\"expected\":\"0x%016" PRIx64
	       "\",\"actual\":\"0x%016" PRIx64 "\",\"reread\":\"0x%016" PRIx64 "\",\"xor\":\"0x%016" PRIx64
	       "\",\"kind\":\"%s\",\"algorithm\":\"%s\",\"element\":%u,\"op\":%u,\"background\":\"0x%016" PRIx64
	       "\",\"time\":%" PRId64 ",\"quarantined\":%s}",
	       first ? "" : ",", wire_name(f->pool, pool), f->offset, phys,
	       f->flags & RTMEM_MEMTEST_PHYS_WITHHELD ? "true" : "false", f->expected, f->actual, f->reread,
	       f->expected ^ f->actual, f->flags & RTMEM_MEMTEST_READ_ERROR ? "read" : "stored",
	       wire_name(f->algorithm, alg), f->element, f->op, f->background, f->time,
	       f->quarantine == 0 || f->quarantine == -EALREADY ? "true" : "false");
}

static void print_fault(const struct rtmem_memtest_fault *f)
{
	char pool[RTMEM_NAME_MAX], alg[RTMEM_NAME_MAX], when[32] = "?", phys[24];
	time_t t = (time_t)f->time;
	struct tm tm;

	if (localtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	if (f->flags & RTMEM_MEMTEST_PHYS)
		snprintf(phys, sizeof(phys), "%#" PRIx64, f->phys);
	else
		snprintf(phys, sizeof(phys), "%s", f->flags & RTMEM_MEMTEST_PHYS_WITHHELD ? "(root only)" : "unavailable");
	printf("  %s  pool \"%s\" offset %#" PRIx64 " phys %s\n"
	       "      expected 0x%016" PRIx64 " read 0x%016" PRIx64 " (xor %#" PRIx64 "), %s\n"
	       "      %s element %u op %u, background 0x%016" PRIx64 ", %s\n",
	       when, wire_name(f->pool, pool), f->offset, phys, f->expected, f->actual, f->expected ^ f->actual,
	       f->flags & RTMEM_MEMTEST_READ_ERROR ? "read error (re-read correct)" : "stored fault (re-read wrong)",
	       wire_name(f->algorithm, alg), f->element, f->op, f->background,
	       f->quarantine == 0 || f->quarantine == -EALREADY ? "block quarantined" : strerror(-f->quarantine));
}

static int cmd_memtest(struct ctl *c)
{
	struct rtmem_msg_status req = { 0 };
	struct rtmem_msg_memtest_reply rep;
	char pool[RTMEM_NAME_MAX], alg[RTMEM_NAME_MAX];
	uint64_t bad = 0;
	int rc = rtmem_msg_transact(c->fd, ++c->seq, &req, RTMEM_MSG_MEMTEST, &rep, RTMEM_MSG_MEMTEST_REPLY, NULL);

	if (rc == 0)
		rc = count_bad(c, &bad);
	if (rc < 0)
		return rc;
	wire_name(rep.pool, pool);
	wire_name(rep.algorithm, alg);
	if (c->json) {
		printf("{\"enabled\":%s,\"running\":%s,\"bandwidth\":%" PRIu64 ",\"period_ms\":%" PRIu64
		       ",\"bytes_tested\":%" PRIu64 ",\"bytes_touched\":%" PRIu64 ",\"blocks_tested\":%" PRIu64
		       ",\"blocks_busy\":%" PRIu64 ",\"blocks_spared\":%" PRIu64 ",\"passes\":%" PRIu64
		       ",\"pass_ms\":%" PRIu64 ",\"pass_estimate_ms\":%" PRIu64 ",\"sleep_ms\":%" PRIu64
		       ",\"current\":{\"pool\":\"%s\",\"algorithm\":\"%s\",\"background\":\"0x%016" PRIx64
		       "\",\"offset\":%" PRIu64 "},\"bad_blocks\":%" PRIu64 ",\"faults_total\":%" PRIu64 ",\"faults\":[",
		       rep.enabled ? "true" : "false", rep.running ? "true" : "false", rep.bandwidth, rep.period_ms,
		       rep.bytes_tested, rep.bytes_touched, rep.blocks_tested, rep.blocks_busy, rep.blocks_spared,
		       rep.passes, rep.pass_ms, rep.pass_estimate_ms, rep.sleep_ms, pool, alg, rep.background,
		       rep.offset, bad, rep.faults_total);
		for (uint32_t i = 0; i < rep.nfaults && i < RTMEM_MEMTEST_FAULTS; i++)
			print_fault_json(&rep.faults[i], i == 0);
		printf("]}\n");
		return 0;
	}
	printf("memory tester: %s, budget %.1f MiB/s, a full pass at most every %.1f s\n",
	       rep.running ? "running" : rep.enabled ? "enabled, not running" : "disabled",
	       (double)rep.bandwidth / (1024.0 * 1024.0), (double)rep.period_ms / 1e3);
	printf("  tested: %.1f MiB in %" PRIu64 " blocks, %" PRIu64 " full passes, last pass %.3f s (estimate %.3f s)\n"
	       "  skipped: %" PRIu64 " blocks in use, %" PRIu64 " last free blocks of their class\n",
	       (double)rep.bytes_tested / (1024.0 * 1024.0), rep.blocks_tested, rep.passes, (double)rep.pass_ms / 1e3,
	       (double)rep.pass_estimate_ms / 1e3, rep.blocks_busy, rep.blocks_spared);
	if (pool[0])
		printf("  now: pool \"%s\" block %#" PRIx64 ", %s, background 0x%016" PRIx64 "\n", pool, rep.offset, alg,
		       rep.background);
	printf("bad blocks in the pools: %" PRIu64 "\nfaults since start: %" PRIu64 "%s\n", bad, rep.faults_total,
	       rep.nfaults ? ", the most recent first:" : "");
	for (uint32_t i = 0; i < rep.nfaults && i < RTMEM_MEMTEST_FAULTS; i++)
		print_fault(&rep.faults[i]);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: rtmemctl [OPTIONS] status|pools|clients|memtest|metrics|top\n"
		   "  status             the daemon: phase, pools, clients, locked memory\n"
		   "  pools              every pool's slab classes and buddy orders\n"
		   "  clients            connected clients and what they hold\n"
		   "  memtest            the memory tester's progress and faults\n"
		   "  metrics            everything, in the Prometheus text format\n"
		   "  top                a live view of pools, classes, clients and rates\n"
		   "  -s, --socket PATH  rtmemd's socket (default $RTMEM_SOCKET or %s,\n"
		   "                     then the read-only %s)\n"
		   "  -j, --json         machine-readable output (status, pools, clients, memtest)\n"
		   "  -o, --output FILE  metrics: write FILE atomically (node_exporter's textfile\n"
		   "                     collector); rtmemd_up 0 if the daemon does not answer\n"
		   "  -d, --delay SEC    top: seconds between frames (default 2)\n"
		   "  -n, --count N      top: stop after N frames (default: until Ctrl-C)\n"
		   "  -V, --version      print the version\n"
		   "  -h, --help         this text\n",
		RTMEM_DEFAULT_SOCKET, RTMEM_DEFAULT_MONITOR_SOCKET);
}

/* What the user can do about a failed connection to @path. */
static void explain_connect(const char *path, int rc)
{
	fprintf(stderr, "rtmemctl: %s: %s\n", path, strerror(-rc));
	if (rc == -ENOENT || rc == -ECONNREFUSED)
		fprintf(stderr, "rtmemctl: rtmemd is not running (systemctl status rtmemd), or it serves another "
				"socket (-s, $RTMEM_SOCKET)\n");
	else if (rc == -EACCES || rc == -EPERM)
		fprintf(stderr, "rtmemctl: no permission: join the group rtmem (applications) or rtmem-monitor "
				"(read-only): sudo usermod -aG rtmem-monitor $USER, then log in again\n");
}

static const char *const commands[] = { "status", "pools", "clients", "memtest", "metrics", "top" };

static bool known_command(const char *cmd)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(cmd, commands[i]))
			return true;
	return false;
}

static int run_metrics(struct ctl *c, int rc, const char *output)
{
	struct ctl_snap snap = { 0 };
	int wr;

	if (rc == 0)
		rc = ctl_snap_take(c, &snap);
	if (output) {
		wr = ctl_metrics_write(rc == 0 ? &snap : NULL, output);
		if (wr < 0)
			fprintf(stderr, "rtmemctl: %s: %s\n", output, strerror(-wr));
		if (rc == 0)
			rc = wr;
	} else if (rc == 0) {
		ctl_metrics_print(&snap, stdout);
	}
	ctl_snap_free(&snap);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "delay", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'n' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path = getenv("RTMEM_SOCKET"), *output = NULL, *cmd;
	struct ctl c = { .fd = -1 };
	double delay = 2.0;
	unsigned long count = 0;
	bool fallback = false;
	char *end;
	int o, rc;

	while ((o = getopt_long(argc, argv, "s:jo:d:n:Vh", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			path = optarg;
			break;
		case 'j':
			c.json = true;
			break;
		case 'o':
			output = optarg;
			break;
		case 'd':
			delay = strtod(optarg, &end);
			if (*end || !(delay >= 0.05 && delay <= 3600)) {
				fprintf(stderr, "rtmemctl: --delay: expected seconds from 0.05 to 3600\n");
				return 2;
			}
			break;
		case 'n':
			count = strtoul(optarg, &end, 10);
			if (*end || !*optarg || count > 1000000) {
				fprintf(stderr, "rtmemctl: --count: expected a number of frames\n");
				return 2;
			}
			break;
		case 'V':
			printf("rtmemctl %s (protocol %u)\n", RTMEMD_VERSION, RTMEM_PROTO_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1 || !known_command(argv[optind])) {
		fprintf(stderr, "rtmemctl: %s\n", optind >= argc ? "missing command" : "unknown command or extra arguments");
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	if (!path || !*path) {
		path = RTMEM_DEFAULT_SOCKET;
		fallback = true;
	}
	rc = ctl_connect(&c, path);
	if (fallback && (rc == -EACCES || rc == -ENOENT) && access(RTMEM_DEFAULT_MONITOR_SOCKET, F_OK) == 0) {
		close(c.fd);
		c.fd = -1;
		path = RTMEM_DEFAULT_MONITOR_SOCKET;
		rc = ctl_connect(&c, path);
	}
	if (rc < 0) {
		explain_connect(path, rc);
		if (!strcmp(cmd, "metrics") && output) /* rtmemd_up 0 for the collector */
			run_metrics(&c, rc, output);
		if (c.fd >= 0)
			close(c.fd);
		return 1;
	}
	if (!strcmp(cmd, "metrics"))
		rc = run_metrics(&c, rc, output);
	else if (!strcmp(cmd, "status"))
		rc = cmd_status(&c, NULL);
	else if (!strcmp(cmd, "pools"))
		rc = cmd_pools(&c);
	else if (!strcmp(cmd, "memtest"))
		rc = cmd_memtest(&c);
	else if (!strcmp(cmd, "top"))
		rc = ctl_top(&c, delay, (unsigned)count);
	else
		rc = cmd_clients(&c);
	if (rc < 0)
		fprintf(stderr, "rtmemctl: %s: %s\n", path, strerror(-rc));
	if (c.fd >= 0)
		close(c.fd);
	return rc == 0 ? 0 : 1;
}
