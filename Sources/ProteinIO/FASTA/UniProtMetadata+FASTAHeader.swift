extension UniProtMetadata {
    /// The header keys of UniProtKB FASTA files, in the order UniProt writes them.
    private static let headerKeys = ["OS", "OX", "GN", "PE", "SV"]

    /// Parses a UniProtKB FASTA header (without `>`):
    /// `sp|P69905|HBA_HUMAN Hemoglobin subunit alpha OS=Homo sapiens OX=9606 GN=HBA1 PE=1 SV=2`.
    ///
    /// The first word must be `sp|accession|entry` or `tr|accession|entry`; otherwise the result
    /// is nil (not a UniProtKB header). The protein name is the text before the first key; each
    /// `KEY=value` runs to the next recognised key (` OS=`, ` OX=`, ` GN=`, ` PE=`, ` SV=`), so
    /// organism names with spaces and parentheses survive; numeric values take their leading
    /// digits (so extra text a tool appended, such as MMseqs2's ` Split=0`, is ignored).
    /// - Complexity: O(header length); nothing is cached, so call it once per record if needed.
    public init?(fastaHeader header: String) {
        self.init(fastaHeader: Array(header.utf8))
    }

    /// Parses a UniProtKB FASTA header given as UTF-8 bytes (see `init?(fastaHeader:)`).
    public init?(fastaHeader bytes: [UInt8]) {
        let idEnd = bytes.firstIndex { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") } ?? bytes.count
        let idParts = bytes[0..<idEnd].split(separator: UInt8(ascii: "|"), omittingEmptySubsequences: false)
        guard idParts.count == 3, !idParts[1].isEmpty, !idParts[2].isEmpty else { return nil }
        let database = String(decoding: idParts[0], as: UTF8.self)
        guard database == "sp" || database == "tr" else { return nil }

        var restStart = idEnd
        while restStart < bytes.count && (bytes[restStart] == UInt8(ascii: " ") || bytes[restStart] == UInt8(ascii: "\t")) {
            restStart += 1
        }
        // Find each `KEY=` that starts the rest or follows a space.
        var markers: [(key: String, keyStart: Int, valueStart: Int)] = []
        var i = restStart
        while i + 3 <= bytes.count {
            if (i == restStart || bytes[i - 1] == UInt8(ascii: " ")) && bytes[i + 2] == UInt8(ascii: "=") {
                let key = String(decoding: bytes[i..<i + 2], as: UTF8.self)
                if UniProtMetadata.headerKeys.contains(key) {
                    markers.append((key, i, i + 3))
                    i += 3
                    continue
                }
            }
            i += 1
        }
        func trimmed(_ lower: Int, _ upper: Int) -> String? {
            var lo = lower, hi = upper
            while lo < hi && bytes[lo] == UInt8(ascii: " ") { lo += 1 }
            while hi > lo && bytes[hi - 1] == UInt8(ascii: " ") { hi -= 1 }
            return lo < hi ? String(decoding: bytes[lo..<hi], as: UTF8.self) : nil
        }
        var values: [String: String] = [:]
        for (index, marker) in markers.enumerated() where values[marker.key] == nil {
            let valueEnd = index + 1 < markers.count ? markers[index + 1].keyStart : bytes.count
            values[marker.key] = trimmed(marker.valueStart, valueEnd)
        }
        func leadingInt(_ text: String?) -> Int? {
            guard let text else { return nil }
            let digits = text.utf8.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            return digits.isEmpty || digits.count > 18 ? nil : Int(String(decoding: digits, as: UTF8.self))
        }
        let nameEnd = markers.first?.keyStart ?? bytes.count
        self.init(
            database: database,
            accessions: [String(decoding: idParts[1], as: UTF8.self)],
            entryName: String(decoding: idParts[2], as: UTF8.self),
            reviewed: database == "sp",
            proteinName: trimmed(restStart, nameEnd),
            organism: values["OS"],
            taxonomyID: leadingInt(values["OX"]),
            gene: values["GN"],
            proteinExistence: leadingInt(values["PE"]),
            sequenceVersion: leadingInt(values["SV"]))
    }
}
