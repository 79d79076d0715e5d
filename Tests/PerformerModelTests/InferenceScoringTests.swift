import Foundation
import ProteinIO
import Testing
@testable import PerformerModel

/// Inference (`SequenceScorer`, its variants, `MaskFiller`) against independent computations:
/// the Double-precision whole-model reference (`PerformerLMReference`) run prefix by prefix or
/// on the unmasked sequence, and naive loops of single-row Float forwards with an explicit
/// log-softmax. Tiny random models (dim 16, 2 layers), so the suite runs in well under a second
/// in release.
@Suite struct InferenceScoringTests {
    // MARK: Fixtures

    /// A tiny model with parameters spread wide enough that predictions differ from uniform.
    static func model(_ kind: AttentionKind, causal: Bool, seed: UInt64 = 1) -> PerformerLM {
        let configuration = PerformerConfiguration(dim: 16, layers: 2, heads: 2, features: 16, ffnDim: 32,
                                                   attention: kind, causal: causal)
        let model = PerformerLM(configuration: configuration, seed: seed)
        PerformerLMTests.randomize(model, seed: seed &+ 100)
        return model
    }

    /// `count` random residue ids (standard and extra).
    static func protein(_ count: Int, seed: UInt64) -> [TokenID] {
        var g = SeededGenerator(seed: seed)
        return (0..<count).map { _ in Alphabet.firstResidue + TokenID(g.next() % UInt64(Alphabet.residueCount)) }
    }

    /// log-softmax over the whole vocabulary of row `row` of `logits`, in Double.
    static func logSoftmax(_ logits: [Double], row: Int, vocab: Int) -> [Double] {
        let z = Array(logits[row * vocab ..< (row + 1) * vocab])
        let top = z.max()!
        let normalizer = top + log(z.reduce(0) { $0 + exp($1 - top) })
        return z.map { $0 - normalizer }
    }

    /// Float logits of one single-row forward at the input's exact length, as Double.
    static func forwardLogits(_ model: PerformerLM, _ tokens: [TokenID]) -> [Double] {
        let workspace = model.makeWorkspace(batch: 1, length: tokens.count)
        model.forward(tokens: tokens, workspace: workspace)
        return workspace.logits.array.map(Double.init)
    }

    static func reference(_ model: PerformerLM, _ tokens: [TokenID]) -> [Double] {
        let parameters = model.parameters.values.array.map(Double.init)
        return PerformerLMReference(model: model, batch: 1, length: tokens.count)
            .logits(parameters: parameters, tokens: tokens).logits
    }

    static let vocab = Alphabet.count

    /// Checks a masked-LM score's per-residue log-probabilities against the log-softmax of
    /// `logits` of the window `<cls> residues <sep>` (residue p at row p + 1), each within
    /// `tolerance`; returns their sum.
    static func expectMarginals(
        _ score: SequenceScore, _ residues: [TokenID], logits: [Double], within tolerance: Double, _ label: String
    ) throws -> Double {
        var total = 0.0
        for (p, residue) in residues.enumerated() {
            let expected = logSoftmax(logits, row: p + 1, vocab: vocab)[Int(residue)]
            total += expected
            let got = try #require(score.residueLogProbabilities[p])
            #expect(abs(got - expected) < tolerance, "\(label) residue \(p): \(got) vs \(expected)")
        }
        return total
    }

    // MARK: Causal log-likelihood

