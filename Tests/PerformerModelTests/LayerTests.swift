import Testing
import ProteinIO
@testable import PerformerModel

#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// Every layer of the model against its Double reference, and its backward against central
/// differences of that reference (`GradientCheck`: loss Σ r ⊙ out with a fixed random r).
///
/// Bounds: the forward within 1e-5 relative (floor 1e-3) of the reference; gradients max relative
/// error < 1e-3 and mean < 1e-4 per tensor (the same bounds as the attention kernels). Float32
/// round-off in a dot product of a few dozen terms is ~1e-6 relative, so the bounds leave a
/// wide margin while catching any wrong term (which shows up as O(1) errors).
@Suite struct LayerTests {
    static let maxBound = 1e-3, meanBound = 1e-4

    func expectClose(_ report: GradientReport) {
        #expect(report.maxRelativeError < LayerTests.maxBound, "\(report)")
        #expect(report.meanRelativeError < LayerTests.meanBound, "\(report)")
    }

    // MARK: Linear

    @Test func linearMatchesReferenceAndGradients() {
        let rows = 5, inputs = 7, outputs = 9
        let x = randomTensor([rows, inputs], seed: 1), w = randomTensor([inputs, outputs], seed: 2, std: 0.4)
        let b = randomTensor([outputs], seed: 3)
        let y = Tensor(shape: [rows, outputs])
        Linear.forward(out: y.data, input: x.data, weight: w.data, bias: b.data, rows: rows, inputs: inputs, outputs: outputs)
        let f = { (x: [Double], w: [Double], b: [Double]) in
            LinearReference.forward(input: x, weight: w, bias: b, rows: rows, inputs: inputs, outputs: outputs)
        }
        let (xd, wd, bd) = (x.doubles, w.doubles, b.doubles)
        #expect(maxRelativeDifference(y.array, f(xd, wd, bd), floor: 1e-3) < 1e-5)

        // Accumulating forward: y += x·W + b.
        let y2 = Tensor(shape: [rows, outputs])
        y2.copy(from: y)
        Linear.forward(out: y2.data, input: x.data, weight: w.data, bias: b.data, rows: rows, inputs: inputs,
                       outputs: outputs, accumulate: true)
        #expect(maxRelativeDifference(y2.array, f(xd, wd, bd).map { 2 * $0 }, floor: 1e-3) < 1e-5)

        let r = randomDoubles(rows * outputs, seed: 4)
        let dy = tensor([rows, outputs], r)
        // Start from nonzero gradients to check accumulation.
        let dx = randomTensor([rows, inputs], seed: 5), dw = randomTensor([inputs, outputs], seed: 6)
        let db = randomTensor([outputs], seed: 7)
        let (dx0, dw0, db0) = (dx.array, dw.array, db.array)
        Linear.backward(dInput: dx.data, dWeight: dw.data, dBias: db.data, dOut: dy.data, input: x.data, weight: w.data,
                        rows: rows, inputs: inputs, outputs: outputs)
        withExtendedLifetime((x, w, b, y, y2, dy)) {}
        func delta(_ t: Tensor, _ start: [Float]) -> [Float] { zip(t.array, start).map { $0 - $1 } }
        expectClose(GradientCheck.compare("linear dx", analytic: delta(dx, dx0),
                                          numeric: GradientCheck.numericGradient(at: xd, weights: r) { f($0, wd, bd) }))
        expectClose(GradientCheck.compare("linear dW", analytic: delta(dw, dw0),
                                          numeric: GradientCheck.numericGradient(at: wd, weights: r) { f(xd, $0, bd) }))
        expectClose(GradientCheck.compare("linear db", analytic: delta(db, db0),
                                          numeric: GradientCheck.numericGradient(at: bd, weights: r) { f(xd, wd, $0) }))
    }

    // MARK: LayerNorm

