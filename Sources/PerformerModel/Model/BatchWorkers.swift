import ProteinIO

/// Data parallelism inside one process: a batch of windows is split into contiguous groups, one
/// per worker, and the workers run their forward (and backward) passes at the same time, one per
/// core, each on its own worker workspace with single-threaded OpenBLAS.
///
/// Why: a pass on a plain workspace shares one window's rows among a team of threads that must
/// meet around every attention layer (`Team`); whole windows per core need no synchronisation
/// until the end of the step (measured in BENCHMARKS.md, "Training": `bench train --workers`).
///
/// What it computes is the same loss and gradient as one pass over the whole batch: worker w
/// takes windows [start_w, start_{w+1}) and accumulates the gradient of Σ w·CE / normaliser,
/// with the normaliser of the whole batch (Σ w over all windows, unless given); worker 0 writes
/// into the model's gradients, the others into private buffers that are then added to it in
/// worker order. Only the rounding differs from a single pass (the matrix products over the
/// batch are summed in two parts), and a run is deterministic for a given worker count.
///
/// With one worker it is a plain workspace and `lossAndGradients` is the model's own.
public final class BatchWorkers {
    public let model: PerformerLM
    /// Windows per batch.
    public let batch: Int
    /// Tokens per window.
    public let length: Int
    /// The first window of each worker, and `batch` at the end: worker w takes [starts[w], starts[w + 1]).
    public let starts: [Int]
    let workspaces: [PerformerLM.Workspace]

    /// Workers for `batch` windows with `workers` workers (at most one per window: `min(workers, batch)`).
    public init(model: PerformerLM, batch: Int, length: Int, workers: Int) {
        requireAlways(batch >= 1 && length >= 1, "batch workers need batch ≥ 1 and length ≥ 1")
        requireAlways(workers >= 1, "batch workers need at least one worker")
        let count = Swift.min(workers, batch)
        self.model = model
        self.batch = batch
        self.length = length
        // Windows as evenly as possible, the larger groups first.
        starts = (0...count).map { w in w * (batch / count) + Swift.min(w, batch % count) }
        if count == 1 {
            workspaces = [model.makeWorkspace(batch: batch, length: length)]
        } else {
            workspaces = (0..<count).map { w in
                model.makeWorkerWorkspace(
                    batch: BatchWorkers.windows(w, batch: batch, count: count),
                    length: length, privateGradients: w > 0)
            }
        }
    }

    /// Windows of worker `w` of `count` over `batch` windows.
    static func windows(_ w: Int, batch: Int, count: Int) -> Int {
        batch / count + (w < batch % count ? 1 : 0)
    }

    /// The number of workers.
    public var workerCount: Int { workspaces.count }

    /// The default worker count: one per OpenBLAS thread the process runs with (so
    /// OPENBLAS_NUM_THREADS=1, as in an MPI rank, means one), at most one per window.
    public static func automaticWorkers(batch: Int) -> Int {
        Swift.max(1, Swift.min(batch, BLAS.configuredThreads))
    }

    /// Bytes held by the workers' workspaces (activations, attention buffers, private gradients).
    public var byteCount: Int { workspaces.reduce(0) { $0 + $1.byteCount } }

    /// `PerformerLM.lossAndGradients` over the whole batch (tokens, targets, weights
    /// [batch, length] row-major), split over the workers: returns the batch's Σ w·CE and Σ w and
    /// ACCUMULATES (+=) into `model.parameters.gradients` the gradient of Σ w·CE / normaliser
    /// (default: the batch's Σ w).
    public func lossAndGradients(
        tokens: UnsafeBufferPointer<TokenID>, targets: UnsafeBufferPointer<TokenID>, weights: UnsafeBufferPointer<Float>,
        normalizer: Double? = nil
    ) -> LossSum {
        checkCounts(tokens: tokens, targets: targets, weights: weights)
        guard workspaces.count > 1 else {
            return model.lossAndGradients(
                tokens: tokens, targets: targets, weights: weights, workspace: workspaces[0], normalizer: normalizer)
        }
        let total = normalizer ?? weights.reduce(0.0) { $0 + Double($1) }
        for workspace in workspaces.dropFirst() { workspace.privateGradients?.zero() }
        let sums = run(tokens: tokens, targets: targets, weights: weights) { w, t, y, wt in
            model.lossAndGradients(tokens: t, targets: y, weights: wt, workspace: workspaces[w], normalizer: total)
        }
        let gradients = model.parameters.gradients
        for workspace in workspaces.dropFirst() {
            guard let own = workspace.privateGradients else { continue }
            Elementwise.add(own.data, to: gradients.data, count: gradients.count)
        }
        return sums
    }

