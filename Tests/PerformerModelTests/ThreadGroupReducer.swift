import Foundation
@testable import PerformerModel

/// An in-process stand-in for MPI: `size` ranks on `size` threads of one process, meeting at a
/// barrier for every collective operation. Sums are taken in rank order (0, 1, …), the same on
/// every rank, like an MPI all-reduce with 2 ranks (a + b = b + a exactly).
///
/// It lets the data-parallel logic of `Trainer` (normalisation, sharding, checkpoint gathering,
/// resume) be tested in the default build, without MPI.
final class ThreadGroup: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var arrived = 0
    private var generation = 0
    // One slot per rank, written only by that rank between barriers (raw storage: no
    // copy-on-write between threads).
    fileprivate let floatSlots: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>
    fileprivate let doubleSlots: UnsafeMutablePointer<Double>
    fileprivate let byteSlots: UnsafeMutablePointer<[UInt8]>

    init(size: Int) {
        self.size = size
        floatSlots = .allocate(capacity: size)
        floatSlots.initialize(repeating: nil, count: size)
        doubleSlots = .allocate(capacity: size)
        doubleSlots.initialize(repeating: 0, count: size)
        byteSlots = .allocate(capacity: size)
        byteSlots.initialize(repeating: [], count: size)
    }

    deinit {
        floatSlots.deallocate()
        doubleSlots.deallocate()
        byteSlots.deinitialize(count: size)
        byteSlots.deallocate()
    }

    fileprivate func barrier() {
        condition.lock()
        let current = generation
        arrived += 1
        if arrived == size {
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while generation == current { condition.wait() }
        }
        condition.unlock()
    }

    /// Runs `body(rank)` on `size` threads at once and returns each rank's result.
    func run<T>(_ body: @escaping @Sendable (ThreadRank) throws -> T) -> [Result<T, any Error>] {
        let results = ResultBox<T>(count: size)
        let done = DispatchGroup()
        for rank in 0..<size {
            done.enter()
            let reducer = ThreadRank(group: self, rank: rank)
            let thread = Thread {
                results.set(rank, Result { try body(reducer) })
                done.leave()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        done.wait()
        return results.values.map { $0! }
    }
}

private final class ResultBox<T>: @unchecked Sendable {
    let lock = NSLock()
    var values: [Result<T, any Error>?]
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ value: Result<T, any Error>) {
        lock.lock()
        values[index] = value
        lock.unlock()
    }
}

/// One rank of a `ThreadGroup`.
final class ThreadRank: GradientReducer, @unchecked Sendable {
    let group: ThreadGroup
    let rank: Int
    var size: Int { group.size }

    init(group: ThreadGroup, rank: Int) {
        self.group = group
        self.rank = rank
    }

    func allReduce(sum buffer: UnsafeMutablePointer<Float>, count: Int) {
        group.floatSlots[rank] = buffer
        group.barrier()
        let total = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(count, 1))
        defer { total.deallocate() }
        for i in 0..<count {
            var s = group.floatSlots[0]![i]
            for r in 1..<group.size { s += group.floatSlots[r]![i] }
            total[i] = s
        }
        group.barrier()  // every rank has read every buffer
        buffer.update(from: total, count: count)
        group.barrier()
    }

    func allReduce(sum value: Double) -> Double {
        group.doubleSlots[rank] = value
        group.barrier()
        var s = group.doubleSlots[0]
        for r in 1..<group.size { s += group.doubleSlots[r] }
        group.barrier()
        return s
    }

    func allGather(_ bytes: [UInt8]) -> [[UInt8]] {
        group.byteSlots[rank] = bytes
        group.barrier()
        let all = (0..<group.size).map { group.byteSlots[$0] }
        group.barrier()
        return all
    }
}
