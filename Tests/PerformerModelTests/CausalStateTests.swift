import Testing
import ProteinIO
@testable import PerformerModel

@Suite struct CausalStateTests {
    /// RNN mode, one key at a time, reading at every position, against the chunked forward:
    /// normwise error ≤ 2e-6 on every row of out, elementwise ≤ 2e-6 on the denominator.
    @Test(arguments: [CausalCase.LogScales.none, .uniform(100), .ascending(3), .descending(3)])
    func stepwiseMatchesChunkedForward(scales: CausalCase.LogScales) {
        let l = 70, m = 12, d = 5
        let c = CausalCase(length: l, features: m, headDim: d, scales: scales, seed: 31)
        let (out, normalizer) = c.forward(chunk: 16)
        var state = CausalLinearAttention.State(features: m, headDim: d)
        for i in 0..<l {
            state.append(keyFeature: Array(c.k[(i * m)..<((i + 1) * m)]), keyLogScale: c.s?[i],
                         value: Array(c.v[(i * d)..<((i + 1) * d)]))
            let q = Array(c.q[(i * m)..<((i + 1) * m)])
            let row = state.read(queryFeature: q)
            #expect(row.allSatisfy { $0.isFinite })
            #expect(normwiseError(row, Array(out[(i * d)..<((i + 1) * d)])) <= 2e-6, "row \(i)")
            var z = [Float](repeating: 0, count: d)
            let denominator = q.withUnsafeBufferPointer { q in
                z.withUnsafeMutableBufferPointer { state.read(queryFeature: q.baseAddress!, into: $0.baseAddress!) }
            }
            #expect(elementwiseError([denominator], [normalizer[i]]) <= 2e-6, "row \(i)")
        }
        #expect(state.count == l)
    }

    /// The hand-derived case in RNN mode: out_i = e₁/(i+1) exactly; `reset` starts over.
    @Test func harmonicOutputsExact() {
        var state = CausalLinearAttention.State(features: 1, headDim: 2)
        for round in 0..<2 {
            for i in 0..<8 {
                state.append(keyFeature: [1], keyLogScale: nil, value: i == 0 ? [1, 0] : [0, 0])
                #expect(state.read(queryFeature: [1]) == [1 / Float(i + 1), 0], "round \(round) row \(i)")
            }
            state.reset()
            #expect(state.count == 0)
        }
    }
}
