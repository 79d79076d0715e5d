#if canImport(Glibc)
import Glibc
#endif

/// Buffered output to standard output or to a file that appears atomically.
///
/// A file is written as `PATH.partial-PID` and renamed over `PATH` only by `finish()` after an
/// fsync, so an interrupted or failed run never leaves a half-written `PATH` and never destroys an
/// earlier one.
final class OutputSink {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private let fd: Int32
    private let path: String?
    private let temporaryPath: String?
    private var buffer: [UInt8] = []
    private let capacity = 1 << 20
    private var finished = false

    /// Writes to standard output when `path` is nil or `-`.
    init(path: String?) throws {
        if let path, path != "-" {
            let temporary = "\(path).partial-\(getpid())"
            let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                throw Failure(description: "\(path): cannot create output file: \(String(cString: strerror(errno)))")
            }
            self.fd = fd
            self.path = path
            temporaryPath = temporary
        } else {
            fd = STDOUT_FILENO
            self.path = nil
            temporaryPath = nil
        }
        buffer.reserveCapacity(capacity)
    }

    deinit {
        // Not finished: an error stopped the run; drop the partial file, keep any earlier output.
        if let temporaryPath, !finished {
            close(fd)
            unlink(temporaryPath)
        }
    }

    func write(_ text: String) throws {
        var text = text
        text.withUTF8 { buffer.append(contentsOf: $0) }
        if buffer.count >= capacity { try flush() }
    }

    func write(bytes: UnsafeBufferPointer<UInt8>) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= capacity { try flush() }
    }

    func flush() throws {
        var offset = 0
        while offset < buffer.count {
            let written = buffer.withUnsafeBytes { raw in
                Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "\(path ?? "standard output"): write failed: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes and, for a file, fsyncs and renames it into place.
    func finish() throws {
        try flush()
        guard let path, let temporaryPath else { return }
        guard fsync(fd) == 0, close(fd) == 0 else {
            throw Failure(description: "\(path): cannot sync output: \(String(cString: strerror(errno)))")
        }
        finished = true
        guard rename(temporaryPath, path) == 0 else {
            unlink(temporaryPath)
            throw Failure(description: "\(path): cannot rename output into place: \(String(cString: strerror(errno)))")
        }
    }
}
