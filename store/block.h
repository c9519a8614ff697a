// Blocks: how a device's log entries are stored.
//
// A block holds a run of one device's entries (hundreds to a few thousand) in
// seq order as one RocksDB value. Inside, the entries are laid out column by
// column (seqs, times, levels, tags, ..., messages, attributes) and the whole is
// compressed with zstd: similar bytes sit next to each other, so log text
// compresses several times better than one value per line would, and RocksDB
// handles one key per block instead of one per line. store/README.md draws the
// format.
//
// Compression is tiered, as RocksDB recommends for its own levels: the
// collector writes a block cheaply (zstd level 1, or uncompressed for a tail
// block it will soon rewrite) and marks it unsettled; compaction later calls
// SettleBlock, which re-compresses it once at a strong level. Ingest CPU stays
// low, and bytes on disk are those of the strong level.
//
// BlockBuilder encodes; BlockReader decodes and never trusts its input: a
// truncated or corrupt payload gives DataLoss, not a crash. Readers accept
// every format version written so far (1 to 4).
//
// Blocks compressed for keeps (settled) store their messages as templates and
// numbers ("took 412 ms" is "took \x01 ms" plus the varint 412), which takes
// ~4 bytes a line less on disk; readers rebuild the text once per block. Since
// format 4 those message columns are cut into chunks of rows compressed apart
// from each other and from the rest of the block (its head), so a reader
// decompresses the messages of the rows it wants and no others: an hour's
// question over a block that spans days, a newest page of a large block
// (only blocks compressed with their app's dictionary, in several chunks).
// A settled block may be compressed with its app's dictionary
// (dictionaries.h); its header names the dictionary, and BlockReadOptions must
// then give the store's Dictionaries to read it.
#ifndef FIELDLOG_STORE_BLOCK_H_
#define FIELDLOG_STORE_BLOCK_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/growable_buffer.h"
#include "fieldlog/v1/common.pb.h"
#include "store/dictionaries.h"
#include "store/records.pb.h"

namespace fieldlog::store {

// A typed attribute that points into memory owned by someone else.
struct AttributeView {
  enum class Type : uint8_t { kString = 0, kInt = 1, kDouble = 2, kBool = 3 };
  absl::string_view key;
  Type type = Type::kString;
  absl::string_view string_value;
  int64_t int_value = 0;
  double double_value = 0;
  bool bool_value = false;
};

// One entry as the store sees it. Text must be valid UTF-8 (the collector
// validates); the views must outlive the call they are passed to.
struct EntryView {
  uint64_t seq = 0;
  int64_t time_us = 0;          // corrected time, Unix microseconds
  int64_t device_time_us = 0;   // the device's own clock
  int64_t receive_time_us = 0;  // server clock on arrival
  v1::Level level = v1::LEVEL_INFO;
  v1::EntryKind kind = v1::ENTRY_KIND_LOG;
  absl::string_view tag;
  absl::string_view message;
  absl::string_view file;
  uint32_t line = 0;
  absl::string_view function;
  absl::string_view user_id;
  absl::string_view session_id;
  std::span<const AttributeView> attributes;
};

// How settled blocks compressed with their app's dictionary cut their
// messages into chunks (format 4; without a dictionary a block is one chunk:
// zstd would start each from nothing): a chunk ends after kMaxChunkRows rows,
// or, once it holds kMinChunkRows, where the device went quiet for more than
// kChunkGapMicros (the next row is that far from the one before). A device
// that logs in sessions leaves blocks spanning days whose hours sit in a few
// chunks; an hour's question decompresses those chunks and no others (on
// query-scale's store, 115 k lines of messages for an hour where whole
// blocks were 483 k). A device that logs steadily is cut only by the count,
// so its chunks stay large enough for zstd (with the app's dictionary): on
// query-scale's store 15.3 bytes a line of messages against 14.2 uncut, where
// cutting every hour took 15.6; on fieldlog-bench's merged blocks of 2,000-
// odd lines 14.0 against 14.2 in one frame, where chunks of at most 512 rows
// took 15.0 and of at most 1,024 took 14.7.
inline constexpr size_t kMaxChunkRows = 2048;
inline constexpr size_t kMinChunkRows = 32;
inline constexpr int64_t kChunkGapMicros = 3'600'000'000;

// The row counts of the chunks a block whose rows have `times` (row order) is
// cut into, into `rows`.
void CutIntoChunks(std::span<const int64_t> times, std::vector<uint32_t>* rows);

// Converts between AttributeView and the wire/record Attribute message.
void AttributeToProto(const AttributeView& view, v1::Attribute* out);
AttributeView AttributeFromProto(const v1::Attribute& attribute);

// How Finish stores a block's columns.
struct BlockEncoding {
  // 0 stores the columns uncompressed; otherwise the zstd level.
  int zstd_level = 3;
  // False for blocks written at ingest: compaction re-compresses them
  // (SettleBlock). True for blocks already compressed for keeps.
  bool settled = true;
  // For a settled, compressed block: the app's dictionary to compress with
  // (null: none). It must be stored before the block is (Dictionaries::Add).
  const CompressionDictionary* dictionary = nullptr;
};

class BlockBuilder {
 public:
  explicit BlockBuilder(BlockEncoding encoding = {});
  explicit BlockBuilder(int zstd_level) : BlockBuilder(BlockEncoding{zstd_level, true}) {}

