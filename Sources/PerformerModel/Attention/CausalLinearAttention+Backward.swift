#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

extension CausalLinearAttention {
    /// Number of `Float`s of scratch `backward` needs (pass at least this many as `scratch` to make
    /// the call allocation-free). `O(m·d + C·(C + d) + L/C + G·m)` with G rows per group of the
    /// second pass: independent of `L` but for one float per chunk. The caller's [L, m] ∂Q′ of
    /// the blocked form is not part of it.
    public static func backwardScratchCount(
        length: Int, features: Int, headDim: Int, chunk: Int, chunksPerGroup: Int? = nil
    ) -> Int {
        let c = max(1, min(chunk, length))
        let e = headDim + 1
        let chunks = (length + c - 1) / c
        let groupRows = min(length, groupChunks(features: features, chunk: c, override: chunksPerGroup) * c)
        return features * e + 4 * c * e + 2 * c * c + 3 * c + chunks + groupRows * features
    }

    /// Chunks per group of the blocked backward: about `BidirectionalLinearAttention.blockRows`
    /// rows, so a group's ∂K̃′ [rows, m] stays in cache until the feature maps read it.
    static func groupChunks(features: Int, chunk: Int, override: Int? = nil) -> Int {
        max(1, override ?? BidirectionalLinearAttention.blockRows(features: features) / max(1, chunk))
    }

