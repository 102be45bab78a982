// retnet-bench: measures, on one device, decode ms/token after long contexts, batched decode
// tokens/s, prefill tokens/s, peak GPU memory, the device's copy bandwidth, and each decode
// figure as a fraction of the bandwidth roofline (weight bytes read per step / bandwidth).
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "bench/random_model.hpp"
#include "gpu/stream.hpp"
#include "model/model_impl.hpp"
#include "retnet/error.hpp"
#include "retnet/model.hpp"
#include "kernels/decode.hpp"
#include "kernels/matmul.hpp"
#include "train/trainable_model.hpp"

using clock_type = std::chrono::steady_clock;

namespace {

double ms_since(clock_type::time_point t) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t).count();
}

std::vector<int32_t> tokens(int64_t n, int64_t vocab, uint64_t seed) {
  std::vector<int32_t> out(n);
  for (auto& t : out) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    t = static_cast<int32_t>((seed >> 33) % static_cast<uint64_t>(std::min<int64_t>(vocab, 256)));
  }
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Median milliseconds of `rounds` submissions of what `record` records into `s`, after one that
// warms up: GPU time where the device has timestamps (the stream's context profiles), else the
// wall clock.
double median_submission_ms(retnet::gpu::Stream& s, int rounds, const std::function<void()>& record) {
  std::vector<double> times;
  for (int i = 0; i <= rounds; ++i) {
    auto t0 = clock_type::now();
    record();
    s.submit();
    double wall = ms_since(t0), gpu = 0;
    for (const auto& t : s.timings()) gpu += t.ms;
    if (i > 0) times.push_back(gpu > 0 ? gpu : wall);
  }
  return median(times);
}

// Device-to-device copy bandwidth through a shader (16-byte loads and stores), counting bytes
// read plus bytes written, timed with GPU timestamps where the device has them.
double copy_bandwidth_gbs(const retnet::ContextOptions& device_options) {
  using namespace retnet::gpu;
  auto options = device_options;
  options.profiling = true;  // its own context: timestamps here, none in the decode measurements
  retnet::Context ctx(options);
  int64_t n = std::min<int64_t>(int64_t(1) << 28, ctx.device().max_buffer_bytes / 4 / 2);  // up to 1 GiB each
  n -= n % 4;
  Tensor a(ctx, {n}, DType::F32, "copy source"), b(ctx, {n}, DType::F32, "copy destination");
  Stream s(ctx);
  s.fill_zero(a);
  s.submit();
  struct { uint32_t n; } push{static_cast<uint32_t>(n / 4)};
  const uint32_t groups = static_cast<uint32_t>(std::min<int64_t>(retnet::gpu::kMaxGroupsPerDimension, (n / 4 + 255) / 256));
  const double ms = median_submission_ms(s, 5, [&] {
    for (int r = 0; r < 4; ++r) s.dispatch("copy_vec4", {in(r % 2 ? b : a), out(r % 2 ? a : b)}, push, groups);
  }) / 4;
  return 2.0 * n * 4 / (ms * 1e-3) / 1e9;
}

