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
             std::min<uint32_t>(gpu::div_up(dim, 256), 65535), static_cast<uint32_t>(std::min<int64_t>(count, 65535)));
}

void check_token_ids(const std::vector<int32_t>& ids, int64_t vocab_size) {
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= vocab_size)
      throw Error(fmt::format("token id {} at position {} is outside the vocabulary [0, {})", ids[i], i, vocab_size));
}

}  // namespace retnet::kernels
