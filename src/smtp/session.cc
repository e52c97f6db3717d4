// Framing, answers to actions and message content (DATA and BDAT) of the
// SMTP session; command handlers live in session_commands.cc.
#include "smtp/session.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace sluice::smtp {

Session::Session(std::shared_ptr<const SessionOptions> options, ClientInfo client)
    : options_(std::move(options)), client_(std::move(client)), line_check_(options_->max_text_line) {}

std::vector<Action> Session::Start() {
  Emit(refusal_.code ? refusal_ : replies::Greeting(options_->hostname));
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
    envelope_.dsn.push_back(std::move(pending_dsn_));
    state_ = State::kRcpt;
    Emit(replies::RecipientOk());
  } else if (r.close_connection) {
    // on_saturation = "close": the hosted service's behaviour, for
    // compatibility tests; the sender retries the whole transaction.
    CloseWith(replies::ForestSaturatedClose());
  } else {
    Reply reply = replies::ForLookup(pending_rcpt_, r);
    if (reply.Transient()) {
      Emit(std::move(reply));
    } else {
      Error(std::move(reply));
    }
  }
  pending_rcpt_.clear();
  pending_dsn_ = {};
  Pump();
  return std::move(out_);
}

std::vector<Action> Session::Resume(const StoreResult& r) {
  if (waiting_ != Waiting::kStore) return {};
  waiting_ = Waiting::kNothing;
  if (r.reply.code != 0) {
    Emit(r.reply);
  } else if (r.status.ok()) {
    Emit(replies::Queued(r.queue_id));
  } else if (r.status.code() == Status::Code::kNoSpace) {
    Emit(replies::StorageFull());
  } else if (r.not_redundant) {
    Emit(replies::NotRedundant());
  } else {
    Emit(replies::StorageError());
  }
  ResetTransaction();
  Pump();
  return std::move(out_);
}

// RFC 3207 §4.2: after TLS starts, the client begins again with EHLO and
// nothing learned before the handshake is trusted.
std::vector<Action> Session::Resume(const TlsResult& r) {
  if (waiting_ != Waiting::kTls) return {};
  waiting_ = Waiting::kNothing;
  if (!r.ok) {
    out_.emplace_back(Close{});
    closed_ = true;
    return std::move(out_);
  }
  tls_ = true;
  state_ = State::kConnected;
  helo_.clear();
  esmtp_ = false;
  ResetTransaction();
  Pump();
  return std::move(out_);
}

std::vector<Action> Session::Resume(const AdmitResult& r) {
  if (waiting_ != Waiting::kAdmit) return {};
  waiting_ = Waiting::kNothing;
  if (r.refusal.code == 0) {
    state_ = State::kMail;
    Emit(replies::SenderOk());
  } else {
    envelope_ = Envelope{};  // a temporary refusal: not counted as a client error
    Emit(r.refusal);
  }
  Pump();
  return std::move(out_);
}

void Session::DropContent(Reply refusal) {
  if (!in_data() || content_refusal_.code != 0) return;
  content_refusal_ = std::move(refusal);
  body_.clear();
  body_.shrink_to_fit();
}

std::vector<Action> Session::Shutdown() {
  if (!closed_) CloseWith(replies::ShuttingDown());
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
  pending_dsn_ = {};
  rcpt_attempts_ = 0;
  declared_size_ = 0;
  chunked_ = false;
  body_.clear();
  line_check_.Reset();
  content_refusal_ = Reply{};
  if (state_ != State::kConnected) state_ = State::kGreeted;
}

