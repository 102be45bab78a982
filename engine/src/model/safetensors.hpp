#pragma once
// The safetensors format (Hugging Face): 8-byte little-endian header length N, N bytes of
// JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the
// data. Everything is validated before use: a malformed file is a retnet::Error naming the
// file and the problem, never a crash or a read out of bounds.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace retnet::model {

enum class TensorDType { F32, F16, BF16 };
const char* tensor_dtype_name(TensorDType t);
size_t tensor_dtype_size(TensorDType t);

struct TensorInfo {
  std::string name;
  TensorDType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets in the data region
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  const std::string& path() const { return path_; }
  std::vector<std::string> names() const;
  bool has(const std::string& name) const { return tensors_.count(name) > 0; }
  const TensorInfo& info(const std::string& name) const;
  std::vector<float> read_f32(const std::string& name) const;   // any dtype, converted
  std::vector<uint16_t> read_f16(const std::string& name) const;  // any dtype, rounded to nearest even
  std::vector<uint8_t> read_raw(const std::string& name) const;

 private:
  std::string path_;
  uint64_t data_start_ = 0;
  std::map<std::string, TensorInfo> tensors_;
};

// A checkpoint folder: model.safetensors, or shards listed by model.safetensors.index.json.
class CheckpointReader {
 public:
  explicit CheckpointReader(const std::string& folder);
  std::vector<std::string> names() const;
  bool has(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;
  std::vector<float> read_f32(const std::string& name) const;
  std::vector<uint16_t> read_f16(const std::string& name) const;

 private:
  const SafetensorsFile& file_of(const std::string& name) const;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> where_;
  std::string folder_;
};

struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;
  TensorDType dtype = TensorDType::F32;
  std::vector<uint8_t> data;  // little-endian values
};

// An f32 tensor of `values` (little-endian, as this engine's hosts are).
NamedTensor f32_tensor(const std::string& name, std::vector<int64_t> shape, const std::vector<float>& values);

// Writes a safetensors file atomically; data 8-byte aligned, wider dtypes first.
void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace retnet::model
