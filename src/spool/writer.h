// The spool's one writer: a thread that owns the write path into RocksDB.
// Every change queued while it writes goes into its next WriteBatch, synced
// once (group commit: one fsync and one wake-up for many messages, where
// each commit on a thread of its own cost two thread switches and a WAL
// write of its own). Completions run on this thread, in queue order, after
// the batch is durable.
#pragma once

#include <rocksdb/db.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "spool/spool.h"

namespace sluice::spool {

// RocksDB's status as the spool's ("spool <what>: ..."), NoSpace kept.
Status FromRocks(const rocksdb::Status& s, std::string_view what);

class BatchWriter {
 public:
  // One change, encoded on the caller's thread.
  struct Item {
    Change::Kind kind = Change::Kind::kUpdate;
    bool barrier = false;         // writes nothing: completes after what came before
    std::string id;
    std::string envelope_record;  // kCommit
    Content content;              // kCommit
    std::string states_record;    // kCommit, kUpdate
    WriteDone done;
  };

  // `failed` runs on this thread after a write that failed (the monitor
  // is woken to look at the store).
  // With `journal_discards`, every removal also writes a discard record
  // numbered from `next_discard` on (doc/spool_format.md).
  BatchWriter(rocksdb::DB& db, bool sync, std::function<void()> failed, bool journal_discards = false,
              uint64_t next_discard = 0);
  ~BatchWriter();  // writes what is queued, then stops

  // Thread-safe; never blocks on I/O. After the writer stopped, the item
  // completes at once with kUnavailable.
  void Queue(Item item);
  // Blocks until everything queued before has completed.
  void Drain();

  // Figures since start, for the bench and /metrics.
  struct Counters {
    uint64_t batches = 0, changes = 0, synced_batches = 0;
  };
  Counters counters();

 private:
  void Run();
  Status WriteBatchOf(std::vector<Item>& items);

  // A batch is closed at this many bytes of content or changes, so one
  // WriteBatch never holds an unbounded share of memory.
  static constexpr size_t kMaxBatchBytes = 32u << 20;
  static constexpr size_t kMaxBatchChanges = 4096;

  rocksdb::DB& db_;
  rocksdb::WriteOptions synced_, unsynced_;
  std::function<void()> failed_;
  bool journal_discards_;
  uint64_t next_discard_;  // the writer thread's own
  std::mutex mu_;
  std::condition_variable wake_;
  std::vector<Item> queued_;
  bool stopping_ = false;
  Counters counters_;
  std::thread thread_;
};

}  // namespace sluice::spool
