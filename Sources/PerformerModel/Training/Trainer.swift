import Foundation
import ProteinIO

/// One training run: a model, its optimizer and its data stream, stepped until the step count or
/// the time budget is reached, with periodic validation, metrics and checkpoints in `directory`.
///
/// A step: take the next batch from the stream → zero the gradients → forward, loss, backward →
/// stop if the loss or the gradient norm is not finite (nothing is applied, the last checkpoint
/// stays) → clip to `clipNorm` → AdamW at the scheduled learning rate → redraw the random
/// features when `redrawEvery` divides the step count.
///
/// Everything a step depends on is in the checkpoint (parameters, random features, AdamW
/// moments and step, the stream's position, masker and crop generators), and random-feature
/// redraws are seeded by (seed, step), so a resumed run takes the same steps as an
/// uninterrupted one, bit for bit. Validation uses its own stream and never disturbs training.
///
/// Files in `directory`: `checkpoint.safetensors` (everything, for `--resume`),
/// `model.safetensors` (weights, features and configuration only, for inference) and
/// `metrics.jsonl`.
///
/// Data parallel (`reducer.size` = N > 1, docs/distributed.md): every rank streams shard
/// `reducer.rank` of N of the train side (`BatchStream.Shard`), and a step becomes: all-reduce
/// the batch's loss weight Σw → forward and backward with that global Σw as the normaliser →
/// all-reduce (sum) the gradients and the loss → the same checks, clipping and AdamW update on
/// every rank. The summed gradient is then exactly the gradient of the global batch's loss
/// Σ w·CE / Σ w (N × `batch` windows), as one process with the whole batch would compute it, up
/// to the order of float additions. Rank 0 alone validates and writes the checkpoint (with every
/// rank's stream state) and metrics.jsonl; a time limit is decided by rank 0's clock.
public final class Trainer {
    public let model: PerformerLM
    public let configuration: TrainingConfiguration
    public let corpus: [String]
    public let directory: String
    /// The collective operations of a data-parallel run (`SingleProcessReducer` otherwise).
    public let reducer: any GradientReducer
    let optimizer: AdamW
    let stream: BatchStream
    /// The step's forward and backward, split over batch workers (`TrainingConfiguration.workers`).
    public let workers: BatchWorkers
    /// AdamW's weight-decay ranges (matrices and embedding), computed once.
    let decayMask: [Range<Int>]
    var batch: Batch
    /// Optimizer steps taken (the next step is number `step + 1`).
    public private(set) var step: Int
    /// Seconds spent in earlier sessions of this run (restored on resume).
    var elapsedBefore: Double
    /// Wall clock at the start of this session.
    var sessionStart: Double = 0
    /// The last validation perplexity and its step.
    public internal(set) var lastValidation: (step: Int, perplexity: Double)?
    /// Path of the last checkpoint written or resumed from.
    public internal(set) var lastCheckpoint: String?
    /// The model seed (for redraws); stored in the checkpoint.
    let modelSeed: UInt64
    /// Rank 0's `elapsed`, agreed by all ranks after each step of a distributed run with a time
    /// limit, so that every rank stops and schedules the learning rate alike; nil otherwise.
    var agreedElapsed: Double?
    /// Seconds spent in the gradient all-reduce (waiting for the slowest rank included) since
    /// the last log step.
    var intervalReduceSeconds = 0.0

    public var checkpointPath: String { directory + "/checkpoint.safetensors" }
    public var modelPath: String { directory + "/model.safetensors" }
    public var metricsPath: String { directory + "/metrics.jsonl" }

