#include "mail/content.h"

#include <algorithm>
#include <cstring>

namespace sluice::mail {

std::string DotStuff(std::string_view content) {
  std::string out;
  out.reserve(content.size() + content.size() / 64 + 8);
  bool line_start = true;
  for (size_t i = 0; i < content.size(); ++i) {
    const char c = content[i];
    if (c == '\r' || c == '\n') {
      out += "\r\n";
      if (c == '\r' && i + 1 < content.size() && content[i + 1] == '\n') ++i;
      line_start = true;
      continue;
    }
    if (line_start && c == '.') out.push_back('.');
    out.push_back(c);
    line_start = false;
  }
  if (!line_start) out += "\r\n";
  out += ".\r\n";
  return out;
}

bool SendsAsIs(std::string_view content) {
  if (content.empty()) return true;
  if (content.size() < 2 || content.substr(content.size() - 2) != "\r\n" || content[0] == '.') return false;
  // Every LF has a CR before it and no dot after it; then no CR may stand
  // alone, which holds when there are exactly as many CRs as LFs. memchr
  // and count run a word (or a vector) at a time: this runs per delivery.
  size_t lfs = 0;
  for (const char* p = content.data(), *end = p + content.size();;) {
    const char* lf = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    if (lf == nullptr) break;
    if (lf == content.data() || lf[-1] != '\r') return false;
    if (lf + 1 < end && lf[1] == '.') return false;
    ++lfs;
    p = lf + 1;
  }
  return static_cast<size_t>(std::count(content.begin(), content.end(), '\r')) == lfs;
}

}  // namespace sluice::mail
