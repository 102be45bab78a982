#include "gpu/stream.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstring>

#include "gpu/context_impl.hpp"
#include "gpu/vk_check.hpp"
#include "retnet/error.hpp"

namespace retnet::gpu {

namespace {
constexpr uint32_t kSetsPerPool = 256;
constexpr uint32_t kBuffersPerSet = 24;  // decode_layer binds 21
constexpr uint32_t kMaxBuffersPerSet = 96;  // with arrays of buffers
constexpr uint32_t kMaxTimedDispatches = 4096;
}  // namespace

Stream::Stream(Context& ctx) : ctx_(&ctx) {
  auto& impl = ctx.impl();
  VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  ai.commandPool = impl.command_pool;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  {
    std::lock_guard<std::mutex> lock(impl.mutex);
    VK_CHECK(vkAllocateCommandBuffers(impl.device, &ai, &cmd_));
  }
  VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VK_CHECK(vkCreateFence(impl.device, &fci, nullptr, &fence_));
  if (impl.options.profiling && impl.info.timestamps) {
    VkQueryPoolCreateInfo qi{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
    qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
    qi.queryCount = 2 * kMaxTimedDispatches;
    VK_CHECK(vkCreateQueryPool(impl.device, &qi, nullptr, &query_pool_));
    query_capacity_ = kMaxTimedDispatches;
  }
}

Stream::~Stream() {
  auto& impl = ctx_->impl();
  if (recording_) vkEndCommandBuffer(cmd_);  // abandoned recording: never submitted
  for (auto pool : pools_) vkDestroyDescriptorPool(impl.device, pool, nullptr);
  if (query_pool_) vkDestroyQueryPool(impl.device, query_pool_, nullptr);
  vkDestroyFence(impl.device, fence_, nullptr);
  std::lock_guard<std::mutex> lock(impl.mutex);
  vkFreeCommandBuffers(impl.device, impl.command_pool, 1, &cmd_);
}

void Stream::begin_if_needed() {
  if (recording_) return;
  if (sealed_) throw Error("internal error: recording into a sealed stream (reset() it first)");
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = 0;  // one-time-submit would forbid replay()
  VK_CHECK(vkBeginCommandBuffer(cmd_, &bi));
  if (query_pool_) vkCmdResetQueryPool(cmd_, query_pool_, 0, 2 * query_capacity_);
  recording_ = true;
  dispatches_ = 0;
  barriers_ = 0;
  labels_.clear();
}

void Stream::barrier() {
  begin_if_needed();
  hazard_barrier({}, !written_.empty() || !parts_written_.empty());
}

void Stream::hazard_barrier(std::initializer_list<Arg> args, bool needed) {
  for (const Arg& a : args)
    for (uint32_t i = 0; i < a.size; ++i) {
      VkBuffer b = a.at(i).buffer();
      if (written_.count(b) || (a.writes && read_.count(b)) || (!a.part && parts_written_.count(b))) needed = true;
    }
  if (needed) {
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                       VK_ACCESS_TRANSFER_WRITE_BIT;
    const VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vkCmdPipelineBarrier(cmd_, stages, stages, 0, 1, &mb, 0, nullptr, 0, nullptr);
    ++barriers_;
    written_.clear();
    read_.clear();
    parts_written_.clear();
  }
  for (const Arg& a : args)
    for (uint32_t i = 0; i < a.size; ++i) (a.part ? parts_written_ : a.writes ? written_ : read_).insert(a.at(i).buffer());
}

std::pair<StagingBuffer*, size_t> Stream::take(Arena& arena, size_t bytes, const char* what) {
  const size_t offset = (arena.used + 15) & ~size_t(15);
  if (!arena.buffer || offset + bytes > arena.buffer->size) {
    // Grow; commands already recorded keep the old buffer alive until the submit.
    if (arena.buffer) retired_.push_back(std::move(arena.buffer));
    arena.buffer = std::make_unique<StagingBuffer>(*ctx_, std::max<size_t>(2 * (offset + bytes), 1 << 16), what, arena.use);
  }
  arena.used = offset + bytes;
  return {arena.buffer.get(), offset};
}

VkDescriptorSet Stream::allocate_set(VkDescriptorSetLayout layout) {
  auto& impl = ctx_->impl();
  while (true) {
    if (current_pool_ == pools_.size()) {
      VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kSetsPerPool * kBuffersPerSet};
      VkDescriptorPoolCreateInfo pi{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
      pi.maxSets = kSetsPerPool;
      pi.poolSizeCount = 1;
      pi.pPoolSizes = &size;
      VkDescriptorPool pool;
      VK_CHECK(vkCreateDescriptorPool(impl.device, &pi, nullptr, &pool));
      pools_.push_back(pool);
    }
    VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    ai.descriptorPool = pools_[current_pool_];
    ai.descriptorSetCount = 1;
    ai.pSetLayouts = &layout;
    VkDescriptorSet set;
    VkResult r = vkAllocateDescriptorSets(impl.device, &ai, &set);
    if (r == VK_SUCCESS) return set;
    if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL) VK_CHECK(r);
    ++current_pool_;  // this pool is full: move on to the next (created on demand)
  }
}

void Stream::dispatch(const char* shader, std::initializer_list<Arg> args, const void* push, uint32_t push_bytes,
                      uint32_t gx, uint32_t gy, uint32_t gz, const std::vector<uint32_t>& specialization) {
  std::vector<uint32_t> sizes;
  uint32_t buffers = 0;
  for (const Arg& a : args) {
    sizes.push_back(a.size);
    buffers += a.size;
  }
  if (args.size() > kBuffersPerSet || buffers > kMaxBuffersPerSet)
    throw Error(fmt::format("shader {} binds too many buffers", shader));
  auto& impl = ctx_->impl();
  const Pipeline& p = impl.pipeline(shader, sizes, push_bytes, specialization);
  if (gx == 0 || gy == 0 || gz == 0) return;  // nothing to do: an empty tensor
  for (const Arg& a : args)
    for (uint32_t i = 0; i < a.size; ++i)
      if (a.at(i).empty()) throw Error(fmt::format("shader {} was given an unallocated tensor", shader));
  begin_if_needed();
  hazard_barrier(args);

  VkDescriptorSet set = allocate_set(p.set_layout);
  std::vector<VkDescriptorBufferInfo> infos;
  std::vector<VkWriteDescriptorSet> writes;
  infos.reserve(buffers);  // never reallocated: the writes point into it
  uint32_t binding = 0;
  for (const Arg& a : args) {
    VkWriteDescriptorSet w{VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    w.dstSet = set;
    w.dstBinding = binding++;
    w.descriptorCount = a.size;
    w.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    w.pBufferInfo = infos.data() + infos.size();
    for (uint32_t i = 0; i < a.size; ++i) infos.push_back({a.at(i).buffer(), 0, VK_WHOLE_SIZE});
    writes.push_back(w);
  }
  vkUpdateDescriptorSets(impl.device, static_cast<uint32_t>(writes.size()), writes.data(), 0, nullptr);

  const bool timed = query_pool_ && dispatches_ < query_capacity_;
  if (timed) vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, query_pool_, 2 * dispatches_);
  vkCmdBindPipeline(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, p.pipeline);
  vkCmdBindDescriptorSets(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, p.layout, 0, 1, &set, 0, nullptr);
  if (push_bytes) vkCmdPushConstants(cmd_, p.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes, push);
  vkCmdDispatch(cmd_, gx, gy, gz);
  if (timed) {
    vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, query_pool_, 2 * dispatches_ + 1);
    labels_.emplace_back(shader);
  }
  ++dispatches_;
}

