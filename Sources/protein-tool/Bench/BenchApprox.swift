import ArgumentParser
import PerformerModel
import ProteinIO

#if canImport(Glibc)
import Glibc
#endif

/// `protein-tool bench approx`: how well random-feature attention approximates exact softmax
/// attention, as a function of the number of random features m, for positive (FAVOR+) and
/// trigonometric features with orthogonal and iid random matrices (Choromanski et al. 2021, §4.1).
struct BenchApprox: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approx",
        abstract: "Approximation error of FAVOR attention vs exact softmax attention, by feature count.",
        discussion: """
            One fixed input (Q, K with N(0, input-std²) entries, V with N(0, 1) entries, shape \
            [length, head-dim], drawn from --data-seed) and, for every feature map × distribution × \
            m, --seeds independent random matrices W (seeds 1…n). Two errors against exact softmax \
            attention computed in Double:

              output MSE  = mean over the L·d entries of (out_approx − out_exact)²
              matrix MSE  = mean over the L² entries of (A_approx − A_exact)², where A is the \
            row-normalised attention matrix (A_approx_ij = φ(q_i)·φ(k_j) / Σ_j φ(q_i)·φ(k_j)).

            Reported: mean ± sample standard deviation over the seeds, the median, and per m the \
            ratio orthogonal/iid of the mean output MSE with Welch's t statistic (t < −2: orthogonal \
            clearly lower). positive = the library's favor-softmax kernel as used in training \
            (stabilised, ε = 1e-6 on queries); trig = exp(‖x‖²/2)/√m·[sin Wx, cos Wx], so m random \
            vectors give 2m features.
            """
    )

    @Option(name: .long, help: "Sequence length L.")
    var length: Int = 1024

    @Option(name: .long, help: "Head dimension d.")
    var headDim: Int = 16

    @Option(name: .long, parsing: .upToNextOption, help: "Numbers of random vectors m (comma or space separated).")
    var features: [String] = ["16", "32", "64", "128", "256"]

    @Option(name: .long, help: "Independent random matrices per cell.")
    var seeds: Int = 15

    @Option(name: .long, parsing: .upToNextOption, help: "Feature maps: positive, trig.")
    var maps: [String] = ["positive", "trig"]

    @Option(name: .long, parsing: .upToNextOption,
            help: "Random-matrix distributions: orthogonal, iid, orthogonal-sqrt-d.")
    var distributions: [String] = ["orthogonal", "iid"]

    @Option(name: .long, help: "Standard deviation of the query and key entries (logits q·k/√d then have std input-std²).")
    var inputStd: Double = 1

    @Option(name: .long, help: "Seed for Q, K, V.")
    var dataSeed: UInt64 = 0

    @Option(name: .long, help: "Output format: text or json.")
    var format: BenchFormat = .text

    enum FeatureMap: String, CaseIterable {
        case positive, trig
    }

    func validate() throws {
        for (value, flag) in [(length, "--length"), (headDim, "--head-dim"), (seeds, "--seeds")] where value < 1 {
            throw ValidationError("\(flag) must be at least 1, got \(value)")
        }
        guard inputStd > 0, inputStd.isFinite else {
            throw ValidationError("--input-std must be a positive number, got \(inputStd)")
        }
        _ = try parsedFeatures()
        _ = try parsedMaps()
        _ = try parsedDistributions()
    }

    func parsedFeatures() throws -> [Int] {
        try BenchList.integers(features, flag: "--features", minimum: 1)
    }

    func parsedMaps() throws -> [FeatureMap] {
        try parsedChoices(maps, flag: "--maps")
    }

    func parsedDistributions() throws -> [RandomFeatureDistribution] {
        try parsedChoices(distributions, flag: "--distributions")
    }

    private func parsedChoices<T: RawRepresentable & CaseIterable>(_ raw: [String], flag: String) throws -> [T]
    where T.RawValue == String {
        let names = BenchList.items(raw)
        guard !names.isEmpty else { throw ValidationError("\(flag) needs at least one value") }
        return try names.map { name in
            guard let value = T(rawValue: name) else {
                let known = T.allCases.map(\.rawValue).joined(separator: ", ")
                throw ValidationError("\(flag): unknown value '\(name)' (expected one of \(known))")
            }
            return value
        }
    }

    /// Errors of one feature map × distribution × m over all seeds.
    struct Cell {
        var map: FeatureMap
        var distribution: RandomFeatureDistribution
        var features: Int
        var outputErrors: [Double]
        var matrixErrors: [Double]
    }

    func run() throws {
        let ms = try parsedFeatures(), featureMaps = try parsedMaps(), dists = try parsedDistributions()
        let problem = ApproxProblem(length: length, headDim: headDim, inputStd: Float(inputStd), seed: dataSeed)
        var cells: [Cell] = []
        for map in featureMaps {
            for distribution in dists {
                for m in ms {
                    var cell = Cell(map: map, distribution: distribution, features: m, outputErrors: [], matrixErrors: [])
                    for s in 1...seeds {
                        let w = RandomFeatures(features: m, headDim: headDim, distribution: distribution, seed: UInt64(s))
                        let (outputError, matrixError) = problem.errors(map: map, randomFeatures: w)
                        cell.outputErrors.append(outputError)
                        cell.matrixErrors.append(matrixError)
                    }
                    cells.append(cell)
                }
            }
        }
        switch format {
        case .text: print(textTable(cells, problem: problem))
        case .json: print(JSONText.array(cells.map(json)))
        }
    }

    func json(_ cell: Cell) -> String {
        let o = Summary(cell.outputErrors), a = Summary(cell.matrixErrors)
        return JSONText.object([
            ("map", JSONText.string(cell.map.rawValue)),
            ("distribution", JSONText.string(cell.distribution.rawValue)),
            ("features", JSONText.number(cell.features)),
            ("feature_columns", JSONText.number(cell.map == .trig ? 2 * cell.features : cell.features)),
            ("output_mse_mean", JSONText.number(o.mean)), ("output_mse_std", JSONText.number(o.std)),
            ("output_mse_median", JSONText.number(o.median)),
            ("matrix_mse_mean", JSONText.number(a.mean)), ("matrix_mse_std", JSONText.number(a.std)),
            ("matrix_mse_median", JSONText.number(a.median)),
            ("non_finite", JSONText.number(o.nonFinite + a.nonFinite)),
            ("seeds", JSONText.number(seeds)), ("length", JSONText.number(length)),
            ("head_dim", JSONText.number(headDim)), ("input_std", JSONText.number(inputStd)),
        ])
    }

    func textTable(_ cells: [Cell], problem: ApproxProblem) -> String {
        var lines = [
            "approximation error vs exact softmax attention: L \(length), d \(headDim), q,k ~ N(0, \(inputStd)²), "
                + "v ~ N(0, 1), \(seeds) random matrices per cell (mean ± std, median)",
            "reference scale: mean of out_exact² = \(scientific(problem.exactOutputMeanSquare)), "
                + "mean of A_exact² = \(scientific(problem.exactMatrixMeanSquare))",
            ["map", "distribution", "m", "output MSE mean ± std", "output median", "matrix MSE mean ± std",
             "matrix median"].joined(separator: "\t"),
        ]
        for cell in cells {
            let o = Summary(cell.outputErrors), a = Summary(cell.matrixErrors)
            var fields = [cell.map.rawValue, cell.distribution.rawValue, String(cell.features),
                          "\(scientific(o.mean)) ± \(scientific(o.std))", scientific(o.median),
                          "\(scientific(a.mean)) ± \(scientific(a.std))", scientific(a.median)]
            if o.nonFinite + a.nonFinite > 0 { fields.append("(\(o.nonFinite + a.nonFinite) non-finite)") }
            lines.append(fields.joined(separator: "\t"))
        }
        // Orthogonal vs iid, per map and m, on the output MSE.
        var comparisons: [String] = []
        for map in FeatureMap.allCases {
            for m in Set(cells.map(\.features)).sorted() {
                let find = { (d: RandomFeatureDistribution) in
                    cells.first { $0.map == map && $0.distribution == d && $0.features == m }
                }
                guard let orthogonal = find(.orthogonal), let iid = find(.iid) else { continue }
                let so = Summary(orthogonal.outputErrors), si = Summary(iid.outputErrors)
                let so2 = Summary(orthogonal.matrixErrors), si2 = Summary(iid.matrixErrors)
                comparisons.append([
                    map.rawValue, String(m), String(format2: so.mean / si.mean), String(format2: so.welchT(si)),
                    String(format2: so2.mean / si2.mean), String(format2: so2.welchT(si2)),
                ].joined(separator: "\t"))
            }
        }
        if !comparisons.isEmpty {
            lines += ["", "orthogonal vs iid (ratio of mean MSE; Welch t, negative = orthogonal lower)",
                      ["map", "m", "output orth/iid", "output t", "matrix orth/iid", "matrix t"].joined(separator: "\t")]
            lines += comparisons
        }
        return lines.joined(separator: "\n")
    }
}

