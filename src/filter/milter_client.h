// One milter exchange over TCP (doc/protection.md, "Content filters"):
// connect, negotiate protocol version 6, replay the transaction the edge
// has just received (connect, HELO, MAIL, RCPT, DATA, headers, body) and
// collect the filter's verdict and edits at end of message. The edge calls
// it after the final dot, while the sender waits for its reply, so a
// reject is a reply in the session and never a bounce.
//
// Every read and write has a deadline (`command`), the connection has its
// own (`connect`), and the whole exchange ends at `content`, whatever the
// filter trickles. Every byte from the filter is checked
// (filter/milter_protocol.h); anything unexpected is an error, never a
// verdict.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sluice::filter {

// What the filter is told about one transaction. Shared, read-only.
struct ScanInput {
  std::string hostname;        // this node: macro `j`
  std::string client_address;  // {client_addr}; "" when unknown
  uint16_t client_port = 0;
  std::string helo;
  std::string sender;                   // without brackets; "" for <>
  std::vector<std::string> recipients;  // as given in RCPT TO
  std::string scan_id;                  // macro `i`: names the scan in both logs
  std::string tls;                      // {tls_version} {cipher}, or "" in the clear
  std::shared_ptr<const std::string> content;  // CRLF lines, dot-stuffing undone
};

struct MilterTimeouts {
  std::chrono::milliseconds connect{2000};
  std::chrono::milliseconds command{5000};
  std::chrono::milliseconds content{15000};  // the whole exchange
  bool operator==(const MilterTimeouts&) const = default;
};

// What one filter said about a message.
struct Verdict {
  enum class Action : uint8_t { kAccept, kReject, kTempFail, kDiscard, kQuarantine };
  Action action = Action::kAccept;
  std::string reply;   // kReject / kTempFail: the filter's own "5xx x.y.z text", or "" for the default
  std::string reason;  // kQuarantine: why
  // The content after the filter's edits; null when it changed nothing.
  std::shared_ptr<const std::string> content;
  std::vector<std::pair<std::string, std::string>> added;  // fields it added or changed: name, value
};
const char* ToString(Verdict::Action a);

struct MilterResult {
  enum class Error : uint8_t { kNone, kConnect, kTimeout, kProtocol, kClosed };
  Error error = Error::kNone;
  std::string detail;  // for the log
  Verdict verdict;     // when error is kNone
};
const char* ToString(MilterResult::Error e);

// Runs on the caller's executor. `host` is an address or a name; the
// caller holds the filter's bulkhead slot for the duration.
boost::asio::awaitable<MilterResult> RunMilter(std::string host, uint16_t port, MilterTimeouts timeouts,
                                               std::shared_ptr<const ScanInput> input);

}  // namespace sluice::filter
