#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// Naive Double-precision twin of `RotaryEmbedding.forward`: half-split rotation of every row of
/// x [slices, length, headDim] by the angles p·base^(−2i/headDim), computed per element.
public enum RotaryEmbeddingReference {
    public static func forward(_ x: [Double], slices: Int, length: Int, headDim: Int, base: Double) -> [Double] {
        precondition(x.count == slices * length * headDim && headDim % 2 == 0)
        let half = headDim / 2
        var out = x
        for s in 0..<slices {
            for p in 0..<length {
                let row = (s * length + p) * headDim
                for i in 0..<half {
                    let angle = Double(p) * pow(base, -2 * Double(i) / Double(headDim))
                    let a = x[row + i], b = x[row + half + i]
                    out[row + i] = a * cos(angle) - b * sin(angle)
                    out[row + half + i] = b * cos(angle) + a * sin(angle)
                }
            }
        }
        return out
    }
}
