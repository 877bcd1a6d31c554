/* SPDX-License-Identifier: MIT */
/*
 * cfg_keys.c - the keys of the [daemon] and [memtest] sections, one handler
 * each: a key is checked and stored as soon as it is read.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "cfg_int.h"

/* ---- [daemon] ---- */

static int key_socket(struct parser *p, char *v)
{
	if (*v != '/')
		return cfg_perr(p, v, EINVAL, "socket path \"%s\" is not absolute", v);
	if (strlen(v) >= CFG_SOCKET_MAX)
		return cfg_perr(p, v, EINVAL, "socket path is too long (%zu bytes, AF_UNIX allows %d)",
			    strlen(v), CFG_SOCKET_MAX - 1);
	strcpy(p->cfg->daemon.socket, v);
	return 0;
}

static int key_socket_mode(struct parser *p, char *v)
{
	char *end;
	unsigned long m;

	errno = 0;
	m = strtoul(v, &end, 8);
	if (!isdigit((unsigned char)*v) || *end || errno || m > 0777)
		return cfg_perr(p, v, EINVAL, "bad socket_mode \"%s\" (octal, at most 0777)", v);
	p->cfg->daemon.socket_mode = (uint32_t)m;
	return 0;
}

static int key_socket_group(struct parser *p, char *v)
{
	p->cfg->daemon.has_socket_group = true;
	return cfg_parse_id(p, v, "group", &p->cfg->daemon.socket_group);
}

static int key_user(struct parser *p, char *v)
{
	p->cfg->daemon.has_user = true;
	return cfg_parse_id(p, v, "user", &p->cfg->daemon.user);
}

static int key_group(struct parser *p, char *v)
{
	p->cfg->daemon.has_group = true;
	return cfg_parse_id(p, v, "group", &p->cfg->daemon.group);
}

static int key_state_dir(struct parser *p, char *v)
{
	if (*v != '/')
		return cfg_perr(p, v, EINVAL, "state_dir \"%s\" is not absolute", v);
	if (strlen(v) >= CFG_PATH_MAX)
		return cfg_perr(p, v, EINVAL, "state_dir is too long (at most %d bytes)", CFG_PATH_MAX - 1);
	strcpy(p->cfg->daemon.state_dir, v);
	return 0;
}

int cfg_log_level_parse(const char *s, int *ret)
{
	static const char *const names[] = { "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug" };

	for (int i = LOG_ERR; i <= LOG_DEBUG; i++) {
		if (!strcasecmp(s, names[i]) || (s[0] == '0' + i && !s[1]) ||
		    (i == LOG_ERR && !strcasecmp(s, "error")) || (i == LOG_WARNING && !strcasecmp(s, "warn"))) {
			*ret = i;
			return 0;
		}
	}
	return -EINVAL;
}

static int key_log_level(struct parser *p, char *v)
{
	if (cfg_log_level_parse(v, &p->cfg->daemon.log_level) < 0)
		return cfg_perr(p, v, EINVAL, "bad log_level \"%s\" (err, warning, notice, info or debug)", v);
	return 0;
}

static int key_monitor_socket(struct parser *p, char *v)
{
	if (!strcasecmp(v, "none")) {
		p->cfg->daemon.monitor_socket[0] = '\0';
		return 0;
	}
	if (*v != '/')
		return cfg_perr(p, v, EINVAL, "monitor_socket \"%s\" is not absolute (or \"none\")", v);
	if (strlen(v) >= CFG_SOCKET_MAX)
		return cfg_perr(p, v, EINVAL, "monitor_socket path is too long (%zu bytes, AF_UNIX allows %d)",
			    strlen(v), CFG_SOCKET_MAX - 1);
	strcpy(p->cfg->daemon.monitor_socket, v);
	return 0;
}

static int key_monitor_group(struct parser *p, char *v)
{
	p->cfg->daemon.has_monitor_group = true;
	return cfg_parse_id(p, v, "group", &p->cfg->daemon.monitor_group);
}

static int key_max_conn_uid(struct parser *p, char *v)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (!isdigit((unsigned char)*v) || *end || errno || n < 1 || n > CFG_MAX_CONNECTIONS)
		return cfg_perr(p, v, EINVAL, "bad max_connections_per_uid \"%s\" (1..%u)", v, CFG_MAX_CONNECTIONS);
	p->cfg->daemon.max_connections_per_uid = (uint32_t)n;
	return 0;
}

const struct keydef cfg_daemon_keys[] = {
	{ "socket", key_socket },
	{ "socket_mode", key_socket_mode },
	{ "socket_group", key_socket_group },
	{ "user", key_user },
	{ "group", key_group },
	{ "state_dir", key_state_dir },
	{ "log_level", key_log_level },
	{ "monitor_socket", key_monitor_socket },
	{ "monitor_group", key_monitor_group },
	{ "max_connections_per_uid", key_max_conn_uid },
	{ NULL, NULL },
};

/* ---- [memtest] ---- */

static int key_mt_enabled(struct parser *p, char *v)
{
	return cfg_parse_bool(p, v, &p->cfg->memtest.enabled);
}

static bool valid_algo(const char *s)
{
	if (strlen(s) >= CFG_ALGO_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(" _+-/", *s))
			return false;
	return true;
}

