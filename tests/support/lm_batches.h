#pragma once
// The tiny GPT and the random byte batches that the device-parity tests train (GPU against CPU,
// autocast, QAT observers): one definition, so the tests stay comparable with each other.
#include <cstdint>
#include <vector>

#include "framework/models/gpt.h"
#include "framework/random.h"
#include "framework/tensor/tensor.h"

namespace octet::testing {

// 2 pre-LN blocks of width 64 with 4 heads over a context of 16 bytes.
inline models::GptConfig tiny_gpt_config() {
  models::GptConfig c;
  c.block = 16;
  c.layers = 2;
  c.heads = 4;
  c.dim = 64;
  return c;
}

// i64 [rows, cols] of uniform random bytes, drawn in row-major order.
inline Tensor random_tokens(Generator& gen, int64_t rows, int64_t cols) {
  std::vector<int64_t> v(static_cast<size_t>(rows * cols));
  for (auto& t : v) t = static_cast<int64_t>(gen.uniform() * 255.999);
  return Tensor::from_vector(v, {rows, cols});
}

// Inputs [rows, block] and next-byte targets [rows, block] from one random [rows, block + 1] draw.
struct LmBatch {
  Tensor x, y;
};
inline LmBatch random_lm_batch(Generator& gen, int64_t rows, int64_t block) {
  const Tensor tokens = random_tokens(gen, rows, block + 1);
  return {tokens.slice(1, 0, block).contiguous(), tokens.slice(1, 1, block + 1).contiguous()};
}

}  // namespace octet::testing
