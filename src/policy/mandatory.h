/* The built-in list of paths that are never writable, and the scan that finds them in a writable root. */
#ifndef SRT_POLICY_MANDATORY_H
#define SRT_POLICY_MANDATORY_H

#include <stdbool.h>

/* Files: .bashrc .bash_profile .zshrc .zprofile .profile .gitconfig
 * .gitmodules .ripgreprc .mcp.json. NULL-terminated. */
extern const char *const mandatory_deny_files[];
/* Directories: .vscode .idea .claude/commands .claude/agents .sandbox
 * .git/hooks, and .git/config (a file, but listed here with the git
 * entries because allowGitConfig lifts it). NULL-terminated. */
extern const char *const mandatory_deny_dirs[];

/* Report every protected path under root (a normalized absolute directory):
 *  - in root itself, every name of both lists whether it exists or not
 *    (.git/config only when !allow_git_config);
 *  - in every directory below root down to max_depth levels (root's
 *    children are level 1) that is a git repository (has a .git
 *    directory): its .git/hooks and (unless allow_git_config) .git/config,
 *    whether they exist or not;
 *  - anywhere down to max_depth, every existing entry whose name (or
 *    two-component tail, like .claude/commands) is in the lists.
 * Does not descend into node_modules, .git, or symlinks. exists tells
 * whether the path is there now. A path is reported once. cb returning
 * non-zero stops the scan and is returned. Returns 0 or a negative errno
 * for root itself (subdirectories that cannot be read are skipped). */
typedef int (*mandatory_cb)(const char *path, bool exists, void *userdata);
int mandatory_scan(const char *root, int max_depth, bool allow_git_config,
		   mandatory_cb cb, void *userdata);

#endif
