/// The bidirectional (non-causal) FAVOR contraction for one (batch, head) slice:
///
///     out = D⁻¹ Q'(K'ᵀV),   D = diag(Q'(K'ᵀ1)),   k'_j = k̃'_j · exp(s_j − max_j s_j),
///
/// computed as two GEMMs, never forming the L×L attention matrix (Choromanski et al. 2021, §2.2,
/// Eq. 6). The key log-scale s (from `FavorSoftmaxFeatures.forwardKeys`) enters through the factor
/// exp(s_j − max s), a constant multiple of the true features k̃'_j·e^{s_j} that cancels exactly
/// between numerator and normaliser; with s = nil the factor is 1 (ReLU features).
///
/// The value and "ones" columns share one GEMM: with the augmented values A = [c⊙V | c] [L, d+1]
/// (c_j = exp(s_j − max s)), S = K̃'ᵀA [m, d+1] holds K'ᵀV and K'ᵀ1 together, and Q'S [L, d+1]
/// holds the numerators and the normalisers D.
///
/// Short names: L = length, m = features, d = headDim, e = d + 1. Saved for backward: out and
/// the normaliser D [L] (plus the caller's q', k̃', s, V); S is recomputed (one GEMM) rather than
/// stored. Memory O(L·(m+d)): the workspace is 2·L·e + 2·m·e + r·(2m + d) floats (r rows per
/// block of the backward), and the backward never forms an [L, m] gradient.
public enum BidirectionalLinearAttention {
    /// Floats of scratch `forward` and `backward` need (the larger of the two).
    public static func workspaceCount(length: Int, features: Int, headDim: Int) -> Int {
        let e = headDim + 1, r = min(length, blockRows(features: features))
        return 2 * length * e + 2 * features * e + r * (2 * features + headDim)
    }

    /// Rows per block of the backward's [L, m] products: two [rows, m] blocks take about 256 KB,
    /// so they stay in a core's L2 cache between the product that writes them and the feature-map
    /// backward that reads them.
    static func blockRows(features: Int) -> Int {
        rowsPerBlock(floats: 1 << 15, features: features)
    }

    /// out_i = Σ_j (q'_i·k'_j) v_j / D_i, D_i = Σ_j q'_i·k'_j.
    ///
    /// - Parameters:
    ///   - out: [length, headDim], written.
    ///   - normalizer: D [length], written (saved for backward; in the frame of the rescaled keys).
    ///   - queryFeatures: q' [length, features].
    ///   - keyFeatures: k̃' [length, features] (stabilised; true features are k̃'·e^{keyLogScale}).
    ///   - keyLogScale: s [length], or nil when the key features are not stabilised.
    ///   - values: V [length, headDim].
    ///   - workspace: `workspaceCount(…)` floats of scratch, or nil to allocate one for this call.
    ///   - keys: how many leading positions are keys (default all `length`): the sums run over
    ///     j < keys only, so a row padded at its end attends to its real tokens alone (and the
    ///     favor-softmax stabiliser max s is taken over those keys). Every query still gets an output.
    /// - Complexity: 2·(L + keys)·m·(d+1) flops in two GEMMs.
    public static func forward(
        out: UnsafeMutablePointer<Float>, normalizer: UnsafeMutablePointer<Float>,
        queryFeatures: UnsafePointer<Float>, keyFeatures: UnsafePointer<Float>,
        keyLogScale: UnsafePointer<Float>?, values: UnsafePointer<Float>,
        length: Int, features: Int, headDim: Int,
        workspace: UnsafeMutablePointer<Float>? = nil, keys: Int? = nil
    ) {
        let l = length, m = features, d = headDim, e = d + 1
        let n = keys ?? l
        precondition(n >= 1 && n <= l, "keys \(n) outside 1...\(l)")
        withWorkspace(workspace, count: workspaceCount(length: l, features: m, headDim: d)) { ws in
            let augmented = ws  // A [keys, e], then Q'S [L, e]
            let state = ws + l * e  // S [m, e]
            fillAugmentedValues(
                augmented, scratch: state + m * e, values: values, keyLogScale: keyLogScale, length: n, headDim: d)
            // S = K̃'ᵀ A  [m, e]  (first `keys` rows)
            BLAS.sgemm(transA: true, m: m, n: e, k: n,
                       a: keyFeatures, lda: m, b: augmented, ldb: e, c: state, ldc: e)
            // [N | D] = Q' S  [L, e]
            BLAS.sgemm(m: l, n: e, k: m,
                       a: queryFeatures, lda: m, b: state, ldb: e, c: augmented, ldc: e)
            for i in 0..<l {
                let row = augmented + i * e
                let denominator = row[d]
                normalizer[i] = denominator
                Elementwise.scale(row, by: 1 / denominator, into: out + i * d, count: d)
            }
        }
    }

