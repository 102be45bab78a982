#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "kernels/embedding.hpp"
#include "reference/embedding.hpp"
#include "retnet/error.hpp"
#include "test_support.hpp"

using namespace retnet;

namespace {

std::vector<float> gather(const std::vector<int32_t>& tokens, const std::vector<float>& table, int64_t vocab,
                          int64_t dim, gpu::DType dtype) {
  auto tt = test::tensor({vocab, dim}, table, dtype, "table");
  gpu::Tensor tok(test::context(), {int64_t(tokens.size())}, gpu::DType::I32, "tokens");
  tok.upload(tokens);
  gpu::Tensor out(test::context(), {int64_t(tokens.size()), dim}, gpu::DType::F32, "out");
  gpu::Stream s(test::context());
  kernels::embedding(s, tok, tt, out);
  s.submit();
  return out.download();
}

}  // namespace

// A gather copies values: the result must equal the (f16-rounded) table exactly.
TEST_CASE("embedding matches the CPU reference for f32 and f16 tables", "[kernel][embedding]") {
  struct Shape {
    int64_t tokens, vocab, dim;
  };
  const std::vector<Shape> shapes = {{1, 2, 8},     {7, 10, 9},   {63, 100, 33},  {129, 64, 1023},
                                     {7, 6, 8193},  {1, 1, 8192}, {129, 7, 256},  {70000, 4, 8}};  // > 65535 tokens
  uint32_t seed = 1;
  for (auto dtype : {gpu::DType::F32, gpu::DType::F16}) {
    for (auto [count, vocab, dim] : shapes) {
      INFO(fmt::format("{} tokens, table [{}, {}] {}", count, vocab, dim, gpu::dtype_name(dtype)));
      const auto table = test::random_vector(vocab * dim, seed++, 3.0f);
      const auto tokens = test::random_tokens(count, int32_t(vocab), seed++);
      const auto expected = reference::embedding(tokens, test::rounded(table, dtype), vocab, dim);
      CHECK(test::max_rel_error(gather(tokens, table, vocab, dim, dtype), expected) == 0.0);
    }
  }
}

TEST_CASE("embedding writes zeros for token ids outside the vocabulary", "[kernel][embedding]") {
  const int64_t vocab = 6, dim = 5;
  const auto table = test::random_vector(vocab * dim, 3);
  const std::vector<int32_t> tokens = {2, -1, 6, 5, 1 << 30, 0};
  for (auto dtype : {gpu::DType::F32, gpu::DType::F16}) {
    const auto out = gather(tokens, table, vocab, dim, dtype);
    CHECK(test::max_rel_error(out, reference::embedding(tokens, test::rounded(table, dtype), vocab, dim)) == 0.0);
    for (int64_t j = 0; j < dim; ++j) {
      CHECK(out[1 * dim + j] == 0.0f);
      CHECK(out[2 * dim + j] == 0.0f);
      CHECK(out[4 * dim + j] == 0.0f);
    }
  }
}

TEST_CASE("check_token_ids rejects ids outside the vocabulary and names the first", "[kernel][embedding][errors]") {
  CHECK_NOTHROW(kernels::check_token_ids({0, 5, 9}, 10));
  CHECK_NOTHROW(kernels::check_token_ids({}, 10));
  CHECK_THROWS_AS(kernels::check_token_ids({0, -1}, 10), Error);
  CHECK_THROWS_AS(kernels::check_token_ids({10}, 10), Error);
  CHECK_THROWS_WITH(kernels::check_token_ids({3, 4, 10, -1}, 10),
                    Catch::Contains("token id 10") && Catch::Contains("position 2"));
  CHECK_THROWS_WITH(kernels::check_token_ids({3, -1}, 10), Catch::Contains("token id -1") && Catch::Contains("position 1"));
}

TEST_CASE("embedding rejects bad arguments", "[kernel][embedding][errors]") {
  auto& ctx = test::context();
  auto table = test::tensor({4, 6}, test::random_vector(24, 1));
  auto odd_f16 = test::tensor({3, 5}, test::random_vector(15, 1), gpu::DType::F16);
  auto flat = test::tensor({24}, test::random_vector(24, 1));
  gpu::Tensor tokens(ctx, {3}, gpu::DType::I32, "tokens"), tokens_f(ctx, {3}, gpu::DType::F32, "tokens");
  gpu::Tensor out(ctx, {3, 6}, gpu::DType::F32, "out"), out_wrong(ctx, {3, 5}, gpu::DType::F32, "out");
  gpu::Tensor out_f16(ctx, {3, 6}, gpu::DType::F16, "out"), out5(ctx, {3, 5}, gpu::DType::F32, "out");
  gpu::Stream s(ctx);
  CHECK_THROWS_AS(kernels::embedding(s, tokens_f, table, out), Error);
  CHECK_THROWS_AS(kernels::embedding(s, tokens, table, out_wrong), Error);
  CHECK_THROWS_AS(kernels::embedding(s, tokens, table, out_f16), Error);
  CHECK_THROWS_AS(kernels::embedding(s, tokens, flat, out), Error);
  CHECK_THROWS_AS(kernels::embedding(s, tokens, odd_f16, out5), Error);
  CHECK(s.dispatch_count() == 0);
}
