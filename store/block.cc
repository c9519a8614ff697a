#include "store/block.h"

// For ZSTD_c_forceAttachDict, a parameter of the stable ZSTD_CCtx_setParameter
// that zstd still lists as experimental.
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include <algorithm>
#include <bit>
#include <cstring>

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
// line less on disk); and the settled flag. Version 3 (written now): version 2
// plus the split-messages flag (settled blocks store their messages as
// templates and numbers, ~4 bytes per line less; see SplitMessages).
constexpr uint8_t kFormatVersion1 = 1;
constexpr uint8_t kFormatVersion2 = 2;
constexpr uint8_t kFormatVersion = 3;
// The encoding byte: compression in the low nibble, flags above.
constexpr uint8_t kCompressionNone = 0;
constexpr uint8_t kCompressionZstd = 1;
constexpr uint8_t kCompressionMask = 0x0F;
constexpr uint8_t kSettledFlag = 0x10;
// Version 3: the message_lengths and messages columns hold message templates
// and numbers instead (see SplitMessages).
constexpr uint8_t kSplitMessagesFlag = 0x20;
// Version 3: compressed with a dictionary, whose id follows max_time in the
// header (see dictionaries.h).
constexpr uint8_t kDictionaryFlag = 0x40;
// The columns after the dictionary, and which two SplitMessages rewrites.
constexpr int kColumns = 14;
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

