import Testing
import ProteinIO
#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
@testable import PerformerModel

/// The contractions per slice: the bidirectional GEMM form and the naive masked causal form, both
/// against the explicit L×L Double reference (with true, unstabilised key features), a hand case,
/// and finite differences.
@Suite struct LinearAttentionTests {
    struct Inputs {
        let l: Int, m: Int, d: Int
        let q: Tensor, k: Tensor, s: Tensor?, v: Tensor

        /// Positive features in (0.05, 1) like stabilised ones; log-scales uniform in ±spread.
        init(length l: Int, features m: Int, headDim d: Int, seed: UInt64, logScaleSpread: Float?) {
            self.l = l; self.m = m; self.d = d
            var g = SeededGenerator(seed: seed)
            q = Tensor.uniform(shape: [l, m], lower: 0.05, upper: 1, using: &g)
            k = Tensor.uniform(shape: [l, m], lower: 0.05, upper: 1, using: &g)
            s = logScaleSpread.map { Tensor.uniform(shape: [l], lower: -$0, upper: $0, using: &g) }
            v = Tensor.normal(shape: [l, d], using: &g)
        }

        func reference(causal: Bool, q: [Double]? = nil, k: [Double]? = nil, v: [Double]? = nil) -> [Double] {
            LinearAttentionReference.forward(
                queryFeatures: q ?? self.q.doubles, keyFeatures: k ?? self.k.doubles, keyLogScale: s?.doubles,
                values: v ?? self.v.doubles, length: l, features: m, headDim: d, causal: causal)
        }

        /// Runs the fast contraction (bidirectional or masked causal); returns out and D.
        func forward(causal: Bool) -> (out: Tensor, normalizer: Tensor) {
            let out = Tensor(shape: [l, d]), normalizer = Tensor(shape: [l])
            if causal {
                MaskedLinearAttention.forward(out: out.data, normalizer: normalizer.data, queryFeatures: q.data,
                                              keyFeatures: k.data, keyLogScale: s?.data, values: v.data,
                                              length: l, features: m, headDim: d)
            } else {
                BidirectionalLinearAttention.forward(out: out.data, normalizer: normalizer.data, queryFeatures: q.data,
                                                     keyFeatures: k.data, keyLogScale: s?.data, values: v.data,
                                                     length: l, features: m, headDim: d)
            }
            return (out, normalizer)
        }
    }

    /// Log-scale spreads up to ±150: exp(150) overflows Float32, so only the rescaled form can work.
    @Test(arguments: [false, true], [Float?.none, 5, 150])
    func forwardMatchesExplicitAttentionMatrix(causal: Bool, spread: Float?) {
        let x = Inputs(length: 37, features: 12, headDim: 5, seed: 1, logScaleSpread: spread)
        let (out, _) = x.forward(causal: causal)
        let reference = x.reference(causal: causal)
        var worst = 0.0
        for i in reference.indices { worst = max(worst, abs(Double(out[i]) - reference[i])) }
        #expect(worst < 1e-5, "max abs error \(worst)")
    }

    /// The bidirectional normaliser is D_i = Σ_j q'_i·k̃'_j·exp(s_j − max s).
    @Test func bidirectionalNormalizerIsTheRescaledRowSum() {
        let x = Inputs(length: 9, features: 4, headDim: 3, seed: 2, logScaleSpread: 3)
        let (_, normalizer) = x.forward(causal: false)
        let s = x.s?.doubles ?? []
        let maxS = s.max() ?? 0
        for i in 0..<x.l {
            var expected = 0.0
            for j in 0..<x.l {
                var a = 0.0
                for r in 0..<x.m { a += Double(x.q[i * x.m + r]) * Double(x.k[j * x.m + r]) }
                expected += a * exp(s[j] - maxS)
            }
            #expect(abs(Double(normalizer[i]) - expected) < 1e-5 * expected)
        }
    }

    /// The hand case: q' = k' = 1 (one feature), v = (1, 0, 0) gives causal outputs 1, 1/2, 1/3
    /// (running means) and bidirectional outputs 1/3 everywhere.
    @Test func handDerivedRunningMeans() {
        let ones = Tensor(shape: [3, 1], values: [1, 1, 1])
        let v = Tensor(shape: [3, 1], values: [1, 0, 0])
        let out = Tensor(shape: [3, 1]), normalizer = Tensor(shape: [3])
        MaskedLinearAttention.forward(out: out.data, normalizer: normalizer.data, queryFeatures: ones.data,
                                      keyFeatures: ones.data, keyLogScale: nil, values: v.data,
                                      length: 3, features: 1, headDim: 1)
        #expect(out.array == [1, 0.5, Float(1.0 / 3.0)])
        #expect(normalizer.array == [1, 2, 3])
        BidirectionalLinearAttention.forward(out: out.data, normalizer: normalizer.data, queryFeatures: ones.data,
                                             keyFeatures: ones.data, keyLogScale: nil, values: v.data,
                                             length: 3, features: 1, headDim: 1)
        #expect(out.array.allSatisfy { abs($0 - 1.0 / 3.0) < 1e-7 })
    }