    /// dim 19 exercises the 8-lane body and a tail; the input has a large common offset (the
    /// mean must be subtracted before squaring).
    @Test func layerNormMatchesReferenceAndGradients() {
        let rows = 4, dim = 19
        let x = randomTensor([rows, dim], seed: 10, std: 2)
        for i in 0..<x.count { x[i] += 3 }
        let gamma = randomTensor([dim], seed: 11, std: 0.5), beta = randomTensor([dim], seed: 12)
        for i in 0..<dim { gamma[i] += 1 }
        let eps: Float = 1e-5
        let y = Tensor(shape: [rows, dim]), mean = Tensor(shape: [rows]), rstd = Tensor(shape: [rows])
        LayerNorm.forward(out: y.data, mean: mean.data, rstd: rstd.data, input: x.data, weight: gamma.data, bias: beta.data,
                          rows: rows, dim: dim, epsilon: eps)
        let f = { (x: [Double], g: [Double], b: [Double]) in
            LayerNormReference.forward(input: x, weight: g, bias: b, rows: rows, dim: dim, epsilon: Double(eps))
        }
        let (xd, gd, bd) = (x.doubles, gamma.doubles, beta.doubles)
        #expect(maxRelativeDifference(y.array, f(xd, gd, bd), floor: 1e-3) < 1e-5)

        // normalize() from the saved statistics reproduces the forward bit for bit.
        let again = Tensor(shape: [rows, dim])
        LayerNorm.normalize(out: again.data, mean: mean.data, rstd: rstd.data, input: x.data, weight: gamma.data,
                            bias: beta.data, rows: rows, dim: dim)
        #expect(again.array.map(\.bitPattern) == y.array.map(\.bitPattern))

        let r = randomDoubles(rows * dim, seed: 13)
        let dx = Tensor(shape: [rows, dim]), dg = Tensor(shape: [dim]), db = Tensor(shape: [dim])
        let dy = tensor([rows, dim], r)
        LayerNorm.backward(dInput: dx.data, dWeight: dg.data, dBias: db.data, dOut: dy.data,
                           input: x.data, mean: mean.data, rstd: rstd.data, weight: gamma.data, rows: rows, dim: dim)
        // Tensors handed over as raw pointers must outlive the calls that read them.
        withExtendedLifetime((x, gamma, beta, y, mean, rstd, dy)) {}
        expectClose(GradientCheck.compare("layernorm dx", analytic: dx.array,
                                          numeric: GradientCheck.numericGradient(at: xd, weights: r) { f($0, gd, bd) }))
        expectClose(GradientCheck.compare("layernorm dγ", analytic: dg.array,
                                          numeric: GradientCheck.numericGradient(at: gd, weights: r) { f(xd, $0, bd) }))
        expectClose(GradientCheck.compare("layernorm dβ", analytic: db.array,
                                          numeric: GradientCheck.numericGradient(at: bd, weights: r) { f(xd, gd, $0) }))
    }

    /// Row chunks on two workers give the same bits as one pass (301 rows × 256: above the
    /// parallel threshold, uneven chunks).
    @Test func layerNormParallelForwardIsBitIdentical() {
        let rows = 301, dim = 256
        let x = randomTensor([rows, dim], seed: 14), gamma = randomTensor([dim], seed: 15), beta = randomTensor([dim], seed: 16)
        let serial = Tensor(shape: [rows, dim]), parallel = Tensor(shape: [rows, dim]), again = Tensor(shape: [rows, dim])
        let mean = Tensor(shape: [rows]), rstd = Tensor(shape: [rows])
        let mean2 = Tensor(shape: [rows]), rstd2 = Tensor(shape: [rows])
        LayerNorm.forward(out: serial.data, mean: mean.data, rstd: rstd.data, input: x.data, weight: gamma.data,
                          bias: beta.data, rows: rows, dim: dim, epsilon: 1e-5)
        LayerNorm.forward(out: parallel.data, mean: mean2.data, rstd: rstd2.data, input: x.data, weight: gamma.data,
                          bias: beta.data, rows: rows, dim: dim, epsilon: 1e-5, parallelism: .workers(2))
        LayerNorm.normalize(out: again.data, mean: mean.data, rstd: rstd.data, input: x.data, weight: gamma.data,
                            bias: beta.data, rows: rows, dim: dim, parallelism: .workers(2))
        #expect(bitIdentical(serial, parallel) && bitIdentical(mean, mean2) && bitIdentical(rstd, rstd2))
        #expect(bitIdentical(serial, again))
        withExtendedLifetime((x, gamma, beta)) {}
    }

