/// Renders raw input bytes for error messages, so a message never contains control bytes or
/// invalid UTF-8: `expected '>' but found '\x1f\x8b'`.
///
/// Printable ASCII (0x20–0x7E, except `'` and `\`) is kept; `\n`, `\r`, `\t`, `\'` and `\\` are
/// written as escapes; every other byte as `\xHH`. At most `limit` bytes are shown, then `…`.
enum ByteEscaping {
    /// The bytes between single quotes, escaped; `end of input` when there are none.
    static func quoted<C: Collection>(_ bytes: C, limit: Int = 24) -> String where C.Element == UInt8 {
        if bytes.isEmpty { return "end of input" }
        return "'" + escaped(bytes, limit: limit) + "'"
    }

    /// The bytes escaped, without quotes.
    static func escaped<C: Collection>(_ bytes: C, limit: Int = 24) -> String where C.Element == UInt8 {
        var out = ""
        var shown = 0
        for byte in bytes {
            if shown == limit {
                out += "…"
                break
            }
            shown += 1
            switch byte {
            case UInt8(ascii: "\n"): out += "\\n"
            case UInt8(ascii: "\r"): out += "\\r"
            case UInt8(ascii: "\t"): out += "\\t"
            case UInt8(ascii: "'"): out += "\\'"
            case UInt8(ascii: "\\"): out += "\\\\"
            case 0x20...0x7E: out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16)
                out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }

    /// Quoted bytes starting at `pointer` (at most `limit + 1` are read, so `…` can be shown).
    static func quoted(_ pointer: UnsafePointer<UInt8>, count: Int, limit: Int = 24) -> String {
        quoted(UnsafeBufferPointer(start: pointer, count: min(count, limit + 1)), limit: limit)
    }
}
