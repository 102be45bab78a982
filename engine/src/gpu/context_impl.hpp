#pragma once
#include <vulkan/vulkan.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "retnet/device.hpp"

namespace retnet::gpu {

// A compute pipeline for one embedded shader with one set of specialization constants.
// Every binding is a storage buffer or an array of them (set 0, bindings 0..N-1); parameters go
// in push constants.
struct Pipeline {
  VkPipeline pipeline = VK_NULL_HANDLE;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
  uint32_t push_bytes = 0;
};

struct ContextImpl {
  ContextOptions options;
  DeviceInfo info;
  FastPaths active;

  VkInstance instance = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger = VK_NULL_HANDLE;
  VkPhysicalDevice physical = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  VkQueue queue = VK_NULL_HANDLE;
  uint32_t queue_family = 0;
  VkCommandPool command_pool = VK_NULL_HANDLE;
  VkPipelineCache pipeline_cache = VK_NULL_HANDLE;
  std::string pipeline_cache_path;
  VkPhysicalDeviceMemoryProperties memory_properties{};
  float timestamp_period_ns = 1.0f;
  uint32_t min_storage_alignment = 4;

  mutable std::mutex mutex;  // guards pipelines, validation messages and the queue
  std::map<std::string, Pipeline> pipelines;
  std::vector<std::string> validation_messages;
  bool capture_statistics = false;  // VK_KHR_pipeline_executable_properties is enabled
  std::vector<std::string> pipeline_statistics;
  std::atomic<uint64_t> allocated_bytes{0};
  std::atomic<uint64_t> peak_allocated_bytes{0};

  explicit ContextImpl(const ContextOptions& options);
  ~ContextImpl();

  // Created on first use and cached for the life of the context.
  const Pipeline& pipeline(const char* shader, const std::vector<uint32_t>& binding_sizes, uint32_t push_bytes,
                           const std::vector<uint32_t>& specialization = {});

  // Device memory with the flags `want` (and `prefer` where a type has them too); `what` names
  // the allocation in the out-of-memory message.
  VkDeviceMemory allocate(const VkMemoryRequirements& req, VkMemoryPropertyFlags want,
                          const std::string& what, VkMemoryPropertyFlags prefer = 0);
  void release(VkDeviceMemory memory, VkDeviceSize size);

  // A one-off command buffer, submitted and waited for (uploads, downloads).
  VkCommandBuffer begin_commands();
  void submit_and_wait(VkCommandBuffer cmd);

 private:
  void create_instance();
  void pick_device();
  void create_device();
  void load_pipeline_cache();
  void save_pipeline_cache();
  void destroy();
  // "name value, ..." of the driver's statistics of a pipeline created with their capture on.
  std::string describe_statistics(VkPipeline pipeline) const;
};

// Fills a DeviceInfo for one physical device (used by list_devices and the context).
DeviceInfo describe_device(VkInstance instance, VkPhysicalDevice physical, uint32_t index);
bool has_extension(VkPhysicalDevice physical, const char* name);
uint32_t coopmat_f16_n_size(VkInstance instance, VkPhysicalDevice physical);
uint32_t compute_unit_count(VkPhysicalDevice physical);

}  // namespace retnet::gpu
