import Foundation
import Testing

/// Runs `python3` scripts for the cross-checks against independent implementations (the
/// standard library's `json`/`struct`, the `safetensors` package, `torch.optim.AdamW`).
/// Checks that need an optional package call `PythonRunner.available(modules:)` first and,
/// when it is missing, print one "skipped" line instead of failing.
enum PythonRunner {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `python3 -c script arguments…`; nil when python3 cannot be started at all.
    static func run(_ script: String, arguments: [String] = []) -> Output? {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("pp-python-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        } catch {
            return nil
        }
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outURL = scratch.appendingPathComponent("stdout"), errURL = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        do {
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = try FileHandle(forWritingTo: outURL)
            process.standardError = try FileHandle(forWritingTo: errURL)
            try process.run()
        } catch {
            return nil
        }
        process.waitUntilExit()
        let out = (try? Data(contentsOf: outURL)) ?? Data(), err = (try? Data(contentsOf: errURL)) ?? Data()
        return Output(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                      stderr: String(decoding: err, as: UTF8.self))
    }

    private static let cache = Cache()

    private final class Cache: @unchecked Sendable {
        let lock = NSLock()
        var known: [String: Bool] = [:]
    }

    /// Whether `python3 -c "import m1, m2"` succeeds (cached per module list).
    static func available(modules: [String]) -> Bool {
        let key = modules.joined(separator: ",")
        cache.lock.lock()
        if let known = cache.known[key] {
            cache.lock.unlock()
            return known
        }
        cache.lock.unlock()
        let script = modules.isEmpty ? "pass" : "import " + modules.joined(separator: ", ")
        let ok = run(script)?.status == 0
        cache.lock.lock()
        cache.known[key] = ok
        cache.lock.unlock()
        return ok
    }

    /// Parses the script's standard output as one JSON value.
    static func json(_ output: Output) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(output.stdout.utf8))
    }
}

/// A fresh directory under the system temporary directory, removed by `remove()`.
struct ScratchDirectory {
    let url: URL
    var path: String { url.path }

    init(_ label: String) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("pp-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Names of the entries in the directory, sorted.
    func listing() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// Paths of the ProteinIO fixtures (this test target has no resources of its own).
enum SharedFixtures {
    static var directory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("ProteinIOTests/Fixtures")
    }

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
}

/// Float32 bit patterns, for exact comparisons with Python.
extension Array where Element == Float {
    var bitPatterns: [UInt32] { map(\.bitPattern) }
}
