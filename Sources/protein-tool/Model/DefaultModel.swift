import Foundation

/// Where commands find bundled files when a path flag is omitted: `data/model.safetensors`
/// (`score`, `fill`, `similarity` without `--model`) and `data/BLOSUM62` (`similarity` without
/// `--blosum`).
///
/// Looked up, first match wins:
/// 1. the environment variable (`$PROTEIN_PERFORMER_MODEL`, `$PROTEIN_PERFORMER_BLOSUM`);
/// 2. `data/<file>` under the current directory (running from the repository);
/// 3. `data/<file>` beside the package that built this executable
///    (`<repo>/.build/<config>/protein-tool` → `<repo>/data/<file>`).
struct BundledFile {
    var relativePath: String
    var environment: String
    /// The flag that overrides the lookup, for the error message.
    var flag: String
    var what: String

    static let model = BundledFile(
        relativePath: "data/model.safetensors", environment: "PROTEIN_PERFORMER_MODEL", flag: "--model", what: "bundled model")
    static let blosum62 = BundledFile(
        relativePath: "data/BLOSUM62", environment: "PROTEIN_PERFORMER_BLOSUM", flag: "--blosum", what: "bundled BLOSUM62")

    /// `given` when set, else the first existing candidate.
    ///
    /// - Throws: a one-line error listing the places looked at when nothing is found.
    func resolve(_ given: String?) throws -> String {
        if let given { return given }
        var candidates: [String] = []
        if let value = ProcessInfo.processInfo.environment[environment], !value.isEmpty {
            candidates.append(value)
        }
        candidates.append(FileManager.default.currentDirectoryPath + "/" + relativePath)
        // <repo>/.build/<triple>/<config>/protein-tool or <repo>/.build/<config>/protein-tool
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            directory = directory.deletingLastPathComponent()
            candidates.append(directory.appendingPathComponent(relativePath).path)
        }
        for path in candidates where FileManager.default.fileExists(atPath: path) { return path }
        throw BundledFileError(file: self, candidates: candidates)
    }
}

/// The commands' name for the model lookup.
enum DefaultModel {
    static func resolve(_ given: String?) throws -> String { try BundledFile.model.resolve(given) }
}

struct BundledFileError: Error, CustomStringConvertible {
    var file: BundledFile
    var candidates: [String]
    var description: String {
        "no \(file.flag) given and no \(file.what) found (looked at \(candidates.joined(separator: ", "))); "
            + "pass \(file.flag) PATH or set \(file.environment)"
    }
}
