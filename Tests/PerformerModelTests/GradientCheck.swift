import ProteinIO
@testable import PerformerModel

/// Max and mean relative error of one analytic gradient tensor against finite differences.
struct GradientReport: CustomStringConvertible {
    var name: String
    var maxRelativeError: Double
    var meanRelativeError: Double
    var checked: Int

    var description: String {
        "\(name): max rel err \(maxRelativeError), mean \(meanRelativeError) over \(checked) entries"
    }
}

/// The one finite-difference gradient helper of the model tests.
///
/// The loss is L(x) = Σ r ⊙ f(x) for a fixed random r (so every output entry matters with its own
/// weight); the analytic side is the backward pass fed dOut = r. The numeric side differentiates a
/// Double-precision reference `f` by central differences, (L(x + h e_i) − L(x − h e_i)) / 2h with
/// h = 1e-5: truncation O(h²) ≈ 1e-10 and round-off ≈ 1e-11, far below Float32 round-off in the
/// analytic gradient, so the measured error is the fast kernel's own.
///
/// Relative error per entry: |a − n| / max(|a|, |n|, floor) with floor = 1e-3 · max_i |n_i|, so
/// entries that are tiny compared with the rest of the tensor are judged on the tensor's scale
/// rather than on their own (where Float32 round-off dominates).
enum GradientCheck {
    static let step = 1e-5

    /// ∂/∂x_i of Σ r ⊙ f(x) for each i in `indices` (all entries when nil); other entries of the
    /// result are NaN.
    static func numericGradient(
        at x: [Double], indices: [Int]? = nil, weights r: [Double], _ f: ([Double]) -> [Double]
    ) -> [Double] {
        var gradient = [Double](repeating: .nan, count: x.count)
        var probe = x
        for i in indices ?? Array(x.indices) {
            probe[i] = x[i] + step
            let plus = weightedSum(f(probe), r)
            probe[i] = x[i] - step
            let minus = weightedSum(f(probe), r)
            probe[i] = x[i]
            gradient[i] = (plus - minus) / (2 * step)
        }
        return gradient
    }

    static func weightedSum(_ y: [Double], _ r: [Double]) -> Double {
        precondition(y.count == r.count, "output has \(y.count) entries, weights \(r.count)")
        var s = 0.0
        for i in y.indices { s += y[i] * r[i] }
        return s
    }

    /// Compares the analytic gradient with the numeric one on the entries the numeric one has, and
    /// prints the report (one line per tensor).
    static func compare(_ name: String, analytic: [Float], numeric: [Double]) -> GradientReport {
        precondition(analytic.count == numeric.count)
        let scale = numeric.filter { !$0.isNaN }.map { abs($0) }.reduce(0, Swift.max)
        let floor = Swift.max(1e-3 * scale, 1e-12)
        var maxError = 0.0, total = 0.0, checked = 0
        for i in numeric.indices where !numeric[i].isNaN {
            let a = Double(analytic[i]), n = numeric[i]
            let error = abs(a - n) / Swift.max(abs(a), abs(n), floor)
            maxError = Swift.max(maxError, error.isNaN ? .infinity : error)
            total += error
            checked += 1
        }
        let report = GradientReport(
            name: name, maxRelativeError: maxError, meanRelativeError: total / Double(Swift.max(checked, 1)),
            checked: checked)
        print("gradient check \(report)")
        return report
    }
}

// MARK: - Small helpers shared by the model tests

/// A tensor of N(0, std²) draws from `seed`.
func randomTensor(_ shape: [Int], seed: UInt64, std: Float = 1) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    return Tensor.normal(shape: shape, std: std, using: &generator)
}

/// N(0, std²) draws as Doubles (for the weights r of a loss).
func randomDoubles(_ count: Int, seed: UInt64, std: Double = 1) -> [Double] {
    var generator = SeededGenerator(seed: seed)
    return (0..<count).map { _ in std * generator.nextGaussian() }
}

extension Tensor {
    var doubles: [Double] { array.map(Double.init) }

    /// The `count` floats starting at `offset`, as Doubles.
    func doubles(offset: Int, count: Int) -> [Double] {
        (0..<count).map { Double(data[offset + $0]) }
    }
}

/// A tensor holding `values` rounded to Float.
func tensor(_ shape: [Int], _ values: [Double]) -> Tensor {
    Tensor(shape: shape, values: values.map { Float($0) })
}

/// Largest |a_i − b_i| / (|b_i| + floor).
func maxRelativeDifference(_ a: [Float], _ b: [Double], floor: Double = 1e-6) -> Double {
    precondition(a.count == b.count)
    var worst = 0.0
    for i in a.indices {
        let e = abs(Double(a[i]) - b[i]) / (abs(b[i]) + floor)
        worst = Swift.max(worst, e.isNaN ? .infinity : e)
    }
    return worst
}
