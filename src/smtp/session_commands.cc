// The command table and its handlers (RFC 5321 §4.1.1, with STARTTLS RFC
// 3207, BDAT RFC 3030, SMTPUTF8 RFC 6531 and DSN RFC 3461).
#include <fmt/format.h>

#include <charconv>
#include <cstring>
#include <optional>

#include "smtp/address.h"
#include "smtp/session.h"
#include "mail/address.h"
#include "mail/ascii.h"
#include "mail/xtext.h"

namespace sluice::smtp {
namespace {

using mail::EqualsNoCase;

// Commands are printable US-ASCII (RFC 5321 §2.4); NUL and controls always
// get a clear 500, 8-bit octets too unless the command may carry UTF-8.
bool HasBadCharacter(std::string_view line, bool allow_8bit) {
  for (unsigned char c : line) {
    if ((c < 32 && c != '\t') || c == 127 || (c > 127 && !allow_8bit)) return true;
  }
  return false;
}

bool Has8Bit(std::string_view s) {
  for (unsigned char c : s) {
    if (c > 127) return true;
  }
  return false;
}

std::optional<size_t> ParseSize(std::string_view v) {
  size_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec == std::errc::result_out_of_range) return SIZE_MAX;
  if (ec != std::errc() || end != v.data() + v.size() || v.empty()) return std::nullopt;
  return n;
}

// NOTIFY=NEVER, or a comma list of SUCCESS, FAILURE, DELAY (RFC 3461 §4.1).
bool ValidNotify(const std::string& v) {
  if (EqualsNoCase(v, "NEVER")) return true;
  return mail::EachPart(v, ',', [](std::string_view item) {
    return EqualsNoCase(item, "SUCCESS") || EqualsNoCase(item, "FAILURE") || EqualsNoCase(item, "DELAY");
  });
}

// ORCPT=addr-type;xtext (RFC 3461 §4.2).
bool ValidOrcpt(const std::string& v) {
  size_t semi = v.find(';');
  if (semi == 0 || semi == std::string::npos) return false;
  for (size_t i = 0; i < semi; ++i) {
    unsigned char c = v[i];
    if (!std::isalnum(c) && c != '-') return false;
  }
  return mail::IsSafeXtext(std::string_view(v).substr(semi + 1));
}

}  // namespace

// BDAT is allowed before TLS only so that its chunk is always read (the
// client and server stay in step); it never starts a transaction itself.
const Session::Command Session::kCommands[] = {
    {"EHLO", &Session::OnEhlo, kBeforeTls | kEndsGroup},
    {"HELO", &Session::OnHelo, kBeforeTls},
    {"MAIL", &Session::OnMail, kUtf8Args},
    {"RCPT", &Session::OnRcpt, kUtf8Args},
    {"DATA", &Session::OnData, kEndsGroup},
    {"BDAT", &Session::OnBdat, kBeforeTls},
    {"RSET", &Session::OnRset, kBeforeTls},
    {"NOOP", &Session::OnNoop, kBeforeTls | kEndsGroup},
    {"QUIT", &Session::OnQuit, kBeforeTls | kEndsGroup},
    {"VRFY", &Session::OnVrfy, kEndsGroup},
    {"HELP", &Session::OnHelp, kBeforeTls},
    {"EXPN", &Session::OnExpn, kEndsGroup},
    {"STARTTLS", &Session::OnStartTls, kBeforeTls | kEndsGroup},
};
const size_t Session::kCommandCount = std::size(kCommands);

std::vector<std::pair<std::string, unsigned>> Session::CommandRules() {
  std::vector<std::pair<std::string, unsigned>> out;
  for (const Command& c : kCommands) out.emplace_back(c.verb, c.flags);
  return out;
}

