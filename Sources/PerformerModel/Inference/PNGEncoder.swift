/// An 8-bit RGB raster, row-major from the top-left, white when made.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// [height, width, 3] bytes.
    public var pixels: [UInt8]

    public init(width: Int, height: Int) {
        precondition(width >= 1 && height >= 1, "an image needs at least one pixel")
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 255, count: width * height * 3)
    }

    /// Fills a rectangle, clipped to the image.
    public mutating func fill(x: Int, y: Int, width w: Int, height h: Int, color: (UInt8, UInt8, UInt8)) {
        for row in Swift.max(0, y)..<Swift.min(height, y + h) {
            for column in Swift.max(0, x)..<Swift.min(width, x + w) {
                let p = (row * width + column) * 3
                pixels[p] = color.0
                pixels[p + 1] = color.1
                pixels[p + 2] = color.2
            }
        }
    }

    /// Draws `text` in the built-in 5×7 font (`BitmapFont`; lowercase drawn as uppercase), each
    /// font pixel a `scale`×`scale` square, the top-left of the first glyph at (x, y); glyphs
    /// advance 6·scale pixels.
    public mutating func drawText(_ text: String, x: Int, y: Int, scale: Int, color: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
        var cursor = x
        for character in text.uppercased() {
            let rows = BitmapFont.glyph(character)
            for (r, bits) in rows.enumerated() {
                for c in 0..<5 where bits & (0x10 >> UInt8(c)) != 0 {
                    fill(x: cursor + c * scale, y: y + r * scale, width: scale, height: scale, color: color)
                }
            }
            cursor += 6 * scale
        }
    }
}

/// A 5×7 pixel font for the characters the heatmap writes: A–Z, 0–9 and ` . , - + = : ; _ ( ) / * ?`
/// (anything else is drawn as `?`). Each glyph is seven rows, five bits each, most significant bit
/// on the left — the classic HD44780 LCD character shapes.
enum BitmapFont {
    static func glyph(_ c: Character) -> [UInt8] {
        glyphs[c] ?? glyphs["?"] ?? []
    }

    static let glyphs: [Character: [UInt8]] = [
        "A": [0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11], "B": [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        "C": [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E], "D": [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        "E": [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F], "F": [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        "G": [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F], "H": [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        "I": [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E], "J": [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        "K": [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11], "L": [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        "M": [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11], "N": [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        "O": [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], "P": [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        "Q": [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D], "R": [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        "S": [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E], "T": [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        "U": [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], "V": [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        "W": [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A], "X": [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        "Y": [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04], "Z": [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        "0": [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E], "1": [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        "2": [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F], "3": [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        "4": [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02], "5": [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        "6": [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E], "7": [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        "8": [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E], "9": [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        " ": [0, 0, 0, 0, 0, 0, 0], ".": [0, 0, 0, 0, 0, 0x0C, 0x0C], ",": [0, 0, 0, 0, 0x0C, 0x04, 0x08],
        "-": [0, 0, 0, 0x1F, 0, 0, 0], "+": [0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0],
        "=": [0, 0, 0x1F, 0, 0x1F, 0, 0], ":": [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0],
        ";": [0, 0x0C, 0x0C, 0, 0x0C, 0x04, 0x08], "_": [0, 0, 0, 0, 0, 0, 0x1F],
        "(": [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02], ")": [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        "/": [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0], "*": [0, 0x04, 0x15, 0x0E, 0x15, 0x04, 0],
        "?": [0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04],
    ]
}

/// PNG writer (ISO/IEC 15948): 8-bit truecolour (colour type 2), no interlace, filter type 0 on
/// every scanline. The zlib stream in IDAT comes from `compress` when given (e.g. zlib's
/// `compress2`, which the command-line tool passes), else from `storedZlib`: stored (uncompressed)
/// deflate blocks with the Adler-32 trailer, valid for every PNG decoder, only larger.
public enum PNGEncoder {
    public static func encode(_ image: RGBImage, compress: (([UInt8]) -> [UInt8]?)? = nil) -> [UInt8] {
        var raw: [UInt8] = []
        raw.reserveCapacity(image.height * (1 + 3 * image.width))
        for row in 0..<image.height {
            raw.append(0)  // filter: none
            raw.append(contentsOf: image.pixels[(row * image.width * 3)..<((row + 1) * image.width * 3)])
        }
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var header: [UInt8] = []
        header += bigEndian(UInt32(image.width))
        header += bigEndian(UInt32(image.height))
        header += [8, 2, 0, 0, 0]  // bit depth, colour type RGB, deflate, filter method 0, no interlace
        appendChunk("IHDR", header, to: &png)
        appendChunk("IDAT", compress?(raw) ?? storedZlib(raw), to: &png)
        appendChunk("IEND", [], to: &png)
        return png
    }

    /// A zlib stream (RFC 1950) of stored deflate blocks (RFC 1951 §3.2.4, ≤ 65 535 bytes each).
    public static func storedZlib(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]  // CM 8, CINFO 7, no dictionary, FCHECK so that 0x7801 % 31 == 0
        var start = 0
        repeat {
            let end = Swift.min(start + 65_535, data.count)
            let length = UInt16(end - start)
            out.append(end == data.count ? 1 : 0)  // BFINAL, BTYPE 00
            out += [UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8(~length >> 8)]
            out += data[start..<end]
            start = end
        } while start < data.count
        out += bigEndian(adler32(data))
        return out
    }

    /// CRC-32 (ISO 3309 / ITU-T V.42, the one of PNG, gzip and zip): reflected polynomial
    /// 0xEDB88320, initial value and final XOR 0xFFFFFFFF. CRC-32("123456789") = 0xCBF43926.
    public static func crc32<C: Collection>(_ bytes: C, initial: UInt32 = 0) -> UInt32 where C.Element == UInt8 {
        var crc = ~initial
        for byte in bytes {
            crc = crcTable[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
        }
        return ~crc
    }

    /// Adler-32 (RFC 1950 §8.2): Adler-32("Wikipedia") = 0x11E60398.
    public static func adler32<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var a: UInt32 = 1, b: UInt32 = 0
        var pending = 0
        for byte in bytes {
            a += UInt32(byte)
            b += a
            pending += 1
            if pending == 5552 {  // the largest run for which b cannot overflow 32 bits
                a %= 65_521
                b %= 65_521
                pending = 0
            }
        }
        return ((b % 65_521) << 16) | (a % 65_521)
    }

    static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func bigEndian(_ x: UInt32) -> [UInt8] {
        [UInt8(x >> 24), UInt8((x >> 16) & 0xFF), UInt8((x >> 8) & 0xFF), UInt8(x & 0xFF)]
    }

    static func appendChunk(_ type: String, _ data: [UInt8], to png: inout [UInt8]) {
        let typeBytes = Array(type.utf8)
        png += bigEndian(UInt32(data.count))
        png += typeBytes
        png += data
        png += bigEndian(crc32(typeBytes + data))
    }
}
