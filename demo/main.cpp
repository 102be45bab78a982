// `retnet`: the command-line front end of retnet-vk.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "demo/commands.hpp"
#include "retnet/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"retnet: run and train RetNet models on any Vulkan GPU"};
  app.require_subcommand(1);
  auto* devices = app.add_subcommand("devices", "List Vulkan devices and the features retnet uses");
  CLI11_PARSE(app, argc, argv);
  try {
    if (devices->parsed()) return demo::run_devices();
  } catch (const retnet::Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 0;
}
