import ProteinIO

/// Multi-head attention over Q, K, V [batch, heads, length, headDim] → out [batch, heads, length,
/// headDim], with a hand-written backward. A kernel is a choice of three separable pieces
/// (the google-research performer layout): a random-feature matrix W [m, d] (`RandomFeatures`,
/// shared by all heads), a feature map (`FavorSoftmaxFeatures` or `FavorReluFeatures`), and a
/// contraction (`BidirectionalLinearAttention`, or the causal one). `exact` and `identity`
/// use no features.
///
/// Per (batch, head) slice, short names L = length, d = headDim, m = features:
///
/// - exact: out = softmax(QKᵀ/√d [causal mask]) V. Saved: ℓ [L] (row log-sum-exp).
/// - favor-softmax: q' = φ_q(Q), (k̃', s) = φ_k(K), out = D⁻¹ Q'(K'ᵀV) with k' = k̃'e^{s}.
///   Saved: q', k̃' [L, m], s [L], D [L].
/// - favor-relu: q' = φ(Q), k' = φ(K), out = D⁻¹ Q'(K'ᵀV). Saved: q', k' [L, m], D [L].
/// - identity: out = V. Saved: nothing.
///
/// Backward also reads out, Q, K and V, which the caller passes again (it owns them). The slices
/// run serially or on several workers (`SliceParallelism`); a step allocates nothing once the
/// `Saved` buffers exist.
public struct AttentionKernel {
    public let kind: AttentionKind
    /// Whether position i attends only to positions j ≤ i.
    public let causal: Bool
    /// d, the size of one head.
    public let headDim: Int
    /// W [features, headDim] for the FAVOR kinds (held fixed by forward and backward), else nil.
    public let randomFeatures: RandomFeatures?
    /// ε added to the query features (favor-softmax) or to all features (favor-relu).
    public let epsilon: Float
    /// Chunk size for the chunked causal contraction.
    public let chunk: Int
    /// How slices are spread over the cores; nil picks `SliceParallelism.automatic`.
    public let parallelism: SliceParallelism?

    /// m, the number of random features (0 for exact and identity).
    public var features: Int { randomFeatures?.features ?? 0 }

    /// A kernel with a given W (e.g. from a checkpoint). The FAVOR kinds need `randomFeatures`
    /// with `headDim` columns; the others ignore it.
    public init(
        kind: AttentionKind, headDim: Int, causal: Bool = false, randomFeatures: RandomFeatures?,
        epsilon: Float? = nil, chunk: Int = CausalLinearAttention.defaultChunk, parallelism: SliceParallelism? = nil
    ) {
        precondition(headDim > 0, "headDim must be positive")
        precondition(chunk > 0, "chunk must be positive")
        if kind.usesRandomFeatures {
            precondition(randomFeatures != nil, "\(kind.rawValue) attention needs random features")
            precondition(randomFeatures?.headDim == headDim, "random features are for another head size")
        }
        self.kind = kind
        self.causal = causal
        self.headDim = headDim
        self.randomFeatures = kind.usesRandomFeatures ? randomFeatures : nil
        self.epsilon = epsilon ?? AttentionKernel.defaultEpsilon(kind)
        self.chunk = chunk
        self.parallelism = parallelism
    }

    /// A kernel that draws its own W [features, headDim] from `seed` (FAVOR kinds only).
    public init(
        kind: AttentionKind, headDim: Int, causal: Bool = false, features: Int = 256,
        distribution: RandomFeatureDistribution = .orthogonal, seed: UInt64 = 0,
        epsilon: Float? = nil, chunk: Int = CausalLinearAttention.defaultChunk, parallelism: SliceParallelism? = nil
    ) {
        let randomFeatures = kind.usesRandomFeatures
            ? RandomFeatures(features: features, headDim: headDim, distribution: distribution, seed: seed)
            : nil
        self.init(kind: kind, headDim: headDim, causal: causal, randomFeatures: randomFeatures,
                  epsilon: epsilon, chunk: chunk, parallelism: parallelism)
    }

    /// ε by kind: 1e-6 on favor-softmax queries, 1e-3 on favor-relu features, 0 otherwise.
    public static func defaultEpsilon(_ kind: AttentionKind) -> Float {
        switch kind {
        case .favorSoftmax: return FavorSoftmaxFeatures.defaultEpsilon
        case .favorRelu: return FavorReluFeatures.defaultEpsilon
        case .exact, .identity: return 0
        }
    }

    func resolvedParallelism(slices: Int) -> SliceParallelism {
        parallelism ?? .automatic(slices: slices)
    }

    /// How a pass visits its slices: body(slice, worker) for every slice under the pass's policy,
    /// or, for a team member, for slices index, index + count, … on the calling thread with worker
    /// = the member's index.
    func sliceLoop(
        slices: Int, override: SliceParallelism?, saved: Saved, member: Team.Member?
    ) -> ((_ body: (_ slice: Int, _ worker: Int) -> Void) -> Void) {
        guard let member else {
            let policy = passParallelism(slices: slices, override: override, saved: saved)
            return { body in policy.run(slices: slices, body) }
        }
        requireAlways(min(member.count, slices) <= saved.scratch.count,
                      "attention pass on a team of \(member.count), saved buffers have scratch for \(saved.scratch.count)")
        return { body in
            var slice = member.index
            while slice < slices {
                body(slice, member.index)
                slice += member.count
            }
        }
    }

    /// The policy of one pass: `override` when given, else the kernel's own; checks that `saved`
    /// holds scratch for every worker it uses.
    func passParallelism(slices: Int, override: SliceParallelism?, saved: Saved) -> SliceParallelism {
        let policy = override ?? resolvedParallelism(slices: slices)
        requireAlways(policy.workerCount(slices: slices) <= saved.scratch.count,
                      "attention pass on \(policy.workerCount(slices: slices)) workers, saved buffers have scratch for \(saved.scratch.count)")
        return policy
    }
}
