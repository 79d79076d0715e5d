import Foundation
import Testing
@testable import ProteinIO

@Suite struct PackerTests {
    /// Proteins of residue ids (6 – 30) with lengths uniform in 0 ... maxLength (so some empty).
    static func proteins(_ count: Int, maxLength: Int, seed: UInt64) -> [[TokenID]] {
        var g = SeededGenerator(seed: seed)
        return (0..<count).map { _ in
            (0..<g.nextInt(below: maxLength + 1)).map { _ in TokenID(6 + g.nextInt(below: 25)) }
        }
    }

    /// Streams `proteins` through a packer, taking every window as soon as it is complete.
    static func stream(_ proteins: [[TokenID]], _ configuration: PackerConfiguration, seed: UInt64) -> (windows: [[TokenID]], packer: Packer) {
        var packer = Packer(configuration: configuration, seed: seed)
        var windows: [[TokenID]] = []
        for p in proteins {
            packer.push(p)
            while let w = packer.popWindow() { windows.append(w) }
        }
        packer.finish()
        while let w = packer.popWindow() { windows.append(w) }
        return (windows, packer)
    }

    /// Splits a token stream into units `<cls> residues <sep>`; returns nil when the stream
    /// is not a sequence of such units followed only by `<pad>` (where `padsAllowed` says).
    static func units(_ stream: [TokenID], padsBetweenUnits: Bool) -> [[TokenID]]? {
        var units: [[TokenID]] = []
        var i = 0
        while i < stream.count {
            if stream[i] == Alphabet.pad {
                if !padsBetweenUnits { return stream[i...].allSatisfy { $0 == Alphabet.pad } ? units : nil }
                i += 1
                continue
            }
            guard stream[i] == Alphabet.cls else { return nil }
            i += 1
            var residues: [TokenID] = []
            while i < stream.count && Alphabet.isResidue(stream[i]) { residues.append(stream[i]); i += 1 }
            guard i < stream.count, stream[i] == Alphabet.sep, !residues.isEmpty else { return nil }
            i += 1
            units.append(residues)
        }
        return units
    }

    static func isContiguousPiece(_ piece: [TokenID], of whole: [TokenID]) -> Bool {
        guard piece.count <= whole.count else { return false }
        return (0...(whole.count - piece.count)).contains { Array(whole[$0 ..< $0 + piece.count]) == piece }
    }

    static let configurations: [PackerConfiguration] = [
        .init(windowLength: 3), .init(windowLength: 7), .init(windowLength: 64),
        .init(windowLength: 64, finalWindow: .drop), .init(windowLength: 16, maxProteinLength: 5),
        .init(windowLength: 3, layout: .padded), .init(windowLength: 40, layout: .padded),
        .init(windowLength: 40, layout: .padded, maxProteinLength: 12, finalWindow: .drop),
    ]

    @Test(arguments: configurations)
    func windowsAreExactlyLAndMatchTheReference(configuration: PackerConfiguration) {
        let proteins = Self.proteins(300, maxLength: 90, seed: 5)
        let (windows, packer) = Self.stream(proteins, configuration, seed: 17)
        #expect(!windows.isEmpty)
        #expect(windows.allSatisfy { $0.count == configuration.windowLength })
        let reference = Packer.packReference(proteins, configuration: configuration, seed: 17)
        #expect(windows.count == reference.count)
        let differing = zip(windows, reference).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        #expect(differing == nil, "first differing window: \(differing ?? -1)")
        #expect(packer.windowsEmitted == windows.count && packer.proteinsConsumed == proteins.count)
    }

    @Test(arguments: configurations)
    func fusedTokenizingPushEqualsTokenizeThenPush(configuration: PackerConfiguration) throws {
        var g = SeededGenerator(seed: 31)
        let letters = Array("ACDEFGHIKLMNPQRSTVWYacdefghiklmnpqrstvwyBZXUO-.*J1".utf8)
        let records: [[UInt8]] = (0..<300).map { _ in
            (0..<g.nextInt(below: 90)).map { _ in letters[g.nextInt(below: letters.count)] }
        }
        for tokenizer in [Tokenizer(), Tokenizer(gaps: .remove)] {
            var fused = Packer(configuration: configuration, seed: 8)
            var separate = Packer(configuration: configuration, seed: 8)
            for (i, record) in records.enumerated() {
                let counts = try record.withUnsafeBufferPointer { (r) throws(ProteinIOError) -> Tokenizer.Counts in
                    try fused.push(residues: r, tokenizer: tokenizer, id: "r\(i)", file: "f")
                }
                let ids = try tokenizer.tokenize(record, id: "r\(i)", file: "f")
                #expect(counts.tokens == ids.count)
                separate.push(ids)
                #expect(fused.state == separate.state)
            }
            fused.finish(); separate.finish()
            var a: [[TokenID]] = [], b: [[TokenID]] = []
            while let w = fused.popWindow() { a.append(w) }
            while let w = separate.popWindow() { b.append(w) }
            #expect(a == b && !a.isEmpty)
        }
    }

