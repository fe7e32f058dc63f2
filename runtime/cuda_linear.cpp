#include "runtime/cuda_linear.h"

#include <atomic>
#include <utility>
#include <vector>

#include "ops/cuda/copy.h"
#include "ops/cuda/gemm.h"
#include "ops/cuda/qgemm.h"
#include "ops/cuda/quantize.h"
#include "ops/cuda/range.h"
#include "ops/cuda/runtime.h"
#include "ops/error.h"
#include "ops/quant/fp8.h"
#include "ops/quant/scale_rules.h"

namespace octet::runtime {
namespace {

constexpr const char* kOp = "cuda_linear";

using quant::Granularity;
using quant::QuantSpec;

using cuda::DeviceBuffer;

Device gpu(int index) { return Device{DeviceType::cuda, index}; }

DeviceBuffer upload(const void* host, size_t bytes, int device) {
  DeviceBuffer b(bytes, device);
  if (bytes > 0) cuda::copy_bytes(b.get(), gpu(device), host, Device{}, bytes);
  return b;
}

DType fp8_dtype(quant::Fp8Format f) {
  return f == quant::Fp8Format::kE4M3 ? DType::f8e4m3 : DType::f8e5m2;
}

}  // namespace

const char* linear_kind_name(LinearKind kind) {
  switch (kind) {
    case LinearKind::kF32:
      return "f32";
    case LinearKind::kInt8:
      return "int8";
    case LinearKind::kFp8:
      return "fp8";
    case LinearKind::kWeightOnly:
      return "weight-only int8";
    case LinearKind::kLlmInt8:
      return "llm.int8";
    case LinearKind::kEmulated:
      return "emulated";
  }
  return "unknown";
}

struct CudaLinear::State {
  LinearKind kind = LinearKind::kF32;
  std::string name, description;
  int64_t in = 0, out = 0;
  int device = 0;
  DType weight_dtype = DType::f32;  // f32 / bf16 matrix, or i8 / f8e4m3 / f8e5m2 codes
  DeviceBuffer weight;              // [out, in] row-major
  int64_t weight_scale_count = 0;   // 1 or out (quantized kinds)
  DeviceBuffer weight_scales;
  DeviceBuffer bias;       // f32 [out], or none
  DeviceBuffer bias_bf16;  // bf16 [out] (kF32 with bf16 weights, kFp8): cuBLASLt's epilogue's
  DeviceBuffer fp8_muls;   // kFp8 static: 1 / input scale, 1 / weight scale (256 bytes apart)
  bool int8_lt_requant = false;
  // kFp8 codes out: cuBLASLt's FP8 D until it refuses one (then a bf16 store and a quantize pass).
  mutable std::atomic<bool> fp8_codes_in_gemm{true};
  QuantSpec input_spec;       // quantized kinds
  bool input_static = false;  // the scale below is the stored one
  DeviceBuffer input_scale;   // f32 [1] when input_static
  std::string input_where;    // for the scale rules' errors

  Device dev() const { return gpu(device); }
  View matrix(void* p, DType t, int64_t rows, int64_t cols) const {
    return View{p, t, dev(), {rows, cols}, {cols, 1}};
  }

  // Scales of x [m, in] under input_spec computed from x itself, exactly as the CPU's
  // ActivationQuantizer::scales_for (quant::current_scales): the ranges are reduced on the device,
  // the rule runs on the host, and the scales go back to the device.
  DeviceBuffer current_scales(const float* x, int64_t m, const quant::ScaleLayout& layout) const {
    const int64_t count = layout.count, n = m * in;
    const bool fp8 = input_spec.is_fp8();
    const int64_t stats = fp8 ? count : 2 * count;  // amax, or min then max
    std::vector<float> host(static_cast<size_t>(stats));
    {
      DeviceBuffer ranges(static_cast<size_t>(stats) * sizeof(float), device);
      if (fp8)
        cuda::abs_max(x, n, layout, ranges.as<float>(), device);
      else
        cuda::min_max(x, n, layout, ranges.as<float>(), ranges.as<float>() + count, device);
      cuda::copy_bytes(host.data(), Device{}, ranges.get(), dev(), host.size() * sizeof(float));
    }
    std::vector<float> scales(static_cast<size_t>(count));
    for (int64_t c = 0; c < count; ++c)
      scales[c] =
          fp8 ? quant::fp8_scale(input_spec, host[c], 1.0f)
              : quant::int_qparams(input_spec, host[c], host[count + c], input_where.c_str()).scale;
    return upload(scales.data(), scales.size() * sizeof(float), device);
  }

