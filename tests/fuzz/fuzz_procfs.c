/* libFuzzer target: the observer's readers of /proc/PID/syscall and
 * /proc/PID/maps lines (observer_parse_syscall_line,
 * observer_parse_maps_line, observer_is_libc), and the broker's reader
 * of /proc/PID/status's umask (callerfs_parse_umask) and of its signal
 * masks (callerfs_parse_signal_pending). The kernel writes those
 * files, but a maps line ends with the path of a mapped file, which the
 * sandboxed program names.
 *
 * Input: the line, made NUL-terminated. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linux/callerfs.h"
#include "linux/observer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1);
	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	size_t n = strlen(line);

	long nr;
	uint64_t sp, pc;
	if (observer_parse_syscall_line(line, &nr, &sp, &pc) == 0 && (nr < 0 || nr > 4095))
		abort();

	uint64_t a, b;
	bool x;
	const char *path;
	size_t plen;
	if (observer_parse_maps_line(line, &a, &b, &x, &path, &plen) == 0) {
		/* the path lies inside the line, without its newline */
		if (b < a || path < line || path + plen > line + n || memchr(path, '\n', plen))
			abort();
		(void)observer_is_libc(path, plen);
	}
	(void)observer_is_libc(line, n);
	mode_t um = 01000;
	int ur = callerfs_parse_umask(line, &um);
	if ((ur == 0 && um > 0777) || (ur != 0 && um != 01000))
		abort();
	int sigp = callerfs_parse_signal_pending(line);
	if (sigp != 0 && sigp != 1 && sigp != -ENOENT && sigp != -EINVAL)
		abort();
	free(line);
	return 0;
}
