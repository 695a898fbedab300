/* Test driver for src/proxy/sigv4.c: reads a raw HTTP/1.1 request (head and body) on stdin, re-signs it with one masked/real AWS key pair the way the proxy does, writes the request to forward on stdout. Not installed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "proxy/sigv4.h"

/* Exit status: what sigv4_resign() answered. */
enum { EX_RESIGNED = 0, EX_NOT_AWS = 1, EX_PASS = 2, EX_REFUSED = 3, EX_USAGE = 4 };

static enum sigv4_policy policy(const char *s)
{
	if (strcmp(s, "resign") == 0)
		return SIGV4_RESIGN;
	if (strcmp(s, "passthrough") == 0)
		return SIGV4_PASSTHROUGH;
	if (strcmp(s, "deny") == 0)
		return SIGV4_DENY;
	fprintf(stderr, "sigv4_tool: policy must be deny, passthrough or resign: %s\n", s);
	exit(EX_USAGE);
}

static void usage(void)
{
	fputs("usage: sigv4_tool --masked-akid A --real-akid A --masked-secret S --real-secret S\n"
	      "       [--masked-token T --real-token T] [--host H] [--streaming P] [--presigned P]\n"
	      "       [--sigv4a P] [--chunk-max N] [--feed N] [--no-verbatim] < request > request\n"
	      "P is deny, passthrough or resign. --feed N feeds a streaming body N bytes at a time.\n"
	      "Exit: 0 re-signed, 1 not AWS, 2 passed through, 3 refused (reason on stderr).\n",
	      stderr);
	exit(EX_USAGE);
}

int main(int argc, char **argv)
{
	struct sigv4_pair pair = {0};
	struct sigv4_opts opts = {0};
	const char *host = NULL;
	size_t feed = 0;
	bool verbatim = true;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--no-verbatim") == 0) {
			verbatim = false;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (strcmp(a, "--masked-akid") == 0)
			pair.masked_akid = v;
		else if (strcmp(a, "--real-akid") == 0)
			pair.real_akid = v;
		else if (strcmp(a, "--masked-secret") == 0)
			pair.masked_secret = v;
		else if (strcmp(a, "--real-secret") == 0)
			pair.real_secret = v;
		else if (strcmp(a, "--masked-token") == 0)
			pair.masked_token = v;
		else if (strcmp(a, "--real-token") == 0)
			pair.real_token = v;
		else if (strcmp(a, "--host") == 0)
			host = v;
		else if (strcmp(a, "--streaming") == 0)
			opts.streaming = policy(v);
		else if (strcmp(a, "--presigned") == 0)
			opts.presigned = policy(v);
		else if (strcmp(a, "--sigv4a") == 0)
			opts.sigv4a = policy(v);
		else if (strcmp(a, "--chunk-max") == 0)
			opts.chunk_max = strtoul(v, NULL, 10);
		else if (strcmp(a, "--feed") == 0)
			feed = strtoul(v, NULL, 10);
		else
			usage();
	}
	if (!pair.masked_akid || !pair.real_akid || !pair.masked_secret || !pair.real_secret)
		usage();

	size_t cap = 1 << 16, len = 0;
	char *in = malloc(cap);
	for (;;) {
		if (!in)
			return EX_USAGE;
		size_t n = fread(in + len, 1, cap - len, stdin);
		len += n;
		if (n == 0)
			break;
		if (len == cap) {
			char *bigger = realloc(in, cap *= 2);
			if (!bigger)
				free(in);
			in = bigger;
		}
	}
	const char *end = memmem(in, len, "\r\n\r\n", 4);
	if (!end) {
		fputs("sigv4_tool: no complete head on stdin\n", stderr);
		free(in);
		return EX_USAGE;
	}
	size_t head_len = (size_t)(end - in) + 4;
	const char *body = in + head_len;
	size_t body_len = len - head_len;

	struct sigv4_out out;
	enum sigv4_result r = sigv4_resign(in, head_len, NULL, 0, host, &pair, 1, &opts, NULL, &out);
	if (r == SIGV4_NEED_BODY) {
		/* The proxy would read the body now; here it is all in hand. */
		unsigned char md[32];
		unsigned int mdl = 0;
		EVP_Digest(body, body_len, md, &mdl, EVP_sha256(), NULL);
		struct sigv4_body b = {.client_sha256 = md, .sent_sha256 = md, .verbatim = verbatim};
		r = sigv4_resign(in, head_len, NULL, 0, host, &pair, 1, &opts, &b, &out);
		if (r == SIGV4_NEED_BODY) {
			fputs("sigv4_tool: still needs the body\n", stderr);
			free(in);
			return EX_USAGE;
		}
	}
	switch (r) {
	case SIGV4_NOT_AWS:
	case SIGV4_PASS:
		fwrite(in, 1, len, stdout);
		free(in);
		return r == SIGV4_NOT_AWS ? EX_NOT_AWS : EX_PASS;
	case SIGV4_REFUSED:
		fprintf(stderr, "refused: %s\n", out.reason);
		free(in);
		return EX_REFUSED;
	case SIGV4_NEED_BODY:
	case SIGV4_RESIGNED:
		break;
	}
	fwrite(out.head, 1, out.head_len, stdout);
	if (!out.stream) {
		fwrite(body, 1, body_len, stdout);
		sigv4_out_free(&out);
		free(in);
		return EX_RESIGNED;
	}
	struct sigv4_buf ob = {0};
	const char *why = NULL;
	enum sigv4_stream_status st = SIGV4_STREAM_MORE;
	size_t step = feed ? feed : body_len + 1;
	for (size_t off = 0; off < body_len && st == SIGV4_STREAM_MORE; off += step) {
		size_t n = body_len - off < step ? body_len - off : step;
		st = sigv4_stream_feed(out.stream, body + off, n, &ob, &why);
		if (ob.len)
			fwrite(ob.data, 1, ob.len, stdout);
		ob.len = 0;
	}
	free(ob.data);
	sigv4_out_free(&out);
	free(in);
	if (st != SIGV4_STREAM_DONE) {
		fprintf(stderr, "refused: %s\n", st == SIGV4_STREAM_ERROR ? why : "the aws-chunked body ended early");
		return EX_REFUSED;
	}
	return EX_RESIGNED;
}
