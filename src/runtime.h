/* The supervisor's lifecycle: start a sandbox for a command, serve it, and return its exit status. */
#ifndef SRT_RUNTIME_H
#define SRT_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>

#include "policy/policy.h"

struct net_policy;

/* How the sandbox reaches the network. */
struct runtime_net {
	const struct net_policy *policy;  /* decides every connection */
	uint16_t http_port;               /* our HTTP proxy inside the sandbox (3128) */
	uint16_t socks_port;              /* our SOCKS5 proxy inside the sandbox (1080) */
	uint16_t external_http_port;      /* srt's httpProxyPort: the user's proxy on the host, or 0 */
	uint16_t external_socks_port;     /* srt's socksProxyPort, or 0 */
};

struct runtime_run_options {
	const struct policy *policy;
	struct runtime_net net;
	char *const *command;   /* argv; with shell, command[0] is the -c string */
	bool shell;
	bool debug;             /* print the plan and steps on stderr */
	const char *cwd;
};

/* Run one command in a sandbox built from the policy and wait for it,
 * forwarding SIGINT, SIGTERM, SIGHUP, SIGQUIT (and SIGUSR1/2). On success
 * *ret_status is the status srt should exit with: the command's own, 128+N
 * when it was killed by signal N, 126/127 when it could not be executed.
 * Returns a negative errno with err filled when the sandbox could not be
 * set up; the command did not run then. */
int runtime_run(const struct runtime_run_options *o, int *ret_status, struct srt_error *err);

/* Where srt's helper files live: the folder of the running srt when it
 * holds them (a build tree), else the install's libexec folder. */
char *runtime_helper_path(const char *name);

#endif
