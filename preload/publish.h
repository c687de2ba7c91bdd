/*
 * The live state file for viewers (publish.c; format in
 * include/faultline/state.h).
 */
#ifndef FL_PUBLISH_H
#define FL_PUBLISH_H

#include <stdint.h>

/* Create this process's state file.  0, or -1 (viewers then see no
 * managed detail; the program is unaffected). */
int fl__publish_open(unsigned sample_ms, uint64_t start_real_ns);
/* Rewrite it from the pager's current state (the emitter's thread). */
void fl__publish(void);
/* Remove it (at exit). */
void fl__publish_close(void);
/* In a forked child: leave the parent's file alone, make our own. */
void fl__publish_fork_child(uint64_t start_real_ns);

#endif
