import ProteinIO

/// How a model is trained: the data windows, the optimizer, the schedule and the bookkeeping.
/// Stored in every training checkpoint (snake_case keys) so `--resume` continues the same run.
///
/// The objective is not here: it follows the model (`PerformerConfiguration.causal` false =
/// masked LM, true = causal LM).
public struct TrainingConfiguration: Codable, Sendable, Equatable {
    /// L, tokens per window.
    public var seqLen: Int
    /// Windows per step.
    public var batch: Int
    /// Optimizer steps to run; nil = until `timeLimit` (one of the two must be set).
    public var steps: Int?
    /// Wall-clock budget in seconds for the whole run (resumed sessions included); nil = none.
    public var timeLimit: Double?
    /// Seeds the data stream (crops, masks); the model's own seed is separate.
    public var seed: UInt64
    /// Peak learning rate, reached after the warmup.
    public var learningRate: Double
    /// Linear warmup steps from 0 to `learningRate`.
    public var warmupSteps: Int
    /// The cosine decay ends at `minLearningRateRatio · learningRate`.
    public var minLearningRateRatio: Double
    public var weightDecay: Double
    public var beta1: Double
    public var beta2: Double
    /// Global gradient-norm clip (≤ 0: no clipping).
    public var clipNorm: Double
    /// Random features are redrawn after every `redrawEvery` steps (0: never; FAVOR kinds only).
    public var redrawEvery: Int
    /// A metrics line every `logEvery` steps.
    public var logEvery: Int
    /// Validation every `evalEvery` steps (0: only at the end).
    public var evalEvery: Int
    /// Validation windows per evaluation (0: the whole validation side).
    public var evalWindows: Int
    /// A checkpoint every `checkpointEvery` steps (0: only at the end).
    public var checkpointEvery: Int
    /// The held-out share of proteins and the split's seed.
    public var split: TrainValidationSplit
    /// Proteins longer than this are cropped to a random segment (nil: no crop).
    public var maxProteinLength: Int?
    /// Batch workers (`BatchWorkers`): each step's windows are split over this many workers, one
    /// per core, each with single-threaded OpenBLAS; 1 = one pass over the whole batch, its rows
    /// shared among a team of threads (`Team`); nil = `BatchWorkers.automaticWorkers` (one per OpenBLAS
    /// thread, at most one per window). It changes only the rounding, not the run, so it is a
    /// setting of this session and not stored in checkpoints.
    public var workers: Int? = nil

    public init(
        seqLen: Int = 1024, batch: Int = 8, steps: Int? = nil, timeLimit: Double? = nil, seed: UInt64 = 0,
        learningRate: Double = 1e-3, warmupSteps: Int = 100, minLearningRateRatio: Double = 0.1,
        weightDecay: Double = 0.01, beta1: Double = 0.9, beta2: Double = 0.98, clipNorm: Double = 1,
        redrawEvery: Int = 1000, logEvery: Int = 10, evalEvery: Int = 200, evalWindows: Int = 32,
        checkpointEvery: Int = 200, split: TrainValidationSplit = TrainValidationSplit(validationFraction: 0.05),
        maxProteinLength: Int? = nil
    ) {
        self.seqLen = seqLen
        self.batch = batch
        self.steps = steps
        self.timeLimit = timeLimit
        self.seed = seed
        self.learningRate = learningRate
        self.warmupSteps = warmupSteps
        self.minLearningRateRatio = minLearningRateRatio
        self.weightDecay = weightDecay
        self.beta1 = beta1
        self.beta2 = beta2
        self.clipNorm = clipNorm
        self.redrawEvery = redrawEvery
        self.logEvery = logEvery
        self.evalEvery = evalEvery
        self.evalWindows = evalWindows
        self.checkpointEvery = checkpointEvery
        self.split = split
        self.maxProteinLength = maxProteinLength
    }

    enum CodingKeys: String, CodingKey {
        case seqLen = "seq_len"
        case batch, steps
        case timeLimit = "time_limit"
        case seed
        case learningRate = "learning_rate"
        case warmupSteps = "warmup_steps"
        case minLearningRateRatio = "min_lr_ratio"
        case weightDecay = "weight_decay"
        case beta1, beta2
        case clipNorm = "clip_norm"
        case redrawEvery = "redraw_every"
        case logEvery = "log_every"
        case evalEvery = "eval_every"
        case evalWindows = "eval_windows"
        case checkpointEvery = "checkpoint_every"
        case split
        case maxProteinLength = "max_protein_length"
    }

    /// Checks the numbers before any work starts.
    ///
    /// - Throws: `TrainingError.invalidConfiguration` naming the first bad value.
    public func validate() throws {
        func fail(_ message: String) -> TrainingError { .invalidConfiguration(message) }
        guard seqLen >= 3 else { throw fail("seq_len must be at least 3, got \(seqLen)") }
        guard batch >= 1 else { throw fail("batch must be positive, got \(batch)") }
        guard steps != nil || timeLimit != nil else { throw fail("give a number of steps or a time limit") }
        if let steps, steps < 1 { throw fail("steps must be positive, got \(steps)") }
        if let timeLimit, !(timeLimit > 0) { throw fail("time limit must be positive, got \(timeLimit)") }
        guard learningRate.isFinite && learningRate > 0 else { throw fail("learning rate must be positive, got \(learningRate)") }
        guard warmupSteps >= 0 else { throw fail("warmup steps must be ≥ 0, got \(warmupSteps)") }
        guard (0...1).contains(minLearningRateRatio) else { throw fail("min lr ratio must be in [0, 1], got \(minLearningRateRatio)") }
        guard weightDecay >= 0 else { throw fail("weight decay must be ≥ 0, got \(weightDecay)") }
        guard (0..<1).contains(beta1) && (0..<1).contains(beta2) else { throw fail("betas must be in [0, 1)") }
        guard logEvery >= 1 else { throw fail("log interval must be positive, got \(logEvery)") }
        guard redrawEvery >= 0, evalEvery >= 0, evalWindows >= 0, checkpointEvery >= 0 else {
            throw fail("redraw / eval / checkpoint intervals must be ≥ 0")
        }
        if let maxProteinLength, maxProteinLength < 1 { throw fail("max protein length must be positive") }
        if let workers, workers < 1 { throw fail("workers must be positive, got \(workers)") }
    }

    /// The packer layout used for training windows.
    public var packing: PackerConfiguration {
        PackerConfiguration(windowLength: seqLen, layout: .concatenate, maxProteinLength: maxProteinLength, finalWindow: .pad)
    }
}

/// Why training stopped or could not start; one line each.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case invalidConfiguration(String)
    /// The loss or the gradient norm stopped being finite at `step`.
    case nonFinite(step: Int, what: String, lastCheckpoint: String?)
    /// A checkpoint cannot be used to resume this run.
    case resumeMismatch(String)
    /// The ranks of a data-parallel run disagree (step or parameters).
    case distributed(String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let message): return "invalid training configuration: \(message)"
        case .nonFinite(let step, let what, let lastCheckpoint):
            return "step \(step): \(what) is not finite (NaN or Inf); stopped without applying it. "
                + (lastCheckpoint.map { "Last good checkpoint: \($0)" } ?? "No checkpoint was written yet")
                + " (try a lower --lr or --clip)"
        case .resumeMismatch(let message): return "cannot resume: \(message)"
        case .distributed(let message): return "data-parallel run: \(message)"
        }
    }
}
