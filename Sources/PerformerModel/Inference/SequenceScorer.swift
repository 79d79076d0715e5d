#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import ProteinIO

/// How a whole protein is scored (docs/inference.md has the definitions and the choices).
public enum ScoringMethod: String, Sendable, CaseIterable, Codable {
    /// Causal models: the exact log-likelihood Σ_i log p(r_i | <cls> r_1 … r_{i−1}), one pass.
    case causal
    /// Masked-LM models: pseudo-log-likelihood Σ_i log p(r_i | sequence with position i masked),
    /// one masked copy per residue, the copies run as the rows of batched passes.
    case pll
    /// Masked-LM models: Σ_i log p(r_i | unmasked sequence), one pass ("wild-type marginal").
    case wtMarginal = "wt-marginal"
}

/// The score of one protein.
public struct SequenceScore: Sendable, Equatable {
    public var method: ScoringMethod
    /// Residues in the protein (n; the input the model reads is n + 2 tokens, `<cls> r <sep>`).
    public var length: Int
    /// Positions that contribute to `logLikelihood`: the residue tokens (ids 6–30). `<unk>`
    /// positions (characters outside the alphabet) are read as context but not scored.
    public var scored: Int
    /// Σ of `residueLogProbabilities` over the scored positions, in nats. For causal models it
    /// excludes the end token (see `endLogProbability`).
    public var logLikelihood: Double
    /// Per residue, 0-based: log p(r_i | …) in nats by the method's definition; nil for `<unk>`.
    public var residueLogProbabilities: [Double?]
    /// Causal models: log p(<sep> | <cls> r_1 … r_n), the probability that the protein ends
    /// here; add it to `logLikelihood` for the log-probability of the whole token sequence.
    /// nil for masked-LM methods.
    public var endLogProbability: Double?
    /// True when n + 2 tokens exceed the scorer's `windowLimit` (the training window): the
    /// protein was still scored whole, but at positions the model never trained on.
    public var exceedsWindow: Bool

    /// exp(−logLikelihood / scored), the per-residue perplexity; NaN when nothing was scored.
    public var perplexity: Double { scored > 0 ? exp(-logLikelihood / Double(scored)) : .nan }
}

/// Scores proteins with a `PerformerLM`: causal log-likelihood, masked-LM pseudo-log-likelihood
/// and wild-type marginal (this file), and variant effects (`SequenceScorer+Variants.swift`).
///
/// A protein r_1 … r_n is read as the `n + 2` tokens `<cls> r_1 … r_n <sep>`, the unit the
/// packer puts in training windows. Rows of one pass are independent, so the masked copies of
/// one protein (pll, variants) share passes at its exact length, and one-pass methods pad
/// proteins at the end to a common length bucket (`lengthBucket`) and batch them. The padding
/// is exact: no causal position attends to a later one, and a masked LM's bucketed pass tells
/// attention each row's real length, so `<pad>` keys are never read. Workspaces are cached by
/// their exact (batch, length).
///
/// Proteins longer than `windowLimit` tokens are scored whole anyway (FAVOR+ attention is
/// linear in length; exact attention is quadratic but works) and flagged `exceedsWindow`.
///
/// Cores: with `workers` > 1 the passes of one-pass methods (one per length group and chunk)
/// are spread over that many workers, one per core, each on its own worker workspaces with
/// single-threaded OpenBLAS (whole passes per core instead of threading every product: short
/// proteins make small products, which OpenBLAS threads poorly). A pass computes the same numbers
/// on any worker, so results do not depend on the worker count.
///
/// Not thread-safe (one call at a time, like `PerformerLM`).
public final class SequenceScorer {
    public let model: PerformerLM
    /// Rows per pass (masked copies for `pll`, variant rows, proteins for one-pass methods);
    /// nil chooses `automaticRows(length:)`.
    public let rowsPerPass: Int?
    /// The training window in tokens: longer inputs are flagged, not cut.
    public let windowLimit: Int
    /// Workers for one-pass methods (1: passes run one after another, each shared among the cores).
    public let workers: Int
    let cache: WorkspaceCache
    /// One cache of worker workspaces per worker when `workers` > 1, else empty.
    let workerCaches: [WorkspaceCache]

