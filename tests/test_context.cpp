// The engine core: device listing and choice, validation plumbing, the persisted pipeline
// cache, tensors, streams (barriers, timestamps) and clear errors for bad requests.
#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gpu/context_impl.hpp"
#include "gpu/memory_type.hpp"
#include "kernels/decode.hpp"
#include "kernels/elementwise.hpp"
#include "reference/elementwise.hpp"
#include "reference/retention.hpp"
#include "retnet/error.hpp"
#include "test_support.hpp"

using namespace retnet;

namespace {
ContextOptions quiet_options() {
  ContextOptions o = ContextOptions::from_environment();
  o.cache_dir = "none";
  return o;
}
std::filesystem::path temp_dir(const char* name) {
  auto p = std::filesystem::temp_directory_path() / fmt::format("retnet-test-{}-{}", name, ::getpid());
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}
}  // namespace

TEST_CASE("devices are listed with their features", "[core]") {
  auto devices = list_devices();
  REQUIRE(!devices.empty());
  for (const auto& d : devices) {
    CHECK(!d.name.empty());
    CHECK(d.subgroup_size >= 1);
    CHECK(d.shared_memory_bytes >= 16384);  // Vulkan's guaranteed minimum
    CHECK(d.max_buffer_bytes >= (1u << 27));
  }
  const auto& chosen = test::context().device();
  CHECK(chosen.index < devices.size());
  CHECK(devices[chosen.index].name == chosen.name);
}

TEST_CASE("a device can be chosen by index or by name, and a bad choice is a clear error", "[core][errors]") {
  auto devices = list_devices();
  auto options = quiet_options();
  options.device = std::to_string(devices.size() - 1);
  CHECK(Context(options).device().name == devices.back().name);

  options.device = devices[0].name.substr(0, 4);
  CHECK(Context(options).device().name.find(devices[0].name.substr(0, 4)) != std::string::npos);

  options.device = "no-such-gpu-xyz";
  CHECK_THROWS_WITH(Context(options), Catch::Contains("no Vulkan device name contains 'no-such-gpu-xyz'"));
  options.device = "99";
  CHECK_THROWS_WITH(Context(options), Catch::Contains("device index 99 does not exist"));
}

TEST_CASE("fast paths forced off are not used", "[core]") {
  auto options = quiet_options();
  options.allow = {false, false, false};
  Context ctx(options);
  auto active = ctx.active_paths();
  CHECK_FALSE(active.fp16);
  CHECK_FALSE(active.subgroups);
  CHECK_FALSE(active.coopmat);
  options.allow = {true, true, true};
  Context all(options);
  CHECK(all.active_paths().subgroups == all.device().subgroup_arithmetic);
  CHECK(all.active_paths().fp16 == all.device().fp16_storage);
}

TEST_CASE("the validation layer's messages are collected", "[core]") {
  if (!validation_layer_available()) {
    // scripts/setup.sh installs it; a machine without it can still run everything else.
    WARN("the Khronos validation layer is not installed: nothing to check");
    CHECK_THROWS_WITH(Context([] { auto o = quiet_options(); o.validation = true; return o; }()),
                      Catch::Contains("validation layer is not installed"));
    return;
  }
  auto options = quiet_options();
  options.validation = true;
  Context ctx(options);
  CHECK(ctx.validation_messages().empty());
  // A zero-sized buffer is invalid usage that the layer reports (and drivers tolerate).
  VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bi.size = 0;
  bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
  VkBuffer buffer = VK_NULL_HANDLE;
  vkCreateBuffer(ctx.impl().device, &bi, nullptr, &buffer);
  if (buffer) vkDestroyBuffer(ctx.impl().device, buffer, nullptr);
  auto messages = ctx.validation_messages();
  REQUIRE(!messages.empty());
  CHECK_THAT(messages[0], Catch::Contains("validation error"));
}

