#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "kernels/retention.hpp"
#include "kernels/retention_chunk_passes.hpp"
#include "reference/retention.hpp"
#include "retnet/error.hpp"
#include "retention_test_shapes.hpp"
#include "test_support.hpp"

using namespace retnet;
using reference::RetentionShape;
using test::describe;
using test::qk_shape;
using test::qk_size;
using test::state_shape;
using test::state_size;
using test::vo_shape;
using test::vo_size;

namespace {

// fp32 kernels against the double-precision reference, and the fp32 forms against each other.
constexpr double kTolerance = 1e-5;
// The part inside chunks with f16 products (q, k, v and the scores rounded to f16, sums f32).
constexpr double kTensorCoreTolerance = 4e-3;

struct Inputs {
  std::vector<float> q, k, v;
};

Inputs random_inputs(const RetentionShape& s, uint32_t seed) {
  return {test::random_vector(qk_size(s), seed), test::random_vector(qk_size(s), seed + 1),
          test::random_vector(vo_size(s), seed + 2)};
}

enum class Form { Parallel, Chunkwise, Recurrent };

// Runs one GPU form; `state` (ignored by the parallel form) goes in and comes back updated.
// The chunkwise form uses `scratch` when given (else a fresh one with the default budget);
// *dispatches, when given, receives the number of dispatches the call recorded.
std::vector<float> run_gpu(Form form, const RetentionShape& s, const Inputs& in, std::vector<float>& state,
                           int64_t chunk = 0, kernels::RetentionChunkScratch* scratch = nullptr,
                           uint32_t* dispatches = nullptr, bool f16_products = false) {
  kernels::RetentionChunkScratch own_scratch;
  if (!scratch) scratch = &own_scratch;
  auto q = test::tensor(qk_shape(s), in.q, gpu::DType::F32, "q");
  auto k = test::tensor(qk_shape(s), in.k, gpu::DType::F32, "k");
  auto v = test::tensor(vo_shape(s), in.v, gpu::DType::F32, "v");
  auto st = test::tensor(state_shape(s), state, gpu::DType::F32, "state");
  // o starts as garbage: every form must overwrite all of it.
  auto o = test::tensor(vo_shape(s), test::random_vector(vo_size(s), 99, 1e3f), gpu::DType::F32, "o");
  gpu::Stream stream(test::context());
  if (form == Form::Parallel) kernels::retention_parallel(stream, q, k, v, o);
  if (form == Form::Chunkwise) kernels::retention_chunkwise(stream, q, k, v, st, o, chunk, *scratch, f16_products);
  if (form == Form::Recurrent) kernels::retention_recurrent(stream, q, k, v, st, o);
  if (dispatches) *dispatches = stream.dispatch_count();
  stream.submit();
  state = st.download();
  return o.download();
}

// Tokens [t0, t1) of a [N, T, H, width] array.
std::vector<float> token_slice(const std::vector<float>& x, const RetentionShape& s, int64_t width, int64_t t0,
                               int64_t t1) {
  std::vector<float> out;
  for (int64_t n = 0; n < s.n; ++n) {
    auto begin = x.begin() + (n * s.t + t0) * s.h * width;
    out.insert(out.end(), begin, begin + (t1 - t0) * s.h * width);
  }
  return out;
}

// Writes `part` ([N, t1 - t0, H, width]) into tokens [t0, t1) of `x`.
void put_tokens(std::vector<float>& x, const std::vector<float>& part, const RetentionShape& s, int64_t width,
                int64_t t0, int64_t t1) {
  const int64_t rows = (t1 - t0) * s.h * width;
  for (int64_t n = 0; n < s.n; ++n)
    std::copy_n(part.begin() + n * rows, rows, x.begin() + (n * s.t + t0) * s.h * width);
}

RetentionShape with_tokens(RetentionShape s, int64_t t) {
  s.t = t;
  return s;
}

}  // namespace

