// The spool: durable storage of messages and their per-recipient state
// (doc/design.md, rule 1). Changes go through one writer that puts every
// change waiting at the time into one WriteBatch with one sync (group
// commit); a change is complete only once that sync returned. Reads are
// blocking; callers run them off the event loops.
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
  // Every removal also leaves a discard record (the shadow copies' journal,
  // cluster/shadow.h): written in the removal's own batch, so a message is
  // either still here or its discard is. Off: none.
  bool journal_discards = false;
  bool operator==(const SpoolOptions&) const = default;  // a reload applies what changed
};

// What the message is on the wire: the trace header followed by the body,
// CRLF lines. Shared, never copied, between the intake, the queue and every
// destination of one attempt.
using Content = std::shared_ptr<const std::string>;

// A message as the spool has it, without its content.
struct StoredMessage {
  std::string id;
  Envelope envelope;
  std::vector<RecipientStatus> recipients;  // parallel to envelope.routes
};

// One change to one message.
struct Change {
  enum class Kind : uint8_t {
    kCommit,  // a new message: envelope, content, every recipient pending or as given (synced)
    kUpdate,  // its recipient states replaced (synced)
    kRemove,  // gone, all its recipients done (not synced; see doc/spool_format.md)
  };
  Kind kind = Kind::kUpdate;
  std::string id;
  std::shared_ptr<const Envelope> envelope;  // kCommit
  Content content;                           // kCommit
  std::vector<RecipientStatus> recipients;   // kUpdate; kCommit: the first states, or empty for pending

  static Change Commit(std::string id, std::shared_ptr<const Envelope> e, Content c,
                       std::vector<RecipientStatus> first = {}) {
    return {Kind::kCommit, std::move(id), std::move(e), std::move(c), std::move(first)};
  }
  static Change Update(std::string id, std::vector<RecipientStatus> r) {
    return {Kind::kUpdate, std::move(id), nullptr, nullptr, std::move(r)};
  }
  static Change Remove(std::string id) { return {Kind::kRemove, std::move(id), nullptr, nullptr, {}}; }
};

// Called once with the change's result, on the spool's writer thread (or
// at once on the caller's when the change is refused before it is queued):
// keep it short, post the real work elsewhere. Must not throw.
using WriteDone = std::function<void(Status)>;

// What recovery finds of a message: its id and recipient states, without
// the envelope (read later, when the message is due).
using RecoveredStates = std::function<void(std::string id, std::vector<RecipientStatus> states)>;

class Spool {
 public:
  virtual ~Spool() = default;

  // Queues a change for the writer. Thread-safe, cheap (the records are
  // encoded here, on the caller's thread). A commit is refused at once with
  // kNoSpace when the file system is short of space. On OK the change is on
  // stable storage (a removal: in the kernel); on error nothing of it is.
  // Changes to one message are applied in the order they were queued.
  virtual void Write(Change change, WriteDone done) = 0;

  // Blocks until every change queued before the call has completed (its
  // `done` has run): a caller that goes away makes sure no completion of
  // its own is still to come. Not on an event loop.
  virtual void Drain() = 0;

  // The message as it goes out: trace header followed by the body.
  virtual Result<Content> ReadContent(const std::string& id) = 0;
  // The envelope and recipient states of one message; kNotFound if gone.
  virtual Result<StoredMessage> Load(const std::string& id) = 0;
  // Calls `each` for every stored message, oldest first, with its states
  // only: reads the small state records, not the envelopes. For recovery.
  virtual Status Recover(const RecoveredStates& each) = 0;
  // Calls `each` for every stored message with its envelope, oldest first,
  // until it returns false. For operator searches over the whole spool.
  virtual Status Scan(const std::function<bool(StoredMessage)>& each) = 0;
  // Small named records that must survive a restart with the mail they
  // steer (hold policies, the control plane's state). Synced.
  virtual Status PutMeta(const std::string& name, std::string_view value) = 0;
  // kNotFound when there is no such record.
  virtual Result<std::string> GetMeta(const std::string& name) = 0;

  // May a transaction of `bytes` (0: unknown) start? Cheap (no I/O but a
  // statvfs every 20 ms); asked at MAIL. kNoSpace: 452 4.3.1; kIoError:
  // the store is failing, 451 4.3.0.
  virtual Status CheckRoom(uint64_t /*bytes*/) { return Status::Ok(); }
  // Space and state, for metrics, the status API and alerts. Cheap.
  virtual SpoolHealth Health() { return {}; }

  // The discard journal (SpoolOptions::journal_discards), oldest first:
  // up to `max` records after sequence `after` ("" for the first), each
  // (sequence, message id). Sequences rise in the order of the removals.
  using Discard = std::pair<std::string, std::string>;
  virtual Result<std::vector<Discard>> Discards(const std::string& /*after*/, size_t /*max*/) {
    return std::vector<Discard>{};
  }
  // Forgets every discard record up to and including `upto`. Not synced.
  virtual Status ForgetDiscards(const std::string& /*upto*/) { return Status::Ok(); }
  // Removes named records (not synced).
  virtual Status DeleteMeta(const std::string& /*name*/) { return Status::Ok(); }
  // The names and values of the meta records that start with `prefix`.
  virtual Result<std::vector<std::pair<std::string, std::string>>> ListMeta(const std::string& /*prefix*/) {
    return std::vector<std::pair<std::string, std::string>>{};
  }

  // Write() waited for, for tests and tools (blocks: not on an event loop).
  Status WriteAndWait(Change change);
  Status Commit(const std::string& id, const Envelope& e, std::string content);
};

// Opens (creating if needed) the RocksDB spool at options.path. `probe`
// measures the file system's space (default: statvfs of the path); tests
// pass their own.
Result<std::unique_ptr<Spool>> OpenSpool(const SpoolOptions& options, SpaceProbe probe = nullptr);

// A new queue id: unique on this node, sortable by time of creation.
// Cheap: no I/O; thread-safe.
std::string NewQueueId();
// When a queue id was made (seconds since the epoch): its first 13 hex
// digits are the microseconds of its creation.
int64_t QueueIdTime(const std::string& id);

}  // namespace sluice::spool
