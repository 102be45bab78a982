#include <fmt/format.h>

#include <cstdio>

#include "demo/commands.hpp"

namespace demo {

int run_generate(const GenerateArgs& a) {
  retnet::Context ctx(context_options(a));
  auto model = retnet::Model::load(ctx, resolve_model_folder(a.model));
  retnet::Session session(model);
  retnet::GenerateOptions go = streaming_options(a);
  fmt::print("{}", a.prompt);
  std::fflush(stdout);
  retnet::GenerationStats stats;
  retnet::generate(session, a.prompt, go, &stats);
  fmt::print("\n");
  print_summary(stats);
  return report_validation(ctx);
}

}  // namespace demo
