// Framing and the data phase of the SMTP session; command handlers live in
// session_commands.cc.
#include "smtp/session.h"

#include <cstring>

namespace sluice::smtp {

Session::Session(std::shared_ptr<const SessionOptions> options, ClientInfo client)
    : options_(std::move(options)), client_(std::move(client)) {}

std::vector<Action> Session::Start() {
  Emit(replies::Greeting(options_->hostname));
  return std::move(out_);
}

std::vector<Action> Session::Feed(std::span<const char> bytes) {
  if (!closed_) {
    // Compact before growing so a long session does not hold every byte.
    if (pos_ > 0 && pos_ == in_.size()) {
      in_.clear();
      pos_ = 0;
    } else if (pos_ > 64 * 1024) {
      in_.erase(0, pos_);
      pos_ = 0;
    }
    in_.append(bytes.data(), bytes.size());
    Pump();
  }
  return std::move(out_);
}

std::vector<Action> Session::Resume(const directory::LookupResult& r) {
  if (waiting_ != Waiting::kLookup) return {};
  waiting_ = Waiting::kNothing;
  if (r.found == directory::Found::kYes) {
    envelope_.rcpt_to.push_back(std::move(pending_rcpt_));
    envelope_.routes.push_back(r.route);
    state_ = State::kRcpt;
    Emit(replies::RecipientOk());
  } else {
    Reply reply = replies::ForLookup(pending_rcpt_, r);
    if (reply.Transient()) {
      Emit(std::move(reply));
    } else {
      Error(std::move(reply));
    }
  }
  pending_rcpt_.clear();
  Pump();
  return std::move(out_);
}

std::vector<Action> Session::Resume(const StoreResult& r) {
  if (waiting_ != Waiting::kStore) return {};
  waiting_ = Waiting::kNothing;
  if (r.status.ok()) {
    Emit(replies::Queued(r.queue_id));
  } else if (r.status.code() == Status::Code::kNoSpace) {
    Emit(replies::StorageFull());
  } else {
    Emit(replies::StorageError());
  }
  ResetTransaction();
  Pump();
  return std::move(out_);
}

void Session::Emit(Reply r) { out_.emplace_back(std::move(r)); }

void Session::Error(Reply r) {
  Emit(std::move(r));
  if (++errors_ >= options_->max_errors) CloseWith(replies::TooManyErrors());
}

void Session::CloseWith(Reply r) {
  Emit(std::move(r));
  out_.emplace_back(Close{});
  closed_ = true;
}

void Session::ResetTransaction() {
  envelope_ = Envelope{};
  pending_rcpt_.clear();
  rcpt_attempts_ = 0;
  body_.clear();
  if (state_ != State::kConnected) state_ = State::kGreeted;
}

void Session::Pump() {
  while (!closed_ && waiting_ == Waiting::kNothing && pos_ < in_.size()) {
    bool progressed = state_ == State::kData ? PumpData() : PumpCommand();
    if (!progressed) break;
  }
}

bool Session::PumpCommand() {
  const char* begin = in_.data() + pos_;
  size_t avail = in_.size() - pos_;
  const char* lf = static_cast<const char*>(std::memchr(begin, '\n', avail));
  // Allowance for the parameters that extensions add to MAIL and RCPT
  // (RFC 3461 §4 adds up to 500 octets); the hard cap below bounds memory.
  const size_t hard_cap = options_->max_command_line + 512;
  if (lf == nullptr) {
    if (avail > hard_cap) {  // no end in sight: refuse it and skip the rest
      if (!skipping_line_) Error(ToReply(SyntaxError::kLineTooLong));
      skipping_line_ = true;
      pos_ = in_.size();
      return true;
    }
    return false;
  }
  size_t len = static_cast<size_t>(lf - begin) + 1;
  std::string_view line(begin, len);
  pos_ += len;
  if (skipping_line_) {
    skipping_line_ = false;
    return true;
  }
  if (len < 2 || line[len - 2] != '\r') {
    Error(ToReply(SyntaxError::kBareLf));
    return true;
  }
  line.remove_suffix(2);
  if (line.size() + 2 > hard_cap) {
    Error(ToReply(SyntaxError::kLineTooLong));
    return true;
  }
  Dispatch(line);
  return true;
}

// Data lines end at CRLF only. A bare LF or CR is content, never a line end,
// so "\n.\n" and friends cannot end a message early (smuggling); such a
// message is refused at the end of data.
bool Session::PumpData() {
  const size_t max_size = options_->max_message_size;
  while (pos_ < in_.size()) {
    const char* begin = in_.data() + pos_;
    size_t avail = in_.size() - pos_;
    if (at_line_start_ && begin[0] == '.') {
      if (avail < 3) return false;  // need to see whether this is ".\r\n"
      if (begin[1] == '\r' && begin[2] == '\n') {
        pos_ += 3;
        FinishData();
        return true;
      }
      ++pos_;  // undo dot-stuffing (RFC 5321 §4.5.2): only the first dot
      ++line_len_;
      at_line_start_ = false;
      continue;
    }
    at_line_start_ = false;
    const char* lf = static_cast<const char*>(std::memchr(begin, '\n', avail));
    size_t take;
    bool line_end = false;
    if (lf == nullptr) {
      // Keep a trailing CR back: it may be the first half of CRLF.
      take = begin[avail - 1] == '\r' ? avail - 1 : avail;
      if (take == 0) return false;
    } else {
      take = static_cast<size_t>(lf - begin) + 1;
      line_end = take >= 2 && lf[-1] == '\r';
      if (!line_end) bare_line_ending_ = true;  // a bare LF
    }
    // A CR inside the segment that is not the CR of the final CRLF is bare.
    size_t scan = line_end ? take - 2 : take;
    if (std::memchr(begin, '\r', scan) != nullptr) bare_line_ending_ = true;

    line_len_ += take;
    if (line_len_ > options_->max_text_line) long_line_ = true;
    if (!oversize_) {
      if (body_.size() + take > max_size) {
        oversize_ = true;
        body_.clear();
        body_.shrink_to_fit();
      } else {
        body_.append(begin, take);
      }
    }
    pos_ += take;
    if (line_end) {
      at_line_start_ = true;
      line_len_ = 0;
    }
    if (lf == nullptr) return false;
  }
  return false;
}

void Session::FinishData() {
  const bool oversize = oversize_, bare = bare_line_ending_, long_line = long_line_;
  oversize_ = bare_line_ending_ = long_line_ = false;
  at_line_start_ = true;
  line_len_ = 0;
  Reply refusal;
  if (oversize) {
    refusal = replies::SizeExceeded();
  } else if (bare && options_->bare_line_endings == BareLineEndings::kReject) {
    refusal = replies::BareLineEnding();
  } else if (long_line) {
    refusal = replies::TextLineTooLong();
  }
  if (refusal.code != 0) {
    state_ = State::kGreeted;
    ResetTransaction();
    Emit(std::move(refusal));
    return;
  }
  waiting_ = Waiting::kStore;
  state_ = State::kGreeted;  // until the store answers, no new command runs
  StoreMessage store{std::move(envelope_), std::move(body_)};
  envelope_ = Envelope{};
  body_.clear();
  out_.emplace_back(std::move(store));
}

}  // namespace sluice::smtp
