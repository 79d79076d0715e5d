/// Positive random features for the softmax kernel (FAVOR+, Choromanski et al. 2021, Lemma 1):
/// with x = q·d^(-1/4) (or k·d^(-1/4)), so that x_q·x_k = q·k/√d,
///
///     φ(x)_r = exp(w_r·x − ‖x‖²/2) / √m,   r = 1…m,   E[φ(x_q)·φ(x_k)] = exp(q·k/√d),
///
/// computed per (batch, head) slice. Shapes: input x [L, d] (raw queries or keys; the d^(-1/4)
/// scale is applied here), weights W [m, d], features [L, m]. Short names: L = length,
/// d = headDim, m = features, c = d^(-1/4), u_i = c·W x_i, h_i = c²‖x_i‖²/2.
///
/// Stabilisation (exp(u) overflows Float32 for |u| ≳ 88): every row is computed with its own
/// max subtracted, and what was subtracted is either dropped (queries) or returned (keys):
///
/// - queries: s_i = max_r u_ir − h_i, q'_i = exp(u_i − h_i − s_i)/√m + ε = exp(u_i − max u_i)/√m + ε.
///   A per-query factor cancels between numerator and denominator of the attention; the ε ≥ 0
///   added to every entry keeps the normaliser D_i = q'_i·Σ_j k'_j ≥ ε/√m > 0.
/// - keys: the stabilised k̃'_j = exp(u_j − max u_j)/√m (largest entry exactly 1/√m, no ε) and
///   the log-scale s_j = max_r u_jr − h_j, so the true feature is k'_j = k̃'_j·exp(s_j). The
///   contractions apply exp(s_j − const) with a const shared by all keys (bidirectional: the
///   global max; causal: the running max), which cancels exactly.
///
/// Gradients treat s as a constant (stop-gradient). For keys this is exact, since
/// k̃'_j·exp(s_j) does not depend on s_j; for queries it drops only the O(ε) dependence of the
/// normalised output on s_i through the ε term.
public enum FavorSoftmaxFeatures {
    /// ε added to every query feature (after the 1/√m factor).
    public static let defaultEpsilon: Float = 1e-6

    /// Query features: out_i = exp(u_i − max_r u_ir)/√m + ε.
    ///
    /// - Parameters:
    ///   - out: q' [length, features], written.
    ///   - input: queries [length, headDim] (before the d^(-1/4) scaling).
    ///   - weights: W [features, headDim].
    /// - Complexity: 2·L·m·d flops in GEMMs plus L·m exponentials.
    public static func forwardQueries(
        out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
        length: Int, features: Int, headDim: Int, epsilon: Float = defaultEpsilon
    ) {
        let m = features
        let scale = 1 / Float(m).squareRoot()
        products(out: out, input: input, weights: weights, length: length, features: m, headDim: headDim) { start, rows in
            for i in start..<(start + rows) {
                let row = out + i * m
                let rowMax = Elementwise.max(row, count: m)
                Elementwise.exp(row, into: row, count: m, shift: rowMax, scale: scale, offset: epsilon)
            }
        }
    }

    /// Key features: out_j = exp(u_j − max_r u_jr)/√m and logScale_j = max_r u_jr − c²‖k_j‖²/2.
    ///
    /// - Parameters:
    ///   - out: k̃' [length, features], written (stabilised; the true feature is out_j·e^{logScale_j}).
    ///   - logScale: s [length], written.
    ///   - input: keys [length, headDim] (before the d^(-1/4) scaling).
    ///   - weights: W [features, headDim].
    public static func forwardKeys(
        out: UnsafeMutablePointer<Float>, logScale: UnsafeMutablePointer<Float>,
        input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
        length: Int, features: Int, headDim: Int
    ) {
        let m = features, d = headDim
        let c = inputScale(headDim: d)
        let scale = 1 / Float(m).squareRoot()
        products(out: out, input: input, weights: weights, length: length, features: m, headDim: d) { start, rows in
            for j in start..<(start + rows) {
                let row = out + j * m
                let rowMax = Elementwise.max(row, count: m)
                let x = input + j * d
                let halfSquaredNorm = 0.5 * c * c * Elementwise.dot(x, x, count: d)
                logScale[j] = rowMax - halfSquaredNorm
                Elementwise.exp(row, into: row, count: m, shift: rowMax, scale: scale, offset: 0)
            }
        }
    }

    /// u = c·X Wᵀ into `out` [length, features] (c = d^(-1/4)), block by block of rows, each
    /// block's [rows, features] about 256 KB; after each block's product, `elementwise(start, rows)`
    /// turns those rows into features while they are still in the core's L2 cache. Shared by the
    /// ReLU and softmax maps.
    @inline(__always)
    static func products(
        out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
        length: Int, features m: Int, headDim d: Int, _ elementwise: (_ start: Int, _ rows: Int) -> Void
    ) {
        let c = inputScale(headDim: d)
        let block = rowBlock(features: m)
        var start = 0
        while start < length {
            let rows = min(block, length - start)
            BLAS.sgemm(transB: true, m: rows, n: m, k: d, alpha: c,
                       a: input + start * d, lda: d, b: weights, ldb: d, c: out + start * m, ldc: m)
            elementwise(start, rows)
            start += rows
        }
    }

    /// Rows per block of `products`: [rows, features] floats of about 256 KB.
    static func rowBlock(features: Int) -> Int {
        rowsPerBlock(floats: 1 << 16, features: features)
    }

    /// Backward of either map with its stabiliser held constant: with g = dOut ⊙ (out − ε),
    ///
    ///     dInput_i += c · (g W)_i − c² · (Σ_r g_ir) · x_i,
    ///
    /// since ∂out_ir/∂x_i = (out_ir − ε)(c·w_r − c²·x_i).
    ///
    /// - Parameters:
    ///   - dInput: [length, headDim], accumulated (+=).
    ///   - dOut: [length, features], the gradient of the features; overwritten with g (scratch).
    ///   - out: the features this map produced [length, features].
    ///   - input: the same queries or keys [length, headDim].
    ///   - epsilon: the ε the forward added: `epsilon` for queries, 0 for keys.
    public static func backward(
        dInput: UnsafeMutablePointer<Float>, dOut: UnsafeMutablePointer<Float>,
        out: UnsafePointer<Float>, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
        length: Int, features: Int, headDim: Int, epsilon: Float
    ) {
        let m = features, d = headDim
        let c = inputScale(headDim: d)
        for i in 0..<length {
            let rowSum = Elementwise.multiplyBySubtracting(dOut + i * m, by: out + i * m, offset: epsilon, count: m)
            Elementwise.addScaled(input + i * d, by: -c * c * rowSum, to: dInput + i * d, count: d)
        }
        BLAS.sgemm(m: length, n: d, k: m, alpha: c,
                   a: dOut, lda: m, b: weights, ldb: d, beta: 1, c: dInput, ldc: d)
    }

    /// c = d^(-1/4), the scale applied to queries and keys so that x_q·x_k = q·k/√d.
    @inlinable
    public static func inputScale(headDim: Int) -> Float {
        Float(1 / Double(headDim).squareRoot().squareRoot())
    }
}
