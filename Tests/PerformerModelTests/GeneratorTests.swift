import Foundation
import Testing
import ProteinIO
@testable import PerformerModel

/// RNN-mode decoding against the full forward pass, and sampling.
@Suite struct GeneratorTests {
    static let causalKinds: [AttentionKind] = [.favorRelu, .favorSoftmax, .exact, .identity]

    /// Logits of the full forward on `tokens` [L] (batch 1): [L, V].
    static func fullLogits(_ model: PerformerLM, _ tokens: [TokenID]) -> [Float] {
        let ws = model.makeWorkspace(batch: 1, length: tokens.count)
        model.forward(tokens: tokens, workspace: ws)
        return ws.logits.array
    }

    /// Largest |RNN − full| at any position, over the largest |logit| of the full pass.
    static func rnnError(_ model: PerformerLM, _ tokens: [TokenID]) throws -> Double {
        let full = fullLogits(model, tokens)
        let v = model.configuration.vocabSize
        let generator = try Generator(model: model)
        var worst = 0.0
        for (p, token) in tokens.enumerated() {
            generator.step(token)
            #expect(generator.position == p + 1)
            let row = Array(full[(p * v)..<((p + 1) * v)])
            worst = max(worst, normwiseError(generator.logits.array, row) * (row.map { abs(Double($0)) }.max() ?? 1))
        }
        let scale = full.map { abs(Double($0)) }.max() ?? 1
        return worst / scale
    }

    /// RNN mode equals full recomputation at every one of L = 120 positions (several causal
    /// chunks of 24), for order-one random weights (attention far from uniform, favor-softmax
    /// key log-scales spread over tens of units so the running maximum moves) and for the
    /// default initialisation. Bound: max |Δlogit| ≤ 5e-6 × max |logit| (Float32; the two paths
    /// sum in different orders — GEMV vs GEMM, state recurrence vs chunked prefix sums; measured
    /// ≤ 3.7e-7).
    @Test(arguments: causalKinds, [false, true])
    func rnnLogitsMatchFullForward(kind: AttentionKind, randomized: Bool) throws {
        let configuration = PerformerConfiguration(
            dim: 32, layers: 2, heads: 4, features: 16, attention: kind, causal: true)
        let model = PerformerLM(configuration: configuration, seed: 90)
        if randomized { PerformerLMTests.randomize(model, seed: 91) }
        var tokens = PerformerLMTests.batch(120, seed: 92).tokens
        tokens[0] = Alphabet.cls
        let error = try GeneratorTests.rnnError(model, tokens)
        #expect(error <= 5e-6, "\(kind.rawValue) randomized \(randomized): \(error)")
    }

    /// The running maximum of favor-softmax key log-scales must be reproduced: on a sequence
    /// where some key's log-scale sets a new record after the first causal chunk (checked: the
    /// premise of the test), so both paths must rescale their running sums mid-sequence, RNN mode
    /// still gives the full pass's logits (same bound).
    @Test func softmaxRunningMaxRecordsAreReproduced() throws {
        let configuration = PerformerConfiguration(dim: 32, layers: 2, heads: 4, features: 16, attention: .favorSoftmax, causal: true)
        let model = PerformerLM(configuration: configuration, seed: 93)
        PerformerLMTests.randomize(model, seed: 94)
        var tokens = PerformerLMTests.batch(120, seed: 95).tokens
        tokens[0] = Alphabet.cls
        let l = tokens.count
        let ws = model.makeWorkspace(batch: 1, length: l)
        model.forward(tokens: tokens, workspace: ws)
        var lateRecords = 0
        for layer in 0..<configuration.layers {
            let s = ws.attentionSaved(layer: layer).keyLogScale
            for h in 0..<configuration.heads {
                var running = -Float.infinity
                for p in 0..<l {
                    let value = s[h * l + p]
                    if value > running && p >= CausalLinearAttention.defaultChunk { lateRecords += 1 }
                    running = max(running, value)
                }
            }
        }
        #expect(lateRecords >= 1)
        let error = try GeneratorTests.rnnError(model, tokens)
        #expect(error <= 5e-6, "\(error)")
    }