    /// The window limit when a model says nothing about its training length.
    public static let defaultWindowLimit = 1024
    /// Automatic rows per pass: the most whose workspace fits in this many bytes…
    public static let automaticWorkspaceBytes = 256 << 20
    /// …and at most this many rows.
    public static let maxAutomaticRows = 64
    /// Tokens per automatic one-pass batch (`onePassRows(length:)`).
    public static let automaticPassTokens = 1024
    /// One-pass inputs are padded at the end to a multiple of this many tokens, so proteins of
    /// similar length share a pass and a workspace. Exact: a causal position never sees a later
    /// one, and a masked LM's pass gives attention each row's real length as its key count
    /// (`PerformerLM.forward(tokens:workspace:rowLengths:)`), so padding is never attended to.
    public static let lengthBucket = 16

    /// - Parameter workers: workers for one-pass methods; nil = one per OpenBLAS thread the
    ///   process runs with (`BLAS.configuredThreads`).
    public init(
        model: PerformerLM, rowsPerPass: Int? = nil, windowLimit: Int = SequenceScorer.defaultWindowLimit, workers: Int? = nil
    ) {
        precondition(rowsPerPass.map { $0 >= 1 } ?? true, "rows per pass must be ≥ 1")
        precondition(windowLimit >= 1, "the window limit must be ≥ 1")
        precondition(workers.map { $0 >= 1 } ?? true, "workers must be ≥ 1")
        self.model = model
        self.rowsPerPass = rowsPerPass
        self.windowLimit = windowLimit
        let count = workers ?? Swift.max(1, BLAS.configuredThreads)
        self.workers = count
        cache = WorkspaceCache(model: model)
        workerCaches = count > 1
            ? (0..<count).map { _ in WorkspaceCache(model: model, maxBytes: (1 << 30) / count, workers: true) } : []
    }

    /// True for a causal LM (scored by `.causal`), false for a masked LM.
    public var isCausal: Bool { model.configuration.causal }

    /// `.causal` for causal models, `.pll` for masked-LM models.
    public var defaultMethod: ScoringMethod { isCausal ? .causal : .pll }

    /// Workspaces made so far (reuse keeps this below the number of passes).
    public var workspacesMade: Int { workerCaches.reduce(cache.made) { $0 + $1.made } }

    /// Checks that `method` applies to this model.
    /// - Throws: `InferenceError` `.methodNotApplicable`: `pll` / `wt-marginal` on a causal model
    ///   or `causal` on a masked-LM model.
    public func check(_ method: ScoringMethod) throws(InferenceError) {
        switch (method, isCausal) {
        case (.causal, false):
            throw InferenceError(.methodNotApplicable,
                                 "method 'causal' needs a causal model; this model is a masked LM (use pll or wt-marginal)")
        case (.pll, true), (.wtMarginal, true):
            throw InferenceError(.methodNotApplicable,
                                 "method '\(method.rawValue)' applies to masked-LM models; this model is causal and is "
                                    + "scored by its exact log-likelihood (omit the method)")
        default:
            break
        }
    }

    /// Rows per pass for inputs of `length` tokens: `rowsPerPass` when set, else the largest
    /// batch (1…`maxAutomaticRows`) whose workspace needs at most `automaticWorkspaceBytes`.
    public func rows(length: Int) -> Int {
        if let rowsPerPass { return rowsPerPass }
        let perRow = PerformerLM.workspaceByteCount(configuration: model.configuration, batch: 1, length: length)
        return Swift.max(1, Swift.min(Self.maxAutomaticRows, Self.automaticWorkspaceBytes / Swift.max(perRow, 1)))
    }

    /// Rows per one-pass batch (wt-marginal, causal) for inputs of `length` tokens: `rowsPerPass`
    /// when set, else about `automaticPassTokens` tokens per pass (at least one row, at most
    /// `rows(length:)`). Small passes keep each layer's activations in cache; on this model size
    /// they ran at least as fast as passes of 64 rows, which also spend more on padding.
    public func onePassRows(length: Int) -> Int {
        if let rowsPerPass { return rowsPerPass }
        return Swift.max(1, Swift.min(rows(length: length), Self.automaticPassTokens / length))
    }