void Stream::fill_zero(Tensor& t) {
  begin_if_needed();
  hazard_barrier({out(t)});
  vkCmdFillBuffer(cmd_, t.buffer(), 0, VK_WHOLE_SIZE, 0);
}

void Stream::copy(const Tensor& src, Tensor& dst) {
  if (src.bytes() != dst.bytes())
    throw Error(fmt::format("copy from {} to {}: sizes differ", src.describe(), dst.describe()));
  if (src.bytes() == 0) return;
  begin_if_needed();
  hazard_barrier({in(src), out(dst)});
  VkBufferCopy region{0, 0, src.bytes()};
  vkCmdCopyBuffer(cmd_, src.buffer(), dst.buffer(), 1, &region);
}

void Stream::copy_region(const Tensor& src, size_t src_offset, Tensor& dst, size_t dst_offset, size_t bytes,
                         bool dst_part) {
  if (src_offset + bytes > src.capacity() * dtype_size(src.dtype()) ||
      dst_offset + bytes > dst.capacity() * dtype_size(dst.dtype()))
    throw Error(fmt::format("copy of {} bytes from {} (offset {}) to {} (offset {}) is out of range", bytes,
                            src.describe(), src_offset, dst.describe(), dst_offset));
  if (bytes == 0) return;
  begin_if_needed();
  hazard_barrier({in(src), dst_part ? out_part(dst) : out(dst)});
  VkBufferCopy region{src_offset, dst_offset, bytes};
  vkCmdCopyBuffer(cmd_, src.buffer(), dst.buffer(), 1, &region);
}

