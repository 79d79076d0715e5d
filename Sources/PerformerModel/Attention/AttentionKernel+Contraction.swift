// The contraction step of the FAVOR kernels, per (batch, head) slice, in one place: the
// bidirectional contraction, and the causal one behind `causalContractionForward/Backward`.

extension AttentionKernel {
    /// Scratch floats one worker's contraction needs.
    static func contractionWorkspaceCount(causal: Bool, length: Int, features: Int, headDim: Int, chunk: Int) -> Int {
        if causal {
            // MaskedLinearAttention needs no scratch. The chunked CausalLinearAttention may: give
            // its workspace size here when it is swapped in below.
            return 0
        }
        return BidirectionalLinearAttention.workspaceCount(length: length, features: features, headDim: headDim)
    }

    func contractionForward(
        out: UnsafeMutablePointer<Float>, normalizer: UnsafeMutablePointer<Float>,
        queryFeatures: UnsafePointer<Float>, keyFeatures: UnsafePointer<Float>,
        keyLogScale: UnsafePointer<Float>?, values: UnsafePointer<Float>,
        length: Int, workspace: UnsafeMutablePointer<Float>
    ) {
        if causal {
            causalContractionForward(
                out: out, normalizer: normalizer, queryFeatures: queryFeatures, keyFeatures: keyFeatures,
                keyLogScale: keyLogScale, values: values, length: length, workspace: workspace)
        } else {
            BidirectionalLinearAttention.forward(
                out: out, normalizer: normalizer, queryFeatures: queryFeatures, keyFeatures: keyFeatures,
                keyLogScale: keyLogScale, values: values, length: length, features: features, headDim: headDim,
                workspace: workspace)
        }
    }

    func contractionBackward(
        dQueryFeatures: UnsafeMutablePointer<Float>, dKeyFeatures: UnsafeMutablePointer<Float>,
        dValues: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
        out: UnsafePointer<Float>, normalizer: UnsafePointer<Float>,
        queryFeatures: UnsafePointer<Float>, keyFeatures: UnsafePointer<Float>,
        keyLogScale: UnsafePointer<Float>?, values: UnsafePointer<Float>,
        length: Int, workspace: UnsafeMutablePointer<Float>
    ) {
        if causal {
            causalContractionBackward(
                dQueryFeatures: dQueryFeatures, dKeyFeatures: dKeyFeatures, dValues: dValues, dOut: dOut,
                out: out, normalizer: normalizer, queryFeatures: queryFeatures, keyFeatures: keyFeatures,
                keyLogScale: keyLogScale, values: values, length: length, workspace: workspace)
        } else {
            BidirectionalLinearAttention.backward(
                dQueryFeatures: dQueryFeatures, dKeyFeatures: dKeyFeatures, dValues: dValues, dOut: dOut,
                out: out, normalizer: normalizer, queryFeatures: queryFeatures, keyFeatures: keyFeatures,
                keyLogScale: keyLogScale, values: values, length: length, features: features, headDim: headDim,
                workspace: workspace)
        }
    }

    // MARK: - Causal contraction: THE place to swap in the chunked CausalLinearAttention

    // These two functions are the only callers of a causal contraction. They currently run the
    // naive O(L²) `MaskedLinearAttention` (same arguments and semantics: running-max key
    // rescaling, nothing depends on future keys). To switch to the chunked version, call
    // `CausalLinearAttention.forward/backward(…, chunk: chunk)` here with the same arguments, and
    // return its scratch size from `contractionWorkspaceCount` if it takes a workspace.

    private func causalContractionForward(
        out: UnsafeMutablePointer<Float>, normalizer: UnsafeMutablePointer<Float>,
        queryFeatures: UnsafePointer<Float>, keyFeatures: UnsafePointer<Float>,
        keyLogScale: UnsafePointer<Float>?, values: UnsafePointer<Float>,
        length: Int, workspace: UnsafeMutablePointer<Float>
    ) {
        MaskedLinearAttention.forward(
            out: out, normalizer: normalizer, queryFeatures: queryFeatures, keyFeatures: keyFeatures,
            keyLogScale: keyLogScale, values: values, length: length, features: features, headDim: headDim)
    }

    private func causalContractionBackward(
        dQueryFeatures: UnsafeMutablePointer<Float>, dKeyFeatures: UnsafeMutablePointer<Float>,
        dValues: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
        out: UnsafePointer<Float>, normalizer: UnsafePointer<Float>,
        queryFeatures: UnsafePointer<Float>, keyFeatures: UnsafePointer<Float>,
        keyLogScale: UnsafePointer<Float>?, values: UnsafePointer<Float>,
        length: Int, workspace: UnsafeMutablePointer<Float>
    ) {
        MaskedLinearAttention.backward(
            dQueryFeatures: dQueryFeatures, dKeyFeatures: dKeyFeatures, dValues: dValues, dOut: dOut,
            out: out, normalizer: normalizer, queryFeatures: queryFeatures, keyFeatures: keyFeatures,
            keyLogScale: keyLogScale, values: values, length: length, features: features, headDim: headDim)
    }
}
