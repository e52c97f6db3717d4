// The spool over RocksDB. Each commit is one WriteBatch written with
// sync=true; RocksDB groups concurrent synced writers into one WAL fsync,
// which is what makes per-message durability affordable under load.
#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <atomic>
#include <chrono>
#include <random>

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

class RocksSpool final : public Spool {
 public:
  RocksSpool(std::unique_ptr<rocksdb::DB> db, bool sync) : db_(std::move(db)) {
    write_.sync = sync;
  }

  Status Commit(const std::string& id, const Envelope& envelope, std::string_view header,
                std::string_view body) override {
    rocksdb::WriteBatch batch;
    std::vector<RecipientStatus> pending(envelope.routes.size());
    batch.Put(Key(kEnvelopeKey, id), EncodeEnvelope(envelope, header));
    batch.Put(Key(kBodyKey, id), rocksdb::Slice(body.data(), body.size()));
    batch.Put(Key(kRecipientsKey, id), EncodeRecipients(pending));
    return FromRocks(db_->Write(write_, &batch), "commit");
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
    return FromRocks(db_->Put(write_, Key(kRecipientsKey, id), EncodeRecipients(recipients)),
                     "update " + id);
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
    return FromRocks(db_->Write(unsynced_, &batch), "remove " + id);
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
    return FromRocks(db_->Put(write_, Key(kMetaKey, name), rocksdb::Slice(value.data(), value.size())),
                     "write " + name);
  }

  Result<std::string> GetMeta(const std::string& name) override {
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), Key(kMetaKey, name), &value);
    if (!s.ok()) return FromRocks(s, "read " + name);
    return value;
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::WriteOptions write_;
  rocksdb::WriteOptions unsynced_;
};

}  // namespace

Result<std::unique_ptr<Spool>> OpenSpool(const SpoolOptions& options) {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.IncreaseParallelism(2);
  // Concurrent synced writers are batched into one WAL write and one fsync.
  o.enable_pipelined_write = true;
  // Bodies are written once and deleted soon after delivery: keep them in
  // blob files so compaction does not rewrite them.
  o.enable_blob_files = true;
  o.min_blob_size = 4096;
  o.enable_blob_garbage_collection = true;
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(o, options.path, &raw);
  if (!s.ok()) return FromRocks(s, "open " + options.path);
  return std::unique_ptr<Spool>(new RocksSpool(std::unique_ptr<rocksdb::DB>(raw), options.sync));
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
