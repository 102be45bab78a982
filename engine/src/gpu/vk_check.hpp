#pragma once
#include <vulkan/vulkan.h>

#include <string>

namespace retnet::gpu {

const char* vk_result_name(VkResult r);
// Throws retnet::Error (OutOfMemoryError for the memory results) naming the call that failed.
[[noreturn]] void throw_vk_error(VkResult r, const char* call, const char* file, int line);

}  // namespace retnet::gpu

#define VK_CHECK(call)                                                          \
  do {                                                                          \
    VkResult vk_check_result_ = (call);                                         \
    if (vk_check_result_ != VK_SUCCESS)                                         \
      ::retnet::gpu::throw_vk_error(vk_check_result_, #call, __FILE__, __LINE__); \
  } while (0)
