#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// Rotary position embedding (RoPE, Su et al. 2021), in the **half-split** layout of GPT-NeoX and
/// ESM-2 (`rotate_half`): for a head vector x [headDim] at position p, with h = headDim/2 and
/// θ_i = base^(−2i/headDim), the pairs (x_i, x_{i+h}) are rotated by the angle p·θ_i:
///
///     y_i     = x_i·cos(pθ_i) − x_{i+h}·sin(pθ_i)
///     y_{i+h} = x_{i+h}·cos(pθ_i) + x_i·sin(pθ_i)          i = 0 ..< h.
///
/// Applied to queries and keys only, after the projection and before the attention kernel (and
/// so before the FAVOR feature map), so q_p·k_{p'} depends on the positions only through p − p'.
/// Positions are 0 ..< length within each window. The cos/sin tables are computed for the
/// workspace's own length when it is made (angles in Double, rounded once to Float), so any
/// length works and there is no fixed maximum-length table.
///
/// The rotation is orthogonal, so its backward is the inverse rotation (angle −pθ_i) applied to
/// the gradient. Saved for backward: nothing (the tables are fixed per length).
public final class RotaryEmbedding {
    public typealias Vector = SIMD8<Float>

    /// Number of positions the tables cover.
    public let length: Int
    /// dh, even.
    public let headDim: Int
    /// The base of the frequencies.
    public let base: Float
    /// cos(p·θ_i) [length, headDim/2].
    public let cosines: Tensor
    /// sin(p·θ_i) [length, headDim/2].
    public let sines: Tensor

    public init(length: Int, headDim: Int, base: Float) {
        precondition(length >= 1 && headDim >= 2 && headDim % 2 == 0, "rotary embedding needs an even headDim")
        self.length = length
        self.headDim = headDim
        self.base = base
        let half = headDim / 2
        cosines = Tensor(shape: [length, half])
        sines = Tensor(shape: [length, half])
        for i in 0..<half {
            let theta = pow(Double(base), -2 * Double(i) / Double(headDim))
            for p in 0..<length {
                let angle = Double(p) * theta
                cosines.data[p * half + i] = Float(cos(angle))
                sines.data[p * half + i] = Float(sin(angle))
            }
        }
    }

    /// Rotates one head vector: dst = R(position)·src, or Rᵀ·src when `inverse` (src may be dst).
    ///
    /// - Parameters:
    ///   - dst, src: [headDim].
    @inline(__always)
    public func rotate(
        _ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, position: Int, inverse: Bool = false
    ) {
        let half = headDim / 2
        let c = UnsafePointer(cosines.data + position * half), s = UnsafePointer(sines.data + position * half)
        var i = 0
        if inverse {
            while i + 8 <= half {
                let a = Elementwise.load(src, i), b = Elementwise.load(src, half + i)
                let vc = Elementwise.load(c, i), vs = Elementwise.load(s, i)
                Elementwise.store(a * vc + b * vs, dst, i)
                Elementwise.store(b * vc - a * vs, dst, half + i)
                i += 8
            }
            while i < half {
                let a = src[i], b = src[half + i]
                dst[i] = a * c[i] + b * s[i]
                dst[half + i] = b * c[i] - a * s[i]
                i += 1
            }
        } else {
            while i + 8 <= half {
                let a = Elementwise.load(src, i), b = Elementwise.load(src, half + i)
                let vc = Elementwise.load(c, i), vs = Elementwise.load(s, i)
                Elementwise.store(a * vc - b * vs, dst, i)
                Elementwise.store(b * vc + a * vs, dst, half + i)
                i += 8
            }
            while i < half {
                let a = src[i], b = src[half + i]
                dst[i] = a * c[i] - b * s[i]
                dst[half + i] = b * c[i] + a * s[i]
                i += 1
            }
        }
    }

    /// In place over x [slices, length, headDim] (e.g. [batch, heads, length, headDim]): row p of
    /// every slice is rotated by position p.
    public func forward(_ x: UnsafeMutablePointer<Float>, slices: Int) {
        for s in 0..<slices {
            for p in 0..<length {
                let row = x + (s * length + p) * headDim
                rotate(row, row, position: p)
            }
        }
    }

    /// The backward of `forward`, in place over dx [slices, length, headDim]: dx ← Rᵀ·dx.
    public func backward(_ dx: UnsafeMutablePointer<Float>, slices: Int) {
        for s in 0..<slices {
            for p in 0..<length {
                let row = dx + (s * length + p) * headDim
                rotate(row, row, position: p, inverse: true)
            }
        }
    }
}