/// Mean, sample standard deviation and median of the finite values.
struct Summary {
    var mean: Double
    var std: Double
    var median: Double
    var count: Int
    var nonFinite: Int

    init(_ values: [Double]) {
        let finite = values.filter(\.isFinite)
        count = finite.count
        nonFinite = values.count - finite.count
        guard !finite.isEmpty else { mean = .nan; std = .nan; median = .nan; return }
        mean = finite.reduce(0, +) / Double(finite.count)
        let m = mean
        std = finite.count > 1
            ? (finite.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(finite.count - 1)).squareRoot() : 0
        median = Clock.median(finite)
    }

    /// Welch's t statistic for mean(self) − mean(other).
    func welchT(_ other: Summary) -> Double {
        let se = (std * std / Double(count) + other.std * other.std / Double(other.count)).squareRoot()
        return (mean - other.mean) / se
    }
}

/// `x` in scientific notation with three significant digits (1.23e-04), without Foundation.
func scientific(_ x: Double) -> String {
    guard x.isFinite else { return "\(x)" }
    guard x != 0 else { return "0" }
    var exponent = Int(log10(abs(x)).rounded(.down))
    var mantissa = x / pow(10, Double(exponent))
    if abs((mantissa * 100).rounded()) >= 1000 { mantissa /= 10; exponent += 1 }
    let sign = exponent < 0 ? "-" : "+"
    let digits = abs(exponent) < 10 ? "0\(abs(exponent))" : "\(abs(exponent))"
    return String(format2: mantissa) + "e" + sign + digits
}

