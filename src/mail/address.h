// Mailboxes and domains (RFC 5321 §4.1.2, with RFC 6531 for UTF-8): the
// vocabulary every stage shares — the edge parses paths with it, the
// directory keys recipients by it, delivery routes by domain. Pure.
#pragma once

#include <string>
#include <string_view>

namespace sluice::mail {

inline constexpr size_t kMaxLocalPart = 64;  // RFC 5321 §4.5.3.1.1
inline constexpr size_t kMaxDomain = 255;    // RFC 5321 §4.5.3.1.2
inline constexpr size_t kMaxPath = 256;      // RFC 5321 §4.5.3.1.3

// True when `mailbox` is local-part@domain by RFC 5321 §4.1.2; with utf8,
// by RFC 6531 §3.3 (UTF-8 allowed in local part and domain labels).
bool IsValidMailbox(std::string_view mailbox, bool utf8 = false);

// True for a domain name or an address literal as in EHLO.
bool IsValidDomain(std::string_view domain, bool utf8 = false);

// The argument of HELO/EHLO (RFC 5321 §4.1.1.1): a host name — letters,
// digits, '-' and, as clients in the wild use it, '_' — or an address
// literal, [192.0.2.1] or [IPv6:2001:db8::1]. Nothing that could forge
// structure in a Received: header (space, TAB, parentheses, controls).
bool IsValidHeloName(std::string_view name);

// The position of the '@' between local part and domain (a quoted local
// part may hold '@' itself); npos without one.
size_t FindAt(std::string_view mailbox);

// The domain of an address after its last '@', lower-cased (ASCII); empty
// without one. How the directory and MX routing key a recipient's domain.
std::string DomainOf(std::string_view address);

// The address with its domain lower-cased: the form the directory stores.
std::string CanonicalAddress(std::string_view mailbox);

}  // namespace sluice::mail
