#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/elementwise.hpp"
#include "kernels/retention.hpp"
#include "kernels/retention_backward.hpp"
#include "kernels/retention_chunk_passes.hpp"
#include "reference/elementwise.hpp"
#include "reference/retention.hpp"
#include "reference/retention_backward.hpp"
#include "retnet/error.hpp"
#include "retention_test_shapes.hpp"
#include "test_support.hpp"

using namespace retnet;
using reference::RetentionShape;
using test::describe;
using test::qk_shape;
using test::qk_size;
using test::vo_shape;
using test::vo_size;

namespace {

// Reference gradients against central finite differences of loss = sum(o * r), all double.
// The loss is linear in each single input element, so the central difference is exact up to
// rounding (about 1e-16 |loss| / step); measured error about 1e-9 or less.
constexpr double kFiniteDifferenceTolerance = 1e-7;
// fp32 GPU backward against the double-accumulating reference (fp32 inputs); measured at most
// 6e-7 on the shapes below (lavapipe).
constexpr double kGpuTolerance = 1e-5;

// The largest relative errors of the GPU's dq, dk and dv against the reference's, and the
// call's wall time in ms.
struct BackwardErrors {
  double dq, dk, dv, ms;
};

// Runs retention_chunkwise_backward on fresh tensors of the inputs. The gradients start as
// garbage: the kernel must overwrite all of them.
BackwardErrors gpu_backward_errors(const RetentionShape& s, const std::vector<float>& q, const std::vector<float>& k,
                                   const std::vector<float>& v, const std::vector<float>& d_o,
                                   const std::vector<float>& eq, const std::vector<float>& ek,
                                   const std::vector<float>& ev, int64_t chunk,
                                   kernels::RetentionBackwardScratch& scratch, bool f16_products) {
  auto tq = test::tensor(qk_shape(s), q, gpu::DType::F32, "q");
  auto tk = test::tensor(qk_shape(s), k, gpu::DType::F32, "k");
  auto tv = test::tensor(vo_shape(s), v, gpu::DType::F32, "v");
  auto tdo = test::tensor(vo_shape(s), d_o, gpu::DType::F32, "d_o");
  auto dq = test::tensor(qk_shape(s), test::random_vector(qk_size(s), 9, 1e3f), gpu::DType::F32, "dq");
  auto dk = test::tensor(qk_shape(s), test::random_vector(qk_size(s), 10, 1e3f), gpu::DType::F32, "dk");
  auto dv = test::tensor(vo_shape(s), test::random_vector(vo_size(s), 11, 1e3f), gpu::DType::F32, "dv");
  gpu::Stream stream(test::context());
  const auto start = std::chrono::steady_clock::now();
  kernels::retention_chunkwise_backward(stream, tq, tk, tv, tdo, dq, dk, dv, chunk, scratch, f16_products);
  stream.submit();
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return {test::max_rel_error(dq.download(), eq), test::max_rel_error(dk.download(), ek),
          test::max_rel_error(dv.download(), ev), ms};
}

}  // namespace

TEST_CASE("retention backward reference matches central finite differences", "[reference][retention_backward]") {
  const RetentionShape s{2, 5, 2, 4, 6};
  const auto q = test::to_double(test::random_vector(qk_size(s), 201));
  const auto k = test::to_double(test::random_vector(qk_size(s), 202));
  const auto v = test::to_double(test::random_vector(vo_size(s), 203));
  const auto r = test::to_double(test::random_vector(vo_size(s), 204));
  auto loss = [&](const std::vector<double>& qq, const std::vector<double>& kk, const std::vector<double>& vv) {
    return test::weighted_sum(reference::retention_parallel(qq, kk, vv, s), r);
  };
  std::vector<double> dq, dk, dv;
  reference::retention_backward(q, k, v, r, s, dq, dk, dv);  // dL/do = r

  const double step = 1e-6;
  const double eq = test::max_rel_error(dq, test::numeric_gradient([&](auto& x) { return loss(x, k, v); }, q, step));
  const double ek = test::max_rel_error(dk, test::numeric_gradient([&](auto& x) { return loss(q, x, v); }, k, step));
  const double ev = test::max_rel_error(dv, test::numeric_gradient([&](auto& x) { return loss(q, k, x); }, v, step));
  INFO("dq " << eq << " dk " << ek << " dv " << ev);
  CHECK(eq < kFiniteDifferenceTolerance);
  CHECK(ek < kFiniteDifferenceTolerance);
  CHECK(ev < kFiniteDifferenceTolerance);
  // Sizes that do not match the shape are rejected.
  CHECK_THROWS_AS(reference::retention_backward(q, k, v, std::vector<double>(3), s, dq, dk, dv),
                  std::invalid_argument);
}

