// The fused decode kernels against the CPU references of the kernels they fuse.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "kernels/decode.hpp"
#include "reference/matmul.hpp"
#include "reference/retention.hpp"
#include "reference/rmsnorm.hpp"
#include "reference/rotary.hpp"
#include "reference/swiglu.hpp"
#include "retnet/error.hpp"
#include "test_support.hpp"

using namespace retnet;

namespace {

constexpr double kTolerance = 2e-5;  // f32 sums in another order than the reference's
constexpr float kEps = 1e-6f;

std::vector<float> plus(std::vector<float> a, const std::vector<float>& b) {
  for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
  return a;
}

// A random [N, K] weight in `dtype`, and the values it holds.
struct Weight {
  gpu::Tensor tensor;
  std::vector<float> values;
};
Weight random_weight(int64_t N, int64_t K, gpu::DType dtype, uint32_t seed) {
  auto w = test::random_vector(size_t(N * K), seed, 0.5f);
  return {test::tensor({N, K}, w, dtype, "w"), test::rounded(w, dtype)};
}

}  // namespace

TEST_CASE("decode_matvec: RMSNorm then four products equals rmsnorm and four matmuls", "[kernel][decode]") {
  if (!kernels::decode_matvec_supported(test::context(), 264, 0, true, gpu::DType::F32)) {
    WARN("skipped: no subgroup arithmetic");
    return;
  }
  for (auto dtype : {gpu::DType::F32, gpu::DType::F16})
    for (int64_t K : {8, 264, 2048, 6144}) {  // 6144: more input than the threads preload
      for (bool accumulate : {false, true}) {
        CAPTURE(gpu::dtype_name(dtype), K, accumulate);
        const std::vector<int64_t> rows = {33, 1, 64, 7};
        auto x = test::random_vector(size_t(K), 1, 3.0f), nw = test::random_vector(size_t(K), 2);
        auto tx = test::tensor({1, K}, x), tnw = test::tensor({K}, nw);
        std::vector<Weight> w;
        std::vector<gpu::Tensor> y;
        std::vector<std::vector<float>> y0;
        for (size_t i = 0; i < rows.size(); ++i) {
          w.push_back(random_weight(rows[i], K, dtype, 10 + uint32_t(i)));
          y0.push_back(test::random_vector(size_t(rows[i]), 20 + uint32_t(i)));
          y.push_back(test::tensor({1, rows[i]}, y0.back()));
        }
        auto record = [&](gpu::Stream& s) {
          kernels::decode_matvec(s, {&tx, &tnw, nullptr, 0, kEps},
                                 {{&w[0].tensor, &y[0]}, {&w[1].tensor, &y[1]}, {&w[2].tensor, &y[2]},
                                  {&w[3].tensor, &y[3]}},
                                 accumulate);
        };
        gpu::Stream s(test::context());
        if (!kernels::decode_matvec_supported(test::context(), K, 0, true, dtype)) {
          CHECK_THROWS_AS(record(s), Error);  // the input does not fit the device's shared memory
          continue;
        }
        record(s);
        s.submit();
        const auto normed = reference::rmsnorm(x, nw, kEps);
        for (size_t i = 0; i < rows.size(); ++i) {
          CAPTURE(i);
          auto expected = reference::matmul(normed, w[i].values, 1, rows[i], K);
          if (accumulate) expected = plus(expected, y0[i]);
          CHECK(test::max_rel_error(y[i].download(), expected) < kTolerance);
        }
      }
    }
  CHECK(test::context().validation_messages().empty());
}

TEST_CASE("decode_matvec: the gated head norm then o_proj equals rmsnorm_swish_gate and a matmul",
          "[kernel][decode]") {
  if (!kernels::decode_matvec_supported(test::context(), 96, 24, true, gpu::DType::F32)) {
    WARN("skipped: no subgroup arithmetic");
    return;
  }
  for (auto dtype : {gpu::DType::F32, gpu::DType::F16})
    for (auto [heads, head_dim] : std::vector<std::pair<int64_t, int64_t>>{{1, 8}, {4, 24}, {8, 512}, {12, 512}, {64, 8}}) {
      const int64_t K = heads * head_dim, N = 45;
      CAPTURE(gpu::dtype_name(dtype), heads, head_dim);
      auto o = test::random_vector(size_t(K), 3, 2.0f), g = test::random_vector(size_t(K), 4, 4.0f);
      auto gw = test::random_vector(size_t(head_dim), 5);
      auto h0 = test::random_vector(size_t(N), 6);
      auto to = test::tensor({1, K}, o), tg = test::tensor({1, K}, g), tgw = test::tensor({head_dim}, gw);
      auto th = test::tensor({1, N}, h0);
      Weight w = random_weight(N, K, dtype, 7);
      gpu::Stream s(test::context());
      if (!kernels::decode_matvec_supported(test::context(), K, head_dim, true, dtype)) {
        // the input does not fit the device's shared memory
        CHECK_THROWS_AS(kernels::decode_matvec(s, {&to, &tgw, &tg, head_dim, kEps}, {{&w.tensor, &th}}, true), Error);
        continue;
      }
      kernels::decode_matvec(s, {&to, &tgw, &tg, head_dim, kEps}, {{&w.tensor, &th}}, true);
      s.submit();
      const auto gated = reference::rmsnorm_swish_gate(o, g, gw, kEps);
      CHECK(test::max_rel_error(th.download(), plus(reference::matmul(gated, w.values, 1, N, K), h0)) < kTolerance);
    }
  CHECK(test::context().validation_messages().empty());
}

