#include <catch2/catch.hpp>

#include "kernels/elementwise.hpp"
#include "reference/elementwise.hpp"
#include "retnet/error.hpp"
#include "test_support.hpp"

using namespace retnet;

TEST_CASE("residual_add matches the CPU reference", "[kernel][elementwise]") {
  for (int64_t n : {1, 7, 255, 257, 100003}) {
    auto h = test::random_vector(n, 1), x = test::random_vector(n, 2);
    auto th = test::tensor({n}, h), tx = test::tensor({n}, x);
    gpu::Stream s(test::context());
    kernels::residual_add(s, th, tx);
    s.submit();
    reference::residual_add(h, x);
    CHECK(test::max_rel_error(th.download(), h) == 0.0);
  }
}

TEST_CASE("residual_add rejects mismatched sizes", "[kernel][elementwise][errors]") {
  auto th = test::tensor({4}, test::random_vector(4, 1));
  auto tx = test::tensor({5}, test::random_vector(5, 2));
  gpu::Stream s(test::context());
  CHECK_THROWS_AS(kernels::residual_add(s, th, tx), Error);
}
