#pragma once
// The NCCL backend of parallel::Communicator, for ranks that each drive one GPU: the rank picks
// GPU (local rank mod visible GPUs), rank 0's ncclUniqueId travels to the others through MPI, and
// collectives run on a stream of their own (so a training stream can overlap them).
//
// octet's tensors live on the host until the CUDA backend lands (issue 6), so the Tensor calls
// stage through a device buffer: copy in, collective, copy out, synchronised. The *_device calls
// take device pointers directly and are what GPU tensors will use. Built when the CUDA toolkit
// has NCCL (CMake: OCTET_WITH_NCCL); make_nccl_communicator() throws when there is no GPU.
#include <cstddef>
#include <memory>

#include "framework/parallel/communicator.h"

namespace octet::distributed {

class MpiCommunicator;

// Throws (naming the reason) when NCCL was not built in or no GPU is visible.
std::shared_ptr<parallel::Communicator> make_nccl_communicator(MpiCommunicator& bootstrap,
                                                               int local_rank);

// Whether this build has the NCCL backend and this process sees at least one GPU.
bool nccl_available();

}  // namespace octet::distributed
