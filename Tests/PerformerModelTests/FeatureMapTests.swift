import Testing
import ProteinIO
@testable import PerformerModel

#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// The feature maps per slice: forward against the Double references, backward against finite
/// differences (stabilisers held fixed), and the estimators against the kernels they estimate.
@Suite struct FeatureMapTests {
    let l = 6, d = 8, m = 16

    func weights(seed: UInt64 = 3, features: Int? = nil) -> RandomFeatures {
        RandomFeatures(features: features ?? m, headDim: d, distribution: .orthogonal, seed: seed)
    }

    /// (rows, features): one block of rows, and 150 rows at m = 1024, which the maps compute in
    /// three blocks (64 + 64 + 22 rows).
    static let forwardShapes = [(6, 16), (150, 1024)]

    @Test(arguments: forwardShapes)
    func softmaxFeaturesMatchReference(l: Int, m: Int) {
        #expect(l == 6 || FavorSoftmaxFeatures.rowBlock(features: m) * 2 < l)
        let x = randomTensor([l, d], seed: 1, std: 1.5)
        let w = weights(features: m)
        let q = Tensor(shape: [l, m]), k = Tensor(shape: [l, m]), s = Tensor(shape: [l])
        let epsilon: Float = 1e-6
        FavorSoftmaxFeatures.forwardQueries(out: q.data, input: x.data, weights: w.weights.data,
                                            length: l, features: m, headDim: d, epsilon: epsilon)
        FavorSoftmaxFeatures.forwardKeys(out: k.data, logScale: s.data, input: x.data, weights: w.weights.data,
                                         length: l, features: m, headDim: d)
        let refQ = FavorSoftmaxFeaturesReference.queries(
            input: x.doubles, weights: w.weights.doubles, length: l, features: m, headDim: d, epsilon: Double(epsilon))
        let refK = FavorSoftmaxFeaturesReference.keys(
            input: x.doubles, weights: w.weights.doubles, length: l, features: m, headDim: d)
        #expect(maxRelativeDifference(q.array, refQ.features) < 1e-5)
        #expect(maxRelativeDifference(k.array, refK.features, floor: 1e-30) < 1e-5)
        #expect(maxRelativeDifference(s.array, refK.logScale) < 1e-5)
        // Stabilised keys: the largest entry of every row is exactly 1/√m.
        for j in 0..<l {
            let rowMax = (0..<m).map { k[j * m + $0] }.max() ?? 0
            #expect(rowMax == 1 / Float(m).squareRoot())
        }
        // Every query feature is at least ε.
        #expect(q.array.allSatisfy { $0 >= epsilon })
    }

    @Test(arguments: forwardShapes)
    func reluFeaturesMatchReference(l: Int, m: Int) {
        let x = randomTensor([l, d], seed: 2)
        let w = weights(features: m)
        let out = Tensor(shape: [l, m])
        FavorReluFeatures.forward(out: out.data, input: x.data, weights: w.weights.data,
                                  length: l, features: m, headDim: d, epsilon: 1e-3)
        let reference = FavorReluFeaturesReference.forward(
            input: x.doubles, weights: w.weights.doubles, length: l, features: m, headDim: d, epsilon: 1e-3)
        #expect(maxRelativeDifference(out.array, reference) < 1e-5)
    }

    enum Map: String, CaseIterable { case softmaxQueries, softmaxKeys, relu }

    /// ∂/∂x of Σ r ⊙ φ(x): analytic backward vs central differences of the Double reference with
    /// the stabiliser frozen at its value for the unperturbed x.
    @Test(arguments: Map.allCases)
    func backwardMatchesFiniteDifferences(map: Map) {
        let x = randomTensor([l, d], seed: 4, std: 1.2)
        let w = weights()
        let r = randomDoubles(l * m, seed: 5)
        let out = Tensor(shape: [l, m]), logScale = Tensor(shape: [l])
        let dInput = Tensor(shape: [l, d])
        let dOut = tensor([l, m], r)
        let epsilon: Float = map == .relu ? 1e-3 : (map == .softmaxQueries ? 1e-6 : 0)
        let wd = w.weights.doubles
        let reference: ([Double]) -> [Double]
        switch map {
        case .softmaxQueries, .softmaxKeys:
            if map == .softmaxQueries {
                FavorSoftmaxFeatures.forwardQueries(out: out.data, input: x.data, weights: w.weights.data,
                                                    length: l, features: m, headDim: d, epsilon: epsilon)
            } else {
                FavorSoftmaxFeatures.forwardKeys(out: out.data, logScale: logScale.data, input: x.data,
                                                 weights: w.weights.data, length: l, features: m, headDim: d)
            }
            FavorSoftmaxFeatures.backward(dInput: dInput.data, dOut: dOut.data, out: out.data, input: x.data,
                                          weights: w.weights.data, length: l, features: m, headDim: d, epsilon: epsilon)
            let frozen = FavorSoftmaxFeaturesReference.queries(
                input: x.doubles, weights: wd, length: l, features: m, headDim: d, epsilon: 0).stabilizer
            reference = { FavorSoftmaxFeaturesReference.queries(
                input: $0, weights: wd, length: l, features: m, headDim: d, epsilon: Double(epsilon),
                stabilizer: frozen).features }
        case .relu:
            FavorReluFeatures.forward(out: out.data, input: x.data, weights: w.weights.data,
                                      length: l, features: m, headDim: d, epsilon: epsilon)
            FavorReluFeatures.backward(dInput: dInput.data, dOut: dOut.data, out: out.data, weights: w.weights.data,
                                       length: l, features: m, headDim: d, epsilon: epsilon)
            reference = { FavorReluFeaturesReference.forward(
                input: $0, weights: wd, length: l, features: m, headDim: d, epsilon: Double(epsilon)) }
        }
        let numeric = GradientCheck.numericGradient(at: x.doubles, weights: r, reference)
        let report = GradientCheck.compare("d\(map.rawValue)", analytic: dInput.array, numeric: numeric)
        #expect(report.maxRelativeError < 1e-3, "\(report)")
        #expect(report.meanRelativeError < 1e-4, "\(report)")
    }

