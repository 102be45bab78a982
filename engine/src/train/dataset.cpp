#include "train/dataset.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "retnet/error.hpp"

namespace retnet::train {

namespace fs = std::filesystem;

namespace {

bool looks_binary(const std::string& bytes) {
  return bytes.substr(0, 4096).find('\0') != std::string::npos;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot read '{}'", p.string()));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

TextDataset TextDataset::from_tokens(std::vector<int32_t> tokens, double validation_fraction) {
  if (!(validation_fraction > 0 && validation_fraction < 1))
    throw Error(fmt::format("validation fraction must be in (0, 1), got {}", validation_fraction));
  if (tokens.empty()) throw Error("the training data holds no text");
  TextDataset d;
  size_t n_val = std::max<size_t>(1, static_cast<size_t>(tokens.size() * validation_fraction));
  n_val = std::min(n_val, tokens.size() - 1);
  d.validation_.assign(tokens.end() - n_val, tokens.end());
  tokens.resize(tokens.size() - n_val);
  d.train_ = std::move(tokens);
  return d;
}

TextDataset TextDataset::load(const std::string& path, const text::Tokenizer& tokenizer, double validation_fraction) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(fmt::format("training data '{}' does not exist", path));
  std::vector<fs::path> files;
  if (fs::is_directory(path, ec)) {
    for (auto it = fs::recursive_directory_iterator(path, ec); it != fs::recursive_directory_iterator(); it.increment(ec))
      if (it->is_regular_file(ec) && !it->is_symlink(ec)) files.push_back(it->path());
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(path);
  }
  std::vector<int32_t> tokens;
  size_t used = 0;
  for (const auto& f : files) {
    std::string bytes = read_file(f);
    if (bytes.empty() || looks_binary(bytes)) continue;
    auto ids = tokenizer.encode(bytes);
    tokens.insert(tokens.end(), ids.begin(), ids.end());
    ++used;
  }
  if (used == 0)
    throw Error(fs::is_directory(path) ? fmt::format("training data folder '{}' holds no text files", path)
                                       : fmt::format("training data file '{}' is empty or not text", path));
  TextDataset d = from_tokens(std::move(tokens), validation_fraction);
  d.files_ = used;
  return d;
}

void TextDataset::check_sequence_length(int64_t seq_len) const {
  if (seq_len < 1) throw Error(fmt::format("sequence length must be at least 1, got {}", seq_len));
  const auto need = static_cast<size_t>(seq_len) + 1;  // inputs plus the next token
  if (train_.size() < need || validation_.size() < need)
    throw Error(fmt::format("sequence length {} is too long for the data: {} training and {} validation tokens, "
                            "each part needs at least {}", seq_len, train_.size(), validation_.size(), need));
}

Batch TextDataset::training_batch(uint64_t seed, int64_t step, int64_t batch, int64_t seq_len) const {
  check_sequence_length(seq_len);
  // SplitMix64 of (seed, step): the batch depends on nothing else, so a resume repeats it.
  auto mix = [](uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  uint64_t state = mix(seed ^ mix(static_cast<uint64_t>(step)));
  const uint64_t starts = train_.size() - static_cast<size_t>(seq_len);  // valid window starts
  Batch b{batch, seq_len, {}, {}};
  b.inputs.reserve(batch * seq_len);
  b.targets.reserve(batch * seq_len);
  for (int64_t i = 0; i < batch; ++i) {
    state = mix(state);
    size_t start = static_cast<size_t>(state % starts);
    b.inputs.insert(b.inputs.end(), train_.begin() + start, train_.begin() + start + seq_len);
    b.targets.insert(b.targets.end(), train_.begin() + start + 1, train_.begin() + start + seq_len + 1);
  }
  return b;
}

std::vector<Batch> TextDataset::validation_batches(int64_t batch, int64_t seq_len, int64_t max_batches) const {
  check_sequence_length(seq_len);
  std::vector<Batch> out;
  size_t pos = 0;
  while (static_cast<int64_t>(out.size()) < max_batches) {
    Batch b{0, seq_len, {}, {}};
    while (b.batch < batch && pos + seq_len + 1 <= validation_.size()) {
      b.inputs.insert(b.inputs.end(), validation_.begin() + pos, validation_.begin() + pos + seq_len);
      b.targets.insert(b.targets.end(), validation_.begin() + pos + 1, validation_.begin() + pos + seq_len + 1);
      pos += seq_len;
      ++b.batch;
    }
    if (b.batch == 0) break;
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace retnet::train
