/* Placeholders: mount points created on the host for protected paths that do not exist yet, and the guardian that removes them. */
#ifndef SRT_LINUX_PLACEHOLDER_H
#define SRT_LINUX_PLACEHOLDER_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "linux/mountplan.h"

/*
 * A mount needs an existing file or directory to cover, so a protected path
 * that does not exist yet (.bashrc, .vscode) gets an empty placeholder for
 * the run. Placeholders are marked by an exact modification time, shared by
 * concurrent runs through flock (each run holds a shared lock while its
 * sandbox lives; whoever can take the exclusive lock afterwards is the last
 * user and removes it), and removed by a guardian process that outlives
 * srt: it waits until srt is gone and the sandbox's PID 1 has exited, so a
 * SIGKILL of srt still leaves nothing behind.
 */

/* Is this (lstat) the mark of a placeholder: an empty file or directory
 * with the marker modification time? */
bool placeholder_is_marked(const struct stat *st);

struct guardian {
	int sock;    /* our end of the socketpair, -1 when no guardian runs */
	pid_t pid;   /* the guardian, reaped by guardian_finish */
};

/* Fork the guardian, then create (or adopt) every MOUNT_PLACEHOLDER of the
 * plan with its shared lock and hand the fds to the guardian. Returns 0
 * when all of them are in place, or a negative errno with err naming the
 * path (the guardian has then removed what was made). Does nothing when
 * the plan has no placeholder. A placeholder the host refuses to create in
 * a folder the user does not own (or on a read-only file system) is not
 * needed: the sandbox cannot create that path either. It is marked
 * unneeded in the plan. */
int guardian_start(struct mount_plan *plan, struct guardian *g, struct srt_error *err);

/* Hand the guardian a pidfd to wait for before it cleans up (the sandbox's
 * PID 1, or bwrap). The fd stays ours. */
int guardian_watch(struct guardian *g, int pidfd);

/* Tell the guardian we are done, and wait until it has removed the
 * placeholders. */
void guardian_finish(struct guardian *g);

#endif
