import Testing
@testable import ProteinIO

/// The fused parse-and-tokenise path (`SequenceReader.nextTokens`, `nextResidues`,
/// `Packer.push(nextRecordFrom:)`) against its two-pass reference — `next()` then
/// `Tokenizer.tokenize(record.residues)` — on every fixture, at every block size, across gzip
/// member splits, on every byte value in every lane, on arbitrary bytes, and on the error cases:
/// same ids, counts, record boundaries, ids, headers and errors.
@Suite struct FusedReaderTests {
    /// One step of reading: a record (as the fused path describes it), a tokenizer error for a
    /// record (the reader goes on), or the reader's error (the end).
    enum Step: Equatable, CustomStringConvertible {
        case record(Item)
        case tokenizerError(ProteinIOError)
        case readerError(ProteinIOError)

        var description: String {
            switch self {
            case .record(let item): return "record \(item.id) line \(item.line) \(item.counts) \(Tokenizer.decode(item.tokens))"
            case .tokenizerError(let e): return "tokenizer error \(e)"
            case .readerError(let e): return "reader error \(e)"
            }
        }
    }

    struct Item: Equatable {
        var format: SequenceFormat
        var line: Int
        var byteOffset: Int
        var length: Int
        var counts: Tokenizer.Counts
        var keyHash: UInt64
        var tokens: [TokenID]
        var id: String
        var header: String
        var integrityIssue: ProteinIOError?
    }

    static let tokenizers = [
        Tokenizer(), Tokenizer(gaps: .remove), Tokenizer(unknown: .reject), Tokenizer(unknown: .reject, gaps: .remove),
    ]
    static let blockSizes = [1, 2, 3, 7, 61, 4096, Int.max]

    static func source(_ bytes: [UInt8], blockSize: Int, threaded: Bool) throws -> ByteSource {
        try ByteSource(bytes: bytes, name: "input", blockSize: blockSize == Int.max ? max(1, bytes.count) : blockSize,
                       threaded: threaded)
    }

    /// The reference: `next()`, then the tokenizer on the record's residues.
    static func twoPass(
        _ bytes: [UInt8], tokenizer: Tokenizer, format: SequenceFormat? = nil, integrity: IntegrityMode = .strict,
        blockSize: Int = 4096, threaded: Bool = false
    ) -> [Step] {
        var steps: [Step] = []
        do {
            let reader = try SequenceReader(source: source(bytes, blockSize: blockSize, threaded: threaded),
                                            format: format, integrity: integrity)
            while let record = try reader.next() {
                var tokens: [TokenID] = []
                do {
                    let counts = try record.residues.withUnsafeBufferPointer { (r) throws(ProteinIOError) -> Tokenizer.Counts in
                        try tokenizer.tokenize(r, appendingTo: &tokens, id: record.id, file: reader.name)
                    }
                    steps.append(.record(Item(
                        format: record.format, line: record.line, byteOffset: record.byteOffset, length: record.length,
                        counts: counts, keyHash: FNV1a64.hash(TrainValidationSplit.key(for: record.id).utf8),
                        tokens: tokens, id: record.id, header: record.header, integrityIssue: record.integrityIssue)))
                } catch {
                    steps.append(.tokenizerError(error))
                }
            }
        } catch let error as ProteinIOError {
            steps.append(.readerError(error))
        } catch {
            Issue.record("unexpected error type \(error)")
        }
        return steps
    }

