#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import ProteinIO

/// Reads a corpus through a model and accumulates its attention between token types
/// (`AttentionTypeMass`), from which `AttentionTypeMass+Similarity.swift` builds the 20×20
/// amino-acid similarity matrices.
///
/// For FAVOR models nothing of size L×L is ever formed. Per (layer, head) slice of one window,
/// with the kernel's own saved features — q′_i, the stabilised key features k̃′_j and log-scales
/// s_j (k′_j = k̃′_j·e^{s_j}; s ≡ 0 for favor-relu), and the normaliser D_i — the attention is
/// A_ij = q′_i·k′_j / D_i (j ≤ i for causal models), so the mass from position i to type b is
///
///     Σ_{j: x_j = b} A_ij = q′_i·K′_b / D_i,     K′_b = Σ_{j: x_j = b} k′_j      [m],
///
/// one dot product per type: O(L·m·V) per slice (V = vocabulary size, one GEMM Q′·K′ᵀ [L, V]).
/// Bidirectional models use one K′_b per window, in the kernel's frame e^{s_j − max s}. Causal
/// models need prefix sums K′_b(i) = Σ_{j ≤ i, x_j = b} k′_j: a running per-type state, updated
/// chunk by chunk exactly like the causal kernel's (`CausalLinearAttention`), in the frame of the
/// running maximum M_i = max_{j≤i} s_j that its D_i is expressed in; within a chunk of C rows the
/// masked C×C block is formed explicitly. Cost O(L·m·(V + C)).
///
/// Exact (softmax) models form their attention explicitly, 128 query rows at a time:
/// A_ij = exp(q_i·k_j/√d − ℓ_i) with the saved row log-sum-exp ℓ — O(L²·d), as the model itself.
/// `identity` attention has no attention matrix and is refused.
///
/// Cores: with several workers (default: one per OpenBLAS thread, at most one per window), each
/// batch's windows are split into one group per worker, as `BatchWorkers` splits training
/// batches; each worker runs the forward pass of its group on its own worker workspace and reads
/// its slices, with single-threaded OpenBLAS. With one worker the whole batch is one forward
/// pass and the slices run on `SliceParallelism` workers. Either way every slice goes into its
/// own [V, V] buffer, and the buffers are summed in (layer, slice) order afterwards, so results
/// do not depend on thread timing.
public final class AttentionSimilarity {
    public let model: PerformerLM
    /// The forward workspace of the first window group (the whole batch when `workerCount` is 1).
    public var workspace: PerformerLM.Workspace { workspaces[0] }
    /// Everything accumulated so far.
    public private(set) var mass: AttentionTypeMass
    /// Rows per chunk of the causal FAVOR path.
    public let chunk: Int
    /// Windows per batch.
    public let batch: Int
    /// The first window of each worker's group, and `batch` at the end.
    public let starts: [Int]

    /// One forward workspace per window group: a plain one for a single group, worker workspaces otherwise.
    private let workspaces: [PerformerLM.Workspace]
    /// How slices spread over the cores when there is one group.
    private let parallelism: SliceParallelism
    private let scratch: [Tensor]
    /// Per-slice results of one batch [layers, batch·heads, V, V].
    private let sliceMass: UnsafeMutableBufferPointer<Double>

    /// An accumulator for windows of `length` tokens, `batch` at a time, on `workers` workers
    /// (nil: one per OpenBLAS thread the process runs with; at most one per window).
    ///
    /// - Throws: `AttentionSimilarityError` for an `identity`-attention model.
    public init(
        model: PerformerLM, batch: Int, length: Int, chunk: Int = 64, workers: Int? = nil
    ) throws(AttentionSimilarityError) {
        let c = model.configuration
        guard c.attention != .identity else {
            throw AttentionSimilarityError(message: "identity attention has no attention matrix to read similarity from")
        }
        precondition(batch >= 1 && length >= 1 && chunk >= 1, "bad similarity shape")
        precondition(workers.map { $0 >= 1 } ?? true, "workers must be ≥ 1")
        self.model = model
        self.chunk = chunk
        self.batch = batch
        mass = AttentionTypeMass(layers: c.layers, heads: c.heads, types: c.vocabSize)
        let groups = Swift.min(batch, workers ?? BatchWorkers.automaticWorkers(batch: batch))
        starts = (0...groups).map { g in g * (batch / groups) + Swift.min(g, batch % groups) }
        let slices = batch * c.heads
        if groups == 1 {
            workspaces = [model.makeWorkspace(batch: batch, length: length)]
            parallelism = model.kernels[0].resolvedParallelism(slices: slices)
        } else {
            workspaces = (0..<groups).map { g in
                model.makeWorkerWorkspace(batch: BatchWorkers.windows(g, batch: batch, count: groups), length: length)
            }
            parallelism = .serial
        }
        let count = AttentionSimilarity.scratchCount(
            kind: c.attention, causal: c.causal, length: length, features: c.features, types: c.vocabSize, chunk: chunk)
        let scratchAreas = groups == 1 ? parallelism.workerCount(slices: slices) : groups
        scratch = (0..<scratchAreas).map { _ in Tensor(shape: [count]) }
        sliceMass = .allocate(capacity: c.layers * slices * c.vocabSize * c.vocabSize)
        sliceMass.initialize(repeating: 0)
    }

