import Foundation
import ProteinIO

/// An order-k Markov chain over residues with add-α smoothing: the baseline a protein language
/// model must beat. Its held-out perplexity says how much of the data is predictable from the
/// previous k residues alone.
///
/// Outcomes are the K = 25 residue tokens of `Alphabet.protein` (ids 6 – 30: the 20 standard
/// amino acids and B Z X U O), symbol s = id − 6. A context is the previous k symbols, where
/// positions before the protein's start are a begin-of-protein symbol (s = 25), so each
/// protein starts from the all-begin context and the first residues are predicted from
/// "start of protein" rather than from the previous protein's tail. Contexts are numbered in
/// base 26 (oldest symbol most significant): 26ᵏ contexts, the all-begin one is 26ᵏ − 1.
///
/// ```
/// p(x | c) = (n(c, x) + α) / (n(c) + K·α)
/// perplexity = exp(−(1/N) Σ log p(xᵢ | cᵢ))        natural log, N residues scored
/// ```
///
/// Tokens that are not residues (the tokenizer's `<unk>` for J, `*` inside a sequence, digits…)
/// are neither counted nor scored and do not enter the context; they are counted in
/// `skippedTokens`. The end of a protein is not predicted (the perplexity is per residue).
///
/// α defaults to 1 (Laplace). With millions of training residues and 26ᵏ·25 cells for k ≤ 2 the
/// choice hardly matters (docs/training-infra.md has the numbers).
///
/// - Complexity: fitting and scoring are O(1) per residue; memory 26ᵏ·25 counts (8 bytes
///   each: 5 KB for k = 1, 135 KB for k = 2, 3.5 MB for k = 3; k ≤ 4).
public struct MarkovModel: Sendable {
    /// K, the number of outcomes: the residue tokens of `Alphabet.protein`.
    public static let symbolCount = Alphabet.residueCount
    /// The begin-of-protein context symbol.
    static let beginSymbol = symbolCount

    /// k, the number of previous residues the prediction depends on.
    public let order: Int
    /// α, the pseudo-count added to every (context, residue) cell.
    public let alpha: Double
    /// 26ᵏ.
    let contextCount: Int
    /// n(c, x): [contextCount, K], row-major.
    private(set) var counts: [Int]
    /// n(c) = Σₓ n(c, x): [contextCount].
    private(set) var contextTotals: [Int]
    /// Residues counted by `fit`.
    public private(set) var residuesFitted = 0
    /// Proteins (calls to `fit`) counted.
    public private(set) var proteinsFitted = 0
    /// Non-residue tokens met by `fit` and ignored.
    public private(set) var skippedTokens = 0

    public init(order: Int = 2, alpha: Double = 1) {
        precondition((0...4).contains(order), "order must be 0 ... 4")
        precondition(alpha > 0 && alpha.isFinite, "alpha must be positive")
        self.order = order
        self.alpha = alpha
        var contexts = 1
        for _ in 0..<order { contexts *= MarkovModel.symbolCount + 1 }
        contextCount = contexts
        counts = [Int](repeating: 0, count: contexts * MarkovModel.symbolCount)
        contextTotals = [Int](repeating: 0, count: contexts)
    }

    /// The all-begin context a protein starts in (26ᵏ − 1; 0 for order 0).
    var initialContext: Int { contextCount - 1 }

    /// The symbol of a residue token (0 ..< K), or nil for any other token.
    @inline(__always)
    static func symbol(_ token: TokenID) -> Int? {
        Alphabet.isResidue(token) ? Int(token - Alphabet.firstResidue) : nil
    }

    /// The context after `context` when `symbol` is appended (the oldest symbol drops out): the
    /// naive twin of `ContextWalker.advance`, one division per call.
    func nextContextReference(_ context: Int, _ symbol: Int) -> Int {
        contextCount == 1 ? 0 : (context * (MarkovModel.symbolCount + 1) + symbol) % contextCount
    }

    /// Walks the contexts of one protein without a division per residue: the last k symbols
    /// are kept one per byte of `history`, so the oldest one can be subtracted out.
    struct ContextWalker {
        let order: Int
        /// 26ᵏ⁻¹, the weight of the oldest symbol.
        let oldestWeight: Int
        var context: Int
        var history: UInt64

