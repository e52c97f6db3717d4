// What the files of cluster/shadow share (not an interface: include only
// from shadow*.cc).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/shadow.h"
#include "cluster/shadow_protocol.h"
#include "common/timed_stream.h"

namespace sluice::cluster {

using ShadowClock = std::chrono::steady_clock;

inline constexpr std::chrono::seconds kShadowAuthTimeout{5};
inline constexpr std::chrono::minutes kShadowIdleTimeout{5};
inline constexpr std::chrono::seconds kShadowDownFor{2};  // a peer that failed a copy is not asked again before
inline constexpr size_t kShadowDiscardBatch = 5000;      // ids per DISCARD frame

// One authenticated connection: its stream and what has arrived on it.
struct Shadow::Conn {
  Conn(boost::asio::ip::tcp::socket s, size_t max_content) : stream(std::move(s)), parser(max_content) {}
  TimedStream stream;
  ShadowParser parser;
  std::vector<char> buf = std::vector<char>(64 * 1024);
};

struct Shadow::Peer {
  std::string address;
  std::string host;
  uint16_t port = 0;
  std::vector<std::unique_ptr<Conn>> idle;
  ShadowClock::time_point down_until{};
  std::string state = "not tried";
  int64_t last_ok_unix = 0;
  bool cursor_loaded = false;
  std::string cursor;  // the last discard this peer acknowledged
  std::string domain;  // its failure domain, as the membership says
  bool learned = false;  // from the membership, not the config
  ShadowClock::time_point absent_since{};  // learned and gone from the membership since
};

boost::asio::awaitable<std::optional<ShadowFrame>> ReadShadowFrame(Shadow::Conn& c, TimedStream::Duration timeout,
                                                                   boost::system::error_code& ec);

// The shadow store's ids: the primary, its epoch and its queue id, so the
// copies of one node (and of one epoch) are found by prefix. '/' is not in
// any ShadowName, so the parts never run into each other.
inline std::string ShadowStoreId(const std::string& node, const std::string& epoch, const std::string& id) {
  return node + "/" + epoch + "/" + id;
}
// The node of a store id ("" when it is not one).
inline std::string ShadowStoreNode(const std::string& store_id) {
  const size_t slash = store_id.find('/');
  return slash == std::string::npos ? "" : store_id.substr(0, slash);
}

// The peer's answer to the primary's nonce: proves it knows the secret too,
// so no stranger can pose as a peer (and say it took a node's mail).
inline std::string ShadowPeerProof(const std::string& secret, const std::string& nonce) {
  return ShadowProof(secret, "peer " + nonce);
}

int64_t ShadowNowUnix();

}  // namespace sluice::cluster
