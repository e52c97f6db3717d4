// The command table and its handlers (RFC 5321 §4.1.1).
#include <charconv>
#include <cstring>

#include "smtp/address.h"
#include "smtp/session.h"

namespace sluice::smtp {
namespace {

bool EqualsNoCase(std::string_view a, const char* b) {
  size_t n = std::strlen(b);
  if (a.size() != n) return false;
  for (size_t i = 0; i < n; ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) != b[i]) return false;
  }
  return true;
}

// Commands are printable US-ASCII (RFC 5321 §2.4); NUL, controls and 8-bit
// octets get a clear 500 rather than reaching a parser.
bool HasBadCharacter(std::string_view line) {
  for (unsigned char c : line) {
    if ((c < 32 && c != '\t') || c >= 127) return true;
  }
  return false;
}

}  // namespace

const Session::Command Session::kCommands[] = {
    {"EHLO", &Session::OnEhlo}, {"HELO", &Session::OnHelo}, {"MAIL", &Session::OnMail},
    {"RCPT", &Session::OnRcpt}, {"DATA", &Session::OnData}, {"RSET", &Session::OnRset},
    {"NOOP", &Session::OnNoop}, {"QUIT", &Session::OnQuit}, {"VRFY", &Session::OnVrfy},
    {"HELP", &Session::OnHelp}, {"EXPN", &Session::OnExpn},
};

void Session::Dispatch(std::string_view line) {
  if (HasBadCharacter(line)) {
    Error(ToReply(SyntaxError::kBadCharacter));
    return;
  }
  size_t space = line.find(' ');
  std::string_view verb = line.substr(0, space);
  std::string_view arg = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
  for (const Command& c : kCommands) {
    if (EqualsNoCase(verb, c.verb)) {
      // Only MAIL and RCPT may use the extension allowance of PumpCommand.
      bool params_allowed = c.handler == &Session::OnMail || c.handler == &Session::OnRcpt;
      if (!params_allowed && line.size() + 2 > options_->max_command_line) {
        Error(ToReply(SyntaxError::kLineTooLong));
        return;
      }
      (this->*c.handler)(arg);
      return;
    }
  }
  Error(ToReply(SyntaxError::kUnknownCommand));
}

void Session::Greet(std::string_view arg, bool esmtp) {
  while (!arg.empty() && arg.back() == ' ') arg.remove_suffix(1);
  if (arg.empty()) {
    Error(ToReply(SyntaxError::kMissingArgument));
    return;
  }
  if (arg.find(' ') != std::string_view::npos || arg.size() > 255) {
    Error(MakeReply(501, "5.5.4", "Invalid domain name"));
    return;
  }
  ResetTransaction();
  state_ = State::kGreeted;
  helo_ = std::string(arg);
  esmtp_ = esmtp;
  if (!esmtp) {
    Emit(MakeReply(250, "", options_->hostname));
    return;
  }
  Emit(MakeMultiline(250, {options_->hostname, "PIPELINING",
                           "SIZE " + std::to_string(options_->max_message_size), "8BITMIME",
                           "ENHANCEDSTATUSCODES", "HELP"}));
}

void Session::OnHelo(std::string_view arg) { Greet(arg, false); }
void Session::OnEhlo(std::string_view arg) { Greet(arg, true); }

void Session::OnMail(std::string_view arg) {
  if (state_ == State::kConnected) return Error(replies::NeedHelo());
  if (state_ != State::kGreeted) return Error(replies::NestedMail());
  auto parsed = ParsePathArgument(arg, "FROM", /*allow_null=*/true, SyntaxError::kBadSender);
  if (auto* e = std::get_if<SyntaxError>(&parsed)) return Error(ToReply(*e));
  auto& path = std::get<PathArgument>(parsed);
  if (!path.params.empty() && !esmtp_) {
    return Error(ToReply(SyntaxError::kUnknownParameter));  // no extensions after HELO
  }
  bool body_8bit = false;
  for (const auto& [key, value] : path.params) {
    if (key == "SIZE") {
      size_t size = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), size);
      if (ec != std::errc() || end != value.data() + value.size()) {
        if (ec == std::errc::result_out_of_range) return Error(replies::SizeExceeded());
        return Error(ToReply(SyntaxError::kBadParameter));
      }
      if (size > options_->max_message_size) return Error(replies::SizeExceeded());
    } else if (key == "BODY") {
      if (EqualsNoCase(value, "8BITMIME")) {
        body_8bit = true;
      } else if (!EqualsNoCase(value, "7BIT")) {
        return Error(ToReply(SyntaxError::kBadParameter));
      }
    } else {
      return Error(ToReply(SyntaxError::kUnknownParameter));
    }
  }
  envelope_.sender = std::move(path.address);
  envelope_.body_8bit = body_8bit;
  envelope_.client_address = client_.address;
  envelope_.helo = helo_;
  envelope_.esmtp = esmtp_;
  state_ = State::kMail;
  Emit(replies::SenderOk());
}

void Session::OnRcpt(std::string_view arg) {
  if (state_ == State::kConnected) return Error(replies::NeedHelo());
  if (state_ != State::kMail && state_ != State::kRcpt) return Error(replies::NeedMail());
  auto parsed = ParsePathArgument(arg, "TO", /*allow_null=*/false, SyntaxError::kBadRecipient);
  if (auto* e = std::get_if<SyntaxError>(&parsed)) return Error(ToReply(*e));
  auto& path = std::get<PathArgument>(parsed);
  if (!path.params.empty()) return Error(ToReply(SyntaxError::kUnknownParameter));
  if (envelope_.rcpt_to.size() >= options_->max_recipients) {
    return Emit(replies::TooManyRecipients());
  }
  ++rcpt_attempts_;
  pending_rcpt_ = std::move(path.address);
  waiting_ = Waiting::kLookup;
  out_.emplace_back(LookupRecipient{CanonicalAddress(pending_rcpt_)});
}

void Session::OnData(std::string_view arg) {
  if (!arg.empty()) return Error(ToReply(SyntaxError::kUnexpectedArgument));
  if (state_ == State::kConnected) return Error(replies::NeedHelo());
  if (state_ == State::kGreeted) return Error(replies::NeedMail());
  if (state_ == State::kMail) {
    // RFC 2920 §3.1: after pipelined RCPTs that all failed, DATA gets 554.
    return Error(rcpt_attempts_ > 0 ? replies::NoValidRecipients() : replies::NeedRcpt());
  }
  state_ = State::kData;
  at_line_start_ = true;
  line_len_ = 0;
  body_.clear();
  Emit(replies::StartData());
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

void Session::OnHelp(std::string_view) { Emit(replies::Help()); }

void Session::OnExpn(std::string_view) { Error(replies::NotImplemented("EXPN")); }

}  // namespace sluice::smtp