// Device read bandwidth through a shader (16-byte loads, next to nothing written), timed with
// GPU timestamps where the device has them: over a whole buffer of up to 1 GiB in one dispatch
// ("streaming"), and over windows of `window_bytes` at successive offsets, one dependent
// dispatch each ("windows": what a decode step's products read between two syncs, with each
// dispatch's ramp and drain).
nlohmann::json read_bandwidth(const retnet::ContextOptions& device_options, int64_t window_bytes) {
  using namespace retnet::gpu;
  auto options = device_options;
  options.profiling = true;
  retnet::Context ctx(options);
  int64_t n = std::min<int64_t>(int64_t(1) << 28, ctx.device().max_buffer_bytes / 4);  // floats, up to 1 GiB
  n -= n % 4;
  Tensor src(ctx, {n}, DType::F32, "read source");
  constexpr int64_t kGroups = 4096;  // a million threads, each summing its share of the words
  Tensor sink(ctx, {4 * 256 * kGroups}, DType::F32, "read sink");
  Stream s(ctx);
  s.fill_zero(src);
  s.submit();
  // GB/s of `shader` reading `windows` dependent windows of `words` 16-byte words each.
  auto timed_gb_s = [&](const char* shader, uint32_t groups, const std::vector<uint32_t>& specialization,
                        int64_t words, int windows) {
    struct { uint32_t n, first; float never; } push{uint32_t(words), 0, -1.0f};
    const double ms = median_submission_ms(s, 3, [&] {
      for (int w = 0; w < windows; ++w) {
        push.first = uint32_t((int64_t(w) * words) % (n / 4 - words + 1));
        s.dispatch(shader, {in(src), out(sink)}, push, groups, 1, 1, specialization);
      }
    });
    return double(words) * 16 * windows / (ms * 1e-3) / 1e9;
  };
  auto gb_s = [&](int64_t words, int windows) {
    return timed_gb_s("read_vec4", uint32_t(std::min<int64_t>(kGroups, (words + 255) / 256)), {}, words, windows);
  };
  const int64_t window_words = std::clamp<int64_t>(window_bytes / 16, 1, n / 4);
  const double streaming = gb_s(n / 4, 1), windows = gb_s(window_words, 16);
  fmt::print("read bandwidth: {:.0f} GB/s streaming {} MiB, {:.0f} GB/s in dependent dispatches of {:.1f} MiB\n",
             streaming, n * 4 >> 20, windows, window_words * 16 / 1048576.0);
  nlohmann::json result = {{"streaming_gb_s", streaming}, {"window_gb_s", windows}, {"window_bytes", window_words * 16}};
  // RETNET_READ_SHAPES="132x512x4,...": the same reads at launch shapes of workgroups x threads
  // x words in flight per lane (read_batched.comp), over the whole buffer and in dependent
  // windows of 100 MB (about one decode layer's weights; less where the buffer is smaller): what
  // the persistent decode layer's shape (one workgroup of 512 threads per compute unit, 4 words
  // a lane) can reach at all.
  if (const char* shapes = std::getenv("RETNET_READ_SHAPES")) {
    const int64_t layer_words = std::min<int64_t>(6'250'000, n / 4);
    std::stringstream list(shapes);
    for (std::string item; std::getline(list, item, ',');) {
      uint32_t groups = 0, threads = 0, batch = 0;
      int used = 0;  // characters sscanf consumed: the whole item, or it is malformed
      if (std::sscanf(item.c_str(), "%ux%ux%u%n", &groups, &threads, &batch, &used) != 3 ||
          used != int(item.size()) || !groups || !threads || !batch ||
          threads > ctx.device().max_workgroup_invocations || uint64_t(groups) * threads > 256 * kGroups || batch > 64)
        throw retnet::Error(fmt::format("RETNET_READ_SHAPES: '{}' is not WORKGROUPSxTHREADSxWORDS within this device's "
                                        "workgroup size, {} threads in all and 64 words",
                                        item, 256 * kGroups));
      const double whole = timed_gb_s("read_batched", groups, {threads, batch}, n / 4, 1);
      const double layer = timed_gb_s("read_batched", groups, {threads, batch}, layer_words, 8);
      fmt::print("read bandwidth at {} workgroups x {} threads x {} words: {:.0f} GB/s over {} MiB, {:.0f} GB/s in "
                 "dependent windows of {:.0f} MB\n",
                 groups, threads, batch, whole, n * 4 >> 20, layer, layer_words * 16 / 1e6);
      result["shapes"].push_back({{"shape", item},
                                  {"streaming_gb_s", whole},
                                  {"window_100mb_gb_s", layer},
                                  {"window_bytes", layer_words * 16}});
    }
  }
  return result;
}

// Per-kernel GPU time of one recorded step, summed by shader, largest first (RETNET_PROFILE=1).
nlohmann::json kernel_profile(const std::vector<retnet::gpu::DispatchTime>& timings) {
  std::map<std::string, std::pair<double, int>> by_label;
  double total = 0;
  for (const auto& t : timings) {
    auto& e = by_label[t.label];
    e.first += t.ms;
    e.second += 1;
    total += t.ms;
  }
  std::vector<std::pair<std::string, std::pair<double, int>>> sorted(by_label.begin(), by_label.end());
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.second.first > b.second.first; });
  nlohmann::json out = {{"gpu_ms", total}, {"dispatches", timings.size()}, {"kernels", nlohmann::json::array()}};
  for (auto& [label, e] : sorted)
    out["kernels"].push_back({{"shader", label}, {"ms", e.first}, {"dispatches", e.second}});
  return out;
}

void print_profile(const char* what, const nlohmann::json& p) {
  fmt::print("\n{}: {:.3f} ms of GPU time in {} dispatches\n", what, p["gpu_ms"].get<double>(),
             p["dispatches"].get<size_t>());
  int shown = 0;
  for (const auto& k : p["kernels"]) {
    if (shown++ == 16) break;
    fmt::print("  {:<40} {:>9.3f} ms {:>6} x\n", k["shader"].get<std::string>(), k["ms"].get<double>(),
               k["dispatches"].get<int>());
  }
}

