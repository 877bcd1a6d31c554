/* SPDX-License-Identifier: MIT */
/*
 * audit.c - see audit.h. Owns nothing: works on a struct pool it is given.
 *
 * Holes: lseek(SEEK_DATA) from each offset finds the next allocated byte;
 * what lies between is a hole. A hole is allocated again (fallocate), then
 * faulted in, written, through the daemon's mapping (rg_populate_write(),
 * which changes no byte a client's concurrent store could lose) and locked
 * (mlock). Clients fault
 * the page in again on their next touch: that one fault is the damage the
 * puncher did to them, and it is reported.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <syslog.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "audit.h"
#include "notify.h"

static int refault(struct pool *p, uint64_t off, uint64_t len)
{
	char *a = (char *)p->mem + off;
	int rc;

	if (fallocate(p->memfd, 0, (off_t)off, (off_t)len) < 0)
		return -errno;
	rc = rg_populate_write(a, len, p->page);
	if (rc < 0)
		return rc;
	if (mlock(a, len) < 0)
		return -errno;
	return 0;
}

static void find_holes(struct pool *p, struct audit_found *f)
{
	uint64_t off = 0, size = p->size;

	while (off < size) {
		off_t data = lseek(p->memfd, (off_t)off, SEEK_DATA);
		off_t hole;

		if (data < 0 && errno != ENXIO)
			return; /* no SEEK_DATA here (hugetlbfs before 6.x): nothing to learn */
		if (data < 0 || (uint64_t)data > size)
			data = (off_t)size;
		if ((uint64_t)data > off) {
			int rc = refault(p, off, (uint64_t)data - off);

			if (!(f->found & AUDIT_HOLE))
				f->hole_first = off;
			f->found |= AUDIT_HOLE;
			f->hole_bytes += (uint64_t)data - off;
			if (rc < 0 && !f->refault_err)
				f->refault_err = rc;
		}
		if ((uint64_t)data >= size)
			return;
		hole = lseek(p->memfd, data, SEEK_HOLE);
		if (hole < 0 || hole <= data)
			return;
		off = (uint64_t)hole;
	}
}

int audit_pool(struct pool *p, struct audit_found *ret)
{
	int n;

	memset(ret, 0, sizeof(*ret));
	if (p->region) {
		n = rg_region_desc_repair(p->region, &p->cfg->desc);
		if (n > 0) {
			ret->found |= AUDIT_HEADER;
			ret->header_fields = n;
		}
	}
	if (p->memfd >= 0 && p->mem != MAP_FAILED)
		find_holes(p, ret);
	return 0;
}

const char *audit_words(uint32_t bits, char *buf, unsigned len)
{
	static const char *const words[] = { "header rewritten", "hole re-faulted", "free list corrupt" };
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < 3; i++)
		if (bits & (1u << i))
			n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s", n ? ", " : "", words[i]);
	return buf;
}

void audit_report(const char *name, const struct audit_found *f)
{
	char words[96], msg[320];

	audit_words(f->found, words, sizeof(words));
	snprintf(msg, sizeof(msg),
		 "pool \"%s\" damaged: %s (%d header fields rewritten from the daemon's copy; %llu bytes punched "
		 "out from offset %llu, now allocated, faulted and locked again%s%s; their data is lost)",
		 name, words, f->header_fields, (unsigned long long)f->hole_bytes, (unsigned long long)f->hole_first,
		 f->refault_err ? ", but: " : "", f->refault_err ? strerror(-f->refault_err) : "");
	if (notify_stderr_is_journal())
		sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", LOG_ERR, "RTMEMD_POOL=%s", name, "RTMEMD_DAMAGE=%s",
				words, "RTMEMD_HEADER_FIELDS=%d", f->header_fields, "RTMEMD_HOLE_BYTES=%llu",
				(unsigned long long)f->hole_bytes, "RTMEMD_HOLE_OFFSET=%llu",
				(unsigned long long)f->hole_first, NULL);
	else
		log_err("%s", msg);
}
