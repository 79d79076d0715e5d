/// A small, strict JSON (RFC 8259) parser and string writer for the files this module reads back:
/// the safetensors header and metrics.jsonl lines.
///
/// Why not Foundation's `JSONSerialization`: a safetensors header must reject duplicate names,
/// which a dictionary-producing parser silently merges, and its integers must be read exactly
/// (no detour through `Double`). Objects therefore keep their members in file order as
/// (key, value) pairs, and numbers keep their text. Nesting is limited to `maximumDepth`, so a
/// header of a million `[` cannot exhaust the stack; every malformed input is a thrown
/// `StrictJSON.ParseError`, never a crash.
indirect enum StrictJSON: Equatable, Sendable {
    case object([(key: String, value: StrictJSON)])
    case array([StrictJSON])
    case string(String)
    /// The number's text exactly as written (valid JSON number grammar).
    case number(String)
    case bool(Bool)
    case null

    static let maximumDepth = 64

    struct ParseError: Error, Equatable {
        /// Offset of the offending byte in the parsed buffer.
        var offset: Int
        var message: String
    }

    static func == (lhs: StrictJSON, rhs: StrictJSON) -> Bool {
        switch (lhs, rhs) {
        case let (.object(a), .object(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case let (.array(a), .array(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.number(a), .number(b)): return a == b
        case let (.bool(a), .bool(b)): return a == b
        case (.null, .null): return true
        default: return false
        }
    }

    /// Parses one JSON value that fills `bytes` (surrounding whitespace allowed).
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(ParseError) -> StrictJSON {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        if parser.index < bytes.count {
            throw ParseError(offset: parser.index, message: "unexpected \(Parser.describe(bytes[parser.index])) after the JSON value")
        }
        return value
    }

    static func parse(_ bytes: [UInt8]) throws(ParseError) -> StrictJSON {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(ParseError) -> StrictJSON in try parse(raw) } }
        return try result.get()
    }

    /// A non-negative integer written without fraction or exponent, if it fits in `Int`.
    var nonNegativeInt: Int? {
        guard case .number(let text) = self, !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            return nil
        }
        return Int(text)
    }

    /// The value as a `Double` (numbers only).
    var double: Double? {
        guard case .number(let text) = self else { return nil }
        return Double(text)
    }

    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        var index = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        static func describe(_ byte: UInt8) -> String {
            if byte >= 0x20 && byte < 0x7F { return "'\(Character(UnicodeScalar(byte)))'" }
            let hex = String(byte, radix: 16, uppercase: true)
            return "byte 0x" + (hex.count == 1 ? "0" : "") + hex
        }

        func fail(_ message: String) -> ParseError { ParseError(offset: index, message: message) }

        func found() -> String { index < bytes.count ? Parser.describe(bytes[index]) : "the end" }

        mutating func skipWhitespace() {
            while index < bytes.count {
                let b = bytes[index]
                guard b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 else { return }
                index += 1
            }
        }

        mutating func expect(_ byte: UInt8, _ what: String) throws(ParseError) {
            guard index < bytes.count, bytes[index] == byte else { throw fail("expected \(what) but found \(found())") }
            index += 1
        }

        mutating func value(depth: Int) throws(ParseError) -> StrictJSON {
            guard index < bytes.count else { throw fail("expected a value but found the end") }
            switch bytes[index] {
            case UInt8(ascii: "{"): return try object(depth: depth + 1)
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            default: throw fail("expected a value but found \(found())")
            }
        }

        mutating func literal(_ word: StaticString) throws(ParseError) {
            let start = index
            for i in 0..<word.utf8CodeUnitCount {
                guard index < bytes.count, bytes[index] == word.utf8Start[i] else {
                    index = start
                    throw fail("expected '\(word)' but found \(found())")
                }
                index += 1
            }
        }

        mutating func object(depth: Int) throws(ParseError) -> StrictJSON {
            guard depth <= StrictJSON.maximumDepth else { throw fail("nesting deeper than \(StrictJSON.maximumDepth) levels") }
            index += 1  // '{'
            var members: [(key: String, value: StrictJSON)] = []
            skipWhitespace()
            if index < bytes.count && bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                    throw fail("expected a quoted key but found \(found())")
                }
                let key = try string()
                skipWhitespace()
                try expect(UInt8(ascii: ":"), "':'")
                skipWhitespace()
                members.append((key, try value(depth: depth)))
                skipWhitespace()
                guard index < bytes.count else { throw fail("expected ',' or '}' but found the end") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
                throw fail("expected ',' or '}' but found \(found())")
            }
        }

        mutating func array(depth: Int) throws(ParseError) -> StrictJSON {
            guard depth <= StrictJSON.maximumDepth else { throw fail("nesting deeper than \(StrictJSON.maximumDepth) levels") }
            index += 1  // '['
            var elements: [StrictJSON] = []
            skipWhitespace()
            if index < bytes.count && bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            while true {
                skipWhitespace()
                elements.append(try value(depth: depth))
                skipWhitespace()
                guard index < bytes.count else { throw fail("expected ',' or ']' but found the end") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
                throw fail("expected ',' or ']' but found \(found())")
            }
        }

        mutating func digits() -> Int {
            let start = index
            while index < bytes.count && bytes[index] >= UInt8(ascii: "0") && bytes[index] <= UInt8(ascii: "9") { index += 1 }
            return index - start
        }

        /// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
        mutating func number() throws(ParseError) -> String {
            let start = index
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") else {
                throw fail("expected a digit but found \(found())")
            }
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
                if index < bytes.count && bytes[index] >= UInt8(ascii: "0") && bytes[index] <= UInt8(ascii: "9") {
                    throw fail("a number must not have a leading zero")
                }
            } else {
                _ = digits()
            }
            if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
                index += 1
                guard digits() > 0 else { throw fail("expected a digit after '.' but found \(found())") }
            }
            if index < bytes.count && (bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")) {
                index += 1
                if index < bytes.count && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) { index += 1 }
                guard digits() > 0 else { throw fail("expected a digit in the exponent but found \(found())") }
            }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        }

        mutating func hex4() throws(ParseError) -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard index < bytes.count else { throw fail("expected 4 hex digits after \\u but found the end") }
                let b = bytes[index]
                let digit: UInt32
                switch b {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(b - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(b - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(b - UInt8(ascii: "A") + 10)
                default: throw fail("expected a hex digit after \\u but found \(found())")
                }
                value = value << 4 | digit
                index += 1
            }
            return value
        }

        /// A string starting at the opening quote; its bytes must be valid UTF-8.
        mutating func string() throws(ParseError) -> String {
            let open = index
            index += 1  // '"'
            var out: [UInt8] = []
            while true {
                guard index < bytes.count else {
                    index = open
                    throw fail("string starting here is not closed")
                }
                let b = bytes[index]
                if b == UInt8(ascii: "\"") {
                    index += 1
                    break
                }
                if b < 0x20 { throw fail("control character \(Parser.describe(b)) inside a string") }
                if b != UInt8(ascii: "\\") {
                    out.append(b)
                    index += 1
                    continue
                }
                index += 1
                guard index < bytes.count else { throw fail("expected an escape after '\\' but found the end") }
                let e = bytes[index]
                index += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code) {
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired UTF-16 surrogate in \\u escape")
                        }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired UTF-16 surrogate in \\u escape") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(code) {
                        throw fail("unpaired UTF-16 surrogate in \\u escape")
                    }
                    guard let scalar = UnicodeScalar(code) else { throw fail("invalid \\u escape") }
                    out.append(contentsOf: Array(String(Character(scalar)).utf8))
                default:
                    index -= 1
                    throw fail("invalid escape: '\\' followed by \(Parser.describe(e))")
                }
            }
            guard let text = String(validating: out, as: UTF8.self) else {
                index = open
                throw fail("string starting here is not valid UTF-8")
            }
            return text
        }
    }
}
