// Message content on its way out (RFC 5321 §4.5.2).
#pragma once

#include <string>
#include <string_view>

namespace sluice::mail {

// The DATA payload: dot-stuffed, every line ended by CRLF, then ".\r\n".
// A bare CR or LF anywhere becomes CRLF, so that nothing but a real line
// end can end a line on the wire — a stored message (a DSN quoting a
// peer, an original from before the edge checked) can never smuggle a
// "<CR>.<CR><LF>" and commands after it to a next hop.
std::string DotStuff(std::string_view content);

// True when `content` needs no change to go out: every line ends in CRLF,
// no bare CR or LF, no line starts with a dot. Such content is sent as it
// is, followed by ".\r\n", without a copy (what the edge stores almost
// always is). One pass, no allocation.
bool SendsAsIs(std::string_view content);

}  // namespace sluice::mail
