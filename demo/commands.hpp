#pragma once
// The subcommands of the `retnet` program, one file each. The demo uses only the public API.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "retnet/error.hpp"
#include "retnet/model.hpp"
#include "retnet/train.hpp"

namespace demo {

int run_devices();
// With RETNET_VALIDATION=1: prints what the validation layer said; non-zero if anything.
int report_validation(const retnet::Context& ctx);
int run_selftest(const std::string& device);

struct GenerateArgs {
  std::string model;  // empty: the default model
  std::string prompt;
  int64_t max_new_tokens = 200;
  retnet::SamplingSettings sampling;
  std::string device;
};
// Adds -m/--model, sampling and device options shared by generate and chat.
void add_generation_options(CLI::App* cmd, GenerateArgs& args);
// The model folder to load: --model, else $RETNET_MODEL, else the project's default model.
std::string resolve_model_folder(const std::string& requested);
retnet::ContextOptions context_options(const GenerateArgs& args);
// Generation settings from the arguments, streaming the text to stdout as it forms.
retnet::GenerateOptions streaming_options(const GenerateArgs& args);
// The line after each run: prompt tokens, prefill and decode speed, ms/token, GPU memory.
void print_summary(const retnet::GenerationStats& stats);
int run_generate(const GenerateArgs& args);
int run_chat(const GenerateArgs& args);

struct TrainArgs {
  retnet::TrainOptions options;
  bool f32 = false;
  std::string device;
};
void add_train_options(CLI::App* cmd, TrainArgs& args);
int run_train(TrainArgs& args);
int run_convert(const std::string& in, const std::string& out, const std::string& device);

}  // namespace demo
