import Testing
@testable import ProteinIO

/// UniProtKB flat-file entries: field parsing, the SQ length / CRC64 integrity check in strict and
/// lenient mode, and malformed entries. Expected CRC64 values come from UniProt's own SQ lines
/// and the SWISS::CRC64 documentation, never from this code.
@Suite struct UniProtTests {
    /// The first entry of trembl.dat (EMBOSS test data), a real UniProtKB/TrEMBL entry whose SQ
    /// line gives length 433 and CRC64 7CA7DE79E73EEE26.
    static let trembl: String = {
        let text = String(decoding: try! Fixtures.bytes("trembl.dat"), as: UTF8.self)
        let end = text.range(of: "\n//\n")!.upperBound
        return String(text[..<end])
    }()

    /// The 1-based line number of the first line starting with `prefix` (counted independently).
    func lineNumber(of prefix: String, in text: String) -> Int {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return lines.firstIndex { $0.hasPrefix(prefix) }! + 1
    }

    func entries(_ text: String, integrity: IntegrityMode = .strict, blockSize: Int = 4096) throws -> [SequenceRecord] {
        try readAll(bytes: Array(text.utf8), integrity: integrity, blockSize: blockSize, threaded: false)
    }

    @Test func crc64MatchesPublishedCheckValue() {
        // SWISS::CRC64 (UniProt Swissknife) documents crc64("IHATEMATH") = "E3DCADD69B01ADD1".
        #expect(CRC64.hex(CRC64.checksum(Array("IHATEMATH".utf8))) == "E3DCADD69B01ADD1")
        #expect(CRC64.hex(CRC64.checksumReference(Array("IHATEMATH".utf8))) == "E3DCADD69B01ADD1")
        #expect(CRC64.checksum([UInt8]()) == 0)
        #expect(CRC64.parse("7ca7de79e73eee26") == 0x7CA7_DE79_E73E_EE26)
        #expect(CRC64.parse("7CA7DE79E73EEE2") == nil)
        #expect(CRC64.hex(0x1F) == "000000000000001F")
    }

    @Test func tableCRC64MatchesBitwiseReference() {
        var generator = SeededGenerator(seed: 3)
        for length in [0, 1, 2, 7, 8, 9, 63, 64, 65, 1000] {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            #expect(CRC64.checksum(bytes) == CRC64.checksumReference(bytes))
            // Incremental update equals one pass.
            let split = length / 3
            let first = bytes.withUnsafeBufferPointer { CRC64.update(0, $0.baseAddress ?? UnsafePointer(bitPattern: 1)!, count: split) }
            let both = bytes.withUnsafeBufferPointer {
                CRC64.update(first, ($0.baseAddress ?? UnsafePointer(bitPattern: 1)!) + split, count: length - split)
            }
            #expect(both == CRC64.checksumReference(bytes))
        }
    }

