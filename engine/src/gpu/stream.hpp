#pragma once
#include <vulkan/vulkan.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "gpu/tensor.hpp"

namespace retnet::gpu {

// One shader binding and whether the dispatch writes it (for barrier placement).
struct Arg {
  const Tensor* tensor;
  bool writes;
  bool part = false;  // writes only a part of the tensor that no other `part` writer touches
  // An array binding: `size` tensors from `array` (then `tensor` is the first).
  const Tensor* const* array = nullptr;
  uint32_t size = 1;
  const Tensor& at(uint32_t i) const { return array ? *array[i] : *tensor; }
};
inline Arg in(const Tensor& t) { return {&t, false}; }
inline Arg out(Tensor& t) { return {&t, true}; }
// A write to a part of t that dispatches writing other parts (each through out_part) do not
// touch: they need no barrier between them, and may run concurrently (e.g. partial sums of
// separate tensors into separate slots of one buffer).
inline Arg out_part(Tensor& t) { return {&t, true, true}; }
// One binding of an array of tensors (non-empty), each of which the dispatch may write whole
// (e.g. each sequence's own state); the shader indexes the array per workgroup, which needs
// DeviceInfo::storage_buffer_arrays. A tensor may appear more than once.
inline Arg out_each(const std::vector<Tensor*>& ts) {
  return {ts.front(), true, false, ts.data(), static_cast<uint32_t>(ts.size())};
}

struct DispatchTime {
  std::string label;
  double ms;
};

// Records many dispatches into one command buffer and submits them at once. A pipeline
// barrier is inserted only where a dispatch touches a buffer that an earlier dispatch of
// the same batch wrote (or writes one an earlier dispatch read).
class Stream {
 public:
  explicit Stream(Context& ctx);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Shader `shader` (an embedded shaders/<shader>.comp) with buffers bound in order at
  // set 0, bindings 0..N-1, push constants `push`, and specialization constants 0..K-1.
  void dispatch(const char* shader, std::initializer_list<Arg> args, const void* push, uint32_t push_bytes,
                uint32_t groups_x, uint32_t groups_y = 1, uint32_t groups_z = 1,
                const std::vector<uint32_t>& specialization = {});
  template <class Push>
  void dispatch(const char* shader, std::initializer_list<Arg> args, const Push& push, uint32_t groups_x,
                uint32_t groups_y = 1, uint32_t groups_z = 1, const std::vector<uint32_t>& specialization = {}) {
    static_assert(sizeof(Push) % 4 == 0 && sizeof(Push) <= 128, "push constants: 4-byte multiple, at most 128 bytes");
    dispatch(shader, args, &push, sizeof(Push), groups_x, groups_y, groups_z, specialization);
  }
  // Makes everything recorded so far visible to what follows (a barrier, where anything was
  // written since the last one): for dispatches that read parts of a tensor which others
  // write through out_part, and so declare it out_part themselves to run beside them.
  void barrier();
  void fill_zero(Tensor& t);
  void copy(const Tensor& src, Tensor& dst);
  // Copies `bytes` from src at src_offset to dst at dst_offset (offsets in bytes, multiples of 4).
  // dst_part: the region is a part of dst that no other part writer touches (as out_part), so
  // copies into disjoint regions of one tensor need no barrier between them.
  void copy_region(const Tensor& src, size_t src_offset, Tensor& dst, size_t dst_offset, size_t bytes,
                   bool dst_part = false);
  // Writes small host data (at most 64 KiB) into the tensor from inside the command buffer,
  // so per-step inputs (token ids, positions) need no submit of their own.
  void update(Tensor& dst, const void* data, size_t bytes);
  // Copies `bytes` of host data into dst (offset 0) at this point of the stream, through the
  // staging host_input uses. The data is taken when recorded: a sealed recording copies the
  // same data at every replay (host_input is for data that changes).
  void upload(Tensor& dst, const void* data, size_t bytes);
  // Makes `scratch` hold at least `elements` of `dtype` (reallocating when it holds fewer or
  // another type, the old buffer kept until the next submit, since recorded commands may use
  // it) and views it as [elements].
  Tensor& grow(Tensor& scratch, int64_t elements, DType dtype, const char* what);
  // Takes ownership of a scratch tensor that recorded commands use (e.g. an index list a
  // launcher uploaded) and keeps it alive until the next submit() has finished.
  Tensor& keep_until_submit(Tensor t);
  // After the next submit(), *out holds the tensor's contents (as floats; f16 converted),
  // copied back in the same submission.
  void read_back(const Tensor& src, std::vector<float>* out);

