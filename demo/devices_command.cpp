#include "demo/commands.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "retnet/device.hpp"

namespace demo {

static std::string mib(uint64_t bytes) { return fmt::format("{:.0f} MiB", bytes / 1048576.0); }
static const char* yes(bool b) { return b ? "yes" : "no"; }

int run_devices() {
  auto devices = retnet::list_devices();
  if (devices.empty()) {
    fmt::print("No Vulkan devices. Install a driver (lavapipe: apt install mesa-vulkan-drivers).\n");
    return 1;
  }
  for (const auto& d : devices) {
    fmt::print("[{}] {} ({})\n", d.index, d.name, d.type);
    fmt::print("    driver {}, Vulkan {}\n", d.driver, d.api_version);
    fmt::print("    memory {}, largest buffer {}, shared memory {} KiB, max workgroup {}, compute units {}\n",
               mib(d.device_local_bytes), mib(d.max_buffer_bytes), d.shared_memory_bytes / 1024,
               d.max_workgroup_invocations, d.compute_units ? fmt::format("{}", d.compute_units) : "unknown");
    fmt::print("    subgroup size {} (arithmetic: {}), fp16 storage: {}, fp16 arithmetic: {}, "
               "cooperative matrix: {}{}, timestamps: {}, storage buffers in indexed arrays: {}\n",
               d.subgroup_size, yes(d.subgroup_arithmetic), yes(d.fp16_storage), yes(d.fp16_arithmetic),
               yes(d.cooperative_matrix),
               d.cooperative_matrix ? fmt::format(" (16x{}x16)", d.cooperative_matrix_n) : "", yes(d.timestamps),
               d.storage_buffer_arrays);
    if (!d.unused_matrix_extensions.empty())
      fmt::print("    also offered, not used by this build: {}\n", fmt::join(d.unused_matrix_extensions, ", "));
  }
  return 0;
}

int report_validation(const retnet::Context& ctx) {
  auto messages = ctx.validation_messages();
  for (const auto& m : messages) fmt::print(stderr, "{}\n", m);
  return messages.empty() ? 0 : 1;
}

}  // namespace demo
