import ProteinIO

/// A Performer protein language model: token embedding, `layers` pre-LayerNorm blocks of
/// multi-head attention (rotary positions, FAVOR+ or exact kernel) and a GELU feed-forward
/// network, a final LayerNorm and an LM head tied to the embedding. Masked LM when
/// `configuration.causal` is false, causal LM when it is true.
///
/// With x [B·L, D] the residual stream (rows = batch·length, row-major [batch, length]):
///
///     x = E[tokens]
///     for each block:
///         h = LN_attn(x)
///         q, k, v = h·Wq + bq, h·Wk + bk, h·Wv + bv        [B·L, D] → [B, H, L, dh]
///         q, k = RoPE(q), RoPE(k)                          (half-split, positions 0..<L)
///         a = Attention(q, k, v)                            [B, H, L, dh] → [B·L, D]
///         x = x + a·Wo + bo
///         x = x + GELU(LN_ffn(x)·W1 + b1)·W2 + b2
///     logits = LN_final(x)·Eᵀ + b_lm                        [B·L, V]
///
/// The model holds the parameters (`parameters`, one flat buffer), the random-feature matrices
/// (one per layer, shared by that layer's heads) and the attention kernels; every activation
/// lives in a `Workspace` made once per (batch, length). Passes: `forward`, `loss`,
/// `lossAndGradients` (in `PerformerLM+Forward.swift` / `+Backward.swift`).
///
/// One pass at a time per model on plain workspaces (the kernels set OpenBLAS's thread count
/// while they run). Passes on distinct worker workspaces (`makeWorkerWorkspace`) may run at the
/// same time, one per thread, with OpenBLAS set to one thread around them (`BatchWorkers` does
/// both); backward passes need worker workspaces with private gradients.
public final class PerformerLM {
    public let configuration: PerformerConfiguration
    /// All parameters and their gradients (see `ParameterStore` for names, shapes and layout).
    public let parameters: ParameterStore
    /// W [features, headDim] of every layer for the FAVOR kinds, empty for `exact` / `identity`.
    /// Redrawn in place by `redrawRandomFeatures(seed:)`.
    public private(set) var randomFeatures: [RandomFeatures]
    /// The attention kernel of every layer (they hold `randomFeatures[i]` by reference).
    public private(set) var kernels: [AttentionKernel]
    /// Offsets of every named parameter in the flat buffers, resolved once.
    let offsets: Offsets
    /// Members of the team that runs each pass on a plain workspace made after it is set (`Team`):
    /// two on two or more cores, else one; results depend on it only through the summation order
    /// of the weight gradients.
    var teamSize = SliceParallelism.automatic(slices: 2).workerCount(slices: 2)
    /// Whether `loss` and `lossAndGradients` compute the logits of the weighted rows only
    /// (`forward(tokens:workspace:selectedRows:)`); the result is the same up to rounding (tests
    /// and benchmarks compare both ways).
    public var outputRowPruning = true

    /// A fresh model: parameters initialised from `seed` (`ParameterStore.initialize`), random
    /// features drawn from seeds derived from `seed` (`randomFeatureSeed(seed:layer:)`).
    /// The configuration must pass `validate()` (a programmer error otherwise: traps).
    public convenience init(configuration: PerformerConfiguration, seed: UInt64) {
        PerformerLM.requireValid(configuration)
        let parameters = ParameterStore(configuration: configuration, seed: seed)
        var features: [RandomFeatures] = []
        if configuration.attention.usesRandomFeatures {
            for layer in 0..<configuration.layers {
                features.append(RandomFeatures(
                    features: configuration.features, headDim: configuration.headDim,
                    distribution: configuration.featureDistribution,
                    seed: PerformerLM.randomFeatureSeed(seed: seed, layer: layer)))
            }
        }
        self.init(configuration: configuration, parameters: parameters, randomFeatures: features)
    }

    /// A model around existing parameters and random features (e.g. from a checkpoint).
    /// Preconditions: `parameters` has exactly the layout of `ParameterStore.layout(configuration)`
    /// (names, order and shapes); `randomFeatures` has one [features, headDim] matrix per layer
    /// for the FAVOR kinds and none otherwise. Both are used by reference, not copied.
    public init(configuration: PerformerConfiguration, parameters: ParameterStore, randomFeatures: [RandomFeatures]) {
        PerformerLM.requireValid(configuration)
        let layout = ParameterStore.layout(configuration)
        requireAlways(parameters.entries.count == layout.count,
                     "parameter store has \(parameters.entries.count) tensors, the configuration needs \(layout.count)")
        for (entry, expected) in zip(parameters.entries, layout) {
            requireAlways(entry.name == expected.name && entry.shape == expected.shape,
                         "parameter \(entry.name) \(entry.shape), expected \(expected.name) \(expected.shape)")
        }
        if configuration.attention.usesRandomFeatures {
            requireAlways(randomFeatures.count == configuration.layers,
                         "\(randomFeatures.count) random-feature matrices for \(configuration.layers) layers")
            for (layer, w) in randomFeatures.enumerated() {
                requireAlways(w.features == configuration.features && w.headDim == configuration.headDim,
                             "random features of layer \(layer) are [\(w.features), \(w.headDim)], "
                                 + "expected [\(configuration.features), \(configuration.headDim)]")
            }
        } else {
            requireAlways(randomFeatures.isEmpty, "\(configuration.attention.rawValue) attention takes no random features")
        }
        self.configuration = configuration
        self.parameters = parameters
        self.randomFeatures = randomFeatures
        self.offsets = Offsets(parameters: parameters, layers: configuration.layers)
        self.kernels = (0..<configuration.layers).map { layer in
            AttentionKernel(
                kind: configuration.attention, headDim: configuration.headDim, causal: configuration.causal,
                randomFeatures: randomFeatures.isEmpty ? nil : randomFeatures[layer])
        }
    }

