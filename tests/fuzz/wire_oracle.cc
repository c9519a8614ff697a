#include "tests/fuzz/wire_oracle.h"

#include <cstring>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "collector/batch_decoder.h"
#include "collector/compressed_batch.h"
#include "collector/validation.h"

namespace fieldlog::testing {
namespace {

using collector::WireBatch;
using collector::WireEntry;

std::string Quote(absl::string_view text) {
  if (text.size() > 40) return absl::StrCat("\"", absl::CHexEscape(text.substr(0, 40)), "...\"");
  return absl::StrCat("\"", absl::CHexEscape(text), "\"");
}

// "" when equal, else "<what>: <expected> != <actual>". Views are compared by
// their bytes.
template <typename T>
std::string Diff(absl::string_view what, const T& expected, const T& actual) {
  if (expected == actual) return "";
  return absl::StrCat(what, ": ", expected, " (protobuf) != ", actual, " (wire)");
}
std::string Diff(absl::string_view what, absl::string_view expected, absl::string_view actual) {
  if (expected == actual) return "";
  return absl::StrCat(what, ": ", Quote(expected), " (protobuf) != ", Quote(actual), " (wire)");
}
std::string DiffBits(absl::string_view what, double expected, double actual) {
  // By bits: a NaN is a value like any other here.
  if (std::memcmp(&expected, &actual, sizeof(double)) == 0) return "";
  return absl::StrCat(what, ": ", expected, " (protobuf) != ", actual, " (wire)");
}

std::string DiffAttribute(absl::string_view where, const store::AttributeView& e,
                          const store::AttributeView& a) {
  std::string d;
  if (!(d = Diff(absl::StrCat(where, ".key"), e.key, a.key)).empty()) return d;
  if (!(d = Diff(absl::StrCat(where, ".type"), static_cast<int>(e.type), static_cast<int>(a.type)))
           .empty()) {
    return d;
  }
  if (!(d = Diff(absl::StrCat(where, ".string_value"), e.string_value, a.string_value)).empty()) {
    return d;
  }
  if (!(d = Diff(absl::StrCat(where, ".int_value"), e.int_value, a.int_value)).empty()) return d;
  if (!(d = DiffBits(absl::StrCat(where, ".double_value"), e.double_value, a.double_value))
           .empty()) {
    return d;
  }
  return Diff(absl::StrCat(where, ".bool_value"), static_cast<int>(e.bool_value),
              static_cast<int>(a.bool_value));
}

std::string DiffAttributes(absl::string_view where, std::span<const store::AttributeView> e,
                           std::span<const store::AttributeView> a) {
  if (std::string d = Diff(absl::StrCat(where, ".attributes.size"), e.size(), a.size());
      !d.empty()) {
    return d;
  }
  for (size_t i = 0; i < e.size(); ++i) {
    if (std::string d = DiffAttribute(absl::StrCat(where, ".attributes[", i, "]"), e[i], a[i]);
        !d.empty()) {
      return d;
    }
  }
  return "";
}

// Every field the wire decoder produces.
std::string DiffWire(const WireBatch& e, const WireBatch& a) {
  std::string d;
  if (!(d = Diff("batch_id", e.batch_id, a.batch_id)).empty()) return d;
  if (!(d = Diff("session_id", e.session_id, a.session_id)).empty()) return d;
  if (!(d = Diff("user_id", e.user_id, a.user_id)).empty()) return d;
  if (!(d = Diff("sent_at", e.sent_at_unix_micros, a.sent_at_unix_micros)).empty()) return d;
  if (!(d = Diff("entry_count", e.entry_count, a.entry_count)).empty()) return d;
  if (!(d = Diff("entries.size", e.entries.size(), a.entries.size())).empty()) return d;
  for (size_t i = 0; i < e.entries.size(); ++i) {
    const WireEntry& x = e.entries[i];
    const WireEntry& y = a.entries[i];
    const std::string w = absl::StrCat("entries[", i, "]");
    if (!(d = Diff(w + ".seq", x.seq, y.seq)).empty()) return d;
    if (!(d = Diff(w + ".time", x.time_unix_micros, y.time_unix_micros)).empty()) return d;
    if (!(d = Diff(w + ".level", x.level, y.level)).empty()) return d;
    if (!(d = Diff(w + ".kind", x.kind, y.kind)).empty()) return d;
    if (!(d = Diff(w + ".line", x.line, y.line)).empty()) return d;
    if (!(d = Diff(w + ".tag", x.tag, y.tag)).empty()) return d;
    if (!(d = Diff(w + ".message", x.message, y.message)).empty()) return d;
    if (!(d = Diff(w + ".file", x.file, y.file)).empty()) return d;
    if (!(d = Diff(w + ".function", x.function, y.function)).empty()) return d;
    if (!(d = Diff(w + ".attribute_count", x.attribute_count, y.attribute_count)).empty()) {
      return d;
    }
    if (!(d = DiffAttributes(w, e.AttributesOf(x), a.AttributesOf(y))).empty()) return d;
  }
  return "";
}

// What the collector makes of the batch.
std::string DiffOutcome(const v1::Batch& parsed, const WireBatch& wire) {
  const absl::Status expected_status = collector::ValidateBatch(parsed);
  const absl::Status status = collector::ValidateBatch(wire);
  if (expected_status != status) {
    return absl::StrCat("ValidateBatch: ", expected_status.ToString(),
                        " (protobuf) != ", status.ToString(), " (wire)");
  }
  if (!status.ok()) return "";
  const std::optional<int64_t> offset =
      parsed.sent_at_unix_micros() > 0
          ? std::optional<int64_t>(kOracleNowUs - parsed.sent_at_unix_micros())
          : std::nullopt;
  collector::DecodedBatch e, a;
  collector::DecodeBatch(parsed, kOracleNowUs, offset, &e);
  collector::DecodeBatch(wire, kOracleNowUs, offset, &a);
  std::string d;
  if (!(d = Diff("rejected.size", e.rejected.size(), a.rejected.size())).empty()) return d;
  for (size_t i = 0; i < e.rejected.size(); ++i) {
    const std::string w = absl::StrCat("rejected[", i, "]");
    if (!(d = Diff(w + ".index", e.rejected[i].index(), a.rejected[i].index())).empty()) return d;
    if (!(d = Diff(w + ".seq", e.rejected[i].seq(), a.rejected[i].seq())).empty()) return d;
    if (!(d = Diff(w + ".reason", e.rejected[i].reason(), a.rejected[i].reason())).empty()) {
      return d;
    }
    if (!(d = Diff(w + ".code", absl::string_view(e.rejected_codes[i]),
                   absl::string_view(a.rejected_codes[i])))
             .empty()) {
      return d;
    }
  }
  if (!(d = Diff("accepted.size", e.entries.size(), a.entries.size())).empty()) return d;
  for (size_t i = 0; i < e.entries.size(); ++i) {
    const store::EntryView& x = e.entries[i];
    const store::EntryView& y = a.entries[i];
    const std::string w = absl::StrCat("accepted[", i, "]");
    if (!(d = Diff(w + ".seq", x.seq, y.seq)).empty()) return d;
    if (!(d = Diff(w + ".time_us", x.time_us, y.time_us)).empty()) return d;
    if (!(d = Diff(w + ".device_time", x.device_time_us, y.device_time_us)).empty()) return d;
    if (!(d = Diff(w + ".receive_time", x.receive_time_us, y.receive_time_us)).empty()) return d;
    if (!(d = Diff(w + ".level", static_cast<int>(x.level), static_cast<int>(y.level))).empty()) {
      return d;
    }
    if (!(d = Diff(w + ".kind", static_cast<int>(x.kind), static_cast<int>(y.kind))).empty()) {
      return d;
    }
    if (!(d = Diff(w + ".tag", x.tag, y.tag)).empty()) return d;
    if (!(d = Diff(w + ".message", x.message, y.message)).empty()) return d;
    if (!(d = Diff(w + ".file", x.file, y.file)).empty()) return d;
    if (!(d = Diff(w + ".line", x.line, y.line)).empty()) return d;
    if (!(d = Diff(w + ".function", x.function, y.function)).empty()) return d;
    if (!(d = Diff(w + ".user_id", x.user_id, y.user_id)).empty()) return d;
    if (!(d = Diff(w + ".session_id", x.session_id, y.session_id)).empty()) return d;
    if (!(d = DiffAttributes(w, x.attributes, y.attributes)).empty()) return d;
  }
  return "";
}

std::string CompareCompressed(int32_t codec, absl::string_view data) {
  v1::CompressedBatch compressed;
  compressed.set_codec(static_cast<v1::CompressedBatch::Codec>(codec));
  compressed.set_data(data.data(), data.size());
  v1::Batch parsed;
  const absl::Status expected = collector::DecompressBatch(compressed, &parsed);
  collector::OwnedWireBatch unpacked;
  const absl::Status status = collector::DecompressBatch(codec, data, &unpacked);
  if (expected != status) {
    return absl::StrCat("DecompressBatch: ", expected.ToString(),
                        " (protobuf) != ", status.ToString(), " (wire)");
  }
  if (!status.ok()) return "";
  return CompareDecoded(parsed, unpacked.batch);
}

}  // namespace

std::string CompareDecoded(const v1::Batch& parsed, const WireBatch& wire) {
  WireBatch expected;
  collector::BatchFromProto(parsed, &expected);
  if (std::string d = DiffWire(expected, wire); !d.empty()) return d;
  return DiffOutcome(parsed, wire);
}

std::string CompareBatchBytes(absl::string_view bytes) {
  v1::Batch parsed;
  const bool expected = parsed.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  WireBatch wire;
  const bool decoded = collector::MergeBatchFromWire(bytes, collector::kWireDepthLimit, &wire);
  if (expected != decoded) {
    return absl::StrCat("verdict: protobuf ", expected ? "parses" : "refuses", " the batch, wire ",
                        decoded ? "decodes" : "refuses", " it");
  }
  if (!decoded) return "";
  return CompareDecoded(parsed, wire);
}

std::string CompareRequestBytes(absl::string_view bytes) {
  using Kind = collector::WireRequest::Kind;
  v1::IngestRequest parsed;
  const bool expected = parsed.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  collector::WireRequest request;
  const bool decoded = collector::ReadIngestRequest(bytes, &request);
  if (decoded && request.kind == Kind::kUseProtobuf) {
    // The stream parses it with protobuf, whose verdict is then the answer; a
    // batch it finds is encoded again and decoded like any other.
    if (!expected || !parsed.has_batch()) return "";
    collector::OwnedWireBatch owned;
    if (!collector::ReencodeBatch(parsed.batch(), &owned)) return "re-encoded batch: refused";
    return CompareDecoded(parsed.batch(), owned.batch);
  }
  if (expected != decoded) {
    return absl::StrCat("verdict: protobuf ", expected ? "parses" : "refuses",
                        " the request, wire ", decoded ? "decodes" : "refuses", " it");
  }
  if (!decoded) return "";
  switch (parsed.kind_case()) {
    case v1::IngestRequest::KIND_NOT_SET:
      return request.kind == Kind::kNotSet ? "" : "kind: not set (protobuf), set (wire)";
    case v1::IngestRequest::kHello:
      return "kind: hello (protobuf), not left to protobuf (wire)";
    case v1::IngestRequest::kBatch:
      if (request.kind != Kind::kBatch) return "kind: batch (protobuf), another (wire)";
      return CompareDecoded(parsed.batch(), request.batch);
    case v1::IngestRequest::kCompressedBatch: {
      if (request.kind != Kind::kCompressedBatch) {
        return "kind: compressed_batch (protobuf), another (wire)";
      }
      std::string d;
      if (!(d = Diff("codec", static_cast<int32_t>(parsed.compressed_batch().codec()),
                     request.codec))
               .empty()) {
        return d;
      }
      if (!(d = Diff("data", absl::string_view(parsed.compressed_batch().data()),
                     request.compressed_data))
               .empty()) {
        return d;
      }
      return CompareCompressed(request.codec, request.compressed_data);
    }
  }
  return "";
}

}  // namespace fieldlog::testing
