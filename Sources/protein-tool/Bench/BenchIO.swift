import ArgumentParser
import CZlib
import ProteinIO

/// `protein-tool bench io FILE`: parse (+ tokenise) throughput against the zlib limit.
struct BenchIO: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "io",
        abstract: "Parse and tokenise throughput of a FASTA/UniProt file against zlib inflate alone.",
        discussion: """
            Runs four phases in one process, interleaved --repeats times (so drifting load from other
            processes hits all alike), and reports each phase's median:
              inflate   zlib gzread into a 256 KiB buffer, discarding it (the zlib limit; gzip only;
                        plain files are read with read(2) instead)
              parse     SequenceReader.next(): records and residues, nothing else
              two-pass  parse + Tokenizer.tokenize(record.residues) into a reusable buffer (the
                        path before the fused reader: a residue array per record, then a
                        second pass over it)
              tokenise  SequenceReader.nextTokens(into:tokenizer:): parsed and tokenised in one
                        pass into a reusable buffer (the training input path)
            --phases picks some of them (e.g. --phases tokenise, for a profiler); vs_inflate is then
            '-' unless inflate is among them.
            MB/s counts decompressed input bytes (10^6 bytes per MB). peak_rss_bytes is the process's
            peak resident set size (getrusage ru_maxrss) after each phase, so it is monotone; the
            parse and tokenise peaks bound the reader's memory for this file. vs_inflate is the
            phase's median time over the inflate median. cpu_seconds is the median CPU time of the
            process during the phase (all threads: for threaded gzip input it includes the inflate
            thread), and MB/cpu_s the bytes per CPU second — the per-core rate, which load from
            other processes on a shared machine does not dilute the way it dilutes wall time.
            """
    )

    @Argument(help: "The file to read (plain or gzipped FASTA / UniProtKB flat file).")
    var file: String

    @Option(name: .long, help: "Timed repeats per phase; the median is reported.")
    var repeats: Int = 3

    @Option(name: .long, help: "Output format: text or json.")
    var format: BenchFormat = .text

    enum IOPhase: String, CaseIterable {
        case inflate, parse, twoPass = "two-pass", tokenise
    }

    @Option(name: .long, parsing: .upToNextOption,
            help: "Phases to run, comma-separated (inflate, parse, two-pass, tokenise; default all).")
    var phases: [String] = []

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
        _ = try selectedPhases()
    }

    private func selectedPhases() throws -> [IOPhase] {
        let names = BenchList.items(phases)
        if names.isEmpty { return IOPhase.allCases }
        let chosen = try names.map { name in
            guard let phase = IOPhase(rawValue: name) else {
                throw ValidationError("unknown phase '\(name)'; expected inflate, parse, two-pass or tokenise")
            }
            return phase
        }
        return IOPhase.allCases.filter(chosen.contains)  // run in the usual order, each once
    }

    struct Phase {
        var name: String
        var seconds: Double
        var bytes: Int
        var residues: Int
        var records: Int
        var peakRSS: Int
        var cpuSeconds: Double
    }

    func run() throws {
        // Phases are interleaved (inflate, parse, two-pass, tokenise, inflate, …) so that load
        // from other processes drifting over time hits all alike; each reports its median.
        let selected = try selectedPhases()
        var times = [[Double]](repeating: [], count: selected.count)
        var bytes = 0
        var counts = [(records: Int, residues: Int)](repeating: (0, 0), count: selected.count)
        var peaks = [Int](repeating: 0, count: selected.count)
        var cpu = [[Double]](repeating: [], count: selected.count)
        for _ in 0..<repeats {
            for (i, phase) in selected.enumerated() {
                let cpuStart = Clock.processCPUSeconds()
                let start = Clock.now()
                switch phase {
                case .inflate: bytes = try readRaw()
                case .parse: counts[i] = try parse(tokenise: false)
                case .twoPass: counts[i] = try parse(tokenise: true)
                case .tokenise: counts[i] = try parseTokens()
                }
                times[i].append(Clock.now() - start)
                cpu[i].append(Clock.processCPUSeconds() - cpuStart)
                peaks[i] = max(peaks[i], ProcessMemory.peakResidentBytes())
            }
        }
        if !selected.contains(.inflate) { bytes = try readRaw() }
        let parsing = selected.indices.filter { selected[$0] != .inflate }
        if let first = parsing.first, parsing.contains(where: { counts[$0] != counts[first] }) {
            throw ValidationError("\(file): the phases read different records/residues: "
                + parsing.map { "\(selected[$0].rawValue) \(counts[$0])" }.joined(separator: ", "))
        }
        let rawSeconds = selected.firstIndex(of: .inflate).map { Clock.median(times[$0]) }
        let phases = selected.indices.map { i in
            Phase(name: selected[i].rawValue, seconds: Clock.median(times[i]), bytes: bytes,
                  residues: counts[i].residues, records: counts[i].records, peakRSS: peaks[i],
                  cpuSeconds: Clock.median(cpu[i]))
        }
        switch format {
        case .text:
            print("phase\tseconds\tMB/s\tresidues/s\trecords\tpeak_rss_MB\tvs_inflate\tcpu_seconds\tMB/cpu_s")
            for p in phases {
                print([p.name, String(format2: p.seconds), String(format2: Double(p.bytes) / p.seconds / 1e6),
                       String(format2: Double(p.residues) / p.seconds / 1e6) + "M", "\(p.records)",
                       String(format2: Double(p.peakRSS) / 1e6), rawSeconds.map { String(format2: p.seconds / $0) } ?? "-",
                       String(format2: p.cpuSeconds), String(format2: Double(p.bytes) / p.cpuSeconds / 1e6)]
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
                    ("ratio_to_inflate", rawSeconds.map { JSONText.number(p.seconds / $0) } ?? "null"),
                    ("cpu_seconds", JSONText.number(p.cpuSeconds)),
                    ("mb_per_cpu_s", JSONText.number(Double(p.bytes) / p.cpuSeconds / 1e6)),
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

    /// The fused path: records parsed and tokenised in one pass into one reused buffer.
    private func parseTokens() throws -> (records: Int, residues: Int) {
        let reader = try SequenceReader(path: file, integrity: .lenient)
        let tokenizer = Tokenizer()
        var ids = [TokenID]()
        ids.reserveCapacity(1 << 16)
        var records = 0, residues = 0
        while let info = try reader.nextTokens(into: &ids, tokenizer: tokenizer) {
            records += 1
            residues += info.length
        }
        return (records, residues)
    }
}
