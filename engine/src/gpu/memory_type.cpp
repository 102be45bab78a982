#include "gpu/memory_type.hpp"

#include <initializer_list>

namespace retnet::gpu {

int choose_memory_type(const VkPhysicalDeviceMemoryProperties& properties, uint32_t type_bits,
                       VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred) {
  for (VkMemoryPropertyFlags want : {required | preferred, required})
    for (uint32_t i = 0; i < properties.memoryTypeCount; ++i)
      if ((type_bits & (1u << i)) && (properties.memoryTypes[i].propertyFlags & want) == want)
        return static_cast<int>(i);
  return -1;
}

}  // namespace retnet::gpu