    /// `<cls> residues <sep>`.
    public static func windowTokens(_ residues: [TokenID]) -> [TokenID] {
        var tokens: [TokenID] = [Alphabet.cls]
        tokens.reserveCapacity(residues.count + 2)
        tokens += residues
        tokens.append(Alphabet.sep)
        return tokens
    }

    /// Checks that a protein holds only residue ids and `<unk>`.
    /// - Throws: `InferenceError` `.invalidToken` naming the first other token and its position.
    public static func validate(_ residues: [TokenID]) throws(InferenceError) {
        for (i, t) in residues.enumerated() where !(Alphabet.isResidue(t) || t == Alphabet.unk) {
            throw InferenceError(.invalidToken,
                                 "token \(Alphabet.token(for: t)) at residue \(i + 1): a protein to score holds "
                                    + "residues and <unk> only")
        }
    }

    /// Scores one protein (residue ids as `Tokenizer` makes them: residues and `<unk>`).
    /// `method` nil means `defaultMethod`.
    /// - Throws: `InferenceError` (`.methodNotApplicable`, `.invalidToken`).
    /// - Complexity: one pass of n + 2 tokens (`causal`, `wt-marginal`); n masked copies in
    ///   ⌈n / rows⌉ passes of `rows` × (n + 2) tokens (`pll`).
    public func score(_ residues: [TokenID], method: ScoringMethod? = nil) throws(InferenceError) -> SequenceScore {
        try score(proteins: [residues], method: method)[0]
    }

    /// Scores several proteins; results in the order given. One-pass methods batch proteins of
    /// one length bucket into shared passes.
    /// - Throws: as `score(_:method:)`, before any pass runs.
    public func score(proteins: [[TokenID]], method: ScoringMethod? = nil) throws(InferenceError) -> [SequenceScore] {
        let method = method ?? defaultMethod
        try check(method)
        for protein in proteins { try Self.validate(protein) }
        switch method {
        case .pll: return proteins.map(pseudoLogLikelihood)
        case .causal, .wtMarginal: return onePass(proteins, method: method)
        }
    }

    // MARK: - Passes

    /// The length a one-pass input runs at: `tokens` rounded up to the bucket (the end padding
    /// with `<pad>` changes no real position's output; see `lengthBucket`).
    func passLength(tokens: Int) -> Int {
        (tokens + Self.lengthBucket - 1) / Self.lengthBucket * Self.lengthBucket
    }

    /// `causal` or `wt-marginal` for every protein, grouped by pass length; the passes run on
    /// the workers when there are several (each takes the next pass when done with one).
    func onePass(_ proteins: [[TokenID]], method: ScoringMethod) -> [SequenceScore] {
        var groups: [Int: [Int]] = [:]
        var order: [Int] = []
        for (i, protein) in proteins.enumerated() {
            let length = passLength(tokens: protein.count + 2)
            if groups[length] == nil { order.append(length) }
            groups[length, default: []].append(i)
        }
        var passes: [(length: Int, members: ArraySlice<Int>)] = []
        for length in order {
            let members = groups[length] ?? []
            let step = Swift.min(onePassRows(length: length), members.count)
            for start in stride(from: 0, to: members.count, by: step) {
                passes.append((length, members[start..<Swift.min(start + step, members.count)]))
            }
        }
        let results = UnsafeMutableBufferPointer<SequenceScore?>.allocate(capacity: proteins.count)
        results.initialize(repeating: nil)
        defer {
            _ = results.deinitialize()
            results.deallocate()
        }
        if workerCaches.count > 1 && passes.count > 1 {
            SliceParallelism.runDynamic(items: passes.count, workers: workerCaches.count) { pass, worker in
                onePass(proteins, passes[pass].members, length: passes[pass].length, method: method,
                        cache: workerCaches[worker], into: results)
            }
        } else {
            for pass in passes {
                onePass(proteins, pass.members, length: pass.length, method: method, cache: cache, into: results)
            }
        }
        return results.map { $0! }
    }

