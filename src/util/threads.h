// CPU threads of one rank. LibTorch parallelises its own kernels over intra-op threads; OpenBLAS,
// which Debian's LibTorch calls for matrix products, would start a second pool of its own on top.
// Measured on the 2-core development machine: that double pool made the seed model's training
// step about twice as slow as one thread, while OpenBLAS held to one thread under LibTorch's
// threads costs nothing. So OpenBLAS is pinned to one thread and LibTorch gets the rank's share.
//
// The rank's share follows the CPUs it may really run on, its affinity mask: a launcher may have
// bound it (plain `mpirun -n 1` binds the rank to ONE core) or a batch system may hand the job a
// few of the machine's cores (a cgroup cpuset). Ranks on one machine whose masks overlap share
// those CPUs; ranks with masks of their own each use theirs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vit {

struct ThreadSetup {
  int intra_op = 1;          // LibTorch intra-op threads of this rank
  bool blas_pinned = false;  // whether an OpenBLAS was found and set to one thread
  std::string advice;        // one line for the log when the rank's threads and cores disagree
};

// The CPUs the calling thread may run on (sched_getaffinity), ascending.
std::vector<int> allowed_cpus();

// The CPUs this process's cgroup may use (cpuset, v2 or v1), or the machine's online CPUs when the
// cgroup does not say: what the batch system gave the job on this machine.
int granted_cpus();

// "0-3,8,10-11" -> {0,1,2,3,8,10,11}; throws vit::Error on malformed text.
std::vector<int> parse_cpu_list(const std::string& text);
// {0,1,2,3,8} -> "0-3,8".
std::string format_cpu_list(const std::vector<int>& cpus);

// Where one rank stands on its machine.
struct CpuShare {
  int rank = 0;
  int allowed = 1;      // CPUs in this rank's affinity mask
  std::string mask;     // those CPUs, as "0-3"
  int sharing = 1;      // ranks on this machine whose masks overlap this one's (itself included)
  int granted = 1;      // CPUs given to the job on this machine (granted_cpus())
  int local_ranks = 1;  // ranks on this machine
};

// This rank's share when it is alone (no MPI): its own mask, shared with nobody.
CpuShare solo_cpu_share();

// requested > 0: exactly that many; 0: the CPUs of the rank's mask divided among the ranks that
// share them (at least 1). With `advice` set when the rank has more threads than those CPUs
// (the threads take turns) or fewer CPUs than its share of the granted ones (a launcher's
// binding), naming the fix.
ThreadSetup plan_threads(int64_t requested, const CpuShare& share);

// plan_threads, then applied: LibTorch's intra-op threads set, OpenBLAS pinned to one.
ThreadSetup configure_threads(int64_t requested, const CpuShare& share);

}  // namespace vit
