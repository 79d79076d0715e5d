/// Generalized-attention features with the ReLU kernel (Performer-ReLU, Choromanski et al. 2021,
/// §2.2 and the protein experiments of §4): with x = q·d^(-1/4) or k·d^(-1/4),
///
///     φ(x)_r = ReLU(w_r·x) / √m + ε,   r = 1…m,
///
/// per (batch, head) slice: input x [L, d], weights W [m, d], features [L, m]. No stabiliser is
/// needed (nothing is exponentiated), so the contraction gets keyLogScale = nil. The same map
/// serves queries and keys. ReLU is positively homogeneous, so the d^(-1/4) and 1/√m factors only
/// set the size of the features relative to ε (see docs/attention.md for the choice).
public enum FavorReluFeatures {
    /// ε added to every feature, as the kernel_epsilon of the reference implementations.
    public static let defaultEpsilon: Float = 1e-3

    /// out_i = ReLU(c·W x_i)/√m + ε, c = d^(-1/4).
    ///
    /// - Parameters:
    ///   - out: φ(x) [length, features], written.
    ///   - input: queries or keys [length, headDim] (before scaling).
    ///   - weights: W [features, headDim].
    /// - Complexity: 2·L·m·d flops in GEMMs.
    public static func forward(
        out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
        length: Int, features: Int, headDim: Int, epsilon: Float = defaultEpsilon
    ) {
        let m = features
        // Block by block of rows, so the ReLU pass finds each block still in cache.
        FavorSoftmaxFeatures.products(
            out: out, input: input, weights: weights, length: length, features: m, headDim: headDim
        ) { start, rows in
            let block = out + start * m
            Elementwise.relu(block, into: block, count: rows * m, scale: 1 / Float(m).squareRoot(), offset: epsilon)
        }
    }

    /// dInput += c · (g W) with g = dOut ⊙ 1[u > 0] / √m. The mask is read from the output
    /// (out > ε exactly when u > 0, up to a rounding of ε + u/√m back to ε for u ≲ ε·10⁻⁷·√m).
    ///
    /// - Parameters:
    ///   - dInput: [length, headDim], accumulated (+=).
    ///   - dOut: [length, features], the gradient of the features; overwritten with g (scratch).
    ///   - out: the features the forward produced [length, features].
    public static func backward(
        dInput: UnsafeMutablePointer<Float>, dOut: UnsafeMutablePointer<Float>,
        out: UnsafePointer<Float>, weights: UnsafePointer<Float>,
        length: Int, features: Int, headDim: Int, epsilon: Float = defaultEpsilon
    ) {
        let m = features
        let c = FavorSoftmaxFeatures.inputScale(headDim: headDim)
        Elementwise.reluBackward(dOut, output: out, threshold: epsilon, scale: 1 / Float(m).squareRoot(), count: length * m)
        BLAS.sgemm(m: length, n: headDim, k: m, alpha: c,
                   a: dOut, lda: m, b: weights, ldb: headDim, beta: 1, c: dInput, ldc: headDim)
    }
}
