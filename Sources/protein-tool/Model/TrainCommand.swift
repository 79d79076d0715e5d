import ArgumentParser
import Foundation
import PerformerModel
import ProteinIO

/// `protein-tool train`: trains a Performer protein LM on FASTA / UniProt corpora.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a Performer protein language model (masked or causal LM) on FASTA / UniProt files.",
        discussion: """
            Proteins are read as a stream (plain or gzipped FASTA or UniProtKB .dat, format detected from the
            content), split into train and validation sides by a hash of the accession (--validation-fraction,
            --split-seed; the same protein always lands on the same side), concatenated as <cls> residues <sep>
            and cut into windows of exactly --seq-len tokens (TrEMBL-Concat). A corpus is read once per epoch
            and never loaded whole; after the last file the next epoch starts from the first.

            Optimiser: AdamW (decoupled weight decay on matrices and the embedding, not on biases and
            LayerNorm), linear warmup over --warmup steps, then cosine decay to --min-lr-ratio × --lr at the
            last step (or, with only --time-limit, as the time budget is used), gradient clipping to a global
            norm of --clip. FAVOR random features are redrawn every --redraw-every steps from a seed derived
            from (--model-seed, step).

            Output in --out: checkpoint.safetensors (model, optimizer moments and data position, for --resume),
            model.safetensors (weights, random features, configuration and alphabet; loads in Python with the
            safetensors package) and metrics.jsonl (one JSON object per log step: step, loss, lr, tokens_per_s,
            val_ppl when evaluated, grad_norm, elapsed_s). Both .safetensors files are written atomically
            (temporary file, fsync, rename). The progress line goes to standard error.

            --resume continues the run in --out exactly where its checkpoint left it (same batches, masks and
            random features as an uninterrupted run); --steps / --time-limit may be raised to extend it. The
            loss is checked every step: a NaN or infinite loss or gradient stops the run with a message, before
            the bad update, leaving the last checkpoint intact.

            Cores: each step's --batch windows are split over --workers workers (default one per OpenBLAS
            thread, i.e. per core unless OPENBLAS_NUM_THREADS says otherwise), which run their forward and
            backward passes at the same time with single-threaded OpenBLAS; their gradients are added before
            the update. This is the same step as one pass over the whole batch up to rounding. With --batch 1
            (or --workers 1) the one pass instead shares its rows among one thread per core, which meet
            around every attention layer.

            --distributed (data-parallel over MPI; needs a build with PROTEIN_PERFORMER_MPI=1, see
            docs/distributed.md): run as `mpirun -np N protein-tool train … --distributed`. Rank r streams the
            train-side proteins whose position k in each pass has k mod N = r, computes gradients on its own
            --batch windows, and the gradients are summed over the ranks (MPI_Allreduce) and normalised by the
            global target count, so a step is one step on a global batch of N × --batch windows. Every rank
            applies the same update; rank 0 alone validates, prints and writes --out (which, like the corpus,
            must be at the same path on every machine). --resume needs the same N. A rank that fails ends the
            whole job (MPI_Abort) with a non-zero exit; the last checkpoint stays intact.
            """
    )

    @Option(name: .long, parsing: .upToNextOption, help: "Training corpus: FASTA / UniProt .dat files, plain or gzipped.")
    var corpus: [String] = []

    @Option(help: "Output directory for checkpoint.safetensors, model.safetensors and metrics.jsonl.")
    var out: String

    @OptionGroup(title: "Model") var shape: ModelShapeOptions

    @Option(name: .customLong("seq-len"), help: "Tokens per window L.")
    var seqLen: Int = 1024
    @Option(help: "Windows per step.")
    var batch: Int = 8
    @Option(help: "Optimizer steps (give --steps, --time-limit or both).")
    var steps: Int?
    @Option(name: .customLong("time-limit"), help: "Wall-clock budget in seconds (resumed sessions included).")
    var timeLimit: Double?
    @Option(help: "Seed of the data stream (crops, masks).")
    var seed: UInt64 = 0
    @Option(name: .customLong("model-seed"), help: "Seed of the initial weights and random features (default: --seed).")
    var modelSeed: UInt64?

    @Option(help: "Peak learning rate.") var lr: Double = 1e-3
    @Option(help: "Warmup steps.") var warmup: Int = 100
    @Option(name: .customLong("min-lr-ratio"), help: "Final learning rate as a fraction of the peak.") var minLRRatio: Double = 0.1
    @Option(name: .customLong("weight-decay"), help: "AdamW weight decay.") var weightDecay: Double = 0.01
    @Option(help: "Clip the global gradient norm to this (0: off).") var clip: Double = 1
    @Option(name: .customLong("redraw-every"), help: "Redraw FAVOR random features every N steps (0: never).") var redrawEvery: Int = 1000
    @Option(name: .customLong("log-every"), help: "Write a metrics line every N steps.") var logEvery: Int = 10
    @Option(name: .customLong("eval-every"), help: "Validate every N steps (0: only at the end).") var evalEvery: Int = 200
    @Option(name: .customLong("eval-windows"), help: "Validation windows per evaluation (0: the whole validation side).") var evalWindows: Int = 32
    @Option(name: .customLong("checkpoint-every"), help: "Write a checkpoint every N steps (0: only at the end).") var checkpointEvery: Int = 200
    @Option(name: .customLong("validation-fraction"), help: "Share of proteins held out for validation.") var validationFraction: Double = 0.05
    @Option(name: .customLong("split-seed"), help: "Seed of the train/validation split.") var splitSeed: UInt64 = 0
    @Option(name: .customLong("max-protein-length"), help: "Crop longer proteins to a random segment of this many residues.") var maxProteinLength: Int?
    @Option(help: ArgumentHelp(
        "Split each step's windows over n workers, one per core, each with single-threaded OpenBLAS (1: one pass over the whole batch, its rows shared among the cores). Default: min(--batch, OpenBLAS threads); OPENBLAS_NUM_THREADS=1 means 1.",
        valueName: "n")) var workers: Int?

    @Flag(help: "Continue the run saved in --out.")
    var resume = false

    @Flag(help: "Print no progress line.")
    var quiet = false

    @Flag(help: "Data-parallel training: one rank of `mpirun -np N protein-tool train … --distributed` (MPI builds only).")
    var distributed = false

    @Option(name: .customLong("fail-at-step"), help: .hidden)
    var failAtStep: Int?
    @Option(name: .customLong("fail-rank"), help: .hidden)
    var failRank: Int = 1

    func validate() throws {
        if corpus.contains("-") { throw ValidationError("the corpus is read once per epoch: standard input ('-') cannot be used") }
        if !resume {
            if corpus.isEmpty { throw ValidationError("give the training files with --corpus FILE...") }
            if steps == nil && timeLimit == nil { throw ValidationError("give --steps N, --time-limit SECONDS, or both") }
        } else if shape.hasOverrides {
            throw ValidationError("--resume keeps the stored model shape: drop --dim/--layers/--heads/--features/--ffn-dim")
        }
        if let steps, steps < 1 { throw ValidationError("--steps must be positive") }
        if let timeLimit, !(timeLimit > 0) { throw ValidationError("--time-limit must be positive") }
        if !(0...1).contains(validationFraction) { throw ValidationError("--validation-fraction must be in [0, 1]") }
        if distributed && !DistributedRuntime.isAvailable { throw ValidationError(DistributedRuntime.unavailableMessage) }
        if !distributed, let size = DistributedRuntime.launcherSize, size > 1 {
            throw ValidationError(
                "started by mpirun with \(size) processes but without --distributed: each would train alone on the "
                    + "whole corpus and write the same --out; add --distributed")
        }
    }

    func run() throws {
        guard distributed else {
            try train(try makeTrainer(reducer: SingleProcessReducer()))
            return
        }
        let group = try DistributedRuntime.start()
        // Setup errors (a bad checkpoint, a wrong number of ranks, a missing file) are agreed on
        // before any training collective, so every rank stops cleanly and the error shows once.
        let made = Result { try makeTrainer(reducer: group) }
        let failures = Int(group.allReduce(sum: (try? made.get()) == nil ? 1 : 0))
        if failures > 0 {
            if case .failure(let error) = made, group.rank == 0 || failures < group.size {
                let prefix = failures < group.size ? "rank \(group.rank) of \(group.size): " : ""
                printToStandardError("Error: \(prefix)\(TrainCommand.describe(error))")
            }
            group.finish()
            throw ExitCode.failure
        }
        do {
            try train(try made.get())
        } catch let error as TrainingError where TrainCommand.isCollective(error) {
            // Every rank stopped at the same point with the same error: say it once, end cleanly.
            if group.rank == 0 { printToStandardError("Error: \(error)") }
            group.finish()
            throw ExitCode.failure
        } catch {
            // The other ranks are blocked in a collective operation: end them all.
            printToStandardError("Error: rank \(group.rank) of \(group.size): \(TrainCommand.describe(error))")
            group.abort(code: 1)
        }
        group.finish()
    }

    /// Errors every rank of a data-parallel run raises at the same step (they are decided on
    /// all-reduced values): a non-finite loss or gradient, ranks that disagree.
    static func isCollective(_ error: TrainingError) -> Bool {
        switch error {
        case .nonFinite, .distributed: return true
        case .invalidConfiguration, .resumeMismatch: return false
        }
    }

    /// A new run or the resumed one in --out, on this rank.
    func makeTrainer(reducer: any GradientReducer) throws -> Trainer {
        let existing = FileManager.default.fileExists(atPath: out + "/checkpoint.safetensors")
        if resume {
            return try Trainer.resume(
                directory: out, corpus: corpus.isEmpty ? nil : corpus, steps: steps, timeLimit: timeLimit, reducer: reducer,
                workers: workers)
        }
        if existing {
            throw ValidationError("\(out) already holds a training run: pass --resume to continue it, or choose another --out")
        }
        var training = TrainingConfiguration(
            seqLen: seqLen, batch: batch, steps: steps, timeLimit: timeLimit, seed: seed, learningRate: lr,
            warmupSteps: warmup, minLearningRateRatio: minLRRatio, weightDecay: weightDecay, clipNorm: clip,
            redrawEvery: redrawEvery, logEvery: logEvery, evalEvery: evalEvery, evalWindows: evalWindows,
            checkpointEvery: checkpointEvery,
            split: TrainValidationSplit(validationFraction: validationFraction, seed: splitSeed),
            maxProteinLength: maxProteinLength)
        training.workers = workers
        return try Trainer(
            model: try shape.configuration(), modelSeed: modelSeed ?? seed, training: training,
            corpus: corpus, directory: out, reducer: reducer)
    }

    /// An error's one-line text (ValidationError's message without its type name).
    static func describe(_ error: any Error) -> String {
        if let error = error as? ValidationError { return error.message }
        return String(describing: error)
    }

    /// Trains and reports progress (rank 0 only).
    func train(_ trainer: Trainer) throws {
        let rank = trainer.reducer.rank, ranks = trainer.reducer.size
        let quiet = self.quiet || rank != 0
        let startStep = trainer.step
        let startElapsed = trainer.elapsed
        let c = trainer.model.configuration
        let t = trainer.configuration
        if !quiet {
            let kind = c.causal ? "causal" : "mlm"
            let budget = [t.steps.map { "\($0) steps" }, t.timeLimit.map { "\(Int($0)) s" }].compactMap { $0 }.joined(separator: ", ")
            printToStandardError(
                "\(resume ? "resuming at step \(trainer.step)" : "training") \(kind) \(c.attention.rawValue): dim \(c.dim), "
                    + "\(c.layers) layers, \(c.heads) heads, m \(c.features), \(c.parameterCount) parameters; "
                    + "L \(t.seqLen), batch \(t.batch)\(ranks > 1 ? " per rank × \(ranks) ranks" : "")"
                    + "\(trainer.workers.workerCount > 1 ? " on \(trainer.workers.workerCount) workers" : ""), \(budget) → \(out)")
        }
        var progress = ProgressLine(isTerminal: isatty(STDERR_FILENO) != 0)
        var lastValidationShown: Int?
        try trainer.run { p in
            if let failAtStep, p.step == failAtStep, rank == failRank {
                // Test hook: this rank dies without warning, as if killed (OOM killer, node failure).
                printToStandardError("rank \(rank): --fail-at-step \(failAtStep): killing myself after step \(p.step)")
                kill(getpid(), SIGKILL)
            }
            guard !quiet else { return }
            var eta: Double?
            if let steps = p.totalSteps {
                eta = ProgressLine.eta(stepsDone: p.step - startStep, totalSteps: steps - startStep, elapsedSeconds: p.elapsed - startElapsed)
            }
            if let limit = p.timeLimit {
                let left = Swift.max(0, limit - p.elapsed)
                eta = eta.map { Swift.min($0, left) } ?? left
            }
            progress.update(
                ProgressLine.format(
                    step: p.step, totalSteps: p.totalSteps, loss: p.loss, tokensPerSecond: p.tokensPerSecond, etaSeconds: eta,
                    validationPerplexity: trainer.lastValidation?.perplexity),
                isLogStep: p.isLogStep)
            if let v = p.validationPerplexity, lastValidationShown != p.step {
                lastValidationShown = p.step
                progress.message(String(format: "step %d: validation perplexity %.3f", p.step, v))
            }
        }
        if !quiet {
            progress.finish()
            let validation = trainer.lastValidation.map { String(format: "%.3f", $0.perplexity) } ?? "n/a"
            printToStandardError("done: \(trainer.step) steps in \(Int(trainer.elapsed)) s, validation perplexity \(validation); wrote \(trainer.modelPath)")
        }
    }

}
