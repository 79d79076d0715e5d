#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ProteinIO

/// Collects named tensors and string metadata, then writes one `.safetensors` file atomically.
///
/// ```swift
/// var writer = SafeTensorsWriter(metadata: ["format": "pt", "step": "1200"])
/// for entry in store.entries {            // views into one flat buffer: nothing is copied
///     writer.add(name: entry.name, shape: entry.shape, floats: store.values.data + entry.offset)
/// }
/// optimizer.addState(to: &writer)
/// try writer.write(to: "run/checkpoint.safetensors")
/// ```
///
/// Data is streamed to the file from where it lives: `add(name:shape:floats:)` records a
/// pointer, not a copy, so a model of hundreds of MB is written without a second buffer.
/// Pointers must stay valid and unchanged until `write(to:)` returns; `add(name:tensor:)`
/// keeps its tensor alive itself.
///
/// Layout: see `SafeTensors` (deterministic order, 8-byte aligned data area).
///
/// Atomicity: `write(to:)` writes a temporary file `.NAME.tmp-PID-RANDOM` in the target's
/// directory, `fsync`s it, renames it over the target and `fsync`s the directory. A failure at
/// any point before the rename (a full disk, a throwing provider, a kill) leaves an earlier
/// file at the target untouched; on a thrown error the temporary file is removed (after a
/// kill it stays behind under its dot-name and can be deleted).
public struct SafeTensorsWriter {
    /// Streams one tensor's bytes to the file: a provider calls `write` with consecutive pieces
    /// that together are exactly the tensor's byte count.
    public final class Sink {
        let file: FileSink
        let name: String
        let byteCount: Int
        var remaining: Int

        init(file: FileSink, name: String, byteCount: Int) {
            self.file = file
            self.name = name
            self.byteCount = byteCount
            self.remaining = byteCount
        }

        /// Appends `bytes` to the tensor.
        /// - Throws: `CheckpointError` `.io` on a write error, `.mismatch` when the tensor's
        ///   byte count would be exceeded.
        public func write(_ bytes: UnsafeRawBufferPointer) throws(CheckpointError) {
            guard bytes.count <= remaining else {
                throw CheckpointError.mismatch(file.target, "provider of tensor \(name) wrote more than its \(byteCount) bytes")
            }
            remaining -= bytes.count
            try file.write(bytes)
        }

        /// Appends `floats` (host order = little-endian) to the tensor.
        public func write(floats: UnsafeBufferPointer<Float>) throws(CheckpointError) {
            try write(UnsafeRawBufferPointer(floats))
        }
    }

    enum Source {
        /// Borrowed memory, valid until `write(to:)` returns.
        case pointer(UnsafeRawPointer)
        /// A tensor kept alive by the writer.
        case tensor(Tensor)
        /// Owned bytes.
        case bytes([UInt8])
        /// Bytes produced on demand.
        case provider((Sink) throws -> Void)
    }

    struct Entry {
        var name: String
        var dtype: SafeTensors.DType
        var shape: [Int]
        var byteCount: Int
        var source: Source
    }

    /// String-to-string metadata, written as `__metadata__` (keys sorted).
    public var metadata: [String: String]
    private(set) var entries: [Entry] = []
    private var names: Set<String> = []

    public init(metadata: [String: String] = [:]) {
        self.metadata = metadata
    }

    /// Number of tensors added so far.
    public var tensorCount: Int { entries.count }

    private mutating func append(_ name: String, _ dtype: SafeTensors.DType, _ shape: [Int], _ source: Source) {
        precondition(name != SafeTensors.metadataKey, "'\(SafeTensors.metadataKey)' is reserved for the metadata")
        precondition(!names.contains(name), "tensor \(name) added twice")
        guard let byteCount = SafeTensors.byteCount(shape: shape, elementSize: dtype.size) else {
            preconditionFailure("invalid shape \(shape) for tensor \(name)")
        }
        names.insert(name)
        entries.append(Entry(name: name, dtype: dtype, shape: shape, byteCount: byteCount, source: source))
    }

    /// Adds an F32 tensor whose `shape.product` elements start at `floats` (e.g. a view into a
    /// flat parameter buffer). The memory is read during `write(to:)`, not now.
    public mutating func add(name: String, shape: [Int], floats: UnsafePointer<Float>) {
        append(name, .f32, shape, .pointer(UnsafeRawPointer(floats)))
    }

