import Foundation
import Testing
import ProteinIO
@testable import PerformerModel

@Suite struct CausalLinearAttentionTests {
    // MARK: Hand-derived

    /// m = 1, q′ = k̃′ = 1, v_0 = e₁, v_j = 0 after: out_i = e₁/(i+1), D_i = i + 1, exactly
    /// (all sums are small integers; 1·(1/(i+1)) is the correctly rounded reciprocal). A constant
    /// log-scale gives weights e^0 = 1, so the same numbers.
    @Test(arguments: [1, 2, 3, 4, 10, 16], [Float?.none, 7])
    func harmonicOutputsExact(chunk: Int, logScale: Float?) {
        let l = 10, d = 3
        var c = CausalCase(length: l, features: 1, headDim: d, scales: .none, seed: 1)
        c.q = [Float](repeating: 1, count: l)
        c.k = [Float](repeating: 1, count: l)
        c.s = logScale.map { [Float](repeating: $0, count: l) }
        c.v = [Float](repeating: 0, count: l * d)
        c.v[0] = 1
        let (out, normalizer) = c.forward(chunk: chunk)
        for i in 0..<l {
            #expect(out[i * d] == 1 / Float(i + 1), "row \(i)")
            #expect(out[i * d + 1] == 0 && out[i * d + 2] == 0, "row \(i)")
            #expect(normalizer[i] == Float(i + 1), "row \(i)")
        }
    }