/// The fixed input of `bench approx` and its exact attention, in Double.
struct ApproxProblem {
    let length: Int
    let headDim: Int
    /// Q, K, V [length, headDim].
    let query: Tensor, key: Tensor, value: Tensor
    /// Exact softmax attention matrix [length, length] and output [length, headDim], in Double.
    let exactMatrix: [Double]
    let exactOutput: [Double]

    init(length: Int, headDim: Int, inputStd: Float, seed: UInt64) {
        self.length = length
        self.headDim = headDim
        var generator = SeededGenerator(seed: seed)
        query = Tensor.normal(shape: [length, headDim], std: inputStd, using: &generator)
        key = Tensor.normal(shape: [length, headDim], std: inputStd, using: &generator)
        value = Tensor.normal(shape: [length, headDim], using: &generator)
        let l = length, d = headDim
        let scale = 1 / Double(d).squareRoot()
        var matrix = [Double](repeating: 0, count: l * l)
        for i in 0..<l {
            var rowMax = -Double.infinity
            for j in 0..<l {
                var s = 0.0
                for c in 0..<d { s += Double(query.data[i * d + c]) * Double(key.data[j * d + c]) }
                matrix[i * l + j] = s * scale
                rowMax = max(rowMax, s * scale)
            }
            var total = 0.0
            for j in 0..<l {
                matrix[i * l + j] = exp(matrix[i * l + j] - rowMax)
                total += matrix[i * l + j]
            }
            for j in 0..<l { matrix[i * l + j] /= total }
        }
        exactMatrix = matrix
        exactOutput = ApproxProblem.product(matrix, value: value, length: l, headDim: d)
    }

    var exactOutputMeanSquare: Double { exactOutput.reduce(0) { $0 + $1 * $1 } / Double(exactOutput.count) }
    var exactMatrixMeanSquare: Double { exactMatrix.reduce(0) { $0 + $1 * $1 } / Double(exactMatrix.count) }