  // For the blocks finished from now on.
  void set_encoding(BlockEncoding encoding) { encoding_ = encoding; }

  // Appends an entry. Entries must come in increasing seq order.
  void Add(const EntryView& entry);

  size_t count() const { return count_; }
  // The corrected time of each entry added since the last Finish, in order.
  const std::vector<int64_t>& row_times() const { return row_times_; }
  // Bytes of the uncompressed columns so far.
  size_t raw_bytes() const;

  // Compresses the block into `payload` and describes it in `meta`, then
  // resets the builder for the next block.
  void Finish(std::string* payload, BlockMeta* meta);

  // Drops the entries added since the last Finish. The builder keeps its
  // buffers, so one builder reused for many blocks stops allocating.
  void Clear() { Reset(); }

 private:
  uint32_t Intern(absl::string_view text);
  // Intern for one of the per-row word columns (tag, user, session, file,
  // function), trying the column's previous word first: consecutive rows
  // mostly repeat them, and a compare is cheaper than a hash lookup.
  uint32_t InternColumn(int column, absl::string_view text);
  void Reset();

  BlockEncoding encoding_;
  size_t count_ = 0;
  std::vector<std::string> dictionary_;
  absl::flat_hash_map<std::string, uint32_t> dictionary_index_;
  uint64_t first_seq_ = 0, last_seq_ = 0;
  int64_t previous_time_ = 0, previous_receive_time_ = 0, min_time_ = 0, max_time_ = 0;
  uint32_t level_mask_ = 0;
  std::vector<std::string> users_;
  bool many_users_ = false;
  // Each row's time, for the meta's time buckets (known once min and max are).
  std::vector<int64_t> row_times_;
  size_t dictionary_bytes_ = 0;
  // Columns, in the order they are written.
  uint32_t last_words_[5] = {};
  std::string raw_;  // Finish's scratch
  std::string seqs_, times_, device_times_, receive_times_, levels_, tags_, user_ids_, session_ids_,
      files_, lines_, functions_, message_lengths_, messages_, attributes_;
};

// Re-compresses an unsettled payload (see BlockEncoding) into `settled`,
// marked settled: at `zstd_level` 0 its columns as they are (format 3);
// otherwise compressed at that level, with `dictionary` when not null, its
// messages split into templates and numbers and, with a dictionary, cut into
// chunks (format 4 when there are several, format 3 otherwise). The other
// columns are not re-parsed, only copied. A settled block of at most 1,024 lines
// compressed without a dictionary (settled before its app had one) is
// rebuilt from its rows with `dictionary`, when that makes it smaller.
// `dictionaries` finds the dictionary a block names. Returns false, leaving `settled` alone,
// when there is nothing to do: the payload is settled already, from format
// version 1 (kept as written), or unreadable (never rewrite what we do not
// understand). Thread-safe.
bool SettleBlock(absl::string_view payload, int zstd_level, const CompressionDictionary* dictionary,
                 const Dictionaries* dictionaries, std::string* settled);

// A test on message templates (the split form of message_template.h), for
// searches whose test is not one text: a regex's prefilter
// (query/regex_prefilter.h). Asked about all of a block's (or a chunk's)
// templates at once, back to back, each ending in kTemplateEnd, and then,
// for a block it passes, about each wanted row's template alone, without
// its kTemplateEnd. Thread-safe.
class TemplatesFilter {
 public:
  virtual ~TemplatesFilter() = default;
  // False only when no message these templates stand for can pass the
  // search's test.
  virtual bool MayMatch(absl::string_view templates) const = 0;
};

// What BlockReader::Open decodes; by default everything.
struct BlockReadOptions {
  // Messages stored split (settled blocks) are rebuilt only for the rows
  // whose time is in [messages_from_us, messages_to_us); message() of the
  // other rows is empty. In format 4 blocks, the chunks of messages without
  // such a row are not even decompressed. For scans that test a row's time before its text
  // (an hour's question reads whole blocks for a few of their rows): rebuilding
  // every message was a fifth of such a scan's CPU. The templates' structure
  // is checked either way, unless no row is wanted (an empty range, or
  // messages_containing ruling out every row): then the templates are not
  // read until RebuildMessages asks for rows. The numbers of rows skipped are
  // not decoded.
  int64_t messages_from_us = std::numeric_limits<int64_t>::min();
  int64_t messages_to_us = std::numeric_limits<int64_t>::max();
  // When not empty (lower case, as common/text.h's AsciiLower gives): rows
  // whose message cannot contain this text, ignoring ASCII case, may be left
  // empty too. For scans that look for a text: their templates are searched
  // first, and only the few rows that may hold it are rebuilt. Callers still
  // test the text of the rows they read (a template's match is necessary,
  // not sufficient: numbers are not compared).
  absl::string_view messages_containing;
  // When set, a block with split messages whose templates it turns down
  // rebuilds no message, as one without messages_containing's text does,
  // and in one it passes, only the rows whose own template it passes are
  // rebuilt (callers test those rows' messages; the others read as empty).
  const TemplatesFilter* templates_filter = nullptr;
  // When true, a block with split messages in which messages_containing or
  // templates_filter rules out every row (format 4: every row of the
  // messages' time range) opens with no rows: size() is 0
  // (lines() still counts what it holds) and no other column is decoded.
  // For scans that keep only the rows that may match: an hour's text search
  // across an app opens thousands of blocks, and in most the templates
  // alone rule the text out. The columns of such a block are not checked
  // either, so damage there is not reported (nothing of them is read).
  bool skip_blocks_ruled_out = false;
  // Where a block compressed with a dictionary finds it; without it, such a
  // block is DATA_LOSS (store::Reader sets it).
  const Dictionaries* dictionaries = nullptr;
};

// A decoded block. Accessors take a row index in [0, size()); the string views
// point into the reader and live as long as it does.
class BlockReader {
 public:
  static absl::StatusOr<BlockReader> Open(absl::string_view payload,
                                          const BlockReadOptions& options = {});

