extension AttentionKernel {
    /// What `forward` keeps for `backward`, plus the per-worker scratch both use, allocated once
    /// for a (batch, heads, length) and reused every step. Unused roles have zero elements.
    ///
    /// Sizes (floats), with S = batch·heads slices:
    /// - exact: normalizer ℓ S·L; scratch 2·min(128, L)·L per worker.
    /// - favor-softmax: q', k̃' 2·S·L·m; s, D 2·S·L; scratch per worker as `favorScratchCount`
    ///   (bidirectional 2·L·(d+1) + 2·m·(d+1) + r·(2m + d), r = min(L, blockRows); causal 2·L·m
    ///   plus the chunked contraction's).
    ///   Causal: also the chunk products A, S·`CausalLinearAttention.chunkProductCount` (at most
    ///   S·L·C), which the backward reads instead of computing them again.
    /// - favor-relu: as favor-softmax without s.
    /// - identity: nothing.
    public final class Saved {
        public let batch: Int
        public let heads: Int
        public let length: Int
        /// q' [batch, heads, length, features] (FAVOR kinds).
        public let queryFeatures: Tensor
        /// k̃' [batch, heads, length, features] (FAVOR kinds; stabilised for favor-softmax).
        public let keyFeatures: Tensor
        /// s [batch, heads, length], the key log-scale (favor-softmax).
        public let keyLogScale: Tensor
        /// D [batch, heads, length] for FAVOR, ℓ (row log-sum-exp) for exact.
        public let normalizer: Tensor
        /// The causal FAVOR contraction's chunk products A [batch, heads,
        /// `CausalLinearAttention.chunkProductCount(length:chunk:)`] (empty otherwise).
        public let chunkProducts: Tensor
        /// One scratch area per worker.
        let scratch: [Tensor]
        /// The key lengths of the last forward (nil: every position was a key).
        public internal(set) var keyLengths: [Int]?
        /// Whether the last forward ran with key lengths or on fewer rows than `batch`: then
        /// `backward` refuses these values.
        public internal(set) var isForwardOnly = false

        init(kernel: AttentionKernel, batch: Int, heads: Int, length: Int, parallelism: SliceParallelism?) {
            precondition(batch > 0 && heads > 0 && length > 0, "attention needs batch, heads, length > 0")
            self.batch = batch
            self.heads = heads
            self.length = length
            let l = length, d = kernel.headDim
            let favor = kernel.kind.usesRandomFeatures
            let m = kernel.features
            queryFeatures = Tensor(shape: [batch, heads, l, favor ? m : 0])
            keyFeatures = Tensor(shape: [batch, heads, l, favor ? m : 0])
            keyLogScale = Tensor(shape: [batch, heads, kernel.kind == .favorSoftmax ? l : 0])
            normalizer = Tensor(shape: [batch, heads, kernel.kind == .identity ? 0 : l])
            chunkProducts = Tensor(shape: [batch, heads, AttentionKernel.chunkProductCount(
                kind: kernel.kind, causal: kernel.causal, length: l, chunk: kernel.chunk)])
            let scratchCount: Int
            switch kernel.kind {
            case .identity: scratchCount = 0
            case .exact: scratchCount = ExactAttention.workspaceCount(length: l)
            case .favorSoftmax, .favorRelu:
                scratchCount = AttentionKernel.favorScratchCount(
                    causal: kernel.causal, length: l, features: m, headDim: d, chunk: kernel.chunk)
            }
            let slices = batch * heads
            let workers = (parallelism ?? kernel.resolvedParallelism(slices: slices)).workerCount(slices: slices)
            scratch = (0..<workers).map { _ in Tensor(shape: [scratchCount]) }
        }

        /// Slice s's chunk products (nil for the kernels that keep none).
        func chunkProducts(slice s: Int) -> UnsafeMutablePointer<Float>? {
            let count = chunkProducts.count / (batch * heads)
            return count == 0 ? nil : chunkProducts.data + s * count
        }

        /// Bytes held for backward (excluding scratch).
        public var savedByteCount: Int {
            4 * (queryFeatures.count + keyFeatures.count + keyLogScale.count + normalizer.count + chunkProducts.count)
        }

        /// Bytes of per-worker scratch.
        public var scratchByteCount: Int { 4 * scratch.reduce(0) { $0 + $1.count } }
    }

    /// Buffers for inputs of shape [batch, heads, length, headDim], with scratch for as many
    /// workers as `parallelism` (default: the kernel's own policy) uses. Passes that run with a
    /// policy of more workers than that trap.
    public func makeSaved(batch: Int, heads: Int, length: Int, parallelism: SliceParallelism? = nil) -> Saved {
        Saved(kernel: self, batch: batch, heads: heads, length: length, parallelism: parallelism)
    }
}
