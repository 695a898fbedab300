/* Pieces of srt's command line shared between its files. */
#ifndef SRT_CLI_H
#define SRT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"
#include "policy/policy.h"
#include "proxy/host.h"

/* `srt check`: print the effective policy, every rule with where it came
 * from, the project allows that were ignored, and (debug) the mount plan.
 * Returns the exit status: 0, or 125 when the plan cannot be built. */
int cli_check_print(const struct config *cfg, const struct policy *p, bool debug, FILE *out);

/* `srt proxy-connect [--proxy ADDR:PORT] HOST PORT` (argv after the word
 * proxy-connect): open a CONNECT tunnel through the sandbox's HTTP proxy
 * and relay stdin and stdout through it, for ssh's ProxyCommand. Returns
 * the exit status. */
int cli_proxy_connect(int argc, char **argv);

/* `srt explain [OPTIONS] PATH [--write]` or `srt explain [OPTIONS] HOST[:PORT]`
 * (argv after the word explain; settings and trust_project from the
 * options before it): print whether the sandbox allows the access and
 * which rule decides. Returns 0 allowed, 1 denied, 125 bad settings or
 * arguments. */
int cli_explain(int argc, char **argv, const char *settings, bool trust_project);

/* What `srt explain ARG` asks about. */
enum cli_explain_kind {
	CLI_EXPLAIN_PATH,
	CLI_EXPLAIN_HOST,
};

struct cli_explain_arg {
	enum cli_explain_kind kind;
	struct proxy_host host;  /* CLI_EXPLAIN_HOST: canonical, as the proxies see it */
	uint16_t port;           /* CLI_EXPLAIN_HOST: 1..65535 */
};

/* Classify arg without touching the file system (the caller says whether
 * it exists): a path when it starts with '/', '.' or '~', contains a '/'
 * (except in an http:// or https:// URL, which names its host and port),
 * or exists; otherwise HOST, HOST:PORT, [IPV6]:PORT or a bare IPv6
 * address, port 443 by default, canonicalized as the proxies do. Returns 0,
 * or -EINVAL with *why (static text) for an empty argument, an unsupported
 * URL scheme or an invalid host or port. */
int cli_explain_classify(const char *arg, bool exists, struct cli_explain_arg *ret, const char **why);

/* "host:port" or "[v6]:port" into buf; returns what snprintf returns. */
int cli_explain_format_target(const struct cli_explain_arg *a, char *buf, size_t size);

#endif
