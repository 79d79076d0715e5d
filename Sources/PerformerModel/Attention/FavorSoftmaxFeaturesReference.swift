#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// Naive Double-precision twin of `FavorSoftmaxFeatures`: the formulas written out as loops over
/// plain arrays, used by the tests as the forward reference and as the function that finite
/// differences differentiate. The stabiliser can be passed in, to hold it fixed (as the
/// gradients do) while the input is perturbed.
///
/// Shapes as in `FavorSoftmaxFeatures`: input [length, headDim], weights [features, headDim],
/// features [length, features], all row-major.
public enum FavorSoftmaxFeaturesReference {
    /// q'_ir = exp(u_ir − h_i − s_i)/√m + ε with u_i = c·W x_i, h_i = c²‖x_i‖²/2 and
    /// s_i = max_r u_ir − h_i unless `stabilizer` gives it.
    public static func queries(
        input: [Double], weights: [Double], length: Int, features: Int, headDim: Int,
        epsilon: Double, stabilizer: [Double]? = nil
    ) -> (features: [Double], stabilizer: [Double]) {
        let (u, h) = projections(input: input, weights: weights, length: length, features: features, headDim: headDim)
        let m = features
        var out = [Double](repeating: 0, count: length * m)
        var s = [Double](repeating: 0, count: length)
        for i in 0..<length {
            s[i] = stabilizer?[i] ?? (u[(i * m)..<((i + 1) * m)].reduce(-Double.infinity) { Swift.max($0, $1) } - h[i])
            for r in 0..<m { out[i * m + r] = exp(u[i * m + r] - h[i] - s[i]) / Double(m).squareRoot() + epsilon }
        }
        return (out, s)
    }

    /// k̃'_jr = exp(u_jr − h_j − s_j)/√m with s_j = max_r u_jr − h_j unless `stabilizer` gives it;
    /// returns the features and s (the log-scale).
    public static func keys(
        input: [Double], weights: [Double], length: Int, features: Int, headDim: Int,
        stabilizer: [Double]? = nil
    ) -> (features: [Double], logScale: [Double]) {
        let (out, s) = queries(
            input: input, weights: weights, length: length, features: features, headDim: headDim,
            epsilon: 0, stabilizer: stabilizer)
        return (out, s)
    }

    /// u = c·X Wᵀ [length, features] and h_i = c²‖x_i‖²/2, c = d^(-1/4).
    static func projections(
        input: [Double], weights: [Double], length: Int, features: Int, headDim: Int
    ) -> (u: [Double], h: [Double]) {
        precondition(input.count == length * headDim && weights.count == features * headDim)
        let c = 1 / Double(headDim).squareRoot().squareRoot()
        var u = [Double](repeating: 0, count: length * features)
        var h = [Double](repeating: 0, count: length)
        for i in 0..<length {
            var norm2 = 0.0
            for k in 0..<headDim { norm2 += input[i * headDim + k] * input[i * headDim + k] }
            h[i] = c * c * norm2 / 2
            for r in 0..<features {
                var dot = 0.0
                for k in 0..<headDim { dot += weights[r * headDim + k] * input[i * headDim + k] }
                u[i * features + r] = c * dot
            }
        }
        return (u, h)
    }
}