    /// One batched pass == the Double reference run on every prefix `<cls> r_1 … r_{t−1}` and
    /// reading log p(r_t) at its last position (and p(<sep>) after the whole protein).
    @Test(arguments: [AttentionKind.exact, .favorRelu, .favorSoftmax])
    func causalLogLikelihoodMatchesPrefixByPrefixReference(kind: AttentionKind) throws {
        let model = Self.model(kind, causal: true, seed: 11)
        var residues = Self.protein(13, seed: 12)
        residues[5] = Alphabet.unk  // context only, not scored
        let score = try SequenceScorer(model: model).score(residues)
        #expect(score.method == .causal)
        #expect(score.length == 13 && score.scored == 12)
        #expect(score.residueLogProbabilities[5] == nil)
        var total = 0.0
        for t in 0...residues.count {
            let prefix = [Alphabet.cls] + residues[..<t]
            let logits = Self.reference(model, prefix)
            let lp = Self.logSoftmax(logits, row: t, vocab: Self.vocab)
            if t == residues.count {
                let end = try #require(score.endLogProbability)
                #expect(abs(end - lp[Int(Alphabet.sep)]) < 1e-4, "end \(end) vs \(lp[Int(Alphabet.sep)])")
            } else if t != 5 {
                let expected = lp[Int(residues[t])]
                total += expected
                let got = try #require(score.residueLogProbabilities[t])
                #expect(abs(got - expected) < 1e-4, "\(kind) residue \(t): \(got) vs \(expected)")
            }
        }
        #expect(abs(score.logLikelihood - total) < 5e-4, "\(score.logLikelihood) vs \(total)")
        #expect(abs(score.perplexity - exp(-total / 12)) < 1e-4 * score.perplexity)
    }

    /// Batching proteins of one length bucket (padded at the end with <pad>) changes no score.
    @Test(arguments: [AttentionKind.exact, .favorRelu, .favorSoftmax])
    func causalBucketPaddingAndBatchingAreExact(kind: AttentionKind) throws {
        let model = Self.model(kind, causal: true, seed: 13)
        let proteins = [Self.protein(9, seed: 1), Self.protein(20, seed: 2), Self.protein(29, seed: 3),
                        Self.protein(40, seed: 4), Self.protein(9, seed: 5)]
        let scorer = SequenceScorer(model: model)
        let together = try scorer.score(proteins: proteins)
        // proteins 0 and 4 (11 tokens) share the 16-token bucket, 1 and 2 (22, 31) the 32-token one.
        for (protein, batched) in zip(proteins, together) {
            let workspace = model.makeWorkspace(batch: 1, length: protein.count + 2)
            model.forward(tokens: SequenceScorer.windowTokens(protein), workspace: workspace)
            let logits = workspace.logits.array.map(Double.init)
            for (t, residue) in protein.enumerated() {
                let expected = Self.logSoftmax(logits, row: t, vocab: Self.vocab)[Int(residue)]
                let got = try #require(batched.residueLogProbabilities[t])
                #expect(abs(got - expected) < 2e-5, "\(kind) length \(protein.count) residue \(t)")
            }
        }
    }

    // MARK: Masked-LM pseudo-log-likelihood and wild-type marginal

    /// Batched PLL (any rows per pass, including ones that leave filler rows) == a loop of
    /// single-row forwards, each with one position masked.
    @Test(arguments: [AttentionKind.exact, .favorRelu, .favorSoftmax])
    func pseudoLogLikelihoodMatchesOnePositionAtATime(kind: AttentionKind) throws {
        let model = Self.model(kind, causal: false, seed: 21)
        var residues = Self.protein(11, seed: 22)
        residues[3] = Alphabet.unk
        let window = SequenceScorer.windowTokens(residues)
        var expected = [Double?](repeating: nil, count: residues.count)
        for p in residues.indices where p != 3 {
            var masked = window
            masked[p + 1] = Alphabet.mask
            expected[p] = Self.logSoftmax(Self.forwardLogits(model, masked), row: p + 1, vocab: Self.vocab)[Int(residues[p])]
        }
        let sum = expected.compactMap { $0 }.reduce(0, +)
        for rows in [nil, 1, 3, 10, 64] as [Int?] {
            let scorer = SequenceScorer(model: model, rowsPerPass: rows)
            let score = try scorer.score(residues, method: .pll)
            #expect(score.method == .pll && score.scored == 10 && score.endLogProbability == nil)
            #expect(scorer.workspacesMade == 1)
            for p in residues.indices {
                if let e = expected[p] {
                    let got = try #require(score.residueLogProbabilities[p])
                    #expect(abs(got - e) < 2e-5, "\(kind) rows \(rows ?? 0) residue \(p): \(got) vs \(e)")
                } else {
                    #expect(score.residueLogProbabilities[p] == nil)
                }
            }
            #expect(abs(score.logLikelihood - sum) < 1e-4)
        }
    }

