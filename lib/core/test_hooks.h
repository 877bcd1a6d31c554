/* SPDX-License-Identifier: MIT */
/*
 * test_hooks.h - hooks that only rtmem_core_test, the core built for the
 * tests (RG_TEST_HOOKS defined), has. The daemon and librtmem link
 * rtmem_core, which has none of them, so no fast path tests for them.
 */
#ifndef RG_TEST_HOOKS_H
#define RG_TEST_HOOKS_H

#ifndef RG_TEST_HOOKS
#error "test_hooks.h is for rtmem_core_test (RG_TEST_HOOKS): link that, not rtmem_core"
#endif

/*
 * When set, rg_buddy_alloc()/free() call it with the lock held after the
 * first shared-state write (and at each merge), so a test can kill the
 * process there. Every buddy call with it set takes the slow path.
 */
extern void (*rg_buddy_test_hook)(void);

#endif /* RG_TEST_HOOKS_H */
