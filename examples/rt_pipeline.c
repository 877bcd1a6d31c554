/* SPDX-License-Identifier: MIT */
/*
 * rt_pipeline.c - rtmem-pipeline: a producer process passes buffers of one
 * rtmemd pool to one consumer process, or to several reader processes at
 * once, with no copy and, once set up, no system call. With one consumer the
 * buffers change owner (rtmem_give(), rtmem_take()); with several readers
 * each buffer is shared with all of them (rtmem_share()) and the last
 * rtmem_release() frees it. The offsets travel through rings (one per
 * consumer) that live in the pool itself.
 *
 *   consumers: connect, open the pool, send their client ids over socketpairs
 *   producer:  connect, open the pool, allocate the rings (in the pool), send
 *              their offset; then per buffer: allocate, fill, stamp the time,
 *              rtmem_give() it to the consumer, or rtmem_share() it with
 *              every reader and let go of its own hold (rtmem_release());
 *              put the offset in each ring
 *   consumers: take the offset from the ring, rtmem_take() (one consumer),
 *              check the contents, note the latency, rtmem_free() or
 *              rtmem_release()
 *
 * Output: one line per consumer with the rate and the give -> take (or
 * share -> read) latency (p50, p99, max), and "errors N"; exit 0 only with
 * no error. Options: -s SOCKET, -P POOL (default "control"), -n BUFFERS
 * (default 100000), -b BYTES (default 256), -r READERS (default 1: one
 * consumer that takes each buffer over), --help, --version.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rtmem/rtmem.h>

#define RING 256u
#define MAX_READERS RTMEM_SHARE_HOLDERS /* with the producer's own hold while it shares */

/* The ring, in the pool: written by the producer (head, slots) and the consumer (tail). */
struct ring {
	_Atomic uint64_t head;
	char pad0[56];
	_Atomic uint64_t tail;
	char pad1[56];
	_Atomic uint64_t off[RING];
};

/* What a buffer carries: when it was given, and a check of its contents. */
struct msg {
	uint64_t given_ns;
	uint64_t seq;
	uint64_t check; /* seq ^ offset ^ a constant */
};

