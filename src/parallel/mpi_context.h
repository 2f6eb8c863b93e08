// MpiContext: MPI initialised once for the whole program (RAII), and where this rank stands:
// its rank, the world size, and its place among the ranks on the same machine (local rank),
// found with MPI_Comm_split_type(MPI_COMM_TYPE_SHARED). A program started without mpirun is a
// world of one.
#pragma once

#include <mpi.h>

#include <string>
#include <vector>

namespace vit {

class MpiContext {
 public:
  MpiContext(int* argc, char*** argv);
  ~MpiContext();
  MpiContext(const MpiContext&) = delete;
  MpiContext& operator=(const MpiContext&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }  // ranks on this machine
  int nodes() const { return nodes_; }            // machines in the job
  const std::string& host() const { return host_; }

  // Every rank's `text`, indexed by rank; collective.
  std::vector<std::string> all_gather(const std::string& text) const;

  // Ends the whole job at once (every rank, through mpirun or srun) with `code`; used after an
  // error on one rank, so that no other rank waits for it forever.
  [[noreturn]] static void abort(int code);

 private:
  int rank_ = 0;
  int world_size_ = 1;
  int local_rank_ = 0;
  int local_size_ = 1;
  int nodes_ = 1;
  std::string host_;
};

// Every rank's `text` over `comm`, indexed by rank; collective.
std::vector<std::string> all_gather(MPI_Comm comm, const std::string& text);

// The MPI library linked at run time, e.g. "Open MPI v4.1.4" (callable before MPI is initialised).
std::string mpi_library_version();

// Throws vit::Error naming the call and this rank when an MPI call does not return MPI_SUCCESS.
void check_mpi(int code, const char* call);

}  // namespace vit
