/// Layer normalisation over the last dimension (Ba et al. 2016), row by row:
///
///     μ = mean(x),  σ² = mean((x − μ)²)  (biased),  r = 1/√(σ² + ε),
///     n = (x − μ)·r,  y = n ⊙ γ + β.
///
/// Shapes: x, y [rows, dim]; γ (weight), β (bias) [dim]; μ (mean), r (rstd) [rows].
/// Saved for backward: μ and r only (2 floats per row); n is recomputed from x, which the caller
/// keeps anyway (the residual stream), exactly as llm.c does.
public enum LayerNorm {
    public typealias Vector = SIMD8<Float>

    /// y = LN(x)·γ + β, writing μ and r.
    ///
    /// - Parameters:
    ///   - out: y [rows, dim], written.
    ///   - mean: μ [rows], written.
    ///   - rstd: r [rows], written.
    ///   - input: x [rows, dim].
    ///   - weight: γ [dim].
    ///   - bias: β [dim].
    public static func forward(
        out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        rows: Int, dim: Int, epsilon: Float, parallelism: SliceParallelism = .serial
    ) {
        LayerNorm.rowChunks(rows: rows, dim: dim, parallelism: parallelism) { _, first, count in
            statistics(mean: mean + first, rstd: rstd + first, input: input + first * dim, rows: count, dim: dim,
                       epsilon: epsilon)
            normalize(out: out + first * dim, mean: mean + first, rstd: rstd + first, input: input + first * dim,
                      weight: weight, bias: bias, rows: count, dim: dim)
        }
    }

    /// μ and r of every row.
    static func statistics(
        mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
        rows: Int, dim: Int, epsilon: Float
    ) {
        for r in 0..<rows {
            let x = input + r * dim
            let mu = Elementwise.sum(x, count: dim) / Float(dim)
            var squares = Vector(repeating: 0)
            let vMu = Vector(repeating: mu)
            var i = 0
            while i + 8 <= dim {
                let c = Elementwise.load(x, i) - vMu
                squares += c * c
                i += 8
            }
            var variance = squares.sum()
            while i < dim {
                let c = x[i] - mu
                variance += c * c
                i += 1
            }
            variance /= Float(dim)
            mean[r] = mu
            rstd[r] = 1 / (variance + epsilon).squareRoot()
        }
    }

    /// Runs body(chunk, firstRow, rowCount) over contiguous chunks of rows, one per worker, chunk
    /// in 0..<rowChunkCount (rows are independent, so per-row results do not depend on the split).
    /// Small inputs run serially, as chunk 0.
    static func rowChunks(
        rows: Int, dim: Int, parallelism: SliceParallelism, _ body: (_ chunk: Int, _ first: Int, _ count: Int) -> Void
    ) {
        let workers = rowChunkCount(rows: rows, dim: dim, parallelism: parallelism)
        if workers <= 1 {
            body(0, 0, rows)
            return
        }
        let chunk = (rows + workers - 1) / workers
        parallelism.run(slices: workers) { w, _ in
            let first = w * chunk
            if first < rows { body(w, first, Swift.min(chunk, rows - first)) }
        }
    }

    /// The number of chunks `rowChunks` cuts `rows` rows of `dim` into (1: serial).
    static func rowChunkCount(rows: Int, dim: Int, parallelism: SliceParallelism) -> Int {
        rows * dim >= SliceParallelism.elementwiseMinimum ? parallelism.workerCount(slices: rows) : 1
    }

    /// y = (x − μ)·r ⊙ γ + β from saved μ and r: the forward's output again, bit for bit (the
    /// forward ends with this same routine). The backward pass uses it to rebuild LN outputs.
    public static func normalize(
        out: UnsafeMutablePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        rows: Int, dim: Int, parallelism: SliceParallelism = .serial
    ) {
        LayerNorm.rowChunks(rows: rows, dim: dim, parallelism: parallelism) { _, first, count in
            normalizeRows(out: out + first * dim, mean: mean + first, rstd: rstd + first, input: input + first * dim,
                          weight: weight, bias: bias, rows: count, dim: dim)
        }
    }

    static func normalizeRows(
        out: UnsafeMutablePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        rows: Int, dim: Int
    ) {
        for r in 0..<rows {
            let x = input + r * dim, y = out + r * dim
            let mu = mean[r], scale = rstd[r]
            let vMu = Vector(repeating: mu), vScale = Vector(repeating: scale)
            var i = 0
            while i + 8 <= dim {
                let n = (Elementwise.load(x, i) - vMu) * vScale
                Elementwise.store(n * Elementwise.load(weight, i) + Elementwise.load(bias, i), y, i)
                i += 8
            }
            while i < dim {
                y[i] = (x[i] - mu) * scale * weight[i] + bias[i]
                i += 1
            }
        }
    }

