import ProteinIO

extension PerformerLM {
    /// The forward pass: fills `workspace.logits` [batch, length, vocab] and everything the
    /// backward pass reads. Every matrix product is one GEMM over all N = batch·length rows.
    ///
    /// - Parameters:
    ///   - tokens: [batch, length] row-major, batch·length ids < vocabSize (an id out of range traps).
    ///   - workspace: from `makeWorkspace(batch:length:)` of a model with this configuration.
    /// - Complexity: per block 8·N·D² + 4·N·D·F flops in projections and FFN, plus the attention
    ///   kernel (FAVOR: O(N·H·m·dh); exact: O(N·L·D)); the LM head 2·N·D·V.
    public func forward(tokens: UnsafeBufferPointer<TokenID>, workspace ws: Workspace) {
        forward(tokens: tokens, workspace: ws, selectedRows: false)
    }

    /// A forward-only pass over `rowLengths.count` rows (at most the workspace's batch) of
    /// `ws.length` tokens each, whose real tokens are the first rowLengths[b] of row b and the rest
    /// end padding. Bidirectional attention reads only each row's real tokens as keys; causal
    /// attention needs nothing, since end padding never reaches an earlier position. So each row's
    /// logits at positions < rowLengths[b] are those of a pass at exactly that length (up to
    /// rounding; every other layer works token by token), and one workspace serves any number of
    /// rows up to its batch. Logits at padded positions mean nothing; the logits of row b start at
    /// `ws.logits.data + b·length·vocab`. No backward pass may follow (the attention kernels refuse
    /// it).
    ///
    /// - Parameters:
    ///   - tokens: [rowLengths.count, ws.length] row-major.
    ///   - rowLengths: 1...ws.length each; 1...ws.batch of them.
    public func forward(tokens: UnsafeBufferPointer<TokenID>, workspace ws: Workspace, rowLengths: [Int]) {
        requireAlways(!rowLengths.isEmpty && rowLengths.count <= ws.batch
                        && rowLengths.allSatisfy { $0 >= 1 && $0 <= ws.length },
                      "row lengths \(rowLengths) for a workspace of batch \(ws.batch) × length \(ws.length)")
        forward(tokens: tokens, workspace: ws, selectedRows: false, rows: rowLengths.count,
                keyLengths: configuration.causal ? nil : rowLengths, forwardOnly: true)
    }

    /// `forward(tokens:workspace:rowLengths:)` on an array of tokens.
    public func forward(tokens: [TokenID], workspace: Workspace, rowLengths: [Int]) {
        tokens.withUnsafeBufferPointer { forward(tokens: $0, workspace: workspace, rowLengths: rowLengths) }
    }

    /// The forward pass up to and including the last block's attention kernel, and no further:
    /// every layer's q, k, v, attention output and saved kernel values are filled (what
    /// `AttentionSimilarity` reads); the last block's output side, the final LayerNorm and the
    /// logits are not computed, and the workspace must not be used for a backward pass.
    public func forwardThroughAttention(tokens: UnsafeBufferPointer<TokenID>, workspace ws: Workspace) {
        forward(tokens: tokens, workspace: ws, selectedRows: false, throughAttention: true)
    }

