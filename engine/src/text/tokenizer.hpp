#pragma once
// Text <-> token ids for generation: a byte-level tokenizer that needs no files, a
// SentencePiece tokenizer for models that ship a tokenizer.model, and a streaming decoder
// that turns generated ids into text without ever emitting half a UTF-8 character.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace retnet::text {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Never adds <bos>/<eos>: callers prepend bos_id() themselves where the model wants it.
  virtual std::vector<int32_t> encode(const std::string& text) const = 0;
  // Valid UTF-8; special tokens decode to nothing. An id outside [0, vocab_size()) is an Error.
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  // The raw bytes one token stands for, for streaming. Unlike decode(), this may be part of
  // a UTF-8 character (byte tokens) and keeps a word's leading space; StreamDecoder joins
  // the pieces. The default decodes the single id.
  virtual std::string decode_token(int32_t id) const;
  virtual int64_t vocab_size() const = 0;
  virtual std::optional<int32_t> bos_id() const { return std::nullopt; }
  virtual std::optional<int32_t> eos_id() const { return std::nullopt; }
  virtual std::optional<int32_t> pad_id() const { return std::nullopt; }
  // Short human-readable description for logs, e.g. "byte-level (259 ids)".
  virtual std::string describe() const = 0;
};

// Byte-level tokenizer: ids 0..255 are the bytes themselves, followed by three specials,
// 256 = <bos>, 257 = <eos>, 258 = <pad>; vocab_size() is 259. Any model whose vocabulary
// has at least 259 entries can use it (larger vocabularies simply never see the ids above
// 258 from the tokenizer; callers should sample only among the first 259 logits).
class ByteTokenizer final : public Tokenizer {
 public:
  static constexpr int32_t kBos = 256;
  static constexpr int32_t kEos = 257;
  static constexpr int32_t kPad = 258;
  static constexpr int64_t kVocabSize = 259;

  // With show_specials, the specials decode to the markers "<bos>", "<eos>", "<pad>"
  // instead of nothing (useful when debugging what the model emits).
  explicit ByteTokenizer(bool show_specials = false) : show_specials_(show_specials) {}

  std::vector<int32_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  std::string decode_token(int32_t id) const override;
  int64_t vocab_size() const override { return kVocabSize; }
  std::optional<int32_t> bos_id() const override { return kBos; }
  std::optional<int32_t> eos_id() const override { return kEos; }
  std::optional<int32_t> pad_id() const override { return kPad; }
  std::string describe() const override;

 private:
  bool show_specials_;
};

// Whether this build was linked against libsentencepiece.
bool sentencepiece_available();

// A SentencePiece model (tokenizer.model). Constructing one in a build without
// SentencePiece support throws an Error saying so.
class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::string& model_path);
  ~SentencePieceTokenizer() override;
  SentencePieceTokenizer(const SentencePieceTokenizer&) = delete;
  SentencePieceTokenizer& operator=(const SentencePieceTokenizer&) = delete;

  std::vector<int32_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  // A piece's text with "▁" turned into a space, the raw byte of a <0xNN> byte-fallback
  // piece, nothing for control tokens (<s>, </s>, padding).
  std::string decode_token(int32_t id) const override;
  int64_t vocab_size() const override;
  std::optional<int32_t> bos_id() const override;
  std::optional<int32_t> eos_id() const override;
  std::optional<int32_t> pad_id() const override;
  std::string describe() const override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
};

// The tokenizer for a model folder: SentencePiece when the folder holds tokenizer.model,
// byte-level otherwise (an Error if the model's vocab_size is below 259, since the byte
// tokenizer would then produce ids the model does not have). An empty folder name means
// "no folder" and gives the byte tokenizer.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& model_folder, int64_t vocab_size);

// Incremental detokenizer for streaming output: push() returns the text that became
// complete with this token (possibly ""), holding back a UTF-8 sequence until its last
// byte arrives. Invalid bytes become U+FFFD as soon as they are known to be invalid; an
// unfinished sequence at the end becomes U+FFFD at flush(). Concatenating every push()
// and the final flush() gives valid UTF-8.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  std::string push(int32_t id);
  // Ends the stream: returns what was held back and starts afresh.
  std::string flush();
  // Bytes held back waiting for the rest of a UTF-8 sequence.
  size_t pending_bytes() const { return pending_.size(); }

 private:
  const Tokenizer& tokenizer_;
  std::string pending_;
};

// `bytes` with every ill-formed UTF-8 subsequence replaced by U+FFFD (one per maximal
// ill-formed subpart, the Unicode-recommended practice).
std::string to_valid_utf8(std::string_view bytes);

}  // namespace retnet::text
