import ProteinIO

extension PerformerLM {
    /// Forward, weighted cross-entropy, and backward: returns Σ w·CE and Σ w of this call (as
    /// `loss`) and ACCUMULATES (+=) into `parameters.gradients` the gradient of
    ///
    ///     (Σ_i w_i·CE_i) / normalizer,     normalizer = Σ_i w_i of this call unless given,
    ///
    /// with the random features (and the FAVOR stabilisers) held fixed. The caller zeroes the
    /// gradients once per optimizer step. To accumulate micro-batches into the gradient of the
    /// whole step's mean loss, either pass `normalizer` = the step's total Σ w to every call, or
    /// leave it nil and scale: the step's gradient is Σ_calls (Σw_call / Σw_total)·∇_call.
    ///
    /// A call whose Σ w is 0 (no targets) or a normalizer of 0 accumulates nothing and returns
    /// LossSum(sum: 0, weight: 0) (its `mean` is 0, not NaN).
    ///
    /// - Parameters:
    ///   - tokens, targets: [batch, length] row-major ids < vocabSize.
    ///   - weights: [batch, length], ≥ 0 (0 = not a target).
    ///   - workspace: from `makeWorkspace(batch:length:)`.
    ///   - normalizer: the denominator of the loss whose gradient is accumulated (default Σ w).
    public func lossAndGradients(
        tokens: UnsafeBufferPointer<TokenID>, targets: UnsafeBufferPointer<TokenID>, weights: UnsafeBufferPointer<Float>,
        workspace ws: Workspace, normalizer: Double? = nil
    ) -> LossSum {
        let total = loss(tokens: tokens, targets: targets, weights: weights, workspace: ws)
        let denominator = normalizer ?? total.weight
        guard total.weight > 0 && denominator > 0 else { return total }
        // dlogits = (softmax − onehot)·w / normalizer                       [N, V] (or [R, V])
        ws.dLogits.zero()
        if ws.rowsSelected {
            ws.selectedTargets.withUnsafeBufferPointer { y in
                ws.selectedWeights.withUnsafeBufferPointer { w in
                    CrossEntropy.backward(
                        dLogits: ws.dLogits.data, logits: ws.logits.data, targets: y, weights: w,
                        scale: Float(1 / denominator), rows: y.count, vocab: configuration.vocabSize)
                }
            }
        } else {
            CrossEntropy.backward(
                dLogits: ws.dLogits.data, logits: ws.logits.data, targets: targets, weights: weights,
                scale: Float(1 / denominator), rows: ws.rows, vocab: configuration.vocabSize)
        }
        backward(tokens: tokens, workspace: ws)
        return total
    }

    /// `lossAndGradients` on arrays (e.g. `Batch.tokens`, `.targets`, `.weights`).
    public func lossAndGradients(
        tokens: [TokenID], targets: [TokenID], weights: [Float], workspace: Workspace, normalizer: Double? = nil
    ) -> LossSum {
        tokens.withUnsafeBufferPointer { t in
            targets.withUnsafeBufferPointer { y in
                weights.withUnsafeBufferPointer { w in
                    lossAndGradients(tokens: t, targets: y, weights: w, workspace: workspace, normalizer: normalizer)
                }
            }
        }
    }

    /// The backward pass from `workspace.dLogits`, the forward in reverse; accumulates into
    /// `parameters.gradients`. Reads what the last `forward` on these tokens left in the workspace,
    /// and consumes part of it (the FFN pre-activations become GELU'(u)): one backward per forward.
    ///
    /// Runs as a team like the forward: each member takes its share of the rows (and of the
    /// attention slices), and sums its rows' part of every weight gradient into a buffer of its
    /// own; the members' buffers are added into member 0's at the end, in member order (so the
    /// result is fixed for a given team size).
    func backward(tokens: UnsafeBufferPointer<TokenID>, workspace ws: Workspace) {
        let team = Team(size: ws.teamSize, rows: ws.rows, minimum: ws.teamMinimumRows)
        let teamGradients = team.count > 1 ? ws.teamGradientBuffers(parameters: parameters.count) : []
        team.run { member in
            let gradients = member.index == 0 ? gradientBase(for: ws) : teamGradients[member.index - 1].data
            if member.index > 0 { gradients.update(repeating: 0, count: parameters.count) }
            backward(member, tokens: tokens, workspace: ws, gradients: gradients)
            guard member.count > 1 else { return }
            member.barrier()
            let share = member.share(parameters.count)
            for buffer in teamGradients {
                Elementwise.add(buffer.data + share.lowerBound, to: gradientBase(for: ws) + share.lowerBound,
                                count: share.count)
            }
        }
    }

