import ProteinIO

/// How much attention flows from each token type to each token type, per layer and head, summed
/// over every window a model has read: the raw material of the similarity matrices.
///
/// With A the attention matrix of one (layer, head) on one window (rows sum to 1) and x the
/// window's tokens,
///
///     mass[layer, head, a, b] = Σ_windows Σ_{i: x_i = a} Σ_{j: x_j = b} A_ij,
///
/// for every pair of token ids a, b < `types` (the model's vocabulary: residues and special
/// tokens alike; the 20×20 residue block is what the similarity methods read). Since every row
/// of A sums to 1, Σ_b mass[l, h, a, b] = `tokenCounts[a]` for every (l, h).
/// Filled by `AttentionSimilarity`.
public struct AttentionTypeMass: Sendable, Equatable {
    /// Layers of the model.
    public let layers: Int
    /// Heads per layer.
    public let heads: Int
    /// Token types (the vocabulary size V).
    public let types: Int
    /// [layers, heads, types (query), types (key)], row-major.
    public internal(set) var mass: [Double]
    /// [types]: positions of each token type read (each window once, not once per head).
    public internal(set) var tokenCounts: [Double]
    /// Windows read.
    public internal(set) var windows: Int

    /// An empty accumulator.
    public init(layers: Int, heads: Int, types: Int) {
        precondition(layers >= 1 && heads >= 1 && types >= 1, "bad attention-mass shape")
        self.layers = layers
        self.heads = heads
        self.types = types
        mass = [Double](repeating: 0, count: layers * heads * types * types)
        tokenCounts = [Double](repeating: 0, count: types)
        windows = 0
    }

    /// mass[layer, head, query, key].
    public subscript(layer layer: Int, head head: Int, query query: Int, key key: Int) -> Double {
        mass[((layer * heads + head) * types + query) * types + key]
    }

    /// Adds another accumulator of the same shape (e.g. from another process or corpus shard).
    public mutating func merge(_ other: AttentionTypeMass) {
        precondition(other.layers == layers && other.heads == heads && other.types == types,
                     "merging attention masses of different shapes")
        for i in mass.indices { mass[i] += other.mass[i] }
        for i in tokenCounts.indices { tokenCounts[i] += other.tokenCounts[i] }
        windows += other.windows
    }

    /// Token id of each letter (a standard residue letter; traps otherwise).
    static func tokenIDs(_ letters: [Character]) -> [Int] {
        letters.map { letter in
            guard let ascii = letter.asciiValue, let id = Alphabet.id(for: ascii), Alphabet.isStandardResidue(id) else {
                fatalError("'\(letter)' is not a standard amino acid")
            }
            return Int(id)
        }
    }

    /// The standard residues (NCBI order) that never occurred in the windows read: their rows and
    /// columns of every similarity matrix are undefined (NaN).
    public var missingResidues: [Character] {
        let ids = AttentionTypeMass.tokenIDs(SubstitutionMatrix.standardLetters)
        return zip(SubstitutionMatrix.standardLetters, ids).filter { $0.1 >= types || tokenCounts[$0.1] == 0 }.map(\.0)
    }
}
