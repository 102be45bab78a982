#include <catch2/catch.hpp>

#include <vector>

#include "kernels/matmul.hpp"
#include "reference/matmul.hpp"
#include "retnet/error.hpp"
#include "test_support.hpp"

using namespace retnet;
using kernels::MatmulPath;

namespace {

// Max error relative to the output's scale (test::max_rel_error), f32 accumulation against
// the double reference: measured at most 3e-6 on lavapipe (K = 2048, terms of magnitude
// <= 1); 1e-5 leaves room for other devices' summation orders and fused multiply-adds.
constexpr double kTolerance = 1e-5;

// The tensor-core path rounds x to f16 (the reference gets the same rounded x, so the products
// are exact) and accumulates in an order of its own: 1e-4.
constexpr double kCoopMatTolerance = 1e-4;

const char* path_name(MatmulPath p) {
  return p == MatmulPath::Rows ? "rows" : p == MatmulPath::Tiled ? "tiled" : p == MatmulPath::CoopMat ? "coopmat" : "auto";
}

// GPU y = x w^T for x of shape x_shape (last dim K) and w [N, K] of `wtype`, compared with the
// reference on the values w (and, on the tensor-core path, x) actually hold, as a multiple of
// the path's tolerance (<= 1 passes). With `accumulate`, y starts random and is added to.
double matmul_error(gpu::Stream& s, const std::vector<int64_t>& x_shape, int64_t N, gpu::DType wtype,
                    MatmulPath path, bool accumulate = false, uint32_t seed = 1,
                    kernels::MatmulScratch* scratch = nullptr) {
  const int64_t K = x_shape.back();
  int64_t M = 1;
  for (size_t i = 0; i + 1 < x_shape.size(); ++i) M *= x_shape[i];
  auto x = test::random_vector(size_t(M * K), seed);
  auto w = test::random_vector(size_t(N * K), seed + 1);
  auto y0 = test::random_vector(size_t(M * N), seed + 2);
  std::vector<int64_t> y_shape = x_shape;
  y_shape.back() = N;
  auto tx = test::tensor(x_shape, x, gpu::DType::F32, "x");
  auto tw = test::tensor({N, K}, w, wtype, "w");
  auto ty = test::tensor(y_shape, y0, gpu::DType::F32, "y");
  kernels::matmul(s, tx, tw, ty, path, accumulate, scratch);
  s.submit();
  const MatmulPath taken = path == MatmulPath::Auto ? kernels::matmul_auto_path(test::context(), M, tw) : path;
  const bool coopmat = taken == MatmulPath::CoopMat;
  auto expected = reference::matmul(coopmat ? test::rounded(x, gpu::DType::F16) : x, test::rounded(w, wtype), M, N, K);
  if (accumulate)
    for (size_t i = 0; i < expected.size(); ++i) expected[i] += y0[i];
  return test::max_rel_error(ty.download(), expected) / (coopmat ? kCoopMatTolerance : kTolerance);
}

// Every combination of rows, output columns and depths, none of them multiples of the tiles
// except 64 (a whole tile, or exactly 8 f16 / 4 f32 per wide load), plus the ragged K = 7, 255.
void check_all_shapes(MatmulPath path, gpu::DType wtype) {
  gpu::Stream s(test::context());
  for (int64_t M : {1, 3, 7, 63, 129})
    for (int64_t N : {1, 5, 64, 130})
      for (int64_t K : {1, 7, 64, 255, 2048}) {
        CAPTURE(M, N, K, gpu::dtype_name(wtype), path_name(path));
        CHECK(matmul_error(s, {M, K}, N, wtype, path) <= 1.0);
      }
}

}  // namespace

TEST_CASE("matmul Rows path matches the CPU reference with f32 weights", "[kernel][matmul]") {
  check_all_shapes(MatmulPath::Rows, gpu::DType::F32);
}

