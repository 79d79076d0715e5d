#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Streams entries of a UniProtKB flat file (Swiss-Prot / TrEMBL `.dat`, plain or gzip).
///
/// An entry runs from its `ID` line to `//`. Lines are `XX   text` (a two-letter code, three
/// spaces), sequence lines start with five spaces, and `//` ends the entry (UniProtKB user manual,
/// "Swiss-Prot/TrEMBL flat file format"). Read and kept:
///
/// | line | kept as                                                                  |
/// |------|--------------------------------------------------------------------------|
/// | ID   | `entryName`, `reviewed` (Reviewed/STANDARD vs Unreviewed/PRELIMINARY), length |
/// | AC   | `accessions` (all lines, in order); the first is the record `id`         |
/// | DT   | `sequenceVersion` (`…, sequence version N.`)                              |
/// | DE   | `description` (all DE text joined by spaces, as Biopython); `proteinName` from the top-level `RecName: Full=`, else `SubName: Full=` (TrEMBL), else (pre-2008 files) the whole text |
/// | GN   | `gene`: the first `Name=`                                                 |
/// | OS   | `organism`: the lines joined, final `.` removed                            |
/// | OX   | `taxonomyID` from `NCBI_TaxID=`                                           |
/// | KW   | `keywords` split at `;`, final `.` removed                                |
/// | PE   | `proteinExistence` (1–5)                                                  |
/// | SQ   | `declaredLength`, `molecularWeight`, `crc64`; then the sequence lines      |
///
/// Other line codes (RN, CC, DR, FT, …) are skipped but still checked for control bytes.
/// Evidence tags (` {ECO:…}`) are removed from the values above.
///
/// Integrity: when the entry ends, the residue count must equal the SQ length and the ID length,
/// and `CRC64` of the residues must equal the SQ CRC64. In `.strict` mode a mismatch throws
/// `.integrity` naming the entry and the SQ line; in `.lenient` mode the entry is returned with
/// `integrityIssue` set and `integrityMismatches` counts it.
/// After an error, `next()` throws the same error again.
public final class UniProtReader {
    private let buffer: InputBuffer
    /// The current entry's residues; after `next(keepingResidues: false)` they stay here (and
    /// the record's `residues` is empty) until the next entry starts.
    let residues = ResidueBuffer()
    /// What to do when an entry disagrees with its SQ line.
    public let integrityMode: IntegrityMode
    /// 1-based number of the next line to be read.
    public private(set) var line: Int
    /// Entries returned so far.
    public private(set) var recordsRead = 0
    /// Entries returned with an SQ length / ID length / CRC64 mismatch (lenient mode).
    public private(set) var integrityMismatches = 0
    private var failure: ProteinIOError?
    /// The fused path's record (without residues) it returned last.
    var lastRecord: SequenceRecord?

    /// The longest flat-file line accepted (1 MiB; real lines are at most 80 characters).
    public static let maxLineLength = 1 << 20

    /// The input's name, as used in errors.
    public var name: String { buffer.name }

    /// Reads UniProtKB flat-file entries from `source`.
    public convenience init(source: ByteSource, integrity: IntegrityMode = .strict) {
        self.init(buffer: InputBuffer(source: source), line: 1, integrity: integrity)
    }

    init(buffer: InputBuffer, line: Int, integrity: IntegrityMode) {
        self.buffer = buffer
        self.line = line
        self.integrityMode = integrity
    }

    /// The next entry, or nil at the end of the input.
    ///
    /// - Throws: `.malformed` (a line that is not `XX   …`, an entry without AC or SQ, a bad ID or
    ///   SQ line, non-residue bytes in the sequence, control bytes, a second ID before `//`),
    ///   `.truncated` (input ends inside an entry), `.integrity` (strict mode, see the summary),
    ///   and the source's `.io`, `.corruptGzip`, `.truncated` errors.
    public func next() throws -> SequenceRecord? {
        try next(keepingResidues: true)
    }

    /// `next()`, or with `keepingResidues: false` the record without its residue array: the
    /// residues are then only in `residues` (the fused path reads them from there).
    func next(keepingResidues: Bool) throws -> SequenceRecord? {
        if let failure { throw failure }
        do {
            guard let record = try readEntry(keepingResidues: keepingResidues) else { return nil }
            recordsRead += 1
            return record
        } catch let error as ProteinIOError {
            failure = error
            throw error
        }
    }

    // MARK: - Entry

