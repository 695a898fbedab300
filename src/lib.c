/* Entry points of libsandbox_runtime that are not part of a module. */
#include "sandbox_runtime.h"

const char *srt_version(void)
{
	return SRT_VERSION;
}
