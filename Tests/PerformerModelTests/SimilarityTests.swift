import Foundation
import Testing
import ProteinIO
@testable import PerformerModel

/// Linear-time attention-by-type sums against the explicit L×L attention matrix, the log-odds
/// and head-profile matrices against hand-computed values, and the correlation helpers.
@Suite struct SimilarityTests {
    // MARK: Per-slice kernels vs the explicit matrix

    enum Scales: String, CaseIterable, CustomTestStringConvertible {
        case none, wide, ascending
        var testDescription: String { rawValue }
    }

    /// Synthetic features for one slice: q′ > 0, k̃′ ≥ 0 with largest entry 1/√m, log-scales
    /// nil, uniform in ±60 (far outside Float's exp range when applied absolutely), or rising so
    /// that the running maximum keeps moving.
    static func features(length l: Int, features m: Int, scales: Scales, seed: UInt64)
        -> (q: [Float], k: [Float], s: [Float]?, tokens: [TokenID])
    {
        var g = SeededGenerator(seed: seed)
        let q = (0..<(l * m)).map { _ in Float(0.05 + g.nextDouble()) }
        var k = (0..<(l * m)).map { _ in Float(g.nextDouble()) }
        for j in 0..<l {  // largest entry 1/√m, as the stabilised map gives
            let row = k[(j * m)..<((j + 1) * m)]
            let top = row.max() ?? 1
            for r in 0..<m { k[j * m + r] = k[j * m + r] / top / Float(m).squareRoot() }
        }
        var s: [Float]?
        switch scales {
        case .none: s = nil
        case .wide: s = (0..<l).map { _ in Float(120 * g.nextDouble() - 60) }
        case .ascending: s = (0..<l).map { Float($0) * 0.7 + Float(g.nextDouble()) }
        }
        let tokens = (0..<l).map { _ in TokenID(g.next() % UInt64(Alphabet.count)) }
        return (q, k, s, tokens)
    }

    /// Normwise relative error of the type masses (largest |difference| over largest entry).
    static func massError(_ fast: [Double], _ reference: [Double]) -> Double {
        normwiseError(fast, reference)
    }

    /// Bidirectional FAVOR: Σ_{x_j = b} q′_i·k′_j / D_i from the per-type key sums equals the sums
    /// of the explicit L×L matrix (D from `BidirectionalLinearAttention.forward`, as the kernel
    /// saves it). Bound: normwise relative error ≤ 2e-6 (Float GEMMs over L = 150 terms; measured
    /// ≤ 2.0e-7).
    @Test(arguments: Scales.allCases)
    func bidirectionalSliceMatchesExplicitMatrix(scales: Scales) {
        let l = 150, m = 24, t = Alphabet.count
        let c = SimilarityTests.features(length: l, features: m, scales: scales, seed: 11)
        var normalizer = [Float](repeating: 0, count: l), out = [Float](repeating: 0, count: l)
        let values = [Float](repeating: 1, count: l)
        withOptionalPointer(c.s) { s in
            BidirectionalLinearAttention.forward(
                out: &out, normalizer: &normalizer, queryFeatures: c.q, keyFeatures: c.k, keyLogScale: s,
                values: values, length: l, features: m, headDim: 1)
        }
        var mass = [Double](repeating: 0, count: t * t)
        var scratch = [Float](repeating: 0, count: AttentionSimilarity.scratchCount(
            kind: .favorRelu, causal: false, length: l, features: m, types: t, chunk: 64))
        withOptionalPointer(c.s) { s in
            c.tokens.withUnsafeBufferPointer { x in
                AttentionSimilarity.favorBidirectionalSlice(
                    mass: &mass, queryFeatures: c.q, keyFeatures: c.k, keyLogScale: s, normalizer: normalizer,
                    tokens: x.baseAddress!, length: l, features: m, types: t, scratch: &scratch)
            }
        }
        let a = AttentionSimilarityReference.favorAttention(
            queryFeatures: c.q.map(Double.init), keyFeatures: c.k.map(Double.init), keyLogScale: c.s?.map(Double.init),
            length: l, features: m, causal: false)
        let reference = AttentionSimilarityReference.typeMass(attention: a, tokens: c.tokens, types: t)
        let error = SimilarityTests.massError(mass, reference)
        #expect(error <= 2e-6, "normwise error \(error)")
    }

