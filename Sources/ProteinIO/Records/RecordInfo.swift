/// What the fused readers (`SequenceReader.nextTokens(into:tokenizer:)`,
/// `nextResidues(into:)`) return for one record instead of a `SequenceRecord`: where it was,
/// how long it was and what the tokenizer made of it — no arrays and no `String`. The record's
/// id and header are kept by the reader until the next call (`SequenceReader.recordID`,
/// `withRecordIDBytes(_:)`, `recordHeader`) and built only when asked for.
public struct RecordInfo: Sendable, Equatable {
    /// The format the record was read from.
    public var format: SequenceFormat
    /// 1-based line of the record's first line (`>` or `ID`), as `SequenceRecord.line`.
    public var line: Int
    /// Offset of the record's first byte in the decompressed stream, as `SequenceRecord.byteOffset`.
    public var byteOffset: Int
    /// Residue bytes in the record (`SequenceRecord.length`: sequence characters as in the file,
    /// line breaks and blanks removed), before the tokenizer dropped or replaced any.
    public var length: Int
    /// What the tokenizer did; `counts.tokens` ids were written. For `nextResidues(into:)`,
    /// `tokens == length` and the other counts are 0.
    public var counts: Tokenizer.Counts
    /// FNV-1a-64 of the record's split key: `TrainValidationSplit.keyHash(utf8:)` of its id
    /// (the accession for UniProt ids and flat-file entries), so
    /// `TrainValidationSplit.side(of:)` can place the record without building its id.
    public var idKeyHash: UInt64
    /// True when, in lenient integrity mode, the flat-file entry disagreed with its SQ line
    /// (`SequenceRecord.integrityIssue` is non-nil; the error itself is
    /// `SequenceReader.recordIntegrityIssue`). (A flag, not the error, so that `RecordInfo`
    /// stays a plain value that costs nothing to copy.)
    public var hasIntegrityIssue: Bool

    public init(
        format: SequenceFormat, line: Int, byteOffset: Int, length: Int, counts: Tokenizer.Counts,
        idKeyHash: UInt64, hasIntegrityIssue: Bool = false
    ) {
        self.format = format
        self.line = line
        self.byteOffset = byteOffset
        self.length = length
        self.counts = counts
        self.idKeyHash = idKeyHash
        self.hasIntegrityIssue = hasIntegrityIssue
    }
}
