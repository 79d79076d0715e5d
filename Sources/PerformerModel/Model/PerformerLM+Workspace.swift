import ProteinIO

extension PerformerLM {
    /// Every activation of one (batch, length), allocated once when it is made and reused by every
    /// pass: a forward, loss or training step allocates nothing. One buffer per role (the
    /// per-layer roles the attention kernels read are one tensor per layer, since the kernels
    /// take whole tensors).
    ///
    /// Short names: N = batch·length rows, D = dim, F = ffnDim, V = vocabSize, H = heads,
    /// dh = headDim, m = features, n = layers.
    ///
    /// Kept from forward for backward (per layer):
    /// - the residual stream at the block's input and after its attention (LayerNorm inputs;
    ///   the LN outputs are rebuilt from them and the saved mean and 1/σ);
    /// - mean and 1/σ of both LayerNorms;
    /// - q, k (rotated), v and the attention output, head-major (what the kernel's backward reads);
    /// - the FFN pre-activation u = LN(x)·W1 + b1 (GELU(u) is recomputed);
    /// - the kernel's own `Saved` (FAVOR: q′, k′ features and the normaliser D; exact: the row
    ///   log-sum-exp) and its per-worker scratch.
    ///
    /// Memory, in floats (see `byteCount(configuration:batch:length:)`):
    ///
    ///     N·[n·(6D + F + 4) + 10D + F + 2V + 2] + L·dh + n·(attention saved + scratch)
    ///
    /// with FAVOR attention saved = B·H·L·(2m + 1) (+ B·H·L for favor-softmax's key log-scale).
    /// For the `small` preset (D 256, F 1024, 4 layers, 4 heads, m 128), favor-relu, batch 1,
    /// L 8192: 630 MB bidirectional, 627 MB causal (456 MB activations, 172 MB attention saved
    /// values and scratch bidirectional; see docs/model.md). The first backward pass on a plain
    /// workspace adds (T − 1)·P floats: the gradient buffers of the team's members after the
    /// first (T members, P parameters; 13 MB for `small` on two cores).
    public final class Workspace {
        public let configuration: PerformerConfiguration
        public let batch: Int
        public let length: Int
        /// N = batch·length.
        public var rows: Int { batch * length }

        /// Logits [batch, length, vocab], written by every pass.
        public let logits: Tensor

        /// Residual stream [2·layers + 1, N, D]: slot 2i is block i's input, 2i + 1 the stream after
        /// its attention, 2·layers the output of the last block (input of the final LayerNorm).
        let residual: Tensor
        /// LayerNorm means [2·layers + 1, N], slots as `residual` (slot 2i: attn_norm of block i,
        /// 2i + 1: its ffn_norm, 2·layers: final_norm).
        let normMean: Tensor
        /// LayerNorm 1/σ [2·layers + 1, N], slots as `normMean`.
        let normRstd: Tensor
        /// Per layer: rotated queries [batch, heads, length, headDim].
        let query: [Tensor]
        /// Per layer: rotated keys [batch, heads, length, headDim].
        let key: [Tensor]
        /// Per layer: values [batch, heads, length, headDim].
        let value: [Tensor]
        /// Per layer: attention output [batch, heads, length, headDim].
        let attention: [Tensor]
        /// FFN pre-activations u [layers, N, F].
        let ffnInput: Tensor
        /// Per layer: what the attention kernel saves, plus its scratch.
        let saved: [AttentionKernel.Saved]
        /// cos/sin tables for positions 0..<length.
        let rotary: RotaryEmbedding

        // Scratch shared by all layers.
        /// A LayerNorm output [N, D]; after a forward, the final LayerNorm's output.
        let normalized: Tensor
        /// Token-major q, k or v before the split, or the merged attention output [N, D].
        let projection: Tensor
        /// GELU(u) [N, F] in the forward; its gradient, then u's, in the backward.
        let hidden: Tensor
        /// Gradient of the residual stream [N, D].
        let dResidual: Tensor
        /// Gradient of a LayerNorm output [N, D].
        let dNormalized: Tensor
        /// Gradient of a token-major projection [N, D].
        let dProjection: Tensor
        /// Gradients of q, k, v and of the attention output [batch, heads, length, headDim].
        let dQuery: Tensor, dKey: Tensor, dValue: Tensor, dAttention: Tensor
        /// Gradient of the logits [N, V].
        let dLogits: Tensor

