// The data-only file format: every kind and dtype round-trips exactly; a truncated, extended or
// damaged file is one CorruptFile naming it; a file whose checksum is valid but whose lengths lie
// (crafted, not damaged) is refused by the bounds checks, never read past its end.
#include "store/tensor_file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "test_util.h"

namespace vit {
namespace {

TensorFile sample() {
  TensorFile file;
  file.put("int", int64_t{-42});
  file.put("real", 0.1);
  file.put("text", std::string("hello\nworld"));
  file.put("f32", torch::randn({3, 4}));
  file.put("f64", torch::randn({2}, torch::kFloat64));
  file.put("bf16", torch::randn({5}).to(torch::kBFloat16));
  file.put("i64", torch::arange(7));
  file.put("u8", torch::arange(9, torch::kUInt8));
  file.put("scalar", torch::tensor(3.5f));
  file.put("empty", torch::empty({0, 3}));
  file.put("strided", torch::randn({4, 4}).t());  // stored contiguous
  return file;
}

std::string expect_corrupt(const std::string& bytes, const std::string& needle) {
  try {
    TensorFile::decode(bytes, "f.pt");
    ADD_FAILURE() << "no error for: " << needle;
  } catch (const CorruptFile& e) {
    EXPECT_NE(std::string(e.what()).find("f.pt: "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    return e.what();
  }
  return "";
}

// Re-seals `bytes` with a valid checksum: a crafted file, for the parser's own checks.
std::string reseal(std::string bytes) {
  const uint32_t crc = static_cast<uint32_t>(crc32_z(
      crc32_z(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()), bytes.size() - 4));
  std::memcpy(bytes.data() + bytes.size() - 4, &crc, 4);
  return bytes;
}

TEST(TensorFile, EveryKindRoundTripsExactly) {
  const TensorFile a = sample();
  testing::TempDir dir;
  a.save(dir.file("x.pt"));
  const TensorFile b = TensorFile::load(dir.file("x.pt"));
  ASSERT_EQ(a.entries().size(), b.entries().size());
  EXPECT_EQ(b.get_int("int"), -42);
  EXPECT_EQ(b.get_real("real"), 0.1);
  EXPECT_EQ(b.get_text("text"), "hello\nworld");
  for (const char* key : {"f32", "f64", "bf16", "i64", "u8", "scalar", "empty", "strided"}) {
    EXPECT_TRUE(torch::equal(a.get_tensor(key), b.get_tensor(key))) << key;
    EXPECT_EQ(a.get_tensor(key).sizes(), b.get_tensor(key).sizes()) << key;
    EXPECT_EQ(a.get_tensor(key).scalar_type(), b.get_tensor(key).scalar_type()) << key;
  }
  EXPECT_EQ(a.encode(), b.encode());
}

TEST(TensorFile, MissingOrMistypedEntriesNameTheKey) {
  const TensorFile b = TensorFile::decode(sample().encode(), "f.pt");
  try {
    b.get_int("nope");
    FAIL();
  } catch (const CorruptFile& e) {
    EXPECT_STREQ(e.what(), "f.pt: no entry 'nope'");
  }
  EXPECT_THROW(b.get_tensor("int"), CorruptFile);
  EXPECT_THROW(b.get_text("f32"), CorruptFile);
}

TEST(TensorFile, TruncatedExtendedAndDamagedFilesAreRefused) {
  const std::string good = sample().encode();
  expect_corrupt("", "not a vit-train data file");
  expect_corrupt("PK\x03\x04 something", "not a vit-train data file");
  expect_corrupt(good.substr(0, 12), "truncated (header)");
  expect_corrupt(good.substr(0, good.size() - 1), "the header says");
  expect_corrupt(good + "x", "the header says");
  for (size_t at = 8; at < good.size(); at += 7) {
    std::string bytes = good;
    bytes[at] = static_cast<char>(bytes[at] ^ 1);
    expect_corrupt(bytes, "");  // checksum, version or size: each a CorruptFile
  }
}

TEST(TensorFile, LengthsThatLieAreCaughtEvenWithAValidChecksum) {
  TensorFile one;
  one.put("t", torch::arange(4, torch::kInt64));
  const std::string good = one.encode();
  // Layout: 24 header bytes, then kind(1) key length(2) "t"(1) dtype(1) dims(1) size(8) bytes(8).
  const size_t size_at = 24 + 1 + 2 + 1 + 1 + 1, bytes_at = size_at + 8;
  std::string bytes = good;
  const uint64_t huge = uint64_t{1} << 62;
  std::memcpy(bytes.data() + size_at, &huge, 8);
  expect_corrupt(reseal(bytes), "a tensor size beyond the file's");
  bytes = good;
  const uint64_t more = 1000;
  std::memcpy(bytes.data() + bytes_at, &more, 8);
  expect_corrupt(reseal(bytes), "does not match its shape");
  bytes = good;
  bytes[24] = 9;  // kind
  expect_corrupt(reseal(bytes), "unknown entry kind 9");
  bytes = good;
  bytes[24 + 1 + 2 + 1] = 99;  // dtype
  expect_corrupt(reseal(bytes), "unknown tensor dtype code 99");
  bytes = good;
  bytes[24 + 1 + 2 + 1 + 1] = 200;  // dims
  expect_corrupt(reseal(bytes), "dimensions");
  bytes = good;
  const uint32_t entries = 2;
  std::memcpy(bytes.data() + 12, &entries, 4);
  expect_corrupt(reseal(bytes), "runs past the end");
}

TEST(TensorFile, SaveLeavesThePreviousFileWhenTheWriteFails) {
  testing::TempDir dir;
  const std::string path = dir.file("x.pt");
  sample().save(path);
  // A file-size limit below the file's size fails its write (EFBIG, SIGXFSZ ignored) as a full
  // disk would. (The temporary file is always a new file of our own: a link planted at its name
  // to /dev/full is removed, not written through.)
  const auto size = std::filesystem::file_size(path);
  struct sigaction ignore {}, old_action {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGXFSZ, &ignore, &old_action), 0);
  rlimit old_limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  rlimit small = old_limit;
  small.rlim_cur = 100;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  EXPECT_THROW(sample().save(dir.file("y.pt")), Error);
  EXPECT_THROW(sample().save(path), Error);
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  ::sigaction(SIGXFSZ, &old_action, nullptr);
  EXPECT_EQ(std::filesystem::file_size(path), size);
  EXPECT_FALSE(std::filesystem::exists(dir.file("y.pt")));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()), 1);  // no temporary file left
}

// The header is checked against the file's size before the rest is read: a huge file whose header
// does not match costs 24 bytes, not its size in memory (a sparse file of 60 GiB here: read
// whole, it would not fit). Special files are refused without a read.
TEST(TensorFile, LoadChecksTheHeaderBeforeReadingTheRest) {
  testing::TempDir dir;
  const std::string bytes = sample().encode();
  const std::string huge = dir.file("huge.pt");
  {
    std::ofstream out(huge, std::ios::binary);
    out.write(bytes.data(), 24);  // a true header of a small file
  }
  std::filesystem::resize_file(huge, uint64_t{60} << 30);
  try {
    TensorFile::load(huge);
    ADD_FAILURE() << "no error";
  } catch (const CorruptFile& e) {
    EXPECT_NE(std::string(e.what()).find(huge + ": 64424509440 bytes, the header says"),
              std::string::npos) << e.what();
  }
  const std::string garbage = dir.file("garbage.pt");
  std::ofstream(garbage) << "not a file of ours";
  std::filesystem::resize_file(garbage, uint64_t{60} << 30);
  EXPECT_THROW(TensorFile::load(garbage), CorruptFile);
  ASSERT_EQ(::mkfifo(dir.file("fifo.pt").c_str(), 0600), 0);
  EXPECT_THROW(TensorFile::load(dir.file("fifo.pt")), CorruptFile);
  std::filesystem::create_symlink("/dev/zero", dir.file("zero.pt"));
  EXPECT_THROW(TensorFile::load(dir.file("zero.pt")), CorruptFile);
}

}  // namespace
}  // namespace vit
