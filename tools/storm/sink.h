// The storm's mailbox store and next hop: an LMTP (or SMTP) server that
// accepts everything Sluice delivers and records each message's storm id,
// so the report can prove what became of every message. It can be told to
// answer with a 421, as a downstream in trouble does: at the greeting of a
// new connection, and on open sessions at MAIL, RCPT and the final dot.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <string>

#include "ledger.h"

namespace storm {

class Sink {
 public:
  Sink(boost::asio::io_context& io, Ledger& ledger, bool lmtp);
  uint16_t Listen(uint16_t port = 0);  // on 127.0.0.1; 0: a free port
  // Non-empty: answer with this reply and close — new connections at the
  // greeting, open ones at their next MAIL, RCPT or final dot (that message
  // is not stored).
  void SetBusy(std::string reply) { busy_ = std::move(reply); }
  // A store that takes this long to answer each message (mail queues up).
  void SetDelay(double seconds) { delay_ = seconds; }

 private:
  boost::asio::awaitable<void> Serve(boost::asio::ip::tcp::socket socket);
  boost::asio::io_context& io_;
  Ledger& ledger_;
  bool lmtp_;
  std::string busy_;
  double delay_ = 0;
  boost::asio::ip::tcp::acceptor acceptor_;
};

}  // namespace storm
