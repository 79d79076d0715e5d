import ArgumentParser
import Foundation
import PerformerModel
import ProteinIO

/// `protein-tool eval`: held-out perplexity of a trained model.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Held-out perplexity of a trained model on FASTA / UniProt files.",
        discussion: """
            Perplexity = exp(mean cross-entropy in nats) over scored residues. Masked-LM models: 15 % of the
            residues of every window are masked with a fixed seed (80 % <mask>, 10 % random, 10 % unchanged),
            so numbers from different models on the same files and --seq-len compare; the masked residues are
            scored. Causal models: every residue with a preceding token in its window is scored. <sep>, <cls>
            and padding are never scored.

            --split validation (the default) scores only the proteins the model's training run held out (its
            stored validation fraction and split seed, by accession hash); --split all scores every protein
            (use it for a separate test file); --split train the training side.

            JSON keys: model, objective, attention, split, perplexity, mean_loss, residues, windows, proteins.
            """
    )

    enum Side: String, ExpressibleByArgument, CaseIterable { case validation, train, all }
    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

    @Option(help: "A model.safetensors (or checkpoint.safetensors) written by train.")
    var model: String

    @Argument(help: "FASTA / UniProt .dat files, plain or gzipped ('-' for standard input).")
    var files: [String]

    @Option(help: "Which proteins to score: validation, train or all.")
    var split: Side = .validation

    @Option(name: .customLong("seq-len"), help: "Window length (default: the model's training length).")
    var seqLen: Int?

    @Option(help: "Windows per forward pass.")
    var batch: Int = 8

    @Option(name: .customLong("max-windows"), help: "Stop after this many windows (0: all).")
    var maxWindows: Int = 0

    @Option(help: "Output format: text or json.")
    var format: Format = .text

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one FILE") }
        if batch < 1 { throw ValidationError("--batch must be positive") }
        if let seqLen, seqLen < 3 { throw ValidationError("--seq-len must be at least 3") }
        if maxWindows < 0 { throw ValidationError("--max-windows must be ≥ 0") }
    }

    func run() throws {
        let loaded = try ModelCheckpoint.load(path: model)
        let training = loaded.metadata["training"].flatMap {
            try? JSONDecoder().decode(TrainingConfiguration.self, from: Data($0.utf8))
        }
        let splitRule: TrainValidationSplit
        let side: TrainValidationSplit.Side
        switch split {
        case .all:
            splitRule = TrainValidationSplit(validationFraction: 1)
            side = .validation
        case .validation, .train:
            guard let stored = training?.split else {
                throw ValidationError("\(model) records no train/validation split: use --split all")
            }
            splitRule = stored
            side = split == .train ? .train : .validation
        }
        let length = seqLen ?? training?.seqLen ?? 1024
        let evaluation = try Evaluation.run(
            model: loaded.model, files: files, split: splitRule, side: side, length: length, batch: batch,
            maxWindows: maxWindows)
        guard evaluation.residues > 0 else {
            throw ValidationError("no residues to score on the \(split.rawValue) side of \(files.joined(separator: ", "))")
        }
        let c = loaded.model.configuration
        switch format {
        case .json:
            print(JSONText.object([
                ("model", JSONText.string(model)),
                ("objective", JSONText.string(c.causal ? "causal" : "mlm")),
                ("attention", JSONText.string(c.attention.rawValue)),
                ("split", JSONText.string(split.rawValue)),
                ("perplexity", JSONText.number(evaluation.perplexity)),
                ("mean_loss", JSONText.number(evaluation.meanLoss)),
                ("residues", JSONText.number(evaluation.residues)),
                ("windows", JSONText.number(evaluation.windows)),
                ("proteins", JSONText.number(evaluation.proteins)),
            ]))
        case .text:
            print(String(format: "perplexity %.4f  (mean loss %.4f nats", evaluation.perplexity, evaluation.meanLoss)
                + " over \(evaluation.residues) residues, \(evaluation.windows) windows, \(evaluation.proteins) proteins,"
                + " \(split.rawValue) side)")
        }
    }
}
