// .qmodel files that are damaged or lie: truncation, flipped bits in the header and in blobs, a
// newer format version, a checkpoint passed as a model, and descriptions whose layers disagree
// with the tensors (shapes, dtypes, offsets, scale shapes and values, outlier columns). Each is
// an octet::Error naming the file and the reason, never a crash.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>

#include "framework/io/archive.h"
#include "framework/io/archive_format.h"
#include "framework/io/checkpoint.h"
#include "framework/models/cnn.h"
#include "framework/models/gpt.h"
#include "proto/archive.pb.h"
#include "qat/export.h"
#include "qat/llm_int8.h"
#include "qat/outlier_injection.h"
#include "qat/prepare.h"
#include "qat/schemes.h"
#include "runtime/model_file.h"
#include "tests/support/error_matchers.h"

namespace octet {
namespace {

using runtime::ModelFile;
using testing::throws_naming;

#define EXPECT_HAS(message, part)                    \
  EXPECT_NE((message).find(part), std::string::npos) \
      << "'" << (message) << "' lacks '" << (part) << "'"

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

uint64_t header_length(const std::string& bytes) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t(uint8_t(bytes[16 + i])) << (8 * i);
  return v;
}

// The message of the octet::Error that opening `path` throws ("" and a failure if none).
std::string open_error(const std::string& path) {
  try {
    ModelFile::open(path);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "opening " << path << " did not throw";
  return "";
}

Tensor copy_of(const View& v) {
  Tensor t = Tensor::empty(v.shape, v.dtype);
  if (v.numel() > 0) std::memcpy(t.raw_data(), v.data, v.numel() * dtype_size(v.dtype));
  return t;
}

// A .qmodel taken apart, so a test can make it lie and write it back with write_archive.
struct Contents {
  proto::QModel model;
  std::vector<std::pair<std::string, Tensor>> tensors;

  Tensor& tensor(const std::string& name) {
    for (auto& [n, t] : tensors) {
      if (n == name) return t;
    }
    throw std::runtime_error("no tensor " + name);
  }
  void remove(const std::string& name) {
    std::erase_if(tensors, [&](const auto& nt) { return nt.first == name; });
  }
  proto::Layer& layer(const std::string& name) {
    for (proto::Layer& l : *model.mutable_layers()) {
      if (l.name() == name) return l;
    }
    throw std::runtime_error("no layer " + name);
  }
};

Contents read_contents(const std::string& path) {
  const io::Archive archive = io::Archive::open(path);
  Contents c;
  EXPECT_TRUE(c.model.ParseFromString(archive.metadata().at(runtime::kQModelKey)));
  for (const std::string& name : archive.names()) {
    c.tensors.emplace_back(name, copy_of(archive.view(name)));
  }
  return c;
}

void write_contents(const std::string& path, const Contents& c) {
  std::vector<io::NamedView> views;
  for (const auto& [name, t] : c.tensors) views.push_back({name, t.view()});
  io::write_archive(path, views, {{runtime::kQModelKey, c.model.SerializeAsString()}});
}

// Rewrites the archive header (records, metadata) in place, leaving every blob where it was.
void edit_archive_header(const std::string& path,
                         const std::function<void(proto::ArchiveHeader&)>& edit) {
  std::string bytes = read_bytes(path);
  const uint64_t length = header_length(bytes);
  proto::ArchiveHeader header;
  ASSERT_TRUE(header.ParseFromString(bytes.substr(24, length)));
  edit(header);
  const std::string edited = header.SerializeAsString();
  const uint64_t data_start = io::format::align_up(24 + length);
  ASSERT_LE(24 + edited.size(), data_start) << "the edited header no longer fits";
  uint8_t prefix[io::format::kPrefixSize];
  io::format::encode_prefix(
      {io::format::kVersion, io::format::crc32(edited.data(), edited.size()), edited.size()},
      prefix);
  std::string out(reinterpret_cast<const char*>(prefix), sizeof(prefix));
  out += edited;
  out.resize(data_start, '\0');
  out += bytes.substr(data_start);
  write_bytes(path, out);
}

class QModelCorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/octet_qmodel_corruption.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    // conv1 [2,1,3,3], conv2 [4,2,3,3], fc1 [8,196] quantized w8a8; fc2 [10,8] skipped.
    Generator gen(1);
    cnn_ = std::make_unique<models::Cnn>(models::CnnConfig{2, 4, 8, 10, 0.0}, gen);
    qat::prepare(*cnn_, {qat::scheme_config("w8a8"), {"fc2"}, {}});
    const Tensor images = Tensor::randn({2, 1, 28, 28}, gen);
    qat::calibrate(*cnn_, 1, [&](int64_t) { cnn_->forward(images, gen); });
    good_ = file("good.qmodel");
    qat::export_qmodel(*cnn_, qat::describe_model(*cnn_), good_);
    ModelFile::open(good_);  // the starting point is sound
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string file(const std::string& name) const { return dir_ + "/" + name; }

  // Writes the good model's contents, edited by `lie`, to "lie.qmodel"; returns the open error.
  std::string error_after(const std::function<void(Contents&)>& lie) {
    Contents c = read_contents(good_);
    lie(c);
    const std::string path = file("lie.qmodel");
    write_contents(path, c);
    return open_error(path);
  }

  std::string dir_, good_;
  std::unique_ptr<models::Cnn> cnn_;
};

TEST_F(QModelCorruptionTest, TruncatedFilesNameTheFileAndWhatIsCut) {
  const std::string bytes = read_bytes(good_);
  const uint64_t header_end = 24 + header_length(bytes);
  const std::string cut = file("cut.qmodel");
  for (uint64_t at : {uint64_t{0}, uint64_t{10}, uint64_t{24}, header_end - 5, header_end + 70,
                      uint64_t{bytes.size()} / 2, uint64_t{bytes.size()} - 1}) {
    SCOPED_TRACE(at);
    write_bytes(cut, bytes.substr(0, at));
    const std::string msg = open_error(cut);
    EXPECT_HAS(msg, "[archive] " + cut + ": ");
    EXPECT_HAS(msg, "truncated");
  }
}

TEST_F(QModelCorruptionTest, FlippedBitsInTheHeaderAndInBlobsAreCaught) {
  const std::string bytes = read_bytes(good_);
  const std::string bad = file("flipped.qmodel");
  std::string header_flip = bytes;
  header_flip[24 + header_length(bytes) / 2] ^= 0x08;
  write_bytes(bad, header_flip);
  EXPECT_HAS(open_error(bad), bad + ": header corrupted (crc mismatch");

  // Scales are read (and their crc checked) while opening.
  const io::Archive archive = io::Archive::open(good_);
  std::string scale_flip = bytes;
  scale_flip[archive.record("fc1.weight_scale").offset + 1] ^= 0x01;
  write_bytes(bad, scale_flip);
  EXPECT_HAS(open_error(bad), bad + ": tensor 'fc1.weight_scale': checksum mismatch");

  // Codes are checked on their first view, and by verify_all.
  std::string code_flip = bytes;
  code_flip[archive.record("fc1.weight_codes").offset + 100] ^= 0x40;
  write_bytes(bad, code_flip);
  const ModelFile f = ModelFile::open(bad);
  EXPECT_TRUE(throws_naming(
      [&] {
        f.tensor("fc1.weight_codes", DType::i8, {8, 196});
      },
      bad + ": tensor 'fc1.weight_codes': checksum mismatch"));
  EXPECT_TRUE(throws_naming([&] { f.verify_all(); }, "fc1.weight_codes"));
}

TEST_F(QModelCorruptionTest, NewerOrMissingFormatVersionIsRefused) {
  const std::string path = file("lie.qmodel");
  EXPECT_HAS(error_after([](Contents& c) { c.model.set_format_version(2); }),
             "[qmodel] " + path + ": format version 2 is newer than this build reads (1)");
  EXPECT_HAS(error_after([](Contents& c) { c.model.clear_format_version(); }),
             path + ": the description has no format_version");
}

TEST_F(QModelCorruptionTest, ACheckpointIsNotAModel) {
  const std::string path = file("model.ckpt");
  io::TrainingState state;
  state.model = cnn_.get();
  io::save_checkpoint(path, state);
  EXPECT_HAS(open_error(path), "[qmodel] " + path +
                                   ": no 'octet.qmodel' description: is this a checkpoint? "
                                   "export it with `octet export`");
}

TEST_F(QModelCorruptionTest, UnparsableDescriptionAndMissingArchitecture) {
  const Contents c = read_contents(good_);
  std::vector<io::NamedView> views;
  for (const auto& [name, t] : c.tensors) views.push_back({name, t.view()});
  const std::string path = file("garbage.qmodel");
  io::write_archive(path, views, {{runtime::kQModelKey, std::string("\xff\xff\xff\x0f\x01", 5)}});
  EXPECT_HAS(open_error(path), path + ": the 'octet.qmodel' description does not parse");

  EXPECT_HAS(error_after([](Contents& c) { c.model.clear_arch(); }),
             ": the description names no architecture");
  EXPECT_HAS(error_after([](Contents& c) { c.model.mutable_cnn()->set_classes(0); }),
             ": cnn: classes is 0 (must be in [1, ");
}

TEST_F(QModelCorruptionTest, ShapesThatDisagreeWithTheLayerAreNamed) {
  const std::string lie = file("lie.qmodel");
  EXPECT_HAS(error_after([](Contents& c) { c.layer("fc1").set_in_features(99); }),
             lie + ": tensor 'fc1.weight_codes': expected i8 [8, 99], found i8 [8, 196]");
  EXPECT_HAS(error_after([](Contents& c) { c.layer("conv2").set_kernel(5); }),
             "tensor 'conv2.weight_codes': expected i8 [4, 2, 5, 5], found i8 [4, 2, 3, 3]");
  EXPECT_HAS(error_after([](Contents& c) { c.layer("conv1").set_stride(0); }),
             lie + ": layer 'conv1': stride is 0 (must be in [1, ");
  EXPECT_HAS(error_after([](Contents& c) { c.layer("fc1").set_out_features(-3); }),
             "layer 'fc1': out_features is -3");
  EXPECT_HAS(error_after([](Contents& c) { c.tensor("fc1.weight_scale") = Tensor::ones({7}); }),
             lie + ": tensor 'fc1.weight_scale': expected f32 [8], found f32 [7]");
  EXPECT_HAS(error_after([](Contents& c) { c.tensor("fc1.input_scale") = Tensor::ones({}); }),
             "tensor 'fc1.input_scale': expected f32 [1], found f32 []");
  EXPECT_HAS(error_after([](Contents& c) {
               c.tensor("conv1.weight_codes") = c.tensor("conv1.weight_codes").to(DType::u8);
             }),
             "tensor 'conv1.weight_codes': expected i8 [2, 1, 3, 3], found u8 [2, 1, 3, 3]");
  EXPECT_HAS(error_after([](Contents& c) { c.remove("conv2.bias"); }),
             lie + ": tensor 'conv2.bias' is missing (expected f32 [4])");
  EXPECT_HAS(error_after([](Contents& c) { c.remove("fc1.input_scale"); }),
             "tensor 'fc1.input_scale' is missing");
}

TEST_F(QModelCorruptionTest, ScalesMustBeFiniteAndPositive) {
  for (float bad : {0.0f, -1.0f, std::numeric_limits<float>::quiet_NaN(),
                    std::numeric_limits<float>::infinity()}) {
    SCOPED_TRACE(bad);
    EXPECT_HAS(
        error_after([&](Contents& c) { c.tensor("fc1.weight_scale").data<float>()[2] = bad; }),
        "tensor 'fc1.weight_scale': scale [2] is ");
    EXPECT_HAS(
        error_after([&](Contents& c) { c.tensor("conv1.input_scale").data<float>()[0] = bad; }),
        "(scales must be finite and > 0)");
  }
}

TEST_F(QModelCorruptionTest, LayerEntriesThatCannotBeRight) {
  const std::string lie = file("lie.qmodel");
  EXPECT_HAS(
      error_after([](Contents& c) { c.layer("fc1").set_kind(static_cast<proto::Layer::Kind>(7)); }),
      lie + ": layer 'fc1': unknown kind 7");
  EXPECT_HAS(error_after([](Contents& c) { c.layer("conv2").set_name(""); }),
             "layer #1: empty name");
  EXPECT_HAS(error_after([](Contents& c) { *c.model.add_layers() = c.layer("fc1"); }),
             "layer 'fc1': listed twice");
  EXPECT_HAS(error_after([](Contents& c) {
               c.layer("fc1").mutable_weight()->set_qmin(5);
               c.layer("fc1").mutable_weight()->set_qmax(3);
             }),
             lie + ": layer 'fc1' weight spec: qmin 5 must be below qmax 3");
  EXPECT_HAS(error_after([](Contents& c) {
               c.layer("conv1").mutable_input()->mutable_spec()->set_format(
                   static_cast<proto::QuantSpec::Format>(9));
             }),
             "layer 'conv1' input spec: unknown number format 9");
  EXPECT_HAS(error_after([](Contents& c) { c.layer("fc1").mutable_weight()->set_axis(3); }),
             "layer 'fc1' weight spec: ");
  EXPECT_HAS(
      error_after([](Contents& c) { c.layer("fc1").mutable_input()->set_static_scale(false); }),
      "layer 'fc1': input int8 sym [-127,127] per-tensor observer has fixed scales, so "
      "static_scale must be true");
  EXPECT_HAS(error_after([](Contents& c) {
               c.tensors.emplace_back("fc1.weight_zero_point", Tensor::zeros({8}));
             }),
             "takes no zero point, but the file has 'fc1.weight_zero_point'");
  EXPECT_HAS(error_after([](Contents& c) { c.remove("fc2.weight"); }),
             lie + ": skipped layer 'fc2': has no f32 tensor 'fc2.weight'");
}

TEST_F(QModelCorruptionTest, RecordsWithLyingOffsetsAreRefusedByTheArchive) {
  const std::string path = file("offsets.qmodel");
  std::filesystem::copy_file(good_, path);
  edit_archive_header(path, [](proto::ArchiveHeader& h) {
    for (proto::TensorRecord& r : *h.mutable_tensors()) {
      if (r.name() == "fc1.weight_codes") r.set_offset(r.offset() + 1);
    }
  });
  EXPECT_HAS(open_error(path), path + ": tensor 'fc1.weight_codes': bad offset");

  std::filesystem::copy_file(good_, path, std::filesystem::copy_options::overwrite_existing);
  const uint64_t size = std::filesystem::file_size(path);
  edit_archive_header(path, [&](proto::ArchiveHeader& h) {
    for (proto::TensorRecord& r : *h.mutable_tensors()) {
      if (r.name() == "conv2.weight_scale") r.set_offset(io::format::align_up(size));
    }
  });
  EXPECT_HAS(open_error(path), path + ": tensor 'conv2.weight_scale': data truncated");
}

class QModelOutlierCorruptionTest : public QModelCorruptionTest {
 protected:
  void SetUp() override {
    QModelCorruptionTest::SetUp();
    models::GptConfig c;
    c.vocab = 16;
    c.block = 4;
    c.layers = 1;
    c.heads = 1;
    c.dim = 8;
    Generator gen(2);
    models::Gpt gpt(c, gen);
    qat::inject_outlier_features(gpt, {1, 5}, 20.0);
    qat::prepare_llm_int8(gpt);
    std::vector<int64_t> t(8);
    for (int64_t& v : t) v = static_cast<int64_t>(gen.below(16));
    const Tensor tokens = Tensor::from_vector(t, {2, 4});
    qat::calibrate(gpt, 1, [&](int64_t) { gpt.forward(tokens, gen); });
    good_ = file("llm_int8.qmodel");
    qat::export_qmodel(gpt, qat::describe_model(gpt), good_);
    const ModelFile f = ModelFile::open(good_);
    ASSERT_EQ(f.outlier_count(*f.layer("blocks.0.attn.qkv")), 2);
  }
};

TEST_F(QModelOutlierCorruptionTest, OutlierColumnsMustAscendInsideTheInputAndMatchTheWeights) {
  const std::string cols = "blocks.0.attn.qkv.outlier_columns";
  EXPECT_HAS(error_after([&](Contents& c) {
               c.tensor(cols) = Tensor::from_vector<int64_t>({5, 1}, {2});
             }),
             "tensor '" + cols + "': column [1] is 1 (columns must ascend strictly inside [0, 8))");
  EXPECT_HAS(error_after([&](Contents& c) {
               c.tensor(cols) = Tensor::from_vector<int64_t>({1, 8}, {2});
             }),
             "column [1] is 8");
  EXPECT_HAS(error_after([&](Contents& c) {
               c.tensor(cols) = Tensor::from_vector<int64_t>({-1, 5}, {2});
             }),
             "column [0] is -1");
  EXPECT_HAS(error_after([&](Contents& c) {
               c.tensor(cols) = Tensor::from_vector<int64_t>({1, 2, 5}, {3});
             }),
             "tensor 'blocks.0.attn.qkv.outlier_weight': expected f32 [24, 3], found f32 [24, 2]");
  EXPECT_HAS(error_after([&](Contents& c) { c.tensor(cols) = Tensor::arange(9); }),
             "tensor '" + cols + "': expected i64 [k] with k <= in_features 8, found i64 [9]");
  EXPECT_HAS(error_after([&](Contents& c) { c.remove(cols); }), "tensor '" + cols + "' is missing");
  EXPECT_HAS(error_after([](Contents& c) { c.layer("blocks.0.fc").set_outlier_threshold(-6.0); }),
             "layer 'blocks.0.fc': outlier_threshold -6.000000 must be finite and > 0");
  EXPECT_HAS(error_after([](Contents& c) { c.layer("blocks.0.fc").clear_input(); }),
             "layer 'blocks.0.fc': an llm_int8 layer quantizes its inputs per token");
}

}  // namespace
}  // namespace octet
