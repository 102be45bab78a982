#include <fmt/format.h>

#include <cstdio>
#include <iostream>

#include "demo/commands.hpp"
#include "retnet/error.hpp"

namespace demo {

// Interactive: each line you type continues the same session, so the model keeps the whole
// conversation in its recurrent state (constant memory, however long the chat).
int run_chat(const GenerateArgs& a) {
  retnet::Context ctx(context_options(a));
  auto model = retnet::Model::load(ctx, resolve_model_folder(a.model));
  retnet::Session session(model);
  retnet::GenerateOptions go = streaming_options(a);
  fmt::print("retnet chat on {} — type a line and press Enter; /reset clears the session; Ctrl-D quits.\n",
             ctx.device().name);
  std::string line;
  while (true) {
    fmt::print("> ");
    std::fflush(stdout);
    if (!std::getline(std::cin, line)) break;
    if (line == "/reset") {
      session.reset();
      continue;
    }
    if (line.empty()) continue;
    try {
      retnet::GenerationStats stats;
      retnet::generate(session, line + "\n", go, &stats);
      print_summary(stats);
      go.sampling.seed += 1;  // a new seed each turn, still reproducible
    } catch (const retnet::Error& e) {
      fmt::print(stderr, "error: {}\n", e.what());
    }
  }
  fmt::print("\n");
  return report_validation(ctx);
}

}  // namespace demo
