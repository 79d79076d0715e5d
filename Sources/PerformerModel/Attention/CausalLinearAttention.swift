#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// Causal (unidirectional) FAVOR contraction: linear-time masked attention over precomputed
/// random features, chunk-wise, with a hand-derived backward and an RNN mode for generation.
///
/// Notation for one (batch, head) slice, the only unit these kernels see (the caller loops over
/// batch × heads; every buffer is contiguous and row-major):
/// - `L = length`, `m = features`, `d = headDim`, `C = chunk`;
/// - `Q′ = queryFeatures` `[L, m]`, positive;
/// - `K̃′ = keyFeatures` `[L, m]`, non-negative, "stabilized";
/// - `s = keyLogScale` `[L]` or `nil` (≡ all zeros); the true key features are `k′_j = k̃′_j·e^{s_j}`;
/// - `V = values` `[L, d]`.
///
/// The output row `i` attends to the prefix `j ≤ i` (Choromanski et al. 2021, §2.3 / Fig. 1 right,
/// "unidirectional" attention as prefix sums):
///
///     out_i = N_i / D_i,   N_i = Σ_{j≤i} (q′_i·k′_j) v_j,   D_i = Σ_{j≤i} q′_i·k′_j.
///
/// **Stabilizer.** `e^{s_j}` overflows Float for `s_j ≳ 88`, so nothing is ever formed in the
/// absolute frame. Row `i` works in the frame of the running maximum `M_i = max_{j≤i} s_j`, which
/// depends on the prefix only, so no output can depend on a later key, not even in its last bit:
///
///     N̂_i = N_i·e^{−M_i} = Σ_{j≤i} (q′_i·k̃′_j) w_ij v_j,   D̂_i = D_i·e^{−M_i},
///     w_ij = e^{s_j − M_i} ∈ (0, 1],   out_i = N̂_i / D̂_i.
///
/// With `s = nil` every `w_ij = 1` and `D̂ = D`. All code below carries `D̂` as one more value
/// column: `v̄_j = [v_j, 1]` (`d + 1` columns), so numerator and denominator come out of the same
/// GEMMs, `N̄_i = [N̂_i, D̂_i]`.
///
/// **Chunks.** Rows are processed in chunks `c = [a, a + n)` of `n ≤ C` rows. After the chunks
/// before `a` the running state is, in the frame `M_p = M_{a−1}`,
///
///     S̄ = Σ_{j<a} e^{s_j − M_p} k̃′_j v̄_jᵀ        [m, d+1]   (last column: the normaliser z).
///
/// For a row `i` of the chunk, `w_ij = e^{M_p − M_i}·e^{s_j − M_p}` for `j < a`, hence
///
///     N̄_i = ρ_i·(q′_iᵀ S̄) + Σ_{a≤j≤i} A_ij v̄_j,   ρ_i = e^{M_p − M_i},   A_ij = w_ij·(q′_i·k̃′_j),
///
/// i.e. one GEMM `Q′_c S̄` (`[n, m]·[m, d+1]`), one masked `n×n` product `Q′_c K̃′_cᵀ`, and one GEMM
/// `A V̄_c`. The state then moves to the frame `M_c = M_{a+n−1}` and takes the chunk in:
///
///     S̄ ← e^{M_p − M_c}·S̄ + K̃′_cᵀ diag(e^{s_j − M_c}) V̄_c        (one GEMM, β = e^{M_p − M_c}).
///
/// Every factor is `≤ 1`: rescaling only ever shrinks, so nothing overflows for any `s`.
///
/// See `docs/causal-attention.md` for the derivation of the backward and the chunk-size choice.
public enum CausalLinearAttention {
    /// Chunk size used when the caller gives none: fastest forward + backward among 8…256 at
    /// L = 4096…16384, m = 256, d = 64 (release, single-threaded OpenBLAS, CPU time; 24–40 are
    /// within a few per cent of each other). The measurements are in `docs/causal-attention.md`.
    public static let defaultChunk = 24