    /// The fused path, read the way a training stream reads it: one reused buffer, errors of
    /// single records (the reader's `recordsRead` moved on) skipped, reader errors final.
    static func fused(
        _ bytes: [UInt8], tokenizer: Tokenizer, format: SequenceFormat? = nil, integrity: IntegrityMode = .strict,
        blockSize: Int = 4096, threaded: Bool = false, appending: Bool = false
    ) -> [Step] {
        var steps: [Step] = []
        var tokens: [TokenID] = appending ? [99, 98] : []  // a prefix that appending must keep
        do {
            let reader = try SequenceReader(source: source(bytes, blockSize: blockSize, threaded: threaded),
                                            format: format, integrity: integrity)
            while true {
                let before = reader.recordsRead
                let prefix = tokens
                do {
                    let info = appending
                        ? try reader.nextTokens(appendingTo: &tokens, tokenizer: tokenizer)
                        : try reader.nextTokens(into: &tokens, tokenizer: tokenizer)
                    guard let info else { break }
                    let ids = appending ? Array(tokens[prefix.count...]) : tokens
                    if appending { #expect(Array(tokens[..<prefix.count]) == prefix) }
                    #expect(ids.count == info.counts.tokens)
                    #expect(info.hasIntegrityIssue == (reader.recordIntegrityIssue != nil))
                    let idBytes = reader.withRecordIDBytes { Array($0) }
                    #expect(idBytes == Array(reader.recordID.utf8))
                    #expect(TrainValidationSplit.keyHash(utf8: idBytes) == info.idKeyHash)
                    steps.append(.record(Item(
                        format: info.format, line: info.line, byteOffset: info.byteOffset, length: info.length,
                        counts: info.counts, keyHash: info.idKeyHash, tokens: ids, id: reader.recordID,
                        header: reader.recordHeader, integrityIssue: reader.recordIntegrityIssue)))
                } catch let error as ProteinIOError {
                    // Appending leaves the buffer as it was; `into:` has emptied it.
                    #expect(tokens == (appending ? prefix : []))
                    if reader.recordsRead > before {
                        steps.append(.tokenizerError(error))
                        continue
                    }
                    steps.append(.readerError(error))
                    // Reader errors are sticky.
                    #expect(throws: error) { try reader.nextTokens(into: &tokens, tokenizer: tokenizer) }
                    break
                }
            }
        } catch let error as ProteinIOError {
            steps.append(.readerError(error))
        } catch {
            Issue.record("unexpected error type \(error)")
        }
        return steps
    }

    /// `nextResidues(into:)` against `next()`'s records (residues and positions), or both errors.
    static func residuesAgree(_ bytes: [UInt8], blockSize: Int, integrity: IntegrityMode = .strict) -> Bool {
        func run(_ body: (SequenceReader) throws -> [[Int]]) -> Result<[[Int]], ProteinIOError> {
            do {
                return .success(try body(SequenceReader(source: source(bytes, blockSize: blockSize, threaded: false),
                                                        integrity: integrity)))
            } catch let error as ProteinIOError {
                return .failure(error)
            } catch {
                return .success([[-1]])
            }
        }
        let reference = run { reader in
            var rows: [[Int]] = []
            while let r = try reader.next() { rows.append([r.line, r.byteOffset] + r.residues.map(Int.init)) }
            return rows
        }
        let fused = run { reader in
            var rows: [[Int]] = []
            var residues: [UInt8] = [7]
            while let info = try reader.nextResidues(into: &residues) {
                guard info.length == residues.count, info.counts.tokens == residues.count else { return [[-2]] }
                rows.append([info.line, info.byteOffset] + residues.map(Int.init))
            }
            return rows
        }
        return reference == fused
    }

    // MARK: Fixtures

    @Test(arguments: Fixtures.allFiles)
    func fusedEqualsTwoPassOnFixturesAtEveryBlockSize(name: String) throws {
        let plain = try Fixtures.plainBytes(name)
        for (t, tokenizer) in Self.tokenizers.enumerated() {
            let reference = Self.twoPass(plain, tokenizer: tokenizer, integrity: .lenient)
            #expect(reference.count > 0)
            if t == 0 {
                // The default tokenizer reads every fixture record without an error.
                #expect(reference.allSatisfy { if case .record = $0 { return true } else { return false } })
            }
            for blockSize in Self.blockSizes {
                let fused = Self.fused(plain, tokenizer: tokenizer, integrity: .lenient, blockSize: blockSize)
                let difference = zip(fused, reference).first { $0 != $1 }.map { "\($0) vs \($1)" } ?? "in the count"
                #expect(fused == reference, "\(name) tokenizer \(t) block \(blockSize): first difference \(difference)")
            }
            #expect(Self.fused(plain, tokenizer: tokenizer, integrity: .lenient, blockSize: 61, appending: true) == reference)
        }
        for blockSize in Self.blockSizes {
            #expect(Self.residuesAgree(plain, blockSize: blockSize == Int.max ? plain.count : blockSize))
        }
    }

    @Test(arguments: Fixtures.allFiles)
    func fusedEqualsTwoPassAcrossGzipMemberSplits(name: String) throws {
        let plain = try Fixtures.plainBytes(name)
        let reference = Self.twoPass(plain, tokenizer: Tokenizer())
        // The stored file itself (two members for mmseqs_db_300, Debian's gzip for rndseq).
        let stored = try Fixtures.bytes(name)
        #expect(Self.fused(stored, tokenizer: Tokenizer(), blockSize: 4096, threaded: true) == reference)
        var generator = SeededGenerator(seed: 0xF05ED ^ UInt64(plain.count))
        for trial in 0..<4 {
            let cuts = (0..<(1 + trial * 3)).map { _ in generator.nextInt(below: plain.count + 1) }
            let compressed = Gzip.members(plain, cuts: cuts)
            for (blockSize, threaded) in [(1, false), (7, false), (61, true), (4096, true), (compressed.count, true)] {
                #expect(Self.fused(compressed, tokenizer: Tokenizer(), blockSize: blockSize, threaded: threaded) == reference,
                        "\(name) cuts \(cuts) block \(blockSize)")
            }
        }
    }

