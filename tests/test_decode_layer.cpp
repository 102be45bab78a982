// The persistent decode layer against a layer composed of the CPU references of the kernels
// it fuses, its bounded syncs, and its argument checks.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <string>

#include "kernels/decode_layer.hpp"
#include "reference/matmul.hpp"
#include "reference/retention.hpp"
#include "reference/rmsnorm.hpp"
#include "reference/rotary.hpp"
#include "reference/swiglu.hpp"
#include "retnet/error.hpp"
#include "test_support.hpp"

using namespace retnet;

namespace {

constexpr float kEps = 1e-6f;

void add_into(std::vector<float>& h, const std::vector<float>& x) {
  for (size_t i = 0; i < h.size(); ++i) h[i] += x[i];
}

// A layer's weights on the GPU (in `dtype`) and the values they hold.
struct Layer {
  kernels::DecodeLayerShape shape;
  std::vector<gpu::Tensor> tensors;  // in the order of `names`
  std::map<std::string, std::vector<float>> values;
  static constexpr const char* names[] = {"attn_norm", "q_proj", "k_proj", "v_proj", "g_proj", "g_norm",
                                          "o_proj", "mlp_norm", "gate_proj", "up_proj", "down_proj"};

  Layer(const kernels::DecodeLayerShape& c, gpu::DType dtype) : shape(c) {
    const int64_t D = c.hidden, kd = c.heads * c.head_k_dim, vd = c.heads * c.head_v_dim, I = c.intermediate;
    const std::map<std::string, std::vector<int64_t>> shapes = {
        {"attn_norm", {D}},    {"q_proj", {kd, D}},    {"k_proj", {kd, D}},   {"v_proj", {vd, D}},
        {"g_proj", {vd, D}},   {"g_norm", {c.head_v_dim}}, {"o_proj", {D, vd}}, {"mlp_norm", {D}},
        {"gate_proj", {I, D}}, {"up_proj", {I, D}},    {"down_proj", {D, I}}};
    uint32_t seed = 100;
    tensors.reserve(std::size(names));
    for (const char* name : names) {
      const auto& s = shapes.at(name);
      const bool matrix = s.size() == 2;
      auto v = test::random_vector(size_t(gpu::element_count(s)), seed++, matrix ? 1.0f / std::sqrt(float(s[1])) : 0.5f);
      if (!matrix)
        for (auto& x : v) x += 1.0f;  // norm weights around 1
      const gpu::DType dt = matrix ? dtype : gpu::DType::F32;
      tensors.push_back(test::tensor(s, v, dt, name));
      values[name] = test::rounded(v, dt);
    }
  }
  const gpu::Tensor* t(const char* name) const {
    for (size_t i = 0; i < std::size(names); ++i)
      if (std::string(names[i]) == name) return &tensors[i];
    return nullptr;
  }
  kernels::DecodeLayerWeights weights() const {
    return {t("attn_norm"), t("q_proj"), t("k_proj"),    t("v_proj"),  t("g_proj"),   t("g_norm"),
            t("o_proj"),    t("mlp_norm"), t("gate_proj"), t("up_proj"), t("down_proj")};
  }

