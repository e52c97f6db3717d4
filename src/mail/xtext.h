// xtext (RFC 3461 §4), the encoding of the DSN parameters ENVID and ORCPT:
// printable ASCII except '+' and '=', with "+XX" hex escapes. What it
// decodes to ends up in DSN headers, so a value that decodes to a control
// character (CR, LF: header injection) is refused at the edge.
#pragma once

#include <string>
#include <string_view>

namespace sluice::mail {

bool IsValidXtext(std::string_view s);
// Valid, and its decoded value has no control character.
bool IsSafeXtext(std::string_view s);
// Undoes the "+XX" escapes of valid xtext.
std::string DecodeXtext(std::string_view s);

}  // namespace sluice::mail
