#pragma once
// Talking to a Python peer (PyTorch) from a test: finds the peer venv's interpreter, writes named
// tensors as raw little-endian files plus a JSON manifest, runs a peer script over them once, and
// reads the f32 results it writes back.
//
// ctest runs every GoogleTest of an executable in its own process, so a suite that called the
// peer from each process would pay the venv check and torch's import once per test. The results
// are therefore kept in a cache folder keyed by a hash of the manifest, every input byte and the
// script's text: the first process computes them (under a file lock, so parallel ctest jobs wait
// for it rather than racing), the rest read them. Any change to the inputs or to the script makes
// a new key; the octet side is always computed afresh by the test. The key does not cover the
// torch version: delete the cache folder to recompute after upgrading the venv.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "framework/tensor/tensor.h"

namespace octet::testing {

static_assert(std::endian::native == std::endian::little,
              "the peer exchange writes raw little-endian files");

struct CommandResult {
  int status = -1;     // the wait status from pclose
  std::string output;  // stdout (and stderr where the command redirects it)
};

inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  size_t got = 0;
  while ((got = std::fread(buf, 1, sizeof buf, pipe)) > 0) result.output.append(buf, got);
  result.status = ::pclose(pipe);
  return result;
}

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

inline std::string describe_status(int status) {
  if (status == -1) return "could not be started";
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "ended with wait status " + std::to_string(status);
}

struct PeerPython {
  std::string path;     // the interpreter; empty when there is none
  std::string why_not;  // why there is none
  bool ok() const { return !path.empty(); }
};

// scripts/peer-venv creates the venv once per machine and prints its python as the last stdout
// line; its own diagnostics go to stderr, which the test's log shows.
inline PeerPython find_peer_python() {
  const std::string script = std::string(OCTET_SOURCE_DIR) + "/scripts/peer-venv";
  const CommandResult r = run_command(shell_quote(script));
  if (r.status != 0) return {"", "`" + script + "` " + describe_status(r.status)};
  std::istringstream lines(r.output);
  std::string line, last;
  while (std::getline(lines, line)) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    if (!line.empty()) last = line;
  }
  if (last.empty() || ::access(last.c_str(), X_OK) != 0) {
    return {"", "`" + script + "` printed no executable interpreter (last line: '" + last + "')"};
  }
  return {last, ""};
}

struct PeerInput {
  std::string name;  // [a-z0-9_.]: it becomes part of a file name
  Tensor value;      // f32 or i64
  bool requires_grad = false;
};

struct PeerCase {
  std::string name;  // [a-z0-9_]
  std::string op;    // what the peer script runs
  std::vector<PeerInput> inputs;
  std::map<std::string, double> params;
};

struct PeerResults {
  std::filesystem::path folder;  // holds <case>.<key>.f32 when both strings below are empty
  std::string skip_reason;       // no peer interpreter could be had
  std::string failure;           // the peer script or the exchange failed
};

namespace detail {

inline const char* file_dtype(const Tensor& t) {
  OCTET_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::i64, "peer",
              "only f32 and i64 tensors are exchanged, got ", t.str());
  return t.dtype() == DType::f32 ? "f32" : "i64";
}

inline std::string input_file(const PeerCase& c, const PeerInput& in) {
  return c.name + "." + in.name + "." + file_dtype(in.value);
}

inline std::string manifest_json(const std::vector<PeerCase>& cases) {
  std::ostringstream j;
  j.precision(17);
  j << "{\"cases\": [";
  for (size_t i = 0; i < cases.size(); ++i) {
    const PeerCase& c = cases[i];
    j << (i ? ",\n  " : "\n  ") << "{\"name\": \"" << c.name << "\", \"op\": \"" << c.op
      << "\", \"params\": {";
    const char* sep = "";
    for (const auto& [key, value] : c.params) {
      j << sep << "\"" << key << "\": " << value;
      sep = ", ";
    }
    j << "}, \"inputs\": [";
    for (size_t k = 0; k < c.inputs.size(); ++k) {
      const PeerInput& in = c.inputs[k];
      j << (k ? ", " : "") << "{\"name\": \"" << in.name << "\", \"file\": \"" << input_file(c, in)
        << "\", \"dtype\": \"" << file_dtype(in.value) << "\", \"shape\": [";
      for (size_t d = 0; d < in.value.shape().size(); ++d)
        j << (d ? ", " : "") << in.value.shape()[d];
      j << "], \"requires_grad\": " << (in.requires_grad ? "true" : "false") << "}";
    }
    j << "]}";
  }
  j << "\n]}\n";
  return j.str();
}

