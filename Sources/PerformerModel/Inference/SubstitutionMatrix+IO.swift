import Foundation
import ProteinIO

/// Reading and writing substitution matrices: the NCBI/EMBOSS text layout, TSV and JSON.
///
/// **NCBI/EMBOSS layout** (NCBI BLAST's `data/BLOSUM62`, EMBOSS's `EBLOSUM62`, Biopython's
/// `substitution_matrices`): lines starting with `#` are comments; the first other non-blank line
/// is the header, the column letters separated by blanks; then one row per letter, the row letter
/// followed by one score per column, separated by blanks. Scores are integers in the published
/// files; decimals (and `nan`) are accepted too. Rows may come in any order, but there must be
/// exactly one per header letter. The extra letters of the published files (`B Z X *`) are kept.
///
/// **TSV**: the same table with tab separators and an empty (or any) corner cell: a header row
/// `⟨corner⟩ TAB A TAB R …`, then `A TAB 4 TAB -1 …`. `#` lines are comments.
///
/// **JSON**: `{"letters": ["A", "R", …], "scores": [[4, -1, …], …], …}` with `null` for NaN;
/// other keys (method, units, correlations, comments) are written by `jsonText` and ignored by
/// the parser.
///
/// Parse errors are `SubstitutionMatrixError`s of one line naming the file and line:
/// `BLOSUM62:9: row 'A' has 23 scores, the header has 24 letters`.
extension SubstitutionMatrix {
    /// The file formats `init(contentsOf:format:)` reads and the writers produce.
    public enum FileFormat: String, CaseIterable, Sendable {
        case ncbi, tsv, json
    }

    // MARK: - Parsing

    /// Parses the NCBI/EMBOSS layout (see the extension's documentation).
    ///
    /// - Throws: `SubstitutionMatrixError` for a missing or malformed header (a label longer than
    ///   one character, a duplicate letter), a row with an unknown or repeated letter, a row with
    ///   the wrong number of scores, a score that is not a number, or header letters without a row.
    public init(ncbi text: String, file: String = "<memory>") throws(SubstitutionMatrixError) {
        try self.init(table: text, file: file, separator: nil)
    }

    /// Parses the TSV layout (see the extension's documentation); the same checks as `init(ncbi:)`.
    public init(tsv text: String, file: String = "<memory>") throws(SubstitutionMatrixError) {
        try self.init(table: text, file: file, separator: "\t")
    }

    /// Parses the JSON layout: an object with `letters` (an array of one-character strings, or
    /// one string of letters) and `scores` (one array of numbers or `null` per letter).
    ///
    /// - Throws: `SubstitutionMatrixError` (line numbers are not tracked for JSON) when the text
    ///   is not JSON, a key is missing or has the wrong type, or the shapes disagree.
    public init(json text: String, file: String = "<memory>") throws(SubstitutionMatrixError) {
        func fail(_ message: String) -> SubstitutionMatrixError {
            SubstitutionMatrixError(file: file, message: message)
        }
        // JSONDecoder, not JSONSerialization: on Linux the latter does not read every Double back
        // exactly (it rounds some 17-digit numbers), which would break the round trip.
        let decoded: JSONMatrix
        do {
            decoded = try JSONDecoder().decode(JSONMatrix.self, from: Data(text.utf8))
        } catch let error as DecodingError {
            throw fail(SubstitutionMatrix.describe(error))
        } catch {
            throw fail("not valid JSON")
        }
        let letters = decoded.letters
        if let duplicate = SubstitutionMatrix.firstDuplicate(letters) {
            throw fail("letter '\(duplicate)' appears twice in 'letters'")
        }
        guard decoded.scores.count == letters.count else {
            throw fail("'scores' has \(decoded.scores.count) rows for \(letters.count) letters")
        }
        for (i, row) in decoded.scores.enumerated() where row.count != letters.count {
            throw fail("'scores' row \(i + 1) ('\(letters[i])') has \(row.count) values for \(letters.count) letters")
        }
        self.init(letters: letters, scores: decoded.scores.flatMap { $0.map { $0 ?? .nan } },
                  comments: decoded.comments ?? [])
    }

    /// The keys the JSON parser reads (others are ignored).
    private struct JSONMatrix: Decodable {
        var letters: [Character]
        var scores: [[Double?]]
        var comments: [String]?

