#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// Naive scalar twins of the `Elementwise` kernels: one plain loop each, computed in Double and
/// rounded once, with the C library's `exp`. Slow and obviously right; tests only.
public enum ElementwiseReference {
    /// y_i = exp(x_i − shift) · scale + offset.
    public static func exp(_ x: [Float], shift: Float = 0, scale: Float = 1, offset: Float = 0) -> [Float] {
        x.map { Float(Double(scale) * expDouble(Double($0) - Double(shift)) + Double(offset)) }
    }

    /// y_i = max(x_i, 0) · scale + offset.
    public static func relu(_ x: [Float], scale: Float = 1, offset: Float = 0) -> [Float] {
        x.map { Float(Double(Swift.max($0, 0)) * Double(scale) + Double(offset)) }
    }

    /// max_i x_i.
    public static func max(_ x: [Float]) -> Float { x.reduce(-Float.infinity) { Swift.max($0, $1) } }

    /// Σ_i x_i, accumulated in Double.
    public static func sum(_ x: [Float]) -> Double { x.reduce(0.0) { $0 + Double($1) } }

    /// Σ_i x_i y_i, accumulated in Double.
    public static func dot(_ x: [Float], _ y: [Float]) -> Double {
        precondition(x.count == y.count)
        var s = 0.0
        for i in x.indices { s += Double(x[i]) * Double(y[i]) }
        return s
    }

    static func expDouble(_ x: Double) -> Double {
        #if canImport(Glibc)
        Glibc.exp(x)
        #else
        Foundation.exp(x)
        #endif
    }
}