    /// Causal FAVOR: the chunked running per-type sums equal the explicit lower-triangular matrix
    /// for chunk sizes that do and do not divide L (D from the chunked causal kernel, in its
    /// running-max frames). Bound: normwise relative error ≤ 2e-6 (measured ≤ 5.3e-8).
    @Test(arguments: Scales.allCases, [1, 16, 64, 500])
    func causalSliceMatchesExplicitMatrix(scales: Scales, chunk: Int) {
        let l = 150, m = 24, t = Alphabet.count
        let c = SimilarityTests.features(length: l, features: m, scales: scales, seed: 12)
        var normalizer = [Float](repeating: 0, count: l), out = [Float](repeating: 0, count: l)
        let values = [Float](repeating: 1, count: l)
        withOptionalPointer(c.s) { s in
            CausalLinearAttention.forward(
                out: &out, normalizer: &normalizer, queryFeatures: c.q, keyFeatures: c.k, keyLogScale: s,
                values: values, length: l, features: m, headDim: 1)
        }
        var mass = [Double](repeating: 0, count: t * t)
        var scratch = [Float](repeating: 0, count: AttentionSimilarity.scratchCount(
            kind: .favorRelu, causal: true, length: l, features: m, types: t, chunk: chunk))
        withOptionalPointer(c.s) { s in
            c.tokens.withUnsafeBufferPointer { x in
                AttentionSimilarity.favorCausalSlice(
                    mass: &mass, queryFeatures: c.q, keyFeatures: c.k, keyLogScale: s, normalizer: normalizer,
                    tokens: x.baseAddress!, length: l, features: m, types: t, chunk: chunk, scratch: &scratch)
            }
        }
        let a = AttentionSimilarityReference.favorAttention(
            queryFeatures: c.q.map(Double.init), keyFeatures: c.k.map(Double.init), keyLogScale: c.s?.map(Double.init),
            length: l, features: m, causal: true)
        let reference = AttentionSimilarityReference.typeMass(attention: a, tokens: c.tokens, types: t)
        let error = SimilarityTests.massError(mass, reference)
        #expect(error <= 2e-6, "normwise error \(error)")
    }

    // MARK: Whole models vs the explicit matrix from the same workspace

    static let modelCases: [(AttentionKind, Bool)] = [AttentionKind.exact, .favorSoftmax, .favorRelu]
        .flatMap { [($0, false), ($0, true)] }

