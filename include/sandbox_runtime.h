/* sandbox-runtime: the public C API of libsandbox_runtime. */
#ifndef SANDBOX_RUNTIME_H
#define SANDBOX_RUNTIME_H

#ifdef __cplusplus
extern "C" {
#endif

/* Every fallible function returns 0 or a negative errno-style code and, when
 * given a non-NULL struct srt_error, fills it with a message that names the
 * file, line, column or key the problem came from. There is no global error
 * state. */
struct srt_error {
	int code;           /* the same negative code the function returned */
	char message[1024]; /* NUL-terminated, human readable */
};

/* The library's version, for example "0.1.0". Static storage. */
const char *srt_version(void);

#ifdef __cplusplus
}
#endif

#endif
