#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// Trigonometric random features for the softmax kernel, the pre-FAVOR+ estimator (Rahimi &
/// Recht; Choromanski et al. 2021, §2.3), kept only to compare approximation quality:
/// with x = q·d^(-1/4) or k·d^(-1/4),
///
///     φ(x) = exp(‖x‖²/2) / √m · [sin(W x), cos(W x)]   (2m features),
///
/// so φ(x)·φ(y) = exp((‖x‖²+‖y‖²)/2)/m · Σ_r cos(w_r·(x−y)), whose mean is exp(x·y). Entries
/// take both signs, so estimated attention weights and normalisers can be negative or near zero.
/// Forward only; no stabiliser (exp(‖x‖²/2) overflows only for ‖x‖² > 176).
public enum TrigFeatures {
    /// out_i = exp(‖x_i‖²/2)/√m · [sin(u_i), cos(u_i)], u_i = W x_i, x_i = c·input_i.
    ///
    /// - Parameters:
    ///   - out: φ(x) [length, 2·features], written (sines in columns 0..<m, cosines in m..<2m).
    ///   - input: queries or keys [length, headDim] (before scaling).
    ///   - weights: W [features, headDim].
    public static func forward(
        out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
        length: Int, features: Int, headDim: Int
    ) {
        let m = features, d = headDim
        let c = FavorSoftmaxFeatures.inputScale(headDim: d)
        // u into the first m columns of each 2m-wide row.
        BLAS.sgemm(transB: true, m: length, n: m, k: d, alpha: c,
                   a: input, lda: d, b: weights, ldb: d, c: out, ldc: 2 * m)
        let invSqrtM = 1 / Double(m).squareRoot()
        for i in 0..<length {
            let x = input + i * d
            let halfSquaredNorm = 0.5 * Double(c * c * Elementwise.dot(x, x, count: d))
            let amplitude = exp(halfSquaredNorm) * invSqrtM
            let row = out + i * 2 * m
            for r in 0..<m {
                let u = Double(row[r])
                row[m + r] = Float(amplitude * cos(u))
                row[r] = Float(amplitude * sin(u))
            }
        }
    }
}
