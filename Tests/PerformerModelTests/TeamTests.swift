import Foundation
import Synchronization
import Testing
import ProteinIO
@testable import PerformerModel

/// A pass run by a team of threads (each its share of the rows and of the attention slices,
/// barriers around attention, one gradient buffer per member) against the same pass on one
/// member, and the team's own pieces: the shares and the barrier.
@Suite struct TeamTests {
    /// Shares are contiguous, in member order, cover every row once, and differ in size by at most one.
    @Test func sharesPartitionTheRows() {
        for count in 1...5 {
            for total in 0...23 {
                let team = Team(count: count)
                let shares = (0..<count).map { team.member($0).share(total) }
                #expect(shares.first?.lowerBound == 0 && shares.last?.upperBound == total)
                for (a, b) in zip(shares, shares.dropFirst()) { #expect(a.upperBound == b.lowerBound) }
                let sizes = shares.map(\.count)
                #expect(sizes.max()! - sizes.min()! <= 1, "\(total) rows on \(count): \(sizes)")
            }
        }
    }

    /// Every member writes its own slot, meets the others, and then must see every slot of this
    /// round (a barrier that let a member through early would show it a slot of an earlier round).
    @Test(arguments: [2, 3])
    func barrierShowsEveryMembersWrites(count: Int) {
        let rounds = 2000
        let slots = UnsafeMutablePointer<Int>.allocate(capacity: count)
        slots.initialize(repeating: -1, count: count)
        defer { slots.deallocate() }
        let stale = Atomic<Int>(0)
        let pointer = UncheckedPointer(slots)
        Team(count: count).run { member in
            for round in 0..<rounds {
                pointer.value[member.index] = round
                member.barrier()
                for other in 0..<count where pointer.value[other] != round {
                    stale.wrappingAdd(1, ordering: .relaxed)
                }
                member.barrier()  // nobody writes the next round before all have read this one
            }
        }
        #expect(stale.load(ordering: .relaxed) == 0)
    }

    /// Loss, gradients and logits of a team of 2 and of 3 (uneven shares: 42 rows, 4 slices on 3
    /// members) within rounding of one member, for every kind and direction, with a masked-LM-like
    /// selection of rows (whose shares do not line up with the shares of all rows), with every row
    /// a target, and for the forward-only pass over rows of different lengths. The team sums each
    /// weight gradient in per-member parts, so only summation order differs (~1e-7); a missing
    /// barrier, a row written by the wrong member or a member's gradient left out is off by O(1).
    @Test(arguments: PerformerLMTests.allKinds)
    func teamMatchesOneMember(kind: AttentionKind, causal: Bool) {
        let model = PerformerLM(configuration: PerformerLMTests.tinyConfiguration(kind, causal: causal), seed: 31)
        PerformerLMTests.randomize(model, seed: 32)
        let batch = 2, length = 21, n = batch * length
        let data = PerformerLMTests.batch(n, seed: 33)
        var g = SeededGenerator(seed: 34)
        var masked = (0..<n).map { _ in Float(g.nextDouble() < 0.2 ? 1 : 0) }
        masked[40] = 1
        let single = model.makeWorkspace(batch: batch, length: length, teamSize: 1, minimumRows: 1)
        for weights in [masked, [Float](repeating: 1, count: n), data.weights] {
            model.parameters.zeroGradients()
            let expected = model.lossAndGradients(tokens: data.tokens, targets: data.targets, weights: weights,
                                                  workspace: single)
            let expectedGradients = model.parameters.gradients.array
            for size in [2, 3] {
                let team = model.makeWorkspace(batch: batch, length: length, teamSize: size, minimumRows: 1)
                model.parameters.zeroGradients()
                let loss = model.lossAndGradients(tokens: data.tokens, targets: data.targets, weights: weights,
                                                  workspace: team)
                #expect(team.rowsSelected == single.rowsSelected)
                #expect(abs(loss.sum - expected.sum) <= 1e-6 * abs(expected.sum), "\(kind) causal \(causal) team \(size)")
                #expect(loss.weight == expected.weight)
                let error = BatchWorkersTests.normwiseError(model.parameters.gradients.array, expectedGradients)
                #expect(error <= 1e-5, "\(kind) causal \(causal) team \(size): gradient error \(error)")
            }
        }

        // Plain forward, and the forward-only pass over rows of different lengths.
        model.forward(tokens: data.tokens, workspace: single)
        let logits = single.logits.array
        let lengths = [21, 13]
        model.forward(tokens: data.tokens, workspace: single, rowLengths: lengths)
        let shortLogits = single.logits.array
        for size in [2, 3] {
            let team = model.makeWorkspace(batch: batch, length: length, teamSize: size, minimumRows: 1)
            model.forward(tokens: data.tokens, workspace: team)
            #expect(BatchWorkersTests.normwiseError(team.logits.array, logits) <= 1e-6, "\(kind) causal \(causal)")
            model.forward(tokens: data.tokens, workspace: team, rowLengths: lengths)
            let v = model.configuration.vocabSize
            let real = (0..<batch).flatMap { b in (b * length * v) ..< ((b * length + lengths[b]) * v) }
            let error = BatchWorkersTests.normwiseError(real.map { team.logits.array[$0] }, real.map { shortLogits[$0] })
            #expect(error <= 1e-6, "\(kind) causal \(causal) team \(size): row-length logits error \(error)")
        }
    }

    /// The default team of a plain workspace (one member per elementwise worker) is what
    /// training at batch 1 uses: a window long enough to be split gives the same loss and
    /// gradients as one member. Its members' gradient buffers exist only once a backward has
    /// run (a forward-only workspace never holds them).
    @Test func defaultTeamOnALongWindowMatchesOneMember() {
        let configuration = PerformerLMTests.tinyConfiguration(.favorRelu, causal: false)
        let model = PerformerLM(configuration: configuration, seed: 35)
        PerformerLMTests.randomize(model, seed: 36)
        let length = 2 * Team.minimumRows + 7
        let data = PerformerLMTests.batch(length, seed: 37)
        let plain = model.makeWorkspace(batch: 1, length: length)
        let fresh = PerformerLM.workspaceByteCount(configuration: configuration, batch: 1, length: length)
        model.forward(tokens: data.tokens, workspace: plain)
        #expect(plain.byteCount == fresh)
        let single = model.makeWorkspace(batch: 1, length: length, teamSize: 1, minimumRows: 1)
        model.parameters.zeroGradients()
        let expected = model.lossAndGradients(tokens: data.tokens, targets: data.targets, weights: data.weights,
                                              workspace: single)
        let expectedGradients = model.parameters.gradients.array
        model.parameters.zeroGradients()
        let loss = model.lossAndGradients(tokens: data.tokens, targets: data.targets, weights: data.weights,
                                          workspace: plain)
        #expect(abs(loss.sum - expected.sum) <= 1e-6 * abs(expected.sum))
        #expect(BatchWorkersTests.normwiseError(model.parameters.gradients.array, expectedGradients) <= 1e-5)
        #expect(plain.byteCount == fresh + 4 * (plain.teamSize - 1) * model.parameters.count)
    }
}

/// A pointer the team's threads share (each writes its own slot).
private struct UncheckedPointer: @unchecked Sendable {
    let value: UnsafeMutablePointer<Int>
    init(_ value: UnsafeMutablePointer<Int>) { self.value = value }
}
