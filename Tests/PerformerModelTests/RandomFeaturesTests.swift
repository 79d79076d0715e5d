import Testing
import ProteinIO
@testable import PerformerModel

@Suite struct RandomFeaturesTests {
    func row(_ w: RandomFeatures, _ r: Int) -> [Double] {
        (0..<w.headDim).map { Double(w.weights[r * w.headDim + $0]) }
    }

    func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

    /// 40 rows of dimension 16: blocks of 16, 16 and a partial block of 8.
    @Test(arguments: [RandomFeatureDistribution.orthogonal, .orthogonalFixedNorm])
    func rowsAreOrthogonalWithinEachBlock(distribution: RandomFeatureDistribution) {
        let d = 16, m = 40
        let w = RandomFeatures(features: m, headDim: d, distribution: distribution, seed: 7)
        #expect(w.weights.shape == [m, d])
        var worstCosine = 0.0
        var acrossBlocks = 0.0
        for i in 0..<m {
            for j in 0..<i {
                let a = row(w, i), b = row(w, j)
                let cosine = abs(dot(a, b)) / (dot(a, a) * dot(b, b)).squareRoot()
                if i / d == j / d { worstCosine = max(worstCosine, cosine) } else { acrossBlocks = max(acrossBlocks, cosine) }
            }
        }
        // Exact orthogonality up to Float32 rounding of the stored entries.
        #expect(worstCosine < 1e-6, "worst |cos| within a block \(worstCosine)")
        // Rows of different blocks are independent directions: not orthogonal in general.
        #expect(acrossBlocks > 0.1)
    }

    @Test func fixedNormRowsHaveNormSqrtD() {
        let d = 16
        let w = RandomFeatures(features: 40, headDim: d, distribution: .orthogonalFixedNorm, seed: 3)
        for r in 0..<40 {
            let norm = dot(row(w, r), row(w, r)).squareRoot()
            #expect(abs(norm - 4) < 1e-5)
        }
    }

    /// Chi-distributed norms: ‖w_r‖² ~ χ²(d), mean d, variance 2d; the norms must vary.
    @Test func chiNormsFollowTheChiSquaredLaw() {
        let d = 16, m = 2048
        let w = RandomFeatures(features: m, headDim: d, distribution: .orthogonal, seed: 5)
        let squaredNorms = (0..<m).map { dot(row(w, $0), row(w, $0)) }
        let mean = squaredNorms.reduce(0, +) / Double(m)
        let variance = squaredNorms.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(m)
        // Standard errors: mean √(2d/m) ≈ 0.125; variance ≈ 2d·√(… ) — allow a generous 25 %.
        #expect(abs(mean - Double(d)) < 0.6, "mean ‖w‖² \(mean)")
        #expect(abs(variance - 2 * Double(d)) < 0.25 * 2 * Double(d), "variance of ‖w‖² \(variance)")
    }

    /// Every row of an orthogonal block, whatever its position in the block, is a uniformly random
    /// unit direction: for u uniform on the sphere S^(d−1), E[u_c] = 0 and
    /// E|u_c| = Γ(d/2) / (√π · Γ((d+1)/2)) = 6 / (√π · 11.6317…) ≈ 0.29096 for d = 8.
    @Test func orthogonalRowsAreUniformDirectionsAtEveryPositionInTheBlock() {
        let d = 8, m = 8192
        let w = RandomFeatures(features: m, headDim: d, distribution: .orthogonalFixedNorm, seed: 9)
        let expectedMeanAbs = 6 / (Double.pi.squareRoot() * 11.631_728_396_567_45)
        for position in 0..<d {
            var sum = 0.0, sumAbs = 0.0, n = 0.0
            for block in 0..<(m / d) {
                for c in 0..<d {
                    let u = Double(w.weights[(block * d + position) * d + c]) / Double(d).squareRoot()
                    sum += u
                    sumAbs += abs(u)
                    n += 1
                }
            }
            // 8192 samples per position with σ(u) ≈ 0.35, σ(|u|) ≈ 0.2: standard errors < 0.005.
            #expect(abs(sum / n) < 0.02, "row \(position): mean \(sum / n)")
            #expect(abs(sumAbs / n - expectedMeanAbs) < 0.02, "row \(position): mean |u| \(sumAbs / n)")
        }
    }

    @Test func iidEntriesAreStandardNormal() {
        let w = RandomFeatures(features: 256, headDim: 64, distribution: .iid, seed: 1)
        let x = w.weights.doubles
        let mean = x.reduce(0, +) / Double(x.count)
        let variance = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(x.count)
        #expect(abs(mean) < 0.03)
        #expect(abs(variance - 1) < 0.05)
    }

    @Test(arguments: RandomFeatureDistribution.allCases)
    func sameSeedSameMatrixRedrawChangesIt(distribution: RandomFeatureDistribution) {
        let a = RandomFeatures(features: 24, headDim: 8, distribution: distribution, seed: 42)
        let b = RandomFeatures(features: 24, headDim: 8, distribution: distribution, seed: 42)
        #expect(a.weights.array == b.weights.array)
        let before = a.weights.array
        var generator = SeededGenerator(seed: 43)
        a.redraw(using: &generator)
        #expect(a.weights.array != before)
        a.redraw(seed: 42)
        #expect(a.weights.array == before)
        let c = RandomFeatures(features: 24, headDim: 8, distribution: distribution, seed: 41)
        #expect(c.weights.array != before)
    }
}