    /// Everything collected from one entry's lines before it is checked.
    private struct Draft {
        var entryName = ""
        var reviewed = false
        var idLength = 0
        var accessions: [String] = []
        var descriptionLines: [String] = []
        var recName: String?
        var subName: String?
        var geneText = ""
        var organismLines: [String] = []
        var taxonomyID: Int?
        var keywordText = ""
        var proteinExistence: Int?
        var sequenceVersion: Int?
        var sqLength: Int?
        var molecularWeight: Int?
        var crc64: UInt64?
        var sqLine = 0
        var sqOffset = 0
    }

    private func readEntry(keepingResidues: Bool) throws -> SequenceRecord? {
        let b = buffer
        // Skip blank lines; the first other line must be an ID line.
        line += try b.skipBlankLines()
        if b.start == b.end { return nil }
        var lineOffset = b.offset(of: b.start)
        if try !b.ensure(5) || memcmp(b.storage + b.start, "ID   ", 5) != 0 {
            _ = try b.ensure(41)
            throw ProteinIOError(
                .malformed, file: b.name, line: line, byteOffset: lineOffset,
                message: "expected 'ID   ' at the start of a UniProtKB entry but found "
                    + ByteEscaping.quoted(b.storage + b.start, count: b.end - b.start, limit: 40))
        }
        guard var range = try b.nextLine(maxLength: UniProtReader.maxLineLength, line: line) else { return nil }
        line += 1
        let recordLine = line - 1
        let recordOffset = lineOffset
        try checkControlBytes(range, line: recordLine, offset: lineOffset, id: nil)
        var draft = Draft()
        try parseID(text(range, from: 5, line: recordLine, offset: lineOffset), into: &draft,
                    line: recordLine, offset: lineOffset)
        residues.reset()
        var inSequence = false

        while true {
            lineOffset = b.offset(of: b.start)
            guard let next = try b.nextLine(maxLength: UniProtReader.maxLineLength, line: line) else {
                throw ProteinIOError(
                    .truncated, file: b.name, line: line, byteOffset: lineOffset, recordID: entryLabel(draft),
                    message: "expected more lines or '//' to end entry \(draft.entryName) (which starts at line "
                        + "\(recordLine)) but found end of input")
            }
            range = next
            let lineNumber = line
            line += 1
            let p = b.storage + range.lowerBound
            let count = range.count

            if count >= 2 && p[0] == UInt8(ascii: "/") && p[1] == UInt8(ascii: "/") { break }
            if count >= 2 && p[0] == UInt8(ascii: " ") && p[1] == UInt8(ascii: " ") {
                guard inSequence else {
                    throw ProteinIOError(
                        .malformed, file: b.name, line: lineNumber, byteOffset: lineOffset, recordID: entryLabel(draft),
                        message: "expected a two-letter line code but found sequence data before the SQ line: "
                            + quoted(range))
                }
                if let bad = residues.appendLine(p, count: count) {
                    let message: String
                    if p[bad] == UInt8(ascii: "\r") {
                        message = "found a carriage return '\\r' not followed by '\\n': CR-only line endings are "
                            + "not supported (convert them with tr '\\r' '\\n')"
                    } else {
                        message = "expected a residue letter in the sequence but found "
                            + ByteEscaping.quoted(p + bad, count: count - bad, limit: 8)
                    }
                    throw ProteinIOError(.malformed, file: b.name, line: lineNumber, byteOffset: lineOffset + bad,
                                         recordID: entryLabel(draft), message: message)
                }
                continue
            }
            try checkControlBytes(range, line: lineNumber, offset: lineOffset, id: entryLabel(draft))
            guard count >= 2, isUpper(p[0]), isUpper(p[1]),
                  count == 2 || (count >= 5 && p[2] == UInt8(ascii: " ") && p[3] == UInt8(ascii: " ")
                                 && p[4] == UInt8(ascii: " "))
            else {
                throw ProteinIOError(
                    .malformed, file: b.name, line: lineNumber, byteOffset: lineOffset, recordID: entryLabel(draft),
                    message: "expected a line code such as 'AC   ', sequence data or '//' but found " + quoted(range))
            }
            if inSequence {
                throw ProteinIOError(
                    .malformed, file: b.name, line: lineNumber, byteOffset: lineOffset, recordID: entryLabel(draft),
                    message: "expected sequence data or '//' after the SQ line but found " + quoted(range))
            }
            let code = (p[0], p[1])
            func content() throws -> String { try text(range, from: 5, line: lineNumber, offset: lineOffset) }
            switch code {
            case (UInt8(ascii: "I"), UInt8(ascii: "D")):
                throw ProteinIOError(
                    .malformed, file: b.name, line: lineNumber, byteOffset: lineOffset, recordID: entryLabel(draft),
                    message: "expected '//' to end entry \(draft.entryName) before the next 'ID' line but found "
                        + quoted(range))
            case (UInt8(ascii: "A"), UInt8(ascii: "C")):
                for part in try content().split(separator: ";") {
                    let accession = part.trimmingSpaces()
                    if !accession.isEmpty { draft.accessions.append(accession) }
                }
            case (UInt8(ascii: "D"), UInt8(ascii: "T")):
                let value = try content()
                if let version = value.suffix(after: "sequence version ") {
                    draft.sequenceVersion = leadingInt(version)
                }
            case (UInt8(ascii: "D"), UInt8(ascii: "E")):
                let value = try content()
                let trimmed = value.trimmingSpaces()
                if !trimmed.isEmpty { draft.descriptionLines.append(trimmed) }
                // Top-level names start in column 6; names inside Contains:/Includes: are indented.
                if draft.recName == nil && value.hasPrefix("RecName: Full=") {
                    draft.recName = nameValue(value.dropFirst("RecName: Full=".count))
                } else if draft.subName == nil && value.hasPrefix("SubName: Full=") {
                    draft.subName = nameValue(value.dropFirst("SubName: Full=".count))
                }
            case (UInt8(ascii: "G"), UInt8(ascii: "N")):
                draft.geneText += try content() + " "
            case (UInt8(ascii: "O"), UInt8(ascii: "S")):
                draft.organismLines.append(try content().trimmingSpaces())
            case (UInt8(ascii: "O"), UInt8(ascii: "X")):
                let value = try content()
                if draft.taxonomyID == nil, let taxon = value.suffix(after: "NCBI_TaxID=") {
                    draft.taxonomyID = leadingInt(taxon)
                }
            case (UInt8(ascii: "K"), UInt8(ascii: "W")):
                draft.keywordText += try content() + " "
            case (UInt8(ascii: "P"), UInt8(ascii: "E")):
                draft.proteinExistence = leadingInt(try content()[...])
            case (UInt8(ascii: "S"), UInt8(ascii: "Q")):
                try parseSQ(try content(), into: &draft, line: lineNumber, offset: lineOffset)
                inSequence = true
            default:
                continue
            }
        }
        return try finish(draft, line: recordLine, offset: recordOffset, keepingResidues: keepingResidues)
    }