    /// The backward on 2 and 3 workers (rows in contiguous parts, each with its own dγ, dβ added
    /// in part order) gives dx bit for bit and dγ, dβ within 1e-6 normwise of one pass (Float
    /// sums in another order); the split column sums give the bias gradient bit for bit (each
    /// column summed in row order).
    @Test func layerNormParallelBackwardAndColumnSumsMatchOnePass() {
        let rows = 301, dim = 256
        let x = randomTensor([rows, dim], seed: 17), gamma = randomTensor([dim], seed: 18), beta = randomTensor([dim], seed: 19)
        let dy = randomTensor([rows, dim], seed: 20)
        let y = Tensor(shape: [rows, dim]), mean = Tensor(shape: [rows]), rstd = Tensor(shape: [rows])
        LayerNorm.forward(out: y.data, mean: mean.data, rstd: rstd.data, input: x.data, weight: gamma.data,
                          bias: beta.data, rows: rows, dim: dim, epsilon: 1e-5)
        #expect(rows * dim >= SliceParallelism.elementwiseMinimum)
        func backward(_ parallelism: SliceParallelism) -> (dx: Tensor, dg: Tensor, db: Tensor, sums: Tensor) {
            // Accumulators start non-zero: the parts must add to them, not overwrite them.
            let dx = randomTensor([rows, dim], seed: 21), dg = randomTensor([dim], seed: 22), db = randomTensor([dim], seed: 23)
            let sums = randomTensor([dim], seed: 24)
            LayerNorm.backward(dInput: dx.data, dWeight: dg.data, dBias: db.data, dOut: dy.data, input: x.data,
                               mean: mean.data, rstd: rstd.data, weight: gamma.data, rows: rows, dim: dim,
                               parallelism: parallelism)
            Linear.columnSums(dy.data, rows: rows, columns: dim, into: sums.data, parallelism: parallelism)
            return (dx, dg, db, sums)
        }
        let one = backward(.serial)
        for workers in [2, 3] {
            let split = backward(.workers(workers))
            #expect(bitIdentical(one.dx, split.dx) && bitIdentical(one.sums, split.sums), "workers \(workers)")
            for (a, b) in [(split.dg, one.dg), (split.db, one.db)] {
                let difference = zip(a.array, b.array).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
                let norm = b.array.reduce(0.0) { $0 + Double($1) * Double($1) }
                #expect((difference / norm).squareRoot() < 1e-6, "workers \(workers)")
            }
        }
        withExtendedLifetime((x, gamma, beta, dy, y)) {}
    }

    // MARK: GELU

    /// The vectorised erf (Eigen's rational approximation) against Double erf on a dense grid
    /// of [−6, 6] plus the clamp edges: within 5e-7 absolute. Measured 4.2e-7 at |x| ≈ 3.3 (about
    /// 7 ulp of a result near 1, Float32 rounding in the Horner steps; the rational function
    /// itself is within 6.5e-8 when evaluated in Double).
    @Test func erfIsWithinFiveTenMillionthsOfDoubleErf() {
        var worst = 0.0
        var x: [Float] = (0...24_000).map { -6 + 12 * Float($0) / 24_000 }
        x += [0, -0.0, 1e-8, -1e-8, 3.999, 4, 4.001, -4, 100, -100]
        var i = 0
        while i < x.count {
            var v = GELU.Vector(repeating: 0)
            let lanes = min(8, x.count - i)
            for lane in 0..<lanes { v[lane] = x[i + lane] }
            let y = GELU.erf(v)
            for lane in 0..<lanes {
                worst = max(worst, abs(Double(y[lane]) - erf(Double(x[i + lane]))))
            }
            i += 8
        }
        #expect(worst < 5e-7, "max |erf error| \(worst)")
    }

