import Testing
import ProteinIO
@testable import PerformerModel

import Foundation

/// The whole model: forward and gradients against the Double reference for every attention kind
/// in both directions, causality, determinism, gradient accumulation and the no-target case.
@Suite struct PerformerLMTests {
    static let allKinds: [(AttentionKind, Bool)] = [AttentionKind.exact, .favorSoftmax, .favorRelu]
        .flatMap { [($0, false), ($0, true)] }

    /// A model small enough for finite differences: dim 8, 2 heads of 4, 2 layers, m = 8, F = 16.
    static func tinyConfiguration(_ kind: AttentionKind, causal: Bool) -> PerformerConfiguration {
        PerformerConfiguration(dim: 8, layers: 2, heads: 2, features: 8, ffnDim: 16, attention: kind, causal: causal)
    }

    /// Overwrites the parameters with values of order one everywhere (the real initialisation
    /// makes most paths tiny, which would let a wrong term hide under the tolerance): matrices
    /// N(0, 1/fan_in), the embedding N(0, 1), biases N(0, 0.2²), LayerNorm weights 1 + N(0, 0.2²).
    static func randomize(_ model: PerformerLM, seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        for entry in model.parameters.entries {
            let p = model.parameters.values.data + entry.offset
            for i in 0..<entry.count {
                let z = g.nextGaussian()
                if entry.name.hasSuffix("norm.weight") {
                    p[i] = Float(1 + 0.2 * z)
                } else if entry.name == "embedding.weight" {
                    p[i] = Float(z)
                } else if entry.shape.count == 2 {
                    p[i] = Float(z / Double(entry.shape[0]).squareRoot())
                } else {
                    p[i] = Float(0.2 * z)
                }
            }
        }
    }

    struct Sample {
        var tokens: [TokenID], targets: [TokenID], weights: [Float]
    }

    /// Random tokens and targets over the whole vocabulary; weights 0 (a quarter), 0.5, 1 or 2.
    static func batch(_ count: Int, vocab: Int = Alphabet.count, seed: UInt64) -> Sample {
        var g = SeededGenerator(seed: seed)
        let tokens = (0..<count).map { _ in TokenID(g.next() % UInt64(vocab)) }
        let targets = (0..<count).map { _ in TokenID(g.next() % UInt64(vocab)) }
        let choices: [Float] = [0, 0.5, 1, 2]
        var weights = (0..<count).map { _ in choices[Int(g.next() % 4)] }
        weights[0] = 1  // never all zero
        return Sample(tokens: tokens, targets: targets, weights: weights)
    }

    // MARK: Gradients of the whole model