    deinit { sliceMass.deallocate() }

    /// The number of window groups (workers).
    public var workerCount: Int { workspaces.count }

    /// Floats of scratch one worker needs.
    static func scratchCount(kind: AttentionKind, causal: Bool, length l: Int, features m: Int, types t: Int, chunk: Int) -> Int {
        switch kind {
        case .identity: return 0
        case .exact: return Swift.min(ExactAttention.rowBlock, l) * l
        case .favorSoftmax, .favorRelu:
            if causal {
                let c = Swift.min(chunk, l)
                return t * m + c * t + c * c + 3 * c
            }
            return 2 * t * m + t * t + l
        }
    }

    /// Runs the model on `batch × length` tokens (row-major windows, as `Batch.tokens`) and adds
    /// their attention between token types to `mass`. Every row counts as a window, padding
    /// included (`<pad>` is one more token type).
    public func add(tokens: UnsafeBufferPointer<TokenID>) {
        let c = model.configuration
        let length = workspaces[0].length
        precondition(tokens.count == batch * length, "\(tokens.count) tokens for batch \(batch) × length \(length)")
        guard let base = tokens.baseAddress else { return }
        let t = c.vocabSize, heads = c.heads, slices = batch * heads
        for token in tokens { mass.tokenCounts[Int(token)] += 1 }
        mass.windows += batch
        sliceMass.update(repeating: 0)
        if workspaces.count == 1 {
            let ws = workspaces[0]
            model.forwardThroughAttention(tokens: tokens, workspace: ws)
            for layer in 0..<c.layers {
                parallelism.run(slices: slices) { s, worker in
                    readSlice(layer: layer, workspace: ws, slice: s, into: s, tokens: base, scratch: scratch[worker].data)
                }
            }
        } else {
            SliceParallelism.workers(workspaces.count).run(slices: workspaces.count) { g, _ in
                let ws = workspaces[g]
                let group = base + starts[g] * length
                model.forwardThroughAttention(tokens: UnsafeBufferPointer(start: group, count: ws.rows), workspace: ws)
                for layer in 0..<c.layers {
                    for s in 0..<(ws.batch * heads) {
                        readSlice(layer: layer, workspace: ws, slice: s, into: starts[g] * heads + s, tokens: group,
                                  scratch: scratch[g].data)
                    }
                }
            }
        }
        // Sum the slices of each head, in (layer, slice) order.
        for layer in 0..<c.layers {
            for s in 0..<slices {
                let target = (layer * heads + s % heads) * t * t, source = (layer * slices + s) * t * t
                for e in 0..<(t * t) { mass.mass[target + e] += sliceMass[source + e] }
            }
        }
    }

    /// The attention mass of slice `slice` of `workspace`'s last forward pass at `layer` (tokens:
    /// that workspace's windows), into batch slice `into` of `sliceMass`.
    private func readSlice(
        layer: Int, workspace ws: PerformerLM.Workspace, slice s: Int, into target: Int, tokens: UnsafePointer<TokenID>,
        scratch work: UnsafeMutablePointer<Float>
    ) {
        let c = model.configuration
        let t = c.vocabSize, l = ws.length, d = c.headDim, heads = c.heads
        let kernel = model.kernels[layer]
        let saved = ws.saved[layer]
        let m = kernel.features
        let sliceOut = sliceMass.baseAddress! + (layer * batch * heads + target) * t * t
        let x = tokens + (s / heads) * l
        switch kernel.kind {
        case .identity:
            break
        case .exact:
            AttentionSimilarity.exactSlice(
                mass: sliceOut, query: ws.query[layer].data + s * l * d, key: ws.key[layer].data + s * l * d,
                logSumExp: saved.normalizer.data + s * l, tokens: x, length: l, headDim: d,
                types: t, causal: kernel.causal, scratch: work)
        case .favorSoftmax, .favorRelu:
            let logScale: UnsafePointer<Float>? =
                kernel.kind == .favorSoftmax ? UnsafePointer(saved.keyLogScale.data + s * l) : nil
            let q = saved.queryFeatures.data + s * l * m, k = saved.keyFeatures.data + s * l * m
            let normalizer = saved.normalizer.data + s * l
            if kernel.causal {
                AttentionSimilarity.favorCausalSlice(
                    mass: sliceOut, queryFeatures: q, keyFeatures: k, keyLogScale: logScale,
                    normalizer: normalizer, tokens: x, length: l, features: m, types: t,
                    chunk: chunk, scratch: work)
            } else {
                AttentionSimilarity.favorBidirectionalSlice(
                    mass: sliceOut, queryFeatures: q, keyFeatures: k, keyLogScale: logScale,
                    normalizer: normalizer, tokens: x, length: l, features: m, types: t, scratch: work)
            }
        }
    }

