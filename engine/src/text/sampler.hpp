#pragma once
// Picks the next token from a row of logits: repetition penalty, temperature, top-k,
// nucleus (top-p), then a draw from a seeded generator whose results are the same on every
// platform and standard library (the engine and the distribution are both spelled out
// here, nothing is left to std::*_distribution).
#include <cstdint>
#include <random>
#include <vector>

namespace retnet::text {

struct SamplingOptions {
  float temperature = 0.8f;          // 0 = greedy (argmax); must not be negative
  int top_k = 40;                    // keep the k most likely tokens; 0 = no limit
  float top_p = 0.95f;               // keep the smallest set with this much mass, in (0, 1]; 1 = no cut
  float repetition_penalty = 1.0f;   // CTRL-style, > 0; 1 = off, > 1 discourages repeats
  int repetition_window = 64;        // how many of the most recent tokens are penalized; 0 = none
  uint64_t seed = 0;
  bool greedy() const { return temperature <= 0; }
  // Throws retnet::Error naming the first bad option.
  void validate() const;
};

class Sampler {
 public:
  // Validates the options (retnet::Error on a bad one) and seeds the generator.
  explicit Sampler(SamplingOptions options);

  // The next token id in [0, vocab). `logits` holds `vocab` finite values (NaN or inf is an
  // Error naming the first offender); pass a smaller `vocab` than the model's to sample only
  // among the first ids (e.g. the 259 of the byte tokenizer). The last repetition_window
  // entries of recent_tokens (prompt and generated ids) are penalized, each distinct id once;
  // they must lie in [0, vocab). Greedy picks the lowest id among equal maxima. The generator
  // advances by one draw per call, except when a single candidate is left (greedy, top_k = 1,
  // a top_p cut down to one token): then nothing is drawn.
  int32_t sample(const float* logits, int64_t vocab, const std::vector<int32_t>& recent_tokens);

  // The distribution sample() draws from, indexed by token id (0 for tokens cut by top-k /
  // top-p; one-hot when greedy). Does not touch the generator.
  std::vector<double> probabilities(const float* logits, int64_t vocab, const std::vector<int32_t>& recent_tokens);

  const SamplingOptions& options() const { return options_; }
  // Restarts the random sequence as if constructed with this seed.
  void reseed(uint64_t seed);

 private:
  // Fills order_ with the candidate ids, most likely first, and weights_ with their
  // unnormalized probabilities; returns how many candidates survive.
  size_t prepare(const float* logits, int64_t vocab, const std::vector<int32_t>& recent_tokens);

  SamplingOptions options_;
  std::mt19937_64 rng_;
  std::vector<double> scores_;   // per token id, after penalty and temperature
  std::vector<int32_t> order_;   // candidate ids, best first
  std::vector<double> weights_;  // exp(score - max) of order_[i]
  std::vector<int32_t> window_;  // distinct recent ids
};

// The double in [0, 1) given by the top 53 bits of `bits`: every value k / 2^53 equally likely.
double unit_interval(uint64_t bits);

}  // namespace retnet::text
