#include <catch2/catch.hpp>

#include "kernels/matmul.hpp"
#include "reference/matmul.hpp"
#include "retnet/error.hpp"
#include "test_support.hpp"

using namespace retnet;

namespace {
// f32 accumulation over up to 2048 products against double: relative to the output scale.
const double kTolerance = 1e-5;

double run(int64_t M, int64_t N, int64_t K, gpu::DType wtype, kernels::MatmulPath path, uint32_t seed) {
  auto x = test::random_vector(M * K, seed), w = test::random_vector(N * K, seed + 1);
  auto tx = test::tensor({M, K}, x), tw = test::tensor({N, K}, w, wtype);
  gpu::Tensor ty(test::context(), {M, N}, gpu::DType::F32, "y");
  gpu::Stream s(test::context());
  kernels::matmul(s, tx, tw, ty, path);
  s.submit();
  return test::max_rel_error(ty.download(), reference::matmul(x, test::rounded(w, wtype), M, N, K));
}
}  // namespace

TEST_CASE("tiled matmul matches the CPU reference for f32 and f16 weights", "[kernel][matmul]") {
  uint32_t seed = 1;
  for (auto wtype : {gpu::DType::F32, gpu::DType::F16})
    for (int64_t M : {1, 7, 63, 129})
      for (int64_t N : {1, 5, 64, 130})
        for (int64_t K : {1, 7, 64, 255}) {
          INFO("M " << M << " N " << N << " K " << K << " f16 " << (wtype == gpu::DType::F16));
          CHECK(run(M, N, K, wtype, kernels::MatmulPath::Tiled, seed++) < kTolerance);
        }
  CHECK(run(70, 33, 2048, gpu::DType::F16, kernels::MatmulPath::Tiled, 99) < kTolerance);
}

TEST_CASE("row matmul for decode matches the CPU reference for f32 and f16 weights", "[kernel][matmul]") {
  uint32_t seed = 500;
  for (auto wtype : {gpu::DType::F32, gpu::DType::F16})
    for (int64_t M : {1, 3, 8})
      for (int64_t N : {1, 5, 64, 130})
        for (int64_t K : {1, 7, 255, 2048}) {
          INFO("M " << M << " N " << N << " K " << K << " f16 " << (wtype == gpu::DType::F16));
          CHECK(run(M, N, K, wtype, kernels::MatmulPath::Rows, seed++) < kTolerance);
        }
}

TEST_CASE("matmul picks a correct path by itself and treats leading dims as rows", "[kernel][matmul]") {
  for (int64_t rows : {2, 40}) {
    auto x = test::random_vector(rows * 3 * 24, 7), w = test::random_vector(10 * 24, 8);
    auto tx = test::tensor({rows, 3, 24}, x), tw = test::tensor({10, 24}, w);
    gpu::Tensor ty(test::context(), {rows, 3, 10}, gpu::DType::F32, "y");
    gpu::Stream s(test::context());
    kernels::matmul(s, tx, tw, ty);
    s.submit();
    CHECK(test::max_rel_error(ty.download(), reference::matmul(x, w, rows * 3, 10, 24)) < kTolerance);
  }
}

TEST_CASE("matmul rejects mismatched shapes and dtypes", "[kernel][matmul][errors]") {
  auto x = test::tensor({4, 8}, test::random_vector(32, 1));
  auto w = test::tensor({3, 8}, test::random_vector(24, 2));
  auto w_bad = test::tensor({3, 9}, test::random_vector(27, 2));
  auto w_3d = test::tensor({1, 3, 8}, test::random_vector(24, 2));
  gpu::Tensor y(test::context(), {4, 3}, gpu::DType::F32, "y"), y_bad(test::context(), {4, 4}, gpu::DType::F32, "y");
  gpu::Tensor xi(test::context(), {4, 8}, gpu::DType::I32, "ints");
  gpu::Stream s(test::context());
  CHECK_THROWS_WITH(kernels::matmul(s, x, w_bad, y), Catch::Contains("features"));
  CHECK_THROWS_AS(kernels::matmul(s, x, w_3d, y), Error);
  CHECK_THROWS_AS(kernels::matmul(s, x, w, y_bad), Error);
  CHECK_THROWS_AS(kernels::matmul(s, xi, w, y), Error);
  auto x_many = test::tensor({9, 8}, test::random_vector(72, 3));
  gpu::Tensor y_many(test::context(), {9, 3}, gpu::DType::F32, "y");
  CHECK_THROWS_AS(kernels::matmul(s, x_many, w, y_many, kernels::MatmulPath::Rows), Error);
}