  // The block's newest corrected time, read from the payload's header
  // without decompressing (for retention).
  static absl::StatusOr<int64_t> PeekMaxTime(absl::string_view payload);

  // The rows decoded: every row, unless skip_blocks_ruled_out left none.
  size_t size() const { return seqs_.size(); }
  // The rows the block holds.
  size_t lines() const { return line_count_; }
  uint64_t seq(size_t row) const { return seqs_[row]; }
  int64_t time_us(size_t row) const { return times_[row]; }
  int64_t device_time_us(size_t row) const { return device_times_[row]; }
  int64_t receive_time_us(size_t row) const { return receive_times_[row]; }
  v1::Level level(size_t row) const { return static_cast<v1::Level>(levels_[row] & 0x0F); }
  v1::EntryKind kind(size_t row) const { return static_cast<v1::EntryKind>(levels_[row] >> 4); }
  absl::string_view tag(size_t row) const { return Word(tags_[row]); }
  absl::string_view user_id(size_t row) const { return Word(user_ids_[row]); }
  absl::string_view session_id(size_t row) const { return Word(session_ids_[row]); }
  absl::string_view file(size_t row) const { return Word(files_[row]); }
  uint32_t line(size_t row) const { return lines_[row]; }
  absl::string_view function(size_t row) const { return Word(functions_[row]); }
  absl::string_view message(size_t row) const {
    const uint32_t offset = message_offsets_[row];
    const uint32_t length = message_offsets_[row + 1] - offset;
    return split_messages_ ? text_.view().substr(offset, length) : Slice(offset, length);
  }
  // Appends the row's attributes to `out` (cleared first).
  void Attributes(size_t row, std::vector<AttributeView>* out) const;

  // Rebuilds the messages of the rows `wanted` picks, in place of those
  // rebuilt so far (the others read as empty), for a block with split
  // messages; other blocks have every message and are left as they are. For
  // callers that open a block without its messages (an empty
  // messages_from_us/messages_to_us range), choose rows by the other
  // columns, then need the text of a few: a newest page of 500 rows out of a
  // block of 2,000 rebuilds 500. Views message() gave before are invalid
  // after. DataLoss for corrupt templates or numbers (every message then
  // reads as empty).
  absl::Status RebuildMessages(absl::FunctionRef<bool(size_t row)> wanted);

  // The whole row; `attribute_storage` backs EntryView::attributes.
  EntryView Row(size_t row, std::vector<AttributeView>* attribute_storage) const;

 private:
  // Offsets rather than views into raw_ keep the reader safely movable.
  struct Span {
    uint32_t offset;
    uint32_t length;
  };