    /// A fresh run: a new model from `modelSeed`, training on the train side of `corpus` (on
    /// shard `reducer.rank` of `reducer.size` of it for a data-parallel run; every rank builds
    /// the same initial model from `modelSeed`).
    public convenience init(
        model configuration: PerformerConfiguration, modelSeed: UInt64, training: TrainingConfiguration,
        corpus: [String], directory: String, reducer: any GradientReducer = SingleProcessReducer()
    ) throws {
        try configuration.validate()
        try training.validate()
        let model = PerformerLM(configuration: configuration, seed: modelSeed)
        let stream = BatchStream(
            files: corpus, split: training.split, side: .train, packing: training.packing,
            labeling: Trainer.labeling(configuration), batchSize: training.batch, seed: training.seed, cycles: true,
            shard: BatchStream.Shard(index: reducer.rank, count: reducer.size))
        let optimizer = AdamW(
            parameterCount: model.parameters.count, beta1: Float(training.beta1), beta2: Float(training.beta2),
            weightDecay: Float(training.weightDecay))
        self.init(
            model: model, modelSeed: modelSeed, training: training, corpus: corpus, directory: directory,
            optimizer: optimizer, stream: stream, step: 0, elapsed: 0, reducer: reducer)
    }

    init(
        model: PerformerLM, modelSeed: UInt64, training: TrainingConfiguration, corpus: [String], directory: String,
        optimizer: AdamW, stream: BatchStream, step: Int, elapsed: Double, reducer: any GradientReducer
    ) {
        self.model = model
        self.modelSeed = modelSeed
        self.configuration = training
        self.corpus = corpus
        self.directory = directory
        self.reducer = reducer
        self.optimizer = optimizer
        self.stream = stream
        self.step = step
        self.elapsedBefore = elapsed
        workers = BatchWorkers(
            model: model, batch: training.batch, length: training.seqLen,
            workers: training.workers ?? BatchWorkers.automaticWorkers(batch: training.batch))
        decayMask = model.parameters.decayRanges
        batch = Batch(batch: training.batch, length: training.seqLen)
    }

    static func labeling(_ configuration: PerformerConfiguration) -> BatchStream.Labeling {
        configuration.causal ? .causal : .masked(Masker.Configuration())
    }

    /// Seconds of training so far, earlier sessions included.
    public var elapsed: Double { elapsedBefore + (sessionStart > 0 ? Trainer.now() - sessionStart : 0) }

    /// The clock the time limit and the schedule read: `elapsed`, or in a distributed run rank
    /// 0's `elapsed` as agreed after the last step.
    var scheduleClock: Double { agreedElapsed ?? elapsed }

    /// Where the learning-rate schedule is, in [0, 1]: steps done / steps, or, for a run bounded
    /// only by time, seconds used / time limit.
    func scheduleProgress() -> Double {
        if let steps = configuration.steps { return Double(step) / Double(steps) }
        if let limit = configuration.timeLimit { return Swift.min(scheduleClock / limit, 1) }
        return 0
    }

    /// The learning rate of the next update (number `step + 1`): `LearningRateSchedule`'s linear
    /// warmup over `warmupSteps`, then cosine decay to `minLearningRateRatio · peak` at the last
    /// step — or, for a run bounded only by time, as the fraction of the time budget used goes
    /// from 0 to 1.
    public func learningRate() -> Double {
        let c = configuration
        let update = step + 1
        if let steps = c.steps {
            let warmup = Swift.min(c.warmupSteps, steps)
            return LearningRateSchedule(
                peak: c.learningRate, warmupSteps: warmup, totalSteps: steps, minRatio: c.minLearningRateRatio
            ).value(step: update)
        }
        if update <= c.warmupSteps {
            return LearningRateSchedule(
                peak: c.learningRate, warmupSteps: c.warmupSteps, totalSteps: c.warmupSteps, minRatio: c.minLearningRateRatio
            ).value(step: update)
        }
        // Time-bounded: map the time fraction onto a long virtual schedule after the warmup.
        let span = 1_000_000
        let virtual = c.warmupSteps + Int((scheduleProgress() * Double(span)).rounded())
        return LearningRateSchedule(
            peak: c.learningRate, warmupSteps: c.warmupSteps, totalSteps: c.warmupSteps + span,
            minRatio: c.minLearningRateRatio
        ).value(step: Swift.max(virtual, c.warmupSteps + 1))
    }