    /// Backward of `forward`: accumulates (`+=`) `∂loss/∂Q′`, `∂loss/∂K̃′` and `∂loss/∂V` given
    /// `dOut = ∂loss/∂out`. `keyLogScale` is a constant (stop-gradient): it gets no gradient, and
    /// every rescaling factor built from it is a constant too.
    ///
    /// **Derivation.** Work in row `i`'s frame with the augmented values `v̄_j = [v_j, 1]`:
    /// `N̄_i = Σ_{j≤i} w_ij (q′_i·k̃′_j) v̄_j = [N̂_i, D̂_i]`, `w_ij = e^{s_j − M_i}`, `out_i = N̂_i/D̂_i`
    /// (`e^{−M_i}` cancels, so the frame changes nothing). With `g_i = dOut_i`,
    ///
    ///     ∂/∂N̂_i = g_i / D̂_i,   ∂/∂D̂_i = −(g_i·out_i) / D̂_i,
    ///     ḡ_i = [g_i / D̂_i, −(g_i·out_i) / D̂_i]      [d + 1]   (so ∂/∂N̄_i = ḡ_i),
    ///
    /// and, differentiating `N̄_i` (the pair weight `w_ij (ḡ_i·v̄_j)` appears twice):
    ///
    ///     ∂q′_i = Σ_{j≤i} w_ij (ḡ_i·v̄_j) k̃′_j
    ///     ∂k̃′_j = Σ_{i≥j} w_ij (ḡ_i·v̄_j) q′_i
    ///     ∂v̄_j  = Σ_{i≥j} w_ij (q′_i·k̃′_j) ḡ_i          (∂v_j = its first d entries).
    ///
    /// Split each sum into the chunk's own rows (masked `n×n` products, as in the forward) and the
    /// rest. With `M_p` the running max before chunk `c` and `M_c` the one at its end:
    ///
    /// - `∂q′` needs the *past*: `Σ_{j<a} w_ij (ḡ_i·v̄_j) k̃′_j = ρ_i·S̄ ḡ_i` with the forward state
    ///   `S̄ = Σ_{j<a} e^{s_j−M_p} k̃′_j v̄_jᵀ` and `ρ_i = e^{M_p − M_i}`:
    ///   `∂Q′_c += diag(ρ) Ḡ_c S̄ᵀ`. A first, forward-ordered pass recomputes `S̄` exactly as the
    ///   forward does (one GEMM per chunk) and applies this.
    /// - `∂k̃′`, `∂v̄` need the *future*: for `i` after the chunk, `w_ij = e^{s_j − M_c}·e^{M_c − M_i}`,
    ///   so with `F = Σ_{i≥a+n} e^{M_c − M_i} q′_i ḡ_iᵀ` `[m, d+1]`
    ///   `∂k̃′_j += e^{s_j − M_c} F v̄_j` and `∂v̄_j += e^{s_j − M_c} Fᵀ k̃′_j`. A second pass runs the
    ///   chunks in reverse and accumulates `F` (one GEMM per chunk), moving it to the previous
    ///   chunk's frame on the way: `F ← e^{M_p − M_c} F + Q′_cᵀ diag(ρ) Ḡ_c`.
    /// - Inside the chunk, `B_ij = w_ij (ḡ_i·v̄_j)` and `A_ij = w_ij (q′_i·k̃′_j)` for `j ≤ i`
    ///   (masked): `∂Q′_c += B K̃′_c`, `∂K̃′_c += Bᵀ Q′_c`, `∂V̄_c += Aᵀ Ḡ_c`.
    ///
    /// Why two passes instead of one reverse pass that rebuilds `S̄` by subtracting each chunk's
    /// `k̃′ v̄ᵀ`: the cost is the same (one GEMM per chunk either way), but subtraction cancels
    /// catastrophically once `S̄` has been rescaled, by up to `e^{M_c − M_p}`, which is unbounded
    /// for favor-softmax log-scales. Here every quantity is a sum of non-negatively weighted terms
    /// and every rescaling factor is `≤ 1`, so nothing cancels and nothing overflows.
    ///
    /// - Parameters:
    ///   - dQueryFeatures, dKeyFeatures: `[L, m]`, accumulated.
    ///   - dValues: `[L, d]`, accumulated.
    ///   - dOut: `[L, d]`.
    ///   - out, normalizer: `[L, d]`, `[L]` as written by `forward` with the same inputs.
    ///   - queryFeatures, keyFeatures, keyLogScale, values: the forward's inputs.
    ///   - chunk: need not equal the forward's.
    ///   - scratch: optional buffer of `backwardScratchCount(…)` floats; allocated when `nil`.
    ///   - chunksPerGroup: as in the blocked form below, which this calls with a temporary [L, m]
    ///     buffer for ∂Q′ and adds each group into the two arrays.
    ///   - chunkProducts: as in the blocked form below.
    ///
    /// Gradient buffers must not alias each other or any input.
    ///
    /// - Complexity: about 2.5× the forward's flops, all but `O(L·C)` in `sgemm`; memory
    ///   `O(m·d + C·(C + d) + L/C + G·m)` besides the arguments (G rows per group), and here the
    ///   temporary [L, m] — never a prefix state per row.
    public static func backward(
        dQueryFeatures: UnsafeMutablePointer<Float>,
        dKeyFeatures: UnsafeMutablePointer<Float>,
        dValues: UnsafeMutablePointer<Float>,
        dOut: UnsafePointer<Float>,
        out: UnsafePointer<Float>,
        normalizer: UnsafePointer<Float>,
        queryFeatures: UnsafePointer<Float>,
        keyFeatures: UnsafePointer<Float>,
        keyLogScale: UnsafePointer<Float>?,
        values: UnsafePointer<Float>,
        length: Int, features: Int, headDim: Int,
        chunk: Int = defaultChunk,
        scratch: UnsafeMutablePointer<Float>? = nil,
        chunksPerGroup: Int? = nil,
        chunkProducts: UnsafePointer<Float>? = nil
    ) {
        let m = features
        let queryGradient = UnsafeMutablePointer<Float>.allocate(capacity: max(1, length * m))
        defer { queryGradient.deallocate() }
        backward(
            queryGradient: queryGradient, dValues: dValues, dOut: dOut, out: out, normalizer: normalizer,
            queryFeatures: queryFeatures, keyFeatures: keyFeatures, keyLogScale: keyLogScale, values: values,
            length: length, features: m, headDim: headDim, chunk: chunk, scratch: scratch,
            chunksPerGroup: chunksPerGroup, chunkProducts: chunkProducts,
            featureGradients: addingFeatureGradients(into: dQueryFeatures, dKeyFeatures, features: m))
    }

