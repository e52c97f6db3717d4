// Every reply the edge sends, in one place (doc/design.md, convention 15): the code, the
// enhanced status code (RFC 3463) and the text an operator will grep for.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "directory/lookup.h"

namespace sluice::smtp {

struct Reply {
  int code = 0;
  std::string enhanced;  // "2.1.5" (RFC 3463), empty for replies without one
  std::string text;      // the whole reply on the wire, CRLF-terminated lines

  bool Transient() const { return code >= 400 && code < 500; }
};

// One line: "<code> <enhanced> <text>\r\n". `enhanced` may be empty.
Reply MakeReply(int code, std::string_view enhanced, std::string_view text);
// A multiline reply: "<code>-line\r\n ... <code> last\r\n".
Reply MakeMultiline(int code, const std::vector<std::string>& lines);

// Why a command could not be parsed (doc/design.md, convention 4).
enum class SyntaxError {
  kBadSender,         // 501 5.1.7
  kBadRecipient,      // 501 5.1.3
  kBadParameter,      // 501 5.5.4
  kUnknownParameter,  // 555 5.5.4
  kMissingArgument,   // 501 5.5.4
  kUnexpectedArgument,// 501 5.5.4
  kLineTooLong,       // 500 5.5.2
  kBareLf,            // 500 5.5.2
  kBadCharacter,      // 500 5.5.2
  kUnknownCommand,    // 500 5.5.2
  kBadHelo,           // 501 5.5.2: not a host name or address literal
};
Reply ToReply(SyntaxError e);

namespace replies {
Reply Greeting(std::string_view hostname);
Reply Ok();                       // 250 2.0.0
Reply SenderOk();                 // 250 2.1.0
Reply RecipientOk();              // 250 2.1.5
Reply Queued(std::string_view queue_id);
Reply StartData();                // 354
Reply Bye();                      // 221 2.0.0
Reply Help(std::string_view verbs);  // 214 2.0.0 with the commands this session takes
Reply HeloOk(std::string_view hostname);  // 250 (HELO: no enhanced code)
Reply ChunkReceived(size_t octets);       // 250 2.0.0 after a BDAT chunk
Reply DataAfterBdat();            // 503 5.5.1
Reply TlsActive();                // 503 5.5.1
Reply TlsInTransaction();         // 503 5.5.1
Reply ReadyForTls();              // 220 2.0.0
Reply CannotVrfy();               // 252 2.5.0
Reply NotImplemented(std::string_view verb);  // 502 5.5.1
Reply NeedHelo();                 // 503 5.5.1
Reply NestedMail();               // 503 5.5.1
Reply NeedMail();                 // 503 5.5.1
Reply NeedRcpt();                 // 503 5.5.1
Reply NoValidRecipients();        // 554 5.5.1
Reply TooManyRecipients();        // 452 4.5.3
Reply SizeExceeded();             // 552 5.3.4
Reply TooManyErrors();            // 421 4.7.0
Reply CommandTimeout();           // 421 4.4.2
Reply TooManyConnections();       // 421 4.7.0
Reply ShuttingDown();             // 421 4.3.2
Reply BareLineEnding();           // 550 5.6.0
Reply TextLineTooLong(size_t max_line);  // 554 5.6.0, naming the limit in force
Reply StorageFull();              // 452 4.3.1: the spool is short of space
Reply BufferFull();               // 452 4.3.1: no memory for this message's content now
Reply SessionTimeLimit();         // 421 4.4.2: the whole session took too long
Reply NoDescriptors();            // 421 4.3.2: out of file descriptors
Reply StorageError();             // 451 4.3.0
Reply NotRedundant();             // 451 4.4.0: shadow "required" and no peer took a copy
Reply Blocked();                  // 554 5.7.1: the greeting to a client on the global block list
Reply NoService();                // 503 5.7.1: after that greeting, to everything but QUIT
Reply ConnectionRateLimited();    // 421 4.7.0: the greeting over [rate_limits] client_connections_*
Reply RecipientRateLimited();     // 451 4.7.1: a RCPT over [rate_limits] client_recipients_*
Reply Draining();                 // 451 4.3.2: `sluicectl node drain`; the retry finds another node
Reply ClientRateLimited();        // 451 4.7.1: this client address is over its message rate
Reply TlsRequired();              // 530 5.7.0
// 550 5.7.1: `domain` is restricted to its tenant's connectors ([connectors]).
Reply SenderNeedsConnector(std::string_view domain);
Reply ContentRejected();          // 554 5.7.1: a content filter refused the message
Reply ContentNotScanned();        // 451 4.7.1: a content filter could not scan it now
// A content filter's own reply ("554 5.7.1 Spam", multi-line with CRLF):
// kept if it is a reply of the class expected (5 for a reject, 4 for a
// tempfail), else the default above.
Reply FromFilter(std::string_view text, bool reject);
Reply ForestSaturatedClose();     // 421 4.3.2, as the hosted service said it
Reply NeedsSmtpUtf8();            // 553 5.6.7
// The answer to a recipient lookup that did not say yes.
Reply ForLookup(std::string_view address, const directory::LookupResult& r);
}  // namespace replies

}  // namespace sluice::smtp