struct opts {
	const char *sock, *pool;
	long n;
	size_t bytes;
	int readers;    /* 1: give and take; more: share with all of them */
	int spare_cpus; /* online CPUs less the processes: <= 0, waits yield */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A busy wait's step: with more processes than CPUs a spinner would hold a
 * CPU the process it waits for needs, so it yields it then. */
static void wait_a_moment(const struct opts *o)
{
	if (o->spare_cpus <= 0)
		sched_yield();
}

static int open_pool(const struct opts *o, const char *name, struct rtmem_client **c, struct rtmem_pool **p)
{
	int rc = rtmem_connect(o->sock, name, c), call = RTMEM_CALL_CONNECT;

	if (rc == 0) {
		call = RTMEM_CALL_POOL_OPEN;
		rc = rtmem_pool_open(*c, o->pool, 0, p);
	}
	if (rc < 0)
		fprintf(stderr, "rtmem-pipeline: %s: %s\n", name, rtmem_error_hint(call, rc));
	return rc;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Consumer @k of o->readers: its ring is the k-th after the ring offset the producer sends. */
static int consumer(const struct opts *o, int k, int sk)
{
	struct rtmem_client *c;
	struct rtmem_pool *p;
	uint64_t id, roff, *lat = calloc((size_t)o->n, sizeof(*lat));
	uint64_t t0 = 0, errors = 0, freed = 0;
	struct ring *q;

	if (!lat || open_pool(o, "pipeline-consumer", &c, &p) < 0)
		return 1;
	id = rtmem_pool_client_id(p);
	if (write(sk, &id, sizeof(id)) != sizeof(id) || read(sk, &roff, sizeof(roff)) != sizeof(roff))
		return 1;
	q = rtmem_off_to_ptr(p, roff);
	if (!q)
		return 1;
	q += k;
	for (long i = 0; i < o->n; i++) {
		uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed), off;
		struct msg *m;
		int rc;

		while (atomic_load_explicit(&q->head, memory_order_acquire) == t)
			wait_a_moment(o); /* a real consumer would wait on its own terms: a period, a futex */
		off = atomic_load_explicit(&q->off[t % RING], memory_order_relaxed);
		m = rtmem_off_to_ptr(p, off);
		if (!m || (o->readers == 1 && rtmem_take(p, m) != 0) || m->seq != (uint64_t)i ||
		    m->check != (m->seq ^ off ^ 0x5eed)) {
			errors++;
		} else {
			lat[i] = now_ns() - m->given_ns;
			if (i == 0)
				t0 = m->given_ns;
			rc = o->readers == 1 ? rtmem_free(p, m) : rtmem_release(p, m);
			if (rc < 0)
				errors++;
			freed += rc == 1;
		}
		atomic_store_explicit(&q->tail, t + 1, memory_order_release);
	}
	double secs = (double)(now_ns() - t0) / 1e9;

	qsort(lat, (size_t)o->n, sizeof(*lat), cmp_u64);
	if (o->readers == 1)
		printf("rtmem-pipeline: %ld buffers of %zu B handed over in %.3f s: %.0f per s; give -> take latency "
		       "p50 %.2f us, p99 %.2f us, max %.2f us; errors %" PRIu64 "\n",
		       o->n, o->bytes, secs, (double)o->n / secs, (double)lat[o->n / 2] / 1e3,
		       (double)lat[o->n * 99 / 100] / 1e3, (double)lat[o->n - 1] / 1e3, errors);
	else
		printf("rtmem-pipeline: reader %d: %ld buffers of %zu B shared with %d readers read in %.3f s: %.0f per s; "
		       "share -> read latency p50 %.2f us, p99 %.2f us, max %.2f us; freed by this reader %" PRIu64
		       "; errors %" PRIu64 "\n",
		       k, o->n, o->bytes, o->readers, secs, (double)o->n / secs, (double)lat[o->n / 2] / 1e3,
		       (double)lat[o->n * 99 / 100] / 1e3, (double)lat[o->n - 1] / 1e3, freed, errors);
	fflush(stdout); /* the child leaves with _exit() */
	free(lat);
	rtmem_pool_close(p);
	rtmem_disconnect(c);
	return errors ? 1 : 0;
}

/* Hand buffer @m to consumer 0, or share it with every reader in @to and let
 * go of this process's hold. Return: 0, or a negative errno. */
static int pass_on(const struct opts *o, struct rtmem_pool *p, struct msg *m, const uint64_t *to)
{
	int rc;

	if (o->readers == 1)
		return rtmem_give(p, m, to[0]);
	for (int k = 0; k < o->readers; k++) {
		while ((rc = rtmem_share(p, m, to[k])) == -ENOSPC && k == 0)
			wait_a_moment(o); /* RTMEM_SHARE_OPEN buffers shared already: wait until readers let go */
		if (rc < 0)
			return rc;
	}
	rc = rtmem_release(p, m);
	return rc < 0 ? rc : 0;
}

static int producer(const struct opts *o, const int *sk)
{
	struct rtmem_client *c;
	struct rtmem_pool *p;
	struct ring *q;
	uint64_t to[MAX_READERS], roff;
	int rc;

	if (open_pool(o, "pipeline-producer", &c, &p) < 0)
		return 1;
	rc = rtmem_alloc(p, sizeof(*q) * (size_t)o->readers, (void **)&q);
	if (rc < 0) {
		fprintf(stderr, "rtmem-pipeline: no room for the rings in pool \"%s\": %s\n", o->pool, rtmem_strerror(rc));
		return 1;
	}
	memset(q, 0, sizeof(*q) * (size_t)o->readers);
	roff = rtmem_ptr_to_off(p, q);
	for (int k = 0; k < o->readers; k++)
		if (read(sk[k], &to[k], sizeof(to[k])) != sizeof(to[k]) || write(sk[k], &roff, sizeof(roff)) != sizeof(roff))
			return 1;
	for (long i = 0; i < o->n; i++) {
		uint64_t h = atomic_load_explicit(&q[0].head, memory_order_relaxed), off;
		struct msg *m;

		for (int k = 0; k < o->readers; k++)
			while (h - atomic_load_explicit(&q[k].tail, memory_order_acquire) >= RING)
				wait_a_moment(o); /* a consumer is behind: its ring is full */
		while ((rc = rtmem_alloc(p, o->bytes, (void **)&m)) == -ENOMEM)
			wait_a_moment(o); /* every buffer is in flight: the consumers free them */
		if (rc < 0) {
			fprintf(stderr, "rtmem-pipeline: rtmem_alloc(%zu): %s\n", o->bytes, rtmem_strerror(rc));
			return 1;
		}
		off = rtmem_ptr_to_off(p, m);
		m->seq = (uint64_t)i;
		m->check = (uint64_t)i ^ off ^ 0x5eed;
		m->given_ns = now_ns();
		rc = pass_on(o, p, m, to);
		if (rc < 0) {
			fprintf(stderr, "rtmem-pipeline: %s: %s\n", o->readers == 1 ? "rtmem_give" : "rtmem_share",
				rtmem_strerror(rc));
			return 1;
		}
		for (int k = 0; k < o->readers; k++) {
			atomic_store_explicit(&q[k].off[h % RING], off, memory_order_relaxed);
			atomic_store_explicit(&q[k].head, h + 1, memory_order_release);
		}
	}
	for (int k = 0; k < o->readers; k++)
		while (atomic_load_explicit(&q[k].tail, memory_order_acquire) != (uint64_t)o->n)
			wait_a_moment(o); /* the rings are ours: keep them until the consumers are done */
	rtmem_free(p, q);
	rtmem_pool_close(p);
	rtmem_disconnect(c);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: rtmem-pipeline [-s SOCKET] [-P POOL] [-n BUFFERS] [-b BYTES] [-r READERS]\n"
		   "  a producer process hands buffers of one pool over to a consumer process (rtmem_give/rtmem_take),\n"
		   "  or shares each with several reader processes (rtmem_share/rtmem_release)\n"
		   "  -s SOCKET  rtmemd's socket (default: $RTMEM_SOCKET or /run/rtmemd/rtmemd.sock)\n"
		   "  -P POOL    the pool (default: control)\n"
		   "  -n N       buffers to hand over (default: 100000)\n"
		   "  -b BYTES   buffer size (default: 256; at least %zu)\n"
		   "  -r N       consumers: 1 (default) takes each buffer over; 2..%d share each buffer\n"
		   "  --help, --version\n",
		sizeof(struct msg), MAX_READERS - 1);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = { { "help", no_argument, NULL, 'H' },
						  { "version", no_argument, NULL, 'V' },
						  { NULL, 0, NULL, 0 } };
	struct opts o = { .sock = NULL, .pool = "control", .n = 100000, .bytes = 256, .readers = 1 };
	int sk[MAX_READERS][2], psk[MAX_READERS], c, st, rc, k;
	pid_t pid[MAX_READERS];

