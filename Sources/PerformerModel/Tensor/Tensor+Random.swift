import ProteinIO

extension Tensor {
    /// Fills the tensor with independent N(mean, std²) draws from `generator` (Box–Muller, in
    /// Double, rounded to Float), in row-major order, so the contents depend only on the seed.
    public func fillNormal(mean: Float = 0, std: Float = 1, using generator: inout SeededGenerator) {
        let mu = Double(mean), sigma = Double(std)
        for i in 0..<count {
            data[i] = Float(mu + sigma * generator.nextGaussian())
        }
    }

    /// Fills the tensor with independent uniform draws in [lower, upper), in row-major order.
    public func fillUniform(lower: Float = 0, upper: Float = 1, using generator: inout SeededGenerator) {
        precondition(upper >= lower, "uniform range [\(lower), \(upper)) is empty")
        let width = Double(upper) - Double(lower)
        for i in 0..<count {
            data[i] = Float(Double(lower) + width * generator.nextDouble())
        }
    }

    /// A new tensor of N(mean, std²) draws (see `fillNormal`).
    public static func normal(
        shape: [Int], mean: Float = 0, std: Float = 1, using generator: inout SeededGenerator
    ) -> Tensor {
        let tensor = Tensor(shape: shape)
        tensor.fillNormal(mean: mean, std: std, using: &generator)
        return tensor
    }

    /// A new tensor of uniform draws in [lower, upper) (see `fillUniform`).
    public static func uniform(
        shape: [Int], lower: Float = 0, upper: Float = 1, using generator: inout SeededGenerator
    ) -> Tensor {
        let tensor = Tensor(shape: shape)
        tensor.fillUniform(lower: lower, upper: upper, using: &generator)
        return tensor
    }
}
