import ProteinIO

/// How the rows w_r of a random-feature matrix W [features, headDim] are drawn.
///
/// FAVOR+ (Choromanski et al. 2021, §2.4 "Orthogonal random features") uses blocks of exactly
/// orthogonal rows: it keeps each estimate unbiased while lowering its variance.
public enum RandomFeatureDistribution: String, CaseIterable, Sendable, Codable {
    /// Stacked d×d blocks with orthonormal rows (Gram–Schmidt on a Gaussian block), each row then
    /// rescaled to the norm of a fresh Gaussian d-vector (chi(d)-distributed), so every row has
    /// the marginal law N(0, I_d) of the iid case. The FAVOR+ default.
    case orthogonal
    /// The same orthogonal blocks with every row norm fixed to √d (the "regularized" variant).
    case orthogonalFixedNorm = "orthogonal-sqrt-d"
    /// Independent N(0, 1) entries (no orthogonality).
    case iid
}

/// A random-feature matrix W [features, headDim] for the FAVOR kernels, with its own seed.
///
/// It is a class because it is state that changes in place: training redraws W every N steps
/// (`redraw(using:)`), and a checkpoint freezes it. All heads of a layer share one W.
public final class RandomFeatures {
    /// m, the number of random features (rows of W).
    public let features: Int
    /// d, the head dimension (columns of W).
    public let headDim: Int
    public let distribution: RandomFeatureDistribution
    /// W [features, headDim], row-major.
    public let weights: Tensor

    /// Draws W from `generator` (which advances).
    public init(
        features: Int, headDim: Int, distribution: RandomFeatureDistribution = .orthogonal,
        using generator: inout SeededGenerator
    ) {
        precondition(features > 0 && headDim > 0, "random features need features > 0 and headDim > 0")
        self.features = features
        self.headDim = headDim
        self.distribution = distribution
        self.weights = Tensor(shape: [features, headDim])
        redraw(using: &generator)
    }

    /// Draws W from a generator seeded with `seed`: the same seed always gives the same W.
    public convenience init(
        features: Int, headDim: Int, distribution: RandomFeatureDistribution = .orthogonal, seed: UInt64
    ) {
        var generator = SeededGenerator(seed: seed)
        self.init(features: features, headDim: headDim, distribution: distribution, using: &generator)
    }

    /// Wraps an existing W (e.g. loaded from a checkpoint); `weights` must be [features, headDim].
    public init(weights: Tensor, distribution: RandomFeatureDistribution) {
        precondition(weights.shape.count == 2 && weights.count > 0, "random features must be [features, headDim]")
        self.features = weights.shape[0]
        self.headDim = weights.shape[1]
        self.distribution = distribution
        self.weights = weights
    }

    /// Overwrites W in place with a fresh draw from `generator` (no allocation of W).
    public func redraw(using generator: inout SeededGenerator) {
        RandomFeatures.draw(
            into: weights.data, features: features, headDim: headDim, distribution: distribution,
            using: &generator)
    }

    /// Overwrites W in place with the draw for `seed`.
    public func redraw(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        redraw(using: &generator)
    }

    /// Writes a draw of W [features, headDim] into `out`.
    ///
    /// Order of draws (fixed, so a seed pins W): for `iid`, the m·d entries row by row. For the
    /// orthogonal kinds, ⌈m/d⌉ Gaussian d×d blocks, each orthonormalised (the last block keeps only
    /// its first m mod d rows); then, for `orthogonal`, m fresh Gaussian d-vectors whose norms
    /// rescale the rows.
    public static func draw(
        into out: UnsafeMutablePointer<Float>, features m: Int, headDim d: Int,
        distribution: RandomFeatureDistribution, using generator: inout SeededGenerator
    ) {
        switch distribution {
        case .iid:
            for i in 0..<(m * d) { out[i] = Float(generator.nextGaussian()) }
        case .orthogonal, .orthogonalFixedNorm:
            var block = [Double](repeating: 0, count: d * d)
            var unitRows = [Double](repeating: 0, count: m * d)
            var row = 0
            while row < m {
                orthonormalGaussianBlock(&block, dimension: d, using: &generator)
                let rowsHere = Swift.min(d, m - row)
                for i in 0..<(rowsHere * d) { unitRows[row * d + i] = block[i] }
                row += rowsHere
            }
            let fixedNorm = Double(d).squareRoot()
            for r in 0..<m {
                var norm = fixedNorm
                if distribution == .orthogonal {
                    var sumOfSquares = 0.0
                    for _ in 0..<d {
                        let g = generator.nextGaussian()
                        sumOfSquares += g * g
                    }
                    norm = sumOfSquares.squareRoot()
                }
                // Scale the unit row in Double, then round once.
                for c in 0..<d { out[r * d + c] = Float(unitRows[r * d + c] * norm) }
            }
        }
    }
}
