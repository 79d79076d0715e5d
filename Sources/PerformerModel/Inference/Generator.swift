#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import COpenBLAS
import ProteinIO

/// Token-by-token decoding of a causal `PerformerLM` in RNN mode: `step(_:)` takes the token at
/// the next position and leaves the model's logits for the position after it in `logits`.
///
/// For the FAVOR kinds every (layer, head) keeps a `CausalLinearAttention.State` — the running
/// m×d sum S = Σ_j e^{s_j − M} k̃′_j v_jᵀ and normaliser z = Σ_j e^{s_j − M} k̃′_j in the frame of
/// the running maximum M of the key log-scales, the same stabiliser (and so the same frame) as
/// the chunked causal kernel — which replaces the whole prefix. One step runs each block on one
/// row: embedding, LayerNorm, the q/k/v projections (GEMV), rotary at the current position (the
/// angles computed exactly as `RotaryEmbedding`'s tables), the kernel's own feature maps
/// (`FavorSoftmaxFeatures.forwardQueries/forwardKeys` or `FavorReluFeatures.forward`, with the
/// kernel's W and ε, all heads in one call), state append and read, output projection, the GELU
/// feed-forward block, the final LayerNorm and the tied LM head. Cost per token
///
///     O(layers·(4·D² + 2·D·F + H·m·dh) + V·D),
///
/// independent of the position. Memory: layers·H·m·(dh + 1) floats of state plus one row of
/// activations.
///
/// `exact` models use a key/value cache instead (each step attends to every cached position:
/// O(position·D) per token, memory growing with length); `identity` needs no state (out = v).
/// Bidirectional models cannot be decoded left to right and are refused.
///
/// The logits equal those of `PerformerLM.forward` on the whole prefix up to Float rounding
/// (tested at every position, see `GeneratorTests`).
public final class Generator {
    public let model: PerformerLM
    /// Tokens consumed since the last `reset()`; the next `step` is at this position.
    public private(set) var position = 0
    /// Logits [V] for the position after the last token given to `step`.
    public let logits: Tensor

    private let x: Tensor, h: Tensor, q: Tensor, k: Tensor, v: Tensor, attention: Tensor
    private let hidden: Tensor, stats: Tensor
    private let queryFeatures: Tensor, keyFeatures: Tensor, keyLogScale: Tensor
    private let cosines: Tensor, sines: Tensor, thetas: [Double]
    /// FAVOR: one state per (layer, head), index layer·H + head.
    private var states: [CausalLinearAttention.State] = []
    /// Exact: rotated keys and values of every past position, per (layer, head).
    private var caches: [KeyValueCache] = []
    private var scores: [Float] = []

    /// A generator at position 0 (no state).
    ///
    /// - Throws: `GeneratorError` for a bidirectional (masked-LM) model.
    public init(model: PerformerLM) throws(GeneratorError) {
        let c = model.configuration
        guard c.causal else {
            throw GeneratorError(message: "generate needs a causal model; this one is bidirectional (a masked LM)")
        }
        self.model = model
        let d = c.dim, heads = c.heads, dh = c.headDim, m = Swift.max(c.features, 1)
        logits = Tensor(shape: [c.vocabSize])
        x = Tensor(shape: [d]); h = Tensor(shape: [d]); q = Tensor(shape: [d]); k = Tensor(shape: [d])
        v = Tensor(shape: [d]); attention = Tensor(shape: [d])
        hidden = Tensor(shape: [c.ffnDim]); stats = Tensor(shape: [2])
        queryFeatures = Tensor(shape: [heads, m]); keyFeatures = Tensor(shape: [heads, m]); keyLogScale = Tensor(shape: [heads])
        cosines = Tensor(shape: [dh / 2]); sines = Tensor(shape: [dh / 2])
        thetas = (0..<(dh / 2)).map { pow(Double(c.rotaryBase), -2 * Double($0) / Double(dh)) }
        reset()
    }

    /// Forgets every token: back to position 0.
    public func reset() {
        let c = model.configuration
        position = 0
        switch c.attention {
        case .favorSoftmax, .favorRelu:
            states = (0..<(c.layers * c.heads)).map { _ in
                CausalLinearAttention.State(features: c.features, headDim: c.headDim)
            }
        case .exact:
            caches = (0..<(c.layers * c.heads)).map { _ in KeyValueCache(headDim: c.headDim) }
        case .identity:
            break
        }
    }

    /// Bytes of running state (FAVOR states or the exact key/value cache).
    public var stateByteCount: Int {
        4 * (states.reduce(0) { $0 + $1.numerator.count + $1.normalizer.count }
            + caches.reduce(0) { $0 + 2 * $1.count * $1.headDim })
    }

