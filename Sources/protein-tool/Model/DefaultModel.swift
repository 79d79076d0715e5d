import Foundation

/// Where `score`, `fill` and `similarity` find a model when `--model` is omitted: the bundled
/// `data/model.safetensors`.
///
/// Looked up, first match wins:
/// 1. `$PROTEIN_PERFORMER_MODEL`;
/// 2. `data/model.safetensors` under the current directory (running from the repository);
/// 3. `data/model.safetensors` beside the package that built this executable
///    (`<repo>/.build/<config>/protein-tool` → `<repo>/data/model.safetensors`).
enum DefaultModel {
    static let relativePath = "data/model.safetensors"

    /// The model path to use: `given` when set, else the bundled model.
    ///
    /// - Throws: a one-line error listing the places looked at when nothing is found.
    static func resolve(_ given: String?) throws -> String {
        if let given { return given }
        var candidates: [String] = []
        if let environment = ProcessInfo.processInfo.environment["PROTEIN_PERFORMER_MODEL"], !environment.isEmpty {
            candidates.append(environment)
        }
        candidates.append(FileManager.default.currentDirectoryPath + "/" + relativePath)
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        // <repo>/.build/<triple>/<config>/protein-tool or <repo>/.build/<config>/protein-tool
        var directory = executable.deletingLastPathComponent()
        for _ in 0..<4 {
            directory = directory.deletingLastPathComponent()
            candidates.append(directory.appendingPathComponent(relativePath).path)
        }
        for path in candidates where FileManager.default.fileExists(atPath: path) { return path }
        throw DefaultModelError(candidates: candidates)
    }
}

struct DefaultModelError: Error, CustomStringConvertible {
    var candidates: [String]
    var description: String {
        "no --model given and no bundled model found (looked at \(candidates.joined(separator: ", "))); "
            + "pass --model PATH or set PROTEIN_PERFORMER_MODEL"
    }
}