TEST_CASE("retention chunkwise backward on the GPU matches the CPU reference", "[kernel][retention_backward]") {
  struct Case {
    RetentionShape s;
    std::vector<int64_t> chunks;
  };
  const Case cases[] = {
      {{1, 1, 1, 8, 8}, {16}},
      {{2, 7, 3, 12, 20}, {16, 128}},
      {{1, 63, 2, 64, 32}, {16, 64}},
      {{2, 129, 4, 32, 64}, {16, 64, 128}},
      {{1, 300, 2, 16, 24}, {16, 64, 128}},
      {{2, 300, 3, 20, 13}, {48, 100}},
      {{1, 129, 1, 256, 256}, {64}},
      {{1, 77, 2, 8, 256}, {32}},
      {{1, 77, 2, 256, 8}, {128}},
  };
  kernels::RetentionBackwardScratch scratch;  // one scratch for every shape: grows and is reused
  uint32_t seed = 300;
  for (const Case& c : cases) {
    const RetentionShape& s = c.s;
    INFO(describe(s));
    const auto q = test::random_vector(qk_size(s), seed += 4), k = test::random_vector(qk_size(s), seed + 1);
    const auto v = test::random_vector(vo_size(s), seed + 2), d_o = test::random_vector(vo_size(s), seed + 3);
    std::vector<float> eq, ek, ev;
    reference::retention_backward(q, k, v, d_o, s, eq, ek, ev);
    for (int64_t chunk : c.chunks) {
      INFO("chunk " << chunk);
      const BackwardErrors e = gpu_backward_errors(s, q, k, v, d_o, eq, ek, ev, chunk, scratch, false);
      const double e1 = e.dq, e2 = e.dk, e3 = e.dv, ms = e.ms;
      INFO("dq " << e1 << " dk " << e2 << " dv " << e3 << " gpu ms " << ms);
      CHECK(e1 < kGpuTolerance);
      CHECK(e2 < kGpuTolerance);
      CHECK(e3 < kGpuTolerance);
      if (std::getenv("RETNET_BACKWARD_REPORT"))
        WARN(describe(s) << " chunk " << chunk << ": dq " << e1 << " dk " << e2 << " dv " << e3 << ", " << ms
                         << " ms");
    }
  }
}

