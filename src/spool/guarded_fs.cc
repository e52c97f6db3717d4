#include "spool/guarded_fs.h"

namespace sluice::spool {
namespace {

using rocksdb::DataVerificationInfo;
using rocksdb::FileOptions;
using rocksdb::FSWritableFile;
using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

IOStatus Refused(uint64_t bytes) {
  IOStatus s = IOStatus::NoSpace("spool space guard refused a write of " + std::to_string(bytes) + " bytes");
  s.SetRetryable(true);  // RocksDB then resumes by itself once space is back
  return s;
}

class GuardedFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  GuardedFile(std::unique_ptr<FSWritableFile> f, SpaceGuard& g, bool background)
      : FSWritableFileOwnerWrapper(std::move(f)), guard_(g), background_(background) {}

  IOStatus Append(const Slice& d, const IOOptions& o, IODebugContext* dbg) override {
    if (!guard_.AdmitWrite(d.size(), background_)) return Refused(d.size());
    return FSWritableFileOwnerWrapper::Append(d, o, dbg);
  }
  IOStatus Append(const Slice& d, const IOOptions& o, const DataVerificationInfo& v,
                  IODebugContext* dbg) override {
    if (!guard_.AdmitWrite(d.size(), background_)) return Refused(d.size());
    return FSWritableFileOwnerWrapper::Append(d, o, v, dbg);
  }
  IOStatus PositionedAppend(const Slice& d, uint64_t off, const IOOptions& o, IODebugContext* dbg) override {
    if (!guard_.AdmitWrite(d.size(), background_)) return Refused(d.size());
    return FSWritableFileOwnerWrapper::PositionedAppend(d, off, o, dbg);
  }
  IOStatus PositionedAppend(const Slice& d, uint64_t off, const IOOptions& o, const DataVerificationInfo& v,
                            IODebugContext* dbg) override {
    if (!guard_.AdmitWrite(d.size(), background_)) return Refused(d.size());
    return FSWritableFileOwnerWrapper::PositionedAppend(d, off, o, v, dbg);
  }

 private:
  SpaceGuard& guard_;
  const bool background_;
};

class GuardedFs final : public rocksdb::FileSystemWrapper {
 public:
  GuardedFs(std::shared_ptr<rocksdb::FileSystem> base, SpaceGuard& g) : FileSystemWrapper(std::move(base)), guard_(g) {}
  const char* Name() const override { return "SluiceGuardedFs"; }

  IOStatus NewWritableFile(const std::string& name, const FileOptions& fo, std::unique_ptr<FSWritableFile>* r,
                           IODebugContext* dbg) override {
    std::unique_ptr<FSWritableFile> inner;
    IOStatus s = target()->NewWritableFile(name, fo, &inner, dbg);
    if (s.ok()) *r = Wrap(name, std::move(inner));
    return s;
  }
  IOStatus ReopenWritableFile(const std::string& name, const FileOptions& fo, std::unique_ptr<FSWritableFile>* r,
                              IODebugContext* dbg) override {
    std::unique_ptr<FSWritableFile> inner;
    IOStatus s = target()->ReopenWritableFile(name, fo, &inner, dbg);
    if (s.ok()) *r = Wrap(name, std::move(inner));
    return s;
  }
  IOStatus ReuseWritableFile(const std::string& name, const std::string& old, const FileOptions& fo,
                             std::unique_ptr<FSWritableFile>* r, IODebugContext* dbg) override {
    std::unique_ptr<FSWritableFile> inner;
    IOStatus s = target()->ReuseWritableFile(name, old, fo, &inner, dbg);
    if (s.ok()) *r = Wrap(name, std::move(inner));
    return s;
  }

 private:
  // The WAL is the foreground: commits and state changes. Tables, blobs and
  // the manifest are written by flushes and compactions, which must still
  // run after the foreground stops, so they get the lower floor.
  std::unique_ptr<FSWritableFile> Wrap(const std::string& name, std::unique_ptr<FSWritableFile> f) {
    const bool wal = name.size() > 4 && name.compare(name.size() - 4, 4, ".log") == 0;
    return std::make_unique<GuardedFile>(std::move(f), guard_, !wal);
  }
  SpaceGuard& guard_;
};

}  // namespace

std::shared_ptr<rocksdb::FileSystem> GuardedFileSystem(std::shared_ptr<rocksdb::FileSystem> base,
                                                       SpaceGuard& guard) {
  return std::make_shared<GuardedFs>(std::move(base), guard);
}

}  // namespace sluice::spool
