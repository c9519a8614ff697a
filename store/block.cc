#include "store/block.h"

// For ZSTD_c_forceAttachDict, a parameter of the stable ZSTD_CCtx_setParameter
// that zstd still lists as experimental.
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/text.h"
#include "store/coding.h"
#include "store/message_template.h"
#include "store/time_buckets.h"

namespace fieldlog::store {
namespace {

// Version 1: receive times relative to each row's time. Version 2: receive
// times as deltas from the previous row's, so a batch's rows, received
// together, cost a zero byte each instead of a varying 4-5 bytes (~6 bytes per
// line less on disk); and the settled flag. Version 3: version 2 plus the
// split-messages flag (settled blocks store their messages as templates and
// numbers, ~4 bytes per line less; see PutSettledPayload). Version 4 (settled
// blocks of several chunks, written since December 2026): version 3's split
// messages cut into chunks of rows, each compressed on its own and apart from
// the other columns, so a reader decompresses only the chunks that hold rows
// it wants (PutSettledPayload). Settled blocks of one chunk are version 3;
// blocks written at ingest (unsettled) are version 3 without split messages.
constexpr uint8_t kFormatVersion1 = 1;
constexpr uint8_t kFormatVersion2 = 2;
constexpr uint8_t kFormatVersion3 = 3;
constexpr uint8_t kFormatVersion4 = 4;
// The encoding byte: compression in the low nibble (version 4: of the head,
// see PutSettledPayload), flags above.
constexpr uint8_t kCompressionNone = 0;
constexpr uint8_t kCompressionZstd = 1;
constexpr uint8_t kCompressionMask = 0x0F;
constexpr uint8_t kSettledFlag = 0x10;
// Versions 3 and 4: the message_lengths and messages columns hold message
// templates and numbers instead (version 4: in chunks; see PutSettledPayload).
constexpr uint8_t kSplitMessagesFlag = 0x20;
// Versions 3 and 4: compressed with a dictionary, whose id follows max_time in
// the header (see dictionaries.h).
constexpr uint8_t kDictionaryFlag = 0x40;
// The columns after the dictionary, and the slots the messages take.
constexpr int kColumns = 14;
constexpr int kTimesColumn = 1;
constexpr int kMessageLengthsColumn = 11;
constexpr int kMessagesColumn = 12;
constexpr size_t kMaxTrackedUsers = 8;
// Bound on the decompressed size we accept, so a corrupt header cannot make a
// reader allocate without end. Writers keep blocks far below this.
constexpr uint64_t kMaxRawBytes = 64u << 20;

absl::Status Corrupt(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("corrupt block: ", what));
}

// One compression context per thread and one decompression context per
// thread, reused: creating a context and its tables costs more than
// compressing a small block, and the writer's threads finish many blocks.
ZSTD_CCtx* ThreadCompressor(int level) {
  thread_local std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> context(ZSTD_createCCtx(),
                                                                          ZSTD_freeCCtx);
  ZSTD_CCtx_reset(context.get(), ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(context.get(), ZSTD_c_compressionLevel, level);
  // A 4-byte checksum of the content: corruption is reported, not decoded.
  ZSTD_CCtx_setParameter(context.get(), ZSTD_c_checksumFlag, 1);
  return context.get();
}

ZSTD_DCtx* ThreadDecompressor() {
  thread_local std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> context(ZSTD_createDCtx(),
                                                                          ZSTD_freeDCtx);
  return context.get();
}

// How a zstd frame is written. Version 3 frames are whole (magic number,
// content size). Version 4 blocks hold many small frames (a chunk is a few
// hundred bytes) whose kind and size the block says already, so their frames
// drop the magic number and the content size (5 bytes a frame, 0.1 byte a
// line); they keep the checksum.
enum class FrameStyle { kWhole, kBare };

// Appends `raw` to `payload` compressed at `level` (with `dictionary` when
// not null) when that makes it smaller; returns the compression used.
uint8_t AppendCompressed(absl::string_view raw, int level, const CompressionDictionary* dictionary,
                         FrameStyle style, std::string* payload) {
  if (level != 0) {
    const size_t header = payload->size();
    // Compress straight into the payload: no zero-filled scratch buffer, no
    // second copy.
    payload->resize(header + ZSTD_compressBound(raw.size()));
    ZSTD_CCtx* context = ThreadCompressor(level);
    if (style == FrameStyle::kBare) {
      ZSTD_CCtx_setParameter(context, ZSTD_c_format, ZSTD_f_zstd1_magicless);
      ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, 0);
    }
    if (dictionary != nullptr) {
      ZSTD_CCtx_refCDict(context, dictionary->cdict());
      // Use the dictionary's prepared tables in place. For inputs past a few
      // KiB zstd would copy them (about a megabyte at level 3) into the
      // context for every block; that copy cost the server 0.2 us a line.
      ZSTD_CCtx_setParameter(context, ZSTD_c_forceAttachDict, ZSTD_dictForceAttach);
      // The payload's header names the dictionary: the frame need not carry
      // zstd's id of it (4 bytes) as well.
      ZSTD_CCtx_setParameter(context, ZSTD_c_dictIDFlag, 0);
    }
    const size_t n = ZSTD_compress2(context, payload->data() + header, payload->size() - header,
                                    raw.data(), raw.size());
    if (!ZSTD_isError(n) && n < raw.size()) {
      payload->resize(header + n);
      return kCompressionZstd;
    }
    payload->resize(header);
  }
  payload->append(raw.data(), raw.size());
  return kCompressionNone;
}

// A block's columns as BlockBuilder lays them out: the word dictionary (as
// written), then the 14 columns. False when `columns` is malformed.
bool SplitColumns(absl::string_view columns, absl::string_view* dictionary,
                  absl::string_view (&parts)[kColumns]) {
  absl::string_view in = columns;
  uint64_t words;
  if (!GetVarint64(&in, &words)) return false;
  for (uint64_t i = 0; i < words; ++i) {
    absl::string_view word;
    if (!GetLengthPrefixed(&in, &word)) return false;
  }
  *dictionary = columns.substr(0, in.data() - columns.data());
  for (absl::string_view& part : parts) {
    if (!GetLengthPrefixed(&in, &part)) return false;
  }
  return in.empty();
}

}  // namespace

void CutIntoChunks(std::span<const int64_t> times, std::vector<uint32_t>* rows) {
  rows->clear();
  size_t start = 0;
  for (size_t i = 0; i < times.size(); ++i) {
    const size_t n = i - start;
    // |times[i] - times[i - 1]| without overflow (times may go backwards a
    // little where a device's clock offset changed).
    const uint64_t gap =
        i == 0 ? 0
        : times[i] >= times[i - 1]
            ? static_cast<uint64_t>(times[i]) - static_cast<uint64_t>(times[i - 1])
            : static_cast<uint64_t>(times[i - 1]) - static_cast<uint64_t>(times[i]);
    if (n == kMaxChunkRows || (n >= kMinChunkRows && gap > uint64_t{kChunkGapMicros})) {
      rows->push_back(static_cast<uint32_t>(n));
      start = i;
    }
  }
  if (start < times.size()) rows->push_back(static_cast<uint32_t>(times.size() - start));
}

