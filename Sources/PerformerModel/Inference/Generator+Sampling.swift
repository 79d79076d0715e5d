#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import ProteinIO

/// How `Generator.sample` picks each next token.
public struct SamplingConfiguration: Sendable, Equatable {
    /// Logits are divided by T before the softmax; T = 0 picks the most likely token (greedy).
    public var temperature: Double
    /// Keep only the k most likely candidates before sampling (0: all of them).
    public var topK: Int
    /// Most residues in a sequence, prompt included; reaching it ends the sequence.
    public var maxLength: Int

    public init(temperature: Double = 1, topK: Int = 0, maxLength: Int = 500) {
        precondition(temperature >= 0 && temperature.isFinite, "temperature must be ≥ 0")
        precondition(topK >= 0, "top-k must be ≥ 0")
        precondition(maxLength >= 1, "max length must be ≥ 1")
        self.temperature = temperature
        self.topK = topK
        self.maxLength = maxLength
    }
}

/// One sampled protein.
public struct GeneratedSequence: Sendable, Equatable {
    /// Why sampling stopped.
    public enum StopReason: String, Sendable, Equatable {
        /// The model chose `<sep>` (the end-of-protein token of packed training windows).
        case separator = "sep"
        /// The model chose `<eos>`.
        case endOfSequence = "eos"
        /// `maxLength` residues were reached.
        case maxLength = "max-length"
    }

    /// Residue ids, prompt first (no special tokens).
    public var residues: [TokenID]
    /// How many of `residues` came from the prompt.
    public var promptLength: Int
    public var stopReason: StopReason
    /// Σ ln p(token) under the model's own distribution (softmax of the raw logits over the whole
    /// vocabulary, T = 1, no top-k) over every sampled token, the stop token included: how likely
    /// the model finds what was sampled, comparable across temperatures.
    public var logLikelihood: Double

    /// The residues as one-letter codes.
    public var sequence: String { Tokenizer.decode(residues) }
}

extension Generator {
    /// The tokens sampling may choose: the 20 standard amino acids, `<sep>` and `<eos>` (the two
    /// stop tokens). Everything else — `<pad>`, `<mask>`, `<cls>`, `<unk>` and the ambiguity codes
    /// B Z X U O — gets probability 0.
    public static let samplingCandidates: [TokenID] =
        (0..<TokenID(Alphabet.standardResidueCount)).map { Alphabet.firstResidue + $0 } + [Alphabet.sep, Alphabet.eos]

    /// Samples one protein: `<cls>`, then the prompt, are fed in RNN mode; then tokens are drawn
    /// one at a time (`drawToken`) and fed back until a stop token or `maxLength` residues.
    /// Resets the generator first.
    ///
    /// - Parameters:
    ///   - prompt: residue ids (standard or extra residues; no special tokens) the protein starts with.
    ///   - random: the source of every draw (advanced; consecutive calls give different proteins).
    public func sample(
        prompt: [TokenID] = [], configuration: SamplingConfiguration, using random: inout SeededGenerator
    ) -> GeneratedSequence {
        precondition(prompt.allSatisfy(Alphabet.isResidue), "a prompt holds residues only")
        reset()
        step(Alphabet.cls)
        step(prompt)
        var residues = prompt
        var logLikelihood = 0.0
        while residues.count < configuration.maxLength {
            let token = drawToken(configuration: configuration, using: &random)
            logLikelihood += logProbability(of: token)
            if token == Alphabet.sep || token == Alphabet.eos {
                return GeneratedSequence(
                    residues: residues, promptLength: prompt.count,
                    stopReason: token == Alphabet.sep ? .separator : .endOfSequence, logLikelihood: logLikelihood)
            }
            residues.append(token)
            if residues.count < configuration.maxLength { step(token) }
        }
        return GeneratedSequence(residues: residues, promptLength: prompt.count, stopReason: .maxLength,
                                 logLikelihood: logLikelihood)
    }

    /// Draws the next token from the current `logits`, among `samplingCandidates`: with T = 0 the
    /// candidate with the largest logit (the lowest id on a tie); else the top-k candidates (by
    /// logit, ties to the lower id; all when k = 0 or k ≥ their number) with probabilities
    /// ∝ exp((logit − max)/T), in Double, picked by one uniform draw against the cumulative sum.
    public func drawToken(configuration: SamplingConfiguration, using random: inout SeededGenerator) -> TokenID {
        let vocab = model.configuration.vocabSize
        var candidates = Generator.samplingCandidates.filter { Int($0) < vocab }
        precondition(!candidates.isEmpty, "the model's vocabulary has no residue or stop token")
        let l = logits.data
        candidates.sort { l[Int($0)] > l[Int($1)] || (l[Int($0)] == l[Int($1)] && $0 < $1) }
        if configuration.temperature == 0 { return candidates[0] }
        if configuration.topK > 0 && configuration.topK < candidates.count {
            candidates.removeLast(candidates.count - configuration.topK)
        }
        let top = Double(l[Int(candidates[0])])
        let weights = candidates.map { exp((Double(l[Int($0)]) - top) / configuration.temperature) }
        let total = weights.reduce(0, +)
        let u = random.nextDouble() * total
        var cumulative = 0.0
        for (token, weight) in zip(candidates, weights) {
            cumulative += weight
            if u < cumulative { return token }
        }
        return candidates[candidates.count - 1]
    }

    /// ln p(token) under softmax(logits) over the whole vocabulary (Double).
    public func logProbability(of token: TokenID) -> Double {
        let vocab = model.configuration.vocabSize
        let l = logits.data
        var top = -Double.infinity
        for i in 0..<vocab { top = Swift.max(top, Double(l[i])) }
        var total = 0.0
        for i in 0..<vocab { total += exp(Double(l[i]) - top) }
        return Double(l[Int(token)]) - top - log(total)
    }
}
