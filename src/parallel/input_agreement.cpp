#include "parallel/input_agreement.h"

#include <filesystem>


#include <map>
#include <sstream>

#include "parallel/mpi_context.h"
#include "parallel/rank_agreement.h"
#include "util/crc32.h"
#include "util/error.h"

namespace vit {

namespace {

uint32_t crc_of(const torch::Tensor& tensor) {
  const auto data = tensor.contiguous();
  return crc32_bytes(data.data_ptr(), static_cast<size_t>(data.numel()) * data.element_size());
}

std::string describe(const Split& split) {
  std::ostringstream out;
  out << split.size() << " images " << split.images.sizes() << " crc " << crc_of(split.images)
      << ", labels crc " << crc_of(split.labels);
  return out.str();
}

std::map<std::string, std::string> parse_lines(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

// "rank R <verb> <its text>; ...; rank 0 <verb> <rank 0's>" for the ranks whose text differs
// from rank 0's as a whole; "" when none does.
std::string whole_disagreement(const std::vector<std::string>& per_rank, const char* verb) {
  std::string out;
  for (size_t r = 1; r < per_rank.size(); ++r) {
    if (per_rank[r] != per_rank[0]) {
      out += (out.empty() ? "" : "; ") + std::string("rank ") + std::to_string(r) + " " + verb +
             " " + per_rank[r];
    }
  }
  return out.empty() ? "" : out + "; rank 0 " + verb + " " + per_rank[0];
}

}  // namespace

std::string shared_config_text(const TrainConfig& config) {
  std::string out;
  for (const auto& [key, value] : config.entries()) {
    if (key_role(key) == KeyRole::kPerRank) continue;
    out += key + "=" + value + "\n";
  }
  return out;
}

std::string data_digest(const Dataset& data) {
  return "train " + describe(data.train) + "; test " + describe(data.test) +
         (data.val.empty() ? "" : "; validation " + describe(data.val));
}

std::string config_disagreement(const std::vector<std::string>& per_rank) {
  if (per_rank.empty()) return "";
  const auto reference = parse_lines(per_rank[0]);
  std::string out;
  for (const auto& [key, value] : reference) {
    std::string differs;
    for (size_t r = 1; r < per_rank.size(); ++r) {
      const auto theirs = parse_lines(per_rank[r]);
      const auto it = theirs.find(key);
      const std::string have = it == theirs.end() ? "(missing)" : it->second;
      if (have != value) differs += ", rank " + std::to_string(r) + " " + have;
    }
    if (!differs.empty()) {
      out += (out.empty() ? "" : "; ") + key + ": rank 0 " + value + differs;
    }
  }
  return out;
}

std::string data_disagreement(const std::vector<std::string>& per_rank) {
  return whole_disagreement(per_rank, "loaded");
}

std::string resume_digest(const std::string& resumed_from, int64_t step, uint64_t model_checksum) {
  const std::string what = resumed_from.empty()
                               ? std::string("nothing (a fresh start)")
                               : std::filesystem::path(resumed_from).filename().string() +
                                     " (step " + std::to_string(step) + ")";
  return what + ", model checksum " + std::to_string(model_checksum);
}

std::string resume_disagreement(const std::vector<std::string>& per_rank) {
  return whole_disagreement(per_rank, "resumed");
}

bool agree_on_resume(const std::string& digest, const MpiContext& mpi) {
  const auto digests = mpi.all_gather(digest);
  return succeeded_on_all_ranks(mpi.rank(), [&] {
    const std::string differs = resume_disagreement(digests);
    VIT_CHECK(differs.empty(), "the ranks resumed different states: ", differs,
              " (every rank must see the same checkpoints: put the run directory on a file "
              "system all machines share, or copy it to each)");
  });
}

bool agree_on_inputs(const TrainConfig& config, const Dataset& data, const MpiContext& mpi) {
  const auto configs = mpi.all_gather(shared_config_text(config));
  const auto digests = mpi.all_gather(data_digest(data));
  // Every rank holds the same lists and reaches the same verdict; rank 0 says it once.
  return succeeded_on_all_ranks(mpi.rank(), [&] {
    const std::string keys = config_disagreement(configs);
    VIT_CHECK(keys.empty(), "the ranks were given different configs: ", keys,
              " (every rank must run with the same keys)");
    const std::string loaded = data_disagreement(digests);
    VIT_CHECK(loaded.empty(), "the ranks loaded different data: ", loaded,
              " (data.dir must hold the same files on every machine)");
  });
}

}  // namespace vit