// With RETNET_PIPELINE_STATS=1: the driver's statistics of every pipeline `ctx` created (its
// registers and shared memory bound how many workgroups share a multiprocessor), printed and
// kept in `out`.
void report_pipelines(const retnet::Context& ctx, const char* what, nlohmann::json& out) {
  const auto lines = ctx.pipeline_statistics();
  if (lines.empty()) return;
  fmt::print("pipelines of the {}:\n", what);
  for (const auto& line : lines) fmt::print("  {}\n", line);
  out["pipeline_statistics"] = lines;
}

// Tokens/s of whole training steps (forward + backward + AdamW, one submission each) of a
// model with random weights, and the GPU memory they take.
nlohmann::json training_step(const retnet::ContextOptions& device_options, const std::string& config_name,
                             int64_t batch, int64_t seq_len, int steps) {
  retnet::Context ctx(device_options);  // its own context: its memory must not count in the decode peaks
  auto config = retnet::model::ModelConfig::from_json(bench::named_config(config_name));
  const uint64_t before = ctx.allocated_bytes();
  retnet::train::TrainableModel net(ctx, config, retnet::train::initial_weights(config, 1), true, 64);
  auto ids = tokens(batch * seq_len + 1, config.vocab_size, 5);
  std::vector<int32_t> inputs(ids.begin(), ids.end() - 1), targets(ids.begin() + 1, ids.end());
  retnet::kernels::AdamWSettings settings;
  retnet::gpu::Stream s(ctx);
  // As the trainer runs: the step recorded once, then replayed with each batch.
  auto t_record = clock_type::now();
  net.record_step(s, 1, batch, seq_len, 1.0f / float(batch * seq_len), settings);
  const double record_ms = ms_since(t_record);
  std::vector<double> times;
  for (int i = 0; i < steps + 2; ++i) {
    auto t0 = clock_type::now();
    net.run_recorded_step(s, inputs, targets, settings.lr, i + 1, nullptr);
    if (i >= 2) times.push_back(ms_since(t0));  // two warm-up steps
  }
  const double ms = median(times);
  nlohmann::json out = {{"config", config_name}, {"batch", batch}, {"seq_len", seq_len}, {"ms_per_step", ms},
                        {"tokens_per_s", batch * seq_len * 1000.0 / ms},
                        {"record_ms", record_ms},  // recording the step once (its pipelines created then too)
                        {"bytes_allocated", ctx.allocated_bytes() - before}, {"peak_bytes", ctx.peak_allocated_bytes()}};
  if (!s.timings().empty()) out["profile"] = kernel_profile(s.timings());
  report_pipelines(ctx, "training step", out);
  return out;
}

// TFLOP/s of y = x w^T (x f32 [M, K], w f16 [N, K]) on each matmul path the device has,
// GPU-timed where it can be.
nlohmann::json matmul_speed(const retnet::ContextOptions& device_options, int64_t M, int64_t N, int64_t K) {
  using namespace retnet;
  auto options = device_options;
  options.profiling = true;
  Context ctx(options);
  gpu::Tensor x(ctx, {M, K}, gpu::DType::F32, "x"), w(ctx, {N, K}, gpu::DType::F16, "w"), y(ctx, {M, N}, gpu::DType::F32, "y");
  gpu::Stream s(ctx);
  // Random operands, not zeros: tensor cores multiplying zeros draw less power and clock higher.
  auto random_values = [](int64_t n, float scale, uint32_t seed) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<float> dist(-scale, scale);
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& e : v) e = dist(gen);
    return v;
  };
  x.upload(random_values(M * K, 1.0f, 1));
  w.upload(random_values(N * K, 0.02f, 2));
  nlohmann::json out = nlohmann::json::array();
  std::vector<kernels::MatmulPath> paths{kernels::MatmulPath::Tiled};
  if (ctx.active_paths().coopmat) paths.push_back(kernels::MatmulPath::CoopMat);
  for (auto path : paths) {
    // Many products in one submission (the GPU lowers its clock while it idles between short
    // submissions), the first ones a warm-up.
    const int runs = 40, warm_up = 10;
    auto t0 = clock_type::now();
    for (int i = 0; i < runs; ++i) kernels::matmul(s, x, w, y, path);
    s.submit();
    const double wall = ms_since(t0) / runs;
    std::vector<double> times;
    for (size_t i = warm_up; i < s.timings().size(); ++i) times.push_back(s.timings()[i].ms);
    if (times.empty()) times.push_back(wall);
    const double ms = median(times), tflops = 2.0 * M * N * K / (ms * 1e-3) / 1e12;
    const char* name = path == kernels::MatmulPath::Tiled ? "tiled" : "coopmat";
    fmt::print("matmul {} x {} x {} {}: {:.3f} ms, {:.1f} TFLOP/s\n", M, N, K, name, ms, tflops);
    out.push_back({{"path", name}, {"M", M}, {"N", N}, {"K", K}, {"ms", ms}, {"tflops", tflops}});
  }
  return out;
}

