#include "smtp/received.h"

#include <fmt/format.h>

#include <ctime>

namespace sluice::smtp {

std::string Rfc5322Date(int64_t unix_time) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t t = static_cast<std::time_t>(unix_time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{}, {:02} {} {} {:02}:{:02}:{:02} +0000", kDays[tm.tm_wday], tm.tm_mday,
                     kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string ReceivedHeader(const Envelope& e, std::string_view by_host, std::string_view queue_id,
                           int64_t unix_time) {
  // "for" names the recipient only when there is exactly one, so a trace
  // header never discloses the other recipients of a message.
  std::string for_clause =
      e.rcpt_to.size() == 1 ? fmt::format("\r\n\tfor <{}>", e.rcpt_to.front()) : std::string();
  // Protocol names from RFC 3848 and RFC 6531 §4.3.
  std::string proto = e.smtputf8 ? "UTF8SMTP" : e.esmtp ? "ESMTP" : "SMTP";
  if (e.tls) proto += "S";
  return fmt::format("Received: from {} ([{}])\r\n\tby {} (Sluice) with {} id {}{};\r\n\t{}\r\n",
                     e.helo, e.client_address, by_host, proto, queue_id, for_clause,
                     Rfc5322Date(unix_time));
}

}  // namespace sluice::smtp