    /// Lemma 1 of the paper: E_w[φ(x)·φ(y)] = exp(x·y) for the positive features. The true features
    /// are q' (with ε = 0) times e^{s_q} and k̃' times e^{s_k}; averaged over 400 independent W
    /// (m = 64 each) the estimate must be within a few standard errors of exp(q·k/√d).
    @Test func positiveFeaturesAreUnbiasedForTheSoftmaxKernel() {
        let d = 8, m = 64
        let q = randomTensor([1, d], seed: 21, std: 0.8), k = randomTensor([1, d], seed: 22, std: 0.8)
        var truth = 0.0
        for c in 0..<d { truth += Double(q[c]) * Double(k[c]) }
        truth = exp(truth / Double(d).squareRoot())
        var estimates: [Double] = []
        let qf = Tensor(shape: [1, m]), kf = Tensor(shape: [1, m]), sk = Tensor(shape: [1])
        for seed in 0..<400 {
            let w = RandomFeatures(features: m, headDim: d, distribution: .orthogonal, seed: UInt64(1000 + seed))
            FavorSoftmaxFeatures.forwardQueries(out: qf.data, input: q.data, weights: w.weights.data,
                                                length: 1, features: m, headDim: d, epsilon: 0)
            FavorSoftmaxFeatures.forwardKeys(out: kf.data, logScale: sk.data, input: k.data, weights: w.weights.data,
                                             length: 1, features: m, headDim: d)
            // Query log-scale recomputed from its definition: max_r u_r − ‖x‖²/2.
            let wd = w.weights.doubles
            let sq = FavorSoftmaxFeaturesReference.queries(
                input: q.doubles, weights: wd, length: 1, features: m, headDim: d, epsilon: 0).stabilizer[0]
            var dot = 0.0
            for r in 0..<m { dot += Double(qf[r]) * Double(kf[r]) }
            estimates.append(dot * exp(sq + Double(sk[0])))
        }
        let mean = estimates.reduce(0, +) / Double(estimates.count)
        let sd = (estimates.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(estimates.count - 1)).squareRoot()
        let standardError = sd / Double(estimates.count).squareRoot()
        #expect(abs(mean - truth) < 4 * standardError + 1e-9, "mean \(mean) vs exp(q·k/√d) \(truth), se \(standardError)")
    }

    /// φ(x)·φ(y) = exp((‖x‖²+‖y‖²)/2)/m · Σ_r cos(w_r·(x−y)) for the trigonometric features
    /// (sin a sin b + cos a cos b = cos(a−b)); in particular φ(x)·φ(x) = exp(‖x‖²) for any W.
    @Test func trigFeaturesSatisfyTheirClosedForm() {
        let l = 4, d = 8, m = 32
        let x = randomTensor([l, d], seed: 31, std: 0.7)
        let w = RandomFeatures(features: m, headDim: d, distribution: .iid, seed: 32)
        let phi = Tensor(shape: [l, 2 * m])
        TrigFeatures.forward(out: phi.data, input: x.data, weights: w.weights.data, length: l, features: m, headDim: d)
        let c = 1 / Double(d).squareRoot().squareRoot()
        let xs = x.doubles.map { $0 * c }
        for i in 0..<l {
            for j in 0..<l {
                var dot = 0.0
                for r in 0..<(2 * m) { dot += Double(phi[i * 2 * m + r]) * Double(phi[j * 2 * m + r]) }
                var ni = 0.0, nj = 0.0, sumCos = 0.0
                for k in 0..<d { ni += xs[i * d + k] * xs[i * d + k]; nj += xs[j * d + k] * xs[j * d + k] }
                for r in 0..<m {
                    var proj = 0.0
                    for k in 0..<d { proj += Double(w.weights[r * d + k]) * (xs[i * d + k] - xs[j * d + k]) }
                    sumCos += cos(proj)
                }
                let expected = exp((ni + nj) / 2) / Double(m) * sumCos
                #expect(abs(dot - expected) < 1e-5 * exp((ni + nj) / 2))
                if i == j { #expect(abs(dot - exp(ni)) < 1e-5 * exp(ni)) }
            }
        }
    }
}
