#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

extension CausalLinearAttention {
    /// Naive O(L²) twin of `forward`, in `Double`, for validation: materialises the masked weights
    ///
    ///     A_ij = (q′_i·k̃′_j)·e^{s_j − M_i}  for j ≤ i,  0 otherwise,   M_i = max_{j≤i} s_j,
    ///
    /// (row `i` of `q′_i·k′_j` times the constant `e^{−M_i}`, which cancels) and returns
    /// `out_i = Σ_j A_ij v_j / D̂_i` `[L, d]` and `normalizer_i = D̂_i = Σ_j A_ij` `[L]` — the same
    /// quantities `forward` writes. Arrays are row-major with the shapes of `forward`.
    public static func forwardReference(
        queryFeatures: [Double], keyFeatures: [Double], keyLogScale: [Double]?, values: [Double],
        length l: Int, features m: Int, headDim d: Int
    ) -> (out: [Double], normalizer: [Double]) {
        checkReferenceShapes(queryFeatures, keyFeatures, keyLogScale, values, l, m, d)
        let a = referenceWeights(queryFeatures, keyFeatures, keyLogScale, l, m)
        var out = [Double](repeating: 0, count: l * d)
        var normalizer = [Double](repeating: 0, count: l)
        for i in 0..<l {
            var denominator = 0.0
            for j in 0...i {
                let w = a[i * l + j]
                denominator += w
                for t in 0..<d { out[i * d + t] += w * values[j * d + t] }
            }
            normalizer[i] = denominator
            for t in 0..<d { out[i * d + t] /= denominator }
        }
        return (out, normalizer)
    }

    /// Naive O(L²) twin of `backward`, in `Double`: gradients of `loss` given `dOut = ∂loss/∂out`,
    /// with `keyLogScale` held constant, derived directly from the materialised weights (not from
    /// the augmented-value form the fast kernel uses):
    ///
    ///     out_i = Σ_j A_ij v_j / D̂_i   ⇒   ∂A_ij = g_i·(v_j − out_i) / D̂_i,
    ///     ∂v_j = Σ_{i≥j} A_ij g_i / D̂_i,
    ///     ∂q′_i = Σ_{j≤i} ∂A_ij e^{s_j−M_i} k̃′_j,   ∂k̃′_j = Σ_{i≥j} ∂A_ij e^{s_j−M_i} q′_i.
    ///
    /// Returns fresh arrays `[L, m]`, `[L, m]`, `[L, d]` (not accumulated).
    public static func backwardReference(
        dOut: [Double],
        queryFeatures: [Double], keyFeatures: [Double], keyLogScale: [Double]?, values: [Double],
        length l: Int, features m: Int, headDim d: Int
    ) -> (dQueryFeatures: [Double], dKeyFeatures: [Double], dValues: [Double]) {
        checkReferenceShapes(queryFeatures, keyFeatures, keyLogScale, values, l, m, d)
        precondition(dOut.count == l * d, "dOut must be [L, d]")
        let (out, normalizer) = forwardReference(
            queryFeatures: queryFeatures, keyFeatures: keyFeatures, keyLogScale: keyLogScale,
            values: values, length: l, features: m, headDim: d)
        let a = referenceWeights(queryFeatures, keyFeatures, keyLogScale, l, m)
        let maxima = runningMaxima(keyLogScale, l)
        var dq = [Double](repeating: 0, count: l * m)
        var dk = [Double](repeating: 0, count: l * m)
        var dv = [Double](repeating: 0, count: l * d)
        for i in 0..<l {
            for j in 0...i {
                var gv = 0.0
                for t in 0..<d { gv += dOut[i * d + t] * (values[j * d + t] - out[i * d + t]) }
                let dA = gv / normalizer[i]
                let w = exp((keyLogScale?[j] ?? 0) - maxima[i])
                for f in 0..<m {
                    dq[i * m + f] += dA * w * keyFeatures[j * m + f]
                    dk[j * m + f] += dA * w * queryFeatures[i * m + f]
                }
                let share = a[i * l + j] / normalizer[i]
                for t in 0..<d { dv[j * d + t] += share * dOut[i * d + t] }
            }
        }
        return (dq, dk, dv)
    }

    private static func checkReferenceShapes(
        _ q: [Double], _ k: [Double], _ s: [Double]?, _ v: [Double], _ l: Int, _ m: Int, _ d: Int
    ) {
        precondition(q.count == l * m && k.count == l * m && v.count == l * d && (s?.count ?? l) == l,
                     "causal attention reference: shapes do not match L, m, d")
    }

    /// `M_i = max_{j≤i} s_j` (all 0 without log-scales).
    private static func runningMaxima(_ s: [Double]?, _ l: Int) -> [Double] {
        guard let s else { return [Double](repeating: 0, count: l) }
        var maxima = [Double](repeating: 0, count: l)
        var running = -Double.infinity
        for i in 0..<l {
            running = max(running, s[i])
            maxima[i] = running
        }
        return maxima
    }

    /// The masked `[L, L]` weights `A_ij = (q′_i·k̃′_j) e^{s_j − M_i}` for `j ≤ i`, else 0.
    private static func referenceWeights(
        _ q: [Double], _ k: [Double], _ s: [Double]?, _ l: Int, _ m: Int
    ) -> [Double] {
        let maxima = runningMaxima(s, l)
        var a = [Double](repeating: 0, count: l * l)
        for i in 0..<l {
            for j in 0...i {
                var dot = 0.0
                for f in 0..<m { dot += q[i * m + f] * k[j * m + f] }
                a[i * l + j] = dot * exp((s?[j] ?? 0) - maxima[i])
            }
        }
        return a
    }
}