TEST_CASE("retention reference: the three forms agree and match a hand-computed case", "[reference][retention]") {
  // T = 2, one head, dk = dv = 1 (scale 1), gamma = 1 - 1/32:
  // o_0 = q0 k0 v0, o_1 = q1 (k1 v1 + gamma k0 v0); S = gamma k0 v0 + k1 v1.
  {
    const RetentionShape s{1, 2, 1, 1, 1};
    const std::vector<float> q{2, 3}, k{5, 7}, v{11, 13};
    const double gamma = 1 - 1.0 / 32;
    const std::vector<float> expected{float(2 * 5 * 11), float(3 * (7 * 13 + gamma * 5 * 11))};
    CHECK_CLOSE(reference::retention_parallel(q, k, v, s), expected, 1e-7);
    std::vector<float> state{0};
    CHECK_CLOSE(reference::retention_recurrent(q, k, v, state, s), expected, 1e-7);
    CHECK(state[0] == Approx(gamma * 5 * 11 + 7 * 13).epsilon(1e-7));
  }
  CHECK(reference::retention_gamma(3) == 1 - 1.0 / 256);

  const RetentionShape s{2, 37, 3, 12, 10};
  const Inputs in = random_inputs(s, 1);
  const auto parallel = reference::retention_parallel(in.q, in.k, in.v, s);
  std::vector<float> recurrent_state(state_size(s), 0.0f);
  const auto recurrent = reference::retention_recurrent(in.q, in.k, in.v, recurrent_state, s);
  CHECK_CLOSE(recurrent, parallel, 1e-6);
  for (int64_t chunk : {1, 5, 16, 64}) {
    INFO("chunk " << chunk);
    std::vector<float> state(state_size(s), 0.0f);
    CHECK_CLOSE(reference::retention_chunkwise(in.q, in.k, in.v, state, s, chunk), parallel, 1e-6);
    CHECK_CLOSE(state, recurrent_state, 1e-6);
    // From a non-zero state, chunkwise and recurrent still agree.
    std::vector<float> a = test::random_vector(state_size(s), 7), b = a;
    const auto oa = reference::retention_chunkwise(in.q, in.k, in.v, a, s, chunk);
    const auto ob = reference::retention_recurrent(in.q, in.k, in.v, b, s);
    CHECK_CLOSE(oa, ob, 1e-6);
    CHECK_CLOSE(a, b, 1e-6);
  }
}

TEST_CASE("retention forms on the GPU match the CPU reference", "[kernel][retention]") {
  const RetentionShape shapes[] = {
      {1, 1, 1, 8, 8}, {2, 7, 3, 32, 100}, {1, 63, 8, 256, 32}, {2, 129, 3, 8, 256},
      {1, 129, 1, 256, 256}, {2, 63, 2, 100, 8}, {2, 37, 2, 20, 13},
  };
  uint32_t seed = 10;
  for (const RetentionShape& s : shapes) {
    INFO(describe(s));
    const Inputs in = random_inputs(s, seed += 3);
    const auto expected = reference::retention_parallel(in.q, in.k, in.v, s);
    std::vector<float> expected_state(state_size(s), 0.0f);
    reference::retention_recurrent(in.q, in.k, in.v, expected_state, s);

    std::vector<float> unused(state_size(s), 0.0f);
    CHECK_CLOSE(run_gpu(Form::Parallel, s, in, unused), expected, kTolerance);

    std::vector<float> state(state_size(s), 0.0f);
    CHECK_CLOSE(run_gpu(Form::Recurrent, s, in, state), expected, kTolerance);
    CHECK_CLOSE(state, expected_state, kTolerance);

    for (int64_t chunk : {1, 16, 64}) {
      INFO("chunk " << chunk);
      std::fill(state.begin(), state.end(), 0.0f);
      CHECK_CLOSE(run_gpu(Form::Chunkwise, s, in, state, chunk), expected, kTolerance);
      CHECK_CLOSE(state, expected_state, kTolerance);
    }

    // Continuing from a non-zero state (a session that already saw some tokens).
    const auto initial = test::random_vector(state_size(s), seed + 100);
    std::vector<float> ref_state = initial, gpu_state = initial;
    const auto ref_o = reference::retention_recurrent(in.q, in.k, in.v, ref_state, s);
    CHECK_CLOSE(run_gpu(Form::Recurrent, s, in, gpu_state), ref_o, kTolerance);
    CHECK_CLOSE(gpu_state, ref_state, kTolerance);
    ref_state = initial, gpu_state = initial;
    const auto ref_chunk_o = reference::retention_chunkwise(in.q, in.k, in.v, ref_state, s, 32);
    CHECK_CLOSE(run_gpu(Form::Chunkwise, s, in, gpu_state, 32), ref_chunk_o, kTolerance);
    CHECK_CLOSE(gpu_state, ref_state, kTolerance);
  }
}

