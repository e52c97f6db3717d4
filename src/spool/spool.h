// The spool: durable storage of messages and their per-recipient state
// (doc/design.md, rule 1). Every call is blocking and returns only after the
// change is on stable storage; callers run it off the event loops.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/envelope.h"
#include "common/status.h"
#include "spool/space.h"

namespace sluice::spool {

struct SpoolOptions {
  std::string path = "var/spool";
  bool sync = true;  // off only in unit tests that do not test durability
  // Below this many free bytes on the spool's file system new mail gets
  // 452 4.3.1 (Postfix's queue_minfree); the config raises it to three
  // messages of the largest size.
  uint64_t min_free = 64ull << 20;
  // A ballast file kept on the spool's file system and given back when it
  // fills, so the spool can still open, record deliveries and remove mail
  // when something else took the last byte. 0: none.
  uint64_t reserve = 32ull << 20;
  bool operator==(const SpoolOptions&) const = default;  // a reload applies what changed
};

// A message as recovered from the spool, without its content.
struct StoredMessage {
  std::string id;
  Envelope envelope;
  std::vector<RecipientStatus> recipients;  // parallel to envelope.routes
};

class Spool {
 public:
  virtual ~Spool() = default;

  // Stores envelope, trace header and body with every recipient pending.
  // Thread-safe. On OK the message is synced; on error nothing is stored.
  virtual Status Commit(const std::string& id, const Envelope& envelope, std::string_view header,
                        std::string_view body) = 0;
  // The message as it goes out: trace header followed by the body.
  virtual Result<std::string> ReadContent(const std::string& id) = 0;
  // Replaces the recipient states of a message (synced).
  virtual Status UpdateRecipients(const std::string& id,
                                  const std::vector<RecipientStatus>& recipients) = 0;
  // Deletes a message whose recipients are all done (synced).
  virtual Status Remove(const std::string& id) = 0;
  // Calls `each` for every stored message, oldest first. For recovery at start.
  virtual Status Recover(const std::function<void(StoredMessage)>& each) = 0;
  // Small named records that must survive a restart with the mail they
  // steer (hold policies, the control plane's state). Synced.
  virtual Status PutMeta(const std::string& name, std::string_view value) = 0;
  // kNotFound when there is no such record.
  virtual Result<std::string> GetMeta(const std::string& name) = 0;

  // May a transaction of `bytes` (0: unknown) start? Cheap (no I/O but a
  // statvfs every 20 ms); asked at MAIL. kNoSpace: 452 4.3.1; kIoError:
  // the store is failing, 451 4.3.0.
  virtual Status Admit(uint64_t /*bytes*/) { return Status::Ok(); }
  // Space and state, for metrics, the status API and alerts. Cheap.
  virtual SpoolHealth Health() { return {}; }
};

// Opens (creating if needed) the RocksDB spool at options.path. `probe`
// measures the file system's space (default: statvfs of the path); tests
// pass their own.
Result<std::unique_ptr<Spool>> OpenSpool(const SpoolOptions& options, SpaceProbe probe = nullptr);

// A new queue id: unique on this node, sortable by time of creation.
// Cheap: no I/O; thread-safe.
std::string NewQueueId();

}  // namespace sluice::spool
