import ProteinIO

/// One substitution: 1-based residue position, wild-type residue, mutant residue (`A23G`).
public struct Mutation: Sendable, Hashable, CustomStringConvertible {
    /// 1-based position among the protein's residues (`<cls>` is not counted).
    public var position: Int
    /// Residue id (6–30) the sequence must hold at `position`.
    public var wildType: TokenID
    /// Residue id (6–30) that replaces it.
    public var mutant: TokenID

    public init(position: Int, wildType: TokenID, mutant: TokenID) {
        precondition(position >= 1, "mutation positions are 1-based")
        precondition(Alphabet.isResidue(wildType) && Alphabet.isResidue(mutant), "mutations change residues")
        self.position = position
        self.wildType = wildType
        self.mutant = mutant
    }

    /// `A23G`.
    public var description: String {
        Alphabet.token(for: wildType) + String(position) + Alphabet.token(for: mutant)
    }

    /// Parses one mutation: a residue letter, a 1-based decimal position, a residue letter
    /// (letters of the alphabet, either case: the 20 standard amino acids and B Z X U O).
    /// - Throws: `InferenceError` `.invalidMutation` quoting the text.
    public init(parsing text: Substring) throws(InferenceError) {
        let bytes = Array(text.utf8)
        func fail(_ why: String) -> InferenceError {
            InferenceError(.invalidMutation, "invalid mutation '\(text)': \(why)")
        }
        guard bytes.count >= 3 else {
            throw fail("expected wild-type letter, 1-based position, mutant letter (e.g. A23G)")
        }
        let digits = bytes[1 ..< bytes.count - 1]
        guard digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), digits.count <= 9 else {
            throw fail("expected wild-type letter, 1-based position, mutant letter (e.g. A23G)")
        }
        guard let wildType = Alphabet.id(for: bytes[0]) else {
            throw fail("'\(Character(UnicodeScalar(bytes[0])))' is not an amino-acid letter")
        }
        guard let mutant = Alphabet.id(for: bytes[bytes.count - 1]) else {
            throw fail("'\(Character(UnicodeScalar(bytes[bytes.count - 1])))' is not an amino-acid letter")
        }
        let position = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        guard position >= 1 else { throw fail("positions start at 1") }
        self.init(position: position, wildType: wildType, mutant: mutant)
    }

    /// Parses a list such as `A23G,K45R` (separators `,` or `:`, blanks around items ignored).
    /// - Throws: `InferenceError` `.invalidMutation`: an empty list or item, a malformed item, or
    ///   two mutations of one position.
    public static func parseList(_ text: String) throws(InferenceError) -> [Mutation] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
            .flatMap { $0.split(separator: ":", omittingEmptySubsequences: false) }
            .map { $0.trimmingBlanks() }
        guard !(items.count == 1 && items[0].isEmpty) else {
            throw InferenceError(.invalidMutation, "empty mutation list (expected e.g. A23G or A23G,K45R)")
        }
        var mutations: [Mutation] = []
        for item in items {
            guard !item.isEmpty else {
                throw InferenceError(.invalidMutation, "empty item in mutation list '\(text)'")
            }
            let mutation = try Mutation(parsing: item)
            if let other = mutations.first(where: { $0.position == mutation.position }) {
                throw InferenceError(.invalidMutation,
                                     "mutations \(other) and \(mutation) in '\(text)' both change position \(mutation.position)")
            }
            mutations.append(mutation)
        }
        return mutations
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs.
    func trimmingBlanks() -> Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return s
    }
}

/// One variant: a set of mutations applied together to a wild-type sequence.
public struct VariantSet: Sendable, Equatable {
    /// A label for output (by default the normalised mutation list, `A23G,K45R`).
    public var id: String
    /// The substitutions, at distinct positions.
    public var mutations: [Mutation]
    /// When set, the variant applies only to the sequence with this id.
    public var sequenceID: String?

    public init(id: String? = nil, mutations: [Mutation], sequenceID: String? = nil) {
        precondition(!mutations.isEmpty, "a variant has at least one mutation")
        precondition(Set(mutations.map(\.position)).count == mutations.count, "a variant changes each position once")
        self.mutations = mutations
        self.id = id ?? mutations.map(\.description).joined(separator: ",")
        self.sequenceID = sequenceID
    }

    /// Parses `list` with `Mutation.parseList`.
    public init(id: String? = nil, parsing list: String, sequenceID: String? = nil) throws(InferenceError) {
        self.init(id: id, mutations: try Mutation.parseList(list), sequenceID: sequenceID)
    }

    /// The normalised mutation list, `A23G,K45R`.
    public var mutationsText: String { mutations.map(\.description).joined(separator: ",") }

    /// `'A23G,K45R'`, or `v1 (A23G,K45R)` when the id is not the list itself.
    var label: String { id == mutationsText ? "'\(id)'" : "\(id) (\(mutationsText))" }
}

