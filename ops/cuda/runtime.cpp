#include "ops/cuda/runtime.h"

#include <cuda_profiler_api.h>

#include <mutex>
#include <string>
#include <vector>

#include "ops/cuda/check.h"

namespace octet::cuda {
namespace {

struct DeviceStreams {
  std::once_flag once;
  cudaStream_t stream = nullptr;
};

constexpr int kMaxDevices = 64;
DeviceStreams g_streams[kMaxDevices];

}  // namespace

bool compiled() { return true; }

int device_count() {
  // Asked once: the answer cannot change within a process, and without a driver each
  // cudaGetDeviceCount call costs a failed driver load.
  static const int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();  // clear the sticky "no driver" / "no device" error
      return 0;
    }
    return n < kMaxDevices ? n : kMaxDevices;
  }();
  return count;
}

void require(const Device& device, const char* op) {
  OCTET_CHECK(device.type == DeviceType::cuda, op, "expected a CUDA device, got ", device.str());
  const int n = device_count();
  OCTET_CHECK(device.index >= 0 && device.index < n, op, "no CUDA device ", device.index,
              " (this machine has ", n, ")");
}

void* stream(int device) {
  require(Device{DeviceType::cuda, device}, "stream");
  DeviceStreams& s = g_streams[device];
  std::call_once(s.once, [&] {
    OCTET_CUDA_CHECK(cudaSetDevice(device));
    // Non-blocking: the legacy default stream, which libraries may use, does not serialise with it.
    OCTET_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
  });
  return s.stream;
}

void synchronize(int device, const char* op) {
  cudaStream_t s = stream_on(device);
  cudaError_t rc = cudaStreamSynchronize(s);
  if (rc != cudaSuccess)
    throw Error(op, std::string("a kernel on cuda:") + std::to_string(device) +
                        " failed: " + cudaGetErrorString(rc));
}

void profiler_capture(bool on) { OCTET_CUDA_CHECK(on ? cudaProfilerStart() : cudaProfilerStop()); }

void copy_bytes(void* dst, const Device& dst_device, const void* src, const Device& src_device,
                size_t nbytes) {
  if (nbytes == 0) return;
  const bool dst_gpu = dst_device.type == DeviceType::cuda;
  const bool src_gpu = src_device.type == DeviceType::cuda;
  OCTET_CHECK(dst_gpu || src_gpu, "copy", "host-to-host copy given to the CUDA backend");
  const int device = src_gpu ? src_device.index : dst_device.index;
  cudaStream_t s = stream_on(device);
  if (dst_gpu && src_gpu && dst_device.index != src_device.index) {
    // Peer copy: both streams' earlier work must be done before the bytes move.
    synchronize(dst_device.index, "copy");
    OCTET_CUDA_CHECK(cudaSetDevice(device));
    OCTET_CUDA_CHECK(cudaMemcpyPeerAsync(dst, dst_device.index, src, src_device.index, nbytes, s));
    synchronize(device, "copy");
    return;
  }
  OCTET_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDefault, s));
  // Host memory is pageable and the caller may reuse or free it on return: wait.
  if (!dst_gpu || !src_gpu) synchronize(device, "copy");
}

void zero_bytes(void* dst, int device, size_t nbytes) {
  if (nbytes == 0) return;
  OCTET_CUDA_CHECK(cudaMemsetAsync(dst, 0, nbytes, stream_on(device)));
}

}  // namespace octet::cuda