    /// A small model with order-one weights (so attention is far from uniform), two windows of
    /// L = 150 (three causal chunks of 64). Per (layer, head), the accumulated masses equal the
    /// type sums of the explicit attention matrix built in Double from the workspace's own saved
    /// features (FAVOR: q′, k̃′, s; exact: the rotated q and k, softmax), normwise relative error
    /// ≤ 5e-6 (measured ≤ 3.7e-7); and every row sums to its token count within 1e-4 relative.
    @Test(arguments: modelCases)
    func modelMassMatchesExplicitAttention(kind: AttentionKind, causal: Bool) throws {
        let configuration = PerformerConfiguration(dim: 16, layers: 2, heads: 2, features: 16, attention: kind, causal: causal)
        let model = PerformerLM(configuration: configuration, seed: 70)
        PerformerLMTests.randomize(model, seed: 71)
        let batch = 2, l = 150, t = configuration.vocabSize
        let tokens = PerformerLMTests.batch(batch * l, seed: 72).tokens
        let similarity = try AttentionSimilarity(model: model, batch: batch, length: l, workers: 1)
        similarity.add(tokens: tokens)
        let ws = similarity.workspace
        let mass = similarity.mass
        #expect(mass.windows == batch)
        let m = configuration.features, d = configuration.headDim
        for layer in 0..<configuration.layers {
            let saved = ws.attentionSaved(layer: layer)
            for head in 0..<configuration.heads {
                var reference = [Double](repeating: 0, count: t * t)
                for b in 0..<batch {
                    let s = b * configuration.heads + head
                    let a: [Double]
                    if kind == .exact {
                        a = AttentionSimilarityReference.exactAttention(
                            query: ws.query[layer].doubles(offset: s * l * d, count: l * d),
                            key: ws.key[layer].doubles(offset: s * l * d, count: l * d), length: l, headDim: d, causal: causal)
                    } else {
                        a = AttentionSimilarityReference.favorAttention(
                            queryFeatures: saved.queryFeatures.doubles(offset: s * l * m, count: l * m),
                            keyFeatures: saved.keyFeatures.doubles(offset: s * l * m, count: l * m),
                            keyLogScale: kind == .favorSoftmax ? saved.keyLogScale.doubles(offset: s * l, count: l) : nil,
                            length: l, features: m, causal: causal)
                    }
                    let window = Array(tokens[(b * l)..<((b + 1) * l)])
                    let part = AttentionSimilarityReference.typeMass(attention: a, tokens: window, types: t)
                    for e in reference.indices { reference[e] += part[e] }
                }
                let fast = (0..<(t * t)).map { mass[layer: layer, head: head, query: $0 / t, key: $0 % t] }
                let error = normwiseError(fast, reference)
                #expect(error <= 5e-6, "\(kind.rawValue) causal \(causal) layer \(layer) head \(head): \(error)")
                for a in 0..<t {
                    let row = (0..<t).reduce(0.0) { $0 + mass[layer: layer, head: head, query: a, key: $1] }
                    #expect(abs(row - mass.tokenCounts[a]) <= 1e-4 * max(1, mass.tokenCounts[a]), "row \(a)")
                }
            }
        }
    }

    /// `forwardThroughAttention` (what the accumulator runs) leaves every layer's q, k, v,
    /// attention output and saved kernel values exactly as the full forward pass does: the same
    /// operations in the same order, so equal bit for bit.
    @Test(arguments: modelCases)
    func forwardThroughAttentionLeavesTheFullPassState(kind: AttentionKind, causal: Bool) {
        let configuration = PerformerConfiguration(dim: 16, layers: 2, heads: 2, features: 16, attention: kind, causal: causal)
        let model = PerformerLM(configuration: configuration, seed: 76)
        PerformerLMTests.randomize(model, seed: 77)
        let tokens = PerformerLMTests.batch(2 * 60, seed: 78).tokens
        let full = model.makeWorkspace(batch: 2, length: 60), partial = model.makeWorkspace(batch: 2, length: 60)
        model.forward(tokens: tokens, workspace: full)
        tokens.withUnsafeBufferPointer { model.forwardThroughAttention(tokens: $0, workspace: partial) }
        for layer in 0..<configuration.layers {
            let pairs = [
                (full.query[layer], partial.query[layer]), (full.key[layer], partial.key[layer]),
                (full.value[layer], partial.value[layer]), (full.attention[layer], partial.attention[layer]),
                (full.saved[layer].queryFeatures, partial.saved[layer].queryFeatures),
                (full.saved[layer].keyFeatures, partial.saved[layer].keyFeatures),
                (full.saved[layer].keyLogScale, partial.saved[layer].keyLogScale),
                (full.saved[layer].normalizer, partial.saved[layer].normalizer),
            ]
            for (index, (a, b)) in pairs.enumerated() {
                #expect(Array(a.buffer) == Array(b.buffer), "\(kind) causal \(causal) layer \(layer) tensor \(index)")
            }
        }
    }

