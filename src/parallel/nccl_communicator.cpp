#include "parallel/nccl_communicator.h"

#include <c10/cuda/CUDACachingAllocator.h>  // recordStream: buffers in use on stream_
#include <c10/cuda/CUDAFunctions.h>         // device_count, current_device
#include <c10/cuda/CUDAGuard.h>             // CUDAGuard: NCCL and CUDA calls act on device_

#include <chrono>
#include <exception>
#include <thread>

#include "parallel/mpi_context.h"
#include "parallel/peer_lost.h"
#include "util/duration.h"
#include "util/error.h"

#if NCCL_VERSION_CODE < NCCL_VERSION(2, 10, 0)
#error "vit-train needs NCCL 2.10 or newer (ncclAvg)"
#endif
// Non-blocking communicators (NCCL 2.14+) let init and enqueue be polled with a deadline and
// aborted; older versions block in init, and only synchronize() has a deadline.
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 14, 0)
#define VIT_NCCL_NONBLOCKING 1
#else
#define VIT_NCCL_NONBLOCKING 0
#endif

namespace vit {
namespace {

using Clock = std::chrono::steady_clock;

ncclDataType_t nccl_type(const torch::Tensor& t, int rank) {
  switch (t.scalar_type()) {
    case torch::kFloat32: return ncclFloat32;
    case torch::kFloat64: return ncclFloat64;
    case torch::kFloat16: return ncclFloat16;
    case torch::kBFloat16: return ncclBfloat16;
    case torch::kInt64: return ncclInt64;
    case torch::kInt32: return ncclInt32;
    case torch::kUInt8: return ncclUint8;
    case torch::kInt8: return ncclInt8;
    default: VIT_FAIL("rank ", rank, ": nccl: unsupported tensor type ", t.scalar_type());
  }
}

Clock::time_point deadline_after(double seconds) {
  return Clock::now() + seconds_to_duration(seconds);
}

// Sleeps between polls: short against a step's milliseconds, long enough to leave a core free.
void nap() { std::this_thread::sleep_for(std::chrono::microseconds(50)); }

// NCCL's detailed messages may span lines; our errors are one line.
std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

// NCCL's detailed message of the last error (2.13+), if any.
std::string last_error(ncclComm_t comm) {
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 13, 0)
  const char* text = comm != nullptr ? ncclGetLastError(comm) : nullptr;
  return text != nullptr ? one_line(text) : "";
#else
  (void)comm;
  return "";
#endif
}

torch::Device cuda_device(torch::Device device, int rank) {
  VIT_CHECK(device.is_cuda(), "rank ", rank, ": nccl needs a CUDA device, got ", device);
  const c10::DeviceIndex index = device.has_index() ? device.index() : c10::cuda::current_device();
  VIT_CHECK(index >= 0 && index < c10::cuda::device_count(), "rank ", rank,
            ": nccl: cuda:", static_cast<int>(index), " does not exist (",
            static_cast<int>(c10::cuda::device_count()), " CUDA devices)");
  return torch::Device(torch::kCUDA, index);
}

}  // namespace

void NcclCommunicator::EventDeleter::operator()(cudaEvent_t event) const {
  cudaEventDestroy(event);  // safe with work pending: freed once it completes
}

