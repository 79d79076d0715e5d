extension AttentionKernel {
    /// Gradients of `forward` with respect to Q, K and V, accumulated (+=): the random features
    /// and the stabilisers are held fixed. The forward in reverse: contraction backward into
    /// dQ', dK̃', then each feature map's backward into dQ and dK, block by block of rows while the
    /// block is in cache (causally in groups of chunks, last first, with dQ' whole in scratch).
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
        backward(dQuery: dQuery, dKey: dKey, dValue: dValue, dOut: dOut, out: out, query: query, key: key,
                 value: value, saved: saved, parallelism: parallelism, member: nil)
    }

    /// `backward` as one member of a team (slices as in the team `forward`).
    func backward(
        dQuery: Tensor, dKey: Tensor, dValue: Tensor, dOut: Tensor,
        out: Tensor, query: Tensor, key: Tensor, value: Tensor, saved: Saved, parallelism: SliceParallelism?,
        member: Team.Member?
    ) {
        let (slices, l, d) = checkShapes([dQuery, dKey, dValue, dOut, out, query, key, value], saved: saved)
        requireAlways(!saved.isForwardOnly, "no backward after a forward-only pass (key lengths or fewer rows)")
        let each = sliceLoop(slices: slices, override: parallelism, saved: saved, member: member)
        let m = features
        switch kind {
        case .identity:
            each { s, _ in Elementwise.add(dOut.data + s * l * d, to: dValue.data + s * l * d, count: l * d) }
        case .exact:
            each { s, worker in
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
            // The causal backward's ∂Q′ [L, m] at the front of each worker's scratch (as the forward
            // leaves it free); the contraction's workspace after it.
            let featureGradients = AttentionKernel.featureGradientCount(causal: causal, length: l, features: m)
            each { s, worker in
                let offset = s * l * d
                let q = query.data + offset, k = key.data + offset
                let qf = saved.queryFeatures.data + s * l * m, kf = saved.keyFeatures.data + s * l * m
                let logScale: UnsafeMutablePointer<Float>? = kind == .favorSoftmax ? saved.keyLogScale.data + s * l : nil
                let scratch = saved.scratch[worker].data
                // The feature maps' backward on rows [start, start + rows), from the gradients of
                // those rows' features (consumed: the maps use them as scratch).
                func featuresBackward(
                    start: Int, rows: Int, dQueryFeatures: UnsafeMutablePointer<Float>,
                    dKeyFeatures: UnsafeMutablePointer<Float>
                ) {
                    let dq = dQuery.data + offset + start * d, dk = dKey.data + offset + start * d
                    let rowQF = qf + start * m, rowKF = kf + start * m
                    if kind == .favorSoftmax {
                        FavorSoftmaxFeatures.backward(
                            dInput: dq, dOut: dQueryFeatures, out: rowQF, input: q + start * d,
                            weights: w, length: rows, features: m, headDim: d, epsilon: epsilon)
                        FavorSoftmaxFeatures.backward(
                            dInput: dk, dOut: dKeyFeatures, out: rowKF, input: k + start * d,
                            weights: w, length: rows, features: m, headDim: d, epsilon: 0)
                    } else {
                        FavorReluFeatures.backward(
                            dInput: dq, dOut: dQueryFeatures, out: rowQF,
                            weights: w, length: rows, features: m, headDim: d, epsilon: epsilon)
                        FavorReluFeatures.backward(
                            dInput: dk, dOut: dKeyFeatures, out: rowKF,
                            weights: w, length: rows, features: m, headDim: d, epsilon: epsilon)
                    }
                }
                if causal {
                    // ∂Q′ whole in scratch (the first pass writes every chunk's past term); the
                    // maps' backward runs on each group of chunks as the second pass finishes it.
                    causalContractionBackward(
                        queryGradient: scratch, dValues: dValue.data + offset, dOut: dOut.data + offset,
                        out: out.data + offset, normalizer: saved.normalizer.data + s * l,
                        queryFeatures: qf, keyFeatures: kf, keyLogScale: logScale, values: value.data + offset,
                        length: l, workspace: scratch + featureGradients,
                        chunkProducts: saved.chunkProducts(slice: s)
                    ) { start, rows, dQueryRows, dKeyRows in
                        featuresBackward(start: start, rows: rows, dQueryFeatures: dQueryRows, dKeyFeatures: dKeyRows)
                    }
                } else {
                    BidirectionalLinearAttention.backward(
                        dValues: dValue.data + offset, dOut: dOut.data + offset, out: out.data + offset,
                        normalizer: saved.normalizer.data + s * l, queryFeatures: qf, keyFeatures: kf,
                        keyLogScale: logScale, values: value.data + offset, length: l, features: m, headDim: d,
                        workspace: scratch
                    ) { start, rows, dQueryBlock, dKeyBlock in
                        featuresBackward(start: start, rows: rows, dQueryFeatures: dQueryBlock, dKeyFeatures: dKeyBlock)
                    }
                }
            }
        }
    }
}