namespace {

// The payload header up to the columns; `dictionary_id` 0: none.
void PutHeader(uint8_t version, uint8_t encoding, uint64_t count, uint64_t raw_size,
               int64_t max_time, uint32_t dictionary_id, std::string* payload) {
  payload->clear();
  payload->push_back(static_cast<char>(version));
  payload->push_back(static_cast<char>(encoding));
  PutVarint64(payload, count);
  PutVarint64(payload, raw_size);
  // The newest time, readable without decompressing: retention decides on it.
  PutSignedVarint64(payload, max_time);
  if (dictionary_id != 0) PutVarint64(payload, dictionary_id);
}

// Writes a version 3 block: the header and the columns, compressed at
// `zstd_level` (with `dictionary` when not null) when that makes them smaller
// (the encoding byte is known only once compression has tried). For blocks
// written at ingest, settled ones kept uncompressed (zstd_level 0), and
// settled ones of one chunk (PutSettledPayload).
void PutPayload(absl::string_view columns, uint8_t flags, uint64_t count, int64_t max_time,
                int zstd_level, const CompressionDictionary* dictionary, std::string* payload) {
  if (zstd_level == 0) dictionary = nullptr;
  PutHeader(kFormatVersion3, 0, count, columns.size(), max_time, dictionary ? dictionary->id() : 0,
            payload);
  uint8_t compression =
      AppendCompressed(columns, zstd_level, dictionary, FrameStyle::kWhole, payload);
  if (dictionary != nullptr && compression != kCompressionZstd) {
    // Stored raw after all: no dictionary to name.
    PutHeader(kFormatVersion3, 0, count, columns.size(), max_time, 0, payload);
    payload->append(columns.data(), columns.size());
    dictionary = nullptr;
    compression = kCompressionNone;
  }
  (*payload)[1] = static_cast<char>(compression | flags | (dictionary ? kDictionaryFlag : 0));
}

// Writes a settled block from `columns` (BlockBuilder's layout, messages
// whole), compressed at `zstd_level` (not 0) with `dictionary` when not null;
// `raw_bytes` is set to its columns' size before compression. False, writing
// nothing, when `columns` is malformed.
//
// Log messages are mostly fixed text around numbers (ids, counts, durations,
// addresses): zstd finds the repeated text but spends 3-4 bits a digit on the
// numbers interleaved with it, and the varying digits break its matches. So
// each message becomes its template (message_template.h), the numbers go to a
// column of their own, and a template's end byte replaces the lengths column:
// on fieldlog-bench's lines (2,048-line blocks, zstd 3) the messages take
// 16.9 bytes a line this way against 21.0 with lengths and text.
//
// Messages are nearly all of a block's bytes, and most questions want the
// messages of a few rows: an hour of a whole app reads blocks that span days
// for the lines of that hour, a newest page the last few hundred rows of a
// device's newest block. So the templates and numbers are cut into chunks of
// rows (CutIntoChunks; only when compressing with the app's dictionary). A
// block of several chunks is format 4: each chunk a zstd frame of its own; the
// other columns (the "head": times, levels, tags, users, attributes, ...) one
// frame, where the message columns' slots hold nothing; a chunk directory
// ahead of the head gives each chunk's rows, sizes and times (its [min, max]
// and 64 time buckets, as a BlockMeta has them), so a reader decompresses only
// the chunks whose times meet the rows it wants, and a search whose text those
// chunks' templates rule out skips the block without decompressing its head.
// A block of one chunk is format 3, the templates and numbers in the message
// columns' slots, one frame with the rest: a second frame and a directory
// would cost it bytes (0.4 a line on 20-line blocks) and the second frame's
// start CPU (8-13% of settling a 512-line block), and there is no chunk to
// leave out.
bool PutSettledPayload(absl::string_view columns, uint64_t count, int64_t max_time, int zstd_level,
                       const CompressionDictionary* dictionary, std::string* payload,
                       size_t* raw_bytes) {
  if (dictionary != nullptr && dictionary->cdict() == nullptr) dictionary = nullptr;
  absl::string_view words;
  absl::string_view parts[kColumns];
  if (!SplitColumns(columns, &words, parts)) return false;
  thread_local std::vector<int64_t> times;
  thread_local std::vector<uint32_t> chunk_rows;
  chunk_rows.assign(count == 0 ? 0 : 1, static_cast<uint32_t>(count));
  // Cut only with a dictionary: zstd starts each chunk from the app's common
  // text instead of from nothing. Without one, 512-line chunks of a 4,096-line
  // block took 25.5 bytes a line where the whole block took 16.4 (store_bench
  // BM_BlockEncode/4096).
  if (dictionary != nullptr) {
    times.resize(count);
    absl::string_view time_column = parts[kTimesColumn];
    int64_t time = 0;
    for (uint64_t row = 0; row < count; ++row) {
      int64_t delta;
      if (!GetSignedVarint64(&time_column, &delta)) return false;
      time += delta;
      times[row] = time;
    }
    CutIntoChunks(times, &chunk_rows);
  }
  const bool chunked = chunk_rows.size() > 1;

  absl::string_view lengths = parts[kMessageLengthsColumn];
  absl::string_view messages = parts[kMessagesColumn];
  thread_local std::string templates, numbers, chunk, frames, directory, head, frame;
  templates.clear();  // (a block of no rows has none: not the last call's)
  numbers.clear();
  frames.clear();
  directory.clear();
  PutVarint64(&directory, chunk_rows.size());
  size_t raw_total = 0, first_row = 0;
  int64_t previous_min = max_time;
  for (const uint32_t rows : chunk_rows) {
    templates.clear();
    numbers.clear();
    for (uint32_t i = 0; i < rows; ++i) {
      uint64_t length;
      if (!GetVarint64(&lengths, &length) || length > messages.size()) return false;
      AppendMessageTemplate(messages.substr(0, length), &templates, &numbers);
      messages.remove_prefix(length);
    }
    if (!chunked) break;
    chunk.clear();
    PutLengthPrefixed(&chunk, templates);
    chunk.append(numbers);
    const size_t before = frames.size();
    const uint8_t compression =
        AppendCompressed(chunk, zstd_level, dictionary, FrameStyle::kBare, &frames);
    raw_total += chunk.size();
    const std::span<const int64_t> chunk_times = std::span(times).subspan(first_row, rows);
    const auto [min, max] = std::minmax_element(chunk_times.begin(), chunk_times.end());
    const uint64_t span = static_cast<uint64_t>(*max) - static_cast<uint64_t>(*min);
    // Time buckets only for a chunk that spans more than kChunkGapMicros: in
    // a shorter one they would tell little that [min, max] does not.
    const bool buckets = span > uint64_t{kChunkGapMicros};
    PutVarint64(&directory, rows);
    PutVarint64(&directory, chunk.size());
    PutVarint64(&directory, (frames.size() - before) << 2 | (buckets ? 2 : 0) |
                                (compression == kCompressionZstd ? 1 : 0));
    // Times as differences (unsigned arithmetic: any int64 times are fine).
    PutVarint64(&directory,
                ZigZagEncode(static_cast<int64_t>(static_cast<uint64_t>(*min) -
                                                  static_cast<uint64_t>(previous_min))));
    PutVarint64(&directory, span);
    if (buckets) PutFixed64LE(&directory, TimeBucketsHeld(*min, *max, chunk_times));
    previous_min = *min;
    first_row += rows;
  }
  if (!lengths.empty() || !messages.empty()) return false;

  // The head (format 3: every column, the messages split in their slots).
  head.clear();
  head.append(words.data(), words.size());
  for (int c = 0; c < kColumns; ++c) {
    if (c == kMessageLengthsColumn) {
      PutLengthPrefixed(&head, chunked ? absl::string_view() : templates);
    } else if (c == kMessagesColumn) {
      PutLengthPrefixed(&head, chunked ? absl::string_view() : numbers);
    } else {
      PutLengthPrefixed(&head, parts[c]);
    }
  }
  *raw_bytes = head.size() + raw_total;
  if (!chunked) {
    PutPayload(head, kSettledFlag | kSplitMessagesFlag, count, max_time, zstd_level, dictionary,
               payload);
    return true;
  }
  frame.clear();
  const uint8_t compression =
      AppendCompressed(head, zstd_level, dictionary, FrameStyle::kBare, &frame);
  PutHeader(kFormatVersion4,
            compression | kSettledFlag | kSplitMessagesFlag | (dictionary ? kDictionaryFlag : 0),
            count, head.size(), max_time, dictionary ? dictionary->id() : 0, payload);
  PutLengthPrefixed(payload, directory);
  PutVarint64(payload, frame.size());
  payload->append(frame);
  payload->append(frames);
  return true;
}

}  // namespace

