/* SPDX-License-Identifier: MIT */
/*
 * cfg_pool.c - a [pool NAME] section: its keys, and at the section's end the
 * checks that need several keys (buddy orders, reserves) and the layout
 * itself (rg_region_layout()), each reported at the line of the key concerned.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg_int.h"
#include "size.h"

/* ---- [pool NAME] ---- */

/*
 * Does the allocator core refuse the first @n classes of @d? It decides what a
 * valid class is: rg_region_layout() of a pool of just those classes
 * (lib/core/region.c). Return: 0 (accepted) or its -errno.
 */
static int core_refuses(const struct rg_pool_desc *d, unsigned n)
{
	struct rg_pool_desc one = { .nclasses = n, .nslots = 1 };
	struct rg_footprint fp;

	memcpy(one.classes, d->classes, n * sizeof(d->classes[0]));
	return rg_region_layout(&one, &fp);
}

/*
 * Would the core refuse the class @size x @count with alignment @at (NULL:
 * its default)? Values that do not fit its description (32 bits) are refused
 * without asking; so is an alignment that is not a size (its error is
 * reported by explain_class()). *ret_align: the alignment written, 0 if none.
 */
static int class_refused(struct parser *p, uint64_t size, uint64_t count, const char *at, uint64_t *ret_align)
{
	struct rg_pool_desc d = { 0 };
	struct cfg_error *err = p->err;
	int r = 0;

	*ret_align = 0;
	if (at) {
		p->err = NULL; /* silent: explain_class() reports it in its turn */
		r = cfg_parse_size(p, at, "slab alignment", ret_align);
		p->err = err;
	}
	if (r || size > UINT32_MAX || count > UINT32_MAX || (at && !*ret_align) || *ret_align > UINT32_MAX)
		return -EINVAL; /* (an alignment of 0 would mean the core's default) */
	d.classes[0] = (struct rg_slab_desc){ .size = (uint32_t)size, .count = (uint32_t)count,
						 .align = (uint32_t)*ret_align };
	return core_refuses(&d, 1);
}

/*
 * Say why the core refused a class, at the column of the value concerned: its
 * rules, in words, checked in the order a reader fixes them. @refused: the
 * core's -errno. Return: the -errno of the explanation; 0 if none applies
 * and the core's objection is the class's footprint (EOVERFLOW), which the
 * pool's own layout check at the section's end reports.
 */
static int explain_class(struct parser *p, char *s, char *cnt, char *at, uint64_t size, uint64_t count,
			 int refused)
{
	uint64_t align;
	int r;

	if (!size)
		return cfg_perr(p, s, EINVAL, "slab size is zero");
	if (size > UINT32_MAX)
		return cfg_perr(p, s, EOVERFLOW, "slab size %s is too large (at most 4294967295 bytes; "
			    "use the buddy area)", s);
	if (!count)
		return cfg_perr(p, cnt, EINVAL, "slab count is zero in class %s", s);
	if (count > RG_MAX_BLOCKS)
		return cfg_perr(p, cnt, EOVERFLOW, "slab count %s is too large (at most %u)", cnt,
			    RG_MAX_BLOCKS);
	align = size & -size; /* the core's default: natural alignment, at most a page */
	if (align > 4096)
		align = 4096;
	if (at) {
		r = cfg_parse_size(p, at, "slab alignment", &align);
		if (r)
			return r;
		if (!cfg_is_pow2(align) || align < 8 || align > 4096)
			return cfg_perr(p, at, EINVAL, "slab alignment %s is not a power of two from 8 to 4096", at);
	}
	if (size % 8)
		return cfg_perr(p, s, EINVAL, "slab size %s is not a multiple of 8", s);
	if (size % align)
		return cfg_perr(p, s, EINVAL, "slab size %s is not a multiple of its alignment %" PRIu64,
			    s, align);
	if (refused == -EOVERFLOW)
		return 0;
	return cfg_perr(p, s, -refused, "slab class %s is refused by the allocator (%s)", s,
			strerrordesc_np(-refused));
}

