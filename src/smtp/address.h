// The arguments of MAIL and RCPT (RFC 5321 §4.1.2): path and parameters,
// pure and allocation-light; the mailbox rules themselves are mail/address.h.
// Also fuzzed on their own.
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

}  // namespace sluice::smtp