/// How a variant was scored.
public enum VariantMethod: String, Sendable, CaseIterable, Codable {
    /// Masked-LM models (Meier et al. 2021, ESM-1v): all mutated positions M masked in one pass,
    /// Σ_{i ∈ M} [log p(x_i = mut_i | x_{−M}) − log p(x_i = wt_i | x_{−M})].
    case maskedMarginal = "masked-marginal"
    /// Causal models: log p(mutant sequence) − log p(wild type), each the exact log-probability
    /// of `<cls> r_1 … r_n <sep>` (every residue and the end token).
    case logLikelihoodRatio = "log-likelihood-ratio"
}

/// The score of one variant; positive means the model prefers the mutant.
public struct VariantScore: Sendable, Equatable {
    public var variant: VariantSet
    public var method: VariantMethod
    /// In nats.
    public var score: Double
}

extension SequenceScorer {
    /// The method `scoreVariants` uses for this model.
    public var variantMethod: VariantMethod { isCausal ? .logLikelihoodRatio : .maskedMarginal }

    /// Checks that every mutation of `variant` fits `residues`.
    /// - Throws: `InferenceError` `.variantMismatch` naming the variant, the mutation, the
    ///   sequence and what it holds at that position; or a position beyond the end.
    public func check(_ variant: VariantSet, against residues: [TokenID], sequenceID: String) throws(InferenceError) {
        for mutation in variant.mutations {
            guard mutation.position <= residues.count else {
                throw InferenceError(.variantMismatch,
                                     "variant \(variant.label): position \(mutation.position) of \(mutation) is beyond the "
                                        + "end of sequence \(sequenceID) (\(residues.count) residues)")
            }
            let actual = residues[mutation.position - 1]
            guard actual == mutation.wildType else {
                let shown = Alphabet.isResidue(actual) ? Alphabet.token(for: actual) : "an unknown character"
                throw InferenceError(.variantMismatch,
                                     "variant \(variant.label): mutation \(mutation) expects \(Alphabet.token(for: mutation.wildType)) "
                                        + "at position \(mutation.position) but sequence \(sequenceID) has \(shown) there")
            }
        }
    }

    /// Scores variants of one wild-type protein (`variantMethod`): results in the order given.
    ///
    /// Masked LM: variants that mutate the same set of positions share one masked row (so a
    /// saturation scan of single mutants costs one row per position), and the rows run in
    /// batched passes of `rows(length:)`. Causal: the wild type and every mutant sequence are
    /// scored exactly in shared one-pass batches.
    ///
    /// - Throws: `InferenceError` from `validate` and `check(_:against:sequenceID:)`, for the first
    ///   variant that does not fit, before any pass runs.
    public func scoreVariants(_ variants: [VariantSet], residues: [TokenID], sequenceID: String) throws(InferenceError) -> [VariantScore] {
        try Self.validate(residues)
        for variant in variants { try check(variant, against: residues, sequenceID: sequenceID) }
        guard !variants.isEmpty else { return [] }
        return isCausal ? logLikelihoodRatios(variants, residues: residues) : maskedMarginals(variants, residues: residues)
    }

    func maskedMarginals(_ variants: [VariantSet], residues: [TokenID]) -> [VariantScore] {
        let vocab = model.configuration.vocabSize
        // One row per distinct set of masked positions.
        var rowOf: [[Int]: Int] = [:]
        var maskSets: [[Int]] = []
        for variant in variants {
            let positions = variant.mutations.map(\.position).sorted()
            if rowOf[positions] == nil {
                rowOf[positions] = maskSets.count
                maskSets.append(positions)
            }
        }
        // logProbabilities[row][position] = full log-softmax at that masked position.
        var logProbabilities = [[Int: [Double]]](repeating: [:], count: maskSets.count)
        forEachMaskedRow(residues, maskSets: maskSets) { row, logits in
            for position in maskSets[row] {
                // residue `position` (1-based) is token `position` of the row
                logProbabilities[row][position] = LogSoftmax.logProbabilities(logits + position * vocab, vocab: vocab)
            }
        }
        return variants.map { variant in
            let row = rowOf[variant.mutations.map(\.position).sorted()] ?? 0
            var score = 0.0
            for mutation in variant.mutations {
                let lp = logProbabilities[row][mutation.position] ?? []
                score += lp[Int(mutation.mutant)] - lp[Int(mutation.wildType)]
            }
            return VariantScore(variant: variant, method: .maskedMarginal, score: score)
        }
    }

    func logLikelihoodRatios(_ variants: [VariantSet], residues: [TokenID]) -> [VariantScore] {
        var proteins = [residues]
        for variant in variants {
            var mutant = residues
            for mutation in variant.mutations { mutant[mutation.position - 1] = mutation.mutant }
            proteins.append(mutant)
        }
        let scores = onePass(proteins, method: .causal)
        func total(_ s: SequenceScore) -> Double { s.logLikelihood + (s.endLogProbability ?? 0) }
        let wildType = total(scores[0])
        return zip(variants, scores.dropFirst()).map { variant, score in
            VariantScore(variant: variant, method: .logLikelihoodRatio, score: total(score) - wildType)
        }
    }
}