  // Submits everything recorded, waits, and makes the stream ready to record again.
  void submit();

  // A step recorded once and replayed: record as usual (with host_input for what changes
  // between runs), then seal() instead of submit(); each replay() submits the same command
  // buffer again, waits, and refills the read_back vectors. reset() drops the recording.
  // Nothing may be recorded while sealed. The tensors it uses must outlive the recording.
  void seal();
  void replay();
  void reset();
  bool sealed() const { return sealed_; }
  // Commands are recorded and not yet submitted (nor sealed).
  bool recording() const { return recording_; }
  // Copies `bytes` into dst (offset 0) when the commands run, from host memory the caller
  // fills through the returned pointer before each submit or replay: a piece of a staging
  // buffer the stream reuses from one submit to the next (no allocation, nor a submit of its
  // own, once it is large enough).
  void* host_input(Tensor& dst, size_t bytes);
  // Per-dispatch GPU times of the last submit (empty unless profiling is on).
  const std::vector<DispatchTime>& timings() const { return timings_; }
  Context& context() const { return *ctx_; }
  uint32_t dispatch_count() const { return dispatches_; }
  uint32_t barrier_count() const { return barriers_; }  // pipeline barriers in the recording

 private:
  void begin_if_needed();
  void execute();        // submits cmd_ and waits; throws on failure
  void deliver_reads();  // copies what read_back recorded into the callers' vectors
  void collect_timings();
  void clear_recording();
  // A barrier before what `args` touch where earlier commands of the batch require it (or
  // where `needed` already says so).
  void hazard_barrier(std::initializer_list<Arg> args, bool needed = false);
  // A host-visible buffer reused between submits, handed out in 16-byte-aligned pieces.
  struct Arena {
    StagingUse use;
    std::unique_ptr<StagingBuffer> buffer;
    size_t used = 0;
  };
  // A piece of `bytes` of the arena (growing it, keeping the old buffer until the submit): its
  // buffer and offset.
  std::pair<StagingBuffer*, size_t> take(Arena& arena, size_t bytes, const char* what);
  VkDescriptorSet allocate_set(VkDescriptorSetLayout layout);

  Context* ctx_;
  VkCommandBuffer cmd_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  bool recording_ = false;
  bool sealed_ = false;
  std::vector<VkDescriptorPool> pools_;
  size_t current_pool_ = 0;
  std::unordered_set<VkBuffer> written_, read_, parts_written_;
  uint32_t dispatches_ = 0, barriers_ = 0;

  VkQueryPool query_pool_ = VK_NULL_HANDLE;
  uint32_t query_capacity_ = 0;
  std::vector<std::string> labels_;
  std::vector<DispatchTime> timings_;

  struct PendingRead {
    StagingBuffer* buffer;
    size_t offset, bytes;
    DType dtype;
    std::vector<float>* out;
  };
  Arena readback_{StagingUse::ReadBack}, inputs_{StagingUse::Upload};
  std::vector<std::unique_ptr<StagingBuffer>> retired_;
  std::vector<std::unique_ptr<Tensor>> kept_;
  std::vector<PendingRead> reads_;
};

// Workgroups per grid dimension that every Vulkan device accepts (the minimum of
// maxComputeWorkGroupCount); larger problems loop over their blocks inside the shader.
constexpr uint32_t kMaxGroupsPerDimension = 65535;

// Workgroup counts for `n` items in groups of `size`.
inline uint32_t div_up(int64_t n, int64_t size) { return static_cast<uint32_t>((n + size - 1) / size); }

}  // namespace retnet::gpu
