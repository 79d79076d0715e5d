import Foundation
import Testing
import ProteinIO
@testable import PerformerModel

/// A small checkpoint with every dtype the writer supports, odd sizes (so the data order
/// matters for alignment), a scalar, an empty tensor and metadata that needs escaping.
enum SampleCheckpoint {
    static let wq: [Float] = (0..<12).map { Float($0) * 0.25 - 1.5 }
    static let embed: [Float] = [1e-30, -0.0, .pi, -.greatestFiniteMagnitude, .leastNonzeroMagnitude, .infinity, .nan, 10, 1.0 / 3, 2]
    static let scalar: [Float] = [42.5]
    static let rng: [UInt64] = [0, 1, 0xFFFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0001]
    static let tokens: [UInt8] = [2, 6, 7, 30, 4]
    static let metadata = [
        "alphabet": Alphabet.protein.serializedTokens,
        "format": "pt",
        "quote\"key": "line\nbreak \u{00FC} tab\t back\\slash \u{1}",
    ]

    static func writer() -> SafeTensorsWriter {
        var writer = SafeTensorsWriter(metadata: metadata)
        // Added out of order on purpose: the file order must not depend on it.
        writer.add(name: "tokens", shape: [5], values: tokens)
        writer.add(name: "scalar", shape: [], values: scalar)
        writer.add(name: "embed", tensor: Tensor(shape: [5, 2], values: embed))
        writer.add(name: "optimizer.step", shape: [], values: [Int64(-42)])
        writer.add(name: "empty", shape: [0, 3], values: [Float]())
        writer.add(name: "blocks.0.attn.wq", shape: [3, 4], values: wq)
        writer.add(name: "rng", shape: [4], values: rng)
        return writer
    }

    /// File order: 8-byte dtypes by name, then 4-byte, then 1-byte.
    static let order = ["optimizer.step", "rng", "blocks.0.attn.wq", "embed", "empty", "scalar", "tokens"]

    /// The whole file as bytes (written to a scratch directory and read back).
    static func bytes() throws -> [UInt8] {
        let dir = try ScratchDirectory("sample")
        defer { dir.remove() }
        try writer().write(to: dir.file("s.safetensors"))
        return Array(try Data(contentsOf: URL(fileURLWithPath: dir.file("s.safetensors"))))
    }
}

/// A file from a literal header (padded to a multiple of 8) and a data area.
func safetensorsFile(header: String, data: [UInt8] = []) -> [UInt8] {
    var h = Array(header.utf8)
    while h.count % 8 != 0 { h.append(0x20) }
    var out = withUnsafeBytes(of: UInt64(h.count).littleEndian) { Array($0) }
    out += h
    return out + data
}