// The device's tensor-core ceiling in TFLOP/s (tensor_core_peak.glsl): products of fragments
// held in registers, and the same with the fragments reloaded from shared memory every step
// (the inner loop of the tensor-core matmul). Empty where the device has no tensor-core path.
nlohmann::json tensor_core_peak(const retnet::ContextOptions& device_options) {
  using namespace retnet;
  auto options = device_options;
  options.profiling = true;
  Context ctx(options);
  if (!ctx.active_paths().coopmat) return nlohmann::json::object();
  const int frag_n = ctx.device().cooperative_matrix_n == 16 ? 16 : 8;
  const uint32_t groups = 4096, steps = 1024;
  gpu::Tensor sink(ctx, {int64_t(groups) * 4}, gpu::DType::F32, "tensor-core peak output");
  gpu::Stream s(ctx);
  const std::string shader = fmt::format("tensor_core_peak_n{}", frag_n);
  // 4 subgroups per workgroup, 16 products of 16 x frag_n x 16 per step.
  const double flops = double(groups) * 4 * steps * 16 * 2.0 * 16 * frag_n * 16;
  nlohmann::json out;
  for (uint32_t from_shared : {0u, 1u}) {
    // One submission: the GPU lowers its clock while it idles between short submissions.
    const struct { uint32_t steps; } push{steps};
    for (int i = 0; i < 8; ++i) s.dispatch(shader.c_str(), {gpu::out(sink)}, push, groups, 1, 1, {from_shared});
    s.submit();
    std::vector<double> times;
    for (size_t i = 2; i < s.timings().size(); ++i) times.push_back(s.timings()[i].ms);  // after a warm-up
    const double tflops = times.empty() ? 0 : flops / (median(times) * 1e-3) / 1e12;
    const char* key = from_shared ? "fragments_from_shared_tflops" : "registers_only_tflops";
    out[key] = tflops;
    fmt::print("tensor-core peak, {}: {:.1f} TFLOP/s\n", from_shared ? "fragments reloaded from shared memory"
                                                                     : "fragments in registers", tflops);
  }
  return out;
}

