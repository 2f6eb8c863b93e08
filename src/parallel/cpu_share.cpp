#include "parallel/cpu_share.h"

#include <algorithm>
#include <iterator>

namespace vit {

int count_sharing(size_t me, const std::vector<RankCpus>& ranks) {
  int sharing = 0;
  for (const RankCpus& other : ranks) {
    if (other.host != ranks[me].host) continue;
    std::vector<int> common;
    std::set_intersection(other.cpus.begin(), other.cpus.end(), ranks[me].cpus.begin(),
                          ranks[me].cpus.end(), std::back_inserter(common));
    if (!common.empty()) ++sharing;
  }
  return std::max(sharing, 1);
}

CpuShare gather_cpu_share(const MpiContext& mpi) {
  CpuShare share = solo_cpu_share();
  share.rank = mpi.rank();
  share.local_ranks = mpi.local_size();
  // "host\nCPU list": host names hold no newline.
  const std::vector<std::string> all = mpi.all_gather(mpi.host() + "\n" + share.mask);
  std::vector<RankCpus> ranks;
  for (const std::string& text : all) {
    const auto newline = text.find('\n');
    RankCpus rank;
    rank.host = text.substr(0, newline);
    rank.cpus = parse_cpu_list(newline == std::string::npos ? "" : text.substr(newline + 1));
    ranks.push_back(std::move(rank));
  }
  share.sharing = count_sharing(static_cast<size_t>(mpi.rank()), ranks);
  return share;
}

}  // namespace vit