    /// Forward against the Double reference, and the gradient of the mean loss (Σ w·CE / Σ w)
    /// with respect to every parameter tensor against central differences of the reference
    /// (random features and favor-softmax query stabilisers held fixed), on 6 entries per tensor
    /// (all 36 tensors: embedding, both blocks' 16 tensors, final norm, LM-head bias).
    ///
    /// Bounds: logits within 1e-4 relative (floor 1e-2 of the logit scale), the loss within 1e-5
    /// relative; per tensor, max relative gradient error < 2e-3 and mean < 3e-4 (floor 1e-3 of the
    /// tensor's largest checked entry). The Float32 model accumulates ~1e-6 relative round-off
    /// per op through two blocks; a wrong term gives O(1).
    @Test(arguments: allKinds)
    func wholeModelGradientsMatchFiniteDifferences(kind: AttentionKind, causal: Bool) {
        let configuration = PerformerLMTests.tinyConfiguration(kind, causal: causal)
        let model = PerformerLM(configuration: configuration, seed: 7)
        PerformerLMTests.randomize(model, seed: 8)
        let batch = 2, length = 5
        let data = PerformerLMTests.batch(batch * length, seed: 9)
        let ws = model.makeWorkspace(batch: batch, length: length)
        model.parameters.zeroGradients()
        // A quarter of the weights are 0, so the loss and backward run on the weighted rows only
        // (`outputRowPruning`): the finite differences below check that path.
        let loss = model.lossAndGradients(tokens: data.tokens, targets: data.targets, weights: data.weights, workspace: ws)
        #expect(ws.rowsSelected)

        let reference = PerformerLMReference(model: model, batch: batch, length: length)
        let p = model.parameters.values.doubles
        let (referenceLogits, frozen) = reference.logits(parameters: p, tokens: data.tokens)
        let scale = referenceLogits.map { abs($0) }.max() ?? 1
        let all = model.makeWorkspace(batch: batch, length: length)
        model.forward(tokens: data.tokens, workspace: all)  // every row's logits
        #expect(maxRelativeDifference(all.logits.array, referenceLogits, floor: 1e-2 * scale) < 1e-4)
        let referenceLoss = reference.meanLoss(parameters: p, tokens: data.tokens, targets: data.targets,
                                               weights: data.weights, frozen: frozen)
        #expect(abs(loss.mean - referenceLoss) < 1e-5 * referenceLoss, "loss \(loss.mean) vs \(referenceLoss)")

        var g = SeededGenerator(seed: 10)
        let label = "\(kind.rawValue)\(causal ? " causal" : "")"
        for entry in model.parameters.entries {
            var picks: [Int] = []
            while picks.count < min(6, entry.count) {
                let i = entry.offset + Int(g.next() % UInt64(entry.count))
                if !picks.contains(i) { picks.append(i) }
            }
            let numeric = GradientCheck.numericGradient(at: p, indices: picks, weights: [1]) { q in
                [reference.meanLoss(parameters: q, tokens: data.tokens, targets: data.targets,
                                    weights: data.weights, frozen: frozen)]
            }
            let range = entry.offset..<(entry.offset + entry.count)
            let report = GradientCheck.compare(
                "\(label) \(entry.name)", analytic: Array(model.parameters.gradients.array[range]),
                numeric: Array(numeric[range]))
            #expect(report.maxRelativeError < 2e-3, "\(report)")
            #expect(report.meanRelativeError < 3e-4, "\(report)")
        }
    }

    // MARK: Causality

    /// A causal model: changing every token after position `cut` (in every row) leaves all logits
    /// at positions ≤ cut bit-identical, and changes some later logit.
    @Test(arguments: [AttentionKind.exact, .favorSoftmax, .favorRelu])
    func causalModelIgnoresTheFuture(kind: AttentionKind) {
        let configuration = PerformerConfiguration(dim: 16, layers: 2, heads: 2, features: 16, attention: kind, causal: true)
        let model = PerformerLM(configuration: configuration, seed: 20)
        PerformerLMTests.randomize(model, seed: 21)
        let batch = 2, length = 40, cut = 17, vocab = configuration.vocabSize
        let before = PerformerLMTests.batch(batch * length, seed: 22).tokens
        var after = before
        var g = SeededGenerator(seed: 23)
        for b in 0..<batch {
            for p in (cut + 1)..<length { after[b * length + p] = TokenID(g.next() % UInt64(vocab)) }
        }
        let ws = model.makeWorkspace(batch: batch, length: length)
        model.forward(tokens: before, workspace: ws)
        let logitsBefore = ws.logits.array
        model.forward(tokens: after, workspace: ws)
        let logitsAfter = ws.logits.array
        var futureChanged = false
        for b in 0..<batch {
            for p in 0..<length {
                for t in 0..<vocab {
                    let i = (b * length + p) * vocab + t
                    if p <= cut {
                        #expect(logitsBefore[i].bitPattern == logitsAfter[i].bitPattern, "row \(b) position \(p)")
                    } else if logitsBefore[i] != logitsAfter[i] {
                        futureChanged = true
                    }
                }
            }
        }
        #expect(futureChanged)
    }

    /// The same change in a bidirectional (masked-LM) model does reach the earlier positions.
    @Test func bidirectionalModelSeesTheFuture() {
        let configuration = PerformerConfiguration(dim: 16, layers: 1, heads: 2, features: 16)
        let model = PerformerLM(configuration: configuration, seed: 24)
        PerformerLMTests.randomize(model, seed: 25)
        var tokens = PerformerLMTests.batch(12, seed: 26).tokens
        let ws = model.makeWorkspace(batch: 1, length: 12)
        model.forward(tokens: tokens, workspace: ws)
        let first = ws.logits[0]
        tokens[11] = tokens[11] == 7 ? 8 : 7
        model.forward(tokens: tokens, workspace: ws)
        #expect(ws.logits[0] != first)
    }

