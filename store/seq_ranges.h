// SeqRanges: the set of sequence numbers stored for one device, kept as sorted,
// disjoint, non-adjacent inclusive ranges. Usually it is a single range
// [1, watermark]; gaps appear when a device lost lines (its spool evicted them)
// or when batches arrive out of order, and close when the missing batch arrives.
//
// The set is bounded: past kMaxRanges the two oldest ranges are joined, which
// declares the oldest gap lost for good (a late copy of those seqs is then
// treated as a duplicate). That keeps the device record small whatever a client
// sends.
#ifndef FIELDLOG_STORE_SEQ_RANGES_H_
#define FIELDLOG_STORE_SEQ_RANGES_H_

#include <cstdint>
#include <span>
#include <vector>

#include "google/protobuf/repeated_ptr_field.h"
#include "store/records.pb.h"

namespace fieldlog::store {

class SeqRanges {
 public:
  static constexpr size_t kMaxRanges = 64;

  struct Range {
    uint64_t first;
    uint64_t last;
  };

  SeqRanges() = default;
  static SeqRanges FromProto(const google::protobuf::RepeatedPtrField<SeqRange>& ranges);
  void ToProto(google::protobuf::RepeatedPtrField<SeqRange>* out) const;

  bool Contains(uint64_t seq) const;
  // Adds seqs given in strictly increasing order.
  void AddSorted(std::span<const uint64_t> seqs);
  // The highest seq in the set, 0 when empty.
  uint64_t watermark() const { return ranges_.empty() ? 0 : ranges_.back().last; }
  const std::vector<Range>& ranges() const { return ranges_; }

 private:
  void Insert(uint64_t first, uint64_t last);

  std::vector<Range> ranges_;
};

}  // namespace fieldlog::store

#endif  // FIELDLOG_STORE_SEQ_RANGES_H_