    /// One team member's part of `backward`, accumulating into `gradients`.
    private func backward(
        _ member: Team.Member, tokens: UnsafeBufferPointer<TokenID>, workspace ws: Workspace,
        gradients: UnsafeMutablePointer<Float>
    ) {
        let c = configuration
        func gradient(_ offset: Int) -> UnsafeMutablePointer<Float> { gradients + offset }
        let n = ws.rows, d = c.dim, f = c.ffnDim, v = c.vocabSize
        let last = 2 * c.layers
        // Rows of the last block's output side: the selected ones (compacted) or all.
        let selected = ws.rowsSelected
        let lastRows = selected ? ws.selectedRows.count : n
        let mine = member.share(n)
        let outputSide = member.share(lastRows)

        // logits = x_f·Eᵀ + b_lm: dE += dlogitsᵀ·x_f, db_lm += Σ dlogits, dx_f = dlogits·E
        // (`normalized` still holds x_f from the forward)
        do {
            let r0 = outputSide.lowerBound, r = outputSide.count
            let dLogits = ws.dLogits.data + r0 * v
            BLAS.sgemm(transA: true, m: v, n: d, k: r, a: dLogits, lda: v, b: ws.normalized.data + r0 * d,
                       ldb: d, beta: 1, c: gradient(offsets.embedding), ldc: d)
            Linear.columnSums(dLogits, rows: r, columns: v, into: gradient(offsets.lmHeadBias))
            BLAS.sgemm(m: r, n: d, k: v, a: dLogits, lda: v, b: value(offsets.embedding), ldb: d,
                       c: ws.dNormalized.data + r0 * d, ldc: d)
            // x_f = LN_final(x_n): dx_n = LN backward                      [N, D]
            (ws.dResidual.data + r0 * d).update(repeating: 0, count: r * d)
            LayerNorm.backward(
                dInput: ws.dResidual.data + r0 * d, dWeight: gradient(offsets.finalNormWeight),
                dBias: gradient(offsets.finalNormBias), dOut: ws.dNormalized.data + r0 * d,
                input: ws.residual.data + last * n * d + r0 * d, mean: ws.normMean.data + last * n + r0,
                rstd: ws.normRstd.data + last * n + r0, weight: value(offsets.finalNormWeight), rows: r, dim: d)
        }

        for layer in (0..<c.layers).reversed() {
            let o = offsets.blocks[layer]
            let x = ws.residual.data + 2 * layer * n * d
            let xMid = x + n * d
            let statsAttn = 2 * layer * n, statsFFN = (2 * layer + 1) * n
            let dResidual = ws.dResidual.data  // holds d(x_out) on entry
            let compact = selected && layer == c.layers - 1
            let own = compact ? outputSide : mine  // this member's rows of the block's output side
            let r0 = own.lowerBound, r = own.count

            // --- x_out = x_mid + GELU(u)·W2 + b2, u = LN_ffn(x_mid)·W1 + b1
            let u = ws.ffnInput.data + layer * n * f + r0 * f
            let hidden = ws.hidden.data + r0 * f, normalized = ws.normalized.data + r0 * d
            let dOut = dResidual + r0 * d
            LayerNorm.normalize(
                out: normalized, mean: ws.normMean.data + statsFFN + r0, rstd: ws.normRstd.data + statsFFN + r0,
                input: xMid + r0 * d, weight: value(o.ffnNormWeight), bias: value(o.ffnNormBias), rows: r, dim: d)
            // hidden ← GELU(u) again; u ← GELU'(u) in place (u is not read after this layer's
            // backward, and one erf per element serves both)
            GELU.forwardAndDerivative(out: hidden, derivative: u, input: u, count: r * f)
            // dW2 += GELU(u)ᵀ·dx_out, db2 += Σ dx_out; then hidden ← dGELU = dx_out·W2ᵀ     [N, F]
            Linear.backwardWeight(dWeight: gradient(o.w2), dBias: gradient(o.b2), dOut: dOut,
                                  input: hidden, rows: r, inputs: f, outputs: d)
            Linear.backwardInput(dInput: hidden, dOut: dOut, weight: value(o.w2),
                                 rows: r, inputs: f, outputs: d, accumulate: false)
            // hidden ← du = dGELU ⊙ GELU'(u)
            GELU.backward(gradient: hidden, derivative: u, count: r * f)
            // dW1 += hᵀ·du, db1 += Σ du, dh = du·W1ᵀ                         [N, D]
            Linear.backwardWeight(dWeight: gradient(o.w1), dBias: gradient(o.b1), dOut: hidden,
                                  input: normalized, rows: r, inputs: d, outputs: f)
            Linear.backwardInput(dInput: ws.dNormalized.data + r0 * d, dOut: hidden, weight: value(o.w1),
                                 rows: r, inputs: d, outputs: f, accumulate: false)
            // dx_mid = dx_out + LN_ffn backward
            LayerNorm.backward(
                dInput: dOut, dWeight: gradient(o.ffnNormWeight), dBias: gradient(o.ffnNormBias),
                dOut: ws.dNormalized.data + r0 * d, input: xMid + r0 * d, mean: ws.normMean.data + statsFFN + r0,
                rstd: ws.normRstd.data + statsFFN + r0, weight: value(o.ffnNormWeight), rows: r, dim: d)

            // --- x_mid = x + merge(a)·Wo + bo
            HeadLayout.merge(out: ws.projection.data, input: ws.attention[layer].data, rows: own, length: ws.length,
                             heads: c.heads, headDim: c.headDim, inverseRotary: nil,
                             sourceRows: compact ? ws.selectedRows : nil)
            Linear.backwardWeight(dWeight: gradient(o.wo), dBias: gradient(o.bo), dOut: dOut,
                                  input: ws.projection.data + r0 * d, rows: r, inputs: d, outputs: d)
            Linear.backwardInput(dInput: ws.dProjection.data + r0 * d, dOut: dOut, weight: value(o.wo),
                                 rows: r, inputs: d, outputs: d, accumulate: false)
            if compact {
                // Back to all N rows: the unselected rows' x_mid fed nothing, so their gradient
                // there is 0; dx (through the residual) and da are scattered alike (in place, so
                // by one member).
                member.barrier()
                if member.index == 0 {
                    PerformerLM.scatterRows(ws.dProjection.data, rows: ws.selectedRows, count: n, width: d)
                    PerformerLM.scatterRows(dResidual, rows: ws.selectedRows, count: n, width: d)
                }
                member.barrier()
            }
            HeadLayout.split(out: ws.dAttention.data, input: ws.dProjection.data, rows: mine, length: ws.length,
                             heads: c.heads, headDim: c.headDim, rotary: nil)
            // a = Attention(q, k, v): dq, dk, dv                             [B, H, L, dh]
            for tensor in [ws.dQuery, ws.dKey, ws.dValue] {
                HeadLayout.zero(tensor.data, rows: mine, length: ws.length, heads: c.heads, headDim: c.headDim)
            }
            member.barrier()
            kernels[layer].backward(
                dQuery: ws.dQuery, dKey: ws.dKey, dValue: ws.dValue, dOut: ws.dAttention, out: ws.attention[layer],
                query: ws.query[layer], key: ws.key[layer], value: ws.value[layer], saved: ws.saved[layer],
                parallelism: nil, member: member)
            member.barrier()
            // q, k, v = RoPE(h·W + b): dW += hᵀ·dproj, db += Σ dproj, dh = Σ dproj·Wᵀ
            let lo = mine.lowerBound, count = mine.count
            LayerNorm.normalize(
                out: ws.normalized.data + lo * d, mean: ws.normMean.data + statsAttn + lo,
                rstd: ws.normRstd.data + statsAttn + lo, input: x + lo * d, weight: value(o.attnNormWeight),
                bias: value(o.attnNormBias), rows: count, dim: d)
            projectBackward(ws, rows: mine, gradients: gradients, dHead: ws.dQuery, weight: o.wq, bias: o.bq,
                            rotated: true, accumulate: false)
            projectBackward(ws, rows: mine, gradients: gradients, dHead: ws.dKey, weight: o.wk, bias: o.bk,
                            rotated: true, accumulate: true)
            projectBackward(ws, rows: mine, gradients: gradients, dHead: ws.dValue, weight: o.wv, bias: o.bv,
                            rotated: false, accumulate: true)
            // dx = dx_mid + LN_attn backward
            LayerNorm.backward(
                dInput: dResidual + lo * d, dWeight: gradient(o.attnNormWeight), dBias: gradient(o.attnNormBias),
                dOut: ws.dNormalized.data + lo * d, input: x + lo * d, mean: ws.normMean.data + statsAttn + lo,
                rstd: ws.normRstd.data + statsAttn + lo, weight: value(o.attnNormWeight), rows: count, dim: d)
        }
        // x₀ = E[tokens]: dE[tokens[r]] += dx₀[r]
        Embedding.backward(dWeight: gradient(offsets.embedding), dOut: ws.dResidual.data + mine.lowerBound * d,
                           tokens: UnsafeBufferPointer(rebasing: tokens[mine]), vocab: v, dim: d)
    }