    /// What one logged interval looked like.
    public struct Progress: Sendable {
        public var step: Int
        public var totalSteps: Int?
        public var loss: Double
        public var learningRate: Double
        public var tokensPerSecond: Double
        public var gradientNorm: Double
        public var elapsed: Double
        public var timeLimit: Double?
        public var validationPerplexity: Double?
        public var epoch: Int
        /// Whether this step is a log step (a metrics line was written).
        public var isLogStep: Bool
        /// Mean seconds per step spent in the gradient all-reduce over the interval (waiting for
        /// the slowest rank included); nil in a single-process run.
        public var allReduceSeconds: Double?
    }

    /// Whether the run is over.
    var isDone: Bool {
        if let steps = configuration.steps, step >= steps { return true }
        if let limit = configuration.timeLimit, scheduleClock >= limit { return true }
        return false
    }

    /// In a distributed run with a time limit, makes every rank read rank 0's clock (one scalar
    /// all-reduce); otherwise nothing.
    func agreeOnClock() {
        guard reducer.isDistributed && configuration.timeLimit != nil else { return }
        agreedElapsed = reducer.broadcastFromRankZero(elapsed)
    }

    /// Trains until the step count or the time budget is reached, then validates and writes the
    /// final checkpoint. `report` is called after every step (`isLogStep` marks the steps that
    /// wrote a metrics line; their numbers cover the interval since the previous log step); in a
    /// distributed run it is called on every rank, with the same numbers (the global loss and
    /// tokens/s of all ranks), and only rank 0 validates and writes files.
    ///
    /// - Throws: `TrainingError.nonFinite` (the checkpoint on disk is the last good one),
    ///   data errors from the corpus, `CheckpointError` when a checkpoint cannot be written,
    ///   `TrainingError.distributed` when the ranks' parameters have drifted apart.
    ///
    /// - Parameter pauseAt: stop after this step, with a checkpoint, as if the process had been
    ///   killed just after writing it (tests of `resume` use it); nil runs to the end.
    public func run(pauseAt: Int? = nil, report: (Progress) -> Void = { _ in }) throws {
        let writesFiles = reducer.rank == 0
        var metrics: MetricsLog?
        if writesFiles {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            metrics = try MetricsLog(path: metricsPath, mode: step == 0 ? .fresh : .resume(afterStep: step))
        }
        sessionStart = Trainer.now()
        var intervalLoss = 0.0, intervalWeight = 0.0, intervalTokens = 0, intervalSteps = 0, intervalStart = Trainer.now()
        intervalReduceSeconds = 0
        var gradientNorm = 0.0
        if reducer.isDistributed { _ = try gatherRankReports("start of the session at step \(step)") }
        agreeOnClock()
        while !isDone && step != pauseAt {
            guard try stream.next(into: &batch) else { break }  // a cycling stream never ends
            model.parameters.zeroGradients()
            let loss = try lossAndReducedGradients()
            if loss.weight > 0 && !loss.sum.isFinite {
                throw TrainingError.nonFinite(step: step + 1, what: "the loss", lastCheckpoint: lastCheckpoint)
            }
            let clipping = GradientClipping.clip(
                model.parameters.gradients.data, count: model.parameters.count, maxNorm: configuration.clipNorm)
            guard clipping.isFinite else {
                throw TrainingError.nonFinite(step: step + 1, what: "the gradient norm", lastCheckpoint: lastCheckpoint)
            }
            gradientNorm = clipping.norm
            let rate = learningRate()
            optimizer.step(
                values: model.parameters.values.data, gradients: model.parameters.gradients.data,
                count: model.parameters.count, learningRate: Float(rate), decayMask: decayMask)
            step += 1
            if configuration.redrawEvery > 0 && step % configuration.redrawEvery == 0 {
                model.redrawRandomFeatures(seed: Trainer.redrawSeed(modelSeed, step: step))
            }
            agreeOnClock()
            intervalLoss += loss.sum
            intervalWeight += loss.weight
            intervalTokens += batch.batch * batch.length * reducer.size
            intervalSteps += 1

            let evaluate = (configuration.evalEvery > 0 && step % configuration.evalEvery == 0) || isDone
            if evaluate && writesFiles { try validate() }
            let isLogStep = step % configuration.logEvery == 0 || evaluate || isDone
            let now = Trainer.now()
            let progress = Progress(
                step: step, totalSteps: configuration.steps,
                loss: intervalWeight > 0 ? intervalLoss / intervalWeight : .nan, learningRate: rate,
                tokensPerSecond: Double(intervalTokens) / Swift.max(now - intervalStart, 1e-9),
                gradientNorm: gradientNorm, elapsed: elapsed, timeLimit: configuration.timeLimit,
                validationPerplexity: evaluate ? lastValidation?.perplexity : nil, epoch: stream.epochsCompleted,
                isLogStep: isLogStep,
                allReduceSeconds: reducer.isDistributed ? intervalReduceSeconds / Double(intervalSteps) : nil)
            if isLogStep, let metrics {
                try metrics.append(MetricsRecord(
                    step: progress.step, loss: progress.loss, learningRate: progress.learningRate,
                    tokensPerSecond: progress.tokensPerSecond, validationPerplexity: progress.validationPerplexity,
                    gradientNorm: progress.gradientNorm, elapsedSeconds: progress.elapsed,
                    allReduceSeconds: progress.allReduceSeconds))
            }
            report(progress)
            if isLogStep {
                intervalLoss = 0; intervalWeight = 0; intervalTokens = 0; intervalSteps = 0; intervalStart = Trainer.now()
                intervalReduceSeconds = 0
            }
            if configuration.checkpointEvery > 0 && step % configuration.checkpointEvery == 0 && !isDone {
                try saveCheckpoint()
                try metrics?.sync()
            }
        }
        try saveCheckpoint()
        try metrics?.sync()
    }

