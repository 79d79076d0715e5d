/// The bytes of one input, decompressed when needed: a file, standard input (`-`) or memory.
///
/// Compression is recognised by content, not by name: a stream that starts with the gzip magic
/// `1f 8b` (RFC 1952) is inflated — across any number of concatenated members (bgzip,
/// `cat a.gz b.gz`) — and everything else is passed through unchanged.
///
/// With `threaded: true` (the default) gzip is inflated on a background thread into a ring of
/// four blocks of `blockSize` bytes while the caller consumes; plain input is read directly into
/// the caller's buffer. Memory is therefore bounded by a few blocks whatever the input size.
///
/// ```swift
/// let source = try ByteSource(path: "uniprot_sprot.fasta.gz")
/// var block = [UInt8](repeating: 0, count: 1 << 20)
/// while try block.withUnsafeMutableBytes({ try source.read(into: $0) }) > 0 { … }
/// ```
public final class ByteSource {
    /// How the stored bytes are encoded.
    public enum Compression: String, Sendable, Equatable {
        case none
        case gzip
    }

    /// The default block size: 512 KiB per read (and per ring slot when inflating).
    public static let defaultBlockSize = 512 * 1024

    /// The name used in error messages (the path as given, `-` for standard input).
    public let name: String
    /// Whether the input was gzip (detected from its first two bytes).
    public let compression: Compression
    /// The largest number of bytes one `read(into:)` returns.
    public let blockSize: Int

    private enum Mode {
        case plain(RawInput)
        case gzip(GzipDecoder)
        case pipelined(InflatePipeline)
    }

    private let mode: Mode
    private let raw: RawInput

    /// Opens `path` (`-` for standard input) and detects gzip.
    ///
    /// - Parameters:
    ///   - blockSize: bytes per read; tests pass tiny values to exercise every block boundary.
    ///   - threaded: inflate gzip on a background thread (plain input is never threaded).
    /// - Throws: `.io` when the file cannot be opened or read.
    public convenience init(path: String, blockSize: Int = ByteSource.defaultBlockSize, threaded: Bool = true) throws {
        try self.init(raw: RawInput(path: path, chunkLimit: blockSize), blockSize: blockSize, threaded: threaded)
    }

    /// Reads `bytes` from memory, detecting gzip exactly as for a file.
    public convenience init(
        bytes: [UInt8], name: String = "<memory>", blockSize: Int = ByteSource.defaultBlockSize,
        threaded: Bool = true
    ) throws {
        try self.init(raw: RawInput(bytes: bytes, name: name, chunkLimit: blockSize), blockSize: blockSize,
                      threaded: threaded)
    }

    private init(raw: RawInput, blockSize: Int, threaded: Bool) throws {
        precondition(blockSize > 0, "blockSize must be positive")
        self.raw = raw
        self.name = raw.name
        self.blockSize = blockSize
        let magic = try raw.peek(2)
        if magic == [0x1F, 0x8B] {
            compression = .gzip
            let decoder = try GzipDecoder(input: raw)
            if threaded {
                let pipeline = InflatePipeline(decoder: decoder, blockSize: blockSize)
                mode = pipeline.start() ? .pipelined(pipeline) : .gzip(decoder)
            } else {
                mode = .gzip(decoder)
            }
        } else {
            compression = .none
            mode = .plain(raw)
        }
    }

    deinit {
        if case .pipelined(let pipeline) = mode { pipeline.cancel() }
    }

    /// Copies the next decompressed bytes into `buffer` — at least one and at most
    /// `min(buffer.count, blockSize)` — and returns how many; returns 0 only at the end of input.
    ///
    /// - Throws: `.io` (read failure), `.corruptGzip` (bad header or data, CRC-32 or length
    ///   mismatch, trailing garbage), `.truncated` (the gzip stream stops inside a member). Errors
    ///   are raised only after every byte decoded before the fault has been returned.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let limited = buffer.count > blockSize
            ? UnsafeMutableRawBufferPointer(rebasing: buffer[0..<blockSize]) : buffer
        switch mode {
        case .plain(let raw): return try raw.read(into: limited)
        case .gzip(let decoder): return try decoder.fill(into: limited)
        case .pipelined(let pipeline): return try pipeline.read(into: limited)
        }
    }

    /// Reads everything that is left (for tests and small inputs).
    public func readAll() throws -> [UInt8] {
        var result: [UInt8] = []
        var block = [UInt8](repeating: 0, count: min(blockSize, 1 << 20))
        while true {
            let n = try block.withUnsafeMutableBytes { try read(into: $0) }
            if n == 0 { return result }
            result.append(contentsOf: block[0..<n])
        }
    }
}
