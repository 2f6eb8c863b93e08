#include "util/threads.h"

#include <dlfcn.h>
#include <sched.h>
#include <torch/torch.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

#include "util/error.h"
#include "util/resource_limits.h"

namespace vit {
namespace {

// The cgroup's cpuset file of this process: cgroup v2 ("0::/PATH"), else v1 ("N:cpuset:/PATH").
std::string cpuset_text() {
  const std::string v2_dir = cgroup_v2_dir();
  const std::string v2 = v2_dir.empty() ? "" : v2_dir + "/cpuset.cpus.effective";
  std::ifstream cgroups("/proc/self/cgroup");
  std::string line;
  std::string v1;
  while (std::getline(cgroups, line)) {
    const auto at = line.find(":cpuset:");
    if (at != std::string::npos) {
      v1 = "/sys/fs/cgroup/cpuset" + line.substr(at + 8) + "/cpuset.effective_cpus";
    }
  }
  for (const std::string& path : {v2, v1}) {
    if (path.empty()) continue;
    std::ifstream in(path);
    std::string text;
    if (std::getline(in, text) && !text.empty()) return text;
  }
  return "";
}

}  // namespace

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof set, &set) != 0) {
    for (int c = 0; c < static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); ++c) {
      cpus.push_back(c);
    }
    return cpus;
  }
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}

std::vector<int> parse_cpu_list(const std::string& text) {
  std::vector<int> cpus;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    while (!part.empty() && (part.back() == '\n' || part.back() == ' ')) part.pop_back();
    if (part.empty()) continue;
    const auto dash = part.find('-');
    size_t used_first = 0, used_last = 0;
    int first = 0, last = 0;
    try {
      first = std::stoi(part.substr(0, dash), &used_first);
      last = dash == std::string::npos ? first : std::stoi(part.substr(dash + 1), &used_last);
    } catch (const std::exception&) {
      VIT_FAIL("CPU list '", text, "': '", part, "' is not a CPU number or range");
    }
    VIT_CHECK(used_first == (dash == std::string::npos ? part.size() : dash) &&
                  (dash == std::string::npos || used_last == part.size() - dash - 1) &&
                  first >= 0 && first <= last && last < CPU_SETSIZE,
              "CPU list '", text, "': '", part, "' is not a CPU number or range");
    for (int c = first; c <= last; ++c) cpus.push_back(c);
  }
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  return cpus;
}

std::string format_cpu_list(const std::vector<int>& cpus) {
  std::ostringstream out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    out << (i > 0 ? "," : "") << cpus[i];
    if (j > i) out << '-' << cpus[j];
    i = j + 1;
  }
  return out.str();
}

int granted_cpus() {
  const std::string text = cpuset_text();
  if (!text.empty()) {
    try {
      const auto cpus = parse_cpu_list(text);
      if (!cpus.empty()) return static_cast<int>(cpus.size());
    } catch (const Error&) {
      // An unreadable cpuset says nothing: the machine's CPUs below.
    }
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

CpuShare solo_cpu_share() {
  CpuShare share;
  const auto cpus = allowed_cpus();
  share.allowed = std::max(1, static_cast<int>(cpus.size()));
  share.mask = format_cpu_list(cpus);
  share.granted = std::max(granted_cpus(), share.allowed);
  return share;
}

ThreadSetup plan_threads(int64_t requested, const CpuShare& share) {
  ThreadSetup setup;
  const int own = std::max(1, share.allowed / std::max(1, share.sharing));
  setup.intra_op = requested > 0 ? static_cast<int>(requested) : own;
  const int fair = std::max(1, share.granted / std::max(1, share.local_ranks));
  std::ostringstream advice;
  if (setup.intra_op > own) {
    advice << "rank " << share.rank << ": " << setup.intra_op << " threads (train.threads) on "
           << own << " CPU(s) of its own (affinity mask " << share.mask;
    if (share.sharing > 1) advice << ", shared by " << share.sharing << " ranks";
    advice << "): the threads take turns and a step slows down; use train.threads 0, or give the "
              "rank more CPUs (launch/train.sh, or mpirun --bind-to none or --map-by slot:PE="
           << setup.intra_op << ")";
  } else if (own < fair) {
    advice << "rank " << share.rank << ": " << own << " CPU(s) of its own (affinity mask "
           << share.mask << ") of the " << share.granted << " on its machine, less than its share ("
           << fair << " for " << share.local_ranks
           << " rank(s)): plain mpirun binds each rank to one core; launch/train.sh, or mpirun "
              "--bind-to none or --map-by slot:PE="
           << fair << ", give it " << fair;
  }
  setup.advice = advice.str();
  return setup;
}

ThreadSetup configure_threads(int64_t requested, const CpuShare& share) {
  ThreadSetup setup = plan_threads(requested, share);
  // OpenBLAS exports this setter; looked up at run time so other BLAS libraries work unchanged.
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set(1);
    setup.blas_pinned = true;
  }
  torch::set_num_threads(setup.intra_op);
  return setup;
}

}  // namespace vit