    /// Redraws every layer's W in place: layer i from `randomFeatureSeed(seed:, layer: i)`, so
    /// every process that calls it with the same seed holds the same matrices (no communication
    /// needed in data-parallel training). Workspaces stay valid. No effect for `exact`.
    public func redrawRandomFeatures(seed: UInt64) {
        for (layer, w) in randomFeatures.enumerated() {
            w.redraw(seed: PerformerLM.randomFeatureSeed(seed: seed, layer: layer))
        }
    }

    /// The seed of layer `layer`'s random features for a model or redraw seed: SplitMix64's
    /// finaliser applied to the seed (tagged so it differs from the parameter generator's seed)
    /// and the layer index. Fixed forever: checkpoints and resumed runs rely on it.
    public static func randomFeatureSeed(seed: UInt64, layer: Int) -> UInt64 {
        func mix(_ value: UInt64) -> UInt64 { SplitMix64.mix(value &+ SplitMix64.increment) }
        let tag: UInt64 = 0x5241_4E44_4645_4154  // "RANDFEAT"
        return mix(mix(seed ^ tag) &+ UInt64(layer))
    }

    static func requireValid(_ configuration: PerformerConfiguration) {
        do {
            try configuration.validate()
        } catch {
            // fatalError, not precondition: this module is built -Ounchecked.
            fatalError("\(error)")
        }
    }
}

extension PerformerLM {
    /// Offsets into `ParameterStore.values` / `.gradients` of one block's tensors.
    struct BlockOffsets {
        let attnNormWeight, attnNormBias: Int
        let wq, bq, wk, bk, wv, bv, wo, bo: Int
        let ffnNormWeight, ffnNormBias: Int
        let w1, b1, w2, b2: Int
    }

    /// Offsets of every tensor, looked up by name once so the passes never touch a dictionary.
    struct Offsets {
        let embedding: Int
        let blocks: [BlockOffsets]
        let finalNormWeight, finalNormBias, lmHeadBias: Int

        init(parameters: ParameterStore, layers: Int) {
            func at(_ name: String) -> Int {
                guard let entry = parameters.entry(named: name) else { fatalError("no parameter named \(name)") }
                return entry.offset
            }
            embedding = at("embedding.weight")
            blocks = (0..<layers).map { i in
                let p = "blocks.\(i)."
                return BlockOffsets(
                    attnNormWeight: at(p + "attn_norm.weight"), attnNormBias: at(p + "attn_norm.bias"),
                    wq: at(p + "attn.wq"), bq: at(p + "attn.bq"), wk: at(p + "attn.wk"), bk: at(p + "attn.bk"),
                    wv: at(p + "attn.wv"), bv: at(p + "attn.bv"), wo: at(p + "attn.wo"), bo: at(p + "attn.bo"),
                    ffnNormWeight: at(p + "ffn_norm.weight"), ffnNormBias: at(p + "ffn_norm.bias"),
                    w1: at(p + "ffn.w1"), b1: at(p + "ffn.b1"), w2: at(p + "ffn.w2"), b2: at(p + "ffn.b2"))
            }
            finalNormWeight = at("final_norm.weight")
            finalNormBias = at("final_norm.bias")
            lmHeadBias = at("lm_head.bias")
        }
    }

    /// Parameter values at `offset`.
    @inline(__always)
    func value(_ offset: Int) -> UnsafeMutablePointer<Float> { parameters.values.data + offset }

    /// Start of the gradient buffer `workspace`'s backward accumulates into: its private one
    /// (worker workspaces made with `privateGradients`), else the model's.
    @inline(__always)
    func gradientBase(for workspace: Workspace) -> UnsafeMutablePointer<Float> {
        workspace.privateGradients?.data ?? parameters.gradients.data
    }
}

/// Traps with `message` unless `condition` holds, in every build. The model's API-boundary checks
/// (shapes of stores and workspaces, token counts) use it instead of `precondition`, because this
/// module is compiled with -Ounchecked, where a failed precondition is not checked and the
/// mismatch would become an out-of-bounds access.
@inline(__always)
func requireAlways(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError(message()) }
}
