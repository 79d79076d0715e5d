import Testing
@testable import PerformerModel

/// Exact softmax attention per slice: forward against the Double reference (including lengths that
/// span several row blocks), backward against finite differences.
@Suite struct ExactAttentionTests {
    struct Inputs {
        let q: Tensor, k: Tensor, v: Tensor
        init(length l: Int, headDim d: Int, seed: UInt64) {
            q = randomTensor([l, d], seed: seed)
            k = randomTensor([l, d], seed: seed + 1)
            v = randomTensor([l, d], seed: seed + 2)
        }
    }

    @Test(arguments: [(5, false), (5, true), (300, false), (300, true)])
    func forwardMatchesReference(length: Int, causal: Bool) {
        let d = 8
        let x = Inputs(length: length, headDim: d, seed: 10)
        let out = Tensor(shape: [length, d]), lse = Tensor(shape: [length])
        ExactAttention.forward(out: out.data, logSumExp: lse.data, query: x.q.data, key: x.k.data, value: x.v.data,
                               length: length, headDim: d, causal: causal)
        let reference = ExactAttentionReference.forward(
            query: x.q.doubles, key: x.k.doubles, value: x.v.doubles, length: length, headDim: d, causal: causal)
        var worst = 0.0
        for i in reference.indices { worst = max(worst, abs(Double(out[i]) - reference[i])) }
        #expect(worst < 1e-5, "max abs error \(worst)")
        if causal {
            // Row 0 attends only to itself.
            for c in 0..<d { #expect(abs(out[c] - x.v[c]) < 1e-6) }
        }
    }

    /// Gradients of Σ r ⊙ out. Short lengths check every entry; length 300 (three row blocks, the
    /// last partial) checks 60 seeded entries of each tensor.
    @Test(arguments: [(7, false), (7, true), (300, false), (300, true)])
    func backwardMatchesFiniteDifferences(length: Int, causal: Bool) {
        let l = length, d = 4
        let x = Inputs(length: l, headDim: d, seed: 20)
        let r = randomDoubles(l * d, seed: 23)
        let out = Tensor(shape: [l, d]), lse = Tensor(shape: [l])
        ExactAttention.forward(out: out.data, logSumExp: lse.data, query: x.q.data, key: x.k.data, value: x.v.data,
                               length: l, headDim: d, causal: causal)
        let dq = Tensor(shape: [l, d]), dk = Tensor(shape: [l, d]), dv = Tensor(shape: [l, d])
        let dOut = tensor([l, d], r)
        ExactAttention.backward(dQuery: dq.data, dKey: dk.data, dValue: dv.data, dOut: dOut.data,
                                out: out.data, logSumExp: lse.data,
                                query: x.q.data, key: x.k.data, value: x.v.data, length: l, headDim: d, causal: causal)
        let (qd, kd, vd) = (x.q.doubles, x.k.doubles, x.v.doubles)
        let indices: [Int]? = l > 64 ? (0..<60).map { ($0 * 7919) % (l * d) } : nil
        let numeric = [
            GradientCheck.numericGradient(at: qd, indices: indices, weights: r) {
                ExactAttentionReference.forward(query: $0, key: kd, value: vd, length: l, headDim: d, causal: causal) },
            GradientCheck.numericGradient(at: kd, indices: indices, weights: r) {
                ExactAttentionReference.forward(query: qd, key: $0, value: vd, length: l, headDim: d, causal: causal) },
            GradientCheck.numericGradient(at: vd, indices: indices, weights: r) {
                ExactAttentionReference.forward(query: qd, key: kd, value: $0, length: l, headDim: d, causal: causal) },
        ]
        for (name, analytic, numeric) in zip3(["dQ", "dK", "dV"], [dq.array, dk.array, dv.array], numeric) {
            let report = GradientCheck.compare(name, analytic: analytic, numeric: numeric)
            #expect(report.maxRelativeError < 1e-3, "\(report)")
            #expect(report.meanRelativeError < 1e-4, "\(report)")
        }
    }
}

func zip3<A, B, C>(_ a: [A], _ b: [B], _ c: [C]) -> [(A, B, C)] {
    (0..<min(a.count, b.count, c.count)).map { (a[$0], b[$0], c[$0]) }
}
