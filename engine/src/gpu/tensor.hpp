#pragma once
#include <vulkan/vulkan.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "retnet/device.hpp"

namespace retnet::gpu {

enum class DType { F32, F16, I32 };
size_t dtype_size(DType t);
const char* dtype_name(DType t);

// A dense row-major array in device-local memory, bound to shaders as one storage buffer.
class Tensor {
 public:
  Tensor() = default;
  Tensor(Context& ctx, std::vector<int64_t> shape, DType dtype, std::string name = "tensor");
  // A tensor of `shape` in the same memory as `base`, from `byte_offset` bytes after where `base`
  // starts, anywhere within the memory `base` was made in (a view may reach past `base`'s own
  // end). So one buffer holds a kind of weight for all layers and a kernel can bind it once
  // for them all (kernels/decode_layer.hpp). The memory lives while any view of it does. The
  // start must be a multiple of view_alignment() (minStorageBufferOffsetAlignment).
  static Tensor view(const Tensor& base, size_t byte_offset, std::vector<int64_t> shape, std::string name);
  static size_t view_alignment(const Context& ctx);
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
  size_t offset() const { return offset_; }  // where it starts in buffer(): 0 but for views
  VkDeviceSize binding_range() const;        // the bytes a shader binding of it covers
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
  struct Allocation;  // the buffer and its memory, shared by a tensor and its views
  Context* ctx_ = nullptr;
  std::vector<int64_t> shape_;
  DType dtype_ = DType::F32;
  std::string name_;
  std::shared_ptr<const Allocation> allocation_;
  VkBuffer buffer_ = VK_NULL_HANDLE;  // allocation_'s
  int64_t capacity_ = 0;
  size_t offset_ = 0;
  bool view_ = false;
};

// Tensors of one shape, one per name, in one allocation, the i-th at i * stacked_stride bytes
// (views): one buffer holds a kind of weight, or the state, of every layer, so that one
// binding serves a kernel that runs all the layers (kernels/decode_layer.hpp).
std::vector<Tensor> stacked(Context& ctx, const std::vector<int64_t>& shape, DType dtype,
                            const std::vector<std::string>& names);
// The bytes from one stacked tensor of `bytes` bytes to the next: rounded up to view_alignment.
size_t stacked_stride(const Context& ctx, size_t bytes);
// Whether these tensors (of one size) lie as `stacked` lays them out: the i-th at i strides
// from the first, in one buffer.
bool is_stacked(const std::vector<const Tensor*>& tensors);

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