    /// Checks the entry and builds its record.
    private func finish(
        _ draft: Draft, line recordLine: Int, offset recordOffset: Int, keepingResidues: Bool
    ) throws -> SequenceRecord {
        guard let primary = draft.accessions.first else {
            throw ProteinIOError(
                .malformed, file: buffer.name, line: recordLine, byteOffset: recordOffset, recordID: draft.entryName,
                message: "expected an AC line in entry \(draft.entryName) but found none before '//'")
        }
        guard let sqLength = draft.sqLength, let sqCRC = draft.crc64 else {
            throw ProteinIOError(
                .malformed, file: buffer.name, line: recordLine, byteOffset: recordOffset, recordID: primary,
                message: "expected an SQ line in entry \(draft.entryName) but found none before '//'")
        }
        let count = residues.count
        let computed = CRC64.update(0, residues.storage, count: count)
        var issue: ProteinIOError?
        func mismatch(_ message: String) -> ProteinIOError {
            ProteinIOError(.integrity, file: buffer.name, line: draft.sqLine, byteOffset: draft.sqOffset,
                           recordID: primary, message: message)
        }
        if count != sqLength {
            issue = mismatch("SQ says \(sqLength) residues, read \(count)")
        } else if draft.idLength != sqLength {
            issue = mismatch("ID line says \(draft.idLength) AA but SQ says \(sqLength)")
        } else if computed != sqCRC {
            issue = mismatch("SQ says CRC64 \(CRC64.hex(sqCRC)) but the sequence's CRC64 is \(CRC64.hex(computed))")
        }
        if let issue {
            if integrityMode == .strict { throw issue }
            integrityMismatches += 1
        }

        var keywords: [String] = []
        var keywordText = draft.keywordText.trimmingSpaces()
        if keywordText.hasSuffix(".") { keywordText.removeLast() }
        for part in keywordText.split(separator: ";") {
            let keyword = stripEvidence(part.trimmingSpaces())
            if !keyword.isEmpty { keywords.append(keyword) }
        }
        var organism = draft.organismLines.joined(separator: " ")
        if organism.hasSuffix(".") { organism.removeLast() }
        let description = draft.descriptionLines.joined(separator: " ")
        var proteinName = draft.recName ?? draft.subName
        if proteinName == nil && !description.isEmpty && !description.contains("Full=") {
            // Pre-2008 DE lines: free text, e.g. "Hemoglobin alpha chain (EC …)."
            proteinName = description.hasSuffix(".") ? String(description.dropLast()) : description
        }
        let metadata = UniProtMetadata(
            database: draft.reviewed ? "sp" : "tr", accessions: draft.accessions, entryName: draft.entryName,
            reviewed: draft.reviewed, proteinName: proteinName, organism: organism.isEmpty ? nil : organism,
            taxonomyID: draft.taxonomyID, gene: geneName(draft.geneText), keywords: keywords,
            proteinExistence: draft.proteinExistence, sequenceVersion: draft.sequenceVersion,
            declaredLength: sqLength, molecularWeight: draft.molecularWeight, crc64: sqCRC)
        return SequenceRecord(
            id: primary, description: description, header: metadata.fastaHeader, residues: keepingResidues ? residues.makeArray() : [],
            format: .uniProt, line: recordLine, byteOffset: recordOffset, entry: metadata, integrityIssue: issue)
    }