void Stream::update(Tensor& dst, const void* data, size_t bytes) {
  if (bytes > 65536 || bytes % 4 != 0 || bytes > dst.capacity() * dtype_size(dst.dtype()))
    throw Error(fmt::format("in-stream update of {} bytes into {}: at most 64 KiB, a multiple of 4, within the tensor",
                            bytes, dst.describe()));
  if (bytes == 0) return;
  begin_if_needed();
  hazard_barrier({out(dst)});
  vkCmdUpdateBuffer(cmd_, dst.buffer(), 0, bytes, data);
}

Tensor& Stream::keep_until_submit(Tensor t) {
  kept_.push_back(std::make_unique<Tensor>(std::move(t)));
  return *kept_.back();
}

void Stream::read_back(const Tensor& src, std::vector<float>* out_values) {
  if (src.dtype() == DType::I32) throw Error(fmt::format("read_back of integer tensor {}", src.describe()));
  const size_t bytes = src.bytes();
  const auto [staging, offset] = take(readback_, bytes, "read-back");
  begin_if_needed();
  hazard_barrier({in(src)});
  if (bytes) {
    VkBufferCopy region{0, offset, bytes};
    vkCmdCopyBuffer(cmd_, src.buffer(), staging->buffer, 1, &region);
  }
  reads_.push_back({staging, offset, bytes, src.dtype(), out_values});
}

void Stream::upload(Tensor& dst, const void* data, size_t bytes) {
  if (bytes > dst.capacity() * dtype_size(dst.dtype()))
    throw Error(fmt::format("upload of {} bytes into {}: out of range", bytes, dst.describe()));
  if (bytes == 0) return;
  std::memcpy(host_input(dst, bytes), data, bytes);
}

void* Stream::host_input(Tensor& dst, size_t bytes) {
  if (bytes == 0 || bytes > dst.capacity() * dtype_size(dst.dtype()))
    throw Error(fmt::format("host input of {} bytes into {}: out of range", bytes, dst.describe()));
  const auto [staging, offset] = take(inputs_, bytes, "step inputs");
  begin_if_needed();
  hazard_barrier({out(dst)});
  VkBufferCopy region{offset, 0, bytes};
  vkCmdCopyBuffer(cmd_, staging->buffer, dst.buffer(), 1, &region);
  return static_cast<char*>(staging->mapped) + offset;
}

Tensor& Stream::grow(Tensor& scratch, int64_t elements, DType dtype, const char* what) {
  if (scratch.empty() || scratch.dtype() != dtype || scratch.capacity() < elements) {
    if (!scratch.empty()) keep_until_submit(std::move(scratch));  // recorded commands may still use it
    scratch = Tensor(*ctx_, {elements}, dtype, what);
  }
  scratch.reshape({elements});
  return scratch;
}