    /// Window groups on 2 and 3 workers (each its own forward pass and slices) give the mass of
    /// one pass over the whole batch, within 1e-5 relative (normwise), every kind and direction.
    @Test(arguments: modelCases)
    func workersGiveTheSameMass(kind: AttentionKind, causal: Bool) throws {
        let configuration = PerformerConfiguration(dim: 16, layers: 2, heads: 2, features: 16, attention: kind, causal: causal)
        let model = PerformerLM(configuration: configuration, seed: 73)
        PerformerLMTests.randomize(model, seed: 74)
        let batch = 5, l = 70
        let tokens = PerformerLMTests.batch(batch * l, seed: 75).tokens
        let one = try AttentionSimilarity(model: model, batch: batch, length: l, workers: 1)
        one.add(tokens: tokens)
        for workers in [2, 3] {
            let spread = try AttentionSimilarity(model: model, batch: batch, length: l, workers: workers)
            #expect(spread.workerCount == workers)
            spread.add(tokens: tokens)
            #expect(spread.mass.windows == batch && spread.mass.tokenCounts == one.mass.tokenCounts)
            #expect(normwiseError(spread.mass.mass, one.mass.mass) <= 1e-5, "\(kind) causal \(causal) workers \(workers)")
        }
    }

    /// Two batches accumulate: the mass after adding A then B equals that of a fresh accumulator
    /// fed B then A (sums commute up to rounding, 1e-12 relative), and `merge` of two
    /// single-batch accumulators gives the same; `reset` empties it.
    @Test func batchesAccumulateAndMerge() throws {
        let configuration = PerformerConfiguration(dim: 16, layers: 1, heads: 2, features: 8, attention: .favorRelu)
        let model = PerformerLM(configuration: configuration, seed: 80)
        let a = PerformerLMTests.batch(40, seed: 81).tokens, b = PerformerLMTests.batch(40, seed: 82).tokens
        let first = try AttentionSimilarity(model: model, batch: 1, length: 40)
        first.add(tokens: a)
        first.add(tokens: b)
        let second = try AttentionSimilarity(model: model, batch: 1, length: 40)
        second.add(tokens: b)
        var merged = second.mass
        second.reset()
        #expect(second.mass.windows == 0 && second.mass.mass.allSatisfy { $0 == 0 })
        second.add(tokens: a)
        merged.merge(second.mass)
        #expect(merged.windows == 2 && first.mass.windows == 2)
        #expect(normwiseError(merged.mass, first.mass.mass) <= 1e-12)
        #expect(merged.tokenCounts == first.mass.tokenCounts)
    }

    /// The constant-attention control equals the type sums of the explicit uniform matrix
    /// (A_ij = 1/L, or 1/(i+1) for j ≤ i when causal) on random windows with every token type,
    /// `<pad>` included; relative error ≤ 1e-12 (Double sums in another order).
    @Test(arguments: [false, true])
    func constantAttentionMatchesExplicitUniformMatrix(causal: Bool) {
        let t = Alphabet.count
        var control = AttentionTypeMass.constantAttention(types: t)
        var reference = [Double](repeating: 0, count: t * t)
        for (seed, l) in [(90, 1), (91, 37), (92, 150)] {
            let window = PerformerLMTests.batch(l, seed: UInt64(seed)).tokens
            control.addConstantAttention(window: window, causal: causal)
            var a = [Double](repeating: 0, count: l * l)
            for i in 0..<l { for j in 0..<(causal ? i + 1 : l) { a[i * l + j] = 1 / Double(causal ? i + 1 : l) } }
            let part = AttentionSimilarityReference.typeMass(attention: a, tokens: window, types: t)
            for e in reference.indices { reference[e] += part[e] }
        }
        #expect(control.windows == 3)
        #expect(normwiseError(control.mass, reference) <= 1e-12)
        for a in 0..<t {
            let row = (0..<t).reduce(0.0) { $0 + control[layer: 0, head: 0, query: a, key: $1] }
            #expect(abs(row - control.tokenCounts[a]) <= 1e-9 * max(1, control.tokenCounts[a]), "row \(a)")
        }
    }

