/// The fused parse-and-tokenise path: what training streams use.
///
/// ```swift
/// let reader = try SequenceReader(path: "uniprot_trembl.fasta.gz")
/// let tokenizer = Tokenizer()
/// let split = TrainValidationSplit(validationFraction: 0.01)
/// var tokens: [TokenID] = []                 // reused: no allocation per record
/// while let info = try reader.nextTokens(into: &tokens, tokenizer: tokenizer) {
///     guard split.side(of: info) == .train else { continue }
///     packer.push(tokens)                    // or packer.push(nextRecordFrom:…) — no copy at all
/// }
/// ```
///
/// Each call gives exactly what `next()` followed by `tokenizer.tokenize(record.residues, …)`
/// gives — the same ids, `Tokenizer.Counts`, record boundaries, line numbers and byte offsets,
/// and the same errors in the same order — but for FASTA in one pass over the sequence bytes
/// and without building a `SequenceRecord`, a residue array or a `String`. See docs/io.md.
extension SequenceReader {
    /// Reads the next record and appends its token ids to `tokens`.
    ///
    /// - Returns: the record's line, byte offset, residue count, tokenizer counts and id key
    ///   hash (`RecordInfo`); nil at the end of the input.
    /// - Throws: the reader's errors (as `next()`; sticky), then — only under
    ///   `UnknownPolicy.reject` — the tokenizer's `.malformed` for a record with an unknown
    ///   character (the error `tokenize` throws for its residues; not sticky: the next call
    ///   reads the next record). `tokens` is then left as it was.
    /// - Complexity: O(record bytes); no allocation once `tokens` has the capacity (FASTA).
    public func nextTokens(appendingTo tokens: inout [TokenID], tokenizer: Tokenizer) throws -> RecordInfo? {
        switch backend {
        case .fasta(let reader): return try reader.nextTokens(appendingTo: &tokens, tokenizer: tokenizer)
        case .uniProt(let reader): return try reader.nextTokens(appendingTo: &tokens, tokenizer: tokenizer)
        case .empty: return nil
        }
    }

    /// Reads the next record's token ids into `tokens`, replacing its contents (its capacity is
    /// kept); see `nextTokens(appendingTo:tokenizer:)`. After an error `tokens` is empty.
    public func nextTokens(into tokens: inout [TokenID], tokenizer: Tokenizer) throws -> RecordInfo? {
        tokens.removeAll(keepingCapacity: true)
        return try nextTokens(appendingTo: &tokens, tokenizer: tokenizer)
    }

    /// Reads the next record's residue bytes into `residues`, replacing its contents: the bytes
    /// of `next()`'s `SequenceRecord.residues`, without a new array per record.
    ///
    /// - Throws: the reader's errors, as `next()`.
    public func nextResidues(into residues: inout [UInt8]) throws -> RecordInfo? {
        switch backend {
        case .fasta(let reader): return try reader.nextResidues(into: &residues)
        case .uniProt(let reader): return try reader.nextResidues(into: &residues)
        case .empty: return nil
        }
    }

    /// The id of the record the last `nextTokens` / `nextResidues` call returned (FASTA: the
    /// header's first word; flat file: the primary accession), as `SequenceRecord.id`. Built
    /// on each read; "" before the first record.
    public var recordID: String {
        switch backend {
        case .fasta(let reader): return reader.recordID
        case .uniProt(let reader): return reader.recordID
        case .empty: return ""
        }
    }

    /// The header of that record, as `SequenceRecord.header`. Built on each read.
    public var recordHeader: String {
        switch backend {
        case .fasta(let reader): return reader.recordHeader
        case .uniProt(let reader): return reader.recordHeader
        case .empty: return ""
        }
    }

    /// The flat-file metadata of that record (`SequenceRecord.entry`; nil for FASTA).
    public var recordEntry: UniProtMetadata? {
        if case .uniProt(let reader) = backend { return reader.recordEntry }
        return nil
    }

    /// That record's SQ length / CRC64 problem in lenient mode (`SequenceRecord.integrityIssue`;
    /// always nil for FASTA). Set exactly when `RecordInfo.hasIntegrityIssue` is.
    public var recordIntegrityIssue: ProteinIOError? {
        if case .uniProt(let reader) = backend { return reader.recordIntegrityIssue }
        return nil
    }

    /// Calls `body` with the UTF-8 bytes of that record's id (FASTA: no `String` is built).
    public func withRecordIDBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        switch backend {
        case .fasta(let reader): return try reader.withRecordIDBytes(body)
        case .uniProt(let reader): return try reader.withRecordIDBytes(body)
        case .empty: return try body(UnsafeBufferPointer(start: nil, count: 0))
        }
    }
}
