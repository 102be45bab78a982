// config.json and safetensors checkpoints: fla's defaults, refused options, round trips,
// sharded folders, and a clear error for every kind of malformed file.
#include <catch2/catch.hpp>

#include <cstring>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gpu/tensor.hpp"
#include "model/config.hpp"
#include "model/parameter_names.hpp"
#include "model/safetensors.hpp"
#include "retnet/error.hpp"
#include "test_support.hpp"

using namespace retnet;
using namespace retnet::model;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  auto p = fs::temp_directory_path() / ("retnet-ckpt-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

// A file of 8-byte header length + header + data, for the malformed cases.
void write_raw(const fs::path& p, uint64_t header_len, const std::string& header, size_t data_bytes) {
  std::ofstream out(p, std::ios::binary);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((header_len >> (8 * i)) & 0xff));
  out << header << std::string(data_bytes, '\0');
}

}  // namespace

TEST_CASE("config.json gets fla's defaults and derived dimensions", "[checkpoint]") {
  auto c = ModelConfig::from_json(nlohmann::json{{"model_type", "retnet"}});
  CHECK(c.hidden_size == 2048);
  CHECK(c.num_layers == 24);
  CHECK(c.num_heads == 8);
  CHECK(c.vocab_size == 32000);
  CHECK(c.key_dim == 2048);
  CHECK(c.value_dim == 4096);
  CHECK(c.head_k_dim == 256);
  CHECK(c.head_v_dim == 512);
  CHECK(c.intermediate_size == 2816);  // 256 * ceil(int(2048 * 2 * 2/3) / 256)
  CHECK(c.norm_eps == 1e-6);
  CHECK_FALSE(c.tie_word_embeddings);
  auto null_ratio = ModelConfig::from_json(nlohmann::json{{"hidden_ratio", nullptr}, {"hidden_size", 96}, {"num_heads", 4}});
  CHECK(null_ratio.intermediate_size == 256);  // int(96 * 4 * 2/3) = 256
  auto explicit_i = ModelConfig::from_json(nlohmann::json{{"intermediate_size", 100}, {"hidden_size", 64}, {"num_heads", 4}});
  CHECK(explicit_i.intermediate_size == 100);
  CHECK(explicit_i.head_k_dim == 16);
  auto round_trip = ModelConfig::from_json(explicit_i.to_json());
  CHECK(round_trip.intermediate_size == 100);
  CHECK(round_trip.to_json()["model_type"] == "retnet");
}

TEST_CASE("unsupported config options are refused by name", "[checkpoint][errors]") {
  auto refused = [](nlohmann::json j, const char* name) {
    if (!j.contains("hidden_size")) j["hidden_size"] = 64;
    if (!j.contains("num_heads")) j["num_heads"] = 4;
    CHECK_THROWS_WITH(ModelConfig::from_json(j), Catch::Contains(name));
  };
  refused({{"use_short_conv", true}}, "use_short_conv");
  refused({{"feature_map", "relu"}}, "feature_map");
  refused({{"num_kv_heads", 2}}, "num_kv_heads");
  refused({{"use_output_gate", false}}, "use_output_gate");
  refused({{"hidden_act", "gelu"}}, "hidden_act");
  refused({{"attn", {{"layers", {1}}, {"num_heads", 4}}}}, "attn");
  refused({{"model_type", "llama"}}, "model_type");
  refused({{"attnres_block_size", 2}}, "attnres_block_size");
  refused({{"expand_k", 20.0}}, "head_k_dim");
  refused({{"num_heads", 3}}, "divisible");
  refused({{"vocab_size", 0}}, "vocab_size");
  refused({{"hidden_size", "wide"}}, "hidden_size");
  CHECK(ModelConfig::from_json({{"hidden_size", 64}, {"num_heads", 4}, {"num_kv_heads", 4}}).num_heads == 4);
}

