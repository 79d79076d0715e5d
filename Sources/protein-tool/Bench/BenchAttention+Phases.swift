import PerformerModel
import ProteinIO

/// `bench attention --phases`: where a FAVOR kernel's forward+backward time goes. The kernel's
/// four steps, called one (batch, head) slice at a time on one thread with single-threaded
/// OpenBLAS:
///
/// 1. feature maps forward (q' and k̃'/k' from Q and K: one GEMM and L·m exp or ReLU each),
/// 2. contraction forward (bidirectional or chunked causal),
/// 3. contraction backward,
/// 4. feature maps backward (dQ, dK from dQ', dK': one GEMM and one row pass each).
///
/// Each phase time is summed over the slices and the median over the repeats is reported; the
/// total is single-threaded work, not the parallel kernel's wall time. The kernel itself runs
/// phases 3 and 4 interleaved, block by block of rows while each block is in cache; here they run
/// one after the other over whole [L, m] gradients (the contractions' array forms; the causal one
/// allocates its [L, m] ∂Q′ inside phase 3), so these phases can add up to more than the kernel.
struct AttentionPhaseTimes {
    static let names = ["features fwd", "contraction fwd", "contraction bwd", "features bwd"]
    /// Median seconds per phase, in the order of `names`.
    var seconds: [Double]
    var total: Double { seconds.reduce(0, +) }
}

