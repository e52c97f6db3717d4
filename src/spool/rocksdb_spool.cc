// The spool over RocksDB. Each commit is one WriteBatch written with
// sync=true; RocksDB groups concurrent synced writers into one WAL fsync,
// which is what makes per-message durability affordable under load.
//
// Every write RocksDB makes passes the SpaceGuard (space.h), and a monitor
// thread of the spool's own watches the file system once a second: it
// resumes RocksDB after a refused write once space is back, keeps or gives
// back the ballast, and compacts so that removed mail frees its space
// while the spool is short of it.
#include <fcntl.h>
#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/listener.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <filesystem>
#include <random>
#include <thread>

#include "common/log.h"
#include "spool/guarded_fs.h"
#include "spool/record_format.h"
#include "spool/spool.h"

namespace sluice::spool {
namespace {

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string msg = fmt::format("spool {}: {}", what, s.ToString());
  if (s.IsNoSpace()) return Status::NoSpace(std::move(msg));
  if (s.IsNotFound()) return Status::NotFound(std::move(msg));
  if (s.IsCorruption()) return Status::Corruption(std::move(msg));
  return Status::IoError(std::move(msg));
}

constexpr uint64_t kMiB = 1024 * 1024;

// RocksDB's info log goes to Sluice's log (warnings and worse), not to a
// LOG file on the spool's own disk: a full disk must not stop it opening.
class SpoolLogger final : public rocksdb::Logger {
 public:
  SpoolLogger() : Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}
  using Logger::Logv;
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    char buf[1024];
    vsnprintf(buf, sizeof buf, format, ap);
    log::Event e("rocksdb");
    e.With("message", buf);
    level >= rocksdb::InfoLogLevel::ERROR_LEVEL ? e.Error() : e.Warn();
  }
  void Logv(const char* format, va_list ap) override { Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap); }
};

// RocksDB's own word on its state: a background error stops writes until
// it recovers (by itself for space errors, or by Resume()).
class ErrorListener final : public rocksdb::EventListener {
 public:
  explicit ErrorListener(SpaceGuard& g) : guard_(g) {}
  void OnBackgroundError(rocksdb::BackgroundErrorReason, rocksdb::Status* s) override {
    guard_.OnStoreError(s->IsNoSpace(), s->ToString());
  }
  void OnErrorRecoveryEnd(const rocksdb::BackgroundErrorRecoveryInfo& info) override {
    if (info.new_bg_error.ok()) guard_.OnStoreRecovered();
  }

 private:
  SpaceGuard& guard_;
};

// The ballast: a file of `reserve` bytes beside the database, allocated
// while space is plentiful and deleted when the file system fills.
class Ballast {
 public:
  Ballast(std::string path, uint64_t size) : path_(std::move(path)), size_(size) {
    std::error_code ec;
    held_ = size_ > 0 && std::filesystem::file_size(path_, ec) >= size_ && !ec;
  }
  bool held() const { return held_; }
  uint64_t size() const { return held_ ? size_ : 0; }  // thread-safe
  bool Take() {
    if (held_ || size_ == 0) return false;
    int fd = ::open(path_.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    const bool ok = posix_fallocate(fd, 0, static_cast<off_t>(size_)) == 0;
    ::close(fd);
    if (!ok) ::unlink(path_.c_str());
    held_ = ok;
    return ok;
  }
  bool Release() {
    if (!held_) return false;
    ::unlink(path_.c_str());
    held_ = false;
    return true;
  }

 private:
  std::string path_;
  uint64_t size_;
  std::atomic<bool> held_{false};  // read by Health() on any thread
};

class RocksSpool final : public Spool {
 public:
  RocksSpool(const SpoolOptions& o, std::unique_ptr<SpaceGuard> guard)
      : o_(o), guard_(std::move(guard)), ballast_(o.path + "/sluice-reserve", o.reserve) {
    write_.sync = o.sync;
  }

