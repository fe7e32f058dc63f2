// ModelFile: opening validates the description against the archive's records before anything
// else looks at it. The order of the checks matters for damaged files: every dimension is
// bounded before it is combined with another, and a tensor's record is compared with the shape
// the description implies before any layout arithmetic runs over it, so hostile numbers end in
// an error rather than in an overflow.
#include "runtime/model_file.h"

#include <cmath>
#include <set>
#include <utility>

#include "ops/error.h"

namespace octet::runtime {
namespace {

// Far above any real layer, far below what products of a few dims could overflow.
constexpr int64_t kMaxDim = int64_t{1} << 31;

[[noreturn]] void fail(const std::string& path, const std::string& place,
                       const std::string& reason) {
  throw Error("qmodel", path + ": " + (place.empty() ? "" : place + ": ") + reason);
}

std::string untagged(const Error& e) {
  const std::string what = e.what();
  const std::string tag = "[" + e.op() + "] ";
  return what.rfind(tag, 0) == 0 ? what.substr(tag.size()) : what;
}

// Runs f, re-raising its octet::Error as a qmodel error that names the file and the place.
template <typename F>
auto with_place(const std::string& path, const std::string& place, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    fail(path, place, untagged(e));
  }
}

void check_dim(const std::string& path, const std::string& place, const char* what, int64_t v,
               int64_t lowest) {
  if (v < lowest || v > kMaxDim) {
    fail(path, place,
         std::string(what) + " is " + std::to_string(v) + " (must be in [" +
             std::to_string(lowest) + ", " + std::to_string(kMaxDim) + "])");
  }
}

std::string describe(DType dtype, const Shape& shape) {
  return std::string(dtype_name(dtype)) + " " + shape_str(shape);
}

void check_scales(const std::string& path, const std::string& name, const View& v) {
  const float* s = v.ptr<float>();
  for (int64_t i = 0; i < v.numel(); ++i) {
    if (!(std::isfinite(s[i]) && s[i] > 0.0f)) {
      fail(path, "tensor '" + name + "'",
           "scale [" + std::to_string(i) + "] is " + std::to_string(s[i]) +
               " (scales must be finite and > 0)");
    }
  }
}

void check_zero_points(const std::string& path, const std::string& name, const View& v,
                       const quant::QuantSpec& spec) {
  const float* z = v.ptr<float>();
  for (int64_t i = 0; i < v.numel(); ++i) {
    if (!(z[i] == std::nearbyint(z[i]) && z[i] >= spec.qmin && z[i] <= spec.qmax)) {
      fail(path, "tensor '" + name + "'",
           "zero point [" + std::to_string(i) + "] is " + std::to_string(z[i]) +
               " (must be an integer in [" + std::to_string(spec.qmin) + ", " +
               std::to_string(spec.qmax) + "])");
    }
  }
}

}  // namespace

ModelFile::ModelFile(io::Archive archive, proto::QModel header)
    : archive_(std::move(archive)), header_(std::move(header)) {}

ModelFile ModelFile::open(const std::string& path) {
  io::Archive archive = io::Archive::open(path);
  const auto it = archive.metadata().find(kQModelKey);
  if (it == archive.metadata().end()) {
    fail(path, "",
         std::string("no '") + kQModelKey +
             "' description: is this a checkpoint? export it with `octet export`");
  }
  proto::QModel header;
  if (!header.ParseFromString(it->second)) {
    fail(path, "",
         std::string("the '") + kQModelKey +
             "' description does not parse (damaged, or not written by octet export)");
  }
  ModelFile file(std::move(archive), std::move(header));
  file.validate();
  for (int i = 0; i < file.header_.layers_size(); ++i) {
    file.layer_index_.emplace(file.header_.layers(i).name(), i);
  }
  return file;
}

