#include "gpu/tensor.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>
#include <glm/gtc/packing.hpp>

#include "gpu/context_impl.hpp"
#include "gpu/vk_check.hpp"
#include "retnet/error.hpp"

namespace retnet::gpu {

size_t dtype_size(DType t) { return t == DType::F16 ? 2 : 4; }
const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::I32: return "i32";
  }
  return "?";
}

// Round to nearest even, as PyTorch's .half() does (glm's packHalf1x16 rounds ties away).
uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to infinity
  if (abs < 0x38800000u) {
    // Subnormal half (or zero): scale into an integer of 2^-24 units and round once, to even.
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);  // below half the smallest subnormal
    const uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126u - (abs >> 23);  // 14..24
    uint32_t h = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = ((abs - 0x38000000u) >> 13);  // rebias exponent 127 -> 15
  const uint32_t rest = abs & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // may carry into the exponent: correct
  return static_cast<uint16_t>(sign | h);
}

float half_to_float(uint16_t h) { return glm::unpackHalf1x16(h); }

StagingBuffer::StagingBuffer(Context& c, size_t bytes, const std::string& what, StagingUse use) : ctx(c) {
  auto& impl = ctx.impl();
  VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bi.size = std::max<size_t>(bytes, 16);
  bi.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  VK_CHECK(vkCreateBuffer(impl.device, &bi, nullptr, &buffer));
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(impl.device, buffer, &req);
  try {
    memory = impl.allocate(req, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                           "staging for " + what,
                           use == StagingUse::ReadBack ? VK_MEMORY_PROPERTY_HOST_CACHED_BIT : 0);
  } catch (...) {
    vkDestroyBuffer(impl.device, buffer, nullptr);
    throw;
  }
  allocation_bytes_ = req.size;
  size = bytes;
  VK_CHECK(vkBindBufferMemory(impl.device, buffer, memory, 0));
  VK_CHECK(vkMapMemory(impl.device, memory, 0, VK_WHOLE_SIZE, 0, &mapped));
}

StagingBuffer::~StagingBuffer() {
  auto& impl = ctx.impl();
  vkUnmapMemory(impl.device, memory);
  vkDestroyBuffer(impl.device, buffer, nullptr);
  impl.release(memory, allocation_bytes_);
}

Tensor::Tensor(Context& ctx, std::vector<int64_t> shape, DType dtype, std::string name)
    : ctx_(&ctx), shape_(std::move(shape)), dtype_(dtype), name_(std::move(name)) {
  for (int64_t d : shape_)
    if (d < 0) throw Error(fmt::format("tensor '{}' has a negative dimension: [{}]", name_, fmt::join(shape_, ", ")));
  auto& impl = ctx.impl();
  if (bytes() > impl.info.max_buffer_bytes)
    throw OutOfMemoryError(fmt::format(
        "tensor {} needs {:.1f} MiB, more than the largest storage buffer device '{}' can bind ({:.1f} MiB)",
        describe(), bytes() / 1048576.0, impl.info.name, impl.info.max_buffer_bytes / 1048576.0));
  VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  // Never empty (Vulkan forbids it), and whole 32-bit words, so shaders may read f16 data as words.
  bi.size = std::max<size_t>((bytes() + 3) & ~size_t(3), 16);
  bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  VK_CHECK(vkCreateBuffer(impl.device, &bi, nullptr, &buffer_));
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(impl.device, buffer_, &req);
  try {
    memory_ = impl.allocate(req, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, "tensor " + describe());
  } catch (...) {
    vkDestroyBuffer(impl.device, buffer_, nullptr);
    buffer_ = VK_NULL_HANDLE;
    throw;
  }
  allocation_bytes_ = req.size;
  capacity_ = numel();
  VK_CHECK(vkBindBufferMemory(impl.device, buffer_, memory_, 0));
}

void Tensor::reshape(std::vector<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw Error(fmt::format("reshape of tensor {} to a negative dimension", describe()));
    n *= d;
  }
  if (n > capacity_)
    throw Error(fmt::format("reshape of tensor {} to [{}]: {} elements exceed its {}", describe(),
                            fmt::join(shape, ", "), n, capacity_));
  shape_ = std::move(shape);
}

Tensor::~Tensor() { release(); }