  // Format 4: a chunk of rows whose templates and numbers are compressed on
  // their own (block.cc, PutSettledPayload).
  struct Chunk {
    uint32_t first_row = 0;
    uint32_t rows = 0;
    uint32_t raw_size = 0;
    uint32_t stored_offset = 0;  // in chunk_frames_
    uint32_t stored_size = 0;
    bool compressed = false;
    bool decoded = false;
    // May hold a row whose message Open was asked for (SelectChunks).
    bool wanted = false;
    // Its rows' times: [min, max] and 64 buckets, as a BlockMeta has them.
    int64_t min_time = 0, max_time = 0;
    uint64_t time_buckets = 0;
    Span templates = {0, 0}, numbers = {0, 0};  // in chunk_raw_, once decoded
  };

  BlockReader() = default;
  absl::Status Parse(const BlockReadOptions& options);
  absl::Status ParseChunkDirectory(absl::string_view directory, size_t count, int64_t max_time,
                                   size_t frames_size);
  // Decompresses a chunk, stored in `frames`, into chunk_raw_ (once).
  absl::Status DecodeChunk(Chunk& chunk, absl::string_view frames);
  // Marks and decodes the chunks that may hold a row of the options' time
  // range (by their time buckets) and whose templates do not rule out the
  // search.
  absl::Status SelectChunks(const BlockReadOptions& options, absl::string_view frames);
  // Rebuilds the messages of a block written with split messages into text_,
  // those of the rows `options` wants. `templates_checked`: Parse has already
  // found that the templates do not rule out every row (not tested again).
  absl::Status JoinMessages(absl::string_view templates, absl::string_view numbers,
                            const BlockReadOptions& options, bool templates_checked);
  // The same for a format 4 block, chunk by chunk (after SelectChunks).
  absl::Status JoinChunks(const BlockReadOptions& options);
  // Rebuilds, into text_, the messages of the chunks `take` picks
  // (decompressing them when needed) with `rebuild`; the other chunks' rows
  // read as empty. Then FinishRebuild.
  absl::Status RebuildChunks(
      absl::FunctionRef<bool(Chunk& chunk)> take,
      absl::FunctionRef<absl::Status(const Chunk& chunk, absl::string_view templates,
                                     absl::string_view numbers)>
          rebuild);
  // Ends a rebuild: the offsets' end on success; on error every message reads
  // as empty (rows rebuilt before the damage would point past the text).
  absl::Status FinishRebuild(absl::Status status);
  // Rebuilds, of rows [begin, end) whose templates and numbers are given,
  // those of the options' time range whose template may hold the text.
  absl::Status RebuildMatching(size_t begin, size_t end, absl::string_view templates,
                               absl::string_view numbers, const BlockReadOptions& options);
  // The rebuild itself, appended to text_: the messages of rows [begin, end)
  // for which wanted(row, start of its template) is true. `escapes`: whether
  // the templates hold kTemplateEscape.
  absl::Status RebuildRange(size_t begin, size_t end, absl::string_view templates,
                            absl::string_view numbers, bool escapes,
                            absl::FunctionRef<bool(size_t row, const char* template_start)> wanted);
  absl::string_view ChunkSlice(Span span) const {
    return chunk_raw_.view().substr(span.offset, span.length);
  }
  absl::string_view Slice(uint32_t offset, uint32_t length) const {
    return absl::string_view(raw_).substr(offset, length);
  }
  absl::string_view Word(uint32_t index) const {
    return Slice(dictionary_[index].offset, dictionary_[index].length);
  }

  uint8_t version_ = 0;  // the payload's format version
  size_t line_count_ = 0;
  bool split_messages_ = false;
  std::string raw_;  // the decompressed columns (format 4: of the head)
  // With split messages, the messages rebuilt from templates and numbers
  // (message_offsets_ point here then, into raw_ otherwise).
  GrowableBuffer text_;
  // With split messages (format 3), where the templates and numbers columns
  // lie in raw_.
  Span templates_ = {0, 0}, numbers_ = {0, 0};
  // Format 4: the chunks, as stored (when some are not decoded yet) and as
  // decoded so far, and the dictionary they were compressed with (null: none).
  std::vector<Chunk> chunks_;
  std::string chunk_frames_;
  GrowableBuffer chunk_raw_;
  std::shared_ptr<const CompressionDictionary> compression_dictionary_;
  std::vector<Span> dictionary_;
  std::vector<uint64_t> seqs_;
  std::vector<int64_t> times_, device_times_, receive_times_;
  std::vector<uint8_t> levels_;
  std::vector<uint32_t> tags_, user_ids_, session_ids_, files_, lines_, functions_;
  std::vector<uint32_t> message_offsets_;    // size()+1 offsets into raw_
  std::vector<uint32_t> attribute_offsets_;  // start of each row's attributes in raw_
};

}  // namespace fieldlog::store

#endif  // FIELDLOG_STORE_BLOCK_H_
