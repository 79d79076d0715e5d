import ArgumentParser
import Foundation
import PerformerModel
import ProteinIO

/// `protein-tool score [--model M] FILE|- [--method pll|wt-marginal] [--per-residue]
/// [--mutations LIST | --variants FILE.tsv] [--format tsv|json] [--batch N] [--max-length N]`:
/// sequence log-likelihoods and variant effects (docs/inference.md).
struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score proteins (log-likelihood, perplexity) or variants (mutation effects) with a model.",
        discussion: """
            Each protein r1..rn is read as the tokens <cls> r1..rn <sep>, the unit the
            model was trained on. Residues are the 20 standard amino acids and B Z X U O
            (either case; a trailing '*' is dropped). Any other character (J, gaps,
            digits) becomes <unk>: read as context, not scored; 'scored' counts the
            residues that were. Log-probabilities are natural logs (nats), softmax over
            the model's whole vocabulary.

            Sequence scores:
              causal LM (chosen by the model; giving --method is an error):
                log_likelihood = sum_i log p(r_i | <cls> r_1..r_i-1), one pass, residues
                only; end_log_prob = log p(<sep> | <cls> r_1..r_n), the probability that
                the protein ends there (add it for the whole token sequence).
              masked LM, --method pll (default): pseudo-log-likelihood,
                sum_i log p(r_i | sequence with position i masked); one masked copy
                per residue, --batch copies per forward pass (cost ~ n passes of n
                tokens: quadratic in length).
              masked LM, --method wt-marginal: sum_i log p(r_i | unmasked sequence),
                one pass; fast, and higher than pll (the model sees the residue).
              perplexity = exp(-log_likelihood / scored).

            Variants (--mutations A23G,K45R or --variants FILE.tsv): wild-type residue,
            1-based position, mutant residue; ',' or ':' join mutations applied
            together. The wild type must match the sequence (else an error naming the
            variant and the residue found). score, in nats (> 0 favours the mutant):
              masked LM, masked-marginal (Meier et al. 2021): all mutated positions M
                masked in one pass; sum_{i in M} [log p(mut_i | x_-M) - log p(wt_i | x_-M)]
              causal LM, log-likelihood-ratio: log p(mutant) - log p(wild type), whole
                sequences including the end token.
            --mutations applies to every input sequence. --variants: tab-separated,
            '#' comments and blank lines skipped; rows are 'mutations' or
            'id<TAB>mutations', or a header row names the columns: mutations (or
            mutant), id (or variant), sequence_id (or sequence); other columns are
            ignored. A row with a sequence_id applies to that sequence only.

            Output, --format tsv: a header row, then one row per sequence:
              id length scored log_likelihood perplexity method end_log_prob
            --per-residue: long format, one row per residue, those columns then
              position residue log_prob
            variants: id variant mutations score method
              (id = sequence id, variant = the variant's label or its mutations,
              mutations = the normalised list)
            'NA' marks a missing value (end_log_prob of a masked LM, <unk> residues).
            --format json: an array of objects with the same keys (null for missing
            values) plus exceeds_window (bool); --per-residue adds per_residue, an
            array of log_prob per residue (index i = position i+1).

            Proteins longer than the training window (--max-length, else the training
            length recorded in the model, else 1024; in tokens, <cls> and <sep>
            included) are still scored whole and counted in a warning on standard
            error: the model never trained on those positions. FAVOR attention costs
            linear time in length; exact attention quadratic (slow, but it works).
            """
    )

    enum Method: String, ExpressibleByArgument, CaseIterable {
        case pll
        case wtMarginal = "wt-marginal"

        var scoring: ScoringMethod { self == .pll ? .pll : .wtMarginal }
    }

    enum Format: String, ExpressibleByArgument, CaseIterable { case tsv, json }

    @OptionGroup var modelOptions: InferenceModelOptions

    @Argument(help: "FASTA or UniProtKB .dat file, plain or gzipped; '-' for standard input.")
    var input: String

    @Option(name: .long, help: "Masked-LM scoring method: pll (default) or wt-marginal. Not for causal models.")
    var method: Method?

    @Flag(name: .long, help: "Add the log-probability of every residue.")
    var perResidue = false

    @Option(name: .long, help: ArgumentHelp("Score these mutations (e.g. A23G,K45R) in every sequence.", valueName: "list"))
    var mutations: String?

    @Option(name: .long, help: ArgumentHelp("Score the variants listed in this TSV file.", valueName: "file"))
    var variants: String?

    @Option(name: .long, help: "Output format: tsv or json.")
    var format: Format = .tsv

    @Option(name: .long, help: ArgumentHelp(
        "Rows per forward pass (pll masked copies, variant rows, or proteins); default: for pll and variants as many as fit a 256 MiB workspace, at most 64; for one-pass scoring about 1024 tokens per pass.",
        valueName: "rows"))
    var batch: Int?

    @Option(name: .long, help: ArgumentHelp(
        "Training window in tokens; longer proteins are scored whole and reported.", valueName: "tokens"))
    var maxLength: Int?

    @Option(help: ArgumentHelp(
        "Workers for one-pass scoring (causal, wt-marginal): passes spread over n workers, one per core, each with single-threaded OpenBLAS. Default: one per OpenBLAS thread (OPENBLAS_NUM_THREADS=1 means 1).",
        valueName: "n"))
    var workers: Int?

    func validate() throws {
        if mutations != nil && variants != nil { throw ValidationError("give --mutations or --variants, not both") }
        let variantMode = mutations != nil || variants != nil
        if variantMode && perResidue {
            throw ValidationError("--per-residue applies to sequence scores, not to --mutations/--variants")
        }
        if variantMode && method != nil {
            throw ValidationError("--method applies to sequence scores; variants are scored by masked marginal "
                + "(masked LM) or log-likelihood ratio (causal LM)")
        }
        if let batch, batch < 1 { throw ValidationError("--batch must be ≥ 1") }
        if let maxLength, maxLength < 1 { throw ValidationError("--max-length must be ≥ 1") }
        if let workers, workers < 1 { throw ValidationError("--workers must be ≥ 1") }
        if let mutations {
            do { _ = try Mutation.parseList(mutations) } catch { throw ValidationError("\(error)") }
        }
        if variants == "-" && input == "-" { throw ValidationError("standard input can feed the sequences or --variants, not both") }
    }

    func run() throws {
        // Parse the variants first: a bad table fails before the model loads.
        var variantSets: [VariantSet]?
        if let mutations {
            variantSets = [try VariantSet(parsing: mutations)]
        } else if let variants {
            variantSets = try VariantSet.parseTable(try Self.readText(variants), file: variants)
        }
        let loaded = try modelOptions.load()
        let windowLimit = maxLength ?? loaded.trainingLength ?? SequenceScorer.defaultWindowLimit
        let scorer = SequenceScorer(model: loaded.model, rowsPerPass: batch, windowLimit: windowLimit, workers: workers)
        if let method { try scorer.check(method.scoring) }
        let reader = try SequenceReader(path: input)
        let sink = try OutputSink(path: nil)
        if let variantSets {
            try scoreVariants(variantSets, scorer: scorer, reader: reader, sink: sink)
        } else {
            try scoreSequences(scorer: scorer, method: method?.scoring ?? scorer.defaultMethod, reader: reader, sink: sink)
        }
        try sink.finish()
    }

    // MARK: Sequences

    /// Proteins are scored in chunks (so equal lengths can share a pass) and written in input order.
    private func scoreSequences(scorer: SequenceScorer, method: ScoringMethod, reader: SequenceReader, sink: OutputSink) throws {
        let tokenizer = Tokenizer()
        var first = true
        var long = 0
        if format == .tsv {
            var header = ["id", "length", "scored", "log_likelihood", "perplexity", "method", "end_log_prob"]
            if perResidue { header += ["position", "residue", "log_prob"] }
            try sink.write(header.joined(separator: "\t") + "\n")
        } else {
            try sink.write("[")
        }
        var ids: [String] = []
        var proteins: [[TokenID]] = []
        var pending = 0
        func flush() throws {
            guard !proteins.isEmpty else { return }
            let scores = try scorer.score(proteins: proteins, method: method)
            for (id, (protein, score)) in zip(ids, zip(proteins, scores)) {
                if score.exceedsWindow { long += 1 }
                switch format {
                case .tsv: try writeTSV(id: id, protein: protein, score: score, to: sink)
                case .json:
                    try sink.write((first ? "\n" : ",\n") + jsonObject(id: id, score: score))
                    first = false
                }
            }
            ids.removeAll(keepingCapacity: true)
            proteins.removeAll(keepingCapacity: true)
            pending = 0
            try sink.flush()  // results appear as each chunk (each protein for pll) is done
        }
        while let record = try reader.next() {
            let protein = try tokenizer.tokenize(record.residues, id: record.id, file: reader.name)
            ids.append(record.id)
            proteins.append(protein)
            pending += protein.count
            // pll works protein by protein; one-pass methods batch a chunk (large, so that many
            // proteins of one length bucket share passes).
            if method == .pll || proteins.count >= 8192 || pending >= 1 << 22 { try flush() }
        }
        try flush()
        if format == .json { try sink.write(first ? "]\n" : "\n]\n") }
        if long > 0 {
            try sink.flush()
            printToStandardError("warning: \(long) sequence\(long == 1 ? "" : "s") longer than the training window "
                + "(\(scorer.windowLimit) tokens including <cls> and <sep>) scored whole")
        }
    }

    private func writeTSV(id: String, protein: [TokenID], score: SequenceScore, to sink: OutputSink) throws {
        let columns = [Self.field(id), "\(score.length)", "\(score.scored)", Self.decimal(score.logLikelihood),
                       Self.decimal(score.perplexity), score.method.rawValue, Self.decimal(score.endLogProbability)]
            .joined(separator: "\t")
        guard perResidue else {
            try sink.write(columns + "\n")
            return
        }
        for (p, value) in score.residueLogProbabilities.enumerated() {
            try sink.write(columns + "\t\(p + 1)\t\(Alphabet.token(for: protein[p]))\t\(Self.decimal(value))\n")
        }
    }

    private func jsonObject(id: String, score: SequenceScore) -> String {
        var fields = [
            ("id", JSONText.string(id)),
            ("length", JSONText.number(score.length)),
            ("scored", JSONText.number(score.scored)),
            ("log_likelihood", JSONText.number(score.logLikelihood)),
            ("perplexity", JSONText.number(score.perplexity)),
            ("method", JSONText.string(score.method.rawValue)),
            ("end_log_prob", score.endLogProbability.map(JSONText.number) ?? "null"),
            ("exceeds_window", score.exceedsWindow ? "true" : "false"),
        ]
        if perResidue {
            fields.append(("per_residue", JSONText.array(score.residueLogProbabilities.map { $0.map(JSONText.number) ?? "null" })))
        }
        return JSONText.object(fields)
    }

    // MARK: Variants

    private func scoreVariants(_ variants: [VariantSet], scorer: SequenceScorer, reader: SequenceReader, sink: OutputSink) throws {
        let tokenizer = Tokenizer()
        var first = true
        var seen = Set<String>()
        if format == .tsv {
            try sink.write("id\tvariant\tmutations\tscore\tmethod\n")
        } else {
            try sink.write("[")
        }
        while let record = try reader.next() {
            let id = record.id
            seen.insert(id)
            let applicable = variants.filter { $0.sequenceID == nil || $0.sequenceID == id }
            guard !applicable.isEmpty else { continue }
            let protein = try tokenizer.tokenize(record.residues, id: id, file: reader.name)
            for score in try scorer.scoreVariants(applicable, residues: protein, sequenceID: id) {
                let v = score.variant
                switch format {
                case .tsv:
                    try sink.write([Self.field(id), Self.field(v.id), v.mutationsText, Self.decimal(score.score),
                                    score.method.rawValue].joined(separator: "\t") + "\n")
                case .json:
                    try sink.write((first ? "\n" : ",\n") + JSONText.object([
                        ("id", JSONText.string(id)),
                        ("variant", JSONText.string(v.id)),
                        ("mutations", JSONText.string(v.mutationsText)),
                        ("score", JSONText.number(score.score)),
                        ("method", JSONText.string(score.method.rawValue)),
                    ]))
                    first = false
                }
            }
            try sink.flush()
        }
        if let missing = variants.first(where: { $0.sequenceID.map { !seen.contains($0) } ?? false }) {
            throw InferenceCommandError("variant \(missing.id) names sequence \(missing.sequenceID ?? ""), which is not in \(input)")
        }
        if format == .json { try sink.write(first ? "]\n" : "\n]\n") }
    }

    // MARK: Helpers

    /// The whole content of a text file ('-' = standard input).
    static func readText(_ path: String) throws -> String {
        let data: Data?
        if path == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            data = FileManager.default.contents(atPath: path)
        }
        guard let data else { throw InferenceCommandError("\(path): cannot read the file") }
        return String(decoding: data, as: UTF8.self)
    }

    /// Six decimals, or NA.
    static func decimal(_ x: Double?) -> String {
        guard let x, x.isFinite else { return "NA" }
        return String(format: "%.6f", x)
    }

    /// A TSV field: tabs and line breaks become spaces.
    static func field(_ s: String) -> String {
        String(s.map { $0 == "\t" || $0 == "\n" || $0 == "\r" ? " " : $0 })
    }
}