TEST_CASE("matmul Rows path matches the CPU reference with f16 weights", "[kernel][matmul]") {
  check_all_shapes(MatmulPath::Rows, gpu::DType::F16);
}

TEST_CASE("matmul Tiled path matches the CPU reference with f32 weights", "[kernel][matmul]") {
  check_all_shapes(MatmulPath::Tiled, gpu::DType::F32);
}

TEST_CASE("matmul Tiled path matches the CPU reference with f16 weights", "[kernel][matmul]") {
  check_all_shapes(MatmulPath::Tiled, gpu::DType::F16);
}

TEST_CASE("matmul Rows path with every row count up to 8 and K a multiple of the wide load", "[kernel][matmul]") {
  // Each row count 1..8 is its own specialization of the Rows kernel; K = 8, 24, 1000 take
  // the aligned wide-load branch for both weight types, K = 4 only for f32.
  gpu::Stream s(test::context());
  for (auto wtype : {gpu::DType::F32, gpu::DType::F16})
    for (int64_t M = 1; M <= 8; ++M)
      for (int64_t K : {4, 8, 24, 1000}) {
        CAPTURE(M, K, gpu::dtype_name(wtype));
        CHECK(matmul_error(s, {M, K}, 37, wtype, MatmulPath::Rows) <= 1.0);
      }
}

TEST_CASE("matmul accumulate adds x w^T to y", "[kernel][matmul]") {
  gpu::Stream s(test::context());
  for (auto path : {MatmulPath::Rows, MatmulPath::Tiled})
    for (auto wtype : {gpu::DType::F32, gpu::DType::F16})
      for (int64_t M : {2, 70}) {
        CAPTURE(path_name(path), gpu::dtype_name(wtype), M);
        CHECK(matmul_error(s, {M, 96}, 67, wtype, path, /*accumulate=*/true) <= 1.0);
      }
}

TEST_CASE("matmul Auto picks Rows for few rows, tensor cores or Tiled for many, and all are right",
          "[kernel][matmul]") {
  auto w32 = test::tensor({4, 4}, test::random_vector(16, 1)), w16 = test::tensor({4, 4}, test::random_vector(16, 1), gpu::DType::F16);
  CHECK(kernels::matmul_auto_path(test::context(), 1, w16) == MatmulPath::Rows);
  CHECK(kernels::matmul_auto_path(test::context(), 8, w16) == MatmulPath::Rows);
  CHECK(kernels::matmul_auto_path(test::context(), 9, w32) == MatmulPath::Tiled);
  CHECK(kernels::matmul_auto_path(test::context(), 9, w16) ==
        (test::context().active_paths().coopmat ? MatmulPath::CoopMat : MatmulPath::Tiled));
  gpu::Stream s(test::context());
  // Leading dimensions are flattened into rows: [2, 3, K] is 6 rows, [4, 5, K] 20.
  for (auto x_shape : std::vector<std::vector<int64_t>>{{100}, {8, 100}, {9, 100}, {2, 3, 100}, {4, 5, 100}})
    for (auto wtype : {gpu::DType::F32, gpu::DType::F16}) {
      CAPTURE(x_shape, gpu::dtype_name(wtype));
      CHECK(matmul_error(s, x_shape, 50, wtype, MatmulPath::Auto) <= 1.0);
    }
}

