// The CPUs each rank may use, agreed over the ranks: every rank's affinity mask (util/threads) is
// gathered with its host, and the ranks on one host whose masks overlap share those CPUs. Ranks
// that mpirun bound to cores of their own share nothing; unbound ranks share the whole machine.
#pragma once

#include <string>
#include <vector>

#include "parallel/mpi_context.h"
#include "util/threads.h"

namespace vit {

struct RankCpus {
  std::string host;
  std::vector<int> cpus;  // the rank's affinity mask
};

// The ranks on `ranks[me]`'s host whose masks overlap its own, itself included.
int count_sharing(size_t me, const std::vector<RankCpus>& ranks);

// This rank's CpuShare; collective over `mpi`.
CpuShare gather_cpu_share(const MpiContext& mpi);

}  // namespace vit