    // MARK: - Line parsers

    /// `CRU4_ARATH              Reviewed;         472 AA.` (current) or
    /// `CRU4_ARATH     STANDARD;      PRT;   472 AA.` (before 2008).
    private func parseID(_ value: String, into draft: inout Draft, line: Int, offset: Int) throws {
        let tokens = value.split(separator: " ")
        guard tokens.count >= 3, let aaIndex = tokens.lastIndex(where: { $0 == "AA." }), aaIndex >= 2,
              let length = Int(tokens[aaIndex - 1]), length >= 0
        else {
            throw ProteinIOError(
                .malformed, file: buffer.name, line: line, byteOffset: offset,
                message: "expected an ID line 'ID   NAME  Reviewed;  123 AA.' but found " + ByteEscaping.quoted(Array(("ID   " + value).utf8), limit: 80))
        }
        draft.entryName = String(tokens[0])
        draft.idLength = length
        switch tokens[1].hasSuffix(";") ? tokens[1].dropLast() : tokens[1] {
        case "Reviewed", "STANDARD": draft.reviewed = true
        case "Unreviewed", "PRELIMINARY": draft.reviewed = false
        default:
            throw ProteinIOError(
                .malformed, file: buffer.name, line: line, byteOffset: offset, recordID: draft.entryName,
                message: "expected 'Reviewed;' or 'Unreviewed;' in the ID line but found '\(tokens[1])'")
        }
    }

    /// `SEQUENCE   433 AA;  49500 MW;  7CA7DE79E73EEE26 CRC64;`
    private func parseSQ(_ value: String, into draft: inout Draft, line: Int, offset: Int) throws {
        let tokens = value.split(whereSeparator: { $0 == " " || $0 == ";" })
        var length: Int?, weight: Int?, crc: UInt64?
        if tokens.first == "SEQUENCE" {
            for index in tokens.indices.dropFirst() where index >= 2 {
                switch tokens[index] {
                case "AA": length = Int(tokens[index - 1])
                case "MW": weight = Int(tokens[index - 1])
                case "CRC64": crc = CRC64.parse(tokens[index - 1])
                default: continue
                }
            }
        }
        guard let length, let crc else {
            throw ProteinIOError(
                .malformed, file: buffer.name, line: line, byteOffset: offset, recordID: entryLabel(draft),
                message: "expected an SQ line 'SQ   SEQUENCE   123 AA;  12345 MW;  0123456789ABCDEF CRC64;' but found "
                    + ByteEscaping.quoted(Array(("SQ   " + value).utf8), limit: 80))
        }
        draft.sqLength = length
        draft.molecularWeight = weight
        draft.crc64 = crc
        draft.sqLine = line
        draft.sqOffset = offset
    }

    /// The first `Name=` value of the GN text (not `ORFNames=` or `OrderedLocusNames=`).
    private func geneName(_ text: String) -> String? {
        var rest = text[...]
        while let (before, after) = rest.split(around: "Name=") {
            let previous = before.utf8.last
            if previous == nil || previous == UInt8(ascii: " ") || previous == UInt8(ascii: ";") {
                let value = after.prefix { $0 != ";" }
                let name = stripEvidence(value.trimmingSpaces())
                return name.isEmpty ? nil : name
            }
            rest = after
        }
        return nil
    }

    /// The value of `Full=…;` without its evidence tag.
    private func nameValue(_ text: Substring) -> String? {
        let value = stripEvidence(text.prefix { $0 != ";" }.trimmingSpaces())
        return value.isEmpty ? nil : value
    }

