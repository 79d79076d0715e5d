/// One training or evaluation batch: `batch` windows of `length` tokens, row-major.
///
/// - `tokens` [batch, length]: the model input. The packer fills it with the packed windows;
///   `Masker.apply(to:)` then replaces selected residues (with `<mask>`, a random residue or
///   themselves); `CausalTargets.apply(to:)` leaves it as packed.
/// - `targets` [batch, length]: the id the model must predict at each position (`<pad>` where
///   there is nothing to predict).
/// - `weights` [batch, length]: the loss weight of each position, 1 at a target and 0 elsewhere;
///   the loss is Σ w·(−log p(target)) / Σ w.
///
/// Rows `windows ..< batch` exist only in the last batch of a finished stream and are all
/// `<pad>` with weight 0, so every batch has the same shape.
///
/// `firstWindow` and `proteinsConsumed` say where in the stream the batch came from:
/// row r is window number `firstWindow + r` of the stream, and the packer had been given
/// `proteinsConsumed` proteins when the batch was cut. The packer's `state` after the batch
/// is what a checkpoint stores to resume exactly.
public struct Batch: Sendable, Equatable {
    /// Number of rows (windows).
    public let batch: Int
    /// Tokens per row (the window length L).
    public let length: Int
    /// Model input, [batch, length].
    public var tokens: [TokenID]
    /// Prediction targets, [batch, length].
    public var targets: [TokenID]
    /// Loss weights, [batch, length].
    public var weights: [Float]
    /// Rows that hold real windows; the rest are padding.
    public var windows: Int
    /// Stream index of the window in row 0.
    public var firstWindow: Int
    /// Proteins pushed into the packer when this batch was cut.
    public var proteinsConsumed: Int

    /// An all-`<pad>` batch with zero weights, ready to be filled by `Packer.nextBatch(into:)`.
    public init(batch: Int, length: Int) {
        precondition(batch > 0 && length > 0, "batch and length must be positive")
        self.batch = batch
        self.length = length
        tokens = [TokenID](repeating: Alphabet.pad, count: batch * length)
        targets = tokens
        weights = [Float](repeating: 0, count: batch * length)
        windows = 0
        firstWindow = 0
        proteinsConsumed = 0
    }

    /// Number of positions with a nonzero weight (the positions that carry a loss).
    public var targetCount: Int {
        var n = 0
        for w in weights where w != 0 { n += 1 }
        return n
    }

    /// Tokens of row `row` (a copy, for tests and display).
    public func row(_ row: Int) -> ArraySlice<TokenID> {
        precondition(row >= 0 && row < batch)
        return tokens[row * length ..< (row + 1) * length]
    }
}
