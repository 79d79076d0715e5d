
/// Opens a file (or `-` for standard input), detects gzip and the record format, and returns
/// `SequenceRecord`s one at a time — the one entry point the tools use.
///
/// ```swift
/// let reader = try SequenceReader(path: "uniprot_sprot.dat.gz", integrity: .lenient)
/// while let record = try reader.next() {
///     print(record.id, record.length, record.uniProt?.organism ?? "")
/// }
/// print(reader.format, reader.compression, reader.integrityMismatches)
/// ```
///
/// Detection looks at the first non-blank line of the decompressed input: `>` means FASTA,
/// `ID   ` a UniProtKB flat file; anything else is `.unknownFormat` (unless a format is forced,
/// in which case that reader reports what it expected). An input that is empty or blank has no
/// records and `format == nil`.
public final class SequenceReader {
    enum Backend {
        case fasta(FASTAReader)
        case uniProt(UniProtReader)
        case empty
    }

    let backend: Backend
    /// The input's name as given (`-` for standard input).
    public let name: String
    /// Whether the input was gzip-compressed.
    public let compression: ByteSource.Compression
    /// The detected (or forced) format; nil for an empty input.
    public let format: SequenceFormat?
    /// What the flat-file reader does with SQ length / CRC64 mismatches.
    public let integrityMode: IntegrityMode

    /// Opens `path` (`-` = standard input).
    ///
    /// - Parameters:
    ///   - format: nil to detect, or force `.fasta` / `.uniProt`.
    ///   - integrity: `.strict` throws on an SQ length / CRC64 mismatch, `.lenient` counts it.
    ///   - blockSize: bytes per read (tests use tiny blocks); `threaded`: inflate gzip on a
    ///     background thread.
    /// - Throws: `.io` if the file cannot be opened; `.unknownFormat` if the content is neither
    ///   format; gzip errors met while reading the first line.
    public convenience init(
        path: String, format: SequenceFormat? = nil, integrity: IntegrityMode = .strict,
        blockSize: Int = ByteSource.defaultBlockSize, threaded: Bool = true
    ) throws {
        try self.init(source: ByteSource(path: path, blockSize: blockSize, threaded: threaded),
                      format: format, integrity: integrity)
    }

    /// Reads `bytes` (plain or gzip) from memory.
    public convenience init(
        bytes: [UInt8], name: String = "<memory>", format: SequenceFormat? = nil,
        integrity: IntegrityMode = .strict, blockSize: Int = ByteSource.defaultBlockSize, threaded: Bool = true
    ) throws {
        try self.init(source: ByteSource(bytes: bytes, name: name, blockSize: blockSize, threaded: threaded),
                      format: format, integrity: integrity)
    }

    /// Reads records from an open `ByteSource`.
    public init(source: ByteSource, format forced: SequenceFormat? = nil, integrity: IntegrityMode = .strict) throws {
        name = source.name
        compression = source.compression
        integrityMode = integrity
        let buffer = InputBuffer(source: source)
        let line = 1 + (try buffer.skipBlankLines())
        var format = forced
        if format == nil && buffer.start < buffer.end {
            _ = try buffer.ensure(5)
            let first = UnsafeBufferPointer(start: buffer.storage + buffer.start, count: min(5, buffer.end - buffer.start))
            format = SequenceFormat.detect(firstLine: first)
            if format == nil {
                _ = try buffer.ensure(25)
                throw ProteinIOError(
                    .unknownFormat, file: source.name, line: line, byteOffset: buffer.offset(of: buffer.start),
                    message: "expected '>' (FASTA) or 'ID   ' (UniProtKB flat file) at the start but found "
                        + ByteEscaping.quoted(buffer.storage + buffer.start, count: buffer.end - buffer.start))
            }
        }
        self.format = buffer.start < buffer.end ? format : forced
        switch format {
        case .fasta?: backend = .fasta(FASTAReader(buffer: buffer, line: line))
        case .uniProt?: backend = .uniProt(UniProtReader(buffer: buffer, line: line, integrity: integrity))
        case nil: backend = .empty
        }
    }

    /// The next record, or nil at the end of the input.
    ///
    /// - Throws: the format reader's errors (`FASTAReader.next()`, `UniProtReader.next()`).
    public func next() throws -> SequenceRecord? {
        switch backend {
        case .fasta(let reader): return try reader.next()
        case .uniProt(let reader): return try reader.next()
        case .empty: return nil
        }
    }

    /// Calls `body` with every remaining record.
    public func forEach(_ body: (SequenceRecord) throws -> Void) throws {
        while let record = try next() { try body(record) }
    }

    /// Records returned so far.
    public var recordsRead: Int {
        switch backend {
        case .fasta(let reader): return reader.recordsRead
        case .uniProt(let reader): return reader.recordsRead
        case .empty: return 0
        }
    }

    /// Flat-file entries whose SQ length, ID length or CRC64 did not match their sequence
    /// (counted in `.lenient` mode; in `.strict` mode the first one throws). Always 0 for FASTA.
    public var integrityMismatches: Int {
        if case .uniProt(let reader) = backend { return reader.integrityMismatches }
        return 0
    }

    /// 1-based number of the next line to be read.
    public var line: Int {
        switch backend {
        case .fasta(let reader): return reader.line
        case .uniProt(let reader): return reader.line
        case .empty: return 1
        }
    }
}