/* SIZExCOUNT[@ALIGN] */
static int parse_class(struct parser *p, char *s, struct rg_slab_desc *c)
{
	char *x = strchr(s, 'x'), *at;
	uint64_t size = 0, count = 0, align;
	int r;

	if (!x)
		return cfg_perr(p, s, EINVAL, "slab class \"%s\" is not SIZExCOUNT[@ALIGN]", s);
	*x = '\0';
	at = strchr(x + 1, '@');
	if (at)
		*at++ = '\0';
	r = cfg_parse_size(p, s, "slab size", &size);
	if (!r)
		r = cfg_parse_num(p, x + 1, true, "slab count", &count);
	if (r)
		return r;
	r = class_refused(p, size, count, at, &align);
	if (r) {
		r = explain_class(p, s, x + 1, at, size, count, r);
		if (r)
			return r;
	}
	if (!align) { /* written down as the core will use it: the core's default */
		align = size & -size;
		if (align > 4096)
			align = 4096;
	}
	c->size = (uint32_t)size;
	c->count = (uint32_t)count;
	c->align = (uint32_t)align;
	c->reserve = 0;
	return 0;
}

static int key_slab(struct parser *p, char *v)
{
	struct rg_pool_desc *d = &p->pool->desc;
	char *items[RG_MAX_CLASSES];
	unsigned n = 0;
	int r = cfg_split_list(p, v, items, RG_MAX_CLASSES, &n, "slab classes");

	if (r == -E2BIG)
		return cfg_perr(p, v, E2BIG, "too many slab classes (at most %u)", RG_MAX_CLASSES);
	for (unsigned i = 0; !r && i < n; i++) {
		r = parse_class(p, items[i], &d->classes[i]);
		/* the core takes equal sizes as stripes; here each size is one class (slab_stripes) */
		if (!r && i && d->classes[i].size <= d->classes[i - 1].size)
			return cfg_perr(p, items[i], EINVAL, "slab class sizes are not strictly increasing: "
				    "%" PRIu32 " after %" PRIu32, d->classes[i].size, d->classes[i - 1].size);
	}
	if (!r)
		d->nclasses = n;
	return r;
}

static int key_slab_policy(struct parser *p, char *v)
{
	if (!strcasecmp(v, "exact"))
		p->pool->desc.policy = RG_POLICY_EXACT;
	else if (!strcasecmp(v, "next-fit"))
		p->pool->desc.policy = RG_POLICY_NEXT_FIT;
	else
		return cfg_perr(p, v, EINVAL, "bad slab_policy \"%s\" (use exact or next-fit)", v);
	return 0;
}

static int key_buddy(struct parser *p, char *v)
{
	int r = cfg_parse_size(p, v, "buddy size", &p->pool->desc.buddy.size);

	if (!r && !p->pool->desc.buddy.size)
		return cfg_perr(p, v, EINVAL, "buddy size is zero (leave the key out for no buddy area)");
	return r;
}

static int parse_order(struct parser *p, char *v, const char *what, uint64_t *ret)
{
	char a[SIZE_FMT_MAX], b[SIZE_FMT_MAX];
	int r = cfg_parse_size(p, v, what, ret);

	if (r)
		return r;
	if (!cfg_is_pow2(*ret))
		return cfg_perr(p, v, EINVAL, "%s %s is not a power of two", what, v);
	if (*ret < (1ull << RG_MIN_ORDER) || *ret > (1ull << RG_MAX_ORDER))
		return cfg_perr(p, v, EINVAL, "%s %s is out of range (%s to %s)", what, v,
			    size_fmt(1ull << RG_MIN_ORDER, SIZE_CONFIG, a), size_fmt(1ull << RG_MAX_ORDER, SIZE_CONFIG, b));
	return 0;
}

static int key_buddy_min(struct parser *p, char *v)
{
	return parse_order(p, v, "buddy_min", &p->buddy_min);
}

static int key_buddy_max(struct parser *p, char *v)
{
	return parse_order(p, v, "buddy_max", &p->buddy_max);
}

static int key_buddy_arena(struct parser *p, char *v)
{
	return parse_order(p, v, "buddy_arena", &p->buddy_arena);
}

static int key_hugepages(struct parser *p, char *v)
{
	return cfg_parse_bool(p, v, &p->pool->hugepages);
}

static int key_users(struct parser *p, char *v)
{
	return cfg_parse_ids(p, v, "user", &p->pool->users);
}

static int key_groups(struct parser *p, char *v)
{
	return cfg_parse_ids(p, v, "group", &p->pool->groups);
}

static int key_quota(struct parser *p, char *v)
{
	return cfg_parse_size(p, v, "quota", &p->pool->quota);
}

