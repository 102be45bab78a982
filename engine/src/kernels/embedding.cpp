#include "kernels/embedding.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "kernels/checks.hpp"
#include "retnet/error.hpp"

namespace retnet::kernels {

void embedding(gpu::Stream& s, const gpu::Tensor& tokens, const gpu::Tensor& table, gpu::Tensor& out) {
  const char* kernel = "embedding";
  require_dtype(tokens, gpu::DType::I32, kernel);
  require_float(table, kernel);
  require_dtype(out, gpu::DType::F32, kernel);
  require_rank(tokens, 1, kernel);
  require_rank(table, 2, kernel);
  const int64_t count = tokens.dim(0), vocab = table.dim(0), dim = table.dim(1);
  require_shape(out, {count, dim}, kernel);
  require_u32_index(table.numel(), "table elements", kernel);
  require_u32_index(out.numel(), "out elements", kernel);
  const bool f16 = table.dtype() == gpu::DType::F16;
  if (f16 && table.numel() % 2 != 0)
    throw Error(fmt::format("{}: f16 table {} needs an even number of elements (it is read as 32-bit words)", kernel,
                            table.describe()));
  if (out.numel() == 0) return;
  struct {
    uint32_t tokens_count, vocab, dim;
  } push{static_cast<uint32_t>(count), static_cast<uint32_t>(vocab), static_cast<uint32_t>(dim)};
  s.dispatch(f16 ? "embedding_f16" : "embedding", {gpu::out(out), gpu::in(tokens), gpu::in(table)}, push,
             std::min<uint32_t>(gpu::div_up(dim, 256), gpu::kMaxGroupsPerDimension), static_cast<uint32_t>(std::min<int64_t>(count, gpu::kMaxGroupsPerDimension)));
}

// The grouping's words for C positions: the number U of distinct ids, the ids [C] (U used),
// the offsets of each id's positions [C + 1] (U + 1 used), the positions [C] grouped by id
// (see embedding_backward.comp). Fixed by C alone, so a recording can be replayed with other
// tokens of the same count.
int64_t embedding_grouping_words(int64_t count) { return 3 * count + 2; }

void group_positions_by_id(const std::vector<int32_t>& tokens, int64_t vocab, int32_t* words) {
  check_token_ids(tokens, vocab);
  const int64_t count = static_cast<int64_t>(tokens.size());
  // A counting sort keeps each id's positions ascending.
  std::vector<int32_t> ids(tokens);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  const int64_t distinct = static_cast<int64_t>(ids.size());
  words[0] = int32_t(distinct);
  std::copy(ids.begin(), ids.end(), words + 1);
  int32_t* offsets = words + 1 + count;
  int32_t* positions = offsets + count + 1;
  std::vector<int32_t> slot(static_cast<size_t>(vocab), -1);  // id -> group
  for (int64_t g = 0; g < distinct; ++g) slot[static_cast<size_t>(ids[static_cast<size_t>(g)])] = int32_t(g);
  std::vector<int32_t> counts(static_cast<size_t>(distinct) + 1, 0);
  for (int32_t id : tokens) ++counts[static_cast<size_t>(slot[static_cast<size_t>(id)]) + 1];
  for (int64_t g = 0; g < distinct; ++g) counts[size_t(g) + 1] += counts[size_t(g)];
  std::copy(counts.begin(), counts.end(), offsets);
  for (int64_t t = 0; t < count; ++t)
    positions[counts[static_cast<size_t>(slot[static_cast<size_t>(tokens[size_t(t)])])]++] = int32_t(t);
}

namespace {
// The checks of both entry points; returns the rows of d_out.
int64_t check_embedding_backward(const gpu::Tensor& d_out, const gpu::Tensor& d_table, const char* kernel) {
  require_dtype(d_out, gpu::DType::F32, kernel);
  require_dtype(d_table, gpu::DType::F32, kernel);
  require_rank(d_table, 2, kernel);
  require_rank(d_out, 2, kernel);
  if (d_out.dim(1) != d_table.dim(1))
    throw Error(fmt::format("{}: {} and {} must have the same columns", kernel, d_out.describe(), d_table.describe()));
  if (d_table.buffer() == d_out.buffer())
    throw Error(fmt::format("{}: output {} must not be an input", kernel, d_table.describe()));
  require_u32_index(d_table.numel(), "d_table elements", kernel);
  require_u32_index(d_out.numel(), "d_out elements", kernel);
  require_u32_index(embedding_grouping_words(d_out.dim(0)), "grouping words", kernel);
  return d_out.dim(0);
}
}  // namespace

void embedding_backward_grouped(gpu::Stream& s, const gpu::Tensor& grouping, const gpu::Tensor& d_out,
                                gpu::Tensor& d_table) {
  const char* kernel = "embedding_backward";
  const int64_t count = check_embedding_backward(d_out, d_table, kernel);
  require_dtype(grouping, gpu::DType::I32, kernel);
  if (grouping.numel() < embedding_grouping_words(count))
    throw Error(fmt::format("{}: grouping {} must hold {} words for {} positions", kernel, grouping.describe(),
                            embedding_grouping_words(count), count));
  const int64_t dim = d_table.dim(1);
  if (count == 0 || dim == 0) return;
  struct {
    uint32_t count, dim;
  } push{static_cast<uint32_t>(count), static_cast<uint32_t>(dim)};
  // One workgroup row per position at most: the distinct ids are known only on the GPU.
  s.dispatch("embedding_backward", {gpu::out(d_table), gpu::in(d_out), gpu::in(grouping)}, push,
             std::min<uint32_t>(gpu::div_up(dim, 256), gpu::kMaxGroupsPerDimension),
             static_cast<uint32_t>(std::min<int64_t>(count, gpu::kMaxGroupsPerDimension)));
}

void embedding_backward(gpu::Stream& s, const std::vector<int32_t>& tokens, const gpu::Tensor& d_out,
                        gpu::Tensor& d_table) {
  const char* kernel = "embedding_backward";
  const int64_t count = static_cast<int64_t>(tokens.size());
  require_rank(d_table, 2, kernel);
  require_shape(d_out, {count, d_table.dim(1)}, kernel);
  check_embedding_backward(d_out, d_table, kernel);
  const int64_t words = embedding_grouping_words(count);
  std::vector<int32_t> groups(static_cast<size_t>(words));
  group_positions_by_id(tokens, d_table.dim(0), groups.data());
  if (count == 0 || d_table.dim(1) == 0) return;
  gpu::Tensor& grouping =
      s.keep_until_submit(gpu::Tensor(s.context(), {words}, gpu::DType::I32, "embedding_backward groups"));
  s.upload(grouping, groups.data(), groups.size() * sizeof(int32_t));
  embedding_backward_grouped(s, grouping, d_out, d_table);
}

void check_token_ids(const std::vector<int32_t>& ids, int64_t vocab_size) {
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= vocab_size)
      throw Error(fmt::format("token id {} at position {} is outside the vocabulary [0, {})", ids[i], i, vocab_size));
}

}  // namespace retnet::kernels