// GPU time of each fused decode kernel on its own: a chain of dependent trivial dispatches
// (the per-dispatch floor of barrier + launch), then each product of a layer over every
// layer's weights, once as independent dispatches and once chained by a barrier each, with
// the bytes each reads per microsecond. Needs a context with profiling on.
nlohmann::json decode_kernel_speed(const retnet::model::ModelImpl& m) {
  using namespace retnet;
  Context& ctx = m.ctx;
  const auto& c = m.config;
  const float eps = float(c.norm_eps);
  auto vec = [&](int64_t n, const char* name) { return gpu::Tensor(ctx, {n}, gpu::DType::F32, name); };
  const int64_t L = c.num_layers;
  gpu::Tensor x = vec(c.hidden_size, "x"), o = vec(c.value_dim, "o"), g = vec(c.value_dim, "g"),
              f = vec(c.intermediate_size, "ffn in"), tiny_a = vec(16, "a"), tiny_b = vec(16, "b");
  std::vector<gpu::Tensor> q, k, v, gg, h, ffn;
  for (int64_t l = 0; l < L; ++l) {
    q.push_back(vec(c.key_dim, "q"));
    k.push_back(vec(c.key_dim, "k"));
    v.push_back(vec(c.value_dim, "v"));
    gg.push_back(vec(c.value_dim, "g"));
    h.push_back(vec(c.hidden_size, "h"));
    ffn.push_back(vec(c.intermediate_size, "ffn"));
  }
  gpu::Tensor lm_out = vec(c.vocab_size, "logits");
  gpu::Stream s(ctx);
  for (auto* t : {&x, &o, &g, &f}) s.fill_zero(*t);
  s.submit();
  auto timed = [&](auto&& record) {
    double best = 1e30;
    for (int rep = 0; rep < 3; ++rep) {
      record();
      s.submit();
      double total = 0;
      for (const auto& t : s.timings()) total += t.ms;
      best = std::min(best, total);
    }
    return best;
  };
  nlohmann::json out = nlohmann::json::array();
  auto report = [&](const std::string& name, double ms, int dispatches, double bytes) {
    const double us = ms * 1e3 / dispatches, gb_s = bytes / (us * 1e3);
    fmt::print("  {:<44} {:8.2f} us {:8.0f} GB/s\n", name, us, gb_s);
    out.push_back({{"kernel", name}, {"us_per_dispatch", us}, {"bytes", bytes}, {"gb_s", gb_s}});
  };
  fmt::print("\ndecode kernels on their own (GPU time per dispatch):\n");
  struct { uint32_t n; } push{4};
  report("floor (dependent 64-byte copies)", timed([&] {
    for (int i = 0; i < 100; ++i) s.dispatch("copy_vec4", {gpu::in(i % 2 ? tiny_b : tiny_a), gpu::out(i % 2 ? tiny_a : tiny_b)}, push, 1);
  }), 100, 0);
  const auto& W = m.layers;
  struct Product {
    const char* name;
    std::function<void(int64_t, bool)> record;
    double bytes;
  };
  std::vector<Product> products{
      {"q/k/v/g + RMSNorm", [&](int64_t l, bool chained) {
         auto& y = chained ? q[0] : q[l];
         kernels::decode_matvec(s, {&x, &W[l].attn_norm, nullptr, 0, eps},
                                {{&W[l].q_proj, &y}, {&W[l].k_proj, &k[l]}, {&W[l].v_proj, &v[l]}, {&W[l].g_proj, &gg[l]}}, false);
       }, double(W[0].q_proj.bytes() + W[0].k_proj.bytes() + W[0].v_proj.bytes() + W[0].g_proj.bytes())},
      {"o_proj + gated head norm", [&](int64_t l, bool chained) {
         kernels::decode_matvec(s, {&o, &W[l].g_norm, &g, c.head_v_dim, eps}, {{&W[l].o_proj, &h[chained ? 0 : l]}}, true);
       }, double(W[0].o_proj.bytes())},
      {"gate/up + RMSNorm + SwiGLU", [&](int64_t l, bool chained) {
         kernels::decode_matvec_swiglu(s, {&x, &W[l].mlp_norm, nullptr, 0, eps}, W[l].gate_proj, W[l].up_proj, ffn[chained ? 0 : l]);
       }, double(W[0].gate_proj.bytes() + W[0].up_proj.bytes())},
      {"down_proj", [&](int64_t l, bool chained) {
         kernels::decode_matvec(s, {&f}, {{&W[l].down_proj, &h[chained ? 0 : l]}}, true);
       }, double(W[0].down_proj.bytes())},
  };
  for (auto& p : products)
    for (bool chained : {false, true})
      report(fmt::format("{} ({})", p.name, chained ? "chained" : "independent"), timed([&] {
        for (int64_t l = 0; l < L; ++l) p.record(l, chained);
      }), int(L), p.bytes);
  report("lm_head + RMSNorm", timed([&] {
    for (int i = 0; i < 4; ++i) kernels::decode_matvec(s, {&x, &m.final_norm, nullptr, 0, eps}, {{m.lm_head, &lm_out}}, false);
  }), 4, double(m.lm_head->bytes()));
  return out;
}

