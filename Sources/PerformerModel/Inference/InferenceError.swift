/// Why a scoring, variant or fill request cannot be carried out; `description` is one line for
/// the CLI (it names the sequence, the variant or the character at fault).
public struct InferenceError: Error, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The method does not apply to this model (e.g. `pll` on a causal model).
        case methodNotApplicable
        /// A token that a protein cannot contain (a special token other than `<unk>`).
        case invalidToken
        /// A mutation list that does not parse (`A23G,K45R` expected).
        case invalidMutation
        /// A variant that does not fit its sequence (wrong wild type, position out of range).
        case variantMismatch
        /// A masked sequence with a character that is neither a residue nor a mask.
        case invalidMaskedSequence
        /// A fill request without any masked position.
        case noMaskedPositions
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
