// The RMSNorm backward passes: the CPU reference against finite differences in double, then
// the GPU kernels against the reference on shapes that are no multiple of any tile.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "kernels/rmsnorm.hpp"
#include "reference/rmsnorm.hpp"
#include "retnet/error.hpp"
#include "test_support.hpp"

using namespace retnet;
using kernels::ReductionPath;

namespace {

constexpr double kEps = 1e-6;
// Central differences with h = 1e-5 in double: truncation error ~h^2 * f''' ~ 1e-10, so the
// reference must agree to 1e-7 of the gradient's scale.
constexpr double kFiniteDifferenceTolerance = 1e-7;
// f32 on the GPU (sums over up to a few thousand rows) against the double reference.
constexpr double kGpuTolerance = 2e-5;

std::vector<ReductionPath> paths() {
  std::vector<ReductionPath> p{ReductionPath::Shared};
  if (test::context().active_paths().subgroups) p.push_back(ReductionPath::Subgroup);
  return p;
}

std::vector<double> random_doubles(size_t n, uint32_t seed, float scale = 1.0f) {
  return test::to_double(test::random_vector(n, seed, scale));
}

}  // namespace

TEST_CASE("rmsnorm backward reference matches finite differences", "[reference][rmsnorm_backward]") {
  const int64_t rows = 3, n = 5;
  const auto x = random_doubles(rows * n, 1, 2.0f), w = random_doubles(n, 2), r = random_doubles(rows * n, 3);
  std::vector<double> dw(n, 0.0);
  const auto dx = reference::rmsnorm_backward(x, w, r, kEps, dw);
  const auto numeric_dx = test::numeric_gradient(
      [&](const std::vector<double>& xv) { return test::weighted_sum(reference::rmsnorm(xv, w, kEps), r); }, x);
  const auto numeric_dw = test::numeric_gradient(
      [&](const std::vector<double>& wv) { return test::weighted_sum(reference::rmsnorm(x, wv, kEps), r); }, w);
  CHECK(test::max_rel_error(dx, numeric_dx) < kFiniteDifferenceTolerance);
  CHECK(test::max_rel_error(dw, numeric_dw) < kFiniteDifferenceTolerance);
}

TEST_CASE("rmsnorm_swish_gate backward reference matches finite differences", "[reference][rmsnorm_backward]") {
  const int64_t rows = 2, heads = 3, dv = 4, size = rows * heads * dv;
  const auto o = random_doubles(size, 4, 2.0f), g = random_doubles(size, 5, 3.0f), w = random_doubles(dv, 6),
             r = random_doubles(size, 7);
  std::vector<double> dgate, dw(dv, 0.0);
  const auto d_o = reference::rmsnorm_swish_gate_backward(o, g, w, r, kEps, dgate, dw);
  auto loss = [&](const std::vector<double>& ov, const std::vector<double>& gv, const std::vector<double>& wv) {
    return test::weighted_sum(reference::rmsnorm_swish_gate(ov, gv, wv, kEps), r);
  };
  CHECK(test::max_rel_error(d_o, test::numeric_gradient([&](auto& v) { return loss(v, g, w); }, o)) <
        kFiniteDifferenceTolerance);
  CHECK(test::max_rel_error(dgate, test::numeric_gradient([&](auto& v) { return loss(o, v, w); }, g)) <
        kFiniteDifferenceTolerance);
  CHECK(test::max_rel_error(dw, test::numeric_gradient([&](auto& v) { return loss(o, g, v); }, w)) <
        kFiniteDifferenceTolerance);
}

TEST_CASE("rmsnorm backward matches the CPU reference", "[kernel][rmsnorm_backward]") {
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 8}, {7, 9}, {63, 100}, {129, 127}, {300, 33}, {5, 2049}};
  uint32_t seed = 10;
  for (auto [rows, n] : shapes) {
    const auto x = test::random_vector(rows * n, seed++, 3.0f), w = test::random_vector(n, seed++),
               dy = test::random_vector(rows * n, seed++), dw0 = test::random_vector(n, seed++),
               dx0 = test::random_vector(rows * n, seed++);
    std::vector<float> expected_dw = dw0;
    auto expected_dx = reference::rmsnorm_backward(x, w, dy, kEps, expected_dw);
    for (size_t i = 0; i < expected_dx.size(); ++i) expected_dx[i] += dx0[i];  // accumulate_dx
    for (auto path : paths()) {
      INFO(fmt::format("rows {} n {} subgroups {}", rows, n, path == ReductionPath::Subgroup));
      auto tx = test::tensor({rows, n}, x), tw = test::tensor({n}, w), tdy = test::tensor({rows, n}, dy);
      auto tdx = test::tensor({rows, n}, dx0), tdw = test::tensor({n}, dw0);
      auto scratch = test::zeros({kernels::norm_backward_scratch_size(rows, n)}, gpu::DType::F32, "scratch");
      gpu::Stream s(test::context());
      kernels::rmsnorm_backward(s, tx, tw, tdy, tdx, tdw, float(kEps), scratch, true, path);
      s.submit();
      CHECK(test::max_rel_error(tdx.download(), expected_dx) < kGpuTolerance);
      CHECK(test::max_rel_error(tdw.download(), expected_dw) < kGpuTolerance);
    }
  }
}