NcclCommunicator::NcclCommunicator(MPI_Comm comm, torch::Device device, double timeout_s)
    : mpi_(comm),
      probe_(comm),
      device_(cuda_device(device, mpi_.rank())),
      timeout_s_(timeout_s),
      stream_(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device_.index())),
      ready_(make_event()),
      done_(make_event()),
      started_(make_event(/*timing=*/true)),
      ended_(make_event(/*timing=*/true)) {
  VIT_CHECK(timeout_s > 0, "rank ", rank(), ": nccl: timeout must be positive, got ", timeout_s);
  c10::cuda::CUDAGuard guard(device_);  // NCCL binds the communicator to the current device

  // Rank 0 makes the id; MPI carries it to the others (it is plain bytes).
  ncclUniqueId id{};
  if (rank() == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
  check_mpi(MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, comm), "MPI_Bcast");

  last_op_ = "init";
#if VIT_NCCL_NONBLOCKING
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  // A world of one blocks: nothing to wait for, and it may be captured (parallel/nccl_policy.h).
  config.blocking = nccl_blocking(world_size()) ? 1 : 0;
  check_nccl(ncclCommInitRankConfig(&comm_, world_size(), id, rank(), &config),
             "ncclCommInitRankConfig");
  wait_until_ready("init");  // aborts comm_ (so nothing leaks) and throws on timeout or error
#else
  check_nccl(ncclCommInitRank(&comm_, world_size(), id, rank()), "ncclCommInitRank");
#endif
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_ == nullptr) return;  // never made, or already aborted
  try {
    c10::cuda::CUDAGuard guard(device_);
    // During unwinding (an error on this rank) peers may never finalize: abort at once.
    bool clean = std::uncaught_exceptions() == 0;
#if VIT_NCCL_NONBLOCKING
    // Finalize flushes the pending collectives; poll it with the deadline like everything else.
    if (clean) {
      const ncclResult_t result = ncclCommFinalize(comm_);
      clean = result == ncclSuccess || result == ncclInProgress;
    }
    const auto deadline = deadline_after(timeout_s_);
    ncclResult_t state = ncclInProgress;
    while (clean && ncclCommGetAsyncError(comm_, &state) == ncclSuccess &&
           state == ncclInProgress && Clock::now() < deadline) {
      nap();
    }
    clean = clean && state == ncclSuccess;
#endif
    if (clean) {
      ncclCommDestroy(comm_);
    } else {
      ncclCommAbort(comm_);
    }
  } catch (...) {
    ncclCommAbort(comm_);  // destructors do not throw; leave nothing running
  }
  comm_ = nullptr;
}

NcclCommunicator::Event NcclCommunicator::make_event(bool timing) const {
  c10::cuda::CUDAGuard guard(device_);
  cudaEvent_t event = nullptr;
  // Events for ordering only do not time: a timestamp would cost every record.
  const cudaError_t result =
      cudaEventCreateWithFlags(&event, timing ? cudaEventDefault : cudaEventDisableTiming);
  VIT_CHECK(result == cudaSuccess, "rank ", rank(),
            ": cudaEventCreateWithFlags failed: ", cudaGetErrorString(result));
  return Event(event);
}

void NcclCommunicator::all_reduce_mean(torch::Tensor& buffer) {
  collect_timing(/*wait=*/true);  // the previous all-reduce's events are about to be reused
  run("all-reduce", "ncclAllReduce", buffer, /*timed=*/true,
      [&](void* data, size_t count, ncclDataType_t type) {
        return ncclAllReduce(data, data, count, type, ncclAvg, comm_, stream_.stream());
      });
}

void NcclCommunicator::all_reduce_mean_captured(torch::Tensor& buffer) {
  VIT_CHECK(failure_.empty(), failure_);
  check_tensor(buffer, "all-reduce");
  const ncclDataType_t type = nccl_type(buffer, rank());
  c10::cuda::CUDAGuard guard(device_);
  const c10::cuda::CUDAStream current = c10::cuda::getCurrentCUDAStream(device_.index());
  last_op_ = "all-reduce";
  captured_ = true;
  check_nccl(ncclGroupStart(), "ncclGroupStart");
  const ncclResult_t queued =
      ncclAllReduce(buffer.data_ptr(), buffer.data_ptr(), static_cast<size_t>(buffer.numel()), type,
                    ncclAvg, comm_, current.stream());
  const ncclResult_t ended = ncclGroupEnd();
  check_nccl(queued, "ncclAllReduce");
  check_nccl(ended, "ncclGroupEnd");
  wait_until_ready("all-reduce");
}

double NcclCommunicator::all_reduce_seconds() {
  collect_timing(/*wait=*/false);
  return all_reduce_s_;
}

