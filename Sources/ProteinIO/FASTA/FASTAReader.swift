#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Streams FASTA records, one at a time, from a `ByteSource` (plain or gzip).
///
/// The scanner is the kseq / needletail design: one growable window over the input, `memchr` for
/// each `\n` (and for the `>` that ends a record), and each sequence line checked 16 bytes at a
/// time (`ResidueBytes`). When the whole record is already in the window (the usual case) a
/// single-line sequence is copied once, straight into the record's array, and wrapped lines are
/// gathered in a reusable scratch buffer; otherwise the streaming path consumes lines piecewise
/// across refills. No Swift `String` is built while parsing (records keep header bytes). Memory
/// is the window (about two blocks, more only for a header line longer than that) plus the
/// current record's residues.
///
/// Accepted input (see docs/io.md for the reasons):
/// - wrapped or single-line sequences; `\n` or `\r\n` line ends; a missing final newline;
/// - blank (or blank-looking: spaces/tabs) lines anywhere, including before the first record;
/// - spaces and tabs inside sequence lines (dropped), lowercase (kept), `*` and gaps `-` `.` (kept);
/// - a header with no sequence (an empty record) and an empty header (`>` alone: id "").
///
/// Rejected with `ProteinIOError` (file, line, byte offset, record id, the bad bytes escaped):
/// - any text before the first `>` (`.malformed`, as Biopython's `fasta` parser does);
/// - a byte that is not a residue in a sequence line: digits, punctuation, control bytes,
///   non-ASCII (`.malformed`);
/// - a `\r` not followed by `\n` — classic Mac CR-only line endings (`.malformed`);
/// - control bytes or invalid UTF-8 in a header, or a header over 16 MiB (`.malformed`).
/// After an error, `next()` throws the same error again.
public final class FASTAReader {
    let buffer: InputBuffer
    private let residues = ResidueBuffer()
    /// 1-based number of the next line to be read.
    public internal(set) var line: Int
    /// Records returned so far.
    public internal(set) var recordsRead = 0
    var failure: ProteinIOError?
    /// The fused path's header of the record it returned last (trimmed, validated): while
    /// `recordHeaderInWindow`, the bytes at `buffer.storage + recordHeaderStart` (the window is
    /// not refilled between calls), else copied into `recordHeaderBytes` (reused) because the
    /// record's sequence needed refills.
    var recordHeaderBytes: [UInt8] = []
    var recordHeaderInWindow = false
    var recordHeaderStart = 0
    var recordHeaderCount = 0
    /// End of the id in that header (the first blank, or its count).
    var recordIDEnd = 0

    /// The longest header line accepted (16 MiB): longer means binary data, not a header.
    public static let maxHeaderLength = 16 << 20

    /// The input's name, as used in errors.
    public var name: String { buffer.name }

    /// Reads FASTA from `source`.
    public convenience init(source: ByteSource) {
        self.init(buffer: InputBuffer(source: source), line: 1)
    }

    init(buffer: InputBuffer, line: Int) {
        self.buffer = buffer
        self.line = line
    }

    /// The next record, or nil at the end of the input.
    ///
    /// - Throws: `.malformed` (see the type's summary), and the source's `.io`, `.corruptGzip`,
    ///   `.truncated` errors.
    /// - Complexity: O(record bytes).
    public func next() throws -> SequenceRecord? {
        if let failure { throw failure }
        forgetRecordHeader()  // `recordID` describes the fused path's last record only
        do {
            guard let record = try readRecord() else { return nil }
            recordsRead += 1
            return record
        } catch let error as ProteinIOError {
            failure = error
            throw error
        }
    }

    private func readRecord() throws -> SequenceRecord? {
        let b = buffer
        guard let (recordLine, recordOffset, headerRange) = try nextHeaderLine() else { return nil }
        let header = try headerBytes(
            b.storage + headerRange.lowerBound + 1, count: headerRange.count - 1,
            line: recordLine, offset: recordOffset + 1)
        var id: String { String(decoding: header[..<SequenceRecord.idEnd(header)], as: UTF8.self) }

        if let residues = try sequenceInWindow(id: { id }) {
            return SequenceRecord(
                headerBytes: header, residues: residues, format: .fasta, line: recordLine, byteOffset: recordOffset)
        }

        // Streaming path: sequence lines, up to the next line that starts with '>' or the end of
        // input, collected across refills of the window.
        residues.reset()
        try scanSequenceLines(id: { id }) { residues.appendLine($0, count: $1) }
        return SequenceRecord(
            headerBytes: header, residues: residues.makeArray(), format: .fasta, line: recordLine,
            byteOffset: recordOffset)
    }

