/* credentials.*.extract: the JavaScript-style patterns srt's settings carry, as POSIX extended regular expressions. */
#ifndef SRT_CONFIG_CREDREGEX_H
#define SRT_CONFIG_CREDREGEX_H

#include <regex.h>
#include <stddef.h>

/*
 * Compile an extract pattern. The settings are shared with srt's other
 * implementation, whose patterns are JavaScript regular expressions; the
 * common subset is taken as POSIX extended (glibc regcomp, REG_EXTENDED)
 * after these rewrites: \d \D -> [0-9] [^0-9]; \t \n \r -> the
 * characters; inside [...]: \d \s \w \t \n \r, and escaped punctuation
 * (but \] and \-) becomes the characters. Constructs whose meaning
 * would silently change are refused rather than guessed: (?...) groups (non-capturing, lookaround, named),
 * lazy quantifiers (*? +? ?? }?), back references, \b \B, \S \D \W
 * inside [...], \u \x \c and other letter escapes. The pattern needs at
 * least one capturing group (group 1 is the secret).
 *
 * Returns 0 with *re compiled (regfree it), or -EINVAL with why (a static
 * text or one written into buf of size bufsize).
 */
int credregex_compile(const char *pattern, regex_t *re, const char **why, char *buf, size_t bufsize);

#endif
