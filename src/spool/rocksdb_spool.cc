// The spool over RocksDB. Writes go through the BatchWriter (writer.h):
// every change queued while it syncs goes into its next WriteBatch, which
// is what makes per-message durability affordable under load.
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
#include <future>
#include <random>
#include <thread>

#include "common/log.h"
#include "spool/guarded_fs.h"
#include "spool/record_format.h"
#include "spool/spool.h"
#include "spool/writer.h"

namespace sluice::spool {

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string msg = fmt::format("spool {}: {}", what, s.ToString());
  if (s.IsNoSpace()) return Status::NoSpace(std::move(msg));
  if (s.IsNotFound()) return Status::NotFound(std::move(msg));
  if (s.IsCorruption()) return Status::Corruption(std::move(msg));
  return Status::IoError(std::move(msg));
}

namespace {

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
    meta_write_.sync = o.sync;
  }

  ~RocksSpool() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (monitor_.joinable()) monitor_.join();
    writer_.reset();  // writes what is queued first
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
    uint64_t next_discard = 0;
    if (o_.journal_discards) {  // on from the last record's sequence
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
      it->SeekForPrev(Key(kDiscardKey, std::string(16, 'f')));
      if (it->Valid() && it->key().starts_with(std::string(1, kDiscardKey))) {
        next_discard = std::stoull(it->key().ToString().substr(1), nullptr, 16) + 1;
      }
    }
    writer_ = std::make_unique<BatchWriter>(*db_, o_.sync, [this] { wake_.notify_all(); }, o_.journal_discards,
                                            next_discard);
    Tick();
    monitor_ = std::thread([this] { Monitor(); });
    return Status::Ok();
  }

  void Write(Change c, WriteDone done) override {
    BatchWriter::Item item;
    item.kind = c.kind;
    item.id = std::move(c.id);
    item.content = std::move(c.content);
    item.done = std::move(done);
    switch (c.kind) {
      case Change::Kind::kCommit:
        if (Status s = guard_->AdmitMail(item.content->size()); !s.ok()) {
          item.done(s);
          return;
        }
        // The trace header travels in the content; the envelope record's
        // header field stays empty (doc/spool_format.md).
        item.envelope_record = EncodeEnvelope(*c.envelope, "");
        item.states_record = EncodeRecipients(c.recipients.empty() ? std::vector<RecipientStatus>(c.envelope->routes.size())
                                                                   : c.recipients);
        break;
      case Change::Kind::kUpdate:
        item.states_record = EncodeRecipients(c.recipients);
        break;
      case Change::Kind::kRemove:
        removed_.fetch_add(1, std::memory_order_relaxed);
        break;
    }
    writer_->Queue(std::move(item));
  }

  void Drain() override { writer_->Drain(); }

  Result<Content> ReadContent(const std::string& id) override {
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
    // Older spools keep the trace header in the envelope record.
    if (header.empty()) return Content(std::make_shared<const std::string>(std::move(body)));
    header.append(body);
    return Content(std::make_shared<const std::string>(std::move(header)));
  }

  Result<StoredMessage> Load(const std::string& id) override {
    StoredMessage m;
    m.id = id;
    std::string env_raw, states, header;
    auto s = db_->Get(rocksdb::ReadOptions(), Key(kEnvelopeKey, id), &env_raw);
    if (!s.ok()) return FromRocks(s, "read envelope " + id);
    if (!DecodeEnvelope(env_raw, &m.envelope, &header)) {
      return Status::Corruption("spool: malformed envelope record " + id);
    }
    s = db_->Get(rocksdb::ReadOptions(), Key(kRecipientsKey, id), &states);
    if (!s.ok()) return FromRocks(s, "read states " + id);
    auto decoded = DecodeRecipients(states);
    if (!decoded || decoded->size() != m.envelope.routes.size()) {
      return Status::Corruption("spool: malformed recipient record " + id);
    }
    m.recipients = std::move(*decoded);
    return m;
  }

  Status Recover(const RecoveredStates& each) override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    const std::string prefix(1, kRecipientsKey);
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      std::string id = it->key().ToString().substr(1);
      auto decoded = DecodeRecipients(it->value().ToStringView());
      if (!decoded) return Status::Corruption("spool: malformed recipient record " + id);
      each(std::move(id), std::move(*decoded));
    }
    return FromRocks(it->status(), "recover");
  }

  Status Scan(const std::function<bool(StoredMessage)>& each) override {
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
      if (s.IsNotFound()) continue;  // removed since the iterator began
      if (!s.ok()) return FromRocks(s, "scan " + m.id);
      auto decoded = DecodeRecipients(states);
      if (!decoded || decoded->size() != m.envelope.routes.size()) {
        return Status::Corruption("spool: malformed recipient record " + m.id);
      }
      m.recipients = std::move(*decoded);
      if (!each(std::move(m))) break;
    }
    return FromRocks(it->status(), "scan");
  }

  Status PutMeta(const std::string& name, std::string_view value) override {
    return Written(db_->Put(meta_write_, Key(kMetaKey, name), rocksdb::Slice(value.data(), value.size())),
                   "write " + name);
  }

  Result<std::string> GetMeta(const std::string& name) override {
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), Key(kMetaKey, name), &value);
    if (!s.ok()) return FromRocks(s, "read " + name);
    return value;
  }

  Result<std::vector<Discard>> Discards(const std::string& after, size_t max) override {
    std::vector<Discard> out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    const std::string prefix(1, kDiscardKey);
    it->Seek(after.empty() ? prefix : Key(kDiscardKey, after));
    if (!after.empty() && it->Valid() && it->key() == Key(kDiscardKey, after)) it->Next();
    for (; it->Valid() && it->key().starts_with(prefix) && out.size() < max; it->Next()) {
      out.emplace_back(it->key().ToString().substr(1), it->value().ToString());
    }
    if (!it->status().ok()) return FromRocks(it->status(), "read discards");
    return out;
  }

  Status ForgetDiscards(const std::string& upto) override {
    // DeleteRange's end is exclusive: one past `upto`.
    return Written(db_->DeleteRange(rocksdb::WriteOptions(), db_->DefaultColumnFamily(), Key(kDiscardKey, ""),
                                    Key(kDiscardKey, upto + '\0')),
                   "forget discards");
  }

  Status DeleteMeta(const std::string& name) override {
    return Written(db_->Delete(rocksdb::WriteOptions(), Key(kMetaKey, name)), "delete " + name);
  }

  Result<std::vector<std::pair<std::string, std::string>>> ListMeta(const std::string& prefix) override {
    std::vector<std::pair<std::string, std::string>> out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    const std::string start = Key(kMetaKey, prefix);
    for (it->Seek(start); it->Valid() && it->key().starts_with(start); it->Next()) {
      out.emplace_back(it->key().ToString().substr(1), it->value().ToString());
    }
    if (!it->status().ok()) return FromRocks(it->status(), "list " + prefix);
    return out;
  }

  Status CheckRoom(uint64_t bytes) override { return guard_->AdmitMail(bytes); }

  SpoolHealth Health() override {
    SpoolHealth h;
    h.state = guard_->state();
    h.reason = guard_->reason();
    h.free_bytes = guard_->Free();
    h.min_free = o_.min_free;
    const BatchWriter::Counters w = writer_->counters();
    h.changes = w.changes;
    h.batches = w.batches;
    h.syncs = w.synced_batches;
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
  std::unique_ptr<BatchWriter> writer_;  // between db_ and the monitor: made after the one, gone before it
  rocksdb::WriteOptions meta_write_;
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

Status Spool::WriteAndWait(Change change) {
  std::promise<Status> p;
  auto f = p.get_future();
  Write(std::move(change), [&p](Status s) { p.set_value(std::move(s)); });
  return f.get();
}

Status Spool::Commit(const std::string& id, const Envelope& e, std::string content) {
  return WriteAndWait(Change::Commit(id, std::make_shared<const Envelope>(e),
                                     std::make_shared<const std::string>(std::move(content))));
}

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

int64_t QueueIdTime(const std::string& id) {
  uint64_t us = 0;
  for (size_t i = 0; i < 13 && i < id.size(); ++i) {
    const char c = id[i];
    us = us * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'A' + 10);
  }
  return static_cast<int64_t>(us / 1'000'000);
}

}  // namespace sluice::spool
