import Foundation
import Testing
import ProteinIO
@testable import PerformerModel

@Suite struct MarkovBaselineTests {
    static func ids(_ residues: String) -> [TokenID] {
        residues.utf8.map { Alphabet.id(for: $0) ?? Alphabet.unk }
    }

    static func symbol(_ letter: Character) -> Int {
        Int((Alphabet.id(for: letter.asciiValue ?? 0) ?? 0) - Alphabet.firstResidue)
    }

    @Test func handComputedOrderOneExample() {
        // Order 1, α = 1, K = 25. Training proteins "AAC" and "CA"; "^" is the begin state.
        //   AAC: ^→A, A→A, A→C        CA: ^→C, C→A
        //   n(^) = {A: 1, C: 1}, total 2;  n(A) = {A: 1, C: 1}, total 2;  n(C) = {A: 1}, total 1.
        var model = MarkovModel(order: 1, alpha: 1)
        model.fit(tokens: Self.ids("AAC"))
        model.fit(tokens: Self.ids("CA"))
        let begin = 25, a = Self.symbol("A"), c = Self.symbol("C"), w = Self.symbol("W")
        #expect(model.contextTotals[begin] == 2 && model.contextTotals[a] == 2 && model.contextTotals[c] == 1)
        #expect(model.counts[begin * 25 + a] == 1 && model.counts[begin * 25 + c] == 1)
        #expect(model.counts[a * 25 + a] == 1 && model.counts[a * 25 + c] == 1 && model.counts[c * 25 + a] == 1)
        #expect(model.residuesFitted == 5 && model.proteinsFitted == 2)
        // "AC": p(A|^) = (1+1)/(2+25) = 2/27, p(C|A) = 2/27 → perplexity = 27/2 = 13.5.
        #expect(abs(model.evaluate(tokens: Self.ids("AC")).perplexity - 13.5) < 1e-12)
        // "CAW": p(C|^) = 2/27, p(A|C) = (1+1)/(1+25) = 2/26, p(W|A) = (0+1)/(2+25) = 1/27
        //   → perplexity = (27/2 · 26/2 · 27)^(1/3) = 4738.5^(1/3).
        let caw = model.evaluate(tokens: Self.ids("CAW"))
        #expect(caw.residues == 3 && caw.proteins == 1)
        #expect(abs(caw.perplexity - pow(4738.5, 1.0 / 3)) < 1e-12)
        #expect(abs(model.probability(of: w, context: a) - 1.0 / 27) < 1e-15)
        // Each protein starts over from the begin state: scoring "CA" does not depend on what was scored before.
        var pair = MarkovModel.Evaluation()
        for protein in ["AAC", "CA"] {
            Self.ids(protein).withUnsafeBufferPointer { model.evaluate(tokens: $0, into: &pair) }
        }
        let separate = [model.evaluate(tokens: Self.ids("AAC")), model.evaluate(tokens: Self.ids("CA"))]
        #expect(abs(pair.negativeLogLikelihood - separate.map(\.negativeLogLikelihood).reduce(0, +)) < 1e-12)
    }

    @Test func orderTwoContextsUseBeginPadding() {
        // Order 2: the first residue sees (^, ^), the second (^, x1), then (x1, x2), ...
        var model = MarkovModel(order: 2, alpha: 0.5)
        model.fit(tokens: Self.ids("MKV"))
        let m = Self.symbol("M"), k = Self.symbol("K"), v = Self.symbol("V")
        #expect(model.initialContext == 26 * 26 - 1)
        #expect(model.counts[(25 * 26 + 25) * 25 + m] == 1)
        #expect(model.counts[(25 * 26 + m) * 25 + k] == 1)
        #expect(model.counts[(m * 26 + k) * 25 + v] == 1)
        #expect(model.counts.reduce(0, +) == 3)
        // p(V | M K) = (1 + 0.5)/(1 + 25·0.5).
        #expect(abs(model.probability(of: v, context: m * 26 + k) - 1.5 / 13.5) < 1e-15)
    }

    @Test(arguments: [0, 1, 2, 3, 4])
    func contextWalkerMatchesTheModuloReference(order: Int) {
        let model = MarkovModel(order: order)
        var walker = MarkovModel.ContextWalker(model: model)
        var reference = model.initialContext
        var g = SeededGenerator(seed: UInt64(order))
        for _ in 0..<2000 {
            let s = g.nextInt(below: 25)
            walker.advance(s)
            reference = model.nextContextReference(reference, s)
            #expect(walker.context == reference)
            #expect(walker.context >= 0 && walker.context < model.contextCount)
        }
    }