TEST_CASE("the pipeline cache is written to disk and read back", "[core]") {
  auto dir = temp_dir("cache");
  auto options = quiet_options();
  options.cache_dir = dir.string();
  std::string path;
  {
    Context ctx(options);
    path = ctx.impl().pipeline_cache_path;
    auto h = gpu::Tensor(ctx, {5}, gpu::DType::F32);
    h.upload(std::vector<float>{1, 2, 3, 4, 5});
    gpu::Stream s(ctx);
    kernels::residual_add(s, h, h);
    s.submit();
    CHECK(h.download() == std::vector<float>{2, 4, 6, 8, 10});
  }
  REQUIRE(std::filesystem::exists(path));
  CHECK(std::filesystem::file_size(path) >= 32);  // at least the header (lavapipe caches nothing else)
  CHECK(path.find(dir.string()) == 0);
  { Context again(options); }  // loads it
  // A corrupt cache file is ignored, not trusted.
  { std::ofstream(path, std::ios::binary | std::ios::trunc) << std::string(100, 'x'); }
  {
    Context ctx(options);
    auto h = gpu::Tensor(ctx, {2}, gpu::DType::F32);
    h.upload(std::vector<float>{1, 2});
    gpu::Stream s(ctx);
    kernels::residual_add(s, h, h);
    s.submit();
    CHECK(h.download() == std::vector<float>{2, 4});
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("tensors round-trip f32, f16 and i32 and reject wrong sizes", "[core][errors]") {
  auto v = test::random_vector(1001, 3, 10.0f);
  auto t32 = test::tensor({7, 11, 13}, v);
  CHECK(t32.download() == v);
  auto t16 = test::tensor({1001}, v, gpu::DType::F16);
  CHECK(t16.download() == test::rounded(v, gpu::DType::F16));
  CHECK(test::max_rel_error(t16.download(), v) < 1e-3);
  gpu::Tensor ti(test::context(), {3}, gpu::DType::I32, "ids");
  ti.upload(std::vector<int32_t>{-1, 0, 7});
  CHECK(ti.download_ints() == std::vector<int32_t>{-1, 0, 7});

  CHECK_THROWS_WITH(t32.upload(std::vector<float>(5)), Catch::Contains("upload of 5 values"));
  CHECK_THROWS_AS(ti.upload(std::vector<float>(3)), Error);
  CHECK_THROWS_AS(gpu::Tensor(test::context(), {-1}, gpu::DType::F32), Error);
}

TEST_CASE("RETNET_SHARED_MEMORY_LIMIT caps the shared memory the kernels plan for", "[core][errors]") {
  {  // the small-shared-memory run of the suite sets the variable itself
    test::EnvOverride limit("RETNET_SHARED_MEMORY_LIMIT", "20000");
    CHECK(ContextOptions::from_environment().shared_memory_limit == 20000);
    for (const char* bad : {"", "abc", "16k", "0"}) {
      CAPTURE(bad);
      limit.set(bad);
      CHECK_THROWS_AS(ContextOptions::from_environment(), Error);
    }
  }
  ContextOptions options = test::context().options();
  options.shared_memory_limit = 1 << 30;  // above the device's: the device's own limit stays
  Context ctx(options);
  CHECK(ctx.device().shared_memory_bytes < (1u << 30));
  CHECK(ctx.device().shared_memory_bytes >= test::context().device().shared_memory_bytes);
}

TEST_CASE("the context counts its allocations and their peak, which can start over", "[core]") {
  Context ctx(test::context().options());
  const uint64_t base = ctx.allocated_bytes();
  {
    gpu::Tensor big(ctx, {1 << 20}, gpu::DType::F32, "big");
    CHECK(ctx.allocated_bytes() >= base + (4u << 20));
  }
  CHECK(ctx.allocated_bytes() == base);
  CHECK(ctx.peak_allocated_bytes() >= base + (4u << 20));  // the freed tensor still counts
  ctx.reset_peak_allocated_bytes();
  CHECK(ctx.peak_allocated_bytes() == base);
  gpu::Tensor small(ctx, {1024}, gpu::DType::F32, "small");
  CHECK(ctx.peak_allocated_bytes() == ctx.allocated_bytes());
  CHECK(ctx.peak_allocated_bytes() < base + (4u << 20));
}

TEST_CASE("a tensor too large for the device is an out-of-memory error naming it", "[core][errors]") {
  const auto& d = test::context().device();
  int64_t too_many = static_cast<int64_t>(d.max_buffer_bytes / 4) + 1;
  CHECK_THROWS_AS(gpu::Tensor(test::context(), {too_many}, gpu::DType::F32, "huge"), OutOfMemoryError);
  CHECK_THROWS_WITH(gpu::Tensor(test::context(), {too_many}, gpu::DType::F32, "huge"), Catch::Contains("'huge'"));
}

TEST_CASE("a stream orders dependent dispatches and times them when profiling", "[core]") {
  auto options = quiet_options();
  options.profiling = true;
  options.validation = test::context().options().validation;
  Context ctx(options);
  const int64_t n = 4099;
  std::vector<float> ones(n, 1.0f);
  gpu::Tensor h(ctx, {n}, gpu::DType::F32, "h"), x(ctx, {n}, gpu::DType::F32, "x");
  h.upload(ones);
  x.upload(ones);
  gpu::Stream s(ctx);
  // h doubles each step (h += h), then x += h: every step depends on the one before.
  for (int i = 0; i < 20; ++i) kernels::residual_add(s, h, h);
  kernels::residual_add(s, x, h);
  CHECK(s.dispatch_count() == 21);
  s.submit();
  CHECK(h.download() == std::vector<float>(n, 1048576.0f));
  CHECK(x.download() == std::vector<float>(n, 1048577.0f));
  if (ctx.device().timestamps) {
    REQUIRE(s.timings().size() == 21);
    CHECK(s.timings()[0].label == "residual_add");
    for (auto& t : s.timings()) CHECK(t.ms >= 0.0);
  }
  CHECK(ctx.validation_messages().empty());
}

TEST_CASE("pipeline statistics are reported per pipeline only when asked for", "[core]") {
  auto options = quiet_options();
  options.validation = test::context().options().validation;
  for (bool asked : {false, true}) {
    options.pipeline_statistics = asked;
    Context ctx(options);
    gpu::Tensor h(ctx, {64}, gpu::DType::F32, "h");
    h.upload(std::vector<float>(64, 1.0f));
    gpu::Stream s(ctx);
    kernels::residual_add(s, h, h);
    s.submit();
    CHECK(h.download() == std::vector<float>(64, 2.0f));  // the capture changes nothing computed
    const auto lines = ctx.pipeline_statistics();
    if (!asked) {
      CHECK(lines.empty());
    } else if (!lines.empty()) {  // only where the driver offers VK_KHR_pipeline_executable_properties
      REQUIRE(lines.size() == 1);
      CHECK(lines[0].rfind("residual_add", 0) == 0);
      CHECK(lines[0].find("(no statistics)") == std::string::npos);
    }
    CHECK(ctx.validation_messages().empty());
  }
}

TEST_CASE("in-stream updates, region copies and read-backs need one submit", "[core]") {
  gpu::Tensor a(test::context(), {6}, gpu::DType::F32, "a"), b(test::context(), {6}, gpu::DType::F32, "b");
  gpu::Tensor half(test::context(), {4}, gpu::DType::F16, "half");
  half.upload(std::vector<float>{0.5f, -2.0f, 3.0f, 65504.0f});
  std::vector<float> values{1, 2, 3, 4, 5, 6};
  gpu::Stream s(test::context());
  s.fill_zero(b);
  s.update(a, values.data(), values.size() * 4);
  s.copy_region(a, 2 * 4, b, 0, 3 * 4);  // b[0..3) = a[2..5)
  kernels::residual_add(s, b, a);        // b += a
  std::vector<float> got_b, got_a, got_half;
  s.read_back(b, &got_b);
  s.read_back(a, &got_a);
  s.read_back(half, &got_half);
  s.submit();
  CHECK(got_a == values);
  CHECK(got_b == std::vector<float>{4, 6, 8, 4, 5, 6});
  CHECK(got_half == std::vector<float>{0.5f, -2.0f, 3.0f, 65504.0f});

  CHECK_THROWS_AS(s.copy_region(a, 4, b, 0, 6 * 4), Error);
  std::vector<float> too_big(20000);
  CHECK_THROWS_AS(s.update(a, too_big.data(), too_big.size() * 4), Error);
}

TEST_CASE("in-stream uploads take their data when recorded and reuse the stream's staging", "[core][errors]") {
  gpu::Stream s(test::context());
  gpu::Tensor small(test::context(), {5}, gpu::DType::F32, "small"), large(test::context(), {40000}, gpu::DType::F32, "large");
  for (int round = 0; round < 2; ++round) {  // the second round reuses the staging the first grew
    std::vector<float> a{1, 2, 3, 4, float(round)}, b(40000);
    for (size_t i = 0; i < b.size(); ++i) b[i] = float(i) * 0.5f + float(round);
    s.upload(small, a.data(), a.size() * 4);
    std::vector<float> got_small_first, got_small, got_large;
    s.read_back(small, &got_small_first);
    const auto a_recorded = a;
    a[0] = -1.0f;  // changed after recording: the first upload keeps what it took
    s.upload(small, a.data(), a.size() * 4);  // then the same tensor again, in stream order
    s.upload(large, b.data(), b.size() * 4);  // 160 KB: more than the staging's first 64 KiB
    kernels::residual_add(s, small, small);  // small *= 2, after its upload
    s.read_back(small, &got_small);
    s.read_back(large, &got_large);
    s.submit();
    CHECK(got_small_first == a_recorded);
    std::vector<float> doubled(a);
    for (auto& v : doubled) v *= 2.0f;
    CHECK(got_small == doubled);
    CHECK(got_large == b);
  }
  std::vector<float> too_many(6);
  CHECK_THROWS_AS(s.upload(small, too_many.data(), too_many.size() * 4), Error);
}

TEST_CASE("writers of separate parts of one buffer need no barrier between them", "[core]") {
  const auto xv = test::random_vector(1000, 1, 2.0f), yv = test::random_vector(300, 2, 9.0f);
  auto x = test::tensor({1000}, xv), y = test::tensor({300}, yv);
  gpu::Tensor maxima(test::context(), {2}, gpu::DType::I32, "maxima"), copy(test::context(), {2}, gpu::DType::I32, "copy");
  gpu::Stream s(test::context());
  s.fill_zero(maxima);
  kernels::abs_max(s, x, maxima, 0);  // after the fill: a barrier
  kernels::abs_max(s, y, maxima, 1);  // another slot: none
  CHECK(s.barrier_count() == 1);
  s.copy(maxima, copy);  // reads both parts: a barrier
  CHECK(s.barrier_count() == 2);
  kernels::abs_max(s, y, maxima, 0);  // a part write after a read: a barrier
  CHECK(s.barrier_count() == 3);
  s.submit();
  auto as_floats = [](const std::vector<int32_t>& bits) {
    std::vector<float> f(bits.size());
    std::memcpy(f.data(), bits.data(), bits.size() * 4);
    return f;
  };
  CHECK(as_floats(copy.download_ints()) == std::vector<float>{reference::abs_max(xv), reference::abs_max(yv)});
  CHECK(as_floats(maxima.download_ints())[0] == std::max(reference::abs_max(xv), reference::abs_max(yv)));
}

TEST_CASE("region copies into separate parts of one tensor need no barrier between them", "[core]") {
  const std::vector<float> av{1, 2, 3}, bv{4, 5, 6};
  auto a = test::tensor({3}, av), b = test::tensor({3}, bv);
  gpu::Tensor joined(test::context(), {6}, gpu::DType::F32, "joined"), doubled(test::context(), {6}, gpu::DType::F32, "doubled");
  gpu::Stream s(test::context());
  s.fill_zero(joined);
  s.copy_region(a, 0, joined, 0, 3 * 4, true);      // after the fill: a barrier
  s.copy_region(b, 0, joined, 3 * 4, 3 * 4, true);  // the other part: none
  CHECK(s.barrier_count() == 1);
  s.copy(joined, doubled);  // reads both parts: a barrier
  CHECK(s.barrier_count() == 2);
  kernels::residual_add(s, doubled, joined);  // doubled += joined
  s.copy_region(a, 0, joined, 0, 3 * 4);  // a whole-tensor writer after a read: a barrier
  CHECK(s.barrier_count() == 4);
  s.submit();
  CHECK(doubled.download() == std::vector<float>{2, 4, 6, 8, 10, 12});
}

TEST_CASE("each tensor of an array binding is ordered against the commands around it", "[core]") {
  const int64_t H = 1, dk = 8, dv = 4;
  if (!kernels::retention_decode_states_supported(test::context(), dk, dv)) {
    WARN("this device indexes no arrays of storage buffers: not tested");
    return;
  }
  auto q = test::random_vector(2 * dk, 1), k = test::random_vector(2 * dk, 2), v = test::random_vector(2 * dv, 3);
  auto tq = test::tensor({2, 1, H, dk}, q), tk = test::tensor({2, 1, H, dk}, k), tv = test::tensor({2, 1, H, dv}, v);
  gpu::Tensor positions(test::context(), {2}, gpu::DType::I32, "positions");
  positions.upload(std::vector<int32_t>{0, 0});  // no rotation at position 0
  auto first = test::tensor({1, H, dk, dv}, test::random_vector(dk * dv, 4)), second = test::zeros({1, H, dk, dv});
  auto o = test::zeros({2, 1, H, dv}), copy = test::zeros({1, H, dk, dv});
  second.upload(test::random_vector(dk * dv, 5));  // cleared below, in the stream
  gpu::Stream s(test::context());
  s.fill_zero(second);  // the array's second tensor
  kernels::retention_decode_states(s, tq, tk, tv, positions, {&first, &second}, o);  // after the fill: a barrier
  CHECK(s.barrier_count() == 1);
  s.copy(second, copy);  // reads the array's second tensor: a barrier
  CHECK(s.barrier_count() == 2);
  s.submit();
  // From a zero state, one step leaves k^T v.
  std::vector<float> want(dk * dv, 0.0f);
  reference::retention_recurrent(std::vector<float>(q.begin() + dk, q.end()), std::vector<float>(k.begin() + dk, k.end()),
                                 std::vector<float>(v.begin() + dv, v.end()), want, {1, 1, H, dk, dv});
  CHECK(test::max_rel_error(copy.download(), want) < 1e-6);
}

TEST_CASE("an explicit barrier comes only where something was written since the last", "[core]") {
  // Part writers that read other parts need everything before them visible (Stream::barrier),
  // and then none between themselves.
  const auto xv = test::random_vector(1000, 3, 2.0f), yv = test::random_vector(300, 4, 9.0f);
  auto x = test::tensor({1000}, xv), y = test::tensor({300}, yv);
  gpu::Tensor maxima(test::context(), {3}, gpu::DType::I32, "maxima");
  gpu::Stream s(test::context());
  s.barrier();  // nothing recorded yet
  CHECK(s.barrier_count() == 0);
  s.fill_zero(maxima);
  s.barrier();
  CHECK(s.barrier_count() == 1);
  s.barrier();  // nothing written since
  CHECK(s.barrier_count() == 1);
  kernels::abs_max(s, x, maxima, 0);  // no barrier: the explicit one made the fill visible
  kernels::abs_max(s, y, maxima, 1);
  CHECK(s.barrier_count() == 1);
  s.barrier();  // part writes since
  CHECK(s.barrier_count() == 2);
  kernels::abs_max(s, x, maxima, 2);
  CHECK(s.barrier_count() == 2);
  s.submit();
  std::vector<float> got(3);
  const auto bits = maxima.download_ints();
  std::memcpy(got.data(), bits.data(), 12);
  CHECK(got == std::vector<float>{reference::abs_max(xv), reference::abs_max(yv), reference::abs_max(xv)});
  CHECK(test::context().validation_messages().empty());
}

TEST_CASE("a tensor views its buffer with a smaller shape but never a larger one", "[core][errors]") {
  gpu::Tensor t(test::context(), {4, 8}, gpu::DType::F32, "scratch");
  t.reshape({3, 8});
  CHECK(t.numel() == 24);
  CHECK(t.bytes() == 96);
  t.reshape({2, 16});
  CHECK(t.dim(1) == 16);
  CHECK_THROWS_WITH(t.reshape({5, 8}), Catch::Contains("exceed"));
}

TEST_CASE("a stream's scratch grows to more elements or another type, and is kept otherwise", "[core]") {
  gpu::Stream s(test::context());
  gpu::Tensor scratch;
  s.grow(scratch, 64, gpu::DType::F32, "scratch");
  const VkBuffer first = scratch.buffer();
  s.grow(scratch, 32, gpu::DType::F32, "scratch");
  CHECK(scratch.buffer() == first);
  CHECK(scratch.numel() == 32);
  // As many f16 elements would fit in the f32 buffer, but the tensor's type must be right.
  s.grow(scratch, 64, gpu::DType::F16, "scratch");
  CHECK(scratch.dtype() == gpu::DType::F16);
  CHECK(scratch.numel() == 64);
  s.grow(scratch, 128, gpu::DType::F16, "scratch");
  CHECK(scratch.capacity() == 128);
  s.submit();
}

TEST_CASE("f32 to f16 conversion rounds to nearest even", "[core]") {
  // Independent reference: the exactly representable halves around each value, nearest wins,
  // ties go to the even one; checked over every f16 value and the midpoints between them.
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    float v = gpu::half_to_float(static_cast<uint16_t>(h));
    CHECK(gpu::float_to_half(v) == h);
    CHECK(gpu::float_to_half(-v) == (h | 0x8000));
    if (h + 1 == 0x7c00) continue;  // the largest finite half: its upper neighbour is infinity
    float next = gpu::half_to_float(static_cast<uint16_t>(h + 1));
    float mid = (v + next) / 2;  // exact in f32
    uint16_t even = (h & 1) ? static_cast<uint16_t>(h + 1) : static_cast<uint16_t>(h);
    CHECK(gpu::float_to_half(mid) == even);
    CHECK(gpu::float_to_half(std::nextafter(mid, 0.0f)) == h);
    CHECK(gpu::float_to_half(std::nextafter(mid, 1e9f)) == h + 1);
  }
  CHECK(gpu::float_to_half(65519.0f) == 0x7bff);
  CHECK(gpu::float_to_half(65520.0f) == 0x7c00);  // the midpoint to 2^16 rounds to infinity
  CHECK(gpu::float_to_half(70000.0f) == 0x7c00);
  CHECK(gpu::float_to_half(1e-9f) == 0);
}

TEST_CASE("memory types: read-back staging prefers a cached type, and falls back to any that has the required flags",
          "[core]") {
  constexpr VkMemoryPropertyFlags kLocal = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT,
                                  kVisible = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT,
                                  kCoherent = VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                                  kCached = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
  // As a discrete NVIDIA GPU lists them: write-combined host memory before the cached one.
  VkPhysicalDeviceMemoryProperties discrete{};
  const VkMemoryPropertyFlags types[] = {0, kLocal, kVisible | kCoherent, kVisible | kCoherent | kCached,
                                         kLocal | kVisible | kCoherent};
  discrete.memoryTypeCount = 5;
  for (uint32_t i = 0; i < 5; ++i) discrete.memoryTypes[i].propertyFlags = types[i];
  const VkMemoryPropertyFlags host = kVisible | kCoherent;
  CHECK(gpu::choose_memory_type(discrete, 0x1f, host) == 2);          // uploads: the first host-visible type
  CHECK(gpu::choose_memory_type(discrete, 0x1f, host, kCached) == 3);  // read-back: the cached one
  CHECK(gpu::choose_memory_type(discrete, 0x17, host, kCached) == 2);  // the cached one not allowed: fall back
  CHECK(gpu::choose_memory_type(discrete, 0x1f, kLocal) == 1);
  CHECK(gpu::choose_memory_type(discrete, 0x03, host) == -1);          // none allowed has the flags
  // Only a non-coherent cached type beside the coherent one (as some mobile GPUs): coherent wins.
  VkPhysicalDeviceMemoryProperties mobile{};
  mobile.memoryTypeCount = 2;
  mobile.memoryTypes[0].propertyFlags = kLocal | kVisible | kCoherent;
  mobile.memoryTypes[1].propertyFlags = kLocal | kVisible | kCached;
  CHECK(gpu::choose_memory_type(mobile, 0x3, host, kCached) == 0);
}

TEST_CASE("a context that spins on its fences waits for the work all the same", "[core]") {
  auto options = quiet_options();
  options.spin_wait = ContextOptions::SpinWait::On;
  options.validation = test::context().options().validation;
  Context ctx(options);
  const int64_t n = 1 << 20;
  std::vector<float> ones(n, 1.0f);
  gpu::Tensor h(ctx, {n}, gpu::DType::F32, "h");
  h.upload(ones);
  gpu::Stream s(ctx);
  // Long enough that a submit which did not wait would be read back unfinished.
  for (int i = 0; i < 20; ++i) kernels::residual_add(s, h, h);
  std::vector<float> read;
  s.read_back(h, &read);
  s.submit();
  CHECK(read == std::vector<float>(n, 1048576.0f));
  CHECK(ctx.validation_messages().empty());
  CHECK(ctx.spin_waits());
  // By default a GPU polls and a CPU device (whose threads need the core) sleeps.
  options.spin_wait = ContextOptions::SpinWait::Auto;
  CHECK(Context(options).spin_waits() == (test::context().device().type != "cpu"));
  options.spin_wait = ContextOptions::SpinWait::Off;
  CHECK_FALSE(Context(options).spin_waits());
  test::EnvOverride spin("RETNET_SPIN_WAIT", "1");
  CHECK(ContextOptions::from_environment().spin_wait == ContextOptions::SpinWait::On);
  spin.set("0");
  CHECK(ContextOptions::from_environment().spin_wait == ContextOptions::SpinWait::Off);
  spin.set("");
  CHECK(ContextOptions::from_environment().spin_wait == ContextOptions::SpinWait::Auto);
}