    // MARK: Loss edge cases, determinism, accumulation

    /// All weights zero: LossSum(0, 0), mean 0 (not NaN), and no gradient is accumulated.
    @Test func allZeroWeightsGiveZeroLossAndNoGradient() {
        let model = PerformerLM(configuration: PerformerLMTests.tinyConfiguration(.favorRelu, causal: false), seed: 30)
        let data = PerformerLMTests.batch(8, seed: 31)
        let ws = model.makeWorkspace(batch: 2, length: 4)
        let zeros = [Float](repeating: 0, count: 8)
        let loss = model.lossAndGradients(tokens: data.tokens, targets: data.targets, weights: zeros, workspace: ws)
        #expect(loss == LossSum(sum: 0, weight: 0))
        #expect(loss.mean == 0 && !loss.mean.isNaN)
        #expect(model.parameters.gradients.array.allSatisfy { $0 == 0 })
        #expect(model.loss(tokens: data.tokens, targets: data.targets, weights: zeros, workspace: ws).mean == 0)
    }

    /// Two models from one seed hold the same parameters and random features and give the same
    /// loss and gradients, bit for bit; another seed gives other values.
    @Test(arguments: [AttentionKind.favorRelu, .favorSoftmax, .exact])
    func sameSeedGivesIdenticalModelsAndLosses(kind: AttentionKind) {
        let configuration = PerformerConfiguration(dim: 16, layers: 2, heads: 2, features: 16, attention: kind)
        let a = PerformerLM(configuration: configuration, seed: 40)
        let b = PerformerLM(configuration: configuration, seed: 40)
        let c = PerformerLM(configuration: configuration, seed: 41)
        #expect(a.parameters.values.array.map(\.bitPattern) == b.parameters.values.array.map(\.bitPattern))
        #expect(a.parameters.values.array != c.parameters.values.array)
        #expect(a.randomFeatures.map { $0.weights.array } == b.randomFeatures.map { $0.weights.array })
        let data = PerformerLMTests.batch(2 * 16, seed: 42)
        let wa = a.makeWorkspace(batch: 2, length: 16), wb = b.makeWorkspace(batch: 2, length: 16)
        let la = a.lossAndGradients(tokens: data.tokens, targets: data.targets, weights: data.weights, workspace: wa)
        let lb = b.lossAndGradients(tokens: data.tokens, targets: data.targets, weights: data.weights, workspace: wb)
        #expect(la.sum.bitPattern == lb.sum.bitPattern && la.weight == lb.weight)
        #expect(a.parameters.gradients.array.map(\.bitPattern) == b.parameters.gradients.array.map(\.bitPattern))
        // Reusing the workspace gives the same logits again.
        a.forward(tokens: data.tokens, workspace: wa)
        let logits = wa.logits.array
        a.forward(tokens: data.tokens, workspace: wa)
        #expect(wa.logits.array.map(\.bitPattern) == logits.map(\.bitPattern))
    }

    /// Redrawing is a function of the seed alone: redraw(s) on any model equals a fresh model's
    /// features for seed s; layers get different matrices; parameters are untouched.
    @Test func redrawIsDeterministicPerSeedAndLayer() {
        let configuration = PerformerConfiguration(dim: 16, layers: 3, heads: 2, features: 12)
        let model = PerformerLM(configuration: configuration, seed: 50)
        let values = model.parameters.values.array
        model.redrawRandomFeatures(seed: 51)
        let fresh = PerformerLM(configuration: configuration, seed: 51)
        #expect(model.randomFeatures.map { $0.weights.array } == fresh.randomFeatures.map { $0.weights.array })
        #expect(model.randomFeatures[0].weights.array != model.randomFeatures[1].weights.array)
        #expect(model.parameters.values.array == values)
        // The kernels see the redrawn matrices (they hold them by reference).
        #expect(model.kernels[2].randomFeatures?.weights.array == fresh.randomFeatures[2].weights.array)
        let exact = PerformerLM(configuration: PerformerConfiguration(dim: 16, layers: 1, heads: 2, features: 0, attention: .exact), seed: 1)
        #expect(exact.randomFeatures.isEmpty)
        exact.redrawRandomFeatures(seed: 3)
    }

