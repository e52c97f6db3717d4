// The milter protocol, version 6 (the one Postfix's milter8 and libmilter
// speak), from the MTA's side and free of I/O: packets to send to a
// filter, and a reader for what the filter sends back. Every byte from a
// filter is hostile: the reader bounds every length, checks every field
// and refuses anything else with a reason (fuzzed by fuzz/milter_fuzz.cc).
//
// A packet is a 32-bit length (network order, counting what follows), a
// command byte and its data; strings are NUL-terminated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::filter {

inline constexpr uint32_t kMilterVersion = 6;
inline constexpr size_t kMilterChunk = 65535;              // body bytes per BODY packet
inline constexpr size_t kMaxMilterPacket = (1u << 20) + 64;  // a 1 MiB body replacement chunk and its header

// What a filter may do (SMFIF_*), offered by the MTA and asked for by it.
namespace actions {
inline constexpr uint32_t kAddHeaders = 0x01, kChangeBody = 0x02, kAddRcpt = 0x04, kDeleteRcpt = 0x08,
                          kChangeHeaders = 0x10, kQuarantine = 0x20, kChangeFrom = 0x40, kAddRcptArgs = 0x80,
                          kSetMacros = 0x100;
}
// Which stages a filter does without (SMFIP_*): not sent, or sent without
// waiting for a reply.
namespace steps {
inline constexpr uint32_t kNoConnect = 0x01, kNoHelo = 0x02, kNoMail = 0x04, kNoRcpt = 0x08, kNoBody = 0x10,
                          kNoHeaders = 0x20, kNoEoh = 0x40, kNoReplyHeader = 0x80, kNoUnknown = 0x100,
                          kNoData = 0x200, kSkip = 0x400, kRcptRejected = 0x800, kNoReplyConnect = 0x1000,
                          kNoReplyHelo = 0x2000, kNoReplyMail = 0x4000, kNoReplyRcpt = 0x8000,
                          kNoReplyData = 0x10000, kNoReplyUnknown = 0x20000, kNoReplyEoh = 0x40000,
                          kNoReplyBody = 0x80000, kHeaderLeadingSpace = 0x100000;
}
// The stages a filter may ask macros for (SMFIM_*), in its OPTNEG reply.
enum class MacroStage : uint32_t { kConnect = 0, kHelo = 1, kMail = 2, kRcpt = 3, kData = 4, kEom = 5, kEoh = 6 };

// Packets to the filter.
std::string MilterOptNeg(uint32_t actions, uint32_t steps);
// `family`: '4', '6', 'L' (unix) or 'U' (unknown, no port or address).
std::string MilterConnect(std::string_view hostname, char family, uint16_t port, std::string_view address);
std::string MilterHelo(std::string_view name);
std::string MilterMail(const std::vector<std::string>& args);  // "<sender>", then ESMTP parameters
std::string MilterRcpt(const std::vector<std::string>& args);
std::string MilterData();
std::string MilterHeader(std::string_view name, std::string_view value);
std::string MilterEndOfHeaders();
std::string MilterBody(std::string_view chunk);  // at most kMilterChunk bytes
std::string MilterEndOfBody();
std::string MilterAbort();
std::string MilterQuit();
// Macros for the command `for_command` ('C', 'H', 'M', 'R', 'T', 'N', 'E').
std::string MilterMacros(char for_command, const std::vector<std::pair<std::string, std::string>>& macros);

// What a filter answered.
struct MilterReply {
  enum class Kind {
    kOptNeg,       // version, actions, steps (and the macros it asks for)
    kContinue, kAccept, kReject, kTempFail, kDiscard, kSkip, kProgress, kConnectionFailure,
    kReplyCode,    // text: "550 5.7.1 Go away" (a 4xx or 5xx, possibly multi-line with CRLF)
    kQuarantine,   // text: the reason
    kAddHeader,    // name, value
    kInsertHeader, // index, name, value
    kChangeHeader, // index (the name's 1-based occurrence), name, value (empty: delete it)
    kReplaceBody,  // text: a chunk of the new body
    kAddRcpt, kDeleteRcpt,  // text: the address; args (kAddRcpt with parameters)
    kChangeFrom,   // text: the sender; args: its parameters
  };
  Kind kind = Kind::kContinue;
  uint32_t version = 0, actions = 0, steps = 0;  // kOptNeg
  std::vector<std::pair<MacroStage, std::string>> macros;  // kOptNeg: space-separated names per stage
  uint32_t index = 0;
  std::string name, value, text;
  std::string args;
};

// Splits a filter's byte stream into replies. Feed it what arrives; Next()
// returns whole replies in order. After an error (error() not empty) it
// returns none for ever: the connection is to be dropped.
class MilterReader {
 public:
  void Feed(std::string_view bytes) { buf_.append(bytes); }
  std::optional<MilterReply> Next();
  const std::string& error() const { return error_; }
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  std::string buf_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace sluice::filter