    // MARK: - Helpers

    private func isBlank(_ range: Range<Int>) -> Bool {
        for i in range where buffer.storage[i] != UInt8(ascii: " ") && buffer.storage[i] != UInt8(ascii: "\t") {
            return false
        }
        return true
    }

    @inline(__always)
    private func isUpper(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") }

    private func quoted(_ range: Range<Int>) -> String {
        ByteEscaping.quoted(UnsafeBufferPointer(start: buffer.storage + range.lowerBound, count: range.count), limit: 40)
    }

    private func entryLabel(_ draft: Draft) -> String? {
        draft.accessions.first ?? (draft.entryName.isEmpty ? nil : draft.entryName)
    }

    private func checkControlBytes(_ range: Range<Int>, line: Int, offset: Int, id: @autoclosure () -> String?) throws {
        guard let bad = ResidueBytes.firstControlByte(buffer.storage + range.lowerBound, count: range.count) else {
            return
        }
        let p = buffer.storage + range.lowerBound
        let message: String
        if p[bad] == UInt8(ascii: "\r") {
            message = "found a carriage return '\\r' not followed by '\\n': CR-only line endings are not "
                + "supported (convert them with tr '\\r' '\\n')"
        } else {
            message = "expected text but found the control byte " + ByteEscaping.quoted(p + bad, count: range.count - bad, limit: 8)
        }
        throw ProteinIOError(.malformed, file: buffer.name, line: line, byteOffset: offset + bad, recordID: id(),
                             message: message)
    }

    /// The line's text from column `from` (0-based) as a String; invalid UTF-8 is an error.
    private func text(_ range: Range<Int>, from column: Int, line: Int, offset: Int) throws -> String {
        guard range.count > column else { return "" }
        let bytes = UnsafeBufferPointer(start: buffer.storage + range.lowerBound + column, count: range.count - column)
        if ResidueBytes.isASCII(bytes.baseAddress!, count: bytes.count) {
            return String(decoding: bytes, as: UTF8.self)
        }
        guard let value = String(validating: bytes, as: UTF8.self) else {
            throw ProteinIOError(.malformed, file: buffer.name, line: line, byteOffset: offset,
                                 message: "expected UTF-8 text but found invalid bytes in " + quoted(range))
        }
        return value
    }
}

/// Leading decimal digits (after any spaces) as an Int; nil if none, or too many to be a real value.
private func leadingInt(_ text: Substring) -> Int? {
    var value = 0
    var digits = 0
    for byte in text.utf8 {
        if byte == UInt8(ascii: " ") && digits == 0 { continue }
        guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { break }
        value = value * 10 + Int(byte - UInt8(ascii: "0"))
        digits += 1
        if digits > 18 { return nil }
    }
    return digits == 0 ? nil : value
}

/// Removes a trailing UniProt evidence tag: `Hemoglobin {ECO:0000313|EMBL:X}` → `Hemoglobin`.
private func stripEvidence(_ text: String) -> String {
    guard text.utf8.last == UInt8(ascii: "}"), let open = text.utf8.lastIndex(of: UInt8(ascii: "{")),
          open > text.startIndex, text.utf8[text.utf8.index(before: open)] == UInt8(ascii: " ")
    else { return text }
    return String(text[..<text.utf8.index(before: open)])
}

extension StringProtocol {
    /// The text without leading and trailing spaces (compared as UTF-8 bytes, no grapheme work).
    func trimmingSpaces() -> String {
        let bytes = utf8
        var first: String.Index?
        var end = bytes.startIndex
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let next = bytes.index(after: index)
            if bytes[index] != UInt8(ascii: " ") {
                if first == nil { first = index }
                end = next
            }
            index = next
        }
        guard let first else { return "" }
        return String(self[first..<end])
    }

    /// The text after the first occurrence of the ASCII `needle`, or nil (a plain byte search;
    /// annotation lines are short).
    func suffix(after needle: StaticString) -> SubSequence? {
        split(around: needle)?.after
    }

    /// The text before and after the first occurrence of the ASCII `needle`, or nil.
    func split(around needle: StaticString) -> (before: SubSequence, after: SubSequence)? {
        let pattern = UnsafeBufferPointer(start: needle.utf8Start, count: needle.utf8CodeUnitCount)
        let bytes = utf8
        var index = bytes.startIndex
        while index != bytes.endIndex {
            if bytes[index...].starts(with: pattern) {
                let end = bytes.index(index, offsetBy: pattern.count)
                return (self[startIndex..<index], self[end...])
            }
            bytes.formIndex(after: &index)
        }
        return nil
    }
}
