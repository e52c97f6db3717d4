#include "delivery/outcomes.h"

#include <fmt/format.h>

namespace sluice::delivery {
namespace {

struct Row {
  int code;
  const char* enhanced;
};

Row RowOf(Condition c) {
  switch (c) {
    case Condition::kNotConfigured: return {451, "4.3.5"};
    case Condition::kMailboxIo: return {451, "4.3.0"};
    case Condition::kBadMailbox: return {550, "5.3.5"};
    case Condition::kNullMx: return {556, "5.1.10"};
    case Condition::kNoSuchDomain: return {550, "5.1.2"};
    case Condition::kDnsTryLater: return {451, "4.4.3"};
    case Condition::kBackingOff: return {451, "4.4.5"};
    case Condition::kNoStartTls: return {451, "4.7.10"};
    case Condition::kTlsFailed: return {451, "4.7.5"};
    case Condition::kConnectFailed: return {451, "4.4.1"};
    case Condition::kConnectionLost: return {451, "4.4.2"};
    case Condition::kNoSmtpUtf8: return {550, "5.6.7"};
    case Condition::kReturned: return {554, "5.0.0"};
  }
  return {451, "4.0.0"};
}

}  // namespace

std::string Say(Condition c, std::string_view detail) {
  const Row r = RowOf(c);
  return fmt::format("{} {} {}", r.code, r.enhanced, detail);
}

Outcome Said(Condition c, std::string_view detail) {
  const Row r = RowOf(c);
  return Outcome(r.code >= 500 ? Outcome::Kind::kFailed : Outcome::Kind::kDeferred, Say(c, detail));
}

}  // namespace sluice::delivery
