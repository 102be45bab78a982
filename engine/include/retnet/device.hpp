#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace retnet {

// What a Vulkan device offers, as reported by `retnet devices`.
struct DeviceInfo {
  uint32_t index = 0;               // position in the Vulkan enumeration
  std::string name;
  std::string type;                 // "discrete", "integrated", "virtual", "cpu", "other"
  std::string driver;               // driver name and version string
  std::string api_version;          // e.g. "1.3.230"
  uint32_t vendor_id = 0, device_id = 0;
  uint64_t device_local_bytes = 0;  // largest device-local heap
  uint64_t max_buffer_bytes = 0;    // maxStorageBufferRange: the largest tensor one binding sees
  uint32_t shared_memory_bytes = 0; // maxComputeSharedMemorySize
  uint32_t max_workgroup_invocations = 0;
  uint32_t subgroup_size = 0;
  uint32_t compute_units = 0;       // SMs / CUs where the driver says (NV and AMD extensions), else 0
  bool subgroup_arithmetic = false; // subgroupAdd etc. in compute shaders
  bool fp16_storage = false;        // 16-bit storage buffers (f16 weights)
  bool fp16_arithmetic = false;     // shaderFloat16
  bool cooperative_matrix = false;  // VK_NV_cooperative_matrix with f16 inputs
  uint32_t cooperative_matrix_n = 0; // its f16 x f16 -> f32 shape is 16 x N x 16 (16, else 8)
  bool timestamps = false;          // compute-queue timestamps for profiling
  // Storage buffers a compute shader may see at once where it indexes arrays of them per
  // workgroup (shaderStorageBufferArrayDynamicIndexing), else 0.
  uint32_t storage_buffer_arrays = 0;
  // Matrix extensions the driver offers that no shader of this build uses (VK_KHR_cooperative_matrix,
  // VK_NV_cooperative_matrix2): Debian 12's glslang compiles neither, so they are only reported.
  std::vector<std::string> unused_matrix_extensions;
};

// Optional fast paths. A path is used only when the device supports it AND it is allowed
// here, so each can be forced off for tests or for drivers that get it wrong.
struct FastPaths {
  bool fp16 = true;        // f16 weight storage / arithmetic     (RETNET_NO_FP16=1 forces off)
  bool subgroups = true;   // subgroup reductions                 (RETNET_NO_SUBGROUPS=1)
  bool coopmat = true;     // VK_NV_cooperative_matrix            (RETNET_NO_COOPMAT=1)
};

struct ContextOptions {
  // Device: empty picks the best (discrete > integrated > virtual > cpu); a number picks
  // that index, anything else the first device whose name contains it (case-insensitive).
  std::string device;
  bool validation = false;  // Khronos validation layer; messages are collected
  bool profiling = false;   // GPU timestamps around each dispatch
  FastPaths allow;
  // Where the VkPipelineCache is persisted. Empty: $RETNET_CACHE_DIR, else
  // $XDG_CACHE_HOME/retnet-vk, else ~/.cache/retnet-vk. "none" disables persistence.
  std::string cache_dir;
  // When non-zero, the kernels plan for at most this much shared memory per workgroup (the
  // device's own limit if lower): tests run the variants made for small devices with it.
  uint64_t shared_memory_limit = 0;
  // Ask the driver for each compute pipeline's statistics as it is created (registers,
  // shared memory, spills: what bounds a kernel's occupancy), where it offers
  // VK_KHR_pipeline_executable_properties; Context::pipeline_statistics() returns them.
  bool pipeline_statistics = false;
  // How the host waits for each submission. On: it polls the fence (for up to 20 ms, then it
  // sleeps in the driver), so the thread goes on as soon as the GPU is done; a sleeping wait
  // adds tens of microseconds to every decode step (on the H100, 1.3b decode took 1.643-1.653
  // ms/token sleeping, 1.586-1.591 polling). Auto: On for a GPU, Off for a CPU device
  // (lavapipe), whose own threads need the polling core (decode there 1.7x slower with On).
  enum class SpinWait { Auto, On, Off };
  SpinWait spin_wait = SpinWait::Auto;

  // Defaults overridden by RETNET_DEVICE, RETNET_VALIDATION, RETNET_PROFILE,
  // RETNET_NO_FP16, RETNET_NO_SUBGROUPS, RETNET_NO_COOPMAT, RETNET_CACHE_DIR,
  // RETNET_SHARED_MEMORY_LIMIT, RETNET_PIPELINE_STATS, RETNET_SPIN_WAIT (1 On, 0 Off).
  static ContextOptions from_environment();
};

// Every Vulkan device on this machine, in enumeration order.
std::vector<DeviceInfo> list_devices();

// Whether the Khronos validation layer is installed (RETNET_VALIDATION needs it).
bool validation_layer_available();

namespace gpu { struct ContextImpl; }

// One Vulkan device opened for compute. Everything on the GPU belongs to a Context.
class Context {
 public:
  explicit Context(const ContextOptions& options = ContextOptions::from_environment());
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const DeviceInfo& device() const;
  const ContextOptions& options() const;
  // The fast paths in effect: device support AND allowed.
  FastPaths active_paths() const;
  // Whether waits for submissions poll (ContextOptions::spin_wait, Auto resolved for this device).
  bool spin_waits() const;
  // Validation-layer warnings and errors seen so far (empty unless validation is on).
  std::vector<std::string> validation_messages() const;
  // With ContextOptions::pipeline_statistics on a device that offers them: one line per
  // pipeline created so far, "shader:specialization  name value, name value, ..." in the
  // driver's own words. Empty otherwise.
  std::vector<std::string> pipeline_statistics() const;
  // Bytes of device memory this context has allocated now, and the most it ever had.
  uint64_t allocated_bytes() const;
  uint64_t peak_allocated_bytes() const;
  // Starts the peak over from what is allocated now (to measure one operation's peak).
  void reset_peak_allocated_bytes();

  gpu::ContextImpl& impl() { return *impl_; }
  const gpu::ContextImpl& impl() const { return *impl_; }

 private:
  std::unique_ptr<gpu::ContextImpl> impl_;
};

}  // namespace retnet