  // The layer on the CPU: h updated, state updated.
  void reference_step(std::vector<float>& h, std::vector<float>& state, int32_t position) const {
    const auto& c = shape;
    const int64_t D = c.hidden, kd = c.heads * c.head_k_dim, vd = c.heads * c.head_v_dim;
    auto a = reference::rmsnorm(h, values.at("attn_norm"), kEps);
    auto q = reference::matmul(a, values.at("q_proj"), 1, kd, D), k = reference::matmul(a, values.at("k_proj"), 1, kd, D);
    auto v = reference::matmul(a, values.at("v_proj"), 1, vd, D), g = reference::matmul(a, values.at("g_proj"), 1, vd, D);
    reference::rotary(q, {position}, c.heads, c.head_k_dim);
    reference::rotary(k, {position}, c.heads, c.head_k_dim);
    auto o = reference::retention_recurrent(q, k, v, state, {1, 1, c.heads, c.head_k_dim, c.head_v_dim});
    auto gated = reference::rmsnorm_swish_gate(o, g, values.at("g_norm"), kEps);
    add_into(h, reference::matmul(gated, values.at("o_proj"), 1, D, vd));
    auto m = reference::rmsnorm(h, values.at("mlp_norm"), kEps);
    add_into(h, reference::feed_forward(m, values.at("gate_proj"), values.at("up_proj"), values.at("down_proj"), 1, D,
                                        c.intermediate));
  }
};

struct Scratch {
  gpu::Tensor h, q, k, v, g, o, ffn;
  explicit Scratch(const kernels::DecodeLayerShape& c)
      : h(test::context(), {c.hidden}, gpu::DType::F32, "h"),
        q(test::context(), {c.heads * c.head_k_dim}, gpu::DType::F32, "q"),
        k(test::context(), {c.heads * c.head_k_dim}, gpu::DType::F32, "k"),
        v(test::context(), {c.heads * c.head_v_dim}, gpu::DType::F32, "v"),
        g(test::context(), {c.heads * c.head_v_dim}, gpu::DType::F32, "g"),
        o(test::context(), {c.heads * c.head_v_dim}, gpu::DType::F32, "o"),
        ffn(test::context(), {c.intermediate}, gpu::DType::F32, "ffn") {}
  kernels::DecodeLayerActivations activations() { return {&h, &q, &k, &v, &g, &o, &ffn}; }
};

// One workgroup is resident anywhere (lavapipe runs workgroups on a few CPU threads); the
// device's own count where it has one.
std::vector<uint32_t> workgroup_counts() {
  std::vector<uint32_t> counts = {1};
  const uint32_t device = kernels::decode_layer_workgroups(test::context());
  if (device > 1) counts.push_back(device);
  return counts;
}

}  // namespace

TEST_CASE("decode_layer: two steps of a layer equal the CPU references of the kernels it fuses",
          "[kernel][decode][decode_layer]") {
  const std::vector<kernels::DecodeLayerShape> shapes = {
      {64, 2, 16, 32, 96}, {48, 3, 8, 20, 40}, {256, 4, 64, 128, 688}};
  if (!kernels::decode_layer_supported(test::context(), shapes[0], gpu::DType::F32, 1)) {
    WARN("skipped: no subgroup arithmetic");
    return;
  }
  for (const auto& c : shapes)
    for (auto dtype : {gpu::DType::F32, gpu::DType::F16})
      for (uint32_t workgroups : workgroup_counts()) {
        CAPTURE(c.hidden, c.heads, c.head_k_dim, c.head_v_dim, c.intermediate, gpu::dtype_name(dtype), workgroups);
        if (!kernels::decode_layer_supported(test::context(), c, dtype, workgroups)) {
          // Unsupported only where the f16 pieces do not divide the products (48 x 3 x 20).
          CHECK((dtype == gpu::DType::F16 && (c.heads * c.head_v_dim) % 8 != 0));
          continue;
        }
        const Layer layer(c, dtype);
        Scratch a(c);
        auto h = test::random_vector(size_t(c.hidden), 7, 2.0f);
        auto state = test::random_vector(size_t(c.heads * c.head_k_dim * c.head_v_dim), 8, 0.5f);
        a.h.upload(h);
        auto ts = test::tensor({1, c.heads, c.head_k_dim, c.head_v_dim}, state);
        gpu::Tensor sync(test::context(), {kernels::decode_layer_sync_words(2)}, gpu::DType::F32, "sync");
        std::vector<gpu::Tensor> positions;
        for (int32_t p : {77, 78}) {
          positions.emplace_back(test::context(), std::vector<int64_t>{1}, gpu::DType::I32, "position");
          positions.back().upload(std::vector<int32_t>{p});
        }
        gpu::Stream s(test::context());
        s.fill_zero(sync);
        for (uint32_t step = 0; step < 2; ++step)  // two layers' slots, the same weights
          kernels::decode_layer(s, c, layer.weights(), a.activations(), positions[step], ts, sync,
                                {workgroups, step, kEps});
        s.submit();
        for (int32_t p : {77, 78}) layer.reference_step(h, state, p);
        CHECK(sync.download()[0] == 0.0f);
        CHECK(test::max_rel_error(a.h.download(), h) < 1e-4);
        CHECK(test::max_rel_error(ts.download(), state) < 1e-4);
      }
  CHECK(test::context().validation_messages().empty());
}