TEST_CASE("matmul Rows path: the shared-memory reduction runs beside the subgroup one",
          "[kernel][matmul]") {
  // The ctest fallback run covers the shared-memory reduction; this also runs it in the
  // same process as the subgroup one, through a second context with subgroups forced off.
  auto options = test::context().options();
  options.allow.subgroups = false;
  Context no_subgroups(options);
  REQUIRE_FALSE(no_subgroups.active_paths().subgroups);
  for (auto wtype : {gpu::DType::F32, gpu::DType::F16})
    for (int64_t M : {1, 5})
      for (int64_t K : {7, 512}) {
        CAPTURE(gpu::dtype_name(wtype), M, K);
        const int64_t N = 33;
        auto x = test::random_vector(size_t(M * K), 11), w = test::random_vector(size_t(N * K), 12);
        gpu::Tensor tx(no_subgroups, {M, K}, gpu::DType::F32, "x"), tw(no_subgroups, {N, K}, wtype, "w"),
            ty(no_subgroups, {M, N}, gpu::DType::F32, "y");
        tx.upload(x);
        tw.upload(w);
        gpu::Stream s(no_subgroups);
        kernels::matmul(s, tx, tw, ty, MatmulPath::Rows);
        s.submit();
        CHECK(test::max_rel_error(ty.download(), reference::matmul(x, test::rounded(w, wtype), M, N, K)) <=
              kTolerance);
      }
  CHECK(no_subgroups.validation_messages().empty());
}

TEST_CASE("matmul Rows path covers more column blocks than one grid dimension holds", "[kernel][matmul]") {
  // 262153 columns are 65539 blocks of 4: the 65535 workgroups (the grid limit) loop over them.
  gpu::Stream s(test::context());
  CHECK(matmul_error(s, {2, 3}, 262153, gpu::DType::F32, MatmulPath::Rows) <= 1.0);
}

TEST_CASE("matmul with no rows or no output columns does nothing", "[kernel][matmul]") {
  gpu::Stream s(test::context());
  auto tx = test::tensor({0, 16}, {}), tw = test::tensor({4, 16}, test::random_vector(64, 1));
  auto ty = test::tensor({0, 4}, {});
  kernels::matmul(s, tx, tw, ty);
  auto tx1 = test::tensor({3, 16}, test::random_vector(48, 2)), tw0 = test::tensor({0, 16}, {});
  auto ty0 = test::tensor({3, 0}, {});
  kernels::matmul(s, tx1, tw0, ty0);
  s.submit();
  CHECK(s.dispatch_count() == 0);
}

TEST_CASE("matmul rejects bad shapes and dtypes", "[kernel][matmul][errors]") {
  gpu::Stream s(test::context());
  auto x = test::tensor({3, 8}, test::random_vector(24, 1));
  auto w = test::tensor({5, 8}, test::random_vector(40, 2));
  auto y = test::tensor({3, 5}, test::random_vector(15, 3));
  auto x_k7 = test::tensor({3, 7}, test::random_vector(21, 4));
  auto w_3d = test::tensor({5, 8, 1}, test::random_vector(40, 5));
  auto w_1d = test::tensor({8}, test::random_vector(8, 6));
  auto y_wrong_n = test::tensor({3, 6}, test::random_vector(18, 7));
  auto y_wrong_m = test::tensor({4, 5}, test::random_vector(20, 8));
  auto y_flat = test::tensor({15}, test::random_vector(15, 9));
  auto x_scalar = test::tensor({}, {1.0f});
  gpu::Tensor x_int(test::context(), {3, 8}, gpu::DType::I32, "x_int");
  gpu::Tensor w_int(test::context(), {5, 8}, gpu::DType::I32, "w_int");
  gpu::Tensor y_int(test::context(), {3, 5}, gpu::DType::I32, "y_int");
  auto x_f16 = test::tensor({3, 8}, test::random_vector(24, 1), gpu::DType::F16);
  auto y_f16 = test::tensor({3, 5}, test::random_vector(15, 3), gpu::DType::F16);
  auto x_square = test::tensor({3, 8}, test::random_vector(24, 10));
  auto w_square = test::tensor({8, 8}, test::random_vector(64, 11));
  for (auto path : {MatmulPath::Auto, MatmulPath::Rows, MatmulPath::Tiled}) {
    CAPTURE(path_name(path));
    CHECK_THROWS_AS(kernels::matmul(s, x_k7, w, y, path), Error);       // K mismatch
    CHECK_THROWS_AS(kernels::matmul(s, x, w_3d, y, path), Error);       // w not 2-D
    CHECK_THROWS_AS(kernels::matmul(s, x, w_1d, y, path), Error);
    CHECK_THROWS_AS(kernels::matmul(s, x, w, y_wrong_n, path), Error);  // y wrong shape
    CHECK_THROWS_AS(kernels::matmul(s, x, w, y_wrong_m, path), Error);
    CHECK_THROWS_AS(kernels::matmul(s, x, w, y_flat, path), Error);
    CHECK_THROWS_AS(kernels::matmul(s, x_scalar, w, y, path), Error);   // x without a K dim
    CHECK_THROWS_AS(kernels::matmul(s, x_int, w, y, path), Error);      // integer dtypes
    CHECK_THROWS_AS(kernels::matmul(s, x, w_int, y, path), Error);
    CHECK_THROWS_AS(kernels::matmul(s, x, w, y_int, path), Error);
    CHECK_THROWS_AS(kernels::matmul(s, x_f16, w, y, path), Error);      // x and y must be f32
    CHECK_THROWS_AS(kernels::matmul(s, x, w, y_f16, path), Error);
    CHECK_THROWS_AS(kernels::matmul(s, x_square, w_square, x_square, path), Error);  // in place
  }
  CHECK(s.dispatch_count() == 0);
  kernels::matmul(s, x, w, y);  // the good arguments do work
  s.submit();
  CHECK(s.dispatch_count() == 1);
}