    /// Gradients with respect to q', k̃' and v (log-scales fixed inputs) against central differences
    /// of the explicit reference.
    @Test(arguments: [false, true], [Float?.none, 4])
    func backwardMatchesFiniteDifferences(causal: Bool, spread: Float?) {
        let x = Inputs(length: 11, features: 6, headDim: 4, seed: 3, logScaleSpread: spread)
        let (out, normalizer) = x.forward(causal: causal)
        let r = randomDoubles(x.l * x.d, seed: 4)
        let dOut = tensor([x.l, x.d], r)
        let dq = Tensor(shape: [x.l, x.m]), dk = Tensor(shape: [x.l, x.m]), dv = Tensor(shape: [x.l, x.d])
        if causal {
            MaskedLinearAttention.backward(
                dQueryFeatures: dq.data, dKeyFeatures: dk.data, dValues: dv.data, dOut: dOut.data,
                out: out.data, normalizer: normalizer.data, queryFeatures: x.q.data, keyFeatures: x.k.data,
                keyLogScale: x.s?.data, values: x.v.data, length: x.l, features: x.m, headDim: x.d)
        } else {
            // Blocks of 4, 4 and 3 rows: the block seams are inside the checked rows.
            BidirectionalLinearAttention.backward(
                dQueryFeatures: dq.data, dKeyFeatures: dk.data, dValues: dv.data, dOut: dOut.data,
                out: out.data, normalizer: normalizer.data, queryFeatures: x.q.data, keyFeatures: x.k.data,
                keyLogScale: x.s?.data, values: x.v.data, length: x.l, features: x.m, headDim: x.d, blockRows: 4)
        }
        let numeric = [
            GradientCheck.numericGradient(at: x.q.doubles, weights: r) { x.reference(causal: causal, q: $0) },
            GradientCheck.numericGradient(at: x.k.doubles, weights: r) { x.reference(causal: causal, k: $0) },
            GradientCheck.numericGradient(at: x.v.doubles, weights: r) { x.reference(causal: causal, v: $0) },
        ]
        for (name, analytic, numeric) in zip3(["dQ'", "dK'", "dV"], [dq.array, dk.array, dv.array], numeric) {
            let report = GradientCheck.compare(name, analytic: analytic, numeric: numeric)
            #expect(report.maxRelativeError < 1e-3, "\(report)")
            #expect(report.meanRelativeError < 1e-4, "\(report)")
        }
    }

    /// Backward accumulates: running it twice doubles every gradient.
    @Test func backwardAccumulates() {
        let x = Inputs(length: 8, features: 4, headDim: 3, seed: 5, logScaleSpread: 2)
        let (out, normalizer) = x.forward(causal: false)
        let dOut = randomTensor([x.l, x.d], seed: 6)
        let dq = Tensor(shape: [x.l, x.m]), dk = Tensor(shape: [x.l, x.m]), dv = Tensor(shape: [x.l, x.d])
        var once: [[Float]] = []
        for pass in 0..<2 {
            BidirectionalLinearAttention.backward(
                dQueryFeatures: dq.data, dKeyFeatures: dk.data, dValues: dv.data, dOut: dOut.data,
                out: out.data, normalizer: normalizer.data, queryFeatures: x.q.data, keyFeatures: x.k.data,
                keyLogScale: x.s?.data, values: x.v.data, length: x.l, features: x.m, headDim: x.d)
            if pass == 0 { once = [dq.array, dk.array, dv.array] }
        }
        for (single, double) in zip(once, [dq.array, dk.array, dv.array]) {
            for i in single.indices { #expect(abs(double[i] - 2 * single[i]) <= 1e-6 * max(1, abs(double[i]))) }
        }
    }

    /// The bidirectional backward in blocks of rows gives what one block gives, for every block
    /// size from 1 row up, with and without key log-scales, and hands the blocks over in order,
    /// covering every row once.
    @Test(arguments: [Float?.none, 6])
    func backwardBlocksMatchOneBlock(spread: Float?) {
        let x = Inputs(length: 13, features: 7, headDim: 3, seed: 5, logScaleSpread: spread)
        let (out, normalizer) = x.forward(causal: false)
        let dOut = tensor([x.l, x.d], randomDoubles(x.l * x.d, seed: 6))
        func gradients(blockRows: Int) -> [[Float]] {
            let dq = Tensor(shape: [x.l, x.m]), dk = Tensor(shape: [x.l, x.m]), dv = Tensor(shape: [x.l, x.d])
            var covered = 0
            BidirectionalLinearAttention.backward(
                dValues: dv.data, dOut: dOut.data, out: out.data, normalizer: normalizer.data,
                queryFeatures: x.q.data, keyFeatures: x.k.data, keyLogScale: x.s?.data, values: x.v.data,
                length: x.l, features: x.m, headDim: x.d, blockRows: blockRows
            ) { start, rows, dqBlock, dkBlock in
                #expect(start == covered && rows >= 1 && rows <= blockRows)
                covered += rows
                (dq.data + start * x.m).update(from: dqBlock, count: rows * x.m)
                (dk.data + start * x.m).update(from: dkBlock, count: rows * x.m)
            }
            #expect(covered == x.l)
            return [dq.array, dk.array, dv.array]
        }
        let whole = gradients(blockRows: x.l)
        for blockRows in [1, 2, 4, 5, 12] {
            for (blocked, single) in zip(gradients(blockRows: blockRows), whole) {
                for i in single.indices {
                    #expect(abs(blocked[i] - single[i]) <= 1e-6 * max(1, abs(single[i])), "block \(blockRows), \(i)")
                }
            }
        }
    }
}
