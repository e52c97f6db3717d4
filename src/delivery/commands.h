// The command lines of one outbound transaction, from the envelope and what
// the next hop's EHLO/LHLO offered. Pure: the SMTP client sends them, a
// unit test reads them.
#pragma once

#include <string>
#include <vector>

#include "delivery/delivery.h"

namespace sluice::delivery {

// What the next hop offered that changes the commands.
struct Offered {
  bool eightbit = false;  // 8BITMIME
  bool utf8 = false;      // SMTPUTF8
  bool dsn = false;       // DSN (RFC 3461): NOTIFY, ORCPT, RET, ENVID travel on
};

struct Commands {
  std::string mail;                // "MAIL FROM:<...> ...\r\n"
  std::vector<std::string> rcpts;  // one per job recipient, in job order
};

// LMTP names a recipient by its mailbox when the directory gave one.
Commands TransactionCommands(const Envelope& e, const std::vector<size_t>& recipients, const Offered& offered,
                             bool lmtp);

}  // namespace sluice::delivery
