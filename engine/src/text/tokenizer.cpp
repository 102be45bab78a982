#include "text/tokenizer.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>

#include "retnet/error.hpp"

#ifdef RETNET_HAVE_SENTENCEPIECE
#include <sentencepiece_processor.h>
#endif

namespace retnet::text {

namespace {

const char kReplacementChar[] = "\xEF\xBF\xBD";  // U+FFFD

enum class Utf8Kind { complete, incomplete, invalid };
struct Utf8Scan {
  Utf8Kind kind;
  size_t length;  // complete: the character's bytes; incomplete: bytes so far; invalid: bytes to replace
};

// Classifies the UTF-8 sequence starting at p[0] (n >= 1 bytes available), following the
// well-formed byte ranges of Unicode table 3-7 (no overlongs, surrogates or > U+10FFFF).
// An invalid sequence's length is its maximal subpart: the lead byte plus the continuation
// bytes that were still acceptable, so that exactly one U+FFFD replaces it.
Utf8Scan scan_utf8(const unsigned char* p, size_t n) {
  const unsigned lead = p[0];
  if (lead < 0x80) return {Utf8Kind::complete, 1};
  size_t need = 0;
  unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 2;
  } else if (lead == 0xE0) {
    need = 3, lo = 0xA0;
  } else if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) {
    need = 3;
  } else if (lead == 0xED) {
    need = 3, hi = 0x9F;
  } else if (lead == 0xF0) {
    need = 4, lo = 0x90;
  } else if (lead >= 0xF1 && lead <= 0xF3) {
    need = 4;
  } else if (lead == 0xF4) {
    need = 4, hi = 0x8F;
  } else {
    return {Utf8Kind::invalid, 1};  // stray continuation byte, C0/C1, F5..FF
  }
  for (size_t i = 1; i < need; ++i) {
    if (i >= n) return {Utf8Kind::incomplete, n};
    const unsigned b = p[i];
    const unsigned l = i == 1 ? lo : 0x80u, h = i == 1 ? hi : 0xBFu;
    if (b < l || b > h) return {Utf8Kind::invalid, i};
  }
  return {Utf8Kind::complete, need};
}

// Appends the text of `bytes` to `out`, ill-formed parts replaced by U+FFFD. An unfinished
// sequence at the very end is replaced too when at_end; otherwise it is left unconsumed
// and its length returned so the caller can keep it for the next bytes.
size_t append_valid_utf8(std::string_view bytes, bool at_end, std::string& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t i = 0;
  while (i < bytes.size()) {
    Utf8Scan s = scan_utf8(p + i, bytes.size() - i);
    if (s.kind == Utf8Kind::complete) {
      out.append(bytes.data() + i, s.length);
    } else if (s.kind == Utf8Kind::invalid) {
      out += kReplacementChar;
    } else if (!at_end) {
      return s.length;
    } else {
      out += kReplacementChar;
    }
    i += s.length;
  }
  return 0;
}

}  // namespace

std::string to_valid_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  append_valid_utf8(bytes, true, out);
  return out;
}

std::string Tokenizer::decode_token(int32_t id) const { return decode({id}); }

// ---------------------------------------------------------------------------------------
// Byte-level

std::vector<int32_t> ByteTokenizer::encode(const std::string& text) const {
  std::vector<int32_t> ids(text.size());
  for (size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<unsigned char>(text[i]);
  return ids;
}

std::string ByteTokenizer::decode_token(int32_t id) const {
  if (id < 0 || id >= kVocabSize)
    throw Error(fmt::format("byte tokenizer: token id {} is outside its vocabulary [0, {})", id, kVocabSize));
  if (id < 256) return std::string(1, static_cast<char>(id));
  if (!show_specials_) return {};
  return id == kBos ? "<bos>" : id == kEos ? "<eos>" : "<pad>";
}

std::string ByteTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string bytes;
  bytes.reserve(ids.size());
  for (int32_t id : ids) bytes += decode_token(id);
  return to_valid_utf8(bytes);
}

std::string ByteTokenizer::describe() const { return fmt::format("byte-level ({} ids)", kVocabSize); }

// ---------------------------------------------------------------------------------------
// SentencePiece

#ifdef RETNET_HAVE_SENTENCEPIECE

bool sentencepiece_available() { return true; }

struct SentencePieceTokenizer::Impl {
  sentencepiece::SentencePieceProcessor sp;
};

