import Foundation
import Testing
@testable import ProteinIO

@Suite struct MaskerTests {
    /// A batch whose rows are random residues drawn from `ids`.
    static func residueBatch(rows: Int, length: Int, ids: ClosedRange<Int>, seed: UInt64) -> Batch {
        var g = SeededGenerator(seed: seed)
        var batch = Batch(batch: rows, length: length)
        for i in 0..<batch.tokens.count { batch.tokens[i] = TokenID(ids.lowerBound + g.nextInt(below: ids.count)) }
        batch.windows = rows
        return batch
    }

    /// A batch packed from proteins that contain `<unk>`, with a padded last row.
    static func packedBatch(seed: UInt64) throws -> Batch {
        var g = SeededGenerator(seed: seed)
        var packer = Packer(configuration: PackerConfiguration(windowLength: 64, layout: .padded), seed: seed)
        for _ in 0..<40 {
            packer.push((0..<g.nextInt(below: 50)).map { _ in g.nextInt(below: 10) == 0 ? Alphabet.unk : TokenID(6 + g.nextInt(below: 25)) })
        }
        packer.finish()
        var batch = Batch(batch: packer.availableWindows + 1, length: 64)
        let filled = packer.nextBatch(into: &batch)
        #expect(filled)
        return batch
    }

    @Test func selectionCountIsRoundedFifteenPercent() {
        let masker = Masker(seed: 0)
        // round(0.15 n), halves away from zero: worked by hand.
        for (n, k) in [(0, 0), (3, 0), (4, 1), (10, 2), (100, 15), (256, 38), (8190, 1229)] {
            #expect(masker.selectionCount(residues: n) == k, "n = \(n)")
        }
    }

