// WireBatch: an ingest Batch decoded straight from its protobuf wire bytes,
// as views into those bytes, without building v1::Batch and v1::Entry
// messages first.
//
// Why: protobuf 3.21's parser allocates every string field it reads, even on
// an arena; at full speed that was an eighth of the collector's CPU in malloc
// and free, more than the parse itself. The bytes a request arrived in already
// hold every tag, message and id the store needs.
//
// The contract is protobuf's: for any bytes, MergeBatchFromWire accepts
// exactly what v1::Batch::MergeFromString would (same nesting limit), and the
// entries it yields hold exactly the values the parsed messages would. That
// includes the wire rules a hostile or odd client can exercise: fields in any
// order; unknown fields of every wire type skipped, groups included (to
// protobuf's nesting limit); a repeated singular field keeps its last value;
// a repeated Attribute.value merges (its oneof keeps the last member set);
// enum numbers the proto does not name kept as numbers; varints of up to 10
// bytes (tags and lengths up to 5). Anything protobuf refuses (a truncated
// field, a length past the end of its message, wire types 6 and 7, tag 0, an
// unmatched end-group) is refused. tests/wire_batch_test.cc checks this
// against protobuf itself on generated and mutated encodings.
//
// Decoding validates nothing beyond the wire format: validation.h does, entry
// by entry, so that one bad entry does not sink its batch.
#ifndef FIELDLOG_COLLECTOR_WIRE_BATCH_H_
#define FIELDLOG_COLLECTOR_WIRE_BATCH_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/limits.h"
#include "fieldlog/v1/ingest.pb.h"
#include "store/block.h"

namespace fieldlog::collector {

// The nesting protobuf allows a message parsed on its own
// (io::CodedInputStream's default recursion limit). A message inside another
// has one level less: a Batch inside an IngestRequest is parsed with
// kWireDepthLimit - 1.
inline constexpr int kWireDepthLimit = 100;

// One Entry as the wire has it: nothing checked yet. Its text fields view the
// bytes it was decoded from.
struct WireEntry {
  uint64_t seq = 0;
  int64_t time_unix_micros = 0;
  int32_t level = 0;  // a v1::Level, or a number the proto does not name
  int32_t kind = 0;   // a v1::EntryKind, likewise
  uint32_t line = 0;
  absl::string_view tag;
  absl::string_view message;
  absl::string_view file;
  absl::string_view function;
  // How many attributes the entry had; WireBatch keeps at most
  // kMaxAttributes of them (more get the entry rejected, whatever they hold).
  uint32_t attribute_count = 0;
  uint32_t first_attribute = 0;  // in WireBatch::attributes
};

// A Batch as the wire has it.
struct WireBatch {
  uint64_t batch_id = 0;
  absl::string_view session_id;
  absl::string_view user_id;
  int64_t sent_at_unix_micros = 0;
  // How many entries the batch had; `entries` keeps at most
  // kMaxEntriesPerBatch of them (more get the whole batch refused), so a
  // hostile request of millions of empty entries costs no memory for them.
  size_t entry_count = 0;
  std::vector<WireEntry> entries;
  // The entries' attributes, each entry's in wire order and repeats kept (as
  // validation counts them).
  std::vector<store::AttributeView> attributes;

  // The attributes kept for `entry` (all of them unless it has too many).
  std::span<const store::AttributeView> AttributesOf(const WireEntry& entry) const {
    return std::span<const store::AttributeView>(attributes)
        .subspan(entry.first_attribute, std::min<size_t>(entry.attribute_count, kMaxAttributes));
  }

  // Empty again, keeping the vectors' capacity.
  void Clear();
};

// Decodes `bytes` as a serialized fieldlog.v1.Batch and merges it into
// `*batch`, as protobuf's MergeFromString would: decoding the pieces of a
// batch split over several fields one after the other equals decoding their
// concatenation. `depth` is the nesting protobuf still allows at the batch's
// level (kWireDepthLimit for a batch on its own). The views point into
// `bytes`, which must outlive them. False when protobuf would refuse the
// bytes; `*batch` is then unspecified.
bool MergeBatchFromWire(absl::string_view bytes, int depth, WireBatch* batch);

// A WireBatch with the bytes it views, when those are not a request's own:
// what a compressed batch unpacked to, or a batch protobuf parsed, encoded
// again.
struct OwnedWireBatch {
  std::unique_ptr<char[]> bytes;
  size_t size = 0;
  WireBatch batch;
};

// Encodes `batch` (parsed by protobuf from inside an IngestRequest) and
// decodes it again into `*out`, for a request the stream left to protobuf.
// False only if the two disagree (protobuf encodes what it parsed, unknown
// fields and their nesting included).
bool ReencodeBatch(const v1::Batch& batch, OwnedWireBatch* out);

// What an IngestRequest holds, found without protobuf's parser for the two
// kinds of request a stream carries by the thousand.
struct WireRequest {
  enum class Kind {
    kNotSet,           // none of the oneof's fields
    kBatch,            // `batch` holds it, viewing the request's bytes
    kCompressedBatch,  // `codec` and `compressed_data` hold it
    // A hello, or a batch and a compressed batch in one request: parse the
    // request with protobuf (a hello comes once a stream, and a request that
    // mixes kinds comes from no real client; protobuf's oneof rules decide).
    kUseProtobuf,
  };
  Kind kind = Kind::kNotSet;
  WireBatch batch;
  int32_t codec = 0;  // a v1::CompressedBatch::Codec, or another number
  absl::string_view compressed_data;
};

// Decodes `bytes` as a serialized fieldlog.v1.IngestRequest. False when
// protobuf would refuse them; true with kind kUseProtobuf when the caller
// must parse them with protobuf to know (whose verdict is then final).
bool ReadIngestRequest(absl::string_view bytes, WireRequest* request);

// The same entries from a parsed v1::Batch (the unary Push and OTLP paths,
// which build messages): views into `batch`, which must outlive them.
void BatchFromProto(const v1::Batch& batch, WireBatch* out);

// One entry of a parsed message, its attributes appended to `*attributes`
// (all of them; first_attribute indexes `*attributes`).
WireEntry EntryFromProto(const v1::Entry& entry, std::vector<store::AttributeView>* attributes);

}  // namespace fieldlog::collector

#endif  // FIELDLOG_COLLECTOR_WIRE_BATCH_H_
