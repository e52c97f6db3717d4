// Disk space as a first-class condition of the spool. Postfix refuses mail
// below `queue_minfree`; so does Sluice, and it also keeps RocksDB from ever
// meeting ENOSPC: RocksDB (7.8, as Debian builds it) aborts on the write
// after a failed WAL write, so every byte it writes is admitted here first.
//
// Three thresholds on the spool's file system, highest first:
//   min_free  new mail is refused below it (452 4.3.1); deliveries, state
//             updates and removals go on, so the spool drains;
//   floor     RocksDB's own writes are refused below it, before a byte is
//             written (a clean NoSpace error, never a torn write);
//   floor/2   for background writes (flush, compaction), so that a flush
//             that frees the WAL can still run after foreground writes stop.
// The memtable is sized so that flushing it always fits between min_free
// and the floor (WriteBufferFor).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "common/status.h"

namespace sluice::spool {

enum class SpoolState {
  kOk,     // accepting
  kLow,    // under min_free: new mail gets 452 4.3.1, the rest goes on
  kFull,   // a write was refused for space: 452 4.3.1 until RocksDB resumes
  kError,  // the store failed otherwise (EIO, corruption): 451 4.3.0
};
const char* ToString(SpoolState s);

struct SpoolHealth {
  SpoolState state = SpoolState::kOk;
  uint64_t free_bytes = 0, total_bytes = 0;  // of the file system
  uint64_t used_bytes = 0;                   // the spool's own files
  uint64_t min_free = 0;
  uint64_t reserve_bytes = 0;                // the ballast currently held
  std::string reason;                        // why not ok, for logs and the status API
  // The writer since start: changes written, in how many batches and syncs
  // (group commit at work: changes per sync).
  uint64_t changes = 0, batches = 0, syncs = 0;
};

struct FsSpace {
  uint64_t free = 0, total = 0;  // bytes available to an unprivileged writer, and in all
  bool ok = false;               // false: the probe failed (reported, never trusted)
};
using SpaceProbe = std::function<FsSpace()>;
// statvfs(2) of `path`.
SpaceProbe StatvfsProbe(std::string path);

// The memtable size that keeps a flush within min_free − floor.
uint64_t WriteBufferFor(uint64_t min_free);

// Thread-safe; Free() and the Admit calls are cheap (an atomic read, and a
// statvfs at most every 20 ms).
class SpaceGuard {
 public:
  using Clock = std::chrono::steady_clock;
  // `probe_every`: how old a measurement may be before Free() measures again.
  SpaceGuard(uint64_t min_free, SpaceProbe probe,
             std::chrono::milliseconds probe_every = std::chrono::milliseconds(20));

  // Free bytes now: the last probe less what was written since.
  uint64_t Free();
  uint64_t total() const { return probed_total_.load(); }  // of the file system, at the last probe
  uint64_t min_free() const { return min_free_; }
  uint64_t floor() const { return floor_; }

  // May new mail of `bytes` (0: size unknown) be accepted now? kNoSpace
  // below min_free or while full; kIoError while the store is failing.
  Status AdmitMail(uint64_t bytes);
  // For RocksDB's writes: false when they would take the file system under
  // the floor. Counts the bytes as written.
  bool AdmitWrite(uint64_t bytes, bool background);

  // What RocksDB reported: a write or background job failed (for space, or
  // otherwise), and recovery.
  void OnStoreError(bool no_space, const std::string& why);
  void OnStoreRecovered();
  bool store_failed() const { return store_failed_.load(); }
  // Forces the next Free() to probe (after a file was deleted).
  void Invalidate();
  // A refused write with RocksDB still running (a job that failed and will
  // be retried) stops counting once space is back above twice the floor.
  void Settle();

  // What the operator sees: also "low" for 5 s after mail was refused for
  // want of room, though what is free is above min_free.
  SpoolState state();
  std::string reason();  // empty when ok

 private:
  SpoolState StoreState();            // what admits mail: the store and min_free only
  void Probe(Clock::time_point now);  // REQUIRES: mu_ held

  const uint64_t min_free_;
  const uint64_t floor_;
  SpaceProbe probe_;
  const std::chrono::milliseconds probe_every_;
  std::mutex mu_;
  Clock::time_point probed_at_{};  // GUARDED_BY(mu_)
  std::atomic<uint64_t> probed_free_{0};
  std::atomic<uint64_t> probed_total_{0};
  std::atomic<uint64_t> written_{0};  // since the last probe
  std::atomic<bool> refused_{false};  // a write was refused since recovery
  // Until when the state reads "low" because mail was refused for want of
  // room: free space just above min_free still turns away every message
  // larger than the gap, and the operator must see that (steady ns).
  std::atomic<int64_t> refusing_until_ns_{0};
  std::atomic<uint64_t> refused_size_{0};  // the message that did not fit; once it would, "ok" again
  std::atomic<bool> store_failed_{false};
  std::atomic<bool> no_space_{false};
  std::string why_;  // GUARDED_BY(mu_)
};

}  // namespace sluice::spool