void ModelFile::validate() const {
  const std::string& p = path();
  const uint32_t version = header_.format_version();
  if (version == 0) fail(p, "", "the description has no format_version");
  if (version > kQModelVersion) {
    fail(p, "",
         "format version " + std::to_string(version) + " is newer than this build reads (" +
             std::to_string(kQModelVersion) + "): update octet");
  }
  switch (header_.arch_case()) {
    case proto::QModel::kCnn: {
      const proto::CnnArch& a = header_.cnn();
      check_dim(p, "cnn", "channels1", a.channels1(), 1);
      check_dim(p, "cnn", "channels2", a.channels2(), 1);
      check_dim(p, "cnn", "hidden", a.hidden(), 1);
      check_dim(p, "cnn", "classes", a.classes(), 1);
      check_dim(p, "cnn", "image_size", a.image_size(), 1);
      break;
    }
    case proto::QModel::kTransformer: {
      const proto::TransformerArch& a = header_.transformer();
      if (!proto::TransformerArch::Family_IsValid(a.family())) {
        fail(p, "transformer", "unknown family " + std::to_string(a.family()));
      }
      check_dim(p, "transformer", "vocab", a.vocab(), 1);
      check_dim(p, "transformer", "block", a.block(), 1);
      check_dim(p, "transformer", "layers", a.layers(), 1);
      check_dim(p, "transformer", "heads", a.heads(), 1);
      check_dim(p, "transformer", "dim", a.dim(), 1);
      check_dim(p, "transformer", "mlp_hidden", a.mlp_hidden(), 1);
      if (a.dim() % a.heads() != 0) {
        fail(p, "transformer",
             "dim " + std::to_string(a.dim()) + " is not a multiple of heads " +
                 std::to_string(a.heads()));
      }
      break;
    }
    case proto::QModel::ARCH_NOT_SET:
      fail(p, "", "the description names no architecture (neither cnn nor transformer)");
  }

  std::set<std::string> names;
  for (int i = 0; i < header_.layers_size(); ++i) {
    const proto::Layer& layer = header_.layers(i);
    if (layer.name().empty()) fail(p, "layer #" + std::to_string(i), "empty name");
    if (!names.insert(layer.name()).second) {
      fail(p, "layer '" + layer.name() + "'", "listed twice");
    }
    validate_layer(layer);
  }
  for (const std::string& name : header_.skipped_layers()) {
    const std::string place = "skipped layer '" + name + "'";
    if (names.count(name) != 0) fail(p, place, "is also listed as a quantized layer");
    const std::string weight = name + ".weight";
    if (!has_tensor(weight) || archive_.dtype(weight) != DType::f32) {
      fail(p, place, "has no f32 tensor '" + weight + "'");
    }
  }
}

DType ModelFile::code_dtype(const quant::QuantSpec& spec) {
  return !spec.is_fp8() && spec.qmin < 0 ? DType::i8 : DType::u8;
}

int64_t ModelFile::outlier_count(const proto::Layer& layer) const {
  if (!layer.llm_int8()) return 0;
  const std::string name = layer.name() + ".outlier_columns";
  if (!has_tensor(name)) {
    throw Error("qmodel", path() + ": tensor '" + name + "' is missing (expected i64 [k])");
  }
  const Shape s = archive_.shape(name);
  if (s.size() != 1 || s[0] > layer.in_features()) {
    fail(path(), "tensor '" + name + "'",
         "expected i64 [k] with k <= in_features " + std::to_string(layer.in_features()) +
             ", found " + describe(archive_.dtype(name), s));
  }
  return s[0];
}

Shape ModelFile::weight_codes_shape(const proto::Layer& layer) const {
  if (layer.kind() == proto::Layer::CONV2D) {
    return {layer.out_features(), layer.in_features(), layer.kernel(), layer.kernel()};
  }
  return {layer.out_features(), layer.in_features() - outlier_count(layer)};
}

