/* SPDX-License-Identifier: MIT */
/*
 * cfg_ids.c - users and groups in the configuration: parsed by name or
 * number, resolved through the user and group databases (cfg_resolve()),
 * and matched against a peer's credentials (cfg_pool_may_open/reserve()).
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg_int.h"

/* ---- users and groups ---- */

static bool valid_idname(const char *s)
{
	if (!*s || *s == '-' || strlen(s) >= CFG_IDNAME_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_.-$", *s))
			return false;
	return true;
}

/* One user or group: a name, or a decimal id. */
int cfg_parse_id(struct parser *p, char *s, const char *what, struct cfg_id *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->line = p->lineno;
	ret->col = (unsigned)(s - p->line) + 1;
	ret->id = CFG_ID_NONE;
	if (isdigit((unsigned char)*s)) {
		uint64_t v = 0;
		int r = cfg_parse_num(p, s, false, what, &v);

		if (r)
			return r;
		if (v >= CFG_ID_NONE)
			return cfg_perr(p, s, EOVERFLOW, "%s id %s is out of range", what, s);
		ret->id = (uint32_t)v;
		return 0;
	}
	if (!valid_idname(s))
		return cfg_perr(p, s, EINVAL, "bad %s name \"%s\"", what, s);
	strcpy(ret->name, s);
	return 0;
}

int cfg_parse_ids(struct parser *p, char *v, const char *what, struct cfg_ids *ret)
{
	char *items[CFG_MAX_IDS];
	unsigned n = 0;
	int r = cfg_split_list(p, v, items, CFG_MAX_IDS, &n, what);

	for (unsigned i = 0; !r && i < n; i++)
		r = cfg_parse_id(p, items[i], what, &ret->v[i]);
	if (!r)
		ret->n = n;
	return r;
}

/*
 * Look up a user (@user) or group by name. Return 0 with *ret_id (and the
 * user's primary group in *ret_gid), -ESRCH if unknown, -ENOMEM, -errno.
 */
static int lookup(const char *name, bool user, uint32_t *ret_id, uint32_t *ret_gid)
{
	long sz = sysconf(user ? _SC_GETPW_R_SIZE_MAX : _SC_GETGR_R_SIZE_MAX);
	size_t len = sz < 1024 ? 16384 : (size_t)sz;

	for (;;) {
		char *buf = malloc(len);
		struct passwd pw, *pwr = NULL;
		struct group gr, *grr = NULL;
		int r;

		if (!buf)
			return -ENOMEM;
		if (user)
			r = getpwnam_r(name, &pw, buf, len, &pwr);
		else
			r = getgrnam_r(name, &gr, buf, len, &grr);
		free(buf);
		if (r == ERANGE && len < (1u << 20)) {
			len *= 2;
			continue;
		}
		if (!r && pwr) {
			*ret_id = pwr->pw_uid;
			*ret_gid = pwr->pw_gid;
			return 0;
		}
		if (!r && grr) {
			*ret_id = grr->gr_gid;
			return 0;
		}
		if (!r || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM)
			return -ESRCH;
		return -r;
	}
}

static int resolve_one(struct cfg *cfg, struct cfg_id *id, bool user, uint32_t *ret_gid,
		       struct cfg_error *err)
{
	uint32_t gid = CFG_ID_NONE;
	int r;

	if (!id->name[0] || id->id != CFG_ID_NONE)
		return 0;
	r = lookup(id->name, user, &id->id, &gid);
	if (r == -ESRCH)
		return cfg_seterr(err, cfg->source, id->line, id->col, ESRCH, "unknown %s \"%s\"",
			      user ? "user" : "group", id->name);
	if (r)
		return cfg_seterr(err, cfg->source, id->line, id->col, -r, "cannot look up %s \"%s\": %s",
			      user ? "user" : "group", id->name, strerrordesc_np(-r));
	if (ret_gid)
		*ret_gid = gid;
	return 0;
}

static int resolve_list(struct cfg *cfg, struct cfg_ids *ids, bool user, struct cfg_error *err)
{
	int r = 0;

	for (unsigned i = 0; !r && i < ids->n; i++)
		r = resolve_one(cfg, &ids->v[i], user, NULL, err);
	return r;
}

int cfg_resolve(struct cfg *cfg, struct cfg_error *err)
{
	struct cfg_daemon *d = &cfg->daemon;
	uint32_t gid = CFG_ID_NONE;
	int r = 0;

	if (d->has_socket_group)
		r = resolve_one(cfg, &d->socket_group, false, NULL, err);
	if (!r && d->has_monitor_group)
		r = resolve_one(cfg, &d->monitor_group, false, NULL, err);
	if (!r && d->has_user)
		r = resolve_one(cfg, &d->user, true, &gid, err);
	if (!r && d->has_group)
		r = resolve_one(cfg, &d->group, false, NULL, err);
	else if (!r && d->has_user && d->group.id == CFG_ID_NONE)
		d->group.id = gid; /* the user's primary group (CFG_ID_NONE if numeric uid) */
	for (unsigned i = 0; !r && i < cfg->npools; i++) {
		struct cfg_pool *pl = &cfg->pools[i];

		r = resolve_list(cfg, &pl->users, true, err);
		if (!r)
			r = resolve_list(cfg, &pl->groups, false, err);
		if (!r)
			r = resolve_list(cfg, &pl->reserve_users, true, err);
		if (!r)
			r = resolve_list(cfg, &pl->reserve_groups, false, err);
	}
	if (!r)
		cfg->resolved = true;
	return r;
}

/* ---- access ---- */

static bool ids_match(const struct cfg_ids *users, const struct cfg_ids *groups, uint32_t uid,
		      const uint32_t *gids, size_t ngids)
{
	for (unsigned i = 0; i < users->n; i++)
		if (users->v[i].id == uid && uid != CFG_ID_NONE)
			return true;
	for (unsigned i = 0; i < groups->n; i++)
		for (size_t j = 0; j < ngids; j++)
			if (groups->v[i].id == gids[j] && gids[j] != CFG_ID_NONE)
				return true;
	return false;
}

bool cfg_pool_may_open(const struct cfg_pool *pool, uint32_t uid, const uint32_t *gids, size_t ngids)
{
	return uid == 0 || ids_match(&pool->users, &pool->groups, uid, gids, ngids);
}

bool cfg_pool_may_reserve(const struct cfg_pool *pool, uint32_t uid, const uint32_t *gids, size_t ngids)
{
	return ids_match(&pool->reserve_users, &pool->reserve_groups, uid, gids, ngids);
}