TEST_CASE("retention chunkwise backward with f16 products on tensor cores matches the reference",
          "[kernel][retention_backward]") {
  // Mixed-precision training's backward: the forward and reverse states and dq, dk and dv from
  // f16 products of operands scaled by powers of two from their maxima
  // (retention_chunk_states_coopmat, retention_chunk_rows_coopmat), within the forward's f16
  // tolerance. d_o of 1e-8 (a gradient) lies below f16's smallest number and k of 1e3 makes
  // states beyond its largest: neither would survive unscaled. Where the device has no tensor
  // cores for a shape, the f16 request takes the f32 kernels with their accuracy.
  constexpr double kTensorCoreTolerance = 4e-3;
  struct Case {
    RetentionShape s;
    float k_scale, d_o_scale;
    const char* what;
  };
  const Case cases[] = {
      {{1, 150, 2, 96, 192}, 1, 1, "the small config's heads, a ragged last chunk"},
      {{2, 129, 3, 32, 64}, 1e3f, 1e-8f, "large k, a gradient of 1e-8"},
      {{1, 64, 1, 128, 256}, 1, 1e-8f, "one chunk, heads of 64-multiples"},
      {{2, 300, 2, 64, 32}, 1, 1, "five chunks per sequence"},
  };
  kernels::RetentionBackwardScratch scratch;
  uint32_t seed = 700;
  for (const Case& c : cases) {
    const RetentionShape& s = c.s;
    INFO(describe(s) << ": " << c.what);
    const bool tensor_cores = kernels::chunk_rows_on_tensor_cores(test::context(), 64, s.dk, s.dv);
    const auto q = test::random_vector(qk_size(s), seed += 4);
    const auto k = test::random_vector(qk_size(s), seed + 1, c.k_scale);
    const auto v = test::random_vector(vo_size(s), seed + 2);
    const auto d_o = test::random_vector(vo_size(s), seed + 3, c.d_o_scale);
    std::vector<float> eq, ek, ev;
    reference::retention_backward(q, k, v, d_o, s, eq, ek, ev);
    const BackwardErrors e = gpu_backward_errors(s, q, k, v, d_o, eq, ek, ev, 64, scratch, true);
    const double e1 = e.dq, e2 = e.dk, e3 = e.dv;
    INFO("dq " << e1 << " dk " << e2 << " dv " << e3 << (tensor_cores ? " (tensor cores)" : " (f32)"));
    const double tolerance = tensor_cores ? kTensorCoreTolerance : kGpuTolerance;
    CHECK(e1 < tolerance);
    CHECK(e2 < tolerance);
    CHECK(e3 < tolerance);
  }
  CHECK(test::context().validation_messages().empty());
}

TEST_CASE("retention chunkwise backward rejects wrong shapes and dtypes", "[kernel][retention_backward]") {
  const RetentionShape s{1, 9, 2, 8, 12};
  using test::zeros;
  auto q = zeros(qk_shape(s)), k = zeros(qk_shape(s)), v = zeros(vo_shape(s)), d_o = zeros(vo_shape(s));
  auto dq = zeros(qk_shape(s)), dk = zeros(qk_shape(s)), dv = zeros(vo_shape(s));
  kernels::RetentionBackwardScratch scratch;
  gpu::Stream stream(test::context());
  auto wrong_dv = zeros({1, 9, 2, 13});
  CHECK_THROWS_AS(kernels::retention_chunkwise_backward(stream, q, k, v, d_o, dq, dk, wrong_dv, 16, scratch), Error);
  auto wrong_k = zeros({1, 8, 2, 8});
  CHECK_THROWS_AS(kernels::retention_chunkwise_backward(stream, q, wrong_k, v, d_o, dq, dk, dv, 16, scratch), Error);
  auto rank3 = zeros({9, 2, 12});
  CHECK_THROWS_AS(kernels::retention_chunkwise_backward(stream, q, k, v, rank3, dq, dk, dv, 16, scratch), Error);
  auto half_do = zeros(vo_shape(s), gpu::DType::F16);
  CHECK_THROWS_AS(kernels::retention_chunkwise_backward(stream, q, k, v, half_do, dq, dk, dv, 16, scratch), Error);
  CHECK_THROWS_AS(kernels::retention_chunkwise_backward(stream, q, k, v, d_o, dq, dk, dv, 0, scratch), Error);
  // The right shapes run (and give zero gradients for zero inputs).
  kernels::retention_chunkwise_backward(stream, q, k, v, d_o, dq, dk, dv, 4, scratch);
  stream.submit();
  CHECK(test::max_rel_error(dq.download(), std::vector<float>(qk_size(s), 0.0f)) == 0.0);
}

