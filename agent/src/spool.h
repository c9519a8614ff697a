// Spool: the agent's append-only, CRC-framed store of entries on disk, from
// the moment they leave a thread's buffer until the collector acknowledges
// them.
//
// Files (in `dir`): segments named <first seq, 16 hex digits>.seg, oldest
// first; only the newest is appended to. A segment is
//
//   "FLSPOOL1"  then chunks:
//   chunk   := u32 magic 0x314C5346 | u32 payload size | u32 crc32(size, payload) | payload
//   payload := records: varint size | u8 type | body
//     ENTRY   body := u8 level | u8 kind | varint seq | [varint count if kind is GAP]
//                     | Entry protobuf fields without the seq (see wire.h)
//     SESSION body := session id     (applies to the entries after it)
//     USER    body := user id
//
// Every segment restates the session and user before its first entry, so any
// segment can be read alone. Sequence numbers are strictly increasing across
// segments and restarts: the newest segment's name and entries give the next.
//
// Guarantees and limits:
// - Commit() writes what Append() buffered (one write per call); Sync()
//   fsyncs it (when Options.fsync). Next() returns only synced entries (or
//   committed ones without fsync), so the collector never holds a seq that a
//   power cut could make the device hand out again.
// - Open() checks every chunk: a torn or corrupt chunk is skipped (reading
//   resynchronises at the next valid chunk), the segment is rewritten without
//   it, and the damage is reported. Nothing in a spool makes Open() crash.
// - Over max_bytes, Commit() evicts from the oldest segments: first trace and
//   debug lines, then info, then everything, leaving GAP entries that count
//   what went (a GAP takes the seq of the first line it replaces). Entries
//   already released go first, silently. Lines Next() has returned (maybe
//   in a batch on its way) get a GAP of their own, which the reader sees
//   only after a Rewind (the batch failed); the others' GAP is ahead of it. The newest segment is
//   never evicted; it is at most max_bytes/8.
// - Segments left holding nothing but GAP entries (each eviction of the
//   oldest lines leaves one) are folded, a run of them into its first file as
//   one GAP with their summed count and the last one's seq, so a device
//   offline for days keeps one marker and one file, not thousands. A run is
//   folded only before Next() has returned any of it. Open() deletes a
//   GAP-only segment whose seqs an earlier segment already covers: what a
//   crash between writing a fold and deleting the files it folded leaves.
//
// Not thread-safe: one thread (the agent's background thread) owns it.
#ifndef FIELDLOG_AGENT_SRC_SPOOL_H_
#define FIELDLOG_AGENT_SRC_SPOOL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fieldlog::agent {

class Spool {
 public:
  struct Options {
    std::string dir;
    size_t max_bytes = 8 << 20;
    bool fsync = true;
  };
  // What Open() found.
  struct Recovery {
    uint64_t segments = 0;
    uint64_t entries = 0;        // entries found (released or not)
    uint64_t corrupt_bytes = 0;  // bytes skipped as torn or corrupt
    std::string report;          // human-readable, empty when all was well
  };
  // One entry read back. Views are valid until the next call on the spool.
  struct Entry {
    uint64_t seq = 0;
    uint8_t level = 0;
    uint8_t kind = 0;
    uint64_t gap_count = 0;
    std::string_view body;
    std::string_view session_id;
    std::string_view user_id;
  };

  static constexpr uint8_t kKindLog = 0;
  static constexpr uint8_t kKindGap = 1;

  static absl::StatusOr<std::unique_ptr<Spool>> Open(const Options& options, Recovery* recovery);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // The seq the next appended entry gets.
  uint64_t next_seq() const { return next_seq_; }
  // The highest seq appended, 0 if none ever.
  uint64_t last_seq() const { return next_seq_ - 1; }

  // ---- writing ----
  // The session and user of the entries appended after it.
  void SetContext(std::string_view session_id, std::string_view user_id);
  // Buffers an entry; returns its seq.
  uint64_t Append(uint8_t level, uint8_t kind, std::string_view body);
  // Buffers a GAP entry for `count` lost lines.
  uint64_t AppendGap(uint64_t count, int64_t time_us, std::string_view reason);
  absl::Status Commit();
  absl::Status Sync();
  size_t buffered_bytes() const { return pending_.size(); }

