#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// Causal linear attention for one (batch, head) slice, computed naively in O(L²·(m+d)) by
/// summing over j ≤ i directly (the masked L×L form, never materialised). It is the causal
/// contraction `AttentionKernel` calls until the chunked, GEMM-bound `CausalLinearAttention`
/// replaces it, and afterwards a reference for it. Same arguments and semantics:
///
///     M_i = max_{j≤i} s_j (running max; 0 when s is nil),   w_ij = (q'_i·k̃'_j) · exp(s_j − M_i),
///     D_i = Σ_{j≤i} w_ij,   out_i = Σ_{j≤i} w_ij v_j / D_i,
///
/// equal to Σ_{j≤i}(q'_i·k'_j)v_j / Σ_{j≤i} q'_i·k'_j with k'_j = k̃'_j e^{s_j}, because the
/// factor e^{−M_i} is shared by all terms of row i. Row i reads nothing after position i, so no
/// future key can change it, even in the last bit. D_i (frame e^{−M_i}) is saved for backward.
/// Sums are accumulated in Double.
///
/// Shapes: queryFeatures, keyFeatures [length, features]; keyLogScale [length] or nil; values,
/// out [length, headDim]; normalizer [length].
public enum MaskedLinearAttention {
    public static func forward(
        out: UnsafeMutablePointer<Float>, normalizer: UnsafeMutablePointer<Float>,
        queryFeatures: UnsafePointer<Float>, keyFeatures: UnsafePointer<Float>,
        keyLogScale: UnsafePointer<Float>?, values: UnsafePointer<Float>,
        length: Int, features: Int, headDim: Int
    ) {
        let l = length, m = features, d = headDim
        var numerator = [Double](repeating: 0, count: d)
        var runningMax = -Float.infinity
        for i in 0..<l {
            runningMax = Swift.max(runningMax, keyLogScale?[i] ?? 0)
            var denominator = 0.0
            for c in 0..<d { numerator[c] = 0 }
            for j in 0...i {
                let w = weight(i, j, queryFeatures, keyFeatures, keyLogScale, runningMax, m)
                denominator += w
                for c in 0..<d { numerator[c] += w * Double(values[j * d + c]) }
            }
            normalizer[i] = Float(denominator)
            for c in 0..<d { out[i * d + c] = Float(numerator[c] / denominator) }
        }
    }

    /// Gradients, accumulated (+=). With G = dOut and e_ij = exp(s_j − M_i):
    ///
    ///     ∂L/∂w_ij = G_i·(v_j − out_i) / D_i,
    ///     dq'_i += Σ_{j≤i} ∂L/∂w_ij · e_ij · k̃'_j,   dk̃'_j += Σ_{i≥j} ∂L/∂w_ij · e_ij · q'_i,
    ///     dv_j += Σ_{i≥j} (w_ij / D_i) · G_i.
    public static func backward(
        dQueryFeatures: UnsafeMutablePointer<Float>, dKeyFeatures: UnsafeMutablePointer<Float>,
        dValues: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
        out: UnsafePointer<Float>, normalizer: UnsafePointer<Float>,
        queryFeatures: UnsafePointer<Float>, keyFeatures: UnsafePointer<Float>,
        keyLogScale: UnsafePointer<Float>?, values: UnsafePointer<Float>,
        length: Int, features: Int, headDim: Int
    ) {
        let l = length, m = features, d = headDim
        var runningMax = -Float.infinity
        for i in 0..<l {
            runningMax = Swift.max(runningMax, keyLogScale?[i] ?? 0)
            let inverse = 1 / Double(normalizer[i])
            var gDotOut = 0.0
            for c in 0..<d { gDotOut += Double(dOut[i * d + c]) * Double(out[i * d + c]) }
            for j in 0...i {
                let scale = exp(Double((keyLogScale?[j] ?? 0) - runningMax))
                var gDotV = 0.0
                for c in 0..<d { gDotV += Double(dOut[i * d + c]) * Double(values[j * d + c]) }
                let dw = (gDotV - gDotOut) * inverse
                let w = weight(i, j, queryFeatures, keyFeatures, keyLogScale, runningMax, m)
                for c in 0..<d { dValues[j * d + c] += Float(w * inverse * Double(dOut[i * d + c])) }
                for r in 0..<m {
                    dQueryFeatures[i * m + r] += Float(dw * scale * Double(keyFeatures[j * m + r]))
                    dKeyFeatures[j * m + r] += Float(dw * scale * Double(queryFeatures[i * m + r]))
                }
            }
        }
    }

    /// w_ij = (q'_i·k̃'_j) · exp(s_j − M_i), in Double.
    @inline(__always)
    static func weight(
        _ i: Int, _ j: Int, _ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>,
        _ s: UnsafePointer<Float>?, _ runningMax: Float, _ m: Int
    ) -> Double {
        var a = 0.0
        for r in 0..<m { a += Double(q[i * m + r]) * Double(k[j * m + r]) }
        return a * exp(Double((s?[j] ?? 0) - runningMax))
    }
}