    /// The PLL default for a masked LM, and the pll of one protein also equals the Double
    /// reference (each masked copy through `PerformerLMReference`).
    @Test func pseudoLogLikelihoodMatchesDoubleReference() throws {
        let model = Self.model(.favorRelu, causal: false, seed: 23)
        let residues = Self.protein(7, seed: 24)
        let score = try SequenceScorer(model: model).score(residues)
        #expect(score.method == .pll)
        let window = SequenceScorer.windowTokens(residues)
        var total = 0.0
        for p in residues.indices {
            var masked = window
            masked[p + 1] = Alphabet.mask
            total += Self.logSoftmax(Self.reference(model, masked), row: p + 1, vocab: Self.vocab)[Int(residues[p])]
        }
        #expect(abs(score.logLikelihood - total) < 5e-4, "\(score.logLikelihood) vs \(total)")
    }

    /// wt-marginal == log p(r_i) at every position of one unmasked Double-reference pass.
    @Test(arguments: [AttentionKind.exact, .favorRelu, .favorSoftmax])
    func wildTypeMarginalMatchesReference(kind: AttentionKind) throws {
        let model = Self.model(kind, causal: false, seed: 31)
        let residues = Self.protein(15, seed: 32)
        let score = try SequenceScorer(model: model).score(residues, method: .wtMarginal)
        let logits = Self.reference(model, SequenceScorer.windowTokens(residues))
        let total = try Self.expectMarginals(score, residues, logits: logits, within: 1e-4, "\(kind)")
        #expect(score.scored == 15 && abs(score.logLikelihood - total) < 5e-4)
    }

    /// Several proteins at once, padded at the end to their length bucket and batched, with
    /// attention told each row's real length == a single-row forward of each at its exact length.
    /// With 3 rows per pass the 16-token bucket runs as passes of 3 and 1 rows, the second on
    /// the first's workspace.
    @Test(arguments: [AttentionKind.exact, .favorRelu, .favorSoftmax], [nil, 3] as [Int?])
    func maskedLMBucketPaddingAndBatchingAreExact(kind: AttentionKind, rowsPerPass: Int?) throws {
        let model = Self.model(kind, causal: false, seed: 33)
        let proteins = [Self.protein(12, seed: 1), Self.protein(12, seed: 2), Self.protein(17, seed: 3),
                        Self.protein(9, seed: 4), Self.protein(5, seed: 5), Self.protein(30, seed: 6)]
        let scorer = SequenceScorer(model: model, rowsPerPass: rowsPerPass, workers: 1)
        let together = try scorer.score(proteins: proteins, method: .wtMarginal)
        // 14, 14, 11, 7 tokens share the 16-token bucket; 19 and 32 tokens the 32-token one.
        #expect(SequenceScorer.lengthBucket == 16 && scorer.workspacesMade == 2)
        for (protein, batched) in zip(proteins, together) {
            let logits = Self.forwardLogits(model, SequenceScorer.windowTokens(protein))
            let total = try Self.expectMarginals(batched, protein, logits: logits, within: 2e-5,
                                                 "\(kind) length \(protein.count)")
            #expect(abs(batched.logLikelihood - total) < 1e-4)
        }
    }