void AttributeToProto(const AttributeView& view, v1::Attribute* out) {
  out->set_key(view.key.data(), view.key.size());
  auto* value = out->mutable_value();
  switch (view.type) {
    case AttributeView::Type::kString:
      value->set_string_value(view.string_value.data(), view.string_value.size());
      break;
    case AttributeView::Type::kInt:
      value->set_int_value(view.int_value);
      break;
    case AttributeView::Type::kDouble:
      value->set_double_value(view.double_value);
      break;
    case AttributeView::Type::kBool:
      value->set_bool_value(view.bool_value);
      break;
  }
}

AttributeView AttributeFromProto(const v1::Attribute& attribute) {
  AttributeView view;
  view.key = attribute.key();
  const auto& value = attribute.value();
  switch (value.kind_case()) {
    case v1::Value::kIntValue:
      view.type = AttributeView::Type::kInt;
      view.int_value = value.int_value();
      break;
    case v1::Value::kDoubleValue:
      view.type = AttributeView::Type::kDouble;
      view.double_value = value.double_value();
      break;
    case v1::Value::kBoolValue:
      view.type = AttributeView::Type::kBool;
      view.bool_value = value.bool_value();
      break;
    case v1::Value::kStringValue:
    case v1::Value::KIND_NOT_SET:
      view.type = AttributeView::Type::kString;
      view.string_value = value.string_value();
      break;
  }
  return view;
}

// ---------------------------------------------------------------------------
// BlockBuilder

BlockBuilder::BlockBuilder(BlockEncoding encoding) : encoding_(encoding) { Reset(); }

void BlockBuilder::Reset() {
  count_ = 0;
  dictionary_.clear();
  dictionary_index_.clear();
  dictionary_bytes_ = 0;
  Intern("");  // index 0 is the empty string
  std::fill(std::begin(last_words_), std::end(last_words_), 0);
  first_seq_ = last_seq_ = 0;
  previous_time_ = previous_receive_time_ = min_time_ = max_time_ = 0;
  level_mask_ = 0;
  users_.clear();
  many_users_ = false;
  row_times_.clear();
  for (std::string* column : {&seqs_, &times_, &device_times_, &receive_times_, &levels_, &tags_,
                              &user_ids_, &session_ids_, &files_, &lines_, &functions_,
                              &message_lengths_, &messages_, &attributes_}) {
    column->clear();
  }
}

uint32_t BlockBuilder::InternColumn(int column, absl::string_view text) {
  uint32_t& last = last_words_[column];
  if (absl::string_view(dictionary_[last]) != text) last = Intern(text);
  return last;
}

uint32_t BlockBuilder::Intern(absl::string_view text) {
  if (auto it = dictionary_index_.find(text); it != dictionary_index_.end()) return it->second;
  const auto index = static_cast<uint32_t>(dictionary_.size());
  dictionary_.emplace_back(text);
  dictionary_index_.emplace(dictionary_.back(), index);
  dictionary_bytes_ += text.size() + 1;
  return index;
}

size_t BlockBuilder::raw_bytes() const {
  size_t total = dictionary_bytes_;
  for (const std::string* column : {&seqs_, &times_, &device_times_, &receive_times_, &levels_,
                                    &tags_, &user_ids_, &session_ids_, &files_, &lines_,
                                    &functions_, &message_lengths_, &messages_, &attributes_}) {
    total += column->size();
  }
  return total;
}

void BlockBuilder::Add(const EntryView& e) {
  if (count_ == 0) {
    first_seq_ = e.seq;
    PutVarint64(&seqs_, e.seq);
    min_time_ = max_time_ = e.time_us;
  } else {
    PutVarint64(&seqs_, e.seq - last_seq_);
    min_time_ = std::min(min_time_, e.time_us);
    max_time_ = std::max(max_time_, e.time_us);
  }
  last_seq_ = e.seq;
  PutSignedVarint64(&times_, e.time_us - previous_time_);
  previous_time_ = e.time_us;
  row_times_.push_back(e.time_us);
  PutSignedVarint64(&device_times_, e.device_time_us - e.time_us);
  // The first row's receive time relative to its time, the others' to the
  // previous row's (see kFormatVersion).
  PutSignedVarint64(&receive_times_,
                    e.receive_time_us - (count_ == 0 ? e.time_us : previous_receive_time_));
  previous_receive_time_ = e.receive_time_us;
  levels_.push_back(static_cast<char>((static_cast<uint8_t>(e.kind) << 4) |
                                      (static_cast<uint8_t>(e.level) & 0x0F)));
  level_mask_ |= 1u << (static_cast<uint32_t>(e.level) & 0x0F);
  PutVarint64(&tags_, InternColumn(0, e.tag));
  PutVarint64(&user_ids_, InternColumn(1, e.user_id));
  PutVarint64(&session_ids_, InternColumn(2, e.session_id));
  PutVarint64(&files_, InternColumn(3, e.file));
  PutVarint64(&lines_, e.line);
  PutVarint64(&functions_, InternColumn(4, e.function));
  PutVarint64(&message_lengths_, e.message.size());
  messages_.append(e.message.data(), e.message.size());

  PutVarint64(&attributes_, e.attributes.size());
  for (const AttributeView& a : e.attributes) {
    PutVarint64(&attributes_, Intern(a.key));
    attributes_.push_back(static_cast<char>(a.type));
    switch (a.type) {
      case AttributeView::Type::kString:
        PutLengthPrefixed(&attributes_, a.string_value);
        break;
      case AttributeView::Type::kInt:
        PutSignedVarint64(&attributes_, a.int_value);
        break;
      case AttributeView::Type::kDouble: {
        char bytes[8];
        std::memcpy(bytes, &a.double_value, 8);
        attributes_.append(bytes, 8);
        break;
      }
      case AttributeView::Type::kBool:
        attributes_.push_back(a.bool_value ? 1 : 0);
        break;
    }
  }

  if (!many_users_ && std::find(users_.begin(), users_.end(), e.user_id) == users_.end()) {
    if (users_.size() == kMaxTrackedUsers) {
      many_users_ = true;
      users_.clear();
    } else {
      users_.emplace_back(e.user_id);
    }
  }
  ++count_;
}

void BlockBuilder::Finish(std::string* payload, BlockMeta* meta) {
  std::string& raw = raw_;
  raw.clear();
  raw.reserve(raw_bytes() + 64);
  PutVarint64(&raw, dictionary_.size());
  for (const std::string& word : dictionary_) PutLengthPrefixed(&raw, word);
  for (const std::string* column : {&seqs_, &times_, &device_times_, &receive_times_, &levels_,
                                    &tags_, &user_ids_, &session_ids_, &files_, &lines_,
                                    &functions_, &message_lengths_, &messages_, &attributes_}) {
    PutLengthPrefixed(&raw, *column);
  }

  // Blocks compressed for keeps get their messages split and cut into chunks
  // (PutSettledPayload); blocks written at ingest are rewritten soon, so they
  // skip the work.
  size_t raw_bytes = raw.size();
  if (!encoding_.settled || encoding_.zstd_level == 0 ||
      !PutSettledPayload(raw, count_, max_time_, encoding_.zstd_level, encoding_.dictionary,
                         payload, &raw_bytes)) {
    PutPayload(raw, encoding_.settled ? kSettledFlag : 0, count_, max_time_, encoding_.zstd_level,
               nullptr, payload);
  }

  meta->Clear();
  meta->set_count(static_cast<uint32_t>(count_));
  meta->set_first_seq(first_seq_);
  meta->set_last_seq(last_seq_);
  meta->set_min_time_unix_micros(min_time_);
  meta->set_max_time_unix_micros(max_time_);
  meta->set_level_mask(level_mask_);
  meta->set_time_buckets(TimeBucketsHeld(min_time_, max_time_, row_times_));
  if (many_users_) {
    meta->set_many_users(true);
  } else {
    for (const std::string& user : users_) meta->add_users(user);
  }
  meta->set_raw_bytes(static_cast<uint32_t>(raw_bytes));
  meta->set_stored_bytes(static_cast<uint32_t>(payload->size()));
  Reset();
}