// Appends `raw` to `payload` compressed at `level` (with `dictionary` when
// not null) when that makes it smaller; returns the compression used.
uint8_t AppendCompressed(absl::string_view raw, int level, const CompressionDictionary* dictionary,
                         std::string* payload) {
  if (level != 0) {
    const size_t header = payload->size();
    // Compress straight into the payload: no zero-filled scratch buffer, no
    // second copy.
    payload->resize(header + ZSTD_compressBound(raw.size()));
    ZSTD_CCtx* context = ThreadCompressor(level);
    if (dictionary != nullptr) {
      ZSTD_CCtx_refCDict(context, dictionary->cdict());
      // Use the dictionary's prepared tables in place. For inputs past a few
      // KiB zstd would copy them (about a megabyte at level 3) into the
      // context for every block; that copy cost the server 0.2 us a line.
      ZSTD_CCtx_setParameter(context, ZSTD_c_forceAttachDict, ZSTD_dictForceAttach);
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

// Rewrites the columns of a block (dictionary, then the 14 columns as written
// by BlockBuilder) with its messages split into templates and numbers, into
// `out`; false when `columns` is malformed.
//
// Log messages are mostly fixed text around numbers (ids, counts, durations,
// addresses): zstd finds the repeated text but spends 3-4 bits a digit on the
// numbers interleaved with it, and the varying digits break its matches. So
// each message becomes its template (message_template.h), the numbers go to a
// column of their own, and a template's end byte replaces the lengths column.
// The templates take the message_lengths slot and the numbers the messages
// slot: the templates then sit next to the other text, the numbers after them.
// On fieldlog-bench's lines (2,048-line blocks, zstd 3) the messages take
// 16.9 bytes a line this way against 21.0 with lengths and text.
bool SplitMessages(absl::string_view columns, uint64_t count, std::string* out) {
  absl::string_view in = columns;
  uint64_t words;
  if (!GetVarint64(&in, &words)) return false;
  for (uint64_t i = 0; i < words; ++i) {
    absl::string_view word;
    if (!GetLengthPrefixed(&in, &word)) return false;
  }
  const absl::string_view dictionary = columns.substr(0, in.data() - columns.data());
  absl::string_view parts[kColumns];
  for (absl::string_view& part : parts) {
    if (!GetLengthPrefixed(&in, &part)) return false;
  }
  absl::string_view lengths = parts[kMessageLengthsColumn];
  absl::string_view messages = parts[kMessagesColumn];
  thread_local std::string templates, numbers;
  templates.clear();
  numbers.clear();
  templates.reserve(messages.size() + count);
  for (uint64_t row = 0; row < count; ++row) {
    uint64_t length;
    if (!GetVarint64(&lengths, &length) || length > messages.size()) return false;
    AppendMessageTemplate(messages.substr(0, length), &templates, &numbers);
    messages.remove_prefix(length);
  }
  if (!lengths.empty() || !messages.empty()) return false;
  out->clear();
  out->reserve(columns.size());
  out->append(dictionary.data(), dictionary.size());
  for (int c = 0; c < kColumns; ++c) {
    if (c == kMessageLengthsColumn) {
      PutLengthPrefixed(out, templates);
    } else if (c == kMessagesColumn) {
      PutLengthPrefixed(out, numbers);
    } else {
      PutLengthPrefixed(out, parts[c]);
    }
  }
  return true;
}

// The payload header up to the columns; `dictionary_id` 0: none.
void PutHeader(uint8_t encoding, uint64_t count, uint64_t raw_size, int64_t max_time,
               uint32_t dictionary_id, std::string* payload) {
  payload->clear();
  payload->push_back(static_cast<char>(kFormatVersion));
  payload->push_back(static_cast<char>(encoding));
  PutVarint64(payload, count);
  PutVarint64(payload, raw_size);
  // The newest time, readable without decompressing: retention decides on it.
  PutSignedVarint64(payload, max_time);
  if (dictionary_id != 0) PutVarint64(payload, dictionary_id);
}

// Writes the header and the (compressed) columns of a block: the encoding
// byte is known only once compression has tried.
void PutPayload(absl::string_view columns, uint8_t flags, uint64_t count, int64_t max_time,
                int zstd_level, const CompressionDictionary* dictionary, std::string* payload) {
  if (zstd_level == 0 || (dictionary != nullptr && dictionary->cdict() == nullptr)) {
    dictionary = nullptr;
  }
  PutHeader(0, count, columns.size(), max_time, dictionary ? dictionary->id() : 0, payload);
  uint8_t compression = AppendCompressed(columns, zstd_level, dictionary, payload);
  if (dictionary != nullptr && compression != kCompressionZstd) {
    // Stored raw after all: no dictionary to name.
    PutHeader(0, count, columns.size(), max_time, 0, payload);
    payload->append(columns.data(), columns.size());
    dictionary = nullptr;
    compression = kCompressionNone;
  }
  (*payload)[1] = static_cast<char>(compression | flags | (dictionary ? kDictionaryFlag : 0));
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

  // Blocks compressed for keeps get their messages split (SplitMessages);
  // blocks written at ingest are rewritten soon, so they skip the work.
  absl::string_view columns = raw;
  uint8_t flags = encoding_.settled ? kSettledFlag : 0;
  if (encoding_.settled && encoding_.zstd_level != 0 && SplitMessages(raw, count_, &split_)) {
    columns = split_;
    flags |= kSplitMessagesFlag;
  }
  PutPayload(columns, flags, count_, max_time_, encoding_.zstd_level,
             encoding_.settled ? encoding_.dictionary : nullptr, payload);

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
  meta->set_raw_bytes(static_cast<uint32_t>(columns.size()));
  meta->set_stored_bytes(static_cast<uint32_t>(payload->size()));
  Reset();
}

// ---------------------------------------------------------------------------
// BlockReader

namespace {

struct PayloadHeader {
  uint8_t version = 0;
  uint8_t compression = 0;
  bool settled = false;
  bool split_messages = false;
  uint32_t dictionary_id = 0;  // 0: none
  uint64_t count = 0;
  uint64_t raw_size = 0;
  int64_t max_time_us = 0;
};

// Parses the header and leaves `payload` at the column data.
absl::StatusOr<PayloadHeader> ParseHeader(absl::string_view* payload) {
  if (payload->size() < 2) return Corrupt("payload shorter than its header");
  PayloadHeader header;
  header.version = static_cast<uint8_t>((*payload)[0]);
  if (header.version != kFormatVersion1 && header.version != kFormatVersion2 &&
      header.version != kFormatVersion) {
    return Corrupt(absl::StrCat("unknown format version ", static_cast<int>(header.version)));
  }
  const auto encoding = static_cast<uint8_t>((*payload)[1]);
  if (header.version == kFormatVersion1) {
    header.compression = encoding;
    header.settled = true;
  } else {
    const uint8_t known =
        kCompressionMask | kSettledFlag |
        (header.version == kFormatVersion ? kSplitMessagesFlag | kDictionaryFlag : 0);
    if ((encoding & ~known) != 0) {
      return Corrupt(absl::StrCat("unknown encoding ", static_cast<int>(encoding)));
    }
    header.compression = encoding & kCompressionMask;
    header.settled = (encoding & kSettledFlag) != 0;
    header.split_messages = (encoding & kSplitMessagesFlag) != 0;
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
    if (header.compression != kCompressionZstd) return Corrupt("a dictionary without zstd");
    header.dictionary_id = static_cast<uint32_t>(id);
  }
  return header;
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

// The columns of a block whose header is `header` and column data `body`,
// decompressed into `raw` when compressed; `raw` is not used otherwise.
absl::StatusOr<absl::string_view> Columns(const PayloadHeader& header, absl::string_view body,
                                          const Dictionaries* dictionaries, std::string* raw) {
  if (header.compression == kCompressionNone) {
    if (body.size() != header.raw_size) return Corrupt("size mismatch");
    return body;
  }
  if (header.compression != kCompressionZstd) {
    return Corrupt(absl::StrCat("unknown compression ", header.compression));
  }
  std::shared_ptr<const CompressionDictionary> dictionary;
  if (header.dictionary_id != 0) {
    if (dictionaries != nullptr) dictionary = dictionaries->Find(header.dictionary_id);
    if (dictionary == nullptr || dictionary->ddict() == nullptr) {
      return Corrupt(absl::StrCat("compressed with dictionary ", header.dictionary_id,
                                  ", which the store does not have"));
    }
  }
  raw->resize(header.raw_size);
  const size_t n = dictionary != nullptr
                       ? ZSTD_decompress_usingDDict(ThreadDecompressor(), raw->data(), raw->size(),
                                                    body.data(), body.size(), dictionary->ddict())
                       : ZSTD_decompressDCtx(ThreadDecompressor(), raw->data(), raw->size(),
                                             body.data(), body.size());
  if (ZSTD_isError(n)) return Corrupt(ZSTD_getErrorName(n));
  if (n != header.raw_size) return Corrupt("size mismatch after decompression");
  return absl::string_view(*raw);
}

}  // namespace

bool SettleBlock(absl::string_view payload, int zstd_level, const CompressionDictionary* dictionary,
                 const Dictionaries* dictionaries, std::string* settled) {
  absl::string_view body = payload;
  absl::StatusOr<PayloadHeader> header = ParseHeader(&body);
  if (!header.ok() || header->version == kFormatVersion1) return false;
  // A settled block is compressed again only when it is small and has no
  // dictionary while its app has one: a dictionary is worth most to small
  // blocks, and the first ones an app settles come before it has one. (A
  // block keeps the dictionary it has: compressing every small block again at
  // each new dictionary cost more CPU than it saved bytes.)
  const bool resettle = header->settled;
  if (resettle && (zstd_level == 0 || dictionary == nullptr || !header->split_messages ||
                   header->dictionary_id != 0 || header->count > kMaxResettleLines)) {
    return false;
  }
  if (!resettle && header->split_messages) return false;
  // The decompressed columns; thread-local so compactions do not allocate a
  // block's worth of memory per value.
  thread_local std::string raw, split;
  absl::StatusOr<absl::string_view> columns = Columns(*header, body, dictionaries, &raw);
  if (!columns.ok()) return false;
  // Only the messages are re-encoded (a version 2 block's columns are
  // version 3's): the other columns are copied as they are.
  uint8_t flags = kSettledFlag;
  if (resettle) {
    flags |= kSplitMessagesFlag;
  } else if (zstd_level != 0) {
    if (!SplitMessages(*columns, header->count, &split)) return false;
    columns = absl::string_view(split);
    flags |= kSplitMessagesFlag;
  }
  PutPayload(*columns, flags, header->count, header->max_time_us, zstd_level, dictionary, settled);
  return !resettle || settled->size() < payload.size();
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
  absl::StatusOr<absl::string_view> columns =
      Columns(*header, payload, options.dictionaries, &reader.raw_);
  if (!columns.ok()) return columns.status();
  if (columns->data() != reader.raw_.data()) reader.raw_.assign(columns->data(), columns->size());
  if (count > raw_size) return Corrupt("more rows than bytes");
  reader.line_count_ = count;
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

  absl::string_view columns[14];
  for (absl::string_view& column : columns) {
    if (!GetLengthPrefixed(&in, &column)) return Corrupt("column directory");
  }
  auto [seqs, times, device_times, receive_times, levels, tags, user_ids, session_ids, files, lines,
        functions, message_lengths, messages, attributes] = columns;
  // With split messages, message_lengths holds the templates.
  const bool templates_checked = split_messages_ && options.skip_blocks_ruled_out;
  if (templates_checked && TemplatesRuleOutEveryRow(message_lengths, options)) {
    seqs_.clear();
    message_offsets_.assign(1, 0);
    return absl::OkStatus();
  }

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
  if (split_messages_) {
    // message_lengths holds the templates, messages the numbers.
    templates_ = {offset_of(message_lengths), static_cast<uint32_t>(message_lengths.size())};
    numbers_ = {offset_of(messages), static_cast<uint32_t>(messages.size())};
    if (absl::Status s = JoinMessages(message_lengths, messages, options, templates_checked);
        !s.ok()) {
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

absl::Status BlockReader::JoinMessages(absl::string_view templates, absl::string_view numbers,
                                       const BlockReadOptions& options, bool templates_checked) {
  if (options.messages_to_us <= options.messages_from_us ||
      (!templates_checked && TemplatesRuleOutEveryRow(templates, options))) {
    // No row is wanted (none in the range, or no template can hold what the
    // search looks for: most blocks, for a rare text): nothing to rebuild,
    // or to check, until RebuildMessages asks for some; the numbers are not
    // read.
    std::fill(message_offsets_.begin(), message_offsets_.end(), 0);
    text_.clear();
    return absl::OkStatus();
  }
  const char* p = templates.data();
  const char* const end = p + templates.size();
  // Without escapes (nearly every block), a template ends at the next 0 byte
  // and holds as many numbers as 1 bytes: unwanted rows are skipped with
  // memchr and a count, not byte by byte.
  const bool escapes = std::memchr(p, kTemplateEscape, templates.size()) != nullptr;
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
  // Some template holds the probe (the blocks where none does returned above).
  if (!probe.empty()) find_probe(p);
  const auto template_has_probe = [&](const char* start) {
    if (probe.empty()) return true;
    if (next_match < start) find_probe(start);
    return next_match != end && std::memchr(start, kTemplateEnd, next_match - start) == nullptr;
  };
  return RebuildRows(templates, numbers, escapes, [&](size_t row, const char* template_start) {
    return times_[row] >= options.messages_from_us && times_[row] < options.messages_to_us &&
           template_has_probe(template_start);
  });
}

absl::Status BlockReader::RebuildMessages(absl::FunctionRef<bool(size_t row)> wanted) {
  if (!split_messages_) return absl::OkStatus();
  const absl::string_view templates = Slice(templates_.offset, templates_.length);
  return RebuildRows(templates, Slice(numbers_.offset, numbers_.length),
                     std::memchr(templates.data(), kTemplateEscape, templates.size()) != nullptr,
                     [&](size_t row, const char*) { return wanted(row); });
}

absl::Status BlockReader::RebuildRows(absl::string_view templates, absl::string_view numbers,
                                      bool escapes,
                                      absl::FunctionRef<bool(size_t row, const char*)> wanted) {
  const size_t count = seqs_.size();
  const char* p = templates.data();
  const char* const end = p + templates.size();
  // Written through a pointer into text_, grown when a write may not fit:
  // appending byte by byte made this most of a block's decoding.
  text_.resize(templates.size() + 4 * numbers.size() + 64);
  char* out = text_.data();
  char* limit = out + text_.size();
  const auto room = [&](size_t n) {
    if (static_cast<size_t>(limit - out) >= n) return;
    const size_t used = static_cast<size_t>(out - text_.data());
    text_.resize(std::max(2 * text_.size(), used + n));
    out = text_.data() + used;
    limit = text_.data() + text_.size();
  };
  // `row`'s template starts at p.
  for (size_t row = 0; row < count; ++row) {
    message_offsets_[row] = static_cast<uint32_t>(out - text_.data());
    if (!escapes && !wanted(row, p)) {
      // This row and the unwanted ones after it.
      size_t markers = 0;
      for (;;) {
        const char* stop = static_cast<const char*>(std::memchr(p, kTemplateEnd, end - p));
        if (stop == nullptr) return Corrupt("unterminated message template");
        markers += static_cast<size_t>(std::count(p, stop, kTemplateNumber));
        p = stop + 1;
        if (row + 1 == count || wanted(row + 1, p)) break;
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
    if (!wanted(row, p)) {
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
  text_.resize(static_cast<size_t>(out - text_.data()));
  message_offsets_[count] = static_cast<uint32_t>(text_.size());
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
