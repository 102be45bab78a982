#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/elementwise.hpp"
#include "kernels/matmul.hpp"
#include "reference/matmul.hpp"
#include "retnet/error.hpp"
#include "test_support.hpp"

using namespace retnet;

namespace {

// GPU against the double-accumulating reference, as max error relative to the output's scale
// (test::max_rel_error): the f32 tiled kernels sum in f32 in their own order. Measured on
// lavapipe: at most 2e-6 over these shapes (reductions up to 1501 terms); 1e-5 leaves room
// for other devices' summation orders and fused multiply-adds, like the forward tests.
constexpr double kTolerance = 1e-5;

// Central differences of a loss that is linear in each parameter are exact up to rounding:
// the references agree to 1e-8 relative (double, h = 1e-3; measured 7e-14).
constexpr double kFdTolerance = 1e-8;

constexpr double kFdStep = 1e-3;

// The tensor-core path multiplies f16 roundings of each f32 operand taken after scaling it by
// a power of two (exact, and undone exactly), so f16's range does not clip small gradients or
// large values; the products are exact in f32 and summed in an order of its own: 1e-4, like
// the forward's tensor-core tolerance.
constexpr double kCoopMatTolerance = 1e-4;

// What the tensor-core path multiplies for an f32 operand: each value rounded to f16's 11
// significant bits wherever the largest lands just below 2^15 (the scale is a power of two, so
// its exact exponent matters only to values 2^24 times smaller than the largest).
std::vector<float> f16_after_scaling(const std::vector<float>& v) {
  float largest = 0.0f;
  for (float e : v) largest = std::max(largest, std::fabs(e));
  if (!(largest > 0.0f) || !std::isfinite(largest)) return test::rounded(v, gpu::DType::F16);
  const int exponent = 15 - static_cast<int>(std::ceil(std::log2(double(largest))));
  std::vector<float> scaled(v.size());
  for (size_t i = 0; i < v.size(); ++i) scaled[i] = std::ldexp(v[i], exponent);
  auto r = test::rounded(scaled, gpu::DType::F16);
  for (auto& e : r) e = std::ldexp(e, -exponent);
  return r;
}

// GPU dx against the reference on the values the path multiplies, as max error relative to
// the output's scale; dy is drawn from [-dy_scale, dy_scale).
double dx_error(gpu::Stream& s, int64_t M, int64_t N, int64_t K, gpu::DType wtype, bool accumulate, uint32_t seed,
                kernels::MatmulPath path = kernels::MatmulPath::Tiled, float dy_scale = 1.0f) {
  const auto dy = test::random_vector(size_t(M * N), seed, dy_scale);
  const auto w = test::random_vector(size_t(N * K), seed + 1);
  const auto dx0 = test::random_vector(size_t(M * K), seed + 2, dy_scale);
  auto tdy = test::tensor({M, N}, dy, gpu::DType::F32, "dy");
  auto tw = test::tensor({N, K}, w, wtype, "w");
  auto tdx = test::tensor({M, K}, dx0, gpu::DType::F32, "dx");
  kernels::matmul_backward_input(s, tdy, tw, tdx, accumulate, path);
  s.submit();
  const bool coopmat = path == kernels::MatmulPath::CoopMat;
  auto expected =
      reference::matmul_backward_input(coopmat ? f16_after_scaling(dy) : dy, test::rounded(w, wtype), M, N, K);
  if (accumulate)
    for (size_t i = 0; i < expected.size(); ++i) expected[i] += dx0[i];
  return test::max_rel_error(tdx.download(), expected);
}

// The same for dw, with x drawn from [-x_scale, x_scale).
double dw_error(gpu::Stream& s, int64_t M, int64_t N, int64_t K, bool accumulate, uint32_t seed,
                kernels::MatmulPath path = kernels::MatmulPath::Tiled, float dy_scale = 1.0f, float x_scale = 1.0f) {
  const auto x = test::random_vector(size_t(M * K), seed, x_scale);
  const auto dy = test::random_vector(size_t(M * N), seed + 1, dy_scale);
  const auto dw0 = test::random_vector(size_t(N * K), seed + 2, dy_scale * x_scale);
  auto tx = test::tensor({M, K}, x, gpu::DType::F32, "x");
  auto tdy = test::tensor({M, N}, dy, gpu::DType::F32, "dy");
  auto tdw = test::tensor({N, K}, dw0, gpu::DType::F32, "dw");
  kernels::matmul_backward_weight(s, tx, tdy, tdw, accumulate, path);
  s.submit();
  const bool coopmat = path == kernels::MatmulPath::CoopMat;
  auto expected = coopmat ? reference::matmul_backward_weight(f16_after_scaling(x), f16_after_scaling(dy), M, N, K)
                          : reference::matmul_backward_weight(x, dy, M, N, K);
  if (accumulate)
    for (size_t i = 0; i < expected.size(); ++i) expected[i] += dw0[i];
  return test::max_rel_error(tdw.download(), expected);
}

// Rows and reduction/output sizes that are not multiples of any tile (64 x 64 x 16), plus 8
// and 64 where the vector loads (4 f32, 8 f16) take the aligned branch.
const std::vector<int64_t> kRows = {1, 7, 63, 129, 300};
const std::vector<int64_t> kCols = {1, 5, 8, 17, 64, 130};

void check_dx(gpu::DType wtype) {
  gpu::Stream s(test::context());
  uint32_t seed = 1;
  for (bool accumulate : {false, true})
    for (int64_t M : kRows)
      for (int64_t N : kCols)
        for (int64_t K : kCols) {
          CAPTURE(M, N, K, gpu::dtype_name(wtype), accumulate);
          CHECK(dx_error(s, M, N, K, wtype, accumulate, seed += 3) <= kTolerance);
        }
}

}  // namespace