    /// Gradients accumulate: a second identical call doubles them (within Float32 round-off of the
    /// accumulation, 1e-5 of the tensor's largest entry); `normalizer` = 2·Σw halves one call's.
    @Test func gradientsAccumulateAcrossCalls() {
        let model = PerformerLM(configuration: PerformerLMTests.tinyConfiguration(.favorRelu, causal: false), seed: 60)
        PerformerLMTests.randomize(model, seed: 61)
        let data = PerformerLMTests.batch(12, seed: 62)
        let ws = model.makeWorkspace(batch: 3, length: 4)
        model.parameters.zeroGradients()
        let once = model.lossAndGradients(tokens: data.tokens, targets: data.targets, weights: data.weights, workspace: ws)
        let g1 = model.parameters.gradients.array
        let twice = model.lossAndGradients(tokens: data.tokens, targets: data.targets, weights: data.weights, workspace: ws)
        let g2 = model.parameters.gradients.array
        #expect(once == twice)
        let largest = Double(g1.map { abs($0) }.max() ?? 0)
        #expect(largest > 0)
        var worst = 0.0
        for i in g1.indices { worst = max(worst, abs(Double(g2[i]) - 2 * Double(g1[i]))) }
        #expect(worst <= 1e-5 * largest, "max |g2 − 2g1| = \(worst), largest |g1| = \(largest)")

        model.parameters.zeroGradients()
        _ = model.lossAndGradients(tokens: data.tokens, targets: data.targets, weights: data.weights, workspace: ws,
                                   normalizer: 2 * once.weight)
        let half = model.parameters.gradients.array
        worst = 0
        for i in g1.indices { worst = max(worst, abs(Double(half[i]) - 0.5 * Double(g1[i]))) }
        #expect(worst <= 1e-5 * largest, "max |g_half − g1/2| = \(worst)")
    }

    /// The loss of a freshly initialised model is close to log(V) (uniform predictions): the init
    /// scale makes the logits small.
    @Test func initialLossIsNearUniform() {
        let model = PerformerLM(configuration: .preset(.tiny), seed: 70)
        let data = PerformerLMTests.batch(2 * 64, seed: 71)
        let ws = model.makeWorkspace(batch: 2, length: 64)
        let loss = model.loss(tokens: data.tokens, targets: data.targets, weights: data.weights, workspace: ws)
        #expect(abs(loss.mean - log(31.0)) < 0.05, "initial loss \(loss.mean), log 31 = \(log(31.0))")
    }

    // MARK: Workspace memory

    /// The static memory formula equals what a workspace allocates, for every kind and direction.
    @Test(arguments: allKinds)
    func workspaceByteCountMatchesFormula(kind: AttentionKind, causal: Bool) {
        var configuration = PerformerConfiguration.preset(.tiny)
        configuration.attention = kind
        configuration.causal = causal
        let model = PerformerLM(configuration: configuration, seed: 1)
        for (batch, length) in [(1, 1), (2, 37), (3, 100)] {
            let ws = model.makeWorkspace(batch: batch, length: length)
            #expect(ws.byteCount == PerformerLM.workspaceByteCount(configuration: configuration, batch: batch, length: length))
            #expect(ws.attentionSaved(layer: 1).length == length)
        }
    }

    /// The benchmark configuration at L = 8192, batch 1, favor-relu: the whole workspace stays
    /// far below 2 GB; bound 1 GB (computed: 629 678 080 bytes bidirectional, 627 498 944 causal;
    /// the allocated workspace equals the formula, see `workspaceByteCountMatchesFormula`).
    @Test func smallPresetAtLength8192FitsWellUnderTwoGigabytes() {
        for causal in [false, true] {
            var configuration = PerformerConfiguration.preset(.small)
            configuration.causal = causal
            let bytes = PerformerLM.workspaceByteCount(configuration: configuration, batch: 1, length: 8192)
            print("workspace small preset L 8192 batch 1 \(causal ? "causal" : "MLM"): \(bytes) bytes")
            #expect(bytes < 1_000_000_000)
        }
    }
}

