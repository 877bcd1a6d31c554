/* SPDX-License-Identifier: MIT */
/*
 * fileio.c - read a whole file (see fileio.h). Owns nothing past the call.
 *
 * The buffer doubles from 4 KiB and never grows past @max + 2 bytes: room to
 * see one byte too many, and the NUL.
 */
#include "fileio.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((format(printf, 3, 4)))
static void say(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !why_len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

/* Make room for one more byte and the NUL. Return: 0, -ENOMEM. */
static int grow(char **buf, size_t *cap, size_t len, size_t max)
{
	size_t ncap = *cap ? 2 * *cap : 4096;
	char *nb;

	if (len + 1 < *cap)
		return 0;
	if (ncap > max + 2)
		ncap = max + 2;
	nb = realloc(*buf, ncap);
	if (!nb)
		return -ENOMEM;
	*buf = nb;
	*cap = ncap;
	return 0;
}

int fileio_read(const char *path, size_t max, char *why, size_t why_len, char **ret, size_t *ret_len)
{
	size_t len = 0, cap = 0;
	char *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), rc = 0;

	if (fd < 0) {
		rc = -errno;
		say(why, why_len, "cannot open: %s", strerrordesc_np(-rc));
		return rc;
	}
	for (;;) {
		ssize_t n;

		rc = grow(&buf, &cap, len, max);
		if (rc)
			break;
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = -errno;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len > max) {
			rc = -EFBIG;
			break;
		}
	}
	close(fd);
	if (rc == -EFBIG)
		say(why, why_len, "file too large (at most %zu bytes)", max);
	else if (rc)
		say(why, why_len, "cannot read: %s", strerrordesc_np(-rc));
	if (rc) {
		free(buf);
		return rc;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}
