import CZlib
import Foundation
import Testing
@testable import ProteinIO

/// Shared helpers for the reader suites: fixtures, Biopython's expected values, gzip writing
/// (zlib's deflate — an independent encoder for our inflate path) and record collection.
enum Fixtures {
    /// The folder of fixture files copied into the test bundle.
    static var directory: URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)
            ?? Bundle.module.bundleURL.appendingPathComponent("Fixtures")
    }

    static func path(_ name: String) -> String {
        directory.appendingPathComponent(name).path
    }

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    /// The fixture's bytes after gzip decompression by zlib's own `uncompress`-style loop (not our
    /// reader), or as is when plain.
    static func plainBytes(_ name: String) throws -> [UInt8] {
        let raw = try bytes(name)
        return name.hasSuffix(".gz") ? try Gzip.decompressReference(raw) : raw
    }

    /// expected.json, or nil if it cannot be read (the tests that need it then fail on `#require`).
    static let expected: ExpectedValues? = {
        let url = directory.appendingPathComponent("expected.json")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try? decoder.decode(ExpectedValues.self, from: Data(contentsOf: url))
    }()

    static let fastaFiles = ["mmseqs_db_300.fasta.gz", "hmmer_globins45.fa", "hmmer_20aa-alitest.fa",
                             "hmmer_PAX8_HUMAN.fa", "hmmer_rndseq400-10.fa.gz"]
    static let uniProtFiles = ["swissprot_seq.dat.gz", "trembl.dat"]
    static var allFiles: [String] { fastaFiles + uniProtFiles }
}

/// expected.json, written by Fixtures/make_expected.py from Biopython.
struct ExpectedValues: Decodable {
    var biopython: String
    var files: [String: ExpectedFile]
}

struct ExpectedFile: Decodable {
    var format: String
    var records: [ExpectedRecord]
    var seqkit: SeqkitStats?
}

struct SeqkitStats: Decodable {
    var numSeqs: Int
    var sumLen: Int
}

struct ExpectedRecord: Decodable {
    var id: String
    var description: String
    var length: Int
    var crc64: String
    var head: String
    var tail: String
    // FASTA
    var uniprot: ExpectedHeader?
    // Flat file
    var entryName: String?
    var reviewed: Bool?
    var accessions: [String]?
    var proteinName: String?
    var organism: String?
    var taxonomyId: Int?
    var gene: String?
    var keywords: [String]?
    var proteinExistence: Int?
    var sequenceVersion: Int?
    var idLength: Int?
    var sqLength: Int?
    var sqMolecularWeight: Int?
    var sqCrc64: String?
}

struct ExpectedHeader: Decodable {
    var database: String
    var accession: String
    var entryName: String
    var proteinName: String?
    var organism: String?
    var taxonomyId: Int?
    var gene: String?
    var proteinExistence: Int?
    var sequenceVersion: Int?
}

/// Compares one record with Biopython's view of it; returns a list of differences.
func differences(_ record: SequenceRecord, _ expected: ExpectedRecord) -> [String] {
    var problems: [String] = []
    func check<T: Equatable>(_ name: String, _ got: T, _ want: T) {
        if got != want { problems.append("\(expected.id) \(name): got \(got), expected \(want)") }
    }
    let sequence = record.sequence
    check("id", record.id, expected.id)
    check("length", record.length, expected.length)
    check("crc64", CRC64.hex(CRC64.checksumReference(record.residues)), expected.crc64)
    check("head", String(sequence.prefix(20)), expected.head)
    check("tail", String(sequence.suffix(10)), expected.tail)
    switch record.format {
    case .fasta:
        check("header", record.header, expected.description)
        let header = record.uniProt
        check("is UniProt header", header != nil, expected.uniprot != nil)
        if let header, let want = expected.uniprot {
            check("database", header.database, want.database)
            check("accession", header.accession, want.accession)
            check("entryName", header.entryName, want.entryName)
            check("proteinName", header.proteinName, want.proteinName)
            check("organism", header.organism, want.organism)
            check("taxonomyID", header.taxonomyID, want.taxonomyId)
            check("gene", header.gene, want.gene)
            check("proteinExistence", header.proteinExistence, want.proteinExistence)
            check("sequenceVersion", header.sequenceVersion, want.sequenceVersion)
        }
    case .uniProt:
        check("description", record.description, expected.description)
        guard let entry = record.entry else {
            problems.append("\(expected.id): no entry metadata")
            return problems
        }
        check("entryName", entry.entryName, expected.entryName ?? "")
        check("reviewed", entry.reviewed, expected.reviewed ?? !entry.reviewed)
        check("accessions", entry.accessions, expected.accessions ?? [])
        check("proteinName", entry.proteinName, expected.proteinName)
        check("organism", entry.organism, expected.organism)
        check("taxonomyID", entry.taxonomyID, expected.taxonomyId)
        check("gene", entry.gene, expected.gene)
        check("keywords", entry.keywords, expected.keywords ?? [])
        check("proteinExistence", entry.proteinExistence, expected.proteinExistence)
        check("sequenceVersion", entry.sequenceVersion, expected.sequenceVersion)
        check("declaredLength", entry.declaredLength, expected.sqLength)
        check("ID length", entry.declaredLength, expected.idLength)
        check("molecularWeight", entry.molecularWeight, expected.sqMolecularWeight)
        check("crc64", entry.crc64.map(CRC64.hex), expected.sqCrc64)
        check("record.uniProt", record.uniProt, record.entry)
        check("integrityIssue", record.integrityIssue, nil)
    }
    return problems
}