TEST_CASE("retention chunkwise on the GPU: initial state, ragged chunks, groups of chunks", "[kernel][retention]") {
  // Each case from a random (non-zero) initial state, against the CPU chunkwise reference with
  // the same chunk size, output and final state. `budget` > 0 lowers the scratch budget to
  // that many dk x dv states; the call must then take `passes` passes (blocks of sequences x
  // heads times groups of chunks, spread evenly), each of two dispatches, and allocate
  // `scratch` states.
  struct Case {
    RetentionShape shape;
    int64_t chunk;
    double budget;    // in dk x dv states; 0: the default budget (one pass here)
    int64_t passes;   // expected where budget > 0
    int64_t scratch;  // expected states in the scratch where budget > 0
    const char* what;
  };
  const Case cases[] = {
      {{2, 50, 3, 16, 24}, 16, 0, 0, 0, "ragged last chunk (50 = 3 x 16 + 2)"},
      {{1, 10, 2, 8, 12}, 64, 0, 0, 0, "T < chunk"},
      {{2, 9, 2, 12, 20}, 1, 0, 0, 0, "chunk size 1"},
      {{2, 23, 3, 5, 7}, 4, 0, 0, 0, "odd head dims"},
      {{1, 250, 2, 20, 40}, 100, 0, 0, 0, "chunks longer than a query tile, ragged"},
      {{2, 200, 4, 64, 128}, 64, 0, 0, 0, "realistic head dims"},
      // 8 sequences x heads, 5 chunks; 2.9 chunks fit: groups of 2, 2, 1.
      {{2, 300, 4, 64, 128}, 64, 23.5, 3, 16, "realistic head dims in 3 groups of chunks"},
      // 2 sequences x heads, 13 chunks; 3 chunks fit: 5 groups (3, 3, 3, 3, 1).
      {{1, 100, 2, 8, 16}, 8, 6.5, 5, 6, "13 chunks in 5 groups"},
      // 1 head, 9 chunks; 4 fit: 3 groups of 3 rather than 4, 4, 1.
      {{1, 54, 1, 8, 8}, 6, 4.99, 3, 3, "9 chunks in 3 even groups"},
      // 3 heads, 10 chunks; one chunk fits: 10 groups of 1.
      {{1, 37, 3, 5, 7}, 4, 3, 10, 3, "10 groups of one chunk"},
      // 2 heads, 3 chunks of 32 positions; one chunk fits: 3 groups.
      {{1, 70, 2, 256, 512}, 32, 2, 3, 2, "the widest heads, 3 groups"},
      // 6 sequences x heads, 5 chunks; 4 states fit: 2 blocks of 3 heads, each 5 groups of 1.
      {{2, 40, 3, 12, 20}, 8, 4, 10, 3, "blocks of sequences x heads"},
      // Less than one state: one (sequence, head) and one chunk at a time.
      {{2, 20, 2, 16, 8}, 8, 0.5, 12, 1, "a budget below one state"},
  };
  // The cases with the default budget share one scratch (it grows, and a larger one is reused
  // for smaller calls); a lowered budget gets a fresh one, to see what it allocates.
  kernels::RetentionChunkScratch shared_scratch;
  uint32_t seed = 200;
  for (const Case& c : cases) {
    const RetentionShape& s = c.shape;
    INFO(describe(s) << " chunk " << c.chunk << ": " << c.what);
    const Inputs in = random_inputs(s, seed += 4);
    const auto initial = test::random_vector(state_size(s), seed + 3);
    std::vector<float> ref_state = initial, gpu_state = initial;
    const auto expected = reference::retention_chunkwise(in.q, in.k, in.v, ref_state, s, c.chunk);

    const int64_t matrix = s.dk * s.dv;
    kernels::RetentionChunkScratch own_scratch;
    kernels::RetentionChunkScratch& scratch = c.budget > 0 ? own_scratch : shared_scratch;
    if (c.budget > 0) scratch.budget_bytes = int64_t(c.budget * double(matrix * 4));
    uint32_t dispatches = 0;
    CHECK_CLOSE(run_gpu(Form::Chunkwise, s, in, gpu_state, c.chunk, &scratch, &dispatches), expected, kTolerance);
    CHECK_CLOSE(gpu_state, ref_state, kTolerance);
    if (c.budget > 0) {
      CHECK(dispatches == 2 * c.passes);
      CHECK(scratch.states.capacity() == c.scratch * matrix);
    } else {
      CHECK(dispatches == 2);
      CHECK(scratch.states.capacity() >= int64_t(state_size(s)) * ((s.t + c.chunk - 1) / c.chunk));
    }
  }
}

