#pragma once
// Training text: a file, or every text file under a folder, tokenized once, split into a
// training and a held-out validation part, and sampled into batches whose order depends only
// on (seed, step), so a resumed run sees exactly the data an uninterrupted one would.
#include <cstdint>
#include <string>
#include <vector>

#include "text/tokenizer.hpp"

namespace retnet::train {

struct Batch {
  int64_t batch = 0, seq_len = 0;
  std::vector<int32_t> inputs;   // [batch, seq_len]
  std::vector<int32_t> targets;  // [batch, seq_len]: the inputs shifted by one
};

class TextDataset {
 public:
  // Files are read in sorted path order; symbolic links and binary files (a NUL byte in the
  // first 4 KiB, like fortune's .dat indexes) are skipped. The last `validation_fraction` of
  // the tokens is held out.
  static TextDataset load(const std::string& path, const text::Tokenizer& tokenizer,
                          double validation_fraction = 0.05);
  static TextDataset from_tokens(std::vector<int32_t> tokens, double validation_fraction = 0.05);

  const std::vector<int32_t>& training_tokens() const { return train_; }
  const std::vector<int32_t>& validation_tokens() const { return validation_; }
  size_t file_count() const { return files_; }

  // Errors naming the sizes if either part is too short for sequences of `seq_len`.
  void check_sequence_length(int64_t seq_len) const;
  // Random windows of the training part, a function of (seed, step) alone.
  Batch training_batch(uint64_t seed, int64_t step, int64_t batch, int64_t seq_len) const;
  // The validation part cut into consecutive windows (at most `max_batches` batches).
  std::vector<Batch> validation_batches(int64_t batch, int64_t seq_len, int64_t max_batches) const;

 private:
  std::vector<int32_t> train_, validation_;
  size_t files_ = 0;
};

}  // namespace retnet::train
