#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The fused path: records parsed and tokenised in one pass, straight into a caller's buffer.
///
/// The scanner is `next()`'s (same window, same `memchr` line and record ends, same fast path
/// for a record wholly in the window and streaming path otherwise), but each sequence line goes
/// through `SequenceLineTokenizer` into the caller's array instead of into a residue array: no
/// allocation per record once the caller's array and the reader's header buffer are large
/// enough. The header is checked exactly as `next()` checks it and kept until the next call
/// (`recordID`, `recordHeader`); no `String` is built unless asked for.
extension FASTAReader {
    /// Reads the next record and appends its token ids to `tokens`: the ids
    /// `tokenizer.tokenize(record.residues, …)` gives for the record `next()` would return.
    ///
    /// ```swift
    /// var tokens: [TokenID] = []
    /// while let info = try reader.nextTokens(appendingTo: &tokens, tokenizer: tokenizer) { … }
    /// ```
    ///
    /// - Returns: the record's position, length, tokenizer counts and id key hash; nil at the end
    ///   of the input.
    /// - Throws: the errors of `next()` (sticky, as there), then the tokenizer's `.malformed`
    ///   for a record with an unknown character under `UnknownPolicy.reject` — the error
    ///   `tokenize` throws for that record's residues. That one is not sticky: the record has
    ///   been read, and the next call reads the next one. Either way `tokens` is left as it was.
    /// - Complexity: O(record bytes); no allocation once `tokens` has the capacity.
    public func nextTokens(appendingTo tokens: inout [TokenID], tokenizer: Tokenizer) throws -> RecordInfo? {
        let pairs = tokenizer.gapPolicy == .remove
            ? SequenceLineTokenizer.removedGapPairs : SequenceLineTokenizer.unknownGapPairs
        return try pairs.withUnsafeBufferPointer { pairs in
            try tokenizer.streamTable.withUnsafeBufferPointer { table in
                try next(appendingTo: &tokens, pairs: pairs.baseAddress.unsafelyUnwrapped,
                         table: table.baseAddress.unsafelyUnwrapped, reject: tokenizer.unknownPolicy == .reject)
            }
        }
    }

    /// Reads the next record into `tokens` (replacing its contents, keeping its capacity); see
    /// `nextTokens(appendingTo:tokenizer:)`. After an error `tokens` is empty.
    public func nextTokens(into tokens: inout [TokenID], tokenizer: Tokenizer) throws -> RecordInfo? {
        tokens.removeAll(keepingCapacity: true)
        return try nextTokens(appendingTo: &tokens, tokenizer: tokenizer)
    }

    /// Reads the next record's residues into `residues` (replacing its contents, keeping its
    /// capacity): the bytes `next()` would put in `SequenceRecord.residues`, without a new array.
    ///
    /// - Throws: the errors of `next()`.
    public func nextResidues(into residues: inout [UInt8]) throws -> RecordInfo? {
        residues.removeAll(keepingCapacity: true)
        return try SequenceLineTokenizer.rawPairs.withUnsafeBufferPointer { pairs in
            try SequenceLineTokenizer.rawTable.withUnsafeBufferPointer { table in
                try next(appendingTo: &residues, pairs: pairs.baseAddress.unsafelyUnwrapped,
                         table: table.baseAddress.unsafelyUnwrapped, reject: false)
            }
        }
    }

    /// The id (first header word) of the record the last `nextTokens` / `nextResidues` call
    /// returned, built now.
    public var recordID: String {
        withRecordHeaderBytes { String(decoding: UnsafeBufferPointer(rebasing: $0[..<recordIDEnd]), as: UTF8.self) }
    }

    /// The header (without `>` and trailing blanks) of that record, built now.
    public var recordHeader: String {
        withRecordHeaderBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// Calls `body` with the UTF-8 bytes of that record's id, without building a `String`.
    public func withRecordIDBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try withRecordHeaderBytes { try body(UnsafeBufferPointer(rebasing: $0[..<recordIDEnd])) }
    }