TEST_CASE("retention chunkwise with f16 products on tensor cores matches the reference", "[kernel][retention]") {
  // From a non-zero state: the output within kTensorCoreTolerance (f16 products), the state
  // within twice that (its updates are f16 products too, summed in f32). `budget` > 0 lowers
  // the scratch budget to that many dk x dv states, so the call takes `passes` passes of two
  // dispatches (blocks of sequences x heads times groups of chunks). Heads of 64-multiples take
  // the prefill kernels (retention_chunk_states_coopmat + retention_chunk_output_coopmat);
  // other 32-multiples the scaled tensor-core states (retention_chunk_states_coopmat again,
  // scaled by the maxima of k and v) and rows (retention_chunk_rows_coopmat), and three more
  // dispatches for the maxima of q, k and v (the states kernel finds the states' own). q and v
  // scaled by 1e-6 and 1e4 would leave f16's range (q k^T below its normal numbers, the states
  // above 65504) without that scaling.
  struct Case {
    RetentionShape shape;
    double budget;
    int64_t passes;
    float q_scale, v_scale;
    const char* what;
  };
  const Case cases[] = {
      {{1, 150, 2, 256, 512}, 0, 1, 1, 1, "the 1.3b model's heads, a ragged last chunk (150 = 2 x 64 + 22)"},
      {{2, 128, 3, 64, 128}, 0, 1, 1, 1, "whole chunks only, several sequences"},
      {{1, 64, 1, 128, 64}, 0, 1, 1, 1, "one chunk"},
      {{1, 100, 2, 192, 64}, 0, 1, 1, 1, "three slices of q and k, a ragged last chunk"},
      // 4 sequences x heads, 5 chunks; 3 states fit: 2 blocks of 2, each 5 groups of 1.
      {{2, 300, 2, 64, 128}, 3, 10, 1, 1, "blocks and groups"},
      // 10 states fit: one block of 4, groups of 2, 2, 1.
      {{2, 300, 2, 64, 128}, 10, 3, 1, 1, "groups of chunks"},
      {{1, 150, 2, 96, 192}, 0, 1, 1, 1, "the small config's heads (rows on tensor cores), a ragged last chunk"},
      {{2, 200, 3, 32, 96}, 0, 1, 1e-6f, 1e4f, "tiny q and large v (scaled rows)"},
      {{2, 300, 2, 96, 32}, 3, 10, 1, 1, "scaled rows in blocks and groups"},
  };
  // Where the device has no tensor cores for it, the f16 request takes the f32 kernels (also two
  // dispatches per pass) with their accuracy.
  uint32_t seed = 400;
  for (const Case& c : cases) {
    const RetentionShape& s = c.shape;
    INFO(describe(s) << ": " << c.what);
    const bool prefill_kernels = kernels::retention_chunks_on_tensor_cores(test::context(), s.t, s.dk, s.dv, 64);
    const bool scaled_rows = !prefill_kernels && kernels::chunk_rows_on_tensor_cores(test::context(), 64, s.dk, s.dv);
    Inputs in = random_inputs(s, seed += 4);
    for (auto& x : in.q) x *= c.q_scale;
    for (auto& x : in.v) x *= c.v_scale;
    std::vector<float> ref_state = test::random_vector(state_size(s), seed + 3, c.v_scale), gpu_state = ref_state;
    const auto expected = reference::retention_chunkwise(in.q, in.k, in.v, ref_state, s, 64);
    kernels::RetentionChunkScratch scratch;
    // The prefill kernels keep the chunk states in f16 (their output pass rounds them so).
    const double state_bytes = double(s.dk * s.dv) * (prefill_kernels ? 2 : 4);
    if (c.budget > 0) scratch.budget_bytes = int64_t(c.budget * state_bytes);
    uint32_t dispatches = 0;
    const double tolerance = prefill_kernels || scaled_rows ? kTensorCoreTolerance : kTolerance;
    CHECK_CLOSE(run_gpu(Form::Chunkwise, s, in, gpu_state, 64, &scratch, &dispatches, true), expected, tolerance);
    // The state's updates are f16 products on tensor cores (summed in f32), f32 elsewhere.
    CHECK_CLOSE(gpu_state, ref_state, prefill_kernels || scaled_rows ? 2 * kTensorCoreTolerance : kTolerance);
    CHECK(dispatches == (scaled_rows ? 3 : 0) + 2 * c.passes);
  }
  CHECK(test::context().validation_messages().empty());
}

