import Foundation
import Testing
@testable import ProteinIO

/// ByteSource: plain pass-through, gzip detection by content, multi-member streams, block-size
/// invariance, and every way a gzip stream can be damaged ending in an error.
@Suite struct InputTests {
    /// Some text with structure (so deflate uses back-references), about 200 KB.
    static let sample: [UInt8] = {
        var generator = SeededGenerator(seed: 42)
        var text = ""
        for record in 0..<800 {
            text += ">seq\(record) protein \(record % 7)\n"
            for _ in 0..<4 {
                text += String((0..<60).map { _ in "ACDEFGHIKLMNPQRSTVWY".randomElement(using: &generator)! }) + "\n"
            }
        }
        return Array(text.utf8)
    }()

    static let blockSizes = [1, 2, 3, 7, 61, 4096, 1 << 20]

    @Test(arguments: blockSizes)
    func plainBytesPassThroughUnchanged(blockSize: Int) throws {
        let source = try ByteSource(bytes: Self.sample, blockSize: blockSize)
        #expect(source.compression == .none)
        #expect(try source.readAll() == Self.sample)
    }

    @Test(arguments: blockSizes, [false, true])
    func gzipIsDetectedByContentAndInflated(blockSize: Int, threaded: Bool) throws {
        if threaded && blockSize < 7 { return }  // one mutex hand-off per byte: slow, covered at 7
        let compressed = Gzip.compress(Self.sample)
        let source = try ByteSource(bytes: compressed, name: "no-gz-suffix", blockSize: blockSize, threaded: threaded)
        #expect(source.compression == .gzip)
        #expect(try source.readAll() == Self.sample)
    }

    @Test(arguments: [false, true])
    func concatenatedMembersReadAsOneStream(threaded: Bool) throws {
        var generator = SeededGenerator(seed: 7)
        for trial in 0..<8 {
            let cutCount = 1 + trial % 6
            let cuts = (0..<cutCount).map { _ in generator.nextInt(below: Self.sample.count + 1) }
            let compressed = Gzip.members(Self.sample, cuts: cuts)
            // Tiny blocks only without the thread (one mutex hand-off per block would be slow).
            for blockSize in threaded ? [61, 4096] : [7, 61, 4096] {
                let source = try ByteSource(bytes: compressed, blockSize: blockSize, threaded: threaded)
                #expect(try source.readAll() == Self.sample, "cuts \(cuts), block \(blockSize)")
            }
        }
    }

    @Test func emptyMembersAndAnEmptyStreamAreFine() throws {
        let empty = Gzip.compress([])
        #expect(try ByteSource(bytes: empty).readAll() == [])
        let withEmptyMembers = empty + Gzip.compress(Array("abc".utf8)) + empty + empty
        #expect(try ByteSource(bytes: withEmptyMembers, blockSize: 3).readAll() == Array("abc".utf8))
        #expect(try ByteSource(bytes: []).readAll() == [])
    }

    @Test func realGzipFilesFromOtherToolsInflate() throws {
        // hmmer_rndseq400-10.fa.gz was compressed by Debian's packaging; the mmseqs fixture is two
        // `gzip -9n` members. seqkit counts give an independent check of the result in ReaderTests.
        for name in ["hmmer_rndseq400-10.fa.gz", "mmseqs_db_300.fasta.gz", "swissprot_seq.dat.gz"] {
            let source = try ByteSource(path: Fixtures.path(name))
            #expect(source.compression == .gzip)
            #expect(try source.readAll() == Fixtures.plainBytes(name))
        }
    }

    // MARK: Damage

    /// Reads everything; returns the error (which must be a ProteinIOError).
    func failure(_ bytes: [UInt8], blockSize: Int = 4096, threaded: Bool = false) -> ProteinIOError? {
        do {
            _ = try ByteSource(bytes: bytes, name: "damaged.gz", blockSize: blockSize, threaded: threaded).readAll()
            return nil
        } catch let error as ProteinIOError {
            return error
        } catch {
            Issue.record("unexpected error type \(error)")
            return nil
        }
    }

