#pragma once
// Helpers for tests that run as several ranks under mpirun (tests/dist/).
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "distributed/launch.h"
#include "framework/nn/module.h"
#include "framework/parallel/communicator.h"

namespace octet::testing {

// The job's communicator (MPI under mpirun), one CPU thread per rank.
inline parallel::Communicator& dist_world() { return *distributed::init_world(1); }

// How many of `tensors` differ, byte for byte, between rank 0 and some other rank.
inline int64_t differing_across_ranks(const nn::NamedTensors& tensors,
                                      parallel::Communicator& comm) {
  int64_t differing = 0;
  for (const auto& [name, t] : tensors) {
    const Tensor all = comm.allgather(t.contiguous());
    const size_t bytes = static_cast<size_t>(t.numel()) * dtype_size(t.dtype());
    const char* p = static_cast<const char*>(all.raw_data());
    for (int r = 1; r < comm.size(); ++r)
      if (std::memcmp(p, p + r * bytes, bytes) != 0) ++differing;
  }
  return differing;
}

// max over tensors of ||a - b|| / ||b|| (Frobenius), matched by position; `worst_name` (if not
// null) receives the tensor where it occurs.
inline double max_relative_difference(const nn::NamedTensors& a, const nn::NamedTensors& b,
                                      std::string* worst_name = nullptr) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const std::vector<float> x = a[i].second.to_vector<float>();
    const std::vector<float> y = b[i].second.to_vector<float>();
    double diff = 0, norm = 0;
    for (size_t j = 0; j < x.size(); ++j) {
      diff += (double(x[j]) - y[j]) * (double(x[j]) - y[j]);
      norm += double(y[j]) * y[j];
    }
    const double rel = norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
    if (rel > worst) {
      worst = rel;
      if (worst_name) *worst_name = a[i].first;
    }
  }
  return worst;
}

}  // namespace octet::testing
