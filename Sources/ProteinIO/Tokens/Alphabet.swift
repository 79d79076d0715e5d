/// A token id: an index into the vocabulary of `Alphabet.protein` (0 ..< `Alphabet.count`).
///
/// One byte per token: the vocabulary has 31 entries, a window of L = 8192 tokens is 8 KiB, and
/// the tokenizer's lookup table maps a byte straight to a byte.
public typealias TokenID = UInt8

/// The vocabulary of protein-performer: six special tokens, the 20 standard amino acids and the
/// five IUPAC/UniProt extras, in one fixed id layout (`protein-v1`).
///
/// | ids     | tokens                                                   |
/// |---------|----------------------------------------------------------|
/// | 0 – 5   | `<pad>` `<mask>` `<cls>` `<eos>` `<sep>` `<unk>`          |
/// | 6 – 25  | A C D E F G H I K L M N P Q R S T V W Y (standard, A–Z)   |
/// | 26 – 30 | B Z X U O (Asx, Glx, any, selenocysteine, pyrrolysine)   |
///
/// Gap characters (`-`, `.`) are not tokens: aligned input is accepted only by deleting them
/// (`Tokenizer.GapPolicy.remove`). The layout never changes under the name `protein-v1`; a
/// different layout must get a different `name`.
///
/// An `Alphabet` value is the *serialisable description* of a layout (its name and its token
/// strings in id order). A checkpoint stores one (`serializedTokens`) and the loader calls
/// `Alphabet.protein.validate(against: stored, file:)`, so a model never runs with the wrong
/// vocabulary. The layout itself is fixed, so the helpers (`isResidue`, `character(for:)`, …)
/// are static and cost nothing on hot paths.
public struct Alphabet: Sendable, Equatable, Hashable, Codable {
    /// Name of the layout, e.g. `protein-v1`.
    public var name: String
    /// Token strings in id order: `tokens[Int(id)]`. Residues are one uppercase letter,
    /// special tokens are `<…>`.
    public var tokens: [String]

    /// Number of tokens in this description.
    public var count: Int { tokens.count }

    /// A layout description, as read back from a checkpoint. It is not checked here; compare it
    /// with `Alphabet.protein.validate(against:file:)`.
    public init(name: String, tokens: [String]) {
        self.name = name
        self.tokens = tokens
    }

    /// The one layout this code tokenises with (see the table above).
    public static let protein = Alphabet(
        name: layoutName,
        tokens: specialTokens + (standardResidues + extraResidues).map { String(UnicodeScalar($0)) })
}

// MARK: - The fixed layout

extension Alphabet {
    /// Name of the fixed layout.
    public static let layoutName = "protein-v1"

    /// `<pad>`: fills the end of the last window; never a target.
    @inlinable public static var pad: TokenID { 0 }
    /// `<mask>`: replaces a selected residue in masked-LM input.
    @inlinable public static var mask: TokenID { 1 }
    /// `<cls>`: starts every protein in a packed window.
    @inlinable public static var cls: TokenID { 2 }
    /// `<eos>`: end of a single sequence (generation, scoring); the packer does not emit it.
    @inlinable public static var eos: TokenID { 3 }
    /// `<sep>`: ends every protein in a packed window (so it sits between proteins).
    @inlinable public static var sep: TokenID { 4 }
    /// `<unk>`: a character that is not a residue letter (lenient tokenizer mode).
    @inlinable public static var unk: TokenID { 5 }

    /// Id of the first residue token (`A`).
    @inlinable public static var firstResidue: TokenID { 6 }
    /// Number of standard amino acids (ids `firstResidue ..< firstResidue + 20`).
    @inlinable public static var standardResidueCount: Int { 20 }
    /// Number of residue tokens, standard and extra (ids `firstResidue ..< count`).
    @inlinable public static var residueCount: Int { 25 }
    /// Size of the vocabulary (embedding rows): 6 special + 20 standard + 5 extra = 31.
    @inlinable public static var count: Int { 31 }

    /// The special tokens in id order.
    public static let specialTokens = ["<pad>", "<mask>", "<cls>", "<eos>", "<sep>", "<unk>"]
    /// The 20 standard amino acids (ASCII), alphabetical by one-letter code, ids 6 – 25.
    public static let standardResidues: [UInt8] = Array("ACDEFGHIKLMNPQRSTVWY".utf8)
    /// The IUPAC/UniProt extras (ASCII), ids 26 – 30: B (D or N), Z (E or Q), X (any),
    /// U (selenocysteine), O (pyrrolysine).
    public static let extraResidues: [UInt8] = Array("BZXUO".utf8)

    /// True for the six special tokens (ids 0 – 5).
    @inlinable public static func isSpecial(_ id: TokenID) -> Bool { id < firstResidue }

    /// True for any residue token, standard or extra (ids 6 – 30).
    @inlinable public static func isResidue(_ id: TokenID) -> Bool {
        id >= firstResidue && Int(id) < count
    }

    /// True for the 20 standard amino acids (ids 6 – 25).
    @inlinable public static func isStandardResidue(_ id: TokenID) -> Bool {
        id >= firstResidue && Int(id) < Int(firstResidue) + standardResidueCount
    }

    /// The id of a residue letter (either case), or nil for anything else (gaps, `*`, digits,
    /// letters outside the alphabet such as `J`).
    public static func id(for character: UInt8) -> TokenID? {
        let upper = (character >= UInt8(ascii: "a") && character <= UInt8(ascii: "z")) ? character - 32 : character
        if let i = standardResidues.firstIndex(of: upper) { return firstResidue + TokenID(i) }
        if let i = extraResidues.firstIndex(of: upper) {
            return firstResidue + TokenID(standardResidueCount + i)
        }
        return nil
    }

    /// The uppercase ASCII letter of a residue token, or nil for special or out-of-range ids.
    public static func character(for id: TokenID) -> UInt8? {
        guard isResidue(id) else { return nil }
        let i = Int(id - firstResidue)
        return i < standardResidueCount ? standardResidues[i] : extraResidues[i - standardResidueCount]
    }

    /// The token string of an id (`"<cls>"`, `"A"`), or `"<?n>"` for an id outside the vocabulary.
    public static func token(for id: TokenID) -> String {
        Int(id) < count ? protein.tokens[Int(id)] : "<?\(id)>"
    }
}