void Session::Pump() {
  while (!closed_ && waiting_ == Waiting::kNothing && pos_ < in_.size()) {
    bool progressed = state_ == State::kData    ? PumpData()
                      : state_ == State::kChunk ? PumpChunk()
                                                : PumpCommand();
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

void Session::AppendContent(std::string_view bytes) {
  line_check_.Feed(bytes);
  if (content_refusal_.code != 0) return;
  if (body_.size() + bytes.size() > options_->max_message_size) {
    // Keep reading to the end, but keep nothing.
    content_refusal_ = replies::SizeExceeded();
    body_.clear();
    body_.shrink_to_fit();
    return;
  }
  // Grow the body without doubling past a megabyte, so that what the edge
  // charges to its memory budget is what the message needs: the declared
  // SIZE at once, or half again as it grows.
  const size_t need = body_.size() + bytes.size();
  if (need > body_.capacity()) {
    const size_t have = body_.capacity();
    size_t cap = declared_size_ >= need ? declared_size_ + 64
                 : have >= (size_t{1} << 20) ? have + have / 2
                                              : 2 * have;
    body_.reserve(std::max(need, std::min(cap, options_->max_message_size)));
  }
  body_.append(bytes);
}

// Data lines end at CRLF only. A bare LF or CR is content, never a line end,
// so "\n.\n" and friends cannot end a message early (smuggling).
bool Session::PumpData() {
  while (pos_ < in_.size()) {
    const char* begin = in_.data() + pos_;
    size_t avail = in_.size() - pos_;
    if (at_line_start_ && begin[0] == '.') {
      if (avail < 3) return false;  // need to see whether this is ".\r\n"
      if (begin[1] == '\r' && begin[2] == '\n') {
        pos_ += 3;
        FinishContent();
        return true;
      }
      ++pos_;  // undo dot-stuffing (RFC 5321 §4.5.2): only the first dot
      at_line_start_ = false;
      continue;
    }
    at_line_start_ = false;
    const char* lf = static_cast<const char*>(std::memchr(begin, '\n', avail));
    size_t take;
    if (lf == nullptr) {
      // Keep a trailing CR back: it may be the first half of CRLF.
      take = begin[avail - 1] == '\r' ? avail - 1 : avail;
      if (take == 0) return false;
    } else {
      take = static_cast<size_t>(lf - begin) + 1;
      at_line_start_ = take >= 2 && lf[-1] == '\r';
    }
    AppendContent(std::string_view(begin, take));
    pos_ += take;
    if (lf == nullptr) return false;
  }
  return false;
}

// BDAT chunks are exact octet counts (RFC 3030 §2): no dots, no line ends
// that mean anything. The chunk is always read whole, even when refused.
bool Session::PumpChunk() {
  size_t take = std::min(chunk_left_, in_.size() - pos_);
  if (chunk_refusal_.code == 0) AppendContent(std::string_view(in_.data() + pos_, take));
  pos_ += take;
  chunk_left_ -= take;
  if (chunk_left_ > 0) return false;
  FinishChunk();
  return true;
}

void Session::FinishChunk() {
  state_ = before_chunk_;
  if (chunk_refusal_.code != 0) {
    Reply r = std::move(chunk_refusal_);
    chunk_refusal_ = Reply{};
    Error(std::move(r));
    return;
  }
  if (chunk_last_) {
    FinishContent();
  } else if (content_refusal_.code != 0) {
    Reply r = std::move(content_refusal_);
    ResetTransaction();
    r.code >= 500 ? Error(std::move(r)) : Emit(std::move(r));
  } else {
    Emit(replies::ChunkReceived(body_.size()));
  }
}

void Session::FinishContent() {
  line_check_.Finish();
  Reply refusal = std::move(content_refusal_);
  bool bare = line_check_.bare_line_ending();
  bool long_line = line_check_.long_line();
  if (refusal.code == 0 && bare && options_->bare_line_endings == BareLineEndings::kNormalize) {
    body_ = NormalizeLineEndings(body_);
    LineCheck again(options_->max_text_line);
    again.Feed(body_);
    bare = false;
    long_line = again.long_line();
    // A bare CR or LF grows into CRLF: the limit holds for what is stored.
    if (body_.size() > options_->max_message_size) refusal = replies::SizeExceeded();
  }
  at_line_start_ = true;
  if (refusal.code != 0) {
    // Refused while it arrived (size, memory) or after normalizing.
  } else if (bare) {
    refusal = replies::BareLineEnding();
  } else if (long_line) {
    refusal = replies::TextLineTooLong(options_->max_text_line);
  }
  if (refusal.code != 0) {
    ResetTransaction();
    Emit(std::move(refusal));
    return;
  }
  waiting_ = Waiting::kStore;
  state_ = State::kGreeted;  // until the store answers, no new command runs
  envelope_.tls = tls_;
  StoreMessage store{std::move(envelope_), std::move(body_)};
  envelope_ = Envelope{};
  body_.clear();
  out_.emplace_back(std::move(store));
}

}  // namespace sluice::smtp
