#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The raw (possibly compressed) bytes of one input: an open file descriptor or an in-memory array.
///
/// `read(into:)` delivers at most `chunkLimit` bytes per call, so tests can force tiny blocks.
/// `peek(_:)` looks ahead (for the gzip magic) without losing bytes. One thread uses a `RawInput`
/// at a time: the caller's, or the inflate thread once a pipeline has started.
final class RawInput: @unchecked Sendable {
    enum Backing {
        case descriptor(Int32, owned: Bool)
        case memory([UInt8])
    }

    /// The name used in error messages (the path as given, `-` for standard input).
    let name: String
    /// Largest number of bytes one `read(into:)` delivers.
    let chunkLimit: Int
    private let backing: Backing
    private var memoryPosition = 0
    /// Bytes read ahead by `peek` and not yet delivered.
    private var pending: [UInt8] = []
    /// Bytes delivered so far: the raw-stream offset of the next byte `read` returns.
    private(set) var offset = 0

    /// Opens `path` for reading; `-` means standard input.
    ///
    /// - Throws: `.io` when the path cannot be opened, is a directory, or cannot be examined.
    init(path: String, chunkLimit: Int) throws {
        precondition(chunkLimit > 0, "chunkLimit must be positive")
        self.name = path
        self.chunkLimit = chunkLimit
        if path == "-" {
            backing = .descriptor(0, owned: false)
            return
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            throw ProteinIOError(.io, file: path, message: "cannot open: \(RawInput.errnoText())")
        }
        var info = stat()
        if fstat(fd, &info) != 0 {
            let text = RawInput.errnoText()
            close(fd)
            throw ProteinIOError(.io, file: path, message: "cannot examine: \(text)")
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw ProteinIOError(.io, file: path, message: "is a directory, expected a file")
        }
        #if canImport(Glibc)
        _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_SEQUENTIAL))
        #endif
        backing = .descriptor(fd, owned: true)
    }

    /// Reads from `bytes` in memory (tests, or data already loaded).
    init(bytes: [UInt8], name: String, chunkLimit: Int) {
        precondition(chunkLimit > 0, "chunkLimit must be positive")
        self.name = name
        self.chunkLimit = chunkLimit
        backing = .memory(bytes)
    }

    deinit {
        if case .descriptor(let fd, owned: true) = backing { close(fd) }
    }

    /// Up to `count` upcoming bytes, without consuming them (fewer only at end of input).
    func peek(_ count: Int) throws -> [UInt8] {
        while pending.count < count {
            var chunk = [UInt8](repeating: 0, count: count - pending.count)
            let n = try chunk.withUnsafeMutableBytes { try readBacking(into: $0) }
            if n == 0 { break }
            pending.append(contentsOf: chunk[0..<n])
        }
        return Array(pending.prefix(count))
    }

    /// Copies up to `min(buffer.count, chunkLimit)` bytes into `buffer`; returns 0 only at end of input.
    ///
    /// - Throws: `.io` when the descriptor cannot be read.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let want = min(buffer.count, chunkLimit)
        if want == 0 { return 0 }
        if !pending.isEmpty {
            let n = min(want, pending.count)
            pending.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: n) }
            pending.removeFirst(n)
            offset += n
            return n
        }
        let n = try readBacking(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]))
        offset += n
        return n
    }

    private func readBacking(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        switch backing {
        case .memory(let bytes):
            let n = min(buffer.count, bytes.count - memoryPosition)
            if n > 0 {
                bytes.withUnsafeBytes {
                    buffer.baseAddress!.copyMemory(from: $0.baseAddress! + memoryPosition, byteCount: n)
                }
            }
            memoryPosition += n
            return n
        case .descriptor(let fd, _):
            while true {
                let n = systemRead(fd, buffer.baseAddress, buffer.count)
                if n >= 0 { return n }
                if errno == EINTR { continue }
                throw ProteinIOError(.io, file: name, byteOffset: offset + pending.count,
                                     message: "read failed: \(RawInput.errnoText())")
            }
        }
    }

    static func errnoText() -> String {
        String(cString: strerror(errno))
    }
}

/// `read(2)` under the platform's module name.
@inline(__always)
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.read(fd, buffer, count)
    #elseif canImport(Musl)
    return Musl.read(fd, buffer, count)
    #else
    return Darwin.read(fd, buffer, count)
    #endif
}
