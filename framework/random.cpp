#include "framework/random.h"

namespace octet {

Generator& default_generator() {
  static Generator gen(0x5eed);
  return gen;
}

}  // namespace octet