TEST_CASE("decode_matvec_swiglu equals rmsnorm, the gate and up matmuls and swiglu", "[kernel][decode]") {
  if (!kernels::decode_matvec_supported(test::context(), 264, 0, true, gpu::DType::F32)) {
    WARN("skipped: no subgroup arithmetic");
    return;
  }
  for (auto dtype : {gpu::DType::F32, gpu::DType::F16})
    for (auto [K, N] : std::vector<std::pair<int64_t, int64_t>>{{8, 3}, {264, 100}, {4096, 37}}) {
      CAPTURE(gpu::dtype_name(dtype), K, N);
      auto x = test::random_vector(size_t(K), 8, 2.0f), nw = test::random_vector(size_t(K), 9);
      auto tx = test::tensor({1, K}, x), tnw = test::tensor({K}, nw);
      gpu::Tensor ty(test::context(), {1, N}, gpu::DType::F32, "y");
      Weight gate = random_weight(N, K, dtype, 30), up = random_weight(N, K, dtype, 31);
      gpu::Stream s(test::context());
      if (!kernels::decode_matvec_supported(test::context(), K, 0, true, dtype)) {
        // the input does not fit the device's shared memory
        CHECK_THROWS_AS(kernels::decode_matvec_swiglu(s, {&tx, &tnw, nullptr, 0, kEps}, gate.tensor, up.tensor, ty),
                        Error);
        continue;
      }
      kernels::decode_matvec_swiglu(s, {&tx, &tnw, nullptr, 0, kEps}, gate.tensor, up.tensor, ty);
      s.submit();
      const auto normed = reference::rmsnorm(x, nw, kEps);
      const auto expected = reference::swiglu(reference::matmul(normed, gate.values, 1, N, K),
                                              reference::matmul(normed, up.values, 1, N, K));
      CHECK(test::max_rel_error(ty.download(), expected) < kTolerance);
    }
  CHECK(test::context().validation_messages().empty());
}

TEST_CASE("decode_matvec without a norm, many rows, and the rows of a long input", "[kernel][decode]") {
  if (!kernels::decode_matvec_supported(test::context(), 4096, 0, false, gpu::DType::F16)) {
    WARN("skipped: no room for the input");
    return;
  }
  for (auto [K, N] : std::vector<std::pair<int64_t, int64_t>>{{4096, 9}, {64, 5000}}) {
    CAPTURE(K, N);
    auto x = test::random_vector(size_t(K), 40);
    auto tx = test::tensor({K}, x);
    gpu::Tensor ty(test::context(), {N}, gpu::DType::F32, "y");
    Weight w = random_weight(N, K, gpu::DType::F16, 41);
    gpu::Stream s(test::context());
    kernels::decode_matvec(s, {&tx}, {{&w.tensor, &ty}}, false);
    s.submit();
    CHECK(test::max_rel_error(ty.download(), reference::matmul(x, w.values, 1, N, K)) < kTolerance);
  }
}

