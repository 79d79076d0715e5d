import ProteinIO

/// The shape of a Performer protein language model: everything needed to lay out its parameters
/// and build its attention kernels. Stored in every checkpoint with stable snake_case keys.
///
/// Short names used across the model code: V = vocabSize, D = dim, H = heads, dh = headDim,
/// m = features, F = ffnDim.
public struct PerformerConfiguration: Codable, Sendable, Equatable {
    /// V, the number of token ids (the embedding has V rows; targets and tokens are < V).
    public var vocabSize: Int
    /// D, the width of the residual stream.
    public var dim: Int
    /// Number of transformer blocks.
    public var layers: Int
    /// H, attention heads per block (D must be a multiple of H).
    public var heads: Int
    /// m, random features per head for the FAVOR kinds (ignored for `exact` and `identity`).
    public var features: Int
    /// F, the hidden width of the feed-forward block.
    public var ffnDim: Int
    /// The attention kernel of every block.
    public var attention: AttentionKind
    /// false: bidirectional attention (masked LM); true: position i attends to j ≤ i (causal LM).
    public var causal: Bool
    /// How the random-feature matrices are drawn.
    public var featureDistribution: RandomFeatureDistribution
    /// Base of the rotary frequencies θ_i = base^(−2i/dh).
    public var rotaryBase: Float
    /// ε inside every LayerNorm's square root.
    public var layerNormEpsilon: Float

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size"
        case dim, layers, heads, features
        case ffnDim = "ffn_dim"
        case attention, causal
        case featureDistribution = "feature_distribution"
        case rotaryBase = "rotary_base"
        case layerNormEpsilon = "layer_norm_epsilon"
    }

    /// A configuration; `ffnDim` defaults to 4·dim.
    public init(
        vocabSize: Int = Alphabet.protein.count, dim: Int, layers: Int, heads: Int, features: Int,
        ffnDim: Int? = nil, attention: AttentionKind = .favorRelu, causal: Bool = false,
        featureDistribution: RandomFeatureDistribution = .orthogonal, rotaryBase: Float = 10000,
        layerNormEpsilon: Float = 1e-5
    ) {
        self.vocabSize = vocabSize
        self.dim = dim
        self.layers = layers
        self.heads = heads
        self.features = features
        self.ffnDim = ffnDim ?? 4 * dim
        self.attention = attention
        self.causal = causal
        self.featureDistribution = featureDistribution
        self.rotaryBase = rotaryBase
        self.layerNormEpsilon = layerNormEpsilon
    }

    /// Decodes a configuration; `dim`, `layers`, `heads` and `features` are required, every other
    /// key takes its default when absent (so a hand-written JSON can stay short).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let dim = try c.decode(Int.self, forKey: .dim)
        self.init(
            vocabSize: try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? Alphabet.protein.count,
            dim: dim,
            layers: try c.decode(Int.self, forKey: .layers),
            heads: try c.decode(Int.self, forKey: .heads),
            features: try c.decode(Int.self, forKey: .features),
            ffnDim: try c.decodeIfPresent(Int.self, forKey: .ffnDim),
            attention: try c.decodeIfPresent(AttentionKind.self, forKey: .attention) ?? .favorRelu,
            causal: try c.decodeIfPresent(Bool.self, forKey: .causal) ?? false,
            featureDistribution: try c.decodeIfPresent(RandomFeatureDistribution.self, forKey: .featureDistribution)
                ?? .orthogonal,
            rotaryBase: try c.decodeIfPresent(Float.self, forKey: .rotaryBase) ?? 10000,
            layerNormEpsilon: try c.decodeIfPresent(Float.self, forKey: .layerNormEpsilon) ?? 1e-5)
    }

    /// dh = dim / heads, the size of one head.
    public var headDim: Int { heads > 0 ? dim / heads : 0 }

    /// Total number of parameters (the length of `ParameterStore.values`).
    public var parameterCount: Int {
        vocabSize * dim
            + layers * (4 * dim * dim + 4 * dim + 4 * dim + 2 * dim * ffnDim + ffnDim + dim)
            + 2 * dim + vocabSize
    }

    /// Checks that the numbers describe a model that can be built.
    ///
    /// - Throws: `PerformerConfigurationError` naming the first offending field: a non-positive
    ///   size, a vocabulary that does not fit `TokenID` (1…256), `dim` not a multiple of `heads`,
    ///   an odd `headDim` (rotary embedding rotates pairs), no random features for a FAVOR kind,
    ///   a non-positive rotary base or LayerNorm ε.
    public func validate() throws {
        func fail(_ message: String) -> PerformerConfigurationError { PerformerConfigurationError(message: message) }
        guard vocabSize >= 1 && vocabSize <= Int(TokenID.max) + 1 else {
            throw fail("vocab_size must be in 1...\(Int(TokenID.max) + 1) (token ids are one byte), got \(vocabSize)")
        }
        guard dim >= 1 else { throw fail("dim must be positive, got \(dim)") }
        guard layers >= 1 else { throw fail("layers must be positive, got \(layers)") }
        guard heads >= 1 else { throw fail("heads must be positive, got \(heads)") }
        guard ffnDim >= 1 else { throw fail("ffn_dim must be positive, got \(ffnDim)") }
        guard dim % heads == 0 else {
            throw fail("dim \(dim) is not a multiple of heads \(heads)")
        }
        guard headDim % 2 == 0 else {
            throw fail("head size dim/heads = \(dim)/\(heads) = \(headDim) must be even (rotary embedding rotates pairs)")
        }
        if attention.usesRandomFeatures {
            guard features >= 1 else {
                throw fail("\(attention.rawValue) attention needs features ≥ 1, got \(features)")
            }
        }
        guard rotaryBase.isFinite && rotaryBase > 0 else {
            throw fail("rotary_base must be a positive number, got \(rotaryBase)")
        }
        guard layerNormEpsilon.isFinite && layerNormEpsilon > 0 else {
            throw fail("layer_norm_epsilon must be a positive number, got \(layerNormEpsilon)")
        }
    }
}

/// Why a `PerformerConfiguration` cannot be built; `description` is one line for the CLI.
public struct PerformerConfigurationError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { "invalid model configuration: \(message)" }
}

extension PerformerConfiguration {
    /// Named model sizes. `small` is the benchmark configuration.
    ///
    /// | preset | dim | layers | heads | headDim | features | ffn_dim | parameters |
    /// |--------|-----|--------|-------|---------|----------|---------|------------|
    /// | tiny   | 64  | 2      | 4     | 16      | 64       | 256     | 0.10 M     |
    /// | small  | 256 | 4      | 4     | 64      | 128      | 1024    | 3.17 M     |
    /// | base   | 512 | 8      | 8     | 64      | 256      | 2048    | 25.2 M     |
    public enum Preset: String, CaseIterable, Codable, Sendable {
        case tiny, small, base
    }

    /// The configuration of a preset (favor-relu, bidirectional, orthogonal features; change
    /// `attention` / `causal` on the result for the other variants).
    public static func preset(_ preset: Preset) -> PerformerConfiguration {
        switch preset {
        case .tiny: return PerformerConfiguration(dim: 64, layers: 2, heads: 4, features: 64)
        case .small: return PerformerConfiguration(dim: 256, layers: 4, heads: 4, features: 128)
        case .base: return PerformerConfiguration(dim: 512, layers: 8, heads: 8, features: 256)
        }
    }
}