TEST_CASE("matmul backward references match central finite differences", "[matmul_backward]") {
  const int64_t M = 3, N = 4, K = 5;
  const auto x = test::to_double(test::random_vector(M * K, 1));
  const auto w = test::to_double(test::random_vector(N * K, 2));
  const auto r = test::to_double(test::random_vector(M * N, 3));  // loss = sum(y * r): dL/dy = r
  const auto dx = reference::matmul_backward_input(r, w, M, N, K);
  const auto dw = reference::matmul_backward_weight(x, r, M, N, K);
  auto loss = [&](const std::vector<double>& xv, const std::vector<double>& wv) {
    return test::weighted_sum(reference::matmul(xv, wv, M, N, K), r);
  };
  CHECK(test::max_rel_error(dx, test::numeric_gradient([&](auto& xv) { return loss(xv, w); }, x, kFdStep)) <=
        kFdTolerance);
  CHECK(test::max_rel_error(dw, test::numeric_gradient([&](auto& wv) { return loss(x, wv); }, w, kFdStep)) <=
        kFdTolerance);
  // The float instantiations agree with the double ones.
  const auto dx_f = reference::matmul_backward_input(test::random_vector(M * N, 3), test::random_vector(N * K, 2), M,
                                                     N, K);
  CHECK(test::max_rel_error(dx_f, std::vector<float>(dx.begin(), dx.end())) <= 1e-6);
}

TEST_CASE("matmul_backward_input matches the reference with f32 weights", "[matmul_backward]") {
  check_dx(gpu::DType::F32);
}

TEST_CASE("matmul_backward_input matches the reference with f16 weights", "[matmul_backward]") {
  check_dx(gpu::DType::F16);
}

TEST_CASE("matmul_backward_weight matches the reference", "[matmul_backward]") {
  gpu::Stream s(test::context());
  uint32_t seed = 7;
  for (bool accumulate : {false, true})
    for (int64_t M : kRows)
      for (int64_t N : kCols)
        for (int64_t K : kCols) {
          CAPTURE(M, N, K, accumulate);
          CHECK(dw_error(s, M, N, K, accumulate, seed += 3) <= kTolerance);
        }
}

