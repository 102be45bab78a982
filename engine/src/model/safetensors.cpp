#include "model/safetensors.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gpu/tensor.hpp"
#include "model/atomic_file.hpp"
#include "retnet/error.hpp"

namespace retnet::model {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;

float bf16_to_float(uint16_t b) {
  uint32_t bits = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

TensorDType parse_dtype(const std::string& s, const std::string& file, const std::string& name) {
  if (s == "F32") return TensorDType::F32;
  if (s == "F16") return TensorDType::F16;
  if (s == "BF16") return TensorDType::BF16;
  throw Error(fmt::format("{}: tensor '{}' has dtype {}; only F32, F16 and BF16 are supported", file, name, s));
}

}  // namespace

const char* tensor_dtype_name(TensorDType t) {
  switch (t) {
    case TensorDType::F32: return "F32";
    case TensorDType::F16: return "F16";
    case TensorDType::BF16: return "BF16";
  }
  return "?";
}

size_t tensor_dtype_size(TensorDType t) { return t == TensorDType::F32 ? 4 : 2; }

int64_t TensorInfo::numel() const { return gpu::element_count(shape); }

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(fmt::format("'{}' does not exist or is not a file", path));
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(fmt::format("cannot read the size of '{}'", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot open '{}'", path));
  if (file_size < 8) throw Error(fmt::format("{}: truncated: {} bytes, shorter than the 8-byte header length", path, file_size));
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  if (header_len > kMaxHeaderBytes)
    throw Error(fmt::format("{}: header length {} is absurd (more than {} MiB): not a safetensors file?", path,
                            header_len, kMaxHeaderBytes >> 20));
  if (8 + header_len > file_size)
    throw Error(fmt::format("{}: header of {} bytes is longer than the file ({} bytes): truncated or not safetensors",
                            path, header_len, file_size));
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  if (!in) throw Error(fmt::format("{}: cannot read the header", path));
  data_start_ = 8 + header_len;
  const uint64_t data_size = file_size - data_start_;

  nlohmann::json j;
  try {
    j = nlohmann::json::parse(header);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: header is not valid JSON: {}", path, e.what()));
  }
  if (!j.is_object()) throw Error(fmt::format("{}: header is not a JSON object", path));
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto& [name, v] : j.items()) {
    if (name == "__metadata__") continue;
    auto bad = [&](const std::string& what) { return Error(fmt::format("{}: tensor '{}': {}", path, name, what)); };
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      throw bad("entry needs dtype, shape and data_offsets");
    if (!v["dtype"].is_string()) throw bad("dtype is not a string");
    TensorInfo info;
    info.name = name;
    info.dtype = parse_dtype(v["dtype"].get<std::string>(), path, name);
    if (!v["shape"].is_array()) throw bad("shape is not an array");
    for (auto& d : v["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0) throw bad("shape has a non-integer or negative dimension");
      info.shape.push_back(d.get<int64_t>());
    }
    auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw bad("data_offsets must be two non-negative integers");
    info.begin = off[0].get<uint64_t>();
    info.end = off[1].get<uint64_t>();
    if (info.begin > info.end) throw bad("data_offsets are reversed");
    if (info.end > data_size)
      throw bad(fmt::format("data [{}, {}) lies beyond the end of the file's data ({} bytes): truncated file", info.begin,
                            info.end, data_size));
    uint64_t expect = tensor_dtype_size(info.dtype);
    for (auto d : info.shape) {
      if (d != 0 && expect > UINT64_MAX / static_cast<uint64_t>(d)) throw bad("shape is too large");
      expect *= static_cast<uint64_t>(d);
    }
    if (expect != info.end - info.begin)
      throw bad(fmt::format("shape [{}] of {} needs {} bytes but data_offsets span {}", fmt::join(info.shape, ", "),
                            tensor_dtype_name(info.dtype), expect, info.end - info.begin));
    ranges.emplace_back(info.begin, info.end);
    tensors_.emplace(name, std::move(info));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second && ranges[i].first != ranges[i].second)
      throw Error(fmt::format("{}: tensors overlap in the data region (at byte {})", path, ranges[i].first));
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  for (auto& [n, i] : tensors_) out.push_back(n);
  return out;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw Error(fmt::format("{}: no tensor named '{}'", path_, name));
  return it->second;
}

std::vector<uint8_t> SafetensorsFile::read_raw(const std::string& name) const {
  const TensorInfo& i = info(name);
  std::vector<uint8_t> out(i.end - i.begin);
  std::ifstream in(path_, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(data_start_ + i.begin));
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size()));
  if (!in) throw Error(fmt::format("{}: reading tensor '{}' failed (file changed or truncated?)", path_, name));
  return out;
}

