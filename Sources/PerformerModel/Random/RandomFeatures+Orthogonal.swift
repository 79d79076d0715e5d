import ProteinIO

extension RandomFeatures {
    /// Fills `block` [d, d] (row-major, Double) with a d×d matrix whose rows are orthonormal and
    /// uniformly (Haar) distributed: the Q factor of the QR decomposition of a Gaussian matrix.
    ///
    /// Method: draw the d rows g_1…g_d of a Gaussian matrix and orthonormalise them in order with
    /// modified Gram–Schmidt, run twice per row ("twice is enough" re-orthogonalisation, which
    /// brings |q_i·q_j| to round-off level), then normalise. Gram–Schmidt keeps the positive-
    /// diagonal QR convention, so the rows are exactly Haar distributed. A row whose residual is
    /// (numerically) zero — probability zero for Gaussian input — is redrawn.
    ///
    /// - Complexity: O(d³) flops in Double; d = 64 takes well under a millisecond.
    static func orthonormalGaussianBlock(_ block: inout [Double], dimension d: Int, using generator: inout SeededGenerator) {
        precondition(block.count == d * d)
        for c in 0..<(d * d) { block[c] = generator.nextGaussian() }
        var i = 0
        while i < d {
            for _ in 0..<2 {
                for j in 0..<i {
                    var projection = 0.0
                    for c in 0..<d { projection += block[i * d + c] * block[j * d + c] }
                    for c in 0..<d { block[i * d + c] -= projection * block[j * d + c] }
                }
            }
            var norm = 0.0
            for c in 0..<d { norm += block[i * d + c] * block[i * d + c] }
            norm = norm.squareRoot()
            if norm < 1e-10 {
                for c in 0..<d { block[i * d + c] = generator.nextGaussian() }
                continue
            }
            for c in 0..<d { block[i * d + c] /= norm }
            i += 1
        }
    }
}