TEST_CASE("retention chunkwise scratch that grows between two calls of one recording", "[kernel][retention]") {
  // The second call needs a larger scratch than the first allocated, before anything was
  // submitted: the first call's commands still use the old buffer, which must live until the
  // submit (a freed buffer would give validation errors or garbage in the first output).
  const RetentionShape small{1, 40, 2, 8, 16}, large{2, 90, 2, 8, 16};
  const Inputs in_small = random_inputs(small, 300), in_large = random_inputs(large, 310);
  std::vector<float> ref_small(state_size(small), 0.0f), ref_large(state_size(large), 0.0f);
  const auto expected_small = reference::retention_chunkwise(in_small.q, in_small.k, in_small.v, ref_small, small, 16);
  const auto expected_large = reference::retention_chunkwise(in_large.q, in_large.k, in_large.v, ref_large, large, 16);

  auto upload = [](const RetentionShape& s, const Inputs& in) {
    return std::array<gpu::Tensor, 5>{test::tensor(qk_shape(s), in.q), test::tensor(qk_shape(s), in.k),
                                      test::tensor(vo_shape(s), in.v),
                                      test::tensor(state_shape(s), std::vector<float>(state_size(s), 0.0f)),
                                      test::tensor(vo_shape(s), std::vector<float>(vo_size(s), 0.0f))};
  };
  auto a = upload(small, in_small), b = upload(large, in_large);
  kernels::RetentionChunkScratch scratch;
  gpu::Stream stream(test::context());
  kernels::retention_chunkwise(stream, a[0], a[1], a[2], a[3], a[4], 16, scratch);
  const int64_t first_capacity = scratch.states.capacity();
  kernels::retention_chunkwise(stream, b[0], b[1], b[2], b[3], b[4], 16, scratch);
  CHECK(first_capacity == 3 * int64_t(state_size(small)));  // 3 chunks of 2 heads
  CHECK(scratch.states.capacity() == 6 * int64_t(state_size(large)));  // 6 chunks of 4 sequences x heads
  stream.submit();
  CHECK_CLOSE(a[4].download(), expected_small, kTolerance);
  CHECK_CLOSE(a[3].download(), ref_small, kTolerance);
  CHECK_CLOSE(b[4].download(), expected_large, kTolerance);
  CHECK_CLOSE(b[3].download(), ref_large, kTolerance);
}

TEST_CASE("retention GPU forms agree with each other on long sequences", "[kernel][retention]") {
  // H = 8 includes slowly decaying heads (gamma_7 = 1 - 2^-12: gamma^4096 = 0.37), so the
  // whole sequence matters. Small head dims keep the O(T^2) parallel form fast on lavapipe;
  // the last shape has the state split over several threads per column (dk = 256).
  const RetentionShape shapes[] = {{1, 4096, 8, 8, 8}, {1, 1000, 8, 16, 16}, {2, 300, 3, 256, 40}};
  uint32_t seed = 50;
  for (const RetentionShape& s : shapes) {
    INFO(describe(s));
    const Inputs in = random_inputs(s, seed += 3);
    std::vector<float> unused(state_size(s), 0.0f);
    const auto parallel = run_gpu(Form::Parallel, s, in, unused);
    std::vector<float> recurrent_state(state_size(s), 0.0f);
    const auto recurrent = run_gpu(Form::Recurrent, s, in, recurrent_state);
    CHECK_CLOSE(recurrent, parallel, kTolerance);
    for (int64_t chunk : {16, 32, 64, 128}) {
      INFO("chunk " << chunk);
      std::vector<float> state(state_size(s), 0.0f);
      CHECK_CLOSE(run_gpu(Form::Chunkwise, s, in, state, chunk), parallel, kTolerance);
      CHECK_CLOSE(state, recurrent_state, kTolerance);
    }
  }
}

