/// The collective operations a data-parallel `Trainer` needs from a distributed engine: the
/// trainer is one rank of `size`, every rank calls the same operations in the same order, and
/// each call returns only when every rank has made it.
///
/// - `allReduce(sum:count:)`: the element-wise sum over the ranks of a Float buffer, written
///   back into the buffer on every rank. Every rank must receive the same bits (an engine that
///   adds in a rank-dependent order would let the ranks' parameters drift apart; the trainer
///   checks for that at every checkpoint).
/// - `allReduce(sum:)`: the same for one Double.
/// - `allGather(_:)`: every rank's bytes, in rank order, on every rank.
///
/// A failure inside the engine is not reported back: the engine ends the job (MPI's default
/// error handler, `MPI_ERRORS_ARE_FATAL`, aborts every rank), because ranks that disagree
/// about whether an operation happened cannot continue.
///
/// `SingleProcessReducer` is the default: one rank, every operation the identity. The MPI
/// implementation (`MPIReducer`) lives in the `PerformerDistributed` target, built only when MPI
/// is enabled (docs/distributed.md).
public protocol GradientReducer: AnyObject {
    /// This process's rank, in 0..<size.
    var rank: Int { get }
    /// The number of ranks.
    var size: Int { get }
    /// buffer[i] ← Σ over ranks of buffer[i], for i in 0..<count, on every rank.
    func allReduce(sum buffer: UnsafeMutablePointer<Float>, count: Int)
    /// Σ over ranks of `value`, on every rank.
    func allReduce(sum value: Double) -> Double
    /// Every rank's `bytes`, indexed by rank, on every rank.
    func allGather(_ bytes: [UInt8]) -> [[UInt8]]
}

extension GradientReducer {
    /// Whether there is more than one rank (a data-parallel run).
    public var isDistributed: Bool { size > 1 }

    /// Rank 0's `value` on every rank (an all-reduce of the value on rank 0 and 0 elsewhere).
    public func broadcastFromRankZero(_ value: Double) -> Double {
        allReduce(sum: rank == 0 ? value : 0)
    }
}

/// One process, no communication: every reduction returns its input.
public final class SingleProcessReducer: GradientReducer {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allReduce(sum buffer: UnsafeMutablePointer<Float>, count: Int) {}
    public func allReduce(sum value: Double) -> Double { value }
    public func allGather(_ bytes: [UInt8]) -> [[UInt8]] { [bytes] }
}