    /// Forward and backward on this rank's batch, the gradients (in `model.parameters.gradients`)
    /// and the returned loss summed over the ranks: the gradient of Σ w·CE / Σ w over the global
    /// batch. One process: `lossAndGradients` as it is.
    func lossAndReducedGradients() throws -> LossSum {
        guard reducer.isDistributed else {
            return workers.lossAndGradients(tokens: batch.tokens, targets: batch.targets, weights: batch.weights)
        }
        var localWeight = 0.0
        for w in batch.weights where w != 0 { localWeight += Double(w) }
        let globalWeight = reducer.allReduce(sum: localWeight)
        let local = workers.lossAndGradients(
            tokens: batch.tokens, targets: batch.targets, weights: batch.weights, normalizer: globalWeight)
        let start = Trainer.now()
        reducer.allReduce(sum: model.parameters.gradients.data, count: model.parameters.count)
        intervalReduceSeconds += Trainer.now() - start
        // A NaN on any rank makes the sum NaN on every rank, so all ranks stop together.
        return LossSum(sum: reducer.allReduce(sum: local.sum), weight: globalWeight)
    }

    /// Validation perplexity on `evalWindows` windows of the held-out side.
    @discardableResult
    public func validate() throws -> Evaluation {
        let evaluation = try Evaluation.run(
            model: model, files: corpus, split: configuration.split, side: .validation,
            length: configuration.seqLen, batch: configuration.batch, maxWindows: configuration.evalWindows,
            workers: workers)
        lastValidation = (step, evaluation.perplexity)
        return evaluation
    }

    /// The seed of the random features after the redraw at `step`: every process of a run
    /// (and a resumed run) draws the same matrices.
    public static func redrawSeed(_ seed: UInt64, step: Int) -> UInt64 {
        SplitMix64.mix(seed &+ SplitMix64.increment &* UInt64(step))
    }

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }
}
