/* SPDX-License-Identifier: MIT */
/*
 * daemon_fixture.h - start a real rtmemd on a temporary config and socket,
 * and stop it, for the integration tests. RTMEMD_PATH is the daemon binary
 * (a compile definition); RTMEM_EVENT_LOOP in the environment picks the
 * event loop the daemon is told to use (io_uring, the default, or epoll).
 */
#ifndef RTMEM_TEST_DAEMON_FIXTURE_H
#define RTMEM_TEST_DAEMON_FIXTURE_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct daemon {
	pid_t pid;
	char dir[64];
	char conf[96];
	char sock[96];
	char log[96];
};

/* Write @text as the config, start rtmemd, wait for its socket.
 * Return: 0, or -1 (the daemon's log is printed). */
/* The daemon's log so far, NUL-terminated, in a static buffer. */
static inline const char *daemon_log(const struct daemon *d)
{
	static char buf[65536];
	FILE *f = fopen(d->log, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
	return buf;
}

/* Run shell command @cmd; its output (up to @len - 1 bytes, NUL-terminated)
 * in @out, its exit status in *@ret_rc (-1 if it did not exit). Return: @out. */
static inline const char *fixture_run(const char *cmd, char *out, size_t len, int *ret_rc)
{
	FILE *p = popen(cmd, "r");
	size_t n = p ? fread(out, 1, len - 1, p) : 0;
	int st = p ? pclose(p) : -1;

	out[n] = '\0';
	*ret_rc = p && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return out;
}

static inline int daemon_start(struct daemon *d, const char *text)
{
	const char *loop = getenv("RTMEM_EVENT_LOOP");
	char looparg[64];
	FILE *f;

	memset(d, 0, sizeof(*d));
	strcpy(d->dir, "/tmp/rtmemd-test.XXXXXX");
	if (!mkdtemp(d->dir))
		return -1;
	chmod(d->dir, 0755);
	snprintf(d->conf, sizeof(d->conf), "%s/rtmemd.conf", d->dir);
	snprintf(d->sock, sizeof(d->sock), "%s/rtmemd.sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/rtmemd.log", d->dir);
	snprintf(looparg, sizeof(looparg), "--event-loop=%s", loop && *loop ? loop : "io_uring");
	f = fopen(d->conf, "w");
	if (!f)
		return -1;
	fputs(text, f);
	fclose(f);
	d->pid = fork();
	if (d->pid == 0) {
		if (!freopen(d->log, "w", stderr))
			_exit(126);
#ifdef RTMEM_EMULATOR /* cross build: run the daemon under qemu-user too */
		execl(RTMEM_EMULATOR, RTMEM_EMULATOR, "-L", RTMEM_SYSROOT, RTMEMD_PATH, "-c", d->conf, "-s", d->sock,
		      looparg, (char *)NULL);
#else
		execl(RTMEMD_PATH, "rtmemd", "-c", d->conf, "-s", d->sock, looparg, (char *)NULL);
#endif
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int status, fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		bool up;

		/* the socket file exists from bind(); it serves from listen() on */
		strcpy(sa.sun_path, d->sock);
		up = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		if (fd >= 0)
			close(fd);
		/* connect() succeeds from listen() on, a little before the
		 * daemon logs "ready" (and its event loop): wait for both */
		if (up && strstr(daemon_log(d), "ready: "))
			return 0;
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			break;
		}
		usleep(25000);
	}
	fprintf(stderr, "rtmemd did not come up; its log:\n");
	f = fopen(d->log, "r");
	for (int ch; f && (ch = fgetc(f)) != EOF;)
		fputc(ch, stderr);
	if (f)
		fclose(f);
	return -1;
}

/* SIGTERM the daemon and reap it. Return: its exit status, or -1. */
static inline int daemon_stop(struct daemon *d)
{
	int st = -1;

	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		if (waitpid(d->pid, &st, 0) != d->pid)
			st = -1;
		d->pid = 0;
	}
	unlink(d->conf);
	unlink(d->log);
	unlink(d->sock);
	rmdir(d->dir);
	return st;
}

#endif