    /// Calls `body` with that record's header bytes, wherever they are kept.
    func withRecordHeaderBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        if recordHeaderInWindow {
            return try body(UnsafeBufferPointer(start: buffer.storage + recordHeaderStart, count: recordHeaderCount))
        }
        return try recordHeaderBytes.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[..<recordHeaderCount])) }
    }

    /// Moves the header out of the window before the window is refilled.
    func keepRecordHeader() {
        guard recordHeaderInWindow else { return }
        recordHeaderBytes.removeAll(keepingCapacity: true)
        recordHeaderBytes.append(contentsOf: UnsafeBufferPointer(start: buffer.storage + recordHeaderStart, count: recordHeaderCount))
        recordHeaderInWindow = false
    }

    /// No fused-path record (after `next()`): `recordID` is "" until the next `nextTokens`.
    func forgetRecordHeader() {
        recordHeaderInWindow = false
        recordHeaderCount = 0
        recordIDEnd = 0
    }

    // MARK: - Implementation

    func next(
        appendingTo output: inout [UInt8], pairs: UnsafePointer<UInt16>, table: UnsafePointer<UInt8>, reject: Bool
    ) throws -> RecordInfo? {
        if let failure { throw failure }
        let base = output.count
        var scanner = SequenceLineTokenizer(pairs: pairs, table: table, reject: reject)
        let info: RecordInfo
        do {
            guard let read = try readRecord(appendingTo: &output, base: base, &scanner) else { return nil }
            info = read
        } catch {
            output.removeLast(output.count - base)
            if let error = error as? ProteinIOError { failure = error }
            throw error
        }
        recordsRead += 1
        if scanner.firstUnknownPosition > 0 {
            output.removeLast(output.count - base)
            throw Tokenizer.unknownCharacterError(
                scanner.firstUnknownByte, position: scanner.firstUnknownPosition, id: recordID, file: name)
        }
        return info
    }

    /// `readRecord()` with the sequence going through `scanner` into `output[base...]`; on
    /// return `output.count == base + scanner.written`.
    private func readRecord(
        appendingTo output: inout [UInt8], base: Int, _ scanner: inout SequenceLineTokenizer
    ) throws -> RecordInfo? {
        let b = buffer
        forgetRecordHeader()
        guard let (recordLine, recordOffset, headerRange) = try nextHeaderLine() else { return nil }
        // Header line: checked as next() checks it, kept in the reusable header buffer.
        let headerStart = b.storage + headerRange.lowerBound + 1
        let headerCount = try headerLength(headerStart, count: headerRange.count - 1, line: recordLine, offset: recordOffset + 1)
        recordHeaderInWindow = true
        recordHeaderStart = headerRange.lowerBound + 1
        recordHeaderCount = headerCount
        let idEnd = SequenceRecord.idEnd(UnsafeBufferPointer(start: headerStart, count: headerCount))
        recordIDEnd = idEnd
        let keyHash = TrainValidationSplit.keyHash(utf8: UnsafeBufferPointer(start: headerStart, count: idEnd))

        if try !sequenceInWindow(appendingTo: &output, base: base, &scanner) {
            try streamSequence(appendingTo: &output, base: base, &scanner)
        }
        return RecordInfo(format: .fasta, line: recordLine, byteOffset: recordOffset, length: scanner.residues,
                          counts: scanner.counts, idKeyHash: keyHash)
    }

    /// The fast path, as `sequenceInWindow(id:)`: when the record's sequence lies wholly in the
    /// window, `output` grows once by its byte count (an upper bound on the ids) and every line
    /// is tokenised straight into it. Returns false, consuming nothing, when the sequence may
    /// continue past the window.
    private func sequenceInWindow(
        appendingTo output: inout [UInt8], base: Int, _ scanner: inout SequenceLineTokenizer
    ) throws -> Bool {
        let b = buffer
        let p = b.storage
        let start = b.start
        let end = b.end
        // One sequence line (unwrapped FASTA, the usual case): its '\n' is followed by the next
        // record's '>' or by the end of input. One memchr finds both the line and the record
        // end. (A '>' inside the line is an invalid byte for the scanner, reported exactly as
        // the streaming path reports it.)
        if start < end && p[start] != UInt8(ascii: ">") {
            if let hit = memchr(p + start, Int32(UInt8(ascii: "\n")), end - start) {
                let newline = p.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                if newline + 1 < end ? p[newline + 1] == UInt8(ascii: ">") : b.atEOF {
                    try singleLine(from: start, to: newline, recordEnd: newline + 1, appendingTo: &output, base: base, &scanner)
                    return true
                }
            } else if b.atEOF {
                try singleLine(from: start, to: end, recordEnd: end, appendingTo: &output, base: base, &scanner)
                return true
            }
        }
        guard let recordEnd = recordEndInWindow() else { return false }
        if recordEnd == start { return true }
        // Grow by the sequence's byte count with one memcpy (TokenID is UInt8, so the bytes
        // serve as filler); the ids overwrite them and the rest is cut off below.
        output.append(contentsOf: UnsafeBufferPointer(start: p + start, count: recordEnd - start))
        var pos = start
        var lines = 0
        var bad: Int?
        output.withUnsafeMutableBufferPointer { all in
            let ids = all.baseAddress.unsafelyUnwrapped + base
            while pos < recordEnd {
                var newline = recordEnd
                if let hit = memchr(p + pos, Int32(UInt8(ascii: "\n")), recordEnd - pos) {
                    newline = p.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                }
                var upper = newline
                if upper > pos && p[upper - 1] == UInt8(ascii: "\r") { upper -= 1 }
                if let i = scanner.line(p + pos, count: upper - pos, into: ids) {
                    bad = pos + i
                    return
                }
                if newline < recordEnd { lines += 1 }
                pos = newline + 1
            }
        }
        line += lines
        if let bad {
            b.start = pos
            throw residueError(p + bad, offset: b.offset(of: bad), line: line, id: recordID)
        }
        b.start = recordEnd
        output.removeLast(output.count - base - scanner.written)
        return true
    }

    /// A record whose sequence is the one line `start..<newline` (`newline` is the `\n`, or the
    /// end of input), ending at `recordEnd`: `output` grows by exactly the line's length.
    @inline(__always)
    private func singleLine(
        from start: Int, to newline: Int, recordEnd: Int, appendingTo output: inout [UInt8], base: Int,
        _ scanner: inout SequenceLineTokenizer
    ) throws {
        let b = buffer
        let p = b.storage
        var upper = newline
        if upper > start && p[upper - 1] == UInt8(ascii: "\r") { upper -= 1 }
        let count = upper - start
        if count > 0 {
            output.append(contentsOf: UnsafeBufferPointer(start: p + start, count: count))
            let bad = output.withUnsafeMutableBufferPointer { all in
                scanner.line(p + start, count: count, into: all.baseAddress.unsafelyUnwrapped + base)
            }
            if let bad {
                b.start = start
                throw residueError(p + start + bad, offset: b.offset(of: start + bad), line: line, id: recordID)
            }
            if scanner.written < count { output.removeLast(count - scanner.written) }
        }
        if newline < recordEnd { line += 1 }
        b.start = recordEnd
    }

    /// The streaming path, as in `readRecord()`: sequence lines up to the next line that starts
    /// with `>` or the end of input, across refills of the window, each tokenised as it comes.
    private func streamSequence(
        appendingTo output: inout [UInt8], base: Int, _ scanner: inout SequenceLineTokenizer
    ) throws {
        keepRecordHeader()  // the window is about to be refilled
        try scanSequenceLines(id: { recordID }) {
            Self.tokenize($0, count: $1, appendingTo: &output, base: base, &scanner)
        }
    }

    /// One line (or piece of one) of the streaming path: grows `output` by the room the
    /// scanner may need, tokenises, and cuts `output` back to `base + scanner.written`.
    private static func tokenize(
        _ bytes: UnsafePointer<UInt8>, count: Int, appendingTo output: inout [UInt8], base: Int,
        _ scanner: inout SequenceLineTokenizer
    ) -> Int? {
        if count == 0 { return nil }
        output.append(contentsOf: UnsafeBufferPointer(start: bytes, count: count))
        if scanner.pendingStops > 0 { output.append(contentsOf: repeatElement(0, count: scanner.pendingStops)) }
        let bad = output.withUnsafeMutableBufferPointer { all in
            scanner.line(bytes, count: count, into: all.baseAddress.unsafelyUnwrapped + base)
        }
        output.removeLast(output.count - base - scanner.written)
        return bad
    }
}