TEST_CASE("chunkwise retention forward and backward on a device with 16 KiB of shared memory",
          "[kernel][retention_backward]") {
  // The kernels plan for the smallest shared memory Vulkan allows (half the 32-row tiles, so
  // two row tiles per chunk of 64), and must give the same numbers.
  ContextOptions options = test::context().options();
  options.shared_memory_limit = 16384;
  Context ctx(options);
  REQUIRE(ctx.device().shared_memory_bytes == 16384);
  auto on = [&](const std::vector<int64_t>& shape, const std::vector<float>& values, const char* name) {
    gpu::Tensor t(ctx, shape, gpu::DType::F32, name);
    t.upload(values);
    return t;
  };
  uint32_t seed = 700;
  for (const auto& [s, chunk] : {std::pair<RetentionShape, int64_t>{{2, 150, 2, 20, 13}, 64},
                                 {{1, 129, 2, 64, 200}, 100}, {{1, 40, 1, 8, 8}, 16}}) {
    INFO(describe(s) << " chunk " << chunk);
    const auto q = test::random_vector(qk_size(s), seed += 5), k = test::random_vector(qk_size(s), seed + 1);
    const auto v = test::random_vector(vo_size(s), seed + 2), d_o = test::random_vector(vo_size(s), seed + 3);
    auto initial = test::random_vector(size_t(s.n * s.h * s.dk * s.dv), seed + 4);
    auto tq = on(qk_shape(s), q, "q"), tk = on(qk_shape(s), k, "k"), tv = on(vo_shape(s), v, "v");
    auto tdo = on(vo_shape(s), d_o, "d_o"), state = on({s.n, s.h, s.dk, s.dv}, initial, "state");
    auto o = on(vo_shape(s), std::vector<float>(vo_size(s), 1e3f), "o");
    auto dq = on(qk_shape(s), std::vector<float>(qk_size(s), 1e3f), "dq");
    auto dk = on(qk_shape(s), std::vector<float>(qk_size(s), 1e3f), "dk");
    auto dv = on(vo_shape(s), std::vector<float>(vo_size(s), 1e3f), "dv");
    kernels::RetentionChunkScratch forward_scratch;
    kernels::RetentionBackwardScratch backward_scratch;
    gpu::Stream stream(ctx);
    kernels::retention_chunkwise(stream, tq, tk, tv, state, o, chunk, forward_scratch);
    kernels::retention_chunkwise_backward(stream, tq, tk, tv, tdo, dq, dk, dv, chunk, backward_scratch);
    stream.submit();
    const auto expected_o = reference::retention_chunkwise(q, k, v, initial, s, chunk);  // updates `initial`
    CHECK(test::max_rel_error(o.download(), expected_o) < kGpuTolerance);
    CHECK(test::max_rel_error(state.download(), initial) < kGpuTolerance);
    std::vector<float> eq, ek, ev;
    reference::retention_backward(q, k, v, d_o, s, eq, ek, ev);
    CHECK(test::max_rel_error(dq.download(), eq) < kGpuTolerance);
    CHECK(test::max_rel_error(dk.download(), ek) < kGpuTolerance);
    CHECK(test::max_rel_error(dv.download(), ev) < kGpuTolerance);
  }
}