    @Test(arguments: [false, true])
    func flippedTrailerByteIsACRCError(threaded: Bool) throws {
        var compressed = Gzip.compress(Self.sample)
        compressed[compressed.count - 6] ^= 0x01  // inside the CRC-32 field of the trailer
        let error = try #require(failure(compressed, threaded: threaded))
        #expect(error.kind == .corruptGzip)
        #expect(error.message.contains("CRC-32 mismatch"))
        #expect(error.file == "damaged.gz")
        #expect(error.byteOffset != nil)
    }

    @Test func flippedLengthByteIsALengthError() throws {
        var compressed = Gzip.compress(Self.sample)
        compressed[compressed.count - 2] ^= 0x01  // inside ISIZE
        let error = try #require(failure(compressed))
        #expect(error.kind == .corruptGzip)
        #expect(error.message.contains("length mismatch"))
    }

    @Test func flippedDataBytesAreAlwaysCaught() throws {
        // Any single flipped bit in the deflate data or trailer must end in an error, never in
        // silently different output: deflate damage is either a format error or a CRC mismatch.
        let compressed = Gzip.compress(Array(Self.sample[0..<20_000]))
        var generator = SeededGenerator(seed: 11)
        for _ in 0..<200 {
            var damaged = compressed
            let position = 10 + generator.nextInt(below: compressed.count - 10)  // after the header
            damaged[position] ^= UInt8(1) << UInt8(generator.nextInt(below: 8))
            let error = failure(damaged, blockSize: 61)
            #expect(error != nil, "flip at \(position) went unnoticed")
            if let error { #expect(error.kind == .corruptGzip || error.kind == .truncated) }
        }
    }

    @Test(arguments: [false, true])
    func everyTruncationIsAnError(threaded: Bool) throws {
        let compressed = Gzip.compress(Array(Self.sample[0..<30_000]))
        // Every cut in the header and the first 2 KB, then every 13th byte (a single byte 0x1f is
        // not gzip, so cuts start at 2).
        let cuts = Array(2..<2048) + Array(stride(from: 2048, to: compressed.count, by: threaded ? 97 : 13))
        for cut in cuts {
            let error = failure(Array(compressed[0..<cut]), blockSize: 512, threaded: threaded)
            #expect(error?.kind == .truncated, "cut at \(cut)")
        }
        let error = try #require(failure(Array(compressed.dropLast(3))))
        #expect(error.kind == .truncated)
        #expect(error.message.contains("ends inside member 1"))
        #expect(error.byteOffset == compressed.count - 3)
    }

    @Test func truncationAtAMemberBoundaryIsAValidShorterStream() throws {
        let first = Gzip.compress(Array("first\n".utf8))
        let both = first + Gzip.compress(Array("second\n".utf8))
        #expect(try ByteSource(bytes: Array(both[0..<first.count])).readAll() == Array("first\n".utf8))
        // … but one byte into the second member is an error.
        let error = try #require(failure(Array(both[0..<first.count + 1])))
        #expect(error.kind == .truncated)
        #expect(error.message.contains("member 2"))
    }

    @Test(arguments: [1, 4096])
    func trailingGarbageIsAnError(blockSize: Int) throws {
        let compressed = Gzip.compress(Array("hello\n".utf8))
        for junk in [Array("junk".utf8), [0, 0, 0, 0], [0x1F], [0x1F, 0x8C], Array("\n".utf8)] {
            let error = try #require(failure(compressed + junk, blockSize: blockSize), "junk \(junk)")
            if junk == [0x1F] {
                #expect(error.kind == .truncated)
            } else {
                #expect(error.kind == .corruptGzip)
                #expect(error.message.contains("trailing data after gzip member 1"))
                // The message shows the bad bytes it has seen (all of them when the block holds them).
                let shown = blockSize == 1 ? junk.prefix(junk[0] == 0x1F ? 2 : 1) : junk.prefix(4)
                #expect(error.message.hasSuffix("but found '" + ByteEscaping.escaped(shown) + "'"), "\(error)")
                #expect(error.byteOffset == compressed.count)
            }
        }
    }

    @Test func corruptHeaderIsAnError() throws {
        var compressed = Gzip.compress(Array("hello\n".utf8))
        compressed[2] = 0x07  // compression method must be 8 (deflate)
        let error = try #require(failure(compressed))
        #expect(error.kind == .corruptGzip)
        #expect(error.description.hasPrefix("damaged.gz (byte "))
    }

    @Test func errorsComeAfterTheGoodBytes() throws {
        // A corrupt second member: the first member's bytes are delivered, then the error.
        let good = Array("good data\n".utf8)
        var second = Gzip.compress(Array("more\n".utf8))
        second[second.count - 5] ^= 0xFF
        let source = try ByteSource(bytes: Gzip.compress(good) + second, blockSize: 4096, threaded: true)
        var delivered: [UInt8] = []
        var block = [UInt8](repeating: 0, count: 4096)
        var thrown: ProteinIOError?
        do {
            while true {
                let n = try block.withUnsafeMutableBytes { try source.read(into: $0) }
                if n == 0 { break }
                delivered += block[0..<n]
            }
        } catch let error as ProteinIOError {
            thrown = error
        }
        #expect(Array(delivered.prefix(good.count)) == good)
        #expect(thrown?.kind == .corruptGzip)
        // The error is sticky.
        #expect(throws: ProteinIOError.self) { _ = try block.withUnsafeMutableBytes { try source.read(into: $0) } }
    }

    // MARK: Files

    @Test func missingFileAndDirectoryAreIOErrors() throws {
        let missing = #expect(throws: ProteinIOError.self) { try ByteSource(path: "/nonexistent/x.fasta") }
        #expect(missing?.kind == .io)
        #expect(missing?.description.hasPrefix("/nonexistent/x.fasta: cannot open") == true)
        let directory = #expect(throws: ProteinIOError.self) { try ByteSource(path: Fixtures.directory.path) }
        #expect(directory?.kind == .io)
        #expect(directory?.message.contains("directory") == true)
    }

    @Test func fileAndMemoryGiveTheSameBytes() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bytesource-\(UUID().uuidString).bin")
        defer { try? FileManager.default.removeItem(at: url) }
        let compressed = Gzip.members(Self.sample, cuts: [1000, 50_000])
        try Data(compressed).write(to: url)
        for blockSize in [1, 61, ByteSource.defaultBlockSize] {
            let source = try ByteSource(path: url.path, blockSize: blockSize, threaded: blockSize > 1)
            #expect(source.name == url.path)
            #expect(try source.readAll() == Self.sample)
        }
    }

    @Test func abandoningAThreadedSourceStopsItsThread() throws {
        // Open many threaded sources and drop them after one small read: deinit must cancel and join
        // the inflate thread (a leak or deadlock would hang or exhaust threads here).
        let compressed = Gzip.compress(Self.sample)
        for _ in 0..<200 {
            let source = try ByteSource(bytes: compressed, blockSize: 1024, threaded: true)
            var block = [UInt8](repeating: 0, count: 10)
            _ = try block.withUnsafeMutableBytes { try source.read(into: $0) }
        }
    }

    // MARK: Escaping

    @Test func badBytesAreEscapedInMessages() {
        #expect(ByteEscaping.quoted([0x1F, 0x8B]) == "'\\x1f\\x8b'")
        #expect(ByteEscaping.quoted(Array("a'b\\\r\n\t".utf8)) == "'a\\'b\\\\\\r\\n\\t'")
        #expect(ByteEscaping.quoted([UInt8]()) == "end of input")
        #expect(ByteEscaping.quoted(Array("abcdef".utf8), limit: 3) == "'abc…'")
        #expect(ByteEscaping.quoted([0xC3, 0xA9]) == "'\\xc3\\xa9'")
    }
}
