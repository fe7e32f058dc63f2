#include "tools/commands/train_target.h"

#include <charconv>

#include "distributed/launch.h"
#include "ops/cuda/runtime.h"
#include "tools/commands/usage_error.h"

namespace octet::tools {

void add_train_target_options(CLI::App* cmd, TrainTargetArgs& args) {
  cmd->add_option("--device", args.device,
                  "where the model trains: cpu, cuda (cuda:<local rank> under mpirun) or cuda:N")
      ->capture_default_str();
  cmd->add_option("--precision", args.precision,
                  "fp32, or bf16: matmul and linear take bf16 operands and accumulate in f32 "
                  "(language models only; default: the recipe's precision, else fp32)");
}

Device parse_device_flag(const std::string& text, int local_rank) {
  if (text == "cpu") return Device{};
  if (text == "cuda") return Device{DeviceType::cuda, local_rank};
  const std::string prefix = "cuda:";
  if (text.size() > prefix.size() && text.compare(0, prefix.size(), prefix) == 0) {
    const char* first = text.data() + prefix.size();
    const char* last = text.data() + text.size();
    int index = -1;
    const auto [end, ec] = std::from_chars(first, last, index);
    if (ec == std::errc() && end == last && index >= 0) return Device{DeviceType::cuda, index};
  }
  throw UsageError("train", "--device: '" + text + "' is not cpu, cuda or cuda:N");
}

void require_training_device(const Device& device) {
  if (device.type == DeviceType::cpu) return;
  const std::string flag = "--device " + device.str();
  if (!cuda::compiled())
    throw Error("train", flag +
                             ": this octet was built without CUDA (configure with the CUDA "
                             "toolkit installed, or -DOCTET_CUDA=ON, and build again)");
  const int count = cuda::device_count();
  if (count == 0)
    throw Error("train", flag +
                             ": octet was built with CUDA but no CUDA device is visible (no GPU, "
                             "no driver, or CUDA_VISIBLE_DEVICES hides them)");
  if (device.index >= count)
    throw Error("train", flag + ": no CUDA device " + std::to_string(device.index) +
                             " (this machine has " + std::to_string(count) + ")");
}

void check_precision_flag(const std::string& text) {
  if (text != "fp32" && text != "bf16")
    throw UsageError("train", "--precision: '" + text + "' is not fp32 or bf16");
}

TrainTarget resolve_train_target(const TrainTargetArgs& args) {
  if (!args.precision.empty()) check_precision_flag(args.precision);
  TrainTarget t;
  t.device = parse_device_flag(args.device, distributed::launch_info_from_environment().local_rank);
  t.precision = args.precision;
  require_training_device(t.device);
  return t;
}

void apply_train_target(const TrainTarget& target, train::CnnTrainOptions& options) {
  if (!target.precision.empty() && target.precision != "fp32")
    throw UsageError("train", "--precision " + target.precision +
                                  ": the CNN trains in fp32 only (bf16 autocast covers matmul "
                                  "and linear, not conv2d, which does most of its work)");
  options.device = target.device;
}

void apply_train_target(const TrainTarget& target, train::LmTrainOptions& options) {
  options.device = target.device;
  if (!target.precision.empty()) options.precision = target.precision;
}

std::string describe_train_target(const Device& device, const std::string& precision) {
  std::string s;
  if (device.type != DeviceType::cpu) s += " on " + device.str();
  if (precision != "fp32") s += (s.empty() ? " in " : ", ") + precision + " autocast";
  return s;
}

}  // namespace octet::tools