// ---------------------------------------------------------------------------
// BlockReader

namespace {

struct PayloadHeader {
  uint8_t version = 0;
  uint8_t compression = 0;  // version 4: of the head
  bool settled = false;
  bool split_messages = false;
  uint32_t dictionary_id = 0;  // 0: none
  uint64_t count = 0;
  uint64_t raw_size = 0;  // version 4: of the head
  int64_t max_time_us = 0;
  absl::string_view directory;  // version 4: the chunk directory (stored raw)
  uint64_t head_size = 0;       // version 4: the head's stored bytes; the chunks follow
};

// Parses the header and leaves `payload` at the column data.
absl::StatusOr<PayloadHeader> ParseHeader(absl::string_view* payload) {
  if (payload->size() < 2) return Corrupt("payload shorter than its header");
  PayloadHeader header;
  header.version = static_cast<uint8_t>((*payload)[0]);
  if (header.version < kFormatVersion1 || header.version > kFormatVersion4) {
    return Corrupt(absl::StrCat("unknown format version ", static_cast<int>(header.version)));
  }
  const auto encoding = static_cast<uint8_t>((*payload)[1]);
  if (header.version == kFormatVersion1) {
    header.compression = encoding;
    header.settled = true;
  } else {
    const uint8_t known =
        kCompressionMask | kSettledFlag |
        (header.version >= kFormatVersion3 ? kSplitMessagesFlag | kDictionaryFlag : 0);
    if ((encoding & ~known) != 0) {
      return Corrupt(absl::StrCat("unknown encoding ", static_cast<int>(encoding)));
    }
    header.compression = encoding & kCompressionMask;
    header.settled = (encoding & kSettledFlag) != 0;
    header.split_messages = (encoding & kSplitMessagesFlag) != 0;
    if (header.version == kFormatVersion4 && (!header.settled || !header.split_messages)) {
      return Corrupt("a version 4 block that is not settled with split messages");
    }
  }
  payload->remove_prefix(2);
  if (!GetVarint64(payload, &header.count) || !GetVarint64(payload, &header.raw_size) ||
      !GetSignedVarint64(payload, &header.max_time_us)) {
    return Corrupt("truncated header");
  }
  if (header.raw_size > kMaxRawBytes) return Corrupt("implausible size");
  if ((encoding & kDictionaryFlag) != 0) {
    uint64_t id;
    if (!GetVarint64(payload, &id) || id == 0 || id > UINT32_MAX) {
      return Corrupt("bad dictionary id");
    }
    // Version 4 names it for its chunks too, so its head may be stored raw.
    if (header.version == kFormatVersion3 && header.compression != kCompressionZstd) {
      return Corrupt("a dictionary without zstd");
    }
    header.dictionary_id = static_cast<uint32_t>(id);
  }
  if (header.version == kFormatVersion4 &&
      (!GetLengthPrefixed(payload, &header.directory) || !GetVarint64(payload, &header.head_size) ||
       header.head_size > payload->size())) {
    return Corrupt("chunk directory or head size");
  }
  return header;
}

// The dictionary a block was compressed with; null when it names none.
absl::StatusOr<std::shared_ptr<const CompressionDictionary>> FindDictionary(
    const PayloadHeader& header, const Dictionaries* dictionaries) {
  if (header.dictionary_id == 0) return nullptr;
  std::shared_ptr<const CompressionDictionary> dictionary;
  if (dictionaries != nullptr) dictionary = dictionaries->Find(header.dictionary_id);
  if (dictionary == nullptr || dictionary->ddict() == nullptr) {
    return Corrupt(absl::StrCat("compressed with dictionary ", header.dictionary_id,
                                ", which the store does not have"));
  }
  return dictionary;
}

// Decompresses the zstd frame `stored`, written in `style`, into `out`, which
// holds room for exactly the `raw_size` bytes it must give.
absl::Status Decompress(absl::string_view stored, const CompressionDictionary* dictionary,
                        FrameStyle style, char* out, size_t raw_size) {
  ZSTD_DCtx* context = ThreadDecompressor();
  ZSTD_DCtx_setParameter(context, ZSTD_d_format,
                         style == FrameStyle::kBare ? ZSTD_f_zstd1_magicless : ZSTD_f_zstd1);
  const size_t n = dictionary != nullptr
                       ? ZSTD_decompress_usingDDict(context, out, raw_size, stored.data(),
                                                    stored.size(), dictionary->ddict())
                       : ZSTD_decompressDCtx(context, out, raw_size, stored.data(), stored.size());
  if (ZSTD_isError(n)) return Corrupt(ZSTD_getErrorName(n));
  if (n != raw_size) return Corrupt("size mismatch after decompression");
  return absl::OkStatus();
}

// The columns of a block (version 4: its head) stored as `body` with
// `compression`, decompressed into `raw` when compressed; `raw` is not used
// otherwise.
absl::StatusOr<absl::string_view> Columns(uint8_t compression, uint64_t raw_size,
                                          absl::string_view body,
                                          const CompressionDictionary* dictionary, FrameStyle style,
                                          std::string* raw) {
  if (compression == kCompressionNone) {
    if (body.size() != raw_size) return Corrupt("size mismatch");
    return body;
  }
  if (compression != kCompressionZstd) {
    return Corrupt(absl::StrCat("unknown compression ", compression));
  }
  raw->resize(raw_size);
  if (absl::Status s = Decompress(body, dictionary, style, raw->data(), raw_size); !s.ok()) {
    return s;
  }
  return absl::string_view(*raw);
}

}  // namespace

absl::StatusOr<int64_t> BlockReader::PeekMaxTime(absl::string_view payload) {
  absl::StatusOr<PayloadHeader> header = ParseHeader(&payload);
  if (!header.ok()) return header.status();
  return header->max_time_us;
}

namespace {

// Settled blocks of at most this many lines, compressed without a dictionary,
// are compressed again once their app has one (SettleBlock).
constexpr uint64_t kMaxResettleLines = 1024;

}  // namespace

