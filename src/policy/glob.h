/* Glob patterns for path rules: matching, and a bounded directory walk that expands them. */
#ifndef SRT_POLICY_GLOB_H
#define SRT_POLICY_GLOB_H

#include <stdbool.h>
#include <stddef.h>

/* True when p has an unescaped *, ?, or [ (a glob, not a literal path). */
bool glob_has_magic(const char *p);

/* Match an absolute normalized path against an absolute pattern:
 *   *      any run of characters except '/'
 *   **     as a whole component: zero or more whole components
 *          (elsewhere, as in "a**b", it is a plain '*')
 *   ?      one character except '/'
 *   [...]  a class: ranges a-z, negation with ! or ^, ']' first is literal,
 *          '-' first or last is literal, \c inside is c; bytes compare
 *          unsigned; a '[' not closed within its component is literal
 *   \c     the character c literally
 * '/' always separates components (a class cannot hold it); repeated
 * slashes count as one. Leading dots are not special. An absolute pattern
 * never matches a relative path. Never recurses: runs in
 * O(len(pattern) * len(path)) time. */
bool glob_match(const char *pattern, const char *path);

struct glob_walk_limits {
	size_t max_visited;  /* directory entries looked at; 0 = 1,000,000 */
	size_t max_matches;  /* 0 = 100,000 */
};

/* Called for each existing path that matches, in no particular order;
 * a non-zero return stops the walk and is returned by glob_expand. */
typedef int (*glob_match_cb)(const char *path, bool is_dir, void *userdata);

/* Expand pattern (absolute) by walking the file system from its longest
 * literal directory prefix (escapes removed; a symlink there is followed, as
 * the user named it). Never descends deeper than the pattern can match (no
 * limit below a '**'), never follows symlinks to directories while walking,
 * and does not go into directories named node_modules, or objects inside a
 * .git, unless a literal component of the pattern names them at that place
 * (they are still reported when they match). Where only literal names can
 * come next, looks them up instead of listing the directory. A pattern
 * without magic reports the path itself when it exists.
 * is_dir is true for a directory, false for anything else, including a
 * symlink to a directory. Unreadable directories are skipped (the sandboxed
 * command, running as us, cannot list them either).
 * Returns 0, the callback's non-zero value, -EINVAL for a relative pattern,
 * -EMFILE/-ENFILE/-ENOMEM, or -E2BIG when a limit was reached (also more
 * than 256 nested directories below the prefix); the matches reported so
 * far stand. */
int glob_expand(const char *pattern, const struct glob_walk_limits *limits,
		glob_match_cb cb, void *userdata);

#endif