/* Names only: the tester's table decides which exist (see struct cfg_algo). */
static int key_mt_algorithms(struct parser *p, char *v)
{
	struct cfg_memtest *mt = &p->cfg->memtest;
	char *items[CFG_MAX_ALGOS];
	unsigned n = 0;
	int r = cfg_split_list(p, v, items, CFG_MAX_ALGOS, &n, "algorithms");

	for (unsigned i = 0; !r && i < n; i++) {
		if (!valid_algo(items[i]))
			return cfg_perr(p, items[i], EINVAL, "bad memory test name \"%s\" (at most %d of "
				    "A-Z a-z 0-9 space _ + - /)", items[i], CFG_ALGO_NAME_MAX - 1);
		strcpy(mt->algos[i].name, items[i]);
		mt->algos[i].line = p->lineno;
		mt->algos[i].col = (unsigned)(items[i] - p->line) + 1;
	}
	if (!r)
		mt->nalgos = n;
	return r;
}

static int key_mt_backgrounds(struct parser *p, char *v)
{
	struct cfg_memtest *mt = &p->cfg->memtest;
	char *items[CFG_MAX_BACKGROUNDS];
	unsigned n = 0;
	int r;

	if (!strcasecmp(v, "auto"))
		return mt->nbackgrounds = 0, 0;
	r = cfg_split_list(p, v, items, CFG_MAX_BACKGROUNDS, &n, "backgrounds");
	for (unsigned i = 0; !r && i < n; i++) {
		char *s = items[i], *end;

		errno = 0;
		if (strncasecmp(s, "0x", 2) || !isxdigit((unsigned char)s[2]))
			return cfg_perr(p, s, EINVAL, "bad background \"%s\" (a 64-bit hex pattern like "
				    "0x5555555555555555, or auto)", s);
		mt->backgrounds[i] = strtoull(s, &end, 16);
		if (errno == ERANGE)
			return cfg_perr(p, s, EOVERFLOW, "background \"%s\" overflows 64 bits", s);
		if (*end)
			return cfg_perr(p, end, EINVAL, "bad background \"%s\": unexpected \"%s\"", s, end);
	}
	if (!r)
		mt->nbackgrounds = n;
	return r;
}

static int key_mt_bandwidth(struct parser *p, char *v)
{
	int r = cfg_parse_size(p, v, "bandwidth", &p->cfg->memtest.bandwidth);

	if (!r && !p->cfg->memtest.bandwidth)
		return cfg_perr(p, v, EINVAL, "bandwidth is zero (set enabled = no to stop the tester)");
	return r;
}

/* A duration with a unit: ms, s, min, h or d. */
static int key_mt_period(struct parser *p, char *v)
{
	static const struct { const char *unit; uint64_t ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "min", 60000 }, { "h", 3600000 }, { "d", 86400000 },
	};
	char *u = v;
	uint64_t n = 0;
	int r;

	while (isdigit((unsigned char)*u))
		u++;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		char c = *u;

		if (u == v || strcmp(u, units[i].unit))
			continue;
		*u = '\0';
		r = cfg_parse_num(p, v, false, "period", &n);
		*u = c;
		if (r)
			return r;
		if (!n)
			return cfg_perr(p, v, EINVAL, "period is zero");
		if (n > UINT64_MAX / units[i].ms)
			return cfg_perr(p, v, EOVERFLOW, "period \"%s\" overflows", v);
		p->cfg->memtest.period_ms = n * units[i].ms;
		return 0;
	}
	return cfg_perr(p, v, EINVAL, "bad period \"%s\" (a number and a unit: ms, s, min, h or d)", v);
}

static int key_mt_policy(struct parser *p, char *v)
{
	int *pol = &p->cfg->memtest.policy;

	if (!strcasecmp(v, "idle"))
		*pol = SCHED_IDLE;
	else if (!strcasecmp(v, "batch"))
		*pol = SCHED_BATCH;
	else if (!strcasecmp(v, "other"))
		*pol = SCHED_OTHER;
	else
		return cfg_perr(p, v, EINVAL, "bad policy \"%s\" (use idle, batch or other)", v);
	return 0;
}

static int parse_cpu(struct parser *p, const char *s, uint64_t *ret)
{
	int r = cfg_parse_num(p, s, false, "cpu", ret);

	if (!r && *ret >= CPU_SETSIZE)
		return cfg_perr(p, s, EINVAL, "cpu %s is out of range (at most %d)", s, CPU_SETSIZE - 1);
	return r;
}

/* "0-1,3": CPU numbers and ranges. */
static int key_mt_cpus(struct parser *p, char *v)
{
	struct cfg_memtest *mt = &p->cfg->memtest;
	char *items[64];
	unsigned n = 0;
	int r = cfg_split_list(p, v, items, 64, &n, "cpus");

	CPU_ZERO(&mt->cpus);
	for (unsigned i = 0; !r && i < n; i++) {
		char *dash = strchr(items[i], '-');
		uint64_t a = 0, b = 0;

		if (dash)
			*dash = '\0';
		r = parse_cpu(p, items[i], &a);
		b = a;
		if (!r && dash)
			r = parse_cpu(p, dash + 1, &b);
		if (!r && b < a)
			return cfg_perr(p, items[i], EINVAL, "cpu range %" PRIu64 "-%" PRIu64
				    " goes backwards", a, b);
		for (uint64_t c = a; !r && c <= b; c++)
			CPU_SET((size_t)c, &mt->cpus);
	}
	mt->cpus_set = !r;
	return r;
}

const struct keydef cfg_memtest_keys[] = {
	{ "enabled", key_mt_enabled },
	{ "algorithms", key_mt_algorithms },
	{ "backgrounds", key_mt_backgrounds },
	{ "bandwidth", key_mt_bandwidth },
	{ "period", key_mt_period },
	{ "policy", key_mt_policy },
	{ "cpus", key_mt_cpus },
	{ NULL, NULL },
};
