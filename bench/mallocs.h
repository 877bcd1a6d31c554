/*
 * The general-purpose allocators the benchmarks compare against.
 *
 * jemalloc and mimalloc are dlopen()ed, not linked: both export malloc/free
 * and, linked, would replace glibc's for the whole program (librtmem and the
 * benchmark's own bookkeeping included).
 */
#ifndef RTMEM_BENCH_MALLOCS_H
#define RTMEM_BENCH_MALLOCS_H

#include <stddef.h>

struct bench_malloc {
	const char *name;
	void *(*alloc)(size_t);
	void (*free)(void *);
};

enum bench_malloc_kind { BENCH_GLIBC, BENCH_JEMALLOC, BENCH_MIMALLOC };

/*
 * Fill *m with one allocator. 0, or -ENOENT when its library is missing;
 * *why (may be NULL) then says what dlopen() said and which package has it.
 */
int bench_malloc_load(enum bench_malloc_kind kind, struct bench_malloc *m, const char **why);

/*
 * jemalloc's initial-exec TLS fits a dlopen() only in glibc's spare static
 * TLS, which must be raised before the program starts: re-execute the program
 * once with the tunable set. Call first thing in main(); returns when the
 * tunable is already there (or the re-exec failed).
 */
void bench_reexec_for_static_tls(char **argv);

#endif
