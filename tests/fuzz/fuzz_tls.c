/* libFuzzer target: the TLS engine over buffers (proxy/tls.c) fed arbitrary bytes from a peer, in pieces: the server's leg (a client's hello and what follows) and the client's leg (a server's answer); what the engine keeps between feeds, its reads and its output. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/tls.h"

static struct tls_ca *ca;

static void drive(struct tls_io *io, const uint8_t *data, size_t size)
{
	if (size == 0)
		return;
	/* The first byte chooses how the rest is cut into feeds. */
	size_t step = (size_t)(data[0] % 61) + 1;
	data++;
	size--;
	char out[4096];
	for (size_t off = 0; off < size;) {
		size_t n = size - off < step ? size - off : step;
		/* The caller's buffer goes away after each feed: a copy that is
		 * freed at once catches any use of it afterwards. */
		char *piece = malloc(n);
		if (!piece)
			return;
		memcpy(piece, data + off, n);
		if (tls_io_feed(io, piece, n) < 0) {
			free(piece);
			return;
		}
		int h = tls_io_ready(io) ? 1 : tls_io_handshake(io);
		if (h == 1) {
			long k;
			while ((k = tls_io_read(io, out, sizeof(out))) > 0)
				if ((size_t)k > sizeof(out))
					abort();
		}
		tls_io_keep(io);
		free(piece);
		size_t len = 0;
		free(tls_io_take(io, &len));
		if (tls_io_failed(io) && !tls_io_error(io)[0])
			abort();
		off += n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ca) {
		char err[256];
		if (tls_ca_new_ephemeral(&ca, err, sizeof(err)) < 0)
			abort();
	}
	struct tls_io *s = tls_io_server(ca, "good.test");
	if (s) {
		drive(s, data, size);
		tls_io_free(s);
	}
	struct tls_io *c = tls_io_client(ca, "good.test");
	if (c) {
		tls_io_handshake(c);
		size_t len = 0;
		free(tls_io_take(c, &len));
		drive(c, data, size);
		tls_io_free(c);
	}
	return 0;
}
