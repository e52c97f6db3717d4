#include "smtp/line_check.h"

namespace sluice::smtp {

void LineCheck::Feed(std::string_view bytes) {
  for (char c : bytes) {
    if (c == '\n') {
      if (!prev_cr_) {
        bare_ = true;
        ++line_len_;  // a bare LF does not end a line
      } else {
        line_len_ = 0;
      }
      prev_cr_ = false;
      continue;
    }
    if (prev_cr_) {  // the previous CR was not followed by LF
      bare_ = true;
      ++line_len_;
    }
    prev_cr_ = c == '\r';
    if (!prev_cr_ && ++line_len_ > max_) long_ = true;
  }
}

void LineCheck::Finish() {
  if (prev_cr_) bare_ = true;
  prev_cr_ = false;
}

void LineCheck::Reset() {
  prev_cr_ = false;
  line_len_ = 0;
  bare_ = long_ = false;
}

std::string NormalizeLineEndings(std::string_view in) {
  std::string out;
  out.reserve(in.size() + in.size() / 32);
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '\r') {
      out += "\r\n";
      if (i + 1 < in.size() && in[i + 1] == '\n') ++i;
    } else if (c == '\n') {
      out += "\r\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace sluice::smtp
