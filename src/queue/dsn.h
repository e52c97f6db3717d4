// Delivery status notifications (RFC 3464): the report a sender gets when
// mail to some of its recipients failed, is delayed, or was delivered and
// the sender asked to know (RFC 3461 NOTIFY). Pure: text in, text out.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/envelope.h"

namespace sluice::queue {

enum class DsnAction { kFailed, kDelayed, kDelivered, kRelayed };

struct DsnRecipient {
  size_t index = 0;       // into the envelope's routes
  DsnAction action = DsnAction::kFailed;
  std::string reply;      // the destination's last answer, e.g. "550 5.1.1 no such user"
  std::string remote;     // the host that answered, if known
  int64_t last_attempt_unix = 0;
};

struct DsnInput {
  std::string reporting_mta;    // our hostname
  std::string queue_id;         // of the original message
  const Envelope* envelope = nullptr;
  std::string_view content;     // the original message: trace header + body
  std::vector<DsnRecipient> recipients;
  int64_t now_unix = 0;
  int64_t retry_until_unix = 0; // for delayed reports
  size_t full_content_limit = 50'000;  // above this only the headers go back
};

// Whether the sender wants a report of this kind for recipient `index`
// (RFC 3461 §4.1): never for the null sender or NOTIFY=NEVER; failures by
// default; delays when `delay_by_default` or asked for; successes only on request.
bool WantsDsn(const Envelope& e, size_t index, DsnAction action, bool delay_by_default);

// The status code of a reply: its enhanced code if it has one (RFC 3463),
// else the class of its basic code ("5.0.0", "4.0.0", "2.0.0").
std::string StatusOf(std::string_view reply);

// The whole report, CRLF lines, ready to be spooled with the null sender.
std::string MakeDsn(const DsnInput& in);

}  // namespace sluice::queue