TEST_CASE("matmul backward with long reductions and several tiles", "[matmul_backward]") {
  gpu::Stream s(test::context());
  // dx reduces over N, dw over M: 1500 terms, outputs spanning several 64 x 64 tiles.
  for (auto wtype : {gpu::DType::F32, gpu::DType::F16}) {
    CAPTURE(gpu::dtype_name(wtype));
    CHECK(dx_error(s, 150, 1500, 200, wtype, false, 101) <= kTolerance);
    CHECK(dx_error(s, 150, 1500, 203, wtype, true, 102) <= kTolerance);
  }
  CHECK(dw_error(s, 1500, 150, 200, false, 103) <= kTolerance);
  CHECK(dw_error(s, 1501, 151, 203, true, 104) <= kTolerance);
}

TEST_CASE("matmul backward flattens leading dimensions and handles empty reductions", "[matmul_backward]") {
  gpu::Stream s(test::context());
  const int64_t B = 2, T = 35, N = 19, K = 21, M = B * T;
  const auto x = test::random_vector(M * K, 1), w = test::random_vector(N * K, 2), dy = test::random_vector(M * N, 3);
  auto tx = test::tensor({B, T, K}, x, gpu::DType::F32, "x");
  auto tw = test::tensor({N, K}, w, gpu::DType::F32, "w");
  auto tdy = test::tensor({B, T, N}, dy, gpu::DType::F32, "dy");
  gpu::Tensor tdx(test::context(), {B, T, K}, gpu::DType::F32, "dx"), tdw(test::context(), {N, K}, gpu::DType::F32, "dw");
  kernels::matmul_backward_input(s, tdy, tw, tdx);
  kernels::matmul_backward_weight(s, tx, tdy, tdw);
  s.submit();
  CHECK(test::max_rel_error(tdx.download(), reference::matmul_backward_input(dy, w, M, N, K)) <= kTolerance);
  CHECK(test::max_rel_error(tdw.download(), reference::matmul_backward_weight(x, dy, M, N, K)) <= kTolerance);

  // No rows: dw = 0 (accumulate: unchanged). No dy columns: dx = 0.
  auto x0 = test::tensor({0, K}, {}), dy0 = test::tensor({0, N}, {});
  auto dw = test::tensor({N, K}, test::random_vector(N * K, 4));
  kernels::matmul_backward_weight(s, x0, dy0, dw);
  auto dy_n0 = test::tensor({4, 0}, {}), w_n0 = test::tensor({0, K}, {});
  auto dx = test::tensor({4, K}, test::random_vector(4 * K, 5));
  kernels::matmul_backward_input(s, dy_n0, w_n0, dx);
  s.submit();
  for (float v : dw.download()) CHECK(v == 0.0f);
  for (float v : dx.download()) CHECK(v == 0.0f);
}

