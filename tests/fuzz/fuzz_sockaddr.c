/* libFuzzer target: the connect broker's reading of a unix socket address
 * (nbroker_decode_unix), which the sandboxed program writes whole: family,
 * length and path bytes. Checked against a reference written apart from it,
 * from the kernel's rules (net/unix/af_unix.c, unix_validate_addr and
 * unix_mkname_bsd): a pathname address is the bytes after the family up to
 * the first NUL or the length, whichever comes first; an abstract one starts
 * with NUL; the family alone is unnamed; longer than struct sockaddr_un is
 * refused.
 *
 * Input: the first byte is the length to claim (0..255), the rest the
 * address bytes (padded with zeros to 128 bytes). The policy's matcher
 * (policy_unix_socket_rule through glob_match) then judges the path. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "linux/netbroker.h"
#include "policy/glob.h"

static enum nbroker_unix_addr reference(const uint8_t *a, size_t len, char *path)
{
	if (len < 2)
		return NB_UNIX_INVALID;
	if (a[0] != (AF_UNIX & 0xff) || a[1] != 0) /* little-endian sa_family_t */
		return NB_UNIX_OTHER_FAMILY;
	if (len > 110)
		return NB_UNIX_INVALID;
	if (len == 2)
		return NB_UNIX_UNNAMED;
	if (a[2] == 0)
		return NB_UNIX_ABSTRACT;
	size_t k = 0;
	while (2 + k < len && a[2 + k] != 0) {
		path[k] = (char)a[2 + k];
		k++;
	}
	path[k] = '\0';
	return NB_UNIX_PATH;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t buf[256];
	memset(buf, 0, sizeof(buf));
	size_t len = data[0];
	size_t n = size - 1 < sizeof(buf) ? size - 1 : sizeof(buf);
	memcpy(buf, data + 1, n);
	char got[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
	char want[sizeof(got) + 256];
	memset(got, 'X', sizeof(got));
	enum nbroker_unix_addr g = nbroker_decode_unix(buf, len, got, sizeof(got));
	enum nbroker_unix_addr w = reference(buf, len, want);
	if (g != w)
		abort();
	if (g == NB_UNIX_PATH) {
		if (strcmp(got, want) != 0 || strlen(got) == 0)
			abort();
		/* Whatever the path, matching it against the rules' patterns
		 * ends; everything under the root matches the pattern of all. */
		if (got[0] == '/' && !glob_match("/**", got))
			abort();
		(void)glob_match("/run/**", got);
		(void)glob_match("/var/tmp/*/agent.*", got);
	}
	return 0;
}
