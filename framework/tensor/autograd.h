#pragma once
// The tape: every differentiable op's output points at a Node holding its backward rule and edges
// to its inputs. backward() walks the nodes in reverse topological order, accumulates gradients
// into leaves' .grad, and frees the graph as it goes.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "framework/tensor/tensor.h"

namespace octet {

// needs[i] tells whether input i wants a gradient, so rules can skip work; return one tensor per
// input (undefined where not needed), shaped like that input.
using NeedsGrad = std::vector<bool>;
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_out, const NeedsGrad&)>;

struct Edge {
  std::shared_ptr<Node> fn;          // the producer's node, for a non-leaf input
  std::shared_ptr<TensorImpl> leaf;  // the input itself, for a leaf that requires grad
  Shape shape;                       // for the shape check on the returned gradient
  bool requires_grad = false;
};

struct Node {
  const char* name = "";
  std::vector<Edge> edges;  // one per input
  BackwardFn backward;
};

bool grad_enabled();

// Whether a backward rule may overwrite the gradient it was handed (and return it as its input's):
// the engine passes each node a gradient that it alone holds, unless the same tensor also went to
// another input or to a leaf (add's rule returns one tensor twice), or a view shares its storage.
// Contiguous, so a kernel can treat it as flat.
bool gradient_is_exclusive(const Tensor& g);

// Disables recording within its scope (evaluation, optimizer updates, backward rules).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// Connects `output` to `inputs` through `rule` when recording is on and any input requires grad.
// Rules must not capture `output` itself (a cycle): capture output.detach() instead.
Tensor record(Tensor output, const char* name, const std::vector<Tensor>& inputs, BackwardFn rule);

// Within its scope (on this thread), backward calls `hook` with each leaf as soon as its gradient
// is final for that pass: its last contribution has been accumulated. Leaves finish in the order
// backward reaches them, so data parallelism can reduce a bucket of gradients while the rest of
// backward still runs. Leaves the pass never reaches are not reported.
class LeafGradReadyScope {
 public:
  using Hook = std::function<void(const Tensor& leaf)>;
  explicit LeafGradReadyScope(Hook hook);
  ~LeafGradReadyScope();
  LeafGradReadyScope(const LeafGradReadyScope&) = delete;
  LeafGradReadyScope& operator=(const LeafGradReadyScope&) = delete;

 private:
  Hook previous_;
};

void run_backward(const Tensor& root, const Tensor& grad);

}  // namespace octet