    @Test func geluMatchesReferenceAndGradient() {
        // 37 entries: body and tail; values spread over [-6, 6] including the flat tails.
        let count = 37
        let x = randomTensor([count], seed: 20, std: 2.5)
        x[0] = 0; x[1] = -5.9; x[2] = 5.9
        let y = Tensor(shape: [count])
        GELU.forward(out: y.data, input: x.data, count: count)
        let xd = x.doubles
        let reference = GELUReference.forward(xd)
        var worst = 0.0
        for i in 0..<count { worst = max(worst, abs(Double(y[i]) - reference[i])) }
        #expect(worst < 1e-6, "max |GELU error| \(worst)")

        let r = randomDoubles(count, seed: 21)
        let g = tensor([count], r)
        GELU.backward(gradient: g.data, input: x.data, count: count)
        withExtendedLifetime((x, y)) {}
        expectClose(GradientCheck.compare("gelu dx", analytic: g.array,
                                          numeric: GradientCheck.numericGradient(at: xd, weights: r) { GELUReference.forward($0) }))
    }

    /// The fused pass the model's backward uses (GELU and GELU' together, derivative written over
    /// the input) gives the same bits as the separate kernels, and the two-worker split gives the
    /// same bits as one worker (70 001 entries: above the parallel threshold, odd tail).
    @Test func geluFusedAndParallelPassesAreBitIdentical() {
        let count = 70_001
        let x = randomTensor([count], seed: 22, std: 2)
        let serial = Tensor(shape: [count]), parallel = Tensor(shape: [count])
        GELU.forward(out: serial.data, input: x.data, count: count)
        GELU.forward(out: parallel.data, input: x.data, count: count, parallelism: .workers(2))
        #expect(bitIdentical(serial, parallel))

        let fused = Tensor(shape: [count]), derivative = Tensor(shape: [count])
        derivative.copy(from: x)
        GELU.forwardAndDerivative(out: fused.data, derivative: derivative.data, input: derivative.data, count: count,
                                  parallelism: .workers(2))
        #expect(bitIdentical(fused, serial))

        let r = randomTensor([count], seed: 23)
        let viaInput = Tensor(shape: [count]), viaDerivative = Tensor(shape: [count])
        viaInput.copy(from: r)
        viaDerivative.copy(from: r)
        GELU.backward(gradient: viaInput.data, input: x.data, count: count)
        GELU.backward(gradient: viaDerivative.data, derivative: derivative.data, count: count, parallelism: .workers(2))
        #expect(bitIdentical(viaInput, viaDerivative))
        withExtendedLifetime((x, r)) {}
    }

    func bitIdentical(_ a: Tensor, _ b: Tensor) -> Bool {
        a.count == b.count && (0..<a.count).allSatisfy { a[$0].bitPattern == b[$0].bitPattern }
    }

    // MARK: Embedding

