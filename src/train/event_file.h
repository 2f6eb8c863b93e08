// TensorBoard event files: a TFRecord stream of Event protocol buffers (src/train/
// tensorboard.proto), each framed as length, masked CRC-32C of the length, payload, masked
// CRC-32C of the payload. TensorBoard reads every file named *tfevents* in a folder, in name
// order. This header names no protobuf type: PyPI's LibTorch carries headers of another protobuf
// version, so only event_file.cpp, compiled without LibTorch's include path, sees the messages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace vit {

// CRC-32C (Castagnoli) of `size` bytes, and the masked form TFRecord frames carry (rotated and
// offset so that a CRC of data that holds CRCs is not trivially related to them).
uint32_t crc32c(const void* data, size_t size);
uint32_t masked_crc32c(const void* data, size_t size);

// The frame TFRecord puts around one payload.
std::string tfrecord_frame(const std::string& payload);

struct TbScalar {
  std::string tag;
  float value = 0;
};

// One event as read back from a file.
struct TbEvent {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;  // set in a file's first event only
  std::vector<TbScalar> scalars;
  // The hparams plugin's session start (EventFileWriter::write_hparams): key, value as text.
  std::vector<std::pair<std::string, std::string>> hparams;
};

struct EventFileContents {
  std::vector<TbEvent> events;
  std::vector<std::string> payloads;  // the serialized events, as stored, same order as events
  uint64_t intact_bytes = 0;          // where the last intact record ends
  uint64_t size = 0;                  // of the file
  // Empty, or the damage found, "; "-joined ("truncated record at byte N", a CRC mismatch): a
  // writer killed mid-record leaves a truncated one, which TensorBoard skips too; a damaged record
  // before intact ones is skipped alone (`skipped` counts those).
  std::string problem;
  int64_t skipped = 0;
};

// Reads every intact record of `path`, stepping over damaged ones (to the next intact record);
// throws vit::Error naming it when it cannot be read.
EventFileContents read_event_file(const std::string& path);

// True for the names TensorBoard takes for event files.
bool is_event_file_name(const std::string& file_name);

// For a run resumed from the checkpoint of `step`: rewrites, atomically, each event file of `dir`
// that has events beyond `step` or damage, keeping the intact events up to `step` (those after a
// damaged record too), so
// that no step is there twice once the run has written them again. Returns one line per file it
// changed, for the log. A missing `dir` is no error (a run from before event files).
std::vector<std::string> drop_events_after_step(const std::string& dir, int64_t step);

// Rank 0's event file. Every write goes to disk at once (one record per call, flushed), as
// metrics.jsonl's lines do: a crash loses at most the event being written.
class EventFileWriter {
 public:
  // Creates `dir` when missing and a new file events.out.tfevents.<seconds>.<host>.<pid>.<n>
  // in it, starting with the file_version event; throws vit::Error naming the folder or file.
  explicit EventFileWriter(const std::string& dir);
  ~EventFileWriter();
  EventFileWriter(const EventFileWriter&) = delete;
  EventFileWriter& operator=(const EventFileWriter&) = delete;

  const std::string& path() const { return path_; }
  // One event holding `scalars` at `step`; wall_time < 0 means now.
  void write_scalars(int64_t step, const std::vector<TbScalar>& scalars, double wall_time = -1);
  // The run's hyperparameters for TensorBoard's HPARAMS dashboard: one event at step 0 with the
  // hparams plugin's session start info (tag "_hparams_/session_start_info"). A value that reads
  // whole as a number is a number, true and false are booleans, anything else is text.
  void write_hparams(const std::vector<std::pair<std::string, std::string>>& hparams);

 private:
  void write_record(const std::string& payload);

  struct Closer {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };
  std::string path_;
  std::unique_ptr<std::FILE, Closer> file_;
};

}  // namespace vit
