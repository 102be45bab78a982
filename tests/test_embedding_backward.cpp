#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <cmath>
#include <vector>

#include "kernels/embedding.hpp"
#include "reference/embedding.hpp"
#include "retnet/error.hpp"
#include "test_support.hpp"

using namespace retnet;

namespace {

// The GPU sums each id's rows in f32 (ascending positions) and adds the sum to d_table; the
// reference sums in double. Error relative to the output's scale (test::max_rel_error):
// measured at most 1.3e-6 on lavapipe (up to ~10000 rows per id); 1e-5 as for the matmuls.
constexpr double kTolerance = 1e-5;

// d_table (starting from `initial`) after embedding_backward on the GPU.
std::vector<float> gpu_backward(gpu::Stream& s, const std::vector<int32_t>& tokens, const std::vector<float>& d_out,
                                const std::vector<float>& initial, int64_t vocab, int64_t dim) {
  auto tout = test::tensor({int64_t(tokens.size()), dim}, d_out, gpu::DType::F32, "d_out");
  auto ttable = test::tensor({vocab, dim}, initial, gpu::DType::F32, "d_table");
  kernels::embedding_backward(s, tokens, tout, ttable);
  s.submit();
  return ttable.download();
}

}  // namespace

TEST_CASE("embedding backward reference matches central finite differences", "[embedding_backward]") {
  // loss(table) = sum(embedding(tokens, table) * r): dL/d_out = r. Linear in the table, so
  // central differences are exact up to rounding: 1e-8 relative (double, h = 1e-3;
  // measured 8e-14).
  const int64_t vocab = 5, dim = 3;
  const std::vector<int32_t> tokens = {1, 3, 1, 0, 1, 3};  // 2 never used, 1 three times
  const auto r = test::to_double(test::random_vector(tokens.size() * dim, 1));
  const auto table = test::to_double(test::random_vector(vocab * dim, 2));
  const auto analytic = reference::embedding_backward(tokens, r, vocab, dim);
  const auto numeric = test::numeric_gradient(
      [&](const std::vector<double>& t) { return test::weighted_sum(reference::embedding(tokens, t, vocab, dim), r); },
      table, 1e-3);
  CHECK(test::max_rel_error(analytic, numeric) <= 1e-8);
  for (int64_t j = 0; j < dim; ++j) CHECK(analytic[2 * dim + j] == 0.0);  // id 2 unused
}

TEST_CASE("embedding backward matches the reference with repeated tokens", "[embedding_backward]") {
  struct Shape {
    int64_t tokens, vocab, dim;
  };
  // Few ids for many tokens (heavy repetition), more ids than tokens, dims around the 256
  // threads of a workgroup, and 20000 tokens whose grouping (> 64 KiB) takes the staging upload.
  const std::vector<Shape> shapes = {{1, 1, 1},     {7, 3, 5},      {63, 100, 33},   {300, 13, 257},
                                     {129, 1000, 8}, {2000, 2, 17}, {20000, 50, 3}, {5000, 4000, 9}};
  gpu::Stream s(test::context());
  uint32_t seed = 1;
  for (auto [count, vocab, dim] : shapes) {
    INFO(fmt::format("{} tokens, table [{}, {}]", count, vocab, dim));
    const auto tokens = test::random_tokens(count, int32_t(vocab), seed++);
    const auto d_out = test::random_vector(count * dim, seed++);
    const auto initial = test::random_vector(vocab * dim, seed++);
    auto expected = reference::embedding_backward(tokens, d_out, vocab, dim);
    for (size_t i = 0; i < expected.size(); ++i) expected[i] += initial[i];
    const auto got = gpu_backward(s, tokens, d_out, initial, vocab, dim);
    CHECK(test::max_rel_error(got, expected) <= kTolerance);
    // Rows of ids that never occur are untouched, bit for bit.
    std::vector<bool> used(vocab, false);
    for (int32_t t : tokens) used[t] = true;
    bool untouched = true;
    for (int64_t v = 0; v < vocab; ++v)
      if (!used[v])
        for (int64_t j = 0; j < dim; ++j) untouched = untouched && got[v * dim + j] == initial[v * dim + j];
    CHECK(untouched);
    // Deterministic: a second run gives the same bits.
    CHECK(gpu_backward(s, tokens, d_out, initial, vocab, dim) == got);
  }
}

TEST_CASE("embedding backward accumulates over calls in one stream", "[embedding_backward]") {
  // Two micro-batches recorded back to back add up; the second grouping upload must not
  // clobber the first before it is used.
  const int64_t vocab = 9, dim = 40;
  const auto a = test::random_tokens(50, vocab, 1), b = test::random_tokens(70, vocab, 2);
  const auto da = test::random_vector(50 * dim, 3), db = test::random_vector(70 * dim, 4);
  auto ta = test::tensor({50, dim}, da, gpu::DType::F32, "da");
  auto tb = test::tensor({70, dim}, db, gpu::DType::F32, "db");
  gpu::Tensor table(test::context(), {vocab, dim}, gpu::DType::F32, "d_table");
  gpu::Stream s(test::context());
  s.fill_zero(table);
  kernels::embedding_backward(s, a, ta, table);
  kernels::embedding_backward(s, b, tb, table);
  s.submit();
  auto expected = reference::embedding_backward(a, da, vocab, dim);
  const auto eb = reference::embedding_backward(b, db, vocab, dim);
  for (size_t i = 0; i < expected.size(); ++i) expected[i] += eb[i];
  CHECK(test::max_rel_error(table.download(), expected) <= kTolerance);
}