    @Test func fusedEqualsTwoPassWithCRLFAndNoFinalNewline() throws {
        for name in Fixtures.allFiles {
            let plain = try Fixtures.plainBytes(name)
            var crlf: [UInt8] = []
            for byte in plain {
                if byte == UInt8(ascii: "\n") { crlf.append(UInt8(ascii: "\r")) }
                crlf.append(byte)
            }
            var noFinalNewline = plain
            while noFinalNewline.last == UInt8(ascii: "\n") { noFinalNewline.removeLast() }
            for bytes in [crlf, noFinalNewline] {
                for blockSize in [1, 61, 4096] {
                    #expect(Self.fused(bytes, tokenizer: Tokenizer(), blockSize: blockSize)
                            == Self.twoPass(bytes, tokenizer: Tokenizer()), "\(name) block \(blockSize)")
                }
            }
        }
    }

    // MARK: Hand-made cases

    /// Wrapped lines, blanks, CRLF, lowercase, `*` inside, at the end and split across lines,
    /// gaps, letters outside the alphabet, empty records and a header-only last record.
    static let edgeCases = """
        >a one\r
        MKV lae\tGIW\r
        ykd*\r
        *\r

        >b
        AC*
        K
        >c stars-only
        ***
        >d gaps
        -AC.D--
        >e unknown
        MJKxZ*A
        >f
        >g last*
        AC**
        """

    @Test(arguments: 0..<4)
    func handMadeEdgeCases(tokenizerIndex: Int) {
        let tokenizer = Self.tokenizers[tokenizerIndex]
        let bytes = Array(Self.edgeCases.utf8)
        let reference = Self.twoPass(bytes, tokenizer: tokenizer)
        #expect(reference.count == 7)
        for blockSize in Self.blockSizes {
            #expect(Self.fused(bytes, tokenizer: tokenizer, blockSize: blockSize) == reference, "block \(blockSize)")
        }
        if tokenizerIndex == 0, case .record(let a)? = reference.first, case .record(let b) = reference[1] {
            // Hand-derived: "MKVlaeGIWykd**" → 12 ids, two trailing stops; "AC*K" → the star is <unk>.
            #expect(a.counts == Tokenizer.Counts(tokens: 12, unknown: 0, gapsRemoved: 0, stopsRemoved: 2))
            #expect(Tokenizer.decode(b.tokens) == "AC<unk>K")
        }
    }

    /// Every byte value at every lane position of the 8-byte fast path, alone on a line and
    /// inside one, under every tokenizer: exactly the two-pass outcome (records or error).
    @Test(arguments: 0..<4)
    func everyByteInEveryLane(tokenizerIndex: Int) {
        let tokenizer = Self.tokenizers[tokenizerIndex]
        for value in 0...255 {
            for position in [0, 3, 7, 8, 13, 16, 19] {
                var line = Array("MKVLAAGIWYKDEFGHPQRS".utf8)
                line[position] = UInt8(value)
                for text in [Array(">r x\n".utf8) + line + Array("\n>s\nAC\n".utf8),
                             Array(">r\nMK\n".utf8) + line + Array("\nKK".utf8)] {
                    let reference = Self.twoPass(text, tokenizer: tokenizer)
                    for blockSize in [3, 4096] {
                        #expect(Self.fused(text, tokenizer: tokenizer, blockSize: blockSize) == reference,
                                "byte \(value) at \(position), block \(blockSize)")
                    }
                }
            }
        }
    }

    /// Arbitrary FASTA-ish bytes (including '>' inside lines, lone '\r', digits, controls,
    /// non-ASCII): the fused path and the two-pass path end the same way at any block size.
    @Test(.timeLimit(.minutes(2)))
    func arbitraryBytesGiveTheSameOutcome() {
        var generator = SeededGenerator(seed: 2026_11_23)
        let alphabet = Array(">>\n\n\r\t  *-.acgtjMKLVJXBZOU*".utf8)
        for trial in 0..<1500 {
            let length = generator.nextInt(below: 200)
            var bytes = (0..<length).map { _ in
                generator.nextInt(below: 12) == 0 ? UInt8(truncatingIfNeeded: generator.next())
                    : alphabet[generator.nextInt(below: alphabet.count)]
            }
            if generator.nextInt(below: 2) == 0 { bytes.insert(contentsOf: Array(">id\n".utf8), at: 0) }
            let tokenizer = Self.tokenizers[trial % 4]
            let reference = Self.twoPass(bytes, tokenizer: tokenizer, format: .fasta)
            for blockSize in [1, 5, 64, 4096] {
                #expect(Self.fused(bytes, tokenizer: tokenizer, format: .fasta, blockSize: blockSize) == reference,
                        "trial \(trial) block \(blockSize)")
            }
            #expect(Self.residuesAgree(bytes, blockSize: 7))
        }
    }

    // MARK: Errors

    @Test(arguments: [1, 7, 4096])
    func badResidueAtAKnownLine(blockSize: Int) throws {
        let text = Array(">a\nACD\n>b x\nKL1M\n>c\nKK\n".utf8)
        let steps = Self.fused(text, tokenizer: Tokenizer(), blockSize: blockSize)
        #expect(steps.count == 2)
        guard case .readerError(let error)? = steps.last else {
            Issue.record("expected a reader error, got \(steps)")
            return
        }
        #expect(error.description
                == "input:4 (byte 14, b): expected a residue letter, '*', '-' or '.' in the sequence but found '1'")
        #expect(steps == Self.twoPass(text, tokenizer: Tokenizer(), blockSize: blockSize))
    }

    @Test func badResidueInAFlatFileFixture() throws {
        // Damage one residue of the 4th entry's sequence: the same one-line error either way.
        var plain = try Fixtures.plainBytes("trembl.dat")
        let lines = plain.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        var entry = 0, offset = 0, target = -1, lineNumber = 0
        for (index, line) in lines.enumerated() {
            if line.starts(with: "//".utf8) { entry += 1 }
            if entry == 3 && target < 0 && line.starts(with: "     ".utf8) {
                target = offset + 7
                lineNumber = index + 1
            }
            offset += line.count + 1
        }
        #expect(target > 0)
        plain[target] = UInt8(ascii: "9")
        for blockSize in [1, 61, 4096] {
            let fused = Self.fused(plain, tokenizer: Tokenizer(), blockSize: blockSize)
            #expect(fused == Self.twoPass(plain, tokenizer: Tokenizer(), blockSize: blockSize))
            guard case .readerError(let error)? = fused.last else {
                Issue.record("expected a reader error")
                continue
            }
            #expect(fused.count == 4)
            #expect(error.line == lineNumber && error.kind == .malformed && error.message.contains("found '9"))
        }
    }

    @Test(arguments: ["mmseqs_db_300.fasta.gz", "swissprot_seq.dat.gz"])
    func truncatedGzipIsTheSameError(name: String) throws {
        let raw = try Fixtures.bytes(name)
        var generator = SeededGenerator(seed: 77)
        for _ in 0..<12 {
            let cut = 10 + generator.nextInt(below: raw.count - 20)
            let truncated = Array(raw[0..<cut])
            for (blockSize, threaded) in [(7, false), (4096, true)] {
                let fused = Self.fused(truncated, tokenizer: Tokenizer(), blockSize: blockSize, threaded: threaded)
                #expect(fused == Self.twoPass(truncated, tokenizer: Tokenizer(), blockSize: blockSize, threaded: threaded))
                // Only a cut between two members is a valid shorter stream.
                if case .readerError(let error)? = fused.last {
                    #expect(error.kind == .truncated || error.kind == .corruptGzip || error.kind == .malformed)
                } else {
                    #expect((try? Gzip.decompressReference(truncated)) != nil, "cut at \(cut) read without an error")
                }
            }
        }
    }

    @Test func rejectedRecordIsSkippedNotSticky() throws {
        let reader = try SequenceReader(bytes: Array(">a\nMK\n>b\nMJK\n>c\nKK\n".utf8), name: "x.fa")
        let strict = Tokenizer(unknown: .reject)
        var tokens: [TokenID] = [Alphabet.cls]
        #expect(try reader.nextTokens(appendingTo: &tokens, tokenizer: strict)?.counts.tokens == 2)
        let error = #expect(throws: ProteinIOError.self) { try reader.nextTokens(appendingTo: &tokens, tokenizer: strict) }
        #expect(error?.description == "x.fa (b): unexpected character 'J' (0x4A) at residue 2; expected an amino-acid "
                + "letter (ACDEFGHIKLMNPQRSTVWY or BZXUO, either case)")
        #expect(tokens == [Alphabet.cls, 16, 14])
        #expect(reader.recordID == "b" && reader.recordsRead == 2)
        #expect(try reader.nextTokens(appendingTo: &tokens, tokenizer: strict)?.line == 5)
        #expect(tokens == [Alphabet.cls, 16, 14, 14, 14])
        #expect(try reader.nextTokens(appendingTo: &tokens, tokenizer: strict) == nil)
    }

    @Test func readerErrorsComeBeforeTokenizerErrors() throws {
        // 'J' (a tokenizer error in reject mode) on line 2, '1' (a reader error) on line 3: the
        // two-pass path reports the reader's error, so the fused path must too.
        let text = Array(">a\nMJ\nK1\n".utf8)
        let strict = Tokenizer(unknown: .reject)
        let steps = Self.fused(text, tokenizer: strict, blockSize: 4096)
        #expect(steps == Self.twoPass(text, tokenizer: strict))
        guard case .readerError(let error)? = steps.first else {
            Issue.record("expected the reader's error, got \(steps)")
            return
        }
        #expect(error.line == 3 && error.message.hasSuffix("found '1'"))
    }

    // MARK: Split and packer

    @Test func keyHashAgreesWithTheStringSplit() throws {
        let split = TrainValidationSplit(validationFraction: 0.3, seed: 5)
        var ids = ["sp|P69905|HBA_HUMAN", "tr|A0A023GPI8|LECA_CANBL", "sp|P12345", "sp|", "tr|x|", "gi|12345|ref", "", "s",
                   "sp", "spx|A|B", "P69905", "é|x"]
        for name in Fixtures.allFiles { ids += try readAll(SequenceReader(path: Fixtures.path(name))).map(\.id) }
        for id in ids {
            let bytes = Array(id.utf8)
            let hash = bytes.withUnsafeBufferPointer { TrainValidationSplit.keyHash(utf8: $0) }
            #expect(hash == TrainValidationSplit.keyHash(utf8: id.utf8), "\(id)")
            #expect(hash == FNV1a64.hash(TrainValidationSplit.key(for: id).utf8), "\(id)")
            #expect(split.position(keyHash: hash) == split.position(of: id))
        }
        for name in Fixtures.allFiles {
            let records = try readAll(SequenceReader(path: Fixtures.path(name)))
            let reader = try SequenceReader(path: Fixtures.path(name))
            var tokens: [TokenID] = []
            var sides: [TrainValidationSplit.Side] = []
            while let info = try reader.nextTokens(into: &tokens, tokenizer: Tokenizer()) { sides.append(split.side(of: info)) }
            #expect(sides == records.map { split.side(of: $0.id) })
        }
    }

    @Test(arguments: [PackerConfiguration(windowLength: 64), PackerConfiguration(windowLength: 100, layout: .padded),
                      PackerConfiguration(windowLength: 128, maxProteinLength: 40)])
    func packerPushFromReaderEqualsTwoPassPush(configuration: PackerConfiguration) throws {
        let split = TrainValidationSplit(validationFraction: 0.2)
        for name in Fixtures.allFiles {
            for tokenizer in [Tokenizer(), Tokenizer(gaps: .remove)] {
                let records = try readAll(SequenceReader(path: Fixtures.path(name)))
                var separate = Packer(configuration: configuration, seed: 3)
                for record in records where split.side(of: record.id) == .train {
                    _ = try record.residues.withUnsafeBufferPointer { (r) throws(ProteinIOError) -> Tokenizer.Counts in
                        try separate.push(residues: r, tokenizer: tokenizer, id: record.id, file: name)
                    }
                }
                var fused = Packer(configuration: configuration, seed: 3)
                let reader = try SequenceReader(path: Fixtures.path(name), blockSize: 4096)
                var packed = 0, skipped = 0
                while let result = try fused.push(nextRecordFrom: reader, tokenizer: tokenizer,
                                                  where: { split.side(of: $0) == .train }) {
                    if result.packed { packed += 1 } else { skipped += 1 }
                }
                #expect(packed + skipped == records.count && packed == separate.proteinsConsumed)
                #expect(fused.state == separate.state, "\(name)")
                fused.finish()
                separate.finish()
                var a: [[TokenID]] = [], b: [[TokenID]] = []
                while let w = fused.popWindow() { a.append(w) }
                while let w = separate.popWindow() { b.append(w) }
                #expect(a == b && !a.isEmpty)
            }
        }
    }

    @Test func packerPushFromReaderLeavesThePackerUnchangedOnError() throws {
        let reader = try SequenceReader(bytes: Array(">a\nMKV\n>b\nMKJV\n>c\nK1\n".utf8))
        var packer = Packer(configuration: PackerConfiguration(windowLength: 16, layout: .padded), seed: 1)
        let strict = Tokenizer(unknown: .reject)
        #expect(try packer.push(nextRecordFrom: reader, tokenizer: strict)?.packed == true)
        let before = packer.state
        #expect(throws: ProteinIOError.self) { try packer.push(nextRecordFrom: reader, tokenizer: strict) }
        #expect(packer.state == before)
        #expect(throws: ProteinIOError.self) { try packer.push(nextRecordFrom: reader, tokenizer: strict) }
        #expect(packer.state == before && packer.proteinsConsumed == 1)
    }

    @Test func packerBufferStaysBoundedWhenStreamingFromAReader() throws {
        // 3000 records of 50–250 residues through windows of 64, draining batches of 4.
        var generator = SeededGenerator(seed: 12)
        let letters = Array("ACDEFGHIKLMNPQRSTVWY".utf8)
        var text: [UInt8] = []
        for i in 0..<3000 {
            text += Array(">p\(i)\n".utf8)
            text += (0..<(50 + generator.nextInt(below: 200))).map { _ in letters[generator.nextInt(below: 20)] }
            text.append(UInt8(ascii: "\n"))
        }
        let reader = try SequenceReader(bytes: text)
        var packer = Packer(configuration: PackerConfiguration(windowLength: 64), seed: 1)
        var batch = Batch(batch: 4, length: 64)
        var largest = 0
        while try packer.push(nextRecordFrom: reader, tokenizer: Tokenizer()) != nil {
            while packer.nextBatch(into: &batch) {}
            largest = max(largest, packer.bufferCapacity)
        }
        #expect(packer.proteinsConsumed == 3000)
        #expect(largest < 4096, "capacity \(largest)")
    }

    // MARK: Kernels

    @Test func pairTableMatchesTheByteTable() {
        for tokenizer in [Tokenizer(), Tokenizer(gaps: .remove)] {
            let pairs = tokenizer.gapPolicy == .remove ? SequenceLineTokenizer.removedGapPairs : SequenceLineTokenizer.unknownGapPairs
            let table = tokenizer.streamTable
            for index in stride(from: 0, to: 1 << 16, by: 7) {
                #expect(pairs[index] == UInt16(table[index & 0xFF]) | UInt16(table[index >> 8]) << 8)
            }
        }
    }

    @Test func plainTextCheckMatchesReference() {
        var generator = SeededGenerator(seed: 6)
        for _ in 0..<3000 {
            let length = generator.nextInt(below: 90)
            var bytes = (0..<length).map { _ in UInt8(0x20 + generator.nextInt(below: 0x5F)) }
            if length > 0 && generator.nextInt(below: 2) == 0 {
                bytes[generator.nextInt(below: length)] = UInt8(truncatingIfNeeded: generator.next())
            }
            bytes.withUnsafeBufferPointer { buffer in
                let base = buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!
                #expect(ResidueBytes.isPlainText(base, count: length) == ResidueBytes.isPlainTextReference(buffer))
            }
        }
    }
}
