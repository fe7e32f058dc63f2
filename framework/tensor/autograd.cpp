#include "framework/tensor/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "framework/functional/arithmetic.h"

namespace octet {
namespace {
thread_local bool g_grad_enabled = true;
thread_local LeafGradReadyScope::Hook g_leaf_ready;

Tensor accumulate(const Tensor& acc, const Tensor& g) {
  // Out of place on purpose: one gradient tensor may be handed to several inputs (add's rule
  // returns grad_out twice), so none may ever be written in place. add runs on the gradients'
  // device (a tensor's gradient lives where the tensor does) and refuses a mix of devices.
  return acc.defined() ? add(acc, g) : g;
}

// Post-order DFS without recursion (graphs of deep models are long chains). Holds every node
// strongly: freeing a node's edges during backward must not free nodes still to be visited.
std::vector<std::shared_ptr<Node>> topological_order(const std::shared_ptr<Node>& root) {
  std::vector<std::shared_ptr<Node>> order;
  std::unordered_set<Node*> seen{root.get()};
  std::vector<std::pair<Node*, size_t>> stack{{root.get(), 0}};
  std::vector<std::shared_ptr<Node>> visiting{root};
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->edges.size()) {
      const std::shared_ptr<Node>& child = node->edges[next++].fn;
      if (child && seen.insert(child.get()).second) {
        visiting.push_back(child);
        stack.emplace_back(child.get(), 0);
      }
    } else {
      order.push_back(std::move(visiting[stack.size() - 1]));
      visiting.pop_back();
      stack.pop_back();
    }
  }
  return order;  // children before parents
}
}  // namespace

bool grad_enabled() { return g_grad_enabled; }

bool gradient_is_exclusive(const Tensor& g) {
  return g.impl_ptr().use_count() == 1 && g.impl()->storage.use_count() == 1 && g.is_contiguous();
}
LeafGradReadyScope::LeafGradReadyScope(Hook hook) : previous_(std::move(g_leaf_ready)) {
  g_leaf_ready = std::move(hook);
}
LeafGradReadyScope::~LeafGradReadyScope() { g_leaf_ready = std::move(previous_); }

NoGradGuard::NoGradGuard() : prev_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = prev_; }

Tensor record(Tensor output, const char* name, const std::vector<Tensor>& inputs, BackwardFn rule) {
  if (!g_grad_enabled) return output;
  bool any = false;
  for (const auto& in : inputs) any = any || (in.defined() && in.requires_grad());
  if (!any) return output;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->backward = std::move(rule);
  node->edges.reserve(inputs.size());
  for (const auto& in : inputs) {
    Edge e;
    if (in.defined() && in.requires_grad()) {
      e.requires_grad = true;
      e.shape = in.shape();
      if (in.grad_fn())
        e.fn = in.grad_fn();
      else
        e.leaf = in.impl_ptr();
    }
    node->edges.push_back(std::move(e));
  }
  output.impl()->grad_fn = std::move(node);
  output.impl()->requires_grad = true;
  return output;
}

void run_backward(const Tensor& root, const Tensor& grad) {
  OCTET_CHECK(root.requires_grad(), "backward", "tensor ", root.str(), " does not require grad");
  Tensor g = grad;
  if (!g.defined()) {
    OCTET_CHECK(root.numel() == 1, "backward", "implicit gradient needs a scalar, got ", root.str(),
                "; pass grad explicitly");
    g = Tensor::ones(root.shape(), root.dtype(), root.device());
  }
  OCTET_CHECK(g.shape() == root.shape(), "backward", "gradient ", g.str(), " vs tensor ",
              root.str());
  OCTET_CHECK(g.device() == root.device(), "backward", "gradient on ", g.device().str(),
              " for a tensor on ", root.device().str());
  NoGradGuard no_grad;
  if (root.is_leaf()) {
    root.impl()->grad = accumulate(root.grad(), g).impl_ptr();
    if (g_leaf_ready) g_leaf_ready(root);
    return;
  }
  std::shared_ptr<Node> keep_root = root.grad_fn();
  std::unordered_map<Node*, Tensor> grads{{keep_root.get(), g}};
  std::vector<std::shared_ptr<Node>> order = topological_order(keep_root);
  // With a ready hook: how many edges into each leaf are still to be walked. A leaf is final when
  // its count reaches zero, whether or not the last node handed it a gradient.
  std::unordered_map<TensorImpl*, int64_t> pending;
  if (g_leaf_ready) {
    for (const auto& node : order)
      for (const Edge& e : node->edges)
        if (e.leaf) ++pending[e.leaf.get()];
  }
  auto walked = [&](const Edge& e) {
    if (!g_leaf_ready || !e.leaf) return;
    if (--pending[e.leaf.get()] == 0) g_leaf_ready(Tensor(e.leaf));
  };
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* node = it->get();
    auto found = grads.find(node);
    if (found == grads.end() || !node->backward) {
      for (const Edge& e : node->edges) walked(e);
      continue;
    }
    Tensor grad_out = std::move(found->second);
    grads.erase(found);
    NeedsGrad needs(node->edges.size());
    for (size_t i = 0; i < needs.size(); ++i) needs[i] = node->edges[i].requires_grad;
    std::vector<Tensor> in_grads = node->backward(grad_out, needs);
    OCTET_CHECK(in_grads.size() == node->edges.size(), "backward", node->name, " returned ",
                in_grads.size(), " gradients for ", node->edges.size(), " inputs");
    for (size_t i = 0; i < in_grads.size(); ++i) {
      const Edge& e = node->edges[i];
      const Tensor& gi = in_grads[i];
      if (!e.requires_grad || !gi.defined()) {
        walked(e);
        continue;
      }
      OCTET_CHECK(gi.shape() == e.shape, "backward", node->name, " gave gradient ", gi.str(),
                  " for input ", i, " of shape ", shape_str(e.shape));
      if (e.fn) {
        grads[e.fn.get()] = accumulate(grads[e.fn.get()], gi);
      } else {
        Tensor leaf(e.leaf);
        leaf.impl()->grad = accumulate(leaf.grad(), gi).impl_ptr();
        walked(e);
      }
    }
    // Free the graph behind us: saved tensors go with the rule, edges release producers.
    node->backward = nullptr;
    node->edges.clear();
  }
}

}  // namespace octet