TEST_CASE("decode_layer: a sync that cannot complete gives up, marks the step and stops later layers",
          "[kernel][decode][decode_layer][errors]") {
  const kernels::DecodeLayerShape c{64, 2, 16, 32, 96};
  if (!kernels::decode_layer_supported(test::context(), c, gpu::DType::F32, 1)) {
    WARN("skipped: no subgroup arithmetic");
    return;
  }
  const Layer layer(c, gpu::DType::F32);
  Scratch a(c);
  const auto h = test::random_vector(size_t(c.hidden), 7, 2.0f);
  const auto state = test::random_vector(size_t(c.heads * c.head_k_dim * c.head_v_dim), 8, 0.5f);
  a.h.upload(h);
  auto ts = test::tensor({1, c.heads, c.head_k_dim, c.head_v_dim}, state);
  gpu::Tensor sync(test::context(), {kernels::decode_layer_sync_words(2)}, gpu::DType::F32, "sync");
  gpu::Tensor position(test::context(), {1}, gpu::DType::I32, "position");
  position.upload(std::vector<int32_t>{3});
  gpu::Stream s(test::context());
  s.fill_zero(sync);
  // Layer 0 waits for a workgroup that never comes; layer 1 (a sound launch) must not run.
  kernels::decode_layer(s, c, layer.weights(), a.activations(), position, ts, sync, {1, 0, kEps, 1});
  kernels::decode_layer(s, c, layer.weights(), a.activations(), position, ts, sync, {1, 1, kEps});
  s.submit();
  CHECK(sync.download()[0] == 1.0f);
  CHECK(a.h.download() == h);  // the first sync comes before anything touches h or the state
  CHECK(ts.download() == state);
  CHECK(test::context().validation_messages().empty());
}

TEST_CASE("decode_layer rejects wrong shapes and says where it cannot run", "[kernel][decode][decode_layer][errors]") {
  const kernels::DecodeLayerShape c{64, 2, 16, 32, 96};
  if (!kernels::decode_layer_supported(test::context(), c, gpu::DType::F32, 1)) {
    WARN("skipped: no subgroup arithmetic");
    return;
  }
  CHECK_FALSE(kernels::decode_layer_supported(test::context(), c, gpu::DType::F32, 0));
  CHECK_FALSE(kernels::decode_layer_supported(test::context(), {64, 2, 15, 32, 96}, gpu::DType::F32, 1));  // odd dk
  CHECK_FALSE(kernels::decode_layer_supported(test::context(), {64, 2, 16, 30, 96}, gpu::DType::F32, 1));  // dv % 4
  const Layer layer(c, gpu::DType::F32);
  Scratch a(c);
  auto ts = test::tensor({1, c.heads, c.head_k_dim, c.head_v_dim},
                         std::vector<float>(size_t(c.heads * c.head_k_dim * c.head_v_dim)));
  gpu::Tensor sync(test::context(), {kernels::decode_layer_sync_words(1)}, gpu::DType::F32, "sync");
  gpu::Tensor position(test::context(), {1}, gpu::DType::I32, "position");
  gpu::Tensor wide_h(test::context(), {c.hidden + 4}, gpu::DType::F32, "wide_h");
  gpu::Tensor state_t(test::context(), {1, c.heads, c.head_v_dim, c.head_k_dim}, gpu::DType::F32, "state_transposed");
  gpu::Stream s(test::context());
  auto acts = a.activations();
  CHECK_THROWS_WITH(kernels::decode_layer(s, c, layer.weights(), acts, position, state_t, sync, {1, 0, kEps}),
                    Catch::Contains("state_transposed"));
  CHECK_THROWS_WITH(kernels::decode_layer(s, c, layer.weights(), acts, position, ts, sync, {1, 1, kEps}),
                    Catch::Contains("no word for layer 1"));
  acts.h = &wide_h;
  CHECK_THROWS_WITH(kernels::decode_layer(s, c, layer.weights(), acts, position, ts, sync, {1, 0, kEps}),
                    Catch::Contains("wide_h"));
  auto w = layer.weights();
  w.o_proj = w.q_proj;
  CHECK_THROWS_WITH(kernels::decode_layer(s, c, w, a.activations(), position, ts, sync, {1, 0, kEps}),
                    Catch::Contains("q_proj"));
}
