#include "mail/address.h"

#include <arpa/inet.h>

#include <algorithm>

#include "mail/ascii.h"
#include "mail/text.h"

namespace sluice::mail {
namespace {

// RFC 6531 §3.3: with SMTPUTF8, UTF-8 sequences may appear where ASCII
// letters can (atext, quoted text, and labels of a domain). Well-formedness
// of the UTF-8 is checked once for the whole mailbox.
bool IsAtext(unsigned char c, bool utf8) {
  if (c >= 0x80) return utf8;
  if (IsAlnum(static_cast<char>(c))) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
    case '+': case '-': case '/': case '=': case '?': case '^': case '_':
    case '`': case '{': case '|': case '}': case '~':
      return true;
    default:
      return false;
  }
}

bool IsLetDig(unsigned char c, bool utf8) { return c < 0x80 ? IsAlnum(static_cast<char>(c)) != 0 : utf8; }

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

}  // namespace

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



bool IsValidHeloName(std::string_view name) {
  if (name.empty() || name.size() > kMaxDomain) return false;
  if (name.front() == '[') {
    if (name.size() < 3 || name.back() != ']') return false;
    std::string inside(name.substr(1, name.size() - 2));
    unsigned char buf[16];
    if (StartsWithNoCase(inside, "IPv6:")) return inet_pton(AF_INET6, inside.c_str() + 5, buf) == 1;
    return inet_pton(AF_INET, inside.c_str(), buf) == 1;
  }
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    std::string_view label = name.substr(start, dot == std::string_view::npos ? name.npos : dot - start);
    if (label.empty() || label.size() > 63) return false;
    for (char c : label) {
      if (!IsAlnum(c) && c != '-' && c != '_') return false;
    }
    if (dot == std::string_view::npos) return true;
    if (dot + 1 == name.size()) return true;  // a trailing dot, as in DNS
    start = dot + 1;
  }
}

bool IsValidDomain(std::string_view domain, bool utf8) {
  if (domain.empty()) return false;
  return domain.front() == '[' ? ValidAddressLiteral(domain) : ValidHostname(domain, utf8);
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
  LowerInPlace(d);
  return d;
}

std::string CanonicalAddress(std::string_view mailbox) {
  std::string out(mailbox);
  size_t at = FindAt(mailbox);
  if (at == std::string_view::npos) return out;
  std::transform(out.begin() + static_cast<std::ptrdiff_t>(at), out.end(), out.begin() + static_cast<std::ptrdiff_t>(at),
                 ToLower);
  return out;
}

}  // namespace sluice::mail
