extension ParameterStore {
    /// The flat index ranges of the parameters that take weight decay (`Entry.decays`: matrices
    /// and the embedding; not biases or LayerNorm), adjacent ranges merged: AdamW's decay mask.
    public var decayRanges: [Range<Int>] {
        var ranges: [Range<Int>] = []
        for entry in entries.sorted(by: { $0.offset < $1.offset }) where entry.decays && entry.count > 0 {
            let range = entry.offset ..< entry.offset + entry.count
            if let last = ranges.last, last.upperBound == range.lowerBound {
                ranges[ranges.count - 1] = last.lowerBound ..< range.upperBound
            } else {
                ranges.append(range)
            }
        }
        return ranges
    }
}
