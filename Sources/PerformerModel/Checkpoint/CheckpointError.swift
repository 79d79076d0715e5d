/// The one error type for the files of a training run: checkpoints (`.safetensors`) and the
/// metrics log.
///
/// Its `description` is a single line that names the file (the path as the caller gave it),
/// then says what is wrong, e.g.
/// `model.safetensors: tensor blocks.3.attn.wq has shape [256, 128], expected [256, 256]`.
public struct CheckpointError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// The file could not be created, written, synced, renamed, opened or read.
        case io
        /// The bytes do not form a valid file: bad header length, invalid JSON, unknown dtype,
        /// offsets that overlap, leave gaps or run past the end, a truncated file.
        case corrupt
        /// The file is valid but not what the caller expected: a missing or unexpected tensor,
        /// a different shape or dtype, a missing metadata key.
        case mismatch
    }

    public var kind: Kind
    /// The file's path as the caller gave it.
    public var file: String
    /// What went wrong, one line.
    public var message: String

    public init(_ kind: Kind, file: String, message: String) {
        self.kind = kind
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }

    /// An `.io` error whose message ends with the text of the current `errno`.
    static func system(_ file: String, _ what: String) -> CheckpointError {
        CheckpointError(.io, file: file, message: "\(what): \(systemErrorText(errno))")
    }

    static func corrupt(_ file: String, _ message: String) -> CheckpointError {
        CheckpointError(.corrupt, file: file, message: message)
    }

    static func mismatch(_ file: String, _ message: String) -> CheckpointError {
        CheckpointError(.mismatch, file: file, message: message)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `strerror` text for an errno value (e.g. "Permission denied").
func systemErrorText(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "error \(code)" }
    return String(cString: text)
}