    /// Number of `Float`s of scratch `forward` needs (pass a buffer at least this large as
    /// `scratch` to make the call allocation-free).
    public static func forwardScratchCount(length: Int, features: Int, headDim: Int, chunk: Int) -> Int {
        let c = max(1, min(chunk, length))
        let e = headDim + 1
        return features * e + 2 * c * e + c * c + 3 * c
    }

    /// Number of `Float`s the chunk products `A` of one slice take (`forward`'s optional
    /// `chunkProducts`): `n²` for every chunk of `n` rows, at most `L·C`.
    public static func chunkProductCount(length: Int, chunk: Int) -> Int {
        let c = max(1, min(chunk, length))
        let tail = length % c
        return length / c * c * c + tail * tail
    }

    /// Chunk-wise causal FAVOR forward for one (batch, head) slice.
    ///
    ///     out_i = N̂_i / D̂_i,   N̂_i = Σ_{j≤i} (q′_i·k̃′_j) e^{s_j − M_i} v_j,
    ///     D̂_i = Σ_{j≤i} (q′_i·k̃′_j) e^{s_j − M_i},   M_i = max_{j≤i} s_j   (M ≡ 0 when s = nil).
    ///
    /// - Parameters:
    ///   - out: `[L, d]`, written.
    ///   - normalizer: `[L]`, written with `D̂_i` (the denominator in row `i`'s own frame `M_i`).
    ///     Saved for `backward`, together with `out`.
    ///   - queryFeatures: `Q′` `[L, m]`, positive.
    ///   - keyFeatures: `K̃′` `[L, m]`, non-negative.
    ///   - keyLogScale: `s` `[L]`, finite, or `nil` for all zeros.
    ///   - values: `V` `[L, d]`.
    ///   - chunk: rows per chunk `C ≥ 1` (any value gives the same result up to rounding; the
    ///     value only changes speed).
    ///   - scratch: optional buffer of `forwardScratchCount(…)` floats; allocated (once per call)
    ///     when `nil`. Must not alias any other argument.
    ///   - chunkProducts: optional `chunkProductCount(length:chunk:)` floats, written: chunk `k`'s
    ///     masked, weighted product `A` (`n×n`, leading dimension `n`) at offset `k·C²`. Pass the
    ///     same buffer to `backward` (with the same chunk) and it reads `A` instead of computing
    ///     it again.
    ///
    /// Every `D̂_i` must be positive; it is when `Q′ > 0` and each `k̃′_j` has a positive entry
    /// (favor-softmax: max entry `1/√m`; favor-relu: `+ ε`). Output buffers must not alias inputs.
    ///
    /// Causality holds bit for bit: row `i` of `out` and `normalizer` is a function of rows `≤ i`
    /// of the inputs only, for finite inputs (masked entries are set to zero, never multiplied).
    ///
    /// - Complexity: `O(L·(m·d + C·m + C·d))` time, all of it in `sgemm` but `O(L·C)` elementwise
    ///   work; `O(m·d + C·(C + d))` scratch.
    public static func forward(
        out: UnsafeMutablePointer<Float>,
        normalizer: UnsafeMutablePointer<Float>,
        queryFeatures: UnsafePointer<Float>,
        keyFeatures: UnsafePointer<Float>,
        keyLogScale: UnsafePointer<Float>?,
        values: UnsafePointer<Float>,
        length: Int, features: Int, headDim: Int,
        chunk: Int = defaultChunk,
        scratch: UnsafeMutablePointer<Float>? = nil,
        chunkProducts: UnsafeMutablePointer<Float>? = nil
    ) {
        precondition(length >= 0 && features >= 1 && headDim >= 1 && chunk >= 1, "bad causal attention shape")
        if length == 0 { return }
        let l = length, m = features, d = headDim, e = headDim + 1
        let c = min(chunk, l)

        let count = forwardScratchCount(length: l, features: m, headDim: d, chunk: chunk)
        let owned: UnsafeMutablePointer<Float>? = scratch == nil ? .allocate(capacity: count) : nil
        defer { owned?.deallocate() }
        guard let base = scratch ?? owned else { return }

        // Scratch layout (sizes in floats).
        let state = base                     // S̄ [m, e]
        let vBar = state + m * e             // V̄_c [c, e]
        let nBar = vBar + c * e              // N̄_c [c, e]
        let scratchProducts = nBar + c * e   // A [n, n] (leading dimension n), unless kept
        let rowMax = scratchProducts + c * c // M_i [c]
        let selfWeight = rowMax + c          // e^{s_i − M_i} [c]
        let carry = selfWeight + c           // ρ_i = e^{M_p − M_i} [c]

        var previousMax = -Float.infinity
        var a = 0
        while a < l {
            let n = min(c, l - a)
            let q = queryFeatures + a * m
            let k = keyFeatures + a * m
            let s = keyLogScale.map { $0 + a }
            let first = a == 0
            let p = chunkProducts.map { $0 + a * c } ?? scratchProducts  // a·c = chunk index·C²
            let chunkMax = s.map {
                chunkScales(logScale: $0, count: n, previousMax: previousMax,
                            rowMax: rowMax, selfWeight: selfWeight, carry: carry)
            } ?? 0

            augmentValues(vBar, values: values + a * d, rows: n, headDim: d)

            // N̄_c = diag(ρ) Q′_c S̄   (state contribution of all rows before the chunk)
            if !first {
                BLAS.sgemm(m: n, n: e, k: m, a: q, lda: m, b: state, ldb: e, c: nBar, ldc: e)
                if s != nil { scaleRows(nBar, rows: n, columns: e, by: carry) }
            }
            // A = (Q′_c K̃′_cᵀ) ⊙ w ⊙ causal mask;   N̄_c += A V̄_c
            BLAS.sgemm(transB: true, m: n, n: n, k: m, a: q, lda: m, b: k, ldb: m, c: p, ldc: n)
            applyCausalWeights(p, size: n, logScale: s, rowMax: rowMax, selfWeight: selfWeight)
            BLAS.sgemm(m: n, n: e, k: n, a: p, lda: n, b: vBar, ldb: e,
                       beta: first ? 0 : 1, c: nBar, ldc: e)

            // out_i = N̂_i / D̂_i
            for i in 0..<n {
                let row = nBar + i * e
                let denominator = row[d]
                normalizer[a + i] = denominator
                let inverse = 1 / denominator
                let o = out + (a + i) * d
                for t in 0..<d { o[t] = row[t] * inverse }
            }

            // S̄ ← e^{M_p − M_c} S̄ + K̃′_cᵀ diag(e^{s_j − M_c}) V̄_c   (skipped after the last chunk;
            // V̄_c is scaled in place, it is not needed any more)
            if a + n < l {
                var beta: Float = first ? 0 : 1
                if let s {
                    scaleRows(vBar, rows: n, columns: e, logScale: s, frame: chunkMax)
                    if !first { beta = exp(previousMax - chunkMax) }
                }
                BLAS.sgemm(transA: true, m: m, n: e, k: n, a: k, lda: m, b: vBar, ldb: e,
                           beta: beta, c: state, ldc: e)
            }
            previousMax = chunkMax
            a += n
        }
    }
}

