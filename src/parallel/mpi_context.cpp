#include "parallel/mpi_context.h"

#include <algorithm>

#include "util/error.h"

namespace vit {

void check_mpi(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  VIT_FAIL("rank ", rank, ": ", call, " failed: ", std::string(text, static_cast<size_t>(length)));
}

MpiContext::MpiContext(int* argc, char*** argv) {
  int provided = 0;
  // FUNNELED: only the main thread calls MPI; LibTorch's worker threads never do.
  check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  // Errors come back as codes (turned into exceptions with the rank) instead of killing the job
  // with MPI's own message.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  check_mpi(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(MPI_COMM_WORLD, &world_size_), "MPI_Comm_size");

  MPI_Comm local;
  check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local),
            "MPI_Comm_split_type");
  MPI_Comm_rank(local, &local_rank_);
  MPI_Comm_size(local, &local_size_);
  MPI_Comm_free(&local);

  // Machines = ranks that are local rank 0 somewhere.
  const int leader = local_rank_ == 0 ? 1 : 0;
  check_mpi(MPI_Allreduce(&leader, &nodes_, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");

  char name[MPI_MAX_PROCESSOR_NAME];
  int length = 0;
  MPI_Get_processor_name(name, &length);
  host_.assign(name, static_cast<size_t>(length));
}

MpiContext::~MpiContext() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void MpiContext::abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // MPI_Abort does not return; this keeps [[noreturn]] honest
}

std::vector<std::string> MpiContext::all_gather(const std::string& text) const {
  return vit::all_gather(MPI_COMM_WORLD, text);
}

std::vector<std::string> all_gather(MPI_Comm comm, const std::string& text) {
  // Any length: the lengths first, then the texts end to end.
  int world_size = 1;
  check_mpi(MPI_Comm_size(comm, &world_size), "MPI_Comm_size");
  const int mine = static_cast<int>(text.size());
  std::vector<int> sizes(static_cast<size_t>(world_size)), offsets(sizes.size());
  check_mpi(MPI_Allgather(&mine, 1, MPI_INT, sizes.data(), 1, MPI_INT, comm), "MPI_Allgather");
  size_t total = 0;
  for (size_t r = 0; r < sizes.size(); ++r) {
    offsets[r] = static_cast<int>(total);
    total += static_cast<size_t>(sizes[r]);
  }
  std::vector<char> all(std::max<size_t>(total, 1));
  check_mpi(MPI_Allgatherv(text.data(), mine, MPI_CHAR, all.data(), sizes.data(), offsets.data(),
                           MPI_CHAR, comm),
            "MPI_Allgatherv");
  std::vector<std::string> out;
  for (size_t r = 0; r < sizes.size(); ++r) {
    out.emplace_back(all.data() + offsets[r], static_cast<size_t>(sizes[r]));
  }
  return out;
}

std::string mpi_library_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(text, &length);
  const std::string line(text, static_cast<size_t>(length));
  return line.substr(0, line.find_first_of(",\n"));
}

}  // namespace vit