    /// Gradients of `forward`, accumulated (+=). With n = (x − μ)·r and g = dy ⊙ γ:
    ///
    ///     dx += r·(g − mean(g) − n·mean(g ⊙ n)),   dγ += Σ_rows dy ⊙ n,   dβ += Σ_rows dy.
    ///
    /// - Parameters:
    ///   - dInput: dx [rows, dim], accumulated.
    ///   - dWeight, dBias: dγ, dβ [dim], accumulated.
    ///   - dOut: dy [rows, dim].
    ///   - input: x [rows, dim], as in the forward.
    ///   - mean, rstd: μ, r [rows], as the forward wrote them.
    ///   - weight: γ [dim].
    ///   - parallelism: with workers, the rows are cut as `rowChunks` cuts them; each chunk sums
    ///     its own dγ, dβ, which are added to the accumulators in chunk order afterwards (a fixed
    ///     order: the result does not depend on thread timing).
    public static func backward(
        dInput: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>,
        dOut: UnsafePointer<Float>, input: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, rows: Int, dim: Int, parallelism: SliceParallelism = .serial
    ) {
        let chunks = rowChunkCount(rows: rows, dim: dim, parallelism: parallelism)
        if chunks <= 1 {
            backwardRows(0..<rows, dInput: dInput, dWeight: dWeight, dBias: dBias, dOut: dOut, input: input,
                         mean: mean, rstd: rstd, weight: weight, dim: dim)
            return
        }
        // Per chunk: dγ then dβ, [2, dim].
        var partial = [Float](repeating: 0, count: chunks * 2 * dim)
        partial.withUnsafeMutableBufferPointer { buffer in
            let sums = buffer.baseAddress!
            rowChunks(rows: rows, dim: dim, parallelism: parallelism) { chunk, first, count in
                backwardRows(first ..< first + count, dInput: dInput,
                             dWeight: sums + 2 * chunk * dim, dBias: sums + (2 * chunk + 1) * dim, dOut: dOut,
                             input: input, mean: mean, rstd: rstd, weight: weight, dim: dim)
            }
            for chunk in 0..<chunks {
                Elementwise.add(sums + 2 * chunk * dim, to: dWeight, count: dim)
                Elementwise.add(sums + (2 * chunk + 1) * dim, to: dBias, count: dim)
            }
        }
    }

    /// `backward` for the rows in `range`, accumulating into `dWeight`, `dBias`.
    private static func backwardRows(
        _ range: Range<Int>,
        dInput: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>,
        dOut: UnsafePointer<Float>, input: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, dim: Int
    ) {
        for r in range {
            let x = input + r * dim, dy = dOut + r * dim, dx = dInput + r * dim
            let mu = mean[r], scale = rstd[r]
            let vMu = Vector(repeating: mu), vScale = Vector(repeating: scale)
            // First pass: Σ g and Σ g ⊙ n; the parameter gradients.
            var sumG = Vector(repeating: 0), sumGN = Vector(repeating: 0)
            var i = 0
            while i + 8 <= dim {
                let n = (Elementwise.load(x, i) - vMu) * vScale
                let d = Elementwise.load(dy, i)
                let g = d * Elementwise.load(weight, i)
                sumG += g
                sumGN += g * n
                Elementwise.store(Elementwise.load(dWeight, i) + d * n, dWeight, i)
                Elementwise.store(Elementwise.load(dBias, i) + d, dBias, i)
                i += 8
            }
            var totalG = sumG.sum(), totalGN = sumGN.sum()
            while i < dim {
                let n = (x[i] - mu) * scale
                let g = dy[i] * weight[i]
                totalG += g
                totalGN += g * n
                dWeight[i] += dy[i] * n
                dBias[i] += dy[i]
                i += 1
            }
            let meanG = totalG / Float(dim), meanGN = totalGN / Float(dim)
            // Second pass: dx.
            let vMeanG = Vector(repeating: meanG), vMeanGN = Vector(repeating: meanGN)
            i = 0
            while i + 8 <= dim {
                let n = (Elementwise.load(x, i) - vMu) * vScale
                let g = Elementwise.load(dy, i) * Elementwise.load(weight, i)
                Elementwise.store(Elementwise.load(dx, i) + vScale * (g - vMeanG - n * vMeanGN), dx, i)
                i += 8
            }
            while i < dim {
                let n = (x[i] - mu) * scale
                let g = dy[i] * weight[i]
                dx[i] += scale * (g - meanG - n * meanGN)
                i += 1
            }
        }
    }
}
