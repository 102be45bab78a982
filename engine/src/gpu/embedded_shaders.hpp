#pragma once
#include <cstddef>
#include <cstdint>

namespace retnet::gpu {
// SPIR-V compiled from shaders/<name>.comp at build time (cmake/EmbedSpirv.cmake); nullptr if absent.
const uint32_t* find_embedded_shader(const char* name, size_t* word_count);
}  // namespace retnet::gpu