        /// Whether the last pass computed the logits of `selectedRows` only (`loss` and
        /// `lossAndGradients` with `PerformerLM.outputRowPruning`: the rows with a non-zero weight,
        /// ascending). Then the last block's output side (after attention), the final LayerNorm
        /// and the logits hold those rows only, compacted at the front of their buffers.
        var rowsSelected = false
        /// Row indices, targets and weights of the selected rows (reused between passes).
        var selectedRows: [Int] = []
        var selectedTargets: [TokenID] = []
        var selectedWeights: [Float] = []

        /// A worker workspace runs every pass on the calling thread alone: elementwise passes and
        /// attention slices serially, and it expects OpenBLAS at one thread (the caller sets it;
        /// see `BatchWorkers`). Several worker workspaces of one model may then run passes at the
        /// same time, one per thread. A plain workspace spreads each pass over the cores itself.
        public let isWorker: Bool
        /// Where `backward` accumulates: the model's `parameters.gradients` when nil, else this
        /// private buffer (same layout), so that concurrent workers never write the same memory.
        let privateGradients: Tensor?
        /// Threads that run each pass together (`Team`): 1 on a worker workspace, else the
        /// model's `teamSize`.
        let teamSize: Int
        /// The gradient buffers of team members 1…teamSize − 1 (member 0 accumulates where
        /// `privateGradients` says): each member sums its own rows' share of every weight
        /// gradient, and the backward adds these into member 0's at its end. Allocated by the
        /// first backward pass (`teamGradientBuffers`), so forward-only workspaces never hold them.
        private(set) var teamGradients: [Tensor] = []
        /// Passes over fewer rows run on one member (`Team.minimumRows`; tests lower it).
        var teamMinimumRows = Team.minimumRows

        init(
            model: PerformerLM, batch: Int, length: Int, worker: Bool = false, privateGradients: Bool = false,
            teamSize: Int? = nil
        ) {
            requireAlways(batch >= 1 && length >= 1, "a workspace needs batch ≥ 1 and length ≥ 1")
            let c = model.configuration
            self.configuration = c
            self.batch = batch
            self.length = length
            self.isWorker = worker
            self.privateGradients = privateGradients ? Tensor(shape: [model.parameters.count]) : nil
            self.teamSize = worker ? 1 : teamSize ?? model.teamSize
            let n = batch * length, d = c.dim, f = c.ffnDim, v = c.vocabSize, layers = c.layers
            let headShape = [batch, c.heads, length, c.headDim]
            logits = Tensor(shape: [batch, length, v])
            residual = Tensor(shape: [2 * layers + 1, n, d])
            normMean = Tensor(shape: [2 * layers + 1, n])
            normRstd = Tensor(shape: [2 * layers + 1, n])
            query = (0..<layers).map { _ in Tensor(shape: headShape) }
            key = (0..<layers).map { _ in Tensor(shape: headShape) }
            value = (0..<layers).map { _ in Tensor(shape: headShape) }
            attention = (0..<layers).map { _ in Tensor(shape: headShape) }
            ffnInput = Tensor(shape: [layers, n, f])
            // Scratch for every member of an explicitly sized team (the default sizes agree).
            let scratchPolicy: SliceParallelism? = worker ? .serial : teamSize.map { .workers($0) }
            saved = model.kernels.map {
                $0.makeSaved(batch: batch, heads: c.heads, length: length, parallelism: scratchPolicy)
            }
            rotary = RotaryEmbedding(length: length, headDim: c.headDim, base: c.rotaryBase)
            normalized = Tensor(shape: [n, d])
            projection = Tensor(shape: [n, d])
            hidden = Tensor(shape: [n, f])
            dResidual = Tensor(shape: [n, d])
            dNormalized = Tensor(shape: [n, d])
            dProjection = Tensor(shape: [n, d])
            dQuery = Tensor(shape: headShape)
            dKey = Tensor(shape: headShape)
            dValue = Tensor(shape: headShape)
            dAttention = Tensor(shape: headShape)
            dLogits = Tensor(shape: [n, v])
        }

        /// `teamGradients`, allocated on the first call (`parameters` floats each).
        func teamGradientBuffers(parameters: Int) -> [Tensor] {
            if teamGradients.count != teamSize - 1 {
                teamGradients = (1..<teamSize).map { _ in Tensor(shape: [parameters]) }
            }
            return teamGradients
        }

