#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ProteinIO

/// Opens a `.safetensors` file, validates its whole header up front, and reads tensors by name
/// into the caller's memory.
///
/// ```swift
/// let reader = try SafeTensorsReader(path: "run/checkpoint.safetensors")
/// try reader.checkNames(expected: store.entries.map(\.name))          // no missing / extra tensors
/// for entry in store.entries {                                         // straight into the flat buffer
///     try reader.read(name: entry.name, shape: entry.shape, into: store.values.data + entry.offset)
/// }
/// let step = try reader.metadataValue("step")
/// ```
///
/// Validation (any failure is a `CheckpointError` of kind `.corrupt`, never a crash): the
/// header length fits in the file and under `SafeTensors.maximumHeaderLength`; the header
/// starts with `{` and is valid UTF-8 JSON (`StrictJSON`: strict grammar, no duplicate keys, at
/// most 64 levels deep); `__metadata__`, if present, maps strings to strings; every other key
/// is a tensor with a known dtype, a shape of non-negative integers and `data_offsets`
/// [begin, end] with begin ≤ end; shape product × dtype size equals end − begin; and the
/// tensors, sorted by offset, tile the data area exactly — from 0 to the end of the file, no
/// gaps, no overlaps (the rules of the reference implementation). Unknown fields inside a
/// tensor's entry are ignored, as the reference implementation does.
///
/// Data is read with `pread` when asked for, so opening a multi-GB checkpoint costs only its
/// header. A file that shrinks after it was opened gives a `.corrupt` error on read.
public final class SafeTensorsReader {
    enum Storage {
        case file(Int32)
        case memory([UInt8])
    }

    /// The path (or name) as the caller gave it; every error names it.
    public let path: String
    /// Size of the file in bytes.
    public let fileSize: Int
    /// N, the length of the JSON header (including its padding).
    public let headerLength: Int
    /// String-to-string metadata (`__metadata__`), empty when the file has none.
    public let metadata: [String: String]
    /// The tensors in data order (by offset).
    public let tensors: [SafeTensors.TensorInfo]
    private let index: [String: Int]
    private let storage: Storage

    /// Offset of the data area in the file: 8 + N.
    public var dataStart: Int { 8 + headerLength }

    /// Tensor names in data order.
    public var names: [String] { tensors.map(\.name) }

