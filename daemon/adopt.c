/* SPDX-License-Identifier: MIT */
/*
 * adopt.c - slot records a restarted daemon can trust (see adopt.h): the
 * key memfd, SipHash-2-4 tags, and the kernel's word on whether a recorded
 * client still lives.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "adopt.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define KEY_MAGIC 0x3159454b444d5452ull /* "RTMDKEY1" little-endian */

static inline uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

/* One SipHash round over the four state words. */
static inline void sip_round(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = rotl(v[1], 13) ^ v[0];
	v[0] = rotl(v[0], 32);
	v[2] += v[3];
	v[3] = rotl(v[3], 16) ^ v[2];
	v[0] += v[3];
	v[3] = rotl(v[3], 21) ^ v[0];
	v[2] += v[1];
	v[1] = rotl(v[1], 17) ^ v[2];
	v[2] = rotl(v[2], 32);
}

/* SipHash-2-4 of @n 64-bit words (a whole number of words: the length byte is n * 8). */
static uint64_t siphash_words(const struct adopt_key *key, const uint64_t *m, unsigned n)
{
	uint64_t v[4] = { key->k[0] ^ 0x736f6d6570736575ull, key->k[1] ^ 0x646f72616e646f6dull,
			  key->k[0] ^ 0x6c7967656e657261ull, key->k[1] ^ 0x7465646279746573ull };
	uint64_t last = (uint64_t)(n * 8u & 0xffu) << 56;

	for (unsigned i = 0; i <= n; i++) {
		uint64_t w = i < n ? m[i] : last;

		v[3] ^= w;
		sip_round(v);
		sip_round(v);
		v[0] ^= w;
	}
	v[2] ^= 0xff;
	for (int i = 0; i < 4; i++)
		sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static uint64_t record_tag(const struct adopt_key *key, uint32_t slot, const struct rg_slot_record *rec)
{
	static const struct adopt_key zero;
	uint64_t m[4] = { slot, rec->owner, rec->pid, rec->start_time };

	return siphash_words(key ? key : &zero, m, 4);
}

int adopt_key_make(struct adopt_key *ret, int *ret_fd)
{
	uint64_t buf[3] = { KEY_MAGIC };
	int fd, rc;

	if (getrandom(&buf[1], 16, 0) != 16)
		return -errno;
	fd = memfd_create("rtmemd:key", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (pwrite(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		rc = errno ? -errno : -EIO;
		close(fd);
		return rc;
	}
	ret->k[0] = buf[1];
	ret->k[1] = buf[2];
	*ret_fd = fd;
	return 0;
}

int adopt_key_read(int fd, struct adopt_key *ret)
{
	uint64_t buf[3];
	ssize_t n = pread(fd, buf, sizeof(buf), 0);

	if (n < 0)
		return -errno;
	if (n != (ssize_t)sizeof(buf) || buf[0] != KEY_MAGIC)
		return -EBADMSG;
	ret->k[0] = buf[1];
	ret->k[1] = buf[2];
	return 0;
}

int adopt_proc_start_time(pid_t pid, uint64_t *ret)
{
	char path[40], buf[1024], *p;
	unsigned long long v;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -ESRCH;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold spaces and ')' */
	if (!p)
		return -EBADMSG;
	/* after ")": field 3 (state) ... field 22 (starttime): skip 19 fields */
	p++;
	for (int f = 0; f < 19; f++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -EBADMSG;
	}
	if (sscanf(p, " %llu", &v) != 1)
		return -EBADMSG;
	*ret = v;
	return 0;
}

int adopt_record_set(struct rg_region *r, const struct adopt_key *key, uint32_t slot, uint32_t gen, pid_t pid)
{
	struct rg_slot_record rec = { .owner = rg_owner(slot, gen), .pid = (uint64_t)pid };

	if (adopt_proc_start_time(pid, &rec.start_time) < 0)
		rec.start_time = 0;
	rec.flags = record_tag(key, slot, &rec);
	return rg_region_slot_set(r, slot, &rec);
}

int adopt_record_clear(struct rg_region *r, uint32_t slot)
{
	static const struct rg_slot_record zero;

	return rg_region_slot_set(r, slot, &zero);
}

bool adopt_record_trusted(const struct adopt_key *key, uint32_t slot, const struct rg_slot_record *rec)
{
	return rec->owner == rg_owner(slot, (uint32_t)(rec->owner >> 32)) && (rec->owner >> 32) != 0 &&
	       rec->pid > 0 && rec->pid <= 0x7fffffffu && rec->flags == record_tag(key, slot, rec);
}

int adopt_holder_alive(const struct rg_slot_record *rec, int *ret_pidfd, const char **why)
{
	struct pollfd pfd = { .events = POLLIN };
	uint64_t start;
	long fd = syscall(SYS_pidfd_open, (pid_t)rec->pid, 0);
	int rc;

	if (fd < 0) {
		*why = errno == ESRCH ? "exited" : "no pidfd for it";
		return 0;
	}
	rc = adopt_proc_start_time((pid_t)rec->pid, &start);
	if (rc == 0 && rec->start_time && start != rec->start_time) {
		*why = "exited, its pid now names another process";
		goto out_gone;
	}
	if (rc < 0 && rc != -EACCES && rc != -EPERM) {
		*why = "exited";
		goto out_gone;
	}
	pfd.fd = (int)fd;
	if (poll(&pfd, 1, 0) != 0) { /* exited after the read: the pid may be anyone's now */
		*why = "exited";
		goto out_gone;
	}
	*ret_pidfd = (int)fd;
	*why = rc == 0 && rec->start_time ? "alive" : "alive (start time unknown: pid only)";
	return 1;
out_gone:
	close((int)fd);
	return 0;
}
