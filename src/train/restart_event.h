// RestartEvent: why this job is a restart, as launch/train.sh (or a SLURM script) says when it
// starts a failed job again with --resume auto (--max-restarts N): the attempt, the limit and the
// cause, in the ranks' environment (VIT_RESTART_ATTEMPT, VIT_RESTART_MAX, VIT_RESTART_CAUSE).
// Rank 0 records it as a "restart" line of metrics.jsonl (and its TensorBoard scalars) at the step
// it resumed from, and in the log, so that a run's files show every restart.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "util/json.h"

namespace vit {

struct RestartEvent {
  int attempt = 0;       // 1 for the first restart
  int max_restarts = 0;  // --max-restarts
  std::string cause;     // one line: "rank 1 on node2 exited on signal 9 (Killed)"
};

// The restart the three values describe (as found in the environment: null when unset); nullopt
// when `attempt` is unset. Throws vit::Error naming the variable when a value is malformed.
std::optional<RestartEvent> parse_restart(const char* attempt, const char* max_restarts,
                                          const char* cause);

// parse_restart of this process's environment.
std::optional<RestartEvent> restart_from_environment();

// The metrics.jsonl line of a restart that resumed at `step` in epoch `epoch` (counted from 1) on
// `world_size` ranks.
JsonLine restart_line(const RestartEvent& event, int64_t step, int64_t epoch, int world_size);

// The log's line: "restart 1 of 2 after rank 1 on node2 exited on signal 9 (Killed): training
// goes on from step 12 on 2 rank(s)".
std::string describe(const RestartEvent& event, int64_t step, int world_size);

}  // namespace vit
