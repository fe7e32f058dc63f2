#pragma once
// The language-model comparison behind `octet qat lm` and its e2e test: from one FP32 checkpoint,
//   fp32            the checkpoint as trained
//   fp32_finetune   FP32 fine-tuned for the same steps and data as QAT (the control row)
//   ptq <scheme>    calibrated on training batches, no training
//   qat <scheme>    prepared, then fine-tuned like the control
//   ptq llm_int8 / ptq smoothquant   (when asked) the outlier-aware PTQ methods
// each scored by validation loss (nats/byte) on the same held-out windows, with fake-quant.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "framework/train/language_model.h"
#include "qat/experiment_config.h"
#include "qat/llm_int8.h"
#include "qat/prepare.h"

namespace octet::qat {

struct LmQuantOptions {
  // The model's architecture and shape, batch and eval_windows; its steps/lr are replaced by the
  // fine-tuning settings below.
  train::LmTrainOptions model;
  std::string checkpoint;  // the FP32 model (from `octet train lm --save`)
  int64_t finetune_steps = 200;
  double finetune_lr = 3e-4;
  int64_t finetune_warmup = 20;
  int64_t calibration_batches = 8;
  uint64_t seed = 1;  // data order of the fine-tuning (shared by control and QAT: paired runs)
  std::vector<std::string> schemes = {"w8a8", "fp8_e4m3"};
  // The schemes that also get a QAT row; unset: every one of `schemes` (PTQ and QAT each).
  std::optional<std::vector<std::string>> qat_schemes;
  // PTQ-only methods for outlier-heavy models: "llm_int8" (outlier columns in FP32, the rest
  // int8 per token / per channel) and "smoothquant" (alpha 0.5 folded into the norms, then w8a8).
  std::vector<std::string> ptq_methods;
  // The PTQ and QAT rows' QatConfig per scheme (skip list, FP8 scaling, int8 tables, ...), and
  // the smoothquant row's, asked for as "w8a8"; empty: QatConfig{scheme_config(scheme)}. Its
  // skip patterns must each match a layer.
  QatConfigFor config_for;
  // Applied before each QAT fine-tuning step (e.g. freeze_observers_at_step: observers watch
  // that many steps, then freeze); unset: they observe throughout, fake-quant on from step 0.
  std::optional<QatSchedule> qat_schedule;
  double llm_int8_threshold = kLlmInt8Threshold;  // the llm_int8 row's outlier threshold
  // Outlier features injected into the checkpoint's model before everything else (the FP32
  // function is unchanged: norm gains x factor, next weights / factor). Empty: none.
  std::vector<int64_t> outlier_dims;
  double outlier_factor = 20.0;
  std::function<void(const std::string&)> log;
  // Sees each row's finished model (method and scheme as in its row) after the row is measured
  // and before the model is discarded, so callers can export or probe it; may be empty.
  std::function<void(const std::string& method, const std::string& scheme,
                     models::LanguageModel& model)>
      on_model;
};

struct LmQuantRow {
  std::string method;   // fp32, fp32_finetune, ptq, qat
  std::string scheme;   // empty for the FP32 rows
  double val_loss = 0;  // nats/byte
  double seconds = 0;
};

std::vector<LmQuantRow> compare_lm_quantization(std::shared_ptr<const TextDataset> text,
                                                const LmQuantOptions& options);

}  // namespace octet::qat
