import Foundation
import Testing

/// Runs the built `protein-tool` binary and captures stdout, stderr and the exit status.
struct CLIResult {
    var stdout: String
    var stderr: String
    var status: Int32
}

enum CLI {
    /// The `protein-tool` executable beside the test bundle in the build products folder.
    static var executable: URL {
        var dir = Bundle.main.bundleURL
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            dir = bundle.bundleURL.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("protein-tool")
    }

    /// Runs the tool with `arguments`, feeding `stdin` (empty when nil). Output goes through temporary
    /// files, so an output of any size cannot block the child.
    static func run(_ arguments: [String], stdin: Data? = nil) throws -> CLIResult {
        try run(executable: executable, arguments, stdin: stdin)
    }

    /// Runs any program (e.g. `mpirun … protein-tool …`) the same way; `environment` adds to this
    /// process's environment; after `timeout` seconds the child is terminated (SIGTERM) and the
    /// result has status −1, so a hung job fails the test instead of hanging it.
    static func run(
        executable: URL, _ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:],
        timeout: Double? = nil
    ) throws -> CLIResult {
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("protein-tool-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let inURL = scratch.appendingPathComponent("stdin")
        let outURL = scratch.appendingPathComponent("stdout")
        let errURL = scratch.appendingPathComponent("stderr")
        try (stdin ?? Data()).write(to: inURL)
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardInput = try FileHandle(forReadingFrom: inURL)
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        try process.run()
        var timedOut = false
        if let timeout, finished.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            process.terminate()
        }
        process.waitUntilExit()
        return CLIResult(stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
                         stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self)
                            + (timedOut ? "\n[test: terminated after \(timeout ?? 0) s]" : ""),
                         status: timedOut ? -1 : process.terminationStatus)
    }
}

@Suite struct CLISmokeTests {
    @Test func helpExitsZeroAndNamesTheTool() throws {
        let result = try CLI.run(["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("protein-tool"))
    }

    @Test func unknownFlagIsAOneLineErrorWithNonZeroExit() throws {
        let result = try CLI.run(["--no-such-flag"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("no-such-flag"))
    }
}