    /// The fast path for the usual case: when the record's sequence lies wholly in the window —
    /// the `>` that starts the next record, or the end of input, has already been read — its
    /// lines are checked and collected without refills, and a single-line sequence is copied
    /// straight into the record's array. Returns nil, consuming nothing, when the sequence may
    /// continue past the window (the streaming path takes over).
    ///
    /// - Throws: `.malformed` for a byte that is not a residue, exactly as the streaming path.
    private func sequenceInWindow(id: () -> String) throws -> [UInt8]? {
        let b = buffer
        let p = b.storage
        let start = b.start
        guard let recordEnd = recordEndInWindow() else { return nil }
        residues.reset()
        var pos = start
        var lines = 0
        while pos < recordEnd {
            var newline = recordEnd
            if let hit = memchr(p + pos, Int32(UInt8(ascii: "\n")), recordEnd - pos) {
                newline = p.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            }
            var upper = newline
            if upper > pos && p[upper - 1] == UInt8(ascii: "\r") { upper -= 1 }
            if pos == start && newline >= recordEnd - 1 && ResidueBytes.allResidues(p + pos, count: upper - pos) {
                // One line: no scratch copy.
                b.start = recordEnd
                line += newline < recordEnd ? 1 : 0
                return Array(UnsafeBufferPointer(start: p + pos, count: upper - pos))
            }
            if let bad = residues.appendLine(p + pos, count: upper - pos) {
                line += lines
                b.start = pos
                throw residueError(p + pos + bad, offset: b.offset(of: pos + bad), line: line, id: id())
            }
            if newline < recordEnd { lines += 1 }
            pos = newline + 1
        }
        b.start = recordEnd
        line += lines
        return residues.makeArray()
    }

    /// The error for a record that does not start with `>` (at `buffer.start`).
    func missingHeaderError() throws -> ProteinIOError {
        let b = buffer
        _ = try b.ensure(25)
        return ProteinIOError(
            .malformed, file: b.name, line: line, byteOffset: b.offset(of: b.start),
            message: "expected '>' at the start of a FASTA record but found "
                + ByteEscaping.quoted(b.storage + b.start, count: b.end - b.start)
                + (recordsRead == 0 ? " (text before the first header is not allowed)" : ""))
    }

    /// The header (the bytes after `>`), trailing blanks removed; rejects control bytes and
    /// invalid UTF-8.
    private func headerBytes(_ bytes: UnsafePointer<UInt8>, count: Int, line: Int, offset: Int) throws -> [UInt8] {
        Array(UnsafeBufferPointer(start: bytes, count: try headerLength(bytes, count: count, line: line, offset: offset)))
    }

    /// The length of the header at `bytes` without its trailing blanks, after checking it has
    /// no control bytes and is valid UTF-8.
    ///
    /// - Throws: `.malformed` naming the control byte (or a CR-only line end) or the invalid text.
    func headerLength(_ bytes: UnsafePointer<UInt8>, count: Int, line: Int, offset: Int) throws -> Int {
        var length = count
        while length > 0 && (bytes[length - 1] == UInt8(ascii: " ") || bytes[length - 1] == UInt8(ascii: "\t")) {
            length -= 1
        }
        if ResidueBytes.isPlainText(bytes, count: length) { return length }
        if let bad = ResidueBytes.firstControlByte(bytes, count: length) {
            let message: String
            if bytes[bad] == UInt8(ascii: "\r") {
                message = "found a carriage return '\\r' not followed by '\\n' in a header: CR-only line "
                    + "endings are not supported (convert them with tr '\\r' '\\n')"
            } else {
                message = "expected header text but found the control byte "
                    + ByteEscaping.quoted(bytes + bad, count: length - bad, limit: 8)
            }
            throw ProteinIOError(.malformed, file: buffer.name, line: line, byteOffset: offset + bad, message: message)
        }
        let text = UnsafeBufferPointer(start: bytes, count: length)
        if !ResidueBytes.isASCII(bytes, count: length) && String(validating: text, as: UTF8.self) == nil {
            throw ProteinIOError(
                .malformed, file: buffer.name, line: line, byteOffset: offset,
                message: "expected UTF-8 header text but found invalid bytes in " + ByteEscaping.quoted(text, limit: 60))
        }
        return length
    }

