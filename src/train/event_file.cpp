#include "train/event_file.h"

#include <unistd.h>  // gethostname, getpid, close

#include <boost/crc.hpp>  // CRC-32C: Debian bookworm packages no CRC-32C library of its own

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <chrono>
#include <cstdio>  // fdopen
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "train/tensorboard.pb.h"  // Event, Summary: generated from tensorboard.proto
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json.h"  // json_number

namespace vit {
namespace fs = std::filesystem;

namespace {

constexpr const char* kFileVersion = "brain.Event:2";
constexpr size_t kHeaderBytes = 12;  // uint64 length, uint32 masked CRC of the length
constexpr size_t kFooterBytes = 4;   // uint32 masked CRC of the payload

// CRC-32C: polynomial 0x1EDC6F41, reflected, initial value and final XOR all ones.
using Crc32c = boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true>;

// TFRecord's integers are little-endian whatever the machine.
void put_le(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t get_le(const char* in, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value |= uint64_t{static_cast<unsigned char>(in[i])} << (8 * i);
  return value;
}

double unix_time_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

constexpr const char* kHparamsPlugin = "hparams";
constexpr const char* kHparamsTag = "_hparams_/session_start_info";

// A config value as the hparams dashboard should show it: number, boolean or text.
tensorboard::HParamValue hparam_value(const std::string& text) {
  tensorboard::HParamValue value;
  char* end = nullptr;
  errno = 0;
  const double number = text.empty() ? 0 : std::strtod(text.c_str(), &end);
  if (!text.empty() && end == text.c_str() + text.size() && errno == 0 && std::isfinite(number)) {
    value.set_number_value(number);
  } else if (text == "true" || text == "false") {
    value.set_bool_value(text == "true");
  } else {
    value.set_string_value(text);
  }
  return value;
}

// The text a value of hparam_value() came from (numbers in their shortest form).
std::string text_of(const tensorboard::HParamValue& value) {
  switch (value.kind_case()) {
    case tensorboard::HParamValue::kNumberValue:
      return json_number(value.number_value());  // shortest text that reads back exactly
    case tensorboard::HParamValue::kBoolValue:
      return value.bool_value() ? "true" : "false";
    default:
      return value.string_value();
  }
}

// Events decoded from their payload; false when the payload is not an Event.
bool decode(const std::string& payload, TbEvent& event) {
  tensorboard::Event message;
  if (!message.ParseFromString(payload)) return false;
  event.wall_time = message.wall_time();
  event.step = message.step();
  event.file_version = message.file_version();
  for (const auto& value : message.summary().value()) {
    if (value.value_case() == tensorboard::Summary::Value::kSimpleValue) {
      event.scalars.push_back({value.tag(), value.simple_value()});
    }
    if (value.metadata().plugin_data().plugin_name() == kHparamsPlugin) {
      tensorboard::HParamsPluginData data;
      if (!data.ParseFromString(value.metadata().plugin_data().content())) return false;
      for (const auto& [key, hparam] : data.session_start_info().hparams()) {
        event.hparams.emplace_back(key, text_of(hparam));
      }
      std::sort(event.hparams.begin(), event.hparams.end());
    }
  }
  return true;
}

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  Crc32c crc;
  crc.process_bytes(data, size);
  return crc.checksum();
}

uint32_t masked_crc32c(const void* data, size_t size) {
  const uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string tfrecord_frame(const std::string& payload) {
  std::string frame;
  frame.reserve(kHeaderBytes + payload.size() + kFooterBytes);
  put_le(frame, payload.size(), 8);
  put_le(frame, masked_crc32c(frame.data(), 8), 4);
  frame += payload;
  put_le(frame, masked_crc32c(payload.data(), payload.size()), 4);
  return frame;
}

namespace {

// The record at byte `at` of `bytes`: its payload, its event and its end, or why it is damaged.
struct Record {
  std::string problem;  // "" when intact
  bool framed = false;  // its length is intact (checked): a damaged payload can be stepped over
  size_t end = 0;       // (when framed) where the next record starts
  std::string payload;
  TbEvent event;
};

Record read_record(const std::string& bytes, size_t at) {
  Record record;
  const auto where = [at] { return " at byte " + std::to_string(at); };  // (built only if needed)
  if (bytes.size() - at < kHeaderBytes) {
    record.problem = "truncated record" + where();
    return record;
  }
  const char* header = bytes.data() + at;
  if (get_le(header + 8, 4) != masked_crc32c(header, 8)) {
    record.problem = "length checksum mismatch" + where();
    return record;
  }
  const uint64_t length = get_le(header, 8);
  if (length > bytes.size() - at - kHeaderBytes ||
      bytes.size() - at - kHeaderBytes - length < kFooterBytes) {
    record.problem = "truncated record" + where();
    return record;
  }
  record.framed = true;
  record.end = at + kHeaderBytes + length + kFooterBytes;
  record.payload = bytes.substr(at + kHeaderBytes, length);
  if (get_le(bytes.data() + at + kHeaderBytes + length, 4) !=
      masked_crc32c(record.payload.data(), record.payload.size())) {
    record.problem = "data checksum mismatch" + where();
  } else if (!decode(record.payload, record.event)) {
    record.problem = "record" + where() + " is not an Event";
  }
  return record;
}

}  // namespace

EventFileContents read_event_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  VIT_CHECK(in, path, ": cannot open for reading");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  VIT_CHECK(!in.bad(), path, ": read failed");

  EventFileContents contents;
  contents.size = bytes.size();
  size_t at = 0;
  while (at < bytes.size()) {
    Record record = read_record(bytes, at);
    if (record.problem.empty()) {
      contents.events.push_back(std::move(record.event));
      contents.payloads.push_back(std::move(record.payload));
      at = record.end;
      contents.intact_bytes = at;
      continue;
    }
    contents.problem += (contents.problem.empty() ? "" : "; ") + record.problem;
    // A damaged record costs itself alone: a record whose length is intact is stepped over, else
    // the next offset where an intact record starts (its length and payload checksums agree and
    // it decodes) is searched for; none found, the rest of the file is a damaged tail.
    size_t next = record.framed ? record.end : at + 1;
    while (next < bytes.size() && !read_record(bytes, next).problem.empty()) ++next;
    if (next >= bytes.size()) break;
    ++contents.skipped;
    at = next;
  }
  return contents;
}

bool is_event_file_name(const std::string& file_name) {
  // Dot names are our own unfinished temporary files (atomic_file.h), never events to keep.
  return !file_name.empty() && file_name[0] != '.' &&
         file_name.find("tfevents") != std::string::npos;
}

std::vector<std::string> drop_events_after_step(const std::string& dir, int64_t step) {
  std::vector<std::string> changes;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return changes;
  std::vector<std::string> paths;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (is_event_file_name(entry.path().filename().string()) && entry.is_regular_file(ec)) {
      paths.push_back(entry.path().string());
    }
  }
  VIT_CHECK(!ec, dir, ": cannot list: ", ec.message());
  for (const std::string& path : paths) {
    const EventFileContents contents = read_event_file(path);
    std::string kept;
    size_t dropped = 0;
    for (size_t i = 0; i < contents.events.size(); ++i) {
      if (contents.events[i].step > step) {
        ++dropped;
      } else {
        kept += tfrecord_frame(contents.payloads[i]);
      }
    }
    if (dropped == 0 && contents.problem.empty()) continue;
    write_text_atomically(path, kept);
    std::string change = path + ": dropped " + std::to_string(dropped) + " event(s) after step " +
                         std::to_string(step);
    if (contents.skipped > 0) {
      change += " and " + std::to_string(contents.skipped) + " damaged record(s)";
    }
    if (contents.intact_bytes < contents.size) change += " and a damaged tail";
    if (!contents.problem.empty()) change += " (" + contents.problem + ")";
    changes.push_back(change);
  }
  return changes;
}

EventFileWriter::EventFileWriter(const std::string& dir) {
  std::error_code ec;
  VIT_CHECK(!fs::exists(fs::symlink_status(dir, ec)) || fs::is_directory(dir, ec), dir,
            ": cannot create directory: exists and is not a folder");
  fs::create_directories(dir, ec);
  VIT_CHECK(!ec, dir, ": cannot create directory: ", ec.message());
  // Names sort by start time, so TensorBoard reads a resumed run's files in order; the counter
  // keeps two writers of one process apart.
  static std::atomic<int> count{0};
  const auto seconds = static_cast<int64_t>(unix_time_s());
  path_ = (fs::path(dir) / ("events.out.tfevents." + std::to_string(seconds) + "." + host_name() +
                            "." + std::to_string(::getpid()) + "." + std::to_string(count++)))
              .string();
  check_output_path(path_);
  const int fd = create_new_file(path_);  // a new file of our own: never through a planted link
  file_.reset(::fdopen(fd, "wb"));
  if (!file_) ::close(fd);
  VIT_CHECK(file_, path_, ": cannot open for writing: ", std::strerror(errno));
  tensorboard::Event event;
  event.set_wall_time(unix_time_s());
  event.set_file_version(kFileVersion);
  write_record(event.SerializeAsString());
}

EventFileWriter::~EventFileWriter() = default;

void EventFileWriter::write_scalars(int64_t step, const std::vector<TbScalar>& scalars,
                                    double wall_time) {
  tensorboard::Event event;
  event.set_wall_time(wall_time < 0 ? unix_time_s() : wall_time);
  event.set_step(step);
  for (const TbScalar& scalar : scalars) {
    tensorboard::Summary::Value* value = event.mutable_summary()->add_value();
    value->set_tag(scalar.tag);
    value->set_simple_value(scalar.value);
  }
  write_record(event.SerializeAsString());
}

void EventFileWriter::write_hparams(
    const std::vector<std::pair<std::string, std::string>>& hparams) {
  tensorboard::HParamsPluginData data;
  data.set_version(0);
  tensorboard::SessionStartInfo* start = data.mutable_session_start_info();
  start->set_start_time_secs(unix_time_s());
  for (const auto& [key, text] : hparams) (*start->mutable_hparams())[key] = hparam_value(text);
  tensorboard::Event event;
  event.set_wall_time(unix_time_s());
  event.set_step(0);
  tensorboard::Summary::Value* value = event.mutable_summary()->add_value();
  value->set_tag(kHparamsTag);
  auto* plugin = value->mutable_metadata()->mutable_plugin_data();
  plugin->set_plugin_name(kHparamsPlugin);
  plugin->set_content(data.SerializeAsString());
  tensorboard::TensorProto* empty = value->mutable_tensor();
  empty->set_dtype(1);  // DT_FLOAT, of shape (0)
  empty->mutable_tensor_shape()->add_dim()->set_size(0);
  write_record(event.SerializeAsString());
}

void EventFileWriter::write_record(const std::string& payload) {
  const std::string frame = tfrecord_frame(payload);
  errno = 0;
  const bool written = std::fwrite(frame.data(), 1, frame.size(), file_.get()) == frame.size() &&
                       std::fflush(file_.get()) == 0;
  VIT_CHECK(written, path_, ": write failed: ", errno != 0 ? std::strerror(errno) : "short write");
}

}  // namespace vit