TEST_CASE("matmul backward rejects bad shapes dtypes and aliasing", "[matmul_backward][errors]") {
  gpu::Stream s(test::context());
  auto& ctx = test::context();
  auto x = test::tensor({3, 8}, test::random_vector(24, 1));
  auto w = test::tensor({5, 8}, test::random_vector(40, 2));
  auto w16 = test::tensor({5, 8}, test::random_vector(40, 2), gpu::DType::F16);
  auto dy = test::tensor({3, 5}, test::random_vector(15, 3));
  gpu::Tensor dx(ctx, {3, 8}, gpu::DType::F32, "dx"), dw(ctx, {5, 8}, gpu::DType::F32, "dw");
  gpu::Tensor dx_wrong(ctx, {3, 7}, gpu::DType::F32, "dx"), dx_rows(ctx, {4, 8}, gpu::DType::F32, "dx");
  gpu::Tensor dx_f16(ctx, {3, 8}, gpu::DType::F16, "dx"), dy_f16(ctx, {3, 5}, gpu::DType::F16, "dy");
  gpu::Tensor dy_n6(ctx, {3, 6}, gpu::DType::F32, "dy"), dy_m4(ctx, {4, 5}, gpu::DType::F32, "dy");
  gpu::Tensor dy_3d(ctx, {1, 3, 5}, gpu::DType::F32, "dy"), scalar(ctx, {}, gpu::DType::F32, "s");
  gpu::Tensor w_1d(ctx, {40}, gpu::DType::F32, "w"), w_int(ctx, {5, 8}, gpu::DType::I32, "w");
  gpu::Tensor dw_t(ctx, {8, 5}, gpu::DType::F32, "dw"), dw_f16(ctx, {5, 8}, gpu::DType::F16, "dw");
  gpu::Tensor x_f16(ctx, {3, 8}, gpu::DType::F16, "x");
  auto sq = test::tensor({4, 4}, test::random_vector(16, 4)), sq2 = test::tensor({4, 4}, test::random_vector(16, 5));

  CHECK_THROWS_AS(kernels::matmul_backward_input(s, dy_n6, w, dx), Error);   // dy columns != N
  CHECK_THROWS_AS(kernels::matmul_backward_input(s, dy, w, dx_wrong), Error);  // dx columns != K
  CHECK_THROWS_AS(kernels::matmul_backward_input(s, dy, w, dx_rows), Error);   // dx rows != M
  CHECK_THROWS_AS(kernels::matmul_backward_input(s, dy, w_1d, dx), Error);
  CHECK_THROWS_AS(kernels::matmul_backward_input(s, dy, w_int, dx), Error);
  CHECK_THROWS_AS(kernels::matmul_backward_input(s, dy, w16, dx_f16), Error);
  CHECK_THROWS_AS(kernels::matmul_backward_input(s, dy_f16, w16, dx), Error);
  CHECK_THROWS_AS(kernels::matmul_backward_input(s, scalar, w, dx), Error);
  CHECK_THROWS_AS(kernels::matmul_backward_input(s, sq, sq2, sq), Error);    // dx is dy
  CHECK_THROWS_AS(kernels::matmul_backward_input(s, sq, sq2, sq2), Error);   // dx is w

  CHECK_THROWS_AS(kernels::matmul_backward_weight(s, x, dy_m4, dw), Error);  // rows differ
  CHECK_THROWS_AS(kernels::matmul_backward_weight(s, x, dy_3d, dw), Error);  // leading dims differ
  CHECK_THROWS_AS(kernels::matmul_backward_weight(s, x, dy, dw_t), Error);   // dw transposed
  CHECK_THROWS_AS(kernels::matmul_backward_weight(s, x, dy_n6, dw), Error);
  CHECK_THROWS_AS(kernels::matmul_backward_weight(s, x, dy, dw_f16), Error);
  CHECK_THROWS_AS(kernels::matmul_backward_weight(s, x_f16, dy, dw), Error);
  CHECK_THROWS_AS(kernels::matmul_backward_weight(s, x, dy_f16, dw), Error);
  CHECK_THROWS_AS(kernels::matmul_backward_weight(s, scalar, dy, dw), Error);
  CHECK_THROWS_AS(kernels::matmul_backward_weight(s, sq, sq2, sq), Error);   // dw is x
  CHECK_THROWS_AS(kernels::matmul_backward_weight(s, sq, sq2, sq2), Error);  // dw is dy
  CHECK(s.dispatch_count() == 0);

  kernels::matmul_backward_input(s, dy, w16, dx);  // the good arguments do work
  kernels::matmul_backward_weight(s, x, dy, dw, true);
  s.submit();
  CHECK(s.dispatch_count() == 2);
}

