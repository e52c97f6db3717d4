// libFuzzer target: a filter's replies as the milter client reads them
// (filter/milter_protocol.h). Any bytes, split anywhere: replies within
// every limit or one error, never a crash; nothing after an error.
#include <cstdlib>
#include <string>

#include "filter/milter_protocol.h"

using namespace sluice;

static void Check(bool ok) {
  if (!ok) std::abort();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t step = 1 + data[0] % 64;  // how the bytes arrive
  const std::string in(reinterpret_cast<const char*>(data) + 1, size - 1);
  filter::MilterReader r;
  size_t replies = 0;
  for (size_t i = 0; i < in.size(); i += step) {
    r.Feed(std::string_view(in).substr(i, step));
    while (auto x = r.Next()) {
      ++replies;
      using K = filter::MilterReply::Kind;
      Check(x->text.size() <= filter::kMaxMilterPacket && x->name.find('\0') == std::string::npos);
      if (x->kind == K::kReplyCode) Check(x->text.size() >= 4 && (x->text[0] == '4' || x->text[0] == '5'));
      if (x->kind == K::kAddHeader || x->kind == K::kChangeHeader || x->kind == K::kInsertHeader) {
        Check(!x->name.empty() && x->name.find(':') == std::string::npos);
      }
    }
    if (!r.error().empty()) {
      Check(!r.Next().has_value());
      break;
    }
  }
  Check(replies <= in.size() / 5 + 1);  // every reply costs at least its length and command
  return 0;
}