    /// An exact-attention model whose query projection is zero has constant logits, so every one
    /// of its heads gives exactly the control's mass: the control is the null model it claims to be.
    /// Bound: normwise relative error ≤ 1e-6 (Float attention).
    @Test(arguments: [false, true])
    func zeroQueryModelGivesTheConstantAttentionMass(causal: Bool) throws {
        let configuration = PerformerConfiguration(dim: 16, layers: 2, heads: 2, features: 0, attention: .exact, causal: causal)
        let model = PerformerLM(configuration: configuration, seed: 93)
        PerformerLMTests.randomize(model, seed: 94)
        for entry in model.parameters.entries where entry.name.hasSuffix("attn.wq") || entry.name.hasSuffix("attn.bq") {
            (model.parameters.values.data + entry.offset).update(repeating: 0, count: entry.count)
        }
        let l = 120, t = configuration.vocabSize
        let window = PerformerLMTests.batch(l, seed: 95).tokens
        let similarity = try AttentionSimilarity(model: model, batch: 1, length: l)
        similarity.add(tokens: window)
        var control = AttentionTypeMass.constantAttention(types: t)
        control.addConstantAttention(window: window, causal: causal)
        for layer in 0..<configuration.layers {
            for head in 0..<configuration.heads {
                let fromModel = (0..<(t * t)).map { similarity.mass[layer: layer, head: head, query: $0 / t, key: $0 % t] }
                let error = normwiseError(fromModel, control.mass)
                #expect(error <= 1e-6, "layer \(layer) head \(head): \(error)")
            }
        }
    }

    /// Identity attention has no attention matrix: a clean error, not a matrix of nonsense.
    @Test func identityAttentionIsRefused() {
        let configuration = PerformerConfiguration(dim: 8, layers: 1, heads: 2, features: 0, attention: .identity)
        let model = PerformerLM(configuration: configuration, seed: 1)
        #expect(throws: AttentionSimilarityError.self) { try AttentionSimilarity(model: model, batch: 1, length: 8) }
    }

    // MARK: Log-odds and head profiles, by hand

    /// An accumulator with chosen residue-to-residue masses for one layer and `heads` heads.
    static func handMass(heads: Int, entries: [(head: Int, query: Character, key: Character, value: Double)]) -> AttentionTypeMass {
        var mass = AttentionTypeMass(layers: 1, heads: heads, types: Alphabet.count)
        for e in entries {
            let a = Int(Alphabet.id(for: e.query.asciiValue!)!), b = Int(Alphabet.id(for: e.key.asciiValue!)!)
            mass.mass[(e.head * mass.types + a) * mass.types + b] += e.value
            mass.tokenCounts[a] += e.value
        }
        return mass
    }

