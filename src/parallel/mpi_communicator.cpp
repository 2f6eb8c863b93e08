#include "parallel/mpi_communicator.h"

#include <chrono>
#include <limits>

#include "parallel/mpi_context.h"
#include "util/error.h"

namespace vit {
namespace {

MPI_Datatype mpi_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32: return MPI_FLOAT;
    case torch::kFloat64: return MPI_DOUBLE;
    case torch::kInt64: return MPI_INT64_T;
    case torch::kInt32: return MPI_INT32_T;
    case torch::kUInt8: return MPI_UINT8_T;
    default: VIT_FAIL("mpi: unsupported tensor type ", t.scalar_type());
  }
}

int count_of(const torch::Tensor& t) {
  VIT_CHECK(t.numel() <= std::numeric_limits<int>::max(), "mpi: tensor of ", t.numel(),
            " elements is too large for one call");
  return static_cast<int>(t.numel());
}

// Runs `op` on a contiguous CPU tensor holding `buffer`'s values, then copies the result back when
// that tensor was a staging copy.
template <typename Op>
void on_host(torch::Tensor& buffer, Op op) {
  const bool direct = buffer.device().is_cpu() && buffer.is_contiguous();
  torch::Tensor host = direct ? buffer : buffer.to(torch::kCPU).contiguous();
  op(host);
  if (!direct) buffer.copy_(host);
}

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm comm, double timeout_s) : comm_(comm) {
  check_mpi(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(comm_, &world_size_), "MPI_Comm_size");
  if (world_size_ > 1 && timeout_s > 0) {
    probe_ = std::make_unique<PeerProbe>(comm_);  // collective: every rank builds one
    const PeerProbe* probe = probe_.get();
    watchdog_ = std::make_unique<Watchdog>(timeout_s, rank_, [probe](double wait_s) {
      const PeerProbe::Report report = probe->diagnose(wait_s);
      return Watchdog::Report{report.text, report.unreachable};
    });
  }
}

void MpiCommunicator::all_reduce_mean(torch::Tensor& buffer) {
  if (world_size_ == 1) return;
  // A GPU buffer may still be being computed (the backward pass is queued): wait for it before
  // the clock starts, so that what is timed is the exchange.
  if (buffer.is_cuda()) torch::cuda::synchronize(buffer.device().index());
  const auto start = std::chrono::steady_clock::now();
  on_host(buffer, [&](torch::Tensor& host) {
    const auto armed = guard("the gradient all-reduce");
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, host.data_ptr(), count_of(host), mpi_type(host), MPI_SUM,
                            comm_),
              "MPI_Allreduce");
    host.div_(world_size_);
  });
  all_reduce_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void MpiCommunicator::broadcast(torch::Tensor& buffer, int root) {
  if (world_size_ == 1) return;
  on_host(buffer, [&](torch::Tensor& host) {
    const auto armed = guard("a broadcast");
    check_mpi(MPI_Bcast(host.data_ptr(), count_of(host), mpi_type(host), root, comm_),
              "MPI_Bcast");
  });
}

double MpiCommunicator::sum(double value) {
  double out = 0;
  const auto armed = guard("a sum over the ranks");
  check_mpi(MPI_Allreduce(&value, &out, 1, MPI_DOUBLE, MPI_SUM, comm_), "MPI_Allreduce");
  return out;
}

int64_t MpiCommunicator::sum(int64_t value) {
  int64_t out = 0;
  const auto armed = guard("a sum over the ranks");
  check_mpi(MPI_Allreduce(&value, &out, 1, MPI_INT64_T, MPI_SUM, comm_), "MPI_Allreduce");
  return out;
}

int64_t MpiCommunicator::max(int64_t value) {
  int64_t out = 0;
  const auto armed = guard("the step's stop-signal check");
  check_mpi(MPI_Allreduce(&value, &out, 1, MPI_INT64_T, MPI_MAX, comm_), "MPI_Allreduce");
  return out;
}

std::vector<uint64_t> MpiCommunicator::all_gather(uint64_t value) {
  std::vector<uint64_t> out(static_cast<size_t>(world_size_));
  const auto armed = guard("an all-gather");
  check_mpi(MPI_Allgather(&value, 1, MPI_UINT64_T, out.data(), 1, MPI_UINT64_T, comm_),
            "MPI_Allgather");
  return out;
}

void MpiCommunicator::barrier() {
  const auto armed = guard("a barrier");
  check_mpi(MPI_Barrier(comm_), "MPI_Barrier");
}

Watchdog::Armed MpiCommunicator::guard(const char* what) {
  return watchdog_ ? watchdog_->arm(what) : Watchdog::Armed(nullptr);
}

}  // namespace vit
