// Catch2 runner that fails the run when the Vulkan validation layer said anything.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <iostream>

#include "test_support.hpp"

int main(int argc, char* argv[]) {
  int failed = Catch::Session().run(argc, argv);
  // Only look if a test created the context (listing tests must not open a device).
  extern bool test_context_created();
  if (test_context_created()) {
    auto messages = test::context().validation_messages();
    for (const auto& m : messages) std::cerr << m << "\n";
    if (!messages.empty()) {
      std::cerr << messages.size() << " Vulkan validation message(s): failing the run\n";
      return failed ? failed : 1;
    }
  }
  return failed;
}
