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
        ws.rowsSelected = selectedRows
        Team(size: ws.teamSize, rows: batch * ws.length, minimum: ws.teamMinimumRows).run { member in
            forward(member, tokens: tokens, workspace: ws, batch: batch, selectedRows: selectedRows,
                    throughAttention: throughAttention, keyLengths: keyLengths, forwardOnly: forwardOnly)
        }
    }

    /// One team member's part of `forward`: its share of the rows in every token-wise layer, its
    /// share of the (batch, head) slices in attention, with a barrier on each side of attention
    /// (the only layer that reads other members' rows).
    private func forward(
        _ member: Team.Member, tokens: UnsafeBufferPointer<TokenID>, workspace ws: Workspace, batch: Int,
        selectedRows: Bool, throughAttention: Bool, keyLengths: [Int]?, forwardOnly: Bool
    ) {
        let c = configuration
        // Buffers hold ws.batch rows; a pass over fewer uses the front of each (slots of n rows).
        let n = batch * ws.length, d = c.dim, f = c.ffnDim, v = c.vocabSize, eps = c.layerNormEpsilon
        let mine = member.share(n)  // this member's rows of every token-wise layer…
        var own = mine              // …and of the current block's output side
        // x₀ = E[tokens]                                                    [N, D]
        Embedding.forward(out: ws.residual.data + mine.lowerBound * d, tokens: UnsafeBufferPointer(rebasing: tokens[mine]),
                          weight: value(offsets.embedding), vocab: v, dim: d)
        for layer in 0..<c.layers {
            let o = offsets.blocks[layer]
            let slot = forwardOnly ? 0 : layer  // whose buffers this layer writes
            let x = ws.residual.data + 2 * slot * n * d          // block input       [N, D]
            let xMid = forwardOnly ? x : x + n * d                 // after attention   [N, D]
            let xOut = forwardOnly ? x : xMid + n * d              // block output      [N, D]
            let statsAttn = 2 * slot * n, statsFFN = (2 * slot + 1) * n
            let lo = mine.lowerBound, count = mine.count

            // h = LN_attn(x)                                                [N, D]
            LayerNorm.forward(
                out: ws.normalized.data + lo * d, mean: ws.normMean.data + statsAttn + lo,
                rstd: ws.normRstd.data + statsAttn + lo, input: x + lo * d, weight: value(o.attnNormWeight),
                bias: value(o.attnNormBias), rows: count, dim: d, epsilon: eps)
            // q, k, v = h·W + b → [B, H, L, dh]; RoPE on q and k
            project(ws, rows: mine, weight: o.wq, bias: o.bq, into: ws.query[slot], rotate: true)
            project(ws, rows: mine, weight: o.wk, bias: o.bk, into: ws.key[slot], rotate: true)
            project(ws, rows: mine, weight: o.wv, bias: o.bv, into: ws.value[slot], rotate: false)
            // a = Attention(q, k, v)                                        [B, H, L, dh]
            member.barrier()
            kernels[layer].forward(
                out: ws.attention[slot], query: ws.query[slot], key: ws.key[slot], value: ws.value[slot],
                saving: ws.saved[slot], parallelism: nil, rows: batch, keyLengths: keyLengths, member: member)
            member.barrier()
            if throughAttention && layer == c.layers - 1 { return }
            // x_mid = x + merge(a)·Wo + bo                                  [N, D]
            if selectedRows && layer == c.layers - 1 {
                // Only the selected rows go on: x_mid, the FFN and x_out of R rows, compacted
                // (row t of each is row selectedRows[t]).
                own = member.share(ws.selectedRows.count)
                HeadLayout.merge(out: ws.projection.data, input: ws.attention[slot].data, rows: own, length: ws.length,
                                 heads: c.heads, headDim: c.headDim, inverseRotary: nil, sourceRows: ws.selectedRows)
                for t in own { (xMid + t * d).update(from: x + ws.selectedRows[t] * d, count: d) }
            } else {
                HeadLayout.merge(out: ws.projection.data, input: ws.attention[slot].data, rows: mine, length: ws.length,
                                 heads: c.heads, headDim: c.headDim, inverseRotary: nil)
                if xMid != x { (xMid + lo * d).update(from: x + lo * d, count: count * d) }
            }
            let r0 = own.lowerBound, r = own.count
            Linear.forward(out: xMid + r0 * d, input: ws.projection.data + r0 * d, weight: value(o.wo), bias: value(o.bo),
                           rows: r, inputs: d, outputs: d, accumulate: true)

            // h = LN_ffn(x_mid); u = h·W1 + b1                              [N, F]
            LayerNorm.forward(
                out: ws.normalized.data + r0 * d, mean: ws.normMean.data + statsFFN + r0,
                rstd: ws.normRstd.data + statsFFN + r0, input: xMid + r0 * d, weight: value(o.ffnNormWeight),
                bias: value(o.ffnNormBias), rows: r, dim: d, epsilon: eps)
            let u = ws.ffnInput.data + slot * n * f + r0 * f
            Linear.forward(out: u, input: ws.normalized.data + r0 * d, weight: value(o.w1), bias: value(o.b1),
                           rows: r, inputs: d, outputs: f)
            // x_out = x_mid + GELU(u)·W2 + b2                               [N, D]
            GELU.forward(out: ws.hidden.data + r0 * f, input: u, count: r * f)
            if xOut != xMid { (xOut + r0 * d).update(from: xMid + r0 * d, count: r * d) }
            Linear.forward(out: xOut + r0 * d, input: ws.hidden.data + r0 * f, weight: value(o.w2), bias: value(o.b2),
                           rows: r, inputs: f, outputs: d, accumulate: true)
        }
        // x_f = LN_final(x_n) (left in `normalized` for the backward)       [N, D]
        let last = 2 * c.layers
        let r0 = own.lowerBound, r = own.count
        LayerNorm.forward(
            out: ws.normalized.data + r0 * d, mean: ws.normMean.data + last * n + r0,
            rstd: ws.normRstd.data + last * n + r0,
            input: ws.residual.data + (forwardOnly ? 0 : last) * n * d + r0 * d, weight: value(offsets.finalNormWeight),
            bias: value(offsets.finalNormBias), rows: r, dim: d, epsilon: eps)
        // logits = x_f·Eᵀ + b_lm (tied head)                                [N, V]
        let bias = value(offsets.lmHeadBias)
        for row in own { (ws.logits.data + row * v).update(from: bias, count: v) }
        BLAS.sgemm(transB: true, m: r, n: v, k: d, a: ws.normalized.data + r0 * d, lda: d, b: value(offsets.embedding),
                   ldb: d, beta: 1, c: ws.logits.data + r0 * v, ldc: v)
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

    /// The inverse of a gather of `rows` (row rows[t] moved to row t, rows ascending) on a
    /// [N, width] buffer: row t goes to row rows[t], and every row not in `rows` becomes 0 (in
    /// place, from the last row down).
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

    /// dest = split(h·W + b), rotated when `rotate`: one of q, k, v of the current block, for the
    /// token-major rows in `rows`.
    private func project(_ ws: Workspace, rows: Range<Int>, weight: Int, bias: Int, into dest: Tensor, rotate: Bool) {
        let c = configuration
        let lo = rows.lowerBound
        Linear.forward(out: ws.projection.data + lo * c.dim, input: ws.normalized.data + lo * c.dim,
                       weight: value(weight), bias: value(bias), rows: rows.count, inputs: c.dim, outputs: c.dim)
        HeadLayout.split(out: dest.data, input: ws.projection.data, rows: rows, length: ws.length,
                         heads: c.heads, headDim: c.headDim, rotary: rotate ? ws.rotary : nil)
    }
}
