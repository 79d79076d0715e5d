import Foundation
import Testing
@testable import ProteinIO

/// SequenceReader on real fixtures against Biopython and seqkit, parsing invariance across block
/// sizes and gzip member splits, seeded damage, a 100 MB single-line record, and the SIMD byte
/// checks against their references.
@Suite struct ReaderTests {
    // MARK: Fixtures vs Biopython

    @Test(arguments: Fixtures.allFiles)
    func fixtureMatchesBiopython(name: String) throws {
        let expected = try #require(Fixtures.expected.files[name])
        let reader = try SequenceReader(path: Fixtures.path(name))
        let records = try readAll(reader)
        #expect(reader.format?.rawValue == expected.format)
        #expect(reader.compression == (name.hasSuffix(".gz") ? .gzip : .none))
        #expect(records.count == expected.records.count)
        for (record, want) in zip(records, expected.records) {
            let problems = differences(record, want)
            #expect(problems.isEmpty, "\(problems)")
        }
        #expect(reader.integrityMismatches == 0)
    }

    @Test(arguments: Fixtures.fastaFiles)
    func fastaCountsMatchSeqkit(name: String) throws {
        // `seqkit stats -T <file>` (seqkit v2.3.0), recorded by make_expected.py.
        let stats = try #require(Fixtures.expected.files[name]?.seqkit)
        let records = try readAll(SequenceReader(path: Fixtures.path(name)))
        #expect(records.count == stats.numSeqs)
        #expect(records.reduce(0) { $0 + $1.length } == stats.sumLen)
    }

    @Test func flatFileCountsMatchTheirTerminators() throws {
        for name in Fixtures.uniProtFiles {
            let text = try Fixtures.plainBytes(name)
            let terminators = text.split(separator: UInt8(ascii: "\n")).filter { $0.elementsEqual("//".utf8) }.count
            #expect(try readAll(SequenceReader(path: Fixtures.path(name))).count == terminators)
        }
    }

    // MARK: Invariance

    static let blockSizes = [1, 2, 3, 7, 61, 4096, Int.max]

    @Test(arguments: Fixtures.allFiles)
    func blockSizeDoesNotChangeRecords(name: String) throws {
        let plain = try Fixtures.plainBytes(name)
        let baseline = try readAll(bytes: plain, name: name)
        #expect(!baseline.isEmpty)
        for blockSize in Self.blockSizes {
            let size = blockSize == Int.max ? plain.count : blockSize
            #expect(try readAll(bytes: plain, name: name, blockSize: size) == baseline, "block \(size)")
        }
    }

    @Test(arguments: Fixtures.allFiles)
    func gzipMemberSplitsDoNotChangeRecords(name: String) throws {
        let plain = try Fixtures.plainBytes(name)
        let baseline = try readAll(bytes: plain, name: name)
        var generator = SeededGenerator(seed: UInt64(name.utf8.count))
        for trial in 0..<4 {
            let cuts = (0..<(1 + trial * 3)).map { _ in generator.nextInt(below: plain.count + 1) }
            let compressed = Gzip.members(plain, cuts: cuts)
            for (blockSize, threaded) in [(1, false), (7, false), (61, true), (4096, true), (compressed.count, true)] {
                let records = try readAll(bytes: compressed, name: name, blockSize: blockSize, threaded: threaded)
                #expect(records == baseline, "cuts \(cuts) block \(blockSize) threaded \(threaded)")
            }
        }
    }

    @Test func lineAndCRLFVariantsGiveTheSameRecords() throws {
        for name in Fixtures.allFiles {
            let plain = try Fixtures.plainBytes(name)
            let baseline = try readAll(bytes: plain).map(\.residues)
            var crlf: [UInt8] = []
            for byte in plain {
                if byte == UInt8(ascii: "\n") { crlf.append(UInt8(ascii: "\r")) }
                crlf.append(byte)
            }
            #expect(try readAll(bytes: crlf, blockSize: 61).map(\.residues) == baseline, "\(name)")
            var noFinalNewline = plain
            while noFinalNewline.last == UInt8(ascii: "\n") { noFinalNewline.removeLast() }
            #expect(try readAll(bytes: noFinalNewline).map(\.residues) == baseline, "\(name)")
        }
    }

