// Vulkan instance and device set-up, device choice, validation messages, the persisted
// pipeline cache, and device-memory accounting.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "gpu/context_impl.hpp"
#include "gpu/embedded_shaders.hpp"
#include "gpu/memory_type.hpp"
#include "gpu/vk_check.hpp"
#include "retnet/error.hpp"

namespace retnet {

namespace {

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0 && std::strcmp(v, "false") != 0;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool layer_available(const char* name) {
  uint32_t n = 0;
  vkEnumerateInstanceLayerProperties(&n, nullptr);
  std::vector<VkLayerProperties> layers(n);
  vkEnumerateInstanceLayerProperties(&n, layers.data());
  for (auto& l : layers)
    if (std::strcmp(l.layerName, name) == 0) return true;
  return false;
}

bool instance_extension_available(const char* name) {
  uint32_t n = 0;
  vkEnumerateInstanceExtensionProperties(nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> exts(n);
  vkEnumerateInstanceExtensionProperties(nullptr, &n, exts.data());
  for (auto& e : exts)
    if (std::strcmp(e.extensionName, name) == 0) return true;
  return false;
}

VkBool32 VKAPI_PTR on_validation_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                         VkDebugUtilsMessageTypeFlagsEXT,
                                         const VkDebugUtilsMessengerCallbackDataEXT* data, void* user) {
  auto* impl = static_cast<gpu::ContextImpl*>(user);
  const char* level = (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) ? "error" : "warning";
  std::string msg = fmt::format("[validation {}] {}", level, data && data->pMessage ? data->pMessage : "");
  std::lock_guard<std::mutex> lock(impl->mutex);
  impl->validation_messages.push_back(std::move(msg));
  return VK_FALSE;
}

// Where the pipeline cache lives, or "" when persistence is off.
std::string cache_directory(const std::string& configured) {
  if (configured == "none") return "";
  if (!configured.empty()) return configured;
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d) return std::string(d) + "/retnet-vk";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/retnet-vk";
  return "";
}

int device_rank(const std::string& type) {
  if (type == "discrete") return 4;
  if (type == "integrated") return 3;
  if (type == "virtual") return 2;
  if (type == "cpu") return 1;
  return 0;
}

// Without an instance: a short-lived one for enumeration.
struct EnumerationInstance {
  VkInstance instance = VK_NULL_HANDLE;
  EnumerationInstance() {
    VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.pApplicationName = "retnet-vk";
    app.apiVersion = VK_API_VERSION_1_1;
    VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    ci.pApplicationInfo = &app;
    const char* portability = VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME;
    if (instance_extension_available(portability)) {
      ci.enabledExtensionCount = 1;
      ci.ppEnabledExtensionNames = &portability;
      ci.flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
    }
    VkResult r = vkCreateInstance(&ci, nullptr, &instance);
    if (r != VK_SUCCESS)
      throw Error(fmt::format("cannot create a Vulkan instance ({}): is a Vulkan driver installed? "
                              "(on Debian/Ubuntu: apt install mesa-vulkan-drivers)", gpu::vk_result_name(r)));
  }
  ~EnumerationInstance() { vkDestroyInstance(instance, nullptr); }
};

std::vector<VkPhysicalDevice> physical_devices(VkInstance instance) {
  uint32_t n = 0;
  VK_CHECK(vkEnumeratePhysicalDevices(instance, &n, nullptr));
  std::vector<VkPhysicalDevice> devices(n);
  VK_CHECK(vkEnumeratePhysicalDevices(instance, &n, devices.data()));
  return devices;
}

}  // namespace

ContextOptions ContextOptions::from_environment() {
  ContextOptions o;
  if (const char* d = std::getenv("RETNET_DEVICE")) o.device = d;
  o.validation = env_flag("RETNET_VALIDATION");
  o.profiling = env_flag("RETNET_PROFILE");
  o.allow.fp16 = !env_flag("RETNET_NO_FP16");
  o.allow.subgroups = !env_flag("RETNET_NO_SUBGROUPS");
  o.allow.coopmat = !env_flag("RETNET_NO_COOPMAT");
  o.pipeline_statistics = env_flag("RETNET_PIPELINE_STATS");
  if (const char* v = std::getenv("RETNET_SPIN_WAIT"); v && *v)
    o.spin_wait = env_flag("RETNET_SPIN_WAIT") ? ContextOptions::SpinWait::On : ContextOptions::SpinWait::Off;
  if (const char* c = std::getenv("RETNET_CACHE_DIR")) o.cache_dir = c;
  if (const char* m = std::getenv("RETNET_SHARED_MEMORY_LIMIT")) {
    char* end = nullptr;
    const unsigned long long bytes = std::strtoull(m, &end, 10);
    if (end == m || *end != '\0' || bytes == 0)
      throw Error(fmt::format("RETNET_SHARED_MEMORY_LIMIT must be a positive number of bytes, not '{}'", m));
    o.shared_memory_limit = bytes;
  }
  return o;
}

