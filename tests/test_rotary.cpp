#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "kernels/rotary.hpp"
#include "reference/rotary.hpp"
#include "retnet/error.hpp"
#include "test_support.hpp"

using namespace retnet;

namespace {

// Positions [start, start + rows).
std::vector<int32_t> positions_from(int32_t start, int64_t rows) {
  std::vector<int32_t> p(rows);
  for (int64_t r = 0; r < rows; ++r) p[r] = start + int32_t(r);
  return p;
}

double run_rotary(const std::vector<int32_t>& positions, int64_t heads, int64_t d, uint32_t seed) {
  const int64_t rows = positions.size();
  auto x = test::random_vector(rows * heads * d, seed);
  auto tx = test::tensor({rows, heads, d}, x);
  gpu::Tensor tp(test::context(), {rows}, gpu::DType::I32, "positions");
  tp.upload(positions);
  gpu::Stream s(test::context());
  kernels::rotary(s, tx, tp);
  s.submit();
  reference::rotary(x, positions, heads, d);
  return test::max_rel_error(tx.download(), x);
}

// The angle is reduced modulo one turn exactly and sin/cos are our own polynomials, so the
// error does not grow with t: max abs error 2e-7 near t = 0, 5e-7 up to t = 2^24 and 8e-7 at
// t = 1e8 measured on lavapipe (values in [-1, 1]). Plain fp32 angles (t * inv_freq, then
// sin/cos) would be off by up to ~t * 2^-24 rad: ~6e-3 at t = 100000.
constexpr double kTolerance = 2e-6;

}  // namespace

TEST_CASE("rotary matches the CPU reference near position 0", "[kernel][rotary]") {
  const std::vector<std::tuple<int64_t, int64_t, int64_t>> shapes = {
      {1, 1, 8}, {7, 3, 10}, {63, 2, 64}, {129, 1, 34}, {7, 4, 128}, {3, 2, 256}, {2, 1, 2048}};
  uint32_t seed = 1;
  for (auto [rows, heads, d] : shapes) {
    INFO(fmt::format("rows {} heads {} d {}", rows, heads, d));
    CHECK(run_rotary(positions_from(0, rows), heads, d, seed++) < kTolerance);
  }
}

TEST_CASE("rotary stays accurate at large positions", "[kernel][rotary]") {
  uint32_t seed = 50;
  for (int32_t start : {99990, 100000 - 63, 131072 - 64, 1000003, (1 << 24) + 7}) {
    for (auto [rows, heads, d] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{7, 3, 10}, {129, 2, 128},
                                                                                   {63, 1, 256}}) {
      INFO(fmt::format("start {} rows {} heads {} d {}", start, rows, heads, d));
      CHECK(run_rotary(positions_from(start, rows), heads, d, seed++) < kTolerance);
    }
  }
}

TEST_CASE("rotary handles arbitrary and negative positions per row", "[kernel][rotary]") {
  CHECK(run_rotary({0, -1, -100000, 5, 123456789, 131072, 65536, 3}, 2, 64, 7) < kTolerance);
  // At the ends of int32 the ~44-bit frequency product is no longer exact enough: about
  // 1.5e-5 measured at |t| ~ 2^31 (plain fp32 would be off by radians there).
  CHECK(run_rotary({2147483647, -2147483647 - 1, 2147483000}, 2, 128, 8) < 1e-4);
}

TEST_CASE("rotary rejects bad arguments", "[kernel][rotary][errors]") {
  auto& ctx = test::context();
  auto odd = test::tensor({2, 1, 7}, test::random_vector(14, 1));
  auto rank2 = test::tensor({2, 8}, test::random_vector(16, 2));
  auto x = test::tensor({2, 1, 8}, test::random_vector(16, 3));
  auto too_wide = test::tensor({1, 1, 4098}, test::random_vector(4098, 4));
  gpu::Tensor p2(ctx, {2}, gpu::DType::I32, "p"), p3(ctx, {3}, gpu::DType::I32, "p"), p1(ctx, {1}, gpu::DType::I32, "p");
  gpu::Tensor pf(ctx, {2}, gpu::DType::F32, "p");
  gpu::Stream s(ctx);
  CHECK_THROWS_AS(kernels::rotary(s, odd, p2), Error);
  CHECK_THROWS_AS(kernels::rotary(s, rank2, p2), Error);
  CHECK_THROWS_AS(kernels::rotary(s, x, p3), Error);
  CHECK_THROWS_AS(kernels::rotary(s, x, pf), Error);
  CHECK_THROWS_AS(kernels::rotary(s, too_wide, p1), Error);
  CHECK(s.dispatch_count() == 0);
}

TEST_CASE("rotary backward reference matches finite differences", "[reference][rotary]") {
  const std::vector<int32_t> positions = {0, 3, 17};
  const int64_t heads = 2, d = 6;
  const auto x = test::to_double(test::random_vector(3 * heads * d, 1)), r = test::to_double(test::random_vector(x.size(), 2));
  auto grad = r;
  reference::rotary_backward(grad, positions, heads, d);
  const auto numeric = test::numeric_gradient(
      [&](std::vector<double> v) {
        reference::rotary(v, positions, heads, d);
        return test::weighted_sum(v, r);
      },
      x);
  CHECK(test::max_rel_error(grad, numeric) < 1e-8);  // linear in x: central differences are exact up to rounding
}

TEST_CASE("rotary backward matches the CPU reference", "[kernel][rotary]") {
  const auto positions = positions_from(100000, 129);
  for (int64_t d : {8, 64, 130}) {
    INFO(d);
    const int64_t heads = 3, rows = positions.size();
    auto grad = test::random_vector(rows * heads * d, 5);
    auto tg = test::tensor({rows, heads, d}, grad);
    gpu::Tensor tp(test::context(), {rows}, gpu::DType::I32, "positions");
    tp.upload(positions);
    gpu::Stream s(test::context());
    kernels::rotary_backward(s, tg, tp);
    s.submit();
    reference::rotary_backward(grad, positions, heads, d);
    CHECK(test::max_rel_error(tg.download(), grad) < kTolerance);
  }
}