  ~RocksSpool() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (monitor_.joinable()) monitor_.join();
    db_.reset();
  }

  Status Open() {
    // Room to open (a manifest, a WAL) and to flush once: give the ballast
    // back first if the file system is that full.
    if (guard_->Free() < guard_->floor() + WriteBufferFor(o_.min_free) && ballast_.Release()) {
      guard_->Invalidate();
      log::Event("spool reserve released").With("path", o_.path).With("reason", "low space at start").Warn();
    }
    env_ = rocksdb::NewCompositeEnv(GuardedFileSystem(rocksdb::FileSystem::Default(), *guard_));
    rocksdb::Options opt;
    opt.create_if_missing = true;
    opt.env = env_.get();
    opt.info_log = std::make_shared<SpoolLogger>();
    opt.listeners.push_back(std::make_shared<ErrorListener>(*guard_));
    opt.IncreaseParallelism(2);
    // Concurrent synced writers are batched into one WAL write and one fsync.
    opt.enable_pipelined_write = true;
    // Bodies are written once and deleted soon after delivery: keep them in
    // blob files so compaction does not rewrite them.
    opt.enable_blob_files = true;
    opt.min_blob_size = 4096;
    opt.enable_blob_garbage_collection = true;
    // A flush must always fit between min_free and the guard's floor.
    opt.write_buffer_size = WriteBufferFor(o_.min_free);
    opt.max_write_buffer_number = 2;
    opt.blob_file_size = opt.write_buffer_size;
    opt.manifest_preallocation_size = 64 * 1024;
    // Replay the WAL into the memtable at start instead of flushing it: a
    // restart on a full disk then needs only a new manifest and WAL.
    opt.avoid_flush_during_recovery = true;
    opt.max_open_files = kMaxOpenFiles;
    rocksdb::DB* raw = nullptr;
    auto s = rocksdb::DB::Open(opt, o_.path, &raw);
    if (!s.ok()) return FromRocks(s, "open " + o_.path);
    db_.reset(raw);
    Tick();
    monitor_ = std::thread([this] { Monitor(); });
    return Status::Ok();
  }

  Status Commit(const std::string& id, const Envelope& envelope, std::string_view header,
                std::string_view body) override {
    if (Status s = guard_->AdmitMail(header.size() + body.size()); !s.ok()) return s;
    rocksdb::WriteBatch batch;
    std::vector<RecipientStatus> pending(envelope.routes.size());
    batch.Put(Key(kEnvelopeKey, id), EncodeEnvelope(envelope, header));
    batch.Put(Key(kBodyKey, id), rocksdb::Slice(body.data(), body.size()));
    batch.Put(Key(kRecipientsKey, id), EncodeRecipients(pending));
    return Written(db_->Write(write_, &batch), "commit");
  }

  Result<std::string> ReadContent(const std::string& id) override {
    std::string env_raw, body;
    auto s = db_->Get(rocksdb::ReadOptions(), Key(kEnvelopeKey, id), &env_raw);
    if (!s.ok()) return FromRocks(s, "read envelope " + id);
    s = db_->Get(rocksdb::ReadOptions(), Key(kBodyKey, id), &body);
    if (!s.ok()) return FromRocks(s, "read body " + id);
    Envelope e;
    std::string header;
    if (!DecodeEnvelope(env_raw, &e, &header)) {
      return Status::Corruption("spool: malformed envelope record " + id);
    }
    header.append(body);
    return header;
  }

  Status UpdateRecipients(const std::string& id,
                          const std::vector<RecipientStatus>& recipients) override {
    return Written(db_->Put(write_, Key(kRecipientsKey, id), EncodeRecipients(recipients)), "update " + id);
  }