    /// Consumes `token` at `position` and writes the logits for the next position into `logits`.
    /// - Complexity: O(layers·(4D² + 2DF + H·m·dh) + V·D) for FAVOR, independent of `position`.
    public func step(_ token: TokenID) {
        let c = model.configuration
        let d = c.dim, f = c.ffnDim, vocab = c.vocabSize, eps = c.layerNormEpsilon
        guard Int(token) < vocab else { fatalError("token id \(token) is outside the model's vocabulary of \(vocab)") }
        x.data.update(from: model.value(model.offsets.embedding) + Int(token) * d, count: d)
        updateRotary()
        for layer in 0..<c.layers {
            let o = model.offsets.blocks[layer]
            // h = LN_attn(x); q, k, v = h·W + b; RoPE(q), RoPE(k)
            LayerNorm.forward(out: h.data, mean: stats.data, rstd: stats.data + 1, input: x.data,
                              weight: model.value(o.attnNormWeight), bias: model.value(o.attnNormBias),
                              rows: 1, dim: d, epsilon: eps)
            project(h.data, weight: o.wq, bias: o.bq, inputs: d, outputs: d, into: q.data)
            project(h.data, weight: o.wk, bias: o.bk, inputs: d, outputs: d, into: k.data)
            project(h.data, weight: o.wv, bias: o.bv, inputs: d, outputs: d, into: v.data)
            for head in 0..<c.heads {
                rotate(q.data + head * c.headDim)
                rotate(k.data + head * c.headDim)
            }
            attend(layer: layer)
            // x += a·Wo + bo
            accumulateProjection(attention.data, weight: o.wo, bias: o.bo, inputs: d, outputs: d, into: x.data)
            // x += GELU(LN_ffn(x)·W1 + b1)·W2 + b2
            LayerNorm.forward(out: h.data, mean: stats.data, rstd: stats.data + 1, input: x.data,
                              weight: model.value(o.ffnNormWeight), bias: model.value(o.ffnNormBias),
                              rows: 1, dim: d, epsilon: eps)
            project(h.data, weight: o.w1, bias: o.b1, inputs: d, outputs: f, into: hidden.data)
            GELU.forward(out: hidden.data, input: hidden.data, count: f)
            accumulateProjection(hidden.data, weight: o.w2, bias: o.b2, inputs: f, outputs: d, into: x.data)
        }
        // logits = LN_final(x)·Eᵀ + b
        LayerNorm.forward(out: h.data, mean: stats.data, rstd: stats.data + 1, input: x.data,
                          weight: model.value(model.offsets.finalNormWeight), bias: model.value(model.offsets.finalNormBias),
                          rows: 1, dim: d, epsilon: eps)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(vocab), Int32(d), 1, model.value(model.offsets.embedding), Int32(d),
                    h.data, 1, 0, logits.data, 1)
        Elementwise.add(model.value(model.offsets.lmHeadBias), to: logits.data, count: vocab)
        position += 1
    }

    /// `step` over several tokens (e.g. `<cls>` and a prompt); `logits` then belong to the last.
    public func step<S: Sequence>(_ tokens: S) where S.Element == TokenID {
        for token in tokens { step(token) }
    }

    // MARK: - One block's pieces

    /// out = xᵀW + b for W [inputs, outputs] (one GEMV).
    private func project(
        _ input: UnsafePointer<Float>, weight: Int, bias: Int, inputs: Int, outputs: Int, into out: UnsafeMutablePointer<Float>
    ) {
        cblas_sgemv(CblasRowMajor, CblasTrans, Int32(inputs), Int32(outputs), 1, model.value(weight), Int32(outputs),
                    input, 1, 0, out, 1)
        Elementwise.add(model.value(bias), to: out, count: outputs)
    }

    /// out += xᵀW + b (a residual connection).
    private func accumulateProjection(
        _ input: UnsafePointer<Float>, weight: Int, bias: Int, inputs: Int, outputs: Int, into out: UnsafeMutablePointer<Float>
    ) {
        cblas_sgemv(CblasRowMajor, CblasTrans, Int32(inputs), Int32(outputs), 1, model.value(weight), Int32(outputs),
                    input, 1, 1, out, 1)
        Elementwise.add(model.value(bias), to: out, count: outputs)
    }

    /// cos/sin of position·θ_i, computed as `RotaryEmbedding` fills its tables (Double angle,
    /// rounded once), so the rotation is the one the full forward applies at this position.
    private func updateRotary() {
        let angleBase = Double(position)
        for (i, theta) in thetas.enumerated() {
            let angle = angleBase * theta
            cosines.data[i] = Float(cos(angle))
            sines.data[i] = Float(sin(angle))
        }
    }

    /// Half-split rotary rotation of one head vector in place (`RotaryEmbedding.rotate`).
    private func rotate(_ x: UnsafeMutablePointer<Float>) {
        let half = thetas.count, c = cosines.data, s = sines.data
        for i in 0..<half {
            let a = x[i], b = x[half + i]
            x[i] = a * c[i] - b * s[i]
            x[half + i] = b * c[i] + a * s[i]
        }
    }

    /// attention[head] = the kernel's output for this position, every head.
    private func attend(layer: Int) {
        let c = model.configuration
        let kernel = model.kernels[layer]
        let heads = c.heads, dh = c.headDim
        switch kernel.kind {
        case .identity:
            attention.copy(from: v)
        case .favorSoftmax, .favorRelu:
            guard let w = kernel.randomFeatures?.weights.data else { fatalError("FAVOR layer \(layer) without random features") }
            let m = kernel.features
            let softmax = kernel.kind == .favorSoftmax
            if softmax {
                FavorSoftmaxFeatures.forwardQueries(
                    out: queryFeatures.data, input: q.data, weights: w, length: heads, features: m, headDim: dh,
                    epsilon: kernel.epsilon)
                FavorSoftmaxFeatures.forwardKeys(
                    out: keyFeatures.data, logScale: keyLogScale.data, input: k.data, weights: w,
                    length: heads, features: m, headDim: dh)
            } else {
                FavorReluFeatures.forward(out: queryFeatures.data, input: q.data, weights: w, length: heads,
                                          features: m, headDim: dh, epsilon: kernel.epsilon)
                FavorReluFeatures.forward(out: keyFeatures.data, input: k.data, weights: w, length: heads,
                                          features: m, headDim: dh, epsilon: kernel.epsilon)
            }
            for head in 0..<heads {
                let i = layer * heads + head
                states[i].append(keyFeature: keyFeatures.data + head * m,
                                 keyLogScale: softmax ? keyLogScale.data[head] : nil, value: v.data + head * dh)
                states[i].read(queryFeature: queryFeatures.data + head * m, into: attention.data + head * dh)
            }
        case .exact:
            let n = position + 1
            if scores.count < n { scores = [Float](repeating: 0, count: Swift.max(2 * scores.count, n, 64)) }
            let scale = 1 / Float(dh).squareRoot()
            scores.withUnsafeMutableBufferPointer { buffer in
                guard let p = buffer.baseAddress else { return }
                for head in 0..<heads {
                    let cache = caches[layer * heads + head]
                    cache.append(key: k.data + head * dh, value: v.data + head * dh)
                    let out = attention.data + head * dh
                    // scores = K q / √d  [n]; softmax; out = Vᵀ p  [dh]
                    cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(dh), scale, cache.keys, Int32(dh),
                                q.data + head * dh, 1, 0, p, 1)
                    let rowMax = Elementwise.max(p, count: n)
                    Elementwise.exp(p, into: p, count: n, shift: rowMax)
                    let total = Elementwise.sum(p, count: n)
                    Elementwise.scale(p, by: 1 / total, into: p, count: n)
                    cblas_sgemv(CblasRowMajor, CblasTrans, Int32(n), Int32(dh), 1, cache.values, Int32(dh), p, 1, 0, out, 1)
                }
            }
        }
    }
}

