#include "smtp/address.h"

#include <algorithm>
#include <cctype>

namespace sluice::smtp {
namespace {

constexpr size_t kMaxLocalPart = 64;    // RFC 5321 §4.5.3.1.1
constexpr size_t kMaxDomain = 255;      // RFC 5321 §4.5.3.1.2
constexpr size_t kMaxPath = 256;        // RFC 5321 §4.5.3.1.3

// RFC 6531 §3.3: with SMTPUTF8, UTF-8 sequences may appear where ASCII
// letters can (atext, quoted text, and labels of a domain). Well-formedness
// of the UTF-8 is checked once for the whole mailbox.
bool IsAtext(unsigned char c, bool utf8) {
  if (c >= 0x80) return utf8;
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

bool IsLetDig(unsigned char c, bool utf8) { return c < 0x80 ? std::isalnum(c) != 0 : utf8; }

bool ValidDotString(std::string_view s, bool utf8) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  char prev = 0;
  for (unsigned char c : s) {
    if (c == '.') {
      if (prev == '.') return false;
    } else if (!IsAtext(c, utf8)) {
      return false;
    }
    prev = static_cast<char>(c);
  }
  return true;
}

bool ValidQuotedString(std::string_view s, bool utf8) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') return false;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    unsigned char c = s[i];
    if (c == '\\') {
      if (i + 2 >= s.size()) return false;
      unsigned char n = s[++i];
      if (n < 32 || n > 126) return false;
    } else if (c < 32 || c == 127 || c == '"' || (c > 127 && !utf8)) {
      return false;
    }
  }
  return true;
}

bool ValidHostname(std::string_view d, bool utf8) {
  if (d.empty() || d.size() > kMaxDomain) return false;
  size_t start = 0;
  while (true) {
    size_t dot = d.find('.', start);
    std::string_view label = d.substr(start, dot == std::string_view::npos ? d.npos : dot - start);
    if (label.empty() || label.size() > 63) return false;
    if (!IsLetDig(label.front(), utf8) || !IsLetDig(label.back(), utf8)) return false;
    for (unsigned char c : label) {
      if (!IsLetDig(c, utf8) && c != '-') return false;
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

bool IsValidDomain(std::string_view domain, bool utf8) {
  if (domain.empty()) return false;
  return domain.front() == '[' ? ValidAddressLiteral(domain) : ValidHostname(domain, utf8);
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t extra;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      extra = 1, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2, cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= extra; ++k) {
      auto n = static_cast<unsigned char>(s[i + k]);
      if ((n & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (n & 0x3F);
    }
    // No overlong forms, surrogates or code points past U+10FFFF.
    if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

bool IsValidMailbox(std::string_view mailbox, bool utf8) {
  if (utf8 && !IsValidUtf8(mailbox)) return false;
  size_t at = FindAt(mailbox);
  if (at == std::string_view::npos || at == 0) return false;
  std::string_view local = mailbox.substr(0, at);
  std::string_view domain = mailbox.substr(at + 1);
  if (local.size() > kMaxLocalPart || domain.empty()) return false;
  bool local_ok = local.front() == '"' ? ValidQuotedString(local, utf8) : ValidDotString(local, utf8);
  return local_ok && IsValidDomain(domain, utf8);
}

std::string DomainOf(std::string_view address) {
  size_t at = address.rfind('@');
  std::string d = at == std::string_view::npos ? std::string() : std::string(address.substr(at + 1));
  for (char& c : d) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return d;
}

std::string DecodeXtext(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    auto hex = [](char h) { return h >= '0' && h <= '9' ? h - '0' : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1; };
    if (s[i] == '+' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

bool IsValidXtext(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '+') {
      if (i + 2 >= s.size()) return false;
      for (size_t k = 1; k <= 2; ++k) {
        char h = s[i + k];
        if (!((h >= '0' && h <= '9') || (h >= 'A' && h <= 'F'))) return false;
      }
      i += 2;
    } else if (c < 33 || c > 126 || c == '=') {
      return false;
    }
  }
  return true;
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
                                                          SyntaxError on_bad_path, bool utf8) {
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
    if (!IsValidMailbox(path, utf8)) return on_bad_path;
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
