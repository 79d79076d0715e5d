import ArgumentParser
import PerformerModel
import ProteinIO

#if canImport(Glibc)
import Glibc
#endif

/// `protein-tool bench attention`: forward+backward time and peak memory of the attention kernels
/// for each kernel × length (× direction), every configuration measured in its own child process.
struct BenchAttention: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention",
        abstract: "Time forward+backward and measure peak memory of the attention kernels.",
        discussion: """
            For every kernel × length (× direction) the tool re-runs its own executable \
            (/proc/self/exe) as a fresh child process that measures exactly one configuration, so \
            memory is never shared between configurations. The child draws Q, K, V and dOut \
            (N(0, 1), shape [batch, heads, length, head-dim]), runs one untimed warm-up step, then \
            --repeats timed steps of forward, then backward (gradients zeroed outside the timed \
            region), and reports the median forward, backward and forward+backward times.

            peak memory = the child's peak RSS (getrusage ru_maxrss) minus the child's RSS before it \
            allocated the inputs. It therefore counts Q, K, V, out, dOut, dQ, dK, dV, the kernel's \
            saved tensors and scratch, and OpenBLAS/thread buffers touched during the run.

            Exact attention at lengths above --max-exact-length is skipped (and reported as \
            skipped). Default threading is the kernel's: (batch·head) slices on min(cores, slices) \
            workers with single-threaded OpenBLAS inside each (--workers overrides it).
            """
    )

    @Option(name: .long, parsing: .upToNextOption,
            help: "Kernels (comma or space separated): exact, favor-softmax, favor-relu, identity.")
    var kernels: [String] = AttentionKind.allCases.map(\.rawValue)

    @Option(name: .long, parsing: .upToNextOption, help: "Sequence lengths L (comma or space separated).")
    var lengths: [String] = ["512", "1024", "2048", "4096", "8192", "16384", "32768"]

    @Flag(name: .long, help: "Causal (unidirectional) attention only.")
    var causal = false

    @Flag(name: .long, help: "Run every configuration bidirectional and causal.")
    var bothDirections = false

    @Option(name: .long, help: "Batch size B.")
    var batch: Int = 1

    @Option(name: .long, help: "Attention heads H.")
    var heads: Int = 4

    @Option(name: .long, help: "Head dimension d.")
    var headDim: Int = 64

    @Option(name: .long, help: "Random features m (FAVOR kernels).")
    var features: Int = 256

    @Option(name: .long, help: "Timed repeats per configuration (after one warm-up); the median is reported.")
    var repeats: Int = 5

    @Option(name: .long, help: "Skip exact attention above this length.")
    var maxExactLength: Int = 16384

    @Option(name: .long, help: "Slice workers: 0 = the kernel's default, 1 = serial (OpenBLAS threads each GEMM), n = n workers.")
    var workers: Int = 0

    @Option(name: .long, help: "Chunk size of the causal FAVOR contraction.")
    var chunk: Int = CausalLinearAttention.defaultChunk

    @Option(name: .long, help: "Seed for the inputs and the random features.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Output format: text or json.")
    var format: BenchFormat = .text

    @Option(name: .long, help: ArgumentHelp("Also write the JSON rows to this file (whatever --format is).",
                                            valueName: "path"))
    var jsonOutput: String?

    @Flag(name: .long, help: ArgumentHelp(
        "Profile instead: split the FAVOR kernels' forward+backward into feature maps and contraction "
            + "phases (one thread, one slice at a time, in this process; other kernels are left out). "
            + "The kernel interleaves the two backward phases block by block; here they run whole, one after the other."))
    var phases = false

    /// Internal: measure exactly one configuration in this process and print one result line.
    @Flag(name: .long, help: ArgumentHelp(visibility: .private))
    var child = false

    func validate() throws {
        if causal && bothDirections {
            throw ValidationError("--causal and --both-directions cannot be combined")
        }
        for (value, flag, minimum) in [(batch, "--batch", 1), (heads, "--heads", 1), (headDim, "--head-dim", 1),
                                       (features, "--features", 1), (repeats, "--repeats", 1),
                                       (maxExactLength, "--max-exact-length", 1), (workers, "--workers", 0),
                                       (chunk, "--chunk", 1)] where value < minimum {
            throw ValidationError("\(flag) must be at least \(minimum), got \(value)")
        }
        let kinds = try parsedKernels()
        let ls = try parsedLengths()
        if child && (kinds.count != 1 || ls.count != 1 || bothDirections) {
            throw ValidationError("--child measures one kernel, one length and one direction")
        }
    }

    func parsedKernels() throws -> [AttentionKind] {
        let names = BenchList.items(kernels)
        guard !names.isEmpty else { throw ValidationError("--kernels needs at least one value") }
        return try names.map { name in
            guard let kind = AttentionKind(rawValue: name) else {
                let known = AttentionKind.allCases.map(\.rawValue).joined(separator: ", ")
                throw ValidationError("--kernels: unknown kernel '\(name)' (expected one of \(known))")
            }
            return kind
        }
    }

    func parsedLengths() throws -> [Int] {
        try BenchList.integers(lengths, flag: "--lengths", minimum: 1)
    }

    var directions: [Bool] { bothDirections ? [false, true] : [causal] }

    func configuration(kind: AttentionKind, length: Int, causal: Bool) -> AttentionBenchConfiguration {
        AttentionBenchConfiguration(
            kind: kind, causal: causal, batch: batch, heads: heads, length: length, headDim: headDim,
            features: features, repeats: repeats, workers: workers, chunk: chunk, seed: seed)
    }

    func run() throws {
        let kinds = try parsedKernels()
        let ls = try parsedLengths()
        if child {
            let result = configuration(kind: kinds[0], length: ls[0], causal: causal).measure()
            print(result.childLine)
            return
        }
        if phases {
            runPhases(kinds: kinds.filter(\.usesRandomFeatures), lengths: ls)
            return
        }
        // Fail on an unwritable --json-output before minutes of measuring, not after.
        if let jsonOutput { try writeText("", toPath: jsonOutput) }
        var rows: [AttentionBenchRow] = []
        let planned = kinds.count * ls.count * directions.count
        // Measure length by length (all kernels and directions at one length, then the next), so
        // the kernels compared at a length run close together in time on a shared machine; print
        // kernel by kernel.
        for length in ls {
            for isCausal in directions {
                for kind in kinds {
                    let config = configuration(kind: kind, length: length, causal: isCausal)
                    let row: AttentionBenchRow
                    if kind == .exact && length > maxExactLength {
                        row = AttentionBenchRow(
                            configuration: config, measurement: nil,
                            note: "skipped: exact attention at L = \(length) > --max-exact-length \(maxExactLength)")
                    } else {
                        row = config.measureInChildProcess()
                    }
                    rows.append(row)
                    printProgress(index: rows.count, of: planned, row: row)
                }
            }
        }
        rows = kinds.flatMap { kind in
            directions.flatMap { isCausal in
                ls.compactMap { length in
                    rows.first { $0.configuration.kind == kind && $0.configuration.causal == isCausal
                        && $0.configuration.length == length }
                }
            }
        }
        let json = JSONText.array(rows.map(\.json))
        switch format {
        case .text: print(textTable(rows))
        case .json: print(json)
        }
        if let jsonOutput { try writeText(json + "\n", toPath: jsonOutput) }
        if let failed = rows.first(where: { $0.failed }) {
            throw BenchError("\(rows.filter(\.failed).count) configuration(s) failed; first: \(failed.label): \(failed.note ?? "")")
        }
    }

    /// `--phases`: one line per FAVOR kernel × direction × length with the median time of each phase.
    func runPhases(kinds: [AttentionKind], lengths ls: [Int]) {
        var lines = [
            "FAVOR phases, single thread (OpenBLAS 1 thread), one slice at a time, summed over \(batch * heads) "
                + "slices, median of \(repeats): batch \(batch), heads \(heads), head-dim \(headDim), features \(features)",
            (["kernel", "dir", "L"] + AttentionPhaseTimes.names.map { $0 + " ms" } + ["total ms", "contraction %"])
                .joined(separator: "\t"),
        ]
        var json: [String] = []
        for kind in kinds {
            for isCausal in directions {
                for length in ls {
                    let config = configuration(kind: kind, length: length, causal: isCausal)
                    let times = config.measurePhases()
                    printToStandardError("\(config.label): \(String(format2: times.total * 1000)) ms single-threaded")
                    let contraction = (times.seconds[1] + times.seconds[2]) / times.total
                    lines.append(([kind.rawValue, isCausal ? "causal" : "bi", String(length)]
                        + times.seconds.map { String(format2: $0 * 1000) }
                        + [String(format2: times.total * 1000), String(format2: 100 * contraction)])
                        .joined(separator: "\t"))
                    json.append(JSONText.object([
                        ("kernel", JSONText.string(kind.rawValue)), ("causal", isCausal ? "true" : "false"),
                        ("length", JSONText.number(length)),
                        ("features_forward_seconds", JSONText.number(times.seconds[0])),
                        ("contraction_forward_seconds", JSONText.number(times.seconds[1])),
                        ("contraction_backward_seconds", JSONText.number(times.seconds[2])),
                        ("features_backward_seconds", JSONText.number(times.seconds[3])),
                        ("total_seconds", JSONText.number(times.total)),
                        ("heads", JSONText.number(heads)), ("features", JSONText.number(features)),
                    ]))
                }
            }
        }
        switch format {
        case .text: print(lines.joined(separator: "\n"))
        case .json: print(JSONText.array(json))
        }
    }

    private func writeText(_ text: String, toPath path: String) throws {
        guard let file = fopen(path, "w") else {
            throw BenchError("--json-output: cannot open '\(path)' for writing (errno \(errno))")
        }
        let written = text.utf8CString.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count - 1, file) }
        guard fclose(file) == 0, written == text.utf8.count else {
            throw BenchError("--json-output: cannot write '\(path)'")
        }
    }

    private func printProgress(index: Int, of total: Int, row: AttentionBenchRow) {
        var line = "[\(index)/\(total)] \(row.label): "
        if let m = row.measurement {
            line += "\(String(format2: m.seconds * 1000)) ms, peak \(String(format2: Double(m.peakBytes) / 1048576)) MiB, "
                + "load \(String(format2: m.loadAverage))"
        } else {
            line += row.note ?? ""
        }
        printToStandardError(line)
    }

    /// One line per configuration, plus two columns derived from this run: the ratio to the same
    /// kernel at half the length, and exact attention's time divided by this kernel's.
    func textTable(_ rows: [AttentionBenchRow]) -> String {
        var lines = [
            "attention forward+backward: batch \(batch), heads \(heads), head-dim \(headDim), features \(features) (FAVOR), "
                + "median of \(repeats) after 1 warm-up, workers \(workers == 0 ? "default" : String(workers))",
            "peak MiB = child peak RSS − child RSS before allocating inputs; ×L/2 = time / time at half the length; "
                + "exact÷ = exact time / this time (same direction and length)",
            ["kernel", "dir", "L", "fwd+bwd ms", "fwd ms", "bwd ms", "×L/2", "exact÷", "peak MiB", "tokens/s"]
                .joined(separator: "\t"),
        ]
        func time(_ kind: AttentionKind, _ causal: Bool, _ length: Int) -> Double? {
            rows.first { $0.configuration.kind == kind && $0.configuration.causal == causal
                && $0.configuration.length == length }?.measurement?.seconds
        }
        for row in rows {
            let c = row.configuration
            var fields = [c.kind.rawValue, c.causal ? "causal" : "bi", String(c.length)]
            guard let m = row.measurement else {
                lines.append((fields + [row.note ?? ""]).joined(separator: "\t"))
                continue
            }
            let half = c.length % 2 == 0 ? time(c.kind, c.causal, c.length / 2) : nil
            let exact = time(.exact, c.causal, c.length)
            fields += [
                String(format2: m.seconds * 1000), String(format2: m.forwardSeconds * 1000),
                String(format2: m.backwardSeconds * 1000),
                half.map { String(format2: m.seconds / $0) } ?? "-",
                exact.map { String(format2: $0 / m.seconds) } ?? "-",
                String(format2: Double(m.peakBytes) / 1048576),
                String(Int((Double(c.batch * c.length) / m.seconds).rounded())),
            ]
            lines.append(fields.joined(separator: "\t"))
        }
        return lines.joined(separator: "\n")
    }
}

/// A benchmark failure at run time, printed by the argument parser as one line ("Error: …").
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