/// Reads every record, or the error that stopped the reader.
func readAll(_ reader: SequenceReader) throws -> [SequenceRecord] {
    var records: [SequenceRecord] = []
    while let record = try reader.next() { records.append(record) }
    return records
}

func readAll(
    bytes: [UInt8], name: String = "<memory>", format: SequenceFormat? = nil, integrity: IntegrityMode = .strict,
    blockSize: Int = ByteSource.defaultBlockSize, threaded: Bool = true
) throws -> [SequenceRecord] {
    try readAll(SequenceReader(bytes: bytes, name: name, format: format, integrity: integrity,
                               blockSize: blockSize, threaded: threaded))
}

/// Records read from `bytes`, or the error that ended the read.
func outcome(
    _ bytes: [UInt8], format: SequenceFormat? = nil, integrity: IntegrityMode = .strict, blockSize: Int = 4096
) -> (records: [SequenceRecord], error: ProteinIOError?) {
    var records: [SequenceRecord] = []
    do {
        let reader = try SequenceReader(bytes: bytes, name: "input", format: format, integrity: integrity,
                                        blockSize: blockSize, threaded: false)
        while let record = try reader.next() { records.append(record) }
        return (records, nil)
    } catch let error as ProteinIOError {
        return (records, error)
    } catch {
        Issue.record("unexpected error type: \(error)")
        return (records, nil)
    }
}

/// gzip writing and reference decompression with zlib directly.
enum Gzip {
    /// One gzip member holding `bytes` (zlib deflate with a gzip wrapper, windowBits 15 + 16).
    static func compress(_ bytes: [UInt8], level: Int32 = 6) -> [UInt8] {
        var stream = z_stream()
        let rc = deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
                               Int32(MemoryLayout<z_stream>.size))
        precondition(rc == Z_OK)
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))) + 64)
        var input = bytes
        let produced: Int = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                stream.next_in = inBuffer.baseAddress
                stream.avail_in = uInt(inBuffer.count)
                stream.next_out = outBuffer.baseAddress
                stream.avail_out = uInt(outBuffer.count)
                let status = deflate(&stream, Z_FINISH)
                precondition(status == Z_STREAM_END)
                return outBuffer.count - Int(stream.avail_out)
            }
        }
        return Array(output[0..<produced])
    }

    /// `bytes` as consecutive gzip members split at `cuts` (offsets into `bytes`).
    static func members(_ bytes: [UInt8], cuts: [Int]) -> [UInt8] {
        var result: [UInt8] = []
        var start = 0
        for cut in cuts.sorted() + [bytes.count] where cut >= start {
            result += compress(Array(bytes[start..<cut]))
            start = cut
        }
        return result
    }

    /// Decompresses all members with zlib's inflate in one straightforward loop (the reference the
    /// streaming decoder is checked against).
    static func decompressReference(_ bytes: [UInt8]) throws -> [UInt8] {
        var result: [UInt8] = []
        var offset = 0
        while offset < bytes.count {
            var stream = z_stream()
            precondition(inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK)
            defer { inflateEnd(&stream) }
            var input = Array(bytes[offset...])
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            var status: Int32 = Z_OK
            try input.withUnsafeMutableBufferPointer { inBuffer in
                stream.next_in = inBuffer.baseAddress
                stream.avail_in = uInt(inBuffer.count)
                repeat {
                    let made: Int = chunk.withUnsafeMutableBufferPointer { outBuffer in
                        stream.next_out = outBuffer.baseAddress
                        stream.avail_out = uInt(outBuffer.count)
                        status = inflate(&stream, Z_NO_FLUSH)
                        return outBuffer.count - Int(stream.avail_out)
                    }
                    result += chunk[0..<made]
                    if status != Z_OK && status != Z_STREAM_END {
                        throw ProteinIOError(.corruptGzip, file: "reference", message: "zlib status \(status)")
                    }
                } while status != Z_STREAM_END
            }
            offset += Int(stream.total_in)
        }
        return result
    }
}

extension Array where Element == UInt8 {
    init(_ text: String) { self = Array(text.utf8) }
}
