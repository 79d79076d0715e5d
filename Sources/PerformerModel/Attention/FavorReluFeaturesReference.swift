/// Naive Double-precision twin of `FavorReluFeatures`: φ(x)_r = max(c·w_r·x, 0)/√m + ε with
/// c = d^(-1/4). Shapes: input [length, headDim], weights [features, headDim], result
/// [length, features].
public enum FavorReluFeaturesReference {
    public static func forward(
        input: [Double], weights: [Double], length: Int, features: Int, headDim: Int, epsilon: Double
    ) -> [Double] {
        let (u, _) = FavorSoftmaxFeaturesReference.projections(
            input: input, weights: weights, length: length, features: features, headDim: headDim)
        return u.map { Swift.max($0, 0) / Double(features).squareRoot() + epsilon }
    }
}
