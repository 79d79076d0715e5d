import ArgumentParser
import PerformerModel
import ProteinIO

/// `protein-tool bench generate`: the cost of one residue in RNN-mode generation (`Generator.step`)
/// at several positions, per kernel — flat in the position for FAVOR, growing for exact attention's
/// key/value cache.
struct BenchGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Measure generation cost per residue (RNN mode) at several positions, per kernel.",
        discussion: """
            For every kernel a causal model with random weights (--seed) is built from the model shape \
            options (as in bench train; --attention and --objective are ignored: the kernel comes from \
            --kernels and the model is always causal), wrapped in a Generator, and stepped one token at a \
            time through a fixed stream: <cls>, then standard residues drawn uniformly with --seed. Every \
            step(token) is timed (monotonic wall clock) up to the largest of --positions; sampling is not \
            timed (the stream is fixed), only the model's step.

            For each position P (sorted ascending): us_per_step = the median wall time of the --block \
            consecutive steps ending at P (the steps that consume tokens P − block + 1 … P, leaving the \
            generator at position P), min_us_per_step their minimum; ratio_to_first = us_per_step at P / \
            us_per_step at the first position of the same kernel (flat in length: ≈ 1); state_bytes = the \
            generator's running state at P (FAVOR: layers·heads·m·(head-dim + 1) floats, constant; exact: \
            the key/value cache, 2·layers·P·dim floats).

            Exact attention is stepped only up to the largest position ≤ --max-exact-position; larger \
            positions are reported as skipped. The kernels run one after the other in this process, with \
            the OpenBLAS thread count it was started with (OPENBLAS_NUM_THREADS); load_average is the \
            1-minute load average when the kernel's stream started.

            JSON: an array of objects with keys kernel, position, block, us_per_step, min_us_per_step, \
            ratio_to_first, state_bytes, load_average, dim, layers, heads, features, ffn_dim, parameters, \
            blas_threads, seed (features is 0 for exact; skipped, with null timings, marks a skipped position).
            """
    )

    @Option(name: .long, parsing: .upToNextOption, help: "Kernels: favor-relu, favor-softmax, exact (comma or space separated).")
    var kernels: [String] = ["favor-relu", "favor-softmax", "exact"]

    @Option(name: .long, parsing: .upToNextOption, help: "Positions P at which the cost per step is reported (each ≥ --block).")
    var positions: [String] = ["1024", "16384"]

    @Option(help: "Steps per reported median: the block of steps ending at each position.")
    var block: Int = 256

    @Option(name: .long, help: "Step exact attention (key/value cache) only up to this position.")
    var maxExactPosition: Int = 16384

    @OptionGroup(title: "Model") var shape: ModelShapeOptions

    @Option(help: "Seed of the random weights, random features and token stream.")
    var seed: UInt64 = 1

    @Option(help: "Output format: text or json.")
    var format: BenchFormat = .text

    func validate() throws {
        if block < 1 { throw ValidationError("--block must be at least 1, got \(block)") }
        if maxExactPosition < 1 { throw ValidationError("--max-exact-position must be at least 1, got \(maxExactPosition)") }
        _ = try parsedKernels()
        for position in try parsedPositions() where position < block {
            throw ValidationError("--positions: \(position) is smaller than --block \(block) (a position needs a whole block of steps ending at it)")
        }
        _ = try shape.configuration()
    }

    func parsedKernels() throws -> [AttentionKind] {
        try BenchList.modelKernels(kernels)
    }

    /// The positions, sorted ascending, without repeats.
    func parsedPositions() throws -> [Int] {
        Array(Set(try BenchList.integers(positions, flag: "--positions", minimum: 1))).sorted()
    }

    /// One reported position of one kernel; `seconds` is nil when it was skipped.
    struct Row {
        var kernel: AttentionKind
        var position: Int
        var seconds: Double?
        var minSeconds: Double?
        var ratio: Double?
        var stateBytes: Int?
        var load: Double
        var parameters: Int
        var note: String?
    }

    func run() throws {
        let allPositions = try parsedPositions()
        var base = try shape.configuration()
        base.causal = true
        let threads = BLAS.threads
        var rows: [Row] = []
        for kind in try parsedKernels() {
            var c = base
            c.attention = kind
            let model = PerformerLM(configuration: c, seed: seed)
            let measured = kind == .exact ? allPositions.filter { $0 <= maxExactPosition } : allPositions
            let load = ProcessLoad.oneMinuteAverage()
            let start = Clock.now()
            let results = try measure(model: model, positions: measured)
            printToStandardError("\(kind.rawValue): \(measured.last ?? 0) steps in \(String(format2: Clock.now() - start)) s, "
                                 + "load \(String(format2: load))")
            let first = results.first?.median
            for position in allPositions {
                if let r = results.first(where: { $0.position == position }) {
                    rows.append(Row(kernel: kind, position: position, seconds: r.median, minSeconds: r.min,
                                    ratio: first.map { r.median / $0 }, stateBytes: r.stateBytes, load: load,
                                    parameters: model.parameters.count))
                } else {
                    rows.append(Row(kernel: kind, position: position, load: load, parameters: model.parameters.count,
                                    note: "skipped: exact attention at position \(position) > --max-exact-position \(maxExactPosition)"))
                }
            }
        }
        switch format {
        case .text: print(textTable(rows, configuration: base, threads: threads))
        case .json: print(JSONText.array(rows.map { json($0, configuration: base, threads: threads) }))
        }
    }

    /// Steps a generator of `model` through the seeded token stream up to the last of `positions`
    /// (ascending), timing every step; returns, per position, the median and minimum step time of
    /// the `block` steps ending there and the state size there.
    func measure(model: PerformerLM, positions: [Int]) throws -> [(position: Int, median: Double, min: Double, stateBytes: Int)] {
        guard let last = positions.last else { return [] }
        let generator = try Generator(model: model)
        var random = SeededGenerator(seed: seed)
        var times = [Double](repeating: 0, count: last)  // times[i]: the step that consumed token i
        var stateBytes: [Int: Int] = [:]
        for i in 0..<last {
            let token = i == 0 ? Alphabet.cls
                : Alphabet.firstResidue + TokenID(random.nextInt(below: Alphabet.standardResidueCount))
            let start = Clock.now()
            generator.step(token)
            times[i] = Clock.now() - start
            if positions.contains(generator.position) { stateBytes[generator.position] = generator.stateByteCount }
        }
        return positions.map { position in
            let window = Array(times[(position - block)..<position])
            return (position, Clock.median(window), window.min() ?? .nan, stateBytes[position] ?? 0)
        }
    }

    func textTable(_ rows: [Row], configuration c: PerformerConfiguration, threads: Int) -> String {
        var lines = [
            "generate (RNN mode), random causal weights: dim \(c.dim), \(c.layers) layers × \(c.heads) heads, m \(c.features) (FAVOR), "
                + "ffn \(c.ffnDim), \(rows.first?.parameters ?? 0) parameters; seed \(seed), OpenBLAS threads \(threads)",
            "µs/step = median wall time of one step over the \(block) steps ending at the position; "
                + "×first = µs/step / µs/step at the kernel's first position",
            ["kernel", "position", "µs/step", "min µs", "×first", "state KiB", "load"].joined(separator: "\t"),
        ]
        for row in rows {
            var fields = [row.kernel.rawValue, String(row.position)]
            guard let seconds = row.seconds else {
                lines.append((fields + [row.note ?? ""]).joined(separator: "\t"))
                continue
            }
            fields += [
                String(format2: seconds * 1e6), String(format2: (row.minSeconds ?? .nan) * 1e6),
                row.ratio.map { String(format2: $0) } ?? "-",
                String(format2: Double(row.stateBytes ?? 0) / 1024), String(format2: row.load),
            ]
            lines.append(fields.joined(separator: "\t"))
        }
        return lines.joined(separator: "\n")
    }

    func json(_ row: Row, configuration c: PerformerConfiguration, threads: Int) -> String {
        var fields: [(String, String)] = [
            ("kernel", JSONText.string(row.kernel.rawValue)), ("position", JSONText.number(row.position)),
            ("block", JSONText.number(block)),
            ("us_per_step", row.seconds.map { JSONText.number($0 * 1e6) } ?? "null"),
            ("min_us_per_step", row.minSeconds.map { JSONText.number($0 * 1e6) } ?? "null"),
            ("ratio_to_first", row.ratio.map { JSONText.number($0) } ?? "null"),
            ("state_bytes", row.stateBytes.map { JSONText.number($0) } ?? "null"),
            ("load_average", JSONText.number(row.load)),
            ("dim", JSONText.number(c.dim)), ("layers", JSONText.number(c.layers)), ("heads", JSONText.number(c.heads)),
            ("features", JSONText.number(row.kernel.usesRandomFeatures ? c.features : 0)),
            ("ffn_dim", JSONText.number(c.ffnDim)), ("parameters", JSONText.number(row.parameters)),
            ("blas_threads", JSONText.number(threads)),
            ("seed", String(seed)),
        ]
        if let note = row.note { fields.append(("skipped", JSONText.string(note))) }
        return JSONText.object(fields)
    }
}