void Stream::execute() {
  auto& impl = ctx_->impl();
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cmd_;
  VkResult r;
  {
    std::lock_guard<std::mutex> lock(impl.mutex);
    r = vkQueueSubmit(impl.queue, 1, &si, fence_);
  }
  if (r == VK_SUCCESS && ctx_->spin_waits()) {
    // Poll for a bounded time: a long submission (a training step) then sleeps after all.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
    for (unsigned polls = 1; (r = vkGetFenceStatus(impl.device, fence_)) == VK_NOT_READY; ++polls)
      if (polls % 256 == 0 && std::chrono::steady_clock::now() > deadline) {
        r = VK_SUCCESS;  // not done yet: the wait below sleeps
        break;
      }
  }
  if (r == VK_SUCCESS) r = vkWaitForFences(impl.device, 1, &fence_, VK_TRUE, UINT64_MAX);  // at once if spun
  vkResetFences(impl.device, 1, &fence_);
  if (r != VK_SUCCESS) {
    clear_recording();
    throw_vk_error(r, "vkQueueSubmit/vkWaitForFences", __FILE__, __LINE__);
  }
}

void Stream::deliver_reads() {
  for (const auto& rd : reads_) {
    const char* base = static_cast<const char*>(rd.buffer->mapped) + rd.offset;
    size_t n = rd.bytes / dtype_size(rd.dtype);
    rd.out->resize(n);
    if (rd.dtype == DType::F32) {
      std::memcpy(rd.out->data(), base, rd.bytes);
    } else {
      const auto* h = reinterpret_cast<const uint16_t*>(base);
      for (size_t i = 0; i < n; ++i) (*rd.out)[i] = half_to_float(h[i]);
    }
  }
}

void Stream::collect_timings() {
  timings_.clear();
  if (!query_pool_ || labels_.empty()) return;
  auto& impl = ctx_->impl();
  std::vector<uint64_t> stamps(2 * labels_.size());
  VK_CHECK(vkGetQueryPoolResults(impl.device, query_pool_, 0, static_cast<uint32_t>(stamps.size()),
                                 stamps.size() * 8, stamps.data(), 8,
                                 VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
  for (size_t i = 0; i < labels_.size(); ++i)
    timings_.push_back({labels_[i], (stamps[2 * i + 1] - stamps[2 * i]) * impl.timestamp_period_ns * 1e-6});
}

void Stream::clear_recording() {
  auto& impl = ctx_->impl();
  if (recording_) vkEndCommandBuffer(cmd_);
  recording_ = false;
  sealed_ = false;
  written_.clear();
  read_.clear();
  parts_written_.clear();
  for (auto pool : pools_) vkResetDescriptorPool(impl.device, pool, 0);
  current_pool_ = 0;
  VK_CHECK(vkResetCommandBuffer(cmd_, 0));
  reads_.clear();
  readback_.used = 0;
  inputs_.used = 0;
  retired_.clear();
  kept_.clear();
}

void Stream::submit() {
  timings_.clear();
  if (sealed_) throw Error("internal error: submit() of a sealed stream (use replay())");
  if (!recording_) return;
  recording_ = false;
  VK_CHECK(vkEndCommandBuffer(cmd_));
  execute();
  deliver_reads();
  collect_timings();
  clear_recording();
}

void Stream::seal() {
  if (sealed_) return;
  begin_if_needed();  // an empty recording is still replayable
  VK_CHECK(vkEndCommandBuffer(cmd_));
  recording_ = false;
  sealed_ = true;
}

void Stream::replay() {
  if (!sealed_) throw Error("internal error: replay() of a stream that was not sealed");
  execute();
  deliver_reads();
  collect_timings();
}

void Stream::reset() { clear_recording(); }

}  // namespace retnet::gpu
