#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import PerformerModel
import ProteinIO

/// `protein-tool bench train`: training-step throughput and peak memory of the model.
struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Measure training (or forward-only) tokens/s, peak RSS and FLOP utilisation per kernel, objective and shape.",
        discussion: """
            One step = zero gradients, forward, weighted cross-entropy, backward, global-norm clipping and an
            AdamW update, on random residue tokens (MLM: 15 % of positions are targets; causal: all), so the
            data pipeline is not timed. Each (kernel, objective, shape) runs in a fresh child process: --warmup
            untimed steps, then --steps timed steps; the median step time is reported.

            --forward-only times the forward pass and the weighted cross-entropy alone (no backward, no
            clipping, no optimizer; the gradient buffers are still allocated): the throughput the inference
            commands (score, similarity) are compared with.

            tokens_per_s = batch × length / median step seconds. peak_rss_bytes is the child's peak resident
            set size (getrusage ru_maxrss: everything the process touched, binary and libraries included).
            model_flops counts the matrix products of one step (forward 1×, backward 2×: projections, FFN,
            LM head, random-feature maps and the attention contraction; elementwise work not counted; with
            --forward-only the forward 1× alone);
            utilisation = (model_flops / step seconds) / the sgemm rate (n = 1024) measured at the start of
            the same run.

            JSON: an array of objects with keys kernel, objective, length, batch, seconds_per_step,
            tokens_per_s, peak_rss_bytes, model_gflops_per_step, gflops_per_s, utilisation, sgemm_gflops,
            parameters, load_average, forward_only (and error when the child failed).
            """
    )

    @Option(name: .long, parsing: .upToNextOption, help: "Kernels: favor-relu, favor-softmax, exact (comma or space separated).")
    var kernels: [String] = ["favor-relu", "favor-softmax", "exact"]

    @Option(name: .long, parsing: .upToNextOption, help: "Objectives: mlm, causal.")
    var objectives: [String] = ["mlm", "causal"]

    @Option(name: .long, parsing: .upToNextOption, help: "Shapes LENGTHxBATCH, e.g. 1024x8,8192x1.")
    var shapes: [String] = ["1024x8", "8192x1"]

    @OptionGroup(title: "Model") var shape: ModelShapeOptions

    @Option(help: "Timed steps per configuration (median reported).")
    var steps: Int = 3

    @Option(help: "Untimed warm-up steps.")
    var warmup: Int = 1

    @Option(help: "Output format: text or json.")
    var format: BenchFormat = .text

    @Flag(help: "Time only the forward pass and the loss (no backward, no optimizer step).")
    var forwardOnly = false

    @Option(help: ArgumentHelp(
        "Batch workers: windows split over this many workers, one per core, each with single-threaded OpenBLAS (1 = one pass over the whole batch, its rows shared among the cores). Default: as train, min(batch, OpenBLAS threads).",
        valueName: "n"))
    var workers: Int?

    @Flag(help: "Compute every position's logits in the loss (by default the loss computes only the target positions' logits, and the last block's output side runs on those rows).")
    var allLogits = false

    @Flag(help: .hidden) var child = false

    func validate() throws {
        if steps < 1 { throw ValidationError("--steps must be at least 1") }
        if warmup < 0 { throw ValidationError("--warmup must be ≥ 0") }
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1") }
        _ = try parsedKernels()
        _ = try parsedObjectives()
        _ = try parsedShapes()
    }

    func parsedKernels() throws -> [AttentionKind] {
        try BenchList.modelKernels(kernels)
    }

    func parsedObjectives() throws -> [Objective] {
        try BenchList.items(objectives).map {
            guard let objective = Objective(rawValue: $0) else { throw ValidationError("unknown objective '\($0)' (mlm, causal)") }
            return objective
        }
    }

    func parsedShapes() throws -> [(length: Int, batch: Int)] {
        try BenchList.items(shapes).map { text in
            let parts = text.split(separator: "x")
            guard parts.count == 2, let length = Int(parts[0]), let batch = Int(parts[1]), length >= 3, batch >= 1 else {
                throw ValidationError("bad shape '\(text)': expected LENGTHxBATCH, e.g. 1024x8")
            }
            return (length, batch)
        }
    }

    func run() throws {
        if child {
            try runChild()
            return
        }
        let sgemm = BenchTrain.sgemmRate()
        var rows: [String] = []
        if format == .text {
            print("sgemm n=1024: \(String(format2: sgemm)) GFLOP/s" + (forwardOnly ? "; forward + loss only" : ""))
            print("kernel\tobjective\tlength\tbatch\ts/step\ttokens/s\tpeak RSS MB\tGFLOP/s\tutilisation")
        }
        for (length, batch) in try parsedShapes() {
            for objective in try parsedObjectives() {
                for kernel in try parsedKernels() {
                    var arguments = ["bench", "train", "--child", "--kernels", kernel.rawValue, "--objectives", objective.rawValue,
                                     "--shapes", "\(length)x\(batch)", "--steps", String(steps), "--warmup", String(warmup),
                                     "--preset", shape.preset.rawValue]
                    if forwardOnly { arguments.append("--forward-only") }
                    if let workers { arguments += ["--workers", String(workers)] }
                    if allLogits { arguments.append("--all-logits") }
                    for (flag, value) in [("--dim", shape.dim), ("--layers", shape.layers), ("--heads", shape.heads),
                                          ("--features", shape.features), ("--ffn-dim", shape.ffnDim)] {
                        if let value { arguments += [flag, String(value)] }
                    }
                    let result = ChildProcess.run(arguments: arguments)
                    let line = result.standardOutput.split(separator: "\n").last { $0.hasPrefix(BenchTrain.linePrefix) }
                    let base: [(String, String)] = [
                        ("kernel", JSONText.string(kernel.rawValue)), ("objective", JSONText.string(objective.rawValue)),
                        ("length", JSONText.number(length)), ("batch", JSONText.number(batch)),
                    ]
                    guard result.failure == nil, let line,
                          let values = BenchTrain.parse(String(line.dropFirst(BenchTrain.linePrefix.count)))
                    else {
                        let why = result.failure ?? "no result line"
                        rows.append(JSONText.object(base + [("error", JSONText.string(why))]))
                        if format == .text { print("\(kernel.rawValue)\t\(objective.rawValue)\t\(length)\t\(batch)\tfailed: \(why)") }
                        continue
                    }
                    let seconds = values["seconds"] ?? .nan
                    let flops = values["flops"] ?? .nan
                    let rate = flops / seconds / 1e9
                    rows.append(JSONText.object(base + [
                        ("seconds_per_step", JSONText.number(seconds)),
                        ("tokens_per_s", JSONText.number(Double(length * batch) / seconds)),
                        ("peak_rss_bytes", JSONText.number(values["peak"] ?? .nan)),
                        ("model_gflops_per_step", JSONText.number(flops / 1e9)),
                        ("gflops_per_s", JSONText.number(rate)),
                        ("utilisation", JSONText.number(rate / sgemm)),
                        ("sgemm_gflops", JSONText.number(sgemm)),
                        ("parameters", JSONText.number(values["parameters"] ?? .nan)),
                        ("load_average", JSONText.number(values["load"] ?? .nan)),
                        ("forward_only", forwardOnly ? "true" : "false"),
                    ]))
                    if format == .text {
                        print("\(kernel.rawValue)\t\(objective.rawValue)\t\(length)\t\(batch)\t\(String(format: "%.3f", seconds))\t"
                              + "\(Int(Double(length * batch) / seconds))\t\(Int((values["peak"] ?? 0) / 1e6))\t"
                              + "\(String(format2: rate))\t\(String(format: "%.2f", rate / sgemm))")
                    }
                }
            }
        }
        if format == .json { print(JSONText.array(rows)) }
    }

    static let linePrefix = "train-child-result "

    static func parse(_ text: String) -> [String: Double]? {
        var values: [String: Double] = [:]
        for field in text.split(separator: " ") {
            let parts = field.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let value = Double(parts[1]) else { return nil }
            values[String(parts[0])] = value
        }
        return values
    }

    /// The n = 1024 sgemm rate in GFLOP/s (median of 5 after a warm-up).
    static func sgemmRate(n: Int = 1024) -> Double {
        let a = Tensor(shape: [n, n]), b = Tensor(shape: [n, n]), c = Tensor(shape: [n, n])
        a.buffer.update(repeating: 0.5)
        b.buffer.update(repeating: 0.25)
        func product() { BLAS.sgemm(m: n, n: n, k: n, a: a.data, lda: n, b: b.data, ldb: n, c: c.data, ldc: n) }
        product()
        var times: [Double] = []
        for _ in 0..<5 {
            let start = Clock.now()
            product()
            times.append(Clock.now() - start)
        }
        return 2 * Double(n * n * n) / Clock.median(times) / 1e9
    }

    /// Matrix-product FLOPs of one training step (forward + backward ≈ 3 × forward), or of the
    /// forward alone when `forwardOnly`.
    static func stepFlops(_ c: PerformerConfiguration, length: Int, batch: Int, forwardOnly: Bool = false) -> Double {
        let tokens = Double(length * batch)
        let d = Double(c.dim), f = Double(c.ffnDim), v = Double(c.vocabSize)
        let h = Double(c.heads), dh = Double(c.headDim), m = Double(c.features), l = Double(length)
        var perLayer = 2 * 4 * d * d + 2 * 2 * d * f  // q, k, v, o projections; FFN
        switch c.attention {
        case .favorRelu, .favorSoftmax:
            // feature maps of q and k (2·dh·m each), then K′ᵀV and Q′(K′ᵀV) with the normaliser column.
            perLayer += h * (2 * 2 * dh * m + 2 * 2 * m * (dh + 1))
            if c.causal {
                let chunk = Double(CausalLinearAttention.defaultChunk)
                perLayer += h * (2 * chunk * m + 2 * chunk * (dh + 1))  // the masked in-chunk products
            }
        case .exact:
            perLayer += h * 2 * 2 * l * dh * (c.causal ? 0.5 : 1)
        case .identity:
            break
        }
        let forward = tokens * (Double(c.layers) * perLayer + 2 * d * v)
        return forwardOnly ? forward : 3 * forward
    }

    /// The child: builds the model, runs the steps, prints one result line.
    func runChild() throws {
        guard let kind = try parsedKernels().first, let objective = try parsedObjectives().first,
              let (length, batch) = try parsedShapes().first
        else { throw ValidationError("the child needs one kernel, objective and shape") }
        let load = ProcessLoad.oneMinuteAverage()
        var shapeOptions = shape
        shapeOptions.attention = kind
        shapeOptions.objective = objective
        let configuration = try shapeOptions.configuration()
        let model = PerformerLM(configuration: configuration, seed: 1)
        model.outputRowPruning = !allLogits
        let workers = BatchWorkers(
            model: model, batch: batch, length: length,
            workers: self.workers ?? BatchWorkers.automaticWorkers(batch: batch))
        var generator = SeededGenerator(seed: 7)
        let count = batch * length
        var tokens = [TokenID](repeating: 0, count: count)
        var targets = tokens
        var weights = [Float](repeating: 0, count: count)
        for i in 0..<count {
            tokens[i] = Alphabet.firstResidue + TokenID(generator.nextInt(below: Alphabet.standardResidueCount))
            targets[i] = Alphabet.firstResidue + TokenID(generator.nextInt(below: Alphabet.standardResidueCount))
            weights[i] = objective == .causal || generator.nextDouble() < 0.15 ? 1 : 0
        }
        let optimizer = forwardOnly ? nil : AdamW(parameterCount: model.parameters.count)
        let decay = model.parameters.decayRanges
        func step() {
            guard let optimizer else {
                _ = workers.loss(tokens: tokens, targets: targets, weights: weights)
                return
            }
            model.parameters.zeroGradients()
            _ = workers.lossAndGradients(tokens: tokens, targets: targets, weights: weights)
            GradientClipping.clip(model.parameters.gradients.data, count: model.parameters.count, maxNorm: 1)
            optimizer.step(values: model.parameters.values.data, gradients: model.parameters.gradients.data,
                           count: model.parameters.count, learningRate: 1e-4, decayMask: decay)
        }
        for _ in 0..<warmup { step() }
        var times: [Double] = []
        for _ in 0..<steps {
            let start = Clock.now()
            step()
            times.append(Clock.now() - start)
        }
        let flops = BenchTrain.stepFlops(configuration, length: length, batch: batch, forwardOnly: forwardOnly)
        print(BenchTrain.linePrefix + "seconds=\(Clock.median(times)) peak=\(ProcessMemory.peakResidentBytes()) "
              + "flops=\(flops) parameters=\(model.parameters.count) load=\(load) workers=\(workers.workerCount)")
    }
}
