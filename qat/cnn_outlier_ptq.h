#pragma once
// The outlier-aware PTQ methods on the Fashion-MNIST CNN (models/cnn.h), the rows
// "ptq llm_int8" and "ptq smoothquant" of compare_cnn_quantization:
//   llm_int8     the fc layers (every plain Linear) become LlmInt8Linear twins (outlier input
//                columns in FP32, the rest int8 per token / per output channel); the convs are
//                quantized as the w8a8 scheme does, since LLM.int8() decomposes a matmul's input
//                columns and a convolution's im2row columns mix channels and taps.
//   smoothquant  SmoothQuant (alpha 0.5) along the chain conv1 -> conv2 -> fc1 -> fc2
//                (smoothquant.h: each scale folds into the layer that produced the channel,
//                through ReLU and max-pool, and across the flatten into fc1's column blocks),
//                then the w8a8 scheme on every layer.
// Both are calibrated once on the caller's batches, like every other PTQ row.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "framework/models/cnn.h"
#include "qat/prepare.h"

namespace octet::qat {

inline const std::vector<std::string> kCnnOutlierMethods = {"llm_int8", "smoothquant"};

// What `method` does to which layers, for reports: "fc layers LLM.int8(); convs w8a8".
std::string cnn_outlier_layout(const std::string& method);

// Prepares `model` (plain layers, as trained) for `method` and calibrates it on forward_batch(i)
// for i in [0, batches). `w8a8` is the W8A8 config (the recipe's skip list and all): the convs'
// for llm_int8, every layer's for smoothquant; a layer it skips stays FP32 in both methods.
// threshold: llm_int8's outlier threshold. Throws naming an unknown method.
void prepare_cnn_outlier_ptq(models::Cnn& model, const std::string& method, const QatConfig& w8a8,
                             double threshold, const std::function<void(int64_t)>& forward_batch,
                             int64_t batches);

}  // namespace octet::qat