        enum CodingKeys: String, CodingKey { case letters, scores, comments }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            if let string = try? c.decode(String.self, forKey: .letters) {
                letters = Array(string)
            } else {
                let strings = try c.decode([String].self, forKey: .letters)
                letters = []
                for (i, s) in strings.enumerated() {
                    guard s.count == 1, let letter = s.first else {
                        throw DecodingError.dataCorruptedError(
                            forKey: .letters, in: c, debugDescription: "'letters'[\(i)] is not a one-character string")
                    }
                    letters.append(letter)
                }
            }
            scores = try c.decode([[Double?]].self, forKey: .scores)
            comments = try c.decodeIfPresent([String].self, forKey: .comments)
        }
    }

    /// One line for a JSON decoding error: where (the key path) and what.
    private static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing '\(path(context.codingPath))\(context.codingPath.isEmpty ? "" : ".")\(key.stringValue)'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            let at = path(context.codingPath)
            return at.isEmpty ? "expected a JSON object with 'letters' and 'scores'"
                : "'\(at.dropFirst())' has the wrong type (letters: strings; scores: rows of numbers or null)"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON" : context.debugDescription
        @unknown default:
            return "not a substitution matrix"
        }
    }

    /// Reads a matrix file in `format`, or, when `format` is nil, in the format its content shows:
    /// JSON when the first non-blank character is `{`, TSV when the header line has a tab, else
    /// the NCBI layout.
    ///
    /// - Throws: `SubstitutionMatrixError` when the file cannot be read, is not UTF-8, or does
    ///   not parse.
    public init(contentsOf path: String, format: FileFormat? = nil) throws(SubstitutionMatrixError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file"
            throw SubstitutionMatrixError(file: path, message: reason)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw SubstitutionMatrixError(file: path, message: "not UTF-8 text")
        }
        switch format ?? SubstitutionMatrix.detectFormat(text) {
        case .ncbi: try self.init(ncbi: text, file: path)
        case .tsv: try self.init(tsv: text, file: path)
        case .json: try self.init(json: text, file: path)
        }
    }

    /// The format of matrix text by its content (see `init(contentsOf:format:)`).
    public static func detectFormat(_ text: String) -> FileFormat {
        if text.first(where: { !$0.isWhitespace }) == "{" { return .json }
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let trimmed = line.drop { $0 == " " || $0 == "\t" || $0 == "\r" }
            if trimmed.isEmpty || trimmed.first == "#" { continue }
            return line.contains("\t") ? .tsv : .ncbi
        }
        return .ncbi
    }

    /// The shared table parser: fields split on blanks (`separator == nil`, NCBI) or on one
    /// character (TSV, where the header's first field is the corner cell).
    private init(table text: String, file: String, separator: Character?) throws(SubstitutionMatrixError) {
        var letters: [Character] = []
        var rows: [Character: [Double]] = [:]
        var comments: [String] = []
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = Substring(rawLine)
            if line.last == "\r" { line = line.dropLast() }
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty { continue }
            if trimmed.first == "#" {
                var comment = trimmed.dropFirst()
                if comment.first == " " { comment = comment.dropFirst() }
                comments.append(String(comment))
                continue
            }
            func fail(_ message: String) -> SubstitutionMatrixError {
                SubstitutionMatrixError(file: file, line: lineNumber, message: message)
            }
            let fields: [Substring]
            if let separator {
                fields = line.split(separator: separator, omittingEmptySubsequences: false).map(SubstitutionMatrix.trimmed)
            } else {
                fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            }
            if letters.isEmpty {
                let labels = separator == nil ? fields : Array(fields.dropFirst())
                guard !labels.isEmpty else { throw fail("header row has no letters") }
                for label in labels {
                    guard label.count == 1, let c = label.first else {
                        throw fail("header: '\(SubstitutionMatrix.escaped(label))' is not a single letter")
                    }
                    letters.append(c)
                }
                if let duplicate = SubstitutionMatrix.firstDuplicate(letters) {
                    throw fail("header: letter '\(duplicate)' appears twice")
                }
                continue
            }
            guard let label = fields.first, label.count == 1, let letter = label.first else {
                throw fail("row label '\(SubstitutionMatrix.escaped(fields.first ?? ""))' is not a single letter")
            }
            guard letters.contains(letter) else {
                throw fail("row '\(letter)' is not one of the header letters \(String(letters))")
            }
            guard rows[letter] == nil else { throw fail("second row for '\(letter)'") }
            let values = fields.dropFirst()
            guard values.count == letters.count else {
                throw fail("row '\(letter)' has \(values.count) scores, the header has \(letters.count) letters")
            }
            var row: [Double] = []
            row.reserveCapacity(values.count)
            for (column, field) in zip(letters, values) {
                if field.lowercased() == "nan" {
                    row.append(.nan)
                } else if let value = Double(field), value.isFinite {
                    row.append(value)
                } else {
                    throw fail("row '\(letter)', column '\(column)': '\(SubstitutionMatrix.escaped(field))' is not a number")
                }
            }
            rows[letter] = row
        }
        guard !letters.isEmpty else {
            throw SubstitutionMatrixError(file: file, message: "no header row of letters (only comments or blank lines)")
        }
        let missing = letters.filter { rows[$0] == nil }
        guard missing.isEmpty else {
            throw SubstitutionMatrixError(
                file: file, line: lineNumber,
                message: "the file ended without rows for \(missing.map(String.init).joined(separator: ", "))")
        }
        self.init(letters: letters, scores: letters.flatMap { rows[$0] ?? [] }, comments: comments)
    }

    /// `field` without leading and trailing blanks.
    private static func trimmed(_ field: Substring) -> Substring {
        var s = field
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return s
    }

    private static func firstDuplicate(_ letters: [Character]) -> Character? {
        var seen = Set<Character>()
        for c in letters where !seen.insert(c).inserted { return c }
        return nil
    }

    /// Printable form of a field for an error message (control characters as \u{…}, cut at 20).
    private static func escaped(_ s: Substring) -> String {
        var out = ""
        for scalar in s.unicodeScalars.prefix(20) {
            out += scalar.value < 0x20 || scalar.value == 0x7F ? "\\u{\(String(scalar.value, radix: 16))}" : String(scalar)
        }
        return s.unicodeScalars.count > 20 ? out + "…" : out
    }

    // MARK: - Writing

    /// The matrix in the NCBI/EMBOSS layout: the comments as `# ` lines, the header, one row per
    /// letter, columns right-aligned to a common width (at least 3, as in BLOSUM62).
    ///
    /// - Parameter decimals: digits after the decimal point, or nil for the shortest text that
    ///   reads back as exactly the same Double (integers are written without a point either way).
    public func ncbiText(decimals: Int? = nil) -> String {
        let cells = scores.map { SubstitutionMatrix.format($0, decimals: decimals) }
        let width = Swift.max(3, (cells.map(\.count).max() ?? 0) + 1)
        func pad(_ s: String) -> String { String(repeating: " ", count: Swift.max(0, width - s.count)) + s }
        var out = comments.map { "# \($0)\n" }.joined()
        out += " " + letters.map { pad(String($0)) }.joined() + "\n"
        for (i, letter) in letters.enumerated() {
            out += String(letter) + cells[(i * count)..<((i + 1) * count)].map(pad).joined() + "\n"
        }
        return out
    }

    /// The matrix as TSV: comments as `# ` lines, a header row with an empty corner cell, then
    /// one row per letter. `decimals` as in `ncbiText`.
    public func tsvText(decimals: Int? = nil) -> String {
        var out = comments.map { "# \($0)\n" }.joined()
        out += "\t" + letters.map { String($0) }.joined(separator: "\t") + "\n"
        for (i, letter) in letters.enumerated() {
            let row = scores[(i * count)..<((i + 1) * count)].map { SubstitutionMatrix.format($0, decimals: decimals) }
            out += String(letter) + "\t" + row.joined(separator: "\t") + "\n"
        }
        return out
    }

    /// The matrix as one JSON object: `fields` first (already-encoded JSON values, in order),
    /// then `letters`, `scores` (rows; NaN as `null`) and `comments`. `decimals` as in `ncbiText`.
    public func jsonText(decimals: Int? = nil, fields: [(key: String, json: String)] = []) -> String {
        var parts = fields.map { JSONText.string($0.key) + ":" + $0.json }
        parts.append("\"letters\":[" + letters.map { JSONText.string(String($0)) }.joined(separator: ",") + "]")
        var rows: [String] = []
        for i in 0..<count {
            let row = scores[(i * count)..<((i + 1) * count)].map {
                $0.isFinite ? SubstitutionMatrix.format($0, decimals: decimals) : "null"
            }
            rows.append("[" + row.joined(separator: ",") + "]")
        }
        parts.append("\"scores\":[" + rows.joined(separator: ",") + "]")
        parts.append("\"comments\":[" + comments.map(JSONText.string).joined(separator: ",") + "]")
        return "{" + parts.joined(separator: ",") + "}\n"
    }

    /// The matrix in `format` (`ncbiText`, `tsvText` or `jsonText` without extra fields).
    public func text(format: FileFormat, decimals: Int? = nil) -> String {
        switch format {
        case .ncbi: return ncbiText(decimals: decimals)
        case .tsv: return tsvText(decimals: decimals)
        case .json: return jsonText(decimals: decimals)
        }
    }

    /// A score as text: `nan`; an integer without a decimal point; with `decimals` digits after
    /// the point (no `-0`); or the shortest text that reads back exactly.
    static func format(_ x: Double, decimals: Int?) -> String {
        guard x.isFinite else { return x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf") }
        if let decimals {
            let text = String(format: "%.\(Swift.max(0, decimals))f", x)
            return text.hasPrefix("-") && text.dropFirst().allSatisfy({ $0 == "0" || $0 == "." }) ? String(text.dropFirst()) : text
        }
        if x == x.rounded() && Swift.abs(x) < 1e15 { return String(Int64(x)) }
        return "\(x)"
    }
}
