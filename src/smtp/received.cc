#include "smtp/received.h"

#include "mail/date.h"

#include <fmt/format.h>


namespace sluice::smtp {


std::string ReceivedHeader(const Envelope& e, std::string_view by_host, std::string_view queue_id,
                           int64_t unix_time) {
  // "for" names the recipient only when there is exactly one, so a trace
  // header never discloses the other recipients of a message.
  std::string for_clause =
      e.rcpt_to.size() == 1 ? fmt::format("\r\n\tfor <{}>", e.rcpt_to.front()) : std::string();
  // Protocol names from RFC 3848 and RFC 6531 §4.3.
  std::string proto = e.smtputf8 ? "UTF8SMTP" : e.esmtp ? "ESMTP" : "SMTP";
  if (e.tls) proto += "S";
  // The connector goes in a comment after the client (RFC 5321 §4.4
  // allows CFWS before "by").
  std::string connector = e.connector.empty() ? std::string() : " (connector " + e.connector + ")";
  return fmt::format("Received: from {} ([{}]){}\r\n\tby {} (Sluice) with {} id {}{};\r\n\t{}\r\n",
                     e.helo, e.client_address, connector, by_host, proto, queue_id, for_clause,
                     mail::Rfc5322Date(unix_time));
}

}  // namespace sluice::smtp
