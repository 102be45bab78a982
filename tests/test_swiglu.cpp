#include <catch2/catch.hpp>

#include <cmath>

#include "kernels/swiglu.hpp"
#include "reference/swiglu.hpp"
#include "retnet/error.hpp"
#include "test_support.hpp"

using namespace retnet;

namespace {
// exp() in Vulkan may be off by a few ULP per unit of |z|: ~1e-6 relative for |z| <= 8.
constexpr double kTolerance = 1e-5;
}  // namespace

TEST_CASE("swiglu matches the CPU reference", "[kernel][swiglu]") {
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(63 * 129), int64_t(100003)}) {
    INFO("n = " << n);
    auto g = test::random_vector(n, 1, 8.0f), u = test::random_vector(n, 2, 2.0f);
    if (n > 3) g[0] = -100.0f, g[1] = 100.0f, g[2] = 0.0f;  // saturated and zero gates
    auto tg = test::tensor({n}, g), tu = test::tensor({n}, u);
    gpu::Tensor out(test::context(), {n}, gpu::DType::F32, "out");
    gpu::Stream s(test::context());
    kernels::swiglu(s, tg, tu, out);
    s.submit();
    CHECK(test::max_rel_error(out.download(), reference::swiglu(g, u)) < kTolerance);
  }
}

TEST_CASE("swiglu works in place on a 2-D shape", "[kernel][swiglu]") {
  const int64_t rows = 7, width = 1023;
  auto g = test::random_vector(rows * width, 3, 4.0f), u = test::random_vector(rows * width, 4);
  auto tg = test::tensor({rows, width}, g), tu = test::tensor({rows, width}, u);
  gpu::Stream s(test::context());
  kernels::swiglu(s, tg, tu, tg);
  s.submit();
  CHECK(test::max_rel_error(tg.download(), reference::swiglu(g, u)) < kTolerance);
}

TEST_CASE("swiglu rejects bad arguments", "[kernel][swiglu][errors]") {
  auto& ctx = test::context();
  auto g = test::tensor({3, 5}, test::random_vector(15, 1));
  auto u_flat = test::tensor({15}, test::random_vector(15, 2));
  auto g16 = test::tensor({3, 5}, test::random_vector(15, 1), gpu::DType::F16);
  gpu::Tensor out(ctx, {3, 5}, gpu::DType::F32, "out"), out_wrong(ctx, {3, 6}, gpu::DType::F32, "out");
  gpu::Stream s(ctx);
  CHECK_THROWS_AS(kernels::swiglu(s, g, u_flat, out), Error);
  CHECK_THROWS_AS(kernels::swiglu(s, g, g, out_wrong), Error);
  CHECK_THROWS_AS(kernels::swiglu(s, g16, g, out), Error);
  CHECK(s.dispatch_count() == 0);
}

TEST_CASE("feed_forward reference is the gated MLP", "[reference][swiglu]") {
  // One value by hand: D = I = 1, m = 2, gate 1, up 3, down 0.5 -> swish(2) * 6 * 0.5.
  const auto one = reference::feed_forward<float>({2.0f}, {1.0f}, {3.0f}, {0.5f}, 1, 1, 1);
  CHECK(std::abs(one[0] - 3.0 * 2.0 / (1.0 + std::exp(-2.0))) < 1e-6);

  // A larger case against the composition written out with the elementwise reference.
  const int64_t rows = 3, D = 17, I = 45;
  auto m = test::random_vector(rows * D, 5), wg = test::random_vector(I * D, 6), wu = test::random_vector(I * D, 7),
       wd = test::random_vector(D * I, 8);
  std::vector<float> gate(rows * I), up(rows * I), expected(rows * D);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < I; ++j) {
      double a = 0, b = 0;
      for (int64_t k = 0; k < D; ++k) a += double(m[r * D + k]) * wg[j * D + k], b += double(m[r * D + k]) * wu[j * D + k];
      gate[r * I + j] = float(a), up[r * I + j] = float(b);
    }
  const auto hidden = reference::swiglu(gate, up);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < D; ++c) {
      double acc = 0;
      for (int64_t j = 0; j < I; ++j) acc += double(hidden[r * I + j]) * wd[c * I + j];
      expected[r * D + c] = float(acc);
    }
  CHECK(test::max_rel_error(reference::feed_forward(m, wg, wu, wd, rows, D, I), expected) < 1e-6);
  CHECK_THROWS(reference::feed_forward(m, wg, wu, wd, rows, D + 1, I));
}

TEST_CASE("swiglu backward reference matches finite differences", "[reference][swiglu]") {
  const auto gate = test::to_double(test::random_vector(9, 1, 4.0f)), up = test::to_double(test::random_vector(9, 2)),
             r = test::to_double(test::random_vector(9, 3));
  std::vector<double> dgate, dup;
  reference::swiglu_backward(gate, up, r, dgate, dup);
  // Central differences, h = 1e-5, in double: ~1e-10 truncation error.
  CHECK(test::max_rel_error(dgate, test::numeric_gradient([&](auto& g) {
          return test::weighted_sum(reference::swiglu(g, up), r);
        }, gate)) < 1e-7);
  CHECK(test::max_rel_error(dup, test::numeric_gradient([&](auto& u) {
          return test::weighted_sum(reference::swiglu(gate, u), r);
        }, up)) < 1e-7);
}

TEST_CASE("swiglu backward matches the CPU reference and works in place", "[kernel][swiglu]") {
  for (int64_t n : {1, 7, 1000, 70001}) {
    INFO(n);
    const auto gate = test::random_vector(n, 10, 6.0f), up = test::random_vector(n, 11),
               dout = test::random_vector(n, 12);
    std::vector<float> expected_dgate, expected_dup;
    reference::swiglu_backward(gate, up, dout, expected_dgate, expected_dup);
    auto tg = test::tensor({n}, gate), tu = test::tensor({n}, up), td = test::tensor({n}, dout);
    gpu::Stream s(test::context());
    kernels::swiglu_backward(s, tg, tu, td, tg, tu);  // in place: activations become gradients
    s.submit();
    CHECK(test::max_rel_error(tg.download(), expected_dgate) < 1e-6);
    CHECK(test::max_rel_error(tu.download(), expected_dup) < 1e-6);
  }
  auto a = test::tensor({4}, test::random_vector(4, 1)), b = test::tensor({4}, test::random_vector(4, 2)),
       c = test::tensor({5}, test::random_vector(5, 3));
  gpu::Stream s(test::context());
  CHECK_THROWS_AS(kernels::swiglu_backward(s, a, b, c, a, b), Error);  // wrong shape
  CHECK_THROWS_AS(kernels::swiglu_backward(s, a, b, a, a, b), Error);  // dgate aliases dout
}
