#include "eval/safetensors_export.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json.h"

namespace vit {

std::string safetensors_bytes(const VisionTransformer& model,
                              const std::map<std::string, std::string>& metadata) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  torch::NoGradGuard no_grad;
  for (const auto& item : model->named_parameters()) tensors.emplace_back(item.key(), item.value());
  for (const auto& item : model->named_buffers()) tensors.emplace_back(item.key(), item.value());

  std::ostringstream header;
  header << "{\"__metadata__\":{";
  const char* comma = "";
  for (const auto& [key, value] : metadata) {
    header << comma << json_quote(key) << ":" << json_quote(value);
    comma = ",";
  }
  header << "}";
  std::string data;
  for (auto& [name, tensor] : tensors) {
    tensor = tensor.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    const size_t begin = data.size();
    data.append(static_cast<const char*>(tensor.data_ptr()),
                tensor.nbytes());  // x86: little-endian
    header << "," << json_quote(name) << ":{\"dtype\":\"F32\",\"shape\":[";
    for (int64_t d = 0; d < tensor.dim(); ++d) header << (d > 0 ? "," : "") << tensor.size(d);
    header << "],\"data_offsets\":[" << begin << "," << data.size() << "]}";
  }
  header << "}";
  std::string text = header.str();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  const uint64_t length = text.size();
  std::string out(sizeof length, '\0');
  for (size_t i = 0; i < sizeof length; ++i) out[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return out + text + data;
}

void export_safetensors(const VisionTransformer& model,
                        const std::map<std::string, std::string>& metadata,
                        const std::string& path) {
  const std::string bytes = safetensors_bytes(model, metadata);
  replace_file_atomically(path, [&](const std::string& temp) {
    std::ofstream out(temp, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    VIT_CHECK(out, path, ": cannot write the exported model");
  });
}

}  // namespace vit
