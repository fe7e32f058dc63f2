#pragma once
// Index validation for the CUDA kernels that read through i64 indices (embedding, cross-entropy
// targets, gather, pooling arg-max): the CPU twins throw naming the first bad index, and so do
// these. Kernels record the smallest bad position with atomicMin into a device word; the host reads
// it back once per call, which waits for the stream (the price of the same error as the CPU's).
#include <cstdint>

namespace octet::cuda {

// A device word holding the smallest position reported bad so far (none: all bits set), and an
// optional device counter.
class IndexReport {
 public:
  explicit IndexReport(int device);
  ~IndexReport();
  IndexReport(const IndexReport&) = delete;
  IndexReport& operator=(const IndexReport&) = delete;

  unsigned long long* first_bad() const { return words_; }
  unsigned long long* counter() const { return words_ + 1; }
  // Waits for the stream; returns {first bad position or -1, counter}.
  struct Result {
    int64_t first_bad = -1;
    int64_t count = 0;
  };
  Result read() const;

 private:
  int device_;
  unsigned long long* words_;
};

// Reads one i64 from device memory (the offending index, for the error message).
int64_t read_index(const int64_t* at, int device);

__device__ inline void report_bad(unsigned long long* first_bad, int64_t position) {
  atomicMin(first_bad, static_cast<unsigned long long>(position));
}

// Scans n contiguous indices: the first outside [0, limit) that is not `ignore` (when has_ignore)
// goes to report.first_bad(), the number not ignored to report.counter().
void scan_indices(const int64_t* idx, int64_t n, int64_t limit, bool has_ignore, int64_t ignore,
                  const IndexReport& report, int device);

}  // namespace octet::cuda
