#pragma once
#include <vulkan/vulkan.h>

#include <cstdint>
#include <string>
#include <vector>

#include "retnet/device.hpp"

namespace retnet::gpu {

enum class DType { F32, F16, I32 };
size_t dtype_size(DType t);
const char* dtype_name(DType t);
// The elements of a row-major array of this shape (1 for no dimensions).
int64_t element_count(const std::vector<int64_t>& shape);

// A dense row-major array in device-local memory, bound to shaders as one storage buffer.
class Tensor {
 public:
  Tensor() = default;
  Tensor(Context& ctx, std::vector<int64_t> shape, DType dtype, std::string name = "tensor");
  ~Tensor();
  Tensor(Tensor&& other) noexcept;
  Tensor& operator=(Tensor&& other) noexcept;
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;

  bool empty() const { return buffer_ == VK_NULL_HANDLE; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_.at(i < 0 ? shape_.size() + i : i); }
  int64_t numel() const;
  size_t bytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  const std::string& name() const { return name_; }
  std::string describe() const;  // e.g. "q [7, 4, 32] f32"
  VkBuffer buffer() const { return buffer_; }
  Context& context() const { return *ctx_; }

  // Views the same buffer with another shape of at most the allocated element count, so one
  // scratch buffer serves batches of any size up to the one it was made for.
  void reshape(std::vector<int64_t> shape);
  int64_t capacity() const { return capacity_; }

  // Host <-> device through a staging buffer; floats are converted to/from the dtype.
  void upload(const std::vector<float>& values);
  void upload(const std::vector<int32_t>& values);
  void upload_bytes(const void* data, size_t bytes);
  std::vector<float> download() const;
  std::vector<int32_t> download_ints() const;
  void download_bytes(void* data, size_t bytes) const;

 private:
  void release();
  Context* ctx_ = nullptr;
  std::vector<int64_t> shape_;
  DType dtype_ = DType::F32;
  std::string name_;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  VkDeviceSize allocation_bytes_ = 0;
  int64_t capacity_ = 0;
};

// What the host does with a staging buffer: write it for the device to copy from, or read
// what the device copied into it (then a cached memory type, where the device has one).
enum class StagingUse { Upload, ReadBack };

// A host-visible buffer for transfers between host and device.
struct StagingBuffer {
  StagingBuffer(Context& ctx, size_t bytes, const std::string& what, StagingUse use);
  ~StagingBuffer();
  StagingBuffer(const StagingBuffer&) = delete;
  StagingBuffer& operator=(const StagingBuffer&) = delete;
  Context& ctx;
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkDeviceSize size = 0;  // usable bytes
  void* mapped = nullptr;

 private:
  VkDeviceSize allocation_bytes_ = 0;
};

// Host-side f16 conversion (round to nearest even), used by uploads and CPU references.
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);

}  // namespace retnet::gpu
