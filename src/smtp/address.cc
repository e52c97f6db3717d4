#include "smtp/address.h"

#include <algorithm>
#include <cctype>

namespace sluice::smtp {
namespace {

constexpr size_t kMaxLocalPart = 64;    // RFC 5321 §4.5.3.1.1
constexpr size_t kMaxDomain = 255;      // RFC 5321 §4.5.3.1.2
constexpr size_t kMaxPath = 256;        // RFC 5321 §4.5.3.1.3

bool IsAtext(unsigned char c) {
  if (std::isalnum(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
    case '+': case '-': case '/': case '=': case '?': case '^': case '_':
    case '`': case '{': case '|': case '}': case '~':
      return true;
    default:
      return false;
  }
}

bool IsLetDig(unsigned char c) { return c < 0x80 && std::isalnum(c); }

bool ValidDotString(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  char prev = 0;
  for (unsigned char c : s) {
    if (c == '.') {
      if (prev == '.') return false;
    } else if (!IsAtext(c)) {
      return false;
    }
    prev = static_cast<char>(c);
  }
  return true;
}

bool ValidQuotedString(std::string_view s) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') return false;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    unsigned char c = s[i];
    if (c == '\\') {
      if (i + 2 >= s.size()) return false;
      unsigned char n = s[++i];
      if (n < 32 || n > 126) return false;
    } else if (c < 32 || c > 126 || c == '"') {
      return false;
    }
  }
  return true;
}

bool ValidHostname(std::string_view d) {
  if (d.empty() || d.size() > kMaxDomain) return false;
  size_t start = 0;
  while (true) {
    size_t dot = d.find('.', start);
    std::string_view label = d.substr(start, dot == std::string_view::npos ? d.npos : dot - start);
    if (label.empty() || label.size() > 63) return false;
    if (!IsLetDig(label.front()) || !IsLetDig(label.back())) return false;
    for (unsigned char c : label) {
      if (!IsLetDig(c) && c != '-') return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool ValidAddressLiteral(std::string_view d) {
  if (d.size() < 3 || d.front() != '[' || d.back() != ']') return false;
  for (size_t i = 1; i + 1 < d.size(); ++i) {
    unsigned char c = d[i];
    if (c < 33 || c > 126 || c == '[' || c == ']' || c == '\\') return false;
  }
  return true;
}

// Finds the '@' that separates local part from domain, skipping a quoted
// local part (which may itself contain '@').
size_t FindAt(std::string_view mailbox) {
  if (!mailbox.empty() && mailbox.front() == '"') {
    for (size_t i = 1; i < mailbox.size(); ++i) {
      if (mailbox[i] == '\\') {
        ++i;
      } else if (mailbox[i] == '"') {
        return i + 1 < mailbox.size() && mailbox[i + 1] == '@' ? i + 1 : std::string_view::npos;
      }
    }
    return std::string_view::npos;
  }
  return mailbox.rfind('@');
}

bool IsParamKeyChar(unsigned char c) { return c < 0x80 && (std::isalnum(c) || c == '-'); }
bool IsParamValueChar(unsigned char c) { return c >= 33 && c <= 126 && c != '='; }

}  // namespace

bool IsValidDomain(std::string_view domain) {
  if (domain.empty()) return false;
  return domain.front() == '[' ? ValidAddressLiteral(domain) : ValidHostname(domain);
}

bool IsValidMailbox(std::string_view mailbox) {
  size_t at = FindAt(mailbox);
  if (at == std::string_view::npos || at == 0) return false;
  std::string_view local = mailbox.substr(0, at);
  std::string_view domain = mailbox.substr(at + 1);
  if (local.size() > kMaxLocalPart || domain.empty()) return false;
  bool local_ok = local.front() == '"' ? ValidQuotedString(local) : ValidDotString(local);
  return local_ok && IsValidDomain(domain);
}

std::string CanonicalAddress(std::string_view mailbox) {
  std::string out(mailbox);
  size_t at = FindAt(mailbox);
  if (at == std::string_view::npos) return out;
  std::transform(out.begin() + static_cast<std::ptrdiff_t>(at), out.end(), out.begin() + static_cast<std::ptrdiff_t>(at),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::variant<PathArgument, SyntaxError> ParsePathArgument(std::string_view arg,
                                                          std::string_view keyword,
                                                          bool allow_null,
                                                          SyntaxError on_bad_path) {
  // keyword and ':' are case-insensitive; some clients put a space after ':'.
  if (arg.size() < keyword.size() + 1) return SyntaxError::kMissingArgument;
  for (size_t i = 0; i < keyword.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(arg[i])) != keyword[i]) {
      return SyntaxError::kMissingArgument;
    }
  }
  if (arg[keyword.size()] != ':') return SyntaxError::kMissingArgument;
  std::string_view rest = arg.substr(keyword.size() + 1);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (rest.empty() || rest.front() != '<') return on_bad_path;

  // The path ends at the first '>' outside a quoted local part.
  size_t close = std::string_view::npos;
  bool quoted = false;
  for (size_t i = 1; i < rest.size(); ++i) {
    char c = rest[i];
    if (quoted && c == '\\') {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == '>' && !quoted) {
      close = i;
      break;
    }
  }
  if (close == std::string_view::npos || close + 1 > kMaxPath) return on_bad_path;
  std::string_view path = rest.substr(1, close - 1);
  if (!path.empty() && path.front() == '@') {  // source route: drop it
    size_t colon = path.find(':');
    if (colon == std::string_view::npos) return on_bad_path;
    path.remove_prefix(colon + 1);
  }

  PathArgument out;
  if (path.empty()) {
    if (!allow_null) return on_bad_path;
  } else {
    if (!IsValidMailbox(path)) return on_bad_path;
    out.address = std::string(path);
  }

  std::string_view params = rest.substr(close + 1);
  if (!params.empty() && params.front() != ' ') return on_bad_path;
  while (!params.empty()) {
    while (!params.empty() && params.front() == ' ') params.remove_prefix(1);
    if (params.empty()) break;
    size_t end = params.find(' ');
    std::string_view token = params.substr(0, end);
    params = end == std::string_view::npos ? std::string_view() : params.substr(end);
    size_t eq = token.find('=');
    std::string_view key = token.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : token.substr(eq + 1);
    if (key.empty() || !std::all_of(key.begin(), key.end(), IsParamKeyChar)) {
      return SyntaxError::kBadParameter;
    }
    if (eq != std::string_view::npos &&
        (value.empty() || !std::all_of(value.begin(), value.end(), IsParamValueChar))) {
      return SyntaxError::kBadParameter;
    }
    std::string k(key);
    for (char& c : k) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    out.params.emplace_back(std::move(k), std::string(value));
  }
  return out;
}

}  // namespace sluice::smtp
