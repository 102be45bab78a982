// Lists the Vulkan devices through the installed public API; exits 0 when one exists.
#include <retnet/retnet.hpp>

#include <cstdio>

int main() {
  try {
    auto devices = retnet::list_devices();
    for (const auto& d : devices) std::printf("%s\n", d.name.c_str());
    return devices.empty() ? 1 : 0;
  } catch (const retnet::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
