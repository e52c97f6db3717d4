#include "queue/dsn.h"

#include <fmt/format.h>

#include <cctype>

#include "mail/text.h"
#include "mail/xtext.h"
#include "mail/date.h"
#include "mail/ascii.h"
#include "mail/reply_line.h"

namespace sluice::queue {
namespace {

const char* ActionName(DsnAction a) {
  switch (a) {
    case DsnAction::kFailed: return "failed";
    case DsnAction::kDelayed: return "delayed";
    case DsnAction::kDelivered: return "delivered";
    case DsnAction::kRelayed: return "relayed";
  }
  return "failed";
}

bool NotifyHas(const std::string& notify, std::string_view word) {
  return !mail::EachPart(notify, ',', [&](std::string_view item) { return !mail::EqualsNoCase(item, word); });
}

// Report fields are single lines under 998 octets (RFC 5322 §2.1.1) of
// printable text: whatever a peer or a sender put in a reply or a DSN
// parameter, no control byte reaches the report (a CR LF there would forge
// fields of its own).
std::string OneLine(std::string_view s, size_t max = 900) { return mail::SafeText(s, max); }

// The original's header section (up to the first empty line).
std::string_view HeaderSection(std::string_view content) {
  size_t end = content.find("\r\n\r\n");
  return end == std::string_view::npos ? content : content.substr(0, end + 2);
}

}  // namespace

bool WantsDsn(const Envelope& e, size_t index, DsnAction action, bool delay_by_default) {
  if (e.sender.empty()) return false;  // never a report about a report (RFC 5321 §4.5.5)
  const std::string notify = index < e.dsn.size() ? e.dsn[index].notify : std::string();
  if (notify.empty()) return action == DsnAction::kFailed || (action == DsnAction::kDelayed && delay_by_default);
  if (NotifyHas(notify, "NEVER")) return false;
  switch (action) {
    case DsnAction::kFailed: return NotifyHas(notify, "FAILURE");
    case DsnAction::kDelayed: return NotifyHas(notify, "DELAY");
    case DsnAction::kDelivered:
    case DsnAction::kRelayed: return NotifyHas(notify, "SUCCESS");
  }
  return false;
}

std::string StatusOf(std::string_view reply) {
  const mail::ReplyLine line = mail::ParseReplyLine(reply.substr(0, reply.find("\r\n")));
  if (!line.enhanced.empty()) return std::string(line.enhanced);
  if (!reply.empty() && (reply[0] == '2' || reply[0] == '4' || reply[0] == '5')) {
    return std::string(1, reply[0]) + ".0.0";
  }
  return "4.0.0";  // no reply at all (connection trouble): transient
}

std::string MakeDsn(const DsnInput& in) {
  const Envelope& e = *in.envelope;
  bool failed = false, delayed = false;
  for (const auto& r : in.recipients) {
    failed |= r.action == DsnAction::kFailed;
    delayed |= r.action == DsnAction::kDelayed;
  }
  const char* subject = failed    ? "Undelivered Mail Returned to Sender"
                        : delayed ? "Delayed Mail (still being retried)"
                                  : "Successful Mail Delivery Report";
  // RFC 6533: reports about internationalized mail use the message/global types.
  const bool global = e.smtputf8;
  const std::string boundary = fmt::format("{}.{}/{}", in.queue_id, in.now_unix, in.reporting_mta);
  const std::string date = mail::Rfc5322Date(in.now_unix);

  std::string out;
  out += fmt::format("From: Mail Delivery System <MAILER-DAEMON@{}>\r\n", in.reporting_mta);
  out += fmt::format("To: <{}>\r\n", e.sender);
  out += fmt::format("Subject: {}\r\n", subject);
  out += fmt::format("Date: {}\r\n", date);
  out += fmt::format("Message-ID: <{}.{}.dsn@{}>\r\n", in.queue_id, in.now_unix, in.reporting_mta);
  out += "Auto-Submitted: auto-replied\r\n";  // RFC 3834: no auto-reply to this
  out += "MIME-Version: 1.0\r\n";
  out += fmt::format("Content-Type: multipart/report; report-type=delivery-status;\r\n"
                     "\tboundary=\"{}\"\r\n\r\n", boundary);
  out += "This is a MIME-encapsulated message.\r\n\r\n";

  // 1: for people.
  out += fmt::format("--{}\r\nContent-Description: Notification\r\n"
                     "Content-Type: text/plain; charset={}\r\n\r\n", boundary, global ? "utf-8" : "us-ascii");
  out += fmt::format("This is the mail system at host {}.\r\n\r\n", in.reporting_mta);
  if (failed) {
    out += "Your message could not be delivered to one or more recipients.\r\n"
           "It is attached below.\r\n\r\n";
  } else if (delayed) {
    out += fmt::format("Your message could not be delivered yet to the recipients below.\r\n"
                       "The mail system will keep trying until {}.\r\n"
                       "You do not need to resend it.\r\n\r\n", mail::Rfc5322Date(in.retry_until_unix));
  } else {
    out += "Your message was delivered to the recipients below, as you asked to be told.\r\n\r\n";
  }
  for (const auto& r : in.recipients) {
    out += fmt::format("<{}>: {}: {}\r\n", e.routes[r.index].address, ActionName(r.action), OneLine(r.reply, 400));
  }
  out += "\r\n";

  // 2: for programs (RFC 3464 §2.2 and §2.3).
  out += fmt::format("--{}\r\nContent-Description: Delivery report\r\n"
                     "Content-Type: message/{}delivery-status\r\n\r\n", boundary, global ? "global-" : "");
  out += fmt::format("Reporting-MTA: dns; {}\r\n", in.reporting_mta);
  out += fmt::format("X-Sluice-Queue-ID: {}\r\n", in.queue_id);
  if (!e.dsn_envid.empty()) out += fmt::format("Original-Envelope-Id: {}\r\n", OneLine(mail::DecodeXtext(e.dsn_envid), 200));
  out += fmt::format("Arrival-Date: {}\r\n", mail::Rfc5322Date(e.received_unix));
  const char* addr_type = global ? "utf-8" : "rfc822";
  for (const auto& r : in.recipients) {
    out += "\r\n";
    const std::string orcpt = r.index < e.dsn.size() ? e.dsn[r.index].orcpt : std::string();
    if (size_t semi = orcpt.find(';'); semi != std::string::npos) {
      out += fmt::format("Original-Recipient: {};{}\r\n", orcpt.substr(0, semi),
                         OneLine(mail::DecodeXtext(orcpt.substr(semi + 1)), 500));
    }
    out += fmt::format("Final-Recipient: {}; {}\r\n", addr_type, e.routes[r.index].address);
    out += fmt::format("Action: {}\r\n", ActionName(r.action));
    out += fmt::format("Status: {}\r\n", StatusOf(r.reply));
    if (!r.remote.empty()) out += fmt::format("Remote-MTA: dns; {}\r\n", r.remote);
    if (!r.reply.empty()) out += fmt::format("Diagnostic-Code: smtp; {}\r\n", OneLine(r.reply));
    if (r.last_attempt_unix) out += fmt::format("Last-Attempt-Date: {}\r\n", mail::Rfc5322Date(r.last_attempt_unix));
    if (r.action == DsnAction::kDelayed && in.retry_until_unix) {
      out += fmt::format("Will-Retry-Until: {}\r\n", mail::Rfc5322Date(in.retry_until_unix));
    }
  }
  out += "\r\n";

  // 3: the original, whole or headers only (RET, RFC 3461 §4.3).
  const bool headers_only = e.dsn_ret == "HDRS" || in.content.size() > in.full_content_limit ||
                            (!failed && e.dsn_ret != "FULL");
  if (headers_only) {
    out += fmt::format("--{}\r\nContent-Description: Undelivered message headers\r\n"
                       "Content-Type: {}\r\n\r\n", boundary, global ? "message/global-headers" : "text/rfc822-headers");
    out += HeaderSection(in.content);
  } else {
    out += fmt::format("--{}\r\nContent-Description: Undelivered message\r\n"
                       "Content-Type: message/{}\r\n\r\n", boundary, global ? "global" : "rfc822");
    out += in.content;
    if (!in.content.empty() && !in.content.ends_with("\r\n")) out += "\r\n";
  }
  out += fmt::format("\r\n--{}--\r\n", boundary);
  return out;
}

}  // namespace sluice::queue