    /// The same backward, handing ∂Q′ and ∂K̃′ to `featureGradients` in groups of whole chunks,
    /// last group first, as soon as the second pass has finished them (so the feature maps'
    /// backward can read a group's ∂K̃′ from cache; no [L, m] ∂K̃′ is formed).
    ///
    /// - Parameters:
    ///   - queryGradient: [L, m] floats of the caller's, for ∂Q′: the first pass writes its past
    ///     terms there for every chunk before the second pass can finish any. Written, not read
    ///     before; a group's rows are final when they are handed over.
    ///   - chunksPerGroup: chunks per group (default `groupChunks`; for tests of the seams).
    ///   - chunkProducts: the buffer `forward` filled with its chunk products `A` (same inputs,
    ///     same `chunk`), or `nil` to compute them again here (one `n×n×m` product per chunk).
    ///   - featureGradients: called with (start, rows, ∂Q′ rows, ∂K̃′ rows) for groups of rows
    ///     [start, start + rows), from the last group to the first; each [rows, m] row-major. The
    ///     call may overwrite both (neither is read again).
    ///   - the rest: as in `backward(dQueryFeatures:…)`, with ∂V accumulated.
    public static func backward(
        queryGradient: UnsafeMutablePointer<Float>,
        dValues: UnsafeMutablePointer<Float>,
        dOut: UnsafePointer<Float>,
        out: UnsafePointer<Float>,
        normalizer: UnsafePointer<Float>,
        queryFeatures: UnsafePointer<Float>,
        keyFeatures: UnsafePointer<Float>,
        keyLogScale: UnsafePointer<Float>?,
        values: UnsafePointer<Float>,
        length: Int, features: Int, headDim: Int,
        chunk: Int = defaultChunk,
        scratch: UnsafeMutablePointer<Float>? = nil,
        chunksPerGroup: Int? = nil,
        chunkProducts: UnsafePointer<Float>? = nil,
        featureGradients: (_ start: Int, _ rows: Int, _ dQueryRows: UnsafeMutablePointer<Float>,
                           _ dKeyRows: UnsafeMutablePointer<Float>) -> Void
    ) {
        precondition(length >= 0 && features >= 1 && headDim >= 1 && chunk >= 1, "bad causal attention shape")
        if length == 0 { return }
        let l = length, m = features, d = headDim, e = headDim + 1
        let c = min(chunk, l)
        let chunks = (l + c - 1) / c
        let groupSize = groupChunks(features: m, chunk: c, override: chunksPerGroup)

        let count = backwardScratchCount(length: l, features: m, headDim: d, chunk: chunk, chunksPerGroup: chunksPerGroup)
        let owned: UnsafeMutablePointer<Float>? = scratch == nil ? .allocate(capacity: count) : nil
        defer { owned?.deallocate() }
        guard let base = scratch ?? owned else { return }

        let state = base                     // S̄ (pass 1), then F (pass 2) [m, e]
        let vBar = state + m * e             // V̄_c [c, e]
        let gBar = vBar + c * e              // Ḡ_c [c, e]
        let gCarry = gBar + c * e            // diag(ρ) Ḡ_c [c, e]
        let dvBar = gCarry + c * e           // ∂V̄_c [c, e]
        let scratchProducts = dvBar + c * e  // A [n, n], unless the forward kept it
        let b = scratchProducts + c * c      // B [n, n]
        let rowMax = b + c * c               // M_i [c]
        let selfWeight = rowMax + c          // e^{s_i − M_i} [c]
        let carry = selfWeight + c           // ρ_i [c]
        let endMax = carry + c               // M_c at the end of each chunk [chunks]
        let keyGroup = endMax + chunks       // ∂K̃′ of the current group [groupSize·c, m]

        // Pass 1, chunks in order: rebuild S̄ as the forward does; ∂Q′_c += diag(ρ) Ḡ_c S̄ᵀ.
        var previousMax = -Float.infinity
        for chunkIndex in 0..<chunks {
            let a = chunkIndex * c
            let n = min(c, l - a)
            let s = keyLogScale.map { $0 + a }
            let first = chunkIndex == 0
            let chunkMax = s.map {
                chunkScales(logScale: $0, count: n, previousMax: previousMax,
                            rowMax: rowMax, selfWeight: selfWeight, carry: carry)
            } ?? 0
            endMax[chunkIndex] = chunkMax
            let last = chunkIndex == chunks - 1
            if first && last { break }
            augmentValues(vBar, values: values + a * d, rows: n, headDim: d)

            if !first {
                augmentGradient(gBar, dOut: dOut + a * d, out: out + a * d, normalizer: normalizer + a,
                                rows: n, headDim: d)
                var gUsed = UnsafePointer(gBar)
                if s != nil {
                    scaleRows(gCarry, from: gBar, rows: n, columns: e, by: carry)
                    gUsed = UnsafePointer(gCarry)
                }
                BLAS.sgemm(transB: true, m: n, n: m, k: e, a: gUsed, lda: e, b: state, ldb: e,
                           c: queryGradient + a * m, ldc: m)  // the first write to these rows
            }
            if !last {
                var beta: Float = first ? 0 : 1
                if let s {
                    scaleRows(vBar, rows: n, columns: e, logScale: s, frame: chunkMax)
                    if !first { beta = exp(previousMax - chunkMax) }
                }
                BLAS.sgemm(transA: true, m: m, n: e, k: n, a: keyFeatures + a * m, lda: m, b: vBar, ldb: e,
                           beta: beta, c: state, ldc: e)
            }
            previousMax = chunkMax
        }

        // Pass 2, chunks in reverse: F = Σ_{i after chunk} e^{M_c − M_i} q′_i ḡ_iᵀ; the chunk's own
        // masked terms; then F moves to the previous chunk's frame and takes this chunk in.
        let future = state
        for chunkIndex in stride(from: chunks - 1, through: 0, by: -1) {
            let a = chunkIndex * c
            let n = min(c, l - a)
            let q = queryFeatures + a * m
            let k = keyFeatures + a * m
            let s = keyLogScale.map { $0 + a }
            let first = chunkIndex == 0
            let last = chunkIndex == chunks - 1
            let chunkMax = endMax[chunkIndex]
            let frontMax = first ? -Float.infinity : endMax[chunkIndex - 1]
            if let s {
                _ = chunkScales(logScale: s, count: n, previousMax: frontMax,
                                rowMax: rowMax, selfWeight: selfWeight, carry: carry)
            }
            augmentValues(vBar, values: values + a * d, rows: n, headDim: d)
            augmentGradient(gBar, dOut: dOut + a * d, out: out + a * d, normalizer: normalizer + a,
                            rows: n, headDim: d)

            // Inside the chunk: A = (Q′_c K̃′_cᵀ) ⊙ w ⊙ mask (the forward's, when it kept it),
            // B = (Ḡ_c V̄_cᵀ) ⊙ w ⊙ mask.
            let p: UnsafePointer<Float>
            if let chunkProducts {
                p = chunkProducts + a * c  // a·c = chunk index·C²
            } else {
                BLAS.sgemm(transB: true, m: n, n: n, k: m, a: q, lda: m, b: k, ldb: m, c: scratchProducts, ldc: n)
                applyCausalWeights(scratchProducts, size: n, logScale: s, rowMax: rowMax, selfWeight: selfWeight)
                p = UnsafePointer(scratchProducts)
            }
            BLAS.sgemm(transB: true, m: n, n: n, k: e, a: gBar, lda: e, b: vBar, ldb: e, c: b, ldc: n)
            applyCausalWeights(b, size: n, logScale: s, rowMax: rowMax, selfWeight: selfWeight)
            // ∂Q′_c += B K̃′_c (the first chunk has no past term: written);  ∂K̃′_c = Bᵀ Q′_c, into
            // the chunk's rows of the group
            let groupStart = chunkIndex / groupSize * groupSize * c
            let dKeyRows = keyGroup + (a - groupStart) * m
            BLAS.sgemm(m: n, n: m, k: n, a: b, lda: n, b: k, ldb: m,
                       beta: first ? 0 : 1, c: queryGradient + a * m, ldc: m)
            BLAS.sgemm(transA: true, m: n, n: m, k: n, a: b, lda: n, b: q, ldb: m,
                       c: dKeyRows, ldc: m)

            // From the future: ∂V̄_c = diag(e^{s_j−M_c}) K̃′_c F;  ∂K̃′_c += diag(e^{s_j−M_c}) V̄_c Fᵀ
            // (V̄_c is scaled in place: the masked products above were its last unscaled use).
            if !last {
                BLAS.sgemm(m: n, n: d, k: m, a: k, lda: m, b: future, ldb: e, c: dvBar, ldc: e)
                if let s {
                    scaleRows(dvBar, rows: n, columns: d, stride: e, logScale: s, frame: chunkMax)
                    scaleRows(vBar, rows: n, columns: e, logScale: s, frame: chunkMax)
                }
                BLAS.sgemm(transB: true, m: n, n: m, k: e, a: vBar, lda: e, b: future, ldb: e,
                           beta: 1, c: dKeyRows, ldc: m)
            }
            // ∂V̄_c += Aᵀ Ḡ_c   (only the first d columns of ∂V̄ are used: ∂V)
            BLAS.sgemm(transA: true, m: n, n: d, k: n, a: p, lda: n, b: gBar, ldb: e,
                       beta: last ? 0 : 1, c: dvBar, ldc: e)
            for j in 0..<n {
                let src = dvBar + j * e, dst = dValues + (a + j) * d
                for t in 0..<d { dst[t] += src[t] }
            }

            // F ← e^{M_p − M_c} F + Q′_cᵀ diag(ρ) Ḡ_c   (not needed before the first chunk)
            if !first {
                var gUsed = UnsafePointer(gBar)
                var beta: Float = last ? 0 : 1
                if s != nil {
                    scaleRows(gCarry, from: gBar, rows: n, columns: e, by: carry)
                    gUsed = UnsafePointer(gCarry)
                    if !last { beta = exp(frontMax - chunkMax) }
                }
                BLAS.sgemm(transA: true, m: m, n: e, k: n, a: q, lda: m, b: gUsed, ldb: e,
                           beta: beta, c: future, ldc: e)
            }

            // The group's first chunk done: its rows of ∂Q′ and ∂K̃′ are final.
            if chunkIndex % groupSize == 0 {
                let rows = min(l, groupStart + groupSize * c) - groupStart
                featureGradients(groupStart, rows, queryGradient + groupStart * m, keyGroup)
            }
        }
    }

    /// `ḡ_i = [g_i / D̂_i, −(g_i·out_i) / D̂_i]` into `gBar` `[rows, d + 1]`.
    @inline(__always)
    static func augmentGradient(
        _ gBar: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, out: UnsafePointer<Float>,
        normalizer: UnsafePointer<Float>, rows: Int, headDim d: Int
    ) {
        let e = d + 1
        for i in 0..<rows {
            let g = dOut + i * d, o = out + i * d, row = gBar + i * e
            let inverse = 1 / normalizer[i]
            var dot: Float = 0
            for t in 0..<d {
                dot += g[t] * o[t]
                row[t] = g[t] * inverse
            }
            row[d] = -dot * inverse
        }
    }
}
