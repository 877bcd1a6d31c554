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

/*
 * When set, rg_region_give(), rg_region_share() and rg_region_release()
 * (lib/core/handoff.c) call it between their steps with the step just
 * reached, so that a test can run the other side's steps there (another
 * holder's, the daemon's reclaim of a client that died) or kill the caller
 * there. GIVE_GONE is reached only when the receiver left after the swap.
 */
enum rg_handoff_step {
	RG_STEP_GIVE_CHECKED,    /* the block is the giver's; the receiver not looked at yet */
	RG_STEP_GIVE_HERE,       /* the receiver was here; the owner not swapped yet */
	RG_STEP_GIVE_SWAPPED,    /* the block is the receiver's; not checked again yet */
	RG_STEP_GIVE_GONE,       /* the receiver left after the swap; not taken back yet */
	RG_STEP_OPEN_TAKEN,      /* a record of the opener's is SETUP; nothing written in it */
	RG_STEP_OPEN_WRITTEN,    /* its entries written; the reader not looked at, the block not linked */
	RG_STEP_OPEN_LINKED,     /* the block names the record; the record still SETUP */
	RG_STEP_SHARE_CHECKED,   /* a share-on: the reader was here; its entry not added */
	RG_STEP_SHARE_ADDED,     /* its entry added, tentative; not checked again */
	RG_STEP_SHARE_CONFIRMING, /* the checks passed; the entry not confirmed yet */
	RG_STEP_RELEASE_DROPPED, /* a release dropped its entry; the record not looked at */
	RG_STEP_CLOSE_SCANNING,  /* a closer read one more entry, empty, in either of its scans */
	RG_STEP_CLOSE_CLOSING,   /* the header CLOSING, by this closer or another; not read again */
	RG_STEP_CLOSE_REVERTING, /* the second look saw a holder; CLOSING not undone yet */
	RG_STEP_CLOSE_FREED,     /* the closer freed the record; the block still names it */
	RG_STEP_DROP_MARKING,    /* the daemon's drop read a tentative entry to mark dead */
	RG_STEP_COUNT
};
extern void (*rg_handoff_test_hook)(enum rg_handoff_step step);

/*
 * When set, the arena drain (lib/core/arena.c, drain_arena()) calls it after
 * each remote word it took back from, with the client's private lock held,
 * so that a test can run other clients' steps there.
 */
extern void (*rg_arena_test_hook)(void);

#endif /* RG_TEST_HOOKS_H */