static int key_max_clients(struct parser *p, char *v)
{
	uint64_t n = 0;
	int r = cfg_parse_num(p, v, false, "max_clients", &n);

	if (!r && (n < 1 || n > 65535))
		return cfg_perr(p, v, EINVAL, "max_clients %s is out of range (1 to 65535)", v);
	if (!r)
		p->pool->desc.nslots = (uint32_t)n;
	return r;
}

static int key_thread_cache(struct parser *p, char *v)
{
	uint64_t n = 0;
	int r = cfg_parse_num(p, v, false, "thread_cache", &n);

	if (!r && n > RG_CACHE_MAX)
		return cfg_perr(p, v, EINVAL, "thread_cache %s is out of range (0 to %u)", v, RG_CACHE_MAX);
	if (!r)
		p->pool->desc.cache = (uint32_t)n;
	return r;
}

static int key_slab_stripes(struct parser *p, char *v)
{
	uint64_t n = 0;
	int r = cfg_parse_num(p, v, false, "slab_stripes", &n);

	if (!r && (n < 1 || n > RG_MAX_STRIPES))
		return cfg_perr(p, v, EINVAL, "slab_stripes %s is out of range (1 to %u)", v, RG_MAX_STRIPES);
	if (!r)
		p->pool->stripes = (uint32_t)n;
	return r;
}

/* SIZExBLOCKS entries, matched to the classes when the section ends. */
static int key_reserve_slab(struct parser *p, char *v)
{
	char *items[RG_MAX_CLASSES];
	unsigned n = 0;
	int r = cfg_split_list(p, v, items, RG_MAX_CLASSES, &n, "reserve_slab");

	for (unsigned i = 0; !r && i < n; i++) {
		char *x = strchr(items[i], 'x');

		if (!x)
			return cfg_perr(p, items[i], EINVAL, "reserve_slab entry \"%s\" is not SIZExBLOCKS", items[i]);
		*x = '\0';
		p->rsv[i].col = (unsigned)(items[i] - p->line) + 1;
		r = cfg_parse_size(p, items[i], "reserve_slab size", &p->rsv[i].size);
		if (!r)
			r = cfg_parse_num(p, x + 1, true, "reserve_slab blocks", &p->rsv[i].count);
	}
	if (!r)
		p->nrsv = n;
	return r;
}

static int key_reserve_buddy(struct parser *p, char *v)
{
	return cfg_parse_size(p, v, "reserve_buddy", &p->pool->desc.buddy.reserve);
}

static int key_reserve_users(struct parser *p, char *v)
{
	return cfg_parse_ids(p, v, "user", &p->pool->reserve_users);
}

static int key_reserve_groups(struct parser *p, char *v)
{
	return cfg_parse_ids(p, v, "group", &p->pool->reserve_groups);
}

enum {
	K_SLAB, K_SLAB_POLICY, K_BUDDY, K_BUDDY_MIN, K_BUDDY_MAX, K_HUGEPAGES, K_USERS,
	K_GROUPS, K_QUOTA, K_MAX_CLIENTS, K_RSV_SLAB, K_RSV_BUDDY, K_RSV_USERS, K_RSV_GROUPS,
	K_THREAD_CACHE, K_SLAB_STRIPES, K_BUDDY_ARENA,
};

static const struct keydef pool_keys[] = {
	[K_SLAB] = { "slab", key_slab },
	[K_SLAB_POLICY] = { "slab_policy", key_slab_policy },
	[K_BUDDY] = { "buddy", key_buddy },
	[K_BUDDY_MIN] = { "buddy_min", key_buddy_min },
	[K_BUDDY_MAX] = { "buddy_max", key_buddy_max },
	[K_HUGEPAGES] = { "hugepages", key_hugepages },
	[K_USERS] = { "users", key_users },
	[K_GROUPS] = { "groups", key_groups },
	[K_QUOTA] = { "quota", key_quota },
	[K_MAX_CLIENTS] = { "max_clients", key_max_clients },
	[K_RSV_SLAB] = { "reserve_slab", key_reserve_slab },
	[K_RSV_BUDDY] = { "reserve_buddy", key_reserve_buddy },
	[K_RSV_USERS] = { "reserve_users", key_reserve_users },
	[K_RSV_GROUPS] = { "reserve_groups", key_reserve_groups },
	[K_THREAD_CACHE] = { "thread_cache", key_thread_cache },
	[K_SLAB_STRIPES] = { "slab_stripes", key_slab_stripes },
	[K_BUDDY_ARENA] = { "buddy_arena", key_buddy_arena },
	{ NULL, NULL },
};
static_assert(sizeof(pool_keys) / sizeof(pool_keys[0]) <= KEYS_MAX, "seen[] too small");

