// The maxima the elementwise kernels of mixed-precision training can leave beside their outputs
// (kernels/output_maxima.hpp): each slot must hold max |x| of exactly what its output holds,
// the other slots must keep what they had, and a slot already larger must stay so.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "kernels/cross_entropy.hpp"
#include "kernels/output_maxima.hpp"
#include "kernels/rmsnorm.hpp"
#include "kernels/rotary.hpp"
#include "kernels/swiglu.hpp"
#include "reference/elementwise.hpp"
#include "retnet/error.hpp"
#include "test_support.hpp"

using namespace retnet;

namespace {

constexpr int64_t kSlots = 5;
constexpr float kSentinel = 1234.5f;  // in the slot before the first one written: must survive

std::vector<float> slot_values(const gpu::Tensor& maxima) {
  const auto bits = maxima.download_ints();
  std::vector<float> v(bits.size());
  std::memcpy(v.data(), bits.data(), bits.size() * 4);
  return v;
}

// Runs `record` with the maxima in slots 2.. of a fresh tensor whose slot 1 holds kSentinel,
// then checks each output's slot against its downloaded values.
void check_maxima(const std::string& what, const std::vector<gpu::Tensor*>& outputs,
                  const std::function<void(gpu::Stream&, const kernels::OutputMaxima*)>& record) {
  INFO(what);
  gpu::Tensor maxima(test::context(), {kSlots}, gpu::DType::I32, "maxima");
  std::vector<int32_t> init(kSlots, 0);
  std::memcpy(&init[1], &kSentinel, 4);
  maxima.upload(init);
  const kernels::OutputMaxima m{&maxima, 2};
  gpu::Stream s(test::context());
  record(s, &m);
  s.submit();
  const auto got = slot_values(maxima);
  CHECK(got[0] == 0.0f);
  CHECK(got[1] == kSentinel);
  for (size_t i = 0; i < outputs.size(); ++i) {
    INFO("output " << i);
    const float expected = reference::abs_max(outputs[i]->download());
    CHECK(expected > 0.0f);
    CHECK(got[2 + i] == expected);
  }
  for (size_t i = 2 + outputs.size(); i < kSlots; ++i) CHECK(got[i] == 0.0f);
}

}  // namespace

TEST_CASE("elementwise kernels leave the maxima of their outputs where asked", "[kernel][elementwise]") {
  const int64_t rows = 37, n = 96, heads = 3, d = 32;
  const float eps = 1e-6f;
  auto x = test::tensor({rows, n}, test::random_vector(rows * n, 1, 3.0f));
  auto w = test::tensor({n}, test::random_vector(n, 2, 2.0f));
  auto gate = test::tensor({rows, n}, test::random_vector(rows * n, 3, 4.0f));
  auto dy = test::tensor({rows, n}, test::random_vector(rows * n, 4, 1e-3f));
  auto head_w = test::tensor({d}, test::random_vector(d, 5));
  auto y = test::zeros({rows, n}), y2 = test::zeros({rows, n});
  auto scratch =
      test::zeros({kernels::norm_backward_scratch_size(rows * heads, d) + kernels::norm_backward_scratch_size(rows, n)});
  auto dw = test::zeros({n}), dhw = test::zeros({d});
  for (auto path : {kernels::ReductionPath::Shared, kernels::ReductionPath::Auto}) {
    INFO((path == kernels::ReductionPath::Shared ? "shared-memory reductions" : "the device's reductions"));
    check_maxima("rmsnorm", {&y}, [&](gpu::Stream& s, const kernels::OutputMaxima* m) {
      kernels::rmsnorm(s, x, w, y, eps, path, m);
    });
    check_maxima("rmsnorm_swish_gate", {&y}, [&](gpu::Stream& s, const kernels::OutputMaxima* m) {
      kernels::rmsnorm_swish_gate(s, x, gate, head_w, y, eps, path, m);
    });
    // Accumulating: the maximum is the sum's, not the added part's.
    auto dx = test::tensor({rows, n}, test::random_vector(rows * n, 6, 5.0f));
    check_maxima("rmsnorm_backward, accumulating", {&dx}, [&](gpu::Stream& s, const kernels::OutputMaxima* m) {
      kernels::rmsnorm_backward(s, x, w, dy, dx, dw, eps, scratch, true, path, m);
    });
    check_maxima("rmsnorm_swish_gate_backward", {&y, &y2}, [&](gpu::Stream& s, const kernels::OutputMaxima* m) {
      kernels::rmsnorm_swish_gate_backward(s, x, gate, head_w, dy, y, y2, dhw, eps, scratch, path, m);
    });
  }
  check_maxima("swiglu", {&y}, [&](gpu::Stream& s, const kernels::OutputMaxima* m) {
    kernels::swiglu(s, gate, x, y, m);
  });
  check_maxima("swiglu_backward", {&y, &y2}, [&](gpu::Stream& s, const kernels::OutputMaxima* m) {
    kernels::swiglu_backward(s, gate, x, dy, y, y2, m);
  });
  auto logits = test::tensor({rows, n}, test::random_vector(rows * n, 8, 6.0f));
  gpu::Tensor targets(test::context(), {rows}, gpu::DType::I32, "targets"), losses = test::zeros({rows});
  std::vector<int32_t> t(rows);
  for (int64_t i = 0; i < rows; ++i) t[size_t(i)] = i % 5 == 0 ? -100 : int32_t((7 * i) % n);  // some ignored
  targets.upload(t);
  check_maxima("cross_entropy's gradient", {&logits}, [&](gpu::Stream& s, const kernels::OutputMaxima* m) {
    kernels::cross_entropy(s, logits, targets, losses, 1e-7f, true, m);
  });
  gpu::Tensor positions(test::context(), {rows}, gpu::DType::I32, "positions");
  std::vector<int32_t> p(rows);
  for (int64_t i = 0; i < rows; ++i) p[size_t(i)] = int32_t(1000 + 7 * i);
  positions.upload(p);
  auto q = test::tensor({rows, heads, d}, test::random_vector(rows * heads * d, 7, 2.0f));
  check_maxima("rotary", {&q}, [&](gpu::Stream& s, const kernels::OutputMaxima* m) {
    kernels::rotary(s, q, positions, m);
  });
  check_maxima("rotary_backward", {&q}, [&](gpu::Stream& s, const kernels::OutputMaxima* m) {
    kernels::rotary_backward(s, q, positions, m);
  });

  // Slots past the tensor, or a tensor of floats, are refused.
  gpu::Stream s(test::context());
  gpu::Tensor two(test::context(), {2}, gpu::DType::I32, "maxima");
  const kernels::OutputMaxima past{&two, 1};
  CHECK_THROWS_AS(kernels::swiglu_backward(s, gate, x, dy, y, y2, &past), Error);
  CHECK_NOTHROW(kernels::swiglu(s, gate, x, y, &past));
  auto floats = test::zeros({4});
  const kernels::OutputMaxima wrong{&floats, 0};
  CHECK_THROWS_AS(kernels::rotary(s, q, positions, &wrong), Error);
  CHECK_THROWS_AS(kernels::cross_entropy(s, logits, targets, losses, 1.0f, false, &past), Error);  // no gradient
  s.submit();
  CHECK(test::context().validation_messages().empty());
}
