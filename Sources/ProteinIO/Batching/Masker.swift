/// The masked-LM corruption of BERT (Devlin et al. 2019, §3.1), on residue positions only.
///
/// Per window (row) of a batch, with n = the number of residue positions (ids 6 – 30; special
/// tokens `<pad> <mask> <cls> <eos> <sep> <unk>` are never candidates):
/// 1. exactly k = round(`selectFraction` · n) positions are selected, uniformly without
///    replacement (a partial Fisher–Yates shuffle of the candidate positions);
/// 2. each selected position independently becomes `<mask>` with probability
///    `maskFraction` (0.8), a residue drawn uniformly from the 20 standard amino acids with
///    probability `randomFraction` (0.1; it may equal the original), and stays as it is
///    otherwise (0.1);
/// 3. target = the original id and weight = 1 at selected positions; target = `<pad>` and
///    weight = 0 everywhere else.
///
/// All draws come from `generator`, in row order, so a masker is reproducible from its seed
/// and resumes exactly from a saved `generator.state`.
public struct Masker: Sendable {
    /// The three fractions of the BERT recipe.
    public struct Configuration: Sendable, Equatable, Hashable, Codable {
        /// Share of residue positions selected as targets (0.15).
        public var selectFraction: Double
        /// Share of selected positions replaced by `<mask>` (0.8).
        public var maskFraction: Double
        /// Share of selected positions replaced by a random standard residue (0.1); the rest
        /// (1 − mask − random) keep their residue.
        public var randomFraction: Double

        public init(selectFraction: Double = 0.15, maskFraction: Double = 0.8, randomFraction: Double = 0.1) {
            precondition((0...1).contains(selectFraction), "selectFraction must be in [0, 1]")
            precondition(maskFraction >= 0 && randomFraction >= 0 && maskFraction + randomFraction <= 1,
                         "maskFraction + randomFraction must be in [0, 1]")
            self.selectFraction = selectFraction
            self.maskFraction = maskFraction
            self.randomFraction = randomFraction
        }

        enum CodingKeys: String, CodingKey {
            case selectFraction = "select_fraction"
            case maskFraction = "mask_fraction"
            case randomFraction = "random_fraction"
        }

        /// Decodes and checks the ranges that `init` requires (a stored configuration is input data).
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let select = try c.decode(Double.self, forKey: .selectFraction)
            let mask = try c.decode(Double.self, forKey: .maskFraction)
            let random = try c.decode(Double.self, forKey: .randomFraction)
            guard (0...1).contains(select) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .selectFraction, in: c, debugDescription: "select_fraction must be in [0, 1], got \(select)")
            }
            guard mask >= 0, random >= 0, mask + random <= 1 else {
                throw DecodingError.dataCorruptedError(
                    forKey: .maskFraction, in: c,
                    debugDescription: "mask_fraction + random_fraction must be in [0, 1], got \(mask) + \(random)")
            }
            self.init(selectFraction: select, maskFraction: mask, randomFraction: random)
        }
    }

    public let configuration: Configuration
    /// The generator every draw comes from; save `generator.state` to resume.
    public var generator: SeededGenerator
    /// Scratch: candidate positions of the current row (reused, so masking allocates nothing
    /// once it has seen its longest window).
    private var candidates: [Int32] = []

    public init(configuration: Configuration = Configuration(), seed: UInt64) {
        self.init(configuration: configuration, generator: SeededGenerator(seed: seed))
    }

    /// A masker that continues from a saved generator.
    public init(configuration: Configuration = Configuration(), generator: SeededGenerator) {
        self.configuration = configuration
        self.generator = generator
    }

    /// The number of positions selected in a window with `residues` residue positions:
    /// round(selectFraction · residues), halves rounded up.
    public func selectionCount(residues: Int) -> Int {
        Int((configuration.selectFraction * Double(residues)).rounded(.toNearestOrAwayFromZero))
    }

    /// Corrupts `batch.tokens` in place and sets `targets` and `weights` (see the type's
    /// description). Every row is processed, padding rows included (they have no residues).
    public mutating func apply(to batch: inout Batch) {
        let length = batch.length
        batch.targets.withUnsafeMutableBufferPointer { $0.update(repeating: Alphabet.pad) }
        batch.weights.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        let rows = batch.batch
        batch.tokens.withUnsafeMutableBufferPointer { tokens in
            batch.targets.withUnsafeMutableBufferPointer { targets in
                batch.weights.withUnsafeMutableBufferPointer { weights in
                    for r in 0..<rows {
                        let range = r * length ..< (r + 1) * length
                        maskWindow(
                            tokens: UnsafeMutableBufferPointer(rebasing: tokens[range]),
                            targets: UnsafeMutableBufferPointer(rebasing: targets[range]),
                            weights: UnsafeMutableBufferPointer(rebasing: weights[range]))
                    }
                }
            }
        }
    }

    /// Masks one window: `tokens`, `targets`, `weights` are [length]; `targets` and `weights`
    /// must arrive as `<pad>` / 0. Returns the number of selected positions.
    @discardableResult
    public mutating func maskWindow(
        tokens: UnsafeMutableBufferPointer<TokenID>, targets: UnsafeMutableBufferPointer<TokenID>,
        weights: UnsafeMutableBufferPointer<Float>
    ) -> Int {
        precondition(targets.count == tokens.count && weights.count == tokens.count)
        candidates.removeAll(keepingCapacity: true)
        for i in 0..<tokens.count where Alphabet.isResidue(tokens[i]) { candidates.append(Int32(i)) }
        let n = candidates.count
        let k = selectionCount(residues: n)
        let mask = configuration.maskFraction
        let maskOrRandom = configuration.maskFraction + configuration.randomFraction
        for s in 0..<k {
            let j = s + generator.nextInt(below: n - s)
            candidates.swapAt(s, j)
            let position = Int(candidates[s])
            let original = tokens[position]
            targets[position] = original
            weights[position] = 1
            let u = generator.nextDouble()
            if u < mask {
                tokens[position] = Alphabet.mask
            } else if u < maskOrRandom {
                tokens[position] = Alphabet.firstResidue + TokenID(generator.nextInt(below: Alphabet.standardResidueCount))
            }
        }
        return k
    }
}