TEST_CASE("safetensors round-trip f32 f16 and bf16 bit for bit", "[checkpoint]") {
  auto dir = fresh_dir("roundtrip");
  auto values = test::random_vector(15, 3, 4.0f);
  NamedTensor a = f32_tensor("a.weight", {3, 5}, values);
  NamedTensor h{"h", {15}, TensorDType::F16, std::vector<uint8_t>(30)};
  NamedTensor b{"b", {15}, TensorDType::BF16, std::vector<uint8_t>(30)};
  for (size_t i = 0; i < 15; ++i) {
    uint16_t hv = gpu::float_to_half(values[i]);
    uint32_t bits;
    std::memcpy(&bits, &values[i], 4);
    uint16_t bv = uint16_t(bits >> 16);  // truncated: exactly representable in bf16
    std::memcpy(h.data.data() + 2 * i, &hv, 2);
    std::memcpy(b.data.data() + 2 * i, &bv, 2);
  }
  write_safetensors((dir / "model.safetensors").string(), {a, h, b});
  SafetensorsFile f((dir / "model.safetensors").string());
  CHECK(f.names() == std::vector<std::string>{"a.weight", "b", "h"});
  CHECK(f.info("a.weight").begin == 0);  // the f32 tensor first: aligned
  auto silu = ModelConfig::from_json({{"hidden_size", 8}, {"num_heads", 2}, {"hidden_act", "silu"}});
  CHECK(std::string(gate_norm_parameter(silu)) == "attn.g_norm.weight");  // fla does not fuse for "silu"
  CHECK(f.info("a.weight").shape == std::vector<int64_t>{3, 5});
  CHECK(f.read_f32("a.weight") == values);
  CHECK(f.read_raw("h") == h.data);
  CHECK(f.read_f32("h") == test::rounded(values, gpu::DType::F16));
  auto bf = f.read_f32("b");
  for (size_t i = 0; i < 15; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &values[i], 4);
    bits &= 0xffff0000u;
    float expect;
    std::memcpy(&expect, &bits, 4);
    CHECK(bf[i] == expect);
  }
  std::vector<uint16_t> as_half = f.read_f16("a.weight");
  for (size_t i = 0; i < 15; ++i) CHECK(as_half[i] == gpu::float_to_half(values[i]));
  CHECK_THROWS_WITH(f.read_f32("nope"), Catch::Contains("no tensor named 'nope'"));
}

TEST_CASE("a sharded checkpoint folder reads through its index", "[checkpoint]") {
  auto dir = fresh_dir("sharded");
  write_safetensors((dir / "model-00001-of-00002.safetensors").string(), {f32_tensor("x", {2}, {1, 2})});
  write_safetensors((dir / "model-00002-of-00002.safetensors").string(), {f32_tensor("y", {1}, {3})});
  std::ofstream(dir / "model.safetensors.index.json")
      << R"({"metadata": {}, "weight_map": {"x": "model-00001-of-00002.safetensors", "y": "model-00002-of-00002.safetensors"}})";
  CheckpointReader r(dir.string());
  CHECK(r.names() == std::vector<std::string>{"x", "y"});
  CHECK(r.read_f32("y") == std::vector<float>{3});
  std::ofstream(dir / "model.safetensors.index.json") << R"({"weight_map": {"z": "model-00001-of-00002.safetensors"}})";
  CHECK_THROWS_WITH(CheckpointReader(dir.string()), Catch::Contains("'z'"));
  CHECK_THROWS_WITH(CheckpointReader(fresh_dir("empty").string()), Catch::Contains("neither model.safetensors"));
}