  void run_f32(const View& x, const View& y, const View* b, int64_t m) const {
    const View wt{weight.get(), weight_dtype, dev(), {in, out}, {1, in}};  // W^T, no copy
    if (weight_dtype == DType::f32) {
      cuda::matmul(x, wt, y, b);
      return;
    }
    DeviceBuffer xb(static_cast<size_t>(m * in) * dtype_size(DType::bf16), device);
    const View xbv = matrix(xb.get(), DType::bf16, m, in);
    cuda::copy(x, xbv);  // rounds to nearest even
    cuda::matmul(xbv, wt, y, b);
  }

  // The input's scales: the stored one, or computed from x into `computed`.
  const float* input_scales(const float* x, int64_t m, const quant::ScaleLayout& layout,
                            DeviceBuffer& computed) const {
    if (input_static) return input_scale.as<float>();
    computed = current_scales(x, m, layout);
    return computed.as<float>();
  }

  void run_int8(const float* x, int64_t m, const View& y, const View* b) const {
    const quant::ScaleLayout layout = quant::scale_layout(input_spec, {m, in});
    DeviceBuffer computed;
    const float* scales = input_scales(x, m, layout, computed);
    DeviceBuffer codes(static_cast<size_t>(m * in), device);
    cuda::quantize_int(x, m * in, layout, scales, nullptr, input_spec.qmin, input_spec.qmax,
                       static_cast<int8_t*>(codes.get()), device);
    const View a_scales{const_cast<float*>(scales), DType::f32, dev(), {layout.count}, {1}};
    const View w_scales{weight_scales.get(), DType::f32, dev(), {weight_scale_count}, {1}};
    cuda::int8_gemm(matrix(codes.get(), DType::i8, m, in), a_scales,
                    matrix(weight.get(), DType::i8, out, in), w_scales, b, y);
  }

  void run_fp8(const float* x, int64_t m, const View& y, const View* b) const {
    const quant::ScaleLayout layout = quant::scale_layout(input_spec, {m, in});
    DeviceBuffer computed;
    const float* scale = input_scales(x, m, layout, computed);
    const quant::Fp8Format format = quant::fp8_format_of(input_spec.format);
    DeviceBuffer codes(static_cast<size_t>(m * in), device);
    cuda::quantize_fp8(x, m * in, layout, scale, format, input_spec.saturate,
                       static_cast<uint8_t*>(codes.get()), device);
    const View a_scale{const_cast<float*>(scale), DType::f32, dev(), {1}, {1}};
    const View w_scales{weight_scales.get(), DType::f32, dev(), {weight_scale_count}, {1}};
    cuda::fp8_gemm(matrix(codes.get(), fp8_dtype(format), m, in), a_scale,
                   matrix(weight.get(), weight_dtype, out, in), w_scales, b, y);
  }

  // ---- bf16 activations ----