    /// The streaming sequence scan shared by `next()` and the fused `nextTokens`/`nextResidues`:
    /// from `buffer.start`, hands every sequence line — or the piece of it in the window, when a
    /// line spans a refill (a trailing '\r' is held back for the '\n' that may follow) — to
    /// `consume`, up to the next line that starts with '>' or the end of input. Leaves
    /// `buffer.start` after the record and `line` on the next line.
    ///
    /// - Parameter consume: takes the bytes of one piece without its line end; returns the index
    ///   of a byte that is not allowed, or nil.
    /// - Throws: `residueError` for the byte `consume` rejects; refill (gzip) errors.
    @inline(__always)
    func scanSequenceLines(
        id: () -> String, consume: (UnsafePointer<UInt8>, Int) -> Int?
    ) throws {
        let b = buffer
        var lineNumber = self.line
        var pos = b.start
        var end = b.end
        var p = b.storage
        var atLineStart = true
        defer {
            self.line = lineNumber
        }
        while true {
            if pos == end {
                b.start = pos
                if try !b.fill() {
                    pos = b.start  // fill() may have rebased the (empty) window
                    break
                }
                pos = b.start
                end = b.end
                p = b.storage
            }
            if atLineStart && p[pos] == UInt8(ascii: ">") { break }
            if let hit = memchr(p + pos, Int32(UInt8(ascii: "\n")), end - pos) {
                let newline = p.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                var upper = newline
                if upper > pos && p[upper - 1] == UInt8(ascii: "\r") { upper -= 1 }
                if let bad = consume(p + pos, upper - pos) {
                    b.start = pos
                    throw residueError(p + pos + bad, offset: b.offset(of: pos + bad), line: lineNumber, id: id())
                }
                pos = newline + 1
                lineNumber += 1
                atLineStart = true
            } else {
                // The line continues past the bytes we have: take what is here, but keep a final
                // '\r' back in case the '\n' of a "\r\n" is in the next block.
                var upper = end
                if p[upper - 1] == UInt8(ascii: "\r") { upper -= 1 }
                if upper == pos {
                    b.start = pos
                    if try !b.fill() {
                        pos = b.end  // a lone '\r' ends the input: treat it as the last line end
                        break
                    }
                    pos = b.start
                    end = b.end
                    p = b.storage
                    continue
                }
                if let bad = consume(p + pos, upper - pos) {
                    b.start = pos
                    throw residueError(p + pos + bad, offset: b.offset(of: pos + bad), line: lineNumber, id: id())
                }
                pos = upper
                atLineStart = false
            }
        }
        b.start = pos
    }

    /// Skips blank lines up to the `>` that starts the next record and reads its header line
    /// (shared by `next()` and the fused path): its line number, stream offset and range in the
    /// window (with the `>`), or nil at the end of input.
    ///
    /// - Throws: `missingHeaderError()` when something other than `>` starts the record; the
    ///   buffer's errors for an over-long header or a refill.
    func nextHeaderLine() throws -> (line: Int, offset: Int, range: Range<Int>)? {
        let b = buffer
        line += try b.skipBlankLines()
        if b.start == b.end { return nil }
        if b.storage[b.start] != UInt8(ascii: ">") { throw try missingHeaderError() }
        let recordLine = line
        let recordOffset = b.offset(of: b.start)
        guard let range = try b.nextLine(maxLength: FASTAReader.maxHeaderLength, line: recordLine) else {
            return nil
        }
        line += 1
        return (recordLine, recordOffset, range)
    }

    /// Where the record starting at `buffer.start` ends, when that end is in the window: the
    /// next `>` that starts a line, or the end of input. Nil when the record may continue past
    /// the window, or when a `>` sits inside a line (an error the streaming path reports in order).
    func recordEndInWindow() -> Int? {
        let b = buffer
        let p = b.storage
        if let hit = memchr(p + b.start, Int32(UInt8(ascii: ">")), b.end - b.start) {
            let recordEnd = p.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            if recordEnd > b.start && p[recordEnd - 1] != UInt8(ascii: "\n") { return nil }
            return recordEnd
        }
        return b.atEOF ? b.end : nil
    }

    func residueError(
        _ bad: UnsafePointer<UInt8>, offset: Int, line: Int, id: String
    ) -> ProteinIOError {
        let message: String
        if bad.pointee == UInt8(ascii: "\r") {
            message = "found a carriage return '\\r' not followed by '\\n': CR-only line endings are not "
                + "supported (convert them with tr '\\r' '\\n')"
        } else {
            message = "expected a residue letter, '*', '-' or '.' in the sequence but found "
                + ByteEscaping.quoted(bad, count: 1, limit: 1)
        }
        return ProteinIOError(.malformed, file: buffer.name, line: line, byteOffset: offset, recordID: id, message: message)
    }
}