TEST_CASE("decode_matvec says where it cannot run and rejects bad arguments", "[kernel][decode][errors]") {
  auto& ctx = test::context();
  CHECK_FALSE(kernels::decode_matvec_supported(ctx, 12, 0, false, gpu::DType::F16));  // not whole 8-half pieces
  CHECK_FALSE(kernels::decode_matvec_supported(ctx, 96, 10, true, gpu::DType::F32)); // groups do not tile K
  CHECK_FALSE(kernels::decode_matvec_supported(ctx, 1 << 20, 0, false, gpu::DType::F32));  // input too long
  auto options = ctx.options();
  options.allow.subgroups = false;
  Context no_subgroups(options);
  CHECK_FALSE(kernels::decode_matvec_supported(no_subgroups, 64, 0, false, gpu::DType::F32));
  {
    auto x = test::random_vector(64, 1);
    gpu::Tensor tx(no_subgroups, {64}, gpu::DType::F32, "x"), tw(no_subgroups, {4, 64}, gpu::DType::F32, "w"),
        ty(no_subgroups, {4}, gpu::DType::F32, "y");
    gpu::Stream s(no_subgroups);
    CHECK_THROWS_WITH(kernels::decode_matvec(s, {&tx}, {{&tw, &ty}}, false), Catch::Contains("not supported"));
  }
  if (!kernels::decode_matvec_supported(ctx, 64, 0, false, gpu::DType::F32)) return;
  auto tx = test::tensor({64}, test::random_vector(64, 1));
  auto tw = test::tensor({4, 64}, test::random_vector(256, 2));
  auto tw_wide = test::tensor({4, 72}, test::random_vector(288, 3));
  gpu::Tensor ty(ctx, {4}, gpu::DType::F32, "y"), ty_short(ctx, {3}, gpu::DType::F32, "y_short");
  gpu::Stream s(ctx);
  CHECK_THROWS_WITH(kernels::decode_matvec(s, {&tx}, {{&tw_wide, &ty}}, false), Catch::Contains("72"));
  CHECK_THROWS_WITH(kernels::decode_matvec(s, {&tx}, {{&tw, &ty_short}}, false), Catch::Contains("y_short"));
  CHECK_THROWS_WITH(kernels::decode_matvec(s, {&tx}, {{&tw, &ty}, {&tw_wide, &ty}}, false),
                    Catch::Contains("same columns"));
  auto tg = test::tensor({64}, test::random_vector(64, 4));
  CHECK_THROWS_WITH(kernels::decode_matvec(s, {&tx, nullptr, &tg, 16}, {{&tw, &ty}}, false),
                    Catch::Contains("norm weight"));
}

TEST_CASE("retention_decode equals rotary of q and k then one recurrent step", "[kernel][decode][retention]") {
  struct Case {
    int64_t n, h, dk, dv;
    int32_t position;
  };
  for (const Case& c : std::vector<Case>{{1, 1, 2, 1, 0}, {2, 3, 8, 7, 5}, {1, 2, 64, 130, 99999},
                                         {3, 2, 34, 16, 1 << 20}, {1, 8, 256, 512, 8191}}) {
    if (!kernels::retention_decode_supported(test::context(), c.dk, c.dv)) continue;
    CAPTURE(c.n, c.h, c.dk, c.dv, c.position);
    const reference::RetentionShape shape{c.n, 1, c.h, c.dk, c.dv};
    auto q = test::random_vector(size_t(c.n * c.h * c.dk), 50), k = test::random_vector(size_t(c.n * c.h * c.dk), 51);
    auto v = test::random_vector(size_t(c.n * c.h * c.dv), 52);
    auto state = test::random_vector(size_t(c.n * c.h * c.dk * c.dv), 53, 4.0f);
    std::vector<int32_t> positions(size_t(c.n));
    for (int64_t i = 0; i < c.n; ++i) positions[i] = c.position + int32_t(17 * i);
    const auto q_given = q;
    auto tq = test::tensor({c.n, 1, c.h, c.dk}, q), tk = test::tensor({c.n, 1, c.h, c.dk}, k);
    auto tv = test::tensor({c.n, 1, c.h, c.dv}, v), ts = test::tensor({c.n, c.h, c.dk, c.dv}, state);
    gpu::Tensor to(test::context(), {c.n, 1, c.h, c.dv}, gpu::DType::F32, "o");
    gpu::Tensor tp(test::context(), {c.n}, gpu::DType::I32, "positions");
    tp.upload(positions);
    gpu::Stream s(test::context());
    kernels::retention_decode(s, tq, tk, tv, tp, ts, to);
    s.submit();
    reference::rotary(q, positions, c.h, c.dk);
    reference::rotary(k, positions, c.h, c.dk);
    const auto o = reference::retention_recurrent(q, k, v, state, shape);
    CHECK(test::max_rel_error(to.download(), o) < kTolerance);
    CHECK(test::max_rel_error(ts.download(), state) < kTolerance);
    CHECK(tq.download() == q_given);  // q itself is left unrotated
  }
  CHECK(test::context().validation_messages().empty());
}