/// Configuration and parameter layout.
@Suite struct PerformerConfigurationTests {
    @Test func presetsHaveTheDocumentedSizes() {
        let tiny = PerformerConfiguration.preset(.tiny), small = PerformerConfiguration.preset(.small)
        let base = PerformerConfiguration.preset(.base)
        #expect([tiny.dim, tiny.layers, tiny.heads, tiny.features, tiny.ffnDim] as [Int] == [64, 2, 4, 64, 256])
        #expect([small.dim, small.layers, small.heads, small.features, small.ffnDim] as [Int] == [256, 4, 4, 128, 1024])
        #expect([base.dim, base.layers, base.heads, base.features, base.ffnDim] as [Int] == [512, 8, 8, 256, 2048])
        for preset in PerformerConfiguration.Preset.allCases {
            let c = PerformerConfiguration.preset(preset)
            #expect(c.vocabSize == 31 && c.attention == .favorRelu && !c.causal && c.featureDistribution == .orthogonal)
            #expect(c.rotaryBase == 10000 && c.layerNormEpsilon == 1e-5)
            #expect(c.headDim == (preset == .tiny ? 16 : 64))
            #expect(throws: Never.self) { try c.validate() }
            #expect(ParameterStore.layout(c).reduce(0) { $0 + $1.shape.reduce(1, *) } == c.parameterCount)
        }
        #expect(small.parameterCount == 3_167_519)
    }

    @Test func codableUsesSnakeCaseKeysAndDefaults() throws {
        var c = PerformerConfiguration.preset(.small)
        c.causal = true
        c.attention = .favorSoftmax
        let json = String(decoding: try JSONEncoder().encode(c), as: UTF8.self)
        for key in ["\"vocab_size\"", "\"ffn_dim\"", "\"feature_distribution\"", "\"rotary_base\"",
                    "\"layer_norm_epsilon\"", "\"favor-softmax\""] {
            #expect(json.contains(key), "\(json)")
        }
        #expect(try JSONDecoder().decode(PerformerConfiguration.self, from: Data(json.utf8)) == c)
        let minimal = #"{"dim": 32, "layers": 1, "heads": 2, "features": 16}"#
        let decoded = try JSONDecoder().decode(PerformerConfiguration.self, from: Data(minimal.utf8))
        #expect(decoded == PerformerConfiguration(dim: 32, layers: 1, heads: 2, features: 16))
        #expect(decoded.ffnDim == 128 && decoded.vocabSize == 31 && decoded.attention == .favorRelu)
    }

    @Test func validateNamesTheProblem() {
        func message(_ c: PerformerConfiguration) -> String {
            do { try c.validate(); return "" } catch { return "\(error)" }
        }
        #expect(message(PerformerConfiguration(dim: 30, layers: 1, heads: 4, features: 8)).contains("multiple of heads"))
        #expect(message(PerformerConfiguration(dim: 12, layers: 1, heads: 4, features: 8)).contains("even"))
        #expect(message(PerformerConfiguration(dim: 16, layers: 0, heads: 2, features: 8)).contains("layers"))
        #expect(message(PerformerConfiguration(dim: 16, layers: 1, heads: 2, features: 0)).contains("features"))
        #expect(message(PerformerConfiguration(dim: 16, layers: 1, heads: 2, features: 0, attention: .exact)) == "")
        #expect(message(PerformerConfiguration(vocabSize: 300, dim: 16, layers: 1, heads: 2, features: 8)).contains("vocab_size"))
        #expect(message(PerformerConfiguration(dim: 16, layers: 1, heads: 2, features: 8, rotaryBase: 0)).contains("rotary_base"))
    }