bool SettleBlock(absl::string_view payload, int zstd_level, const CompressionDictionary* dictionary,
                 const Dictionaries* dictionaries, std::string* settled) {
  absl::string_view body = payload;
  absl::StatusOr<PayloadHeader> header = ParseHeader(&body);
  if (!header.ok() || header->version == kFormatVersion1) return false;
  if (header->settled) {
    // A settled block is compressed again only when it is small and has no
    // dictionary while its app has one: a dictionary is worth most to small
    // blocks, and the first ones an app settles come before it has one. (A
    // block keeps the dictionary it has: compressing every small block again
    // at each new dictionary cost more CPU than it saved bytes.) It is
    // rebuilt from its rows, as version 4 whatever it was.
    if (zstd_level == 0 || dictionary == nullptr || !header->split_messages ||
        header->dictionary_id != 0 || header->count > kMaxResettleLines) {
      return false;
    }
    absl::StatusOr<BlockReader> rows =
        BlockReader::Open(payload, BlockReadOptions{.dictionaries = dictionaries});
    if (!rows.ok()) return false;
    BlockBuilder builder(BlockEncoding{zstd_level, true, dictionary});
    std::vector<AttributeView> attributes;
    for (size_t row = 0; row < rows->size(); ++row) builder.Add(rows->Row(row, &attributes));
    BlockMeta meta;
    builder.Finish(settled, &meta);
    return settled->size() < payload.size();
  }
  if (header->split_messages) return false;
  absl::StatusOr<std::shared_ptr<const CompressionDictionary>> used =
      FindDictionary(*header, dictionaries);
  if (!used.ok()) return false;
  // The decompressed columns; thread-local so compactions do not allocate a
  // block's worth of memory per value.
  thread_local std::string raw;
  absl::StatusOr<absl::string_view> columns =
      Columns(header->compression, header->raw_size, body, used->get(), FrameStyle::kWhole, &raw);
  if (!columns.ok()) return false;
  // A version 2 block's columns are version 3's, so they are taken as they
  // are; only the messages are re-encoded.
  if (zstd_level == 0) {
    PutPayload(*columns, kSettledFlag, header->count, header->max_time_us, 0, nullptr, settled);
    return true;
  }
  size_t raw_bytes;
  return PutSettledPayload(*columns, header->count, header->max_time_us, zstd_level, dictionary,
                           settled, &raw_bytes);
}

namespace {

// The first byte in [p, end) that is a template control byte (0, 1 or 2),
// or end. Eight bytes at a time: a byte below 3 sets its top bit in
// (x - 0x03..03) & ~x & 0x80..80; borrows only run upwards, so the lowest bit
// set is the first such byte (little-endian loads).
const char* FindTemplateControl(const char* p, const char* end) {
  static_assert(std::endian::native == std::endian::little);
  while (end - p >= 8) {
    uint64_t x;
    std::memcpy(&x, p, 8);
    const uint64_t hits = (x - 0x0303030303030303ull) & ~x & 0x8080808080808080ull;
    if (hits != 0) return p + (std::countr_zero(hits) >> 3);
    p += 8;
  }
  while (p != end && static_cast<uint8_t>(*p) > static_cast<uint8_t>(kTemplateEscape)) ++p;
  return p;
}

// After kTemplateEscape comes one of the control bytes, taken literally.
bool EscapedByteIsValid(const char* p, const char* end) {
  return p != end && static_cast<uint8_t>(*p) <= static_cast<uint8_t>(kTemplateEscape);
}

// Takes the next number of a message from `numbers`: a varint in
// [1, kMaxTemplateNumber] (digit runs never start with 0 and have at most
// 18 digits).
bool TakeTemplateNumber(absl::string_view* numbers, uint64_t* value) {
  return GetVarint64(numbers, value) && *value != 0 && *value <= kMaxTemplateNumber;
}

// Writes `value` (not 0, at most 18 digits) in decimal at `out`; returns the
// end. Two digits per division.
char* AppendDecimal(uint64_t value, char* out) {
  static constexpr char kPairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  int digits = 1;
  for (uint64_t bound = 10; digits < 18 && value >= bound; bound *= 10) ++digits;
  char* p = out + digits;
  while (value >= 100) {
    const size_t pair = 2 * static_cast<size_t>(value % 100);
    value /= 100;
    *--p = kPairs[pair + 1];
    *--p = kPairs[pair];
  }
  if (value >= 10) {
    *--p = kPairs[2 * value + 1];
    *--p = kPairs[2 * value];
  } else {
    *--p = static_cast<char>('0' + value);
  }
  return out + digits;
}

// The longest part of a lower-case search text that a message template holds
// exactly as the message does, for BlockReadOptions::messages_containing:
// numbers leave the template and bytes 0-2 are escaped, so the part has
// neither digits nor control bytes. Empty when no part is long enough to be
// worth a search of the templates.
absl::string_view TemplateProbe(absl::string_view lowered_text) {
  constexpr size_t kMinProbe = 3;
  absl::string_view best;
  size_t start = 0;
  for (size_t i = 0; i <= lowered_text.size(); ++i) {
    const bool breaks = i == lowered_text.size() ||
                        (lowered_text[i] >= '0' && lowered_text[i] <= '9') ||
                        static_cast<uint8_t>(lowered_text[i]) <= uint8_t{kTemplateEscape};
    if (!breaks) continue;
    if (i - start > best.size()) best = lowered_text.substr(start, i - start);
    start = i + 1;
  }
  return best.size() >= kMinProbe ? best : absl::string_view();
}

// True when no row of a block whose templates column is `templates` can be
// one options.messages_containing or options.templates_filter looks for:
// the filter turns the templates down, or no template holds the text's
// probe. (Templates with escapes are never ruled out by the probe: an escaped
// 0 byte would pass for a template's end.)
bool TemplatesRuleOutEveryRow(absl::string_view templates, const BlockReadOptions& options) {
  if (options.templates_filter != nullptr && !options.templates_filter->MayMatch(templates)) {
    return true;
  }
  const absl::string_view probe = TemplateProbe(options.messages_containing);
  return !probe.empty() && FindIgnoreCase(templates, probe) == absl::string_view::npos &&
         std::memchr(templates.data(), kTemplateEscape, templates.size()) == nullptr;
}

// Whether a search looks at the templates at all (TemplatesRuleOutEveryRow
// can rule anything out).
bool SearchesTemplates(const BlockReadOptions& options) {
  return options.templates_filter != nullptr || !TemplateProbe(options.messages_containing).empty();
}

}  // namespace

absl::StatusOr<BlockReader> BlockReader::Open(absl::string_view payload,
                                              const BlockReadOptions& options) {
  absl::StatusOr<PayloadHeader> header = ParseHeader(&payload);
  if (!header.ok()) return header.status();
  const uint64_t count = header->count;
  const uint64_t raw_size = header->raw_size;

  BlockReader reader;
  reader.version_ = header->version;
  reader.split_messages_ = header->split_messages;
  absl::StatusOr<std::shared_ptr<const CompressionDictionary>> dictionary =
      FindDictionary(*header, options.dictionaries);
  if (!dictionary.ok()) return dictionary.status();
  if (count > raw_size) return Corrupt("more rows than bytes");
  reader.line_count_ = count;
  absl::string_view head = payload;
  if (header->version == kFormatVersion4) {
    head = payload.substr(0, header->head_size);
    const absl::string_view frames = payload.substr(header->head_size);
    reader.compression_dictionary_ = *dictionary;
    if (absl::Status s = reader.ParseChunkDirectory(header->directory, count,
                                                    header->max_time_us, frames.size());
        !s.ok()) {
      return s;
    }
    // The chunks whose times meet the messages' range, and of those the ones
    // whose templates may hold what a search looks for; when a search rules
    // out every one, the block has no row for it, and its head is not even
    // decompressed (most blocks an hour's app-wide question reads).
    if (absl::Status s = reader.SelectChunks(options, frames); !s.ok()) return s;
    if (options.skip_blocks_ruled_out && SearchesTemplates(options) &&
        std::none_of(reader.chunks_.begin(), reader.chunks_.end(),
                     [](const Chunk& chunk) { return chunk.wanted; })) {
      reader.message_offsets_.assign(1, 0);
      return reader;
    }
    // The chunks not decompressed yet are kept as stored, for
    // RebuildMessages.
    if (std::any_of(reader.chunks_.begin(), reader.chunks_.end(),
                    [](const Chunk& chunk) { return !chunk.decoded; })) {
      reader.chunk_frames_.assign(frames.data(), frames.size());
    }
  }
  absl::StatusOr<absl::string_view> columns = Columns(
      header->compression, raw_size, head, dictionary->get(),
      header->version == kFormatVersion4 ? FrameStyle::kBare : FrameStyle::kWhole, &reader.raw_);
  if (!columns.ok()) return columns.status();
  if (columns->data() != reader.raw_.data()) reader.raw_.assign(columns->data(), columns->size());
  reader.seqs_.resize(count);
  if (absl::Status status = reader.Parse(options); !status.ok()) return status;
  return reader;
}