    /// Backward of one `project` for the token-major rows in `rows`: dproj = merge(dHead)
    /// (rotated back when the forward rotated), dW += hᵀ·dproj, db += Σ dproj,
    /// dNormalized (+)= dproj·Wᵀ (`normalized` holds h).
    private func projectBackward(
        _ ws: Workspace, rows: Range<Int>, gradients: UnsafeMutablePointer<Float>, dHead: Tensor, weight: Int,
        bias: Int, rotated: Bool, accumulate: Bool
    ) {
        let c = configuration
        let lo = rows.lowerBound, d = c.dim
        HeadLayout.merge(out: ws.dProjection.data, input: dHead.data, rows: rows, length: ws.length,
                         heads: c.heads, headDim: c.headDim, inverseRotary: rotated ? ws.rotary : nil)
        Linear.backwardWeight(dWeight: gradients + weight, dBias: gradients + bias, dOut: ws.dProjection.data + lo * d,
                              input: ws.normalized.data + lo * d, rows: rows.count, inputs: d, outputs: d)
        Linear.backwardInput(dInput: ws.dNormalized.data + lo * d, dOut: ws.dProjection.data + lo * d,
                             weight: value(weight), rows: rows.count, inputs: d, outputs: d, accumulate: accumulate)
    }
}
