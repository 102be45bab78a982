#include "gpu/vk_check.hpp"

#include <fmt/format.h>

#include "retnet/error.hpp"

namespace retnet::gpu {

const char* vk_result_name(VkResult r) {
  switch (r) {
#define RETNET_CASE(x) case x: return #x;
    RETNET_CASE(VK_SUCCESS)
    RETNET_CASE(VK_NOT_READY)
    RETNET_CASE(VK_TIMEOUT)
    RETNET_CASE(VK_INCOMPLETE)
    RETNET_CASE(VK_ERROR_OUT_OF_HOST_MEMORY)
    RETNET_CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    RETNET_CASE(VK_ERROR_INITIALIZATION_FAILED)
    RETNET_CASE(VK_ERROR_DEVICE_LOST)
    RETNET_CASE(VK_ERROR_MEMORY_MAP_FAILED)
    RETNET_CASE(VK_ERROR_LAYER_NOT_PRESENT)
    RETNET_CASE(VK_ERROR_EXTENSION_NOT_PRESENT)
    RETNET_CASE(VK_ERROR_FEATURE_NOT_PRESENT)
    RETNET_CASE(VK_ERROR_INCOMPATIBLE_DRIVER)
    RETNET_CASE(VK_ERROR_TOO_MANY_OBJECTS)
    RETNET_CASE(VK_ERROR_FORMAT_NOT_SUPPORTED)
    RETNET_CASE(VK_ERROR_FRAGMENTED_POOL)
    RETNET_CASE(VK_ERROR_OUT_OF_POOL_MEMORY)
    RETNET_CASE(VK_ERROR_UNKNOWN)
#undef RETNET_CASE
    default: return "VkResult(unknown)";
  }
}

void throw_vk_error(VkResult r, const char* call, const char* file, int line) {
  std::string msg = fmt::format("Vulkan call failed with {}: {} ({}:{})", vk_result_name(r), call, file, line);
  if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY) throw OutOfMemoryError(msg);
  if (r == VK_ERROR_DEVICE_LOST)
    throw Error(msg + ": the GPU stopped responding (driver reset or a kernel ran too long)");
  throw Error(msg);
}

}  // namespace retnet::gpu
