#pragma once
// The errors that are the user's to fix before anything runs: a malformed or invalid recipe, a
// bad --set, a flag missing or misused. main() prints them like any octet::Error but exits 2
// (CLI11's own parse errors exit 2 too), so scripts can tell "you asked wrongly" (2) from "it
// failed while running" (1).
#include "ops/error.h"

namespace octet::tools {

class UsageError : public Error {
 public:
  using Error::Error;
};

}  // namespace octet::tools
