// The storm's content filter: a milter server (protocol version 6, as a
// filter answers Sluice's milter client) that accepts every message, so a
// scenario can route tenants through a filter and then stall it — a
// `filter_stall` event makes it stop answering, at whatever stage each
// exchange is, as a SIGSTOPped rspamd does, until the stall ends.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>

#include "ledger.h"

namespace storm {

class Milter {
 public:
  Milter(boost::asio::io_context& io, Ledger& ledger);
  uint16_t Listen();  // on 127.0.0.1, a free port
  void SetStalled(bool on) { stalled_ = on; }

 private:
  boost::asio::awaitable<void> Serve(boost::asio::ip::tcp::socket socket);
  boost::asio::io_context& io_;
  Ledger& ledger_;
  bool stalled_ = false;
  boost::asio::ip::tcp::acceptor acceptor_;
};

}  // namespace storm
