/// Deterministic train/validation assignment by a stable hash of a protein's accession or id.
///
///   key = `TrainValidationSplit.key(for: id)`   (`sp|P69905|HBA_HUMAN` → `P69905`),
///   u   = top 53 bits of mix64(FNV-1a-64(UTF-8 of key) XOR seed) / 2⁵³   ∈ [0, 1),
///   side = validation if u < validationFraction, else train,
/// where mix64 is the SplitMix64 output finaliser (`SplitMix64.mix`) (a bijection that spreads FNV's bits).
///
/// The same id lands on the same side in every run, on every machine, in any corpus order;
/// raising the fraction only moves proteins from train to validation (the validation set
/// grows as a superset), and a different `seed` gives an independent split.
public struct TrainValidationSplit: Sendable, Equatable, Hashable, Codable {
    /// Which part of the corpus a protein belongs to.
    public enum Side: String, Sendable, CaseIterable, Codable {
        case train
        case validation
    }

    /// Expected share of proteins on the validation side, in [0, 1].
    public var validationFraction: Double
    /// Selects one of many independent splits; 0 by default.
    public var seed: UInt64

    public init(validationFraction: Double, seed: UInt64 = 0) {
        precondition((0...1).contains(validationFraction), "validationFraction must be in [0, 1]")
        self.validationFraction = validationFraction
        self.seed = seed
    }

    /// The side of the protein with this id or accession.
    public func side<S: StringProtocol>(of id: S) -> Side {
        position(of: id) < validationFraction ? .validation : .train
    }

    /// True when the protein belongs to the validation side.
    public func isValidation<S: StringProtocol>(_ id: S) -> Bool { side(of: id) == .validation }

    /// The protein's place u ∈ [0, 1) on the split line (see the type's description).
    public func position<S: StringProtocol>(of id: S) -> Double {
        position(keyHash: TrainValidationSplit.keyHash(utf8: id.utf8))
    }

    /// The place on the split line of the protein whose key hashes to `keyHash`
    /// (`keyHash(utf8:)`, `RecordInfo.idKeyHash`).
    public func position(keyHash: UInt64) -> Double {
        let h = SplitMix64.mix(keyHash ^ seed)
        return Double(h >> 11) * 0x1.0p-53
    }

    /// The side of the protein whose key hashes to `keyHash`.
    public func side(keyHash: UInt64) -> Side {
        position(keyHash: keyHash) < validationFraction ? .validation : .train
    }

    /// The side of a record read by the fused path (`SequenceReader.nextTokens`), from its
    /// `idKeyHash`: the same side as `side(of: record.id)`, without building the id.
    public func side(of record: RecordInfo) -> Side {
        side(keyHash: record.idKeyHash)
    }

    /// FNV-1a-64 of the key of the id with these UTF-8 bytes: the bytes between `sp|` or `tr|`
    /// and the next `|` (or the end), otherwise all of them — `key(for:)` cut on bytes, so no
    /// `String` is needed.
    @inlinable
    public static func keyHash<C: Collection>(utf8 id: C) -> UInt64 where C.Element == UInt8 {
        var start = id.startIndex
        var end = id.endIndex
        var iterator = id.makeIterator()
        if let a = iterator.next(), let b = iterator.next(), iterator.next() == UInt8(ascii: "|"),
           (a == UInt8(ascii: "s") && b == UInt8(ascii: "p")) || (a == UInt8(ascii: "t") && b == UInt8(ascii: "r")) {
            start = id.index(start, offsetBy: 3)
            end = id[start...].firstIndex(of: UInt8(ascii: "|")) ?? id.endIndex
        }
        return FNV1a64.hash(id[start..<end])
    }

    /// The part of an id that names the protein: the accession of a UniProt FASTA id
    /// (`sp|P69905|HBA_HUMAN` or `tr|A0A0…|…` → the field between the first two `|`), otherwise
    /// the id unchanged. A protein then lands on the same side whether it was read from
    /// UniProt FASTA (id `sp|P69905|HBA_HUMAN`) or from a `.dat` file (accession `P69905`).
    public static func key<S: StringProtocol>(for id: S) -> S.SubSequence {
        let bytes = id.utf8
        guard bytes.count >= 3,
              bytes.starts(with: "sp|".utf8) || bytes.starts(with: "tr|".utf8)
        else { return id[...] }
        let start = id.index(id.startIndex, offsetBy: 3)
        let end = id[start...].firstIndex(of: "|") ?? id.endIndex
        return id[start ..< end]
    }

    /// `keyHash(utf8:)` for bytes in memory (the fused readers' header buffer): the same value,
    /// with no iterator or index overhead.
    public static func keyHash(utf8 id: UnsafeBufferPointer<UInt8>) -> UInt64 {
        guard let p = id.baseAddress else { return FNV1a64.offsetBasis }
        var start = 0
        var end = id.count
        if end >= 3 && p[2] == UInt8(ascii: "|")
            && ((p[0] == UInt8(ascii: "s") && p[1] == UInt8(ascii: "p")) || (p[0] == UInt8(ascii: "t") && p[1] == UInt8(ascii: "r"))) {
            start = 3
            var i = 3
            while i < end && p[i] != UInt8(ascii: "|") { i += 1 }
            end = i
        }
        var h = FNV1a64.offsetBasis
        for i in start..<end { h = (h ^ UInt64(p[i])) &* FNV1a64.prime }
        return h
    }

    enum CodingKeys: String, CodingKey {
        case validationFraction = "validation_fraction"
        case seed
    }

    /// Decodes and checks that the fraction lies in [0, 1] (a stored split is input data).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let fraction = try c.decode(Double.self, forKey: .validationFraction)
        guard (0...1).contains(fraction) else {
            throw DecodingError.dataCorruptedError(
                forKey: .validationFraction, in: c, debugDescription: "validation_fraction must be in [0, 1], got \(fraction)")
        }
        self.init(validationFraction: fraction, seed: try c.decode(UInt64.self, forKey: .seed))
    }
}
