#pragma once
// Does the deployed model compute what the training side says it should? Runs octet's runtime on
// a .qmodel and the in-memory model on the same inputs and measures the agreement of the logits,
// and of every linear layer with its f32 original on the activations the runtime itself produced
// (so one bad layer shows up as itself, not smeared over the layers after it).
//
// Two uses: "what you train is what you deploy" (the reference is the fake-quant model: logits
// must agree to f32 rounding), and the sanity check after export (the reference is the same model
// with fake-quant off, i.e. FP32: agreement is only approximate, but a collapse, the classic
// quantized-lm_head or wrong-scale failure, is caught and the first layer that exploded is named).
// It needs both the training floor and the runtime, so it lives in tools/.
#include <cstdint>
#include <string>
#include <vector>

#include "framework/models/cnn.h"
#include "framework/models/gpt.h"
#include "runtime/cnn_runtime.h"
#include "runtime/transformer_runtime.h"

namespace octet::tools {

struct LayerAgreement {
  std::string name;
  double relative_error = 0;  // max over calls of ||y_runtime - (x W^T + b)|| / ||x W^T + b||
};

struct AgreementReport {
  int64_t rows = 0;                  // logit rows compared (images or token positions)
  double logits_relative_error = 0;  // ||runtime - reference|| / ||reference|| over all logits
  double max_row_relative_error = 0;
  double argmax_agreement = 0;         // fraction of rows whose arg-max is the same
  std::vector<LayerAgreement> layers;  // in the order the runtime first ran them
  std::string str() const;             // one line
};

// `reference` runs in evaluation mode without gradients (its mode is restored afterwards). Its
// parameters "<layer>.weight" / "<layer>.bias" are the f32 originals the layers are compared with.
// Both sides run `chunk` images per forward (the runtime's default): a per-tensor current input
// scale depends on the batch it is taken over.
AgreementReport compare_cnn(models::Cnn& reference, const runtime::CnnRuntime& deployed,
                            const float* images, int64_t n, int64_t chunk = 256);
// tokens: [batch, count] with count <= the context.
AgreementReport compare_decoder(models::LanguageModel& reference,
                                const runtime::TransformerRuntime& deployed, const int64_t* tokens,
                                int64_t batch, int64_t count);

// Throws octet::Error ("export_check") naming `path` when the logits' relative error exceeds
// `max_logits_error`, naming the first layer whose own error exceeds `max_layer_error` (or the
// worst layer if none does).
void require_agreement(const AgreementReport& report, double max_logits_error,
                       double max_layer_error, const std::string& path);

}  // namespace octet::tools
