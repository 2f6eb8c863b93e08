#include "util/resource_limits.h"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "util/error.h"

namespace vit {
namespace {

std::string limit_text(rlim_t value) {
  return value == RLIM_INFINITY ? std::string("unlimited") : std::to_string(value);
}

// The number after `key` in a "Key:   123 kB" file (/proc/self/status, /proc/meminfo), in bytes.
std::optional<uint64_t> kib_field(const char* path, const std::string& key) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key, 0) != 0) continue;
    std::istringstream fields(line.substr(key.size()));
    uint64_t kib = 0;
    if (fields >> kib) return kib * 1024;
  }
  return std::nullopt;
}

// A cgroup v2 file holding one number, or "max".
std::optional<uint64_t> cgroup_number(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text == "max") return std::nullopt;
  try {
    return std::stoull(text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

std::string cgroup_v2_dir() {
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("0::", 0) == 0) return "/sys/fs/cgroup" + line.substr(3);
  }
  return "";
}

void ensure_open_files(uint64_t needed, uint64_t wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;  // nothing known: nothing to say
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted
                                                      : std::min<rlim_t>(limit.rlim_max, wanted);
    if (raised.rlim_cur > limit.rlim_cur && ::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      limit = raised;
    }
  }
  VIT_CHECK(limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= needed,
            "the open-file limit (ulimit -n) is ", limit_text(limit.rlim_cur), " (hard limit ",
            limit_text(limit.rlim_max), "), below the ", needed,
            " a rank needs for MPI's connections and its files: raise it (ulimit -n ", wanted,
            ", or the batch system's limit)");
}

std::optional<uint64_t> address_space_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return std::nullopt;
  return static_cast<uint64_t>(limit.rlim_cur);
}

uint64_t mapped_bytes() { return kib_field("/proc/self/status", "VmSize:").value_or(0); }

std::optional<AvailableMemory> available_memory() {
  std::optional<AvailableMemory> out;
  if (const auto available = kib_field("/proc/meminfo", "MemAvailable:")) {
    out = AvailableMemory{*available, "MemAvailable"};
  }
  const std::string dir = cgroup_v2_dir();
  if (!dir.empty()) {
    const auto max = cgroup_number(dir + "/memory.max");
    const auto current = cgroup_number(dir + "/memory.current");
    if (max && current) {
      const uint64_t left = *max > *current ? *max - *current : 0;
      if (!out || left < out->bytes) out = AvailableMemory{left, "cgroup memory.max"};
    }
  }
  return out;
}

std::string format_bytes(uint64_t bytes) {
  char text[32];
  const double mib = static_cast<double>(bytes) / (1024.0 * 1024.0);
  if (mib >= 1024) {
    std::snprintf(text, sizeof text, "%.1f GiB", mib / 1024);
  } else {
    std::snprintf(text, sizeof text, "%.0f MiB", mib);
  }
  return text;
}

}  // namespace vit
