// A trained model for Python users, in the safetensors format (a little-endian u64 header length,
// a JSON header naming each tensor's dtype, shape and byte range, then the raw bytes; no code, so
// loading one runs nothing): every parameter and buffer under our modules' names, which are those
// of bench/reference/vit_ddp.py's modules ("blocks.0.attention.qkv.weight", ...). In Python:
//
//     from safetensors.torch import load_file
//     model.load_state_dict(load_file("model.safetensors"))
//
// The header's metadata holds the model.* keys and the image shape, to build the module from.
#pragma once

#include <map>
#include <string>

#include "model/vit.h"

namespace vit {

// The file's bytes: every named parameter, then every named buffer (float32, row-major), with
// `metadata` (text keys and values) in the header.
std::string safetensors_bytes(const VisionTransformer& model,
                              const std::map<std::string, std::string>& metadata);

// Writes them to `path` atomically (util/atomic_file: a regular file or nothing there).
void export_safetensors(const VisionTransformer& model,
                        const std::map<std::string, std::string>& metadata,
                        const std::string& path);

}  // namespace vit