// MARK: - Chunk helpers shared by forward, backward and their tests

extension CausalLinearAttention {
    /// Running maxima for one chunk of log-scales `s` `[n]` that follows a prefix with maximum
    /// `previousMax` (`−∞` before the first chunk):
    /// `rowMax[i] = M_i = max(previousMax, s_0…s_i)`, `selfWeight[i] = e^{s_i − M_i}`,
    /// `carry[i] = ρ_i = e^{previousMax − M_i}` (0 for the first chunk). Returns `M_{n−1}`.
    @inline(__always)
    static func chunkScales(
        logScale s: UnsafePointer<Float>, count n: Int, previousMax: Float,
        rowMax: UnsafeMutablePointer<Float>, selfWeight: UnsafeMutablePointer<Float>,
        carry: UnsafeMutablePointer<Float>
    ) -> Float {
        var running = previousMax
        for i in 0..<n {
            running = max(running, s[i])
            rowMax[i] = running
            selfWeight[i] = exp(s[i] - running)
            carry[i] = exp(previousMax - running)
        }
        return running
    }

    /// Turns the `n×n` product `P = Q′_c K̃′_cᵀ` (or `Ḡ_c V̄_cᵀ`), leading dimension `n`, into
    /// `P_ij·w_ij` for `j ≤ i` and exactly `0` for `j > i`, with `w_ij = e^{s_j − M_i}` (1 when
    /// `logScale` is nil).
    ///
    /// Rows `i` whose running maximum equals `M_j` (all `j` since the last increase of the maximum,
    /// the common case) reuse `selfWeight[j] = e^{s_j − M_j}`; only pairs that straddle an
    /// increase call `exp` again. Each weight depends on `s_j` and `M_i` only (causal).
    @inline(__always)
    static func applyCausalWeights(
        _ p: UnsafeMutablePointer<Float>, size n: Int, logScale s: UnsafePointer<Float>?,
        rowMax: UnsafePointer<Float>, selfWeight: UnsafePointer<Float>
    ) {
        var runStart = 0
        for i in 0..<n {
            let row = p + i * n
            if let s {
                if i > 0 && rowMax[i] != rowMax[i - 1] { runStart = i }
                let mi = rowMax[i]
                for j in 0..<runStart { row[j] *= exp(s[j] - mi) }
                for j in runStart...i { row[j] *= selfWeight[j] }
            }
            for j in (i + 1)..<n { row[j] = 0 }
        }
    }

