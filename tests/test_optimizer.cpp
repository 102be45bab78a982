#include <catch2/catch.hpp>

#include "kernels/optimizer.hpp"
#include "reference/optimizer.hpp"
#include "retnet/error.hpp"
#include "test_support.hpp"

using namespace retnet;

namespace {
// The step values adamw_step reads, as the GPU tensor it reads them from.
gpu::Tensor step_values(const kernels::AdamWSettings& o, int64_t step) {
  const auto v = kernels::adamw_step_values(o, step);
  return test::tensor({3}, {v.lr, v.bias_correction1, v.bias_correction2});
}
}  // namespace

TEST_CASE("the global gradient norm is summed on the GPU", "[kernel][optimizer]") {
  std::vector<std::vector<float>> values = {test::random_vector(1, 1), test::random_vector(777, 2),
                                            test::random_vector(300001, 3), test::random_vector(64, 4),
                                            test::random_vector(4099, 5),  // 3 floats after the last vec4
                                            // more vec4s than the most workgroups of one tensor cover in a pass
                                            test::random_vector(5000003, 6)};
  std::vector<gpu::Tensor> grads;
  for (auto& v : values) grads.push_back(test::tensor({static_cast<int64_t>(v.size())}, v));
  std::vector<const gpu::Tensor*> ptrs;
  for (auto& g : grads) ptrs.push_back(&g);
  auto scratch = kernels::make_norm_scratch(test::context(), ptrs.size());
  gpu::Stream s(test::context());
  kernels::grad_norm_squared(s, ptrs, scratch);
  s.submit();
  double expect = 0;
  for (auto& v : values)
    for (float x : v) expect += double(x) * x;
  CHECK(std::abs(scratch.result.download()[0] - expect) / expect < 1e-5);
  for (size_t i = 0; i < grads.size(); ++i) {  // each alone: a lost tail would not hide in the total
    INFO("tensor of " << values[i].size());
    gpu::Stream one(test::context());
    kernels::grad_norm_squared(one, {&grads[i]}, scratch);
    one.submit();
    double alone = 0;
    for (float x : values[i]) alone += double(x) * x;
    CHECK(std::abs(scratch.result.download()[0] - alone) / alone < 1e-5);
  }
}

TEST_CASE("AdamW steps match the CPU reference with and without clipping", "[kernel][optimizer]") {
  for (float max_norm : {0.0f, 1.0f, 1000.0f}) {
    INFO("max_grad_norm " << max_norm);
    kernels::AdamWSettings o;
    o.lr = 3e-3f;
    o.weight_decay = 0.1f;
    o.max_grad_norm = max_norm;
    const int64_t n = 1001;
    auto p = test::random_vector(n, 10), m = std::vector<float>(n, 0.0f), v = m;
    auto tp = test::tensor({n}, p), tm = test::tensor({n}, m), tv = test::tensor({n}, v);
    gpu::Tensor tg(test::context(), {n}, gpu::DType::F32, "grad");
    auto scratch = kernels::make_norm_scratch(test::context(), 1);
    for (int step = 1; step <= 5; ++step) {
      auto g = test::random_vector(n, 100 + step, 0.5f);
      tg.upload(g);
      gpu::Stream s(test::context());
      kernels::grad_norm_squared(s, {&tg}, scratch);
      auto values = step_values(o, step);
      kernels::adamw_step(s, tp, tg, tm, tv, scratch.result, values, o);
      s.submit();
      reference::adamw_step(p, g, m, v, o, step, reference::clip_scale({g}, max_norm));
    }
    CHECK(test::max_rel_error(tp.download(), p) < 1e-5);
    CHECK(test::max_rel_error(tm.download(), m) < 1e-5);
    CHECK(test::max_rel_error(tv.download(), v) < 1e-5);
  }
}

TEST_CASE("AdamW writes an f16 copy of the weights for the forward pass", "[kernel][optimizer]") {
  const int64_t n = 514;
  auto p = test::random_vector(n, 20);
  auto tp = test::tensor({n}, p), tm = test::tensor({n}, std::vector<float>(n)), tv = test::tensor({n}, std::vector<float>(n));
  auto tg = test::tensor({n}, test::random_vector(n, 21));
  gpu::Tensor half(test::context(), {n}, gpu::DType::F16, "weights f16");
  auto scratch = kernels::make_norm_scratch(test::context(), 1);
  gpu::Stream s(test::context());
  kernels::grad_norm_squared(s, {&tg}, scratch);
  auto values = step_values({}, 1);
  kernels::adamw_step(s, tp, tg, tm, tv, scratch.result, values, {}, &half);
  s.submit();
  auto master = tp.download(), copy = half.download();
  for (int64_t i = 0; i < n; ++i) CHECK(std::abs(copy[i] - master[i]) <= std::abs(master[i]) * (1.0f / 1024) + 1e-7f);

  gpu::Tensor odd(test::context(), {3}, gpu::DType::F32, "odd"), odd_half(test::context(), {3}, gpu::DType::F16, "oh");
  CHECK_THROWS_AS(kernels::adamw_step(s, odd, odd, odd, odd, scratch.result, values, {}, &odd_half), Error);
  CHECK_THROWS_WITH(kernels::adamw_step_values({}, 0), Catch::Contains("step must count from 1"));
  kernels::AdamWSettings bad;
  bad.beta2 = 1.0f;
  CHECK_THROWS_WITH(kernels::adamw_step_values(bad, 1), Catch::Contains("invalid settings"));
  CHECK_THROWS_WITH(kernels::adamw_step(s, tp, tg, tm, tv, scratch.result, values, bad), Catch::Contains("invalid settings"));
  CHECK_THROWS_WITH(kernels::adamw_step(s, tp, tg, tm, tv, scratch.result, scratch.result, {}), Catch::Contains("adamw_step"));
}