    @Test func fifteenEightyTenTenStatistics() {
        var masker = Masker(seed: 11)
        let length = 256
        var selected = 0, masked = 0, replacedDifferent = 0, unchanged = 0, other = 0
        var replacementCounts = [Int](repeating: 0, count: 256)
        var quarterSelections = [Int](repeating: 0, count: 4)
        var windows = 0
        for b in 0..<125 {
            // Standard residues only, so a random replacement equals the original with p = 1/20.
            let original = Self.residueBatch(rows: 16, length: length, ids: 6...25, seed: UInt64(1000 + b))
            var batch = original
            masker.apply(to: &batch)
            windows += 16
            for i in 0..<batch.tokens.count where batch.weights[i] == 1 {
                selected += 1
                quarterSelections[(i % length) / (length / 4)] += 1
                #expect(batch.targets[i] == original.tokens[i])
                let t = batch.tokens[i]
                if t == Alphabet.mask { masked += 1 }
                else if t == original.tokens[i] { unchanged += 1 }
                else if Alphabet.isStandardResidue(t) { replacedDifferent += 1; replacementCounts[Int(t)] += 1 }
                else { other += 1 }
            }
            for i in 0..<batch.tokens.count where batch.weights[i] == 0 {
                #expect(batch.tokens[i] == original.tokens[i] && batch.targets[i] == Alphabet.pad)
            }
        }
        // Exactly round(0.15 · 256) = 38 per window.
        #expect(selected == windows * 38)
        let s = Double(selected)
        // Expected shares: mask 0.8; different residue 0.1 · 19/20 = 0.095; unchanged
        // 0.1 + 0.1/20 = 0.105. Binomial standard errors at s = 76 000 are ≤ 0.0015: 5 σ ≈ 0.0075.
        #expect(abs(Double(masked) / s - 0.8) < 0.0075)
        #expect(abs(Double(replacedDifferent) / s - 0.095) < 0.0055)
        #expect(abs(Double(unchanged) / s - 0.105) < 0.0055)
        #expect(other == 0)
        // Replacement residues are uniform over the 20: expected 0.1 · s / 20 · 19/20 ≈ 361 each,
        // σ ≈ 19.
        for id in 6...25 { #expect(abs(Double(replacementCounts[id]) - 0.1 * s / 20 * 0.95) < 100, "residue id \(id)") }
        // No positional bias: each quarter of the window gets a quarter of the selections
        // (σ of a quarter's share ≈ 0.0016 at s = 76 000).
        for q in quarterSelections { #expect(abs(Double(q) / s - 0.25) < 0.008) }
    }

    @Test func specialTokensAreNeverSelectedAndExtrasAre() throws {
        var masker = Masker(seed: 5)
        var extrasSelected = 0
        for seed in 0..<30 {
            let original = try Self.packedBatch(seed: UInt64(seed))
            var batch = original
            masker.apply(to: &batch)
            for r in 0..<batch.batch {
                let range = r * batch.length ..< (r + 1) * batch.length
                let residues = original.tokens[range].filter(Alphabet.isResidue).count
                let chosen = batch.weights[range].filter { $0 == 1 }.count
                #expect(chosen == Int((0.15 * Double(residues)).rounded()))
            }
            for i in 0..<batch.tokens.count {
                if Alphabet.isSpecial(original.tokens[i]) {
                    #expect(batch.weights[i] == 0 && batch.tokens[i] == original.tokens[i])
                }
                if batch.weights[i] == 1 {
                    #expect(Alphabet.isResidue(batch.targets[i]))
                    if !Alphabet.isStandardResidue(batch.targets[i]) { extrasSelected += 1 }
                } else {
                    #expect(batch.weights[i] == 0 && batch.targets[i] == Alphabet.pad)
                }
            }
            // The all-<pad> last row stays all <pad>.
            #expect(batch.row(batch.batch - 1).allSatisfy { $0 == Alphabet.pad })
        }
        #expect(extrasSelected > 0, "B Z X U O are residues and may be targets")
    }

    @Test func sameSeedSameMasksDifferentSeedDifferentMasks() {
        let original = Self.residueBatch(rows: 4, length: 128, ids: 6...30, seed: 1)
        var a = original, b = original, c = original
        var ma = Masker(seed: 42), mb = Masker(seed: 42), mc = Masker(seed: 43)
        ma.apply(to: &a); mb.apply(to: &b); mc.apply(to: &c)
        #expect(a == b)
        #expect(a.weights != c.weights)
    }

    @Test func resumeFromSavedGeneratorGivesTheIdenticalNextBatch() throws {
        var masker = Masker(seed: 9)
        var first = Self.residueBatch(rows: 3, length: 200, ids: 6...30, seed: 2)
        let secondOriginal = Self.residueBatch(rows: 3, length: 200, ids: 6...30, seed: 3)
        masker.apply(to: &first)
        let saved = masker.generator.state
        var second = secondOriginal
        masker.apply(to: &second)

        var resumed = Masker(generator: SeededGenerator(state: saved))
        var again = secondOriginal
        resumed.apply(to: &again)
        #expect(again == second)
        #expect(resumed.generator == masker.generator)
    }

    @Test func configurationDecodingChecksRanges() throws {
        let ok = #"{"select_fraction": 0.15, "mask_fraction": 0.8, "random_fraction": 0.1}"#
        #expect(try JSONDecoder().decode(Masker.Configuration.self, from: Data(ok.utf8)) == Masker.Configuration())
        for bad in [#"{"select_fraction": 1.5, "mask_fraction": 0.8, "random_fraction": 0.1}"#,
                    #"{"select_fraction": 0.15, "mask_fraction": 0.8, "random_fraction": 0.3}"#,
                    #"{"select_fraction": 0.15, "mask_fraction": -0.1, "random_fraction": 0.1}"#] {
            #expect(throws: DecodingError.self) { try JSONDecoder().decode(Masker.Configuration.self, from: Data(bad.utf8)) }
        }
    }

    @Test func causalTargetsAreNextTokensWeightedOnResiduesAndEndMarkers() {
        // <cls> M K <sep> <cls> A <unk> <sep> <pad> <pad>, worked by hand.
        let row: [TokenID] = [2, 16, 14, 4, 2, 6, 5, 4, 0, 0]
        var batch = Batch(batch: 2, length: 10)
        batch.tokens.replaceSubrange(0..<10, with: row)
        batch.tokens.replaceSubrange(10..<20, with: [6, 7, 8, 9, 10, 11, 12, 13, 14, 15])
        CausalTargets.apply(to: &batch)
        #expect(Array(batch.targets[0..<10]) == [16, 14, 4, 2, 6, 5, 4, 0, 0, 0])
        // M (residue) 1, K 1, <sep> 1, <cls> 0, A 1, <unk> 0, <sep> 1, <pad> 0, <pad> 0, last 0.
        #expect(Array(batch.weights[0..<10]) == [1, 1, 1, 0, 1, 0, 1, 0, 0, 0])
        #expect(Array(batch.targets[10..<20]) == [7, 8, 9, 10, 11, 12, 13, 14, 15, 0])
        #expect(Array(batch.weights[10..<20]) == [1, 1, 1, 1, 1, 1, 1, 1, 1, 0])
        #expect(Array(batch.tokens[0..<10]) == row)
    }
}
