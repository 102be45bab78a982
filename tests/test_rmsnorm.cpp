#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "kernels/rmsnorm.hpp"
#include "reference/rmsnorm.hpp"
#include "retnet/error.hpp"
#include "test_support.hpp"

using namespace retnet;
using kernels::ReductionPath;

namespace {

// Both reductions where the device has them on; ctest's fallback run turns subgroups off.
std::vector<ReductionPath> paths() {
  std::vector<ReductionPath> p{ReductionPath::Auto, ReductionPath::Shared};
  if (test::context().active_paths().subgroups) p.push_back(ReductionPath::Subgroup);
  return p;
}

const char* path_name(ReductionPath p) {
  return p == ReductionPath::Auto ? "auto" : p == ReductionPath::Shared ? "shared" : "subgroup";
}

// f32 sums of squares over up to 8192 values, then inversesqrt: ~1e-6 in practice.
constexpr double kTolerance = 1e-5;
constexpr float kEps = 1e-6f;

}  // namespace

TEST_CASE("rmsnorm matches the CPU reference", "[kernel][rmsnorm]") {
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 8},     {7, 9},     {63, 100},  {129, 127},
                                                           {7, 1023},  {129, 257}, {1, 8192},  {3, 8193},
                                                           {63, 2049}, {2, 12345}, {70000, 8}};  // > 65535 rows
  uint32_t seed = 1;
  for (auto [rows, n] : shapes) {
    auto x = test::random_vector(rows * n, seed++, 3.0f), w = test::random_vector(n, seed++);
    const auto expected = reference::rmsnorm(x, w, kEps);
    auto tx = test::tensor({rows, n}, x), tw = test::tensor({n}, w);
    for (auto path : paths()) {
      INFO(fmt::format("rows {} n {} path {}", rows, n, path_name(path)));
      gpu::Tensor ty(test::context(), {rows, n}, gpu::DType::F32, "y");
      gpu::Stream s(test::context());
      kernels::rmsnorm(s, tx, tw, ty, kEps, path);
      s.submit();
      CHECK(test::max_rel_error(ty.download(), expected) < kTolerance);
    }
  }
}

TEST_CASE("rmsnorm works over the last dimension of any rank in place and on zero rows", "[kernel][rmsnorm]") {
  const int64_t n = 33;
  auto x = test::random_vector(2 * 3 * n, 11);
  for (int i = 0; i < n; ++i) x[n + i] = 0.0f;  // a zero row must give zeros, not NaN
  auto w = test::random_vector(n, 12);
  const auto expected = reference::rmsnorm(x, w, kEps);
  for (auto path : paths()) {
    INFO(path_name(path));
    auto t = test::tensor({2, 3, n}, x), tw = test::tensor({n}, w);
    gpu::Stream s(test::context());
    kernels::rmsnorm(s, t, tw, t, kEps, path);
    s.submit();
    const auto y = t.download();
    CHECK(test::max_rel_error(y, expected) < kTolerance);
    CHECK(y[n + 5] == 0.0f);
  }
}

TEST_CASE("rmsnorm_swish_gate matches the CPU reference", "[kernel][rmsnorm]") {
  struct Shape {
    int64_t rows, heads, dv;
  };
  const std::vector<Shape> shapes = {{1, 1, 8},   {7, 3, 9},    {63, 4, 64},  {129, 2, 100},
                                     {7, 2, 256}, {1, 1, 8192}, {3, 2, 4097}, {129, 3, 33}};
  uint32_t seed = 100;
  for (auto [rows, heads, dv] : shapes) {
    const int64_t width = heads * dv;
    auto o = test::random_vector(rows * width, seed++, 2.0f), g = test::random_vector(rows * width, seed++, 6.0f);
    auto w = test::random_vector(dv, seed++);
    const auto expected = reference::rmsnorm_swish_gate(o, g, w, kEps);
    auto to = test::tensor({rows, width}, o), tg = test::tensor({rows, width}, g), tw = test::tensor({dv}, w);
    for (auto path : paths()) {
      INFO(fmt::format("rows {} heads {} dv {} path {}", rows, heads, dv, path_name(path)));
      gpu::Tensor ty(test::context(), {rows, width}, gpu::DType::F32, "y");
      gpu::Stream s(test::context());
      kernels::rmsnorm_swish_gate(s, to, tg, tw, ty, kEps, path);
      s.submit();
      CHECK(test::max_rel_error(ty.download(), expected) < kTolerance);
    }
  }
}

TEST_CASE("rmsnorm_swish_gate normalises each head on its own", "[kernel][rmsnorm]") {
  // Heads of very different scales: a whole-row norm would give a visibly different answer.
  const int64_t rows = 5, heads = 3, dv = 16;
  auto o = test::random_vector(rows * heads * dv, 21), g = test::random_vector(rows * heads * dv, 22, 4.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < dv; ++i) o[(r * heads + 1) * dv + i] *= 100.0f;
  std::vector<float> w(dv, 1.0f);
  auto to = test::tensor({rows, heads * dv}, o), tg = test::tensor({rows, heads * dv}, g), tw = test::tensor({dv}, w);
  gpu::Stream s(test::context());
  kernels::rmsnorm_swish_gate(s, to, tg, tw, to, kEps);  // in place
  s.submit();
  CHECK(test::max_rel_error(to.download(), reference::rmsnorm_swish_gate(o, g, w, kEps)) < kTolerance);
}

TEST_CASE("rmsnorm kernels reject bad arguments", "[kernel][rmsnorm][errors]") {
  auto& ctx = test::context();
  auto x = test::tensor({4, 8}, test::random_vector(32, 1));
  auto w = test::tensor({8}, test::random_vector(8, 2));
  auto w7 = test::tensor({7}, test::random_vector(7, 3));
  auto x16 = test::tensor({4, 8}, test::random_vector(32, 1), gpu::DType::F16);
  gpu::Tensor y(ctx, {4, 8}, gpu::DType::F32, "y"), y_wrong(ctx, {8, 4}, gpu::DType::F32, "y");
  gpu::Stream s(ctx);
  CHECK_THROWS_AS(kernels::rmsnorm(s, x, w7, y, kEps), Error);
  CHECK_THROWS_AS(kernels::rmsnorm(s, x, w, y_wrong, kEps), Error);
  CHECK_THROWS_AS(kernels::rmsnorm(s, x16, w, y, kEps), Error);
  CHECK_THROWS_AS(kernels::rmsnorm(s, x, w, y, -1.0f), Error);
  CHECK_THROWS_AS(kernels::rmsnorm_swish_gate(s, x, x, w7, y, kEps), Error);  // 7 does not divide 8
  CHECK_THROWS_AS(kernels::rmsnorm_swish_gate(s, x, y_wrong, w, y, kEps), Error);
  CHECK_THROWS_AS(kernels::rmsnorm_swish_gate(s, x, x16, w, y, kEps), Error);
  if (!ctx.active_paths().subgroups) {
    CHECK_THROWS_AS(kernels::rmsnorm(s, x, w, y, kEps, ReductionPath::Subgroup), Error);
    CHECK_THROWS_AS(kernels::rmsnorm_swish_gate(s, x, x, w, y, kEps, ReductionPath::Subgroup), Error);
  }
  CHECK(s.dispatch_count() == 0);
}
