/// How `Packer` lays proteins out in windows. Stored in checkpoints with snake_case keys.
public struct PackerConfiguration: Sendable, Equatable, Hashable, Codable {
    /// Where protein boundaries may fall relative to window boundaries.
    public enum Layout: String, Sendable, CaseIterable, Codable {
        /// TrEMBL-Concat (Choromanski et al. 2021, protein experiments): every protein becomes
        /// `<cls> residues <sep>`, these units form one stream, and the stream is cut every
        /// `windowLength` tokens. No padding; a protein longer than the space left continues in
        /// the next window (so windows may start mid-protein, without `<cls>`).
        case concatenate
        /// Each protein lies whole in one window: a unit that does not fit in the space left
        /// starts a new window and the old one is completed with `<pad>`. Proteins longer than
        /// `windowLength − 2` residues are cropped to a random segment of that length.
        case padded
    }

    /// What happens to the last, partial window when the stream is finished.
    public enum FinalWindow: String, Sendable, CaseIterable, Codable {
        /// Complete it with `<pad>` (every residue is used; evaluation wants this).
        case pad
        /// Drop it (every window is full).
        case drop
    }

    /// Tokens per window (L), at least 3.
    public var windowLength: Int
    public var layout: Layout
    /// Proteins with more residues are cropped to a random contiguous segment of this many
    /// residues before packing (nil: no crop). Keeps giants such as titin (~35 000 residues)
    /// from dominating, as ESM-style trainers do with random crops.
    public var maxProteinLength: Int?
    public var finalWindow: FinalWindow

    public init(
        windowLength: Int, layout: Layout = .concatenate, maxProteinLength: Int? = nil,
        finalWindow: FinalWindow = .pad
    ) {
        precondition(windowLength >= 3, "a window must hold at least <cls>, one residue and <sep>")
        precondition(maxProteinLength.map { $0 >= 1 } ?? true, "maxProteinLength must be positive")
        self.windowLength = windowLength
        self.layout = layout
        self.maxProteinLength = maxProteinLength
        self.finalWindow = finalWindow
    }

    /// The most residues a protein keeps after cropping (`Int.max` when nothing is cropped).
    public var residueLimit: Int {
        let limit = maxProteinLength ?? Int.max
        return layout == .padded ? min(limit, windowLength - 2) : limit
    }

    enum CodingKeys: String, CodingKey {
        case windowLength = "window_length"
        case layout
        case maxProteinLength = "max_protein_length"
        case finalWindow = "final_window"
    }

    /// Decodes and checks the ranges that `init` requires (a stored configuration is input data).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let windowLength = try c.decode(Int.self, forKey: .windowLength)
        let maxProteinLength = try c.decodeIfPresent(Int.self, forKey: .maxProteinLength)
        guard windowLength >= 3 else {
            throw DecodingError.dataCorruptedError(
                forKey: .windowLength, in: c, debugDescription: "window_length must be at least 3, got \(windowLength)")
        }
        if let maxProteinLength, maxProteinLength < 1 {
            throw DecodingError.dataCorruptedError(
                forKey: .maxProteinLength, in: c, debugDescription: "max_protein_length must be positive, got \(maxProteinLength)")
        }
        self.init(
            windowLength: windowLength, layout: try c.decode(Layout.self, forKey: .layout),
            maxProteinLength: maxProteinLength, finalWindow: try c.decode(FinalWindow.self, forKey: .finalWindow))
    }
}
