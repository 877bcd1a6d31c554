/* SPDX-License-Identifier: MIT */
/*
 * adopt.h - what lets a restarted rtmemd take over the pools of the daemon
 * before it, under running clients (docs/lifecycle.md).
 *
 * Slot records: when the daemon grants a client slot it writes the slot's
 * record in the region (owner, pid, process start time, and a tag). The tag
 * is a keyed hash (SipHash-2-4) of the slot number and the other three
 * words under a 128-bit key that only the daemon knows: it lives in a small
 * memfd that goes to systemd's fd store with the pools and is never given to
 * a client. A client can write its slot's record (the region is mapped
 * writable), but it cannot forge a record that names another process: the
 * tag would not match, and the slot's blocks are reclaimed.
 *
 * A record is believed only when its tag matches, its owner names its own
 * slot, and the kernel agrees: pidfd_open(pid) works, /proc/PID/stat gives
 * the same start time, and the pidfd was not readable (exited) after that
 * read, so the pid was not reused between the two.
 *
 * Owns: nothing; the caller owns the key and any pidfd returned.
 */
#ifndef RTMEMD_ADOPT_H
#define RTMEMD_ADOPT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "region.h"

struct adopt_key {
	uint64_t k[2];
};

/*
 * adopt_key_make() - a fresh random key in a sealed memfd (*ret_fd, for the
 * fd store). Context: setup. Return: 0, -errno of getrandom/memfd/write.
 */
int adopt_key_make(struct adopt_key *ret, int *ret_fd);

/*
 * adopt_key_read() - the key kept in memfd @fd by adopt_key_make().
 * Context: setup. Return: 0, -EBADMSG (not a key memfd), -errno of pread.
 */
int adopt_key_read(int fd, struct adopt_key *ret);

/*
 * adopt_proc_start_time() - @pid's start time in clock ticks after boot,
 * field 22 of /proc/PID/stat. Context: not RT; reads one file.
 * Return: 0, -ESRCH (no such process), -EBADMSG (unparsable), -errno.
 */
int adopt_proc_start_time(pid_t pid, uint64_t *ret);

/*
 * adopt_record_set() - write the record of @slot (granted with @gen to the
 * process @pid) into @r, tagged with @key. A start time that cannot be read
 * is recorded as 0 (then only the pid is checked on re-adoption).
 * adopt_record_clear() - the slot is free again.
 * Context: loop thread, not RT. Return: 0, -EINVAL (slot out of range).
 */
int adopt_record_set(struct rg_region *r, const struct adopt_key *key, uint32_t slot, uint32_t gen, pid_t pid);
int adopt_record_clear(struct rg_region *r, uint32_t slot);

/*
 * adopt_record_trusted() - is @rec (read from slot @slot) one this daemon's
 * key wrote: tag right, owner of slot @slot with a generation, pid sane?
 * Context: any, pure.
 */
bool adopt_record_trusted(const struct adopt_key *key, uint32_t slot, const struct rg_slot_record *rec);

/*
 * adopt_holder_alive() - is the process that @rec names still the one that
 * held the slot? On yes, *ret_pidfd is a pidfd of it (the caller's).
 * Context: not RT. Return: 1 alive, 0 gone (or the pid was reused); *why
 * says which in words.
 */
int adopt_holder_alive(const struct rg_slot_record *rec, int *ret_pidfd, const char **why);

#endif /* RTMEMD_ADOPT_H */
