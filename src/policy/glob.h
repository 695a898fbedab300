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
 *   ?      one character except '/'
 *   [...]  a class: ranges a-z, negation with ! or ^, ']' first is literal
 *   \c     the character c literally
 * Leading dots are not special. Never recurses without bound: runs in
 * O(len(pattern) * len(path)) time. */
bool glob_match(const char *pattern, const char *path);

struct glob_walk_limits {
	size_t max_visited;  /* directory entries looked at; 0 = 1,000,000 */
	size_t max_matches;  /* 0 = 100,000 */
};

/* Called for each existing path that matches, in no particular order;
 * a non-zero return stops the walk and is returned by glob_expand. */
typedef int (*glob_match_cb)(const char *path, bool is_dir, void *userdata);

/* Expand pattern by walking the file system from its longest literal
 * directory prefix. Never descends deeper than the pattern can match (no
 * limit below a '**'), never follows symlinks to directories while walking,
 * and skips directories named node_modules and .git/objects unless the
 * pattern names them literally. Returns 0, the callback's non-zero value, or
 * -E2BIG when a limit was reached (the matches reported so far stand). */
int glob_expand(const char *pattern, const struct glob_walk_limits *limits,
		glob_match_cb cb, void *userdata);

#endif
