#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "demo/commands.hpp"
#include "retnet/error.hpp"

namespace demo {

void add_generation_options(CLI::App* cmd, GenerateArgs& a) {
  cmd->add_option("-m,--model", a.model, "Model folder (config.json + *.safetensors); default: the project's model");
  cmd->add_option("-n,--max-tokens", a.max_new_tokens, "Tokens to generate")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--temp", a.sampling.temperature, "Sampling temperature (0 = greedy)")->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--top-k", a.sampling.top_k, "Keep the k most likely tokens (0 = off)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", a.sampling.top_p, "Nucleus sampling mass (1 = off)")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--repeat-penalty", a.sampling.repetition_penalty, "Penalty for recently seen tokens (1 = off)");
  cmd->add_option("--seed", a.sampling.seed, "Random seed: the same seed gives the same text");
  cmd->add_option("--device", a.device, "Device index or part of its name (default: RETNET_DEVICE or the best)");
}

std::string resolve_model_folder(const std::string& requested) {
  if (!requested.empty()) return requested;
  if (const char* env = std::getenv("RETNET_MODEL"); env && *env) return env;
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  std::vector<fs::path> candidates = {"models/default"};
  if (!ec) {
    candidates.push_back(exe.parent_path() / "../../models/default");  // build/demo/retnet in a checkout
    candidates.push_back(exe.parent_path() / "../share/retnet-vk/models/default");  // installed
  }
  for (const auto& c : candidates)
    if (fs::exists(c / "config.json")) return fs::weakly_canonical(c).string();
  throw retnet::Error(
      "no model given and the default model (models/default) was not found. Pass -m FOLDER with a RetNet "
      "checkpoint (config.json + model.safetensors, e.g. one saved by flash-linear-attention), or set RETNET_MODEL");
}

retnet::ContextOptions context_options(const GenerateArgs& a) {
  auto options = retnet::ContextOptions::from_environment();
  if (!a.device.empty()) options.device = a.device;
  return options;
}

retnet::GenerateOptions streaming_options(const GenerateArgs& a) {
  retnet::GenerateOptions go;
  go.max_new_tokens = a.max_new_tokens;
  go.sampling = a.sampling;
  go.on_text = [](const std::string& piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    return true;
  };
  return go;
}

void print_summary(const retnet::GenerationStats& st) {
  fmt::print(stderr,
             "\n[{} prompt tokens, prefill {:.1f} tok/s | {} generated, decode {:.1f} tok/s, {:.2f} ms/token | "
             "GPU memory {:.1f} MiB]\n",
             st.prompt_tokens, st.prefill_tokens_per_s(), st.generated_tokens, st.decode_tokens_per_s(),
             st.ms_per_token(), st.gpu_memory_bytes / 1048576.0);
}

}  // namespace demo
