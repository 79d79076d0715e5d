import ArgumentParser
import CZlib
import Foundation
import PerformerModel
import ProteinIO

/// `protein-tool similarity`: the 20×20 amino-acid similarity matrix a model's attention implies,
/// compared with BLOSUM62.
struct SimilarityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "similarity",
        abstract: "Amino-acid similarity matrix from a model's attention, compared with BLOSUM62.",
        discussion: """
            The corpus is read as in training, without masking: every protein becomes <cls> residues <sep>, the \
            units are concatenated and cut into windows of exactly --seq-len tokens (the last one padded with \
            <pad>); proteins are not cropped. The model reads every window, and for every layer and head the \
            attention between token types is summed: mass(a→b) = Σ over positions i of type a of the attention \
            row i puts on positions of type b. FAVOR models do this in linear time from the attention kernel's \
            own random features (per-type key-feature sums; running prefix sums for causal models), never \
            forming the L×L matrix; exact models form it explicitly.

            --method attention (default): M = that mass between the 20 standard amino acids, summed over layers \
            and heads; P = (M + Mᵀ)/ΣM symmetrised, p its marginals; S_ab = log2(P_ab / (p_a p_b)), in half bits \
            (×2, the unit of BLOSUM62) or bits (--units bits); not rounded unless --decimals 0.

            --method head-profile (Vig et al. 2021): for every head, the share of its residue-to-residue \
            attention that lands on each amino acid; S_ab = Pearson correlation of the profiles of a and b \
            across all heads (needs at least 3 heads in total). --units does not apply.

            Printed on standard output (standard error when --out is '-'), one line: Pearson and Spearman \
            correlation (ties ranked by their average) with --blosum over the 190 unordered off-diagonal pairs \
            of the 20 standard amino acids (the diagonal is left out: it inflates any correlation), plus the \
            counts, and the same correlations for a constant-attention control: the log-odds (as --method \
            attention) of the mass that attention with constant logits would give on the same windows, each \
            query spreading its weight evenly over the positions it sees. The control reflects only which \
            residues share windows (protein composition), nothing learned: it is the baseline the model has to \
            beat. The same numbers go into the output file: '#' comment lines (ncbi, tsv) or the keys pearson, \
            spearman, pairs, control_pearson, control_spearman (json, with method, units, model, attention, \
            causal, corpus, proteins, windows, window_length, blosum, letters, scores (rows, null for an \
            undefined entry), comments).

            Formats: ncbi = the NCBI/EMBOSS layout of data/BLOSUM62 (rows and columns in BLOSUM order \
            ARNDCQEGHILKMFPSTWYV); tsv = the same table tab-separated with an empty corner cell; json. The \
            output and the heatmap are written atomically (temporary file, rename). --heatmap PATH.svg writes \
            an SVG (values in every cell), PATH.png a PNG (no cell values); the colour scale is diverging \
            around 0 and spans ± the largest off-diagonal |value|.

            --blosum defaults to the bundled data/BLOSUM62, looked up in $PROTEIN_PERFORMER_BLOSUM, then under \
            the current directory, then beside the package that built this executable. Every one of the 20 \
            amino acids must occur in the windows read, or the command stops with an error naming the missing \
            ones.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case tsv, json, ncbi }

    @Option(help: "Model file (model.safetensors or a training checkpoint; default: the bundled model).")
    var model: String?

    @Option(name: .long, parsing: .upToNextOption, help: "Corpus: FASTA / UniProt .dat files, plain or gzipped ('-' for standard input).")
    var corpus: [String] = []

    @Option(help: "Output file for the matrix ('-' for standard output).")
    var out: String

    @Option(help: "Output format: tsv, json or ncbi.")
    var format: Format = .tsv

    @Option(help: "attention (log-odds of attention mass) or head-profile (Vig et al. 2021).")
    var method: SimilarityMethod = .attention

    @Option(help: "Log-odds units for --method attention: half-bits (as BLOSUM62) or bits.")
    var units: ScoreUnits = .halfBits

    @Option(help: "Digits after the decimal point in the output (0 rounds to integers like BLOSUM62).")
    var decimals: Int = 3

    @Option(help: "Also draw a heatmap: a path ending in .svg or .png.")
    var heatmap: String?

    @Option(name: .customLong("max-proteins"), help: "Read at most this many proteins (default: all).")
    var maxProteins: Int?

    @Option(name: .customLong("seq-len"), help: "Window length L (default: the model's training length, else 1024).")
    var seqLen: Int?

    @Option(help: "Windows per forward pass.")
    var batch: Int = 4

    @Option(help: ArgumentHelp(
        "Split each batch's windows over n workers, one per core, each with single-threaded OpenBLAS. Default: one per OpenBLAS thread (OPENBLAS_NUM_THREADS=1 means 1), at most --batch.",
        valueName: "n"))
    var workers: Int?

    @Option(help: "Reference matrix to correlate with (default: the bundled data/BLOSUM62).")
    var blosum: String?

    func validate() throws {
        if corpus.isEmpty { throw ValidationError("give the proteins to read with --corpus FILE...") }
        if corpus.filter({ $0 == "-" }).count > 1 { throw ValidationError("'-' (standard input) can be given once") }
        if let maxProteins, maxProteins < 1 { throw ValidationError("--max-proteins must be positive") }
        if let seqLen, seqLen < 3 { throw ValidationError("--seq-len must be at least 3 (<cls>, a residue, <sep>)") }
        if batch < 1 { throw ValidationError("--batch must be positive") }
        if let workers, workers < 1 { throw ValidationError("--workers must be positive") }
        if decimals < 0 || decimals > 17 { throw ValidationError("--decimals must be in 0...17") }
        if let heatmap, !(heatmap.hasSuffix(".svg") || heatmap.hasSuffix(".png")) {
            throw ValidationError("--heatmap must end in .svg or .png, got \(heatmap)")
        }
        if let heatmap, heatmap == out { throw ValidationError("--heatmap and --out are the same file") }
        if out != "-" && corpus.contains(out) { throw ValidationError("--out \(out) is also a corpus file") }
    }

    func run() throws {
        let modelPath = try DefaultModel.resolve(model)
        let blosumPath = try BundledFile.blosum62.resolve(blosum)
        let reference = try SubstitutionMatrix(contentsOf: blosumPath)
        let missingInReference = reference.missingLetters(SubstitutionMatrix.standardLetters)
        guard missingInReference.isEmpty else {
            throw CommandFailure("\(blosumPath) has no row for \(String(missingInReference))")
        }
        let loaded = try ModelCheckpoint.load(path: modelPath)
        let c = loaded.model.configuration
        if method == .headProfile && c.layers * c.heads < 3 {
            throw CommandFailure("--method head-profile correlates profiles across heads and needs at least 3; the model has \(c.layers * c.heads)")
        }
        let training = loaded.metadata["training"].flatMap {
            try? JSONDecoder().decode(TrainingConfiguration.self, from: Data($0.utf8))
        }
        let length = seqLen ?? training?.seqLen ?? 1024

        let (mass, control, proteins) = try accumulate(model: loaded.model, length: length)
        let missing = mass.missingResidues
        guard missing.isEmpty else {
            throw CommandFailure(
                "every standard amino acid must occur in the windows read; never seen: "
                    + missing.map(String.init).joined(separator: ", ")
                    + " (\(proteins) proteins read; add proteins or raise --max-proteins)")
        }
        var matrix = mass.similarity(method: method, units: units)
        guard let correlation = matrix.correlation(with: reference),
              let controlCorrelation = control.logOdds(units: units).correlation(with: reference) else {
            throw CommandFailure("cannot compare with \(blosumPath)")
        }
        let kind = "\(c.attention.rawValue) \(c.causal ? "causal" : "masked") LM, \(c.layers) layers × \(c.heads) heads"
        let unitText = method == .attention ? units.rawValue : "Pearson r"
        let summary = "pearson \(fixed(correlation.pearson)) spearman \(fixed(correlation.spearman)) "
            + "pairs \(correlation.pairs) (vs \(blosumPath); method \(method.rawValue), \(mass.windows) windows of "
            + "\(length) tokens, \(proteins) proteins; constant-attention control: pearson "
            + "\(fixed(controlCorrelation.pearson)) spearman \(fixed(controlCorrelation.spearman)))"
        matrix.comments = ["protein-performer similarity matrix"] + matrix.comments + [
            "model \(modelPath) (\(kind))",
            "corpus \(corpus.joined(separator: " ")): \(proteins) proteins, \(mass.windows) windows of \(length) tokens",
            "vs \(blosumPath) over \(correlation.pairs) off-diagonal pairs: Pearson r = \(fixed(correlation.pearson)), Spearman rho = \(fixed(correlation.spearman))",
            "constant-attention control (every query attends evenly to the positions it sees; composition only): Pearson r = \(fixed(controlCorrelation.pearson)), Spearman rho = \(fixed(controlCorrelation.spearman))",
        ]

        let sink = try OutputSink(path: out)
        switch format {
        case .ncbi: try sink.write(matrix.ncbiText(decimals: decimals))
        case .tsv: try sink.write(matrix.tsvText(decimals: decimals))
        case .json:
            try sink.write(matrix.jsonText(decimals: decimals, fields: [
                ("method", JSONText.string(method.rawValue)),
                ("units", JSONText.string(unitText)),
                ("model", JSONText.string(modelPath)),
                ("attention", JSONText.string(c.attention.rawValue)),
                ("causal", c.causal ? "true" : "false"),
                ("corpus", JSONText.array(corpus.map(JSONText.string))),
                ("proteins", JSONText.number(proteins)),
                ("windows", JSONText.number(mass.windows)),
                ("window_length", JSONText.number(length)),
                ("blosum", JSONText.string(blosumPath)),
                ("pearson", JSONText.number(correlation.pearson)),
                ("spearman", JSONText.number(correlation.spearman)),
                ("pairs", JSONText.number(correlation.pairs)),
                ("control_pearson", JSONText.number(controlCorrelation.pearson)),
                ("control_spearman", JSONText.number(controlCorrelation.spearman)),
            ]))
        }
        if let heatmap {
            let heading = method == .attention
                ? "Attention log-odds (\(units.rawValue))" : "Attention head-profile correlation"
            let subtitle = "vs BLOSUM62: Pearson \(fixed(correlation.pearson)), Spearman \(fixed(correlation.spearman)) "
                + "(\(correlation.pairs) off-diagonal pairs); \(mass.windows) windows of \(length)"
            let image = try OutputSink(path: heatmap)
            if heatmap.hasSuffix(".svg") {
                try image.write(matrix.heatmapSVG(title: heading, subtitle: subtitle))
            } else {
                let png = PNGEncoder.encode(matrix.heatmapRaster(title: heading, subtitle: subtitle), compress: ZlibCompression.compress)
                try png.withUnsafeBufferPointer { try image.write(bytes: $0) }
            }
            try image.finish()
        }
        try sink.finish()
        if out == "-" {
            printToStandardError(summary)
        } else {
            print(summary)
        }
    }

    /// Reads the corpus into windows and the model's attention into an `AttentionTypeMass`.
    /// The constant-attention control (`AttentionTypeMass.constantAttention`) is accumulated on the
    /// same windows.
    private func accumulate(model: PerformerLM, length: Int)
        throws -> (AttentionTypeMass, control: AttentionTypeMass, proteins: Int)
    {
        let similarity = try AttentionSimilarity(model: model, batch: batch, length: length, workers: workers)
        let causal = model.configuration.causal
        var control = AttentionTypeMass.constantAttention(types: model.configuration.vocabSize)
        var single: AttentionSimilarity?  // for the real rows of a last, partial batch
        var packer = Packer(configuration: PackerConfiguration(windowLength: length, layout: .concatenate), seed: 0)
        let tokenizer = Tokenizer()
        var proteins = 0
        func drain() throws {
            while let window = packer.nextBatch(size: batch) {
                for row in 0..<window.windows {
                    window.row(row).withUnsafeBufferPointer { control.addConstantAttention(window: $0, causal: causal) }
                }
                if window.windows == batch {
                    similarity.add(tokens: window.tokens)
                } else {
                    if single == nil { single = try AttentionSimilarity(model: model, batch: 1, length: length) }
                    for row in 0..<window.windows { single?.add(tokens: Array(window.row(row))) }
                }
            }
        }
        reading: for file in corpus {
            let reader = try SequenceReader(path: file)
            while let record = try reader.next() {
                if let maxProteins, proteins >= maxProteins { break reading }
                try record.residues.withUnsafeBufferPointer { residues in
                    _ = try packer.push(residues: residues, tokenizer: tokenizer, id: record.id, file: file)
                }
                proteins += 1
                try drain()
            }
        }
        packer.finish()
        try drain()
        var mass = similarity.mass
        if let single { mass.merge(single.mass) }
        guard mass.windows > 0 else {
            throw CommandFailure("no residues in \(corpus.joined(separator: ", "))")
        }
        return (mass, control, proteins)
    }

    private func fixed(_ x: Double) -> String {
        x.isFinite ? String(format: "%.4f", x) : "nan"
    }
}

extension SimilarityMethod: ExpressibleByArgument {}
extension ScoreUnits: ExpressibleByArgument {}

/// zlib's `compress2` at level 9, for PNG's IDAT stream (nil on failure, which falls back to
/// stored blocks).
enum ZlibCompression {
    static func compress(_ data: [UInt8]) -> [UInt8]? {
        var length = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(length))
        let status = out.withUnsafeMutableBufferPointer { o in
            data.withUnsafeBufferPointer { i in
                compress2(o.baseAddress, &length, i.baseAddress, uLong(data.count), 9)
            }
        }
        guard status == Z_OK else { return nil }
        out.removeLast(out.count - Int(length))
        return out
    }
}

/// A run-time failure of an inference command (not a usage error): its description is the
/// one line printed after `Error:`.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