void NcclCommunicator::collect_timing(bool wait) {
  if (!timing_pending_ || !failure_.empty()) return;
  if (wait) {
    synchronize();  // with the deadline: done_ follows ended_; it collects the timing itself
    return;
  }
  c10::cuda::CUDAGuard guard(device_);
  const cudaError_t query = cudaEventQuery(ended_.get());
  if (query == cudaErrorNotReady) {
    (void)cudaGetLastError();  // "not ready" is no error; leave nothing for torch's next check
    return;
  }
  check_cuda(query, "cudaEventQuery");
  float ms = 0;
  check_cuda(cudaEventElapsedTime(&ms, started_.get(), ended_.get()), "cudaEventElapsedTime");
  all_reduce_s_ += ms / 1000.0;
  timing_pending_ = false;
}

void NcclCommunicator::broadcast(torch::Tensor& buffer, int root) {
  VIT_CHECK(root >= 0 && root < world_size(), "rank ", rank(), ": nccl broadcast: root ", root,
            " is not a rank of ", world_size());
  run("broadcast", "ncclBroadcast", buffer, /*timed=*/false, [&](void* data, size_t count, ncclDataType_t type) {
    return ncclBroadcast(data, data, count, type, root, comm_, stream_.stream());
  });
}

template <typename Enqueue>
void NcclCommunicator::run(const char* op, const char* call, torch::Tensor& buffer, bool timed,
                           Enqueue enqueue) {
  VIT_CHECK(failure_.empty(), failure_);
  check_tensor(buffer, op);
  // Everything that can throw comes before ncclGroupStart, so no group is left open.
  const ncclDataType_t type = nccl_type(buffer, rank());
  c10::cuda::CUDAGuard guard(device_);
  const c10::cuda::CUDAStream compute = c10::cuda::getCurrentCUDAStream(device_.index());
  last_op_ = op;

  // stream_ starts once the compute stream has produced `buffer` ...
  check_cuda(cudaEventRecord(ready_.get(), compute.stream()), "cudaEventRecord");
  check_cuda(cudaStreamWaitEvent(stream_.stream(), ready_.get(), 0), "cudaStreamWaitEvent");
  // Timed from here, once stream_ waited for the compute stream: the backward pass that produced
  // `buffer` is not counted, only the collective (whose kernel ncclGroupEnd launches).
  if (timed) check_cuda(cudaEventRecord(started_.get(), stream_.stream()), "cudaEventRecord");
  // ... the NCCL calls of this step form one group: one launch, one place where errors surface ...
  check_nccl(ncclGroupStart(), "ncclGroupStart");
  const ncclResult_t queued = enqueue(buffer.data_ptr(), static_cast<size_t>(buffer.numel()), type);
  const ncclResult_t ended = ncclGroupEnd();  // closed even on an error, before we throw
  check_nccl(queued, call);
  check_nccl(ended, "ncclGroupEnd");
  wait_until_ready(op);  // a non-blocking group may still be enqueueing
  if (timed) {
    check_cuda(cudaEventRecord(ended_.get(), stream_.stream()), "cudaEventRecord");
    timing_pending_ = true;
  }
  // ... and the compute stream continues once the result is there.
  check_cuda(cudaEventRecord(done_.get(), stream_.stream()), "cudaEventRecord");
  check_cuda(cudaStreamWaitEvent(compute.stream(), done_.get(), 0), "cudaStreamWaitEvent");
  // If `buffer` is freed before stream_ is done with it, the caching allocator must not hand its
  // memory to another tensor yet.
  c10::cuda::CUDACachingAllocator::recordStream(buffer.storage().data_ptr(), stream_);
}

