extension AttentionKernel {
    /// out = Attention(Q, K, V), filling `saved` with what `backward` needs.
    ///
    /// - Parameters:
    ///   - out: [batch, heads, length, headDim], written.
    ///   - query, key, value: [batch, heads, length, headDim].
    ///   - saved: from `makeSaved(batch:heads:length:)` with the same dimensions; overwritten.
    ///   - parallelism: how the slices run in this pass (default: the kernel's own policy);
    ///     `saved` must hold scratch for its workers.
    ///   - rows: run the first `rows` batch rows only (default all `saved.batch`); the rest of every
    ///     tensor is left alone. Such a pass is forward-only: `backward` refuses its `saved`.
    ///   - keyLengths: bidirectional kernels only, one per row run (1...length): the row's keys
    ///     are its first keyLengths[b] positions, so rows of different lengths padded at the end
    ///     share one pass and every real query sees exactly its own row's tokens (padded queries get
    ///     outputs that mean nothing). Such a pass is forward-only too.
    /// - Complexity: exact O(B·H·L²·d); FAVOR O(B·H·L·m·d); identity O(B·H·L·d).
    public func forward(
        out: Tensor, query: Tensor, key: Tensor, value: Tensor, saving saved: Saved, parallelism: SliceParallelism? = nil,
        rows: Int? = nil, keyLengths: [Int]? = nil
    ) {
        forward(out: out, query: query, key: key, value: value, saving: saved, parallelism: parallelism,
                rows: rows, keyLengths: keyLengths, member: nil)
    }

    /// `forward` as one member of a team: every member calls it with the same arguments, and
    /// member i runs slices i, i + count, … on its own thread with scratch i (`parallelism` is
    /// not used). Member 0 alone records the pass in `saved`; the caller puts a barrier after
    /// the call before any member reads the output (or the record).
    func forward(
        out: Tensor, query: Tensor, key: Tensor, value: Tensor, saving saved: Saved, parallelism: SliceParallelism?,
        rows: Int?, keyLengths: [Int]?, member: Team.Member?
    ) {
        let (allSlices, l, d) = checkShapes([out, query, key, value], saved: saved)
        let batch = rows ?? saved.batch
        requireAlways(batch >= 1 && batch <= saved.batch, "attention over \(batch) rows of a batch of \(saved.batch)")
        if let keyLengths {
            requireAlways(!causal, "key lengths apply to bidirectional attention (causal rows ignore their end padding)")
            requireAlways(keyLengths.count == batch && keyLengths.allSatisfy { $0 >= 1 && $0 <= l },
                          "key lengths \(keyLengths) for \(batch) rows of length \(l)")
        }
        let slices = batch * saved.heads
        let each = sliceLoop(slices: slices, override: parallelism, saved: saved, member: member)
        let m = features
        if (member?.index ?? 0) == 0 {
            saved.keyLengths = keyLengths
            saved.isForwardOnly = keyLengths != nil || slices < allSlices
        }
        let heads = saved.heads
        /// Keys of slice s (nil: all).
        func keys(_ s: Int) -> Int? { keyLengths.map { $0[s / heads] } }
        switch kind {
        case .identity:
            each { s, _ in (out.data + s * l * d).update(from: value.data + s * l * d, count: l * d) }
        case .exact:
            each { s, worker in
                ExactAttention.forward(
                    out: out.data + s * l * d, logSumExp: saved.normalizer.data + s * l,
                    query: query.data + s * l * d, key: key.data + s * l * d, value: value.data + s * l * d,
                    length: l, headDim: d, causal: causal, workspace: saved.scratch[worker].data, keys: keys(s))
            }
        case .favorSoftmax, .favorRelu:
            guard let w = randomFeatures?.weights.data else {
                preconditionFailure("\(kind.rawValue) attention without random features")
            }
            let featureGradients = AttentionKernel.featureGradientCount(causal: causal, length: l, features: m)
            each { s, worker in
                let q = query.data + s * l * d, k = key.data + s * l * d
                let qf = saved.queryFeatures.data + s * l * m, kf = saved.keyFeatures.data + s * l * m
                var logScale: UnsafeMutablePointer<Float>? = nil
                if kind == .favorSoftmax {
                    let sk = saved.keyLogScale.data + s * l
                    FavorSoftmaxFeatures.forwardQueries(
                        out: qf, input: q, weights: w, length: l, features: m, headDim: d, epsilon: epsilon)
                    FavorSoftmaxFeatures.forwardKeys(
                        out: kf, logScale: sk, input: k, weights: w, length: l, features: m, headDim: d)
                    logScale = sk
                } else {
                    FavorReluFeatures.forward(out: qf, input: q, weights: w, length: l, features: m, headDim: d, epsilon: epsilon)
                    FavorReluFeatures.forward(out: kf, input: k, weights: w, length: l, features: m, headDim: d, epsilon: epsilon)
                }
                contractionForward(
                    out: out.data + s * l * d, normalizer: saved.normalizer.data + s * l,
                    queryFeatures: qf, keyFeatures: kf, keyLogScale: logScale, values: value.data + s * l * d,
                    length: l, workspace: saved.scratch[worker].data + featureGradients, keys: keys(s),
                    chunkProducts: saved.chunkProducts(slice: s))
            }
        }
    }

    /// Checks that every tensor is [batch, heads, length, headDim] as `saved` was made for;
    /// returns (batch·heads, length, headDim).
    func checkShapes(_ tensors: [Tensor], saved: Saved) -> (slices: Int, length: Int, headDim: Int) {
        let expected = [saved.batch, saved.heads, saved.length, headDim]
        for tensor in tensors {
            precondition(tensor.shape == expected, "attention tensor \(tensor.shape), expected \(expected)")
        }
        return (saved.batch * saved.heads, saved.length, headDim)
    }
}
