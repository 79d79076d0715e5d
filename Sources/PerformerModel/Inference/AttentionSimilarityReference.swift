#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import ProteinIO

/// Naive Double-precision twin of `AttentionSimilarity`'s per-slice kernels: it materialises the
/// L×L attention matrix explicitly and sums it by token type. The tests hold the linear-time
/// kernels against it.
///
/// FAVOR: from the same features, with the true key features k′_j = k̃′_j·e^{s_j} (computed as
/// e^{s_j − max s}, a common factor that cancels) and the normaliser recomputed here,
///
///     A_ij = q′_i·k′_j / D_i,   D_i = Σ_{j (≤ i)} q′_i·k′_j.
///
/// Exact: A = softmax(QKᵀ/√d) row by row (causal mask when asked).
/// Result: mass [types, types] with mass[x_i, x_j] = Σ A_ij.
public enum AttentionSimilarityReference {
    /// The L×L FAVOR attention matrix [length, length] (zeros above the diagonal when causal).
    public static func favorAttention(
        queryFeatures: [Double], keyFeatures: [Double], keyLogScale: [Double]?,
        length l: Int, features m: Int, causal: Bool
    ) -> [Double] {
        precondition(queryFeatures.count == l * m && keyFeatures.count == l * m)
        let top = keyLogScale?.max() ?? 0
        var a = [Double](repeating: 0, count: l * l)
        for i in 0..<l {
            var total = 0.0
            for j in 0..<(causal ? i + 1 : l) {
                var dot = 0.0
                for r in 0..<m { dot += queryFeatures[i * m + r] * keyFeatures[j * m + r] }
                let value = dot * exp((keyLogScale?[j] ?? 0) - top)
                a[i * l + j] = value
                total += value
            }
            for j in 0..<l { a[i * l + j] /= total }
        }
        return a
    }

    /// The L×L softmax attention matrix softmax(QKᵀ/√d) [length, length].
    public static func exactAttention(query: [Double], key: [Double], length l: Int, headDim d: Int, causal: Bool) -> [Double] {
        precondition(query.count == l * d && key.count == l * d)
        var a = [Double](repeating: 0, count: l * l)
        for i in 0..<l {
            let valid = causal ? i + 1 : l
            var scores = [Double](repeating: 0, count: valid)
            for j in 0..<valid {
                var dot = 0.0
                for c in 0..<d { dot += query[i * d + c] * key[j * d + c] }
                scores[j] = dot / Double(d).squareRoot()
            }
            let top = scores.max() ?? 0
            let total = scores.reduce(0) { $0 + exp($1 - top) }
            for j in 0..<valid { a[i * l + j] = exp(scores[j] - top) / total }
        }
        return a
    }

    /// mass [types, types]: mass[x_i, x_j] += A_ij over the whole matrix.
    public static func typeMass(attention a: [Double], tokens: [TokenID], types t: Int) -> [Double] {
        let l = tokens.count
        precondition(a.count == l * l)
        var mass = [Double](repeating: 0, count: t * t)
        for i in 0..<l {
            for j in 0..<l { mass[Int(tokens[i]) * t + Int(tokens[j])] += a[i * l + j] }
        }
        return mass
    }
}