    /// Gradients of `forward`, accumulated (+=) into dQueryFeatures, dKeyFeatures and dValues.
    /// The blocked `backward(…, featureGradients:)` with each block added into the two arrays.
    ///
    /// - Parameters:
    ///   - dQueryFeatures, dKeyFeatures: [length, features], accumulated.
    ///   - dValues: [length, headDim], accumulated.
    ///   - dOut: [length, headDim].
    ///   - out, normalizer: what `forward` wrote.
    ///   - queryFeatures, keyFeatures, keyLogScale, values: the forward's inputs.
    ///   - blockRows: as in the blocked `backward`.
    public static func backward(
        dQueryFeatures: UnsafeMutablePointer<Float>, dKeyFeatures: UnsafeMutablePointer<Float>,
        dValues: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
        out: UnsafePointer<Float>, normalizer: UnsafePointer<Float>,
        queryFeatures: UnsafePointer<Float>, keyFeatures: UnsafePointer<Float>,
        keyLogScale: UnsafePointer<Float>?, values: UnsafePointer<Float>,
        length: Int, features: Int, headDim: Int,
        workspace: UnsafeMutablePointer<Float>? = nil, blockRows: Int? = nil
    ) {
        let m = features
        backward(
            dValues: dValues, dOut: dOut, out: out, normalizer: normalizer, queryFeatures: queryFeatures,
            keyFeatures: keyFeatures, keyLogScale: keyLogScale, values: values, length: length, features: m,
            headDim: headDim, workspace: workspace, blockRows: blockRows,
            featureGradients: addingFeatureGradients(into: dQueryFeatures, dKeyFeatures, features: m))
    }

    /// Gradients of `forward`: accumulates (+=) into dValues and hands the gradients of the
    /// features to `featureGradients` one block of rows at a time, so the caller can run the
    /// feature maps' backward on each block while it is still in cache (no [L, m] gradient is
    /// ever formed).
    ///
    /// With G = dOut, N = out ⊙ D (numerators), S = [K'ᵀV | K'ᵀ1]:
    ///
    ///     dN_i = G_i / D_i,   dD_i = −(G_i·out_i) / D_i,   B = [dN | dD]  [L, e]
    ///     dQ' = B Sᵀ,   dS = Q'ᵀ B,   dK̃' = A dSᵀ,   dV += c ⊙ (K̃' dS[:, :d])
    ///
    /// (A = [c⊙V | c] as in the forward; the factor c = e^{s − max s} is treated as a constant.)
    /// S and dS are whole-sequence products; dQ', dK̃' and dV are then computed block by block.
    ///
    /// - Parameters:
    ///   - dValues: [length, headDim], accumulated.
    ///   - dOut: [length, headDim].
    ///   - out, normalizer: what `forward` wrote.
    ///   - queryFeatures, keyFeatures, keyLogScale, values: the forward's inputs.
    ///   - workspace: `workspaceCount(…)` floats of scratch, or nil to allocate one for this call.
    ///   - blockRows: fewer rows per block than the default (for tests of the block seams).
    ///   - featureGradients: called with (start, rows, dQ' block, dK̃' block), blocks of rows
    ///     [start, start + rows) in order, each [rows, features] row-major, written fresh for the
    ///     call (it may overwrite them; they are not read again).
    /// - Complexity: 10·L·m·(d+1) flops in GEMMs (one recomputes S).
    public static func backward(
        dValues: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
        out: UnsafePointer<Float>, normalizer: UnsafePointer<Float>,
        queryFeatures: UnsafePointer<Float>, keyFeatures: UnsafePointer<Float>,
        keyLogScale: UnsafePointer<Float>?, values: UnsafePointer<Float>,
        length: Int, features: Int, headDim: Int,
        workspace: UnsafeMutablePointer<Float>? = nil, blockRows: Int? = nil,
        featureGradients: (_ start: Int, _ rows: Int, _ dQueryBlock: UnsafeMutablePointer<Float>,
                           _ dKeyBlock: UnsafeMutablePointer<Float>) -> Void
    ) {
        let l = length, m = features, d = headDim, e = d + 1
        let blockRows = min(l, Self.blockRows(features: m), Swift.max(1, blockRows ?? l))
        withWorkspace(workspace, count: workspaceCount(length: l, features: m, headDim: d)) { ws in
            let augmented = ws  // A [L, e]
            let upstream = ws + l * e  // B [L, e]
            let state = ws + 2 * l * e  // S [m, e]
            let dState = state + m * e  // dS [m, e]
            let dQueryBlock = dState + m * e  // [blockRows, m]
            let dKeyBlock = dQueryBlock + blockRows * m  // [blockRows, m]
            let valueBlock = dKeyBlock + blockRows * m  // K̃' dS[:, :d] of a block [blockRows, d]
            fillAugmentedValues(
                augmented, scratch: upstream, values: values, keyLogScale: keyLogScale, length: l, headDim: d)
            BLAS.sgemm(transA: true, m: m, n: e, k: l,
                       a: keyFeatures, lda: m, b: augmented, ldb: e, c: state, ldc: e)
            for i in 0..<l {
                let g = dOut + i * d
                let inverse = 1 / normalizer[i]
                let row = upstream + i * e
                Elementwise.scale(g, by: inverse, into: row, count: d)
                row[d] = -Elementwise.dot(g, out + i * d, count: d) * inverse
            }
            // dS = Q'ᵀ B  [m, e]
            BLAS.sgemm(transA: true, m: m, n: e, k: l,
                       a: queryFeatures, lda: m, b: upstream, ldb: e, c: dState, ldc: e)
            var start = 0
            while start < l {
                let rows = min(blockRows, l - start)
                // dQ' = B Sᵀ,  dK̃' = A dSᵀ   [rows, m]
                BLAS.sgemm(transB: true, m: rows, n: m, k: e,
                           a: upstream + start * e, lda: e, b: state, ldb: e, c: dQueryBlock, ldc: m)
                BLAS.sgemm(transB: true, m: rows, n: m, k: e,
                           a: augmented + start * e, lda: e, b: dState, ldb: e, c: dKeyBlock, ldc: m)
                let k = keyFeatures + start * m, dv = dValues + start * d
                if keyLogScale == nil {
                    // dV += K̃' dS[:, :d]
                    BLAS.sgemm(m: rows, n: d, k: m, a: k, lda: m, b: dState, ldb: e, beta: 1, c: dv, ldc: d)
                } else {
                    // T = K̃' dS[:, :d], then dV_j += c_j T_j (c_j is column d of A).
                    BLAS.sgemm(m: rows, n: d, k: m, a: k, lda: m, b: dState, ldb: e, c: valueBlock, ldc: d)
                    for j in 0..<rows {
                        Elementwise.addScaled(valueBlock + j * d, by: augmented[(start + j) * e + d],
                                              to: dv + j * d, count: d)
                    }
                }
                featureGradients(start, rows, dQueryBlock, dKeyBlock)
                start += rows
            }
        }
    }

