#pragma once
#include <string>

namespace retnet::model {

// Writes `path` so that a crash leaves either the old file or the new one, never a torn
// one: a temporary file in the same folder, fsync, rename, fsync of the folder.
void write_file_atomically(const std::string& path, const std::string& contents);
void write_file_atomically(const std::string& path, const void* data, size_t bytes);

}  // namespace retnet::model
