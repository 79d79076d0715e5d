#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import Synchronization

/// A fixed group of threads that run one pass together, each on its own share of the rows, and
/// meet at barriers only where a step needs rows another member wrote (the attention kernels,
/// which read every position of a head).
///
/// Why: spreading every GEMM and elementwise pass of a step over the cores by itself
/// (`SliceParallelism`) makes a batch-1 training step about 200 fork–join regions, and on this
/// VM each one lost about 1.3 ms of core time to waking the second thread and waiting for the
/// later half (measured in BENCHMARKS.md, "Training", 2026-12-01 night). A team pays that
/// a few times per layer instead.
///
/// Member 0 is the calling thread; the others are threads of their own for the duration of
/// `run`, so a barrier can never wait for a member that is queued behind another (as
/// `DispatchQueue.concurrentPerform` iterations could be). OpenBLAS is at one thread meanwhile.
final class Team: @unchecked Sendable {
    /// One member's view: its index, the team size, its share of any row count, the barrier.
    struct Member {
        let index: Int
        let count: Int
        fileprivate let team: Team

        /// Rows [total·i/count, total·(i+1)/count) of `total`: contiguous, in member order, fixed
        /// by (total, count) alone, so every pass that shares the same total shares it alike.
        func share(_ total: Int) -> Range<Int> {
            (total * index / count) ..< (total * (index + 1) / count)
        }

        /// Waits until every member has arrived here; what each wrote before is then visible to all.
        func barrier() { team.barrier() }
    }

    let count: Int
    private let arrived = Atomic<Int>(0)
    private let generation = Atomic<Int>(0)

    init(count: Int) {
        precondition(count >= 1, "a team needs at least one member")
        self.count = count
    }

    /// Member `index`'s view (what `run` hands to that member).
    func member(_ index: Int) -> Member {
        precondition(index >= 0 && index < count, "member \(index) of a team of \(count)")
        return Member(index: index, count: count, team: self)
    }

    /// Passes over fewer rows than this run on the calling thread alone (starting threads and
    /// meeting at barriers would cost more than the pass).
    static let minimumRows = 256

    /// The team for a pass over `rows` rows on a workspace whose passes run on `size` members
    /// from `minimum` rows up.
    convenience init(size: Int, rows: Int, minimum: Int) {
        self.init(count: rows >= minimum ? size : 1)
    }

    /// Runs `body` once per member, concurrently, and returns when all have returned.
    func run(_ body: (Member) -> Void) {
        if count == 1 {
            body(member(0))
            return
        }
        BLAS.singleThreaded {
            withoutActuallyEscaping(body) { body in
                // The threads reach `body` through `holder`, which lets go of it before this scope
                // ends (a Thread keeps its block, so it must not hold `body` itself).
                let holder = Holder(body)
                let done = DispatchSemaphore(value: 0)
                for index in 1..<count {
                    let member = self.member(index)
                    let thread = Thread {
                        holder.body?(member)
                        done.signal()
                    }
                    thread.stackSize = 8 << 20
                    thread.start()
                }
                body(member(0))
                for _ in 1..<count { done.wait() }
                holder.body = nil
            }
        }
    }

    private final class Holder: @unchecked Sendable {
        var body: ((Member) -> Void)?
        init(_ body: @escaping (Member) -> Void) { self.body = body }
    }

    /// Sense by generation: the last member to arrive resets the count and opens the next
    /// generation; the others spin on it (a parked thread would cost a wake-up, the very thing a
    /// team avoids), yielding the core after a short while in case a member is not running.
    private func barrier() {
        if count == 1 { return }
        let current = generation.load(ordering: .acquiring)
        if arrived.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue == count {
            arrived.store(0, ordering: .relaxed)
            generation.wrappingAdd(1, ordering: .releasing)
            return
        }
        var spins = 0
        while generation.load(ordering: .acquiring) == current {
            spins += 1
            if spins >= 1 << 12 { sched_yield() }
        }
    }
}

