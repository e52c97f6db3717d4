#include "mail/reply_line.h"

#include <fmt/format.h>

#include "mail/ascii.h"
#include "mail/text.h"

namespace sluice::mail {
namespace {

// Up to three digits: returns how many, 0 when none.
size_t Digits(std::string_view s, size_t from) {
  size_t n = 0;
  while (from + n < s.size() && n < 3 && IsDigit(s[from + n])) ++n;
  return n;
}

}  // namespace

std::string_view EnhancedCodeOf(std::string_view text) {
  if (text.size() < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.') return {};
  size_t a = Digits(text, 2);
  if (a == 0 || 2 + a >= text.size() || text[2 + a] != '.') return {};
  size_t b = Digits(text, 3 + a);
  if (b == 0) return {};
  const size_t end = 3 + a + b;
  if (end < text.size() && text[end] != ' ') return {};
  return text.substr(0, end);
}

ReplyLine ParseReplyLine(std::string_view line) {
  ReplyLine r;
  if (line.size() < 3 || !IsDigit(line[0]) || !IsDigit(line[1]) || !IsDigit(line[2]) || line[0] < '2' ||
      line[0] > '5' || (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
    return r;
  }
  r.code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  r.last = line.size() == 3 || line[3] == ' ';
  std::string_view rest = line.size() > 4 ? line.substr(4) : std::string_view();
  r.enhanced = EnhancedCodeOf(rest);
  // The enhanced code's class must be the reply's (RFC 3463 §2); a peer
  // that says "250 5.1.1" gets no enhanced code believed.
  if (!r.enhanced.empty() && r.enhanced[0] != line[0]) r.enhanced = {};
  r.text = rest.substr(std::min(rest.size(), r.enhanced.size() + (r.enhanced.empty() ? 0 : 1)));
  return r;
}

ReplyReader::State ReplyReader::Add(std::string_view line) {
  if (state_ != State::kMore) return state_;
  bytes_ += line.size() + 2;
  if (lines_.size() >= limits_.max_lines || bytes_ > limits_.max_bytes) {
    error_ = fmt::format("reply too long (over {} lines or {} bytes)", limits_.max_lines, limits_.max_bytes);
    return state_ = State::kTooLong;
  }
  ReplyLine l = ParseReplyLine(line);
  // Every line of a reply carries the same code (RFC 5321 §4.2.1).
  if (l.code == 0 || (code_ != 0 && l.code != code_)) {
    error_ = "malformed reply: " + SafeText(line, 80);
    return state_ = State::kMalformed;
  }
  code_ = l.code;
  std::string after = SafeText(line.size() > 4 ? line.substr(4) : std::string_view(), limits_.max_bytes);
  text_ += text_.empty() ? SafeText(line.substr(0, 3)) + (after.empty() ? "" : " " + after) : " " + after;
  lines_.push_back(std::move(after));
  return state_ = l.last ? State::kDone : State::kMore;
}

}  // namespace sluice::mail
