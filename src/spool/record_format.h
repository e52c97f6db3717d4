// The byte layout of spool records; doc/spool_format.md explains it.
// RocksDB checksums every block and WAL record; the format byte lets a
// later version read what an earlier one wrote.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/envelope.h"

namespace sluice::spool {

// Envelope records are at format 1; recipient records at 2 (held state and
// flags), and records of format 1 are still read.
inline constexpr uint8_t kFormatVersion = 1;
inline constexpr uint8_t kRecipientsFormat = 2;

// Key prefixes: one byte, then the queue id.
inline constexpr char kEnvelopeKey = 'e';   // envelope + trace header
inline constexpr char kBodyKey = 'b';       // body as received
inline constexpr char kRecipientsKey = 's'; // per-recipient state
inline constexpr char kMetaKey = 'm';       // named records of the queue and control plane
inline constexpr char kDiscardKey = 'd';    // the discard journal: 16 hex digits of sequence → id

std::string Key(char prefix, std::string_view id);

std::string EncodeEnvelope(const Envelope& e, std::string_view header);
// Returns false on a malformed record.
bool DecodeEnvelope(std::string_view in, Envelope* e, std::string* header);

std::string EncodeRecipients(const std::vector<RecipientStatus>& r);
std::optional<std::vector<RecipientStatus>> DecodeRecipients(std::string_view in);

}  // namespace sluice::spool
