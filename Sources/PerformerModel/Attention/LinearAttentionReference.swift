#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// Naive Double-precision reference for the linear-attention contractions: it materialises the
/// L×L matrix of kernel values explicitly, with the true (unstabilised) key features,
///
///     k'_j = k̃'_j · exp(s_j),   A_ij = q'_i·k'_j   (A_ij = 0 for j > i when causal),
///     out_i = Σ_j A_ij v_j / Σ_j A_ij,
///
/// so it checks both `BidirectionalLinearAttention` and the causal contraction, including their
/// stabiliser rescaling. Shapes: queryFeatures, keyFeatures [length, features], keyLogScale
/// [length] or nil, values [length, headDim]; result [length, headDim]. Keep s moderate (|s| <
/// 700) so exp(s) stays finite in Double.
public enum LinearAttentionReference {
    public static func forward(
        queryFeatures: [Double], keyFeatures: [Double], keyLogScale: [Double]?, values: [Double],
        length: Int, features: Int, headDim: Int, causal: Bool
    ) -> [Double] {
        let l = length, m = features, d = headDim
        precondition(queryFeatures.count == l * m && keyFeatures.count == l * m && values.count == l * d)
        var out = [Double](repeating: 0, count: l * d)
        for i in 0..<l {
            var denominator = 0.0
            var numerator = [Double](repeating: 0, count: d)
            for j in 0..<(causal ? i + 1 : l) {
                var a = 0.0
                for r in 0..<m { a += queryFeatures[i * m + r] * keyFeatures[j * m + r] }
                a *= exp(keyLogScale?[j] ?? 0)
                denominator += a
                for c in 0..<d { numerator[c] += a * values[j * d + c] }
            }
            for c in 0..<d { out[i * d + c] = numerator[c] / denominator }
        }
        return out
    }
}
