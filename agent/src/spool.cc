#include "agent/src/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/src/wire.h"

namespace fieldlog::agent {
namespace {

constexpr char kFileMagic[8] = {'F', 'L', 'S', 'P', 'O', 'O', 'L', '1'};
constexpr uint32_t kChunkMagic = 0x314C5346;  // "FSL1" little-endian
constexpr size_t kChunkHeader = 12;
constexpr size_t kChunkPayload = 64 * 1024;
// Buffered bytes past which Append commits by itself.
constexpr size_t kAutoCommitBytes = 256 * 1024;
// A fully released newest segment this big is replaced by a fresh one.
constexpr uint64_t kRollReleasedBytes = 64 * 1024;
constexpr uint8_t kRecordEntry = 1, kRecordSession = 2, kRecordUser = 3;
constexpr uint8_t kLevelWarn = 4, kAllLevels = 7;

absl::Status Errno(const char* what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

uint32_t Load32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
void Store32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }

// The checksum of a chunk: its size field (4 bytes at `size`), then its payload.
uint32_t ChunkCrc(const char* size, const char* payload, size_t payload_size) {
  return static_cast<uint32_t>(crc32(crc32(0L, reinterpret_cast<const Bytef*>(size), 4),
                                     reinterpret_cast<const Bytef*>(payload),
                                     static_cast<uInt>(payload_size)));
}
uint32_t ChunkCrc(const char* header, size_t payload_size) {
  return ChunkCrc(header + 4, header + kChunkHeader, payload_size);
}

absl::Status WriteAll(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno("cannot write", path);
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

bool ReadFile(const std::string& path, std::string* out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out->clear();
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return true;
}

// The chunks of a segment file: valid payloads in order, and how many bytes
// were skipped as torn or corrupt.
struct ParsedSegment {
  std::vector<std::string_view> payloads;
  uint64_t skipped = 0;
  bool bad_header = false;
};

ParsedSegment ParseSegment(std::string_view file) {
  ParsedSegment parsed;
  if (file.size() < sizeof(kFileMagic) || std::memcmp(file.data(), kFileMagic, 8) != 0) {
    parsed.bad_header = true;
    parsed.skipped = file.size();
    return parsed;
  }
  size_t pos = sizeof(kFileMagic);
  size_t skip_from = std::string_view::npos;
  while (pos + kChunkHeader <= file.size()) {
    const char* p = file.data() + pos;
    const uint32_t size = Load32(p + 4);
    if (Load32(p) == kChunkMagic && size <= file.size() - pos - kChunkHeader &&
        Load32(p + 8) == ChunkCrc(p, size)) {
      if (skip_from != std::string_view::npos) parsed.skipped += pos - skip_from;
      skip_from = std::string_view::npos;
      parsed.payloads.push_back(file.substr(pos + kChunkHeader, size));
      pos += kChunkHeader + size;
      continue;
    }
    // Damaged: resynchronise at the next chunk whose checksum holds.
    if (skip_from == std::string_view::npos) skip_from = pos;
    ++pos;
  }
  if (skip_from == std::string_view::npos) skip_from = pos;
  parsed.skipped += file.size() - skip_from;
  return parsed;
}

// Calls `fn(type, body)` for each record of a chunk payload; stops at a
// malformed record (which a valid checksum makes a bug, not damage).
template <typename Fn>
void ForEachRecord(std::string_view payload, Fn fn) {
  size_t pos = 0;
  while (pos < payload.size()) {
    uint64_t size;
    if (!wire::GetVarint(payload, &pos, &size) || size == 0 || size > payload.size() - pos) return;
    fn(static_cast<uint8_t>(payload[pos]), payload.substr(pos + 1, size - 1));
    pos += size;
  }
}

struct EntryRecord {
  uint8_t level = 0, kind = 0;
  uint64_t seq = 0, gap_count = 0;
  std::string_view body;
};

bool ParseEntry(std::string_view body, EntryRecord* e) {
  if (body.size() < 3) return false;
  e->level = static_cast<uint8_t>(body[0]);
  e->kind = static_cast<uint8_t>(body[1]);
  size_t pos = 2;
  if (!wire::GetVarint(body, &pos, &e->seq)) return false;
  e->gap_count = 0;
  if (e->kind == Spool::kKindGap && !wire::GetVarint(body, &pos, &e->gap_count)) return false;
  e->body = body.substr(pos);
  return true;
}

// The device time of an entry body (its first field, as the agent writes it).
int64_t BodyTime(std::string_view body) {
  size_t pos = 0;
  uint64_t tag = 0, time = 0;
  if (wire::GetVarint(body, &pos, &tag) && tag == (wire::kEntryTime << 3) &&
      wire::GetVarint(body, &pos, &time)) {
    return static_cast<int64_t>(time);
  }
  return 0;
}

std::string GapBody(uint64_t count, int64_t time_us, std::string_view reason) {
  std::string body;
  wire::PutVarintField(&body, wire::kEntryTime, static_cast<uint64_t>(time_us));
  wire::PutVarintField(&body, wire::kEntryLevel, kLevelWarn);
  wire::PutBytesField(&body, wire::kEntryTag, "fieldlog");
  wire::PutBytesField(
      &body, wire::kEntryMessage,
      absl::StrCat(count, count == 1 ? " line" : " lines", " dropped: ", std::string(reason)));
  std::string attribute, value;
  wire::PutVarintField(&value, 2, count);  // Value.int_value
  wire::PutBytesField(&attribute, 1, "dropped");
  wire::PutBytesField(&attribute, 2, value);
  wire::PutBytesField(&body, wire::kEntryAttributes, attribute);
  wire::PutVarintField(&body, wire::kEntryKind, Spool::kKindGap);
  return body;
}

void PutEntryRecord(std::string* out, uint8_t level, uint8_t kind, uint64_t seq, uint64_t gap_count,
                    std::string_view body) {
  std::string head;
  head.push_back(static_cast<char>(kRecordEntry));
  head.push_back(static_cast<char>(level));
  head.push_back(static_cast<char>(kind));
  wire::PutVarint(&head, seq);
  if (kind == Spool::kKindGap) wire::PutVarint(&head, gap_count);
  wire::PutVarint(out, head.size() + body.size());
  out->append(head);
  out->append(body.data(), body.size());
}

void PutPlainRecord(std::string* out, uint8_t type, std::string_view body) {
  wire::PutVarint(out, 1 + body.size());
  out->push_back(static_cast<char>(type));
  out->append(body.data(), body.size());
}

// Frames `records` as chunks of at most kChunkPayload (at record bounds).
std::string FrameChunks(std::string_view records) {
  std::string out;
  size_t start = 0;
  while (start < records.size()) {
    size_t end = start, pos = start;
    while (pos < records.size()) {
      uint64_t size;
      size_t p = pos;
      if (!wire::GetVarint(records, &p, &size)) break;
      if (p + size - start > kChunkPayload && end > start) break;
      pos = p + size;
      end = pos;
    }
    const size_t header_at = out.size();
    out.resize(out.size() + kChunkHeader);
    out.append(records.data() + start, end - start);
    char* h = out.data() + header_at;
    Store32(h, kChunkMagic);
    Store32(h + 4, static_cast<uint32_t>(end - start));
    Store32(h + 8, ChunkCrc(h, end - start));
    start = end;
  }
  return out;
}

absl::Status WriteFileAtomically(const std::string& path, std::string_view chunks, bool sync) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot create", tmp);
  absl::Status s = WriteAll(fd, kFileMagic, sizeof(kFileMagic), tmp);
  if (s.ok()) s = WriteAll(fd, chunks.data(), chunks.size(), tmp);
  if (s.ok() && sync && ::fdatasync(fd) != 0) s = Errno("cannot sync", tmp);
  ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = Errno("cannot rename", tmp);
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

}  // namespace

Spool::Spool(const Options& options)
    : options_(options),
      segment_bytes_(std::clamp<size_t>(options.max_bytes / 8, 16 * 1024, 4 << 20)) {}

Spool::~Spool() {
  if (fd_ >= 0) ::close(fd_);
  if (read_fd_ >= 0) ::close(read_fd_);
}

std::string Spool::PathOf(uint64_t first_seq) const {
  return absl::StrFormat("%s/%016x.seg", options_.dir, first_seq);
}

absl::StatusOr<std::unique_ptr<Spool>> Spool::Open(const Options& options, Recovery* recovery) {
  if (::mkdir(options.dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Errno("cannot create spool directory", options.dir);
  }
  std::unique_ptr<Spool> spool(new Spool(options));
  Recovery ignored;
  if (absl::Status s = spool->Recover(recovery ? recovery : &ignored); !s.ok()) return s;
  if (absl::Status s = spool->StartSegment(); !s.ok()) return s;
  return spool;
}

absl::Status Spool::Recover(Recovery* recovery) {
  DIR* dir = ::opendir(options_.dir.c_str());
  if (dir == nullptr) return Errno("cannot list", options_.dir);
  std::vector<uint64_t> names;
  while (dirent* e = ::readdir(dir)) {
    const std::string_view name = e->d_name;
    if (name.ends_with(".tmp")) {
      ::unlink(absl::StrCat(options_.dir, "/", std::string(name)).c_str());
      continue;
    }
    if (name.size() != 20 || !name.ends_with(".seg")) continue;
    const std::string hex(name.substr(0, 16));
    char* end = nullptr;
    const uint64_t first = std::strtoull(hex.c_str(), &end, 16);
    if (end == hex.c_str() + 16 && first > 0) names.push_back(first);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  std::string file;
  uint64_t covered = 0;  // the highest seq of the segments kept so far
  for (uint64_t first : names) {
    const std::string path = PathOf(first);
    if (!ReadFile(path, &file)) continue;
    ParsedSegment parsed = ParseSegment(file);
    Segment segment;
    segment.first_seq = first;
    segment.generation = ++generation_;
    segment.lowest_log_level = kNoLogLines;
    uint64_t entries = 0;
    for (std::string_view payload : parsed.payloads) {
      ForEachRecord(payload, [&](uint8_t type, std::string_view body) {
        EntryRecord e;
        if (type == kRecordEntry && ParseEntry(body, &e)) {
          segment.last_seq = std::max(segment.last_seq, e.seq);
          if (e.kind == kKindLog) {
            segment.lowest_log_level = std::min(segment.lowest_log_level, e.level);
          }
          if (e.kind != kKindGap) ++segment.entries_besides_gaps;
          ++entries;
        }
      });
    }
    // Seqs rise from file to file; a GAP-only file whose seqs an earlier
    // file covers was folded into it by a FoldGaps that a crash cut short
    // before deleting it. Its count is in the fold already.
    if (segment.only_gaps() && segment.last_seq <= covered) {
      ::unlink(path.c_str());
      continue;
    }
    covered = std::max(covered, segment.last_seq);
    recovery->entries += entries;
    ++recovery->segments;
    if (parsed.skipped > 0) {
      recovery->corrupt_bytes += parsed.skipped;
      absl::StrAppend(&recovery->report, recovery->report.empty() ? "" : "; ", "segment ", path,
                      ": ", parsed.skipped, " damaged bytes skipped");
      std::string good;
      for (std::string_view payload : parsed.payloads) {
        good.append(FrameChunks(payload));
      }
      if (absl::Status s = WriteFileAtomically(path, good, options_.fsync); !s.ok()) return s;
      segment.bytes = sizeof(kFileMagic) + good.size();
    } else {
      segment.bytes = file.size();
    }
    segment.durable = segment.bytes;
    next_seq_ = std::max({next_seq_, first, segment.last_seq + 1});
    segments_.push_back(segment);
  }
  // A newest segment without entries is where the next one would start:
  // drop it (it holds at most a context) so the name is free.
  while (!segments_.empty() && segments_.back().last_seq == 0 &&
         segments_.back().first_seq == next_seq_) {
    ::unlink(PathOf(segments_.back().first_seq).c_str());
    segments_.pop_back();
  }
  return absl::OkStatus();
}

absl::Status Spool::StartSegment() {
  if (fd_ >= 0) {
    if (options_.fsync) ::fdatasync(fd_);
    ::close(fd_);
    fd_ = -1;
    if (!segments_.empty()) segments_.back().durable = segments_.back().bytes;
  }
  Segment segment;
  segment.first_seq = next_seq_;
  segment.generation = ++generation_;
  segment.lowest_log_level = kNoLogLines;
  const std::string path = PathOf(segment.first_seq);
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0) return Errno("cannot create", path);
  if (absl::Status s = WriteAll(fd_, kFileMagic, sizeof(kFileMagic), path); !s.ok()) return s;
  segment.bytes = segment.durable = sizeof(kFileMagic);
  segments_.push_back(segment);
  context_written_ = false;
  return absl::OkStatus();
}

void Spool::PutRecord(uint8_t type, std::string_view body) {
  if (open_chunk_ == std::string::npos) {
    open_chunk_ = pending_.size();
    pending_.resize(pending_.size() + kChunkHeader);
  }
  PutPlainRecord(&pending_, type, body);
}

void Spool::PutContextIfNeeded() {
  if (context_written_) return;
  context_written_ = true;
  PutRecord(kRecordSession, session_);
  PutRecord(kRecordUser, user_);
}

void Spool::SetContext(std::string_view session_id, std::string_view user_id) {
  if (session_id != session_) {
    session_.assign(session_id.data(), session_id.size());
    if (context_written_) PutRecord(kRecordSession, session_);
  }
  if (user_id != user_) {
    user_.assign(user_id.data(), user_id.size());
    if (context_written_) PutRecord(kRecordUser, user_);
  }
}

uint64_t Spool::Append(uint8_t level, uint8_t kind, std::string_view body) {
  PutContextIfNeeded();
  if (open_chunk_ == std::string::npos) {
    open_chunk_ = pending_.size();
    pending_.resize(pending_.size() + kChunkHeader);
  }
  const uint64_t seq = next_seq_++;
  PutEntryRecord(&pending_, level, kind, seq, 0, body);
  pending_last_seq_ = seq;
  if (kind == kKindLog) pending_lowest_log_level_ = std::min(pending_lowest_log_level_, level);
  if (kind != kKindGap) ++pending_entries_besides_gaps_;
  if (pending_.size() - open_chunk_ >= kChunkPayload) SealChunk();
  if (pending_.size() >= kAutoCommitBytes) Commit().IgnoreError();  // reported by the next Commit
  return seq;
}

uint64_t Spool::AppendGap(uint64_t count, int64_t time_us, std::string_view reason) {
  PutContextIfNeeded();
  if (open_chunk_ == std::string::npos) {
    open_chunk_ = pending_.size();
    pending_.resize(pending_.size() + kChunkHeader);
  }
  const uint64_t seq = next_seq_++;
  PutEntryRecord(&pending_, kLevelWarn, kKindGap, seq, count, GapBody(count, time_us, reason));
  pending_last_seq_ = seq;
  return seq;
}

void Spool::SealChunk() {
  if (open_chunk_ == std::string::npos) return;
  char* h = pending_.data() + open_chunk_;
  const size_t size = pending_.size() - open_chunk_ - kChunkHeader;
  Store32(h, kChunkMagic);
  Store32(h + 4, static_cast<uint32_t>(size));
  Store32(h + 8, ChunkCrc(h, size));
  open_chunk_ = std::string::npos;
}

absl::Status Spool::Commit() {
  SealChunk();
  if (!pending_.empty()) {
    Segment& active = segments_.back();
    if (absl::Status s = WriteAll(fd_, pending_.data(), pending_.size(), PathOf(active.first_seq));
        !s.ok()) {
      // Keep nothing half-known: drop the buffer (its lines are lost and the
      // error is reported), and start a fresh segment after the torn one.
      pending_.clear();
      pending_lowest_log_level_ = kNoLogLines;
      pending_entries_besides_gaps_ = 0;
      StartSegment().IgnoreError();
      return s;
    }
    active.bytes += pending_.size();
    active.last_seq = std::max(active.last_seq, pending_last_seq_);
    active.lowest_log_level = std::min(active.lowest_log_level, pending_lowest_log_level_);
    active.entries_besides_gaps += pending_entries_besides_gaps_;
    pending_lowest_log_level_ = kNoLogLines;
    pending_entries_besides_gaps_ = 0;
    if (!options_.fsync) active.durable = active.bytes;
    pending_.clear();
  }
  if (segments_.back().bytes >= segment_bytes_) {
    if (absl::Status s = StartSegment(); !s.ok()) return s;
  }
  if (absl::Status s = MaybeRollReleased(); !s.ok()) return s;
  return EvictIfNeeded();
}

absl::Status Spool::Sync() {
  if (fd_ < 0) return absl::OkStatus();
  if (options_.fsync && segments_.back().durable < segments_.back().bytes &&
      ::fdatasync(fd_) != 0) {
    return Errno("cannot sync", PathOf(segments_.back().first_seq));
  }
  segments_.back().durable = segments_.back().bytes;
  return absl::OkStatus();
}

uint64_t Spool::bytes() const {
  uint64_t total = pending_.size();
  for (const Segment& s : segments_) total += s.bytes;
  return total;
}

absl::Status Spool::MaybeRollReleased() {
  // Delete older segments that hold nothing unreleased.
  while (segments_.size() > 1 && segments_.front().last_seq <= released_ &&
         segments_.front().durable == segments_.front().bytes) {
    ::unlink(PathOf(segments_.front().first_seq).c_str());
    segments_.erase(segments_.begin());
  }
  Segment& active = segments_.back();
  if (pending_.empty() && active.last_seq != 0 && active.last_seq <= released_ &&
      active.bytes >= kRollReleasedBytes) {
    const uint64_t old = active.first_seq;
    if (absl::Status s = StartSegment(); !s.ok()) return s;
    ::unlink(PathOf(old).c_str());
    segments_.erase(segments_.end() - 2);
  }
  return absl::OkStatus();
}

void Spool::Release(uint64_t seq) { released_ = std::max(released_, std::min(seq, last_seq())); }

absl::Status Spool::EvictIfNeeded() {
  if (bytes() <= options_.max_bytes) return absl::OkStatus();
  const uint64_t target = options_.max_bytes - options_.max_bytes / 8;
  for (uint8_t max_level : {uint8_t{2}, uint8_t{3}, kAllLevels}) {
    for (size_t i = 0; i + 1 < segments_.size() && bytes() > target; ++i) {
      // Skip what this pass could not shrink: no line at or below its level,
      // or (the last pass) nothing but gap markers.
      const Segment& segment = segments_[i];
      if (max_level == kAllLevels ? segment.entries_besides_gaps == 0
                                  : segment.lowest_log_level > max_level) {
        continue;
      }
      if (absl::Status s = RewriteSegment(i, max_level); !s.ok()) return s;
    }
    if (bytes() <= target) break;
  }
  // Segments left empty by the rewrite go.
  for (size_t i = 0; i + 1 < segments_.size();) {
    if (segments_[i].last_seq == 0) {
      ::unlink(PathOf(segments_[i].first_seq).c_str());
      segments_.erase(segments_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  return FoldGapRuns();
}

absl::Status Spool::FoldGapRuns() {
  for (size_t i = 0; i + 1 < segments_.size(); ++i) {
    size_t end = i;  // one past the run of GAP-only segments from i
    while (end + 1 < segments_.size() && segments_[end].only_gaps()) ++end;
    // A run the reader has started may be in a batch on its way: leave it.
    if (end - i >= 2 && segments_[i].first_seq > read_after_) {
      if (absl::Status s = FoldGaps(i, end); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::Status Spool::FoldGaps(size_t first, size_t end) {
  // The folded GAP: the first one's context and time (where the timeline
  // shows it), the last one's seq (so seqs still rise from file to file, and
  // recovery can tell a left-over file by its seq), the summed count.
  std::string session, user;
  uint64_t count = 0, seq = 0;
  int64_t time_us = 0;
  bool first_gap = true;
  std::string file;
  for (size_t i = first; i < end; ++i) {
    const std::string path = PathOf(segments_[i].first_seq);
    if (!ReadFile(path, &file)) return Errno("cannot read", path);
    ++segments_read_by_eviction_;
    std::string segment_session, segment_user;
    for (std::string_view payload : ParseSegment(file).payloads) {
      ForEachRecord(payload, [&](uint8_t type, std::string_view body) {
        if (type == kRecordSession) segment_session.assign(body.data(), body.size());
        if (type == kRecordUser) segment_user.assign(body.data(), body.size());
        EntryRecord e;
        if (type != kRecordEntry || !ParseEntry(body, &e) || e.kind != kKindGap ||
            e.seq <= released_) {
          return;
        }
        if (first_gap) {
          first_gap = false;
          session = segment_session;
          user = segment_user;
          time_us = BodyTime(e.body);
        }
        count += e.gap_count;
        seq = std::max(seq, e.seq);
      });
    }
  }
  Segment& folded = segments_[first];
  if (count > 0) {
    std::string records;
    PutPlainRecord(&records, kRecordSession, session);
    PutPlainRecord(&records, kRecordUser, user);
    PutEntryRecord(&records, kLevelWarn, kKindGap, seq, count,
                   GapBody(count, time_us, "the spool was full"));
    const std::string chunks = FrameChunks(records);
    const std::string path = PathOf(folded.first_seq);
    if (absl::Status s = WriteFileAtomically(path, chunks, options_.fsync); !s.ok()) return s;
    folded.bytes = folded.durable = sizeof(kFileMagic) + chunks.size();
    folded.last_seq = seq;
  } else {
    // Everything in the run was released meanwhile.
    ::unlink(PathOf(folded.first_seq).c_str());
    folded.bytes = folded.durable = 0;
    folded.last_seq = 0;
  }
  folded.generation = ++generation_;
  // Only now, with the fold on disk, do the folded files go.
  for (size_t i = first + 1; i < end; ++i) ::unlink(PathOf(segments_[i].first_seq).c_str());
  segments_.erase(segments_.begin() + static_cast<std::ptrdiff_t>(first + 1),
                  segments_.begin() + static_cast<std::ptrdiff_t>(end));
  if (folded.last_seq == 0) segments_.erase(segments_.begin() + static_cast<std::ptrdiff_t>(first));
  // The reader may hold a chunk of a folded file: it reads on from disk.
  Rewind(read_after_);
  return absl::OkStatus();
}

absl::Status Spool::RewriteSegment(size_t index, uint8_t max_level) {
  Segment& segment = segments_[index];
  const std::string path = PathOf(segment.first_seq);
  std::string file;
  if (!ReadFile(path, &file)) return Errno("cannot read", path);
  ++segments_read_by_eviction_;
  ParsedSegment parsed = ParseSegment(file);
  uint8_t kept_lowest_log_level = kNoLogLines;
  uint64_t kept_entries_besides_gaps = 0;
  std::string records;
  // What this rewrite drops becomes a GAP, at the place (and with the seq and
  // time) of the first line dropped; two when it drops lines Next() has
  // returned too. Those may be in a batch on its way: their GAP has a seq the
  // reader has passed, so it goes out only after a rewind, which is when the
  // batch failed, and the collector drops it as a duplicate if the batch was
  // stored after all. The others' GAP has a seq the reader has yet to reach.
  struct Gap {
    size_t at = std::string::npos;  // offset in `records`
    uint64_t seq = 0, count = 0;
    int64_t time = 0;
  };
  Gap gaps[2];  // [0]: of lines not yet returned by Next(); [1]: of lines returned
  uint64_t last_seq = 0, lines_evicted = 0;
  bool changed = parsed.skipped > 0;
  std::string session, user;
  bool context_out = false;
  const auto put_context = [&] {
    if (context_out) return;
    context_out = true;
    PutPlainRecord(&records, kRecordSession, session);
    PutPlainRecord(&records, kRecordUser, user);
  };
  for (std::string_view payload : parsed.payloads) {
    ForEachRecord(payload, [&](uint8_t type, std::string_view body) {
      if (type == kRecordSession || type == kRecordUser) {
        std::string& target = type == kRecordSession ? session : user;
        if (body != target) {
          target.assign(body.data(), body.size());
          if (context_out) PutPlainRecord(&records, type, body);
        }
        return;
      }
      EntryRecord e;
      if (type != kRecordEntry || !ParseEntry(body, &e)) return;
      if (e.seq <= released_) {
        changed = true;
        return;
      }
      Gap& gap = gaps[e.seq <= read_after_ ? 1 : 0];
      const bool evict = max_level == kAllLevels || (e.kind == kKindLog && e.level <= max_level) ||
                         (e.kind == kKindGap && gap.at != std::string::npos);
      if (evict) {
        changed = true;
        if (gap.at == std::string::npos) {
          put_context();
          gap.at = records.size();
          gap.seq = e.seq;
          gap.time = BodyTime(e.body);
        }
        gap.count += e.kind == kKindGap ? e.gap_count : 1;
        if (e.kind != kKindGap) ++lines_evicted;
        return;
      }
      put_context();
      PutEntryRecord(&records, e.level, e.kind, e.seq, e.gap_count, e.body);
      last_seq = std::max(last_seq, e.seq);
      if (e.kind == kKindLog) kept_lowest_log_level = std::min(kept_lowest_log_level, e.level);
      if (e.kind != kKindGap) ++kept_entries_besides_gaps;
    });
  }
  // The later one first, so the earlier one's offset still holds (lines
  // returned by Next() come before the others: seqs rise through a file).
  for (const Gap& gap : gaps) {
    if (gap.at == std::string::npos) continue;
    std::string record;
    PutEntryRecord(&record, kLevelWarn, kKindGap, gap.seq, gap.count,
                   GapBody(gap.count, gap.time,
                           max_level == kAllLevels
                               ? "the spool was full (oldest lines go first)"
                               : "the spool was full (trace and debug go first, then info)"));
    records.insert(gap.at, record);
    last_seq = std::max(last_seq, gap.seq);
  }
  // What the file holds once this returns is now known exactly.
  const auto note_kept = [&] {
    segment.lowest_log_level = kept_lowest_log_level;
    segment.entries_besides_gaps = kept_entries_besides_gaps;
  };
  if (!changed) {
    note_kept();
    return absl::OkStatus();
  }
  const std::string chunks = FrameChunks(records);
  if (absl::Status s = WriteFileAtomically(path, chunks, options_.fsync); !s.ok()) return s;
  note_kept();
  segment.bytes = segment.durable = sizeof(kFileMagic) + chunks.size();
  segment.last_seq = last_seq;
  segment.generation = ++generation_;
  evicted_ += lines_evicted;
  // A chunk of the old file the reader holds would hand out evicted lines
  // and then pass their GAP by: it reads on from the new file instead.
  if (read_segment_ == segment.first_seq) Rewind(read_after_);
  return absl::OkStatus();
}

absl::Status Spool::Wipe() {
  pending_.clear();
  open_chunk_ = std::string::npos;
  for (const Segment& s : segments_) ::unlink(PathOf(s.first_seq).c_str());
  segments_.clear();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  released_ = last_seq();
  Rewind(released_);
  return StartSegment();
}

void Spool::Rewind(uint64_t after_seq) {
  read_after_ = after_seq;
  read_segment_ = 0;
  chunk_.clear();
  chunk_pos_ = 0;
}

bool Spool::LoadNextChunk() {
  for (int guard = 0; guard < 1000000; ++guard) {
    auto it = std::find_if(segments_.begin(), segments_.end(),
                           [&](const Segment& s) { return s.first_seq == read_segment_; });
    if (read_segment_ == 0 || it == segments_.end() || it->generation != read_generation_) {
      // (Re)position: the last segment that can hold read_after_ + 1.
      if (segments_.empty()) return false;
      it = segments_.begin();
      for (auto s = segments_.begin(); s != segments_.end(); ++s) {
        if (s->first_seq <= read_after_ + 1) it = s;
      }
      read_segment_ = it->first_seq;
      read_generation_ = it->generation;
      read_offset_ = sizeof(kFileMagic);
      read_session_.clear();
      read_user_.clear();
      if (read_fd_ >= 0) ::close(read_fd_);
      read_fd_ = ::open(PathOf(read_segment_).c_str(), O_RDONLY | O_CLOEXEC);
    }
    if (read_fd_ >= 0 && read_offset_ + kChunkHeader <= it->durable) {
      char header[kChunkHeader];
      if (::pread(read_fd_, header, kChunkHeader, static_cast<off_t>(read_offset_)) ==
          static_cast<ssize_t>(kChunkHeader)) {
        const uint32_t size = Load32(header + 4);
        if (Load32(header) == kChunkMagic && read_offset_ + kChunkHeader + size <= it->durable) {
          chunk_.resize(size);
          if (::pread(read_fd_, chunk_.data(), size,
                      static_cast<off_t>(read_offset_ + kChunkHeader)) ==
              static_cast<ssize_t>(size)) {
            if (Load32(header + 8) == ChunkCrc(header + 4, chunk_.data(), size)) {
              read_offset_ += kChunkHeader + size;
              chunk_pos_ = 0;
              return true;
            }
          }
        }
      }
      // Damage that appeared after Open(): skip the rest of this segment.
      read_offset_ = it->durable;
      continue;
    }
    // The end of this segment's readable bytes: move on if a newer one exists.
    auto next = std::next(it);
    if (next == segments_.end() || read_offset_ < it->bytes) return false;
    read_segment_ = next->first_seq;
    read_generation_ = next->generation;
    read_offset_ = sizeof(kFileMagic);
    read_session_.clear();
    read_user_.clear();
    if (read_fd_ >= 0) ::close(read_fd_);
    read_fd_ = ::open(PathOf(read_segment_).c_str(), O_RDONLY | O_CLOEXEC);
  }
  return false;
}

bool Spool::Next(Entry* entry) {
  for (;;) {
    while (chunk_pos_ < chunk_.size()) {
      uint64_t size;
      size_t pos = chunk_pos_;
      if (!wire::GetVarint(chunk_, &pos, &size) || size == 0 || size > chunk_.size() - pos) {
        chunk_pos_ = chunk_.size();
        break;
      }
      chunk_pos_ = pos + size;
      const uint8_t type = static_cast<uint8_t>(chunk_[pos]);
      const std::string_view body = std::string_view(chunk_).substr(pos + 1, size - 1);
      if (type == kRecordSession) {
        read_session_.assign(body.data(), body.size());
      } else if (type == kRecordUser) {
        read_user_.assign(body.data(), body.size());
      } else if (type == kRecordEntry) {
        EntryRecord e;
        if (!ParseEntry(body, &e) || e.seq <= read_after_) continue;
        read_after_ = e.seq;
        entry->seq = e.seq;
        entry->level = e.level;
        entry->kind = e.kind;
        entry->gap_count = e.gap_count;
        entry->body = e.body;
        entry->session_id = read_session_;
        entry->user_id = read_user_;
        return true;
      }
    }
    if (!LoadNextChunk()) return false;
  }
}

}  // namespace fieldlog::agent
