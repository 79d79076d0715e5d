/// Summary counts over the records of one input, as `protein-tool stats` prints them
/// (the `seqkit stats` columns plus what a protein user wants: composition and non-standard residues).
///
/// Residues are counted as the bytes of `SequenceRecord.residues` (sequence characters as in the file,
/// line breaks and blanks removed; a trailing `*` or gap characters count), which is what `seqkit stats`
/// calls `sum_len`. Composition is case-insensitive.
public struct SequenceStatistics: Sendable, Equatable {
    /// The 20 standard amino acids in alphabetical one-letter order.
    public static let standardResidues: [UInt8] = Array("ACDEFGHIKLMNPQRSTVWY".utf8)

    public private(set) var records = 0
    public private(set) var residues = 0
    /// Shortest and longest record (0 when there are no records).
    public private(set) var minLength = 0
    public private(set) var maxLength = 0
    /// Four partial histograms of raw byte values (index = lane · 256 + byte): counting runs of the
    /// same letter into different lanes avoids a store-to-load dependency in the hot loop.
    private var lanes = [Int](repeating: 0, count: 4 * 256)

    public init() {}

    /// Count of every byte value seen in sequences, lowercase a–z folded onto A–Z (index = ASCII code).
    public var byteCounts: [Int] {
        var counts = [Int](repeating: 0, count: 256)
        for code in 0..<256 {
            let count = lanes[code] + lanes[256 + code] + lanes[512 + code] + lanes[768 + code]
            counts[(97...122).contains(code) ? code - 32 : code] += count
        }
        return counts
    }

    /// Mean record length (0 when there are no records).
    public var meanLength: Double { records == 0 ? 0 : Double(residues) / Double(records) }

    /// Residues that are not one of the 20 standard amino acids (B, Z, X, U, O, `*`, gaps, …).
    public var nonStandardResidues: Int {
        residues - standardCounts.reduce(0, +)
    }

    /// Count of each standard amino acid, in `standardResidues` order.
    public var standardCounts: [Int] {
        let counts = byteCounts
        return Self.standardResidues.map { counts[Int($0)] }
    }

    /// The non-standard characters seen, with their counts, in byte order.
    public var nonStandardCounts: [(character: Character, count: Int)] {
        let standard = Set(Self.standardResidues)
        let counts = byteCounts
        return (0..<256).compactMap { code in
            let count = counts[code]
            guard count > 0, !standard.contains(UInt8(code)) else { return nil }
            return (Character(Unicode.Scalar(UInt8(code))), count)
        }
    }

    /// Adds one record's sequence.
    public mutating func add(_ residues: [UInt8]) {
        let length = residues.count
        if records == 0 {
            minLength = length
            maxLength = length
        } else {
            minLength = Swift.min(minLength, length)
            maxLength = Swift.max(maxLength, length)
        }
        records += 1
        self.residues += length
        lanes.withUnsafeMutableBufferPointer { h in
            residues.withUnsafeBufferPointer { r in
                var i = 0
                while i + 4 <= length {
                    h[Int(r[i])] += 1
                    h[256 + Int(r[i + 1])] += 1
                    h[512 + Int(r[i + 2])] += 1
                    h[768 + Int(r[i + 3])] += 1
                    i += 4
                }
                while i < length { h[Int(r[i])] += 1; i += 1 }
            }
        }
    }
}