bool validation_layer_available() { return layer_available("VK_LAYER_KHRONOS_validation"); }

std::vector<DeviceInfo> list_devices() {
  EnumerationInstance inst;
  std::vector<DeviceInfo> out;
  auto devices = physical_devices(inst.instance);
  for (uint32_t i = 0; i < devices.size(); ++i) out.push_back(gpu::describe_device(inst.instance, devices[i], i));
  return out;
}

namespace gpu {

ContextImpl::ContextImpl(const ContextOptions& opts) : options(opts) {
  try {
    create_instance();
    pick_device();
    create_device();
    load_pipeline_cache();
  } catch (...) {
    destroy();  // the destructor does not run when a constructor throws
    throw;
  }
}

void ContextImpl::create_instance() {
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "retnet-vk";
  app.pEngineName = "retnet-vk";
  app.apiVersion = VK_API_VERSION_1_1;
  std::vector<const char*> layers, extensions;
  const char* validation_layer = "VK_LAYER_KHRONOS_validation";
  if (options.validation) {
    if (!layer_available(validation_layer))
      throw Error("validation was requested (RETNET_VALIDATION) but the Khronos validation layer is not "
                  "installed (on Debian/Ubuntu: apt install vulkan-validationlayers)");
    layers.push_back(validation_layer);
    extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  }
  VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  if (instance_extension_available(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
    extensions.push_back(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME);
    ci.flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
  }
  ci.pApplicationInfo = &app;
  ci.enabledLayerCount = static_cast<uint32_t>(layers.size());
  ci.ppEnabledLayerNames = layers.data();
  ci.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  ci.ppEnabledExtensionNames = extensions.data();
  VkResult r = vkCreateInstance(&ci, nullptr, &instance);
  if (r != VK_SUCCESS)
    throw Error(fmt::format("cannot create a Vulkan instance ({}): is a Vulkan driver installed? "
                            "(on Debian/Ubuntu: apt install mesa-vulkan-drivers)", vk_result_name(r)));
  if (options.validation) {
    VkDebugUtilsMessengerCreateInfoEXT mi{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
    mi.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
    mi.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
    mi.pfnUserCallback = on_validation_message;
    mi.pUserData = this;
    auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance, "vkCreateDebugUtilsMessengerEXT"));
    if (!create) throw Error("the validation layer is present but VK_EXT_debug_utils is not");
    VK_CHECK(create(instance, &mi, nullptr, &messenger));
  }
}

void ContextImpl::pick_device() {
  auto devices = physical_devices(instance);
  if (devices.empty())
    throw Error("no Vulkan device found (on a machine without a GPU install lavapipe: apt install mesa-vulkan-drivers)");
  std::vector<DeviceInfo> infos;
  for (uint32_t i = 0; i < devices.size(); ++i) infos.push_back(describe_device(instance, devices[i], i));

  int chosen = -1;
  const std::string& want = options.device;
  if (want.empty()) {
    chosen = 0;
    for (int i = 1; i < static_cast<int>(infos.size()); ++i) {
      int a = device_rank(infos[i].type), b = device_rank(infos[chosen].type);
      if (a > b || (a == b && infos[i].device_local_bytes > infos[chosen].device_local_bytes)) chosen = i;
    }
  } else if (std::all_of(want.begin(), want.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    chosen = std::stoi(want);
    if (chosen >= static_cast<int>(infos.size()))
      throw Error(fmt::format("device index {} does not exist: this machine has {} Vulkan device(s) "
                              "(see `retnet devices`)", want, infos.size()));
  } else {
    for (int i = 0; i < static_cast<int>(infos.size()) && chosen < 0; ++i)
      if (lower(infos[i].name).find(lower(want)) != std::string::npos) chosen = i;
    if (chosen < 0) {
      std::string names;
      for (auto& d : infos) names += fmt::format("{}'{}'", names.empty() ? "" : ", ", d.name);
      throw Error(fmt::format("no Vulkan device name contains '{}'; the devices are: {}", want, names));
    }
  }
  physical = devices[chosen];
  info = infos[chosen];
  if (options.shared_memory_limit > 0)
    info.shared_memory_bytes =
        static_cast<uint32_t>(std::min<uint64_t>(info.shared_memory_bytes, options.shared_memory_limit));
  active.fp16 = options.allow.fp16 && info.fp16_storage;
  active.subgroups = options.allow.subgroups && info.subgroup_arithmetic;
  // The tensor-core matmul keeps f16 tiles in shared memory (shaderFloat16) and assumes
  // subgroups of 32 lanes.
  active.coopmat = options.allow.coopmat && info.cooperative_matrix && active.fp16 && info.fp16_arithmetic &&
                   info.subgroup_size == 32;
  vkGetPhysicalDeviceMemoryProperties(physical, &memory_properties);
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(physical, &props);
  timestamp_period_ns = props.limits.timestampPeriod;
  min_storage_alignment = static_cast<uint32_t>(props.limits.minStorageBufferOffsetAlignment);
}

void ContextImpl::create_device() {
  uint32_t nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(physical, &nq, nullptr);
  std::vector<VkQueueFamilyProperties> families(nq);
  vkGetPhysicalDeviceQueueFamilyProperties(physical, &nq, families.data());
  // Prefer a compute queue with timestamps; any compute queue will do.
  int family = -1;
  for (uint32_t i = 0; i < nq; ++i) {
    if (!(families[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
    if (family < 0 || (families[i].timestampValidBits > 0 && families[family].timestampValidBits == 0))
      family = static_cast<int>(i);
  }
  if (family < 0) throw Error(fmt::format("device '{}' has no compute queue", info.name));
  queue_family = static_cast<uint32_t>(family);
  if (families[queue_family].timestampValidBits == 0) info.timestamps = false;

  float priority = 1.0f;
  VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qci.queueFamilyIndex = queue_family;
  qci.queueCount = 1;
  qci.pQueuePriorities = &priority;

  std::vector<const char*> extensions;
  VkPhysicalDeviceFeatures2 features{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  VkPhysicalDevice16BitStorageFeatures storage16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
  VkPhysicalDeviceShaderFloat16Int8FeaturesKHR float16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES_KHR};
  VkPhysicalDeviceCooperativeMatrixFeaturesNV coopmat{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  VkPhysicalDeviceVulkanMemoryModelFeaturesKHR memory_model{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES_KHR};
  void** next = &features.pNext;
  features.features.shaderStorageBufferArrayDynamicIndexing = info.storage_buffer_arrays != 0;
  if (active.fp16) {
    storage16.storageBuffer16BitAccess = VK_TRUE;
    *next = &storage16;
    next = &storage16.pNext;
    if (info.fp16_arithmetic) {
      extensions.push_back(VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
      float16.shaderFloat16 = VK_TRUE;
      *next = &float16;
      next = &float16.pNext;
    }
  }
  if (active.coopmat) {
    extensions.push_back(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
    coopmat.cooperativeMatrix = VK_TRUE;
    *next = &coopmat;
    next = &coopmat.pNext;
    extensions.push_back(VK_KHR_VULKAN_MEMORY_MODEL_EXTENSION_NAME);  // the coopmat shaders use it
    memory_model.vulkanMemoryModel = VK_TRUE;
    *next = &memory_model;
    next = &memory_model.pNext;
  }
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR executables{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR};
  if (options.pipeline_statistics && has_extension(physical, VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME)) {
    extensions.push_back(VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
    executables.pipelineExecutableInfo = VK_TRUE;
    *next = &executables;
    next = &executables.pNext;
    capture_statistics = true;
  }
  VkDeviceCreateInfo ci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  ci.pNext = &features;
  ci.queueCreateInfoCount = 1;
  ci.pQueueCreateInfos = &qci;
  ci.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  ci.ppEnabledExtensionNames = extensions.data();
  VK_CHECK(vkCreateDevice(physical, &ci, nullptr, &device));
  vkGetDeviceQueue(device, queue_family, 0, &queue);

  VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pci.queueFamilyIndex = queue_family;
  VK_CHECK(vkCreateCommandPool(device, &pci, nullptr, &command_pool));
}

void ContextImpl::load_pipeline_cache() {
  std::vector<char> data;
  std::string dir = cache_directory(options.cache_dir);
  if (!dir.empty()) {
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(physical, &props);
    std::string uuid;
    for (uint8_t b : props.pipelineCacheUUID) uuid += fmt::format("{:02x}", b);
    // Keyed by device, driver version and the driver's cache UUID, so a driver update starts afresh.
    pipeline_cache_path = fmt::format("{}/{:04x}-{:04x}-{:08x}-{}.bin", dir, props.vendorID, props.deviceID,
                                      props.driverVersion, uuid);
    std::ifstream in(pipeline_cache_path, std::ios::binary);
    if (in) data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    // The header (length, version, vendor, device, uuid) must match this device, else ignore the file.
    if (data.size() >= 32) {
      uint32_t header[4];
      std::memcpy(header, data.data(), sizeof header);
      if (header[2] != props.vendorID || header[3] != props.deviceID ||
          std::memcmp(data.data() + 16, props.pipelineCacheUUID, VK_UUID_SIZE) != 0)
        data.clear();
    } else {
      data.clear();
    }
  }
  VkPipelineCacheCreateInfo ci{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
  ci.initialDataSize = data.size();
  ci.pInitialData = data.empty() ? nullptr : data.data();
  VK_CHECK(vkCreatePipelineCache(device, &ci, nullptr, &pipeline_cache));
}

void ContextImpl::save_pipeline_cache() {
  if (pipeline_cache_path.empty() || pipeline_cache == VK_NULL_HANDLE) return;
  size_t size = 0;
  if (vkGetPipelineCacheData(device, pipeline_cache, &size, nullptr) != VK_SUCCESS || size == 0) return;
  std::vector<char> data(size);
  if (vkGetPipelineCacheData(device, pipeline_cache, &size, data.data()) != VK_SUCCESS) return;
  // Best effort and atomic: a cache that cannot be written only costs compile time next run.
  std::error_code ec;
  std::filesystem::path path(pipeline_cache_path);
  std::filesystem::create_directories(path.parent_path(), ec);
  std::filesystem::path tmp = path;
  tmp += fmt::format(".tmp{}", static_cast<long>(::getpid()));  // parallel processes never share a temp file
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return;
    out.write(data.data(), static_cast<std::streamsize>(size));
    if (!out) { std::filesystem::remove(tmp, ec); return; }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) std::filesystem::remove(tmp, ec);
}

ContextImpl::~ContextImpl() { destroy(); }

void ContextImpl::destroy() {
  if (device) {
    vkDeviceWaitIdle(device);
    save_pipeline_cache();
    for (auto& [name, p] : pipelines) {
      vkDestroyPipeline(device, p.pipeline, nullptr);
      vkDestroyPipelineLayout(device, p.layout, nullptr);
      vkDestroyDescriptorSetLayout(device, p.set_layout, nullptr);
    }
    pipelines.clear();
    if (pipeline_cache) vkDestroyPipelineCache(device, pipeline_cache, nullptr);
    if (command_pool) vkDestroyCommandPool(device, command_pool, nullptr);
    vkDestroyDevice(device, nullptr);
    device = VK_NULL_HANDLE;
    pipeline_cache = VK_NULL_HANDLE;
    command_pool = VK_NULL_HANDLE;
  }
  if (messenger) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy) destroy(instance, messenger, nullptr);
    messenger = VK_NULL_HANDLE;
  }
  if (instance) vkDestroyInstance(instance, nullptr);
  instance = VK_NULL_HANDLE;
}

std::string ContextImpl::describe_statistics(VkPipeline pipeline) const {
  auto properties = reinterpret_cast<PFN_vkGetPipelineExecutablePropertiesKHR>(
      vkGetDeviceProcAddr(device, "vkGetPipelineExecutablePropertiesKHR"));
  auto statistics = reinterpret_cast<PFN_vkGetPipelineExecutableStatisticsKHR>(
      vkGetDeviceProcAddr(device, "vkGetPipelineExecutableStatisticsKHR"));
  if (!properties || !statistics) return "(the driver gives no statistics)";
  VkPipelineInfoKHR info{VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR};
  info.pipeline = pipeline;
  uint32_t executables = 0;
  if (properties(device, &info, &executables, nullptr) != VK_SUCCESS) return "(no executables)";
  std::string text;
  for (uint32_t e = 0; e < executables; ++e) {
    VkPipelineExecutableInfoKHR which{VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR};
    which.pipeline = pipeline;
    which.executableIndex = e;
    uint32_t n = 0;
    if (statistics(device, &which, &n, nullptr) != VK_SUCCESS) continue;
    std::vector<VkPipelineExecutableStatisticKHR> stats(n, {VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR});
    if (statistics(device, &which, &n, stats.data()) != VK_SUCCESS) continue;
    for (uint32_t i = 0; i < n; ++i) {
      const VkPipelineExecutableStatisticKHR& st = stats[i];
      std::string value;
      switch (st.format) {
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR: value = st.value.b32 ? "true" : "false"; break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR: value = std::to_string(st.value.i64); break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR: value = std::to_string(st.value.u64); break;
        default: value = fmt::format("{:g}", st.value.f64); break;
      }
      text += fmt::format("{}{} {}", text.empty() ? "" : ", ", st.name, value);
    }
  }
  return text.empty() ? "(no statistics)" : text;
}

const Pipeline& ContextImpl::pipeline(const char* shader, const std::vector<uint32_t>& binding_sizes,
                                      uint32_t push_bytes, const std::vector<uint32_t>& specialization) {
  std::string key = shader;
  for (uint32_t v : specialization) key += fmt::format(":{}", v);
  for (size_t i = 0; i < binding_sizes.size(); ++i)  // arrays only: the usual keys stay as they were
    if (binding_sizes[i] != 1) key += fmt::format("[{}]={}", i, binding_sizes[i]);
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = pipelines.find(key); it != pipelines.end()) return it->second;

  size_t words = 0;
  const uint32_t* code = find_embedded_shader(shader, &words);
  if (!code) throw Error(fmt::format("internal error: no embedded shader named '{}'", shader));

  Pipeline p;
  p.push_bytes = push_bytes;
  const uint32_t binding_count = static_cast<uint32_t>(binding_sizes.size());
  std::vector<VkDescriptorSetLayoutBinding> bindings(binding_count);
  for (uint32_t i = 0; i < binding_count; ++i)
    bindings[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, binding_sizes[i], VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
  VkDescriptorSetLayoutCreateInfo dci{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  dci.bindingCount = binding_count;
  dci.pBindings = bindings.data();
  VK_CHECK(vkCreateDescriptorSetLayout(device, &dci, nullptr, &p.set_layout));

  VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes};
  VkPipelineLayoutCreateInfo lci{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  lci.setLayoutCount = 1;
  lci.pSetLayouts = &p.set_layout;
  lci.pushConstantRangeCount = push_bytes ? 1 : 0;
  lci.pPushConstantRanges = push_bytes ? &range : nullptr;
  VK_CHECK(vkCreatePipelineLayout(device, &lci, nullptr, &p.layout));

  VkShaderModuleCreateInfo sci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  sci.codeSize = words * 4;
  sci.pCode = code;
  VkShaderModule module;
  VK_CHECK(vkCreateShaderModule(device, &sci, nullptr, &module));

  std::vector<VkSpecializationMapEntry> entries(specialization.size());
  for (uint32_t i = 0; i < specialization.size(); ++i) entries[i] = {i, i * 4u, 4};
  VkSpecializationInfo spec{static_cast<uint32_t>(entries.size()), entries.data(), specialization.size() * 4,
                            specialization.data()};
  VkComputePipelineCreateInfo cci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  cci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
  cci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  cci.stage.module = module;
  cci.stage.pName = "main";
  cci.stage.pSpecializationInfo = specialization.empty() ? nullptr : &spec;
  cci.layout = p.layout;
  if (capture_statistics) cci.flags |= VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR;
  VkResult r = vkCreateComputePipelines(device, pipeline_cache, 1, &cci, nullptr, &p.pipeline);
  vkDestroyShaderModule(device, module, nullptr);
  if (r != VK_SUCCESS) throw_vk_error(r, key.c_str(), __FILE__, __LINE__);
  if (capture_statistics) pipeline_statistics.push_back(key + "  " + describe_statistics(p.pipeline));
  return pipelines.emplace(key, p).first->second;
}

VkDeviceMemory ContextImpl::allocate(const VkMemoryRequirements& req, VkMemoryPropertyFlags want,
                                     const std::string& what, VkMemoryPropertyFlags prefer) {
  const int type = gpu::choose_memory_type(memory_properties, req.memoryTypeBits, want, prefer);
  if (type < 0) throw Error(fmt::format("device '{}' has no memory type for {}", info.name, what));
  VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  ai.allocationSize = req.size;
  ai.memoryTypeIndex = static_cast<uint32_t>(type);
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkResult r = vkAllocateMemory(device, &ai, nullptr, &memory);
  if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
    throw OutOfMemoryError(fmt::format(
        "out of GPU memory allocating {} ({:.1f} MiB; this context already holds {:.1f} MiB of the device's {:.1f} MiB)",
        what, req.size / 1048576.0, allocated_bytes.load() / 1048576.0, info.device_local_bytes / 1048576.0));
  if (r != VK_SUCCESS) throw_vk_error(r, "vkAllocateMemory", __FILE__, __LINE__);
  uint64_t now = allocated_bytes += req.size;
  uint64_t peak = peak_allocated_bytes.load();
  while (now > peak && !peak_allocated_bytes.compare_exchange_weak(peak, now)) {}
  return memory;
}

void ContextImpl::release(VkDeviceMemory memory, VkDeviceSize size) {
  if (!memory) return;
  vkFreeMemory(device, memory, nullptr);
  allocated_bytes -= size;
}

VkCommandBuffer ContextImpl::begin_commands() {
  VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  ai.commandPool = command_pool;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  VkCommandBuffer cmd;
  {
    std::lock_guard<std::mutex> lock(mutex);
    VK_CHECK(vkAllocateCommandBuffers(device, &ai, &cmd));
  }
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  VK_CHECK(vkBeginCommandBuffer(cmd, &bi));
  return cmd;
}

void ContextImpl::submit_and_wait(VkCommandBuffer cmd) {
  VK_CHECK(vkEndCommandBuffer(cmd));
  VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VkFence fence;
  VK_CHECK(vkCreateFence(device, &fci, nullptr, &fence));
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cmd;
  VkResult r;
  {
    std::lock_guard<std::mutex> lock(mutex);
    r = vkQueueSubmit(queue, 1, &si, fence);
  }
  if (r == VK_SUCCESS) r = vkWaitForFences(device, 1, &fence, VK_TRUE, UINT64_MAX);
  vkDestroyFence(device, fence, nullptr);
  {
    std::lock_guard<std::mutex> lock(mutex);
    vkFreeCommandBuffers(device, command_pool, 1, &cmd);
  }
  if (r != VK_SUCCESS) throw_vk_error(r, "vkQueueSubmit/vkWaitForFences", __FILE__, __LINE__);
}

}  // namespace gpu

Context::Context(const ContextOptions& options) : impl_(std::make_unique<gpu::ContextImpl>(options)) {}
Context::~Context() = default;
const DeviceInfo& Context::device() const { return impl_->info; }
const ContextOptions& Context::options() const { return impl_->options; }
FastPaths Context::active_paths() const { return impl_->active; }
bool Context::spin_waits() const {
  switch (impl_->options.spin_wait) {
    case ContextOptions::SpinWait::On: return true;
    case ContextOptions::SpinWait::Off: return false;
    case ContextOptions::SpinWait::Auto: break;
  }
  return impl_->info.type != "cpu";
}
std::vector<std::string> Context::pipeline_statistics() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->pipeline_statistics;
}

std::vector<std::string> Context::validation_messages() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->validation_messages;
}
uint64_t Context::allocated_bytes() const { return impl_->allocated_bytes.load(); }
uint64_t Context::peak_allocated_bytes() const { return impl_->peak_allocated_bytes.load(); }
void Context::reset_peak_allocated_bytes() { impl_->peak_allocated_bytes.store(impl_->allocated_bytes.load()); }

}  // namespace retnet
