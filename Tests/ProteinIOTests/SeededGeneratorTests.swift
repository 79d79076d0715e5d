import Testing
@testable import ProteinIO

@Suite struct SeededGeneratorTests {
    @Test func sameSeedSameStreamDifferentSeedDifferentStream() {
        var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42), c = SeededGenerator(seed: 43)
        let xa = (0..<100).map { _ in a.next() }
        let xb = (0..<100).map { _ in b.next() }
        let xc = (0..<100).map { _ in c.next() }
        #expect(xa == xb)
        #expect(xa != xc)
    }

    @Test func restoredStateContinuesTheStream() {
        var a = SeededGenerator(seed: 7)
        for _ in 0..<10 { _ = a.next() }
        var b = SeededGenerator(state: a.state)
        #expect((0..<50).map { _ in a.next() } == (0..<50).map { _ in b.next() })
    }

    @Test func gaussianMomentsAreStandard() {
        var g = SeededGenerator(seed: 1)
        let n = 200_000
        var sum = 0.0, sumSq = 0.0
        for _ in 0..<n { let x = g.nextGaussian(); sum += x; sumSq += x * x }
        let mean = sum / Double(n), variance = sumSq / Double(n) - mean * mean
        // Standard errors: mean 1/sqrt(n) ≈ 0.0022, variance sqrt(2/n) ≈ 0.0032; allow 5 sigma.
        #expect(abs(mean) < 0.012)
        #expect(abs(variance - 1) < 0.016)
    }

    @Test func uniformIntIsInRangeAndCoversIt() {
        var g = SeededGenerator(seed: 3)
        var seen = Set<Int>()
        for _ in 0..<1000 {
            let x = g.nextInt(below: 7)
            #expect((0..<7).contains(x))
            seen.insert(x)
        }
        #expect(seen.count == 7)
    }
}