  bool takes_codes() const {
    return (kind == LinearKind::kInt8 || kind == LinearKind::kFp8) && input_static;
  }
  quant::Fp8Format input_format() const { return quant::fp8_format_of(input_spec.format); }
  View scalar(const void* p) const {
    return View{const_cast<void*>(p), DType::f32, dev(), {1}, {1}};
  }
  // The codes x [m, in] of this layer's input: x itself, or x (bf16) quantized into `storage`.
  View input_codes(const void* x, int64_t m, bool given, DeviceBuffer& storage) const {
    const DType t = kind == LinearKind::kInt8 ? DType::i8 : fp8_dtype(input_format());
    if (given) return matrix(const_cast<void*>(x), t, m, in);
    storage = DeviceBuffer(static_cast<size_t>(m * in), device);
    const auto* xb = static_cast<const uint16_t*>(x);
    if (kind == LinearKind::kInt8)
      cuda::quantize_bf16_int8(xb, m * in, input_scale.as<float>(), input_spec.qmin,
                               input_spec.qmax, storage.as<int8_t>(), device);
    else
      cuda::quantize_bf16_fp8(xb, m * in, input_scale.as<float>(), input_format(),
                              input_spec.saturate, storage.as<uint8_t>(), device);
    return matrix(storage.get(), t, m, in);
  }
};

CudaLinear::CudaLinear() = default;
CudaLinear::~CudaLinear() = default;
CudaLinear::CudaLinear(CudaLinear&&) noexcept = default;
CudaLinear& CudaLinear::operator=(CudaLinear&&) noexcept = default;

CudaLinear::CudaLinear(const LinearOp& op, CudaLinearOptions options)
    : CudaLinear(op.parts(), options) {}

CudaLinear::CudaLinear(const LinearOp::Parts& p, CudaLinearOptions options) {
  const std::string where = "layer '" + p.name + "'";
  OCTET_CHECK(p.in > 0 && p.out > 0, kOp, where, ": empty weight [", p.out, ", ", p.in, "]");
  auto not_yet = [&](const std::string& what) {
    throw Error(
        kOp, where + ": " + what + " not on the GPU yet (it runs f32, int8 W8A8 and fp8 layers)");
  };
  const QuantSpec& ispec = p.input_spec;
  const bool static_input = !p.input_scales.empty();
  switch (p.kind) {
    case LinearKind::kF32:
      OCTET_CHECK(p.weight, kOp, where, ": f32 layer without weights");
      break;
    case LinearKind::kInt8: {
      OCTET_CHECK(p.weight_codes && p.input_quantized, kOp, where,
                  ": int8 layer without weight codes or input quantization");
      // IMMA's s8 x s8 GEMM: symmetric signed input codes, one scale per tensor or per row.
      if (!ispec.symmetric || ispec.qmin >= 0 || ispec.qmin < -128 || ispec.qmax > 127)
        not_yet("int8 layers with input " + ispec.str() + " (zero point or unsigned codes) are");
      const bool per_tensor = ispec.granularity == Granularity::kPerTensor;
      const bool per_token = ispec.granularity == Granularity::kPerToken && !static_input;
      if (!per_tensor && !per_token)
        not_yet("int8 layers with input " + ispec.str() +
                " (scales neither per tensor nor "
                "per token) are");
      OCTET_CHECK(!static_input || p.input_scales.size() == 1, kOp, where, ": ",
                  p.input_scales.size(), " stored input scales for a per-tensor input");
      OCTET_CHECK(p.in % 4 == 0, kOp, where, ": in_features = ", p.in,
                  " is not a multiple of 4 (cuBLASLt's IMMA rule; octet pads nothing)");
      break;
    }
    case LinearKind::kFp8: {
      OCTET_CHECK(p.weight_codes && p.input_quantized, kOp, where,
                  ": fp8 layer without weight codes or input quantization");
      OCTET_CHECK(p.weight_spec.is_fp8() && ispec.is_fp8() &&
                      ispec.granularity == Granularity::kPerTensor &&
                      (!static_input || p.input_scales.size() == 1),
                  kOp, where, ": an fp8 layer needs FP8 weights and a per-tensor FP8 input, got ",
                  p.weight_spec.str(), " and ", ispec.str());
      const bool e5m2_both = quant::fp8_format_of(ispec.format) == quant::Fp8Format::kE5M2 &&
                             quant::fp8_format_of(p.weight_spec.format) == quant::Fp8Format::kE5M2;
      if (e5m2_both)
        not_yet("fp8 layers with E5M2 weights and E5M2 inputs (no cuBLASLt kernel) are");
      OCTET_CHECK(p.in % 16 == 0, kOp, where, ": in_features = ", p.in,
                  " is not a multiple of 16 (cuBLASLt's FP8 rule; octet pads nothing)");
      break;
    }
    default:
      not_yet(std::string(linear_kind_name(p.kind)) + " layers are");
  }
  const int64_t wcount = static_cast<int64_t>(p.weight_scales.size());
  if (p.kind != LinearKind::kF32)
    OCTET_CHECK(wcount == 1 || wcount == p.out, kOp, where, ": ", wcount, " weight scales for ",
                p.out, " output channels");
  cuda::require(gpu(options.device), kOp);

  auto s = std::make_unique<State>();
  s->kind = p.kind;
  s->name = p.name;
  s->in = p.in;
  s->out = p.out;
  s->device = options.device;
  s->input_where = std::string(kOp) + ": " + where + " input";
  const size_t elements = static_cast<size_t>(p.in * p.out);
  const std::string on = " on " + s->dev().str();
  if (p.kind == LinearKind::kF32) {
    DeviceBuffer w32 = upload(p.weight, elements * sizeof(float), s->device);
    if (options.bf16) {
      // Rounded on the device (nearest even, as the CPU's f32_to_bf16); w32 is released once the
      // cast is enqueued.
      s->weight = DeviceBuffer(elements * dtype_size(DType::bf16), s->device);
      cuda::copy(s->matrix(w32.get(), DType::f32, p.out, p.in),
                 s->matrix(s->weight.get(), DType::bf16, p.out, p.in));
      s->weight_dtype = DType::bf16;
      s->description = "bf16 GEMM" + on + " (f32 accumulation and output)";
    } else {
      s->weight = std::move(w32);
      s->weight_dtype = DType::f32;
      s->description = "f32 GEMM" + on;
    }
  } else {
    s->weight = upload(p.weight_codes, elements, s->device);
    s->weight_dtype = p.kind == LinearKind::kInt8
                          ? DType::i8
                          : fp8_dtype(quant::fp8_format_of(p.weight_spec.format));
    s->weight_scale_count = wcount;
    s->weight_scales =
        upload(p.weight_scales.data(), p.weight_scales.size() * sizeof(float), s->device);
    s->input_spec = ispec;
    s->input_static = static_input;
    if (static_input) s->input_scale = upload(p.input_scales.data(), sizeof(float), s->device);
    s->description = std::string(p.kind == LinearKind::kInt8 ? "int8 GEMM" : "fp8 GEMM") + on +
                     ": weight " + p.weight_spec.str() + ", input " + ispec.str() +
                     (static_input ? " (stored scale)" : " (scales from each input)");
  }
  if (p.bias) s->bias = upload(p.bias, static_cast<size_t>(p.out) * sizeof(float), s->device);
  const bool bf16_epilogue =
      p.kind == LinearKind::kFp8 || (p.kind == LinearKind::kF32 && options.bf16);
  if (p.bias && bf16_epilogue) {
    s->bias_bf16 = DeviceBuffer(static_cast<size_t>(p.out) * dtype_size(DType::bf16), s->device);
    cuda::copy(View{s->bias.get(), DType::f32, s->dev(), {p.out}, {1}},
               View{s->bias_bf16.get(), DType::bf16, s->dev(), {p.out}, {1}});
  }
  if (p.kind == LinearKind::kFp8 && static_input && wcount == 1) {
    // cuBLASLt's multipliers of the QuantSpec scales (x' = decode(q) / s), each at the start of
    // a 256-byte slot (fp8_gemm found FP8 algorithms refuse less aligned scale pointers).
    std::vector<float> muls(128, 0.0f);
    muls[0] = 1.0f / p.input_scales[0];
    muls[64] = 1.0f / p.weight_scales[0];
    s->fp8_muls = upload(muls.data(), muls.size() * sizeof(float), s->device);
  }
  s->int8_lt_requant = options.int8_lt_requant;
  state_ = std::move(s);
}

void CudaLinear::forward(const float* x, int64_t m, float* y) const {
  OCTET_CHECK(state_, kOp, "forward on an empty CudaLinear");
  OCTET_CHECK(m >= 0, kOp, "layer '", state_->name, "': negative row count ", m);
  if (m == 0) return;
  const State& s = *state_;
  const View xv = s.matrix(const_cast<float*>(x), DType::f32, m, s.in);
  const View yv = s.matrix(y, DType::f32, m, s.out);
  const View bias{s.bias.get(), DType::f32, s.dev(), {s.out}, {1}};
  const View* b = s.bias.get() ? &bias : nullptr;
  switch (s.kind) {
    case LinearKind::kF32:
      s.run_f32(xv, yv, b, m);
      return;
    case LinearKind::kInt8:
      s.run_int8(x, m, yv, b);
      return;
    case LinearKind::kFp8:
      s.run_fp8(x, m, yv, b);
      return;
    default:
      break;
  }
  throw Error(kOp, "layer '" + s.name + "': unexpected kind " + linear_kind_name(s.kind));
}

void CudaLinear::forward_bf16(const void* x, int64_t m, void* y, const Bf16Call& call) const {
  OCTET_CHECK(state_, kOp, "forward_bf16 on an empty CudaLinear");
  const State& s = *state_;
  const std::string where = "layer '" + s.name + "'";
  OCTET_CHECK(m >= 0, kOp, where, ": negative row count ", m);
  OCTET_CHECK(!call.input_codes || s.takes_codes(), kOp, where,
              ": input codes need an int8 or fp8 layer with a stored per-tensor input scale");
  const State* next = call.codes_for ? call.codes_for->state_.get() : nullptr;
  if (call.codes_for) {
    OCTET_CHECK(next && next->kind == s.kind && call.codes_for->takes_codes(), kOp, where,
                ": codes out need a next layer of the same kind (int8 or fp8) with a stored "
                "per-tensor input scale");
    OCTET_CHECK(next->in == s.out, kOp, where, ": out_features = ", s.out, " but the next layer '",
                next->name, "' takes ", next->in);
    OCTET_CHECK(s.kind != LinearKind::kFp8 ||
                    (next->input_format() == quant::Fp8Format::kE4M3 && next->input_spec.saturate),
                kOp, where, ": fp8 codes out must be saturating E4M3 (cuBLASLt's FP8 output)");
  }
  if (m == 0) return;
  View bias_view;
  cuda::LinearEpilogue e;
  e.activation = call.activation;
  View out_scale;
  if (next) {
    out_scale = s.scalar(next->input_scale.get());
    e.out_scale = &out_scale;
    e.qmin = next->input_spec.qmin;
    e.qmax = next->input_spec.qmax;
  }
  switch (s.kind) {
    case LinearKind::kF32: {
      OCTET_CHECK(s.weight_dtype == DType::bf16, kOp, where,
                  ": bf16 activations need bf16 weights (CudaLinearOptions::bf16)");
      if (s.bias_bf16.get())
        bias_view = View{s.bias_bf16.get(), DType::bf16, s.dev(), {s.out}, {1}};
      e.bias = s.bias_bf16.get() ? &bias_view : nullptr;
      cuda::bf16_linear(s.matrix(const_cast<void*>(x), DType::bf16, m, s.in),
                        s.matrix(s.weight.get(), DType::bf16, s.out, s.in), e,
                        s.matrix(y, DType::bf16, m, s.out));
      return;
    }
    case LinearKind::kInt8: {
      OCTET_CHECK(s.input_static, kOp, where,
                  ": bf16 activations need a stored input scale (this layer computes them per "
                  "input)");
      DeviceBuffer codes;
      const View a = s.input_codes(x, m, call.input_codes, codes);
      if (s.bias.get()) bias_view = View{s.bias.get(), DType::f32, s.dev(), {s.out}, {1}};
      e.bias = s.bias.get() ? &bias_view : nullptr;
      e.lt_requant = s.int8_lt_requant && next && call.activation == cuda::Activation::kNone;
      const View w_scales{s.weight_scales.get(), DType::f32, s.dev(), {s.weight_scale_count}, {1}};
      cuda::int8_linear(a, s.scalar(s.input_scale.get()),
                        s.matrix(s.weight.get(), DType::i8, s.out, s.in), w_scales, e,
                        s.matrix(y, next ? DType::i8 : DType::bf16, m, s.out));
      return;
    }
    case LinearKind::kFp8: {
      OCTET_CHECK(s.input_static && s.fp8_muls.get(), kOp, where,
                  ": bf16 activations need a stored input scale and one weight scale per tensor");
      DeviceBuffer codes;
      const View a = s.input_codes(x, m, call.input_codes, codes);
      if (s.bias_bf16.get())
        bias_view = View{s.bias_bf16.get(), DType::bf16, s.dev(), {s.out}, {1}};
      e.bias = s.bias_bf16.get() ? &bias_view : nullptr;
      const float* muls = s.fp8_muls.as<float>();
      const View w = s.matrix(s.weight.get(), s.weight_dtype, s.out, s.in);
      auto run = [&](const cuda::LinearEpilogue& ep, const View& out) {
        cuda::fp8_linear(a, s.scalar(muls), w, s.scalar(muls + 64), ep, out);
      };
      if (next && s.fp8_codes_in_gemm.load()) {
        try {
          run(e, s.matrix(y, DType::f8e4m3, m, s.out));
          return;
        } catch (const Error&) {
          s.fp8_codes_in_gemm.store(false);  // cuBLASLt refused FP8 D here: the pass below
        }
      }
      if (!next) {
        run(e, s.matrix(y, DType::bf16, m, s.out));
        return;
      }
      // The codes from the bf16 output: one more pass, and the bf16 rounding of v before it is
      // quantized (which can move a code by one).
      cuda::LinearEpilogue bf16_out = e;
      bf16_out.out_scale = nullptr;
      DeviceBuffer v(static_cast<size_t>(m * s.out) * dtype_size(DType::bf16), s.device);
      run(bf16_out, s.matrix(v.get(), DType::bf16, m, s.out));
      cuda::quantize_bf16_fp8(v.as<uint16_t>(), m * s.out, next->input_scale.as<float>(),
                              quant::Fp8Format::kE4M3, true, static_cast<uint8_t*>(y), s.device);
      return;
    }
    default:
      break;
  }
  throw Error(kOp, where + ": unexpected kind " + linear_kind_name(s.kind));
}

bool CudaLinear::takes_codes() const { return state_ && state_->takes_codes(); }
bool CudaLinear::fp8_codes_in_gemm() const {
  return state_ && state_->kind == LinearKind::kFp8 && state_->fp8_codes_in_gemm.load();
}

int64_t CudaLinear::in_features() const { return state_ ? state_->in : 0; }
int64_t CudaLinear::out_features() const { return state_ ? state_->out : 0; }
LinearKind CudaLinear::kind() const { return state_ ? state_->kind : LinearKind::kF32; }
int CudaLinear::device() const { return state_ ? state_->device : 0; }
std::string CudaLinear::describe() const { return state_ ? state_->description : "empty"; }

}  // namespace octet::runtime