/// The keys and values one exact-attention head has seen, [count, headDim] each, in buffers that
/// double when full (amortised O(headDim) per append, no copy-on-write).
final class KeyValueCache {
    let headDim: Int
    private(set) var count = 0
    private var capacity = 0
    private(set) var keys: UnsafeMutablePointer<Float>
    private(set) var values: UnsafeMutablePointer<Float>

    init(headDim: Int) {
        self.headDim = headDim
        keys = .allocate(capacity: 1)
        values = .allocate(capacity: 1)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    func append(key: UnsafePointer<Float>, value: UnsafePointer<Float>) {
        if count == capacity {
            let grown = Swift.max(64, 2 * capacity)
            let newKeys = UnsafeMutablePointer<Float>.allocate(capacity: grown * headDim)
            let newValues = UnsafeMutablePointer<Float>.allocate(capacity: grown * headDim)
            newKeys.update(from: keys, count: count * headDim)
            newValues.update(from: values, count: count * headDim)
            keys.deallocate()
            values.deallocate()
            keys = newKeys
            values = newValues
            capacity = grown
        }
        (keys + count * headDim).update(from: key, count: headDim)
        (values + count * headDim).update(from: value, count: headDim)
        count += 1
    }
}

/// Why a model cannot generate; `description` is one line.
public struct GeneratorError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
