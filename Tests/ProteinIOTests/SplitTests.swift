import Foundation
import Testing
@testable import ProteinIO

@Suite struct SplitTests {
    /// Test vectors of the FNV specification (draft-eastlake-fnv, FNV-1a 64-bit).
    @Test(arguments: [("", 0xcbf2_9ce4_8422_2325 as UInt64), ("a", 0xaf63_dc4c_8601_ec8c), ("foobar", 0x8594_4171_f739_67e8)])
    func fnv1a64MatchesTheSpecVectors(input: String, expected: UInt64) {
        #expect(FNV1a64.hash(input) == expected)
        #expect(FNV1a64.hash(Array(input.utf8)) == expected)
    }

    /// Positions computed by an independent Python implementation of the documented formula:
    ///   fnv = FNV-1a-64(key); z = fnv ^ seed; z = (z ^ z>>30)·0xBF58476D1CE4E5B9;
    ///   z = (z ^ z>>27)·0x94D049BB133111EB; z ^= z>>31; u = (z >> 11) · 2⁻⁵³
    /// (python3, 64-bit masking by hand). They pin the split across builds and machines.
    @Test func positionsMatchAnIndependentComputation() {
        let split = TrainValidationSplit(validationFraction: 0.6)
        #expect(FNV1a64.hash("P69905") == 0x29cf_b418_87dd_2756)
        #expect(split.position(of: "P69905") == 0.57125376315099)
        #expect(split.position(of: "Q9Y6K9") == 0.9072386824314269)
        #expect(split.position(of: "A0A023GPI8") == 0.6984769438178238)
        #expect(TrainValidationSplit(validationFraction: 0.6, seed: 42).position(of: "P69905") == 0.653167590533252)
        #expect(split.side(of: "P69905") == .validation && split.side(of: "Q9Y6K9") == .train)
    }

    static func accessions(_ count: Int) -> [String] {
        var g = SeededGenerator(seed: 1234)
        let letters: [Character] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), digits: [Character] = Array("0123456789")
        return (0..<count).map { i in
            // UniProt-like: letter, digit, three alphanumerics, digit; plus the index for uniqueness.
            var s = String(letters[g.nextInt(below: 26)]) + String(digits[g.nextInt(below: 10)])
            for _ in 0..<3 { s.append(g.nextInt(below: 2) == 0 ? letters[g.nextInt(below: 26)] : digits[g.nextInt(below: 10)]) }
            return s + String(digits[g.nextInt(below: 10)]) + "_\(i)"
        }
    }

    @Test(arguments: [0.01, 0.1, 0.5])
    func validationShareIsTheRequestedFraction(fraction: Double) {
        let ids = Self.accessions(100_000)
        let split = TrainValidationSplit(validationFraction: fraction)
        let validation = ids.filter(split.isValidation).count
        // Binomial: σ = sqrt(f(1 − f)/n) ≤ 0.0016; allow 5 σ.
        let sigma = (fraction * (1 - fraction) / Double(ids.count)).squareRoot()
        #expect(abs(Double(validation) / Double(ids.count) - fraction) < 5 * sigma)
    }

    @Test func sequentialAccessionsAreSpreadToo() {
        // Ids that differ only in their last characters must not cluster on one side.
        let ids = (0..<50_000).map { "P\(String(10000 + $0))" }
        let split = TrainValidationSplit(validationFraction: 0.2)
        let share = Double(ids.filter(split.isValidation).count) / Double(ids.count)
        #expect(abs(share - 0.2) < 0.009)  // 5 σ
    }

    @Test func deterministicMonotoneAndSeeded() {
        let ids = Self.accessions(20_000)
        let small = TrainValidationSplit(validationFraction: 0.05), large = TrainValidationSplit(validationFraction: 0.1)
        let a = ids.map { small.side(of: $0) }, b = ids.map { TrainValidationSplit(validationFraction: 0.05).side(of: $0) }
        #expect(a == b)
        // Validation at 5 % is a subset of validation at 10 %.
        #expect(ids.allSatisfy { !small.isValidation($0) || large.isValidation($0) })
        // Another seed is another split.
        let other = TrainValidationSplit(validationFraction: 0.05, seed: 1)
        let overlap = ids.filter { small.isValidation($0) && other.isValidation($0) }.count
        #expect(overlap < ids.filter(small.isValidation).count / 4)  // independent: ≈ 5 % of them
        #expect(ids.allSatisfy { TrainValidationSplit(validationFraction: 0).side(of: $0) == .train })
        #expect(ids.allSatisfy { TrainValidationSplit(validationFraction: 1).side(of: $0) == .validation })
    }

    @Test func uniprotFastaIdsUseTheirAccession() {
        #expect(TrainValidationSplit.key(for: "sp|P69905|HBA_HUMAN") == "P69905")
        #expect(TrainValidationSplit.key(for: "tr|A0A023GPI8|LECA_CANBL") == "A0A023GPI8")
        #expect(TrainValidationSplit.key(for: "sp|P12345") == "P12345")
        #expect(TrainValidationSplit.key(for: "P69905") == "P69905")
        #expect(TrainValidationSplit.key(for: "gi|12345|ref") == "gi|12345|ref")
        let split = TrainValidationSplit(validationFraction: 0.5)
        for id in Self.accessions(200) {
            #expect(split.position(of: "sp|\(id)|X_HUMAN") == split.position(of: id))
        }
    }

    @Test func decodingChecksTheFraction() throws {
        let ok = #"{"validation_fraction": 0.05, "seed": 7}"#
        #expect(try JSONDecoder().decode(TrainValidationSplit.self, from: Data(ok.utf8)) == TrainValidationSplit(validationFraction: 0.05, seed: 7))
        let bad = #"{"validation_fraction": 1.2, "seed": 7}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(TrainValidationSplit.self, from: Data(bad.utf8)) }
    }
}
