// libFuzzer target for the .qmodel reader: the input is a whole file, opened through
// runtime::ModelFile::open and then read the way `octet inspect --verify` reads it. Any outcome
// but success or an octet::Error (a crash, a sanitizer report, another exception escaping) is a
// finding.
//
// The archive guards its header with a crc32, so nearly every mutation of the header would stop
// at the checksum. The harness therefore repairs the header crc before opening: mutations reach
// the protobuf parser, the tensor records and the QModel validation behind them. (The checksum
// path itself is covered by tests/unit/qmodel_corruption_test.cpp.)
#include <fcntl.h>
#include <google/protobuf/stubs/logging.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "framework/io/archive_format.h"
#include "ops/error.h"
#include "runtime/model_file.h"

namespace {

// One scratch file per fuzzing process, in memory when /dev/shm exists.
const std::string& scratch_path() {
  static const std::string path = [] {
    const char* dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    std::atexit([] { std::remove(scratch_path().c_str()); });
    return std::string(dir) + "/octet_qmodel_fuzz." + std::to_string(getpid()) + ".qmodel";
  }();
  return path;
}

void repair_header_crc(std::string& bytes) {
  namespace format = octet::io::format;
  if (bytes.size() < format::kPrefixSize ||
      std::memcmp(bytes.data(), format::kMagic, sizeof(format::kMagic)) != 0) {
    return;
  }
  const auto* prefix = reinterpret_cast<const uint8_t*>(bytes.data());
  const format::Prefix p = format::decode_prefix(prefix);
  if (p.header_length > bytes.size() - format::kPrefixSize) return;
  const uint32_t crc = format::crc32(bytes.data() + format::kPrefixSize, p.header_length);
  for (int i = 0; i < 4; ++i) bytes[12 + i] = static_cast<char>(crc >> (8 * i));
}

void write_file(const std::string& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) std::abort();
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) std::abort();
    done += static_cast<size_t>(n);
  }
  ::close(fd);
}

// Everything a reader touches: specs, every layer part through its checked view, every blob.
void read_everything(const octet::runtime::ModelFile& f) {
  for (const octet::proto::Layer& l : f.header().layers()) {
    f.weight_spec(l);
    if (l.has_input()) f.input_spec(l);
    f.tensor(l.name() + ".weight_codes", octet::runtime::ModelFile::code_dtype(f.weight_spec(l)),
             f.weight_codes_shape(l));
    if (f.layer(l.name()) != &l) std::abort();
  }
  f.verify_all();
}

bool print_errors = false;

}  // namespace

// Protobuf logs every invalid UTF-8 string it meets to stderr, which would drown libFuzzer's
// output (the parse failure itself still reaches ModelFile). OCTET_FUZZ_PRINT=1 prints each
// input's octet::Error instead, to see how deep a corpus gets: run the binary on corpus files.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  print_errors = std::getenv("OCTET_FUZZ_PRINT") != nullptr;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  repair_header_crc(bytes);
  write_file(scratch_path(), bytes);
  try {
    read_everything(octet::runtime::ModelFile::open(scratch_path()));
  } catch (const octet::Error& e) {
    // The expected outcome for a damaged file.
    if (print_errors) std::fprintf(stderr, "%s\n", e.what());
  }
  return 0;
}