    /// Opens and validates the file at `path`.
    ///
    /// - Throws: `CheckpointError` `.io` when the file cannot be opened or read, `.corrupt`
    ///   when it is not a valid safetensors file (see the type's description).
    public convenience init(path: String) throws(CheckpointError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError.system(path, "cannot open") }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let error = CheckpointError.system(path, "cannot stat")
            close(fd)
            throw error
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw CheckpointError(.io, file: path, message: "not a regular file")
        }
        let parsed: Parsed
        do throws(CheckpointError) {
            parsed = try SafeTensorsReader.parse(storage: .file(fd), size: Int(info.st_size), path: path)
        } catch {
            close(fd)
            throw error
        }
        self.init(storage: .file(fd), path: path, parsed: parsed)
    }

    /// Validates a file held in memory (tests, fuzzing); `name` stands for the path in errors.
    public convenience init(bytes: [UInt8], name: String) throws(CheckpointError) {
        let storage = Storage.memory(bytes)
        self.init(storage: storage, path: name,
                  parsed: try SafeTensorsReader.parse(storage: storage, size: bytes.count, path: name))
    }

    private init(storage: Storage, path: String, parsed: Parsed) {
        self.storage = storage
        self.path = path
        fileSize = parsed.size
        headerLength = parsed.headerLength
        metadata = parsed.metadata
        tensors = parsed.tensors
        var index: [String: Int] = [:]
        for (i, tensor) in parsed.tensors.enumerated() { index[tensor.name] = i }
        self.index = index
    }

    deinit {
        if case .file(let fd) = storage { close(fd) }
    }

    // MARK: - Lookup and strict loading

    /// The entry of tensor `name`, or nil when the file has none.
    public func info(_ name: String) -> SafeTensors.TensorInfo? {
        index[name].map { tensors[$0] }
    }

    /// The entry of tensor `name`, checked against the expected shape and dtype.
    ///
    /// - Throws: `CheckpointError` `.mismatch`, e.g.
    ///   `model.safetensors: tensor blocks.3.attn.wq has shape [256, 128], expected [256, 256]`,
    ///   or `missing tensor … (expected shape […])`, or `tensor … has dtype F16, expected F32`.
    @discardableResult
    public func expect(name: String, shape: [Int], dtype: SafeTensors.DType = .f32) throws(CheckpointError) -> SafeTensors.TensorInfo {
        guard let info = info(name) else {
            throw CheckpointError.mismatch(path, "missing tensor \(name) (expected \(dtype.rawValue) \(SafeTensors.describe(shape: shape)))")
        }
        guard info.shape == shape else {
            throw CheckpointError.mismatch(path, "tensor \(name) has shape \(SafeTensors.describe(shape: info.shape)), expected \(SafeTensors.describe(shape: shape))")
        }
        guard info.dtype == dtype else {
            throw CheckpointError.mismatch(path, "tensor \(name) has dtype \(info.dtype.rawValue), expected \(dtype.rawValue)")
        }
        return info
    }

    /// Checks that the file holds exactly the tensors named in `expected` (order does not matter).
    ///
    /// - Throws: `CheckpointError` `.mismatch` listing the missing and the unexpected names
    ///   (at most five of each, then a count), e.g.
    ///   `model.safetensors: missing tensors: blocks.3.ln1.bias; unexpected tensors: blocks.3.ln1.beta`.
    public func checkNames<S: Sequence>(expected: S) throws(CheckpointError) where S.Element == String {
        let wanted = Set(expected)
        let missing = wanted.filter { index[$0] == nil }.sorted()
        let unexpected = tensors.map(\.name).filter { !wanted.contains($0) }
        guard !missing.isEmpty || !unexpected.isEmpty else { return }
        func list(_ names: [String]) -> String {
            let shown = names.prefix(5).joined(separator: ", ")
            return names.count > 5 ? shown + " and \(names.count - 5) more" : shown
        }
        var parts: [String] = []
        if !missing.isEmpty { parts.append("missing tensor\(missing.count == 1 ? "" : "s"): \(list(missing))") }
        if !unexpected.isEmpty { parts.append("unexpected tensor\(unexpected.count == 1 ? "" : "s"): \(list(unexpected))") }
        throw CheckpointError.mismatch(path, parts.joined(separator: "; "))
    }

    /// The metadata value for `key`.
    /// - Throws: `CheckpointError` `.mismatch` when the key is absent.
    public func metadataValue(_ key: String) throws(CheckpointError) -> String {
        guard let value = metadata[key] else {
            throw CheckpointError.mismatch(path, "metadata has no key '\(key)'")
        }
        return value
    }

    // MARK: - Reading data

    /// Copies the raw bytes of tensor `name` to `destination` (exactly its `byteCount` bytes).
    /// - Throws: `.mismatch` when the tensor is missing, `.io` / `.corrupt` when reading fails.
    public func readBytes(name: String, into destination: UnsafeMutableRawPointer) throws(CheckpointError) {
        guard let info = info(name) else { throw CheckpointError.mismatch(path, "missing tensor \(name)") }
        try readData(info, into: destination)
    }

    /// Copies F32 tensor `name` into `destination`, which has room for `count` floats.
    /// - Throws: `.mismatch` when the tensor is missing, not F32 or has another element count.
    public func read(name: String, into destination: UnsafeMutablePointer<Float>, count: Int) throws(CheckpointError) {
        guard let info = info(name) else { throw CheckpointError.mismatch(path, "missing tensor \(name)") }
        guard info.dtype == .f32 else {
            throw CheckpointError.mismatch(path, "tensor \(name) has dtype \(info.dtype.rawValue), expected F32")
        }
        guard info.elementCount == count else {
            throw CheckpointError.mismatch(path, "tensor \(name) has \(info.elementCount) elements (shape \(SafeTensors.describe(shape: info.shape))), expected \(count)")
        }
        try readData(info, into: UnsafeMutableRawPointer(destination))
    }

    /// Strict load of one F32 tensor: `expect(name:shape:)`, then copies its elements into
    /// `destination` (room for `shape.product` floats).
    public func read(name: String, shape: [Int], into destination: UnsafeMutablePointer<Float>) throws(CheckpointError) {
        let info = try expect(name: name, shape: shape)
        try readData(info, into: UnsafeMutableRawPointer(destination))
    }

    /// Strict load into a tensor: the file's shape must equal `tensor.shape`.
    public func read(name: String, into tensor: Tensor) throws(CheckpointError) {
        try read(name: name, shape: tensor.shape, into: tensor.data)
    }

    /// The elements of F32 tensor `name` as an array.
    public func floats(name: String) throws(CheckpointError) -> [Float] {
        try array(name: name, dtype: .f32, zero: Float(0))
    }

    /// The elements of I64 tensor `name` as an array.
    public func int64s(name: String) throws(CheckpointError) -> [Int64] {
        try array(name: name, dtype: .i64, zero: Int64(0)).map { Int64(littleEndian: $0) }
    }

    /// The elements of U64 tensor `name` as an array.
    public func uint64s(name: String) throws(CheckpointError) -> [UInt64] {
        try array(name: name, dtype: .u64, zero: UInt64(0)).map { UInt64(littleEndian: $0) }
    }

    /// The elements of U8 tensor `name` as an array.
    public func uint8s(name: String) throws(CheckpointError) -> [UInt8] {
        try array(name: name, dtype: .u8, zero: UInt8(0))
    }

    private func array<T>(name: String, dtype: SafeTensors.DType, zero: T) throws(CheckpointError) -> [T] {
        guard let info = info(name) else { throw CheckpointError.mismatch(path, "missing tensor \(name)") }
        guard info.dtype == dtype else {
            throw CheckpointError.mismatch(path, "tensor \(name) has dtype \(info.dtype.rawValue), expected \(dtype.rawValue)")
        }
        var values = [T](repeating: zero, count: info.elementCount)
        var failure: CheckpointError?
        values.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else { return }
            do throws(CheckpointError) { try readData(info, into: base) } catch { failure = error }
        }
        if let failure { throw failure }
        return values
    }

    private func readData(_ info: SafeTensors.TensorInfo, into destination: UnsafeMutableRawPointer) throws(CheckpointError) {
        guard info.byteCount > 0 else { return }
        let start = dataStart + info.dataOffsets.lowerBound
        switch storage {
        case .memory(let bytes):
            guard start + info.byteCount <= bytes.count else {
                throw CheckpointError.corrupt(path, "tensor \(info.name) runs past the end of the file")
            }
            bytes.withUnsafeBytes { raw in
                destination.copyMemory(from: raw.baseAddress.unsafelyUnwrapped + start, byteCount: info.byteCount)
            }
        case .file(let fd):
            try SafeTensorsReader.readFully(fd: fd, path: path, offset: start, count: info.byteCount, into: destination,
                                            what: "tensor \(info.name)")
        }
    }

    private static func readFully(fd: Int32, path: String, offset: Int, count: Int,
                                  into destination: UnsafeMutableRawPointer, what: String) throws(CheckpointError) {
        var done = 0
        while done < count {
            let n = pread(fd, destination + done, min(count - done, 1 << 30), off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw CheckpointError.system(path, "cannot read \(what)")
            }
            if n == 0 {
                throw CheckpointError.corrupt(path, "file ended at byte \(offset + done) while reading \(what) (bytes \(offset) ..< \(offset + count)); was it truncated?")
            }
            done += n
        }
    }

    // MARK: - Parsing and validation

    struct Parsed {
        var size: Int
        var headerLength: Int
        var metadata: [String: String]
        var tensors: [SafeTensors.TensorInfo]
    }

    private static func readHeaderBytes(storage: Storage, path: String, offset: Int, count: Int) throws(CheckpointError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        switch storage {
        case .memory(let source):
            bytes.replaceSubrange(0..<count, with: source[offset ..< offset + count])
        case .file(let fd):
            var failure: CheckpointError?
            bytes.withUnsafeMutableBytes { raw in
                guard let base = raw.baseAddress else { return }
                do throws(CheckpointError) { try readFully(fd: fd, path: path, offset: offset, count: count, into: base, what: "the header") } catch { failure = error }
            }
            if let failure { throw failure }
        }
        return bytes
    }

    static func parse(storage: Storage, size: Int, path: String) throws(CheckpointError) -> Parsed {
        func corrupt(_ message: String) -> CheckpointError { CheckpointError.corrupt(path, message) }

        guard size >= 8 else {
            throw corrupt("file is \(size) bytes, too short for the 8-byte header length of a safetensors file")
        }
        let lengthBytes = try readHeaderBytes(storage: storage, path: path, offset: 0, count: 8)
        let length = lengthBytes.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard length <= UInt64(SafeTensors.maximumHeaderLength) else {
            throw corrupt("header length \(length) exceeds the limit of \(SafeTensors.maximumHeaderLength) bytes (not a safetensors file?)")
        }
        let headerLength = Int(length)
        guard headerLength <= size - 8 else {
            throw corrupt("header length \(headerLength) runs past the end of the \(size)-byte file (truncated?)")
        }
        guard headerLength >= 2 else { throw corrupt("header length \(headerLength) is too short for a JSON object") }
        let header = try readHeaderBytes(storage: storage, path: path, offset: 8, count: headerLength)
        guard header[0] == UInt8(ascii: "{") else {
            throw corrupt("header does not start with '{' (byte 8 is 0x\(String(header[0], radix: 16, uppercase: true)))")
        }
        let json: StrictJSON
        do throws(StrictJSON.ParseError) {
            json = try StrictJSON.parse(header)
        } catch {
            throw corrupt("header is not valid JSON at byte \(8 + error.offset): \(error.message)")
        }
        guard case .object(let members) = json else { throw corrupt("header is not a JSON object") }

        let dataSize = size - 8 - headerLength
        var metadata: [String: String] = [:]
        var tensors: [SafeTensors.TensorInfo] = []
        var seen: Set<String> = []
        for (name, value) in members {
            guard seen.insert(name).inserted else {
                throw corrupt(name == SafeTensors.metadataKey ? "header has two \(SafeTensors.metadataKey) entries" : "tensor \(name) appears twice in the header")
            }
            if name == SafeTensors.metadataKey {
                guard case .object(let pairs) = value else { throw corrupt("\(SafeTensors.metadataKey) is not a JSON object") }
                for (key, item) in pairs {
                    guard case .string(let text) = item else { throw corrupt("metadata value for key '\(key)' is not a string") }
                    guard metadata.updateValue(text, forKey: key) == nil else { throw corrupt("metadata key '\(key)' appears twice") }
                }
                continue
            }
            tensors.append(try tensorInfo(name: name, value: value, dataSize: dataSize, corrupt: corrupt))
        }

        // The tensors must tile the data area: sorted by offset, each starts where the previous ended.
        tensors.sort { ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound) }
        var end = 0
        var previous: String?
        for tensor in tensors {
            let begin = tensor.dataOffsets.lowerBound
            if begin < end, let previous {
                throw corrupt("tensor \(tensor.name) (data_offsets [\(begin), \(tensor.dataOffsets.upperBound)]) overlaps tensor \(previous), which ends at \(end)")
            }
            if begin > end {
                throw corrupt("bytes \(end) ..< \(begin) of the data area belong to no tensor (before tensor \(tensor.name))")
            }
            end = tensor.dataOffsets.upperBound
            previous = tensor.name
        }
        guard end == dataSize else {
            throw corrupt("the data area has \(dataSize) bytes but the tensors end at \(end): \(dataSize - end) trailing bytes belong to no tensor")
        }
        return Parsed(size: size, headerLength: headerLength, metadata: metadata, tensors: tensors)
    }

    private static func tensorInfo(name: String, value: StrictJSON, dataSize: Int,
                                   corrupt: (String) -> CheckpointError) throws(CheckpointError) -> SafeTensors.TensorInfo {
        guard case .object(let fields) = value else { throw corrupt("tensor \(name): entry is not a JSON object") }
        func field(_ key: String) throws(CheckpointError) -> StrictJSON {
            let matches = fields.filter { $0.key == key }
            guard matches.count == 1 else {
                throw corrupt(matches.isEmpty ? "tensor \(name): entry has no \"\(key)\"" : "tensor \(name): \"\(key)\" appears twice")
            }
            return matches[0].value
        }
        guard case .string(let dtypeName) = try field("dtype") else { throw corrupt("tensor \(name): dtype is not a string") }
        guard let dtype = SafeTensors.DType(rawValue: dtypeName) else {
            throw corrupt("tensor \(name): unknown dtype \(JSONText.string(dtypeName))")
        }
        guard case .array(let dimensions) = try field("shape") else { throw corrupt("tensor \(name): shape is not an array") }
        var shape: [Int] = []
        for dimension in dimensions {
            guard let d = dimension.nonNegativeInt else {
                throw corrupt("tensor \(name): shape must hold non-negative integers")
            }
            shape.append(d)
        }
        guard case .array(let offsets) = try field("data_offsets"), offsets.count == 2,
              let begin = offsets[0].nonNegativeInt, let end = offsets[1].nonNegativeInt else {
            throw corrupt("tensor \(name): data_offsets must be two non-negative integers [begin, end]")
        }
        guard begin <= end else { throw corrupt("tensor \(name): data_offsets [\(begin), \(end)] end before they begin") }
        guard let byteCount = SafeTensors.byteCount(shape: shape, elementSize: dtype.size) else {
            throw corrupt("tensor \(name): shape \(SafeTensors.describe(shape: shape)) is too large")
        }
        guard byteCount == end - begin else {
            throw corrupt("tensor \(name): shape \(SafeTensors.describe(shape: shape)) of \(dtype.rawValue) needs \(byteCount) bytes but data_offsets [\(begin), \(end)] span \(end - begin)")
        }
        guard end <= dataSize else {
            throw corrupt("tensor \(name): data_offsets [\(begin), \(end)] run past the end of the \(dataSize)-byte data area (truncated file?)")
        }
        return SafeTensors.TensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin ..< end)
    }
}
