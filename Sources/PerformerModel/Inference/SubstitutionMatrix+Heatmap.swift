import Foundation

/// Heatmaps of a substitution matrix: an SVG document (`heatmapSVG`) and the same picture as an
/// RGB raster (`heatmapRaster`, written as PNG by `PNGEncoder`).
///
/// Layout (pixels): one square cell per pair, row letters on the left, column letters on top, a
/// title and an optional subtitle above, a vertical colour bar on the right. Colours: a diverging
/// scale centred at 0 (ColorBrewer RdBu: blue for negative, near-white for 0, red for positive),
/// linear in the value up to ±limit and clamped beyond; NaN cells are grey. The default limit is
/// the largest |value| off the diagonal, so a large diagonal (self-similarity) does not wash out
/// the off-diagonal pairs the correlation is computed on; diagonal cells beyond it are clamped.
extension SubstitutionMatrix {
    /// Geometry shared by the SVG and raster renderers.
    struct HeatmapLayout {
        let cell = 28, left = 36, top = 74, barGap = 20, barWidth = 16, right = 64, bottom = 20
        let n: Int
        var grid: Int { n * cell }
        var width: Int { left + grid + barGap + barWidth + right }
        var height: Int { top + grid + bottom }
        var barX: Int { left + grid + barGap }
    }

    /// The colour-scale limit: `limit` when given and positive, else the largest finite |value|
    /// off the diagonal (or on it, for a 1×1 or all-NaN off-diagonal matrix), 1 when there is none.
    public func heatmapLimit(_ limit: Double? = nil) -> Double {
        if let limit, limit > 0, limit.isFinite { return limit }
        var top = 0.0
        for i in 0..<count { for j in 0..<count where i != j && scores[i * count + j].isFinite {
            top = Swift.max(top, Swift.abs(scores[i * count + j]))
        } }
        if top == 0 { top = scores.filter(\.isFinite).map(Swift.abs).max() ?? 0 }
        return top > 0 ? top : 1
    }