absl::Status BlockReader::Parse(const BlockReadOptions& options) {
  const size_t count = seqs_.size();
  absl::string_view in(raw_);
  const auto offset_of = [&](absl::string_view part) {
    return static_cast<uint32_t>(part.data() - raw_.data());
  };

  uint64_t words;
  if (!GetVarint64(&in, &words) || words == 0 || words > raw_.size()) {
    return Corrupt("dictionary size");
  }
  dictionary_.resize(words);
  for (Span& word : dictionary_) {
    absl::string_view text;
    if (!GetLengthPrefixed(&in, &text)) return Corrupt("dictionary");
    word = {offset_of(text), static_cast<uint32_t>(text.size())};
  }

  absl::string_view columns[kColumns];
  for (absl::string_view& column : columns) {
    if (!GetLengthPrefixed(&in, &column)) return Corrupt("column directory");
  }
  auto [seqs, times, device_times, receive_times, levels, tags, user_ids, session_ids, files, lines,
        functions, message_lengths, messages, attributes] = columns;
  // With split messages, message_lengths holds the templates and messages the
  // numbers (version 4: both empty, the chunks hold them).
  const bool chunked = version_ == kFormatVersion4;
  if (chunked && (!message_lengths.empty() || !messages.empty())) {
    return Corrupt("messages beside the chunks");
  }
  // A block in which the search's text rules out every row opens with no
  // rows. Version 3 keeps every template in one column, checked before any
  // other is decoded (version 4: Open checked its chunks).
  const bool rule_out = split_messages_ && options.skip_blocks_ruled_out;
  const auto no_rows = [&] {
    seqs_.clear();
    times_.clear();
    device_times_.clear();
    receive_times_.clear();
    message_offsets_.assign(1, 0);
    return absl::OkStatus();
  };
  if (rule_out && !chunked && TemplatesRuleOutEveryRow(message_lengths, options)) return no_rows();

  const auto read_unsigned = [&](absl::string_view* column, auto* out, const char* name,
                                 uint64_t limit) -> absl::Status {
    out->resize(count);
    for (size_t i = 0; i < count; ++i) {
      uint64_t v;
      if (!GetVarint64(column, &v) || v >= limit) return Corrupt(name);
      (*out)[i] = static_cast<typename std::remove_reference_t<decltype(*out)>::value_type>(v);
    }
    return absl::OkStatus();
  };
  const auto read_words = [&](absl::string_view* column, std::vector<uint32_t>* out,
                              const char* name) {
    return read_unsigned(column, out, name, dictionary_.size());
  };

  uint64_t seq = 0;
  int64_t time = 0, receive_time = 0;
  times_.resize(count);
  device_times_.resize(count);
  receive_times_.resize(count);
  for (size_t i = 0; i < count; ++i) {
    uint64_t seq_delta;
    int64_t time_delta, device_delta, receive_delta;
    if (!GetVarint64(&seqs, &seq_delta) || !GetSignedVarint64(&times, &time_delta) ||
        !GetSignedVarint64(&device_times, &device_delta) ||
        !GetSignedVarint64(&receive_times, &receive_delta)) {
      return Corrupt("seq or time column");
    }
    seq += seq_delta;
    time += time_delta;
    seqs_[i] = seq;
    times_[i] = time;
    device_times_[i] = time + device_delta;
    // Version 1 keeps each receive time relative to its row's time; later
    // versions relative to the previous row's receive time.
    receive_time = (version_ == kFormatVersion1 || i == 0 ? time : receive_time) + receive_delta;
    receive_times_[i] = receive_time;
  }
  if (levels.size() != count) return Corrupt("level column");
  levels_.assign(levels.begin(), levels.end());

  for (auto [column, out, name] :
       {std::tuple{&tags, &tags_, "tag column"}, std::tuple{&user_ids, &user_ids_, "user column"},
        std::tuple{&session_ids, &session_ids_, "session column"},
        std::tuple{&files, &files_, "file column"},
        std::tuple{&functions, &functions_, "function column"}}) {
    if (absl::Status s = read_words(column, out, name); !s.ok()) return s;
  }
  if (absl::Status s = read_unsigned(&lines, &lines_, "line column", uint64_t{1} << 32); !s.ok()) {
    return s;
  }

  message_offsets_.resize(count + 1);
  if (chunked) {
    if (absl::Status s = JoinChunks(options); !s.ok()) return s;
  } else if (split_messages_) {
    templates_ = {offset_of(message_lengths), static_cast<uint32_t>(message_lengths.size())};
    numbers_ = {offset_of(messages), static_cast<uint32_t>(messages.size())};
    if (absl::Status s = JoinMessages(message_lengths, messages, options, rule_out); !s.ok()) {
      return s;
    }
  } else {
    uint32_t offset = offset_of(messages);
    for (size_t i = 0; i < count; ++i) {
      uint64_t length;
      if (!GetVarint64(&message_lengths, &length) || length > messages.size()) {
        return Corrupt("message lengths");
      }
      message_offsets_[i] = offset;
      offset += static_cast<uint32_t>(length);
      messages.remove_prefix(length);
    }
    message_offsets_[count] = offset;
  }

  // Attributes are decoded on demand; here we only find where each row's start
  // and check that the column is well formed.
  attribute_offsets_.resize(count);
  for (size_t i = 0; i < count; ++i) {
    attribute_offsets_[i] = offset_of(attributes);
    uint64_t n;
    if (!GetVarint64(&attributes, &n)) return Corrupt("attribute count");
    for (uint64_t k = 0; k < n; ++k) {
      uint64_t key;
      if (!GetVarint64(&attributes, &key) || key >= dictionary_.size() || attributes.empty()) {
        return Corrupt("attribute key");
      }
      const auto type = static_cast<uint8_t>(attributes.front());
      attributes.remove_prefix(1);
      bool ok = true;
      switch (static_cast<AttributeView::Type>(type)) {
        case AttributeView::Type::kString: {
          absl::string_view s;
          ok = GetLengthPrefixed(&attributes, &s);
          break;
        }
        case AttributeView::Type::kInt: {
          int64_t v;
          ok = GetSignedVarint64(&attributes, &v);
          break;
        }
        case AttributeView::Type::kDouble:
          ok = attributes.size() >= 8;
          if (ok) attributes.remove_prefix(8);
          break;
        case AttributeView::Type::kBool:
          ok = !attributes.empty();
          if (ok) attributes.remove_prefix(1);
          break;
        default:
          ok = false;
      }
      if (!ok) return Corrupt("attribute value");
    }
  }
  return absl::OkStatus();
}