    /// M = [[3, 1.5], [0.5, 1]] on (A, R): symmetrised P = [[6, 2], [2, 2]]/12, p = (2/3, 1/3),
    /// S_AA = log₂(1.125), S_AR = log₂(0.75), S_RR = log₂(1.5) bits; half-bits double them.
    @Test func logOddsByHand() {
        let mass = SimilarityTests.handMass(heads: 1, entries: [
            (0, "A", "A", 3), (0, "A", "R", 1.5), (0, "R", "A", 0.5), (0, "R", "R", 1),
        ])
        let bits = mass.logOdds(units: .bits, letters: ["A", "R"])
        let expected = [log2(1.125), log2(0.75), log2(0.75), log2(1.5)]
        #expect(bits.letters == ["A", "R"])
        for (x, y) in zip(bits.scores, expected) { #expect(abs(x - y) < 1e-12, "\(x) vs \(y)") }
        let halfBits = mass.logOdds(units: .halfBits, letters: ["A", "R"])
        for (x, y) in zip(halfBits.scores, expected) { #expect(abs(x - 2 * y) < 1e-12) }
        #expect(bits.isSymmetric)
    }

    /// Attention proportional to the product of the residue counts (what independence predicts)
    /// gives S = 0 everywhere; absent residues give NaN rows and are listed.
    @Test func independentAttentionScoresZero() {
        var entries: [(head: Int, query: Character, key: Character, value: Double)] = []
        let counts: [Character: Double] = ["A": 5, "L": 9, "W": 1, "K": 4]
        for (a, ca) in counts { for (b, cb) in counts { entries.append((0, a, b, ca * cb)) } }
        let mass = SimilarityTests.handMass(heads: 1, entries: entries)
        let matrix = mass.logOdds(units: .halfBits)
        for a in counts.keys { for b in counts.keys { #expect(abs(matrix[a, b]! ) < 1e-12) } }
        #expect(matrix["C", "C"]!.isNaN && matrix["A", "C"]!.isNaN)
        #expect(Set(mass.missingResidues) == Set(SubstitutionMatrix.standardLetters).subtracting(counts.keys))
    }

    /// Three heads whose shares on (A, R, N) are (½, ¼, ¼), (¼, ¼, ½), (¼, ½, ¼): every pair of
    /// profiles across heads has Pearson r = −½ (by hand: covariance −3/144 over variance 6/144);
    /// the diagonal is 1. Attention to `<sep>` does not enter the shares.
    @Test func headProfileCorrelationByHand() {
        var entries: [(head: Int, query: Character, key: Character, value: Double)] = []
        let shares: [[Double]] = [[2, 1, 1], [1, 1, 2], [1, 2, 1]]
        for (h, row) in shares.enumerated() {
            for (letter, value) in zip(["A", "R", "N"] as [Character], row) { entries.append((h, "L", letter, value)) }
        }
        var mass = SimilarityTests.handMass(heads: 3, entries: entries)
        let sep = Int(Alphabet.sep), leucine = Int(Alphabet.id(for: UInt8(ascii: "L"))!)
        mass.mass[(0 * mass.types + leucine) * mass.types + sep] += 100  // ignored: not a residue
        let profiles = mass.headProfiles(letters: ["A", "R", "N"])
        #expect(profiles.count == 3)
        for (p, row) in zip(profiles, shares) {
            for (x, y) in zip(p, row) { #expect(abs(x - y / 4) < 1e-12) }
        }
        let r = mass.headProfileCorrelation(letters: ["A", "R", "N"])
        for i in 0..<3 {
            for j in 0..<3 { #expect(abs(r.scores[i * 3 + j] - (i == j ? 1 : -0.5)) < 1e-12) }
        }
    }

    // MARK: Correlation helpers

    /// Pearson of (1…5) and (2, 4, 5, 4, 5): 6/√60 by hand.
    @Test func pearsonByHand() {
        let r = Correlation.pearson([1, 2, 3, 4, 5], [2, 4, 5, 4, 5])
        #expect(abs(r - 6 / 60.0.squareRoot()) < 1e-15)
        #expect(abs(Correlation.pearson([1, 2, 3], [6, 4, 2]) + 1) < 1e-15)
        #expect(Correlation.pearson([1, 1, 1], [1, 2, 3]).isNaN)
        #expect(Correlation.pearson([1], [2]).isNaN)
        #expect(Correlation.pearson([1, .nan], [1, 2]).isNaN)
        // Invariant under a large common offset.
        #expect(abs(Correlation.pearson([1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4, 1e9 + 5], [2, 4, 5, 4, 5]) - r) < 1e-9)
    }

    /// Ties share the mean of their ranks: x = (1, 2, 2, 3) has ranks (1, 2.5, 2.5, 4); against
    /// y = (1, 3, 2, 4) Spearman's ρ = 4.5/√(4.5·5) = 0.948683… (scipy.stats.spearmanr gives the
    /// same); a monotone transform does not change ρ.
    @Test func spearmanWithTiesByHand() {
        #expect(Correlation.ranks([10, 20, 20, 30]) == [1, 2.5, 2.5, 4])
        #expect(Correlation.ranks([3, 1, 3, 3, 2]) == [4, 1, 4, 4, 2])
        #expect(Correlation.ranks([]) == [])
        let rho = Correlation.spearman([1, 2, 2, 3], [1, 3, 2, 4])
        #expect(abs(rho - 4.5 / (4.5 * 5).squareRoot()) < 1e-15)
        #expect(abs(Correlation.spearman([1, 2, 3, 4], [1, 8, 27, 64]) - 1) < 1e-15)
        #expect(abs(Correlation.spearman([1, 2, 3, 4], [4, 3, 2, 1]) + 1) < 1e-15)
    }
}