extension AttentionBenchConfiguration {
    func measurePhases() -> AttentionPhaseTimes {
        precondition(kind.usesRandomFeatures, "phases are for the FAVOR kernels")
        let l = length, d = headDim, m = features, slices = batch * heads
        let w = RandomFeatures(features: m, headDim: d, distribution: .orthogonal, seed: seed)
        let weights = w.weights.data
        let epsilon = AttentionKernel.defaultEpsilon(kind)
        var generator = SeededGenerator(seed: seed &+ 0x9E37_79B9_7F4A_7C15)
        // Q, K, V, dOut [slices, L, d]; per-slice work buffers reused across slices.
        let shape = [slices, l, d]
        let query = Tensor.normal(shape: shape, using: &generator)
        let key = Tensor.normal(shape: shape, using: &generator)
        let value = Tensor.normal(shape: shape, using: &generator)
        let dOut = Tensor.normal(shape: shape, using: &generator)
        let out = Tensor(shape: [l, d]), normalizer = Tensor(shape: [l]), logScale = Tensor(shape: [l])
        let queryFeatures = Tensor(shape: [l, m]), keyFeatures = Tensor(shape: [l, m])
        let dQueryFeatures = Tensor(shape: [l, m]), dKeyFeatures = Tensor(shape: [l, m])
        let dQuery = Tensor(shape: [l, d]), dKey = Tensor(shape: [l, d]), dValue = Tensor(shape: [l, d])
        // The chunk products the causal forward keeps for the backward, as the kernel does.
        let chunkProducts = Tensor(shape: [causal ? CausalLinearAttention.chunkProductCount(length: l, chunk: chunk) : 0])
        let scratch = Tensor(shape: [causal
            ? max(CausalLinearAttention.forwardScratchCount(length: l, features: m, headDim: d, chunk: chunk),
                  CausalLinearAttention.backwardScratchCount(length: l, features: m, headDim: d, chunk: chunk))
            : BidirectionalLinearAttention.workspaceCount(length: l, features: m, headDim: d)])
        let savedThreads = BLAS.threads
        BLAS.threads = 1
        defer { BLAS.threads = savedThreads }

        func slicePhases(_ s: Int) -> [Double] {
            let q = query.data + s * l * d, k = key.data + s * l * d
            let v = value.data + s * l * d, g = dOut.data + s * l * d
            let sk: UnsafeMutablePointer<Float>? = kind == .favorSoftmax ? logScale.data : nil
            var t = [Clock.now()]
            if kind == .favorSoftmax {
                FavorSoftmaxFeatures.forwardQueries(out: queryFeatures.data, input: q, weights: weights,
                                                    length: l, features: m, headDim: d, epsilon: epsilon)
                FavorSoftmaxFeatures.forwardKeys(out: keyFeatures.data, logScale: logScale.data, input: k,
                                                 weights: weights, length: l, features: m, headDim: d)
            } else {
                FavorReluFeatures.forward(out: queryFeatures.data, input: q, weights: weights,
                                          length: l, features: m, headDim: d, epsilon: epsilon)
                FavorReluFeatures.forward(out: keyFeatures.data, input: k, weights: weights,
                                          length: l, features: m, headDim: d, epsilon: epsilon)
            }
            t.append(Clock.now())
            if causal {
                CausalLinearAttention.forward(
                    out: out.data, normalizer: normalizer.data, queryFeatures: queryFeatures.data,
                    keyFeatures: keyFeatures.data, keyLogScale: sk, values: v, length: l, features: m,
                    headDim: d, chunk: chunk, scratch: scratch.data, chunkProducts: chunkProducts.data)
            } else {
                BidirectionalLinearAttention.forward(
                    out: out.data, normalizer: normalizer.data, queryFeatures: queryFeatures.data,
                    keyFeatures: keyFeatures.data, keyLogScale: sk, values: v, length: l, features: m,
                    headDim: d, workspace: scratch.data)
            }
            t.append(Clock.now())
            dQueryFeatures.zero(); dKeyFeatures.zero()
            let resumed = Clock.now()
            if causal {
                CausalLinearAttention.backward(
                    dQueryFeatures: dQueryFeatures.data, dKeyFeatures: dKeyFeatures.data, dValues: dValue.data,
                    dOut: g, out: out.data, normalizer: normalizer.data, queryFeatures: queryFeatures.data,
                    keyFeatures: keyFeatures.data, keyLogScale: sk, values: v, length: l, features: m,
                    headDim: d, chunk: chunk, scratch: scratch.data, chunkProducts: chunkProducts.data)
            } else {
                BidirectionalLinearAttention.backward(
                    dQueryFeatures: dQueryFeatures.data, dKeyFeatures: dKeyFeatures.data, dValues: dValue.data,
                    dOut: g, out: out.data, normalizer: normalizer.data, queryFeatures: queryFeatures.data,
                    keyFeatures: keyFeatures.data, keyLogScale: sk, values: v, length: l, features: m,
                    headDim: d, workspace: scratch.data)
            }
            t.append(Clock.now())
            if kind == .favorSoftmax {
                FavorSoftmaxFeatures.backward(dInput: dQuery.data, dOut: dQueryFeatures.data, out: queryFeatures.data,
                                              input: q, weights: weights, length: l, features: m, headDim: d,
                                              epsilon: epsilon)
                FavorSoftmaxFeatures.backward(dInput: dKey.data, dOut: dKeyFeatures.data, out: keyFeatures.data,
                                              input: k, weights: weights, length: l, features: m, headDim: d,
                                              epsilon: 0)
            } else {
                FavorReluFeatures.backward(dInput: dQuery.data, dOut: dQueryFeatures.data, out: queryFeatures.data,
                                           weights: weights, length: l, features: m, headDim: d, epsilon: epsilon)
                FavorReluFeatures.backward(dInput: dKey.data, dOut: dKeyFeatures.data, out: keyFeatures.data,
                                           weights: weights, length: l, features: m, headDim: d, epsilon: epsilon)
            }
            t.append(Clock.now())
            return [t[1] - t[0], t[2] - t[1], t[3] - resumed, t[4] - t[3]]
        }

        func pass() -> [Double] {
            var sums = [0.0, 0.0, 0.0, 0.0]
            for s in 0..<slices {
                for (i, x) in slicePhases(s).enumerated() { sums[i] += x }
            }
            return sums
        }
        _ = pass()
        var samples: [[Double]] = []
        for _ in 0..<repeats { samples.append(pass()) }
        return AttentionPhaseTimes(seconds: (0..<4).map { i in Clock.median(samples.map { $0[i] }) })
    }
}