TEST_CASE("malformed safetensors files give clear errors", "[checkpoint][errors]") {
  auto dir = fresh_dir("malformed");
  auto p = dir / "bad.safetensors";
  auto expect_error = [&](const char* text) { CHECK_THROWS_WITH(SafetensorsFile(p.string()), Catch::Contains(text)); };
  { std::ofstream(p) << "abc"; }
  expect_error("shorter than the 8-byte header");
  write_raw(p, 1000, "{}", 0);
  expect_error("longer than the file");
  write_raw(p, uint64_t(1) << 40, "", 0);
  expect_error("absurd");
  write_raw(p, 5, "nope!", 0);
  expect_error("not valid JSON");
  write_raw(p, 2, "[]", 0);
  expect_error("not a JSON object");
  std::string h = R"({"t": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}})";
  write_raw(p, h.size(), h, 8);
  expect_error("dtype I64");
  h = R"({"t": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})";
  write_raw(p, h.size(), h, 8);
  expect_error("needs 12 bytes");
  h = R"({"t": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})";
  write_raw(p, h.size(), h, 8);
  expect_error("truncated");
  h = R"({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "u": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})";
  write_raw(p, h.size(), h, 12);
  expect_error("overlap");
  h = R"({"t": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})";
  write_raw(p, h.size(), h, 8);
  expect_error("negative");
  h = R"({"t": {"shape": [2], "data_offsets": [0, 8]}})";
  write_raw(p, h.size(), h, 8);
  expect_error("needs dtype");
  CHECK_THROWS_WITH(SafetensorsFile((dir / "absent").string()), Catch::Contains("does not exist"));
}

TEST_CASE("check_checkpoint names missing and misshaped tensors, the first few of many", "[checkpoint][errors]") {
  auto config = ModelConfig::from_json({{"hidden_size", 8}, {"num_heads", 2}, {"num_hidden_layers", 1},
                                        {"vocab_size", 10}, {"intermediate_size", 16}});
  auto specs = expected_parameters(config);
  CHECK(specs.size() == 1 + 11 + 2);
  auto all_tensors = [&] {  // every tensor the config expects, of the shape it expects
    std::vector<NamedTensor> tensors;
    for (const auto& s : specs)
      tensors.push_back(f32_tensor(s.name, s.shape, std::vector<float>(gpu::element_count(s.shape), 1.0f)));
    return tensors;
  };
  auto dir = fresh_dir("check");
  // The message check_checkpoint gives for `tensors` against `expected`.
  auto error_of = [&](const std::vector<NamedTensor>& tensors, const ModelConfig& expected) -> std::string {
    write_safetensors((dir / "model.safetensors").string(), tensors);
    try {
      check_checkpoint(CheckpointReader(dir.string()), expected);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  std::vector<NamedTensor> tensors = all_tensors();
  CHECK(error_of(tensors, config) == "no error");
  // Unfused norms (fuse_norm false) keep the same math under fla's other name.
  auto unfused = ModelConfig::from_json({{"hidden_size", 8}, {"num_heads", 2}, {"num_hidden_layers", 1},
                                         {"vocab_size", 10}, {"intermediate_size", 16}, {"fuse_norm", false}});
  CHECK_THAT(error_of(tensors, unfused), Catch::Contains("attn.g_norm.weight"));

  tensors.erase(tensors.begin() + 2);  // q_proj
  tensors[5] = f32_tensor(tensors[5].name, {3}, {1, 2, 3});
  std::string misshaped = tensors[5].name;
  tensors.pop_back();  // lm_head
  std::string m = error_of(tensors, config);
  CHECK_THAT(m, Catch::Contains("model.layers.0.attn.q_proj.weight"));
  CHECK_THAT(m, Catch::Contains("lm_head.weight"));
  CHECK_THAT(m, Catch::Contains(misshaped + " has shape [3]"));
  CHECK_THAT(m, Catch::Contains("2 missing tensors") && Catch::Contains("1 wrong shapes"));

  // A config of another width misshapes all 14 tensors: the first 6 are named, the rest counted.
  auto wider = ModelConfig::from_json({{"hidden_size", 16}, {"num_heads", 2}, {"num_hidden_layers", 1},
                                       {"vocab_size", 10}, {"intermediate_size", 16}});
  m = error_of(all_tensors(), wider);
  CHECK_THAT(m, Catch::Contains("14 wrong shapes: model.embeddings.weight has shape [10, 8], config.json implies "
                                "[10, 16]") &&
                    Catch::Contains("and 8 more.") && !Catch::Contains("lm_head"));
}
