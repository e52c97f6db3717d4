#include "delivery/commands.h"

#include <fmt/format.h>

namespace sluice::delivery {

Commands TransactionCommands(const Envelope& e, const std::vector<size_t>& recipients, const Offered& offered,
                             bool lmtp) {
  Commands c;
  c.mail = fmt::format("MAIL FROM:<{}>", e.sender);
  if (e.body_8bit && offered.eightbit) c.mail += " BODY=8BITMIME";
  if (e.smtputf8) c.mail += " SMTPUTF8";
  // DSN requests travel on when the next hop can honour them (RFC 3461 §4).
  if (offered.dsn && !e.dsn_ret.empty()) c.mail += " RET=" + e.dsn_ret;
  if (offered.dsn && !e.dsn_envid.empty()) c.mail += " ENVID=" + e.dsn_envid;
  c.mail += "\r\n";
  c.rcpts.reserve(recipients.size());
  for (size_t i : recipients) {
    const RecipientRoute& route = e.routes[i];
    const std::string& to = lmtp && !route.mailbox.empty() ? route.mailbox : route.address;
    std::string line = fmt::format("RCPT TO:<{}>", to);
    if (offered.dsn && i < e.dsn.size()) {
      if (!e.dsn[i].notify.empty()) line += " NOTIFY=" + e.dsn[i].notify;
      if (!e.dsn[i].orcpt.empty()) line += " ORCPT=" + e.dsn[i].orcpt;
    }
    c.rcpts.push_back(line + "\r\n");
  }
  return c;
}

}  // namespace sluice::delivery