void Tensor::release() {
  if (!ctx_ || buffer_ == VK_NULL_HANDLE) return;
  auto& impl = ctx_->impl();
  vkDestroyBuffer(impl.device, buffer_, nullptr);
  impl.release(memory_, allocation_bytes_);
  buffer_ = VK_NULL_HANDLE;
  memory_ = VK_NULL_HANDLE;
}

Tensor::Tensor(Tensor&& o) noexcept { *this = std::move(o); }

Tensor& Tensor::operator=(Tensor&& o) noexcept {
  if (this != &o) {
    release();
    ctx_ = o.ctx_;
    shape_ = std::move(o.shape_);
    dtype_ = o.dtype_;
    name_ = std::move(o.name_);
    buffer_ = o.buffer_;
    memory_ = o.memory_;
    allocation_bytes_ = o.allocation_bytes_;
    capacity_ = o.capacity_;
    o.buffer_ = VK_NULL_HANDLE;
    o.memory_ = VK_NULL_HANDLE;
  }
  return *this;
}

int64_t element_count(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t Tensor::numel() const { return element_count(shape_); }

std::string Tensor::describe() const {
  return fmt::format("'{}' [{}] {}", name_, fmt::join(shape_, ", "), dtype_name(dtype_));
}

void Tensor::upload_bytes(const void* data, size_t n) {
  if (n != bytes())
    throw Error(fmt::format("upload of {} bytes into tensor {} of {} bytes", n, describe(), bytes()));
  if (n == 0) return;
  auto& impl = ctx_->impl();
  StagingBuffer staging(*ctx_, n, describe(), StagingUse::Upload);
  std::memcpy(staging.mapped, data, n);
  VkCommandBuffer cmd = impl.begin_commands();
  VkBufferCopy region{0, 0, n};
  vkCmdCopyBuffer(cmd, staging.buffer, buffer_, 1, &region);
  impl.submit_and_wait(cmd);
}

void Tensor::download_bytes(void* data, size_t n) const {
  if (n != bytes())
    throw Error(fmt::format("download of {} bytes from tensor {} of {} bytes", n, describe(), bytes()));
  if (n == 0) return;
  auto& impl = ctx_->impl();
  StagingBuffer staging(*ctx_, n, describe(), StagingUse::ReadBack);
  VkCommandBuffer cmd = impl.begin_commands();
  VkBufferCopy region{0, 0, n};
  vkCmdCopyBuffer(cmd, buffer_, staging.buffer, 1, &region);
  impl.submit_and_wait(cmd);
  std::memcpy(data, staging.mapped, n);
}

void Tensor::upload(const std::vector<float>& values) {
  if (static_cast<int64_t>(values.size()) != numel())
    throw Error(fmt::format("upload of {} values into tensor {} of {} elements", values.size(), describe(), numel()));
  if (dtype_ == DType::F32) return upload_bytes(values.data(), values.size() * 4);
  if (dtype_ == DType::F16) {
    std::vector<uint16_t> h(values.size());
    for (size_t i = 0; i < values.size(); ++i) h[i] = float_to_half(values[i]);
    return upload_bytes(h.data(), h.size() * 2);
  }
  throw Error(fmt::format("float upload into integer tensor {}", describe()));
}

void Tensor::upload(const std::vector<int32_t>& values) {
  if (dtype_ != DType::I32) throw Error(fmt::format("integer upload into tensor {}", describe()));
  if (static_cast<int64_t>(values.size()) != numel())
    throw Error(fmt::format("upload of {} values into tensor {} of {} elements", values.size(), describe(), numel()));
  upload_bytes(values.data(), values.size() * 4);
}

std::vector<float> Tensor::download() const {
  std::vector<float> out(static_cast<size_t>(numel()));
  if (dtype_ == DType::F32) {
    download_bytes(out.data(), out.size() * 4);
  } else if (dtype_ == DType::F16) {
    std::vector<uint16_t> h(out.size());
    download_bytes(h.data(), h.size() * 2);
    for (size_t i = 0; i < h.size(); ++i) out[i] = half_to_float(h[i]);
  } else {
    throw Error(fmt::format("float download from integer tensor {}", describe()));
  }
  return out;
}

std::vector<int32_t> Tensor::download_ints() const {
  if (dtype_ != DType::I32) throw Error(fmt::format("integer download from tensor {}", describe()));
  std::vector<int32_t> out(static_cast<size_t>(numel()));
  download_bytes(out.data(), out.size() * 4);
  return out;
}

}  // namespace retnet::gpu
