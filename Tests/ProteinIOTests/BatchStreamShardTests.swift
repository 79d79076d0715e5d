import Foundation
import Testing
@testable import ProteinIO

/// `BatchStream.Shard`: the data-parallel split of a side among ranks.
@Suite("BatchStream shards: disjoint, covering, resumable")
struct BatchStreamShardTests {
    static let files = BatchStreamTests.files
    static let split = BatchStreamTests.split

    /// The `<cls> … <sep>` units a non-cycling stream packs, in order (windows concatenated,
    /// the final padding dropped, cut after every `<sep>`).
    static func units(side: TrainValidationSplit.Side, shard: BatchStream.Shard) throws -> [[TokenID]] {
        let stream = BatchStream(
            files: files, split: split, side: side, packing: PackerConfiguration(windowLength: 96),
            labeling: .causal, batchSize: 4, seed: 11, cycles: false, shard: shard)
        var tokens: [TokenID] = []
        while let batch = try stream.next() {
            for r in 0..<batch.windows { tokens.append(contentsOf: batch.row(r)) }
        }
        while tokens.last == Alphabet.pad { tokens.removeLast() }
        var units: [[TokenID]] = [], unit: [TokenID] = []
        for token in tokens {
            unit.append(token)
            if token == Alphabet.sep {
                units.append(unit)
                unit = []
            }
        }
        #expect(unit.isEmpty, "the stream ends inside a protein")
        return units
    }

    @Test("shard r of N holds exactly the side's proteins at positions k ≡ r (mod N); the shards partition the side",
          arguments: [1, 2, 3, 5])
    func shardsPartitionTheSide(count: Int) throws {
        for side in TrainValidationSplit.Side.allCases {
            let whole = try Self.units(side: side, shard: .whole)
            #expect(whole.count > 2 * count)
            var seen = 0
            for index in 0..<count {
                let mine = try Self.units(side: side, shard: BatchStream.Shard(index: index, count: count))
                let expected = whole.indices.filter { $0 % count == index }.map { whole[$0] }
                #expect(mine == expected, "side \(side), shard \(index) of \(count)")
                seen += mine.count
            }
            #expect(seen == whole.count)
        }
    }

    @Test("a sharded stream resumes bit for bit, across the epoch boundary, and its state names its shard",
          arguments: [1, 40, 150])
    func shardedResumeIsExact(savedAfter: Int) throws {
        let shard = BatchStream.Shard(index: 1, count: 3)
        func make() -> BatchStream {
            BatchStream(
                files: Self.files, split: Self.split, side: .train, packing: PackerConfiguration(windowLength: 128),
                labeling: .masked(.init()), batchSize: 3, seed: 11, cycles: true, shard: shard)
        }
        let uninterrupted = make()
        var expected: [Batch] = []
        for _ in 0..<(savedAfter + 5) { expected.append(try #require(try uninterrupted.next())) }
        if savedAfter == 150 { #expect(uninterrupted.epochsCompleted >= 1, "the last case should cross an epoch boundary") }
        let first = make()
        for _ in 0..<savedAfter { _ = try first.next() }
        let state = try JSONDecoder().decode(BatchStream.State.self, from: try JSONEncoder().encode(first.state))
        #expect(state.shard == shard)
        let resumed = try BatchStream(
            resuming: state, files: Self.files, split: Self.split, side: .train, labeling: .masked(.init()),
            batchSize: 3, cycles: true, stateFile: "state.json")
        #expect(resumed.shard == shard)
        for k in savedAfter ..< savedAfter + 5 {
            #expect(try resumed.next() == expected[k], "batch \(k)")
        }
    }

    @Test("shards draw their own masks; the whole side keeps the stream seed")
    func shardSeeds() throws {
        #expect(BatchStream.Shard.whole.seed(11) == 11)
        let seeds = (0..<4).map { BatchStream.Shard(index: $0, count: 4).seed(11) }
        #expect(Set(seeds).count == 4 && !seeds.contains(11))
        #expect(BatchStream.Shard(index: 1, count: 2).seed(11) != BatchStream.Shard(index: 1, count: 3).seed(11))
    }

    @Test("a state written before shards existed decodes as the whole side; a shard outside 0..<count is rejected")
    func stateDecoding() throws {
        let stream = BatchStreamTests.stream()
        _ = try stream.next()
        var object = try #require(try JSONSerialization.jsonObject(with: try JSONEncoder().encode(stream.state)) as? [String: Any])
        object.removeValue(forKey: "shard")
        object.removeValue(forKey: "side_proteins_in_epoch")
        let old = try JSONDecoder().decode(
            BatchStream.State.self, from: try JSONSerialization.data(withJSONObject: object))
        #expect(old.shard == .whole && old.sideProteinsInEpoch == 0)
        #expect(old.packer == stream.state.packer)
        object["shard"] = ["index": 2, "count": 2]
        #expect(throws: DecodingError.self) {
            _ = try JSONDecoder().decode(BatchStream.State.self, from: try JSONSerialization.data(withJSONObject: object))
        }
    }

    @Test("more shards than proteins: the empty shard is a one-line error naming it")
    func emptyShardIsAnError() throws {
        let stream = BatchStream(
            files: [Fixtures.path("hmmer_PAX8_HUMAN.fa")], split: TrainValidationSplit(validationFraction: 0),
            side: .train, packing: PackerConfiguration(windowLength: 64), labeling: .causal, batchSize: 1,
            seed: 0, cycles: true, shard: BatchStream.Shard(index: 5, count: 6))
        do {
            _ = try stream.next()
            Issue.record("expected an error")
        } catch let error as ProteinIOError {
            #expect(error.description.contains("shard 5 of 6"))
            #expect(!error.description.contains("\n"))
        }
    }
}