void Session::Dispatch(std::string_view line) {
  size_t space = line.find(' ');
  std::string_view verb = line.substr(0, space);
  std::string_view arg = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
  if (refusal_.code) {  // no service: only QUIT is answered as asked
    if (EqualsNoCase(verb, "QUIT")) return OnQuit(arg);
    return Error(replies::NoService());
  }
  for (const Command& c : kCommands) {
    if (!EqualsNoCase(verb, c.verb)) continue;
    const bool utf8_args = c.flags & kUtf8Args;
    if (HasBadCharacter(line, utf8_args && options_->smtputf8 && esmtp_)) {
      return Error(ToReply(SyntaxError::kBadCharacter));
    }
    // Only MAIL and RCPT may use the extension allowance of PumpCommand.
    if (!utf8_args && line.size() + 2 > options_->max_command_line) {
      return Error(ToReply(SyntaxError::kLineTooLong));
    }
    // Submission: nothing but greeting, STARTTLS and housekeeping in the clear.
    if (options_->require_tls && !tls_ && !(c.flags & kBeforeTls)) return Error(replies::TlsRequired());
    (this->*c.handler)(arg);
    return;
  }
  Error(ToReply(HasBadCharacter(line, false) ? SyntaxError::kBadCharacter
                                              : SyntaxError::kUnknownCommand));
}

void Session::Greet(std::string_view arg, bool esmtp) {
  while (!arg.empty() && arg.back() == ' ') arg.remove_suffix(1);
  if (arg.empty()) return Error(ToReply(SyntaxError::kMissingArgument));
  if (!mail::IsValidHeloName(arg)) return Error(ToReply(SyntaxError::kBadHelo));
  ResetTransaction();
  state_ = State::kGreeted;
  helo_ = std::string(arg);
  esmtp_ = esmtp;
  if (!esmtp) return Emit(replies::HeloOk(options_->hostname));
  // Each extension is advertised only when it is enabled (and usable).
  std::vector<std::string> lines = {options_->hostname, "PIPELINING",
                                    "SIZE " + std::to_string(options_->max_message_size),
                                    "8BITMIME", "ENHANCEDSTATUSCODES"};
  if (options_->starttls && !tls_) lines.push_back("STARTTLS");
  if (options_->chunking) lines.push_back("CHUNKING");
  if (options_->smtputf8) lines.push_back("SMTPUTF8");
  if (options_->dsn) lines.push_back("DSN");
  lines.push_back("HELP");
  Emit(MakeMultiline(250, lines));
}

void Session::OnHelo(std::string_view arg) { Greet(arg, false); }
void Session::OnEhlo(std::string_view arg) { Greet(arg, true); }

