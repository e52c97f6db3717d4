// Parsers for the arguments of MAIL and RCPT (RFC 5321 §4.1.2), pure and
// allocation-light. Also fuzzed on their own.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "smtp/reply.h"

namespace sluice::smtp {

struct PathArgument {
  std::string address;  // the mailbox without angle brackets; empty for <>
  std::vector<std::pair<std::string, std::string>> params;  // keys upper-cased
};

// Parses `FROM:<path> [params]` (keyword "FROM") or `TO:<path> [params]`.
// A null path <> is accepted only when allow_null. Source routes
// (<@a,@b:user@c>) are accepted and dropped, as RFC 5321 §4.1.2 asks.
std::variant<PathArgument, SyntaxError> ParsePathArgument(std::string_view arg,
                                                          std::string_view keyword,
                                                          bool allow_null,
                                                          SyntaxError on_bad_path,
                                                          bool utf8 = false);

// True when `mailbox` is local-part@domain by RFC 5321 §4.1.2; with utf8,
// by RFC 6531 §3.3 (UTF-8 allowed in local part and domain labels).
bool IsValidMailbox(std::string_view mailbox, bool utf8 = false);

// True for a domain name or an address literal as in EHLO.
bool IsValidDomain(std::string_view domain, bool utf8 = false);

// The domain of an address after its last '@', lower-cased (ASCII); empty
// without one. How the directory and MX routing key a recipient's domain.
std::string DomainOf(std::string_view address);

// True when `s` is well-formed UTF-8 (no overlongs, surrogates, or > U+10FFFF).
bool IsValidUtf8(std::string_view s);

// xtext (RFC 3461 §4): printable ASCII except '+' and '=', with "+XX" hex escapes.
bool IsValidXtext(std::string_view s);
// Undoes the "+XX" escapes of valid xtext (for DSN reports).
std::string DecodeXtext(std::string_view s);

// The address with its domain lower-cased: the form the directory stores.
std::string CanonicalAddress(std::string_view mailbox);

}  // namespace sluice::smtp
