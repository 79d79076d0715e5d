import ProteinIO
@testable import PerformerModel

/// Naive Double-precision forward of the whole `PerformerLM`, composed from the layer references
/// (`LinearReference`, `LayerNormReference`, `GELUReference`, `RotaryEmbeddingReference`, …) and
/// the attention references, reading the parameters as one flat [Double] in the store's layout.
/// It is the function the whole-model gradient check differentiates.
///
/// favor-softmax query stabilisers are per-query constants that the fast backward treats as
/// fixed; the reference returns the ones it computed and can be given them back (`frozen`), so
/// that finite differences hold them fixed too. Key log-scales need no freezing (the reference
/// contraction uses the true key features k̃′·e^s).
struct PerformerLMReference {
    let configuration: PerformerConfiguration
    let batch: Int
    let length: Int
    let offsets: [String: Int]
    /// W [features, headDim] per layer (empty for exact).
    let randomFeatures: [[Double]]
    let epsilon: Double

    typealias Stabilizers = [[[Double]]]  // [layer][slice][length]

    init(model: PerformerLM, batch: Int, length: Int) {
        configuration = model.configuration
        self.batch = batch
        self.length = length
        var offsets: [String: Int] = [:]
        for entry in model.parameters.entries { offsets[entry.name] = entry.offset }
        self.offsets = offsets
        randomFeatures = model.randomFeatures.map { $0.weights.doubles }
        epsilon = Double(AttentionKernel.defaultEpsilon(model.configuration.attention))
    }

    func tensor(_ p: [Double], _ name: String, _ count: Int) -> [Double] {
        guard let offset = offsets[name] else { fatalError("no parameter \(name)") }
        return Array(p[offset..<(offset + count)])
    }

    /// logits [batch·length, vocab] and the favor-softmax query stabilisers used.
    func logits(parameters p: [Double], tokens: [TokenID], frozen: Stabilizers? = nil) -> (logits: [Double], stabilizers: Stabilizers) {
        let c = configuration
        let n = batch * length, d = c.dim, f = c.ffnDim, v = c.vocabSize, h = c.heads, dh = c.headDim
        let eps = Double(c.layerNormEpsilon)
        let embedding = tensor(p, "embedding.weight", v * d)
        var x = EmbeddingReference.forward(tokens: tokens, weight: embedding, vocab: v, dim: d)
        var stabilizers: Stabilizers = []
        for layer in 0..<c.layers {
            let pre = "blocks.\(layer)."
            func linear(_ input: [Double], _ w: String, _ b: String, _ inputs: Int, _ outputs: Int) -> [Double] {
                LinearReference.forward(input: input, weight: tensor(p, pre + w, inputs * outputs),
                                        bias: tensor(p, pre + b, outputs), rows: n, inputs: inputs, outputs: outputs)
            }
            let h1 = LayerNormReference.forward(
                input: x, weight: tensor(p, pre + "attn_norm.weight", d), bias: tensor(p, pre + "attn_norm.bias", d),
                rows: n, dim: d, epsilon: eps)
            let q = rotate(split(linear(h1, "attn.wq", "attn.bq", d, d)))
            let k = rotate(split(linear(h1, "attn.wk", "attn.bk", d, d)))
            let vv = split(linear(h1, "attn.wv", "attn.bv", d, d))
            var attention: [Double] = []
            var layerStabilizers: [[Double]] = []
            for s in 0..<(batch * h) {
                let range = (s * length * dh)..<((s + 1) * length * dh)
                let (qs, ks, vs) = (Array(q[range]), Array(k[range]), Array(vv[range]))
                let m = c.features
                switch c.attention {
                case .identity:
                    attention += vs
                case .exact:
                    attention += ExactAttentionReference.forward(
                        query: qs, key: ks, value: vs, length: length, headDim: dh, causal: c.causal)
                case .favorRelu:
                    let w = randomFeatures[layer]
                    let qf = FavorReluFeaturesReference.forward(input: qs, weights: w, length: length, features: m, headDim: dh, epsilon: epsilon)
                    let kf = FavorReluFeaturesReference.forward(input: ks, weights: w, length: length, features: m, headDim: dh, epsilon: epsilon)
                    attention += LinearAttentionReference.forward(
                        queryFeatures: qf, keyFeatures: kf, keyLogScale: nil, values: vs,
                        length: length, features: m, headDim: dh, causal: c.causal)
                case .favorSoftmax:
                    let w = randomFeatures[layer]
                    let qf = FavorSoftmaxFeaturesReference.queries(
                        input: qs, weights: w, length: length, features: m, headDim: dh, epsilon: epsilon,
                        stabilizer: frozen?[layer][s])
                    layerStabilizers.append(qf.stabilizer)
                    let kf = FavorSoftmaxFeaturesReference.keys(input: ks, weights: w, length: length, features: m, headDim: dh)
                    attention += LinearAttentionReference.forward(
                        queryFeatures: qf.features, keyFeatures: kf.features, keyLogScale: kf.logScale, values: vs,
                        length: length, features: m, headDim: dh, causal: c.causal)
                }
            }
            stabilizers.append(layerStabilizers)
            let projected = linear(merge(attention), "attn.wo", "attn.bo", d, d)
            for i in x.indices { x[i] += projected[i] }
            let h2 = LayerNormReference.forward(
                input: x, weight: tensor(p, pre + "ffn_norm.weight", d), bias: tensor(p, pre + "ffn_norm.bias", d),
                rows: n, dim: d, epsilon: eps)
            let hidden = GELUReference.forward(linear(h2, "ffn.w1", "ffn.b1", d, f))
            let out = linear(hidden, "ffn.w2", "ffn.b2", f, d)
            for i in x.indices { x[i] += out[i] }
        }
        let xf = LayerNormReference.forward(
            input: x, weight: tensor(p, "final_norm.weight", d), bias: tensor(p, "final_norm.bias", d),
            rows: n, dim: d, epsilon: eps)
        let bias = tensor(p, "lm_head.bias", v)
        var logits = [Double](repeating: 0, count: n * v)
        for r in 0..<n {
            for t in 0..<v {
                var s = bias[t]
                for i in 0..<d { s += xf[r * d + i] * embedding[t * d + i] }
                logits[r * v + t] = s
            }
        }
        return (logits, stabilizers)
    }