TEST_CASE("retention_decode_states steps each sequence of a batch with its own state",
          "[kernel][decode][retention]") {
  // Two dispatches: a full array of states, then a group of 3 (the rest of its array repeats
  // its first state, which no workgroup reads).
  const int64_t N = kernels::kStatesPerDispatch + 3, H = 2, dk = 16, dv = 12;
  if (!kernels::retention_decode_states_supported(test::context(), dk, dv)) {
    WARN("this device indexes no arrays of storage buffers: retention_decode_states not tested");
    return;
  }
  const reference::RetentionShape one{1, 1, H, dk, dv};
  auto q = test::random_vector(size_t(N * H * dk), 60), k = test::random_vector(size_t(N * H * dk), 61);
  auto v = test::random_vector(size_t(N * H * dv), 62);
  std::vector<int32_t> positions(N);
  for (int64_t n = 0; n < N; ++n) positions[n] = static_cast<int32_t>((n * 977) % 5000);
  auto tq = test::tensor({N, 1, H, dk}, q), tk = test::tensor({N, 1, H, dk}, k), tv = test::tensor({N, 1, H, dv}, v);
  gpu::Tensor tp(test::context(), {N}, gpu::DType::I32, "positions");
  tp.upload(positions);
  auto to = test::zeros({N, 1, H, dv});
  std::vector<std::vector<float>> states;
  std::vector<gpu::Tensor> ts;
  std::vector<gpu::Tensor*> own;
  for (int64_t n = 0; n < N; ++n) {
    states.push_back(test::random_vector(size_t(H * dk * dv), 63 + uint32_t(n), 2.0f));
    ts.push_back(test::tensor({1, H, dk, dv}, states.back()));
  }
  for (auto& t : ts) own.push_back(&t);
  gpu::Stream s(test::context());
  kernels::retention_decode_states(s, tq, tk, tv, tp, own, to);
  s.submit();
  const auto o = to.download();
  for (int64_t n = 0; n < N; ++n) {
    CAPTURE(n);
    auto slice = [&](const std::vector<float>& x, int64_t width) {
      return std::vector<float>(x.begin() + n * width, x.begin() + (n + 1) * width);
    };
    auto qn = slice(q, H * dk), kn = slice(k, H * dk);
    reference::rotary(qn, {positions[n]}, H, dk);
    reference::rotary(kn, {positions[n]}, H, dk);
    auto state = states[n];
    const auto want = reference::retention_recurrent(qn, kn, slice(v, H * dv), state, one);
    CHECK(test::max_rel_error(slice(o, H * dv), want) < kTolerance);
    CHECK(test::max_rel_error(ts[n].download(), state) < kTolerance);
  }
  CHECK(test::context().validation_messages().empty());

  // One state per sequence, each of one sequence.
  CHECK_THROWS_WITH(kernels::retention_decode_states(s, tq, tk, tv, tp, {own[0], own[1]}, to),
                    Catch::Contains(fmt::format("2 states for a batch of {}", N)));
  gpu::Tensor two(test::context(), {2, H, dk, dv}, gpu::DType::F32, "two_states");
  own[5] = &two;
  CHECK_THROWS_WITH(kernels::retention_decode_states(s, tq, tk, tv, tp, own, to), Catch::Contains("two_states"));
}

TEST_CASE("retention_decode rejects wrong shapes", "[kernel][decode][retention][errors]") {
  auto& ctx = test::context();
  gpu::Tensor q(ctx, {1, 1, 2, 8}, gpu::DType::F32, "q"), k(ctx, {1, 1, 2, 8}, gpu::DType::F32, "k"),
      v(ctx, {1, 1, 2, 4}, gpu::DType::F32, "v"), o(ctx, {1, 1, 2, 4}, gpu::DType::F32, "o"),
      state(ctx, {1, 2, 8, 4}, gpu::DType::F32, "state"), p(ctx, {1}, gpu::DType::I32, "positions");
  gpu::Tensor q2(ctx, {1, 2, 2, 8}, gpu::DType::F32, "q_two_positions"), s_bad(ctx, {1, 2, 4, 8}, gpu::DType::F32,
                                                                              "state_transposed");
  gpu::Tensor p_bad(ctx, {2}, gpu::DType::I32, "positions_two");
  gpu::Stream s(ctx);
  CHECK_THROWS_WITH(kernels::retention_decode(s, q2, q2, v, p, state, o), Catch::Contains("one position"));
  CHECK_THROWS_WITH(kernels::retention_decode(s, q, k, v, p, s_bad, o), Catch::Contains("state_transposed"));
  CHECK_THROWS_WITH(kernels::retention_decode(s, q, k, v, p_bad, state, o), Catch::Contains("positions_two"));
  // A batch of two sequences with the state of one.
  gpu::Tensor q_two(ctx, {2, 1, 2, 8}, gpu::DType::F32, "q"), v_two(ctx, {2, 1, 2, 4}, gpu::DType::F32, "v"),
      o_two(ctx, {2, 1, 2, 4}, gpu::DType::F32, "o");
  CHECK_THROWS_WITH(kernels::retention_decode(s, q_two, q_two, v_two, p_bad, state, o_two), Catch::Contains("state"));
}
