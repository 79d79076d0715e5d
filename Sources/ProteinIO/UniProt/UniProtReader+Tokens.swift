/// The fused path for flat files: the same API as `FASTAReader`'s. An entry's annotation lines
/// are parsed as by `next()` (the metadata is most of the work here), its residues collected in
/// the reader's reusable buffer and checked against the SQ line there, and tokenised from that
/// buffer straight into the caller's array: no residue array per entry.
extension UniProtReader {
    /// Reads the next entry and appends its token ids to `tokens` — the ids
    /// `tokenizer.tokenize(record.residues, …)` gives for the record `next()` would return.
    ///
    /// - Returns: the entry's position, length, tokenizer counts, id key hash and (lenient mode)
    ///   integrity issue; nil at the end of the input.
    /// - Throws: the errors of `next()` (sticky), then the tokenizer's error for an unknown
    ///   character under `UnknownPolicy.reject` (not sticky: the entry has been read). Either
    ///   way `tokens` is left as it was.
    public func nextTokens(appendingTo tokens: inout [TokenID], tokenizer: Tokenizer) throws -> RecordInfo? {
        guard let record = try next(keepingResidues: false) else { return nil }
        lastRecord = record
        let residues = UnsafeBufferPointer(start: self.residues.storage, count: self.residues.count)
        let counts = try tokenizer.tokenize(residues, appendingTo: &tokens, id: record.id, file: name)
        return info(record, counts: counts)
    }

    /// Reads the next entry into `tokens` (replacing its contents, keeping its capacity; empty
    /// after an error).
    public func nextTokens(into tokens: inout [TokenID], tokenizer: Tokenizer) throws -> RecordInfo? {
        tokens.removeAll(keepingCapacity: true)
        return try nextTokens(appendingTo: &tokens, tokenizer: tokenizer)
    }

    /// Reads the next entry's residues into `residues` (replacing its contents, keeping its
    /// capacity): the bytes `next()` would put in `SequenceRecord.residues`.
    public func nextResidues(into residues: inout [UInt8]) throws -> RecordInfo? {
        guard let record = try next(keepingResidues: false) else { return nil }
        lastRecord = record
        let count = self.residues.count
        residues.removeAll(keepingCapacity: true)
        residues.append(contentsOf: UnsafeBufferPointer(start: self.residues.storage, count: count))
        return info(record, counts: Tokenizer.Counts(tokens: count))
    }

    /// The primary accession of the entry the last `nextTokens` / `nextResidues` call returned.
    public var recordID: String { lastRecord?.id ?? "" }

    /// That entry's generated UniProt FASTA header (`SequenceRecord.header`).
    public var recordHeader: String { lastRecord?.header ?? "" }

    /// That entry's SQ length / CRC64 problem in lenient mode (`SequenceRecord.integrityIssue`).
    public var recordIntegrityIssue: ProteinIOError? { lastRecord?.integrityIssue }

    /// That entry's metadata (`SequenceRecord.entry`).
    public var recordEntry: UniProtMetadata? { lastRecord?.entry }

    /// Calls `body` with the UTF-8 bytes of that entry's accession.
    public func withRecordIDBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        var id = recordID
        return try id.withUTF8(body)
    }

    private func info(_ record: SequenceRecord, counts: Tokenizer.Counts) -> RecordInfo {
        RecordInfo(format: .uniProt, line: record.line, byteOffset: record.byteOffset, length: residues.count,
                   counts: counts, idKeyHash: TrainValidationSplit.keyHash(utf8: record.id.utf8),
                   hasIntegrityIssue: record.integrityIssue != nil)
    }
}
