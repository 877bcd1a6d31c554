/* SPDX-License-Identifier: MIT */
/*
 * memtest_bad.c - the bad-block list, state_dir/badblocks: one line per
 * faulty word (fault_format_record()). A fault appends its line and the whole
 * file is rewritten atomically (tmp, fsync, rename, fsync of the directory);
 * at start every entry is quarantined again, by physical address when the
 * pools' addresses are known, else by pool name and offset. Malformed lines
 * are kept in the file, skipped and counted.
 */
#include "memtest_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "fault.h"
#include "fileio.h"

#define FILE_MAX (16u << 20)       /* bad-block list, bytes */
#define BAD_HEADER "# rtmemd bad blocks: POOL OFFSET [key=value...], one faulty word a line\n"

/* ------------------------------------------------------ bad-block file */

static int text_append(struct memtest *mt, const char *s)
{
	size_t n = strlen(s), hdr = mt->len ? 0 : strlen(BAD_HEADER);
	char *t = realloc(mt->text, mt->len + hdr + n + 1);

	if (!t)
		return -ENOMEM;
	if (hdr)
		memcpy(t, BAD_HEADER, hdr);
	memcpy(t + mt->len + hdr, s, n + 1);
	mt->text = t;
	mt->len += hdr + n;
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Replace the file with mt->text: tmp file, fsync, rename, fsync the directory. */
static int store(struct memtest *mt)
{
	char tmp[CFG_PATH_MAX + 32];
	int fd, rc;

	snprintf(tmp, sizeof(tmp), "%s.tmp", mt->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, mt->text, mt->len);
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, mt->path) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return rc;
	}
	fd = open(mt->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
}

int mt_bad_persist(struct memtest *mt, const struct memtest_fault *f)
{
	char line[MT_LINE_MAX];
	int rc;

	if (!mt->path)
		return 0;
	fault_format_record(f, line, sizeof(line));
	pthread_mutex_lock(&mt->file_lock);
	rc = text_append(mt, line);
	if (!rc)
		rc = store(mt);
	pthread_mutex_unlock(&mt->file_lock);
	return rc;
}

/* ------------------------------------------------- loading the bad blocks */

static bool parse_u64(const char *s, uint64_t *ret)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*ret = strtoull(s, &end, 0);
	return !errno && !*end;
}

/* Quarantine one entry. Return: 1 quarantined, 0 nothing to do, -1 malformed. */
static int load_entry(struct memtest *mt, char *line, unsigned lineno)
{
	char *save = NULL, *pool = strtok_r(line, " \t\r", &save), *off = strtok_r(NULL, " \t\r", &save), *kv;
	bool have_phys = false, any_phys = false;
	uint64_t o, phys = 0;
	int rc = -ENOENT;
	unsigned pi;

	if (!pool || *pool == '#')
		return 0;
	if (!off || !parse_u64(off, &o)) {
		mt_emit(mt, NULL, "%s:%u: malformed entry (expected POOL OFFSET [phys=ADDR ...]), skipped",
		     mt->path, lineno);
		return -1;
	}
	while ((kv = strtok_r(NULL, " \t\r", &save)))
		if (strncmp(kv, "phys=", 5) == 0 && strcmp(kv + 5, "none") != 0) {
			if (!parse_u64(kv + 5, &phys)) {
				mt_emit(mt, NULL, "%s:%u: malformed physical address \"%s\", skipped", mt->path,
				     lineno, kv + 5);
				return -1;
			}
			have_phys = true;
		}
	for (pi = 0; pi < mt->npools; pi++)
		any_phys |= memtest_phys_available(mt->pools[pi].phys);
	if (have_phys && any_phys) { /* the cell is physical: find where it is now */
		for (pi = 0; pi < mt->npools; pi++)
			if (memtest_phys_reverse(mt->pools[pi].phys, phys, &o))
				break;
		if (pi == mt->npools)
			return 0; /* in none of the pools' memory this time */
	} else {
		for (pi = 0; pi < mt->npools && strcmp(mt->pools[pi].name, pool) != 0; pi++)
			;
		if (pi == mt->npools) {
			mt_emit(mt, NULL, "%s:%u: no pool \"%s\" now, entry kept", mt->path, lineno, pool);
			return 0;
		}
	}
	rc = rg_region_mark_bad(mt->pools[pi].r, o);
	if (rc == 0)
		return 1;
	if (rc != -EALREADY)
		mt_emit(mt, NULL, "%s:%u: pool \"%s\" offset %#" PRIx64 ": cannot quarantine: %s", mt->path, lineno,
		     mt->pools[pi].name, o, strerror(-rc));
	return 0;
}

int memtest_load_badblocks(struct memtest *mt, unsigned *ret_malformed)
{
	char *text = NULL, *line, *next;
	unsigned lineno = 0, bad = 0;
	size_t len = 0;
	int rc, n = 0;

	if (!mt->path)
		return 0;
	pthread_mutex_lock(&mt->file_lock);
	rc = fileio_read(mt->path, FILE_MAX, NULL, 0, &text, &len);
	if (rc == -ENOENT)
		rc = 0;
	if (rc || !text)
		goto out;
	free(mt->text); /* the file is kept as it is, malformed lines included */
	mt->text = strdup(text);
	mt->len = mt->text ? len : 0;
	for (line = text; line && *line; line = next) {
		char buf[MT_LINE_MAX];
		size_t l;

		next = strchr(line, '\n');
		l = next ? (size_t)(next - line) : strlen(line);
		if (next)
			next++;
		lineno++;
		if (l >= sizeof(buf)) {
			mt_emit(mt, NULL, "%s:%u: line longer than %u bytes, skipped", mt->path, lineno, MT_LINE_MAX - 1);
			bad++;
			continue;
		}
		memcpy(buf, line, l);
		buf[l] = 0;
		rc = load_entry(mt, buf, lineno);
		if (rc < 0)
			bad++;
		else
			n += rc;
	}
	rc = n;
out:
	pthread_mutex_unlock(&mt->file_lock);
	free(text);
	if (ret_malformed)
		*ret_malformed = bad;
	return rc;
}
