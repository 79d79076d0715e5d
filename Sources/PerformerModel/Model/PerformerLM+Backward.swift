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
    func backward(tokens: UnsafeBufferPointer<TokenID>, workspace ws: Workspace) {
        let c = configuration
        let elementwise = elementwise(for: ws)
        let gradients = gradientBase(for: ws)
        func gradient(_ offset: Int) -> UnsafeMutablePointer<Float> { gradients + offset }
        let n = ws.rows, d = c.dim, f = c.ffnDim, v = c.vocabSize
        let heads = c.heads, headDim = c.headDim, batch = ws.batch, length = ws.length
        let last = 2 * c.layers
        // Rows of the last block's output side: the selected ones (compacted) or all.
        let selected = ws.rowsSelected
        let lastRows = selected ? ws.selectedRows.count : n

        // logits = x_f·Eᵀ + b_lm: dE += dlogitsᵀ·x_f, db_lm += Σ dlogits, dx_f = dlogits·E
        // (`normalized` still holds x_f from the forward)
        elementwise.sgemm(transA: true, m: v, n: d, k: lastRows, a: ws.dLogits.data, lda: v, b: ws.normalized.data,
                          ldb: d, beta: 1, c: gradient(offsets.embedding), ldc: d)
        Linear.columnSums(ws.dLogits.data, rows: lastRows, columns: v, into: gradient(offsets.lmHeadBias),
                          parallelism: elementwise)
        elementwise.sgemm(m: lastRows, n: d, k: v, a: ws.dLogits.data, lda: v, b: value(offsets.embedding), ldb: d,
                          c: ws.dNormalized.data, ldc: d)
        // x_f = LN_final(x_n): dx_n = LN backward                          [N, D]
        ws.dResidual.zero()
        LayerNorm.backward(
            dInput: ws.dResidual.data, dWeight: gradient(offsets.finalNormWeight), dBias: gradient(offsets.finalNormBias),
            dOut: ws.dNormalized.data, input: ws.residual.data + last * n * d,
            mean: ws.normMean.data + last * n, rstd: ws.normRstd.data + last * n,
            weight: value(offsets.finalNormWeight), rows: lastRows, dim: d, parallelism: elementwise)

        for layer in (0..<c.layers).reversed() {
            let o = offsets.blocks[layer]
            let x = ws.residual.data + 2 * layer * n * d
            let xMid = x + n * d
            let statsAttn = 2 * layer * n, statsFFN = (2 * layer + 1) * n
            let dResidual = ws.dResidual.data  // holds d(x_out) on entry
            let compact = selected && layer == c.layers - 1
            let r = compact ? lastRows : n  // rows of this block's output side

            // --- x_out = x_mid + GELU(u)·W2 + b2, u = LN_ffn(x_mid)·W1 + b1
            let u = ws.ffnInput.data + layer * n * f
            LayerNorm.normalize(
                out: ws.normalized.data, mean: ws.normMean.data + statsFFN, rstd: ws.normRstd.data + statsFFN,
                input: xMid, weight: value(o.ffnNormWeight), bias: value(o.ffnNormBias),
                rows: r, dim: d, parallelism: elementwise)
            // hidden ← GELU(u) again; u ← GELU'(u) in place (u is not read after this layer's
            // backward, and one erf per element serves both)
            GELU.forwardAndDerivative(out: ws.hidden.data, derivative: u, input: u, count: r * f, parallelism: elementwise)
            // dW2 += GELU(u)ᵀ·dx_out, db2 += Σ dx_out; then hidden ← dGELU = dx_out·W2ᵀ     [N, F]
            Linear.backwardWeight(dWeight: gradient(o.w2), dBias: gradient(o.b2), dOut: dResidual,
                                  input: ws.hidden.data, rows: r, inputs: f, outputs: d, parallelism: elementwise)
            Linear.backwardInput(dInput: ws.hidden.data, dOut: dResidual, weight: value(o.w2),
                                 rows: r, inputs: f, outputs: d, accumulate: false, parallelism: elementwise)
            // hidden ← du = dGELU ⊙ GELU'(u)
            GELU.backward(gradient: ws.hidden.data, derivative: u, count: r * f, parallelism: elementwise)
            // dW1 += hᵀ·du, db1 += Σ du, dh = du·W1ᵀ                         [N, D]
            Linear.backwardWeight(dWeight: gradient(o.w1), dBias: gradient(o.b1), dOut: ws.hidden.data,
                                  input: ws.normalized.data, rows: r, inputs: d, outputs: f, parallelism: elementwise)
            Linear.backwardInput(dInput: ws.dNormalized.data, dOut: ws.hidden.data, weight: value(o.w1),
                                 rows: r, inputs: d, outputs: f, accumulate: false, parallelism: elementwise)
            // dx_mid = dx_out + LN_ffn backward
            LayerNorm.backward(
                dInput: dResidual, dWeight: gradient(o.ffnNormWeight), dBias: gradient(o.ffnNormBias),
                dOut: ws.dNormalized.data, input: xMid, mean: ws.normMean.data + statsFFN,
                rstd: ws.normRstd.data + statsFFN, weight: value(o.ffnNormWeight), rows: r, dim: d,
                parallelism: elementwise)

            // --- x_mid = x + merge(a)·Wo + bo
            HeadLayout.merge(out: ws.projection.data, input: ws.attention[layer].data, batch: batch, length: length,
                             heads: heads, headDim: headDim, inverseRotary: nil, parallelism: elementwise)
            if compact { PerformerLM.gatherRows(ws.projection.data, rows: ws.selectedRows, width: d) }
            Linear.backwardWeight(dWeight: gradient(o.wo), dBias: gradient(o.bo), dOut: dResidual,
                                  input: ws.projection.data, rows: r, inputs: d, outputs: d, parallelism: elementwise)
            Linear.backwardInput(dInput: ws.dProjection.data, dOut: dResidual, weight: value(o.wo),
                                 rows: r, inputs: d, outputs: d, accumulate: false, parallelism: elementwise)
            if compact {
                // Back to all N rows: the unselected rows' x_mid fed nothing, so their gradient
                // there is 0; dx (through the residual) and da are scattered alike.
                PerformerLM.scatterRows(ws.dProjection.data, rows: ws.selectedRows, count: n, width: d)
                PerformerLM.scatterRows(dResidual, rows: ws.selectedRows, count: n, width: d)
            }
            HeadLayout.split(out: ws.dAttention.data, input: ws.dProjection.data, batch: batch, length: length,
                             heads: heads, headDim: headDim, rotary: nil, parallelism: elementwise)
            // a = Attention(q, k, v): dq, dk, dv                             [B, H, L, dh]
            ws.dQuery.zero()
            ws.dKey.zero()
            ws.dValue.zero()
            kernels[layer].backward(
                dQuery: ws.dQuery, dKey: ws.dKey, dValue: ws.dValue, dOut: ws.dAttention, out: ws.attention[layer],
                query: ws.query[layer], key: ws.key[layer], value: ws.value[layer], saved: ws.saved[layer],
                parallelism: ws.isWorker ? .serial : nil)
            // q, k, v = RoPE(h·W + b): dW += hᵀ·dproj, db += Σ dproj, dh = Σ dproj·Wᵀ
            LayerNorm.normalize(
                out: ws.normalized.data, mean: ws.normMean.data + statsAttn, rstd: ws.normRstd.data + statsAttn,
                input: x, weight: value(o.attnNormWeight), bias: value(o.attnNormBias),
                rows: n, dim: d, parallelism: elementwise)
            projectBackward(ws, dHead: ws.dQuery, weight: o.wq, bias: o.bq, rotated: true, accumulate: false)
            projectBackward(ws, dHead: ws.dKey, weight: o.wk, bias: o.bk, rotated: true, accumulate: true)
            projectBackward(ws, dHead: ws.dValue, weight: o.wv, bias: o.bv, rotated: false, accumulate: true)
            // dx = dx_mid + LN_attn backward
            LayerNorm.backward(
                dInput: dResidual, dWeight: gradient(o.attnNormWeight), dBias: gradient(o.attnNormBias),
                dOut: ws.dNormalized.data, input: x, mean: ws.normMean.data + statsAttn,
                rstd: ws.normRstd.data + statsAttn, weight: value(o.attnNormWeight), rows: n, dim: d,
                parallelism: elementwise)
        }
        // x₀ = E[tokens]: dE[tokens[r]] += dx₀[r]
        Embedding.backward(dWeight: gradient(offsets.embedding), dOut: ws.dResidual.data, tokens: tokens, vocab: v, dim: d)
    }

    /// Backward of one `project`: dproj = merge(dHead) (rotated back when the forward rotated),
    /// dW += hᵀ·dproj, db += Σ dproj, dNormalized (+)= dproj·Wᵀ (`normalized` holds h).
    private func projectBackward(
        _ ws: Workspace, dHead: Tensor, weight: Int, bias: Int, rotated: Bool, accumulate: Bool
    ) {
        let c = configuration
        let elementwise = elementwise(for: ws)
        let gradients = gradientBase(for: ws)
        func gradient(_ offset: Int) -> UnsafeMutablePointer<Float> { gradients + offset }
        HeadLayout.merge(out: ws.dProjection.data, input: dHead.data, batch: ws.batch, length: ws.length,
                         heads: c.heads, headDim: c.headDim, inverseRotary: rotated ? ws.rotary : nil,
                         parallelism: elementwise)
        Linear.backwardWeight(dWeight: gradient(weight), dBias: gradient(bias), dOut: ws.dProjection.data,
                              input: ws.normalized.data, rows: ws.rows, inputs: c.dim, outputs: c.dim,
                              parallelism: elementwise)
        Linear.backwardInput(dInput: ws.dNormalized.data, dOut: ws.dProjection.data, weight: value(weight),
                             rows: ws.rows, inputs: c.dim, outputs: c.dim, accumulate: accumulate,
                             parallelism: elementwise)
    }
}