    /// Bidirectional models are refused with a one-line error.
    @Test func bidirectionalModelIsRefused() {
        let model = PerformerLM(configuration: PerformerConfiguration(dim: 16, layers: 1, heads: 2, features: 8), seed: 1)
        #expect(throws: GeneratorError.self) { try Generator(model: model) }
    }

    /// FAVOR state does not grow with the position; the exact key/value cache does.
    @Test func favorStateIsConstantSizeExactCacheGrows() throws {
        for kind in [AttentionKind.favorRelu, .exact] {
            let model = PerformerLM(configuration: PerformerConfiguration(
                dim: 16, layers: 2, heads: 2, features: 8, attention: kind, causal: true), seed: 2)
            let generator = try Generator(model: model)
            generator.step(Alphabet.cls)
            let early = generator.stateByteCount
            for _ in 0..<50 { generator.step(7) }
            if kind == .exact {
                #expect(generator.stateByteCount == 51 * early)
            } else {
                #expect(generator.stateByteCount == early && early == 4 * 2 * 2 * 8 * (8 + 1))
            }
            generator.reset()
            #expect(generator.position == 0)
        }
    }

    // MARK: Sampling

    static func model(seed: UInt64, kind: AttentionKind = .favorRelu) -> PerformerLM {
        let model = PerformerLM(configuration: PerformerConfiguration(
            dim: 16, layers: 2, heads: 2, features: 8, attention: kind, causal: true), seed: seed)
        PerformerLMTests.randomize(model, seed: seed + 1)
        return model
    }

    /// Same seed, same proteins; the prompt is kept; only the 20 standard residues are sampled;
    /// the sequence never exceeds max length; the reported log-likelihood is the full forward's
    /// Σ ln p of the sampled tokens (stop token included), within 1e-4 nats (measured ≤ 5.4e-6).
    @Test(arguments: [AttentionKind.favorRelu, .favorSoftmax, .exact])
    func samplingIsReproducibleAndConsistent(kind: AttentionKind) throws {
        let model = GeneratorTests.model(seed: 100, kind: kind)
        let generator = try Generator(model: model)
        let prompt: [TokenID] = Array("MKT".utf8).map { Alphabet.id(for: $0)! }
        let configuration = SamplingConfiguration(temperature: 1, topK: 0, maxLength: 40)
        var r1 = SeededGenerator(seed: 5), r2 = SeededGenerator(seed: 5)
        let a = (0..<4).map { _ in generator.sample(prompt: prompt, configuration: configuration, using: &r1) }
        let b = (0..<4).map { _ in generator.sample(prompt: prompt, configuration: configuration, using: &r2) }
        #expect(a == b)
        #expect(Set(a.map(\.residues)).count > 1)
        for s in a {
            #expect(Array(s.residues.prefix(3)) == prompt && s.promptLength == 3)
            #expect(s.residues.count <= 40)
            #expect(s.residues.dropFirst(3).allSatisfy(Alphabet.isStandardResidue))
            #expect(s.stopReason != .maxLength || s.residues.count == 40)
            // Log-likelihood from one full forward over <cls> prompt sampled [stop].
            var tokens = [Alphabet.cls] + s.residues
            if s.stopReason == .separator { tokens.append(Alphabet.sep) }
            if s.stopReason == .endOfSequence { tokens.append(Alphabet.eos) }
            let v = model.configuration.vocabSize
            let logits = GeneratorTests.fullLogits(model, tokens)
            var expected = 0.0
            for p in (prompt.count + 1)..<tokens.count {
                let row = (0..<v).map { Double(logits[(p - 1) * v + $0]) }
                let top = row.max()!
                let lse = top + log(row.reduce(0) { $0 + exp($1 - top) })
                expected += row[Int(tokens[p])] - lse
            }
            #expect(abs(s.logLikelihood - expected) < 1e-4, "\(s.logLikelihood) vs \(expected)")
        }
    }

