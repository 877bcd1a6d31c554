/* SPDX-License-Identifier: MIT */
/*
 * icount.c - count the instructions of single function calls by
 * single-stepping a forked child with ptrace (see icount.h for what a count
 * is).
 *
 * Owns: the shared control page between icount_run() (the tracer, parent) and
 * the driver (the tracee, child), and the step loop.
 *
 * Protocol: the child calls PTRACE_TRACEME and runs the driver. icount_arm()
 * writes the entry address and tag to the control page and stops the child
 * with SIGSTOP. The parent sees the signal-delivery-stop, suppresses the
 * SIGSTOP and single-steps to the entry, reads the return address and the
 * caller's stack pointer there, and steps until both are back. Then it
 * continues the child at full speed. The child's exit ends the run.
 *
 * arm64: a single step is an exception, and the return from it clears the
 * exclusive monitor, so a STXR after a stepped LDXR always fails and an LL/SC
 * loop would spin forever. At a load-exclusive the parent decodes forward to
 * the store-exclusive (at most IC_SEQ_MAX instructions), sets BRK breakpoints
 * after it and at the target of each conditional branch leaving the sequence,
 * continues, and from the breakpoint hit knows exactly which instructions ran.
 * A sequence it cannot delimit that way is -ENOTSUP, never a guess.
 */
#include <elf.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "icount.h"

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "icount: only x86-64 and arm64"
#endif

#define IC_ENTRY_LIMIT 1000000ull /* steps from icount_arm() to the entry */
#define IC_CALL_LIMIT 20000000ull /* steps inside one counted call */
#define IC_SEQ_MAX 16u            /* arm64: longest LL/SC sequence decoded */

/* The control page, shared between parent and child (MAP_SHARED). */
struct ic_shared {
	uint64_t fn;   /* entry address armed by the child */
	uint32_t tag;  /* tag of that call */
	int trace_err; /* errno of PTRACE_TRACEME in the child, 0 if it worked */
	int driver_rc; /* the driver's return value */
};

static struct ic_shared *ic_sh; /* set in the child only while the driver runs */
static char ic_why_buf[256];
static FILE *ic_trace_file;     /* icount_set_trace(): PC of every counted instruction */

void icount_set_trace(FILE *f)
{
	ic_trace_file = f;
}

static void ic_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void ic_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ic_why_buf, sizeof(ic_why_buf), fmt, ap);
	va_end(ap);
}

const char *icount_why(void)
{
	return ic_why_buf;
}

void icount_arm(unsigned tag, const void *fn)
{
	if (!ic_sh)
		return;
	ic_sh->fn = (uint64_t)(uintptr_t)fn;
	ic_sh->tag = tag;
	syscall(SYS_tgkill, getpid(), gettid(), SIGSTOP);
}

struct ic_regs {
	uint64_t pc, sp, lr;
};

static int ic_getregs(pid_t pid, struct ic_regs *r)
{
	struct user_regs_struct u;
	struct iovec io = { .iov_base = &u, .iov_len = sizeof(u) };

	if (ptrace(PTRACE_GETREGSET, pid, (void *)(uintptr_t)NT_PRSTATUS, &io) < 0)
		return -errno;
#ifdef __x86_64__
	r->pc = u.rip;
	r->sp = u.rsp;
	r->lr = 0;
#else
	r->pc = u.pc;
	r->sp = u.sp;
	r->lr = u.regs[30];
#endif
	return 0;
}

static int ic_peek64(pid_t pid, uint64_t addr, uint64_t *ret)
{
	long w;

	errno = 0;
	w = ptrace(PTRACE_PEEKDATA, pid, (void *)(uintptr_t)addr, NULL);
	if (w == -1 && errno)
		return -errno;
	*ret = (uint64_t)w;
	return 0;
}

/*
 * Wait for the child's next stop. Return: 0 with the stop signal in *ret_sig,
 * -ECHILD if it exited or was killed, -errno from waitpid.
 */