        init(model: MarkovModel) {
            order = model.order
            oldestWeight = model.contextCount / (MarkovModel.symbolCount + 1)
            context = model.initialContext
            history = 0
            for _ in 0..<order { history = history << 8 | UInt64(MarkovModel.beginSymbol) }
        }

        @inline(__always)
        mutating func advance(_ symbol: Int) {
            guard order > 0 else { return }
            let oldest = Int(truncatingIfNeeded: history >> UInt64(8 * (order - 1)) & 0xFF)
            history = history << 8 | UInt64(symbol)
            context = (context - oldest * oldestWeight) * (MarkovModel.symbolCount + 1) + symbol
        }
    }

    /// Counts the transitions of one protein (its token ids, no `<cls>`/`<sep>`), starting in
    /// the all-begin context.
    public mutating func fit(tokens: UnsafeBufferPointer<TokenID>) {
        var walker = ContextWalker(model: self)
        var residues = 0, skipped = 0
        counts.withUnsafeMutableBufferPointer { counts in
            contextTotals.withUnsafeMutableBufferPointer { totals in
                for token in tokens {
                    guard let s = MarkovModel.symbol(token) else {
                        skipped += 1
                        continue
                    }
                    counts[walker.context * MarkovModel.symbolCount + s] += 1
                    totals[walker.context] += 1
                    walker.advance(s)
                    residues += 1
                }
            }
        }
        residuesFitted += residues
        skippedTokens += skipped
        proteinsFitted += 1
    }

    public mutating func fit(tokens: [TokenID]) {
        tokens.withUnsafeBufferPointer { fit(tokens: $0) }
    }

    /// p(symbol | context) with add-α smoothing.
    public func probability(of symbol: Int, context: Int) -> Double {
        (Double(counts[context * MarkovModel.symbolCount + symbol]) + alpha)
            / (Double(contextTotals[context]) + Double(MarkovModel.symbolCount) * alpha)
    }

    /// Sums of a held-out evaluation; `perplexity` = exp(negativeLogLikelihood / residues).
    public struct Evaluation: Sendable, Equatable {
        /// −Σ log p over the scored residues (nats).
        public var negativeLogLikelihood = 0.0
        /// Residues scored.
        public var residues = 0
        /// Proteins scored.
        public var proteins = 0
        /// Non-residue tokens skipped.
        public var skippedTokens = 0

        public init() {}

        /// Mean negative log-likelihood per residue, nats.
        public var crossEntropy: Double { residues == 0 ? .nan : negativeLogLikelihood / Double(residues) }
        /// exp(crossEntropy).
        public var perplexity: Double { exp(crossEntropy) }

        /// Adds another evaluation's sums (e.g. of another shard).
        public mutating func merge(_ other: Evaluation) {
            negativeLogLikelihood += other.negativeLogLikelihood
            residues += other.residues
            proteins += other.proteins
            skippedTokens += other.skippedTokens
        }
    }

    /// Scores one protein's tokens, adding to `evaluation`.
    public func evaluate(tokens: UnsafeBufferPointer<TokenID>, into evaluation: inout Evaluation) {
        var walker = ContextWalker(model: self)
        var nll = 0.0
        var residues = 0
        for token in tokens {
            guard let s = MarkovModel.symbol(token) else {
                evaluation.skippedTokens += 1
                continue
            }
            nll -= log(probability(of: s, context: walker.context))
            walker.advance(s)
            residues += 1
        }
        evaluation.negativeLogLikelihood += nll
        evaluation.residues += residues
        evaluation.proteins += 1
    }

    /// Scores one protein's tokens.
    public func evaluate(tokens: [TokenID]) -> Evaluation {
        var evaluation = Evaluation()
        tokens.withUnsafeBufferPointer { evaluate(tokens: $0, into: &evaluation) }
        return evaluation
    }

    /// Perplexity per residue over `records` (tokenised with `tokenizer`).
    /// - Throws: the tokenizer's error for a record (only with `unknown: .reject`).
    public func perplexity<S: Sequence>(on records: S, tokenizer: Tokenizer = Tokenizer()) throws -> Double
    where S.Element == SequenceRecord {
        var evaluation = Evaluation()
        for record in records {
            let tokens = try tokenizer.tokenize(record.residues, id: record.id, file: "<records>")
            tokens.withUnsafeBufferPointer { evaluate(tokens: $0, into: &evaluation) }
        }
        return evaluation.perplexity
    }
}
