#pragma once
// Byte-level text for language models: the King James Bible as a local corpus, and a dataset that
// cuts random (or, for evaluation, fixed non-overlapping) windows out of a byte string.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "framework/random.h"

namespace octet {

// ---- King James text (Debian's bible-kjv) -----------------------------------------------------

// The whole KJV, normalised by normalize_kjv_text. The raw output of `bible gen1:1-rev22:21` is
// cached at kjv_cache_path() (written to a temporary file, then renamed, so a crash never leaves
// half a file) and re-created when missing or incomplete. Throws octet::Error (area "kjv") when
// the `bible` command is missing ("install Debian's bible-kjv") or fails.
std::string load_kjv_text();

// The raw printed text, as cached (book/chapter headings, "  N " verse prefixes, 80-column wrap).
std::string load_kjv_raw();

// $XDG_CACHE_HOME/octet/kjv.txt, else $HOME/.cache/octet/kjv.txt; empty when neither variable is
// set, in which case nothing is cached.
std::string kjv_cache_path();

// The normalisation: drop the "  N " verse-number prefix at the start of each verse and the blank
// line the program prints first; keep book/chapter headings ("Genesis 1"), the blank lines around
// them and the line wrapping as printed. Why: the verse numbers are 3.4% of the bytes and pure
// bookkeeping (a counter, not English), so a byte model would spend capacity on them and its
// samples would be sprinkled with digits; the headings are rare and give the text its structure.
// The result starts "Genesis 1\n\nIn the beginning God created the heaven and the earth.\n".
std::string normalize_kjv_text(std::string_view raw);

// ---- TextDataset ------------------------------------------------------------------------------

enum class Split { kTrain, kValidation };

// A window [begin, end) of the inputs x, as offsets into the whole text; the targets are the bytes
// one further on, [begin + 1, end + 1), and stay inside the same split.
using TextWindow = std::pair<int64_t, int64_t>;

class TextDataset {
 public:
  static constexpr int64_t kVocabSize = 256;  // bytes are the tokens

  // The first train_fraction of the bytes (by position) train, the rest validate. Splitting by
  // position, not by sampled windows, keeps every validation byte unseen in training.
  explicit TextDataset(std::string bytes, double train_fraction = 0.9);

  const std::string& bytes() const { return bytes_; }
  int64_t begin(Split split) const { return split == Split::kTrain ? 0 : train_end_; }
  int64_t end(Split split) const { return split == Split::kTrain ? train_end_ : total(); }
  int64_t size(Split split) const { return end(split) - begin(split); }
  int64_t total() const { return static_cast<int64_t>(bytes_.size()); }

  // Fills x and y with `batch` rows of `block` tokens from uniformly random windows of the split
  // (row-major [batch, block]); y[r][t] = x[r][t + 1] within the text. Draws exactly `batch`
  // values gen.below(...), in row order, so the batch depends only on the generator's state.
  void sample(Split split, int64_t batch, int64_t block, Generator& gen, std::vector<int64_t>& x,
              std::vector<int64_t>& y) const;

  // Non-overlapping windows of `block` inputs tiling the split from its start. With
  // max_windows > 0 and more windows available, an evenly spaced subset of that many (always
  // the same ones) is returned, so a capped validation pass still spans the whole split.
  std::vector<TextWindow> eval_windows(Split split, int64_t block, int64_t max_windows = 0) const;

  // Fills x and y ([windows.size(), block]) from windows that all have the same length.
  void gather(const std::vector<TextWindow>& windows, std::vector<int64_t>& x,
              std::vector<int64_t>& y) const;

 private:
  std::string bytes_;
  int64_t train_end_ = 0;
};

}  // namespace octet