    /// A = [c ⊙ V | c] [L, d+1] with c_j = exp(s_j − max s), or c = 1 when s is nil.
    /// `scratch` holds L floats (the factors c, computed with one vectorised exp).
    static func fillAugmentedValues(
        _ augmented: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
        values: UnsafePointer<Float>, keyLogScale: UnsafePointer<Float>?, length l: Int, headDim d: Int
    ) {
        let e = d + 1
        if let s = keyLogScale {
            Elementwise.exp(s, into: scratch, count: l, shift: Elementwise.max(s, count: l))
            for j in 0..<l {
                let row = augmented + j * e
                Elementwise.scale(values + j * d, by: scratch[j], into: row, count: d)
                row[d] = scratch[j]
            }
        } else {
            for j in 0..<l {
                (augmented + j * e).update(from: values + j * d, count: d)
                augmented[j * e + d] = 1
            }
        }
    }
}

/// Rows of `features` floats that fill about `floats` floats: a multiple of 8, at least 32. How
/// the FAVOR kernels size the blocks of rows they keep in cache between two passes.
func rowsPerBlock(floats: Int, features: Int) -> Int {
    max(32, floats / max(1, features) / 8 * 8)
}

/// What the array forms of the blocked backwards hand their blocks to: each block of ∂Q′ and ∂K̃′
/// rows [start, start + rows) added into the whole [L, features] arrays.
func addingFeatureGradients(
    into dQueryFeatures: UnsafeMutablePointer<Float>, _ dKeyFeatures: UnsafeMutablePointer<Float>, features m: Int
) -> (_ start: Int, _ rows: Int, _ dQueryRows: UnsafeMutablePointer<Float>, _ dKeyRows: UnsafeMutablePointer<Float>) -> Void {
    { start, rows, dQueryRows, dKeyRows in
        Elementwise.add(dQueryRows, to: dQueryFeatures + start * m, count: rows * m)
        Elementwise.add(dKeyRows, to: dKeyFeatures + start * m, count: rows * m)
    }
}

/// Runs `body` with `workspace`, or with a temporary buffer of `count` floats when it is nil.
@inline(__always)
func withWorkspace(
    _ workspace: UnsafeMutablePointer<Float>?, count: Int, _ body: (UnsafeMutablePointer<Float>) -> Void
) {
    if let workspace {
        body(workspace)
    } else {
        let temporary = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(count, 1))
        defer { temporary.deallocate() }
        body(temporary)
    }
}