	while ((c = getopt_long(argc, argv, "s:P:n:b:r:", longopts, NULL)) != -1) {
		switch (c) {
		case 's': o.sock = optarg; break;
		case 'P': o.pool = optarg; break;
		case 'n': o.n = strtol(optarg, NULL, 0); break;
		case 'b': o.bytes = (size_t)strtoul(optarg, NULL, 0); break;
		case 'r': o.readers = (int)strtol(optarg, NULL, 0); break;
		case 'H': usage(stdout); return 0;
		case 'V': printf("rtmem-pipeline %s\n", rtmem_version()); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || o.n < 1 || o.bytes < sizeof(struct msg) || o.readers < 1 || o.readers >= MAX_READERS) {
		usage(stderr);
		return 2;
	}
	o.spare_cpus = (int)sysconf(_SC_NPROCESSORS_ONLN) - 1 - o.readers;
	fflush(stdout);
	for (k = 0; k < o.readers; k++) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sk[k]) < 0) {
			perror("rtmem-pipeline: socketpair");
			break;
		}
		pid[k] = fork();
		if (pid[k] < 0) {
			perror("rtmem-pipeline: fork");
			break;
		}
		if (pid[k] == 0) {
			close(sk[k][0]);
			_exit(consumer(&o, k, sk[k][1]));
		}
		close(sk[k][1]);
		psk[k] = sk[k][0];
	}
	rc = k == o.readers ? producer(&o, psk) : 1;
	for (int j = 0; j < k; j++) {
		close(psk[j]);
		if (rc != 0)
			kill(pid[j], SIGTERM);
	}
	for (int j = 0; j < k; j++)
		if (waitpid(pid[j], &st, 0) != pid[j] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			rc = 1;
	return rc;
}
