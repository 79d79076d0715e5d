import ArgumentParser
import CZlib
import ProteinIO

/// `protein-tool bench io FILE`: parse (+ tokenise) throughput against the zlib limit.
struct BenchIO: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "io",
        abstract: "Parse and tokenise throughput of a FASTA/UniProt file against zlib inflate alone.",
        discussion: """
            Runs, in this order and in one process, each phase --repeats times and reports the median:
              inflate   zlib gzread into a 256 KiB buffer, discarding it (the zlib limit; gzip only;
                        plain files are read with read(2) instead)
              parse     SequenceReader: records and residues, nothing else
              tokenise  parse + Tokenizer into a reusable buffer (the training input path)
            MB/s counts decompressed input bytes (10^6 bytes per MB). peak_rss_bytes is the process's
            peak resident set size (getrusage ru_maxrss) after each phase, so it is monotone; the
            parse and tokenise peaks bound the reader's memory for this file.
            """
    )

    @Argument(help: "The file to read (plain or gzipped FASTA / UniProtKB flat file).")
    var file: String

    @Option(name: .long, help: "Timed repeats per phase; the median is reported.")
    var repeats: Int = 3

    @Option(name: .long, help: "Output format: text or json.")
    var format: BenchFormat = .text

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
    }

    struct Phase {
        var name: String
        var seconds: Double
        var bytes: Int
        var residues: Int
        var records: Int
        var peakRSS: Int
    }

    func run() throws {
        var phases: [Phase] = []
        let (rawSeconds, bytes) = try median { try readRaw() }
        phases.append(Phase(name: "inflate", seconds: rawSeconds, bytes: bytes, residues: 0, records: 0,
                            peakRSS: ProcessMemory.peakResidentBytes()))
        let (parseSeconds, parsed) = try median { try parse(tokenise: false) }
        phases.append(Phase(name: "parse", seconds: parseSeconds, bytes: bytes, residues: parsed.residues,
                            records: parsed.records, peakRSS: ProcessMemory.peakResidentBytes()))
        let (tokenSeconds, tokenised) = try median { try parse(tokenise: true) }
        phases.append(Phase(name: "tokenise", seconds: tokenSeconds, bytes: bytes, residues: tokenised.residues,
                            records: tokenised.records, peakRSS: ProcessMemory.peakResidentBytes()))
        switch format {
        case .text:
            print("phase\tseconds\tMB/s\tresidues/s\trecords\tpeak_rss_MB\tvs_inflate")
            for p in phases {
                print([p.name, String(format2: p.seconds), String(format2: Double(p.bytes) / p.seconds / 1e6),
                       String(format2: Double(p.residues) / p.seconds / 1e6) + "M", "\(p.records)",
                       String(format2: Double(p.peakRSS) / 1e6), String(format2: p.seconds / rawSeconds)]
                    .joined(separator: "\t"))
            }
        case .json:
            print(JSONText.array(phases.map { p in
                JSONText.object([
                    ("file", JSONText.string(file)), ("phase", JSONText.string(p.name)),
                    ("seconds", JSONText.number(p.seconds)), ("bytes", JSONText.number(p.bytes)),
                    ("mb_per_s", JSONText.number(Double(p.bytes) / p.seconds / 1e6)),
                    ("residues", JSONText.number(p.residues)), ("records", JSONText.number(p.records)),
                    ("residues_per_s", JSONText.number(Double(p.residues) / p.seconds)),
                    ("peak_rss_bytes", JSONText.number(p.peakRSS)),
                    ("ratio_to_inflate", JSONText.number(p.seconds / rawSeconds)),
                ])
            }))
        }
    }

    private func median<T>(_ body: () throws -> T) throws -> (Double, T) {
        var times: [Double] = []
        var last: T?
        for _ in 0..<repeats {
            let start = Clock.now()
            last = try body()
            times.append(Clock.now() - start)
        }
        guard let last else { throw ValidationError("no repeats") }
        return (Clock.median(times), last)
    }

    /// Decompressed size via gzread (which also passes plain files through unchanged).
    private func readRaw() throws -> Int {
        guard let gz = gzopen(file, "rb") else {
            throw ValidationError("\(file): cannot open")
        }
        defer { gzclose(gz) }
        gzbuffer(gz, 256 * 1024)
        let capacity = 256 * 1024
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
        defer { buffer.deallocate() }
        var total = 0
        while true {
            let n = gzread(gz, buffer, UInt32(capacity))
            if n < 0 { throw ValidationError("\(file): zlib error while inflating") }
            if n == 0 { break }
            total += Int(n)
        }
        return total
    }

    private func parse(tokenise: Bool) throws -> (records: Int, residues: Int) {
        let reader = try SequenceReader(path: file, integrity: .lenient)
        let tokenizer = Tokenizer()
        var ids = [TokenID](repeating: 0, count: 1 << 16)
        var records = 0, residues = 0
        while let record = try reader.next() {
            records += 1
            residues += record.length
            if tokenise {
                if ids.count < record.length { ids = [TokenID](repeating: 0, count: record.length) }
                _ = try record.residues.withUnsafeBufferPointer { r in
                    try ids.withUnsafeMutableBufferPointer { out in
                        try tokenizer.tokenize(r, into: out, id: record.id, file: file)
                    }
                }
            }
        }
        return (records, residues)
    }
}