    /// One pass of `members` (indices into `proteins`) at `length` tokens on a workspace of
    /// `cache`; writes their scores into `results` at their indices.
    private func onePass(
        _ proteins: [[TokenID]], _ members: ArraySlice<Int>, length: Int, method: ScoringMethod, cache: WorkspaceCache,
        into results: UnsafeMutableBufferPointer<SequenceScore?>
    ) {
        let vocab = model.configuration.vocabSize
        // A cached workspace of this length and at least this batch serves (the pass runs on its
        // first rows), so a length group's last, smaller pass makes no new workspace.
        let workspace = cache.workspace(batch: members.count, length: length, atLeast: true)
        var tokens = [TokenID](repeating: Alphabet.pad, count: members.count * length)
        for (r, i) in members.enumerated() {
            let window = Self.windowTokens(proteins[i])
            tokens.replaceSubrange(r * length ..< r * length + window.count, with: window)
        }
        model.forward(tokens: tokens, workspace: workspace, rowLengths: members.map { proteins[$0].count + 2 })
        for (r, i) in members.enumerated() {
            let residues = proteins[i]
            let row = UnsafePointer(workspace.logits.data + r * length * vocab)
            // causal: residue i (token i + 1) is predicted at token i; MLM: read at token i + 1.
            let shift = method == .causal ? 0 : 1
            var logProbabilities = [Double?](repeating: nil, count: residues.count)
            for (p, residue) in residues.enumerated() where Alphabet.isResidue(residue) {
                logProbabilities[p] = LogSoftmax.logProbability(row + (p + shift) * vocab, of: residue, vocab: vocab)
            }
            let end = method == .causal
                ? LogSoftmax.logProbability(row + residues.count * vocab, of: Alphabet.sep, vocab: vocab) : nil
            results[i] = makeScore(method, residues, logProbabilities, end: end)
        }
    }

    /// `pll` for one protein: every residue position masked once (`forEachMaskedRow`).
    func pseudoLogLikelihood(_ residues: [TokenID]) -> SequenceScore {
        let vocab = model.configuration.vocabSize
        let positions = residues.indices.filter { Alphabet.isResidue(residues[$0]) }
        var logProbabilities = [Double?](repeating: nil, count: residues.count)
        // residue p (0-based) is token p + 1 of the row
        forEachMaskedRow(residues, maskSets: positions.map { [$0 + 1] }) { set, logits in
            let p = positions[set]
            logProbabilities[p] = LogSoftmax.logProbability(logits + (p + 1) * vocab, of: residues[p], vocab: vocab)
        }
        return makeScore(.pll, residues, logProbabilities, end: nil)
    }

    /// Runs `residues` (read as `<cls> r_1 … r_n <sep>`) once per entry of `maskSets`, with that
    /// entry's token positions set to `<mask>`, `rows(length:)` rows per pass; the last pass is
    /// completed with unmasked filler rows (rows are independent) so that one workspace serves
    /// every pass. `read(set, logits)` gets each mask set's index and its row's logits
    /// [length, vocab]. Nothing runs when `maskSets` is empty.
    func forEachMaskedRow(
        _ residues: [TokenID], maskSets: [[Int]], read: (_ set: Int, _ logits: UnsafePointer<Float>) -> Void
    ) {
        guard !maskSets.isEmpty else { return }
        let length = residues.count + 2, vocab = model.configuration.vocabSize
        let step = Swift.min(rows(length: length), maskSets.count)
        let workspace = cache.workspace(batch: step, length: length)
        let window = Self.windowTokens(residues)
        var tokens = [TokenID](repeating: Alphabet.pad, count: step * length)
        for start in stride(from: 0, to: maskSets.count, by: step) {
            let real = Swift.min(step, maskSets.count - start)
            for r in 0..<step {
                tokens.replaceSubrange(r * length ..< (r + 1) * length, with: window)
                if r < real {
                    for position in maskSets[start + r] { tokens[r * length + position] = Alphabet.mask }
                }
            }
            model.forward(tokens: tokens, workspace: workspace)
            for r in 0..<real { read(start + r, UnsafePointer(workspace.logits.data + r * length * vocab)) }
        }
    }

    func makeScore(_ method: ScoringMethod, _ residues: [TokenID], _ logProbabilities: [Double?], end: Double?) -> SequenceScore {
        var sum = 0.0, scored = 0
        for case let value? in logProbabilities {
            sum += value
            scored += 1
        }
        return SequenceScore(
            method: method, length: residues.count, scored: scored, logLikelihood: sum,
            residueLogProbabilities: logProbabilities, endLogProbability: end,
            exceedsWindow: residues.count + 2 > windowLimit)
    }
}
