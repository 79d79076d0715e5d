extension VariantSet {
    /// Parses a tab-separated table of variants, one variant (a set of mutations applied
    /// together) per row.
    ///
    /// - Blank lines and lines starting with `#` are skipped; a trailing CR is removed.
    /// - A header row is recognised when one of its fields is `mutations` (or `mutant`, as in
    ///   ProteinGym), any case. It names the columns: `mutations`/`mutant` (required), `id` or
    ///   `variant` (the variant's label, optional), `sequence_id` or `sequence` (the input sequence
    ///   the variant belongs to, optional); other columns are ignored.
    /// - Without a header: one column is `mutations`, two columns are `id`, `mutations`.
    /// - `mutations` is a list for `Mutation.parseList` (`A23G,K45R` or `A23G:K45R`). An empty id
    ///   means the normalised list. A variant without a sequence id applies to every sequence.
    ///
    /// - Throws: `InferenceError` `.invalidMutation` with `file:line:` in front: a malformed
    ///   mutation list, a row without the mutations column, more than two columns without a
    ///   header, or a table with no variant.
    public static func parseTable(_ text: String, file: String) throws(InferenceError) -> [VariantSet] {
        var variants: [VariantSet] = []
        var columns: (mutations: Int, id: Int?, sequence: Int?)?
        var lineNumber = 0
        func fail(_ message: String) -> InferenceError {
            InferenceError(.invalidMutation, "\(file):\(lineNumber): \(message)")
        }
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            var line = rawLine
            if line.last == "\r" { line.removeLast() }
            if line.trimmingBlanks().isEmpty || line.first == "#" { continue }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map { $0.trimmingBlanks() }
            if columns == nil {
                let names = fields.map { $0.lowercased() }
                if let m = names.firstIndex(where: { $0 == "mutations" || $0 == "mutant" }) {
                    columns = (m, names.firstIndex { $0 == "id" || $0 == "variant" },
                               names.firstIndex { $0 == "sequence_id" || $0 == "sequence" })
                    continue
                }
                switch fields.count {
                case 1: columns = (0, nil, nil)
                case 2: columns = (1, 0, nil)
                default:
                    throw fail("\(fields.count) columns without a header row; give a header naming the columns "
                        + "(mutations, and optionally id, sequence_id) or use 'mutations' or 'id<TAB>mutations'")
                }
            }
            guard let (m, idColumn, sequenceColumn) = columns else { continue }
            guard m < fields.count, !fields[m].isEmpty else { throw fail("no mutations in column \(m + 1)") }
            let id = idColumn.flatMap { $0 < fields.count && !fields[$0].isEmpty ? String(fields[$0]) : nil }
            let sequence = sequenceColumn.flatMap { $0 < fields.count && !fields[$0].isEmpty ? String(fields[$0]) : nil }
            let list = String(fields[m])
            switch Result(catching: { () throws(InferenceError) in try VariantSet(id: id, parsing: list, sequenceID: sequence) }) {
            case .success(let variant): variants.append(variant)
            case .failure(let error): throw fail(error.message)
            }
        }
        guard !variants.isEmpty else {
            throw InferenceError(.invalidMutation, "\(file): no variants (expected rows of 'mutations' or 'id<TAB>mutations')")
        }
        return variants
    }
}
