// The fused softmax cross-entropy: reference against finite differences, GPU against reference.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <numeric>

#include "kernels/cross_entropy.hpp"
#include "reference/cross_entropy.hpp"
#include "retnet/error.hpp"
#include "test_support.hpp"

using namespace retnet;

TEST_CASE("cross_entropy backward reference matches finite differences", "[reference][cross_entropy]") {
  const int64_t rows = 4, vocab = 7;
  const std::vector<int32_t> targets = {3, 0, -100, 6};  // one ignored row
  const auto logits = test::to_double(test::random_vector(rows * vocab, 1, 5.0f));
  const double scale = 0.37;
  const auto grad = reference::cross_entropy_backward(logits, targets, vocab, scale);
  const auto numeric = test::numeric_gradient(
      [&](const std::vector<double>& z) {
        const auto losses = reference::cross_entropy(z, targets, vocab);
        return scale * std::accumulate(losses.begin(), losses.end(), 0.0);
      },
      logits);
  CHECK(test::max_rel_error(grad, numeric) < 1e-7);  // central differences, h = 1e-5, in double
  // A uniform row costs log(vocab).
  CHECK(std::abs(reference::cross_entropy(std::vector<double>(vocab, 2.0), {1}, vocab)[0] - std::log(7.0)) < 1e-12);
}

TEST_CASE("cross_entropy matches the CPU reference", "[kernel][cross_entropy]") {
  struct Shape {
    int64_t rows, vocab;
  };
  uint32_t seed = 20;
  for (auto [rows, vocab] : std::vector<Shape>{{1, 1}, {7, 259}, {63, 1000}, {129, 3001}, {5, 32000}}) {
    INFO(fmt::format("rows {} vocab {}", rows, vocab));
    auto logits = test::random_vector(rows * vocab, seed++, 8.0f);
    logits[0] = 60.0f;  // a large logit: the softmax must not overflow
    auto targets = test::random_tokens(rows, int32_t(vocab), seed++);
    if (rows > 2) targets[2] = -100;
    const float scale = 1.0f / float(rows);
    const auto expected_losses = reference::cross_entropy(logits, targets, vocab);
    const auto expected_grad = reference::cross_entropy_backward(logits, targets, vocab, scale);
    auto tl = test::tensor({rows, vocab}, logits);
    gpu::Tensor tt(test::context(), {rows}, gpu::DType::I32, "targets"), losses(test::context(), {rows}, gpu::DType::F32, "losses");
    tt.upload(targets);
    gpu::Stream s(test::context());
    kernels::cross_entropy(s, tl, tt, losses, scale, false);
    s.submit();
    CHECK(test::max_rel_error(losses.download(), expected_losses) < 1e-5);
    CHECK(tl.download() == logits);  // untouched without the gradient
    kernels::cross_entropy(s, tl, tt, losses, scale, true);
    s.submit();
    CHECK(test::max_rel_error(losses.download(), expected_losses) < 1e-5);
    CHECK(test::max_rel_error(tl.download(), expected_grad) < 1e-5);
  }
}

TEST_CASE("cross_entropy rejects bad arguments", "[kernel][cross_entropy][errors]") {
  auto logits = test::tensor({3, 5}, test::random_vector(15, 1));
  gpu::Tensor targets(test::context(), {4}, gpu::DType::I32, "targets"), losses(test::context(), {3}, gpu::DType::F32, "losses");
  gpu::Stream s(test::context());
  CHECK_THROWS_AS(kernels::cross_entropy(s, logits, targets, losses, 1.0f, true), Error);
  CHECK(s.dispatch_count() == 0);
}