    /// T = 0 and top-k = 1 both pick the most likely candidate at every step; the two agree.
    @Test func greedyEqualsTopOne() throws {
        let model = GeneratorTests.model(seed: 110)
        let generator = try Generator(model: model)
        var r = SeededGenerator(seed: 1)
        let greedy = generator.sample(configuration: SamplingConfiguration(temperature: 0, maxLength: 30), using: &r)
        let topOne = generator.sample(configuration: SamplingConfiguration(temperature: 1.5, topK: 1, maxLength: 30), using: &r)
        #expect(greedy == GeneratedSequence(residues: topOne.residues, promptLength: 0, stopReason: topOne.stopReason,
                                            logLikelihood: greedy.logLikelihood))
        // Replaying the greedy sequence: each residue is the arg-max candidate of its position.
        generator.reset()
        generator.step(Alphabet.cls)
        for token in greedy.residues {
            let best = Generator.samplingCandidates.max { generator.logits[Int($0)] < generator.logits[Int($1)] }!
            #expect(token == best)
            generator.step(token)
        }
    }

    /// A large `<sep>` (or `<eos>`) bias stops at once; a prompt at max length is returned as is.
    @Test func stopTokensAndMaxLength() throws {
        let model = GeneratorTests.model(seed: 120)
        let bias = model.parameters.pointer("lm_head.bias")
        var r = SeededGenerator(seed: 2)
        let prompt: [TokenID] = [7, 8, 9]
        bias[Int(Alphabet.sep)] = 100
        let generator = try Generator(model: model)
        let stopped = generator.sample(prompt: prompt, configuration: SamplingConfiguration(maxLength: 10), using: &r)
        #expect(stopped.residues == prompt && stopped.stopReason == .separator && abs(stopped.logLikelihood) < 1e-6)
        bias[Int(Alphabet.sep)] = 0
        bias[Int(Alphabet.eos)] = 100
        #expect(generator.sample(prompt: prompt, configuration: SamplingConfiguration(maxLength: 10), using: &r).stopReason == .endOfSequence)
        bias[Int(Alphabet.eos)] = -100
        bias[Int(Alphabet.sep)] = -100
        let long = generator.sample(prompt: prompt, configuration: SamplingConfiguration(maxLength: 12), using: &r)
        #expect(long.residues.count == 12 && long.stopReason == .maxLength)
        let full = generator.sample(prompt: prompt, configuration: SamplingConfiguration(maxLength: 3), using: &r)
        #expect(full.residues == prompt && full.stopReason == .maxLength && full.logLikelihood == 0)
        // Masked tokens are never drawn, whatever their logits.
        bias[Int(Alphabet.mask)] = 1000
        bias[Int(Alphabet.pad)] = 1000
        let other = generator.sample(configuration: SamplingConfiguration(maxLength: 20), using: &r)
        #expect(other.residues.allSatisfy(Alphabet.isStandardResidue) && other.residues.count == 20)
    }

    /// Top-k sampling draws only among the k largest candidates; frequencies follow the softmax
    /// of the logits / T (chi-square-free check: the most likely of 3 appears most often).
    @Test func topKRestrictsTheCandidates() throws {
        let model = GeneratorTests.model(seed: 130)
        let generator = try Generator(model: model)
        generator.step(Alphabet.cls)
        let ranked = Generator.samplingCandidates.sorted { generator.logits[Int($0)] > generator.logits[Int($1)] }
        var r = SeededGenerator(seed: 3)
        var counts: [TokenID: Int] = [:]
        for _ in 0..<3000 {
            counts[generator.drawToken(configuration: SamplingConfiguration(temperature: 1, topK: 3), using: &r), default: 0] += 1
        }
        #expect(Set(counts.keys).isSubset(of: Set(ranked.prefix(3))))
        #expect(counts[ranked[0], default: 0] >= counts[ranked[2], default: 0])
    }
}
