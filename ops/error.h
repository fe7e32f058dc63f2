#pragma once
// Typed errors tagged with the op that raised them: "[matmul] inner dimensions differ: ...".
// Thrown by the library, caught only in main().
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace octet {

class Error : public std::runtime_error {
 public:
  Error(std::string op, const std::string& what)
      : std::runtime_error("[" + op + "] " + what), op_(std::move(op)) {}
  const std::string& op() const { return op_; }

 private:
  std::string op_;
};

namespace detail {
template <typename... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace octet

// OCTET_CHECK(cond, "op", "message parts", ...) throws octet::Error when cond is false.
#define OCTET_CHECK(cond, op, ...)                                        \
  do {                                                                    \
    if (!(cond)) throw ::octet::Error((op), ::octet::detail::concat(__VA_ARGS__)); \
  } while (0)
