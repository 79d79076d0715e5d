import Foundation
import Testing
@testable import ProteinIO

@Suite("BatchStream: files → split → packed, labelled batches")
struct BatchStreamTests {
    static let files = [Fixtures.path("mmseqs_db_300.fasta.gz"), Fixtures.path("hmmer_globins45.fa")]
    static let split = TrainValidationSplit(validationFraction: 0.2, seed: 3)

    static func stream(
        side: TrainValidationSplit.Side = .train, labeling: BatchStream.Labeling = .masked(.init()),
        length: Int = 128, batch: Int = 3, cycles: Bool = true
    ) -> BatchStream {
        BatchStream(
            files: files, split: split, side: side, packing: PackerConfiguration(windowLength: length),
            labeling: labeling, batchSize: batch, seed: 11, cycles: cycles)
    }

    @Test("one evaluation pass packs exactly the side's proteins, in order, like the reference packer")
    func evaluationPassMatchesReferencePacking() throws {
        for side in TrainValidationSplit.Side.allCases {
            var expected: [[TokenID]] = []
            let tokenizer = Tokenizer()
            for file in Self.files {
                let reader = try SequenceReader(path: file)
                while let record = try reader.next() {
                    if Self.split.side(of: record.id) == side {
                        expected.append(try tokenizer.tokenize(record.residues, id: record.id, file: file))
                    }
                }
            }
            let configuration = PackerConfiguration(windowLength: 128)
            let reference = Packer.packReference(expected, configuration: configuration, seed: 11)
            let stream = Self.stream(side: side, labeling: .causal, cycles: false)
            var windows: [[TokenID]] = []
            while let batch = try stream.next() {
                for r in 0..<batch.windows { windows.append(Array(batch.row(r))) }
            }
            #expect(!expected.isEmpty)
            #expect(windows == reference, "side \(side)")
        }
    }

    @Test("train and validation proteins are disjoint and together cover the corpus")
    func sidesPartitionTheCorpus() throws {
        var train = 0, validation = 0, total = 0
        for file in Self.files {
            let reader = try SequenceReader(path: file)
            while let record = try reader.next() {
                total += 1
                if Self.split.side(of: record.id) == .validation { validation += 1 } else { train += 1 }
            }
        }
        for (side, count) in [(TrainValidationSplit.Side.train, train), (.validation, validation)] {
            let stream = Self.stream(side: side, cycles: false)
            while try stream.next() != nil {}
            #expect(stream.state.proteins == count, "side \(side)")
        }
        #expect(train + validation == total && validation > 0 && train > validation)
    }

    @Test("resuming from a saved state gives the same batches bit for bit (inside the first file, in the second, across the epoch)", arguments: [1, 9, 225, 240, 260])
    func resumeIsExact(savedAfter: Int) throws {
        for labeling in [BatchStream.Labeling.masked(.init()), .causal] {
            let uninterrupted = Self.stream(labeling: labeling)
            var expected: [Batch] = []
            for _ in 0..<(savedAfter + 6) { expected.append(try #require(try uninterrupted.next())) }

            let first = Self.stream(labeling: labeling)
            for _ in 0..<savedAfter { _ = try first.next() }
            // Through JSON, as a checkpoint stores it.
            let data = try JSONEncoder().encode(first.state)
            let state = try JSONDecoder().decode(BatchStream.State.self, from: data)
            let resumed = try BatchStream(
                resuming: state, files: Self.files, split: Self.split, side: .train, labeling: labeling,
                batchSize: 3, cycles: true, stateFile: "state.json")
            for k in savedAfter ..< savedAfter + 6 {
                let batch = try #require(try resumed.next())
                #expect(batch == expected[k], "batch \(k), labeling \(labeling)")
            }
        }
    }

    @Test("a cycling stream continues past the end of the corpus into a new epoch with new masks")
    func cyclingCrossesEpochs() throws {
        // The validation side is small: a few batches of 512 tokens exhaust it.
        let stream = Self.stream(side: .validation, length: 512, batch: 2)
        var seen: [Batch] = []
        while stream.epochsCompleted < 2 { seen.append(try #require(try stream.next())) }
        #expect(seen.count > 2)
        for batch in seen { #expect(batch.windows == 2 && batch.targetCount > 0) }
    }

    @Test("masked batches carry 15 % targets; causal batches predict the next token")
    func labelling() throws {
        let masked = try #require(try Self.stream().next())
        let residues = masked.targets.indices.filter { masked.weights[$0] > 0 }
        #expect(!residues.isEmpty)
        let causal = try #require(try Self.stream(labeling: .causal).next())
        for r in 0..<causal.batch {
            for t in 0 ..< causal.length - 1 where causal.weights[r * causal.length + t] > 0 {
                #expect(causal.targets[r * causal.length + t] == causal.tokens[r * causal.length + t + 1])
            }
        }
    }

    @Test("a state that does not fit the files is a one-line error")
    func badStateIsAnError() throws {
        let stream = Self.stream()
        _ = try stream.next()
        var state = stream.state
        state.fileIndex = 7
        #expect(throws: ProteinIOError.self) {
            _ = try BatchStream(
                resuming: state, files: Self.files, split: Self.split, side: .train, labeling: .masked(.init()),
                batchSize: 3, cycles: true, stateFile: "ckpt")
        }
        state = stream.state
        state.fileIndex = 1
        state.recordsInFile = 1_000_000
        do {
            _ = try BatchStream(
                resuming: state, files: Self.files, split: Self.split, side: .train, labeling: .masked(.init()),
                batchSize: 3, cycles: true, stateFile: "ckpt")
            Issue.record("expected an error")
        } catch let error as ProteinIOError {
            #expect(error.description.hasPrefix("ckpt: invalid data-stream state"))
            #expect(!error.description.contains("\n"))
        }
    }

    @Test("a side with no proteins at all is an error, not an endless loop")
    func emptySideIsAnError() throws {
        let stream = BatchStream(
            files: [Fixtures.path("hmmer_PAX8_HUMAN.fa")], split: TrainValidationSplit(validationFraction: 0),
            side: .validation, packing: PackerConfiguration(windowLength: 64), labeling: .causal, batchSize: 1,
            seed: 0, cycles: true)
        #expect(throws: ProteinIOError.self) { _ = try stream.next() }
    }
}

extension BatchStreamTests {
    @Test("the resume arguments above reach the second file and the second epoch")
    func resumePointsCoverFilesAndEpochs() throws {
        let stream = Self.stream()
        var fileIndexes: Set<Int> = [], epochs: Set<Int> = []
        for _ in 0..<266 {
            _ = try stream.next()
            fileIndexes.insert(stream.state.fileIndex)
            epochs.insert(stream.state.epoch)
        }
        #expect(fileIndexes == [0, 1] && epochs == [0, 1], "files \(fileIndexes), epochs \(epochs)")
    }
}