  Status Remove(const std::string& id) override {
    rocksdb::WriteBatch batch;
    batch.Delete(Key(kEnvelopeKey, id));
    batch.Delete(Key(kBodyKey, id));
    batch.Delete(Key(kRecipientsKey, id));
    // Not synced: the write reaches the kernel before we go on, so a killed
    // daemon keeps it; only a machine crash can undo it, and then the
    // message is delivered again (a duplicate, never a loss) — as Postfix,
    // which does not sync the unlink of a delivered queue file.
    Status s = Written(db_->Write(unsynced_, &batch), "remove " + id);
    if (s.ok()) removed_.fetch_add(1, std::memory_order_relaxed);
    return s;
  }

  Status Recover(const std::function<void(StoredMessage)>& each) override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    const std::string prefix(1, kEnvelopeKey);
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      StoredMessage m;
      m.id = it->key().ToString().substr(1);
      std::string header, states;
      if (!DecodeEnvelope(it->value().ToStringView(), &m.envelope, &header)) {
        return Status::Corruption("spool: malformed envelope record " + m.id);
      }
      auto s = db_->Get(rocksdb::ReadOptions(), Key(kRecipientsKey, m.id), &states);
      if (!s.ok()) return FromRocks(s, "recover " + m.id);
      auto decoded = DecodeRecipients(states);
      if (!decoded || decoded->size() != m.envelope.routes.size()) {
        return Status::Corruption("spool: malformed recipient record " + m.id);
      }
      m.recipients = std::move(*decoded);
      each(std::move(m));
    }
    return FromRocks(it->status(), "recover");
  }

  Status PutMeta(const std::string& name, std::string_view value) override {
    return Written(db_->Put(write_, Key(kMetaKey, name), rocksdb::Slice(value.data(), value.size())),
                   "write " + name);
  }

  Result<std::string> GetMeta(const std::string& name) override {
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), Key(kMetaKey, name), &value);
    if (!s.ok()) return FromRocks(s, "read " + name);
    return value;
  }

  Status Admit(uint64_t bytes) override { return guard_->AdmitMail(bytes); }

  SpoolHealth Health() override {
    SpoolHealth h;
    h.state = guard_->state();
    h.reason = guard_->reason();
    h.free_bytes = guard_->Free();
    h.min_free = o_.min_free;
    std::lock_guard lock(mu_);
    h.total_bytes = total_bytes_;
    h.used_bytes = used_bytes_;
    h.reserve_bytes = ballast_.size();
    return h;
  }

 private:
  static constexpr int kMaxOpenFiles = 256;  // counted in the descriptor budget

  // A failed write wakes the monitor at once, so recovery starts within
  // the second, not at the next tick.
  Status Written(const rocksdb::Status& s, std::string_view what) {
    if (!s.ok()) wake_.notify_all();
    return FromRocks(s, what);
  }

  void Monitor() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      wake_.wait_for(lock, std::chrono::seconds(1));
      if (stopping_) break;
      lock.unlock();
      Tick();
      lock.lock();
    }
  }

  // One look at the file system and the store; on the monitor thread.
  void Tick() {
    guard_->Invalidate();
    const uint64_t free = guard_->Free();
    const auto now = std::chrono::steady_clock::now();
    if (ballast_.held() && free < 2 * guard_->floor()) {
      ballast_.Release();
      guard_->Invalidate();
      log::Event("spool reserve released").With("path", o_.path).With("free_mib", static_cast<int64_t>(free / kMiB))
          .Warn();
    } else if (!ballast_.held() && o_.reserve > 0 && free >= o_.min_free + 2 * o_.reserve &&
               guard_->state() == SpoolState::kOk && ballast_.Take()) {
      guard_->Invalidate();
      log::Event("spool reserve held").With("path", o_.path).With("bytes", static_cast<int64_t>(o_.reserve)).Info();
    }
    if (guard_->store_failed()) {
      // Space errors resume once there is room to write again; others are
      // retried every few seconds (a disk that came back).
      const bool room = guard_->Free() >= 2 * guard_->floor();
      if ((guard_->state() == SpoolState::kFull && room) || now - last_resume_ > std::chrono::seconds(5)) {
        last_resume_ = now;
        rocksdb::Status s = db_->Resume();
        if (s.ok()) guard_->OnStoreRecovered();
      }
    }
    guard_->Settle();
    Reclaim(now);
    Report();
  }

  // While the spool is short of space, removed mail frees its space only
  // once a compaction drops it (and the blob files it lived in).
  void Reclaim(std::chrono::steady_clock::time_point now) {
    const SpoolState st = guard_->state();
    const uint64_t removed = removed_.load(std::memory_order_relaxed);
    if ((st != SpoolState::kLow && st != SpoolState::kFull) || guard_->store_failed() ||
        removed == removed_at_compaction_ || now - last_compaction_ < std::chrono::seconds(5)) {
      return;
    }
    last_compaction_ = now;
    removed_at_compaction_ = removed;
    rocksdb::FlushOptions flush;
    db_->Flush(flush).PermitUncheckedError();
    rocksdb::CompactRangeOptions c;
    c.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    rocksdb::Status s = db_->CompactRange(c, nullptr, nullptr);
    guard_->Invalidate();
    log::Event("spool compacted to reclaim space").With("result", s.ToString())
        .With("free_mib", static_cast<int64_t>(guard_->Free() / kMiB)).Info();
  }

  // Sizes for Health(), and a log line when the state changes.
  void Report() {
    uint64_t used = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(o_.path, ec)) {
      std::error_code size_ec;
      if (e.path().filename() != "sluice-reserve") used += e.file_size(size_ec);
    }
    const SpoolState st = guard_->state();
    SpoolState before;
    {
      std::lock_guard lock(mu_);
      used_bytes_ = used;
      total_bytes_ = guard_->total();
      before = reported_;
      reported_ = st;
    }
    if (st == before) return;
    log::Event e("spool state");
    e.With("from", ToString(before)).With("to", ToString(st)).With("free_mib", static_cast<int64_t>(guard_->Free() / kMiB));
    if (st != SpoolState::kOk) e.With("reason", guard_->reason());
    st == SpoolState::kOk ? e.Info() : e.Warn();
  }

  SpoolOptions o_;
  std::unique_ptr<SpaceGuard> guard_;
  std::unique_ptr<rocksdb::Env> env_;  // outlives db_
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::WriteOptions write_;
  rocksdb::WriteOptions unsynced_;
  std::atomic<uint64_t> removed_{0};

  std::mutex mu_;  // guards the monitor's figures and its wake-up
  std::condition_variable wake_;
  bool stopping_ = false;
  Ballast ballast_;  // changed by Open and the monitor thread only
  uint64_t used_bytes_ = 0, total_bytes_ = 0;
  SpoolState reported_ = SpoolState::kOk;
  std::thread monitor_;
  // The monitor thread's own.
  std::chrono::steady_clock::time_point last_resume_{}, last_compaction_{};
  uint64_t removed_at_compaction_ = 0;
};

}  // namespace

Result<std::unique_ptr<Spool>> OpenSpool(const SpoolOptions& options, SpaceProbe probe) {
  std::error_code ec;
  std::filesystem::create_directories(options.path, ec);
  if (ec) return Status::IoError(fmt::format("spool open {}: {}", options.path, ec.message()));
  if (!probe) probe = StatvfsProbe(options.path);
  auto spool = std::make_unique<RocksSpool>(options, std::make_unique<SpaceGuard>(options.min_free, std::move(probe)));
  if (Status s = spool->Open(); !s.ok()) return s;
  return std::unique_ptr<Spool>(std::move(spool));
}

std::string NewQueueId() {
  // Microseconds since the epoch (13 hex digits), then a counter that starts
  // at a random point so ids stay unique across a restart within 1 µs.
  static std::atomic<uint32_t> counter{std::random_device{}()};
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  return fmt::format("{:013X}{:05X}", static_cast<uint64_t>(us),
                     counter.fetch_add(1, std::memory_order_relaxed) & 0xFFFFF);
}

}  // namespace sluice::spool
