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
    sorted_ = kept_ = head_ = 1;
    kept_total_ = 1;
    return 1;
  }

  const double inv_t = 1.0 / static_cast<double>(options_.temperature);
  for (double& s : scores_) s *= inv_t;

  order_.resize(n);
  for (size_t i = 0; i < n; ++i) order_[i] = static_cast<int32_t>(i);
  sorted_ = 0;
  head_ = n;
  const size_t k = options_.top_k > 0 ? std::min(n, static_cast<size_t>(options_.top_k)) : n;
  if (k < n) sort_best(k);  // the top-k candidates, best first
  const double top = k < n ? scores_[order_[0]] : *std::max_element(scores_.begin(), scores_.end());
  weights_.resize(n);
  double total = 0;
  if (k < n) {
    for (size_t i = 0; i < k; ++i) total += weights_[order_[i]] = std::exp(scores_[order_[i]] - top);
  } else {
    for (size_t i = 0; i < n; ++i) total += weights_[i] = std::exp(scores_[i] - top);
  }

  if (k == n) {
    // Only a head of the tokens needs sorting: those that weigh at least tau, where the ones
    // below weigh less than n * tau = (1 - f) total together, so the head holds a fraction f
    // of the mass. With f = top_p the nucleus lies in the head; without a nucleus (f = 15/16)
    // a draw lands in it 15 times in 16. The head is sorted only as far as it is walked, and
    // a walk past it goes on into the rest (sort_best). For a language model's peaked
    // distribution that is a few tokens of tens of thousands, not a full sort each token.
    const double f = options_.top_p < 1.0f ? static_cast<double>(options_.top_p) : 15.0 / 16.0;
    const double tau = (1.0 - f) * total / static_cast<double>(n);
    head_ = static_cast<size_t>(
        std::partition(order_.begin(), order_.end(), [&](int32_t id) { return weights_[id] >= tau; }) -
        order_.begin());
  }

  // Nucleus: the shortest prefix of the sorted distribution whose mass reaches top_p; the
  // first candidate always survives.
  kept_ = k;
  kept_total_ = total;
  if (options_.top_p < 1.0f) {
    const double target = static_cast<double>(options_.top_p) * total;
    double mass = 0;
    for (size_t i = 0; i < k; ++i) {
      sort_best(i + 1);
      mass += weights_[order_[i]];
      if (mass >= target) {
        kept_ = i + 1;
        kept_total_ = mass;
        break;
      }
    }
  }
  return kept_;
}

void Sampler::sort_best(size_t count) {
  const size_t n = order_.size();
  count = std::min(count, n);
  auto better = [this](int32_t a, int32_t b) { return this->better(a, b); };
  while (sorted_ < count) {
    if (sorted_ == head_) head_ = n;  // the head is sorted: go on into the rest
    // Chunks that at least double what is sorted: linear selections, few of them.
    const size_t chunk = std::min(head_ - sorted_, std::max({count - sorted_, sorted_, size_t(64)}));
    const auto first = order_.begin() + static_cast<std::ptrdiff_t>(sorted_);
    const auto mid = first + static_cast<std::ptrdiff_t>(chunk), end = order_.begin() + static_cast<std::ptrdiff_t>(head_);
    if (mid != end) std::nth_element(first, mid, end, better);  // [first, mid): the best chunk
    std::sort(first, mid, better);
    sorted_ += chunk;
  }
}

int32_t Sampler::sample(const float* logits, int64_t vocab, const std::vector<int32_t>& recent_tokens) {
  const size_t kept = prepare(logits, vocab, recent_tokens);
  if (kept == 1) return order_[0];
  const double u = unit_interval(rng_()) * kept_total_;
  double mass = 0;
  for (size_t i = 0; i < kept; ++i) {
    sort_best(i + 1);
    mass += weights_[order_[i]];
    if (u < mass) return order_[i];
  }
  return order_[kept - 1];  // only when rounding put u at the very top
}

std::vector<double> Sampler::probabilities(const float* logits, int64_t vocab,
                                           const std::vector<int32_t>& recent_tokens) {
  const size_t kept = prepare(logits, vocab, recent_tokens);
  std::vector<double> p(static_cast<size_t>(vocab), 0.0);
  if (options_.greedy()) {
    p[order_[0]] = 1.0;
    return p;
  }
  sort_best(kept);
  for (size_t i = 0; i < kept; ++i) p[order_[i]] = weights_[order_[i]] / kept_total_;
  return p;
}

}  // namespace retnet::text
