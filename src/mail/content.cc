#include "mail/content.h"

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
  if (content.size() < 2 || content.substr(content.size() - 2) != "\r\n") return false;
  bool line_start = true;
  for (size_t i = 0; i < content.size(); ++i) {
    const char c = content[i];
    if (line_start && c == '.') return false;
    line_start = false;
    if (c == '\r') {
      if (i + 1 >= content.size() || content[i + 1] != '\n') return false;
      ++i;
      line_start = true;
    } else if (c == '\n') {
      return false;  // bare LF
    }
  }
  return true;
}

}  // namespace sluice::mail
