#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// Naive Double-precision twin of `ExactAttention.forward`: the full L×L score matrix, a
/// max-shifted softmax per row (masked to j ≤ i when causal), then P V. Shapes: query, key,
/// value [length, headDim]; result [length, headDim].
public enum ExactAttentionReference {
    public static func forward(
        query: [Double], key: [Double], value: [Double], length: Int, headDim: Int, causal: Bool
    ) -> [Double] {
        let l = length, d = headDim
        precondition(query.count == l * d && key.count == l * d && value.count == l * d)
        var out = [Double](repeating: 0, count: l * d)
        var scores = [Double](repeating: 0, count: l)
        for i in 0..<l {
            let valid = causal ? i + 1 : l
            var rowMax = -Double.infinity
            for j in 0..<valid {
                var s = 0.0
                for c in 0..<d { s += query[i * d + c] * key[j * d + c] }
                scores[j] = s / Double(d).squareRoot()
                rowMax = Swift.max(rowMax, scores[j])
            }
            var total = 0.0
            for j in 0..<valid {
                scores[j] = exp(scores[j] - rowMax)
                total += scores[j]
            }
            for j in 0..<valid {
                for c in 0..<d { out[i * d + c] += scores[j] / total * value[j * d + c] }
            }
        }
        return out
    }
}
