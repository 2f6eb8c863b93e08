// A rank that ends the job because another rank or machine stopped answering (a collective that
// outlived dist.timeout_s) exits with status 69 (EX_UNAVAILABLE of sysexits.h), not 1: that is
// what launch/train.sh --max-restarts (launch/restart-policy.sh) restarts from the last
// checkpoint, on the ranks that answer, while a configuration or data error (1) would only fail
// again. The MPI back end's watchdog exits with it; the NCCL back end throws PeerLostError, which
// report_error_and_end_job (parallel/rank_agreement.h) turns into it.
#pragma once

#include "util/error.h"

namespace vit {

constexpr int kPeerLostExitCode = 69;

class PeerLostError : public Error {
 public:
  using Error::Error;
};

}  // namespace vit