void Session::OnMail(std::string_view arg) {
  if (state_ == State::kConnected) return Error(replies::NeedHelo());
  if (state_ != State::kGreeted) return Error(replies::NestedMail());
  bool utf8 = options_->smtputf8 && esmtp_;
  auto parsed = ParsePathArgument(arg, "FROM", /*allow_null=*/true, SyntaxError::kBadSender, utf8);
  if (auto* e = std::get_if<SyntaxError>(&parsed)) return Error(ToReply(*e));
  auto& path = std::get<PathArgument>(parsed);
  if (!path.params.empty() && !esmtp_) {
    return Error(ToReply(SyntaxError::kUnknownParameter));  // no extensions after HELO
  }
  Envelope e;
  size_t declared_size = 0;
  for (const auto& [key, value] : path.params) {
    if (key == "SIZE") {
      auto size = ParseSize(value);
      if (!size) return Error(ToReply(SyntaxError::kBadParameter));
      if (*size > options_->max_message_size) return Error(replies::SizeExceeded());
      declared_size = *size;
    } else if (key == "BODY") {
      if (EqualsNoCase(value, "8BITMIME")) {
        e.body_8bit = true;
      } else if (!EqualsNoCase(value, "7BIT")) {
        return Error(ToReply(SyntaxError::kBadParameter));
      }
    } else if (key == "SMTPUTF8" && options_->smtputf8) {
      if (!value.empty()) return Error(ToReply(SyntaxError::kBadParameter));
      e.smtputf8 = true;
    } else if (key == "RET" && options_->dsn && e.dsn_ret.empty()) {
      if (!EqualsNoCase(value, "FULL") && !EqualsNoCase(value, "HDRS")) {
        return Error(ToReply(SyntaxError::kBadParameter));
      }
      e.dsn_ret = mail::Uppered(value);
    } else if (key == "ENVID" && options_->dsn && e.dsn_envid.empty()) {
      if (value.size() > 100 || !mail::IsSafeXtext(value)) return Error(ToReply(SyntaxError::kBadParameter));
      e.dsn_envid = value;
    } else {
      return Error(ToReply(SyntaxError::kUnknownParameter));
    }
  }
  // RFC 6531 §3.4: a non-ASCII address needs the SMTPUTF8 parameter.
  if (!e.smtputf8 && Has8Bit(path.address)) return Error(replies::NeedsSmtpUtf8());
  e.sender = std::move(path.address);
  e.client_address = client_.address;
  e.helo = helo_;
  e.esmtp = esmtp_;
  envelope_ = std::move(e);
  declared_size_ = declared_size;
  // The driver decides whether a transaction may start now (spool space):
  // the reply to MAIL waits for Resume(AdmitResult).
  waiting_ = Waiting::kAdmit;
  out_.emplace_back(AdmitMail{declared_size, envelope_.sender});
}

void Session::OnRcpt(std::string_view arg) {
  if (state_ == State::kConnected) return Error(replies::NeedHelo());
  if (state_ != State::kMail && state_ != State::kRcpt) return Error(replies::NeedMail());
  auto parsed = ParsePathArgument(arg, "TO", /*allow_null=*/false, SyntaxError::kBadRecipient,
                                  envelope_.smtputf8);
  if (auto* e = std::get_if<SyntaxError>(&parsed)) {
    if (*e == SyntaxError::kBadRecipient && !envelope_.smtputf8 && Has8Bit(arg)) {
      return Error(replies::NeedsSmtpUtf8());
    }
    return Error(ToReply(*e));
  }
  auto& path = std::get<PathArgument>(parsed);
  RecipientDsn dsn;
  for (const auto& [key, value] : path.params) {
    if (key == "NOTIFY" && options_->dsn && dsn.notify.empty()) {
      if (!ValidNotify(value)) return Error(ToReply(SyntaxError::kBadParameter));
      dsn.notify = mail::Uppered(value);
    } else if (key == "ORCPT" && options_->dsn && dsn.orcpt.empty()) {
      if (value.size() > 500 || !ValidOrcpt(value)) return Error(ToReply(SyntaxError::kBadParameter));
      dsn.orcpt = value;
    } else {
      return Error(ToReply(SyntaxError::kUnknownParameter));
    }
  }
  if (envelope_.rcpt_to.size() >= options_->max_recipients) {
    return Emit(replies::TooManyRecipients());
  }
  ++rcpt_attempts_;
  pending_rcpt_ = std::move(path.address);
  pending_dsn_ = std::move(dsn);
  waiting_ = Waiting::kLookup;
  out_.emplace_back(LookupRecipient{mail::CanonicalAddress(pending_rcpt_)});
}

// The reply a content command (DATA or BDAT) gets when the transaction is
// not ready for content; empty when it is.
Reply Session::ContentNotReady() const {
  if (state_ == State::kConnected) return replies::NeedHelo();
  if (state_ == State::kGreeted) return replies::NeedMail();
  // RFC 2920 §3.1: after pipelined RCPTs that all failed, DATA gets 554.
  if (state_ != State::kRcpt) return rcpt_attempts_ > 0 ? replies::NoValidRecipients() : replies::NeedRcpt();
  return Reply{};
}

