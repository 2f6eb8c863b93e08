// Atomic file replacement: write a temporary file beside the target, flush it to disk, then
// rename it over the target, so readers see the old file or the new one, never half of one.
#pragma once

#include <functional>
#include <string>

namespace vit {

// Throws vit::Error naming `path` when something other than a regular file is there (a folder, a
// device, a FIFO, a socket, a symbolic link): outputs never replace or write into such things.
void check_output_path(const std::string& path);

// Creates `path` as a new, empty regular file and returns its open descriptor (write-only,
// close-on-exec; the caller owns it). Never follows a symbolic link and never opens what is
// already there: a link planted at `path` cannot redirect the write to another file. Throws
// vit::Error naming `path` (and saying when a link or file was in the way).
int create_new_file(const std::string& path);

// Calls write(temp_path) to produce the content, then fsyncs and renames it to `path`.
// On any failure the temporary file is removed and `path` is left as it was. `path` must be
// absent or a regular file (check_output_path). The temporary file is created new
// (create_new_file, after removing a stale one of the same name, a link included) before
// write() opens it, so write() always writes into a file of our own.
void replace_file_atomically(const std::string& path,
                             const std::function<void(const std::string&)>& write);

// Convenience: replaces `path` with `content`.
void write_text_atomically(const std::string& path, const std::string& content);

}  // namespace vit