TEST_CASE("matmul backward on tensor cores matches the reference where the device has them", "[matmul_backward]") {
  using kernels::MatmulPath;
  gpu::Stream s(test::context());
  if (!test::context().active_paths().coopmat) {
    auto dy = test::tensor({9, 8}, test::random_vector(72, 1)), x = test::tensor({9, 8}, test::random_vector(72, 2));
    auto w = test::tensor({8, 8}, test::random_vector(64, 3), gpu::DType::F16);
    gpu::Tensor dx(test::context(), {9, 8}, gpu::DType::F32, "dx"), dw(test::context(), {8, 8}, gpu::DType::F32, "dw");
    CHECK_THROWS_AS(kernels::matmul_backward_input(s, dy, w, dx, false, MatmulPath::CoopMat), Error);  // a clear error
    CHECK_THROWS_AS(kernels::matmul_backward_weight(s, x, dy, dw, false, MatmulPath::CoopMat), Error);
    CHECK(s.dispatch_count() == 0);
    return;
  }
  // Edge tiles only, whole 128 x 128 tiles (stored straight from the fragments), ragged and
  // 8-aligned rows, reductions shorter and longer than one 32-deep step.
  uint32_t seed = 11;
  for (bool accumulate : {false, true})
    for (int64_t M : {1, 7, 130, 256})
      for (int64_t N : {5, 64, 300})
        for (int64_t K : {17, 64, 256, 260}) {
          CAPTURE(M, N, K, accumulate);
          CHECK(dx_error(s, M, N, K, gpu::DType::F16, accumulate, seed += 3, MatmulPath::CoopMat) <= kCoopMatTolerance);
          CHECK(dw_error(s, M, N, K, accumulate, seed += 3, MatmulPath::CoopMat) <= kCoopMatTolerance);
        }
  // Long reductions over few output tiles are split over workgroups and summed after.
  CHECK(dx_error(s, 130, 3000, 260, gpu::DType::F16, true, 150, MatmulPath::CoopMat) <= kCoopMatTolerance);
  CHECK(dw_error(s, 4100, 130, 200, true, 151, MatmulPath::CoopMat) <= kCoopMatTolerance);
  CHECK(dw_error(s, 4100, 256, 256, false, 152, MatmulPath::CoopMat) <= kCoopMatTolerance);
  // Through a scratch reused between recordings: two split products in one recording, the
  // second growing the partial-sum buffer the first still needs, then both again.
  {
    kernels::MatmulScratch scratch;
    const int64_t M = 4100, K = 136;
    const auto x = test::random_vector(size_t(M * K), 160), dy_small = test::random_vector(size_t(M * 64), 161);
    const auto dy_large = test::random_vector(size_t(M * 200), 162);
    auto tx = test::tensor({M, K}, x), tdy_small = test::tensor({M, 64}, dy_small),
         tdy_large = test::tensor({M, 200}, dy_large);
    gpu::Tensor dw_small(test::context(), {64, K}, gpu::DType::F32, "dw"),
        dw_large(test::context(), {200, K}, gpu::DType::F32, "dw");
    for (int round = 0; round < 2; ++round) {
      scratch.begin();
      kernels::matmul_backward_weight(s, tx, tdy_small, dw_small, false, MatmulPath::CoopMat, &scratch);
      kernels::matmul_backward_weight(s, tx, tdy_large, dw_large, false, MatmulPath::CoopMat, &scratch);
      s.submit();
      CHECK(test::max_rel_error(dw_small.download(),
                                reference::matmul_backward_weight(f16_after_scaling(x), f16_after_scaling(dy_small), M,
                                                                  64, K)) <= kCoopMatTolerance);
      CHECK(test::max_rel_error(dw_large.download(),
                                reference::matmul_backward_weight(f16_after_scaling(x), f16_after_scaling(dy_large), M,
                                                                  200, K)) <= kCoopMatTolerance);
    }
  }
  // Gradients of 1e-7 are f16 subnormals (11 bits lost) and values of 1e6 overflow f16 unless
  // scaled: the scaling keeps both at full f16 precision.
  for (float scale : {1e-7f, 1e6f}) {
    CAPTURE(scale);
    CHECK(dx_error(s, 256, 300, 256, gpu::DType::F16, false, 201, MatmulPath::CoopMat, scale) <= kCoopMatTolerance);
    CHECK(dw_error(s, 300, 256, 256, true, 202, MatmulPath::CoopMat, scale, 1.0f / scale) <= kCoopMatTolerance);
  }
  // A NaN in dy reaches every output it feeds instead of being scaled away.
  auto dy_values = test::random_vector(130 * 64, 5);
  dy_values[3 * 64 + 7] = std::nanf("");
  auto dy = test::tensor({130, 64}, dy_values), x = test::tensor({130, 128}, test::random_vector(130 * 128, 6));
  auto w = test::tensor({64, 128}, test::random_vector(64 * 128, 7), gpu::DType::F16);
  gpu::Tensor dx(test::context(), {130, 128}, gpu::DType::F32, "dx"),
      dw(test::context(), {64, 128}, gpu::DType::F32, "dw");
  kernels::matmul_backward_input(s, dy, w, dx, false, MatmulPath::CoopMat);
  kernels::matmul_backward_weight(s, x, dy, dw, false, MatmulPath::CoopMat);
  s.submit();
  const auto dxv = dx.download(), dwv = dw.download();
  for (int64_t k = 0; k < 128; ++k) {
    CHECK(std::isnan(dxv[3 * 128 + k]));  // row 3 of dx
    CHECK(std::isnan(dwv[7 * 128 + k]));  // row 7 of dw
    CHECK(std::isfinite(dxv[4 * 128 + k]));
    CHECK(std::isfinite(dwv[8 * 128 + k]));
  }
}