static int ic_wait(pid_t pid, int *ret_sig)
{
	int st;

	if (waitpid(pid, &st, __WALL) < 0)
		return -errno;
	if (!WIFSTOPPED(st)) {
		ic_fail("the traced child %s %d unexpectedly", WIFEXITED(st) ? "exited with" : "died of signal",
			WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		return -ECHILD;
	}
	*ret_sig = WSTOPSIG(st);
	return 0;
}

/* Execute one instruction; a signal that stopped the child is delivered with the next step. */
static int ic_singlestep(pid_t pid, int *pending)
{
	int sig = 0, rc;

	for (;;) {
		if (ptrace(PTRACE_SINGLESTEP, pid, NULL, (void *)(uintptr_t)*pending) < 0)
			return -errno;
		*pending = 0;
		rc = ic_wait(pid, &sig);
		if (rc < 0)
			return rc;
		if (sig == SIGTRAP)
			return 0;
		*pending = sig; /* not ours: deliver it, then step again */
	}
}

#ifdef __aarch64__
#define A64_BRK 0xd4200000u

static int ic_peek32(pid_t pid, uint64_t addr, uint32_t *ret)
{
	uint64_t w = 0;
	int rc = ic_peek64(pid, addr & ~7ull, &w);

	if (rc == 0)
		*ret = (uint32_t)(w >> (8 * (addr & 4)));
	return rc;
}

static int ic_poke32(pid_t pid, uint64_t addr, uint32_t v)
{
	uint64_t w = 0;
	unsigned shift = 8 * (unsigned)(addr & 4);
	int rc = ic_peek64(pid, addr & ~7ull, &w);

	if (rc < 0)
		return rc;
	w = (w & ~(0xffffffffull << shift)) | ((uint64_t)v << shift);
	if (ptrace(PTRACE_POKEDATA, pid, (void *)(uintptr_t)(addr & ~7ull), (void *)(uintptr_t)w) < 0)
		return -errno;
	return 0;
}

static bool a64_load_excl(uint32_t i)
{
	return (i & 0x3fc00000u) == 0x08400000u; /* LDXR, LDAXR, LDXP, LDAXP (any size) */
}

static bool a64_store_excl(uint32_t i)
{
	return (i & 0x3fc00000u) == 0x08000000u; /* STXR, STLXR, STXP, STLXP */
}

static int64_t sext(uint32_t v, unsigned bits)
{
	return (int64_t)((uint64_t)v << (64 - bits)) >> (64 - bits);
}

/* Conditional branch? Return: true with its byte offset in *ret_off. */
static bool a64_cond_branch(uint32_t i, int64_t *ret_off)
{
	if ((i & 0xff000010u) == 0x54000000u || /* B.cond */
	    (i & 0x7e000000u) == 0x34000000u) { /* CBZ, CBNZ */
		*ret_off = sext((i >> 5) & 0x7ffffu, 19) * 4;
		return true;
	}
	if ((i & 0x7e000000u) == 0x36000000u) { /* TBZ, TBNZ */
		*ret_off = sext((i >> 5) & 0x3fffu, 14) * 4;
		return true;
	}
	return false;
}

static bool a64_other_branch(uint32_t i)
{
	return (i & 0x7c000000u) == 0x14000000u || /* B, BL */
	       (i & 0xfe000000u) == 0xd6000000u;   /* BR, BLR, RET, ERET */
}

struct ic_exit {
	uint64_t addr; /* breakpoint address */
	uint64_t n;    /* instructions executed when it is hit */
	uint32_t orig; /* instruction under the breakpoint */
};

/*
 * Delimit the LL/SC sequence at @a: exits are the instruction after the
 * store-exclusive (all of it ran) and each conditional branch target outside
 * the sequence. Return: number of exits, or -ENOTSUP.
 */
static int a64_seq_exits(pid_t pid, uint64_t a, struct ic_exit *ex, unsigned max)
{
	uint32_t code[IC_SEQ_MAX];
	unsigned e = 0, nex = 0;
	int rc;

	for (unsigned i = 0; i < IC_SEQ_MAX && !e; i++) {
		rc = ic_peek32(pid, a + 4 * i, &code[i]);
		if (rc < 0)
			return rc;
		if (i && a64_store_excl(code[i]))
			e = i;
	}
	if (!e) {
		ic_fail("arm64: no store-exclusive within %u instructions of the load-exclusive at %#llx", IC_SEQ_MAX,
			(unsigned long long)a);
		return -ENOTSUP;
	}
	ex[nex++] = (struct ic_exit){ .addr = a + 4 * (e + 1), .n = e + 1 };
	for (unsigned i = 1; i < e; i++) {
		int64_t off;
		uint64_t t;

		if (a64_other_branch(code[i]) || a64_load_excl(code[i]))
			goto unsupported;
		if (!a64_cond_branch(code[i], &off))
			continue;
		t = a + 4 * i + (uint64_t)off;
		if (t >= a && t <= a + 4 * e)
			goto unsupported; /* a loop inside the sequence */
		for (unsigned j = 0; j < nex; j++)
			if (ex[j].addr == t)
				goto unsupported; /* two paths to one exit: cannot tell them apart */
		if (nex == max)
			goto unsupported;
		ex[nex++] = (struct ic_exit){ .addr = t, .n = i + 1 };
	}
	return (int)nex;
unsupported:
	ic_fail("arm64: the LL/SC sequence at %#llx has branches icount cannot attribute", (unsigned long long)a);
	return -ENOTSUP;
}

/* Run the LL/SC sequence at @a at full speed between breakpoints. Return: instructions run, or -errno. */
static int64_t a64_run_seq(pid_t pid, uint64_t a, int *pending)
{
	struct ic_exit ex[IC_SEQ_MAX];
	struct ic_regs r;
	int n = a64_seq_exits(pid, a, ex, IC_SEQ_MAX), set = 0, rc = 0, sig = 0;
	int64_t ran = -ENOTSUP;

	if (n < 0)
		return n;
	for (; set < n; set++) {
		rc = ic_peek32(pid, ex[set].addr, &ex[set].orig);
		if (rc == 0)
			rc = ic_poke32(pid, ex[set].addr, A64_BRK);
		if (rc < 0)
			goto out_restore;
	}
	for (;;) {
		if (ptrace(PTRACE_CONT, pid, NULL, (void *)(uintptr_t)*pending) < 0) {
			rc = -errno;
			goto out_restore;
		}
		*pending = 0;
		rc = ic_wait(pid, &sig);
		if (rc < 0)
			return rc; /* the child is gone: nothing to restore */
		if (sig == SIGTRAP)
			break;
		*pending = sig;
	}
	rc = ic_getregs(pid, &r);
	if (rc < 0)
		goto out_restore;
	for (int i = 0; i < n; i++)
		if (ex[i].addr == r.pc)
			ran = (int64_t)ex[i].n;
	if (ran < 0)
		ic_fail("arm64: the LL/SC sequence at %#llx stopped at %#llx, not at one of its exits",
			(unsigned long long)a, (unsigned long long)r.pc);
out_restore:
	while (set-- > 0) {
		int e = ic_poke32(pid, ex[set].addr, ex[set].orig);

		if (e < 0 && rc == 0)
			rc = e;
	}
	return rc < 0 ? rc : ran;
}
#endif /* __aarch64__ */

/*
 * One instruction (arm64: or one whole LL/SC sequence). Return: the number of
 * instructions it counts for (x86-64: 0 for a REP iteration that did not
 * finish the instruction), or -errno. *r is updated.
 */
static int64_t ic_step(pid_t pid, struct ic_regs *r, int *pending)
{
	uint64_t pc = r->pc;
	int rc;

#ifdef __aarch64__
	uint32_t insn;

	rc = ic_peek32(pid, pc, &insn);
	if (rc < 0)
		return rc;
	if (a64_load_excl(insn)) {
		int64_t n = a64_run_seq(pid, pc, pending);

		if (n < 0)
			return n;
		rc = ic_getregs(pid, r);
		return rc < 0 ? rc : n;
	}
#endif
	rc = ic_singlestep(pid, pending);
	if (rc == 0)
		rc = ic_getregs(pid, r);
	if (rc < 0)
		return rc;
#ifdef __x86_64__
	if (r->pc == pc)
		return 0; /* REP string instruction: one more iteration */
#endif
	return 1;
}

/* The child stopped in icount_arm(): step to @fn, count its call. Return: instructions, or -errno. */
static int64_t ic_count_call(pid_t pid, uint64_t fn)
{
	struct ic_regs r = { 0 }; /* gcc -O3 cannot see ic_getregs() fill it */
	uint64_t ret_pc = 0, ret_sp, steps = 0, n = 0;
	int pending = 0;
	int64_t d;
	int rc = ic_getregs(pid, &r);

	if (rc < 0)
		return rc;
	while (r.pc != fn) {
		if (++steps > IC_ENTRY_LIMIT) {
			ic_fail("%#llx was not called within %llu instructions of icount_arm()",
				(unsigned long long)fn, IC_ENTRY_LIMIT);
			return -E2BIG;
		}
		d = ic_step(pid, &r, &pending);
		if (d < 0)
			return d;
	}
#ifdef __x86_64__
	rc = ic_peek64(pid, r.sp, &ret_pc);
	if (rc < 0)
		return rc;
	ret_sp = r.sp + 8;
#else
	ret_pc = r.lr;
	ret_sp = r.sp;
#endif
	while (r.pc != ret_pc || r.sp != ret_sp) {
		if (ic_trace_file)
			fprintf(ic_trace_file, "%#llx\n", (unsigned long long)r.pc);
		d = ic_step(pid, &r, &pending);
		if (d < 0)
			return d;
		n += (uint64_t)d;
		if (n > IC_CALL_LIMIT) {
			ic_fail("the call of %#llx ran past %llu instructions", (unsigned long long)fn, IC_CALL_LIMIT);
			return -E2BIG;
		}
	}
	if (ic_trace_file)
		fprintf(ic_trace_file, "end %#llx %llu\n", (unsigned long long)fn, (unsigned long long)n);
	if (pending)
		ic_fail("signal %d arrived during a counted call and was dropped", pending);
	return (int64_t)n;
}

static int ic_trace(pid_t pid, struct ic_shared *sh, struct icount_stats *ret, unsigned ntags)
{
	bool first = true;
	int sig, rc, st;

	for (;;) {
		if (waitpid(pid, &st, __WALL) < 0)
			return -errno;
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			if (sh->trace_err) {
				ic_fail("ptrace(PTRACE_TRACEME): %s%s", strerror(sh->trace_err),
					sh->trace_err == ENOSYS ? " (qemu-user does not implement ptrace)" : "");
				return -sh->trace_err;
			}
			if (WIFSIGNALED(st)) {
				ic_fail("the driver died of signal %d", WTERMSIG(st));
				return -ECHILD;
			}
			if (sh->driver_rc)
				ic_fail("the driver failed: %d", sh->driver_rc);
			return sh->driver_rc;
		}
		sig = WSTOPSIG(st);
		if (first) {
			first = false;
			ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(uintptr_t)PTRACE_O_EXITKILL);
		}
		if (sig == SIGSTOP) {
			int64_t n;
			struct icount_stats *s;

			if (sh->tag >= ntags) {
				ic_fail("icount_arm(): tag %u out of range (%u tags)", sh->tag, ntags);
				return -E2BIG;
			}
			n = ic_count_call(pid, sh->fn);
			if (n < 0)
				return (int)n;
			s = &ret[sh->tag];
			s->calls++;
			s->sum += (uint64_t)n;
			if ((uint64_t)n > s->max)
				s->max = (uint64_t)n;
			if ((uint64_t)n < s->min)
				s->min = (uint64_t)n;
			sig = 0;
		}
		rc = (int)ptrace(PTRACE_CONT, pid, NULL, (void *)(uintptr_t)sig);
		if (rc < 0)
			return -errno;
	}
}