    /// The forward pass, over the first `rows` batch rows (default all); with `keyLengths`,
    /// attention reads only each row's leading keys (see `forward(tokens:workspace:rowLengths:)`);
    /// with `selectedRows`, the last block's output side (after attention),
    /// the final LayerNorm and the logits run on `ws.selectedRows` only, compacted (row t of
    /// those buffers is row selectedRows[t]). Everything up to the last attention runs on all
    /// rows, since every row's keys and values reach the selected rows through attention. With
    /// `throughAttention`, the pass stops after the last block's attention kernel. With
    /// `forwardOnly`, nothing is kept for a backward pass: every layer works in layer 0's buffers
    /// (q, k, v, attention, saved values, FFN input, LayerNorm statistics) and the residual stream
    /// is updated in place in slot 0, so the pass touches one layer's share of the per-layer
    /// buffers and copies no residual.
    func forward(
        tokens: UnsafeBufferPointer<TokenID>, workspace ws: Workspace, selectedRows: Bool, throughAttention: Bool = false,
        rows: Int? = nil, keyLengths: [Int]? = nil, forwardOnly: Bool = false
    ) {
        let batch = rows ?? ws.batch
        check(ws, tokens: tokens.count, rows: batch)
        precondition(!selectedRows || (batch == ws.batch && !forwardOnly), "selected rows need the whole batch, saved")
        let c = configuration
        let elementwise = elementwise(for: ws)
        // Buffers hold ws.batch rows; a pass over fewer uses the front of each (slots of n rows).
        let n = batch * ws.length, d = c.dim, f = c.ffnDim, v = c.vocabSize, eps = c.layerNormEpsilon
        ws.rowsSelected = selectedRows
        var r = n  // rows of the current block's output side
        // x₀ = E[tokens]                                                    [N, D]
        Embedding.forward(out: ws.residual.data, tokens: tokens, weight: value(offsets.embedding), vocab: v, dim: d)
        for layer in 0..<c.layers {
            let o = offsets.blocks[layer]
            let slot = forwardOnly ? 0 : layer  // whose buffers this layer writes
            let x = ws.residual.data + 2 * slot * n * d          // block input       [N, D]
            let xMid = forwardOnly ? x : x + n * d                 // after attention   [N, D]
            let xOut = forwardOnly ? x : xMid + n * d              // block output      [N, D]
            let statsAttn = 2 * slot * n, statsFFN = (2 * slot + 1) * n

            // h = LN_attn(x)                                                [N, D]
            LayerNorm.forward(
                out: ws.normalized.data, mean: ws.normMean.data + statsAttn, rstd: ws.normRstd.data + statsAttn,
                input: x, weight: value(o.attnNormWeight), bias: value(o.attnNormBias),
                rows: n, dim: d, epsilon: eps, parallelism: elementwise)
            // q, k, v = h·W + b → [B, H, L, dh]; RoPE on q and k
            project(ws, batch: batch, weight: o.wq, bias: o.bq, into: ws.query[slot], rotate: true)
            project(ws, batch: batch, weight: o.wk, bias: o.bk, into: ws.key[slot], rotate: true)
            project(ws, batch: batch, weight: o.wv, bias: o.bv, into: ws.value[slot], rotate: false)
            // a = Attention(q, k, v)                                        [B, H, L, dh]
            kernels[layer].forward(
                out: ws.attention[slot], query: ws.query[slot], key: ws.key[slot], value: ws.value[slot],
                saving: ws.saved[slot], parallelism: ws.isWorker ? .serial : nil, rows: batch, keyLengths: keyLengths)
            if throughAttention && layer == c.layers - 1 { return }
            // x_mid = x + merge(a)·Wo + bo                                  [N, D]
            HeadLayout.merge(
                out: ws.projection.data, input: ws.attention[slot].data, batch: batch, length: ws.length,
                heads: c.heads, headDim: c.headDim, inverseRotary: nil, parallelism: elementwise)
            if selectedRows && layer == c.layers - 1 {
                // Only the selected rows go on: x_mid, the FFN and x_out of R rows, compacted.
                r = ws.selectedRows.count
                PerformerLM.gatherRows(ws.projection.data, rows: ws.selectedRows, width: d)
                for (t, row) in ws.selectedRows.enumerated() { (xMid + t * d).update(from: x + row * d, count: d) }
            } else if xMid != x {
                elementwise.copy(from: x, to: xMid, count: n * d)
            }
            Linear.forward(out: xMid, input: ws.projection.data, weight: value(o.wo), bias: value(o.bo),
                           rows: r, inputs: d, outputs: d, accumulate: true, parallelism: elementwise)

            // h = LN_ffn(x_mid); u = h·W1 + b1                              [N, F]
            LayerNorm.forward(
                out: ws.normalized.data, mean: ws.normMean.data + statsFFN, rstd: ws.normRstd.data + statsFFN,
                input: xMid, weight: value(o.ffnNormWeight), bias: value(o.ffnNormBias),
                rows: r, dim: d, epsilon: eps, parallelism: elementwise)
            let u = ws.ffnInput.data + slot * n * f
            Linear.forward(out: u, input: ws.normalized.data, weight: value(o.w1), bias: value(o.b1),
                           rows: r, inputs: d, outputs: f, parallelism: elementwise)
            // x_out = x_mid + GELU(u)·W2 + b2                               [N, D]
            GELU.forward(out: ws.hidden.data, input: u, count: r * f, parallelism: elementwise)
            if xOut != xMid { elementwise.copy(from: xMid, to: xOut, count: r * d) }
            Linear.forward(out: xOut, input: ws.hidden.data, weight: value(o.w2), bias: value(o.b2),
                           rows: r, inputs: f, outputs: d, accumulate: true, parallelism: elementwise)
        }
        // x_f = LN_final(x_n) (left in `normalized` for the backward)       [N, D]
        let last = 2 * c.layers
        LayerNorm.forward(
            out: ws.normalized.data, mean: ws.normMean.data + last * n, rstd: ws.normRstd.data + last * n,
            input: ws.residual.data + (forwardOnly ? 0 : last) * n * d, weight: value(offsets.finalNormWeight),
            bias: value(offsets.finalNormBias),
            rows: r, dim: d, epsilon: eps, parallelism: elementwise)
        // logits = x_f·Eᵀ + b_lm (tied head)                                [N, V]
        let bias = value(offsets.lmHeadBias)
        for row in 0..<r { (ws.logits.data + row * v).update(from: bias, count: v) }
        elementwise.sgemm(transB: true, m: r, n: v, k: d, a: ws.normalized.data, lda: d, b: value(offsets.embedding),
                          ldb: d, beta: 1, c: ws.logits.data, ldc: v)
    }