TEST_CASE("matmul_backward computes dx and dw as the two separate calls would", "[matmul_backward]") {
  using kernels::MatmulPath;
  gpu::Stream s(test::context());
  std::vector<MatmulPath> paths{MatmulPath::Tiled};
  if (test::context().active_paths().coopmat) paths.push_back(MatmulPath::CoopMat);
  // x far larger than dy: on tensor cores the dx product must scale dy by dy's own maximum and
  // leave the f16 weights alone, though the shared maxima also hold x's.
  const int64_t M = 300, N = 130, K = 200;
  const auto x = test::random_vector(size_t(M * K), 300, 1e3f), dy = test::random_vector(size_t(M * N), 301, 1e-7f);
  const auto w = test::random_vector(size_t(N * K), 302), dx0 = test::random_vector(size_t(M * K), 303, 1e-7f);
  const auto dw0 = test::random_vector(size_t(N * K), 304, 1e-4f);
  auto tx = test::tensor({M, K}, x), tdy = test::tensor({M, N}, dy), tw = test::tensor({N, K}, w, gpu::DType::F16);
  for (MatmulPath path : paths)
    for (bool accumulate : {false, true}) {
      const bool coopmat = path == MatmulPath::CoopMat;
      CAPTURE(coopmat, accumulate);
      auto tdx = test::tensor({M, K}, dx0), tdw = test::tensor({N, K}, dw0);
      kernels::MatmulScratch scratch;
      kernels::matmul_backward(s, tx, tdy, tw, tdx, tdw, {accumulate, accumulate, path, &scratch});
      s.submit();
      auto dx_expected = reference::matmul_backward_input(coopmat ? f16_after_scaling(dy) : dy,
                                                          test::rounded(w, gpu::DType::F16), M, N, K);
      auto dw_expected = coopmat ? reference::matmul_backward_weight(f16_after_scaling(x), f16_after_scaling(dy), M, N, K)
                                 : reference::matmul_backward_weight(x, dy, M, N, K);
      if (accumulate) {
        for (size_t i = 0; i < dx_expected.size(); ++i) dx_expected[i] += dx0[i];
        for (size_t i = 0; i < dw_expected.size(); ++i) dw_expected[i] += dw0[i];
      }
      const double tolerance = coopmat ? kCoopMatTolerance : kTolerance;
      CHECK(test::max_rel_error(tdx.download(), dx_expected) <= tolerance);
      CHECK(test::max_rel_error(tdw.download(), dw_expected) <= tolerance);
    }
  auto tdx = test::tensor({M, K}, dx0), wrong_dw = test::tensor({N, K + 1}, test::random_vector(size_t(N * (K + 1)), 5));
  CHECK_THROWS_AS(kernels::matmul_backward(s, tx, tdy, tw, tdx, wrong_dw, {}), Error);  // dw's shape
  if (!test::context().active_paths().coopmat) {
    auto tdw = test::tensor({N, K}, dw0);
    CHECK_THROWS_AS(kernels::matmul_backward(s, tx, tdy, tw, tdx, tdw, {false, false, MatmulPath::CoopMat}), Error);
  }
}

