// retnet-sampler-bench: the host's time to pick one token from a row of logits
// (text::Sampler: repetition penalty, temperature, top-k, top-p), which every generated token
// adds to the GPU's decode step. Logits are normal with a chosen spread, like a model's.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <random>

#include "text/sampler.hpp"

int main(int argc, char** argv) {
  CLI::App app{"retnet-sampler-bench: microseconds per sampled token"};
  int64_t vocab = 32000;
  float spread = 3.0f;
  int draws = 2000;
  std::string json_path;
  app.add_option("--vocab", vocab, "Vocabulary size")->check(CLI::Range(int64_t(2), int64_t(1) << 24));
  app.add_option("--spread", spread, "Standard deviation of the logits")->check(CLI::PositiveNumber);
  app.add_option("--draws", draws, "Tokens sampled per setting")->check(CLI::Range(1, 1 << 20));
  app.add_option("--json", json_path, "Also write the results here");
  CLI11_PARSE(app, argc, argv);

  std::mt19937 g(1);
  std::normal_distribution<float> normal(0.0f, spread);
  std::vector<float> logits(static_cast<size_t>(vocab));
  for (float& x : logits) x = normal(g);
  std::vector<int32_t> recent;  // a window's worth of earlier tokens, for the penalty
  for (int i = 0; i < 64; ++i) recent.push_back(static_cast<int32_t>(g() % vocab));

  struct Setting {
    const char* name;
    float temperature;
    int top_k;
    float top_p;
  };
  const Setting settings[] = {{"greedy", 0.0f, 0, 1.0f},
                              {"top_k 40, top_p 0.95 (the demo's)", 0.8f, 40, 0.95f},
                              {"top_p 0.95 alone", 0.8f, 0, 0.95f},
                              {"temperature alone", 0.8f, 0, 1.0f}};
  nlohmann::json out = {{"vocab", vocab}, {"spread", spread}, {"draws", draws}, {"settings", nlohmann::json::array()}};
  fmt::print("{:<36} {:>14}\n", "setting", "us per token");
  for (const Setting& s : settings) {
    retnet::text::SamplingOptions o;
    o.temperature = s.temperature;
    o.top_k = s.top_k;
    o.top_p = s.top_p;
    o.repetition_penalty = 1.1f;
    o.seed = 1;
    retnet::text::Sampler sampler(o);
    int64_t checksum = 0;  // keeps the work observable
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < draws; ++i) {
      logits[static_cast<size_t>(i) % logits.size()] += 1e-3f;  // a slightly different row each time
      checksum += sampler.sample(logits.data(), vocab, recent);
    }
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / draws;
    fmt::print("{:<36} {:>14.1f}\n", s.name, us);
    out["settings"].push_back({{"name", s.name}, {"temperature", s.temperature}, {"top_k", s.top_k},
                               {"top_p", s.top_p}, {"us_per_token", us}, {"checksum", checksum}});
  }
  if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << "\n";
  return 0;
}