namespace {
std::optional<int32_t> id_if_enabled(int id) {  // SentencePiece says -1 for a disabled special
  return id >= 0 ? std::optional<int32_t>(id) : std::nullopt;
}
}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& model_path)
    : impl_(std::make_unique<Impl>()), path_(model_path) {
  if (!std::filesystem::is_regular_file(model_path))
    throw Error(fmt::format("SentencePiece model '{}' not found", model_path));
  auto status = impl_->sp.Load(model_path);
  if (!status.ok())
    throw Error(fmt::format("cannot load SentencePiece model '{}': {}", model_path, status.ToString()));
  if (impl_->sp.GetPieceSize() <= 0)
    throw Error(fmt::format("SentencePiece model '{}' has an empty vocabulary", model_path));
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::vector<int32_t> SentencePieceTokenizer::encode(const std::string& text) const {
  std::vector<int> ids;
  auto status = impl_->sp.Encode(text, &ids);
  if (!status.ok()) throw Error(fmt::format("SentencePiece encode failed: {}", status.ToString()));
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::string SentencePieceTokenizer::decode(const std::vector<int32_t>& ids) const {
  const int64_t n = vocab_size();
  for (int32_t id : ids)
    if (id < 0 || id >= n)
      throw Error(fmt::format("SentencePiece tokenizer: token id {} is outside its vocabulary [0, {})", id, n));
  std::string text;
  auto status = impl_->sp.Decode(std::vector<int>(ids.begin(), ids.end()), &text);
  if (!status.ok()) throw Error(fmt::format("SentencePiece decode failed: {}", status.ToString()));
  return text;
}

std::string SentencePieceTokenizer::decode_token(int32_t id) const {
  const int64_t n = vocab_size();
  if (id < 0 || id >= n)
    throw Error(fmt::format("SentencePiece tokenizer: token id {} is outside its vocabulary [0, {})", id, n));
  const auto& sp = impl_->sp;
  if (sp.IsControl(id)) return {};
  const std::string& piece = sp.IdToPiece(id);
  if (sp.IsByte(id)) {  // "<0xAB>"
    unsigned value = 0;
    if (piece.size() == 6 && std::sscanf(piece.c_str(), "<0x%2X>", &value) == 1)
      return std::string(1, static_cast<char>(value));
    throw Error(fmt::format("SentencePiece byte piece {} has an unexpected form '{}'", id, piece));
  }
  if (sp.IsUnknown(id)) return " \xE2\x81\x87 ";  // what SentencePiece's own decoder prints
  static const std::string kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's word boundary
  std::string text;
  text.reserve(piece.size());
  for (size_t i = 0; i < piece.size();) {
    if (piece.compare(i, kSpace.size(), kSpace) == 0) {
      text += ' ';
      i += kSpace.size();
    } else {
      text += piece[i++];
    }
  }
  return text;
}

int64_t SentencePieceTokenizer::vocab_size() const { return impl_->sp.GetPieceSize(); }
std::optional<int32_t> SentencePieceTokenizer::bos_id() const { return id_if_enabled(impl_->sp.bos_id()); }
std::optional<int32_t> SentencePieceTokenizer::eos_id() const { return id_if_enabled(impl_->sp.eos_id()); }
std::optional<int32_t> SentencePieceTokenizer::pad_id() const { return id_if_enabled(impl_->sp.pad_id()); }

#else  // !RETNET_HAVE_SENTENCEPIECE

bool sentencepiece_available() { return false; }

struct SentencePieceTokenizer::Impl {};

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& model_path) : path_(model_path) {
  throw Error(fmt::format(
      "cannot load '{}': this build of retnet lacks SentencePiece support (libsentencepiece was "
      "not found when it was configured; install libsentencepiece-dev and reconfigure)",
      model_path));
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

// Unreachable: the constructor always throws.
std::vector<int32_t> SentencePieceTokenizer::encode(const std::string&) const { return {}; }
std::string SentencePieceTokenizer::decode(const std::vector<int32_t>&) const { return {}; }
std::string SentencePieceTokenizer::decode_token(int32_t) const { return {}; }
int64_t SentencePieceTokenizer::vocab_size() const { return 0; }
std::optional<int32_t> SentencePieceTokenizer::bos_id() const { return std::nullopt; }
std::optional<int32_t> SentencePieceTokenizer::eos_id() const { return std::nullopt; }
std::optional<int32_t> SentencePieceTokenizer::pad_id() const { return std::nullopt; }

#endif

std::string SentencePieceTokenizer::describe() const {
  return fmt::format("SentencePiece ({} pieces, {})", vocab_size(), path_);
}

// ---------------------------------------------------------------------------------------

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& model_folder, int64_t vocab_size) {
  if (vocab_size <= 0) throw Error(fmt::format("load_tokenizer: vocab_size must be positive, got {}", vocab_size));
  if (!model_folder.empty()) {
    namespace fs = std::filesystem;
    if (!fs::is_directory(model_folder))
      throw Error(fmt::format("load_tokenizer: model folder '{}' does not exist", model_folder));
    const fs::path spm = fs::path(model_folder) / "tokenizer.model";
    if (fs::exists(spm)) {
      auto tokenizer = std::make_unique<SentencePieceTokenizer>(spm.string());
      // A model's embedding may be padded beyond the tokenizer's pieces, never the reverse.
      if (tokenizer->vocab_size() > vocab_size)
        throw Error(fmt::format("{} has {} pieces but the model's vocab_size is only {}", spm.string(),
                                tokenizer->vocab_size(), vocab_size));
      return tokenizer;
    }
  }
  if (vocab_size < ByteTokenizer::kVocabSize)
    throw Error(fmt::format(
        "no tokenizer.model in '{}', and the model's vocab_size {} is too small for the byte-level "
        "tokenizer, which needs {} ids (256 bytes + <bos>, <eos>, <pad>)",
        model_folder, vocab_size, ByteTokenizer::kVocabSize));
  return std::make_unique<ByteTokenizer>();
}

// ---------------------------------------------------------------------------------------

std::string StreamDecoder::push(int32_t id) {
  pending_ += tokenizer_.decode_token(id);
  std::string out;
  const size_t unfinished = append_valid_utf8(pending_, false, out);
  pending_.erase(0, pending_.size() - unfinished);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  append_valid_utf8(pending_, true, out);
  pending_.clear();
  return out;
}

}  // namespace retnet::text