void Session::OnData(std::string_view arg) {
  if (!arg.empty()) return Error(ToReply(SyntaxError::kUnexpectedArgument));
  if (Reply no = ContentNotReady(); no.code != 0) return Error(std::move(no));
  if (chunked_) return Error(replies::DataAfterBdat());
  state_ = State::kData;
  at_line_start_ = true;
  body_.clear();
  line_check_.Reset();
  Emit(replies::StartData());
}

// BDAT <size> [LAST] (RFC 3030 §2). The chunk is read whole before any
// answer, even a refusal, so the client and server stay in step.
void Session::OnBdat(std::string_view arg) {
  if (!options_->chunking) return Error(ToReply(SyntaxError::kUnknownCommand));
  size_t space = arg.find(' ');
  auto size = ParseSize(arg.substr(0, space));
  std::string_view rest = space == std::string_view::npos ? std::string_view() : arg.substr(space + 1);
  if (!size || (!rest.empty() && !EqualsNoCase(rest, "LAST"))) {
    return Error(ToReply(SyntaxError::kBadParameter));
  }
  chunk_refusal_ = ContentNotReady();
  if (*size == SIZE_MAX && chunk_refusal_.code == 0) {
    // Unreadable size: no way to stay in step with the client.
    return CloseWith(replies::SizeExceeded());
  }
  if (chunk_refusal_.code == 0 && !chunked_) {  // the first chunk of the message
    body_.clear();
    line_check_.Reset();
    chunked_ = true;
  }
  before_chunk_ = state_;
  state_ = State::kChunk;
  chunk_left_ = *size;
  chunk_last_ = !rest.empty();
  if (chunk_left_ == 0) FinishChunk();
}

void Session::OnRset(std::string_view arg) {
  if (!arg.empty()) return Error(ToReply(SyntaxError::kUnexpectedArgument));
  ResetTransaction();
  Emit(replies::Ok());
}

void Session::OnNoop(std::string_view) { Emit(replies::Ok()); }

void Session::OnQuit(std::string_view arg) {
  if (!arg.empty()) return Error(ToReply(SyntaxError::kUnexpectedArgument));
  CloseWith(replies::Bye());
}

// VRFY discloses nothing (RFC 5321 §3.5.3): a 252 whatever the argument.
void Session::OnVrfy(std::string_view arg) {
  if (arg.empty()) return Error(ToReply(SyntaxError::kMissingArgument));
  Emit(replies::CannotVrfy());
}

// The commands this session takes now: STARTTLS only while it is offered
// and not yet in use, BDAT only with CHUNKING.
void Session::OnHelp(std::string_view) {
  std::string verbs;
  for (const Command& c : kCommands) {
    const std::string_view v = c.verb;
    if ((v == "STARTTLS" && (!options_->starttls || tls_)) || (v == "BDAT" && !options_->chunking) || v == "EXPN") {
      continue;
    }
    verbs += (verbs.empty() ? "" : " ") + std::string(v);
  }
  Emit(replies::Help(verbs));
}

void Session::OnExpn(std::string_view) { Error(replies::NotImplemented("EXPN")); }

// RFC 3207. Whatever the client pipelined after STARTTLS was sent in the
// clear and is discarded, never read as if it came over TLS (CVE-2011-0411).
void Session::OnStartTls(std::string_view arg) {
  if (!options_->starttls) return Error(replies::NotImplemented("STARTTLS"));
  if (!arg.empty()) return Error(ToReply(SyntaxError::kUnexpectedArgument));
  if (tls_) return Error(replies::TlsActive());
  if (state_ == State::kConnected || !esmtp_) return Error(replies::NeedHelo());
  if (in_transaction()) return Error(replies::TlsInTransaction());
  pos_ = in_.size();
  Emit(replies::ReadyForTls());
  waiting_ = Waiting::kTls;
  out_.emplace_back(StartTls{});
}

}  // namespace sluice::smtp