/* buddy_arena = SIZE: the area in arenas that clients lease whole (lib/core/arena.c). */
static int pool_arena_check(struct parser *p, uint64_t min, uint64_t max)
{
	struct rg_buddy_desc *b = &p->pool->desc.buddy;
	uint64_t a = p->buddy_arena;
	unsigned line = p->seen[K_BUDDY_ARENA];
	char s1[SIZE_FMT_MAX], s2[SIZE_FMT_MAX];

	if (a < max)
		return cfg_perr_lc(p, line, 0, EINVAL, "buddy_arena %s is smaller than buddy_max %s (a block "
			       "never spans two arenas)", size_fmt(a, SIZE_CONFIG, s1), size_fmt(max, SIZE_CONFIG, s2));
	if (a > min << RG_ARENA_SPAN)
		return cfg_perr_lc(p, line, 0, EINVAL, "buddy_arena %s is more than 2^%u times buddy_min %s",
			       size_fmt(a, SIZE_CONFIG, s1), RG_ARENA_SPAN, size_fmt(min, SIZE_CONFIG, s2));
	if (b->size % a)
		return cfg_perr_lc(p, line, 0, EINVAL, "buddy size %s is not a multiple of buddy_arena %s",
			       size_fmt(b->size, SIZE_CONFIG, s1), size_fmt(a, SIZE_CONFIG, s2));
	if (b->size / a > RG_ARENA_COUNT)
		return cfg_perr_lc(p, line, 0, EINVAL, "buddy size %s makes more than %u arenas of %s",
			       size_fmt(b->size, SIZE_CONFIG, s1), RG_ARENA_COUNT, size_fmt(a, SIZE_CONFIG, s2));
	b->arena_order = cfg_log2u64(a);
	return 0;
}

static int pool_buddy_check(struct parser *p)
{
	struct rg_buddy_desc *b = &p->pool->desc.buddy;
	const unsigned *seen = p->seen;
	uint64_t min, max;
	char s1[SIZE_FMT_MAX], s2[SIZE_FMT_MAX];

	if (!b->size) {
		if (seen[K_BUDDY_MIN] || seen[K_BUDDY_MAX] || seen[K_BUDDY_ARENA])
			return cfg_perr_lc(p, seen[K_BUDDY_MIN] ? seen[K_BUDDY_MIN] : seen[K_BUDDY_MAX] ? seen[K_BUDDY_MAX] : seen[K_BUDDY_ARENA], 0,
				       EINVAL, "buddy_min/buddy_max/buddy_arena given but the pool has no buddy area "
				       "(buddy = SIZE)");
		if (seen[K_RSV_BUDDY])
			return cfg_perr_lc(p, seen[K_RSV_BUDDY], 0, EINVAL,
				       "reserve_buddy given but the pool has no buddy area");
		return 0;
	}
	min = seen[K_BUDDY_MIN] ? p->buddy_min : CFG_DEFAULT_BUDDY_MIN;
	max = seen[K_BUDDY_MAX] ? p->buddy_max : 1ull << cfg_log2u64(b->size);
	if (!seen[K_BUDDY_MAX] && b->size >= min && max > min << CFG_BUDDY_MAX_SPAN)
		max = min << CFG_BUDDY_MAX_SPAN;
	if (!seen[K_BUDDY_MAX] && seen[K_BUDDY_ARENA] && max > p->buddy_arena)
		max = p->buddy_arena;
	if (b->size < min)
		return cfg_perr_lc(p, seen[K_BUDDY], 0, EINVAL, "buddy size %s is smaller than buddy_min %s",
			       size_fmt(b->size, SIZE_CONFIG, s1), size_fmt(min, SIZE_CONFIG, s2));
	if (min > max)
		return cfg_perr_lc(p, seen[K_BUDDY_MAX], 0, EINVAL, "buddy_min %s is larger than buddy_max %s",
			       size_fmt(min, SIZE_CONFIG, s1), size_fmt(max, SIZE_CONFIG, s2));
	if (b->size < max)
		return cfg_perr_lc(p, seen[K_BUDDY], 0, EINVAL, "buddy size %s is smaller than its largest "
			       "block (buddy_max %s)", size_fmt(b->size, SIZE_CONFIG, s1), size_fmt(max, SIZE_CONFIG, s2));
	if (b->size % min)
		return cfg_perr_lc(p, seen[K_BUDDY], 0, EINVAL, "buddy size %s is not a multiple of "
			       "buddy_min %s", size_fmt(b->size, SIZE_CONFIG, s1), size_fmt(min, SIZE_CONFIG, s2));
	if (cfg_log2u64(max) - cfg_log2u64(min) > CFG_BUDDY_MAX_SPAN)
		return cfg_perr_lc(p, seen[K_BUDDY_MAX] ? seen[K_BUDDY_MAX] : seen[K_BUDDY], 0, EINVAL,
			       "buddy_max %s is more than 2^%u times buddy_min %s", size_fmt(max, SIZE_CONFIG, s1),
			       CFG_BUDDY_MAX_SPAN, size_fmt(min, SIZE_CONFIG, s2));
	if (b->reserve >= b->size)
		return cfg_perr_lc(p, seen[K_RSV_BUDDY], 0, EINVAL, "reserve_buddy %s leaves nothing of "
			       "the buddy area (%s) for other clients", size_fmt(b->reserve, SIZE_CONFIG, s1),
			       size_fmt(b->size, SIZE_CONFIG, s2));
	b->min_order = cfg_log2u64(min);
	b->max_order = cfg_log2u64(max);
	return seen[K_BUDDY_ARENA] ? pool_arena_check(p, min, max) : 0;
}