    /// RGB of `value` on the diverging scale with the given limit (grey for NaN).
    static func heatmapColor(_ value: Double, limit: Double) -> (UInt8, UInt8, UInt8) {
        guard value.isFinite else { return (189, 189, 189) }
        let anchors: [(Double, Double, Double)] = [
            (33, 102, 172), (103, 169, 207), (247, 247, 247), (239, 138, 98), (178, 24, 43),
        ]
        let t = Swift.max(-1, Swift.min(1, value / limit))  // −1 … 1
        let position = (t + 1) * 2  // 0 … 4
        let index = Swift.min(3, Int(position))
        let f = position - Double(index)
        let a = anchors[index], b = anchors[index + 1]
        func mix(_ x: Double, _ y: Double) -> UInt8 { UInt8((x + (y - x) * f).rounded()) }
        return (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }

    /// The heatmap as a standalone SVG 1.1 document: cells with a tooltip (`<title>`) giving the
    /// pair and its value, the value printed in each cell (`decimals` digits, none when every
    /// value is an integer), letter labels, the title and subtitle, and a colour bar marked −limit, 0, +limit.
    public func heatmapSVG(title: String, subtitle: String? = nil, limit: Double? = nil, decimals: Int = 1) -> String {
        let layout = HeatmapLayout(n: count)
        let limit = heatmapLimit(limit)
        let cell = layout.cell
        // Integer matrices (BLOSUM) print as integers.
        let digits = scores.allSatisfy { !$0.isFinite || $0 == $0.rounded() } ? 0 : decimals
        func hex(_ c: (UInt8, UInt8, UInt8)) -> String {
            "#" + [c.0, c.1, c.2].map { String(format: "%02x", $0) }.joined()
        }
        var svg = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(layout.width)" height="\(layout.height)" \
            viewBox="0 0 \(layout.width) \(layout.height)" font-family="Helvetica, Arial, sans-serif">
            <rect width="\(layout.width)" height="\(layout.height)" fill="#ffffff"/>
            <text x="\(layout.left)" y="22" font-size="14" font-weight="bold">\(SubstitutionMatrix.xml(title))</text>

            """
        if let subtitle {
            svg += "<text x=\"\(layout.left)\" y=\"40\" font-size=\"11\" fill=\"#444444\">\(SubstitutionMatrix.xml(subtitle))</text>\n"
        }
        svg += "<g font-size=\"12\" font-weight=\"bold\">\n"
        for (i, letter) in letters.enumerated() {
            let label = SubstitutionMatrix.xml(String(letter))
            svg += "<text x=\"\(layout.left + i * cell + cell / 2)\" y=\"\(layout.top - 8)\" text-anchor=\"middle\">\(label)</text>\n"
            svg += "<text x=\"\(layout.left - 8)\" y=\"\(layout.top + i * cell + cell / 2 + 4)\" text-anchor=\"end\">\(label)</text>\n"
        }
        svg += "</g>\n<g font-size=\"9\" text-anchor=\"middle\">\n"
        for i in 0..<count {
            for j in 0..<count {
                let value = scores[i * count + j]
                let x = layout.left + j * cell, y = layout.top + i * cell
                let text = value.isFinite ? SubstitutionMatrix.format(value, decimals: digits) : "nan"
                let pair = SubstitutionMatrix.xml("\(letters[i])–\(letters[j])")
                svg += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(cell)\" height=\"\(cell)\" fill=\"\(hex(SubstitutionMatrix.heatmapColor(value, limit: limit)))\">"
                svg += "<title>\(pair): \(text)</title></rect>\n"
                let dark = value.isFinite && Swift.abs(value) > 0.6 * limit
                svg += "<text x=\"\(x + cell / 2)\" y=\"\(y + cell / 2 + 3)\" fill=\"\(dark ? "#ffffff" : "#222222")\">\(text)</text>\n"
            }
        }
        svg += "</g>\n"
        // Colour bar: +limit at the top, −limit at the bottom.
        svg += "<defs><linearGradient id=\"scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">\n"
        for k in 0...8 {
            let t = Double(k) / 8
            svg += "<stop offset=\"\(SubstitutionMatrix.format(t, decimals: 3))\" stop-color=\"\(hex(SubstitutionMatrix.heatmapColor((2 * t - 1) * limit, limit: limit)))\"/>\n"
        }
        svg += "</linearGradient></defs>\n"
        svg += "<rect x=\"\(layout.barX)\" y=\"\(layout.top)\" width=\"\(layout.barWidth)\" height=\"\(layout.grid)\" fill=\"url(#scale)\" stroke=\"#888888\"/>\n"
        svg += "<g font-size=\"10\">\n"
        for (fraction, value) in [(0.0, limit), (0.5, 0.0), (1.0, -limit)] {
            let y = layout.top + Int((fraction * Double(layout.grid)).rounded())
            svg += "<text x=\"\(layout.barX + layout.barWidth + 4)\" y=\"\(y + 4)\">\(SubstitutionMatrix.format(value, decimals: 2))</text>\n"
        }
        svg += "</g>\n</svg>\n"
        return svg
    }

    /// The heatmap as an RGB raster (no per-cell numbers; titles in a built-in 5×7 uppercase
    /// font): the picture `heatmapSVG` draws, for `PNGEncoder`.
    public func heatmapRaster(title: String, subtitle: String? = nil, limit: Double? = nil) -> RGBImage {
        let layout = HeatmapLayout(n: count)
        let limit = heatmapLimit(limit)
        var image = RGBImage(width: layout.width, height: layout.height)
        image.drawText(title, x: layout.left, y: 10, scale: 2)
        if let subtitle { image.drawText(subtitle, x: layout.left, y: 34, scale: 1, color: (68, 68, 68)) }
        let cell = layout.cell
        for (i, letter) in letters.enumerated() {
            image.drawText(String(letter), x: layout.left + i * cell + cell / 2 - 5, y: layout.top - 20, scale: 2)
            image.drawText(String(letter), x: layout.left - 18, y: layout.top + i * cell + cell / 2 - 7, scale: 2)
            for j in 0..<count {
                image.fill(x: layout.left + j * cell, y: layout.top + i * cell, width: cell, height: cell,
                           color: SubstitutionMatrix.heatmapColor(scores[i * count + j], limit: limit))
            }
        }
        for row in 0..<layout.grid {
            let value = (1 - 2 * (Double(row) + 0.5) / Double(layout.grid)) * limit
            image.fill(x: layout.barX, y: layout.top + row, width: layout.barWidth, height: 1,
                       color: SubstitutionMatrix.heatmapColor(value, limit: limit))
        }
        for (fraction, value) in [(0.0, limit), (0.5, 0.0), (1.0, -limit)] {
            let y = layout.top + Int((fraction * Double(layout.grid)).rounded())
            image.drawText(SubstitutionMatrix.format(value, decimals: 2), x: layout.barX + layout.barWidth + 4, y: y - 3, scale: 1)
        }
        return image
    }

    /// `text` with the five XML special characters escaped.
    static func xml(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }
}