TEST_CASE("retention chunkwise prefill then recurrent decode equals the parallel form", "[kernel][retention]") {
  const RetentionShape s{2, 100, 4, 32, 48};
  const Inputs in = random_inputs(s, 80);
  std::vector<float> unused(state_size(s), 0.0f);
  const auto parallel = run_gpu(Form::Parallel, s, in, unused);
  CHECK_CLOSE(parallel, reference::retention_parallel(in.q, in.k, in.v, s), kTolerance);
  std::vector<float> expected_state(state_size(s), 0.0f);
  reference::retention_recurrent(in.q, in.k, in.v, expected_state, s);

  for (auto [prefill, chunk] : {std::pair<int64_t, int64_t>{57, 16}, {64, 32}, {1, 128}}) {
    INFO("prefill " << prefill << " chunk " << chunk);
    std::vector<float> state(state_size(s), 0.0f), o(vo_size(s));
    const RetentionShape head = with_tokens(s, prefill);
    const Inputs head_in{token_slice(in.q, s, s.dk, 0, prefill), token_slice(in.k, s, s.dk, 0, prefill),
                         token_slice(in.v, s, s.dv, 0, prefill)};
    put_tokens(o, run_gpu(Form::Chunkwise, head, head_in, state, chunk), s, s.dv, 0, prefill);
    // Decode one token per call, each call continuing from the state the last one left.
    const RetentionShape one = with_tokens(s, 1);
    for (int64_t t = prefill; t < s.t; ++t) {
      const Inputs tok{token_slice(in.q, s, s.dk, t, t + 1), token_slice(in.k, s, s.dk, t, t + 1),
                       token_slice(in.v, s, s.dv, t, t + 1)};
      put_tokens(o, run_gpu(Form::Recurrent, one, tok, state), s, s.dv, t, t + 1);
    }
    CHECK_CLOSE(o, parallel, kTolerance);
    CHECK_CLOSE(state, expected_state, kTolerance);
  }
}

TEST_CASE("retention rejects inconsistent shapes", "[kernel][retention][errors]") {
  auto f32 = [](const std::vector<int64_t>& shape) { return test::zeros(shape); };
  gpu::Stream s(test::context());
  auto q = f32({1, 5, 2, 8}), k = f32({1, 5, 2, 8}), v = f32({1, 5, 2, 12}), o = f32({1, 5, 2, 12});
  auto state = f32({1, 2, 8, 12});
  // Consistent arguments are accepted (and recorded).
  kernels::RetentionChunkScratch scratch;
  CHECK_NOTHROW(kernels::retention_chunkwise(s, q, k, v, state, o, 16, scratch));

  auto k_dim = f32({1, 5, 2, 4});           // q/k head dims differ
  auto v_tokens = f32({1, 6, 2, 12});       // v has other tokens
  auto o_wrong = f32({1, 5, 2, 8});         // o must have dv columns
  auto state_wrong = f32({1, 2, 12, 8});    // transposed state
  auto q_rank3 = f32({5, 2, 8});
  auto q_f16 = test::tensor({1, 5, 2, 8}, std::vector<float>(80, 0.0f), gpu::DType::F16);
  CHECK_THROWS_AS(kernels::retention_parallel(s, q, k_dim, v, o), Error);
  CHECK_THROWS_AS(kernels::retention_parallel(s, q, k, v_tokens, o), Error);
  CHECK_THROWS_AS(kernels::retention_parallel(s, q, k, v, o_wrong), Error);
  CHECK_THROWS_AS(kernels::retention_parallel(s, q_rank3, k, v, o), Error);
  CHECK_THROWS_AS(kernels::retention_parallel(s, q_f16, k, v, o), Error);
  CHECK_THROWS_AS(kernels::retention_recurrent(s, q, k, v, state_wrong, o), Error);
  CHECK_THROWS_AS(kernels::retention_recurrent(s, q, k_dim, v, state, o), Error);
  CHECK_THROWS_AS(kernels::retention_chunkwise(s, q, k, v, state_wrong, o, 16, scratch), Error);
  CHECK_THROWS_AS(kernels::retention_chunkwise(s, q, k, v_tokens, state, o, 16, scratch), Error);
  CHECK_THROWS_AS(kernels::retention_chunkwise(s, q, k, v, state, o, 0, scratch), Error);
  CHECK_THROWS_AS(kernels::retention_chunkwise(s, q, k, v, state, o, -4, scratch), Error);
  s.submit();
}