TEST_CASE("embedding backward from a grouping written into a replayed recording", "[embedding_backward]") {
  // The grouping's layout depends on the count of positions alone: one recording, replayed
  // with other tokens written into its host input, matches the reference each time.
  const int64_t vocab = 13, dim = 24, count = 60;
  const auto d_out = test::random_vector(count * dim, 7);
  auto tout = test::tensor({count, dim}, d_out, gpu::DType::F32, "d_out");
  gpu::Tensor table(test::context(), {vocab, dim}, gpu::DType::F32, "d_table");
  gpu::Tensor grouping(test::context(), {kernels::embedding_grouping_words(count)}, gpu::DType::I32, "grouping");
  gpu::Stream s(test::context());
  s.fill_zero(table);
  auto* words = static_cast<int32_t*>(
      s.host_input(grouping, size_t(kernels::embedding_grouping_words(count)) * sizeof(int32_t)));
  kernels::embedding_backward_grouped(s, grouping, tout, table);
  s.seal();
  for (int32_t distinct : {13, 1, 5}) {  // every id, one id only, a few
    INFO("distinct ids " << distinct);
    auto tokens = test::random_tokens(count, distinct, uint32_t(distinct));
    kernels::group_positions_by_id(tokens, vocab, words);
    s.replay();
    CHECK(test::max_rel_error(table.download(), reference::embedding_backward(tokens, d_out, vocab, dim)) <=
          kTolerance);
    gpu::Stream clear(test::context());
    clear.fill_zero(table);
    clear.submit();
  }
  CHECK_THROWS_WITH(kernels::group_positions_by_id({0, 13}, vocab, words), Catch::Contains("token id 13"));
  gpu::Tensor short_grouping(test::context(), {kernels::embedding_grouping_words(count) - 1}, gpu::DType::I32, "g");
  gpu::Stream t(test::context());
  CHECK_THROWS_WITH(kernels::embedding_backward_grouped(t, short_grouping, tout, table), Catch::Contains("words"));
}

TEST_CASE("embedding backward rejects bad token ids shapes and dtypes", "[embedding_backward][errors]") {
  auto& ctx = test::context();
  gpu::Stream s(ctx);
  const std::vector<int32_t> tokens = {0, 3, 3};
  auto d_out = test::tensor({3, 6}, test::random_vector(18, 1));
  auto table = test::tensor({4, 6}, test::random_vector(24, 2));
  gpu::Tensor out_wrong(ctx, {3, 5}, gpu::DType::F32, "d_out"), out_rows(ctx, {2, 6}, gpu::DType::F32, "d_out");
  gpu::Tensor out_f16(ctx, {3, 6}, gpu::DType::F16, "d_out"), table_f16(ctx, {4, 6}, gpu::DType::F16, "d_table");
  gpu::Tensor table_1d(ctx, {24}, gpu::DType::F32, "d_table"), out_1d(ctx, {18}, gpu::DType::F32, "d_out");
  CHECK_THROWS_AS(kernels::embedding_backward(s, {0, 4, 1}, d_out, table), Error);  // id == vocab
  CHECK_THROWS_AS(kernels::embedding_backward(s, {0, -1, 1}, d_out, table), Error);
  CHECK_THROWS_WITH(kernels::embedding_backward(s, {0, 1, 7}, d_out, table),
                    Catch::Contains("token id 7") && Catch::Contains("position 2"));
  CHECK_THROWS_AS(kernels::embedding_backward(s, tokens, out_wrong, table), Error);
  CHECK_THROWS_AS(kernels::embedding_backward(s, tokens, out_rows, table), Error);
  CHECK_THROWS_AS(kernels::embedding_backward(s, tokens, out_1d, table), Error);
  CHECK_THROWS_AS(kernels::embedding_backward(s, tokens, out_f16, table), Error);
  CHECK_THROWS_AS(kernels::embedding_backward(s, tokens, d_out, table_f16), Error);
  CHECK_THROWS_AS(kernels::embedding_backward(s, tokens, d_out, table_1d), Error);
  auto square = test::tensor({3, 3}, test::random_vector(9, 3));
  CHECK_THROWS_AS(kernels::embedding_backward(s, {0, 1, 2}, square, square), Error);  // in place
  CHECK(s.dispatch_count() == 0);
  kernels::embedding_backward(s, {}, test::tensor({0, 6}, {}), table);  // no tokens: nothing to do
  CHECK(s.dispatch_count() == 0);
  kernels::embedding_backward(s, tokens, d_out, table);
  s.submit();
  CHECK(s.dispatch_count() == 1);
}