std::vector<float> SafetensorsFile::read_f32(const std::string& name) const {
  const TensorInfo& i = info(name);
  auto raw = read_raw(name);
  std::vector<float> out(static_cast<size_t>(i.numel()));
  if (i.dtype == TensorDType::F32) {
    std::memcpy(out.data(), raw.data(), raw.size());
  } else {
    for (size_t k = 0; k < out.size(); ++k) {
      uint16_t h;
      std::memcpy(&h, raw.data() + 2 * k, 2);
      out[k] = i.dtype == TensorDType::F16 ? gpu::half_to_float(h) : bf16_to_float(h);
    }
  }
  return out;
}

std::vector<uint16_t> SafetensorsFile::read_f16(const std::string& name) const {
  const TensorInfo& i = info(name);
  if (i.dtype == TensorDType::F16) {
    auto raw = read_raw(name);
    std::vector<uint16_t> out(raw.size() / 2);
    std::memcpy(out.data(), raw.data(), raw.size());
    return out;
  }
  auto values = read_f32(name);
  std::vector<uint16_t> out(values.size());
  for (size_t k = 0; k < values.size(); ++k) out[k] = gpu::float_to_half(values[k]);
  return out;
}

CheckpointReader::CheckpointReader(const std::string& folder) : folder_(folder) {
  namespace fs = std::filesystem;
  fs::path dir(folder), single = dir / "model.safetensors", index = dir / "model.safetensors.index.json";
  if (fs::exists(single)) {
    files_.push_back(std::make_unique<SafetensorsFile>(single.string()));
    for (auto& n : files_[0]->names()) where_[n] = 0;
    return;
  }
  if (!fs::exists(index))
    throw Error(fmt::format("'{}' has neither model.safetensors nor model.safetensors.index.json", folder));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(std::ifstream(index));
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: not valid JSON: {}", index.string(), e.what()));
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw Error(fmt::format("{}: needs a 'weight_map' object", index.string()));
  std::map<std::string, size_t> file_index;
  for (auto& [name, file] : j["weight_map"].items()) {
    if (!file.is_string()) throw Error(fmt::format("{}: weight_map['{}'] is not a file name", index.string(), name));
    std::string f = file.get<std::string>();
    if (f.find('/') != std::string::npos || f.find("..") != std::string::npos)
      throw Error(fmt::format("{}: shard name '{}' must be a plain file name", index.string(), f));
    if (!file_index.count(f)) {
      file_index[f] = files_.size();
      files_.push_back(std::make_unique<SafetensorsFile>((dir / f).string()));
    }
    size_t k = file_index[f];
    if (!files_[k]->has(name))
      throw Error(fmt::format("{}: says '{}' is in {}, which has no such tensor", index.string(), name, f));
    where_[name] = k;
  }
}

std::vector<std::string> CheckpointReader::names() const {
  std::vector<std::string> out;
  for (auto& [n, k] : where_) out.push_back(n);
  return out;
}

bool CheckpointReader::has(const std::string& name) const { return where_.count(name) > 0; }

const SafetensorsFile& CheckpointReader::file_of(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw Error(fmt::format("checkpoint '{}' has no tensor '{}'", folder_, name));
  return *files_[it->second];
}

const TensorInfo& CheckpointReader::info(const std::string& name) const { return file_of(name).info(name); }
std::vector<float> CheckpointReader::read_f32(const std::string& name) const { return file_of(name).read_f32(name); }
std::vector<uint16_t> CheckpointReader::read_f16(const std::string& name) const { return file_of(name).read_f16(name); }

NamedTensor f32_tensor(const std::string& name, std::vector<int64_t> shape, const std::vector<float>& values) {
  NamedTensor t{name, std::move(shape), TensorDType::F32, {}};
  t.data.resize(values.size() * 4);
  std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const NamedTensor*> sorted;
  for (auto& t : tensors) sorted.push_back(&t);
  // Wider elements first (then by name), so every tensor's data stays aligned to its element
  // size without gaps, which the reference implementation refuses.
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) {
    size_t sa = tensor_dtype_size(a->dtype), sb = tensor_dtype_size(b->dtype);
    return sa != sb ? sa > sb : a->name < b->name;
  });
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (auto* t : sorted) {
    uint64_t expect = tensor_dtype_size(t->dtype);
    for (auto d : t->shape) expect *= static_cast<uint64_t>(d);
    if (expect != t->data.size())
      throw Error(fmt::format("write_safetensors: tensor '{}' has {} bytes for shape [{}] {}", t->name, t->data.size(),
                              fmt::join(t->shape, ", "), tensor_dtype_name(t->dtype)));
    header[t->name] = {{"dtype", tensor_dtype_name(t->dtype)}, {"shape", t->shape}, {"data_offsets", {offset, offset + expect}}};
    offset += expect;
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  std::string out;
  out.reserve(8 + h.size() + offset);
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += h;
  for (auto* t : sorted) out.append(reinterpret_cast<const char*>(t->data.data()), t->data.size());
  write_file_atomically(path, out);
}

}  // namespace retnet::model