    /// `add(tokens:)` on an array.
    public func add(tokens: [TokenID]) {
        tokens.withUnsafeBufferPointer { add(tokens: $0) }
    }

    /// Forgets everything accumulated.
    public func reset() {
        let c = model.configuration
        mass = AttentionTypeMass(layers: c.layers, heads: c.heads, types: c.vocabSize)
    }
}

/// Why a model cannot give a similarity matrix; `description` is one line.
public struct AttentionSimilarityError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

// MARK: - Per-slice kernels

extension AttentionSimilarity {
    /// Bidirectional FAVOR, one (batch, head) slice: mass[x_i, b] += q′_i·K̂_b / D̂_i for every i
    /// and type b, with K̂_b = Σ_{j: x_j = b} k̃′_j·e^{s_j − max s} (e ≡ 1 without log-scales) —
    /// the frame of `BidirectionalLinearAttention`, in which its D̂_i is saved. The rows of one
    /// query type share their type, so they are summed first: mass[a, b] += Q̂_a·K̂_b with
    /// Q̂_a = Σ_{i: x_i = a} q′_i / D̂_i.
    ///
    /// - Parameters:
    ///   - mass: [types, types] Double, accumulated.
    ///   - queryFeatures, keyFeatures: q′, k̃′ [length, features].
    ///   - keyLogScale: s [length] or nil.
    ///   - normalizer: D̂ [length], as the kernel saved it.
    ///   - tokens: x [length], ids < types.
    ///   - scratch: 2·types·features + types·types + length floats.
    /// - Complexity: O(L·m + V²·m): two passes over the rows and one [V, m]·[m, V] product.
    public static func favorBidirectionalSlice(
        mass: UnsafeMutablePointer<Double>, queryFeatures: UnsafePointer<Float>, keyFeatures: UnsafePointer<Float>,
        keyLogScale: UnsafePointer<Float>?, normalizer: UnsafePointer<Float>, tokens: UnsafePointer<TokenID>,
        length l: Int, features m: Int, types t: Int, scratch: UnsafeMutablePointer<Float>
    ) {
        let typeKeys = scratch               // K̂ [t, m]
        let typeQueries = typeKeys + t * m   // Q̂ [t, m]
        let scores = typeQueries + t * m     // Q̂K̂ᵀ [t, t]
        let factors = scores + t * t         // e^{s_j − max s} [l]
        typeKeys.update(repeating: 0, count: 2 * t * m)
        if let s = keyLogScale {
            Elementwise.exp(s, into: factors, count: l, shift: Elementwise.max(s, count: l))
        } else {
            factors.update(repeating: 1, count: l)
        }
        for j in 0..<l {
            let type = Int(tokens[j]) * m
            Elementwise.addScaled(keyFeatures + j * m, by: factors[j], to: typeKeys + type, count: m)
            Elementwise.addScaled(queryFeatures + j * m, by: 1 / normalizer[j], to: typeQueries + type, count: m)
        }
        BLAS.sgemm(transB: true, m: t, n: t, k: m, a: typeQueries, lda: m, b: typeKeys, ldb: m, c: scores, ldc: t)
        for e in 0..<(t * t) { mass[e] += Double(scores[e]) }
    }