    /// Adds a whole tensor (F32, its own shape); the writer keeps it alive.
    public mutating func add(name: String, tensor: Tensor) {
        append(name, .f32, tensor.shape, .tensor(tensor))
    }

    /// Adds a tensor of any dtype from raw little-endian bytes read during `write(to:)`.
    public mutating func add(name: String, dtype: SafeTensors.DType, shape: [Int], bytes: UnsafeRawPointer) {
        append(name, dtype, shape, .pointer(bytes))
    }

    /// Adds an F32 tensor from an array (copied now).
    public mutating func add(name: String, shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape) of \(name)")
        append(name, .f32, shape, .bytes(values.withUnsafeBytes { Array($0) }))
    }

    /// Adds an I64 tensor from an array (copied now), e.g. a step counter as shape [].
    public mutating func add(name: String, shape: [Int], values: [Int64]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape) of \(name)")
        append(name, .i64, shape, .bytes(values.map { $0.littleEndian }.withUnsafeBytes { Array($0) }))
    }

    /// Adds a U64 tensor from an array (copied now), e.g. a random generator's state words.
    public mutating func add(name: String, shape: [Int], values: [UInt64]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape) of \(name)")
        append(name, .u64, shape, .bytes(values.map { $0.littleEndian }.withUnsafeBytes { Array($0) }))
    }

    /// Adds a U8 tensor from an array (copied now), e.g. token ids.
    public mutating func add(name: String, shape: [Int], values: [UInt8]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape) of \(name)")
        append(name, .u8, shape, .bytes(values))
    }

    /// Adds a tensor whose bytes `provider` streams into a `Sink` during `write(to:)`; it must
    /// write exactly `shape.product × dtype.size` bytes. An error it throws aborts the write
    /// (the target file is left as it was).
    public mutating func add(name: String, dtype: SafeTensors.DType, shape: [Int], provider: @escaping (Sink) throws -> Void) {
        append(name, dtype, shape, .provider(provider))
    }

    /// The entries in data order: element size descending, then name by UTF-8 bytes.
    private var ordered: [Entry] {
        entries.sorted { a, b in
            if a.dtype.size != b.dtype.size { return a.dtype.size > b.dtype.size }
            return a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
        }
    }

    /// The tensors as they will appear in the file (data order, offsets in the data area).
    public var layout: [SafeTensors.TensorInfo] {
        var offset = 0
        return ordered.map { entry in
            defer { offset += entry.byteCount }
            return SafeTensors.TensorInfo(name: entry.name, dtype: entry.dtype, shape: entry.shape,
                                          dataOffsets: offset ..< offset + entry.byteCount)
        }
    }

    /// The first 8 + N bytes of the file: the header length and the space-padded JSON header.
    public func headerBytes() -> [UInt8] {
        var json = "{"
        var first = true
        if !metadata.isEmpty {
            json += JSONText.string(SafeTensors.metadataKey) + ":{"
            json += metadata.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
                .map { JSONText.string($0.key) + ":" + JSONText.string($0.value) }
                .joined(separator: ",")
            json += "}"
            first = false
        }
        for info in layout {
            if !first { json += "," }
            first = false
            json += JSONText.string(info.name) + ":{\"dtype\":\"\(info.dtype.rawValue)\",\"shape\":["
                + info.shape.map(String.init).joined(separator: ",") + "],\"data_offsets\":["
                + "\(info.dataOffsets.lowerBound),\(info.dataOffsets.upperBound)]}"
        }
        json += "}"
        var header = Array(json.utf8)
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + header.count)
        var length = UInt64(header.count).littleEndian
        withUnsafeBytes(of: &length) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: header)
        return bytes
    }

    /// Total size of the file `write(to:)` produces.
    public var fileSize: Int { headerBytes().count + entries.reduce(0) { $0 + $1.byteCount } }

    /// The directory to sync and the temporary file for `path`: `DIR/.NAME.tmp-PID-SUFFIX` in
    /// the target's own directory (so the rename never crosses file systems); nil when `path`
    /// ends in `/`.
    static func temporaryPath(for path: String, suffix: String) -> (directory: String, temporary: String)? {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !base.isEmpty else { return nil }
        let prefix = slash == nil ? "" : (directory == "/" ? "/" : directory + "/")
        return (directory, prefix + ".\(base).tmp-\(getpid())-\(suffix)")
    }

    /// Writes the file atomically (see the type's description).
    ///
    /// - Throws: `CheckpointError` `.io` when the temporary file cannot be created, written,
    ///   synced or renamed (the target is then unchanged), or when the directory cannot be
    ///   synced after the rename (the new file is in place but may not survive a power loss);
    ///   a provider's error (as `.io` naming the tensor, or its own `CheckpointError`).
    public func write(to path: String) throws(CheckpointError) {
        guard let (directory, temporary) = SafeTensorsWriter.temporaryPath(for: path, suffix: String(UInt32.random(in: 0 ... .max), radix: 16)) else {
            throw CheckpointError(.io, file: path, message: "the path names a directory, not a file")
        }

        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw CheckpointError.system(path, "cannot create a temporary file in \(directory)")
        }
        let sink = FileSink(fd: fd, target: path, temporary: temporary)
        var closed = false
        var renamed = false
        defer {
            if !closed { close(fd) }
            if !renamed { unlink(temporary) }
        }

        try sink.write(headerBytes())
        for entry in ordered {
            switch entry.source {
            case .pointer(let pointer):
                try sink.write(UnsafeRawBufferPointer(start: pointer, count: entry.byteCount))
            case .tensor(let tensor):
                try sink.write(UnsafeRawBufferPointer(start: tensor.data, count: entry.byteCount))
            case .bytes(let bytes):
                try sink.write(bytes)
            case .provider(let provider):
                let tensorSink = Sink(file: sink, name: entry.name, byteCount: entry.byteCount)
                do {
                    try provider(tensorSink)
                } catch let error as CheckpointError {
                    throw error
                } catch {
                    throw CheckpointError(.io, file: path, message: "tensor \(entry.name): data provider failed: \(error); the previous file is unchanged")
                }
                guard tensorSink.remaining == 0 else {
                    throw CheckpointError.mismatch(path, "provider of tensor \(entry.name) wrote \(entry.byteCount - tensorSink.remaining) of its \(entry.byteCount) bytes")
                }
            }
        }
        try sink.flush()
        guard fsync(fd) == 0 else { throw CheckpointError.system(path, "cannot sync temporary file \(temporary)") }
        closed = true
        guard close(fd) == 0 else { throw CheckpointError.system(path, "cannot close temporary file \(temporary)") }
        guard rename(temporary, path) == 0 else {
            throw CheckpointError.system(path, "cannot rename \(temporary) over the target; the previous file is unchanged")
        }
        renamed = true
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryFD >= 0 else { throw CheckpointError.system(path, "written, but cannot open directory \(directory) to sync it") }
        defer { close(directoryFD) }
        guard fsync(directoryFD) == 0 else { throw CheckpointError.system(path, "written, but cannot sync directory \(directory)") }
    }
}