    /// A forward-only pass over fewer rows than the workspace holds, with per-row real lengths,
    /// == single-row forwards at each row's exact length; a later full pass on the same workspace
    /// trains normally (loss and gradients as on a fresh workspace).
    @Test(arguments: [AttentionKind.exact, .favorRelu, .favorSoftmax], [false, true])
    func forwardOverFewerRowsMatchesExactLengthPasses(kind: AttentionKind, causal: Bool) throws {
        let model = Self.model(kind, causal: causal, seed: 35)
        let length = 16
        let proteins = [Self.protein(14, seed: 7), Self.protein(3, seed: 8)]
        let workspace = model.makeWorkspace(batch: 3, length: length)
        var tokens: [TokenID] = []
        for protein in proteins {
            let window = SequenceScorer.windowTokens(protein)
            tokens += window + [TokenID](repeating: Alphabet.mask, count: length - window.count)  // junk padding
        }
        model.forward(tokens: tokens, workspace: workspace, rowLengths: proteins.map { $0.count + 2 })
        let got = workspace.logits.array.map(Double.init)
        for (r, protein) in proteins.enumerated() {
            let expected = Self.forwardLogits(model, SequenceScorer.windowTokens(protein))
            for x in expected.indices {
                #expect(abs(got[r * length * Self.vocab + x] - expected[x]) <= 2e-5 * max(1, abs(expected[x])),
                        "\(kind) causal \(causal) row \(r) element \(x)")
            }
        }
        // Then a training step on the same workspace equals one on a fresh workspace.
        let full = (0..<3).flatMap { Self.protein(length, seed: 90 + UInt64($0)) }
        let weights = full.indices.map { $0 % 3 == 0 ? Float(1) : 0 }
        func step(_ ws: PerformerLM.Workspace) -> (Double, [Float]) {
            model.parameters.gradients.zero()
            let loss = model.lossAndGradients(tokens: full, targets: full, weights: weights, workspace: ws)
            return (loss.sum, model.parameters.gradients.array)
        }
        let (reusedLoss, reusedGradients) = step(workspace)
        let (freshLoss, freshGradients) = step(model.makeWorkspace(batch: 3, length: length))
        #expect(reusedLoss == freshLoss && reusedGradients == freshGradients)
    }

    /// One-pass scoring on 2 or 3 workers (passes spread over worker workspaces) == on one, for
    /// a masked LM and a causal LM, with several length groups and chunks of `rowsPerPass`.
    @Test(arguments: [false, true])
    func workersGiveTheSameScores(causal: Bool) throws {
        let model = Self.model(.favorSoftmax, causal: causal, seed: 34)
        let proteins = (0..<9).map { Self.protein([5, 9, 9, 14, 5, 9, 30, 5, 40][$0], seed: 40 + UInt64($0)) }
        let method: ScoringMethod = causal ? .causal : .wtMarginal
        let serial = try SequenceScorer(model: model, rowsPerPass: 2, workers: 1).score(proteins: proteins, method: method)
        for workers in [2, 3] {
            let scorer = SequenceScorer(model: model, rowsPerPass: 2, workers: workers)
            let spread = try scorer.score(proteins: proteins, method: method)
            #expect(scorer.workspacesMade >= 2)
            for (a, b) in zip(serial, spread) {
                #expect(a.length == b.length && a.scored == b.scored)
                #expect(abs(a.logLikelihood - b.logLikelihood) <= 1e-5 * abs(a.logLikelihood), "workers \(workers)")
                for (x, y) in zip(a.residueLogProbabilities, b.residueLogProbabilities) {
                    #expect(abs((x ?? 0) - (y ?? 0)) <= 1e-5)
                }
                #expect(abs((a.endLogProbability ?? 0) - (b.endLogProbability ?? 0)) <= 1e-5)
            }
        }
    }

    // MARK: Methods, tokens, windows

    @Test func methodsThatDoNotFitTheModelAreErrors() throws {
        let mlm = SequenceScorer(model: Self.model(.favorRelu, causal: false))
        let causal = SequenceScorer(model: Self.model(.favorRelu, causal: true))
        let residues = Self.protein(5, seed: 1)
        #expect(throws: InferenceError.self) { try mlm.score(residues, method: .causal) }
        for method in [ScoringMethod.pll, .wtMarginal] {
            do {
                _ = try causal.score(residues, method: method)
                Issue.record("\(method) accepted on a causal model")
            } catch {
                #expect(error.kind == .methodNotApplicable)
                #expect(error.description.contains(method.rawValue) && error.description.contains("causal"))
                #expect(!error.description.contains("\n"))
            }
        }
        do {
            _ = try mlm.score([Alphabet.firstResidue, Alphabet.mask])
            Issue.record("a <mask> token was scored")
        } catch {
            #expect(error.kind == .invalidToken && error.description.contains("<mask> at residue 2"))
        }
    }

    /// A protein longer than the window limit is scored whole and flagged; an empty protein
    /// scores 0 with nothing scored (perplexity NaN).
    @Test func longProteinsAreScoredWholeAndFlagged() throws {
        let model = Self.model(.favorRelu, causal: false, seed: 41)
        let scorer = SequenceScorer(model: model, windowLimit: 10)
        let short = try scorer.score(Self.protein(8, seed: 1), method: .wtMarginal)
        let long = try scorer.score(Self.protein(9, seed: 1), method: .wtMarginal)
        #expect(!short.exceedsWindow && long.exceedsWindow)
        #expect(long.scored == 9 && long.logLikelihood.isFinite)
        let empty = try scorer.score([], method: .pll)
        #expect(empty.scored == 0 && empty.logLikelihood == 0 && empty.perplexity.isNaN)
    }

    // MARK: Variants

    @Test func mutationListsParse() throws {
        let list = try Mutation.parseList("A23G, k45r:W1Y")
        #expect(list.map(\.description) == ["A23G", "K45R", "W1Y"])
        #expect(list[0] == Mutation(position: 23, wildType: Alphabet.id(for: UInt8(ascii: "A"))!,
                                    mutant: Alphabet.id(for: UInt8(ascii: "G"))!))
        for bad in ["", "A23", "23G", "A0G", "J23G", "A23J", "A2x3G", "A23G,,K45R", "A23G,A23C"] {
            #expect(throws: InferenceError.self, "\(bad)") { try Mutation.parseList(bad) }
        }
        do {
            _ = try Mutation.parseList("A23G,A23C")
        } catch {
            #expect(error.description.contains("A23G") && error.description.contains("A23C"))
        }
    }

    /// Variant tables: bare lists, id + list, a header naming columns (extra columns ignored),
    /// comments, CRLF; errors carry file:line.
    @Test func variantTablesParse() throws {
        let bare = try VariantSet.parseTable("# scan\nA23G\n\nK45R:A23C\r\n", file: "v.tsv")
        #expect(bare.map(\.id) == ["A23G", "K45R,A23C"] && bare.allSatisfy { $0.sequenceID == nil })
        let labelled = try VariantSet.parseTable("v1\tA23G,K45R\n\tW3Y\n", file: "v.tsv")
        #expect(labelled.map(\.id) == ["v1", "W3Y"] && labelled[0].mutations.count == 2)
        let header = try VariantSet.parseTable("score\tMutant\tsequence_id\tid\n0.3\tA2G\tP1\tx\n0.1\tC3D\t\t\n", file: "v.tsv")
        #expect(header.map(\.id) == ["x", "C3D"] && header.map(\.sequenceID) == ["P1", nil])
        for (text, line) in [("A23G\nA0G\n", 2), ("a\tb\tc\n", 1), ("mutations\tid\n\tv1\n", 2)] {
            do {
                _ = try VariantSet.parseTable(text, file: "v.tsv")
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.description.hasPrefix("v.tsv:\(line): "), "\(error)")
            }
        }
        #expect(throws: InferenceError.self) { try VariantSet.parseTable("# nothing\n\n", file: "v.tsv") }
    }

    /// Masked marginal of one mutation == log p(mut) − log p(wt) at that position of an explicit
    /// forward with it masked; of two mutations, both masked in the same explicit forward.
    @Test(arguments: [AttentionKind.exact, .favorRelu])
    func maskedMarginalMatchesExplicitMaskedForward(kind: AttentionKind) throws {
        let model = Self.model(kind, causal: false, seed: 51)
        let residues = Self.protein(14, seed: 52)
        let wt = { (p: Int) in residues[p - 1] }
        let g = Alphabet.id(for: UInt8(ascii: "G"))!, w = Alphabet.id(for: UInt8(ascii: "W"))!
        let single = VariantSet(mutations: [Mutation(position: 4, wildType: wt(4), mutant: g)])
        let double = VariantSet(id: "pair", mutations: [Mutation(position: 10, wildType: wt(10), mutant: w),
                                                        Mutation(position: 2, wildType: wt(2), mutant: g)])
        let sameSite = VariantSet(mutations: [Mutation(position: 4, wildType: wt(4), mutant: w)])
        for rows in [nil, 1, 2] as [Int?] {
            let scorer = SequenceScorer(model: model, rowsPerPass: rows)
            let scores = try scorer.scoreVariants([single, double, sameSite], residues: residues, sequenceID: "p")
            #expect(scores.map(\.method) == [.maskedMarginal, .maskedMarginal, .maskedMarginal])
            #expect(scores[1].variant.id == "pair")

            var masked = SequenceScorer.windowTokens(residues)
            masked[4] = Alphabet.mask
            var lp = Self.logSoftmax(Self.forwardLogits(model, masked), row: 4, vocab: Self.vocab)
            #expect(abs(scores[0].score - (lp[Int(g)] - lp[Int(wt(4))])) < 2e-5)
            #expect(abs(scores[2].score - (lp[Int(w)] - lp[Int(wt(4))])) < 2e-5)

            masked = SequenceScorer.windowTokens(residues)
            masked[10] = Alphabet.mask
            masked[2] = Alphabet.mask
            let logits = Self.forwardLogits(model, masked)
            lp = Self.logSoftmax(logits, row: 10, vocab: Self.vocab)
            var expected = lp[Int(w)] - lp[Int(wt(10))]
            lp = Self.logSoftmax(logits, row: 2, vocab: Self.vocab)
            expected += lp[Int(g)] - lp[Int(wt(2))]
            #expect(abs(scores[1].score - expected) < 4e-5, "\(scores[1].score) vs \(expected)")
        }
    }

    /// Causal models: variant score = log p(mutant) − log p(wild type), whole token sequences.
    @Test func causalVariantIsTheLogLikelihoodRatio() throws {
        let model = Self.model(.favorRelu, causal: true, seed: 61)
        let residues = Self.protein(10, seed: 62)
        let mutant = residues[2] == Alphabet.firstResidue ? Alphabet.firstResidue + 1 : Alphabet.firstResidue
        let variant = VariantSet(mutations: [Mutation(position: 3, wildType: residues[2], mutant: mutant)])
        let scorer = SequenceScorer(model: model)
        let score = try #require(try scorer.scoreVariants([variant], residues: residues, sequenceID: "p").first)
        #expect(score.method == .logLikelihoodRatio)
        func total(_ r: [TokenID]) -> Double {
            let logits = Self.forwardLogits(model, SequenceScorer.windowTokens(r))
            var sum = 0.0
            for (t, next) in (r + [Alphabet.sep]).enumerated() {
                sum += Self.logSoftmax(logits, row: t, vocab: Self.vocab)[Int(next)]
            }
            return sum
        }
        var mutated = residues
        mutated[2] = mutant
        #expect(abs(score.score - (total(mutated) - total(residues))) < 1e-4)
    }

    /// A wrong wild type or a position past the end is a one-line error naming the variant, the
    /// sequence and what it holds there.
    @Test func variantsThatDoNotFitAreErrors() throws {
        let scorer = SequenceScorer(model: Self.model(.favorRelu, causal: false))
        let residues = try Tokenizer().tokenize(Array("MKTAYIAKQR".utf8), id: "s", file: "-")
        do {
            _ = try scorer.scoreVariants([try VariantSet(id: "v7", parsing: "M1A,A3G")], residues: residues, sequenceID: "P1")
            Issue.record("wrong wild type accepted")
        } catch {
            #expect(error.kind == .variantMismatch)
            #expect(error.description.contains("v7") && error.description.contains("A3G")
                && error.description.contains("P1") && error.description.contains("has T"))
            #expect(!error.description.contains("\n"))
        }
        do {
            _ = try scorer.scoreVariants([try VariantSet(parsing: "R11A")], residues: residues, sequenceID: "P1")
            Issue.record("position past the end accepted")
        } catch {
            #expect(error.kind == .variantMismatch)
            #expect(error.description.contains("R11A") && error.description.contains("10 residues"))
        }
        let fine = try scorer.scoreVariants([try VariantSet(parsing: "M1A"), try VariantSet(parsing: "R10R")],
                                            residues: residues, sequenceID: "P1")
        #expect(fine.count == 2 && fine[1].score == 0)
    }

    // MARK: Fill

    @Test func maskedSequencesParse() throws {
        let s = try MaskedSequence(parsing: Array("mk#A_<mask>\n Y<MASK>**".utf8))
        #expect(s.maskedPositions == [2, 4, 5, 7])
        #expect(s.text == "MK#A##Y#")
        for bad in ["MKJ", "MK<unk>A", "MK<mask", "MK-A"] {
            #expect(throws: InferenceError.self, "\(bad)") { try MaskedSequence(parsing: Array(bad.utf8)) }
        }
        do {
            _ = try MaskedSequence(parsing: Array("MK#J".utf8), id: "q1")
        } catch {
            #expect(error.kind == .invalidMaskedSequence && error.description.contains("q1")
                && error.description.contains("'J' at residue 4"))
        }
    }

    @Test func maskedFASTARecordsParse() throws {
        let records = try MaskedSequence.records(fasta: Array("\n>a desc\r\nMK#\nT_A\n\n>b\n<mask>W\n".utf8), file: "m.fa")
        #expect(records.map(\.id) == ["a", "b"])
        #expect(records.map(\.sequence.text) == ["MK#T#A", "#W"])
        do {
            _ = try MaskedSequence.records(fasta: Array("MK#\n>a\nK\n".utf8), file: "m.fa")
            Issue.record("text before the first header accepted")
        } catch {
            #expect(error.description.hasPrefix("m.fa:1: "))
        }
        do {
            _ = try MaskedSequence.records(fasta: Array(">a\nK\n>b\nMK9\n".utf8), file: "m.fa")
            Issue.record("a bad character accepted")
        } catch {
            #expect(error.description.contains("m.fa b") && error.description.contains("'9' at residue 3"))
        }
    }

    /// Masked LM: with k = all the probabilities sum to 1 over the alphabet, are sorted, equal
    /// the restricted softmax of an explicit forward, and the filled sequence is the argmax.
    @Test(arguments: [FillAlphabet.standard, .all])
    func fillIsTheRestrictedSoftmaxOfOnePass(alphabet: FillAlphabet) throws {
        let model = Self.model(.favorRelu, causal: false, seed: 71)
        let sequence = try MaskedSequence(parsing: Array("MKT#AYIA_QRQ<mask>SF".utf8))
        let filler = MaskFiller(model: model)
        let all = try filler.fill(sequence, topK: 0, alphabet: alphabet)
        let top3 = try filler.fill(sequence, topK: 3, alphabet: alphabet)
        let logits = Self.forwardLogits(model, SequenceScorer.windowTokens(sequence.tokens))
        #expect(all.sites.map(\.position) == [4, 9, 13])
        for (site, top) in zip(all.sites, top3.sites) {
            #expect(site.candidates.count == alphabet.ids.count)
            #expect(Set(site.candidates.map(\.residue)) == Set(alphabet.ids.map(TokenID.init)))
            #expect(abs(site.candidates.reduce(0) { $0 + $1.probability } - 1) < 1e-12)
            #expect(zip(site.candidates, site.candidates.dropFirst()).allSatisfy { $0.probability >= $1.probability })
            #expect(top.candidates == Array(site.candidates.prefix(3)))
            let z = logits[site.position * Self.vocab ..< (site.position + 1) * Self.vocab]
            let restricted = alphabet.ids.map { z[z.startIndex + $0] }
            let normalizer = log(restricted.reduce(0) { $0 + exp($1) })
            for candidate in site.candidates {
                #expect(abs(candidate.probability - exp(z[z.startIndex + Int(candidate.residue)] - normalizer)) < 1e-5)
            }
            #expect(all.filled[site.position - 1] == site.candidates[0].residue)
        }
        var expected = sequence.tokens
        for site in all.sites { expected[site.position - 1] = site.candidates[0].residue }
        #expect(all.filled == expected)
        #expect(all.filledSequence.count == 15 && !all.filledSequence.contains("#"))
        #expect(throws: InferenceError.self) { try filler.fill(try MaskedSequence(parsing: Array("MKT".utf8)), topK: 5) }
    }

    /// Causal LM: greedy left to right, each mask predicted from the prefix with earlier masks
    /// already filled.
    @Test func causalFillIsGreedyLeftToRight() throws {
        let model = Self.model(.favorRelu, causal: true, seed: 81)
        let sequence = try MaskedSequence(parsing: Array("MK#TA#Y".utf8))
        let result = try MaskFiller(model: model).fill(sequence, topK: 2)
        var current = sequence.tokens
        for (site, p) in zip(result.sites, [2, 5]) {
            #expect(site.position == p + 1)
            let logits = Self.forwardLogits(model, SequenceScorer.windowTokens(current))
            let ids = FillAlphabet.standard.ids
            let best = ids.max { logits[p * Self.vocab + $0] < logits[p * Self.vocab + $1] }!
            #expect(site.candidates[0].residue == TokenID(best))
            current[p] = TokenID(best)
        }
        #expect(result.filled == current)
    }
}
