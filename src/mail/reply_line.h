// SMTP reply lines (RFC 5321 §4.2) with their enhanced status codes
// (RFC 3463), parsed in one place for everyone who reads a reply: delivery
// reading a next hop, the edge counting its own replies, the storm. And a
// reader that bounds what a peer may send as one reply: a next hop that
// answers with an endless continuation is cut off, not buffered.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::mail {

struct ReplyLine {
  int code = 0;               // 0: not a reply line
  bool last = true;           // "250 " rather than "250-"
  std::string_view enhanced;  // "4.3.2", or empty
  std::string_view text;      // after the code and the enhanced code
};

// One line, without its CRLF. Cheap: no allocation.
ReplyLine ParseReplyLine(std::string_view line);

// The enhanced status code at the start of `text` ("4.3.2 The maximum …"),
// or empty: class 2, 4 or 5, then two numbers of up to three digits.
std::string_view EnhancedCodeOf(std::string_view text);

struct ReplyLimits {
  size_t max_lines = 100;          // a multiline EHLO answer has a dozen
  size_t max_bytes = 64 * 1024;    // all lines together
};

// Collects the lines of one reply as they arrive. Add() until it says
// kDone (or a failure); then code(), text() and lines() describe it. Text
// from the peer is made safe (mail/text.h) as it is taken in.
class ReplyReader {
 public:
  enum class State { kMore, kDone, kMalformed, kTooLong };
  explicit ReplyReader(ReplyLimits limits = {}) : limits_(limits) {}

  State Add(std::string_view line);

  int code() const { return code_; }
  // All lines joined by a space, starting with the code: "421 4.3.2 Busy".
  const std::string& text() const { return text_; }
  // Each line's text after the code, for EHLO keywords.
  const std::vector<std::string>& lines() const { return lines_; }
  // Why it failed, for the outcome's reply text.
  const std::string& error() const { return error_; }

 private:
  ReplyLimits limits_;
  int code_ = 0;
  size_t bytes_ = 0;
  std::string text_;
  std::vector<std::string> lines_;
  std::string error_;
  State state_ = State::kMore;
};

}  // namespace sluice::mail
