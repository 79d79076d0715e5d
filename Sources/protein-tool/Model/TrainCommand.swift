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

    @Flag(help: "Continue the run saved in --out.")
    var resume = false

    @Flag(help: "Print no progress line.")
    var quiet = false

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
    }

    func run() throws {
        let trainer: Trainer
        let existing = FileManager.default.fileExists(atPath: out + "/checkpoint.safetensors")
        if resume {
            trainer = try Trainer.resume(
                directory: out, corpus: corpus.isEmpty ? nil : corpus, steps: steps, timeLimit: timeLimit)
        } else {
            if existing {
                throw ValidationError("\(out) already holds a training run: pass --resume to continue it, or choose another --out")
            }
            let training = TrainingConfiguration(
                seqLen: seqLen, batch: batch, steps: steps, timeLimit: timeLimit, seed: seed, learningRate: lr,
                warmupSteps: warmup, minLearningRateRatio: minLRRatio, weightDecay: weightDecay, clipNorm: clip,
                redrawEvery: redrawEvery, logEvery: logEvery, evalEvery: evalEvery, evalWindows: evalWindows,
                checkpointEvery: checkpointEvery,
                split: TrainValidationSplit(validationFraction: validationFraction, seed: splitSeed),
                maxProteinLength: maxProteinLength)
            trainer = try Trainer(
                model: try shape.configuration(), modelSeed: modelSeed ?? seed, training: training,
                corpus: corpus, directory: out)
        }
        let startStep = trainer.step
        let startElapsed = trainer.elapsed
        let c = trainer.model.configuration
        let t = trainer.configuration
        if !quiet {
            let kind = c.causal ? "causal" : "mlm"
            let budget = [t.steps.map { "\($0) steps" }, t.timeLimit.map { "\(Int($0)) s" }].compactMap { $0 }.joined(separator: ", ")
            TrainCommand.printError(
                "\(resume ? "resuming at step \(trainer.step)" : "training") \(kind) \(c.attention.rawValue): dim \(c.dim), "
                    + "\(c.layers) layers, \(c.heads) heads, m \(c.features), \(c.parameterCount) parameters; "
                    + "L \(t.seqLen), batch \(t.batch), \(budget) → \(out)")
        }
        var progress = ProgressLine(isTerminal: isatty(STDERR_FILENO) != 0)
        var lastValidationShown: Int?
        try trainer.run { p in
            guard !quiet else { return }
            let total = p.totalSteps ?? p.step
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
                    step: p.step, totalSteps: total, loss: p.loss, tokensPerSecond: p.tokensPerSecond, etaSeconds: eta,
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
            TrainCommand.printError("done: \(trainer.step) steps in \(Int(trainer.elapsed)) s, validation perplexity \(validation); wrote \(trainer.modelPath)")
        }
    }

    static func printError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
