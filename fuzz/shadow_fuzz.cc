// libFuzzer target: the shadow protocol as a peer reads it from another
// node (cluster/shadow_protocol.h), and the envelope a COPY carries as the
// peer decodes it (spool/record_format.h). Any bytes, split anywhere:
// frames within every limit or one error, never a crash; nothing after an
// error.
#include <cstdlib>
#include <string>

#include "cluster/shadow_protocol.h"
#include "spool/record_format.h"

using namespace sluice;

static void Check(bool ok) {
  if (!ok) std::abort();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t step = 1 + data[0] % 64;  // how the bytes arrive
  const std::string in(reinterpret_cast<const char*>(data) + 1, size - 1);
  cluster::ShadowParser p(1 << 16);
  size_t frames = 0;
  for (size_t i = 0; i < in.size(); i += step) {
    p.Feed(std::string_view(in).substr(i, step));
    while (auto f = p.Next()) {
      ++frames;
      Check(!f->verb.empty() && f->envelope.size() <= cluster::kMaxShadowEnvelope && f->content.size() <= (1u << 16));
      if (f->verb == "COPY") {
        Check(f->args.size() == 5 && cluster::ShadowName(f->args[0]) && cluster::ShadowName(f->args[2]));
        Envelope e;
        std::string header;
        (void)spool::DecodeEnvelope(f->envelope, &e, &header);
      }
      if (f->verb == "HELLO") Check(f->args.size() == 2);
    }
    if (!p.error().empty()) {
      Check(!p.Next().has_value());
      break;
    }
  }
  Check(frames <= in.size() / 2 + 1);  // every frame costs at least a CRLF
  return 0;
}