@Suite struct SafeTensorsFormatTests {
    @Test func roundTripPreservesEveryTensorAndTheMetadata() throws {
        let dir = try ScratchDirectory("roundtrip")
        defer { dir.remove() }
        let path = dir.file("model.safetensors")
        let writer = SampleCheckpoint.writer()
        try writer.write(to: path)
        let reader = try SafeTensorsReader(path: path)
        #expect(reader.names == SampleCheckpoint.order)
        #expect(reader.metadata == SampleCheckpoint.metadata)
        #expect(reader.fileSize == writer.fileSize)
        #expect(reader.headerLength % 8 == 0)
        #expect(try reader.floats(name: "blocks.0.attn.wq").bitPatterns == SampleCheckpoint.wq.bitPatterns)
        #expect(try reader.floats(name: "embed").bitPatterns == SampleCheckpoint.embed.bitPatterns)
        #expect(try reader.floats(name: "scalar") == SampleCheckpoint.scalar)
        #expect(try reader.floats(name: "empty") == [])
        #expect(try reader.int64s(name: "optimizer.step") == [-42])
        #expect(try reader.uint64s(name: "rng") == SampleCheckpoint.rng)
        #expect(try reader.uint8s(name: "tokens") == SampleCheckpoint.tokens)
        #expect(reader.info("embed")?.shape == [5, 2] && reader.info("scalar")?.shape == [])
        #expect(reader.info("empty")?.shape == [0, 3] && reader.info("empty")?.byteCount == 0)
        // Every tensor is aligned to its element size within the 8-aligned data area.
        #expect(reader.tensors.allSatisfy { $0.dataOffsets.lowerBound % $0.dtype.size == 0 })
        #expect(reader.dataStart % 8 == 0)
        // Into a caller's pointer.
        let target = Tensor(shape: [3, 4])
        try reader.read(name: "blocks.0.attn.wq", into: target)
        #expect(target.array == SampleCheckpoint.wq)
        // The same tensors and metadata give the same bytes whatever the order of `add`.
        var reordered = SafeTensorsWriter(metadata: SampleCheckpoint.metadata)
        reordered.add(name: "rng", shape: [4], values: SampleCheckpoint.rng)
        reordered.add(name: "blocks.0.attn.wq", shape: [3, 4], values: SampleCheckpoint.wq)
        reordered.add(name: "empty", shape: [0, 3], values: [Float]())
        reordered.add(name: "embed", shape: [5, 2], values: SampleCheckpoint.embed)
        reordered.add(name: "optimizer.step", shape: [], values: [Int64(-42)])
        reordered.add(name: "scalar", shape: [], values: SampleCheckpoint.scalar)
        reordered.add(name: "tokens", shape: [5], values: SampleCheckpoint.tokens)
        try reordered.write(to: dir.file("again.safetensors"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(contentsOf: URL(fileURLWithPath: dir.file("again.safetensors"))))
    }

    @Test func headerIsTheDocumentedJSON() throws {
        var writer = SafeTensorsWriter(metadata: ["b": "2", "a": "1"])
        writer.add(name: "w", shape: [2, 1], values: [Float(1), 2])
        writer.add(name: "n", shape: [], values: [Int64(3)])
        let bytes = writer.headerBytes()
        let json = #"{"__metadata__":{"a":"1","b":"2"},"n":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2,1],"data_offsets":[8,16]}}"#
        var padded = json
        while padded.utf8.count % 8 != 0 { padded += " " }
        #expect(Array(bytes[8...]) == Array(padded.utf8))
        #expect(Array(bytes[0..<8]) == withUnsafeBytes(of: UInt64(padded.utf8.count).littleEndian) { Array($0) })
        // No metadata: no __metadata__ entry.
        #expect(String(decoding: SafeTensorsWriter().headerBytes()[8...], as: UTF8.self) == "{}      ")
    }

    @Test func largeTensorStreamsFromItsPointerAndReadsBackIntoOne() throws {
        let dir = try ScratchDirectory("large")
        defer { dir.remove() }
        let count = 3_000_001  // > the writer's 1 MiB buffer, odd
        let values = Tensor(shape: [count])
        for i in 0..<count { values.data[i] = Float(i % 9973) * 0.5 - 17 }
        var writer = SafeTensorsWriter()
        writer.add(name: "head", shape: [3], values: [Float(1), 2, 3])
        writer.add(name: "values", shape: [count], floats: values.data)
        writer.add(name: "tail", shape: [1], values: [Float(9)])
        let path = dir.file("big.safetensors")
        try writer.write(to: path)
        let reader = try SafeTensorsReader(path: path)
        let back = Tensor(shape: [count])
        try reader.read(name: "values", shape: [count], into: back.data)
        #expect(memcmp(back.data, values.data, count * 4) == 0)
        #expect(try reader.floats(name: "tail") == [9])
    }

    @Test func errorsAreOneLineAndNameTheFileAndTheTensor() throws {
        var writer = SafeTensorsWriter()
        writer.add(name: "blocks.3.attn.wq", shape: [256, 128], values: [Float](repeating: 0, count: 256 * 128))
        writer.add(name: "blocks.3.ln1.beta", shape: [4], values: [Float](repeating: 1, count: 4))
        writer.add(name: "half", dtype: .f16, shape: [2], provider: { sink in
            try [UInt8](repeating: 0, count: 4).withUnsafeBytes { try sink.write($0) }
        })
        let dir = try ScratchDirectory("messages")
        defer { dir.remove() }
        try writer.write(to: dir.file("m.safetensors"))
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: dir.file("m.safetensors"))))
        let reader = try SafeTensorsReader(bytes: bytes, name: "model.safetensors")

        func message(_ body: () throws -> Void) -> String? {
            do { try body() } catch let error as CheckpointError { return error.description } catch { return "not a CheckpointError: \(error)" }
            return nil
        }
        #expect(message { try reader.expect(name: "blocks.3.attn.wq", shape: [256, 256]) }
                == "model.safetensors: tensor blocks.3.attn.wq has shape [256, 128], expected [256, 256]")
        #expect(message { try reader.expect(name: "blocks.3.attn.wk", shape: [256, 256]) }
                == "model.safetensors: missing tensor blocks.3.attn.wk (expected F32 [256, 256])")
        #expect(message { try reader.expect(name: "half", shape: [2]) }
                == "model.safetensors: tensor half has dtype F16, expected F32")
        #expect(message { _ = try reader.floats(name: "half") } == "model.safetensors: tensor half has dtype F16, expected F32")
        #expect(message { try reader.checkNames(expected: ["blocks.3.attn.wq", "blocks.3.ln1.bias", "half"]) }
                == "model.safetensors: missing tensor: blocks.3.ln1.bias; unexpected tensor: blocks.3.ln1.beta")
        #expect(message { try reader.checkNames(expected: ["blocks.3.attn.wq", "blocks.3.ln1.beta", "half"]) } == nil)
        let many = (0..<8).map { "x\($0)" } + ["blocks.3.attn.wq", "blocks.3.ln1.beta", "half"]
        #expect(message { try reader.checkNames(expected: many) }
                == "model.safetensors: missing tensors: x0, x1, x2, x3, x4 and 3 more")
        let buffer = Tensor(shape: [10])
        #expect(message { try reader.read(name: "blocks.3.ln1.beta", into: buffer.data, count: 10) }
                == "model.safetensors: tensor blocks.3.ln1.beta has 4 elements (shape [4]), expected 10")
        #expect(message { _ = try reader.metadataValue("step") } == "model.safetensors: metadata has no key 'step'")
        #expect(message { _ = try SafeTensorsReader(path: dir.file("absent.safetensors")) }?
            .hasSuffix("absent.safetensors: cannot open: No such file or directory") == true)
        #expect(message { _ = try SafeTensorsReader(path: dir.path) }?.hasSuffix(": not a regular file") == true)
    }
}