void NcclCommunicator::synchronize() {
  VIT_CHECK(failure_.empty(), failure_);
  c10::cuda::CUDAGuard guard(device_);
  if (captured_) {  // all-reduces ran in the compute stream: done_ follows it from here
    const c10::cuda::CUDAStream current = c10::cuda::getCurrentCUDAStream(device_.index());
    check_cuda(cudaEventRecord(done_.get(), current.stream()), "cudaEventRecord");
  }
  const auto deadline = deadline_after(timeout_s_);
  for (;;) {
    const cudaError_t query = cudaEventQuery(done_.get());
    if (query == cudaSuccess) {
      collect_timing(/*wait=*/false);  // done_ follows ended_: complete
      return;
    }
    if (query != cudaErrorNotReady) check_cuda(query, "cudaEventQuery");
    (void)cudaGetLastError();  // "not ready" is no error; leave nothing for torch's next check
    comm_idle(last_op_);       // throws on an asynchronous NCCL error (a peer failed)
    if (Clock::now() >= deadline) fail_timeout(last_op_);
    nap();
  }
}

void NcclCommunicator::wait_until_ready(const char* op) {
  const auto deadline = deadline_after(timeout_s_);
  while (!comm_idle(op)) {
    if (Clock::now() >= deadline) fail_timeout(op);
    nap();
  }
}

bool NcclCommunicator::comm_idle(const char* op) {
  ncclResult_t state = ncclSuccess;
  check_nccl(ncclCommGetAsyncError(comm_, &state), "ncclCommGetAsyncError");
  if (state == ncclSuccess) return true;
  if (state == ncclInProgress) return false;
  const std::string last = last_error(comm_);
  abort_and_fail(detail::concat("NCCL ", op, " failed: ", ncclGetErrorString(state),
                                last.empty() ? "" : " (" + last + ")", "; communicator aborted"));
}

void NcclCommunicator::fail_timeout(const char* op) {
  const std::string silent = probe_.diagnose(2.0).text;
  abort_and_fail(detail::concat("NCCL ", op, " did not complete within ", timeout_s_, " s (",
                                silent.empty() ? "a peer rank died or hangs" : silent,
                                "); communicator aborted"),
                 /*peer_lost=*/true);
}

void NcclCommunicator::check_tensor(const torch::Tensor& buffer, const char* op) const {
  VIT_CHECK(buffer.defined(), "rank ", rank(), ": nccl ", op, ": undefined tensor");
  VIT_CHECK(buffer.device() == device_, "rank ", rank(), ": nccl ", op, ": tensor on ",
            buffer.device(), ", expected ", device_);
  VIT_CHECK(buffer.is_contiguous(), "rank ", rank(), ": nccl ", op,
            ": tensor is not contiguous (use one fused buffer)");
}

void NcclCommunicator::check_nccl(ncclResult_t result, const char* call) {
  if (result == ncclSuccess || result == ncclInProgress) return;
  const std::string last = last_error(comm_);
  abort_and_fail(detail::concat(call, " failed: ", ncclGetErrorString(result),
                                last.empty() ? "" : " (" + last + ")"));
}

void NcclCommunicator::check_cuda(cudaError_t result, const char* call) {
  if (result == cudaSuccess) return;
  abort_and_fail(detail::concat(call, " failed: ", cudaGetErrorString(result)));
}

void NcclCommunicator::abort_and_fail(const std::string& message, bool peer_lost) {
  failure_ = detail::concat("rank ", rank(), ": ", message);
  if (comm_ != nullptr) {
    // Abort frees comm_ and stops its kernels, so the compute stream that waits on done_ moves on.
    ncclCommAbort(comm_);
    comm_ = nullptr;
  }
  // A peer that stopped answering ends the job with kPeerLostExitCode (restarted by train.sh).
  if (peer_lost) throw PeerLostError(failure_);
  throw Error(failure_);
}

std::string nccl_library_version() {
  int code = 0;
  if (ncclGetVersion(&code) != ncclSuccess) return "unknown";
  // NCCL_VERSION's encoding: X*1000+Y*100+Z up to 2.8, X*10000+Y*100+Z after.
  const int major = code >= 10000 ? code / 10000 : code / 1000;
  const int minor = code >= 10000 ? code / 100 % 100 : code / 100 % 10;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(code % 100);
}

}  // namespace vit
