#include "ops/cuda/check.h"
#include "ops/cuda/gather.h"
#include "ops/cuda/index_check.cuh"
#include "ops/cuda/indexing.cuh"
#include "ops/cuda/launch_checks.h"

namespace octet::cuda {
namespace {

// The CPU's walk: element e of `index` (row-major in index's shape) sits at idx_off in index and
// other_off in the tensor shaped like it, and picks data_off + along * data_dim_stride in data.
struct Walk {
  int rank = 0;
  int dim = 0;
  int64_t dim_size = 0;
  int64_t size[kMaxRank];
  int64_t index_stride[kMaxRank];
  int64_t data_stride[kMaxRank];
  int64_t other_stride[kMaxRank];
};

struct Offsets {
  int64_t index = 0, data = 0, other = 0;
};

__host__ __device__ inline Offsets offsets_of(const Walk& w, int64_t e) {
  Offsets o;
  for (int d = w.rank - 1; d >= 0; --d) {
    const int64_t i = e % w.size[d];
    e /= w.size[d];
    o.index += i * w.index_stride[d];
    o.other += i * w.other_stride[d];
    if (d != w.dim) o.data += i * w.data_stride[d];
  }
  return o;
}

template <typename T, bool kScatter>
__global__ void walk_kernel(T* data, const int64_t* idx, T* other, Walk w, int64_t n,
                            unsigned long long* first_bad) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n;
       e += int64_t(gridDim.x) * blockDim.x) {
    const Offsets o = offsets_of(w, e);
    const int64_t along = idx[o.index];
    if (along < 0 || along >= w.dim_size) {
      report_bad(first_bad, e);
      continue;
    }
    T* at = data + o.data + along * w.data_stride[w.dim];
    if (kScatter) {
      atomicAdd(at, other[o.other]);
    } else {
      other[o.other] = *at;
    }
  }
}

int check(const char* op, const View& data, int64_t dim, const View& index, const View& other) {
  OCTET_CHECK(index.dtype == DType::i64, op, "index must be i64, got ", dtype_name(index.dtype));
  OCTET_CHECK(index.dim() == data.dim() && index.shape == other.shape, op, "index ",
              shape_str(index.shape), " must have the rank of ", shape_str(data.shape),
              " and the shape of ", shape_str(other.shape));
  OCTET_CHECK(dim >= 0 && dim < data.dim(), op, "dimension ", dim, " out of range");
  for (int64_t d = 0; d < data.dim(); ++d)
    OCTET_CHECK(d == dim || index.shape[d] <= data.shape[d], op, "index ", shape_str(index.shape),
                " larger than ", shape_str(data.shape), " in dimension ", d);
  check_same_dtype(op, data, other);
  OCTET_CHECK(data.dim() <= kMaxRank, op, "rank ", data.dim(), " exceeds the CUDA limit of ",
              kMaxRank);
  return device_of(op, {&data, &index, &other});
}

template <bool kScatter>
void run(const char* op, const View& data, int64_t dim, const View& index, const View& other,
         int device) {
  const int64_t n = index.numel();
  if (n == 0) return;
  Walk w;
  w.rank = static_cast<int>(index.dim());
  w.dim = static_cast<int>(dim);
  w.dim_size = data.shape[dim];
  for (int d = 0; d < w.rank; ++d) {
    w.size[d] = index.shape[d];
    w.index_stride[d] = index.strides[d];
    w.data_stride[d] = data.strides[d];
    w.other_stride[d] = other.strides[d];
  }
  IndexReport report(device);
  cudaStream_t s = stream_on(device);
  dispatch_float(data.dtype, op, [&](auto t) {
    using T = decltype(t);
    walk_kernel<T, kScatter><<<blocks_for(n), kThreads, 0, s>>>(
        data.ptr<T>(), index.ptr<const int64_t>(), other.ptr<T>(), w, n, report.first_bad());
    OCTET_CUDA_CHECK_LAUNCH();
  });
  const int64_t bad = report.read().first_bad;
  if (bad >= 0) {
    const int64_t along = read_index(index.ptr<const int64_t>() + offsets_of(w, bad).index, device);
    OCTET_CHECK(false, "gather", "index ", along, " out of range for dimension ", dim, " of size ",
                data.shape[dim]);
  }
}

}  // namespace

void gather(const View& src, int64_t dim, const View& index, const View& out) {
  const int device = check("gather", src, dim, index, out);
  run<false>("gather", src, dim, index, out, device);
}

void scatter_add(const View& src, int64_t dim, const View& index, const View& dst) {
  const int device = check("scatter_add", dst, dim, index, src);
  run<true>("scatter_add", dst, dim, index, src, device);
}

}  // namespace octet::cuda
