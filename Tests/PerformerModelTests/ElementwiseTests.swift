import Testing
import ProteinIO
@testable import PerformerModel

#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// The SIMD kernels against their scalar references, on lengths that exercise the 8-lane body
/// and every tail length.
@Suite struct ElementwiseTests {
    static let lengths = [0, 1, 7, 8, 9, 15, 16, 17, 63, 100]

    func values(_ count: Int, seed: UInt64, lower: Float, upper: Float) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { _ in lower + (upper - lower) * generator.nextFloat() }
    }

    /// Calls `body` with a mutable copy of `x` and returns the copy afterwards.
    func applied(_ x: [Float], _ body: (UnsafeMutablePointer<Float>, Int) -> Void) -> [Float] {
        var y = x
        y.withUnsafeMutableBufferPointer { buffer in
            if let base = buffer.baseAddress { body(base, buffer.count) }
        }
        return y
    }

    @Test func expIsWithinThreeUlpOfDoubleExp() {
        // Spans underflow, the ordinary range and overflow; the error is measured in units of the
        // Float spacing at the true value.
        var x = values(20_000, seed: 1, lower: -87.3, upper: 88.72)
        x += [0, -0.0, 1, -1, 0.5, 88.0, 88.7, 88.72, -86.9, -87.29, 1e-8, -1e-8]
        let fast = applied(x) { p, n in Elementwise.exp(p, into: p, count: n) }
        var worstUlps: Float = 0
        for i in x.indices {
            let truth = ElementwiseReference.expDouble(Double(x[i]))
            let ulps = Float(abs(Double(fast[i]) - truth)) / Float(truth).ulp
            worstUlps = max(worstUlps, ulps)
        }
        #expect(worstUlps <= 3, "worst error \(worstUlps) ulp")
    }

    @Test func expEdgeCases() {
        let x: [Float] = [-200, -87.5, 89, 1000, .infinity, -.infinity, .nan, 0]
        let y = applied(x) { p, n in Elementwise.exp(p, into: p, count: n) }
        #expect(y[0] == 0 && y[1] == 0)
        #expect(y[2] == .infinity && y[3] == .infinity && y[4] == .infinity)
        #expect(y[5] == 0)
        #expect(y[6].isNaN)
        #expect(y[7] == 1)
    }

    @Test(arguments: lengths)
    func expWithShiftScaleOffset(count: Int) {
        let x = values(count, seed: 2, lower: -20, upper: 5)
        let fast = applied(x) { p, n in Elementwise.exp(p, into: p, count: n, shift: 3, scale: 0.25, offset: 1e-3) }
        let reference = ElementwiseReference.exp(x, shift: 3, scale: 0.25, offset: 1e-3)
        for i in x.indices {
            #expect(abs(fast[i] - reference[i]) <= 4 * reference[i].ulp)
        }
    }

    @Test(arguments: lengths)
    func reluMatchesReference(count: Int) {
        let x = values(count, seed: 3, lower: -2, upper: 2)
        let fast = applied(x) { p, n in Elementwise.relu(p, into: p, count: n, scale: 0.5, offset: 0.01) }
        #expect(fast == ElementwiseReference.relu(x, scale: 0.5, offset: 0.01))
    }

    @Test(arguments: lengths)
    func reductionsMatchReference(count: Int) {
        let x = values(count, seed: 4, lower: -3, upper: 3)
        let y = values(count, seed: 5, lower: -3, upper: 3)
        x.withUnsafeBufferPointer { px in
            y.withUnsafeBufferPointer { py in
                guard let a = px.baseAddress, let b = py.baseAddress else { return }
                #expect(Elementwise.max(a, count: count) == ElementwiseReference.max(x))
                #expect(abs(Double(Elementwise.sum(a, count: count)) - ElementwiseReference.sum(x)) <= 1e-5 * Double(count))
                #expect(abs(Double(Elementwise.dot(a, b, count: count)) - ElementwiseReference.dot(x, y)) <= 1e-5 * Double(count))
            }
        }
    }

    @Test(arguments: lengths)
    func scaleAndAddScaled(count: Int) {
        let x = values(count, seed: 6, lower: -3, upper: 3)
        let y = values(count, seed: 7, lower: -3, upper: 3)
        let scaled = applied(x) { p, n in Elementwise.scale(p, by: -1.5, into: p, count: n) }
        #expect(scaled == x.map { -1.5 * $0 })
        let sum = x.withUnsafeBufferPointer { px in
            applied(y) { p, n in
                if let base = px.baseAddress { Elementwise.addScaled(base, by: 0.5, to: p, count: n) }
            }
        }
        for i in 0..<count { #expect(abs(sum[i] - (y[i] + 0.5 * x[i])) <= 1e-6 * max(1, abs(sum[i]))) }
    }

    @Test(arguments: lengths)
    func featureMapBackwardHelpers(count: Int) {
        let g = values(count, seed: 8, lower: -1, upper: 1)
        let y = values(count, seed: 9, lower: 0, upper: 1)
        var rowSum: Float = 0
        let product = y.withUnsafeBufferPointer { py in
            applied(g) { p, n in
                if let base = py.baseAddress { rowSum = Elementwise.multiplyBySubtracting(p, by: base, offset: 0.1, count: n) }
            }
        }
        var expectedSum = 0.0
        for i in 0..<count {
            let expected = Double(g[i]) * (Double(y[i]) - 0.1)
            expectedSum += expected
            #expect(abs(Double(product[i]) - expected) <= 1e-6)
        }
        #expect(abs(Double(rowSum) - expectedSum) <= 1e-5 * Double(max(count, 1)))

        let masked = y.withUnsafeBufferPointer { py in
            applied(g) { p, n in
                if let base = py.baseAddress { Elementwise.reluBackward(p, output: base, threshold: 0.5, scale: 2, count: n) }
            }
        }
        for i in 0..<count { #expect(masked[i] == (y[i] > 0.5 ? 2 * g[i] : 0)) }
    }
}
