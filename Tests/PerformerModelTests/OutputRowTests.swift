import Testing
import ProteinIO
@testable import PerformerModel

/// `loss` / `lossAndGradients` compute logits only for rows with a non-zero weight (the last
/// block's output side runs on those rows, compacted): the same loss and gradient as the pass
/// over every row, for every kind and direction, and the row moves themselves.
@Suite struct OutputRowTests {
    /// Loss within 1e-6 relative and gradients within 1e-5 (normwise) of the all-rows pass, on
    /// batches with 15 % targets (masked-LM-like), a quarter of zero weights, one target, and
    /// targets everywhere (nothing to select: the plain pass). The selected pass leaves the
    /// unselected rows out of the last FFN and output projection; their gradient there is 0,
    /// so only summation order differs (~1e-7); a row moved to the wrong place, or a gradient
    /// not scattered back, is off by O(1).
    @Test(arguments: PerformerLMTests.allKinds)
    func selectedRowsGiveTheSameLossAndGradients(kind: AttentionKind, causal: Bool) {
        let model = PerformerLM(configuration: PerformerLMTests.tinyConfiguration(kind, causal: causal), seed: 21)
        PerformerLMTests.randomize(model, seed: 22)
        let batch = 3, length = 20, n = batch * length
        var g = SeededGenerator(seed: 23)
        let base = PerformerLMTests.batch(n, seed: 24)
        let masks: [[Float]] = [
            (0..<n).map { _ in g.nextDouble() < 0.15 ? 1 : 0 },
            base.weights,
            (0..<n).map { $0 == 37 ? 1 : 0 },
            [Float](repeating: 1, count: n),
        ]
        let ws = model.makeWorkspace(batch: batch, length: length)
        for weights in masks {
            model.outputRowPruning = false
            model.parameters.zeroGradients()
            let full = model.lossAndGradients(tokens: base.tokens, targets: base.targets, weights: weights, workspace: ws)
            #expect(!ws.rowsSelected)
            let expected = model.parameters.gradients.array
            model.outputRowPruning = true
            model.parameters.zeroGradients()
            let selected = model.lossAndGradients(tokens: base.tokens, targets: base.targets, weights: weights, workspace: ws)
            let targets = weights.filter { $0 != 0 }.count
            #expect(ws.rowsSelected == (targets < n))
            #expect(abs(selected.sum - full.sum) <= 1e-6 * abs(full.sum), "\(kind) causal \(causal) targets \(targets)")
            #expect(selected.weight == full.weight)
            let error = BatchWorkersTests.normwiseError(model.parameters.gradients.array, expected)
            #expect(error <= 1e-5, "\(kind) causal \(causal) targets \(targets): gradient error \(error)")
            let forward = model.loss(tokens: base.tokens, targets: base.targets, weights: weights, workspace: ws)
            #expect(abs(forward.sum - full.sum) <= 1e-6 * abs(full.sum))
        }
    }

    /// After a selected pass, the plain `forward` again computes every row's logits.
    @Test func plainForwardAfterASelectedPassHasAllLogits() {
        let model = PerformerLM(configuration: PerformerLMTests.tinyConfiguration(.favorRelu, causal: false), seed: 25)
        PerformerLMTests.randomize(model, seed: 26)
        let data = PerformerLMTests.batch(2 * 9, seed: 27)
        let ws = model.makeWorkspace(batch: 2, length: 9)
        model.forward(tokens: data.tokens, workspace: ws)
        let logits = ws.logits.array
        var weights = [Float](repeating: 0, count: 18)
        weights[4] = 1
        _ = model.loss(tokens: data.tokens, targets: data.targets, weights: weights, workspace: ws)
        #expect(ws.rowsSelected)
        model.forward(tokens: data.tokens, workspace: ws)
        #expect(!ws.rowsSelected)
        #expect(ws.logits.array == logits)
    }

    /// A gather of the selected rows then scatterRows restores them and zeroes the others, for
    /// selections at the start, the end, scattered, all rows and one row.
    @Test func gatherAndScatterAreInverse() {
        let n = 7, width = 3
        for rows in [[0, 1], [5, 6], [1, 3, 4], Array(0..<7), [2]] {
            let original = (0..<(n * width)).map { Float($0 + 1) }
            var buffer = original
            for (t, row) in rows.enumerated() where row != t {  // the gather the forward's merge does
                buffer.replaceSubrange((t * width)..<((t + 1) * width), with: original[(row * width)..<((row + 1) * width)])
            }
            for (t, row) in rows.enumerated() {
                #expect(Array(buffer[(t * width)..<((t + 1) * width)]) == Array(original[(row * width)..<((row + 1) * width)]))
            }
            buffer.withUnsafeMutableBufferPointer {
                PerformerLM.scatterRows($0.baseAddress!, rows: rows, count: n, width: width)
            }
            for row in 0..<n {
                let expected = rows.contains(row)
                    ? Array(original[(row * width)..<((row + 1) * width)]) : [Float](repeating: 0, count: width)
                #expect(Array(buffer[(row * width)..<((row + 1) * width)]) == expected, "rows \(rows), row \(row)")
            }
        }
    }
}
