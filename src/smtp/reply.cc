#include "smtp/reply.h"

#include <fmt/format.h>

#include "mail/reply_line.h"

namespace sluice::smtp {

Reply MakeReply(int code, std::string_view enhanced, std::string_view text) {
  if (enhanced.empty()) return {code, {}, fmt::format("{} {}\r\n", code, text)};
  return {code, std::string(enhanced), fmt::format("{} {} {}\r\n", code, enhanced, text)};
}

Reply MakeMultiline(int code, const std::vector<std::string>& lines) {
  Reply r{code, {}, {}};
  for (size_t i = 0; i < lines.size(); ++i) {
    r.text += fmt::format("{}{}{}\r\n", code, i + 1 < lines.size() ? '-' : ' ', lines[i]);
  }
  return r;
}

Reply ToReply(SyntaxError e) {
  switch (e) {
    case SyntaxError::kBadSender:
      return MakeReply(501, "5.1.7", "Bad sender address syntax");
    case SyntaxError::kBadRecipient:
      return MakeReply(501, "5.1.3", "Bad recipient address syntax");
    case SyntaxError::kBadParameter:
      return MakeReply(501, "5.5.4", "Invalid parameter value");
    case SyntaxError::kUnknownParameter:
      return MakeReply(555, "5.5.4", "Unsupported parameter");
    case SyntaxError::kMissingArgument:
      return MakeReply(501, "5.5.4", "Syntax error: argument required");
    case SyntaxError::kUnexpectedArgument:
      return MakeReply(501, "5.5.4", "Syntax error: no arguments allowed");
    case SyntaxError::kLineTooLong:
      return MakeReply(500, "5.5.2", "Line too long");
    case SyntaxError::kBareLf:
      return MakeReply(500, "5.5.2", "Command line must end with CRLF");
    case SyntaxError::kBadCharacter:
      return MakeReply(500, "5.5.2", "Invalid character in command");
    case SyntaxError::kUnknownCommand:
      return MakeReply(500, "5.5.2", "Command not recognized");
    case SyntaxError::kBadHelo:
      return MakeReply(501, "5.5.2", "Invalid HELO name: a host name or an address literal is expected");
  }
  return MakeReply(500, "5.5.2", "Syntax error");
}

namespace replies {

Reply Greeting(std::string_view hostname) {
  return MakeReply(220, "", fmt::format("{} ESMTP Sluice", hostname));
}
Reply Ok() { return MakeReply(250, "2.0.0", "Ok"); }
Reply SenderOk() { return MakeReply(250, "2.1.0", "Sender ok"); }
Reply RecipientOk() { return MakeReply(250, "2.1.5", "Recipient ok"); }
Reply Queued(std::string_view id) {
  return MakeReply(250, "2.0.0", fmt::format("Ok: queued as {}", id));
}
Reply StartData() { return MakeReply(354, "", "End data with <CR><LF>.<CR><LF>"); }
Reply Bye() { return MakeReply(221, "2.0.0", "Bye"); }
Reply Help(std::string_view verbs) { return MakeReply(214, "2.0.0", fmt::format("Commands: {}", verbs)); }
Reply HeloOk(std::string_view hostname) { return MakeReply(250, "", hostname); }
Reply ChunkReceived(size_t octets) { return MakeReply(250, "2.0.0", fmt::format("{} octets received", octets)); }
Reply DataAfterBdat() { return MakeReply(503, "5.5.1", "DATA cannot follow BDAT"); }
Reply TlsActive() { return MakeReply(503, "5.5.1", "TLS already active"); }
Reply TlsInTransaction() { return MakeReply(503, "5.5.1", "STARTTLS not allowed in a transaction"); }
Reply ReadyForTls() { return MakeReply(220, "2.0.0", "Ready to start TLS"); }
Reply CannotVrfy() {
  return MakeReply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
}
Reply NotImplemented(std::string_view verb) {
  return MakeReply(502, "5.5.1", fmt::format("{} not implemented", verb));
}
Reply NeedHelo() { return MakeReply(503, "5.5.1", "Send HELO/EHLO first"); }
Reply NestedMail() { return MakeReply(503, "5.5.1", "Nested MAIL command"); }
Reply NeedMail() { return MakeReply(503, "5.5.1", "Need MAIL command"); }
Reply NeedRcpt() { return MakeReply(503, "5.5.1", "Need RCPT command"); }
Reply NoValidRecipients() { return MakeReply(554, "5.5.1", "No valid recipients"); }
Reply TooManyRecipients() { return MakeReply(452, "4.5.3", "Too many recipients"); }
Reply SizeExceeded() {
  return MakeReply(552, "5.3.4", "Message size exceeds fixed maximum message size");
}
Reply TooManyErrors() {
  return MakeReply(421, "4.7.0", "Too many errors, closing transmission channel");
}
Reply CommandTimeout() {
  return MakeReply(421, "4.4.2", "Timeout exceeded, closing transmission channel");
}
Reply TooManyConnections() {
  return MakeReply(421, "4.7.0", "Too many connections, closing transmission channel");
}
Reply ShuttingDown() { return MakeReply(421, "4.3.2", "Service shutting down"); }
Reply BareLineEnding() {
  return MakeReply(550, "5.6.0",
                   "Message contains a bare CR or LF; line endings must be CRLF");
}
Reply TextLineTooLong(size_t max_line) {
  return MakeReply(554, "5.6.0", fmt::format("Message contains a line longer than {} octets", max_line));
}
Reply ForestSaturatedClose() {
  return MakeReply(421, "4.3.2",
                   "The maximum number of concurrent connections per resource forest has exceeded "
                   "a limit, closing transmission channel");
}
Reply TlsRequired() { return MakeReply(530, "5.7.0", "Must issue a STARTTLS command first"); }
Reply SenderNeedsConnector(std::string_view domain) {
  return MakeReply(550, "5.7.1", fmt::format("Mail from {} is accepted only through its own connector", domain));
}
Reply ContentRejected() { return MakeReply(554, "5.7.1", "Message rejected by the content filter"); }
Reply ContentNotScanned() {
  return MakeReply(451, "4.7.1", "Message could not be scanned now; try again later");
}
Reply FromFilter(std::string_view text, bool reject) {
  const Reply fallback = reject ? ContentRejected() : ContentNotScanned();
  const mail::ReplyLine first = mail::ParseReplyLine(text.substr(0, text.find("\r\n")));
  if (first.code / 100 != fallback.code / 100) return fallback;
  Reply r;
  r.code = first.code;
  r.enhanced = std::string(first.enhanced);
  r.text = std::string(text);
  r.text += "\r\n";
  return r;
}
Reply NeedsSmtpUtf8() {
  return MakeReply(553, "5.6.7", "Non-ASCII address requires the SMTPUTF8 parameter");
}
Reply StorageFull() { return MakeReply(452, "4.3.1", "Insufficient system storage"); }
Reply BufferFull() {
  return MakeReply(452, "4.3.1", "Insufficient system resources for this message now; try again later");
}
Reply SessionTimeLimit() {
  return MakeReply(421, "4.4.2", "Session time limit exceeded, closing transmission channel");
}
Reply NoDescriptors() {
  return MakeReply(421, "4.3.2", "System resources exhausted; try again later, closing transmission channel");
}
Reply StorageError() { return MakeReply(451, "4.3.0", "Temporary storage failure; try again later"); }
Reply Draining() { return MakeReply(451, "4.3.2", "This node is being drained; try again later"); }
Reply NotRedundant() { return MakeReply(451, "4.4.0", "Message could not be made redundant; try again later"); }
Reply Blocked() { return MakeReply(554, "5.7.1", "Access denied: your address is blocked by policy"); }
Reply NoService() { return MakeReply(503, "5.7.1", "No SMTP service for your address; only QUIT is accepted"); }
Reply ConnectionRateLimited() {
  return MakeReply(421, "4.7.0", "Too many connections from your address; try again later, closing transmission channel");
}
Reply RecipientRateLimited() {
  return MakeReply(451, "4.7.1", "Recipient rate limit exceeded for your address; try again later");
}
Reply ClientRateLimited() {
  return MakeReply(451, "4.7.1", "Message rate limit exceeded for your address; try again later");
}

Reply ForLookup(std::string_view address, const directory::LookupResult& r) {
  using directory::Reason;
  switch (r.reason) {
    case Reason::kNone:
      return RecipientOk();
    case Reason::kUnknownUser:
      return MakeReply(550, "5.1.1",
                       fmt::format("<{}>: Recipient address rejected: User unknown", address));
    case Reason::kUnknownDomain:
      return MakeReply(550, "5.7.1", fmt::format("<{}>: Relay access denied", address));
    case Reason::kSaturated:
      return MakeReply(451, "4.3.2",
                       fmt::format("The maximum number of concurrent lookups for directory "
                                   "forest {} has been reached; try again later",
                                   r.forest));
    case Reason::kTimedOut:
      return MakeReply(451, "4.4.3", "Directory lookup timed out; try again later");
    case Reason::kRateLimited:
      return MakeReply(451, "4.7.1",
                       fmt::format("<{}>: Recipient domain is over its message rate limit; try again later",
                                   address));
    case Reason::kBlocked:
      return MakeReply(550, "5.7.1", fmt::format("<{}>: Refused by the recipient's policy for your address", address));
    case Reason::kClientRateLimited:
      return RecipientRateLimited();
    case Reason::kBackendError:
      return MakeReply(451, "4.4.3",
                       fmt::format("Directory forest {} is unavailable; try again later",
                                   r.forest.empty() ? "(unknown)" : r.forest));
  }
  return MakeReply(451, "4.3.0", "Temporary lookup failure");
}

}  // namespace replies
}  // namespace sluice::smtp