absl::Status BlockReader::ParseChunkDirectory(absl::string_view directory, size_t count,
                                              int64_t max_time, size_t frames_size) {
  uint64_t n;
  if (!GetVarint64(&directory, &n) || n > count || (n == 0) != (count == 0)) {
    return Corrupt("chunk count");
  }
  chunks_.resize(n);
  uint64_t row = 0, offset = 0, raw_total = 0;
  uint64_t previous_min = static_cast<uint64_t>(max_time);
  for (Chunk& chunk : chunks_) {
    uint64_t rows, raw_size, stored, span;
    int64_t min_delta;
    if (!GetVarint64(&directory, &rows) || !GetVarint64(&directory, &raw_size) ||
        !GetVarint64(&directory, &stored) || !GetSignedVarint64(&directory, &min_delta) ||
        !GetVarint64(&directory, &span)) {
      return Corrupt("chunk directory");
    }
    // Without buckets, every bucket of [min, max] counts as holding lines.
    chunk.time_buckets = ~uint64_t{0};
    if ((stored & 2) != 0 && !GetFixed64LE(&directory, &chunk.time_buckets)) {
      return Corrupt("chunk directory");
    }
    chunk.compressed = (stored & 1) != 0;
    stored >>= 2;
    raw_total += raw_size;
    if (rows == 0 || rows > count - row || raw_total > kMaxRawBytes ||
        stored > frames_size - offset || (!chunk.compressed && stored != raw_size)) {
      return Corrupt("chunk directory");
    }
    chunk.first_row = static_cast<uint32_t>(row);
    chunk.rows = static_cast<uint32_t>(rows);
    chunk.raw_size = static_cast<uint32_t>(raw_size);
    chunk.stored_offset = static_cast<uint32_t>(offset);
    chunk.stored_size = static_cast<uint32_t>(stored);
    previous_min += static_cast<uint64_t>(min_delta);
    chunk.min_time = static_cast<int64_t>(previous_min);
    chunk.max_time = static_cast<int64_t>(previous_min + span);
    row += rows;
    offset += stored;
  }
  if (row != count || offset != frames_size || !directory.empty()) {
    return Corrupt("chunks do not cover the block");
  }
  return absl::OkStatus();
}

absl::Status BlockReader::DecodeChunk(Chunk& chunk, absl::string_view frames) {
  if (chunk.decoded) return absl::OkStatus();
  const absl::string_view stored = frames.substr(chunk.stored_offset, chunk.stored_size);
  const size_t at = chunk_raw_.size();
  chunk_raw_.Resize(at + chunk.raw_size);
  if (chunk.compressed) {
    if (absl::Status s = Decompress(stored, compression_dictionary_.get(), FrameStyle::kBare,
                                    chunk_raw_.data() + at, chunk.raw_size);
        !s.ok()) {
      return s;
    }
  } else {
    std::memcpy(chunk_raw_.data() + at, stored.data(), stored.size());
  }
  absl::string_view raw = chunk_raw_.view().substr(at);
  absl::string_view templates;
  if (!GetLengthPrefixed(&raw, &templates)) return Corrupt("chunk templates");
  chunk.templates = {static_cast<uint32_t>(templates.data() - chunk_raw_.data()),
                     static_cast<uint32_t>(templates.size())};
  chunk.numbers = {static_cast<uint32_t>(raw.data() - chunk_raw_.data()),
                   static_cast<uint32_t>(raw.size())};
  chunk.decoded = true;
  return absl::OkStatus();
}

absl::Status BlockReader::SelectChunks(const BlockReadOptions& options, absl::string_view frames) {
  for (Chunk& chunk : chunks_) {
    chunk.wanted = BlockTimesMeetRange(chunk.min_time, chunk.max_time, chunk.time_buckets,
                                       options.messages_from_us, options.messages_to_us);
    if (!chunk.wanted) continue;
    if (absl::Status s = DecodeChunk(chunk, frames); !s.ok()) return s;
    chunk.wanted = !TemplatesRuleOutEveryRow(ChunkSlice(chunk.templates), options);
  }
  return absl::OkStatus();
}

absl::Status BlockReader::JoinMessages(absl::string_view templates, absl::string_view numbers,
                                       const BlockReadOptions& options, bool templates_checked) {
  text_.clear();
  if (options.messages_to_us <= options.messages_from_us ||
      (!templates_checked && TemplatesRuleOutEveryRow(templates, options))) {
    // No row is wanted (none in the range, or no template can hold what the
    // search looks for: most blocks, for a rare text): nothing to rebuild,
    // or to check, until RebuildMessages asks for some; the numbers are not
    // read.
    std::fill(message_offsets_.begin(), message_offsets_.end(), 0);
    return absl::OkStatus();
  }
  return FinishRebuild(RebuildMatching(0, seqs_.size(), templates, numbers, options));
}

absl::Status BlockReader::JoinChunks(const BlockReadOptions& options) {
  // SelectChunks decoded the wanted chunks; the others stay compressed, and
  // their rows' messages read as empty.
  return RebuildChunks(
      [](Chunk& chunk) { return chunk.wanted; },
      [&](const Chunk& chunk, absl::string_view templates, absl::string_view numbers) {
        return RebuildMatching(chunk.first_row, chunk.first_row + chunk.rows, templates, numbers,
                               options);
      });
}

absl::Status BlockReader::RebuildChunks(
    absl::FunctionRef<bool(Chunk& chunk)> take,
    absl::FunctionRef<absl::Status(const Chunk& chunk, absl::string_view templates,
                                   absl::string_view numbers)>
        rebuild) {
  text_.clear();
  absl::Status status;
  for (Chunk& chunk : chunks_) {
    if (!take(chunk)) {
      std::fill_n(message_offsets_.begin() + chunk.first_row, chunk.rows,
                  static_cast<uint32_t>(text_.size()));
      continue;
    }
    status = DecodeChunk(chunk, chunk_frames_);
    if (status.ok()) {
      status = rebuild(chunk, ChunkSlice(chunk.templates), ChunkSlice(chunk.numbers));
    }
    if (!status.ok()) break;
  }
  return FinishRebuild(std::move(status));
}

absl::Status BlockReader::FinishRebuild(absl::Status status) {
  if (status.ok()) {
    message_offsets_.back() = static_cast<uint32_t>(text_.size());
  } else {
    // Rows rebuilt before the damage was met would point past what is left:
    // every message reads as empty instead.
    text_.clear();
    std::fill(message_offsets_.begin(), message_offsets_.end(), 0);
  }
  return status;
}

absl::Status BlockReader::RebuildMatching(size_t begin, size_t end_row, absl::string_view templates,
                                          absl::string_view numbers,
                                          const BlockReadOptions& options) {
  const char* const end = templates.data() + templates.size();
  // Without escapes (nearly every block), a template ends at the next 0 byte
  // and holds as many numbers as 1 bytes: unwanted rows are skipped with
  // memchr and a count, not byte by byte.
  const bool escapes = std::memchr(templates.data(), kTemplateEscape, templates.size()) != nullptr;
  // A row whose template lacks the probe cannot contain the caller's text.
  // Templates are searched as one run of bytes (the probe has no 0 byte, so
  // a match never spans two), and a row's template is looked at only when the
  // next match lies in it. With escapes, an escaped 0 byte would pass for a
  // template's end: such (rare) blocks rebuild every row.
  const absl::string_view probe =
      escapes ? absl::string_view() : TemplateProbe(options.messages_containing);
  const char* next_match = nullptr;  // at or after the row's template; end: none
  const auto find_probe = [&](const char* start) {
    const size_t at = FindIgnoreCase(absl::string_view(start, end - start), probe);
    next_match = at == absl::string_view::npos ? end : start + at;
  };
  if (!probe.empty()) find_probe(templates.data());
  const auto template_has_probe = [&](const char* start) {
    if (probe.empty()) return true;
    if (next_match < start) find_probe(start);
    return next_match != end && std::memchr(start, kTemplateEnd, next_match - start) == nullptr;
  };
  // A templates filter (a regex's prefilter) passed the block's templates
  // as a whole; it is asked about each row's template too, so that only the
  // rows it may match are rebuilt (with escapes, as above, every row is).
  const TemplatesFilter* const row_filter = escapes ? nullptr : options.templates_filter;
  const auto template_passes = [&](const char* start) {
    if (row_filter == nullptr) return true;
    const void* stop = std::memchr(start, kTemplateEnd, end - start);
    const char* const template_end = stop == nullptr ? end : static_cast<const char*>(stop);
    return row_filter->MayMatch(absl::string_view(start, template_end - start));
  };
  return RebuildRange(
      begin, end_row, templates, numbers, escapes, [&](size_t row, const char* template_start) {
        return times_[row] >= options.messages_from_us && times_[row] < options.messages_to_us &&
               template_has_probe(template_start) && template_passes(template_start);
      });
}

