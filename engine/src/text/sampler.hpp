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
  // Scores the tokens and finds the candidates that survive top-k and top-p: the first
  // kept_ of order_ once sorted (sort_best), each weighing weights_[id], kept_total_ in all;
  // returns kept_.
  size_t prepare(const float* logits, int64_t vocab, const std::vector<int32_t>& recent_tokens);
  // Sorts order_ best first up to at least `count` entries. Only as far as a draw needs: a
  // nucleus or a draw usually ends among the first few of a vocabulary of tens of thousands,
  // which a full sort of every id per token would spend milliseconds on.
  void sort_best(size_t count);
  // Token a is more likely than b; ties broken by id, a strict total order, so the order of
  // the candidates never depends on the algorithm that sorts them.
  bool better(int32_t a, int32_t b) const { return scores_[a] > scores_[b] || (scores_[a] == scores_[b] && a < b); }

  SamplingOptions options_;
  std::mt19937_64 rng_;
  std::vector<double> scores_;   // per token id, after penalty and temperature
  std::vector<double> weights_;  // per token id: exp(score - top_), for the top-k candidates
  std::vector<int32_t> order_;   // token ids; the first sorted_ best first, the rest all worse
  size_t sorted_ = 0;
  size_t head_ = 0;              // order_'s first head_ ids are all better than the rest
  size_t kept_ = 0;              // candidates left after top-k and top-p
  double kept_total_ = 0;        // the candidates' summed weights
  std::vector<int32_t> window_;  // distinct recent ids
};

// The double in [0, 1) given by the top 53 bits of `bits`: every value k / 2^53 equally likely.
double unit_interval(uint64_t bits);

}  // namespace retnet::text
