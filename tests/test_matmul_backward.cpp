#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <cmath>
#include <vector>

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

double dx_error(gpu::Stream& s, int64_t M, int64_t N, int64_t K, gpu::DType wtype, bool accumulate, uint32_t seed) {
  const auto dy = test::random_vector(size_t(M * N), seed);
  const auto w = test::random_vector(size_t(N * K), seed + 1);
  const auto dx0 = test::random_vector(size_t(M * K), seed + 2);
  auto tdy = test::tensor({M, N}, dy, gpu::DType::F32, "dy");
  auto tw = test::tensor({N, K}, w, wtype, "w");
  auto tdx = test::tensor({M, K}, dx0, gpu::DType::F32, "dx");
  kernels::matmul_backward_input(s, tdy, tw, tdx, accumulate);
  s.submit();
  auto expected = reference::matmul_backward_input(dy, test::rounded(w, wtype), M, N, K);
  if (accumulate)
    for (size_t i = 0; i < expected.size(); ++i) expected[i] += dx0[i];
  return test::max_rel_error(tdx.download(), expected);
}

double dw_error(gpu::Stream& s, int64_t M, int64_t N, int64_t K, bool accumulate, uint32_t seed) {
  const auto x = test::random_vector(size_t(M * K), seed);
  const auto dy = test::random_vector(size_t(M * N), seed + 1);
  const auto dw0 = test::random_vector(size_t(N * K), seed + 2);
  auto tx = test::tensor({M, K}, x, gpu::DType::F32, "x");
  auto tdy = test::tensor({M, N}, dy, gpu::DType::F32, "dy");
  auto tdw = test::tensor({N, K}, dw0, gpu::DType::F32, "dw");
  kernels::matmul_backward_weight(s, tx, tdy, tdw, accumulate);
  s.submit();
  auto expected = reference::matmul_backward_weight(x, dy, M, N, K);
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
