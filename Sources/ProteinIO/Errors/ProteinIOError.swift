/// The one error type of ProteinIO: every failure caused by input data is one of these.
///
/// Its `description` is a single line that names the file, the line, the byte offset and
/// (when known) the record, then says what was expected and what was found, e.g.
/// `sprot.dat:4812 (byte 301224, P69905): SQ says 142 residues, read 141`.
public struct ProteinIOError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// The file could not be opened or read (missing, permission, a directory, I/O error).
        case io
        /// The gzip stream is corrupt: bad header, bad deflate data, CRC or length mismatch.
        case corruptGzip
        /// The input ended in the middle of a gzip member or a record.
        case truncated
        /// The bytes do not follow the format (binary junk, missing '>' or '//', bad line code).
        case malformed
        /// A record is well formed but inconsistent with itself (SQ length or CRC64 mismatch).
        case integrity
        /// The format could not be recognised.
        case unknownFormat
    }

    public var kind: Kind
    /// File name as the user gave it (`-` for standard input).
    public var file: String
    /// 1-based line number, or nil when the error is not tied to a line (gzip, I/O).
    public var line: Int?
    /// Offset in the (decompressed) byte stream, or nil when unknown. For errors found by the gzip
    /// decoder (`.corruptGzip`, and `.truncated` inside a gzip member) it is the offset in the
    /// compressed file, and the message says "compressed byte".
    public var byteOffset: Int?
    /// Identifier of the record being read, when one was known.
    public var recordID: String?
    /// What was expected and what was found.
    public var message: String

    public init(
        _ kind: Kind, file: String, line: Int? = nil, byteOffset: Int? = nil,
        recordID: String? = nil, message: String
    ) {
        self.kind = kind
        self.file = file
        self.line = line
        self.byteOffset = byteOffset
        self.recordID = recordID
        self.message = message
    }

    public var description: String {
        var location = file
        if let line { location += ":\(line)" }
        var details: [String] = []
        if let byteOffset { details.append("byte \(byteOffset)") }
        if let recordID { details.append(recordID) }
        if !details.isEmpty { location += " (" + details.joined(separator: ", ") + ")" }
        return "\(location): \(message)"
    }
}
