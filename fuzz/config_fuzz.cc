// libFuzzer target: the TOML config front (control::LoadConfigText). Any
// text is either a config or a list of file:line:key errors; never a crash,
// an exception or an error without a place.
#include <cstdlib>
#include <string_view>

#include "control/config.h"

static void Check(bool ok) {
  if (!ok) std::abort();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 16 * 1024) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  sluice::control::LoadResult r = sluice::control::LoadConfigText(text, "fuzz.toml");
  for (const auto& e : r.errors) {
    Check(e.file == "fuzz.toml");
    Check(!e.what.empty());
    Check(e.line >= 0);
  }
  if (r.ok()) {
    Check(!r.config.server.listeners.empty());
    Check(!r.config.destinations.empty());
    Check(r.config.spool.min_free >= 1 << 20);
  }
  return 0;
}