// The named configuration's random f16 weights, written to `folder`.
void write_named_model(const std::string& config_name, const std::string& folder) {
  auto t0 = clock_type::now();
  bench::write_random_model(bench::named_config(config_name), folder, 1);
  fmt::print("wrote random {} model to {} in {:.1f} s\n", config_name, folder, ms_since(t0) / 1000);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"retnet-bench: decode, prefill and memory of a RetNet on one Vulkan device"};
  std::string config_name = "tiny", model_dir, json_path, device;
  std::vector<int64_t> contexts{1024, 8192, 32768, 131072}, prefills{512, 2048, 8192, 32768}, batches{1, 4, 16, 64};
  int decode_steps = 32;
  std::string train_config = "small";
  int64_t train_batch = 4, train_seq = 2048;
  bool train_only = false;
  std::vector<int64_t> matmul_shape;
  app.add_option("--config", config_name, "Named configuration with random f16 weights: tiny, 1.3b");
  app.add_option("-m,--model", model_dir, "A model folder instead of --config");
  app.add_option("--contexts", contexts, "Context lengths before timing decode")->delimiter(',');
  app.add_option("--prefill", prefills, "Prompt lengths for prefill speed")->delimiter(',');
  app.add_option("--batches", batches, "Batch sizes for batched decode")->delimiter(',');
  app.add_option("--decode-steps", decode_steps, "Decode steps timed per measurement")->check(CLI::Range(1, 100000));
  app.add_option("--json", json_path, "Write the results here");
  app.add_option("--device", device, "Device index or part of its name");
  app.add_option("--train-config", train_config, "Configuration of the training-step measurement ('' = none)");
  app.add_option("--train-batch", train_batch, "Sequences per training step");
  app.add_option("--train-seq", train_seq, "Tokens per sequence in the training step");
  app.add_flag("--train-only", train_only, "Only the training-step measurement");
  app.add_option("--matmul", matmul_shape, "M,N,K: time one f16-weight matmul on each path first")->delimiter(',')->expected(3);
  bool tensor_peak = false;
  int64_t decode_workgroups = 0;
  app.add_option("--decode-workgroups", decode_workgroups,
                 "Workgroups of the persistent decode layer: 0 one per compute unit where known, -1 none");
  int64_t max_prefill_tokens = retnet::LoadOptions{}.max_prefill_tokens;
  app.add_option("--max-prefill-tokens", max_prefill_tokens,
                 "Prompts are prefilled in pieces of at most this many tokens (LoadOptions::max_prefill_tokens)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 30));
  app.add_flag("--tensor-peak", tensor_peak, "Measure the device's tensor-core ceiling first");
  std::string save_model;
  app.add_option("--save-model", save_model,
                 "Only write the --config model's random weights to this folder (for -m in later runs)");
  CLI11_PARSE(app, argc, argv);

  try {
    if (!save_model.empty()) {  // writing the 1.3b model takes ~20 s: runs that only time decode reuse one
      write_named_model(config_name, save_model);
      return 0;
    }
    auto options = retnet::ContextOptions::from_environment();
    if (!device.empty()) options.device = device;
    retnet::Context ctx(options);
    nlohmann::json out;
    out["device"] = ctx.device().name;
    out["driver"] = ctx.device().driver;
    // What the kernels may size themselves by, and what a later build could use.
    out["shared_memory_bytes"] = ctx.device().shared_memory_bytes;
    out["unused_matrix_extensions"] = ctx.device().unused_matrix_extensions;
    out["spin_wait"] = ctx.spin_waits();  // how the host waits for each submission (ContextOptions::spin_wait)
    out["fast_paths"] = {{"fp16", ctx.active_paths().fp16}, {"subgroups", ctx.active_paths().subgroups},
                         {"coopmat", ctx.active_paths().coopmat}};
    fmt::print("fast paths: fp16 {}, subgroups {}, cooperative matrix {}\n", ctx.active_paths().fp16,
               ctx.active_paths().subgroups, ctx.active_paths().coopmat);
    if (tensor_peak) out["tensor_core_peak"] = tensor_core_peak(options);
    if (matmul_shape.size() == 3) out["matmul"] = matmul_speed(options, matmul_shape[0], matmul_shape[1], matmul_shape[2]);
    if (!train_config.empty()) {
      auto t = training_step(options, train_config, train_batch, train_seq, 5);
      fmt::print("training step ({} config, {} x {} tokens, f32 master weights + AdamW, recorded once in {:.1f} ms "
                 "and replayed): {:.1f} ms, {:.0f} tokens/s, {:.0f} MiB allocated\n",
                 train_config, train_batch, train_seq, t["record_ms"].get<double>(), t["ms_per_step"].get<double>(),
                 t["tokens_per_s"].get<double>(),
                 t["bytes_allocated"].get<uint64_t>() / 1048576.0);
      if (t.contains("profile")) print_profile("training step", t["profile"]);
      out["training_step"] = t;
      if (train_only) {
        if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << "\n";
        return 0;
      }
    }
    std::string folder = model_dir;
    if (folder.empty()) {
      folder = (std::filesystem::temp_directory_path() / fmt::format("retnet-bench-{}-{}", config_name, ::getpid())).string();
      write_named_model(config_name, folder);
      out["config"] = config_name;
    } else {
      out["model"] = model_dir;
    }
    const double bandwidth = copy_bandwidth_gbs(options);
    out["copy_bandwidth_gb_s"] = bandwidth;
    fmt::print("device {}: copy bandwidth {:.0f} GB/s (read + write)\n", ctx.device().name, bandwidth);

    retnet::LoadOptions load_options;
    load_options.decode_workgroups = decode_workgroups;
    load_options.max_prefill_tokens = max_prefill_tokens;
    out["max_prefill_tokens"] = max_prefill_tokens;
    auto model = retnet::Model::load(ctx, folder, load_options);
    if (model_dir.empty()) std::filesystem::remove_all(folder);
    const auto& info = model->info();
    const int64_t V = info.vocab_size;
    // A decode step reads every weight once except the embedding table, of which it reads one row.
    const auto& m = model->impl();
    uint64_t step_bytes = info.weight_bytes - (m.config.tie_word_embeddings ? 0 : m.embeddings.bytes());
    const double roofline_ms = step_bytes / (bandwidth * 1e9) * 1e3;
    out["parameters"] = info.parameter_count;
    out["weight_dtype"] = info.weight_dtype;
    out["weight_bytes_per_decode_step"] = step_bytes;
    out["decode_roofline_ms"] = roofline_ms;
    out["state_bytes_per_session"] = info.state_bytes_per_session;
    fmt::print("model: {} parameters ({} weights), {:.1f} MiB read per decode step: roofline {:.3f} ms/token\n",
               info.parameter_count, info.weight_dtype, step_bytes / 1048576.0, roofline_ms);
    // Its ceilings: reading alone, and reading in pieces the size of a decode phase (a persistent
    // decode layer has five phases between syncs).
    out["read_bandwidth"] = read_bandwidth(options, int64_t(step_bytes / (5 * m.config.num_layers)));
    out["decode_layer_workgroups"] = m.decode_layer_workgroups();
    fmt::print("decode: {}\n", m.decode_layer_workgroups()
                                   ? fmt::format("one persistent dispatch per layer on {} workgroups",
                                                 m.decode_layer_workgroups())
                                   : std::string("five dispatches per layer"));

    {  // warm-up: pipelines are created on first use, and the GPU's clocks rise under load (the
       // first context measured after a single warm-up step was up to 2x slow on the H100)
      retnet::Session warm(model);
      warm.prefill(tokens(70, V, 9));
      for (auto t0 = clock_type::now(); ms_since(t0) < 2000;) warm.decode(1);
      retnet::Session::decode_batch({&warm}, {2});
    }

    fmt::print("\n{:>10} {:>12} {:>14} {:>12} {:>12}\n", "context", "prefill s", "decode ms/tok", "of roofline", "peak MiB");
    for (int64_t c : contexts) {
      ctx.reset_peak_allocated_bytes();
      retnet::Session s(model);
      auto t0 = clock_type::now();
      s.prefill(tokens(c, V, c));
      double prefill_s = ms_since(t0) / 1000;
      std::vector<double> steps;
      int32_t next = 1;
      for (int i = 0; i < decode_steps; ++i) {
        auto t1 = clock_type::now();
        auto logits = s.decode(next);
        steps.push_back(ms_since(t1));
        next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      }
      double ms = median(steps);
      out["decode"].push_back({{"context", c}, {"prefill_s", prefill_s}, {"ms_per_token", ms},
                               {"fraction_of_roofline", roofline_ms / ms}, {"peak_bytes", ctx.peak_allocated_bytes()}});
      fmt::print("{:>10} {:>12.2f} {:>14.3f} {:>11.1f}% {:>12.0f}\n", c, prefill_s, ms, 100 * roofline_ms / ms,
                 ctx.peak_allocated_bytes() / 1048576.0);
    }

    // A persistent decode step that timed out is redone without that kernel, for good.
    out["decode_layer_workgroups_after"] = m.decode_layer_workgroups();
    if (m.decode_layer_workgroups() == 0 && out["decode_layer_workgroups"].get<uint32_t>() != 0)
      fmt::print("the persistent decode layer timed out and was dropped\n");

    fmt::print("\n{:>10} {:>14} {:>14} {:>12}\n", "batch", "decode tok/s", "ms/step", "peak MiB");
    for (int64_t b : batches) {
      ctx.reset_peak_allocated_bytes();  // the weights, these sessions and the step's scratch
      std::vector<retnet::Session> sessions;
      std::vector<retnet::Session*> ptrs;
      for (int64_t i = 0; i < b; ++i) sessions.emplace_back(model);
      for (auto& s : sessions) {
        s.prefill(tokens(16, V, ptrs.size()));
        ptrs.push_back(&s);
      }
      std::vector<int32_t> next(b, 1);
      retnet::Session::decode_batch(ptrs, next);
      auto t0 = clock_type::now();
      for (int i = 0; i < decode_steps; ++i) retnet::Session::decode_batch(ptrs, next);
      double ms = ms_since(t0) / decode_steps;
      out["batched_decode"].push_back({{"batch", b},
                                       {"tokens_per_s", b * 1000.0 / ms},
                                       {"ms_per_step", ms},
                                       {"peak_bytes", ctx.peak_allocated_bytes()}});
      fmt::print("{:>10} {:>14.1f} {:>14.3f} {:>12.0f}\n", b, b * 1000.0 / ms, ms, ctx.peak_allocated_bytes() / 1048576.0);
    }

    fmt::print("\n{:>10} {:>14} {:>12}\n", "prompt", "prefill tok/s", "peak MiB");
    for (int64_t p : prefills) {
      ctx.reset_peak_allocated_bytes();  // this prefill's own peak (batched decode held far more)
      retnet::Session s(model);
      auto t0 = clock_type::now();
      s.prefill(tokens(p, V, p + 1));
      double ms = ms_since(t0);
      out["prefill"].push_back({{"tokens", p}, {"tokens_per_s", p * 1000.0 / ms}, {"peak_bytes", ctx.peak_allocated_bytes()}});
      fmt::print("{:>10} {:>14.0f} {:>12.0f}\n", p, p * 1000.0 / ms, ctx.peak_allocated_bytes() / 1048576.0);
    }
    if (ctx.options().profiling) {  // where a prefill and a decode step spend their GPU time
      auto& impl = model->impl();
      if (impl.fused_decode_available()) out["decode_kernels"] = decode_kernel_speed(impl);
      std::lock_guard<std::mutex> lock(impl.step_mutex);
      for (int64_t T : {int64_t(8192), int64_t(1)}) {
        auto states = impl.new_states(1, "profile state");
        std::vector<int32_t> positions(T);
        for (int64_t t = 0; t < T; ++t) positions[t] = int32_t(t);
        retnet::gpu::Stream s(ctx);
        for (int rep = 0; rep < 2; ++rep) {  // the second run is measured
          impl.record_step(s, tokens(T, V, 3), positions, 1, T,
                           T == 1 ? retnet::RetentionForm::Recurrent : retnet::RetentionForm::Chunkwise, &states, false);
          s.submit();
        }
        auto p = kernel_profile(s.timings());
        print_profile(T == 1 ? "decode step" : "prefill of 8192 tokens", p);
        if (T == 1) {  // dispatch by dispatch: the embedding, layer 0, and the lm_head
          const auto& t = s.timings();
          p["sequence"] = nlohmann::json::array();
          for (size_t i = 0; i < t.size(); ++i) {
            if (i > 6 && i + 1 < t.size()) continue;
            fmt::print("  #{:<4} {:<36} {:8.4f} ms\n", i, t[i].label, t[i].ms);
            p["sequence"].push_back({{"index", i}, {"shader", t[i].label}, {"ms", t[i].ms}});
          }
        }
        out[T == 1 ? "profile_decode" : "profile_prefill_8192"] = p;
      }
      if (impl.decode_layer_workgroups() != 0) {
        // The step a session replays: with the persistent layer, a dispatch per layer. Its GPU
        // time against the wall clock's ms/token above is what the gaps between dispatches and
        // the host's round trip cost.
        auto states = impl.new_states(1, "profile state");
        retnet::gpu::Stream s(ctx);
        auto inputs = impl.record_replayable_step(s, {&states}, 1, 1, true);
        std::vector<float> sync;
        s.read_back(impl.decode_sync(), &sync);
        s.seal();
        inputs.tokens[0] = 1;
        inputs.positions[0] = 0;
        for (int rep = 0; rep < 2; ++rep) s.replay();  // the second run is measured
        auto p = kernel_profile(s.timings());
        p["timed_out"] = !sync.empty() && sync[0] != 0.0f;
        print_profile("replayed decode step", p);
        out["profile_replayed_decode"] = p;
      }
      const int64_t b = batches.empty() ? 0 : *std::max_element(batches.begin(), batches.end());
      if (b > 1) {  // one session's decode_batch is the replayed decode step above
        // The largest batched decode step as Session::decode_batch records it (each sequence's
        // own states where the device can decode them, else one batch of states).
        std::vector<std::vector<retnet::gpu::Tensor>> own(b);
        std::vector<retnet::gpu::Tensor> batch;
        retnet::model::StepStates states;
        if (impl.decodes_sequence_states()) {
          for (auto& o : own) states.sequences.push_back(&(o = impl.new_states(1, "profile state")));
        } else {
          batch = impl.new_states(b, "profile states");
          states.batch = &batch;
        }
        retnet::gpu::Stream s(ctx);
        auto inputs = impl.record_replayable_step(s, states, b, 1, false);
        s.seal();
        for (int64_t n = 0; n < b; ++n) inputs.tokens[n] = 1, inputs.positions[n] = 16;
        for (int rep = 0; rep < 2; ++rep) s.replay();  // the second run is measured
        auto p = kernel_profile(s.timings());
        p["batch"] = b;
        print_profile(fmt::format("batched decode step of {} sessions", b).c_str(), p);
        out["profile_batched_decode"] = p;
      }
    }
    report_pipelines(ctx, "decode and prefill", out);
    if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << "\n";
    return 0;
  } catch (const std::exception& e) {  // retnet::Error, and the file system's errors writing a model
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