static int pool_reserve_check(struct parser *p)
{
	struct cfg_pool *pl = p->pool;
	struct rg_pool_desc *d = &pl->desc;
	unsigned rline = p->seen[K_RSV_SLAB], gline;
	bool reserve = d->buddy.reserve != 0;
	char s1[SIZE_FMT_MAX];

	for (unsigned i = 0; i < p->nrsv; i++) {
		const struct rsv_ent *e = &p->rsv[i];
		unsigned c;

		for (c = 0; c < d->nclasses && d->classes[c].size != e->size; c++)
			;
		if (c == d->nclasses)
			return cfg_perr_lc(p, rline, e->col, EINVAL, "reserve_slab: the pool has no slab "
				       "class of size %s", size_fmt(e->size, SIZE_CONFIG, s1));
		for (unsigned j = 0; j < i; j++)
			if (p->rsv[j].size == e->size)
				return cfg_perr_lc(p, rline, e->col, EINVAL, "reserve_slab names class %s twice",
					       size_fmt(e->size, SIZE_CONFIG, s1));
		if (e->count >= d->classes[c].count)
			return cfg_perr_lc(p, rline, e->col, EINVAL, "reserve_slab: %" PRIu64 " blocks leave "
				       "nothing of the %" PRIu32 " blocks of class %s for other clients",
				       e->count, d->classes[c].count, size_fmt(e->size, SIZE_CONFIG, s1));
		d->classes[c].reserve = (uint32_t)e->count;
		reserve |= e->count != 0;
	}
	gline = p->seen[K_RSV_USERS] ? p->seen[K_RSV_USERS] : p->seen[K_RSV_GROUPS];
	if (reserve && !gline)
		return cfg_perr_lc(p, rline ? rline : p->seen[K_RSV_BUDDY], 0, EINVAL, "pool \"%s\" has a "
			       "reserve but grants it to no one (reserve_users, reserve_groups)", pl->name);
	if (!reserve && gline)
		return cfg_perr_lc(p, gline, 0, EINVAL, "reserve_users/reserve_groups given but pool \"%s\" "
			       "has no reserve (reserve_slab, reserve_buddy)", pl->name);
	return 0;
}

/* Each configured class becomes S core classes of its size (region.h,
 * "Striped classes"), its blocks and reserve dealt out among them. */
