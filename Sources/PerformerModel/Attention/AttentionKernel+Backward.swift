extension AttentionKernel {
    /// Gradients of `forward` with respect to Q, K and V, accumulated (+=): the random features
    /// and the stabilisers are held fixed. The forward in reverse: contraction backward into
    /// dQ', dK̃' (per-worker scratch), then each feature map's backward into dQ and dK.
    ///
    /// - Parameters:
    ///   - dQuery, dKey, dValue: [batch, heads, length, headDim], accumulated.
    ///   - dOut: [batch, heads, length, headDim], the gradient of `out`.
    ///   - out: what `forward` wrote.
    ///   - query, key, value: the forward's inputs, unchanged.
    ///   - saved: what `forward` filled.
    ///   - parallelism: as in `forward`.
    public func backward(
        dQuery: Tensor, dKey: Tensor, dValue: Tensor, dOut: Tensor,
        out: Tensor, query: Tensor, key: Tensor, value: Tensor, saved: Saved, parallelism: SliceParallelism? = nil
    ) {
        let (slices, l, d) = checkShapes([dQuery, dKey, dValue, dOut, out, query, key, value], saved: saved)
        requireAlways(!saved.isForwardOnly, "no backward after a forward-only pass (key lengths or fewer rows)")
        let policy = passParallelism(slices: slices, override: parallelism, saved: saved)
        let m = features
        switch kind {
        case .identity:
            Elementwise.add(dOut.data, to: dValue.data, count: dOut.count)
        case .exact:
            policy.run(slices: slices) { s, worker in
                let offset = s * l * d
                ExactAttention.backward(
                    dQuery: dQuery.data + offset, dKey: dKey.data + offset, dValue: dValue.data + offset,
                    dOut: dOut.data + offset, out: out.data + offset, logSumExp: saved.normalizer.data + s * l,
                    query: query.data + offset, key: key.data + offset, value: value.data + offset,
                    length: l, headDim: d, causal: causal, workspace: saved.scratch[worker].data)
            }
        case .favorSoftmax, .favorRelu:
            guard let w = randomFeatures?.weights.data else {
                preconditionFailure("\(kind.rawValue) attention without random features")
            }
            policy.run(slices: slices) { s, worker in
                let offset = s * l * d
                let qf = saved.queryFeatures.data + s * l * m, kf = saved.keyFeatures.data + s * l * m
                let logScale: UnsafeMutablePointer<Float>? = kind == .favorSoftmax ? saved.keyLogScale.data + s * l : nil
                let scratch = saved.scratch[worker].data
                let dQueryFeatures = scratch, dKeyFeatures = scratch + l * m
                dQueryFeatures.update(repeating: 0, count: 2 * l * m)
                contractionBackward(
                    dQueryFeatures: dQueryFeatures, dKeyFeatures: dKeyFeatures, dValues: dValue.data + offset,
                    dOut: dOut.data + offset, out: out.data + offset, normalizer: saved.normalizer.data + s * l,
                    queryFeatures: qf, keyFeatures: kf, keyLogScale: logScale, values: value.data + offset,
                    length: l, workspace: scratch + 2 * l * m)
                if kind == .favorSoftmax {
                    FavorSoftmaxFeatures.backward(
                        dInput: dQuery.data + offset, dOut: dQueryFeatures, out: qf, input: query.data + offset,
                        weights: w, length: l, features: m, headDim: d, epsilon: epsilon)
                    FavorSoftmaxFeatures.backward(
                        dInput: dKey.data + offset, dOut: dKeyFeatures, out: kf, input: key.data + offset,
                        weights: w, length: l, features: m, headDim: d, epsilon: 0)
                } else {
                    FavorReluFeatures.backward(
                        dInput: dQuery.data + offset, dOut: dQueryFeatures, out: qf,
                        weights: w, length: l, features: m, headDim: d, epsilon: epsilon)
                    FavorReluFeatures.backward(
                        dInput: dKey.data + offset, dOut: dKeyFeatures, out: kf,
                        weights: w, length: l, features: m, headDim: d, epsilon: epsilon)
                }
            }
        }
    }
}