    @Test(arguments: [0, 1, 2, 3])
    func anUntrainedModelIsUniformWithPerplexityTwentyFive(order: Int) {
        let model = MarkovModel(order: order)
        let evaluation = model.evaluate(tokens: Self.ids("MKVLAAGIWYXBZUO"))
        #expect(abs(evaluation.perplexity - 25) < 1e-12)
        #expect(abs(evaluation.crossEntropy - log(25)) < 1e-14)
    }

    @Test func nonResidueTokensAreSkippedNotScored() {
        var model = MarkovModel(order: 1)
        // J and * are unknown to the tokenizer (<unk>); special tokens are not residues either.
        model.fit(tokens: Self.ids("AJC") + [Alphabet.sep])
        #expect(model.skippedTokens == 2 && model.residuesFitted == 2)
        #expect(model.counts[Self.symbol("A") * 25 + Self.symbol("C")] == 1)  // the context skips J
        let evaluation = model.evaluate(tokens: Self.ids("A*C"))
        #expect(evaluation.residues == 2 && evaluation.skippedTokens == 1)
    }

    @Test func orderZeroOnARealFixtureMatchesIndependentCounts() throws {
        // Residue counts of hmmer_globins45.fa (45 globins, 6,519 residues), from
        //   grep -v '^>' hmmer_globins45.fa | tr -d '\n' | fold -w1 | sort | uniq -c
        let counts: [Character: Int] = [
            "A": 717, "C": 58, "D": 347, "E": 323, "F": 335, "G": 465, "H": 396, "I": 185, "K": 572, "L": 777,
            "M": 65, "N": 230, "P": 229, "Q": 175, "R": 145, "S": 406, "T": 306, "V": 572, "W": 80, "Y": 136,
        ]
        let total = counts.values.reduce(0, +)
        var model = MarkovModel(order: 0)
        let records = try Self.records(SharedFixtures.path("hmmer_globins45.fa"))
        #expect(records.count == 45)
        let tokenizer = Tokenizer()
        for record in records { model.fit(tokens: try tokenizer.tokenize(record.residues, id: record.id, file: "globins")) }
        #expect(model.residuesFitted == total && total == 6519)
        for (letter, n) in counts { #expect(model.counts[Self.symbol(letter)] == n, "\(letter)") }
        // Trained and scored on the same proteins: perplexity = exp(−Σₓ nₓ log((nₓ + 1)/(N + 25)) / N).
        let expected = exp(-counts.values.reduce(0.0) { $0 + Double($1) * log(Double($1 + 1) / Double(total + 25)) } / Double(total))
        let measured = try model.perplexity(on: records)
        #expect(abs(measured - expected) < 1e-10 * expected, "\(measured) vs \(expected)")
        #expect(measured > 15 && measured < 20)
    }

    static func records(_ path: String) throws -> [SequenceRecord] {
        let reader = try SequenceReader(path: path)
        var records: [SequenceRecord] = []
        while let record = try reader.next() { records.append(record) }
        return records
    }

    /// The whole held-out pipeline re-implemented in Python's standard library: FASTA parsing,
    /// the split hash (FNV-1a-64, SplitMix64 finaliser, accession key), tokenisation (upper case,
    /// trailing `*` dropped, non-alphabet characters skipped) and add-α Markov counts with
    /// begin-of-protein padding. Prints the validation perplexity for each order.
    static let pythonHeldOut = #"""
import gzip, math, sys
path, fraction, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
orders = [int(x) for x in sys.argv[4].split(",")]
MASK = (1 << 64) - 1
def fnv1a(data):
    h = 0xcbf29ce484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001b3) & MASK
    return h
def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)
def key(ident):
    return ident[3:].split("|")[0] if ident.startswith(("sp|", "tr|")) else ident
def validation(ident):
    return (mix64(fnv1a(key(ident).encode()) ^ seed) >> 11) * 2.0 ** -53 < fraction
letters = "ACDEFGHIKLMNPQRSTVWYBZXUO"
index = {c: i for i, c in enumerate(letters)}
def proteins():
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    ident, parts = None, []
    for line in opener(path, "rt"):
        if line.startswith(">"):
            if ident is not None:
                yield ident, "".join(parts)
            ident, parts = (line[1:].split() or [""])[0], []
        else:
            parts.append("".join(line.split()))
    if ident is not None:
        yield ident, "".join(parts)
def symbols(seq):
    return [index[c] for c in seq.upper().rstrip("*") if c in index]
