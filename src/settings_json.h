/* One settings generation as the JSON object srt_runtime_config_json returns (sandbox_runtime(3), EFFECTIVE SETTINGS). */
#ifndef SRT_SETTINGS_JSON_H
#define SRT_SETTINGS_JSON_H

#include "runtime.h"

/* The effective settings of s, with the origin of each rule, as srt check
 * shows them. *ret is malloc'd, written only on success. Returns 0 or
 * -ENOMEM. */
int settings_json(const struct settings *s, enum srt_observe observe, char **ret);

#endif
