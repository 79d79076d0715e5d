import CMPI
import Foundation
import PerformerModel

/// `GradientReducer` over MPI's `MPI_COMM_WORLD` (Open MPI, or any MPI whose `mpi.h` the `CMPI`
/// shim compiles against): one process per rank, started by `mpirun`.
///
/// - `allReduce(sum:count:)` is `MPI_Allreduce(MPI_IN_PLACE, …, MPI_FLOAT, MPI_SUM)` over the
///   buffer, in pieces of at most `bucketElements` (MPI counts are C `int`s; smaller pieces also
///   bound the engine's temporary buffers).
/// - `allReduce(sum:)` is the same on one `MPI_DOUBLE`; `allGather` is `MPI_Allgather` of the
///   lengths, then `MPI_Allgatherv` of the bytes.
///
/// Errors: `MPI_COMM_WORLD` keeps MPI's default handler, `MPI_ERRORS_ARE_FATAL`, so a failed
/// call — including a peer that died — aborts the whole job, and `mpirun` exits non-zero.
/// Threads: initialised with `MPI_THREAD_FUNNELED` (OpenBLAS and the attention kernels run
/// their own threads; only the main thread calls MPI).
public final class MPIReducer: GradientReducer {
    public let rank: Int
    public let size: Int
    /// Most elements per `MPI_Allreduce` call.
    public var bucketElements = 1 << 26

    private init(rank: Int, size: Int) {
        self.rank = rank
        self.size = size
    }

    /// Initialises MPI (once per process) and returns this process's rank of `MPI_COMM_WORLD`.
    /// Outside `mpirun` this is a singleton run: rank 0 of 1.
    ///
    /// - Throws: `MPIError` when MPI cannot start or lacks `MPI_THREAD_FUNNELED` support.
    public static func start() throws -> MPIReducer {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 {
            var provided: Int32 = 0
            let code = MPI_Init_thread(nil, nil, cmpi_thread_funneled(), &provided)
            guard code == cmpi_success() else { throw MPIError("MPI_Init_thread failed: \(errorString(code))") }
            guard provided >= cmpi_thread_funneled() else {
                throw MPIError("this MPI library does not support MPI_THREAD_FUNNELED (provided level \(provided))")
            }
        }
        var rank: Int32 = 0, size: Int32 = 0
        MPI_Comm_rank(cmpi_comm_world(), &rank)
        MPI_Comm_size(cmpi_comm_world(), &size)
        return MPIReducer(rank: Int(rank), size: Int(size))
    }

    /// `MPI_Finalize`: call once, after the last collective operation, on every rank.
    public func finish() {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 { MPI_Finalize() }
    }

    /// `MPI_Abort` on `MPI_COMM_WORLD`: ends every rank of the job with `code`.
    public func abort(code: Int32) -> Never {
        MPI_Abort(cmpi_comm_world(), code)
        exit(code)  // MPI_Abort does not return; this satisfies the type checker
    }

    /// `MPI_Barrier` on `MPI_COMM_WORLD`.
    public func barrier() {
        MPI_Barrier(cmpi_comm_world())
    }

    public func allReduce(sum buffer: UnsafeMutablePointer<Float>, count: Int) {
        var offset = 0
        while offset < count {
            let n = Swift.min(bucketElements, count - offset)
            MPI_Allreduce(UnsafeRawPointer(cmpi_in_place()), buffer + offset, Int32(n), cmpi_float(), cmpi_sum(), cmpi_comm_world())
            offset += n
        }
    }

    public func allReduce(sum value: Double) -> Double {
        var x = value
        MPI_Allreduce(UnsafeRawPointer(cmpi_in_place()), &x, 1, cmpi_double(), cmpi_sum(), cmpi_comm_world())
        return x
    }

    public func allGather(_ bytes: [UInt8]) -> [[UInt8]] {
        precondition(bytes.count < Int(Int32.max), "allGather of \(bytes.count) bytes exceeds an MPI count")
        var mine = Int32(bytes.count)
        var counts = [Int32](repeating: 0, count: size)
        MPI_Allgather(&mine, 1, cmpi_int(), &counts, 1, cmpi_int(), cmpi_comm_world())
        var displacements = [Int32](repeating: 0, count: size)
        var total = 0
        for r in 0..<size {
            displacements[r] = Int32(total)
            total += Int(counts[r])
        }
        precondition(total < Int(Int32.max), "allGather of \(total) bytes exceeds an MPI count")
        var all = [UInt8](repeating: 0, count: Swift.max(total, 1))
        var send = bytes.isEmpty ? [0] : bytes
        MPI_Allgatherv(&send, mine, cmpi_byte(), &all, &counts, &displacements, cmpi_byte(), cmpi_comm_world())
        return (0..<size).map { r in Array(all[Int(displacements[r]) ..< Int(displacements[r]) + Int(counts[r])]) }
    }

    /// `MPI_Wtime`.
    public static func wallTime() -> Double { MPI_Wtime() }

    /// The text of an MPI error code.
    static func errorString(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &buffer, &length)
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// MPI could not be started; one line.
public struct MPIError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
