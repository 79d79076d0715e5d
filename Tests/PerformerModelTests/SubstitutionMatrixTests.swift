import Foundation
import Testing
import ProteinIO
@testable import PerformerModel

/// Substitution-matrix I/O: the bundled BLOSUM62 read against values read by eye from the file,
/// round trips through every writer, one-line errors with line numbers, correlations and the
/// heatmap writers (SVG structure, PNG chunks and checksums).
@Suite struct SubstitutionMatrixTests {
    /// `data/BLOSUM62` of this repository (found from this file's path).
    static var blosumPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("data/BLOSUM62").path
    }

    static func blosum62() throws -> SubstitutionMatrix {
        try SubstitutionMatrix(contentsOf: blosumPath)
    }

    /// Ten entries read by eye from data/BLOSUM62 (NCBI layout, half bits), its 24 letters in
    /// file order (with B Z X *), the six comment lines, and symmetry.
    @Test func blosum62ParsesToTheKnownValues() throws {
        let b = try SubstitutionMatrixTests.blosum62()
        #expect(String(b.letters) == "ARNDCQEGHILKMFPSTWYVBZX*")
        let expected: [(Character, Character, Double)] = [
            ("A", "A", 4), ("W", "W", 11), ("D", "E", 2), ("F", "Y", 3), ("C", "C", 9),
            ("W", "P", -4), ("I", "V", 3), ("H", "Y", 2), ("N", "B", 3), ("*", "*", 1),
            ("E", "Z", 4), ("X", "A", 0), ("R", "K", 2), ("G", "I", -4),
        ]
        for (a, c, value) in expected {
            #expect(b[a, c] == value, "\(a)-\(c)")
            #expect(b[c, a] == value, "\(c)-\(a)")
        }
        #expect(b.isSymmetric)
        #expect(b.comments.count == 6)
        #expect(b.comments[2] == " BLOSUM Clustered Scoring Matrix in 1/2 Bit Units")
        #expect(SubstitutionMatrix.detectFormat(try String(contentsOfFile: SubstitutionMatrixTests.blosumPath, encoding: .utf8)) == .ncbi)
        let standard = try #require(b.restricted(to: SubstitutionMatrix.standardLetters))
        #expect(standard.count == 20)
        // Against itself: r = ρ = 1 over the 190 off-diagonal pairs.
        let self_ = try #require(standard.correlation(with: b))
        #expect(self_.pairs == 190 && abs(self_.pearson - 1) < 1e-12 && abs(self_.spearman - 1) < 1e-12)
    }

    /// Writing then parsing gives the same numbers: NCBI, TSV and JSON, exact (shortest
    /// round-trip text) on BLOSUM62 and on a matrix of arbitrary Doubles with a NaN; with a fixed
    /// number of decimals, the values rounded to them.
    @Test func writersRoundTrip() throws {
        let b = try SubstitutionMatrixTests.blosum62()
        var g = SeededGenerator(seed: 3)
        var values = (0..<400).map { _ in g.nextGaussian() * 3 }
        values[17] = .nan
        values[0] = -0.0
        values[1] = 1e-7
        let random = SubstitutionMatrix(letters: SubstitutionMatrix.standardLetters, scores: values, comments: ["made up"])
        for matrix in [b, random] {
            for format in SubstitutionMatrix.FileFormat.allCases {
                let text = matrix.text(format: format)
                let back: SubstitutionMatrix
                switch format {
                case .ncbi: back = try SubstitutionMatrix(ncbi: text)
                case .tsv: back = try SubstitutionMatrix(tsv: text)
                case .json: back = try SubstitutionMatrix(json: text)
                }
                #expect(SubstitutionMatrix.detectFormat(text) == format)
                #expect(back.letters == matrix.letters, "\(format)")
                #expect(back.comments == matrix.comments, "\(format)")
                #expect(zip(back.scores, matrix.scores).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }, "\(format)")
                let rounded = try SubstitutionMatrix(ncbi: matrix.ncbiText(decimals: 3))
                for (x, y) in zip(rounded.scores, matrix.scores) where y.isFinite {
                    #expect(abs(x - (y * 1000).rounded() / 1000) < 1e-12)
                }
            }
        }
        // The NCBI writer keeps BLOSUM62's look: integer columns of width 3.
        let text = b.ncbiText()
        #expect(text.contains("\n   A  R  N  D"))
        #expect(text.contains("\nA  4 -1 -2 -2  0"))
    }

    /// Bad files give one-line errors naming the file and line.
    @Test(arguments: [
        ("   A  R\nA  1  2\nR  3\n", "m:3: row 'R' has 1 scores, the header has 2 letters"),
        ("   A  R\nA  1  x\nR  3  4\n", "m:2: row 'A', column 'R': 'x' is not a number"),
        ("   A  R\nA  1  2\nQ  3  4\n", "m:3: row 'Q' is not one of the header letters AR"),
        ("   A  R\nA  1  2\nA  3  4\n", "m:3: second row for 'A'"),
        ("# only a comment\n   A  R\nA  1  2\n", "m:4: the file ended without rows for R"),
        ("# nothing\n\n", "m: no header row of letters (only comments or blank lines)"),
        ("  AB  R\n", "m:1: header: 'AB' is not a single letter"),
        ("   A  A\n", "m:1: header: letter 'A' appears twice"),
        ("   A  R\nAR 1  2\n", "m:2: row label 'AR' is not a single letter"),
        ("   A  R\nA  1  inf\n", "m:2: row 'A', column 'R': 'inf' is not a number"),
    ])
    func malformedNCBIIsAOneLineError(text: String, message: String) {
        do {
            _ = try SubstitutionMatrix(ncbi: text, file: "m")
            Issue.record("parsed \(text.debugDescription)")
        } catch {
            #expect(error.description == message)
            #expect(!error.description.contains("\n"))
        }
    }

    @Test func malformedTSVAndJSONAreErrors() {
        #expect(throws: SubstitutionMatrixError.self) { try SubstitutionMatrix(tsv: "\tA\tR\nA\t1\t2\n", file: "t") }
        #expect(throws: SubstitutionMatrixError.self) { try SubstitutionMatrix(json: "{\"letters\":[\"A\"]}", file: "j") }
        #expect(throws: SubstitutionMatrixError.self) { try SubstitutionMatrix(json: "[1, 2]", file: "j") }
        #expect(throws: SubstitutionMatrixError.self) { try SubstitutionMatrix(json: "{\"letters\":\"AR\",\"scores\":[[1,2],[3]]}", file: "j") }
        #expect(throws: SubstitutionMatrixError.self) { try SubstitutionMatrix(contentsOf: "/nonexistent/BLOSUM62") }
        #expect((try? SubstitutionMatrix(json: "{\"letters\":\"AR\",\"scores\":[[1,null],[3,4]]}"))?.scores[1].isNaN == true)
    }

    /// The correlation over off-diagonal pairs ignores the diagonal and needs every letter.
    @Test func correlationUsesOffDiagonalPairsOnly() throws {
        let b = try SubstitutionMatrixTests.blosum62()
        // BLOSUM62 with its diagonal replaced by junk: still r = ρ = 1.
        var junk = try #require(b.restricted(to: SubstitutionMatrix.standardLetters))
        for i in 0..<20 { junk.scores[i * 20 + i] = Double(100 - 7 * i) }
        let c = try #require(junk.correlation(with: b))
        #expect(abs(c.pearson - 1) < 1e-12 && abs(c.spearman - 1) < 1e-12 && c.pairs == 190)
        // Negated off-diagonal: −1.
        var negated = junk
        for i in negated.scores.indices where i % 21 != 0 { negated.scores[i] = -negated.scores[i] }
        #expect(abs((negated.correlation(with: b)?.pearson ?? 0) + 1) < 1e-12)
        // A matrix on other letters cannot be compared.
        let small = SubstitutionMatrix(letters: ["A", "R"], scores: [1, 0, 0, 1])
        #expect(small.correlation(with: b) == nil)
    }

    /// SVG: one rect per cell plus background and colour bar, labels, the escaped title; the
    /// diverging scale is blue below 0, near-white at 0, red above, grey for NaN.
    @Test func svgHeatmapHasEveryCell() throws {
        let b = try #require(try SubstitutionMatrixTests.blosum62().restricted(to: SubstitutionMatrix.standardLetters))
        let svg = b.heatmapSVG(title: "BLOSUM62 & <friends>", subtitle: "r = 1")
        #expect(svg.hasPrefix("<?xml"))
        #expect(svg.hasSuffix("</svg>\n"))
        #expect(svg.components(separatedBy: "<rect ").count - 1 == 400 + 2)
        #expect(svg.contains("BLOSUM62 &amp; &lt;friends&gt;"))
        #expect(svg.contains("<title>W–W: 11</title>"))
        #expect(SubstitutionMatrix.heatmapColor(0, limit: 1) == (247, 247, 247))
        #expect(SubstitutionMatrix.heatmapColor(-1, limit: 1) == (33, 102, 172))
        #expect(SubstitutionMatrix.heatmapColor(5, limit: 1) == (178, 24, 43))
        #expect(SubstitutionMatrix.heatmapColor(.nan, limit: 1) == (189, 189, 189))
        #expect(b.heatmapLimit() == 4)  // largest |off-diagonal| of BLOSUM62 (the diagonal reaches 11)
    }

    /// PNG: signature, IHDR (size, 8-bit RGB), chunk CRCs, and stored deflate blocks that decode
    /// back to the filtered scanlines with the right Adler-32. Checksums against their published
    /// check values.
    @Test func pngHeatmapIsWellFormed() throws {
        #expect(PNGEncoder.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(PNGEncoder.adler32(Array("Wikipedia".utf8)) == 0x11E6_0398)
        #expect(PNGEncoder.adler32([UInt8](repeating: 255, count: 100_000)) == SubstitutionMatrixTests.slowAdler32([UInt8](repeating: 255, count: 100_000)))
        let b = try #require(try SubstitutionMatrixTests.blosum62().restricted(to: SubstitutionMatrix.standardLetters))
        let image = b.heatmapRaster(title: "BLOSUM62", subtitle: "half bits")
        let png = PNGEncoder.encode(image)
        #expect(Array(png[0..<8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var offset = 8
        var chunks: [(String, [UInt8])] = []
        while offset < png.count {
            let length = Int(png[offset]) << 24 | Int(png[offset + 1]) << 16 | Int(png[offset + 2]) << 8 | Int(png[offset + 3])
            let type = Array(png[(offset + 4)..<(offset + 8)]), data = Array(png[(offset + 8)..<(offset + 8 + length)])
            let crc = png[(offset + 8 + length)..<(offset + 12 + length)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            #expect(crc == PNGEncoder.crc32(type + data))
            chunks.append((String(decoding: type, as: UTF8.self), data))
            offset += 12 + length
        }
        #expect(chunks.map(\.0) == ["IHDR", "IDAT", "IEND"])
        #expect(chunks[0].1 == PNGEncoder.bigEndian(UInt32(image.width)) + PNGEncoder.bigEndian(UInt32(image.height)) + [8, 2, 0, 0, 0])
        // Inflate the stored blocks by hand.
        let z = chunks[1].1
        #expect(z[0] == 0x78 && (Int(z[0]) << 8 | Int(z[1])) % 31 == 0)
        var raw: [UInt8] = [], p = 2, final = false
        while !final {
            final = z[p] & 1 == 1
            #expect(z[p] >> 1 == 0)  // stored
            let length = Int(z[p + 1]) | Int(z[p + 2]) << 8
            #expect(length == Int(~(UInt16(z[p + 3]) | UInt16(z[p + 4]) << 8)))
            raw += z[(p + 5)..<(p + 5 + length)]
            p += 5 + length
        }
        #expect(raw.count == image.height * (1 + 3 * image.width))
        #expect(Array(z[p..<(p + 4)]) == PNGEncoder.bigEndian(PNGEncoder.adler32(raw)))
        #expect(raw[0] == 0 && Array(raw[1..<(1 + 3 * image.width)]) == Array(image.pixels[0..<(3 * image.width)]))
    }

    static func slowAdler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt64 = 1, b: UInt64 = 0
        for byte in bytes { a = (a + UInt64(byte)) % 65_521; b = (b + a) % 65_521 }
        return UInt32(b << 16 | a)
    }
}