    /// `vBar[i] = [v_i, 1]`: `[rows, d + 1]` from `values` `[rows, d]`.
    @inline(__always)
    static func augmentValues(
        _ vBar: UnsafeMutablePointer<Float>, values: UnsafePointer<Float>, rows: Int, headDim d: Int
    ) {
        let e = d + 1
        for i in 0..<rows {
            (vBar + i * e).update(from: values + i * d, count: d)
            vBar[i * e + d] = 1
        }
    }

    /// `x[i, :] *= factor[i]` for `x` `[rows, columns]`.
    @inline(__always)
    static func scaleRows(
        _ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int, by factor: UnsafePointer<Float>
    ) {
        for i in 0..<rows {
            let f = factor[i]
            let row = x + i * columns
            for t in 0..<columns { row[t] *= f }
        }
    }

    /// `y[i, :] = x[i, :] · factor[i]` for `x`, `y` `[rows, columns]`.
    @inline(__always)
    static func scaleRows(
        _ y: UnsafeMutablePointer<Float>, from x: UnsafePointer<Float>, rows: Int, columns: Int,
        by factor: UnsafePointer<Float>
    ) {
        for i in 0..<rows {
            let f = factor[i]
            let src = x + i * columns, dst = y + i * columns
            for t in 0..<columns { dst[t] = src[t] * f }
        }
    }

    /// `x[i, 0..<columns] *= e^{s_i − frame}` for `x` `[rows, stride]` (`s_i ≤ frame`).
    @inline(__always)
    static func scaleRows(
        _ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int, stride: Int? = nil,
        logScale s: UnsafePointer<Float>, frame: Float
    ) {
        let ld = stride ?? columns
        for i in 0..<rows {
            let f = exp(s[i] - frame)
            let row = x + i * ld
            for t in 0..<columns { row[t] *= f }
        }
    }
}