    // MARK: Detection

    @Test func formatIsDetectedFromContent() throws {
        let fasta = try SequenceReader(bytes: Array("\n\n>a\nAC\n".utf8))
        #expect(fasta.format == .fasta)
        #expect(try fasta.next()?.line == 3)
        let flat = try SequenceReader(bytes: Fixtures.bytes("swissprot_seq.dat.gz"))
        #expect(flat.format == .uniProt)
        #expect(flat.compression == .gzip)
        let forced = try SequenceReader(bytes: Fixtures.bytes("trembl.dat"), format: .fasta)
        #expect(forced.format == .fasta)
        #expect(throws: ProteinIOError.self) { try forced.next() }
        let unknown = #expect(throws: ProteinIOError.self) { try SequenceReader(bytes: Array("# comment\n>a\n".utf8)) }
        #expect(unknown?.kind == .unknownFormat)
    }

    @Test func pathAndMemoryAgree() throws {
        for name in Fixtures.allFiles {
            let fromPath = try readAll(SequenceReader(path: Fixtures.path(name), blockSize: 4096))
            let fromMemory = try readAll(SequenceReader(bytes: Fixtures.bytes(name), blockSize: 4096))
            #expect(fromPath == fromMemory)
        }
    }

    // MARK: Robustness

    /// Seeded damage of real fixtures — truncation, byte flips, inserted junk — must end in a
    /// clean error or a clean parse, never a crash or a hang. Extra checks where the answer is known:
    /// a truncated gzip always fails; a truncated flat file fails or returns a prefix of the entries.
    @Test(.timeLimit(.minutes(2)), arguments: Fixtures.allFiles)
    func damagedInputEndsCleanly(name: String) throws {
        let raw = try Fixtures.bytes(name)
        let plain = try Fixtures.plainBytes(name)
        let original = try readAll(bytes: plain)
        var generator = SeededGenerator(seed: 0xDA_4A6E ^ UInt64(raw.count))
        let isFlat = Fixtures.uniProtFiles.contains(name)

        for _ in 0..<60 {
            // Truncation of the stored (maybe compressed) bytes.
            let cut = 2 + generator.nextInt(below: raw.count - 2)
            let truncated = outcome(Array(raw[0..<cut]), blockSize: 1 + generator.nextInt(below: 5000))
            if name.hasSuffix(".gz") && truncated.error == nil {
                // Only a cut exactly between two members is a valid (shorter) gzip file; zlib's
                // reference decoder must agree that it is.
                #expect((try? Gzip.decompressReference(Array(raw[0..<cut]))) != nil,
                        "\(name) cut at \(cut) parsed without error")
            }
            // Truncation of the plain text.
            let plainCut = generator.nextInt(below: plain.count)
            let shortened = outcome(Array(plain[0..<plainCut]))
            if isFlat {
                #expect(shortened.records == Array(original.prefix(shortened.records.count)))
                if shortened.error == nil {
                    #expect(plain[0..<plainCut].last == UInt8(ascii: "\n") || plainCut == 0)
                }
            } else if !shortened.records.isEmpty {
                let complete = shortened.records.dropLast()
                #expect(Array(complete) == Array(original.prefix(complete.count)))
            }
            // Byte flips and junk.
            var damaged = generator.nextInt(below: 2) == 0 ? raw : plain
            for _ in 0..<(1 + generator.nextInt(below: 3)) {
                let position = generator.nextInt(below: damaged.count)
                damaged[position] = UInt8(truncatingIfNeeded: generator.next())
            }
            let junkAt = generator.nextInt(below: damaged.count)
            if generator.nextInt(below: 3) == 0 {
                damaged.insert(contentsOf: (0..<8).map { _ in UInt8(truncatingIfNeeded: generator.next()) }, at: junkAt)
            }
            _ = outcome(damaged, blockSize: 1 + generator.nextInt(below: 5000))
            _ = outcome(damaged, integrity: .lenient, blockSize: 4096)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func arbitraryBytesEndCleanly() {
        var generator = SeededGenerator(seed: 99)
        let alphabet = Array(">ID   AC;/\n\r\t *-.acgtMKLV0123\u{1}".utf8)
        for _ in 0..<2000 {
            let length = generator.nextInt(below: 300)
            let bytes = (0..<length).map { _ in
                generator.nextInt(below: 4) == 0 ? UInt8(truncatingIfNeeded: generator.next())
                    : alphabet[generator.nextInt(below: alphabet.count)]
            }
            for blockSize in [1, 64] {
                let result = outcome(bytes, blockSize: blockSize)
                _ = outcome(bytes, format: .uniProt, blockSize: blockSize)
                _ = outcome(bytes, format: .fasta, blockSize: blockSize)
                // Whatever the bytes, block size must not change the outcome.
                #expect(result.records == outcome(bytes, blockSize: 4096).records)
                #expect(result.error == outcome(bytes, blockSize: 4096).error)
            }
        }
    }

    // MARK: Scale

    /// A 100 MB single-line sequence parses, with the read window staying at its initial size
    /// (sequence lines are consumed piecewise, so only the record itself is held in memory).
    @Test(.timeLimit(.minutes(2)))
    func hundredMegabyteSingleLineRecord() throws {
        let length = 100_000_000
        let residues = Array("ACDEFGHIKLMNPQRSTVWY".utf8)
        var text = Array(">huge one line\n".utf8)
        text.reserveCapacity(length + 64)
        for i in 0..<length { text.append(residues[i % 20]) }
        text += Array("\n>next\nKK\n".utf8)
        let source = try ByteSource(bytes: text, blockSize: ByteSource.defaultBlockSize)
        let buffer = InputBuffer(source: source)
        let reader = FASTAReader(buffer: buffer, line: 1)
        let huge = try #require(try reader.next())
        #expect(huge.id == "huge")
        #expect(huge.length == length)
        #expect(huge.residues.prefix(20).elementsEqual(residues))
        #expect(huge.residues[length - 1] == residues[(length - 1) % 20])
        #expect(try reader.next()?.sequence == "KK")
        #expect(try reader.next() == nil)
        #expect(buffer.capacity == 2 * ByteSource.defaultBlockSize)
    }

    // MARK: Kernels vs references

    @Test func residueCheckMatchesReference() {
        var generator = SeededGenerator(seed: 5)
        let residues = Array("ACDEFGHIKLMNPQRSTVWYacdefxz*-.".utf8)
        for _ in 0..<5000 {
            let length = generator.nextInt(below: 100)
            var bytes = (0..<length).map { _ in residues[generator.nextInt(below: residues.count)] }
            if length > 0 && generator.nextInt(below: 2) == 0 {
                bytes[generator.nextInt(below: length)] = UInt8(truncatingIfNeeded: generator.next())
            }
            bytes.withUnsafeBufferPointer { buffer in
                let base = buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!
                #expect(ResidueBytes.allResidues(base, count: length) == ResidueBytes.allResiduesReference(buffer))
                #expect(ResidueBytes.firstControlByte(base, count: length) == ResidueBytes.firstControlByteReference(buffer))
                #expect(ResidueBytes.isASCII(base, count: length) == buffer.allSatisfy { $0 < 0x80 })
                // The fused check-and-copy agrees with the reference and copies exactly `length`
                // bytes (a guard byte after them stays untouched).
                var destination = [UInt8](repeating: 0xEE, count: length + 1)
                let copied = destination.withUnsafeMutableBufferPointer {
                    ResidueBytes.copyResidues(from: base, to: $0.baseAddress!, count: length)
                }
                #expect(copied == ResidueBytes.allResiduesReference(buffer))
                if copied { #expect(Array(destination[0..<length]) == bytes) }
                #expect(destination[length] == 0xEE)
            }
        }
        // Every byte value in every lane position.
        for value in 0...255 {
            for position in [0, 5, 31, 32, 40] {
                var bytes = [UInt8](repeating: UInt8(ascii: "A"), count: 41)
                bytes[position] = UInt8(value)
                bytes.withUnsafeBufferPointer { buffer in
                    #expect(ResidueBytes.allResidues(buffer.baseAddress!, count: 41) == ResidueBytes.allResiduesReference(buffer))
                    #expect(ResidueBytes.firstControlByte(buffer.baseAddress!, count: 41)
                            == ResidueBytes.firstControlByteReference(buffer))
                }
            }
        }
    }
}
