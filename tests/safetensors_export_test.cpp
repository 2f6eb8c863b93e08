// eval/safetensors_export: the safetensors layout (u64 header length, JSON header 8-byte aligned,
// contiguous byte ranges in order, raw float32 data) with every parameter and buffer by name.
#include "eval/safetensors_export.h"

#include <gtest/gtest.h>

#include <cstring>

namespace vit {
namespace {

TEST(SafetensorsExport, LayoutNamesAndBytes) {
  ModelConfig config;
  VisionTransformer model(config, ImageShape{1, 28, 28}, 10);
  const std::string bytes = safetensors_bytes(model, {{"format", "pt"}, {"model.hidden_d", "8"}});
  ASSERT_GT(bytes.size(), 8u);
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = length << 8 | static_cast<unsigned char>(bytes[i]);
  ASSERT_LE(8 + length, bytes.size());
  EXPECT_EQ((8 + length) % 8, 0u);
  const std::string header = bytes.substr(8, length);
  EXPECT_EQ(header.rfind("{\"__metadata__\":{\"format\":\"pt\",\"model.hidden_d\":\"8\"}", 0), 0u)
      << header;

  // Every tensor by name, its range following the previous one, the data as stored.
  size_t offset = 0, total = 0;
  auto check = [&](const std::string& name, const torch::Tensor& tensor) {
    const std::string entry = "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[";
    ASSERT_NE(header.find(entry), std::string::npos) << name;
    const size_t size = static_cast<size_t>(tensor.numel()) * sizeof(float);
    const std::string range =
        "\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + size) + "]";
    EXPECT_NE(header.find(range, header.find(entry)), std::string::npos) << name << " " << range;
    const torch::Tensor values = tensor.detach().contiguous();
    EXPECT_EQ(std::memcmp(bytes.data() + 8 + length + offset, values.data_ptr(), size), 0) << name;
    offset += size;
    total += size;
  };
  for (const auto& item : model->named_parameters()) check(item.key(), item.value());
  for (const auto& item : model->named_buffers()) check(item.key(), item.value());
  EXPECT_NE(header.find("\"blocks.1.attention.qkv.weight\":{\"dtype\":\"F32\",\"shape\":[24,8]"),
            std::string::npos);
  EXPECT_NE(header.find("\"positions\":"), std::string::npos);
  EXPECT_EQ(bytes.size(), 8 + length + total);
}

}  // namespace
}  // namespace vit
