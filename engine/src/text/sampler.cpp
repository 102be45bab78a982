#include "text/sampler.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "retnet/error.hpp"

namespace retnet::text {

void SamplingOptions::validate() const {
  // Written as !(good) so that NaN options are rejected too.
  if (!(temperature >= 0.0f) || !std::isfinite(temperature))
    throw Error(fmt::format("sampling: temperature must be finite and >= 0 (0 = greedy), got {}", temperature));
  if (top_k < 0) throw Error(fmt::format("sampling: top_k must be >= 0 (0 = no limit), got {}", top_k));
  if (!(top_p > 0.0f && top_p <= 1.0f))
    throw Error(fmt::format("sampling: top_p must be in (0, 1] (1 = no cut), got {}", top_p));
  if (!(repetition_penalty > 0.0f) || !std::isfinite(repetition_penalty))
    throw Error(fmt::format("sampling: repetition_penalty must be finite and > 0 (1 = off), got {}",
                            repetition_penalty));
  if (repetition_window < 0)
    throw Error(fmt::format("sampling: repetition_window must be >= 0 (0 = off), got {}", repetition_window));
}

double unit_interval(uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

Sampler::Sampler(SamplingOptions options) : options_(options), rng_(options.seed) { options_.validate(); }

void Sampler::reseed(uint64_t seed) {
  options_.seed = seed;
  rng_.seed(seed);
}

size_t Sampler::prepare(const float* logits, int64_t vocab, const std::vector<int32_t>& recent_tokens) {
  if (logits == nullptr) throw Error("sampler: logits pointer is null");
  if (vocab <= 0 || vocab > std::numeric_limits<int32_t>::max())
    throw Error(fmt::format("sampler: vocab must be in [1, 2^31), got {}", vocab));
  const auto n = static_cast<size_t>(vocab);

  scores_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const float v = logits[i];
    if (!std::isfinite(v))
      throw Error(fmt::format("sampler: logit of token {} is {} (the model produced a non-finite value)", i,
                              std::isnan(v) ? "NaN" : (v > 0 ? "+inf" : "-inf")));
    scores_[i] = v;
  }

  // Repetition penalty, as in CTRL / transformers: a penalty p > 1 shrinks a positive logit
  // (divide) and pushes a negative one further down (multiply), so both become less likely.
  const size_t window = std::min(recent_tokens.size(), static_cast<size_t>(options_.repetition_window));
  window_.assign(recent_tokens.end() - static_cast<std::ptrdiff_t>(window), recent_tokens.end());
  for (int32_t id : window_)
    if (id < 0 || id >= vocab)
      throw Error(fmt::format("sampler: recent token id {} is outside the vocabulary [0, {})", id, vocab));
  if (options_.repetition_penalty != 1.0f) {
    std::sort(window_.begin(), window_.end());
    window_.erase(std::unique(window_.begin(), window_.end()), window_.end());
    const double p = options_.repetition_penalty;
    for (int32_t id : window_) scores_[id] = scores_[id] > 0 ? scores_[id] / p : scores_[id] * p;
  }

  if (options_.greedy()) {
    size_t best = 0;
    for (size_t i = 1; i < n; ++i)
      if (scores_[i] > scores_[best]) best = i;  // strict: the lowest id wins ties
    order_.assign(1, static_cast<int32_t>(best));
    weights_.assign(1, 1.0);
    return 1;
  }

  const double inv_t = 1.0 / static_cast<double>(options_.temperature);
  for (double& s : scores_) s *= inv_t;

  // Candidates best first; ties broken by id so the result never depends on the sort.
  order_.resize(n);
  for (size_t i = 0; i < n; ++i) order_[i] = static_cast<int32_t>(i);
  auto better = [this](int32_t a, int32_t b) { return scores_[a] > scores_[b] || (scores_[a] == scores_[b] && a < b); };
  const size_t k = options_.top_k > 0 ? std::min(n, static_cast<size_t>(options_.top_k)) : n;
  if (k < n) {
    std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(k), order_.end(), better);
    order_.resize(k);
  } else {
    std::sort(order_.begin(), order_.end(), better);
  }

  const double top = scores_[order_[0]];
  weights_.resize(k);
  double total = 0;
  for (size_t i = 0; i < k; ++i) total += weights_[i] = std::exp(scores_[order_[i]] - top);

  // Nucleus: the shortest prefix of the sorted distribution whose mass reaches top_p; the
  // first candidate always survives.
  size_t kept = k;
  if (options_.top_p < 1.0f) {
    const double target = static_cast<double>(options_.top_p) * total;
    double mass = 0;
    for (size_t i = 0; i < k; ++i) {
      mass += weights_[i];
      if (mass >= target) {
        kept = i + 1;
        break;
      }
    }
  }
  order_.resize(kept);
  weights_.resize(kept);
  return kept;
}

int32_t Sampler::sample(const float* logits, int64_t vocab, const std::vector<int32_t>& recent_tokens) {
  const size_t kept = prepare(logits, vocab, recent_tokens);
  if (kept == 1) return order_[0];
  double total = 0;
  for (size_t i = 0; i < kept; ++i) total += weights_[i];
  const double u = unit_interval(rng_()) * total;
  double mass = 0;
  for (size_t i = 0; i < kept; ++i) {
    mass += weights_[i];
    if (u < mass) return order_[i];
  }
  return order_[kept - 1];  // only when rounding put u at the very top
}

std::vector<double> Sampler::probabilities(const float* logits, int64_t vocab,
                                           const std::vector<int32_t>& recent_tokens) {
  const size_t kept = prepare(logits, vocab, recent_tokens);
  double total = 0;
  for (size_t i = 0; i < kept; ++i) total += weights_[i];
  std::vector<double> p(static_cast<size_t>(vocab), 0.0);
  for (size_t i = 0; i < kept; ++i) p[order_[i]] = weights_[i] / total;
  return p;
}

}  // namespace retnet::text
