#pragma once
// What `octet compare cnn|lm` runs on, filled from its flags or from a recipe
// (recipe_mapping.h); compare_commands.h says what the command does with them.
#include <string>
#include <vector>

#include "framework/models/cnn.h"
#include "framework/train/image_classifier.h"
#include "qat/cnn_experiment.h"
#include "qat/cnn_outlier_ptq.h"
#include "qat/lm_experiment.h"
#include "qat/schemes.h"

namespace octet::tools {

struct CompareCommon {
  // PTQ: qat::scheme_names() entries, and the outlier-aware methods "llm_int8" / "smoothquant".
  std::vector<std::string> schemes;
  std::vector<std::string> qat_schemes = {"w8a8", "fp8_e4m3"};
  std::string out_dir;
};

// Every named PTQ scheme, then the outlier-aware PTQ methods (cheap: calibration only).
inline std::vector<std::string> cnn_ptq_defaults() {
  std::vector<std::string> names = qat::scheme_names();
  names.insert(names.end(), qat::kCnnOutlierMethods.begin(), qat::kCnnOutlierMethods.end());
  return names;
}

struct CnnCompareSettings {
  CompareCommon common{cnn_ptq_defaults(), {"w8a8", "fp8_e4m3", "w2a8"}, "compare-cnn"};
  // FP32 training when `checkpoint` is empty (its data_dir is experiment.data_dir).
  train::CnnTrainOptions base;
  models::CnnConfig model;
  std::string checkpoint;  // start from this FP32 checkpoint instead of training
  std::string save;        // write the FP32 model trained here to this checkpoint (empty: no)
  int64_t eval_batch = 256;
  qat::CnnQuantOptions experiment;
};

struct LmCompareSettings {
  CompareCommon common{qat::scheme_names(), {"w8a8", "fp8_e4m3"}, "compare-lm"};
  qat::LmQuantOptions experiment;  // experiment.checkpoint empty: an FP32 model is trained here
  int64_t train_steps = 600, tokens = 80, eval_batch = 16;
  double train_lr = 2e-3;
  std::string prompt = "And God said";
};

// Run the comparison (returning the exit code); throw octet::Error on failure.
int run_compare_cnn(const CnnCompareSettings& settings);
int run_compare_lm(const LmCompareSettings& settings);

}  // namespace octet::tools
