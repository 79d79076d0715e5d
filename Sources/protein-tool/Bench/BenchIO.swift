import ArgumentParser
import CZlib
import ProteinIO

/// `protein-tool bench io FILE`: parse (+ tokenise) throughput against the zlib limit.
struct BenchIO: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "io",
        abstract: "Parse and tokenise throughput of a FASTA/UniProt file against zlib inflate alone.",
        discussion: """
            Runs three phases in one process, interleaved --repeats times (so drifting load from other
            processes hits all alike), and reports each phase's median:
              inflate   zlib gzread into a 256 KiB buffer, discarding it (the zlib limit; gzip only;
                        plain files are read with read(2) instead)
              parse     SequenceReader: records and residues, nothing else
              tokenise  parse + Tokenizer into a reusable buffer (the training input path)
            MB/s counts decompressed input bytes (10^6 bytes per MB). peak_rss_bytes is the process's
            peak resident set size (getrusage ru_maxrss) after each phase, so it is monotone; the
            parse and tokenise peaks bound the reader's memory for this file. vs_inflate is the
            phase's median time over the inflate median.
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
        // Phases are interleaved (inflate, parse, tokenise, inflate, …) so that load from other
        // processes drifting over time hits all three alike; each reports its median.
        var times = [[Double]](repeating: [], count: 3)
        var bytes = 0
        var parsed = (records: 0, residues: 0), tokenised = (records: 0, residues: 0)
        var peaks = [Int](repeating: 0, count: 3)
        for _ in 0..<repeats {
            var start = Clock.now()
            bytes = try readRaw()
            times[0].append(Clock.now() - start)
            peaks[0] = max(peaks[0], ProcessMemory.peakResidentBytes())
            start = Clock.now()
            parsed = try parse(tokenise: false)
            times[1].append(Clock.now() - start)
            peaks[1] = max(peaks[1], ProcessMemory.peakResidentBytes())
            start = Clock.now()
            tokenised = try parse(tokenise: true)
            times[2].append(Clock.now() - start)
            peaks[2] = max(peaks[2], ProcessMemory.peakResidentBytes())
        }
        let rawSeconds = Clock.median(times[0])
        let phases = [
            Phase(name: "inflate", seconds: rawSeconds, bytes: bytes, residues: 0, records: 0, peakRSS: peaks[0]),
            Phase(name: "parse", seconds: Clock.median(times[1]), bytes: bytes, residues: parsed.residues,
                  records: parsed.records, peakRSS: peaks[1]),
            Phase(name: "tokenise", seconds: Clock.median(times[2]), bytes: bytes, residues: tokenised.residues,
                  records: tokenised.records, peakRSS: peaks[2]),
        ]
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