/// A write-only file with a 1 MiB buffer: small pieces are gathered, large ones (a model's
/// parameters) go straight from the caller's memory to `write(2)`.
final class FileSink {
    let fd: Int32
    /// The path the caller asked for (named in errors).
    let target: String
    let temporary: String
    private let capacity = 1 << 20
    private let buffer: UnsafeMutableRawPointer
    private var used = 0

    init(fd: Int32, target: String, temporary: String) {
        self.fd = fd
        self.target = target
        self.temporary = temporary
        buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
    }

    deinit { buffer.deallocate() }

    func write(_ bytes: UnsafeRawBufferPointer) throws(CheckpointError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        if used + bytes.count <= capacity {
            (buffer + used).copyMemory(from: base, byteCount: bytes.count)
            used += bytes.count
            return
        }
        try flush()
        if bytes.count < capacity {
            buffer.copyMemory(from: base, byteCount: bytes.count)
            used = bytes.count
        } else {
            try writeAll(base, bytes.count)
        }
    }

    func write(_ bytes: [UInt8]) throws(CheckpointError) {
        var failure: CheckpointError?
        bytes.withUnsafeBytes { raw in
            do throws(CheckpointError) { try write(raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    func flush() throws(CheckpointError) {
        if used > 0 { try writeAll(UnsafeRawPointer(buffer), used) }
        used = 0
    }

    private func writeAll(_ start: UnsafeRawPointer, _ count: Int) throws(CheckpointError) {
        var done = 0
        while done < count {
            let n = systemWrite(fd, start + done, min(count - done, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                throw CheckpointError.system(target, "cannot write temporary file \(temporary); the previous file is unchanged")
            }
            done += n
        }
    }
}

/// `write(2)` (a free function, so `FileSink.write` does not shadow it).
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}
