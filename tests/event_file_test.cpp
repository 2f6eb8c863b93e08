// TensorBoard event files: CRC-32C and TFRecord frames against known vectors, the encoding
// against TensorFlow's field numbers byte by byte, reading back, damage, and the rewrite that
// drops the events after a resumed checkpoint's step.
#include "train/event_file.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "test_util.h"
#include "util/error.h"

namespace vit {
namespace {

namespace fs = std::filesystem;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::string from_hex(const std::string& hex) {
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return bytes;
}

uint32_t crc_of(const std::string& bytes) { return crc32c(bytes.data(), bytes.size()); }
uint32_t masked_of(const std::string& bytes) { return masked_crc32c(bytes.data(), bytes.size()); }

TEST(Crc32c, KnownVectors) {
  // The CRC-32C check value, and RFC 3720 (iSCSI) appendix B.4's vectors.
  EXPECT_EQ(crc_of("123456789"), 0xE3069283u);
  EXPECT_EQ(crc_of(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc_of(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  EXPECT_EQ(crc_of(ascending), 0x46DD794Eu);
  EXPECT_EQ(crc_of(""), 0u);
}

TEST(Crc32c, MaskedAsTensorBoardComputesIt) {
  // tensorboard.compat.tensorflow_stub.pywrap_tensorflow.masked_crc32c of the same bytes.
  EXPECT_EQ(masked_of("123456789"), 0xc78ab0e5u);
  EXPECT_EQ(masked_of(std::string(32, '\0')), 0x0fd7fffau);
  EXPECT_EQ(masked_of(std::string(32, '\xff')), 0xf909b029u);
}

TEST(TfrecordFrame, SameBytesAsTensorBoardsRecordWriter) {
  // tensorboard.summary.writer.record_writer.RecordWriter.write(b"hello").
  EXPECT_EQ(tfrecord_frame("hello"), from_hex("0500000000000000eab2043e68656c6c6fbb1f1c19"));
}

TEST(EventFileWriter, EncodesTensorFlowsFieldNumbers) {
  testing::TempDir dir;
  std::string path;
  {
    EventFileWriter writer(dir.file("tb"));
    path = writer.path();
    writer.write_scalars(3, {{"a", 2.0f}}, /*wall_time=*/1.5);
  }
  EXPECT_EQ(fs::path(path).parent_path(), fs::path(dir.file("tb")));
  EXPECT_EQ(fs::path(path).filename().string().rfind("events.out.tfevents.", 0), 0u) << path;
  // Event{wall_time: 1.5 (field 1, double), step: 3 (field 2, varint), summary (field 5) {value
  // (field 1) {tag: "a" (field 1), simple_value: 2 (field 2, float)}}}, as tensorboard's
  // event_pb2 serializes it: the last record of the file.
  const std::string event = from_hex("09000000000000f83f10032a0a0a080a01611500000040");
  const std::string bytes = read_bytes(path);
  ASSERT_GE(bytes.size(), event.size() + 16);
  EXPECT_EQ(bytes.substr(bytes.size() - event.size() - 16), tfrecord_frame(event));
  // The first record: wall_time (9 bytes), then file_version "brain.Event:2" (field 3).
  const std::string version = from_hex("1a0d") + "brain.Event:2";
  EXPECT_EQ(bytes.substr(12 + 9, version.size()), version);
}

TEST(EventFileWriter, RecordsReadBackWithValidFrames) {
  testing::TempDir dir;
  std::string path;
  {
    EventFileWriter writer(dir.path().string());
    path = writer.path();
    writer.write_scalars(1, {{"train/loss", 2.5f}, {"train/lr", 0.005f}}, 100.0);
    writer.write_scalars(2, {{"train/loss", 1.25f}});
  }
  // Walk the frames by hand: lengths and both masked CRCs of every record.
  const std::string bytes = read_bytes(path);
  size_t at = 0;
  int records = 0;
  while (at < bytes.size()) {
    ASSERT_LE(at + 12, bytes.size());
    uint64_t length = 0;
    for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<unsigned char>(bytes[at + i]);
    auto u32 = [&](size_t pos) {
      uint32_t v = 0;
      for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[pos + i]);
      return v;
    };
    EXPECT_EQ(u32(at + 8), masked_of(bytes.substr(at, 8)));
    ASSERT_LE(at + 16 + length, bytes.size());
    EXPECT_EQ(u32(at + 12 + length), masked_of(bytes.substr(at + 12, length)));
    at += 16 + length;
    ++records;
  }
  EXPECT_EQ(records, 3);

  const EventFileContents contents = read_event_file(path);
  EXPECT_TRUE(contents.problem.empty()) << contents.problem;
  EXPECT_EQ(contents.intact_bytes, bytes.size());
  ASSERT_EQ(contents.events.size(), 3u);
  EXPECT_EQ(contents.events[0].file_version, "brain.Event:2");
  EXPECT_GT(contents.events[0].wall_time, 1.6e9);  // now, in seconds since 1970
  EXPECT_EQ(contents.events[1].step, 1);
  EXPECT_EQ(contents.events[1].wall_time, 100.0);
  ASSERT_EQ(contents.events[1].scalars.size(), 2u);
  EXPECT_EQ(contents.events[1].scalars[0].tag, "train/loss");
  EXPECT_EQ(contents.events[1].scalars[0].value, 2.5f);
  EXPECT_EQ(contents.events[1].scalars[1].tag, "train/lr");
  EXPECT_EQ(contents.events[1].scalars[1].value, 0.005f);
  EXPECT_EQ(contents.events[2].step, 2);
  EXPECT_EQ(contents.events[2].scalars.at(0).value, 1.25f);
}

// The config as the hparams plugin reads it: its session start info in the plugin data, beside an
// empty float tensor of shape (0) (TensorBoard's hparams metadata.NULL_TENSOR, byte for byte).
TEST(EventFileWriter, HparamsReadBackWithTheirTypes) {
  testing::TempDir dir;
  std::string path;
  const std::vector<std::pair<std::string, std::string>> hparams = {
      {"dist.debug", "false"}, {"model.hidden_d", "8"}, {"optim.lr", "0.005"},
      {"optim.name", "adam"},  {"train.huge", "1e400"}};  // beyond a double: kept as text
  {
    EventFileWriter writer(dir.path().string());
    path = writer.path();
    writer.write_hparams(hparams);
  }
  const EventFileContents contents = read_event_file(path);
  ASSERT_EQ(contents.events.size(), 2u);
  EXPECT_EQ(contents.events[1].step, 0);
  EXPECT_TRUE(contents.events[1].scalars.empty());
  EXPECT_EQ(contents.events[1].hparams, hparams);
  const std::string payload = contents.payloads[1];
  EXPECT_NE(payload.find("_hparams_/session_start_info"), std::string::npos);
  EXPECT_NE(payload.find(from_hex("420608011202") + std::string(1, '\x12') + std::string(1, '\0')),
            std::string::npos);  // Value.tensor (field 8): dtype 1, shape {dim {}}
  EXPECT_NE(payload.find(from_hex("0a07") + "hparams"), std::string::npos);  // plugin_name
}

TEST(EventFileWriter, TwoWritersTwoFiles) {
  testing::TempDir dir;
  EventFileWriter a(dir.path().string());
  EventFileWriter b(dir.path().string());
  EXPECT_NE(a.path(), b.path());
}

TEST(ReadEventFile, StopsAtDamageAndSaysWhere) {
  testing::TempDir dir;
  std::string path;
  {
    EventFileWriter writer(dir.path().string());
    path = writer.path();
    writer.write_scalars(1, {{"x", 1.0f}});
  }
  const std::string good = read_bytes(path);
  const size_t first = tfrecord_frame(read_event_file(path).payloads[0]).size();

  write_bytes(path, good + good.substr(0, 7));  // a writer killed mid-record
  EventFileContents contents = read_event_file(path);
  EXPECT_EQ(contents.events.size(), 2u);
  EXPECT_EQ(contents.intact_bytes, good.size());
  EXPECT_EQ(contents.problem, "truncated record at byte " + std::to_string(good.size()));

  std::string flipped = good;
  flipped[good.size() - 6] ^= 0x01;  // inside the second record's payload
  write_bytes(path, flipped);
  contents = read_event_file(path);
  EXPECT_EQ(contents.events.size(), 1u);
  EXPECT_EQ(contents.problem, "data checksum mismatch at byte " + std::to_string(first));

  EXPECT_THROW(read_event_file(dir.file("absent")), Error);
}

TEST(DropEventsAfterStep, KeepsStepsUpToTheCheckpoint) {
  testing::TempDir dir;
  const std::string tb = dir.file("tb");
  std::string early, late;
  {
    EventFileWriter writer(tb);
    early = writer.path();
    writer.write_scalars(1, {{"x", 1.0f}});
    writer.write_scalars(2, {{"x", 2.0f}});
  }
  {
    EventFileWriter writer(tb);
    late = writer.path();
    for (int step = 3; step <= 6; ++step) writer.write_scalars(step, {{"x", 1.0f * step}});
  }
  write_bytes(late,
              read_bytes(late) + std::string("\x05\x00\x00", 3));  // and a torn record at its end
  const std::string early_bytes = read_bytes(early);

  const std::vector<std::string> changes = drop_events_after_step(tb, 4);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_NE(changes[0].find(late), std::string::npos) << changes[0];
  EXPECT_NE(changes[0].find("dropped 2 event(s) after step 4"), std::string::npos) << changes[0];
  EXPECT_NE(changes[0].find("damaged tail"), std::string::npos) << changes[0];

  EXPECT_EQ(read_bytes(early), early_bytes);  // nothing beyond step 4 there: untouched
  const EventFileContents contents = read_event_file(late);
  EXPECT_TRUE(contents.problem.empty()) << contents.problem;
  ASSERT_EQ(contents.events.size(), 3u);
  EXPECT_EQ(contents.events[0].file_version, "brain.Event:2");  // step 0: kept
  EXPECT_EQ(contents.events[1].step, 3);
  EXPECT_EQ(contents.events[2].step, 4);
  EXPECT_EQ(contents.events[2].scalars.at(0).value, 4.0f);
  for (const auto& entry : fs::directory_iterator(tb)) {  // no temporary file left behind
    EXPECT_TRUE(is_event_file_name(entry.path().filename().string())) << entry.path();
  }

  EXPECT_TRUE(drop_events_after_step(tb, 4).empty());  // a second time: nothing to do
  EXPECT_TRUE(drop_events_after_step(dir.file("absent"), 4).empty());
}

// Issue 29: one damaged record in the middle of a file dropped every record after it on resume.
// Only the damaged record goes; the intact later ones up to the checkpoint's step stay.
TEST(DropEventsAfterStep, ADamagedRecordCostsItselfAlone) {
  testing::TempDir dir;
  const std::string tb = dir.file("tb");
  std::string path;
  std::vector<size_t> starts;  // where the record of each step starts
  {
    EventFileWriter writer(tb);
    path = writer.path();
    for (int step = 1; step <= 6; ++step) {
      starts.push_back(read_bytes(path).size());
      writer.write_scalars(step, {{"x", 1.0f * step}});
    }
  }
  const std::string good = read_bytes(path);
  for (const size_t offset : {size_t{2}, size_t{20}}) {  // its length field; its payload
    std::string damaged = good;
    damaged[starts[2] + offset] ^= 0x10;  // the record of step 3
    write_bytes(path, damaged);
    const EventFileContents contents = read_event_file(path);
    EXPECT_NE(contents.problem.find("at byte " + std::to_string(starts[2])), std::string::npos)
        << contents.problem;
    ASSERT_EQ(contents.events.size(), 6u) << contents.problem;  // the version and 5 of 6 steps

    const std::vector<std::string> changes = drop_events_after_step(tb, 5);
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_NE(changes[0].find("dropped 1 event(s) after step 5"), std::string::npos) << changes[0];
    EXPECT_NE(changes[0].find("and 1 damaged record(s) ("), std::string::npos) << changes[0];
    const EventFileContents kept = read_event_file(path);
    EXPECT_TRUE(kept.problem.empty()) << kept.problem;
    std::vector<int64_t> steps;
    for (const TbEvent& event : kept.events) steps.push_back(event.step);
    EXPECT_EQ(steps, (std::vector<int64_t>{0, 1, 2, 4, 5}));
    EXPECT_EQ(kept.events.back().scalars.at(0).value, 5.0f);
  }
}

TEST(IsEventFileName, AsTensorBoardButNotOurTemporaryFiles) {
  EXPECT_TRUE(is_event_file_name("events.out.tfevents.1700000000.host.1.0"));
  EXPECT_TRUE(is_event_file_name("x.tfevents.y"));
  EXPECT_FALSE(is_event_file_name(".events.out.tfevents.1700000000.host.1.0.tmp.42"));
  EXPECT_FALSE(is_event_file_name("metrics.jsonl"));
}

TEST(EventFileWriter, ErrorsNameTheFolder) {
  testing::TempDir dir;
  write_bytes(dir.file("plain"), "a file, not a folder");
  try {
    EventFileWriter writer(dir.file("plain") + "/tb");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir.file("plain") + "/tb: cannot create directory"),
              std::string::npos)
        << e.what();
  }
}

TEST(EventFileWriter, WriteFailureNamesTheFile) {
  // A file size limit fails writes as a full disk does (EFBIG instead of ENOSPC).
  testing::TempDir dir;
  EventFileWriter writer(dir.path().string());
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = fs::file_size(writer.path()) + 40;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string message;
  try {
    for (int step = 1; step < 100; ++step) writer.write_scalars(step, {{"loss", 1.0f}});
  } catch (const Error& e) {
    message = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_EQ(message.rfind(writer.path() + ": write failed: ", 0), 0u) << message;
}

}  // namespace
}  // namespace vit
