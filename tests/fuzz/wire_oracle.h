// The oracle for the collector's wire decoder (collector/wire_batch.h):
// protobuf's own parser, then the path over v1 messages the collector took
// before it decoded the wire itself (BatchFromProto, ValidateBatch,
// DecodeBatch). Each Compare* runs both on the same bytes and returns "" when
// they agree, or what differs: the verdict (protobuf refuses the bytes or
// not), the kind of request, any field of the batch or of an entry or
// attribute, and the collector's outcome (batch status, accepted views,
// rejections with their reasons).
//
// Shared by the differential test (tests/wire_batch_test.cc) and the fuzz
// target (ingest_request_fuzzer.cc).
#ifndef FIELDLOG_TESTS_FUZZ_WIRE_ORACLE_H_
#define FIELDLOG_TESTS_FUZZ_WIRE_ORACLE_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "collector/wire_batch.h"
#include "fieldlog/v1/ingest.pb.h"

namespace fieldlog::testing {

// The server clock the comparisons validate against.
inline constexpr int64_t kOracleNowUs = 1'795'000'000'000'000;

// `bytes` as a Batch on its own (as a compressed batch's content is).
std::string CompareBatchBytes(absl::string_view bytes);

// `bytes` as an IngestRequest, as the stream reads it: ReadIngestRequest
// against IngestRequest::ParseFromArray, then the batch it holds (plain,
// compressed, or left to protobuf and re-encoded).
std::string CompareRequestBytes(absl::string_view bytes);

// A batch protobuf parsed against the same batch decoded from the wire.
std::string CompareDecoded(const v1::Batch& parsed, const collector::WireBatch& wire);

}  // namespace fieldlog::testing

#endif  // FIELDLOG_TESTS_FUZZ_WIRE_ORACLE_H_