    @Test func parameterStoreLayoutAndInitialisation() {
        let c = PerformerConfiguration.preset(.tiny)
        let store = ParameterStore(configuration: c, seed: 5)
        #expect(store.count == c.parameterCount)
        var offset = 0
        for entry in store.entries {
            #expect(entry.offset == offset)
            offset += entry.count
            let matrix = entry.shape.count == 2
            #expect(entry.decays == matrix, "\(entry.name)")
        }
        #expect(store.entries.first?.name == "embedding.weight" && store.entries.first?.shape == [31, 64])
        #expect(store.entries.last?.name == "lm_head.bias" && store.entries.last?.shape == [31])
        #expect(store["blocks.1.attn.wq"]?.shape == [64, 64])
        #expect(store.entry(named: "blocks.0.ffn.w1")?.shape == [64, 256])
        #expect(store["blocks.0.ffn.w2"]?.shape == [256, 64])
        #expect(store["blocks.1.ffn_norm.bias"]?.shape == [64])
        #expect(store["blocks.2.attn.wq"] == nil)
        let names = Set(store.entries.map(\.name))
        for suffix in ["attn_norm.weight", "attn_norm.bias", "attn.wq", "attn.wk", "attn.wv", "attn.wo", "attn.bq",
                       "attn.bk", "attn.bv", "attn.bo", "ffn_norm.weight", "ffn_norm.bias", "ffn.w1", "ffn.b1",
                       "ffn.w2", "ffn.b2"] {
            #expect(names.contains("blocks.0." + suffix) && names.contains("blocks.1." + suffix), "\(suffix)")
        }
        #expect(names.contains("final_norm.weight") && names.contains("final_norm.bias"))
        #expect(store.entries.count == 1 + 2 * 16 + 3)
        #expect(store.pointer("blocks.1.attn.wo") == store.values.data + (store["blocks.1.attn.wo"]?.offset ?? -1))
        #expect(store.gradient("final_norm.bias") == store.gradients.data + (store["final_norm.bias"]?.offset ?? -1))

        func std(_ name: String) -> Double {
            guard let e = store[name] else { return .nan }
            let v = (0..<e.count).map { Double(store.values[e.offset + $0]) }
            let mean = v.reduce(0, +) / Double(v.count)
            return (v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(v.count)).squareRoot()
        }
        // 0.02 for matrices, 0.02/√(2·2) = 0.01 for the output projections (4096+ draws: ±5 %).
        #expect(abs(std("embedding.weight") - 0.02) < 0.002)
        #expect(abs(std("blocks.0.attn.wq") - 0.02) < 0.001)
        #expect(abs(std("blocks.1.ffn.w1") - 0.02) < 0.001)
        #expect(abs(std("blocks.0.attn.wo") - 0.01) < 0.0005)
        #expect(abs(std("blocks.1.ffn.w2") - 0.01) < 0.0005)
        for entry in store.entries where !entry.decays {
            let expected: Float = entry.name.hasSuffix("norm.weight") ? 1 : 0
            #expect((0..<entry.count).allSatisfy { store.values[entry.offset + $0] == expected }, "\(entry.name)")
        }
        store.gradients[3] = 1
        store.zeroGradients()
        #expect(store.gradients.array.allSatisfy { $0 == 0 })
    }

    /// A model built around an existing store and features (the checkpoint path) computes the
    /// same logits as the original.
    @Test func modelFromExistingParametersMatchesOriginal() {
        let c = PerformerConfiguration(dim: 16, layers: 2, heads: 2, features: 8)
        let original = PerformerLM(configuration: c, seed: 80)
        let store = ParameterStore(configuration: c)
        store.values.copy(from: original.parameters.values)
        let features = original.randomFeatures.map {
            RandomFeatures(weights: Tensor(shape: $0.weights.shape, values: $0.weights.array), distribution: $0.distribution)
        }
        let copy = PerformerLM(configuration: c, parameters: store, randomFeatures: features)
        let tokens = PerformerLMTests.batch(20, seed: 81).tokens
        let wa = original.makeWorkspace(batch: 1, length: 20), wb = copy.makeWorkspace(batch: 1, length: 20)
        original.forward(tokens: tokens, workspace: wa)
        copy.forward(tokens: tokens, workspace: wb)
        #expect(wa.logits.array == wb.logits.array)
    }
}