static int pool_stripe(struct parser *p)
{
	struct rg_pool_desc *d = &p->pool->desc;
	uint32_t s = p->pool->stripes, n = d->nclasses;
	unsigned line = p->seen[K_SLAB_STRIPES];
	char s1[SIZE_FMT_MAX];

	if (s <= 1)
		return 0;
	if (n == 0)
		return cfg_perr_lc(p, line, 0, EINVAL, "slab_stripes %" PRIu32 " in a pool without slab classes", s);
	if (n * s > RG_MAX_CLASSES)
		return cfg_perr_lc(p, line, 0, EINVAL, "slab_stripes %" PRIu32 " with %" PRIu32 " slab classes "
			       "makes %" PRIu32 " stripes (at most %u)", s, n, n * s, RG_MAX_CLASSES);
	for (uint32_t c = n; c-- > 0;) {
		const struct rg_slab_desc k = d->classes[c];

		if (k.count < s)
			return cfg_perr_lc(p, line, 0, EINVAL, "slab class %s has %" PRIu32 " blocks, fewer "
				       "than its %" PRIu32 " stripes", size_fmt(k.size, SIZE_CONFIG, s1), k.count, s);
		for (uint32_t i = 0; i < s; i++) { /* the load fails on an error: a half-done desc is dropped */
			struct rg_slab_desc *t = &d->classes[c * s + i];

			*t = k;
			t->count = k.count / s + (i < k.count % s);
			t->reserve = k.reserve / s + (i < k.reserve % s);
			if (t->reserve && t->reserve >= t->count)
				return cfg_perr_lc(p, p->seen[K_RSV_SLAB], 0, EINVAL, "reserve_slab: %" PRIu32
					       " blocks of class %s over %" PRIu32 " stripes leave stripe %" PRIu32
					       " nothing for other clients", k.reserve,
					       size_fmt(k.size, SIZE_CONFIG, s1), s, i);
		}
	}
	d->nclasses = n * s;
	return 0;
}

int cfg_close_pool(struct parser *p)
{
	struct cfg_pool *pl = p->pool;
	struct rg_footprint fp;
	int r;

	if (!pl->desc.nclasses && !p->seen[K_BUDDY])
		return cfg_perr_lc(p, pl->line, 0, EINVAL, "pool \"%s\" has neither slab classes (slab = ...) "
			       "nor a buddy area (buddy = ...)", pl->name);
	r = pool_buddy_check(p);
	if (!r)
		r = pool_reserve_check(p);
	if (!r)
		r = pool_stripe(p);
	if (r)
		return r;
	r = rg_region_layout(&pl->desc, &fp);
	if (r == -EOVERFLOW)
		return cfg_perr_lc(p, pl->line, 0, EOVERFLOW, "pool \"%s\" is too large: its footprint "
			       "overflows 64 bits or a class has too many blocks", pl->name);
	if (r)
		return cfg_perr_lc(p, pl->line, 0, EINVAL, "pool \"%s\": the allocator rejects this layout (%s)",
			       pl->name, strerrordesc_np(-r));
	return 0;
}


static bool valid_pool_name(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= CFG_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return false;
	return true;
}

int cfg_open_pool(struct parser *p, char *name)
{
	struct cfg *cfg = p->cfg;
	struct cfg_pool *pl;

	if (!valid_pool_name(name))
		return cfg_perr(p, name, EINVAL, "bad pool name \"%s\" (1 to %d characters of A-Z a-z 0-9 _ -)",
			    name, CFG_NAME_MAX - 1);
	for (unsigned i = 0; i < cfg->npools; i++)
		if (!strcmp(cfg->pools[i].name, name))
			return strcmp(cfg->pools[i].file, p->name)
				       ? cfg_perr(p, name, EINVAL, "duplicate pool \"%s\" (first at %s:%u; a pool is "
					      "written whole in one file)", name, cfg->pools[i].file, cfg->pools[i].line)
				       : cfg_perr(p, name, EINVAL, "duplicate pool \"%s\" (first at line %u)", name,
					      cfg->pools[i].line);
	if (cfg->npools == CFG_MAX_POOLS)
		return cfg_perr(p, name, E2BIG, "too many pools (at most %d)", CFG_MAX_POOLS);
	if (!(cfg->npools & (cfg->npools - 1))) { /* 0, 1, 2, 4...: grow to double */
		size_t n = cfg->npools ? 2u * cfg->npools : 1u;
		struct cfg_pool *np = realloc(cfg->pools, n * sizeof(*np));

		if (!np)
			return cfg_perr(p, NULL, ENOMEM, "out of memory");
		cfg->pools = np;
	}
	pl = &cfg->pools[cfg->npools++];
	memset(pl, 0, sizeof(*pl));
	strcpy(pl->name, name);
	pl->line = p->lineno;
	snprintf(pl->file, sizeof(pl->file), "%s", p->name);
	pl->desc.policy = RG_POLICY_NEXT_FIT;
	pl->desc.nslots = CFG_DEFAULT_MAX_CLIENTS;
	pl->desc.cache = CFG_DEFAULT_THREAD_CACHE;
	pl->stripes = 1;
	p->pool = pl;
	p->sec = SEC_POOL;
	p->keys = pool_keys;
	return 0;
}
