/// A square, labelled matrix of scores between residue letters: BLOSUM62 as read from its file,
/// or a matrix estimated from a model's attention (`AttentionTypeMass`).
///
/// Letters are single characters (`A`, `*`); `scores` is row-major [n, n] with
/// `scores[i * n + j]` the score of row letter `letters[i]` against column letter `letters[j]`.
/// Entries may be NaN (an undefined estimate; written as `nan` / JSON `null`). Comments (the
/// `#` lines of an NCBI file, without the `#`) travel with the matrix and are written back.
///
/// I/O (see `SubstitutionMatrix+IO.swift`): the NCBI/EMBOSS text layout (the layout of
/// `data/BLOSUM62`), TSV and JSON, each with a parser and a writer.
public struct SubstitutionMatrix: Sendable, Equatable {
    /// Row and column labels, in order, all different.
    public var letters: [Character]
    /// Scores [n, n], row-major.
    public var scores: [Double]
    /// Comment lines (without the leading `#` and one following space).
    public var comments: [String]

    /// A matrix from its letters and row-major scores (`letters.count`² values; letters unique).
    public init(letters: [Character], scores: [Double], comments: [String] = []) {
        precondition(scores.count == letters.count * letters.count,
                     "\(scores.count) scores for \(letters.count) letters")
        precondition(Set(letters).count == letters.count, "duplicate letters in a substitution matrix")
        self.letters = letters
        self.scores = scores
        self.comments = comments
    }

    /// The 20 standard amino acids in the NCBI/BLOSUM order `ARNDCQEGHILKMFPSTWYV` (the order of
    /// `data/BLOSUM62` and of every matrix this package writes).
    public static let standardLetters: [Character] = Array("ARNDCQEGHILKMFPSTWYV")

    /// Number of letters.
    public var count: Int { letters.count }

    /// Position of `letter` in `letters`, or nil.
    public func index(of letter: Character) -> Int? { letters.firstIndex(of: letter) }

    /// The score of row `row` against column `column`, or nil when either letter is absent.
    public subscript(row: Character, column: Character) -> Double? {
        guard let i = index(of: row), let j = index(of: column) else { return nil }
        return scores[i * count + j]
    }

    /// Whether `scores[i][j] == scores[j][i]` for every pair (NaN equals NaN here).
    public var isSymmetric: Bool {
        for i in 0..<count {
            for j in 0..<i {
                let a = scores[i * count + j], b = scores[j * count + i]
                if a != b && !(a.isNaN && b.isNaN) { return false }
            }
        }
        return true
    }

    /// The sub-matrix on `letters` (in that order), or nil when one of them is absent.
    public func restricted(to letters: [Character]) -> SubstitutionMatrix? {
        var indices: [Int] = []
        for letter in letters {
            guard let i = index(of: letter) else { return nil }
            indices.append(i)
        }
        var values: [Double] = []
        values.reserveCapacity(letters.count * letters.count)
        for i in indices { for j in indices { values.append(scores[i * count + j]) } }
        return SubstitutionMatrix(letters: letters, scores: values, comments: comments)
    }

    /// Letters of `letters` that this matrix lacks.
    public func missingLetters(_ letters: [Character]) -> [Character] {
        letters.filter { index(of: $0) == nil }
    }

    /// The two matrices' scores over the unordered off-diagonal pairs of `letters` (a before b in
    /// `letters`; 190 pairs for the 20 standard amino acids), compared by Pearson and Spearman
    /// correlation. The diagonal is left out on purpose: identities score high in any similarity
    /// matrix, and would inflate the correlation (an identity matrix alone reaches about 0.8
    /// against BLOSUM62 with it). Reads the [a, b] entry of both matrices.
    ///
    /// Returns nil when either matrix lacks one of `letters`. A NaN entry makes both
    /// correlations NaN.
    public func correlation(with other: SubstitutionMatrix, letters: [Character] = standardLetters)
        -> MatrixCorrelation?
    {
        guard missingLetters(letters).isEmpty, other.missingLetters(letters).isEmpty else { return nil }
        var mine: [Double] = [], theirs: [Double] = []
        for (i, a) in letters.enumerated() {
            for b in letters[(i + 1)...] {
                mine.append(self[a, b] ?? .nan)
                theirs.append(other[a, b] ?? .nan)
            }
        }
        return MatrixCorrelation(
            pearson: Correlation.pearson(mine, theirs), spearman: Correlation.spearman(mine, theirs),
            pairs: mine.count)
    }
}

/// Correlation of two substitution matrices over their off-diagonal pairs.
public struct MatrixCorrelation: Sendable, Equatable {
    /// Pearson's r.
    public var pearson: Double
    /// Spearman's ρ (ties share their average rank).
    public var spearman: Double
    /// Number of unordered off-diagonal pairs compared (190 for 20 letters).
    public var pairs: Int

    public init(pearson: Double, spearman: Double, pairs: Int) {
        self.pearson = pearson
        self.spearman = spearman
        self.pairs = pairs
    }
}

/// A substitution-matrix file that cannot be read; `description` is one line,
/// `file:line: message` (no line when the problem is not tied to one).
public struct SubstitutionMatrixError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    public var line: Int?
    public var message: String

    public init(file: String, line: Int? = nil, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        line.map { "\(file):\($0): \(message)" } ?? "\(file): \(message)"
    }
}
