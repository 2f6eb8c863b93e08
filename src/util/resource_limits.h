// What the operating system lets a rank use: the open-file limit (ulimit -n), the address-space
// limit (ulimit -v) and the memory this machine has free. A run below what it needs does not fail
// cleanly on its own: Open MPI aborts with a page of text when it runs out of file descriptors,
// and OpenBLAS spins or sleeps forever when it cannot map its buffers. The programs check these
// limits at start, before the work that would trip on them, and stop with one line naming the limit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace vit {

// Open files a rank needs at least: Open MPI's sockets and shared-memory segments for its peers,
// the data, checkpoint, log and event files, the peer probe's sockets. Under ulimit -n 32, mpirun
// itself stalls while it starts two ranks (Open MPI 4.1); 256 leaves room for many peers.
constexpr uint64_t kMinOpenFiles = 256;

// Raises the soft open-file limit towards the hard one when it is below `wanted` (a soft limit is
// meant to be raised by the program that needs more). Throws Error naming the limit when the hard
// limit is below `needed`.
void ensure_open_files(uint64_t needed, uint64_t wanted);

// The soft address-space limit (ulimit -v) in bytes; none when unlimited.
std::optional<uint64_t> address_space_limit();

// The address space this process has mapped now (VmSize): the libraries, MPI's segments and the
// heap so far; 0 when unknown.
uint64_t mapped_bytes();

// Memory this process may still take: the machine's MemAvailable, or what is left of its control
// group's memory.max when that is less. `source` says which ("MemAvailable", "cgroup memory.max").
// None when neither can be read.
struct AvailableMemory {
  uint64_t bytes = 0;
  std::string source;
};
std::optional<AvailableMemory> available_memory();

// This process's cgroup v2 folder under /sys/fs/cgroup (from /proc/self/cgroup's "0::" line), or ""
// when it is in none (cgroup v1 only, or no cgroups).
std::string cgroup_v2_dir();

// "1.5 GiB", "820 MiB": for messages.
std::string format_bytes(uint64_t bytes);

}  // namespace vit
