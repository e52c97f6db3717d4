// The shadow protocol between nodes (doc/cluster.md, "Shadow copies"),
// free of I/O: a primary hands a copy of each message it is about to
// acknowledge to a peer, which syncs it before it answers.
//
//   peer    → primary  SHADOW <nonce>            32 hex digits, fresh per connection
//   primary → peer     AUTH <hmac> <nonce>       HMAC-SHA256(secret, nonce), hex, and a
//                                                nonce of the primary's own
//   peer    → primary  OK <hmac> | NO <why>      HMAC-SHA256(secret, "peer " nonce): the
//                                                peer proves the secret too; a wrong
//                                                secret: NO, then close
//   primary → peer     HELLO <node> <epoch>      the primary's spool epoch: a new one
//                                                makes the peer deliver the old one's copies
//   primary → peer     COPY <node> <epoch> <id> <envelope bytes> <content bytes>
//                      then the envelope (spool record format) and the content
//   peer    → primary  OK | NO <why>             OK only once the copy is synced
//   primary → peer     DISCARD <node> <epoch> <bytes>, then ids, one per LF
//                      the heartbeat: these are delivered (or failed), keep
//                      their copies in the safety net; sent, empty, every
//                      heartbeat as the primary's sign of life
//   peer    → primary  TAKEN <bytes>, then ids, one per LF (the answer to a
//                      HELLO): what this peer delivered of the primary's
//                      current epoch while it was away; the primary drops them
//   primary → peer     TAKE <node> <epoch> <id> <envelope bytes> <content bytes>
//                      as COPY, but the peer makes the message its own (a
//                      drain); OK once it is synced in the peer's spool
//
// Every line ends in CRLF and is at most kMaxLine bytes. Every byte from
// the network is hostile: the parser bounds every length and refuses
// anything else with a reason (fuzzed by fuzz/shadow_fuzz.cc).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::cluster {

inline constexpr size_t kMaxShadowLine = 1024;
inline constexpr size_t kMaxShadowEnvelope = 4u << 20;    // a thousand recipients fit many times over
inline constexpr size_t kMaxShadowContent = 256u << 20;   // above any max_message_size the config allows
inline constexpr size_t kMaxShadowList = 4u << 20;        // a DISCARD's or TAKEN's ids

struct ShadowFrame {
  std::string verb;                // SHADOW, AUTH, OK, NO, HELLO, COPY, TAKE, DISCARD, TAKEN
  std::vector<std::string> args;   // the words after the verb (NO: one, the rest of the line)
  std::string envelope, content;   // COPY, TAKE
  std::vector<std::string> ids;    // DISCARD, TAKEN: each a ShadowName
};

// Splits a byte stream into frames. Feed it what arrives; Next() returns
// whole frames in order.
class ShadowParser {
 public:
  // `max_content`: a COPY's content above it is refused.
  explicit ShadowParser(size_t max_content = kMaxShadowContent) : max_content_(max_content) {}
  void Feed(std::string_view bytes) { buf_.append(bytes); }
  // A whole frame, or none yet. After an error (error() not empty) it
  // returns none for ever: the connection is to be closed.
  std::optional<ShadowFrame> Next();
  const std::string& error() const { return error_; }

 private:
  size_t max_content_;
  std::string buf_;
  size_t pos_ = 0;
  std::string error_;
  std::optional<ShadowFrame> pending_;  // a COPY waiting for its payload
  size_t envelope_len_ = 0, content_len_ = 0;
};

// Frame builders, CRLF included. A COPY is its head (the line and the
// envelope) followed by the content as it is: sent as a gathered write, so
// the message is never copied into a frame.
std::string ShadowLine(std::string_view verb, const std::vector<std::string>& args = {});
// `verb`: COPY or TAKE.
std::string ShadowCopyHead(const std::string& node, const std::string& epoch, const std::string& id,
                           std::string_view envelope, size_t content_size, std::string_view verb = "COPY");

// DISCARD (with `node` and `epoch`) or TAKEN (without), ids included.
std::string ShadowIdList(std::string_view verb, const std::vector<std::string>& head,
                         const std::vector<std::string>& ids);

// A fresh nonce (32 hex digits from the system's random source) and the
// answer to it; Verify compares in constant time.
std::string ShadowNonce();
std::string ShadowProof(const std::string& secret, const std::string& nonce);
bool ShadowVerify(const std::string& secret, const std::string& nonce, const std::string& proof);

// Names in the protocol (node ids, epochs, queue ids): 1–128 of
// [A-Za-z0-9._-], so they can be keys and words.
bool ShadowName(std::string_view s);

}  // namespace sluice::cluster