TEST_CASE("matmul_backward with maxima found elsewhere equals reducing x and dy itself", "[matmul_backward]") {
  // The maximum of x an earlier call returns, or one of dy that another kernel found (here
  // abs_max into slot 2 of a tensor of 3), give the same products as the call's own reductions.
  using kernels::MatmulPath;
  gpu::Stream s(test::context());
  const int64_t M = 260, N = 96, K = 136;
  // dy of very different magnitudes: only max |x| may come from the earlier call.
  auto tx = test::tensor({M, K}, test::random_vector(size_t(M * K), 310, 1e3f));
  auto dy1 = test::tensor({M, N}, test::random_vector(size_t(M * N), 311, 1e-6f));
  auto dy2 = test::tensor({M, N}, test::random_vector(size_t(M * N), 312, 1e2f));
  auto tw = test::tensor({N, K}, test::random_vector(size_t(N * K), 313), gpu::DType::F16);
  auto zeros = [](int64_t rows, int64_t cols) { return test::tensor({rows, cols}, std::vector<float>(rows * cols)); };
  auto dx1 = zeros(M, K), dw1 = zeros(N, K), dx2 = zeros(M, K), dw2 = zeros(N, K), dx3 = zeros(M, K),
       dw3 = zeros(N, K), dx_ref = zeros(M, K), dw_ref = zeros(N, K);
  if (!test::context().active_paths().coopmat) {
    // Elsewhere there are no maxima: the f32 products neither return nor need them.
    CHECK_FALSE(kernels::matmul_backward(s, tx, dy1, tw, dx1, dw1, {false, false, MatmulPath::Tiled}).known());
    s.submit();
    WARN("skipped: no cooperative-matrix path");
    return;
  }
  kernels::MatmulScratch scratch;
  const kernels::OperandMaximum x_max =
      kernels::matmul_backward(s, tx, dy1, tw, dx1, dw1, {false, false, MatmulPath::CoopMat, &scratch});
  REQUIRE(x_max.known());
  gpu::Tensor dy_maxima(test::context(), {3}, gpu::DType::I32, "dy maxima");
  s.fill_zero(dy_maxima);
  kernels::abs_max(s, dy2, dy_maxima, 2);
  kernels::matmul_backward(s, tx, dy2, tw, dx2, dw2, {false, false, MatmulPath::CoopMat, &scratch, {}, x_max});
  kernels::matmul_backward(s, tx, dy2, tw, dx3, dw3,
                           {false, false, MatmulPath::CoopMat, &scratch, {&dy_maxima, 2}, x_max});
  kernels::matmul_backward(s, tx, dy2, tw, dx_ref, dw_ref, {false, false, MatmulPath::CoopMat, &scratch});
  s.submit();
  CHECK(dx2.download() == dx_ref.download());
  CHECK(dw2.download() == dw_ref.download());
  CHECK(dx3.download() == dx_ref.download());
  CHECK(dw3.download() == dw_ref.download());
  auto not_maxima = test::tensor({3}, std::vector<float>(3));
  CHECK_THROWS_AS(kernels::matmul_backward(s, tx, dy2, tw, dx2, dw2,
                                           {false, false, MatmulPath::CoopMat, &scratch, {}, {&not_maxima, 0}}),
                  Error);
  CHECK_THROWS_AS(kernels::matmul_backward(s, tx, dy2, tw, dx2, dw2,
                                           {false, false, MatmulPath::CoopMat, &scratch, {&dy_maxima, 3}}),
                  Error);  // no slot 3
  CHECK(test::context().validation_messages().empty());
}