@Suite struct SafeTensorsCrossCheckTests {
    /// Parses the file with nothing but Python's standard library (`struct`, `json`), checks
    /// the layout rules on its own, and prints every value (F32 as bit patterns, integers as
    /// decimal strings) for an exact comparison.
    static let standardLibraryParser = #"""
import json, struct, sys
data = open(sys.argv[1], "rb").read()
n, = struct.unpack("<Q", data[:8])
assert n % 8 == 0 and data[8:9] == b"{", n
header = json.loads(data[8:8 + n].decode("utf-8"))
start = 8 + n
metadata = header.pop("__metadata__", {})
codes = {"F32": "I", "I64": "q", "U64": "Q", "U8": "B"}
out = {"metadata": metadata, "order": list(header), "tensors": {}}
spans = []
for name, info in header.items():
    b, e = info["data_offsets"]
    count = 1
    for d in info["shape"]:
        count *= d
    values = struct.unpack("<%d%s" % (count, codes[info["dtype"]]), data[start + b:start + e])
    out["tensors"][name] = {"dtype": info["dtype"], "shape": info["shape"], "values": [str(v) for v in values]}
    spans.append((b, e))
position = 0
for b, e in sorted(spans):
    assert b == position, (b, position)
    position = e
assert start + position == len(data), (start + position, len(data))
print(json.dumps(out))
"""#

    static var expectedValues: [String: (dtype: String, shape: [Int], values: [String])] {
        [
            "blocks.0.attn.wq": ("F32", [3, 4], SampleCheckpoint.wq.bitPatterns.map(String.init)),
            "embed": ("F32", [5, 2], SampleCheckpoint.embed.bitPatterns.map(String.init)),
            "scalar": ("F32", [], SampleCheckpoint.scalar.bitPatterns.map(String.init)),
            "empty": ("F32", [0, 3], []),
            "optimizer.step": ("I64", [], ["-42"]),
            "rng": ("U64", [4], SampleCheckpoint.rng.map(String.init)),
            "tokens": ("U8", [5], SampleCheckpoint.tokens.map(String.init)),
        ]
    }

    @Test func pythonStandardLibraryReadsWhatWeWrite() throws {
        guard PythonRunner.available(modules: ["json", "struct"]) else {
            print("skipped: python3 is not available for the standard-library safetensors cross-check")
            return
        }
        let dir = try ScratchDirectory("py-stdlib")
        defer { dir.remove() }
        let path = dir.file("model.safetensors")
        try SampleCheckpoint.writer().write(to: path)
        let output = try #require(PythonRunner.run(Self.standardLibraryParser, arguments: [path]))
        #expect(output.status == 0, "python: \(output.stderr)")
        let json = try #require(try PythonRunner.json(output) as? [String: Any])
        #expect(json["metadata"] as? [String: String] == SampleCheckpoint.metadata)
        #expect(json["order"] as? [String] == SampleCheckpoint.order)
        let tensors = try #require(json["tensors"] as? [String: [String: Any]])
        #expect(tensors.count == Self.expectedValues.count)
        for (name, expected) in Self.expectedValues {
            let tensor = try #require(tensors[name], "python did not see \(name)")
            #expect(tensor["dtype"] as? String == expected.dtype, "\(name)")
            #expect(tensor["shape"] as? [Int] == expected.shape, "\(name)")
            #expect(tensor["values"] as? [String] == expected.values, "\(name)")
        }
    }

    @Test func safetensorsPackageLoadsWhatWeWrite() throws {
        guard PythonRunner.available(modules: ["safetensors", "numpy"]) else {
            print("skipped: python3 with safetensors and numpy is not available (safetensors.numpy.load_file cross-check)")
            return
        }
        let dir = try ScratchDirectory("py-safetensors")
        defer { dir.remove() }
        let path = dir.file("model.safetensors")
        try SampleCheckpoint.writer().write(to: path)
        let script = #"""
import json, sys
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file
tensors = load_file(sys.argv[1])
with safe_open(sys.argv[1], framework="np") as f:
    metadata = f.metadata()
def values(a):
    flat = (a.view(np.uint32) if a.dtype == np.float32 else a).ravel().tolist()
    return [str(v) for v in flat]
print(json.dumps({"metadata": metadata, "tensors": {k: {"dtype": str(v.dtype), "shape": list(v.shape), "values": values(v)} for k, v in tensors.items()}}))
"""#
        let output = try #require(PythonRunner.run(script, arguments: [path]))
        #expect(output.status == 0, "python: \(output.stderr)")
        let json = try #require(try PythonRunner.json(output) as? [String: Any])
        #expect(json["metadata"] as? [String: String] == SampleCheckpoint.metadata)
        let tensors = try #require(json["tensors"] as? [String: [String: Any]])
        let numpyType = ["F32": "float32", "I64": "int64", "U64": "uint64", "U8": "uint8"]
        #expect(tensors.count == Self.expectedValues.count)
        for (name, expected) in Self.expectedValues {
            let tensor = try #require(tensors[name], "safetensors did not load \(name)")
            #expect(tensor["dtype"] as? String == numpyType[expected.dtype], "\(name)")
            #expect(tensor["shape"] as? [Int] == expected.shape, "\(name)")
            #expect(tensor["values"] as? [String] == expected.values, "\(name)")
        }
    }

    @Test func weReadWhatTheSafetensorsPackageWrites() throws {
        guard PythonRunner.available(modules: ["safetensors", "numpy"]) else {
            print("skipped: python3 with safetensors and numpy is not available (reading a file written by safetensors.numpy.save_file)")
            return
        }
        let dir = try ScratchDirectory("py-written")
        defer { dir.remove() }
        let path = dir.file("python.safetensors")
        let script = #"""
import sys
import numpy as np
from safetensors.numpy import save_file
save_file({
    "weight": np.arange(12, dtype=np.float32).reshape(3, 4) * 0.5 - 1,
    "bias": np.array([1.5, -2.25, 3e-8], dtype=np.float32),
    "count": np.array(7, dtype=np.int64),
    "mask": np.array([1, 0, 1, 1, 0], dtype=np.uint8),
    "state": np.array([1, 2**64 - 1, 3, 2**63], dtype=np.uint64),
    "half": np.array([1.0, -2.0], dtype=np.float16),
}, sys.argv[1], metadata={"format": "np", "note": "written by python"})
"""#
        let output = try #require(PythonRunner.run(script, arguments: [path]))
        #expect(output.status == 0, "python: \(output.stderr)")
        let reader = try SafeTensorsReader(path: path)
        #expect(Set(reader.names) == ["weight", "bias", "count", "mask", "state", "half"])
        #expect(reader.metadata == ["format": "np", "note": "written by python"])
        #expect(try reader.floats(name: "weight") == (0..<12).map { Float($0) * 0.5 - 1 })
        #expect(reader.info("weight")?.shape == [3, 4])
        #expect(try reader.floats(name: "bias") == [1.5, -2.25, 3e-8])
        #expect(try reader.int64s(name: "count") == [7] && reader.info("count")?.shape == [])
        #expect(try reader.uint8s(name: "mask") == [1, 0, 1, 1, 0])
        #expect(try reader.uint64s(name: "state") == [1, .max, 3, 1 << 63])
        #expect(reader.info("half")?.dtype == .f16 && reader.info("half")?.shape == [2])
        let half = UnsafeMutableRawPointer.allocate(byteCount: 4, alignment: 8)
        defer { half.deallocate() }
        try reader.readBytes(name: "half", into: half)
        #expect(Array(UnsafeRawBufferPointer(start: half, count: 4)) == [0x00, 0x3C, 0x00, 0xC0])  // IEEE half 1.0 = 0x3C00, −2.0 = 0xC000, little-endian
    }
}

@Suite struct SafeTensorsRobustnessTests {
    /// Opens `bytes` and, if that succeeds, reads every tensor; returns the error if any.
    /// The point is that nothing crashes or hangs.
    static func openAndReadEverything(_ bytes: [UInt8]) -> CheckpointError? {
        do throws(CheckpointError) {
            let reader = try SafeTensorsReader(bytes: bytes, name: "fuzz.safetensors")
            for info in reader.tensors {
                var buffer = [UInt8](repeating: 0, count: info.byteCount)
                var failure: CheckpointError?
                buffer.withUnsafeMutableBytes { raw in
                    guard let base = raw.baseAddress else { return }
                    do throws(CheckpointError) { try reader.readBytes(name: info.name, into: base) } catch { failure = error }
                }
                if let failure { return failure }
            }
            return nil
        } catch {
            return error
        }
    }

    @Test func everyTruncationIsACleanError() throws {
        let bytes = try SampleCheckpoint.bytes()
        #expect(Self.openAndReadEverything(bytes) == nil)
        for length in 0..<bytes.count {
            let error = Self.openAndReadEverything(Array(bytes[0..<length]))
            #expect(error?.kind == .corrupt, "truncated to \(length) bytes: \(String(describing: error))")
            #expect(error?.description.contains("\n") == false)
        }
        // The same through the file path (pread), for a spread of lengths.
        let dir = try ScratchDirectory("truncated")
        defer { dir.remove() }
        for length in stride(from: 0, to: bytes.count, by: 7) {
            let path = dir.file("t\(length).safetensors")
            try Data(bytes[0..<length]).write(to: URL(fileURLWithPath: path))
            do throws(CheckpointError) {
                _ = try SafeTensorsReader(path: path)
                Issue.record("a file truncated to \(length) bytes was accepted")
            } catch {
                #expect(error.kind == .corrupt && error.file == path)
            }
        }
    }

    @Test func seededHeaderByteFlipsNeverCrash() throws {
        let bytes = try SampleCheckpoint.bytes()
        let headerEnd = 8 + Int(bytes[0]) + Int(bytes[1]) << 8
        var generator = SeededGenerator(seed: 2024)
        var errors = 0
        for _ in 0..<3000 {
            var corrupted = bytes
            for _ in 0..<(1 + generator.nextInt(below: 3)) {
                let position = generator.nextInt(below: headerEnd)
                corrupted[position] = UInt8(truncatingIfNeeded: generator.next())
            }
            if Self.openAndReadEverything(corrupted) != nil { errors += 1 }
        }
        #expect(errors > 2000)  // most flips break the header; the rest (a renamed tensor, a changed pad byte) are still valid files
    }

    @Test func randomBytesAndJSONishJunkNeverCrash() {
        var generator = SeededGenerator(seed: 7)
        let alphabet = Array(#"{}[]",:0123456789.-eE FUI86_abc\"#.utf8) + [0x00, 0xFF, 0xC3]
        for i in 0..<3000 {
            let length = generator.nextInt(below: 120)
            var body = (0..<length).map { _ in alphabet[generator.nextInt(below: alphabet.count)] }
            if i % 2 == 0 { body = Array(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#.utf8) + body }
            var file = withUnsafeBytes(of: UInt64(body.count).littleEndian) { Array($0) } + body
            if i % 3 == 0 { file += (0..<generator.nextInt(below: 16)).map { _ in UInt8(truncatingIfNeeded: generator.next()) } }
            if i % 5 == 0 { file = (0..<generator.nextInt(below: 64)).map { _ in UInt8(truncatingIfNeeded: generator.next()) } }
            _ = Self.openAndReadEverything(file)
        }
    }

    @Test(arguments: [
        (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8, "tensor a appears twice in the header"),
        (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, 12, "overlaps tensor a"),
        (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#, 12, "bytes 4 ..< 8 of the data area belong to no tensor"),
        (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 8, "4 trailing bytes belong to no tensor"),
        (#"{"a":{"dtype":"F17","shape":[1],"data_offsets":[0,4]}}"#, 4, "unknown dtype \"F17\""),
        (#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}"#, 4, "is too large"),
        (#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, 4, "shape must hold non-negative integers"),
        (#"{"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}"#, 4, "shape must hold non-negative integers"),
        (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,99999999999999999999]}}"#, 4, "data_offsets must be two non-negative integers"),
        (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, 4, "end before they begin"),
        (#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, 8, "needs 12 bytes but data_offsets [0, 8] span 8"),
        (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 2, "run past the end of the 2-byte data area"),
        (#"{"a":{"dtype":"F32","shape":[1]}}"#, 0, "tensor a: entry has no \"data_offsets\""),
        (#"{"__metadata__":{"k":1}}"#, 0, "metadata value for key 'k' is not a string"),
        (#"{"__metadata__":[]}"#, 0, "__metadata__ is not a JSON object"),
        (#"{"a\ud800":{}}"#, 0, "unpaired UTF-16 surrogate"),
        (#"{"a":{}} x"#, 0, "unexpected 'x' after the JSON value"),
        (#"{"a":{},}"#, 0, "expected a quoted key but found '}'"),
        (#"{"a":01}"#, 0, "leading zero"),
        (" {}", 0, "header does not start with '{'"),
    ] as [(String, Int, String)])
    func malformedHeadersGiveTheirMessage(header: String, dataSize: Int, expected: String) {
        let file = safetensorsFile(header: header, data: [UInt8](repeating: 0, count: dataSize))
        let error = Self.openAndReadEverything(file)
        #expect(error?.kind == .corrupt)
        #expect(error?.description.contains(expected) == true, "\(String(describing: error))")
        #expect(error?.description.hasPrefix("fuzz.safetensors: ") == true)
    }

    @Test func hostileLengthsNestingAndEncodingAreRejected() {
        func error(_ bytes: [UInt8]) -> String { Self.openAndReadEverything(bytes)?.description ?? "accepted" }
        #expect(error([1, 2, 3]).contains("too short for the 8-byte header length"))
        #expect(error([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7B, 0x7D]).contains("exceeds the limit"))
        #expect(error([100, 0, 0, 0, 0, 0, 0, 0, 0x7B, 0x7D]).contains("header length 100 runs past the end of the 10-byte file"))
        #expect(error([0, 0, 0, 0, 0, 0, 0, 0]).contains("too short for a JSON object"))
        let deep = #"{"a":"# + String(repeating: "[", count: 100_000) + "}"
        #expect(error(safetensorsFile(header: deep)).contains("nesting deeper than 64 levels"))
        var invalidUTF8 = safetensorsFile(header: #"{"aXb":{}}"#)
        invalidUTF8[8 + 3] = 0xC3  // a lead byte followed by an ASCII 'b'
        #expect(error(invalidUTF8).contains("not valid UTF-8"))
        // Nothing but metadata and no tensors is a valid (empty) checkpoint.
        #expect(error(safetensorsFile(header: #"{"__metadata__":{"k":"v"}}"#)) == "accepted")
    }
}

@Suite struct SafeTensorsAtomicWriteTests {
    static func contents(_ path: String) -> Data? { try? Data(contentsOf: URL(fileURLWithPath: path)) }

    @Test func aThrowingProviderLeavesTheEarlierFileAndNoTemporaryFile() throws {
        struct DiskFull: Error {}
        let dir = try ScratchDirectory("atomic")
        defer { dir.remove() }
        let path = dir.file("checkpoint.safetensors")
        try SampleCheckpoint.writer().write(to: path)
        let before = try #require(Self.contents(path))

        var failing = SafeTensorsWriter(metadata: ["step": "2"])
        failing.add(name: "a", shape: [300_000], values: [Float](repeating: 1, count: 300_000))
        failing.add(name: "b", dtype: .f32, shape: [400_000], provider: { sink in
            let half = [Float](repeating: 2, count: 200_000)
            try half.withUnsafeBufferPointer { try sink.write(floats: $0) }
            throw DiskFull()
        })
        do throws(CheckpointError) {
            try failing.write(to: path)
            Issue.record("the write should have failed")
        } catch {
            #expect(error.kind == .io)
            #expect(error.description.hasPrefix(path + ": tensor b: data provider failed: DiskFull"))
        }
        #expect(Self.contents(path) == before)
        #expect(dir.listing() == ["checkpoint.safetensors"])

        // A provider that writes too little or too much is an error too, with the same guarantees.
        for bytes in [3, 5] {
            var short = SafeTensorsWriter()
            short.add(name: "c", dtype: .u8, shape: [4], provider: { sink in
                try [UInt8](repeating: 9, count: bytes).withUnsafeBytes { try sink.write($0) }
            })
            do throws(CheckpointError) {
                try short.write(to: path)
                Issue.record("a provider writing \(bytes) of 4 bytes was accepted")
            } catch {
                #expect(error.kind == .mismatch && error.description.contains("provider of tensor c wrote"))
            }
            #expect(Self.contents(path) == before)
            #expect(dir.listing() == ["checkpoint.safetensors"])
        }
        // A successful write replaces the file.
        var good = SafeTensorsWriter(metadata: ["step": "3"])
        good.add(name: "a", shape: [1], values: [Float(5)])
        try good.write(to: path)
        #expect(try SafeTensorsReader(path: path).metadata == ["step": "3"])
        #expect(dir.listing() == ["checkpoint.safetensors"])
    }

    @Test func unwritableTargetsFailCleanly() throws {
        let dir = try ScratchDirectory("unwritable")
        defer { dir.remove() }
        var writer = SafeTensorsWriter()
        writer.add(name: "a", shape: [2], values: [Float(1), 2])
        // A directory that does not exist.
        do throws(CheckpointError) {
            try writer.write(to: dir.file("missing/model.safetensors"))
            Issue.record("write into a missing directory succeeded")
        } catch {
            #expect(error.kind == .io && error.description.contains("cannot create a temporary file in"))
        }
        // The target is a directory: the rename fails after the data was written; the
        // temporary file must be gone and the directory untouched.
        let target = dir.file("occupied")
        try FileManager.default.createDirectory(atPath: target + "/inside", withIntermediateDirectories: true)
        do throws(CheckpointError) {
            try writer.write(to: target)
            Issue.record("write over a directory succeeded")
        } catch {
            #expect(error.kind == .io && error.description.contains("the previous file is unchanged"))
        }
        #expect(dir.listing() == ["occupied"])
        #expect((try? FileManager.default.contentsOfDirectory(atPath: target)) == ["inside"])
        // A path ending in '/' names no file.
        do throws(CheckpointError) {
            try writer.write(to: dir.path + "/")
            Issue.record("write to a path ending in '/' succeeded")
        } catch {
            #expect(error.description.hasSuffix("the path names a directory, not a file"))
        }
    }

    @Test func temporaryFileLivesBesideTheTarget() {
        let pid = getpid()
        for (path, directory, temporary) in [("run/a.safetensors", "run", "run/.a.safetensors.tmp-\(pid)-f"),
                                             ("a.safetensors", ".", ".a.safetensors.tmp-\(pid)-f"),
                                             ("/a.safetensors", "/", "/.a.safetensors.tmp-\(pid)-f")] {
            let result = SafeTensorsWriter.temporaryPath(for: path, suffix: "f")
            #expect(result?.directory == directory && result?.temporary == temporary, "\(path)")
        }
        #expect(SafeTensorsWriter.temporaryPath(for: "/x/y/", suffix: "f") == nil)
    }
}