    /// `forward` on an array of tokens.
    public func forward(tokens: [TokenID], workspace: Workspace) {
        tokens.withUnsafeBufferPointer { forward(tokens: $0, workspace: workspace) }
    }

    /// Forward and the weighted cross-entropy of the logits against `targets` (no backward):
    /// returns Σ w·CE (nats) and Σ w. Positions with weight 0 are not targets. With Σ w = 0 the
    /// result is LossSum(sum: 0, weight: 0), whose `mean` is 0.
    ///
    /// - Parameters:
    ///   - tokens, targets: [batch, length] row-major ids < vocabSize.
    ///   - weights: [batch, length] (≥ 0), e.g. `Batch.weights`.
    public func loss(
        tokens: UnsafeBufferPointer<TokenID>, targets: UnsafeBufferPointer<TokenID>, weights: UnsafeBufferPointer<Float>,
        workspace ws: Workspace
    ) -> LossSum {
        requireAlways(targets.count == tokens.count && weights.count == tokens.count,
                     "tokens, targets and weights must have the same count")
        let vocab = configuration.vocabSize
        Embedding.checkTokens(targets, vocab: vocab)
        // Logits only where the loss reads them (rows with a non-zero weight): a masked-LM batch
        // needs ~15 % of them, and the last block's FFN and output projection shrink alike.
        ws.selectedRows.removeAll(keepingCapacity: true)
        ws.selectedTargets.removeAll(keepingCapacity: true)
        ws.selectedWeights.removeAll(keepingCapacity: true)
        if outputRowPruning {
            for row in 0..<weights.count where weights[row] != 0 {
                ws.selectedRows.append(row)
                ws.selectedTargets.append(targets[row])
                ws.selectedWeights.append(weights[row])
            }
        }
        let select = !ws.selectedRows.isEmpty && ws.selectedRows.count < ws.rows
        forward(tokens: tokens, workspace: ws, selectedRows: select)
        guard select else {
            return CrossEntropy.loss(logits: ws.logits.data, targets: targets, weights: weights, rows: ws.rows, vocab: vocab)
        }
        return ws.selectedTargets.withUnsafeBufferPointer { y in
            ws.selectedWeights.withUnsafeBufferPointer { w in
                CrossEntropy.loss(logits: ws.logits.data, targets: y, weights: w, rows: y.count, vocab: vocab)
            }
        }
    }

    /// Moves rows `rows[t]` of a [N, width] buffer to rows t (rows ascending, in place).
    static func gatherRows(_ buffer: UnsafeMutablePointer<Float>, rows: [Int], width: Int) {
        for (t, row) in rows.enumerated() where row != t {
            (buffer + t * width).update(from: buffer + row * width, count: width)  // row > t: no overlap
        }
    }

    /// The inverse of `gatherRows` on a [N, width] buffer: row t goes to row rows[t], and every
    /// row not in `rows` becomes 0 (in place, from the last row down).
    static func scatterRows(_ buffer: UnsafeMutablePointer<Float>, rows: [Int], count n: Int, width: Int) {
        var done = n  // rows ≥ done are final
        for t in stride(from: rows.count - 1, through: 0, by: -1) {
            let row = rows[t]
            (buffer + (row + 1) * width).update(repeating: 0, count: (done - row - 1) * width)
            if row != t { (buffer + row * width).update(from: buffer + t * width, count: width) }
            done = row
        }
        buffer.update(repeating: 0, count: done * width)
    }

    /// `loss` on arrays (e.g. `Batch.tokens`, `.targets`, `.weights`).
    public func loss(tokens: [TokenID], targets: [TokenID], weights: [Float], workspace: Workspace) -> LossSum {
        tokens.withUnsafeBufferPointer { t in
            targets.withUnsafeBufferPointer { y in
                weights.withUnsafeBufferPointer { w in
                    loss(tokens: t, targets: y, weights: w, workspace: workspace)
                }
            }
        }
    }

    /// dest = split(h·W + b), rotated when `rotate`: one of q, k, v of the current block, over
    /// the first `batch` rows.
    private func project(_ ws: Workspace, batch: Int, weight: Int, bias: Int, into dest: Tensor, rotate: Bool) {
        let c = configuration
        let elementwise = elementwise(for: ws)
        Linear.forward(out: ws.projection.data, input: ws.normalized.data, weight: value(weight), bias: value(bias),
                       rows: batch * ws.length, inputs: c.dim, outputs: c.dim, parallelism: elementwise)
        HeadLayout.split(out: dest.data, input: ws.projection.data, batch: batch, length: ws.length,
                         heads: c.heads, headDim: c.headDim, rotary: rotate ? ws.rotary : nil, parallelism: elementwise)
    }
}