int icount_run(icount_driver_fn driver, void *arg, struct icount_stats *ret, unsigned ntags)
{
	struct ic_shared *sh;
	cpu_set_t mask;
	bool have_mask;
	pid_t pid;
	int rc, cpu;

	ic_why_buf[0] = '\0';
	for (unsigned t = 0; t < ntags; t++)
		ret[t] = (struct icount_stats){ .min = UINT64_MAX };
	/* qemu-user hands PTRACE_TRACEME to the host kernel, which then traces
	 * the emulator itself, not the guest: the child hangs on the emulator's
	 * own signals. Refuse instead. */
	if (icount_emulated(ic_why_buf, sizeof(ic_why_buf)))
		return -ENOSYS;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return -errno;
	memset(sh, 0, sizeof(*sh));
	/* Tracer and tracee on one CPU: each step is a wake-up of the other, and
	 * a cross-CPU wake-up costs an IPI. The caller's affinity is restored. */
	have_mask = sched_getaffinity(0, sizeof(mask), &mask) == 0;
	cpu = sched_getcpu();
	if (have_mask && cpu >= 0) {
		cpu_set_t one;

		CPU_ZERO(&one);
		CPU_SET((size_t)cpu, &one);
		sched_setaffinity(0, sizeof(one), &one);
	}
	fflush(NULL); /* no buffered output duplicated in the child */
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		goto out_unmap;
	}
	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0) {
			sh->trace_err = errno;
			_exit(127);
		}
		ic_sh = sh;
		sh->driver_rc = driver(arg);
		_exit(0);
	}
	rc = ic_trace(pid, sh, ret, ntags);
	if (rc < 0 && rc != -ECHILD && !sh->trace_err) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, __WALL);
	}
out_unmap:
	if (have_mask)
		sched_setaffinity(0, sizeof(mask), &mask);
	munmap(sh, sizeof(*sh));
	return rc;
}

bool icount_emulated(char *why, size_t len)
{
	char line[256];
	bool emulated = false;
	FILE *f = fopen("/proc/cpuinfo", "re");

	if (len)
		why[0] = '\0';
	if (!f)
		return false;
	while (!emulated && fgets(line, sizeof(line), f)) {
#ifdef __aarch64__
		/* x86 kernels print vendor_id; arm64 kernels print CPU implementer. */
		emulated = !strncmp(line, "vendor_id", 9);
#else
		emulated = !strncmp(line, "CPU implementer", 15);
#endif
		if (emulated && len) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(why, len, "this %s process reads a foreign /proc/cpuinfo (\"%s\"): it runs under a user-mode emulator such as qemu-user",
#ifdef __aarch64__
				 "arm64",
#else
				 "x86-64",
#endif
				 line);
		}
	}
	fclose(f);
	return emulated;
}