K, B = 25, 25
counts = {k: {} for k in orders}
for ident, seq in proteins():
    if validation(ident):
        continue
    for k in orders:
        context = (B,) * k
        table = counts[k]
        for s in symbols(seq):
            row = table.setdefault(context, [0] * (K + 1))
            row[s] += 1
            row[K] += 1
            context = (context + (s,))[1:] if k else ()
nll = {k: 0.0 for k in orders}
n = 0
for ident, seq in proteins():
    if not validation(ident):
        continue
    syms = symbols(seq)
    n += len(syms)
    for k in orders:
        context = (B,) * k
        for s in syms:
            row = counts[k].get(context, [0] * (K + 1))
            nll[k] -= math.log((row[s] + 1.0) / (row[K] + K * 1.0))
            context = (context + (s,))[1:] if k else ()
print(" ".join(repr(math.exp(nll[k] / n)) for k in orders), n)
"""#

    @Test(arguments: [(0.05, UInt64(0)), (0.2, 7)])
    func heldOutPerplexityMatchesAnIndependentPythonImplementation(fraction: Double, seed: UInt64) throws {
        guard PythonRunner.available(modules: ["gzip", "math"]) else {
            print("skipped: python3 is not available (Markov held-out cross-check)")
            return
        }
        let path = SharedFixtures.path("mmseqs_db_300.fasta.gz")
        let split = TrainValidationSplit(validationFraction: fraction, seed: seed)
        let results = try MarkovModel.heldOut(path: path, orders: [0, 1, 2], split: split)
        let output = try #require(PythonRunner.run(Self.pythonHeldOut, arguments: [path, "\(fraction)", "\(seed)", "0,1,2"]))
        #expect(output.status == 0, "python: \(output.stderr)")
        let fields = output.stdout.split(whereSeparator: \.isWhitespace).compactMap { Double(String($0)) }
        try #require(fields.count == 4, "python printed: \(output.stdout)")
        #expect(results.allSatisfy { $0.evaluation.residues == Int(fields[3]) })
        for (i, result) in results.enumerated() {
            let relative = abs(result.evaluation.perplexity - fields[i]) / fields[i]
            #expect(relative < 1e-9, "order \(result.model.order): \(result.evaluation.perplexity) vs python \(fields[i])")
        }
    }

    @Test func fitAndEvaluateStreamFromAReaderWithASplit() throws {
        let path = SharedFixtures.path("mmseqs_db_300.fasta.gz")
        let split = TrainValidationSplit(validationFraction: 0.2, seed: 7)
        var model = MarkovModel(order: 1)
        let used = try model.fit(reader: try SequenceReader(path: path), split: split)
        let evaluation = try model.evaluate(reader: try SequenceReader(path: path), split: split)
        #expect(used + evaluation.proteins == 300 && used == model.proteinsFitted)
        let combined = try MarkovModel.heldOut(path: path, orders: [1], split: split)
        #expect(combined.first?.evaluation == evaluation)
        // Without a split: everything is used.
        var all = MarkovModel(order: 0)
        #expect(try all.fit(reader: try SequenceReader(path: path)) == 300)
    }

    /// The measurement reported in docs/training-infra.md: 20,000 UniProt proteins shipped with
    /// MMseqs2 (Debian `mmseqs2-examples`), split 5 % validation with seed 0. Runs when the file
    /// is installed and prints the perplexities; otherwise prints that it was skipped.
    @Test func heldOutPerplexityOnTheMMseqsExampleCorpus() throws {
        let path = "/usr/share/doc/mmseqs2/example-data/DB.fasta.gz"
        guard FileManager.default.fileExists(atPath: path) else {
            print("skipped: \(path) is not installed (Markov baseline measurement)")
            return
        }
        let split = TrainValidationSplit(validationFraction: 0.05, seed: 0)
        let start = Date()
        let results = try MarkovModel.heldOut(path: path, orders: [0, 1, 2, 3], split: split)
        let seconds = Date().timeIntervalSince(start)
        for (model, evaluation) in results {
            print("Markov order \(model.order) (α = 1): held-out perplexity \(evaluation.perplexity) "
                  + "(\(evaluation.residues) residues in \(evaluation.proteins) validation proteins; "
                  + "fitted on \(model.residuesFitted) residues in \(model.proteinsFitted) proteins)")
        }
        print("Markov measurement took \(seconds) s")
        let p = results.map(\.evaluation.perplexity)
        #expect(p[2] < p[1] && p[1] < p[0] && p[0] < 25)
        #expect(results[0].model.proteinsFitted + results[0].evaluation.proteins == 20_000)
    }
}