    /// (Σ w·CE) / (Σ w) of the reference logits.
    func meanLoss(parameters: [Double], tokens: [TokenID], targets: [TokenID], weights: [Float],
                  frozen: Stabilizers? = nil) -> Double {
        let z = logits(parameters: parameters, tokens: tokens, frozen: frozen).logits
        let l = CrossEntropyReference.loss(logits: z, targets: targets, weights: weights.map(Double.init),
                                           vocab: configuration.vocabSize)
        return l.sum / l.weight
    }

    /// [B·L, D] token-major → [B, H, L, dh] head-major.
    func split(_ x: [Double]) -> [Double] {
        let h = configuration.heads, dh = configuration.headDim
        var out = [Double](repeating: 0, count: x.count)
        for b in 0..<batch {
            for p in 0..<length {
                for head in 0..<h {
                    for i in 0..<dh {
                        out[((b * h + head) * length + p) * dh + i] = x[((b * length + p) * h + head) * dh + i]
                    }
                }
            }
        }
        return out
    }

    /// [B, H, L, dh] head-major → [B·L, D] token-major.
    func merge(_ x: [Double]) -> [Double] {
        let h = configuration.heads, dh = configuration.headDim
        var out = [Double](repeating: 0, count: x.count)
        for b in 0..<batch {
            for p in 0..<length {
                for head in 0..<h {
                    for i in 0..<dh {
                        out[((b * length + p) * h + head) * dh + i] = x[((b * h + head) * length + p) * dh + i]
                    }
                }
            }
        }
        return out
    }

    func rotate(_ x: [Double]) -> [Double] {
        RotaryEmbeddingReference.forward(x, slices: batch * configuration.heads, length: length,
                                         headDim: configuration.headDim, base: Double(configuration.rotaryBase))
    }
}
