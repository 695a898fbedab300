/* Shared by the benchmark helpers: lift the soft descriptor limit to the hard one. */
#ifndef BENCH_NOFILE_H
#define BENCH_NOFILE_H

#include <sys/resource.h>

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

#endif
