import ProteinIO

/// Held-out perplexity: exp(mean cross-entropy in nats) over target residues.
///
/// - Masked LM: every window is masked by `Masker` with a fixed seed (`Evaluation.maskSeed`), so
///   two models evaluated on the same files and window length see the same masks and their
///   numbers compare. The targets are the 15 % selected residues.
/// - Causal LM: every residue that has a preceding token in its window is a target (the first
///   token of a window has no context and `<sep>` / `<cls>` targets are not scored).
///
/// Only residue targets count (ids 6…30); `<sep>` targets a causal model is trained on are left
/// out so the number is comparable with per-residue baselines such as a Markov model.
public struct Evaluation: Sendable, Equatable {
    /// Σ −log p(target) over the scored residues, in nats.
    public var lossSum: Double
    /// Number of scored residues.
    public var residues: Int
    /// Windows evaluated.
    public var windows: Int
    /// Proteins read on the evaluated side.
    public var proteins: Int

    public init(lossSum: Double = 0, residues: Int = 0, windows: Int = 0, proteins: Int = 0) {
        self.lossSum = lossSum
        self.residues = residues
        self.windows = windows
        self.proteins = proteins
    }

    /// Mean cross-entropy per scored residue (nats).
    public var meanLoss: Double { residues > 0 ? lossSum / Double(residues) : .nan }
    /// exp(mean loss).
    public var perplexity: Double { residues > 0 ? Foundation.exp(meanLoss) : .nan }

    /// The masker seed of every evaluation.
    public static let maskSeed: UInt64 = 0x5EED_E7A1

    /// Evaluates `model` on one side of `split` over `files` (`TrainValidationSplit(validationFraction: 1)`
    /// with side `.validation` takes every protein).
    ///
    /// - Parameters:
    ///   - length, batch: window length and windows per forward pass.
    ///   - maxWindows: stop after this many windows (0: the whole side).
    /// - Throws: reader errors from the files.
    public static func run(
        model: PerformerLM, files: [String], split: TrainValidationSplit, side: TrainValidationSplit.Side,
        length: Int, batch: Int, maxWindows: Int = 0, workers: BatchWorkers? = nil
    ) throws -> Evaluation {
        let labeling: BatchStream.Labeling = model.configuration.causal ? .causal : .masked(Masker.Configuration())
        let stream = BatchStream(
            files: files, split: split, side: side,
            packing: PackerConfiguration(windowLength: length, layout: .concatenate, finalWindow: .pad),
            labeling: labeling, batchSize: batch, seed: maskSeed, cycles: false)
        let workers = workers ?? BatchWorkers(
            model: model, batch: batch, length: length, workers: BatchWorkers.automaticWorkers(batch: batch))
        requireAlways(workers.model === model && workers.batch == batch && workers.length == length,
                      "evaluation workers were made for another model or shape")
        var result = Evaluation()
        var current = Batch(batch: batch, length: length)
        while try stream.next(into: &current) {
            // Score residue targets only.
            var residues = 0
            for i in current.weights.indices {
                if current.weights[i] > 0 && Alphabet.isResidue(current.targets[i]) {
                    residues += 1
                } else {
                    current.weights[i] = 0
                }
            }
            if residues > 0 {
                let loss = workers.loss(tokens: current.tokens, targets: current.targets, weights: current.weights)
                result.lossSum += loss.sum
                result.residues += residues
            }
            result.windows += current.windows
            if maxWindows > 0 && result.windows >= maxWindows { break }
        }
        result.proteins = stream.state.proteins
        return result
    }
}

import Foundation