    /// Same setting, gradient of Σ out (dOut = 1): out_i = mean(v_0…v_i), so
    /// ∂v_j = Σ_{i≥j} 1/(i+1) = H_L − H_j in every column, and ∂q′ = 0 (q′ cancels when m = 1).
    @Test(arguments: [1, 3, 10])
    func harmonicValueGradient(chunk: Int) {
        let l = 10, d = 2
        var c = CausalCase(length: l, features: 1, headDim: d, scales: .none, seed: 2)
        c.q = [Float](repeating: 1, count: l)
        c.k = [Float](repeating: 1, count: l)
        let (out, normalizer) = c.forward(chunk: chunk)
        let zeros = { (n: Int) in [Float](repeating: 0, count: n) }
        let g = c.backward(dOut: [Float](repeating: 1, count: l * d), out: out, normalizer: normalizer,
                           chunk: chunk, dq: zeros(l), dk: zeros(l), dv: zeros(l * d))
        for j in 0..<l {
            let expected = (j..<l).reduce(0.0) { $0 + 1 / Double($1 + 1) }
            for t in 0..<d { #expect(abs(Double(g.dv[j * d + t]) - expected) <= 1e-6, "dv[\(j)]") }
            #expect(abs(g.dq[j]) <= 1e-6, "dq[\(j)]")
        }
    }

    // MARK: Chunked forward vs the O(L²) reference

    struct Shape: Sendable, CustomStringConvertible {
        let length, features, headDim, chunk: Int
        let scales: CausalCase.LogScales
        var description: String { "L=\(length) m=\(features) d=\(headDim) C=\(chunk) s=\(scales)" }
    }

    static let shapes: [Shape] = [
        Shape(length: 37, features: 8, headDim: 5, chunk: 8, scales: .none),
        Shape(length: 37, features: 8, headDim: 5, chunk: 8, scales: .uniform(30)),
        Shape(length: 37, features: 8, headDim: 5, chunk: 1, scales: .uniform(30)),
        Shape(length: 37, features: 8, headDim: 5, chunk: 37, scales: .uniform(30)),
        Shape(length: 37, features: 8, headDim: 5, chunk: 64, scales: .none),
        Shape(length: 64, features: 16, headDim: 4, chunk: 16, scales: .uniform(100)),
        Shape(length: 50, features: 6, headDim: 3, chunk: 7, scales: .uniform(100)),
        Shape(length: 45, features: 5, headDim: 4, chunk: 6, scales: .ascending(5)),
        Shape(length: 45, features: 5, headDim: 4, chunk: 6, scales: .descending(5)),
        Shape(length: 130, features: 32, headDim: 8, chunk: 32, scales: .uniform(60)),
    ]

    /// Bound: normwise 2e-6 on out (a convex combination of v, so absolute error / max|out|) and
    /// elementwise 2e-6 on D̂. Float sums of ≤ 130 non-negative terms; |s| up to 100 would overflow
    /// Float (e^100 ≈ 2.7e43) without the running-max frames.
    @Test(arguments: shapes)
    func forwardMatchesReference(shape: Shape) {
        let c = CausalCase(length: shape.length, features: shape.features, headDim: shape.headDim,
                           scales: shape.scales, seed: UInt64(shape.length * 131 + shape.chunk))
        let (out, normalizer) = c.forward(chunk: shape.chunk)
        let reference = CausalLinearAttention.forwardReference(
            queryFeatures: c.qDouble, keyFeatures: c.kDouble, keyLogScale: c.sDouble, values: c.vDouble,
            length: c.length, features: c.features, headDim: c.headDim)
        #expect(out.allSatisfy { $0.isFinite } && normalizer.allSatisfy { $0.isFinite && $0 > 0 })
        #expect(normwiseError(out, reference.out) <= 2e-6)
        #expect(elementwiseError(normalizer, reference.normalizer) <= 2e-6)
    }

    /// A caller-provided scratch buffer (filled with NaN) gives bit-identical results.
    @Test func callerScratchIsEquivalent() {
        let c = CausalCase(length: 29, features: 7, headDim: 3, scales: .uniform(20), seed: 5)
        let a = c.forward(chunk: 8), b = c.forward(chunk: 8, scratch: true)
        #expect(a.out.map(\.bitPattern) == b.out.map(\.bitPattern))
        #expect(a.normalizer.map(\.bitPattern) == b.normalizer.map(\.bitPattern))
    }

    // MARK: Backward

    /// The reference backward against central differences of the reference forward, all in
    /// Double: loss = Σ r ⊙ out with fixed random r, step h = 1e-6 (relative to the entry),
    /// normwise error ≤ 1e-7 per tensor (the FD truncation + rounding error is ~1e-9 here).
    @Test(arguments: [CausalCase.LogScales.none, .uniform(3), .ascending(0.7)])
    func referenceBackwardMatchesFiniteDifferences(scales: CausalCase.LogScales) {
        let c = CausalCase(length: 9, features: 4, headDim: 3, scales: scales, seed: 11)
        let l = c.length, m = c.features, d = c.headDim
        var rng = SeededGenerator(seed: 12)
        let r = (0..<(l * d)).map { _ in rng.nextGaussian() }
        func loss(_ q: [Double], _ k: [Double], _ v: [Double]) -> Double {
            let out = CausalLinearAttention.forwardReference(
                queryFeatures: q, keyFeatures: k, keyLogScale: c.sDouble, values: v,
                length: l, features: m, headDim: d).out
            return zip(out, r).reduce(0) { $0 + $1.0 * $1.1 }
        }
        let analytic = CausalLinearAttention.backwardReference(
            dOut: r, queryFeatures: c.qDouble, keyFeatures: c.kDouble, keyLogScale: c.sDouble,
            values: c.vDouble, length: l, features: m, headDim: d)
        func numeric(_ which: Int) -> [Double] {
            var x = [c.qDouble, c.kDouble, c.vDouble]
            var grad = [Double](repeating: 0, count: x[which].count)
            for idx in grad.indices {
                let x0 = x[which][idx]
                let h = 1e-6 * max(1, abs(x0))
                x[which][idx] = x0 + h
                let up = loss(x[0], x[1], x[2])
                x[which][idx] = x0 - h
                let down = loss(x[0], x[1], x[2])
                x[which][idx] = x0
                grad[idx] = (up - down) / (2 * h)
            }
            return grad
        }
        #expect(normwiseError(analytic.dQueryFeatures, numeric(0)) <= 1e-7)
        #expect(normwiseError(analytic.dKeyFeatures, numeric(1)) <= 1e-7)
        #expect(normwiseError(analytic.dValues, numeric(2)) <= 1e-7)
    }

    /// The chunked Float backward (accumulating into random initial gradients, with a different
    /// chunk than the forward, handing its gradients over two chunks at a time) against the Double
    /// reference, per tensor:
    /// `max|Δ| / max(magnitude) ≤ 1e-6`, where `magnitude` is the gradient with every term in
    /// absolute value (`causalGradientMagnitudes`; measured ≤ 1.5e-7 ≈ 2.5 Float ulps), and the plain
    /// normwise error `max|Δ| / max|reference| ≤ 1e-4` (the gap is the cancellation in
    /// `g·v/D̂ − g·out/D̂` when `out_i ≈ v_j`: the descending case loses ~2 digits there).
    @Test(arguments: shapes)
    func backwardMatchesReference(shape: Shape) {
        let c = CausalCase(length: shape.length, features: shape.features, headDim: shape.headDim,
                           scales: shape.scales, seed: UInt64(shape.length * 71 + shape.chunk))
        let l = c.length, m = c.features, d = c.headDim
        var rng = SeededGenerator(seed: 99)
        let dOut = (0..<(l * d)).map { _ in Float(rng.nextGaussian()) }
        let q0 = (0..<(l * m)).map { _ in Float(rng.nextGaussian()) * 0.01 }
        let k0 = (0..<(l * m)).map { _ in Float(rng.nextGaussian()) * 0.01 }
        let v0 = (0..<(l * d)).map { _ in Float(rng.nextGaussian()) * 0.01 }
        let (out, normalizer) = c.forward(chunk: max(1, shape.chunk / 2))
        // Groups of two chunks: the group seams of the second pass lie inside the checked rows.
        let g = c.backward(dOut: dOut, out: out, normalizer: normalizer, chunk: shape.chunk,
                           dq: q0, dk: k0, dv: v0, chunksPerGroup: 2)
        let reference = CausalLinearAttention.backwardReference(
            dOut: dOut.map(Double.init), queryFeatures: c.qDouble, keyFeatures: c.kDouble,
            keyLogScale: c.sDouble, values: c.vDouble, length: l, features: m, headDim: d)
        func delta(_ x: [Float], _ x0: [Float]) -> [Double] { zip(x, x0).map { Double($0) - Double($1) } }
        #expect(g.dq.allSatisfy { $0.isFinite } && g.dk.allSatisfy { $0.isFinite } && g.dv.allSatisfy { $0.isFinite })
        let magnitude = causalGradientMagnitudes(c, dOut: dOut.map(Double.init))
        let dq = delta(g.dq, q0), dk = delta(g.dk, k0), dv = delta(g.dv, v0)
        #expect(scaledError(dq, reference.dQueryFeatures, scale: magnitude.dq) <= 1e-6)
        #expect(scaledError(dk, reference.dKeyFeatures, scale: magnitude.dk) <= 1e-6)
        #expect(scaledError(dv, reference.dValues, scale: magnitude.dv) <= 1e-6)
        #expect(normwiseError(dq, reference.dQueryFeatures) <= 1e-4)
        #expect(normwiseError(dk, reference.dKeyFeatures) <= 1e-4)
        #expect(normwiseError(dv, reference.dValues) <= 1e-4)
    }

    /// How many chunks the second pass hands over at a time (1, 2, 5, or all at once) changes
    /// nothing but rounding: every grouping gives the gradients of the one-group backward.
    @Test(arguments: [CausalCase.LogScales.none, .uniform(20)])
    func groupingDoesNotChangeTheGradients(scales: CausalCase.LogScales) {
        let c = CausalCase(length: 40, features: 6, headDim: 4, scales: scales, seed: 31)
        var rng = SeededGenerator(seed: 32)
        let dOut = (0..<(c.length * c.headDim)).map { _ in Float(rng.nextGaussian()) }
        let zeroQ = [Float](repeating: 0, count: c.length * c.features), zeroV = [Float](repeating: 0, count: c.length * c.headDim)
        let (out, normalizer) = c.forward(chunk: 3)
        func gradients(_ groups: Int) -> [[Float]] {
            let g = c.backward(dOut: dOut, out: out, normalizer: normalizer, chunk: 3,
                               dq: zeroQ, dk: zeroQ, dv: zeroV, chunksPerGroup: groups)
            return [g.dq, g.dk, g.dv]
        }
        let whole = gradients(100)
        for groups in [1, 2, 5] {
            for (grouped, single) in zip(gradients(groups), whole) {
                for i in single.indices {
                    #expect(abs(grouped[i] - single[i]) <= 1e-6 * max(1, abs(single[i])), "groups of \(groups), \(i)")
                }
            }
        }
    }

    /// The chunk products the forward keeps: chunk k's n×n block at offset k·C², equal to
    /// A_ij = e^{s_j − M_i} q′_i·k̃′_j for j ≤ i (Double reference) and exactly 0 above the diagonal,
    /// filling the `chunkProductCount` buffer (uneven last chunks included); and a backward that
    /// reads them gives the gradients of one that computes them again.
    @Test(arguments: [CausalCase.LogScales.none, .uniform(20), .ascending(0.7)], [3, 7, 40])
    func keptChunkProductsMatchAndServeTheBackward(scales: CausalCase.LogScales, chunk: Int) {
        let c = CausalCase(length: 40, features: 6, headDim: 4, scales: scales, seed: 33)
        let (l, m) = (c.length, c.features)
        let kept = c.forward(chunk: chunk, keepingProducts: true)
        let products = try! #require(kept.products)
        #expect(products.count == CausalLinearAttention.chunkProductCount(length: l, chunk: chunk))
        #expect(!products.contains { $0.isNaN }, "a kept product was never written")
        let q = c.qDouble, k = c.kDouble, s = c.sDouble
        var runningMax = -Double.infinity
        var rowMax = [Double](repeating: 0, count: l)
        for i in 0..<l {
            runningMax = max(runningMax, s?[i] ?? 0)
            rowMax[i] = runningMax
        }
        var start = 0, offset = 0
        while start < l {
            let n = min(chunk, l - start)
            for i in 0..<n {
                for j in 0..<n {
                    let got = products[offset + i * n + j]
                    if j > i {
                        #expect(got == 0, "chunk at \(start): (\(i), \(j)) above the diagonal")
                        continue
                    }
                    var dot = 0.0
                    for r in 0..<m { dot += q[(start + i) * m + r] * k[(start + j) * m + r] }
                    let weight = Foundation.exp((s?[start + j] ?? 0) - rowMax[start + i])
                    #expect(abs(Double(got) - weight * dot) <= 1e-5 * max(1, weight * dot), "chunk at \(start): (\(i), \(j))")
                }
            }
            start += n
            offset += chunk * chunk
        }

        var rng = SeededGenerator(seed: 34)
        let dOut = (0..<(l * c.headDim)).map { _ in Float(rng.nextGaussian()) }
        let zeroQ = [Float](repeating: 0, count: l * m), zeroV = [Float](repeating: 0, count: l * c.headDim)
        let recomputed = c.backward(dOut: dOut, out: kept.out, normalizer: kept.normalizer, chunk: chunk,
                                    dq: zeroQ, dk: zeroQ, dv: zeroV)
        let reading = c.backward(dOut: dOut, out: kept.out, normalizer: kept.normalizer, chunk: chunk,
                                 dq: zeroQ, dk: zeroQ, dv: zeroV, chunkProducts: products)
        for (x, y) in [(reading.dq, recomputed.dq), (reading.dk, recomputed.dk), (reading.dv, recomputed.dv)] {
            #expect(normwiseError(x, y) <= 1e-6)
        }
    }

    // MARK: Causality

    /// Replacing every input row after i (new Q′, K̃′, V; log-scales raised by 50 so the running
    /// max grows after i) leaves rows ≤ i of out and D̂ bit-identical, and changes row i + 1.
    @Test(arguments: [CausalCase.LogScales.none, .uniform(30)], [1, 8, 40])
    func noOutputDependsOnTheFuture(scales: CausalCase.LogScales, chunk: Int) {
        let l = 40, m = 6, d = 4
        let c = CausalCase(length: l, features: m, headDim: d, scales: scales, seed: 21)
        let (out, normalizer) = c.forward(chunk: chunk)
        for i in [0, 5, 7, 8, 15, 16, 20, 38] {
            var p = c
            let other = CausalCase(length: l, features: m, headDim: d, scales: scales, seed: 1000 + UInt64(i))
            p.q.replaceSubrange(((i + 1) * m)..., with: other.q[((i + 1) * m)...])
            p.k.replaceSubrange(((i + 1) * m)..., with: other.k[((i + 1) * m)...])
            p.v.replaceSubrange(((i + 1) * d)..., with: other.v[((i + 1) * d)...])
            if var s = p.s {
                for j in (i + 1)..<l { s[j] += 50 }
                p.s = s
            }
            let (pOut, pNormalizer) = p.forward(chunk: chunk)
            let prefix = 0..<((i + 1) * d)
            #expect(pOut[prefix].map(\.bitPattern) == out[prefix].map(\.bitPattern), "i = \(i)")
            #expect(pNormalizer[0...i].map(\.bitPattern) == normalizer[0...i].map(\.bitPattern), "i = \(i)")
            // The perturbation is real: the next row sees it.
            #expect(pOut[((i + 1) * d)..<((i + 2) * d)] != out[((i + 1) * d)..<((i + 2) * d)], "i = \(i)")
        }
    }
}
