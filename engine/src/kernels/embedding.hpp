#pragma once
#include <cstdint>
#include <vector>

#include "gpu/stream.hpp"

namespace retnet::kernels {

// out[t, :] = table[tokens[t], :]. tokens i32 [T], table f32 or f16 [V, D], out f32 [T, D].
// Callers validate token ids on the host (check_token_ids); the shader still never reads out
// of bounds: a token id outside [0, V) produces a row of zeros.
// An f16 table must have an even number of elements (V * D): the shader reads it as 32-bit
// words and a tensor's buffer holds exactly its bytes.
void embedding(gpu::Stream& s, const gpu::Tensor& tokens, const gpu::Tensor& table, gpu::Tensor& out);

// Backward of the gather: d_table[v, :] += sum of d_out[t, :] over the positions t with
// tokens[t] == v (it accumulates, so gradients add up over micro-batches; zero d_table first
// for a plain gradient). d_out f32 [T, D] with T = tokens.size(), d_table f32 [V, D]; ids are
// checked (check_token_ids). Deterministic, no atomics: the host groups the positions by id
// and one workgroup sums each distinct id's rows in ascending position order (the grouping in
// a buffer of the call's own; a caller that keeps one uses the two parts below).
void embedding_backward(gpu::Stream& s, const std::vector<int32_t>& tokens, const gpu::Tensor& d_out,
                        gpu::Tensor& d_table);

// embedding_backward in its two parts, for a recording replayed with new tokens: the grouping
// of count positions by id, made on the host into embedding_grouping_words(count) int32s
// (ids checked), and the dispatch, which reads it from `grouping` (i32, at least that many
// elements) for the count = d_out.dim(0) rows of d_out.
int64_t embedding_grouping_words(int64_t count);
void group_positions_by_id(const std::vector<int32_t>& tokens, int64_t vocab_size, int32_t* words);
void embedding_backward_grouped(gpu::Stream& s, const gpu::Tensor& grouping, const gpu::Tensor& d_out,
                                gpu::Tensor& d_table);

// Throws retnet::Error naming the first id outside [0, vocab_size) and its position.
void check_token_ids(const std::vector<int32_t>& ids, int64_t vocab_size);

}  // namespace retnet::kernels