    /// Repeated tokens must add their rows' gradients (scatter-add), unused rows stay zero.
    @Test func embeddingGathersAndScatterAdds() {
        let vocab = 6, dim = 5
        let tokens: [TokenID] = [3, 0, 3, 5, 3, 1]
        let e = randomTensor([vocab, dim], seed: 30)
        let x = Tensor(shape: [tokens.count, dim])
        tokens.withUnsafeBufferPointer { Embedding.forward(out: x.data, tokens: $0, weight: e.data, vocab: vocab, dim: dim) }
        let ed = e.doubles
        #expect(x.doubles == EmbeddingReference.forward(tokens: tokens, weight: ed, vocab: vocab, dim: dim))

        let r = randomDoubles(tokens.count * dim, seed: 31)
        let de = Tensor(shape: [vocab, dim]), dx = tensor([tokens.count, dim], r)
        tokens.withUnsafeBufferPointer {
            Embedding.backward(dWeight: de.data, dOut: dx.data, tokens: $0, vocab: vocab, dim: dim)
        }
        withExtendedLifetime((e, x, dx)) {}
        let numeric = GradientCheck.numericGradient(at: ed, weights: r) {
            EmbeddingReference.forward(tokens: tokens, weight: $0, vocab: vocab, dim: dim)
        }
        expectClose(GradientCheck.compare("embedding dE", analytic: de.array, numeric: numeric))
        for row in [2, 4] { #expect((0..<dim).allSatisfy { de[row * dim + $0] == 0 }) }
    }

    // MARK: Rotary embedding

    /// headDim 20 (half 10: one 8-lane block and a tail of 2), 3 slices, 7 positions.
    @Test func rotaryMatchesReferenceAndGradient() {
        let slices = 3, length = 7, headDim = 20, base: Float = 10000
        let rotary = RotaryEmbedding(length: length, headDim: headDim, base: base)
        let x = randomTensor([slices, length, headDim], seed: 40)
        let xd = x.doubles
        let y = Tensor(shape: x.shape)
        y.copy(from: x)
        rotary.forward(y.data, slices: slices)
        let f = { (x: [Double]) in
            RotaryEmbeddingReference.forward(x, slices: slices, length: length, headDim: headDim, base: Double(base))
        }
        #expect(maxRelativeDifference(y.array, f(xd), floor: 1e-3) < 1e-5)

        let r = randomDoubles(x.count, seed: 41)
        let g = tensor(x.shape, r)
        rotary.backward(g.data, slices: slices)
        withExtendedLifetime((x, y)) {}
        expectClose(GradientCheck.compare("rotary dx", analytic: g.array,
                                          numeric: GradientCheck.numericGradient(at: xd, weights: r, f)))
    }

    /// RoPE's defining property: q rotated to position p dotted with k rotated to p' depends only
    /// on p − p'. Checked for offsets up to 8000 (a whole L = 8192 window) by shifting both
    /// positions by s: |Δ(q·k)| < 1e-5·|q||k| (Float32 tables; angles up to 8191 rad are rounded
    /// once from Double, so the error does not grow with the position).
    @Test func rotaryDotProductDependsOnlyOnOffset() {
        let length = 8192, headDim = 16
        let rotary = RotaryEmbedding(length: length, headDim: headDim, base: 10000)
        let q = randomTensor([headDim], seed: 50), k = randomTensor([headDim], seed: 51)
        let norm = Double(Elementwise.dot(q.data, q.data, count: headDim)).squareRoot()
            * Double(Elementwise.dot(k.data, k.data, count: headDim)).squareRoot()
        let rq = Tensor(shape: [headDim]), rk = Tensor(shape: [headDim])
        func rotatedDot(_ p: Int, _ pk: Int) -> Double {
            rotary.rotate(rq.data, q.data, position: p)
            rotary.rotate(rk.data, k.data, position: pk)
            return Double(Elementwise.dot(rq.data, rk.data, count: headDim))
        }
        for (p, pk) in [(0, 0), (5, 2), (3, 100), (1000, 37), (0, 8000)] {
            let reference = rotatedDot(p, pk)
            for shift in [1, 17, 191] where max(p, pk) + shift < length {
                let shifted = rotatedDot(p + shift, pk + shift)
                #expect(abs(shifted - reference) < 1e-5 * norm, "positions (\(p), \(pk)) shifted by \(shift)")
            }
        }
        // And the dot product at offset 0 is the unrotated one.
        #expect(abs(rotatedDot(4000, 4000) - Double(Elementwise.dot(q.data, k.data, count: headDim))) < 1e-5 * norm)
    }

    /// split then merge is the identity, with or without the rotation (merge applies Rᵀ).
    @Test func headSplitAndMergeAreInverse() {
        let batch = 2, length = 5, heads = 3, headDim = 4
        let rotary = RotaryEmbedding(length: length, headDim: headDim, base: 10000)
        let x = randomTensor([batch, length, heads * headDim], seed: 60)
        for parallelism in [SliceParallelism.serial, .workers(2)] {
            let split = Tensor(shape: [batch, heads, length, headDim]), back = Tensor(shape: x.shape)
            HeadLayout.split(out: split.data, input: x.data, batch: batch, length: length, heads: heads, headDim: headDim,
                             rotary: nil, parallelism: parallelism)
            // Element (b, p, h, i) of the input is element (b, h, p, i) of the split.
            #expect(split[((1 * heads + 2) * length + 3) * headDim + 1] == x[((1 * length + 3) * heads + 2) * headDim + 1])
            HeadLayout.merge(out: back.data, input: split.data, batch: batch, length: length, heads: heads,
                             headDim: headDim, inverseRotary: nil, parallelism: parallelism)
            #expect(back.array == x.array)
            HeadLayout.split(out: split.data, input: x.data, batch: batch, length: length, heads: heads, headDim: headDim,
                             rotary: rotary, parallelism: parallelism)
            HeadLayout.merge(out: back.data, input: split.data, batch: batch, length: length, heads: heads,
                             headDim: headDim, inverseRotary: rotary, parallelism: parallelism)
            // cos² + sin² = 1 up to the rounding of the Float tables: within 1e-6 of the scale (x ~ N(0, 1)).
            #expect(maxRelativeDifference(back.array, x.doubles, floor: 1) < 1e-6)
            withExtendedLifetime((split, back)) {}
        }
        withExtendedLifetime(x) {}
    }

    // MARK: Cross-entropy

    /// Weighted loss against the reference, and dlogits of Σ w·CE / Σ w against central
    /// differences (weights include 0, fractional and >1 values; vocab 31 as the protein alphabet).
    @Test func crossEntropyWithWeightsMatchesReferenceAndGradient() {
        let rows = 6, vocab = 31
        let z = randomTensor([rows, vocab], seed: 70, std: 3)
        let targets: [TokenID] = [0, 30, 7, 7, 12, 1]
        let weights: [Float] = [1, 0, 0.5, 2, 1, 0]
        let zd = z.doubles, wd = weights.map(Double.init)
        let loss = targets.withUnsafeBufferPointer { t in
            weights.withUnsafeBufferPointer { w in
                CrossEntropy.loss(logits: z.data, targets: t, weights: w, rows: rows, vocab: vocab)
            }
        }
        let reference = CrossEntropyReference.loss(logits: zd, targets: targets, weights: wd, vocab: vocab)
        #expect(abs(loss.sum - reference.sum) < 1e-5 * reference.sum)
        #expect(loss.weight == 4.5)

        let dz = Tensor(shape: [rows, vocab])
        targets.withUnsafeBufferPointer { t in
            weights.withUnsafeBufferPointer { w in
                CrossEntropy.backward(dLogits: dz.data, logits: z.data, targets: t, weights: w,
                                      scale: Float(1 / loss.weight), rows: rows, vocab: vocab)
            }
        }
        let numeric = GradientCheck.numericGradient(at: zd, weights: [1]) { z in
            let l = CrossEntropyReference.loss(logits: z, targets: targets, weights: wd, vocab: vocab)
            return [l.sum / l.weight]
        }
        expectClose(GradientCheck.compare("cross-entropy dlogits", analytic: dz.array, numeric: numeric))
        withExtendedLifetime(z) {}
        // Rows with weight 0 get exactly zero gradient.
        for row in [1, 5] { #expect((0..<vocab).allSatisfy { dz[row * vocab + $0] == 0 }) }
    }

    /// Extreme logits (±1000) stay finite: the max shift keeps exp in range.
    @Test func crossEntropyIsStableForLargeLogits() {
        let vocab = 31
        var values = [Float](repeating: -1000, count: vocab)
        values[3] = 1000
        let z = Tensor(shape: [1, vocab], values: values)
        let t: [TokenID] = [4], w: [Float] = [1]
        let loss = t.withUnsafeBufferPointer { t in
            w.withUnsafeBufferPointer { w in CrossEntropy.loss(logits: z.data, targets: t, weights: w, rows: 1, vocab: vocab) }
        }
        #expect(loss.sum == 2000)
        #expect(LossSum().mean == 0 && !LossSum().mean.isNaN)
    }
}
