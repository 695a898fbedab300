/* Pieces of srt's command line shared between its files. */
#ifndef SRT_CLI_H
#define SRT_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "config/config.h"
#include "policy/policy.h"

/* `srt check`: print the effective policy, every rule with where it came
 * from, the project allows that were ignored, and (debug) the mount plan.
 * Returns the exit status: 0, or 125 when the plan cannot be built. */
int cli_check_print(const struct config *cfg, const struct policy *p, bool debug, FILE *out);

/* `srt proxy-connect [--proxy ADDR:PORT] HOST PORT` (argv after the word
 * proxy-connect): open a CONNECT tunnel through the sandbox's HTTP proxy
 * and relay stdin and stdout through it, for ssh's ProxyCommand. Returns
 * the exit status. */
int cli_proxy_connect(int argc, char **argv);

#endif
