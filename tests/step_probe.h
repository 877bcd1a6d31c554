/* SPDX-License-Identifier: MIT */
/* step_probe.h - can a child be single-stepped here? (test_kill, test_kill_arena) */
#ifndef RTMEM_TEST_STEP_PROBE_H
#define RTMEM_TEST_STEP_PROBE_H

#include <signal.h>
#include <stdbool.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

/* Not under qemu-user, whose ptrace would trace the emulator (it refuses
 * PTRACE_TRACEME). */
static inline bool can_step(void)
{
	int st;
	pid_t pid = fork();

	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
			_exit(5);
		raise(SIGSTOP);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return false;
	if (!WIFSTOPPED(st))
		return false;
	st = ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) == 0;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return st;
}

#endif