    /// Causal FAVOR, one slice: mass[x_i, b] += Σ_{j ≤ i, x_j = b} q′_i·k̃′_j e^{s_j − M_i} / D̂_i,
    /// M_i = max_{j≤i} s_j, in chunks of `chunk` rows like `CausalLinearAttention.forward`: the
    /// per-type state K̂_b = Σ_{j < a, x_j = b} k̃′_j e^{s_j − M_p} of the rows before the chunk (frame
    /// M_p) gives Q′_c K̂ᵀ [n, V], scaled per row by ρ_i = e^{M_p − M_i}; the rows of the chunk itself
    /// come from the masked n×n block (Q′_c K̃′_cᵀ) ⊙ w; then the state moves to the chunk's frame
    /// and takes the chunk's keys in. Nothing reads a key after i.
    ///
    /// - Parameters: as `favorBidirectionalSlice`; D̂_i in row i's own frame M_i (as the causal
    ///   kernel saves it); `scratch`: types·features + chunk·(types + chunk + 3) floats.
    /// - Complexity: O(L·m·(V + C)).
    public static func favorCausalSlice(
        mass: UnsafeMutablePointer<Double>, queryFeatures: UnsafePointer<Float>, keyFeatures: UnsafePointer<Float>,
        keyLogScale: UnsafePointer<Float>?, normalizer: UnsafePointer<Float>, tokens: UnsafePointer<TokenID>,
        length l: Int, features m: Int, types t: Int, chunk: Int, scratch: UnsafeMutablePointer<Float>
    ) {
        let c = Swift.min(chunk, l)
        let typeKeys = scratch               // K̂ [t, m], frame M_p
        let stateScores = typeKeys + t * m   // Q′_c K̂ᵀ [n, t]
        let block = stateScores + c * t      // masked Q′_c K̃′_cᵀ [n, n]
        let rowMax = block + c * c, selfWeight = rowMax + c, carry = selfWeight + c
        typeKeys.update(repeating: 0, count: t * m)
        var previousMax = -Float.infinity
        var a = 0
        while a < l {
            let n = Swift.min(c, l - a)
            let q = queryFeatures + a * m, k = keyFeatures + a * m, x = tokens + a
            let s = keyLogScale.map { $0 + a }
            let first = a == 0
            let chunkMax = s.map {
                CausalLinearAttention.chunkScales(
                    logScale: $0, count: n, previousMax: previousMax, rowMax: rowMax, selfWeight: selfWeight, carry: carry)
            } ?? 0
            // Rows before the chunk.
            if !first {
                BLAS.sgemm(transB: true, m: n, n: t, k: m, a: q, lda: m, b: typeKeys, ldb: m, c: stateScores, ldc: t)
                for i in 0..<n {
                    let factor = Double(s == nil ? 1 : carry[i]) / Double(normalizer[a + i])
                    let row = mass + Int(x[i]) * t, source = stateScores + i * t
                    for b in 0..<t { row[b] += Double(source[b]) * factor }
                }
            }
            // Rows of the chunk, j ≤ i.
            BLAS.sgemm(transB: true, m: n, n: n, k: m, a: q, lda: m, b: k, ldb: m, c: block, ldc: n)
            CausalLinearAttention.applyCausalWeights(block, size: n, logScale: s, rowMax: rowMax, selfWeight: selfWeight)
            for i in 0..<n {
                let inverse = 1 / Double(normalizer[a + i])
                let row = mass + Int(x[i]) * t, source = block + i * n
                for j in 0...i { row[Int(x[j])] += Double(source[j]) * inverse }
            }
            // K̂ ← e^{M_p − M_c} K̂ + Σ_{j in chunk} e^{s_j − M_c} k̃′_j  (by type)
            if a + n < l {
                if let s {
                    if !first {
                        Elementwise.scale(typeKeys, by: exp(previousMax - chunkMax), into: typeKeys, count: t * m)
                    }
                    for j in 0..<n {
                        Elementwise.addScaled(k + j * m, by: exp(s[j] - chunkMax), to: typeKeys + Int(x[j]) * m, count: m)
                    }
                } else {
                    for j in 0..<n { Elementwise.add(k + j * m, to: typeKeys + Int(x[j]) * m, count: m) }
                }
            }
            previousMax = chunkMax
            a += n
        }
    }

    /// Exact softmax attention, one slice, formed explicitly 128 query rows at a time:
    /// mass[x_i, x_j] += exp(q_i·k_j/√d − ℓ_i) for every j (j ≤ i when causal), with ℓ the row
    /// log-sum-exp `ExactAttention.forward` saved.
    ///
    /// - Parameters:
    ///   - query, key: the rotated q, k [length, headDim] the kernel read.
    ///   - logSumExp: ℓ [length].
    ///   - scratch: min(128, length)·length floats.
    /// - Complexity: O(L²·d).
    public static func exactSlice(
        mass: UnsafeMutablePointer<Double>, query: UnsafePointer<Float>, key: UnsafePointer<Float>,
        logSumExp: UnsafePointer<Float>, tokens: UnsafePointer<TokenID>, length l: Int, headDim d: Int,
        types t: Int, causal: Bool, scratch: UnsafeMutablePointer<Float>
    ) {
        let scale = 1 / Float(d).squareRoot()
        var start = 0
        while start < l {
            let end = Swift.min(start + ExactAttention.rowBlock, l)
            let rows = end - start
            let columns = causal ? end : l
            BLAS.sgemm(transB: true, m: rows, n: columns, k: d, alpha: scale,
                       a: query + start * d, lda: d, b: key, ldb: d, c: scratch, ldc: columns)
            for r in 0..<rows {
                let i = start + r
                let valid = causal ? i + 1 : columns
                let p = scratch + r * columns
                Elementwise.exp(p, into: p, count: valid, shift: logSumExp[i])
                let row = mass + Int(tokens[i]) * t
                for j in 0..<valid { row[Int(tokens[j])] += Double(p[j]) }
            }
            start = end
        }
    }
}
