// The contraction step of the FAVOR kernels, per (batch, head) slice: the forward of both
// directions, and the causal one's backward (the bidirectional backward is called from
// `backward` itself, with the feature maps' backward run block by block).

extension AttentionKernel {
    /// Scratch floats one worker of a FAVOR kernel needs: the causal backward's whole feature
    /// gradients first (`featureGradientCount`), then the contraction's workspace.
    static func favorScratchCount(causal: Bool, length: Int, features: Int, headDim: Int, chunk: Int) -> Int {
        featureGradientCount(causal: causal, length: length, features: features)
            + contractionWorkspaceCount(causal: causal, length: length, features: features, headDim: headDim, chunk: chunk)
    }

    /// ∂Q′ [L, m] at the front of a worker's scratch, for the causal backward, whose first pass
    /// writes every chunk's past term before the second can finish any row. ∂K̃′ needs no such
    /// array (the second pass hands it over in groups of rows), nor does the bidirectional
    /// backward (it hands both over in blocks of rows).
    static func featureGradientCount(causal: Bool, length: Int, features: Int) -> Int {
        causal ? length * features : 0
    }

    /// Floats per slice of `Saved.chunkProducts`: the causal FAVOR contraction's chunk products,
    /// none for the other kernels.
    static func chunkProductCount(kind: AttentionKind, causal: Bool, length: Int, chunk: Int) -> Int {
        kind.usesRandomFeatures && causal ? CausalLinearAttention.chunkProductCount(length: length, chunk: chunk) : 0
    }

    /// Scratch floats one worker's contraction needs.
    static func contractionWorkspaceCount(causal: Bool, length: Int, features: Int, headDim: Int, chunk: Int) -> Int {
        if causal {
            // Forward and backward share the worker's scratch: give the larger of the two.
            return max(
                CausalLinearAttention.forwardScratchCount(length: length, features: features, headDim: headDim, chunk: chunk),
                CausalLinearAttention.backwardScratchCount(length: length, features: features, headDim: headDim, chunk: chunk))
        }
        return BidirectionalLinearAttention.workspaceCount(length: length, features: features, headDim: headDim)
    }

    func contractionForward(
        out: UnsafeMutablePointer<Float>, normalizer: UnsafeMutablePointer<Float>,
        queryFeatures: UnsafePointer<Float>, keyFeatures: UnsafePointer<Float>,
        keyLogScale: UnsafePointer<Float>?, values: UnsafePointer<Float>,
        length: Int, workspace: UnsafeMutablePointer<Float>, keys: Int? = nil,
        chunkProducts: UnsafeMutablePointer<Float>? = nil
    ) {
        if causal {
            requireAlways(keys == nil, "key lengths apply to the bidirectional contraction")
            causalContractionForward(
                out: out, normalizer: normalizer, queryFeatures: queryFeatures, keyFeatures: keyFeatures,
                keyLogScale: keyLogScale, values: values, length: length, workspace: workspace,
                chunkProducts: chunkProducts)
        } else {
            BidirectionalLinearAttention.forward(
                out: out, normalizer: normalizer, queryFeatures: queryFeatures, keyFeatures: keyFeatures,
                keyLogScale: keyLogScale, values: values, length: length, features: features, headDim: headDim,
                workspace: workspace, keys: keys)
        }
    }

    // MARK: - Causal contraction: the chunked CausalLinearAttention (running-max key frames,
    // nothing depends on future keys). `MaskedLinearAttention` is its naive O(L²) Float twin, kept
    // for the tests.

    private func causalContractionForward(
        out: UnsafeMutablePointer<Float>, normalizer: UnsafeMutablePointer<Float>,
        queryFeatures: UnsafePointer<Float>, keyFeatures: UnsafePointer<Float>,
        keyLogScale: UnsafePointer<Float>?, values: UnsafePointer<Float>,
        length: Int, workspace: UnsafeMutablePointer<Float>, chunkProducts: UnsafeMutablePointer<Float>?
    ) {
        CausalLinearAttention.forward(
            out: out, normalizer: normalizer, queryFeatures: queryFeatures, keyFeatures: keyFeatures,
            keyLogScale: keyLogScale, values: values, length: length, features: features, headDim: headDim,
            chunk: chunk, scratch: workspace, chunkProducts: chunkProducts)
    }

    func causalContractionBackward(
        queryGradient: UnsafeMutablePointer<Float>,
        dValues: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
        out: UnsafePointer<Float>, normalizer: UnsafePointer<Float>,
        queryFeatures: UnsafePointer<Float>, keyFeatures: UnsafePointer<Float>,
        keyLogScale: UnsafePointer<Float>?, values: UnsafePointer<Float>,
        length: Int, workspace: UnsafeMutablePointer<Float>, chunkProducts: UnsafePointer<Float>?,
        featureGradients: (_ start: Int, _ rows: Int, _ dQueryRows: UnsafeMutablePointer<Float>,
                           _ dKeyRows: UnsafeMutablePointer<Float>) -> Void
    ) {
        CausalLinearAttention.backward(
            queryGradient: queryGradient, dValues: dValues, dOut: dOut, out: out, normalizer: normalizer,
            queryFeatures: queryFeatures, keyFeatures: keyFeatures, keyLogScale: keyLogScale, values: values,
            length: length, features: features, headDim: headDim, chunk: chunk, scratch: workspace,
            chunkProducts: chunkProducts, featureGradients: featureGradients)
    }
}
