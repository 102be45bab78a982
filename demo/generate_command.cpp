#include <fmt/format.h>

#include <cstdio>

#include "demo/commands.hpp"

namespace demo {

void print_summary(const retnet::GenerationStats& st) {
  fmt::print(stderr,
             "\n[{} prompt tokens, prefill {:.1f} tok/s | {} generated, decode {:.1f} tok/s, {:.2f} ms/token | "
             "GPU memory {:.1f} MiB]\n",
             st.prompt_tokens, st.prefill_tokens_per_s(), st.generated_tokens, st.decode_tokens_per_s(),
             st.ms_per_token(), st.gpu_memory_bytes / 1048576.0);
}

retnet::ContextOptions context_options(const GenerateArgs& a) {
  auto options = retnet::ContextOptions::from_environment();
  if (!a.device.empty()) options.device = a.device;
  return options;
}

int run_generate(const GenerateArgs& a) {
  retnet::Context ctx(context_options(a));
  auto model = retnet::Model::load(ctx, resolve_model_folder(a.model));
  retnet::Session session(model);
  retnet::GenerateOptions go;
  go.max_new_tokens = a.max_new_tokens;
  go.sampling = a.sampling;
  go.on_text = [](const std::string& piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    return true;
  };
  fmt::print("{}", a.prompt);
  std::fflush(stdout);
  retnet::GenerationStats stats;
  retnet::generate(session, a.prompt, go, &stats);
  fmt::print("\n");
  print_summary(stats);
  return report_validation(ctx);
}

}  // namespace demo
