/// Packs tokenised proteins into windows of exactly `windowLength` (L) tokens, streaming.
///
/// Each protein becomes the unit `<cls> r₁ … rₙ <sep>` (so `<sep>` sits between proteins and
/// also ends the last one); empty proteins produce nothing. With `.concatenate` (the default,
/// TrEMBL-Concat) the units form one stream cut every L tokens; with `.padded` each unit lies
/// whole in one window. Proteins longer than `configuration.residueLimit` are cropped to a
/// segment of that length starting at an offset uniform in `0 … n − limit`, drawn from the
/// packer's own seeded generator (the only randomness here).
///
/// Use: `push` proteins until `availableWindows` reaches the batch size, take a batch with
/// `nextBatch(into:)`, repeat; at the end of the corpus call `finish()` and drain. The buffer
/// then never holds more than the unread windows plus one protein unit — bounded by
/// batch × L + `maxProteinLength`, never by the corpus.
///
/// Deterministic: the same proteins, configuration and seed give the same windows. `state`
/// captures everything needed to continue exactly (see `Packer.State`).
public struct Packer: Sendable {
    public let configuration: PackerConfiguration
    /// Tokens not yet handed out: `buffer[readOffset...]`; complete windows first.
    var buffer: [TokenID] = []
    /// Start of the first unread token in `buffer`.
    var readOffset = 0
    /// Draws crop offsets.
    public internal(set) var generator: SeededGenerator
    /// Proteins pushed so far (including empty ones).
    public internal(set) var proteinsConsumed = 0
    /// Windows handed out so far.
    public internal(set) var windowsEmitted = 0
    /// Residues removed by cropping so far.
    public internal(set) var residuesCropped = 0
    /// True after `finish()`: no more proteins may be pushed.
    public internal(set) var isFinished = false

    public init(configuration: PackerConfiguration, seed: UInt64) {
        self.configuration = configuration
        generator = SeededGenerator(seed: seed)
    }

    /// Window length L.
    public var windowLength: Int { configuration.windowLength }

    /// Complete windows ready to be taken.
    public var availableWindows: Int { (buffer.count - readOffset) / configuration.windowLength }

    /// Tokens held (complete windows plus the partial one).
    public var bufferedTokens: Int { buffer.count - readOffset }

    /// Bytes reserved by the internal buffer (for memory-bound checks).
    public var bufferCapacity: Int { buffer.capacity }

    /// Appends one protein's residue ids (from `Tokenizer`, without special tokens).
    ///
    /// - Complexity: O(n) copies; amortised O(1) buffer growth.
    public mutating func push(_ residues: UnsafeBufferPointer<TokenID>) {
        precondition(!isFinished, "push after finish()")
        proteinsConsumed += 1
        let n = residues.count
        guard n > 0 else { return }
        var segment = residues
        let limit = configuration.residueLimit
        if n > limit {
            let offset = generator.nextInt(below: n - limit + 1)
            segment = UnsafeBufferPointer(rebasing: residues[offset ..< offset + limit])
            residuesCropped += n - limit
        }
        let unit = segment.count + 2
        let length = configuration.windowLength
        var padding = 0
        if configuration.layout == .padded {
            let fill = bufferedTokens % length
            if fill > 0 && fill + unit > length { padding = length - fill }
        }
        reserve(padding + unit)
        if padding > 0 { buffer.append(contentsOf: repeatElement(Alphabet.pad, count: padding)) }
        buffer.append(Alphabet.cls)
        buffer.append(contentsOf: segment)
        buffer.append(Alphabet.sep)
    }

    /// Appends one protein's residue ids.
    public mutating func push(_ residues: [TokenID]) {
        residues.withUnsafeBufferPointer { push($0) }
    }

    /// Ends the stream: the partial last window is completed with `<pad>` or dropped, as
    /// `configuration.finalWindow` says. Idempotent.
    public mutating func finish() {
        guard !isFinished else { return }
        isFinished = true
        let fill = bufferedTokens % configuration.windowLength
        guard fill > 0 else { return }
        switch configuration.finalWindow {
        case .pad: buffer.append(contentsOf: repeatElement(Alphabet.pad, count: configuration.windowLength - fill))
        case .drop: buffer.removeLast(fill)
        }
    }

    /// Copies the next complete window into `window` (exactly L ids) and returns true, or
    /// returns false when none is ready.
    public mutating func popWindow(into window: UnsafeMutableBufferPointer<TokenID>) -> Bool {
        let length = configuration.windowLength
        precondition(window.count == length, "window buffer must hold exactly windowLength ids")
        guard availableWindows > 0 else { return false }
        buffer.withUnsafeBufferPointer { source in
            _ = window.initialize(from: UnsafeBufferPointer(rebasing: source[readOffset ..< readOffset + length]))
        }
        readOffset += length
        windowsEmitted += 1
        if readOffset == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            readOffset = 0
        }
        return true
    }

    /// The next complete window, or nil when none is ready.
    public mutating func popWindow() -> [TokenID]? {
        guard availableWindows > 0 else { return nil }
        var window = [TokenID](repeating: Alphabet.pad, count: configuration.windowLength)
        _ = window.withUnsafeMutableBufferPointer { popWindow(into: $0) }
        return window
    }

    /// Fills `batch` with the next `batch.batch` windows and returns true; the targets are set
    /// to `<pad>` and the weights to 0 (a masker or `CausalTargets` labels them next).
    ///
    /// Returns false, leaving `batch` untouched, while fewer than `batch.batch` windows are
    /// ready and the stream is not finished, or when it is finished and empty. After
    /// `finish()` the last batch may have fewer real rows (`batch.windows`); its other rows
    /// are all `<pad>`.
    public mutating func nextBatch(into batch: inout Batch) -> Bool {
        precondition(batch.length == configuration.windowLength, "batch length must equal the window length")
        let available = availableWindows
        guard available >= batch.batch || (isFinished && available > 0) else { return false }
        let rows = min(available, batch.batch)
        let length = batch.length
        batch.firstWindow = windowsEmitted
        batch.proteinsConsumed = proteinsConsumed
        batch.windows = rows
        batch.tokens.withUnsafeMutableBufferPointer { tokens in
            for r in 0..<batch.batch {
                let row = UnsafeMutableBufferPointer(rebasing: tokens[r * length ..< (r + 1) * length])
                if r < rows {
                    _ = popWindow(into: row)
                } else {
                    row.update(repeating: Alphabet.pad)
                }
            }
        }
        batch.targets.withUnsafeMutableBufferPointer { $0.update(repeating: Alphabet.pad) }
        batch.weights.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        return true
    }

    /// The next batch of `size` windows, or nil (see `nextBatch(into:)`).
    public mutating func nextBatch(size: Int) -> Batch? {
        var batch = Batch(batch: size, length: configuration.windowLength)
        return nextBatch(into: &batch) ? batch : nil
    }

    /// Makes room for `count` more tokens, first sliding out consumed tokens when the buffer
    /// would otherwise have to grow: capacity only grows when live tokens need it.
    mutating func reserve(_ count: Int) {
        if readOffset > 0 && buffer.count + count > buffer.capacity {
            buffer.removeFirst(readOffset)
            readOffset = 0
        }
    }
}
