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

/* Report every protected path under root (a normalized absolute directory).
 *
 * Depth: a directory's level is the number of components between root and
 * it: root is level 0, root/a level 1, root/a/b level 2. The scan lists the
 * entries of every directory at levels 0..max_depth and no deeper, so with
 * max_depth 3 it finds root/a/b/c/.bashrc and root/a/b/c/.git/hooks but not
 * root/a/b/c/d/.bashrc. (max_depth 0 looks at root alone.)
 *
 *  - in root itself, every name of both lists whether it exists or not
 *    (.git/config only when !allow_git_config); when .git or .claude in
 *    root is a symbolic link, that link instead of the entries below it;
 *  - in every listed directory below root that is a git repository (has a
 *    .git directory, not a symlink): its .git/hooks and (unless
 *    allow_git_config) .git/config, whether they exist or not;
 *  - in every listed directory below root, every existing entry whose name
 *    is in the lists, and the existing two-component entries
 *    (.claude/commands, .claude/agents) of a directory named .claude.
 * Does not descend into node_modules, .git, the protected folders (.vscode,
 * .idea, .sandbox: covered whole), or symlinks; a symlink with a protected
 * name (.claude and .git included) is reported like a file, and what it
 * protects is for mandatory_scan_link_target to say. exists tells whether
 * the path is there now (lstat). A path is reported once. cb returning non-zero stops the scan and
 * is returned. Returns 0, -errno when root cannot be opened, or -EMFILE,
 * -ENFILE, -ENOMEM from anywhere (running out of resources must not silently
 * leave paths unprotected); subdirectories that cannot be read for other
 * reasons are skipped. Reads each listed directory once, with no stat per
 * entry unless the file system gives no d_type. */
typedef int (*mandatory_cb)(const char *path, bool exists, void *userdata);
int mandatory_scan(const char *root, int max_depth, bool allow_git_config,
		   mandatory_cb cb, void *userdata);

/* A path the scan reported turned out to be a symbolic link named name
 * (".git", ".bashrc", "hooks", ...) that leads to target (normalized
 * absolute, every link on the way followed; it may not exist). Report what
 * must be protected there, as for the name itself: for ".git" the git
 * folder's hooks and (unless allow_git_config) config, existing or not,
 * and those of its submodules under modules/; for ".claude" its commands
 * and agents, existing or not; for any other name target itself. Same
 * callback contract and errors as mandatory_scan; -EINVAL for a relative
 * target. */
int mandatory_scan_link_target(const char *name, const char *target, bool allow_git_config,
			       mandatory_cb cb, void *userdata);

#endif