TEST_CASE("matmul on tensor cores matches the CPU reference where the device has them", "[kernel][matmul]") {
  if (!test::context().active_paths().coopmat) {
    gpu::Stream s(test::context());
    auto x = test::tensor({9, 8}, test::random_vector(72, 1)), w = test::tensor({8, 8}, test::random_vector(64, 2), gpu::DType::F16);
    gpu::Tensor y(test::context(), {9, 8}, gpu::DType::F32, "y");
    CHECK_THROWS_AS(kernels::matmul(s, x, w, y, MatmulPath::CoopMat), Error);  // the path is off: a clear error
    return;
  }
  check_all_shapes(MatmulPath::CoopMat, gpu::DType::F16);
  gpu::Stream s(test::context());
  // Several row tiles, accumulate, aligned and ragged K; N = 384 makes whole interior tiles
  // (stored straight from the fragments, then adding y's old value), N = 257 only edge tiles.
  for (int64_t M : {130, 256, 300})
    for (int64_t N : {257, 384})
      for (int64_t K : {96, 100, 1000})
        for (bool accumulate : {false, true}) {
          CAPTURE(M, N, K, accumulate);
          CHECK(matmul_error(s, {M, K}, N, gpu::DType::F16, MatmulPath::CoopMat, accumulate) <= 1.0);
        }
  // Few rows with a scratch: split over the depth where the tiles are few (batched decode).
  kernels::MatmulScratch scratch;
  for (int64_t M : {9, 64, 128})
    for (int64_t N : {257, 2048})
      for (int64_t K : {100, 1000, 2048})
        for (bool accumulate : {false, true}) {
          CAPTURE(M, N, K, accumulate);
          CHECK(matmul_error(s, {M, K}, N, gpu::DType::F16, MatmulPath::CoopMat, accumulate, 3, &scratch) <= 1.0);
        }
  auto x = test::tensor({64, 2048}, test::random_vector(64 * 2048, 5));
  auto w = test::tensor({2048, 2048}, test::random_vector(2048 * 2048, 6), gpu::DType::F16);
  gpu::Tensor y(test::context(), {64, 2048}, gpu::DType::F32, "y");
  gpu::Stream split(test::context());
  kernels::matmul(split, x, w, y, MatmulPath::CoopMat, false, &scratch);
  CHECK(split.dispatch_count() == 2);  // the slices, then their sum
  split.submit();
  gpu::Stream whole(test::context());
  kernels::matmul(whole, x, w, y, MatmulPath::CoopMat, false, nullptr);
  CHECK(whole.dispatch_count() == 1);  // no scratch: no split
  whole.submit();
}
