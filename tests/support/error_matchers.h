#pragma once
// True when f throws an octet::Error whose message contains `what` (a layer name, a reason).
#include <functional>
#include <string>

#include "ops/error.h"

namespace octet::testing {

inline bool throws_naming(const std::function<void()>& f, const std::string& what) {
  try {
    f();
  } catch (const Error& e) {
    return std::string(e.what()).find(what) != std::string::npos;
  }
  return false;
}

}  // namespace octet::testing