    /// `PerformerLM.loss` over the whole batch, split over the workers (forward only).
    public func loss(
        tokens: UnsafeBufferPointer<TokenID>, targets: UnsafeBufferPointer<TokenID>, weights: UnsafeBufferPointer<Float>
    ) -> LossSum {
        checkCounts(tokens: tokens, targets: targets, weights: weights)
        guard workspaces.count > 1 else {
            return model.loss(tokens: tokens, targets: targets, weights: weights, workspace: workspaces[0])
        }
        return run(tokens: tokens, targets: targets, weights: weights) { w, t, y, wt in
            model.loss(tokens: t, targets: y, weights: wt, workspace: workspaces[w])
        }
    }

    /// `lossAndGradients` on arrays (e.g. `Batch.tokens`, `.targets`, `.weights`).
    public func lossAndGradients(
        tokens: [TokenID], targets: [TokenID], weights: [Float], normalizer: Double? = nil
    ) -> LossSum {
        tokens.withUnsafeBufferPointer { t in
            targets.withUnsafeBufferPointer { y in
                weights.withUnsafeBufferPointer { w in
                    lossAndGradients(tokens: t, targets: y, weights: w, normalizer: normalizer)
                }
            }
        }
    }

    /// `loss` on arrays.
    public func loss(tokens: [TokenID], targets: [TokenID], weights: [Float]) -> LossSum {
        tokens.withUnsafeBufferPointer { t in
            targets.withUnsafeBufferPointer { y in
                weights.withUnsafeBufferPointer { w in loss(tokens: t, targets: y, weights: w) }
            }
        }
    }

    private func checkCounts(
        tokens: UnsafeBufferPointer<TokenID>, targets: UnsafeBufferPointer<TokenID>, weights: UnsafeBufferPointer<Float>
    ) {
        let n = batch * length
        requireAlways(tokens.count == n && targets.count == n && weights.count == n,
                      "\(tokens.count) tokens for batch workers of batch \(batch) × length \(length)")
    }

    /// Runs `pass(w, tokens_w, targets_w, weights_w)` for every worker at once (OpenBLAS at one
    /// thread meanwhile) and returns the sum of the workers' losses, added in worker order.
    private func run(
        tokens: UnsafeBufferPointer<TokenID>, targets: UnsafeBufferPointer<TokenID>, weights: UnsafeBufferPointer<Float>,
        _ pass: (Int, UnsafeBufferPointer<TokenID>, UnsafeBufferPointer<TokenID>, UnsafeBufferPointer<Float>) -> LossSum
    ) -> LossSum {
        let count = workspaces.count
        let results = UnsafeMutableBufferPointer<LossSum>.allocate(capacity: count)
        results.initialize(repeating: LossSum())
        defer { results.deallocate() }
        SliceParallelism.workers(count).run(slices: count) { w, _ in
            let range = (starts[w] * length)..<(starts[w + 1] * length)
            results[w] = pass(
                w, UnsafeBufferPointer(rebasing: tokens[range]), UnsafeBufferPointer(rebasing: targets[range]),
                UnsafeBufferPointer(rebasing: weights[range]))
        }
        return results.reduce(LossSum()) { LossSum(sum: $0.sum + $1.sum, weight: $0.weight + $1.weight) }
    }
}
