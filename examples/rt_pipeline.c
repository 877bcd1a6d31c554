/* SPDX-License-Identifier: MIT */
/*
 * rt_pipeline.c - rtmem-pipeline: two processes, a producer and a consumer,
 * pass buffers of one rtmemd pool to each other with no copy and, once set
 * up, no system call: the buffers change owner with rtmem_give() and
 * rtmem_take(), and their offsets travel through a ring that lives in the
 * pool itself.
 *
 *   consumer: connect, open the pool, send its client id over a socketpair
 *   producer: connect, open the pool, allocate the ring (in the pool), send
 *             its offset; then per buffer: allocate, fill, stamp the time,
 *             rtmem_give() to the consumer, put the offset in the ring
 *   consumer: take the offset from the ring, rtmem_take(), check the
 *             contents, note the latency, rtmem_free()
 *
 * Output: one line with the rate and the give -> take latency (p50, p99,
 * max), and "errors N"; exit 0 only with no error. Options: -s SOCKET, -P
 * POOL (default "control"), -n BUFFERS (default 100000), -b BYTES (default
 * 256), --help, --version.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
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
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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

static int consumer(const struct opts *o, int sk)
{
	struct rtmem_client *c;
	struct rtmem_pool *p;
	uint64_t id, roff, *lat = calloc((size_t)o->n, sizeof(*lat));
	uint64_t t0 = 0, errors = 0;
	struct ring *q;

	if (!lat || open_pool(o, "pipeline-consumer", &c, &p) < 0)
		return 1;
	id = rtmem_pool_client_id(p);
	if (write(sk, &id, sizeof(id)) != sizeof(id) || read(sk, &roff, sizeof(roff)) != sizeof(roff))
		return 1;
	q = rtmem_off_to_ptr(p, roff);
	if (!q)
		return 1;
	for (long i = 0; i < o->n; i++) {
		uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed), off;
		struct msg *m;

		while (atomic_load_explicit(&q->head, memory_order_acquire) == t)
			; /* a real consumer would wait on its own terms: a period, a futex */
		off = atomic_load_explicit(&q->off[t % RING], memory_order_relaxed);
		m = rtmem_off_to_ptr(p, off);
		if (!m || rtmem_take(p, m) != 0 || m->seq != (uint64_t)i || m->check != (m->seq ^ off ^ 0x5eed)) {
			errors++;
		} else {
			lat[i] = now_ns() - m->given_ns;
			if (i == 0)
				t0 = m->given_ns;
			if (rtmem_free(p, m) != 0)
				errors++;
		}
		atomic_store_explicit(&q->tail, t + 1, memory_order_release);
	}
	double secs = (double)(now_ns() - t0) / 1e9;

	qsort(lat, (size_t)o->n, sizeof(*lat), cmp_u64);
	printf("rtmem-pipeline: %ld buffers of %zu B handed over in %.3f s: %.0f per s; give -> take latency "
	       "p50 %.2f us, p99 %.2f us, max %.2f us; errors %" PRIu64 "\n",
	       o->n, o->bytes, secs, (double)o->n / secs, (double)lat[o->n / 2] / 1e3,
	       (double)lat[o->n * 99 / 100] / 1e3, (double)lat[o->n - 1] / 1e3, errors);
	fflush(stdout); /* the child leaves with _exit() */
	free(lat);
	rtmem_pool_close(p);
	rtmem_disconnect(c);
	return errors ? 1 : 0;
}

static int producer(const struct opts *o, int sk)
{
	struct rtmem_client *c;
	struct rtmem_pool *p;
	struct ring *q;
	uint64_t to, roff;
	int rc;

	if (open_pool(o, "pipeline-producer", &c, &p) < 0)
		return 1;
	rc = rtmem_alloc(p, sizeof(*q), (void **)&q);
	if (rc < 0) {
		fprintf(stderr, "rtmem-pipeline: no room for the ring in pool \"%s\": %s\n", o->pool, rtmem_strerror(rc));
		return 1;
	}
	memset(q, 0, sizeof(*q));
	roff = rtmem_ptr_to_off(p, q);
	if (read(sk, &to, sizeof(to)) != sizeof(to) || write(sk, &roff, sizeof(roff)) != sizeof(roff))
		return 1;
	for (long i = 0; i < o->n; i++) {
		uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed), off;
		struct msg *m;

		while (h - atomic_load_explicit(&q->tail, memory_order_acquire) >= RING)
			; /* the consumer is behind: the ring is full */
		while ((rc = rtmem_alloc(p, o->bytes, (void **)&m)) == -ENOMEM)
			; /* every buffer is in flight: the consumer frees them */
		if (rc < 0) {
			fprintf(stderr, "rtmem-pipeline: rtmem_alloc(%zu): %s\n", o->bytes, rtmem_strerror(rc));
			return 1;
		}
		off = rtmem_ptr_to_off(p, m);
		m->seq = (uint64_t)i;
		m->check = (uint64_t)i ^ off ^ 0x5eed;
		m->given_ns = now_ns();
		rc = rtmem_give(p, m, to);
		if (rc < 0) {
			fprintf(stderr, "rtmem-pipeline: rtmem_give: %s\n", rtmem_strerror(rc));
			return 1;
		}
		atomic_store_explicit(&q->off[h % RING], off, memory_order_relaxed);
		atomic_store_explicit(&q->head, h + 1, memory_order_release);
	}
	while (atomic_load_explicit(&q->tail, memory_order_acquire) != (uint64_t)o->n)
		; /* the ring is ours: keep it until the consumer is done with it */
	rtmem_free(p, q);
	rtmem_pool_close(p);
	rtmem_disconnect(c);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: rtmem-pipeline [-s SOCKET] [-P POOL] [-n BUFFERS] [-b BYTES]\n"
		   "  a producer and a consumer process hand buffers of one pool over (rtmem_give/rtmem_take)\n"
		   "  -s SOCKET  rtmemd's socket (default: $RTMEM_SOCKET or /run/rtmemd/rtmemd.sock)\n"
		   "  -P POOL    the pool (default: control)\n"
		   "  -n N       buffers to hand over (default: 100000)\n"
		   "  -b BYTES   buffer size (default: 256; at least %zu)\n"
		   "  --help, --version\n",
		sizeof(struct msg));
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = { { "help", no_argument, NULL, 'H' },
						  { "version", no_argument, NULL, 'V' },
						  { NULL, 0, NULL, 0 } };
	struct opts o = { .sock = NULL, .pool = "control", .n = 100000, .bytes = 256 };
	int sk[2], c, st, rc;
	pid_t pid;

	while ((c = getopt_long(argc, argv, "s:P:n:b:", longopts, NULL)) != -1) {
		switch (c) {
		case 's': o.sock = optarg; break;
		case 'P': o.pool = optarg; break;
		case 'n': o.n = strtol(optarg, NULL, 0); break;
		case 'b': o.bytes = (size_t)strtoul(optarg, NULL, 0); break;
		case 'H': usage(stdout); return 0;
		case 'V': printf("rtmem-pipeline %s\n", rtmem_version()); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || o.n < 1 || o.bytes < sizeof(struct msg)) {
		usage(stderr);
		return 2;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sk) < 0) {
		perror("rtmem-pipeline: socketpair");
		return 1;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("rtmem-pipeline: fork");
		return 1;
	}
	if (pid == 0) {
		close(sk[0]);
		_exit(consumer(&o, sk[1]));
	}
	close(sk[1]);
	rc = producer(&o, sk[0]);
	close(sk[0]);
	if (rc != 0)
		kill(pid, SIGTERM);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		rc = 1;
	return rc;
}
