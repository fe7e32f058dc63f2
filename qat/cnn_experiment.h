#pragma once
// The Fashion-MNIST comparison behind `octet qat cnn` and the e2e test: from one FP32 model,
//   fp32            the model as trained
//   fp32_finetune   FP32 fine-tuned for the same steps and data as QAT (the control row)
//   ptq <scheme>    calibrated on training batches, no training
//   qat <scheme>    prepared, then fine-tuned like the control
//   ptq llm_int8 / ptq smoothquant   (when asked) the outlier-aware PTQ methods, after the others
//                   (cnn_outlier_ptq.h: LLM.int8() on the fc layers with w8a8 convs; SmoothQuant
//                   folded along the conv/fc chain, then w8a8)
// all evaluated on the test set with fake-quant (what the runtime reproduces after export).
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "framework/models/cnn.h"
#include "framework/train/image_classifier.h"
#include "qat/experiment_config.h"
#include "qat/llm_int8.h"
#include "qat/prepare.h"

namespace octet::qat {

struct CnnQuantOptions {
  int64_t finetune_steps = 300;
  double finetune_lr = 5e-4;
  int64_t batch = 128;
  int64_t calibration_batches = 16;
  uint64_t seed = 1;  // data order of the fine-tuning (shared by control and QAT: paired runs)
  std::vector<std::string> schemes = {"w8a8", "fp8_e4m3", "w4a8", "w2a8"};
  // The schemes that also get a QAT row; unset: every one of `schemes` (PTQ and QAT each).
  std::optional<std::vector<std::string>> qat_schemes;
  // PTQ-only methods: "llm_int8" and "smoothquant" (cnn_outlier_ptq.h), calibrated like `schemes`.
  std::vector<std::string> ptq_methods;
  double llm_int8_threshold = kLlmInt8Threshold;  // the llm_int8 row's outlier threshold
  std::string data_dir;                           // empty: Debian's dataset-fashion-mnist
  // The PTQ and QAT rows' QatConfig per scheme (skip list, FP8 scaling, ...), and the outlier
  // methods' W8A8 config, asked for as "w8a8"; empty: QatConfig{scheme_config(scheme)}. Its skip
  // patterns must each match a layer.
  QatConfigFor config_for;
  // Applied before each QAT fine-tuning step (e.g. freeze_observers_at_step: observers watch
  // that many steps, then freeze); unset: they observe throughout, fake-quant on from step 0.
  // The fp32_finetune control has no quantizers, so it is the same either way.
  std::optional<QatSchedule> qat_schedule;
  // > 0: every row is scored on the first test_limit test images only (quick tests); 0: all.
  int64_t test_limit = 0;
  // > 0: the test set is scored in forwards of this many images, as the runtime's chunks are
  // (a per-tensor current input scale depends on the batch it is taken over); 0: 1000 at a time
  // (train::evaluate_accuracy's chunks).
  int64_t eval_batch = 0;
  std::function<void(const std::string&)> log;
  // Called when a fine-tuning row ("fp32_finetune", "qat_<scheme>") starts, then after each of
  // its optimizer steps, for progress bars and metrics logs; either may be empty.
  std::function<void(const std::string& row)> on_finetune_start;
  std::function<void(const std::string& row, const train::StepReport&)> on_finetune_step;
  // Sees each row's finished model (method and scheme as in its row) after the row is measured
  // and before the model is discarded, so callers can export or probe it; may be empty.
  std::function<void(const std::string& method, const std::string& scheme, models::Cnn& model)>
      on_model;
};

struct CnnQuantRow {
  std::string method;  // fp32, fp32_finetune, ptq, qat
  std::string scheme;  // empty for the FP32 rows
  double accuracy = 0;
  double seconds = 0;
};

// `trained` is left unchanged; every row works on its own copy.
std::vector<CnnQuantRow> compare_cnn_quantization(const models::Cnn& trained,
                                                  const CnnQuantOptions& options);

}  // namespace octet::qat