TEST_CASE("retention chunkwise backward with the forward's maxima of q, k, v equals reducing them again",
          "[kernel][retention_backward]") {
  // Mixed-precision training finds max |q|, |k|, |v| once in the forward, and max |d_o| where
  // d_o is written; the backward's f16 products must then compute exactly what they compute
  // from their own reductions.
  const RetentionShape shapes[] = {{2, 150, 2, 96, 192}, {1, 200, 2, 64, 128}};
  kernels::RetentionChunkScratch forward_scratch;
  kernels::RetentionBackwardScratch scratch;
  uint32_t seed = 760;
  for (const RetentionShape& s : shapes) {
    INFO(describe(s));
    const auto q = test::random_vector(qk_size(s), seed += 4), k = test::random_vector(qk_size(s), seed + 1, 30.0f);
    const auto v = test::random_vector(vo_size(s), seed + 2, 0.01f);
    auto tq = test::tensor(qk_shape(s), q), tk = test::tensor(qk_shape(s), k), tv = test::tensor(vo_shape(s), v);
    auto tdo = test::tensor(vo_shape(s), test::random_vector(vo_size(s), seed + 3, 1e-6f));
    auto o = test::tensor(vo_shape(s), std::vector<float>(vo_size(s)));
    auto state = test::tensor({s.n, s.h, s.dk, s.dv}, std::vector<float>(size_t(s.n * s.h * s.dk * s.dv)));
    gpu::Tensor maxima(test::context(), {3}, gpu::DType::I32, "qkv maxima");
    const std::vector<int32_t> sentinel{7, 7, 7};
    maxima.upload(sentinel);
    gpu::Tensor d_o_maxima(test::context(), {4}, gpu::DType::I32, "d_o maxima");
    std::vector<std::vector<float>> with, without, with_d_o;
    for (int mode : {0, 1, 2}) {  // the forward's maxima; none; those and max |d_o| in slot 3
      const bool reuse = mode != 1;
      auto dq = test::tensor(qk_shape(s), std::vector<float>(qk_size(s)));
      auto dk = test::tensor(qk_shape(s), std::vector<float>(qk_size(s)));
      auto dv = test::tensor(vo_shape(s), std::vector<float>(vo_size(s)));
      gpu::Stream stream(test::context());
      kernels::retention_chunkwise(stream, tq, tk, tv, state, o, 64, forward_scratch, true, reuse ? &maxima : nullptr);
      kernels::OperandMaximum d_o_max;
      if (mode == 2) {
        stream.fill_zero(d_o_maxima);
        kernels::abs_max(stream, tdo, d_o_maxima, 3);
        d_o_max = {&d_o_maxima, 3};
      }
      kernels::retention_chunkwise_backward(stream, tq, tk, tv, tdo, dq, dk, dv, 64, scratch, true,
                                            reuse ? &maxima : nullptr, d_o_max);
      stream.submit();
      (mode == 0 ? with : mode == 1 ? without : with_d_o) = {dq.download(), dk.download(), dv.download()};
    }
    CHECK(with == without);
    CHECK(with_d_o == without);
    // Where the backward's products run on tensor cores the forward left the maxima; elsewhere
    // nothing needs them and it leaves the tensor alone.
    auto largest = [](const std::vector<float>& x) {  // as the float bits the kernels store
      const float m = reference::abs_max(x);
      int32_t bits;
      std::memcpy(&bits, &m, 4);
      return bits;
    };
    const bool tensor_cores = kernels::f16_backward_rows(test::context(), 64, s.dk, s.dv);
    CHECK(maxima.download_ints() ==
          (tensor_cores ? std::vector<int32_t>{largest(q), largest(k), largest(v)} : sentinel));
  }
  gpu::Stream stream(test::context());
  const RetentionShape s{1, 9, 1, 32, 32};
  auto zeros = [](const std::vector<int64_t>& shape, size_t n) { return test::tensor(shape, std::vector<float>(n)); };
  auto q = zeros(qk_shape(s), qk_size(s)), dq = zeros(qk_shape(s), qk_size(s)), dk = zeros(qk_shape(s), qk_size(s));
  auto v = zeros(vo_shape(s), vo_size(s)), dv = zeros(vo_shape(s), vo_size(s)), o = zeros(vo_shape(s), vo_size(s));
  auto state = zeros({1, 1, 32, 32}, 32 * 32);
  auto f32_maxima = test::tensor({3}, std::vector<float>(3));
  CHECK_THROWS_AS(kernels::retention_chunkwise(stream, q, q, v, state, o, 64, forward_scratch, true, &f32_maxima),
                  Error);
  CHECK_THROWS_AS(
      kernels::retention_chunkwise_backward(stream, q, q, v, v, dq, dk, dv, 64, scratch, true, &f32_maxima), Error);
  CHECK_THROWS_AS(kernels::retention_chunkwise_backward(stream, q, q, v, v, dq, dk, dv, 64, scratch, true, nullptr,
                                                        {&f32_maxima, 0}),
                  Error);  // max |d_o| in a float tensor
  CHECK(test::context().validation_messages().empty());
}
