/* SPDX-License-Identifier: MIT */
/*
 * fuzz_main.c - run a libFuzzer target without libFuzzer: the built-in seeds
 * (well-formed conversations), then RTMEM_FUZZ_RUNS (default 20000)
 * deterministic mutations of them (bit flips, truncation, splicing, random
 * lengths), seeded from RTMEM_SEED or the clock, seed printed. Files given on
 * the command line are replayed first (a libFuzzer crash reproducer, say).
 * Prints "N passed, 0 failed" at the end; a failing input aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXIN 4096

static size_t put(uint8_t *buf, size_t at, const void *msg, size_t len)
{
	if (at + 2 + len > MAXIN)
		return at;
	buf[at] = (uint8_t)len;
	buf[at + 1] = (uint8_t)(len >> 8);
	memcpy(buf + at + 2, msg, len);
	return at + 2 + len;
}

/* Seed i: a valid conversation, so mutations reach the handlers behind HELLO. */
static size_t seed(unsigned i, uint8_t *buf)
{
	struct rtmem_msg_hello h = { 0 };
	struct rtmem_msg_open o = { 0 };
	struct rtmem_msg_close c = { 0 };
	struct rtmem_msg_status s = { 0 };
	struct rtmem_msg_index x = { 0 };
	size_t n = 0;

	rtmem_msg_init(&h.h, RTMEM_MSG_HELLO, 1);
	strcpy(h.name, "fuzz");
	rtmem_msg_init(&o.h, RTMEM_MSG_OPEN, 2);
	strcpy(o.pool, i % 2 ? "b" : "a");
	rtmem_msg_init(&c.h, RTMEM_MSG_CLOSE, 3);
	strcpy(c.pool, o.pool);
	rtmem_msg_init(&s.h, RTMEM_MSG_STATUS, 4);
	rtmem_msg_init(&x.h, i % 3 ? RTMEM_MSG_POOL_INFO : RTMEM_MSG_CLIENT_INFO, 5);
	x.index = i % 4;
	n = put(buf, n, &h, sizeof(h));
	n = put(buf, n, &o, sizeof(o));
	n = put(buf, n, &s, sizeof(s));
	n = put(buf, n, &x, sizeof(x));
	n = put(buf, n, &c, sizeof(c));
	return n;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static size_t mutate(uint8_t *buf, size_t n, uint64_t *s)
{
	unsigned k = 1 + (unsigned)(rnd(s) % 8);

	while (k--) {
		size_t at = n ? (size_t)(rnd(s) % n) : 0;

		switch (rnd(s) % 5) {
		case 0: /* flip a bit */
			if (n)
				buf[at] ^= (uint8_t)(1u << (rnd(s) % 8));
			break;
		case 1: /* a random byte */
			if (n)
				buf[at] = (uint8_t)rnd(s);
			break;
		case 2: /* truncate */
			n = at;
			break;
		case 3: /* garbage tail */
			while (n < MAXIN && rnd(s) % 16)
				buf[n++] = (uint8_t)rnd(s);
			break;
		default: /* a 16-bit field set to an edge value */
			if (n > 1) {
				static const uint16_t edge[] = { 0, 1, 0xffff, 0x7fff, 16, RTMEM_MSG_MAX };
				uint16_t v = edge[rnd(s) % 6];

				memcpy(buf + at - (at == n - 1), &v, 2);
			}
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	static uint8_t buf[MAXIN];
	const char *e = getenv("RTMEM_FUZZ_RUNS"), *se = getenv("RTMEM_SEED");
	long runs = e ? atol(e) : 20000, done = 0;
	uint64_t s = se ? (uint64_t)strtoull(se, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid();

	printf("# fuzz: seed %llu (replay with RTMEM_SEED=%llu), %ld runs\n", (unsigned long long)s,
	       (unsigned long long)s, runs);
	s |= 1;
	if (argc == 3 && !strcmp(argv[1], "--write-seeds")) { /* a corpus for libFuzzer */
		for (unsigned i = 0; i < 8; i++) {
			char path[4096];
			size_t n = seed(i, buf);
			FILE *f;

			snprintf(path, sizeof(path), "%s/seed%u", argv[2], i);
			f = fopen(path, "wb");
			if (!f || fwrite(buf, 1, n, f) != n) {
				perror(path);
				return 1;
			}
			fclose(f);
		}
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;

		if (f)
			fclose(f);
		LLVMFuzzerTestOneInput(buf, n);
		done++;
	}
	for (unsigned i = 0; i < 8; i++, done++)
		LLVMFuzzerTestOneInput(buf, seed(i, buf));
	for (long r = 0; r < runs; r++, done++) {
		size_t n = seed((unsigned)r, buf);

		LLVMFuzzerTestOneInput(buf, mutate(buf, n, &s));
	}
	printf("%ld passed, 0 failed\n", done);
	return 0;
}
