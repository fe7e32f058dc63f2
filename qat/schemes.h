#pragma once
// Named quantization schemes: the LayerQuantConfig each stands for, shared by the QAT and PTQ
// commands, the experiments and the tests, so "w8a8" means one thing everywhere.
#include <string>
#include <vector>

#include "qat/quant_layers.h"

namespace octet::qat {

// w8a8      int8 symmetric weights per output channel, int8 symmetric inputs per tensor (observer)
// w8a8_dyn  int8 weights per channel, int8 inputs per token from each tensor at run time
// fp8_e4m3  E4M3 weights per tensor (current amax), E4M3 inputs per tensor (delayed scaling:
//           amax history of 16)
// w4a8      int4 symmetric weights per output channel, int8 inputs per tensor
// w4a4      int4 weights per output channel and int4 symmetric inputs per tensor: the scheme
//           where PTQ visibly loses accuracy on the CNN and QAT has something to recover
// w4a4_pt   int4 weights per tensor, int4 inputs per tensor
// w2a8      ternary weights {-s, 0, s} per output channel, int8 inputs: PTQ collapses
// Throws listing the known names for anything else.
LayerQuantConfig scheme_config(const std::string& name);
std::vector<std::string> scheme_names();

}  // namespace octet::qat
