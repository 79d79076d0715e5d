/// A fully connected layer on row vectors, y = x·W + b, over a flattened batch of rows.
///
/// Shapes: x [rows, inputs], W [inputs, outputs] (stored [in, out], see `ParameterStore`),
/// b [outputs], y [rows, outputs]. All products go through one `BLAS.sgemm` over all rows, or,
/// with `parallelism` workers, one single-threaded sgemm per part (`SliceParallelism.sgemm`).
/// Saved for backward: nothing of its own; the caller keeps x (it is some other layer's output).
public enum Linear {
    /// y = x·W + b, or y += x·W + b when `accumulate` (a residual connection written in place).
    ///
    /// - Parameters:
    ///   - out: y [rows, outputs], written (or accumulated).
    ///   - input: x [rows, inputs].
    ///   - weight: W [inputs, outputs].
    ///   - bias: b [outputs], or nil for none.
    /// - Complexity: one GEMM of 2·rows·inputs·outputs flops, plus rows·outputs adds for b.
    public static func forward(
        out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        rows: Int, inputs: Int, outputs: Int, accumulate: Bool = false, parallelism: SliceParallelism = .serial
    ) {
        if let bias {
            // Write b into every row (or add it), then let the GEMM accumulate onto it with β = 1:
            // one pass over y instead of a clearing pass plus a bias pass.
            for r in 0..<rows {
                if accumulate {
                    Elementwise.add(bias, to: out + r * outputs, count: outputs)
                } else {
                    (out + r * outputs).update(from: bias, count: outputs)
                }
            }
        }
        parallelism.sgemm(m: rows, n: outputs, k: inputs, a: input, lda: inputs, b: weight, ldb: outputs,
                          beta: accumulate || bias != nil ? 1 : 0, c: out, ldc: outputs)
    }

    /// Gradients of y = x·W + b, accumulated (+=):
    /// dx += dy·Wᵀ, dW += xᵀ·dy, db += Σ_rows dy.
    ///
    /// - Parameters:
    ///   - dInput: dx [rows, inputs], accumulated; nil when the input needs no gradient. It must not
    ///     overlap `input` (see `backwardWeight` / `backwardInput` to reuse one buffer).
    ///   - dWeight: dW [inputs, outputs], accumulated.
    ///   - dBias: db [outputs], accumulated; nil when there is no bias.
    ///   - dOut: dy [rows, outputs].
    ///   - input: x [rows, inputs], as in the forward.
    ///   - weight: W [inputs, outputs].
    /// - Complexity: two GEMMs of 2·rows·inputs·outputs flops each.
    public static func backward(
        dInput: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>?,
        dOut: UnsafePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        rows: Int, inputs: Int, outputs: Int
    ) {
        backwardWeight(dWeight: dWeight, dBias: dBias, dOut: dOut, input: input,
                       rows: rows, inputs: inputs, outputs: outputs)
        if let dInput {
            backwardInput(dInput: dInput, dOut: dOut, weight: weight, rows: rows, inputs: inputs, outputs: outputs)
        }
    }

    /// The parameter half of `backward`: dW += xᵀ·dy [inputs, outputs], db += Σ_rows dy (when
    /// `dBias` is given).
    public static func backwardWeight(
        dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>?,
        dOut: UnsafePointer<Float>, input: UnsafePointer<Float>, rows: Int, inputs: Int, outputs: Int,
        parallelism: SliceParallelism = .serial
    ) {
        // dW [in, out] += xᵀ [in, rows] · dy [rows, out]
        parallelism.sgemm(transA: true, m: inputs, n: outputs, k: rows, a: input, lda: inputs, b: dOut, ldb: outputs,
                          beta: 1, c: dWeight, ldc: outputs)
        if let dBias { columnSums(dOut, rows: rows, columns: outputs, into: dBias, parallelism: parallelism) }
    }

    /// The input half of `backward`: dx += dy·Wᵀ [rows, inputs], or dx = dy·Wᵀ when
    /// `accumulate` is false (so the forward's input buffer can be reused for its gradient once
    /// `backwardWeight` has read it).
    public static func backwardInput(
        dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        rows: Int, inputs: Int, outputs: Int, accumulate: Bool = true, parallelism: SliceParallelism = .serial
    ) {
        // dx [rows, in] (+)= dy [rows, out] · Wᵀ [out, in]
        parallelism.sgemm(transB: true, m: rows, n: inputs, k: outputs, a: dOut, lda: outputs, b: weight, ldb: outputs,
                          beta: accumulate ? 1 : 0, c: dInput, ldc: inputs)
    }

    /// into[c] += Σ_r x[r, c] for x [rows, columns]: the bias gradient of every layer.
    public static func columnSums(
        _ x: UnsafePointer<Float>, rows: Int, columns: Int, into sums: UnsafeMutablePointer<Float>,
        parallelism: SliceParallelism = .serial
    ) {
        // With workers: one contiguous range of columns each (every column summed in row order,
        // as on one thread).
        parallelism.chunks(count: columns, work: rows * columns) { start, count in
            for r in 0..<rows { Elementwise.add(x + r * columns + start, to: sums + start, count: count) }
        }
    }
}