    @Test func fusedPushLeavesThePackerUnchangedOnError() throws {
        var packer = Packer(configuration: PackerConfiguration(windowLength: 16, layout: .padded), seed: 1)
        let strict = Tokenizer(unknown: .reject)
        try Array("MKV".utf8).withUnsafeBufferPointer { (r) throws(ProteinIOError) in
            _ = try packer.push(residues: r, tokenizer: strict, id: "a", file: "f")
        }
        let before = packer.state
        #expect(throws: ProteinIOError.self) {
            try Array("MKJV".utf8).withUnsafeBufferPointer { (r) throws(ProteinIOError) in
                _ = try packer.push(residues: r, tokenizer: strict, id: "b", file: "f")
            }
        }
        #expect(packer.state == before && packer.proteinsConsumed == 1)
    }

    @Test func concatenationWithoutSpecialsReproducesTheResiduesInOrder() throws {
        let proteins = Self.proteins(500, maxLength: 150, seed: 8)
        for length in [3, 5, 64, 1000] {
            let (windows, _) = Self.stream(proteins, PackerConfiguration(windowLength: length), seed: 1)
            let joined = windows.flatMap { $0 }
            // Residues in order, nothing lost or added.
            #expect(joined.filter(Alphabet.isResidue) == proteins.flatMap { $0 })
            // Every non-empty protein is exactly one unit <cls> residues <sep>, in order;
            // only <pad> follows the last unit.
            let units = try #require(Self.units(joined, padsBetweenUnits: false))
            #expect(units == proteins.filter { !$0.isEmpty })
            // <cls> stands where the hand-computed unit offsets say, and <sep> right before it.
            var offset = 0
            for p in proteins where !p.isEmpty {
                #expect(joined[offset] == Alphabet.cls)
                if offset > 0 { #expect(joined[offset - 1] == Alphabet.sep) }
                offset += p.count + 2
            }
            #expect(joined.count == (offset + length - 1) / length * length)
            #expect(windows.first?.first == Alphabet.cls)
        }
    }

    @Test func paddedLayoutKeepsEveryProteinWholeInOneWindow() throws {
        let length = 40
        let proteins = Self.proteins(400, maxLength: 70, seed: 21)
        let (windows, packer) = Self.stream(proteins, PackerConfiguration(windowLength: length, layout: .padded), seed: 3)
        var units: [[TokenID]] = []
        for w in windows {
            // Each window alone is whole units followed by padding.
            units += try #require(Self.units(w, padsBetweenUnits: false))
            #expect(w.first == Alphabet.cls)
        }
        let nonEmpty = proteins.filter { !$0.isEmpty }
        #expect(units.count == nonEmpty.count)
        var offsets = Set<Int>()
        var cropped = 0
        for (unit, protein) in zip(units, nonEmpty) {
            if protein.count <= length - 2 {
                #expect(unit == protein)
            } else {
                #expect(unit.count == length - 2)
                #expect(Self.isContiguousPiece(unit, of: protein))
                offsets.insert((0...(protein.count - unit.count)).first { Array(protein[$0 ..< $0 + unit.count]) == unit }!)
                cropped += protein.count - unit.count
            }
        }
        #expect(offsets.count > 5, "crop offsets should vary")
        #expect(packer.residuesCropped == cropped)
    }

    @Test func maxProteinLengthCropsToARandomContiguousSegment() throws {
        let limit = 20
        let proteins = Self.proteins(400, maxLength: 80, seed: 4)
        let (windows, packer) = Self.stream(proteins, PackerConfiguration(windowLength: 50, maxProteinLength: limit), seed: 9)
        let units = try #require(Self.units(windows.flatMap { $0 }, padsBetweenUnits: false))
        let nonEmpty = proteins.filter { !$0.isEmpty }
        #expect(units.count == nonEmpty.count)
        var starts = Set<Int>()
        for (unit, protein) in zip(units, nonEmpty) {
            #expect(unit.count == min(protein.count, limit))
            #expect(Self.isContiguousPiece(unit, of: protein))
            if protein.count > limit, let s = (0...(protein.count - limit)).first(where: { Array(protein[$0 ..< $0 + limit]) == unit }) {
                starts.insert(s)
            }
        }
        #expect(starts.count > 10)
        #expect(packer.residuesCropped == nonEmpty.reduce(0) { $0 + max(0, $1.count - limit) })
    }

    @Test func streamingMemoryStaysBoundedOverManyProteins() {
        let length = 128, batchSize = 8, maxLength = 400
        var packer = Packer(configuration: PackerConfiguration(windowLength: length), seed: 0)
        var g = SeededGenerator(seed: 77)
        var batch = Batch(batch: batchSize, length: length)
        let protein = [TokenID](repeating: 6, count: maxLength)
        var totalTokens = 0, windows = 0, maxCapacity = 0, expectedFirstWindow = 0
        for _ in 0..<100_000 {
            let n = g.nextInt(below: maxLength + 1)
            protein.withUnsafeBufferPointer { packer.push(UnsafeBufferPointer(rebasing: $0[0..<n])) }
            if n > 0 { totalTokens += n + 2 }
            while packer.nextBatch(into: &batch) {
                #expect(batch.firstWindow == expectedFirstWindow && batch.windows == batchSize)
                expectedFirstWindow += batchSize
                windows += batch.windows
            }
            maxCapacity = max(maxCapacity, packer.bufferCapacity)
        }
        packer.finish()
        while packer.nextBatch(into: &batch) { windows += batch.windows }
        // Live tokens never exceed (batch windows − 1 + a partial one) + one unit; the array at
        // most doubles past that.
        let bound = 2 * (batchSize * length + maxLength + 2) + 64
        #expect(maxCapacity <= bound, "buffer capacity \(maxCapacity) > \(bound) for \(totalTokens) tokens streamed")
        #expect(totalTokens > 100 * bound)
        #expect(windows == (totalTokens + length - 1) / length)
        #expect(packer.bufferedTokens == 0)
    }

    @Test func lastBatchIsPaddedToFullShape() throws {
        var packer = Packer(configuration: PackerConfiguration(windowLength: 10), seed: 0)
        packer.push([6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17])  // 14 tokens: 1 window + 4
        #expect(packer.nextBatch(size: 4) == nil)
        packer.finish()
        let next = packer.nextBatch(size: 4)
        let batch = try #require(next)
        #expect(batch.windows == 2 && batch.firstWindow == 0 && batch.proteinsConsumed == 1)
        #expect(Array(batch.row(0)) == [2, 6, 7, 8, 9, 10, 11, 12, 13, 14])
        #expect(Array(batch.row(1)) == [15, 16, 17, 4, 0, 0, 0, 0, 0, 0])
        #expect(batch.row(2).allSatisfy { $0 == 0 } && batch.row(3).allSatisfy { $0 == 0 })
        #expect(batch.weights.allSatisfy { $0 == 0 } && batch.targets.allSatisfy { $0 == 0 })
        #expect(packer.nextBatch(size: 4) == nil)
    }

    @Test(arguments: [PackerConfiguration.Layout.concatenate, .padded])
    func resumeFromSavedStateGivesIdenticalBatches(layout: PackerConfiguration.Layout) throws {
        let configuration = PackerConfiguration(windowLength: 32, layout: layout, maxProteinLength: 24)
        let proteins = Self.proteins(600, maxLength: 60, seed: 12)

        func run(_ packer: inout Packer, from first: Int, stopAfter: Int? = nil) -> (batches: [Batch], next: Int) {
            var batches: [Batch] = []
            var i = first
            while i < proteins.count {
                packer.push(proteins[i])
                i += 1
                while let b = packer.nextBatch(size: 4) {
                    batches.append(b)
                    if batches.count == stopAfter { return (batches, i) }
                }
            }
            packer.finish()
            while let b = packer.nextBatch(size: 4) { batches.append(b) }
            return (batches, i)
        }

        var whole = Packer(configuration: configuration, seed: 2024)
        let all = run(&whole, from: 0).batches

        var first = Packer(configuration: configuration, seed: 2024)
        let head = run(&first, from: 0, stopAfter: 10)
        #expect(head.batches == Array(all.prefix(10)))
        let saved = try JSONEncoder().encode(first.state)
        let state = try JSONDecoder().decode(Packer.State.self, from: saved)
        #expect(state.proteinsConsumed == head.next)
        var resumed = try Packer(state: state, file: "ckpt")
        let tail = run(&resumed, from: state.proteinsConsumed).batches
        #expect(tail == Array(all.dropFirst(10)))
        #expect(resumed.residuesCropped == whole.residuesCropped && resumed.residuesCropped > 0)
    }

    @Test func invalidStatesAreRejected() {
        let good = Packer(configuration: PackerConfiguration(windowLength: 8), seed: 1).state
        var zero = good; zero.generatorState = [0, 0, 0, 0]
        var short = good; short.generatorState = [1, 2]
        var token = good; token.pendingTokens = [2, 6, 31]
        var partial = good; partial.isFinished = true; partial.pendingTokens = [2, 6, 4]
        for state in [zero, short, token, partial] {
            let error = #expect(throws: ProteinIOError.self) { try Packer(state: state, file: "s.json") }
            #expect(error?.kind == .integrity && error?.file == "s.json")
        }
        #expect(throws: Never.self) { try Packer(state: good, file: "s.json") }
    }

    @Test func configurationDecodingChecksRanges() throws {
        let ok = #"{"window_length": 8192, "layout": "concatenate", "final_window": "pad"}"#
        let c = try JSONDecoder().decode(PackerConfiguration.self, from: Data(ok.utf8))
        #expect(c == PackerConfiguration(windowLength: 8192))
        for bad in [#"{"window_length": 2, "layout": "padded", "final_window": "pad"}"#,
                    #"{"window_length": 9, "layout": "padded", "final_window": "pad", "max_protein_length": 0}"#,
                    #"{"window_length": 9, "layout": "sideways", "final_window": "pad"}"#] {
            #expect(throws: DecodingError.self) { try JSONDecoder().decode(PackerConfiguration.self, from: Data(bad.utf8)) }
        }
    }
}