inline std::string bytes_of(const Tensor& t) {
  const Tensor c = t.detach().contiguous();
  return std::string(static_cast<const char*>(c.raw_data()), c.numel() * dtype_size(c.dtype()));
}

inline uint64_t fnv1a(uint64_t h, const std::string& bytes) {
  for (unsigned char b : bytes) h = (h ^ b) * 0x100000001b3ull;
  return h;
}

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline bool write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

// Holds an exclusive flock on a file for its lifetime (released by the kernel if we crash).
class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path)
      : fd_(::open(path.c_str(), O_RDWR | O_CREAT, 0644)) {
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

}  // namespace detail

// Runs `python script <folder>` over `cases`, or reuses results cached under `cache_root` for the
// same manifest, inputs and script. Keeps only the newest key's folder.
inline PeerResults run_peer_script(const std::filesystem::path& script,
                                   const std::vector<PeerCase>& cases,
                                   const std::filesystem::path& cache_root) {
  namespace fs = std::filesystem;
  const std::string manifest = detail::manifest_json(cases);
  uint64_t hash = detail::fnv1a(0xcbf29ce484222325ull, manifest);
  hash = detail::fnv1a(hash, detail::read_text(script));
  for (const PeerCase& c : cases) {
    for (const PeerInput& in : c.inputs) hash = detail::fnv1a(hash, detail::bytes_of(in.value));
  }
  char key[17];
  std::snprintf(key, sizeof key, "%016llx", static_cast<unsigned long long>(hash));

  PeerResults results;
  results.folder = cache_root / key;
  std::error_code ec;
  fs::create_directories(cache_root, ec);
  detail::FileLock lock(cache_root / "lock");
  if (!lock.ok()) {
    results.failure = "cannot lock " + (cache_root / "lock").string();
    return results;
  }
  if (fs::exists(results.folder / "done")) return results;

  const PeerPython python = find_peer_python();
  if (!python.ok()) {
    results.skip_reason = "no PyTorch peer: " + python.why_not;
    return results;
  }
  const fs::path work = cache_root / ("partial." + std::to_string(::getpid()));
  fs::remove_all(work, ec);
  fs::create_directories(work, ec);
  bool written = detail::write_bytes(work / "manifest.json", manifest);
  for (const PeerCase& c : cases) {
    for (const PeerInput& in : c.inputs) {
      written = written &&
                detail::write_bytes(work / detail::input_file(c, in), detail::bytes_of(in.value));
    }
  }
  if (!written) {
    results.failure = "cannot write the peer's inputs under " + work.string();
    fs::remove_all(work, ec);
    return results;
  }
  const CommandResult r = run_command(shell_quote(python.path) + " " + shell_quote(script) + " " +
                                      shell_quote(work.string()) + " 2>&1");
  if (r.status != 0) {
    results.failure = script.string() + " " + describe_status(r.status) + ":\n" + r.output;
    fs::remove_all(work, ec);
    return results;
  }
  detail::write_bytes(work / "done", "");
  for (const auto& entry : fs::directory_iterator(cache_root, ec)) {
    if (entry.path().filename() != "lock" && entry.path() != work) fs::remove_all(entry, ec);
  }
  fs::rename(work, results.folder, ec);
  if (ec) results.failure = "cannot move " + work.string() + " to " + results.folder.string();
  return results;
}

// The f32 values of `<case>.<key>.f32` in `folder`; false with a reason if the file is missing or
// does not hold exactly `numel` values.
inline bool read_peer_f32(const std::filesystem::path& folder, const std::string& name,
                          int64_t numel, std::vector<float>& values, std::string& why_not) {
  const std::filesystem::path file = folder / (name + ".f32");
  const std::string bytes = detail::read_text(file);
  if (bytes.size() != static_cast<size_t>(numel) * sizeof(float)) {
    why_not = file.string() + " holds " + std::to_string(bytes.size()) + " bytes, expected " +
              std::to_string(numel) + " f32 values";
    return false;
  }
  values.resize(numel);
  std::memcpy(values.data(), bytes.data(), bytes.size());
  return true;
}

}  // namespace octet::testing