  // ---- reading ----
  // The next readable entry with a seq above the last one returned (or the
  // Rewind point); false when there is none yet.
  bool Next(Entry* entry);
  // The next Next() returns the first entry with seq > `after_seq`.
  void Rewind(uint64_t after_seq);
  // Entries with seq <= `seq` are done: segments holding only those go.
  void Release(uint64_t seq);
  uint64_t released() const { return released_; }

  // Deletes every entry (consent denied); seqs go on where they were.
  absl::Status Wipe();

  uint64_t bytes() const;
  uint64_t evicted() const { return evicted_; }
  // Segments eviction has read since the spool was opened.
  uint64_t segments_read_by_eviction() const { return segments_read_by_eviction_; }
  const std::string& dir() const { return options_.dir; }

 private:
  static constexpr uint8_t kNoLogLines = 0xFF;
  struct Segment {
    uint64_t first_seq = 0;
    uint64_t last_seq = 0;  // highest entry seq in it; 0: none
    uint64_t bytes = 0;
    uint64_t durable = 0;
    uint64_t generation = 0;
    // The lowest level of the LOG lines in it (kNoLogLines: none), kept up
    // to date by appends, rewrites and recovery. Eviction skips a segment
    // with no line at or below the level it evicts: reading every segment
    // again at each pass doubled an offline agent's CPU per line once its
    // spool was at the cap.
    uint8_t lowest_log_level = kNoLogLines;
    // Entries other than gap markers; a segment of gaps alone is skipped by
    // the last pass too (FoldGapRuns merges such segments instead).
    uint64_t entries_besides_gaps = 0;

    bool only_gaps() const { return last_seq != 0 && entries_besides_gaps == 0; }
  };

  explicit Spool(const Options& options);
  std::string PathOf(uint64_t first_seq) const;
  absl::Status Recover(Recovery* recovery);
  absl::Status StartSegment();
  void PutRecord(uint8_t type, std::string_view body);
  void PutContextIfNeeded();
  void SealChunk();
  absl::Status EvictIfNeeded();
  // Rewrites segment `index` without LOG lines at or below `max_level` (7:
  // all) and without released entries; returns the bytes it freed.
  absl::Status RewriteSegment(size_t index, uint8_t max_level);
  // Folds each run of GAP-only segments (not yet read) into its first.
  absl::Status FoldGapRuns();
  absl::Status FoldGaps(size_t first, size_t end);
  absl::Status MaybeRollReleased();
  bool LoadNextChunk();

  const Options options_;
  const size_t segment_bytes_;
  std::vector<Segment> segments_;  // oldest first; back() is appended to
  int fd_ = -1;                    // back()'s file
  uint64_t next_seq_ = 1;
  uint64_t released_ = 0;
  uint64_t evicted_ = 0;
  uint64_t segments_read_by_eviction_ = 0;
  uint64_t generation_ = 0;

  // Appending.
  std::string pending_;                    // sealed chunks, then the open one
  size_t open_chunk_ = std::string::npos;  // offset of the open chunk's header
  std::string session_, user_;
  bool context_written_ = false;  // restated in the current segment
  uint64_t pending_last_seq_ = 0;
  uint8_t pending_lowest_log_level_ = kNoLogLines;
  uint64_t pending_entries_besides_gaps_ = 0;

  // Reading.
  uint64_t read_after_ = 0;    // Next() returns seqs above this
  uint64_t read_segment_ = 0;  // first_seq of the segment being read; 0: seek
  uint64_t read_generation_ = 0;
  uint64_t read_offset_ = 0;
  int read_fd_ = -1;
  std::string chunk_;  // payload being read
  size_t chunk_pos_ = 0;
  std::string read_session_, read_user_;
};

}  // namespace fieldlog::agent

#endif  // FIELDLOG_AGENT_SRC_SPOOL_H_