    @Test func entryFieldsFromTheFlatFile() throws {
        let record = try #require(try entries(Self.trembl).first)
        #expect(record.id == "O42495")
        #expect(record.format == .uniProt)
        #expect(record.length == 433)
        #expect(record.sequence.hasPrefix("MENVAIFDSPGKGRGLKTTKEFWAGDV"))
        #expect(record.description == "SubName: Full=SkmBOP;")
        #expect(record.entry == UniProtMetadata(
            database: "tr", accessions: ["O42495"], entryName: "O42495_TAKRU", reviewed: false,
            proteinName: "SkmBOP", organism: "Takifugu rubripes (Japanese pufferfish) (Fugu rubripes)",
            taxonomyID: 31033, gene: "skmBOP", keywords: ["Metal-binding"], proteinExistence: 4, sequenceVersion: 2,
            declaredLength: 433, molecularWeight: 49500, crc64: 0x7CA7_DE79_E73E_EE26))
        #expect(record.header
                == "tr|O42495|O42495_TAKRU SkmBOP OS=Takifugu rubripes (Japanese pufferfish) (Fugu rubripes) OX=31033 GN=skmBOP PE=4 SV=2")
        #expect(record.line == 1)
        #expect(record.byteOffset == 0)
    }

    /// A current-format Swiss-Prot entry with evidence tags, several AC and KW lines, a top-level
    /// RecName after which a Contains: block has its own, and multi-line OS — the sequence and its
    /// SQ line are the real ones of O42495 above.
    static var modern: String {
        let sequenceStart = trembl.range(of: "SQ   ")!.lowerBound
        return """
        ID   TEST_HUMAN              Reviewed;         433 AA.
        AC   P00001; Q00002;
        AC   Q00003;
        DT   01-JAN-1998, integrated into UniProtKB/Swiss-Prot.
        DT   01-OCT-2002, sequence version 3.
        DE   RecName: Full=Test protein alpha {ECO:0000305};
        DE            EC=1.2.3.4;
        DE   AltName: Full=Other name;
        DE   Contains:
        DE     RecName: Full=Inner chain;
        GN   Name=TPA {ECO:0000312|HGNC:HGNC:1}; Synonyms=TP1;
        GN   ORFNames=X1;
        OS   Homo sapiens
        OS   (Human).
        OC   Eukaryota; Metazoa.
        OX   NCBI_TaxID=9606 {ECO:0000313|EMBL:X};
        RN   [1]
        CC   -!- FUNCTION: None.
        DR   EMBL; U90880; AAC60295.2; -; Genomic_DNA.
        PE   1: Evidence at protein level;
        KW   3D-structure {ECO:0007829|PDB:1ABC}; Acetylation;
        KW   Zinc.
        FT   CHAIN         1..433
        \(trembl[sequenceStart...])
        """
    }

    @Test func currentFormatFieldsWithEvidenceTags() throws {
        let record = try #require(try entries(Self.modern).first)
        let entry = try #require(record.entry)
        #expect(record.id == "P00001")
        #expect(entry.accessions == ["P00001", "Q00002", "Q00003"])
        #expect(entry.reviewed)
        #expect(entry.database == "sp")
        #expect(entry.proteinName == "Test protein alpha")
        #expect(entry.gene == "TPA")
        #expect(entry.organism == "Homo sapiens (Human)")
        #expect(entry.taxonomyID == 9606)
        #expect(entry.keywords == ["3D-structure", "Acetylation", "Zinc"])
        #expect(entry.proteinExistence == 1)
        #expect(entry.sequenceVersion == 3)
        #expect(record.description.hasPrefix("RecName: Full=Test protein alpha {ECO:0000305}; EC=1.2.3.4; AltName:"))
    }

    @Test func preCurrentIDLineAndFreeTextDE() throws {
        let old = Self.trembl
            .replacingOccurrences(of: "ID   O42495_TAKRU            Unreviewed;       433 AA.",
                                  with: "ID   O42495_TAKRU   PRELIMINARY;      PRT;   433 AA.")
            .replacingOccurrences(of: "DE   SubName: Full=SkmBOP;", with: "DE   SET and MYND domain protein\nDE   (SkmBOP).")
        let entry = try #require(try entries(old).first?.entry)
        #expect(!entry.reviewed)
        #expect(entry.proteinName == "SET and MYND domain protein (SkmBOP)")
    }

    // MARK: Integrity

    @Test func wrongSQLengthIsAnIntegrityErrorNamingEntryAndLine() throws {
        let bad = Self.trembl.replacingOccurrences(of: "SQ   SEQUENCE   433 AA;", with: "SQ   SEQUENCE   432 AA;")
            .replacingOccurrences(of: "Unreviewed;       433 AA.", with: "Unreviewed;       432 AA.")
        let sqLine = lineNumber(of: "SQ   ", in: bad)
        let sqOffset = Array(bad.utf8).firstRange(of: Array("SQ   ".utf8))!.lowerBound
        let error = try #require(outcome(Array(bad.utf8)).error)
        #expect(error.kind == .integrity)
        #expect(error.line == sqLine)
        #expect(error.recordID == "O42495")
        #expect(error.description == "input:\(sqLine) (byte \(sqOffset), O42495): SQ says 432 residues, read 433")
    }

    @Test func wrongCRC64IsAnIntegrityError() throws {
        let bad = Self.trembl.replacingOccurrences(of: "7CA7DE79E73EEE26 CRC64", with: "7CA7DE79E73EEE27 CRC64")
        let error = try #require(outcome(Array(bad.utf8)).error)
        #expect(error.kind == .integrity)
        #expect(error.message == "SQ says CRC64 7CA7DE79E73EEE27 but the sequence's CRC64 is 7CA7DE79E73EEE26")
        // A changed residue with the original SQ line: same length, different CRC.
        let mutated = Self.trembl.replacingOccurrences(of: "MENVAIFDSP", with: "MENVAIFDSA")
        let mutation = try #require(outcome(Array(mutated.utf8)).error)
        #expect(mutation.kind == .integrity)
        #expect(mutation.message.hasPrefix("SQ says CRC64 7CA7DE79E73EEE26 but the sequence's CRC64 is "))
    }

    @Test func idLengthDisagreeingWithSQIsAnIntegrityError() throws {
        let bad = Self.trembl.replacingOccurrences(of: "Unreviewed;       433 AA.", with: "Unreviewed;       434 AA.")
        let error = try #require(outcome(Array(bad.utf8)).error)
        #expect(error.kind == .integrity)
        #expect(error.message == "ID line says 434 AA but SQ says 433")
    }

    @Test func lenientModeReturnsAndCountsMismatches() throws {
        let badLength = Self.trembl.replacingOccurrences(of: "SQ   SEQUENCE   433 AA;", with: "SQ   SEQUENCE   432 AA;")
        let badCRC = Self.trembl.replacingOccurrences(of: "7CA7DE79E73EEE26 CRC64", with: "0000000000000000 CRC64")
        let text = badLength + Self.trembl + badCRC + Self.trembl
        let reader = try SequenceReader(bytes: Array(text.utf8), integrity: .lenient)
        let all = try readAll(reader)
        #expect(all.count == 4)
        #expect(reader.integrityMismatches == 2)
        #expect(all.map { $0.integrityIssue?.kind } == [.integrity, nil, .integrity, nil])
        #expect(all[0].integrityIssue?.message == "SQ says 432 residues, read 433")
        #expect(all[2].integrityIssue?.line == lineNumber(of: "SQ   ", in: badCRC) + 2 * Self.trembl.split(separator: "\n").count)
        #expect(all.allSatisfy { $0.length == 433 })
        // Strict mode stops at the first.
        let strict = outcome(Array(text.utf8))
        #expect(strict.records.isEmpty)
        #expect(strict.error?.kind == .integrity)
    }

    // MARK: Malformed entries

    @Test func entryWithoutTerminatorIsTruncated() throws {
        let cut = String(Self.trembl.dropLast(3))  // remove "//\n"
        let error = try #require(outcome(Array(cut.utf8)).error)
        #expect(error.kind == .truncated)
        #expect(error.recordID == "O42495")
        #expect(error.message.contains("expected more lines or '//'"))
    }

    @Test func missingSQOrACIsMalformed() throws {
        let noSQ = Self.trembl.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("SQ") && !$0.hasPrefix("     ") }.joined(separator: "\n")
        #expect(outcome(Array(noSQ.utf8)).error?.message.contains("expected an SQ line") == true)
        let noAC = Self.trembl.replacingOccurrences(of: "AC   O42495;\n", with: "")
        #expect(outcome(Array(noAC.utf8)).error?.message.contains("expected an AC line") == true)
    }

    @Test func badLinesAreMalformedWithLineNumbers() throws {
        // (line replaced, replacement, expected message, error line relative to the replaced line)
        let cases: [(String, String, String, Int)] = [
            ("KW   Metal-binding.\n", "KW   Metal-binding.\nxx   junk\n", "expected a line code such as 'AC   '", 1),
            ("KW   Metal-binding.\n", "KW   Metal-binding.\n\u{1}\u{2}\n", "control byte '\\x01", 1),
            ("KW   Metal-binding.\n", "KW   Metal-binding.\n\n", "expected a line code such as 'AC   '", 1),
            ("     VEEGIKNLFH RRK\n", "     VEEGIKNLFH RR1\n", "expected a residue letter in the sequence but found '1'", 0),
            ("     VEEGIKNLFH RRK\n", "     VEEGIKNLFH RRK\nDR   late\n", "expected sequence data or '//' after the SQ line", 1),
            ("KW   Metal-binding.\n", "KW   Metal-binding.\n     MENV\n", "sequence data before the SQ line", 1),
            ("KW   Metal-binding.\n", "KW   Metal-binding.\nID   NEXT\n", "expected '//' to end entry O42495_TAKRU before the next 'ID' line", 1),
            ("//\n", "ID   NEXT\n", "expected sequence data or '//' after the SQ line but found 'ID   NEXT'", 0),
        ]
        for (old, new, message, relativeLine) in cases {
            let bad = Self.trembl.replacingOccurrences(of: old, with: new)
            let expectedLine = lineNumber(of: String(old.dropLast()), in: Self.trembl) + relativeLine
            let error = try #require(outcome(Array(bad.utf8)).error, "\(new)")
            #expect(error.kind == .malformed, "\(new)")
            #expect(error.message.contains(message), "\(error)")
            #expect(error.line == expectedLine, "\(error)")
            #expect(error.recordID == "O42495", "\(error)")
        }
        let notAnEntry = try #require(outcome(Array("ID   X\n//\n".utf8)).error)
        #expect(notAnEntry.message.hasPrefix("expected an ID line"))
        let junkBetween = try #require(outcome(Array((Self.trembl + "junk\n" + Self.trembl).utf8)).error)
        // The message shows the first 40 bytes: "junk", "\n" and 35 bytes of the next ID line.
        let idLine = Self.trembl.prefix(35)
        #expect(junkBetween.message == "expected 'ID   ' at the start of a UniProtKB entry but found 'junk\\n\(idLine)…'")
        #expect(junkBetween.line == lineNumber(of: "//", in: Self.trembl) + 1)
    }

    @Test func blankLinesBetweenEntriesAndCRLF() throws {
        let text = "\n" + Self.trembl + "\n\n" + Self.trembl
        #expect(try entries(text).count == 2)
        let crlf = Self.trembl.replacingOccurrences(of: "\n", with: "\r\n")
        #expect(try entries(crlf, blockSize: 1).first == (try entries(Self.trembl).first).map {
            var record = $0
            record.byteOffset = 0
            return record
        })
    }
}

private extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        var result = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound] + replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
