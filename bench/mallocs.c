/* The general-purpose allocators the benchmarks compare against: see mallocs.h. */
#include "mallocs.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct lib {
	const char *name, *soname, *malloc_sym, *free_sym, *package;
};

static const struct lib libs[] = {
	[BENCH_JEMALLOC] = { "jemalloc", "libjemalloc.so.2", "malloc", "free", "libjemalloc2" },
	[BENCH_MIMALLOC] = { "mimalloc", "libmimalloc.so.2", "mi_malloc", "mi_free", "libmimalloc2.0" },
};

int bench_malloc_load(enum bench_malloc_kind kind, struct bench_malloc *m, const char **why)
{
	static char reason[2][256];
	const struct lib *l;
	void *h, *a, *f;

	if (kind == BENCH_GLIBC) {
		*m = (struct bench_malloc){ "glibc malloc", malloc, free };
		return 0;
	}
	l = &libs[kind];
	h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
	a = h ? dlsym(h, l->malloc_sym) : NULL;
	f = h ? dlsym(h, l->free_sym) : NULL;
	if (!a || !f) {
		if (why) {
			const char *e = dlerror();

			snprintf(reason[kind - 1], sizeof(reason[0]), "%s (apt-get install %s)",
				 e ? e : "symbol missing", l->package);
			*why = reason[kind - 1];
		}
		return -ENOENT;
	}
	*m = (struct bench_malloc){ l->name, (void *(*)(size_t))a, (void (*)(void *))f };
	return 0;
}

void bench_reexec_for_static_tls(char **argv)
{
	const char *t = getenv("GLIBC_TUNABLES");

	if (t && strstr(t, "glibc.rtld.optional_static_tls"))
		return;
	setenv("GLIBC_TUNABLES", "glibc.rtld.optional_static_tls=65536", 1);
	execv("/proc/self/exe", argv);
}