        /// What layer `layer`'s attention kernel saved in the last pass: for FAVOR kinds the query
        /// and key features q′, k̃′ [batch, heads, length, features], the key log-scale
        /// (favor-softmax) and the normaliser D [batch, heads, length]; for exact the row
        /// log-sum-exp. Valid until the next pass.
        public func attentionSaved(layer: Int) -> AttentionKernel.Saved {
            requireAlways(layer >= 0 && layer < saved.count, "layer \(layer) out of range 0..<\(saved.count)")
            return saved[layer]
        }

        /// Bytes held by this workspace (activations, attention saved values and scratch, tables).
        public var byteCount: Int {
            var tensors: [Tensor] = [logits, residual, normMean, normRstd, ffnInput, normalized, projection, hidden,
                                     dResidual, dNormalized, dProjection, dQuery, dKey, dValue, dAttention, dLogits,
                                     rotary.cosines, rotary.sines]
            tensors += query + key + value + attention
            if let privateGradients { tensors.append(privateGradients) }
            tensors += teamGradients
            return 4 * tensors.reduce(0) { $0 + $1.count }
                + saved.reduce(0) { $0 + $1.savedByteCount + $1.scratchByteCount }
        }
    }

    /// A workspace for batches of `batch` windows of `length` tokens (any length ≥ 1).
    public func makeWorkspace(batch: Int, length: Int) -> Workspace {
        Workspace(model: self, batch: batch, length: length)
    }

    /// A plain workspace whose passes run on a team of `teamSize` members from `minimumRows` rows
    /// up (for tests of the team against one member).
    func makeWorkspace(batch: Int, length: Int, teamSize: Int, minimumRows: Int) -> Workspace {
        let workspace = Workspace(model: self, batch: batch, length: length, teamSize: teamSize)
        workspace.teamMinimumRows = minimumRows
        return workspace
    }

    /// A worker workspace (`Workspace.isWorker`): its passes run on the calling thread alone, with
    /// OpenBLAS at one thread, so that several workers can run at once. With `privateGradients`,
    /// its backward accumulates into a buffer of its own instead of the model's
    /// `parameters.gradients`; without, it may only run forward passes concurrently with other workers.
    public func makeWorkerWorkspace(batch: Int, length: Int, privateGradients: Bool = false) -> Workspace {
        Workspace(model: self, batch: batch, length: length, worker: true, privateGradients: privateGradients)
    }

    /// The bytes `makeWorkspace(batch:length:)` would allocate for a model of `configuration`
    /// (equal to the workspace's `byteCount`; tested), computed without allocating: the memory
    /// formula of `Workspace`, with the attention kernels' saved values and scratch as
    /// `AttentionKernel.Saved` sizes them (default chunk, automatic parallelism).
    public static func workspaceByteCount(configuration c: PerformerConfiguration, batch: Int, length: Int) -> Int {
        let n = batch * length, d = c.dim, f = c.ffnDim, v = c.vocabSize, layers = c.layers
        let slices = batch * c.heads, m = c.features, l = length
        var floats = n * (layers * (6 * d + f + 4) + 10 * d + f + 2 * v + 2) + length * c.headDim
        // Per layer, what AttentionKernel.Saved holds.
        var saved = 0, scratch = 0
        switch c.attention {
        case .identity:
            break
        case .exact:
            saved = slices * l
            scratch = ExactAttention.workspaceCount(length: l)
        case .favorSoftmax, .favorRelu:
            saved = slices * l * (2 * m + 1) + (c.attention == .favorSoftmax ? slices * l : 0)
                + slices * AttentionKernel.chunkProductCount(
                    kind: c.attention, causal: c.causal, length: l, chunk: CausalLinearAttention.defaultChunk)
            scratch = AttentionKernel.favorScratchCount(
                causal: c.causal, length: l, features: m, headDim: c.headDim, chunk: CausalLinearAttention.defaultChunk)
        }
        let workers = SliceParallelism.automatic(slices: slices).workerCount(slices: slices)
        floats += layers * (saved + workers * scratch)
        return 4 * floats
    }

    /// Checks that `workspace` was made for this model's configuration and that `count` tokens fill
    /// `rows` of its batch rows (default all).
    func check(_ workspace: Workspace, tokens count: Int, rows: Int? = nil) {
        requireAlways(workspace.configuration == configuration, "workspace was made for another configuration")
        requireAlways(workspace.saved.count == kernels.count, "workspace was made for another model")
        requireAlways(count == (rows ?? workspace.batch) * workspace.length,
                     "\(count) tokens for \(rows ?? workspace.batch) rows of a workspace of batch \(workspace.batch) × length \(workspace.length)")
    }
}