void ModelFile::validate_layer(const proto::Layer& layer) const {
  const std::string& p = path();
  const std::string& name = layer.name();
  const std::string place = "layer '" + name + "'";
  if (!proto::Layer::Kind_IsValid(layer.kind())) {
    fail(p, place, "unknown kind " + std::to_string(layer.kind()));
  }
  if (layer.kind() == proto::Layer::EMBEDDING &&
      (layer.has_input() || layer.has_bias() || layer.llm_int8())) {
    fail(p, place, "an embedding table is weight-only: no input quantization, bias or outliers");
  }
  check_dim(p, place, "in_features", layer.in_features(), 1);
  check_dim(p, place, "out_features", layer.out_features(), 1);
  if (layer.kind() == proto::Layer::CONV2D) {
    check_dim(p, place, "kernel", layer.kernel(), 1);
    check_dim(p, place, "stride", layer.stride(), 1);
    check_dim(p, place, "padding", layer.padding(), 0);
  }
  const quant::QuantSpec wspec = io::from_proto(layer.weight(), p + ": " + place + " weight spec");
  quant::QuantSpec ispec;
  if (layer.has_input()) {
    ispec = io::from_proto(layer.input().spec(), p + ": " + place + " input spec");
    const bool dynamic = ispec.scale_source == quant::ScaleSource::kCurrent;
    if (layer.input().static_scale() == dynamic) {
      fail(p, place,
           "input " + ispec.str() +
               (dynamic ? " computes its scales from each input, so "
                          "static_scale must be false"
                        : " has fixed scales, so static_scale must be true"));
    }
  }

  if (layer.llm_int8()) {
    if (layer.kind() != proto::Layer::LINEAR) fail(p, place, "llm_int8 is for linear layers");
    if (!(std::isfinite(layer.outlier_threshold()) && layer.outlier_threshold() > 0)) {
      fail(p, place,
           "outlier_threshold " + std::to_string(layer.outlier_threshold()) +
               " must be finite and > 0");
    }
    if (!layer.has_input() || ispec.granularity != quant::Granularity::kPerToken) {
      fail(p, place, "an llm_int8 layer quantizes its inputs per token");
    }
    const int64_t k = outlier_count(layer);
    const std::string cols_name = name + ".outlier_columns";
    const View cols = tensor(cols_name, DType::i64, {k});
    const int64_t* c = cols.ptr<int64_t>();
    for (int64_t i = 0; i < k; ++i) {
      if (c[i] < 0 || c[i] >= layer.in_features() || (i > 0 && c[i] <= c[i - 1])) {
        fail(p, "tensor '" + cols_name + "'",
             "column [" + std::to_string(i) + "] is " + std::to_string(c[i]) +
                 " (columns must ascend strictly inside [0, " +
                 std::to_string(layer.in_features()) + "))");
      }
    }
    check_record(name + ".outlier_weight", DType::f32, {layer.out_features(), k});
  }

  const Shape codes_shape = weight_codes_shape(layer);
  check_record(name + ".weight_codes", code_dtype(wspec), codes_shape);
  const Shape wscale_shape = with_place(p, place + " weight spec",
                                        [&] { return io::stored_scale_shape(wspec, codes_shape); });
  check_scales(p, name + ".weight_scale", tensor(name + ".weight_scale", DType::f32, wscale_shape));
  const bool weight_affine = !wspec.is_fp8() && !wspec.symmetric;
  if (weight_affine) {
    check_zero_points(p, name + ".weight_zero_point",
                      tensor(name + ".weight_zero_point", DType::f32, wscale_shape), wspec);
  } else if (has_tensor(name + ".weight_zero_point")) {
    fail(p, place,
         wspec.str() + " takes no zero point, but the file has '" + name + ".weight_zero_point'");
  }

  if (layer.has_input() && layer.input().static_scale()) {
    const Shape ishape = with_place(p, place + " input spec",
                                    [&] { return io::stored_input_scale_shape(ispec, layer); });
    check_scales(p, name + ".input_scale", tensor(name + ".input_scale", DType::f32, ishape));
    if (!ispec.is_fp8() && !ispec.symmetric) {
      check_zero_points(p, name + ".input_zero_point",
                        tensor(name + ".input_zero_point", DType::f32, ishape), ispec);
    }
  }
  if (layer.has_bias()) check_record(name + ".bias", DType::f32, {layer.out_features()});
}

const proto::Layer* ModelFile::layer(const std::string& name) const {
  const auto it = layer_index_.find(name);
  return it == layer_index_.end() ? nullptr : &header_.layers(it->second);
}

void ModelFile::check_record(const std::string& name, DType dtype, const Shape& shape) const {
  const std::string place = "tensor '" + name + "'";
  if (!has_tensor(name)) {
    throw Error("qmodel",
                path() + ": " + place + " is missing (expected " + describe(dtype, shape) + ")");
  }
  const io::TensorRecord& r = archive_.record(name);
  if (r.dtype != dtype || r.shape != shape) {
    fail(path(), place,
         "expected " + describe(dtype, shape) + ", found " + describe(r.dtype, r.shape));
  }
}

View ModelFile::tensor(const std::string& name, DType dtype, const Shape& shape) const {
  check_record(name, dtype, shape);
  return archive_.view(name);
}

quant::QuantSpec ModelFile::weight_spec(const proto::Layer& layer) const {
  return io::from_proto(layer.weight(), path() + ": layer '" + layer.name() + "' weight spec");
}

quant::QuantSpec ModelFile::input_spec(const proto::Layer& layer) const {
  if (!layer.has_input()) {
    fail(path(), "layer '" + layer.name() + "'", "has no input quantization (weight-only)");
  }
  return io::from_proto(layer.input().spec(), path() + ": layer '" + layer.name() + "' input spec");
}

}  // namespace octet::runtime
