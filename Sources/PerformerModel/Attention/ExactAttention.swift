#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// Exact softmax attention for one (batch, head) slice, the O(L²) baseline:
///
///     P = softmax(Q Kᵀ/√d)  (row-wise; with the causal mask P_ij = 0 for j > i),   out = P V.
///
/// Queries are processed in blocks of `rowBlock` rows, so the L×L matrix never exists at once:
/// a block's scores [R, L] are formed by one GEMM, turned into probabilities in place, and
/// multiplied by V. Only the row log-sum-exp ℓ_i = log Σ_j exp(q_i·k_j/√d) [L] is saved; backward
/// recomputes each block of P from it (flash-attention style), trading one more GEMM for not
/// storing B·H·L² floats (4 GiB per head at L = 32768). With the causal mask a block only looks at
/// keys 0..<blockEnd, halving the work.
///
/// Short names: L = length, d = headDim, R = rows in a block. Workspace 2·R·L floats.
public enum ExactAttention {
    /// Rows per query block.
    public static let rowBlock = 128

    /// Floats of scratch `forward` and `backward` need.
    public static func workspaceCount(length: Int) -> Int {
        2 * Swift.min(rowBlock, length) * length
    }

    /// out = softmax(QKᵀ/√d [masked]) V, logSumExp_i = log Σ_{j (≤ i)} exp(q_i·k_j/√d).
    ///
    /// - Parameters:
    ///   - out: [length, headDim], written.
    ///   - logSumExp: ℓ [length], written (saved for backward).
    ///   - query, key, value: [length, headDim].
    ///   - workspace: `workspaceCount(length:)` floats, or nil to allocate for this call.
    ///   - keys: bidirectional only: how many leading positions are keys (default all `length`);
    ///     every query's softmax runs over j < keys, so a row padded at its end attends to its real
    ///     tokens alone. Every query still gets an output.
    /// - Complexity: 4·L²·d flops (half with the causal mask).
    public static func forward(
        out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>,
        query: UnsafePointer<Float>, key: UnsafePointer<Float>, value: UnsafePointer<Float>,
        length: Int, headDim: Int, causal: Bool,
        workspace: UnsafeMutablePointer<Float>? = nil, keys: Int? = nil
    ) {
        let l = length, d = headDim
        let n = keys ?? l
        precondition(n >= 1 && n <= l && (!causal || n == l), "keys \(n) outside 1...\(l) (or given with the causal mask)")
        let scale = 1 / Float(d).squareRoot()
        withWorkspace(workspace, count: workspaceCount(length: l)) { probabilities in
            var start = 0
            while start < l {
                let end = Swift.min(start + rowBlock, l)
                let rows = end - start
                let columns = causal ? end : n
                // Scores [rows, columns] = Q_block Kᵀ / √d.
                BLAS.sgemm(transB: true, m: rows, n: columns, k: d, alpha: scale,
                           a: query + start * d, lda: d, b: key, ldb: d, c: probabilities, ldc: columns)
                for r in 0..<rows {
                    let row = probabilities + r * columns
                    let valid = causal ? start + r + 1 : columns
                    let rowMax = Elementwise.max(row, count: valid)
                    Elementwise.exp(row, into: row, count: valid, shift: rowMax)
                    let total = Elementwise.sum(row, count: valid)
                    Elementwise.scale(row, by: 1 / total, into: row, count: valid)
                    if valid < columns { (row + valid).update(repeating: 0, count: columns - valid) }
                    logSumExp[start + r] = rowMax + log(total)
                }
                // out_block = P V
                BLAS.sgemm(m: rows, n: d, k: columns,
                           a: probabilities, lda: columns, b: value, ldb: d, c: out + start * d, ldc: d)
                start = end
            }
        }
    }

    /// Gradients, accumulated (+=), per query block with P recomputed from ℓ:
    ///
    ///     dV += Pᵀ dOut,   dP = dOut Vᵀ,   dS = P ⊙ (dP − δ),  δ_i = dOut_i·out_i,
    ///     dQ += dS K / √d,   dK += dSᵀ Q / √d.
    ///
    /// - Parameters:
    ///   - dQuery, dKey, dValue: [length, headDim], accumulated.
    ///   - dOut: [length, headDim].
    ///   - out, logSumExp: what `forward` wrote.
    ///   - query, key, value: the forward's inputs.
    /// - Complexity: 10·L²·d flops in five GEMMs (half with the causal mask).
    public static func backward(
        dQuery: UnsafeMutablePointer<Float>, dKey: UnsafeMutablePointer<Float>, dValue: UnsafeMutablePointer<Float>,
        dOut: UnsafePointer<Float>, out: UnsafePointer<Float>, logSumExp: UnsafePointer<Float>,
        query: UnsafePointer<Float>, key: UnsafePointer<Float>, value: UnsafePointer<Float>,
        length: Int, headDim: Int, causal: Bool,
        workspace: UnsafeMutablePointer<Float>? = nil
    ) {
        let l = length, d = headDim
        let scale = 1 / Float(d).squareRoot()
        withWorkspace(workspace, count: workspaceCount(length: l)) { ws in
            let probabilities = ws
            let dScores = ws + Swift.min(rowBlock, l) * l
            var start = 0
            while start < l {
                let end = Swift.min(start + rowBlock, l)
                let rows = end - start
                let columns = causal ? end : l
                BLAS.sgemm(transB: true, m: rows, n: columns, k: d, alpha: scale,
                           a: query + start * d, lda: d, b: key, ldb: d, c: probabilities, ldc: columns)
                for r in 0..<rows {
                    let row = probabilities + r * columns
                    let valid = causal ? start + r + 1 : columns
                    Elementwise.exp(row, into: row, count: valid, shift: logSumExp[start + r])
                    if valid < columns { (row + valid).update(repeating: 0, count: columns - valid) }
                }
                // dV[0..<columns] += Pᵀ dOut_block
                BLAS.sgemm(transA: true, m: columns, n: d, k: rows,
                           a: probabilities, lda: columns, b: dOut + start * d, ldb: d,
                           beta: 1, c: dValue, ldc: d)
                // dP = dOut_block Vᵀ  [rows, columns]
                BLAS.sgemm(transB: true, m: rows, n: columns, k: d,
                           a: dOut + start * d, lda: d, b: value, ldb: d, c: dScores, ldc: columns)
                for r in 0..<rows {
                    let i = start + r
                    let delta = Elementwise.dot(dOut + i * d, out + i * d, count: d)
                    let p = probabilities + r * columns, g = dScores + r * columns
                    let valid = causal ? i + 1 : columns
                    for j in 0..<valid { g[j] = p[j] * (g[j] - delta) }
                    if valid < columns { (g + valid).update(repeating: 0, count: columns - valid) }
                }
                // dQ_block += dS K / √d;  dK[0..<columns] += dSᵀ Q_block / √d
                BLAS.sgemm(m: rows, n: d, k: columns, alpha: scale,
                           a: dScores, lda: columns, b: key, ldb: d, beta: 1, c: dQuery + start * d, ldc: d)
                BLAS.sgemm(transA: true, m: columns, n: d, k: rows, alpha: scale,
                           a: dScores, lda: columns, b: query + start * d, ldb: d, beta: 1, c: dKey, ldc: d)
                start = end
            }
        }
    }
}
