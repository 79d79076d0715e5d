import Testing
@testable import ProteinIO

/// FASTA edge cases, each with the answer derived by hand (and, where Biopython's `fasta` parser
/// accepts the input, the same answer it gives — see docs/io.md).
@Suite struct FASTATests {
    func records(_ text: String, blockSize: Int = 4096) throws -> [SequenceRecord] {
        try readAll(bytes: Array(text.utf8), format: .fasta, blockSize: blockSize, threaded: false)
    }

    func summary(_ records: [SequenceRecord]) -> [[String]] {
        records.map { [$0.id, $0.description, $0.header, $0.sequence] }
    }

    func fastaError(_ text: String, blockSize: Int = 4096, format: SequenceFormat? = .fasta) -> ProteinIOError? {
        outcome(Array(text.utf8), format: format, blockSize: blockSize).error
    }

    @Test func wrappedAndUnwrappedSequences() throws {
        let text = ">a first one\nACDE\nFGHI\nK\n>b\nLMNPQRSTVWY\n"
        #expect(summary(try records(text)) == [["a", "first one", "a first one", "ACDEFGHIK"],
                                              ["b", "", "b", "LMNPQRSTVWY"]])
    }

    @Test func emptyInputHasNoRecords() throws {
        #expect(try records("").isEmpty)
        #expect(try records("\n\n  \n\t\r\n").isEmpty)
        let reader = try SequenceReader(bytes: [])
        #expect(reader.format == nil)
        #expect(try reader.next() == nil)
    }

    @Test func headerOnlyRecordsAreEmptySequences() throws {
        #expect(summary(try records(">a\n>b\nK\n>c")) == [["a", "", "a", ""], ["b", "", "b", "K"], ["c", "", "c", ""]])
        #expect(summary(try records(">\nAC\n")) == [["", "", "", "AC"]])
    }

    @Test func missingFinalNewline() throws {
        #expect(summary(try records(">a x\nAC\nGT")) == [["a", "x", "a x", "ACGT"]])
    }

    @Test(arguments: [1, 2, 3, 4096])
    func crlfLineEnds(blockSize: Int) throws {
        let text = ">a desc here\r\nAC\r\nGT\r\n\r\n>b\r\nKK\r\n"
        #expect(summary(try records(text, blockSize: blockSize))
                == [["a", "desc here", "a desc here", "ACGT"], ["b", "", "b", "KK"]])
        // A final lone '\r' at the end of input is a line end too.
        #expect(summary(try records(">a\r\nAC\r", blockSize: blockSize)) == [["a", "", "a", "AC"]])
    }

    @Test func blankLinesAnywhere() throws {
        let text = "\n\n>a\nAC\n\nGT\n   \n\n>b\nK\n\n"
        #expect(summary(try records(text)) == [["a", "", "a", "ACGT"], ["b", "", "b", "K"]])
    }

    @Test func caseStarAndGapsAreKeptAsInTheFile() throws {
        #expect(try records(">a\nacDe*\n")[0].sequence == "acDe*")
        #expect(try records(">a\nAC-D.E\n")[0].sequence == "AC-D.E")
    }

    @Test func spacesAndTabsInsideSequenceLinesAreDropped() throws {
        #expect(try records(">a\nAC DE\tF \n GH\n")[0].sequence == "ACDEFGH")
    }

    @Test func headerBlanksAreTrimmedAndTheIdIsTheFirstWord() throws {
        let record = try #require(try records(">sp|P1|X_Y  two\twords  \t\nA\n").first)
        #expect(record.id == "sp|P1|X_Y")
        #expect(record.description == "two\twords")
        #expect(record.header == "sp|P1|X_Y  two\twords")
    }

    @Test func recordPositionsAreLineAndByte() throws {
        let all = try records("\n>a\nAC\nGT\n>b\nK\n")
        #expect(all.map(\.line) == [2, 5])
        #expect(all.map(\.byteOffset) == [1, 10])
    }

    @Test func textBeforeTheFirstHeaderIsAnError() throws {
        let error = try #require(fastaError("junk line\n>a\nAC\n"))
        #expect(error.kind == .malformed)
        #expect(error.line == 1)
        #expect(error.byteOffset == 0)
        #expect(error.message.contains("expected '>' at the start of a FASTA record but found 'junk line\\n>a\\nAC\\n'"))
        #expect(error.message.contains("text before the first header"))
        // Auto-detection reports the same input as an unknown format.
        let detected = try #require(fastaError("junk line\n>a\nAC\n", format: nil))
        #expect(detected.kind == .unknownFormat)
        #expect(detected.description.hasPrefix("input:1 (byte 0): expected '>' (FASTA) or 'ID   '"))
    }

    @Test(arguments: [1, 4096])
    func crOnlyLineEndsAreAnError(blockSize: Int) throws {
        let error = try #require(fastaError(">a desc\rAC\rGT\r>b\rKK\r", blockSize: blockSize))
        #expect(error.kind == .malformed)
        #expect(error.line == 1)
        #expect(error.byteOffset == 7)
        #expect(error.message.contains("CR-only line endings are not supported"))
        // A bare '\r' inside a sequence line.
        let inSequence = try #require(fastaError(">a\nAC\rGT\n", blockSize: blockSize))
        #expect(inSequence.line == 2)
        #expect(inSequence.byteOffset == 5)
        #expect(inSequence.recordID == "a")
        #expect(inSequence.message.contains("CR-only"))
    }

    @Test(arguments: [1, 7, 4096])
    func nonResidueBytesAreErrorsNamingRecordLineAndByte(blockSize: Int) throws {
        let error = try #require(fastaError(">a\nACD\n>b x\nKL1M\n", blockSize: blockSize))
        #expect(error.kind == .malformed)
        #expect(error.description
                == "input:4 (byte 14, b): expected a residue letter, '*', '-' or '.' in the sequence but found '1'")
    }

    @Test func binaryJunkIsAnErrorNotRecords() throws {
        let junk: [UInt8] = [0x1F, 0x8C, 0x00, 0xFF, 0x10, 0x0A, 0x3E]
        let detected = try #require(outcome(junk).error)
        #expect(detected.kind == .unknownFormat)
        #expect(detected.message.hasSuffix("but found '\\x1f\\x8c\\x00\\xff\\x10\\n>'"))
        // Junk after a good record.
        let after = outcome(Array(">a\nAC\n".utf8) + [0x01, 0x02, 0x0A])
        #expect(after.records.isEmpty)
        #expect(after.error?.description == "input:3 (byte 6, a): expected a residue letter, '*', '-' or '.' in the sequence but found '\\x01'")
        // Control bytes in a header.
        let header = try #require(outcome(Array(">a\u{7}b\nAC\n".utf8)).error)
        #expect(header.message.contains("control byte '\\x07"))
        // Invalid UTF-8 in a header (0xFF can never appear in UTF-8); valid UTF-8 is fine.
        let invalid = try #require(outcome(Array(">a ".utf8) + [0xFF] + Array("\nAC\n".utf8)).error)
        #expect(invalid.message.contains("invalid bytes"))
        #expect(try records(">a é\nAC\n")[0].description == "é")
    }

    @Test func errorsAreSticky() throws {
        let reader = try SequenceReader(bytes: Array(">a\nAC\n>b\nA1\n>c\nK\n".utf8))
        #expect(try reader.next()?.id == "a")
        let first = #expect(throws: ProteinIOError.self) { try reader.next() }
        let second = #expect(throws: ProteinIOError.self) { try reader.next() }
        #expect(first == second)
    }

    @Test func gzipInputGivesTheSameRecords() throws {
        let text = ">a first one\nACDE\nFGHI\nK\n>b\nLMNPQRSTVWY\n>c\n"
        let plain = try records(text)
        let compressed = Gzip.members(Array(text.utf8), cuts: [5, 20])
        let reader = try SequenceReader(bytes: compressed, blockSize: 3, threaded: false)
        #expect(reader.compression == .gzip)
        #expect(reader.format == .fasta)
        #expect(try readAll(reader) == plain)
    }

    @Test func overlongHeaderIsAnError() throws {
        // A header longer than the limit is binary data, not a header; the buffer must not grow
        // without bound while looking for its end.
        let text = ">" + String(repeating: "x", count: FASTAReader.maxHeaderLength + 10)
        let error = try #require(outcome(Array(text.utf8), blockSize: 1 << 20).error)
        #expect(error.message.contains("expected a line of at most"))
    }

    // MARK: UniProt headers

    @Test func uniProtHeaderFields() throws {
        let header = "sp|P69905|HBA_HUMAN Hemoglobin subunit alpha OS=Homo sapiens OX=9606 GN=HBA1 PE=1 SV=2"
        let fields = try #require(UniProtMetadata(fastaHeader: header))
        #expect(fields == UniProtMetadata(
            database: "sp", accessions: ["P69905"], entryName: "HBA_HUMAN", reviewed: true,
            proteinName: "Hemoglobin subunit alpha", organism: "Homo sapiens", taxonomyID: 9606, gene: "HBA1",
            proteinExistence: 1, sequenceVersion: 2))
        #expect(fields.accession == "P69905")
        #expect(fields.fastaHeader == header)
    }

    @Test func uniProtHeaderVariants() throws {
        let trembl = try #require(UniProtMetadata(fastaHeader:
            "tr|A0A0B4J2F0|PIOS1_HUMAN Protein PIGBOS1 (Fragment) OS=Escherichia coli (strain K12) OX=83333 PE=4 SV=1 Split=0"))
        #expect(!trembl.reviewed)
        #expect(trembl.proteinName == "Protein PIGBOS1 (Fragment)")
        #expect(trembl.organism == "Escherichia coli (strain K12)")
        #expect(trembl.gene == nil)
        #expect(trembl.sequenceVersion == 1)
        #expect(UniProtMetadata(fastaHeader: "sp|P1|NAME")?.proteinName == nil)
        // Not UniProtKB headers.
        for header in ["HBB_HUMAN Human beta hemoglobin.", "gi|123|ref|NP_1.1| x", "sp||X", "up|P1|X y", ""] {
            #expect(UniProtMetadata(fastaHeader: header) == nil, "\(header)")
        }
        let record = try #require(try records(">HBB_HUMAN Human beta hemoglobin.\nVHL\n").first)
        #expect(record.uniProt == nil)
    }
}