    /// A V in Double for A [length, length], V [length, headDim].
    static func product(_ matrix: [Double], value: Tensor, length l: Int, headDim d: Int) -> [Double] {
        var out = [Double](repeating: 0, count: l * d)
        for i in 0..<l {
            for j in 0..<l {
                let a = matrix[i * l + j]
                for c in 0..<d { out[i * d + c] += a * Double(value.data[j * d + c]) }
            }
        }
        return out
    }

    /// (output MSE, matrix MSE) of one feature map with one W.
    ///
    /// positive: the library's favor-softmax `AttentionKernel` forward gives the output; its saved
    /// q', k̃', s give the matrix A_ij ∝ q'_i·k̃'_j e^{s_j − max s}. trig: `TrigFeatures` for queries
    /// and keys, `BidirectionalLinearAttention` for the output, and A_ij ∝ φ(q_i)·φ(k_j).
    func errors(map: BenchApprox.FeatureMap, randomFeatures w: RandomFeatures) -> (output: Double, matrix: Double) {
        let l = length, d = headDim, m = w.features
        let out = Tensor(shape: [l, d])
        let columns: Int
        let queryFeatures: Tensor, keyFeatures: Tensor
        switch map {
        case .positive:
            let kernel = AttentionKernel(kind: .favorSoftmax, headDim: d, randomFeatures: w, parallelism: .serial)
            let saved = kernel.makeSaved(batch: 1, heads: 1, length: l)
            let shape = [1, 1, l, d]
            let q = Tensor(shape: shape), k = Tensor(shape: shape), v = Tensor(shape: shape), o = Tensor(shape: shape)
            q.copy(from: query); k.copy(from: key); v.copy(from: value)
            kernel.forward(out: o, query: q, key: k, value: v, saving: saved)
            out.copy(from: o)
            columns = m
            queryFeatures = saved.queryFeatures
            // True key features up to one shared constant: k̃'_j e^{s_j − max s}.
            keyFeatures = Tensor(shape: [l, m])
            keyFeatures.copy(from: saved.keyFeatures)
            let s = saved.keyLogScale
            var sMax = -Float.infinity
            for j in 0..<l { sMax = max(sMax, s.data[j]) }
            for j in 0..<l {
                Elementwise.scale(keyFeatures.data + j * m, by: Float(exp(Double(s.data[j] - sMax))),
                                  into: keyFeatures.data + j * m, count: m)
            }
        case .trig:
            columns = 2 * m
            queryFeatures = Tensor(shape: [l, columns])
            keyFeatures = Tensor(shape: [l, columns])
            TrigFeatures.forward(out: queryFeatures.data, input: query.data, weights: w.weights.data,
                                 length: l, features: m, headDim: d)
            TrigFeatures.forward(out: keyFeatures.data, input: key.data, weights: w.weights.data,
                                 length: l, features: m, headDim: d)
            let normalizer = Tensor(shape: [l])
            BidirectionalLinearAttention.forward(
                out: out.data, normalizer: normalizer.data, queryFeatures: queryFeatures.data,
                keyFeatures: keyFeatures.data, keyLogScale: nil, values: value.data,
                length: l, features: columns, headDim: d)
        }
        var outputError = 0.0
        for i in 0..<(l * d) {
            let e = Double(out.data[i]) - exactOutput[i]
            outputError += e * e
        }
        // Unnormalised kernel matrix Q'K'ᵀ [l, l], then each row divided by its sum.
        let kernelMatrix = Tensor(shape: [l, l])
        BLAS.sgemm(transB: true, m: l, n: l, k: columns, a: queryFeatures.data, lda: columns,
                   b: keyFeatures.data, ldb: columns, c: kernelMatrix.data, ldc: l)
        var matrixError = 0.0
        for i in 0..<l {
            let row = kernelMatrix.data + i * l
            var total = 0.0
            for j in 0..<l { total += Double(row[j]) }
            for j in 0..<l {
                let e = Double(row[j]) / total - exactMatrix[i * l + j]
                matrixError += e * e
            }
        }
        return (outputError / Double(l * d), matrixError / Double(l * l))
    }
}
