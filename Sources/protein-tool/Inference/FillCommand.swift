import ArgumentParser
import Foundation
import PerformerModel
import ProteinIO

/// `protein-tool fill [--model M] SEQ|FILE [--top-k 5] [--alphabet standard|all] [--format text|json]`:
/// predicts masked residues (docs/inference.md).
struct FillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fill",
        abstract: "Predict masked residues: top-k residues with probabilities per masked position, and the filled sequence.",
        discussion: """
            SEQ is read as a file when a file of that name exists ('-' = standard
            input): FASTA, plain or gzipped, one result per record, id = the header's
            first word. Otherwise SEQ is the sequence itself (id 'sequence').
            A masked residue is written <mask>, # or _ (the one-character forms need
            no shell quoting). Residue letters: the 20 standard amino acids and
            B Z X U O, either case; blanks are ignored, a trailing '*' is dropped; any
            other character is an error.

            Probabilities: the softmax of the model's logits restricted to the
            reported alphabet (the 20 standard amino acids; with --alphabet all also
            B Z X U O). Special tokens are never candidates, so with --top-k 0 the
            probabilities of a position sum to 1. The filled sequence takes the most
            probable residue at each masked position.
              masked LM: one pass with every mask in place; positions are predicted
                independently.
              causal LM: greedy, left to right; each mask is predicted from the
                residues before it (earlier masks already filled); residues after it
                do not inform it.

            --format text, per sequence: a '>id' line, 'input<TAB>sequence' (masks
            as #), 'filled<TAB>sequence', then one line per masked position: its
            1-based position and the top-k 'residue probability' pairs, best first,
            tab-separated.
            --format json: an array with one object per sequence: id, length, method
            (masked-lm or causal-greedy), alphabet, input (masks as #), filled,
            masked = [{position, predictions = [{residue, probability}], best first}].
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

    enum AlphabetChoice: String, ExpressibleByArgument, CaseIterable {
        case standard, all

        var fillAlphabet: FillAlphabet { self == .standard ? .standard : .all }
    }

    @OptionGroup var modelOptions: InferenceModelOptions

    @Argument(help: ArgumentHelp("A masked sequence, or a FASTA file of them ('-' = standard input).",
                                 valueName: "seq-or-file"))
    var input: String

    @Option(name: .long, help: "Candidates per masked position; 0 = the whole alphabet.")
    var topK: Int = 5

    @Option(name: .long, help: "Candidate residues: standard (20 amino acids) or all (also B Z X U O).")
    var alphabet: AlphabetChoice = .standard

    @Option(name: .long, help: "Output format: text or json.")
    var format: Format = .text

    func validate() throws {
        if topK < 0 { throw ValidationError("--top-k must be ≥ 0 (0 = all)") }
    }

    func run() throws {
        var inputs: [(id: String, sequence: MaskedSequence)] = []
        if input == "-" || FileManager.default.fileExists(atPath: input) {
            let bytes = try ByteSource(path: input).readAll()
            inputs = try MaskedSequence.records(fasta: bytes, file: input)
            if inputs.isEmpty { throw InferenceCommandError("\(input): no sequences") }
        } else if input.contains("/") || input.contains(".") {
            throw InferenceCommandError("\(input): no such file (and not a sequence: '/' and '.' are not residues)")
        } else {
            inputs.append(("sequence", try MaskedSequence(parsing: Array(input.utf8))))
        }
        let loaded = try modelOptions.load()
        let filler = MaskFiller(model: loaded.model)
        let method = loaded.model.configuration.causal ? "causal-greedy" : "masked-lm"
        let sink = try OutputSink(path: nil)
        if format == .json { try sink.write("[") }
        for (index, item) in inputs.enumerated() {
            let result = try filler.fill(item.sequence, topK: topK, alphabet: alphabet.fillAlphabet, id: item.id)
            switch format {
            case .text: try sink.write(text(id: item.id, sequence: item.sequence, result: result))
            case .json: try sink.write((index == 0 ? "\n" : ",\n") + json(id: item.id, sequence: item.sequence, result: result, method: method))
            }
        }
        if format == .json { try sink.write("\n]\n") }
        try sink.finish()
    }

    private func text(id: String, sequence: MaskedSequence, result: FillResult) -> String {
        var out = ">\(id)\ninput\t\(sequence.text)\nfilled\t\(result.filledSequence)\n"
        for site in result.sites {
            out += "\(site.position)"
            for c in site.candidates { out += "\t\(c.letter) \(String(format: "%.4f", c.probability))" }
            out += "\n"
        }
        return out
    }

    private func json(id: String, sequence: MaskedSequence, result: FillResult, method: String) -> String {
        JSONText.object([
            ("id", JSONText.string(id)),
            ("length", JSONText.number(sequence.tokens.count)),
            ("method", JSONText.string(method)),
            ("alphabet", JSONText.string(alphabet.rawValue)),
            ("input", JSONText.string(sequence.text)),
            ("filled", JSONText.string(result.filledSequence)),
            ("masked", JSONText.array(result.sites.map { site in
                JSONText.object([
                    ("position", JSONText.number(site.position)),
                    ("predictions", JSONText.array(site.candidates.map { c in
                        JSONText.object([("residue", JSONText.string(c.letter)),
                                         ("probability", JSONText.number(c.probability))])
                    })),
                ])
            })),
        ])
    }
}