absl::Status BlockReader::RebuildMessages(absl::FunctionRef<bool(size_t row)> wanted) {
  // (A block opened with no rows, skip_blocks_ruled_out, has nothing to ask.)
  if (!split_messages_ || seqs_.empty()) return absl::OkStatus();
  const auto rebuild = [&](size_t begin, size_t end, absl::string_view templates,
                           absl::string_view numbers) {
    return RebuildRange(begin, end, templates, numbers,
                        std::memchr(templates.data(), kTemplateEscape, templates.size()) != nullptr,
                        [&](size_t row, const char*) { return wanted(row); });
  };
  if (version_ != kFormatVersion4) {
    text_.clear();
    return FinishRebuild(rebuild(0, seqs_.size(), Slice(templates_.offset, templates_.length),
                                 Slice(numbers_.offset, numbers_.length)));
  }
  // The chunks holding a wanted row, decompressed now if they were not.
  return RebuildChunks(
      [&](Chunk& chunk) {
        for (size_t row = chunk.first_row; row < chunk.first_row + chunk.rows; ++row) {
          if (wanted(row)) return true;
        }
        return false;
      },
      [&](const Chunk& chunk, absl::string_view templates, absl::string_view numbers) {
        return rebuild(chunk.first_row, chunk.first_row + chunk.rows, templates, numbers);
      });
}

absl::Status BlockReader::RebuildRange(size_t begin, size_t end_row, absl::string_view templates,
                                       absl::string_view numbers, bool escapes,
                                       absl::FunctionRef<bool(size_t row, const char*)> wanted) {
  const char* p = templates.data();
  const char* const end = p + templates.size();
  // Written through a pointer into text_, grown when a write may not fit:
  // appending byte by byte made this most of a block's decoding.
  const size_t used = text_.size();
  text_.Resize(used + templates.size() + 4 * numbers.size() + 64);
  char* out = text_.data() + used;
  char* limit = text_.data() + text_.size();
  const auto room = [&](size_t n) {
    if (static_cast<size_t>(limit - out) >= n) return;
    const size_t written = static_cast<size_t>(out - text_.data());
    text_.Resize(std::max(2 * text_.size(), written + n));
    out = text_.data() + written;
    limit = text_.data() + text_.size();
  };
  // `row`'s template starts at p. wanted() is asked once a row (a templates
  // filter's answer costs a search of the template): the skipping loop
  // below leaves its answer for the row it stops at in next_wanted.
  bool next_wanted = false;
  for (size_t row = begin; row < end_row; ++row) {
    message_offsets_[row] = static_cast<uint32_t>(out - text_.data());
    const bool want = std::exchange(next_wanted, false) || wanted(row, p);
    if (!escapes && !want) {
      // This row and the unwanted ones after it.
      size_t markers = 0;
      for (;;) {
        const char* stop = static_cast<const char*>(std::memchr(p, kTemplateEnd, end - p));
        if (stop == nullptr) return Corrupt("unterminated message template");
        markers += static_cast<size_t>(std::count(p, stop, kTemplateNumber));
        p = stop + 1;
        if (row + 1 == end_row) break;
        if (wanted(row + 1, p)) {
          next_wanted = true;
          break;
        }
        message_offsets_[++row] = static_cast<uint32_t>(out - text_.data());
      }
      // Skip their numbers: a varint ends at a byte below 0x80.
      const char* n = numbers.data();
      const char* const n_end = n + numbers.size();
      for (; markers != 0 && n != n_end; ++n) markers -= static_cast<uint8_t>(*n) < 0x80;
      if (markers != 0) return Corrupt("message numbers");
      numbers.remove_prefix(static_cast<size_t>(n - numbers.data()));
      continue;
    }
    if (!want) {
      // Not wanted: walk past the template and its numbers, checking them as
      // the rebuild would, writing nothing (the message reads as empty).
      for (;;) {
        p = FindTemplateControl(p, end);
        if (p == end) return Corrupt("unterminated message template");
        const char c = *p++;
        if (c == kTemplateEnd) break;
        if (c == kTemplateEscape) {
          if (!EscapedByteIsValid(p, end)) return Corrupt("message template escape");
          ++p;
          continue;
        }
        uint64_t value;
        if (!TakeTemplateNumber(&numbers, &value)) return Corrupt("message numbers");
      }
      continue;
    }
    for (;;) {
      const char* control = FindTemplateControl(p, end);
      const size_t run = static_cast<size_t>(control - p);
      room(run + 16 + kMaxTemplateNumberDigits);
      // Most runs between numbers are short: one fixed 16-byte copy (room()
      // left the space; the source is read only where it lies in the block).
      if (run <= 16 && end - p >= 16) {
        std::memcpy(out, p, 16);
      } else {
        std::memcpy(out, p, run);
      }
      out += run;
      p = control;
      if (p == end) return Corrupt("unterminated message template");
      const char c = *p++;
      if (c == kTemplateEnd) break;
      if (c == kTemplateEscape) {
        if (!EscapedByteIsValid(p, end)) return Corrupt("message template escape");
        *out++ = *p++;
        continue;
      }
      uint64_t value;
      if (!TakeTemplateNumber(&numbers, &value)) return Corrupt("message numbers");
      out = AppendDecimal(value, out);  // room() left kMaxTemplateNumberDigits
    }
    // Offsets are 32-bit; real blocks stay far below (1 MiB of columns).
    if (static_cast<size_t>(out - text_.data()) > kMaxRawBytes) {
      return Corrupt("messages too long");
    }
  }
  if (p != end || !numbers.empty()) return Corrupt("message templates or numbers left over");
  text_.Resize(static_cast<size_t>(out - text_.data()));
  return absl::OkStatus();
}

void BlockReader::Attributes(size_t row, std::vector<AttributeView>* out) const {
  out->clear();
  // Parse() validated the column, so this decoding cannot run off the end.
  absl::string_view in = absl::string_view(raw_).substr(attribute_offsets_[row]);
  uint64_t n = 0;
  GetVarint64(&in, &n);
  for (uint64_t k = 0; k < n; ++k) {
    AttributeView a;
    uint64_t key = 0;
    GetVarint64(&in, &key);
    a.key = Word(static_cast<uint32_t>(key));
    a.type = static_cast<AttributeView::Type>(in.front());
    in.remove_prefix(1);
    switch (a.type) {
      case AttributeView::Type::kString:
        GetLengthPrefixed(&in, &a.string_value);
        break;
      case AttributeView::Type::kInt:
        GetSignedVarint64(&in, &a.int_value);
        break;
      case AttributeView::Type::kDouble:
        std::memcpy(&a.double_value, in.data(), 8);
        in.remove_prefix(8);
        break;
      case AttributeView::Type::kBool:
        a.bool_value = in.front() != 0;
        in.remove_prefix(1);
        break;
    }
    out->push_back(a);
  }
}

EntryView BlockReader::Row(size_t row, std::vector<AttributeView>* attribute_storage) const {
  Attributes(row, attribute_storage);
  EntryView e;
  e.seq = seq(row);
  e.time_us = time_us(row);
  e.device_time_us = device_time_us(row);
  e.receive_time_us = receive_time_us(row);
  e.level = level(row);
  e.kind = kind(row);
  e.tag = tag(row);
  e.message = message(row);
  e.file = file(row);
  e.line = line(row);
  e.function = function(row);
  e.user_id = user_id(row);
  e.session_id = session_id(row);
  e.attributes = *attribute_storage;
  return e;
}

}  // namespace fieldlog::store
