/* SPDX-License-Identifier: MIT */
/*
 * fileio.h - the daemon's one reader of whole files: the configuration and
 * its drop-ins, the tester's bad-block list.
 *
 * One limit policy: the caller names the most bytes it accepts; a longer file
 * is refused (-EFBIG), never truncated. Library-style: nothing here logs.
 */
#ifndef RTMEMD_FILEIO_H
#define RTMEMD_FILEIO_H

#include <stddef.h>

#define FILEIO_WHY_MAX 96 /* room for any message fileio_read() writes */

/*
 * fileio_read() - read all of @path, at most @max bytes, into a malloc'd
 * buffer with a NUL after the last byte (the file may hold NULs of its own:
 * *ret_len is its length). On failure @why (@why_len bytes, may be NULL)
 * says what went wrong without the path: "cannot open: REASON", "cannot read:
 * REASON" or "file too large (at most MAX bytes)".
 * Context: setup or the tester thread; may block; allocates.
 * Return: 0 and *ret, *ret_len set; -EFBIG (more than @max bytes), -ENOMEM, or
 * -errno of open() or read() (-ENOENT, -EACCES, -EISDIR...). *ret and
 * *ret_len untouched on error.
 */
int fileio_read(const char *path, size_t max, char *why, size_t why_len, char **ret, size_t *ret_len);

#endif /* RTMEMD_FILEIO_H */
