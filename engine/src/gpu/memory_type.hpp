#pragma once
// Which of a device's memory types an allocation takes.
#include <vulkan/vulkan.h>

namespace retnet::gpu {

// The first memory type allowed by `type_bits` that has every flag of `required` and every
// flag of `preferred`, else the first with just `required`; -1 where none has `required`.
// Why a preference: discrete GPUs list a host-visible type without HOST_CACHED first, which is
// write-combined memory: fine for the CPU to write, but each CPU read of it goes uncached to
// RAM, so reading back (the logits of every decode step, checkpoints) takes several times
// longer than from a cached type.
int choose_memory_type(const VkPhysicalDeviceMemoryProperties& properties, uint32_t type_bits,
                       VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred = 0);

}  // namespace retnet::gpu
