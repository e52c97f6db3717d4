// Checks message content as it arrives, in pieces of any size: bare CR or
// LF (the SMTP smuggling family, CVE-2023-51764) and lines over the RFC 5321
// §4.5.3.1.6 limit. Shared by DATA and BDAT so both apply the same rules.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sluice::smtp {

class LineCheck {
 public:
  explicit LineCheck(size_t max_line_with_crlf = 1000) : max_(max_line_with_crlf - 2) {}

  // Cheap: one pass, no allocation.
  void Feed(std::string_view bytes);
  // Call at the end of the content: a CR at the very end is bare.
  void Finish();
  void Reset();

  bool bare_line_ending() const { return bare_; }
  bool long_line() const { return long_; }

 private:
  size_t max_;  // octets of text, CRLF excluded
  bool prev_cr_ = false;
  size_t line_len_ = 0;
  bool bare_ = false;
  bool long_ = false;
};

// Rewrites every bare CR and bare LF as CRLF: the "normalize" policy.
std::string NormalizeLineEndings(std::string_view in);

}  // namespace sluice::smtp
