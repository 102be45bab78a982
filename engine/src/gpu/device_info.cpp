// Describing and ranking physical devices: what `retnet devices` prints and how the
// default device is chosen.
#include <algorithm>
#include <fmt/format.h>

#include <cstring>

#include "gpu/context_impl.hpp"
#include "gpu/vk_check.hpp"
#include "retnet/error.hpp"

namespace retnet::gpu {


bool has_extension(VkPhysicalDevice physical, const char* name) {
  uint32_t n = 0;
  vkEnumerateDeviceExtensionProperties(physical, nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> exts(n);
  vkEnumerateDeviceExtensionProperties(physical, nullptr, &n, exts.data());
  for (auto& e : exts)
    if (std::strcmp(e.extensionName, name) == 0) return true;
  return false;
}

static const char* type_name(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
  }
}


DeviceInfo describe_device(VkInstance instance, VkPhysicalDevice physical, uint32_t index) {
  DeviceInfo info;
  info.index = index;

  VkPhysicalDeviceSubgroupProperties subgroup{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceProperties2 props2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  props2.pNext = &subgroup;
  vkGetPhysicalDeviceProperties2(physical, &props2);
  const auto& p = props2.properties;
  info.name = p.deviceName;
  info.type = type_name(p.deviceType);
  info.vendor_id = p.vendorID;
  info.device_id = p.deviceID;
  info.api_version = fmt::format("{}.{}.{}", VK_API_VERSION_MAJOR(p.apiVersion),
                                 VK_API_VERSION_MINOR(p.apiVersion), VK_API_VERSION_PATCH(p.apiVersion));
  info.driver = fmt::format("0x{:08x}", p.driverVersion);
  if (has_extension(physical, VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME)) {
    VkPhysicalDeviceDriverPropertiesKHR driver{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES_KHR};
    VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    p2.pNext = &driver;
    vkGetPhysicalDeviceProperties2(physical, &p2);
    info.driver = fmt::format("{} {}", driver.driverName, driver.driverInfo);
  }
  info.max_buffer_bytes = p.limits.maxStorageBufferRange;
  info.shared_memory_bytes = p.limits.maxComputeSharedMemorySize;
  info.max_workgroup_invocations = p.limits.maxComputeWorkGroupInvocations;
  info.subgroup_size = subgroup.subgroupSize;
  info.subgroup_arithmetic = (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                             (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
                             (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT);

  info.compute_units = compute_unit_count(physical);

  VkPhysicalDeviceMemoryProperties mem;
  vkGetPhysicalDeviceMemoryProperties(physical, &mem);
  for (uint32_t i = 0; i < mem.memoryHeapCount; ++i)
    if (mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
      info.device_local_bytes = std::max<uint64_t>(info.device_local_bytes, mem.memoryHeaps[i].size);

  VkPhysicalDevice16BitStorageFeatures storage16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
  VkPhysicalDeviceShaderFloat16Int8FeaturesKHR float16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES_KHR};
  // glslang compiles cooperative-matrix shaders for the Vulkan memory model.
  VkPhysicalDeviceVulkanMemoryModelFeaturesKHR memory_model{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES_KHR};
  const bool has_float16_ext = has_extension(physical, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
  const bool has_memory_model_ext = has_extension(physical, VK_KHR_VULKAN_MEMORY_MODEL_EXTENSION_NAME);
  VkPhysicalDeviceFeatures2 features2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  features2.pNext = &storage16;
  void** next = &storage16.pNext;
  if (has_float16_ext) {
    *next = &float16;
    next = &float16.pNext;
  }
  if (has_memory_model_ext) *next = &memory_model;
  vkGetPhysicalDeviceFeatures2(physical, &features2);
  info.fp16_storage = storage16.storageBuffer16BitAccess;
  if (features2.features.shaderStorageBufferArrayDynamicIndexing)
    info.storage_buffer_arrays = std::min(p.limits.maxPerStageDescriptorStorageBuffers,
                                          std::min(p.limits.maxDescriptorSetStorageBuffers, p.limits.maxPerStageResources));
  info.fp16_arithmetic = has_float16_ext && float16.shaderFloat16;
  const bool memory_model_ok = has_memory_model_ext && memory_model.vulkanMemoryModel;
  info.cooperative_matrix_n = info.fp16_storage && memory_model_ok ? coopmat_f16_n_size(instance, physical) : 0;
  info.cooperative_matrix = info.cooperative_matrix_n != 0;
  // Named as strings: Debian 12's Vulkan headers predate both.
  for (const char* name : {"VK_KHR_cooperative_matrix", "VK_NV_cooperative_matrix2"})
    if (has_extension(physical, name)) info.unused_matrix_extensions.push_back(name);

  uint32_t nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(physical, &nq, nullptr);
  std::vector<VkQueueFamilyProperties> families(nq);
  vkGetPhysicalDeviceQueueFamilyProperties(physical, &nq, families.data());
  for (auto& f : families)
    if ((f.queueFlags & VK_QUEUE_COMPUTE_BIT) && f.timestampValidBits > 0 && p.limits.timestampPeriod > 0)
      info.timestamps = true;
  return info;
}

// Streaming multiprocessors (VK_NV_shader_sm_builtins) or compute units
// (VK_AMD_shader_core_properties), 0 where the driver offers neither.
uint32_t compute_unit_count(VkPhysicalDevice physical) {
  VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  if (has_extension(physical, VK_NV_SHADER_SM_BUILTINS_EXTENSION_NAME)) {
    VkPhysicalDeviceShaderSMBuiltinsPropertiesNV sm{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV};
    p2.pNext = &sm;
    vkGetPhysicalDeviceProperties2(physical, &p2);
    return sm.shaderSMCount;
  }
  if (has_extension(physical, VK_AMD_SHADER_CORE_PROPERTIES_EXTENSION_NAME)) {
    VkPhysicalDeviceShaderCorePropertiesAMD core{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CORE_PROPERTIES_AMD};
    p2.pNext = &core;
    vkGetPhysicalDeviceProperties2(physical, &p2);
    return core.shaderEngineCount * core.shaderArraysPerEngineCount * core.computeUnitsPerShaderArray;
  }
  return 0;
}

// N of VK_NV_cooperative_matrix's f16 x f16 -> f32 16 x N x 16 shape in subgroup scope: 16
// where offered, else 8 (NVIDIA lists 16x8x16), 0 without one.
uint32_t coopmat_f16_n_size(VkInstance instance, VkPhysicalDevice physical) {
  if (!has_extension(physical, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME)) return 0;
  auto fn = reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV>(
      vkGetInstanceProcAddr(instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV"));
  if (!fn) return 0;
  uint32_t n = 0;
  fn(physical, &n, nullptr);
  std::vector<VkCooperativeMatrixPropertiesNV> props(n, {VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV});
  fn(physical, &n, props.data());
  uint32_t best = 0;
  for (auto& p : props)
    if (p.AType == VK_COMPONENT_TYPE_FLOAT16_NV && p.BType == VK_COMPONENT_TYPE_FLOAT16_NV &&
        p.CType == VK_COMPONENT_TYPE_FLOAT32_NV && p.DType == VK_COMPONENT_TYPE_FLOAT32_NV &&
        p.scope == VK_SCOPE_SUBGROUP_NV && p.MSize == 16 && p.KSize == 16 && (p.NSize == 16 || p.NSize == 8))
      best = std::max(best, p.NSize);
  return best;
}

}  // namespace retnet::gpu
