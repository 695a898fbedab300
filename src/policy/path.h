/* Path normalization for settings entries: ~, relative paths, .., //, a trailing slash or slash-star-star. */
#ifndef SRT_POLICY_PATH_H
#define SRT_POLICY_PATH_H

/* Turn a settings path into a normalized absolute path, without touching the
 * file system (no symlink resolution):
 *   "~" and "~/x" expand with home; relative paths are joined to cwd;
 *   "." and ".." components and repeated slashes are folded ("/.." is "/");
 *   a trailing "/" and a trailing "/" followed by two stars are dropped (the directory itself).
 * Glob characters elsewhere are kept as they are. "~user" is not expanded and
 * is refused; so are "~" without an absolute home and a relative path
 * without an absolute cwd. Returns a malloc'd string (caller frees), or NULL
 * with *why set to a static reason (empty path, "~user" form, result longer
 * than 4095 bytes: the length is checked after folding) or NULL with
 * *why == NULL on allocation failure. why may be NULL. */
char *path_normalize(const char *path, const char *home, const char *cwd, const char **why);

/* True when path equals dir or lies below it (both normalized absolute; a
 * trailing slash on dir is tolerated). False when either is NULL. */
int path_is_inside(const char *path, const char *dir);

#endif
