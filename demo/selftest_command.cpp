#include <fmt/format.h>

#include <chrono>

#include "demo/commands.hpp"
#include "gpu/stream.hpp"
#include "kernels/retention.hpp"
#include "reference/retention.hpp"
#include "retnet/device.hpp"

namespace demo {

namespace {

std::vector<float> pseudo_random(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& f : v) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    f = (x & 0xffffff) / float(0x800000) - 1.0f;
  }
  return v;
}

double max_rel(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0, s = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    d = std::max(d, double(std::abs(a[i] - b[i])));
    s = std::max(s, double(std::abs(b[i])));
  }
  return s > 0 ? d / s : d;
}

}  // namespace

// Runs one retention layer of random data in its three forms on the chosen device and checks
// that they agree with each other and with the CPU reference: a quick proof the device works.
int run_selftest(const std::string& device) {
  using namespace retnet;
  auto options = ContextOptions::from_environment();
  if (!device.empty()) options.device = device;
  Context ctx(options);
  const auto& d = ctx.device();
  auto paths = ctx.active_paths();
  fmt::print("device: {} ({}), fast paths: fp16 {}, subgroups {}, cooperative matrix {}\n", d.name, d.type,
             paths.fp16 ? "on" : "off", paths.subgroups ? "on" : "off", paths.coopmat ? "on" : "off");

  const int64_t N = 1, T = 1000, H = 8, dk = 32, dv = 64, chunk = 64;
  auto q = pseudo_random(N * T * H * dk, 1), k = pseudo_random(N * T * H * dk, 2), v = pseudo_random(N * T * H * dv, 3);
  auto upload = [&](const std::vector<float>& x, std::vector<int64_t> shape, const char* name) {
    gpu::Tensor t(ctx, std::move(shape), gpu::DType::F32, name);
    t.upload(x);
    return t;
  };
  gpu::Tensor tq = upload(q, {N, T, H, dk}, "q"), tk = upload(k, {N, T, H, dk}, "k"), tv = upload(v, {N, T, H, dv}, "v");
  gpu::Tensor o_par(ctx, {N, T, H, dv}, gpu::DType::F32, "o_parallel"), o_chunk(ctx, {N, T, H, dv}, gpu::DType::F32, "o_chunkwise"),
      o_rec(ctx, {N, T, H, dv}, gpu::DType::F32, "o_recurrent");
  gpu::Tensor s_chunk(ctx, {N, H, dk, dv}, gpu::DType::F32, "state_chunkwise"), s_rec(ctx, {N, H, dk, dv}, gpu::DType::F32, "state_recurrent");

  kernels::RetentionChunkScratch scratch;
  gpu::Stream s(ctx);
  auto timed = [&](const char* name, auto&& record) {
    auto t0 = std::chrono::steady_clock::now();
    record();
    s.submit();
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    fmt::print("  {:<10} {:8.2f} ms\n", name, ms);
  };
  fmt::print("retention over {} tokens, {} heads, head dims {}x{}:\n", T, H, dk, dv);
  timed("parallel", [&] { kernels::retention_parallel(s, tq, tk, tv, o_par); });
  timed("chunkwise", [&] {
    s.fill_zero(s_chunk);
    kernels::retention_chunkwise(s, tq, tk, tv, s_chunk, o_chunk, chunk, scratch);
  });
  timed("recurrent", [&] {
    s.fill_zero(s_rec);
    kernels::retention_recurrent(s, tq, tk, tv, s_rec, o_rec);
  });
  auto ref = reference::retention_parallel(q, k, v, reference::RetentionShape{N, T, H, dk, dv});
  double e1 = max_rel(o_par.download(), ref), e2 = max_rel(o_chunk.download(), ref), e3 = max_rel(o_rec.download(), ref);
  double e4 = max_rel(s_chunk.download(), s_rec.download());
  fmt::print("max relative error vs the CPU reference: parallel {:.2e}, chunkwise {:.2e}, recurrent {:.2e}; "
             "final states chunkwise vs recurrent {:.2e}\n", e1, e2, e3, e4);
  const double tolerance = 1e-4;
  bool ok = e1 < tolerance && e2 < tolerance && e3 < tolerance && e4 < tolerance;
  fmt::print("{}\n", ok ? "OK: the three forms agree" : "FAILED: the forms disagree");
  return ok ? report_validation(ctx) : 1;
}

}  // namespace demo
