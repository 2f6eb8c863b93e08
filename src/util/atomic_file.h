// Atomic file replacement: write a temporary file beside the target, flush it to disk, then
// rename it over the target, so readers see the old file or the new one, never half of one.
#pragma once

#include <functional>
#include <string>

namespace vit {

// Throws vit::Error naming `path` when something other than a regular file is there (a folder, a
// device, a FIFO, a socket, a symbolic link): outputs never replace or write into such things.
void check_output_path(const std::string& path);

// Calls write(temp_path) to produce the content, then fsyncs and renames it to `path`.
// On any failure the temporary file is removed and `path` is left as it was. `path` must be
// absent or a regular file (check_output_path).
void replace_file_atomically(const std::string& path,
                             const std::function<void(const std::string&)>& write);

// Convenience: replaces `path` with `content`.
void write_text_atomically(const std::string& path, const std::string& content);

}  // namespace vit