TEST_CASE("rmsnorm_swish_gate backward matches the CPU reference", "[kernel][rmsnorm_backward]") {
  struct Shape {
    int64_t rows, heads, dv;
  };
  const std::vector<Shape> shapes = {{1, 1, 8}, {7, 3, 20}, {63, 2, 64}, {129, 4, 33}, {200, 1, 256}};
  uint32_t seed = 40;
  for (auto [rows, heads, dv] : shapes) {
    const int64_t size = rows * heads * dv;
    const auto o = test::random_vector(size, seed++, 3.0f), g = test::random_vector(size, seed++, 4.0f),
               w = test::random_vector(dv, seed++), dy = test::random_vector(size, seed++),
               dw0 = test::random_vector(dv, seed++);
    std::vector<float> expected_dgate, expected_dw = dw0;
    const auto expected_do = reference::rmsnorm_swish_gate_backward(o, g, w, dy, kEps, expected_dgate, expected_dw);
    for (auto path : paths()) {
      INFO(fmt::format("rows {} heads {} dv {} subgroups {}", rows, heads, dv, path == ReductionPath::Subgroup));
      auto to = test::tensor({rows, heads * dv}, o), tg = test::tensor({rows, heads * dv}, g),
           tw = test::tensor({dv}, w), tdy = test::tensor({rows, heads * dv}, dy), tdw = test::tensor({dv}, dw0);
      gpu::Tensor tdo(test::context(), {rows, heads * dv}, gpu::DType::F32, "d_o"),
          tdg(test::context(), {rows, heads * dv}, gpu::DType::F32, "d_gate");
      auto scratch = test::zeros({kernels::norm_backward_scratch_size(rows * heads, dv)}, gpu::DType::F32, "scratch");
      gpu::Stream s(test::context());
      kernels::rmsnorm_swish_gate_backward(s, to, tg, tw, tdy, tdo, tdg, tdw, float(kEps), scratch, path);
      s.submit();
      CHECK(test::max_rel_error(tdo.download(), expected_do) < kGpuTolerance);
      CHECK(test::max_rel_error(tdg.download(), expected_dgate) < kGpuTolerance);
      CHECK(test::max_rel_error(tdw.download(), expected_dw) < kGpuTolerance);
    }
  }
}

TEST_CASE("rmsnorm backward kernels reject bad arguments", "[kernel][rmsnorm_backward][errors]") {
  auto x = test::tensor({4, 8}, test::random_vector(32, 1)), w = test::tensor({8}, test::random_vector(8, 2));
  auto dy = test::tensor({4, 8}, test::random_vector(32, 3));
  const auto f32 = gpu::DType::F32;
  auto dx = test::zeros({4, 8}, f32, "dx"), dw = test::zeros({8}, f32, "dw"), small = test::zeros({3}, f32, "scratch");
  auto scratch = test::zeros({kernels::norm_backward_scratch_size(4, 8)}, f32, "scratch");
  auto wrong = test::zeros({4, 9}, f32, "wrong");
  gpu::Stream s(test::context());
  CHECK_THROWS_AS(kernels::rmsnorm_backward(s, x, w, dy, dx, dw, 1e-6f, small, false), Error);
  CHECK_THROWS_AS(kernels::rmsnorm_backward(s, x, w, wrong, dx, dw, 1e-6f, scratch, false), Error);
  CHECK_THROWS_AS(kernels::rmsnorm_backward(s, x, w, dy, dy, dw, 1e-6f, scratch, false), Error);  // dx aliases dy
  CHECK_THROWS_AS(kernels::rmsnorm_swish_gate_backward(s, x, wrong, w, dy, dx, dy, dw, 1e-6f, scratch), Error);
  CHECK(s.dispatch_count() == 0);
}
