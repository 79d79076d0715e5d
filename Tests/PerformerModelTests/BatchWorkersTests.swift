import Testing
import ProteinIO
@testable import PerformerModel

/// Batch workers (in-process data parallelism) against one pass over the whole batch: the same
/// loss and gradient up to rounding, for every attention kind, both directions, even and uneven
/// splits, a given normaliser, workers without targets, and the worker workspaces on their own.
@Suite struct BatchWorkersTests {
    /// A model with order-one parameters (`PerformerLMTests.randomize`), dim 8, 2 heads, 2 layers.
    static func model(_ kind: AttentionKind, causal: Bool) -> PerformerLM {
        let model = PerformerLM(configuration: PerformerLMTests.tinyConfiguration(kind, causal: causal), seed: 3)
        PerformerLMTests.randomize(model, seed: 4)
        return model
    }

    /// max |a − b| / max |b| over the whole buffer (b non-zero somewhere).
    static func normwiseError(_ a: [Float], _ b: [Float]) -> Double {
        let scale = b.map { Double(abs($0)) }.max() ?? 0
        let diff = zip(a, b).map { Double(abs($0 - $1)) }.max() ?? 0
        return diff / scale
    }

    /// The single-pass loss and gradient of `data` (gradients zeroed first).
    static func singlePass(
        _ model: PerformerLM, _ data: PerformerLMTests.Sample, batch: Int, length: Int, normalizer: Double? = nil
    ) -> (LossSum, [Float]) {
        model.parameters.zeroGradients()
        let ws = model.makeWorkspace(batch: batch, length: length)
        let loss = model.lossAndGradients(
            tokens: data.tokens, targets: data.targets, weights: data.weights, workspace: ws, normalizer: normalizer)
        return (loss, model.parameters.gradients.array)
    }

    /// Loss sum and weight within 1e-5 relative, every gradient within 1e-5 of the largest
    /// (normwise), for 2 and 3 workers over 5 windows (3 + 2 and 2 + 2 + 1). The two ways differ
    /// only in how the products over the batch are split and summed (~1e-7 relative); a window
    /// dropped, counted twice, or normalised by its own worker's weight is off by O(1).
    @Test(arguments: PerformerLMTests.allKinds)
    func workersMatchOnePass(kind: AttentionKind, causal: Bool) {
        let model = BatchWorkersTests.model(kind, causal: causal)
        let batch = 5, length = 6
        let data = PerformerLMTests.batch(batch * length, seed: 11)
        let (expectedLoss, expectedGradients) = BatchWorkersTests.singlePass(model, data, batch: batch, length: length)
        for count in [2, 3] {
            let workers = BatchWorkers(model: model, batch: batch, length: length, workers: count)
            #expect(workers.workerCount == count)
            model.parameters.zeroGradients()
            let loss = workers.lossAndGradients(tokens: data.tokens, targets: data.targets, weights: data.weights)
            #expect(abs(loss.sum - expectedLoss.sum) <= 1e-5 * abs(expectedLoss.sum), "\(kind) causal \(causal) workers \(count)")
            #expect(loss.weight == expectedLoss.weight)
            let error = BatchWorkersTests.normwiseError(model.parameters.gradients.array, expectedGradients)
            #expect(error <= 1e-5, "\(kind) causal \(causal) workers \(count): gradient error \(error)")

            let forward = workers.loss(tokens: data.tokens, targets: data.targets, weights: data.weights)
            #expect(abs(forward.sum - expectedLoss.sum) <= 1e-5 * abs(expectedLoss.sum))
            #expect(forward.weight == expectedLoss.weight)
        }
    }

    /// Gradients accumulate (+=) like the model's own call, a given normaliser is used by every
    /// worker, and a worker whose windows hold no target contributes nothing (no NaN).
    @Test func accumulationNormalizerAndEmptyWorker() {
        let model = BatchWorkersTests.model(.favorRelu, causal: false)
        let batch = 4, length = 5
        var data = PerformerLMTests.batch(batch * length, seed: 12)
        for i in (2 * length)..<(batch * length) { data.weights[i] = 0 }  // worker 1 (windows 2, 3): no targets
        let normalizer = 17.0
        let (expectedLoss, once) = BatchWorkersTests.singlePass(model, data, batch: batch, length: length, normalizer: normalizer)
        let workers = BatchWorkers(model: model, batch: batch, length: length, workers: 2)
        model.parameters.zeroGradients()
        for _ in 0..<2 {
            let loss = workers.lossAndGradients(
                tokens: data.tokens, targets: data.targets, weights: data.weights, normalizer: normalizer)
            #expect(abs(loss.sum - expectedLoss.sum) <= 1e-5 * abs(expectedLoss.sum))
            #expect(loss.weight == expectedLoss.weight)
        }
        let twice = once.map { 2 * $0 }
        let gradients = model.parameters.gradients.array
        #expect(gradients.allSatisfy { $0.isFinite })
        #expect(BatchWorkersTests.normwiseError(gradients, twice) <= 1e-5)
    }

    /// One worker is the model's own pass (a plain workspace: bit-identical), and more workers
    /// than windows are capped at one per window.
    @Test func oneWorkerIsThePlainPassAndCountIsCapped() {
        let model = BatchWorkersTests.model(.favorSoftmax, causal: true)
        let batch = 2, length = 7
        let data = PerformerLMTests.batch(batch * length, seed: 13)
        let (expectedLoss, expectedGradients) = BatchWorkersTests.singlePass(model, data, batch: batch, length: length)
        let one = BatchWorkers(model: model, batch: batch, length: length, workers: 1)
        model.parameters.zeroGradients()
        #expect(one.lossAndGradients(tokens: data.tokens, targets: data.targets, weights: data.weights) == expectedLoss)
        #expect(model.parameters.gradients.array == expectedGradients)
        #expect(BatchWorkers(model: model, batch: batch, length: length, workers: 8).workerCount == 2)
        #expect(BatchWorkers(model: model, batch: 5, length: length, workers: 2).starts == [0, 3, 5])
    }

    /// A worker workspace on its own (serial passes, private gradients) computes what a plain
    /// workspace computes, and leaves the model's gradient buffer untouched.
    @Test(arguments: PerformerLMTests.allKinds)
    func workerWorkspaceMatchesPlainWorkspace(kind: AttentionKind, causal: Bool) {
        let model = BatchWorkersTests.model(kind, causal: causal)
        let batch = 3, length = 6
        let data = PerformerLMTests.batch(batch * length, seed: 14)
        let (expectedLoss, expectedGradients) = BatchWorkersTests.singlePass(model, data, batch: batch, length: length)
        let logits = model.makeWorkspace(batch: batch, length: length)
        model.forward(tokens: data.tokens, workspace: logits)

        model.parameters.zeroGradients()
        let worker = model.makeWorkerWorkspace(batch: batch, length: length, privateGradients: true)
        let loss = model.lossAndGradients(
            tokens: data.tokens, targets: data.targets, weights: data.weights, workspace: worker)
        #expect(abs(loss.sum - expectedLoss.sum) <= 1e-5 * abs(expectedLoss.sum))
        #expect(model.parameters.gradients.array.allSatisfy { $0 == 0 })
        let own = worker.privateGradients?.array ?? []
        #expect(BatchWorkersTests.normwiseError(own, expectedGradients) <= 1e-5, "\(kind) causal \(causal)")
        model.forward(tokens: data.tokens, workspace: worker)
        #expect(BatchWorkersTests.normwiseError(worker.logits.array, logits.logits.array) <= 1e-5)
    }
}
