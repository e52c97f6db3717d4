// libFuzzer target: the admin API's request bodies and query strings
// (admin/requests.h). A body is parsed or refused with a reason; no
// exception escapes, and what is accepted is within its bounds.
#include <cstdlib>
#include <string_view>

#include "admin/requests.h"

using namespace sluice;

static void Check(bool ok) {
  if (!ok) std::abort();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto q = admin::ParseFilterQuery(in);
  if (!q.ok()) Check(q.status().code() == Status::Code::kInvalidArgument && !q.status().message().empty());
  auto body = admin::ParseObject(in);
  if (!body.ok()) {
    Check(!body.status().message().empty());
    return 0;
  }
  const auto& j = body.value();
  bool all = false;
  if (auto f = admin::ParseFilter(j, &all); f.ok()) {
    Check(f.value().min_age.count() >= 0);
    for (const auto& id : f.value().ids) Check(id.size() <= 64);
  }
  if (auto l = admin::ParseLimit(j); l.ok()) Check(l.value() >= 1 && l.value() <= 100'000);
  if (auto f = admin::ParseFault(j); f.ok()) {
    Check(f.value().error_rate >= 0 && f.value().error_rate <= 1 && f.value().latency.count() >= 0);
  }
  if (auto m = admin::ParseMove(j); m.ok()) Check(!m.value().empty() && m.value().size() <= 1000);
  if (auto h = admin::ParseHold(j); h.ok()) {
    Check(queue::ParseHoldKind(queue::ToString(h.value().policy.kind)) == h.value().policy.kind);
    Check(h.value().policy.name.size() <= 1000);
  }
  if (auto s = admin::ParseFlightStart(j); s.ok()) Check(!s.value().candidate.empty());
  return 0;
}
